# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The "XO rules" baseline of benchmarks/balance/run.py (xo_rules_plan, Xen Orchestra's load balancer
transcribed): hand-made 3-host fleets whose migrations follow from the rules, worked out by hand in the
comments (8-CPU hosts with 16 GiB, every vCPU busy: one vCPU = 12.5 % of a host; default thresholds: exceeded
at 76.5 % CPU or 1200 MiB free, relieved at 58.5 % and 1500 MiB)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.xenfleet.xen.tests.unit.script_loader import load_script


@pytest.fixture(scope='module')
def bench():
    return load_script(os.path.join('benchmarks', 'balance', 'run.py'), 'xenfleet_balance_bench')


def hosts(*names):
    return [{'name': n, 'memory_mb': 16384, 'cpus': 8} for n in names]


def guest(name, host, vcpus, memory_mb, **extra):
    return dict({'name': name, 'host': host, 'vcpus': vcpus, 'memory_mb': memory_mb}, **extra)


def moves(log):
    return [(m['run'], m['step'], m['guest'], m['from'], m['to']) for m in log]


def test_thresholds_are_xo_defaults(bench):
    thr = bench.xo_thresholds()
    assert thr['cpu'] == {'critical': 90.0, 'high': pytest.approx(76.5), 'low': pytest.approx(58.5)}
    assert thr['memory_free'] == {'critical': 1000, 'high': pytest.approx(1200.0), 'low': pytest.approx(1500.0)}


def test_exceeded_host_guests_by_memory_single_destination_and_stop_rule(bench):
    # h0 87.5 % (a 25, b 25, c 12.5, d 25) is exceeded; h1 37.5 %, h2 25 %.
    # Guest CPUs are within a factor 4 of each other, so the order is memory descending: a, b, c, d.
    # a -> h2 (the lowest CPU; 25 + 25 = 50 < 58.5): h0 62.5.  b: first destination now h1 (37.5 < 50);
    # 37.5 + 25 = 62.5 >= 58.5, dropped, no second choice (h2 would give 75, but XO only tries the first).
    # c -> h1: 50 < 58.5; h0 (62.5) is under the CPU limit, so the inversion check applies: 62.5 - 12.5 = 50 is
    # not below 37.5 + 12.5 = 50, and free memory is not inverted either. h0 50 % <= 58.5: stop before d.
    # Run 2: 50 / 50 / 50, nothing exceeded, no host at 1.5 x the average: done.
    g = [guest('a', 'h0', 2, 4096), guest('b', 'h0', 2, 2048), guest('c', 'h0', 1, 1024), guest('d', 'h0', 2, 512),
         guest('e', 'h1', 3, 1024), guest('f', 'h2', 2, 1024)]
    sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert moves(log) == [(1, 'threshold', 'a', 'h0', 'h2'), (1, 'threshold', 'c', 'h0', 'h1')]
    assert sim.where == {'a': 'h2', 'b': 'h0', 'c': 'h1', 'd': 'h0', 'e': 'h1', 'f': 'h2'}
    after, count = bench.xo_rules(hosts('h0', 'h1', 'h2'), g, bench.WEIGHTS, 5.0)
    assert count == 2 and sorted((x['name'], x['host']) for x in after) == sorted(sim.where.items())


def test_guests_by_memory_when_cpu_within_a_factor_four(bench):
    # h0 87.5 %: x 12.5 % with 8 GiB, y and z 37.5 % with 1 GiB. 37.5 - 12.5 <= 3 x 12.5, so XO takes them as
    # equal CPU and starts with the largest memory: x -> h1 (12.5 %, the lowest): h0 75 %. y: h1 and h2 both
    # at 25 %, h2 has more free memory; 25 + 37.5 >= 58.5: dropped; z likewise. Run 2: h0 75 % is 1.8 x the
    # average (41.7): preventive, low 52.1; y and z would take h2 to 62.5: dropped. (By CPU alone, y would
    # have gone to h1 and relieved h0 at once.)
    g = [guest('x', 'h0', 1, 8192), guest('y', 'h0', 3, 1024), guest('z', 'h0', 3, 1024),
         guest('w', 'h1', 1, 512), guest('v', 'h2', 2, 512)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert moves(log) == [(1, 'threshold', 'x', 'h0', 'h1')]


def test_preventive_one_and_a_half_times_the_average_and_one_and_a_quarter_cap(bench):
    # h0 62.5 % (a 25, b 25, c 12.5), h1 12.5, h2 12.5: nobody past 76.5 %. Pool average 29.17 %;
    # h0 is 2.14 x it and >= 25 %: preventive, with high 43.75 and low 36.46.
    # a (4096 MiB first): destination h1 (equal CPU with h2, more free memory); 12.5 + 25 = 37.5 >= 36.46: dropped.
    # b likewise. c -> h1 (25 < 36.46). Run 2: h0 50 % (1.71 x): a and b would take h2 to 37.5: dropped. Done.
    g = [guest('a', 'h0', 2, 4096), guest('b', 'h0', 2, 2048), guest('c', 'h0', 1, 1024),
         guest('d', 'h1', 1, 1024), guest('e', 'h2', 1, 2048)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert moves(log) == [(1, 'preventive', 'c', 'h0', 'h1')]
    # XO's default behaviour ("Conservative") leaves a host under 76.5 % alone.
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g, preventive=False)
    assert log == []


def test_memory_exceeded_source_is_held_by_the_cpu_inversion_check(bench):
    # h0 has 1024 MiB free (<= 1200: exceeded) at 25 % CPU; h2 is at 12.5 %. Moving a (or b) to h2 would leave
    # h0 at 12.5 % under h2's 25 %: refused, because XO's check meant for a source past no limit tests a key
    # its state does not have (`memory` for `mem`) and so applies whenever the CPU is under its limit.
    g = [guest('a', 'h0', 1, 8192), guest('b', 'h0', 1, 7168), guest('c', 'h1', 2, 1024), guest('d', 'h2', 1, 1024)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert log == []
    # With more CPU on h0 (62.5 %): a (8192 MiB first) -> h1 would leave h0 at 25 % < 50 %: refused;
    # b -> h1: 37.5 vs 37.5 and 8192 vs 8192 MiB free, not inverted: moved. Run 2: nothing past a limit,
    # h0 at 1.29 x the average: done.
    g = [guest('a', 'h0', 3, 8192), guest('b', 'h0', 2, 7168), guest('c', 'h1', 1, 1024), guest('d', 'h2', 1, 2048)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert moves(log) == [(1, 'threshold', 'b', 'h0', 'h1')]


def test_exceeded_hosts_in_listed_order_not_hottest_first(bench):
    # h0 87.5 % (p 50, q 37.5), h1 100 % (r 50, s 50), h2 idle. XO's sort of the exceeded hosts compares
    # fields the host objects lack, so they are optimised in the order listed: the first one takes h2.
    g = [guest('p', 'h0', 4, 4096), guest('q', 'h0', 3, 1024), guest('r', 'h1', 4, 4096), guest('s', 'h1', 4, 1024)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert moves(log) == [(1, 'threshold', 'p', 'h0', 'h2')]
    _sim, log = bench.xo_rules_plan(hosts('h1', 'h0', 'h2'), g)
    assert moves(log) == [(1, 'threshold', 'r', 'h1', 'h2')]


def test_measured_cpu_rules_and_fixed_point(bench):
    # a measured cpu_percent replaces the vCPU mapping: h0's guests read 10 % of the host in all, nothing moves
    g = [guest('a', 'h0', 4, 4096, cpu_percent=40), guest('b', 'h0', 4, 4096, cpu_percent=40), guest('c', 'h1', 1, 512)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g)
    assert log == []
    # excluded / pinned / grouped guests never move
    g = [guest('a', 'h0', 2, 4096), guest('b', 'h0', 2, 2048), guest('c', 'h0', 1, 1024), guest('d', 'h0', 2, 512),
         guest('e', 'h1', 3, 1024), guest('f', 'h2', 2, 1024)]
    _sim, log = bench.xo_rules_plan(hosts('h0', 'h1', 'h2'), g, rules={'excluded': ['a'], 'anti_affinity': [['c', 'x']]})
    assert [m['guest'] for m in log] == ['b'] and log[0]['to'] == 'h2'
    # on a random fleet: memory always fits, and a new plan from the result moves nothing
    hs, gs, _rules = bench.small_instance(21, 8, 30, False)
    after, count = bench.xo_rules(hs, gs, bench.WEIGHTS, 5.0)
    assert count > 0
    for h in hs:
        assert sum(x['memory_mb'] for x in after if x['host'] == h['name']) <= h['memory_mb']
    assert bench.xo_rules(hs, after, bench.WEIGHTS, 5.0)[1] == 0


def test_family_summary(bench, capsys):
    # two seeds of one family: medians 14 / 1.5 (ours) against 15 / 2 (XO rules): no more migrations for a lower
    # imbalance ("yes"); seed by seed only the first one is (the second moves less but ends higher)
    row = {'hosts': 4, 'guests': 12, 'family': '4x12', 'seed': 0, 'threshold': 5.0, 'before': 20.0,
           'ours': [12.0, 2], 'reserved': [11.0, 4], 'spread': [3.0, 6], 'xo_rules': [15.0, 2],
           'ours_as_xo_rules': [9.0, 2]}
    second = dict(row, seed=1, ours=[16.0, 1])
    quality = {'hosts': 4, 'guests': 12, 'rules': False, 'seed': 0, 'ours': 2.5, 'moves': 7, 'xo_rules': [16.0, 2],
               'economy': [14.0, 3], 'economy_reserved': [13.0, 4], 'opt_same_moves': 2.4, 'proven_same_moves': True,
               'opt_any': 2.0, 'proven_any': False}
    bench.summarize_families([row, second], [quality])
    out = capsys.readouterr().out
    assert ('4x12        5   20.00 |  14.00 /   1.5 |  15.00 /   2.0 | yes         |  11.00 /   4.0 |   3.00 /   6.0 |'
            '   9.00 /   2.0') in out
    assert 'no higher an imbalance on 1/2' in out
    # 3 migrations against XO's 2: "no", whatever the imbalance (the verdict is on balance.yml's defaults only)
    assert ('4h no rules |  14.00 /   3.0 |  16.00 /   2.0 | no          |  13.00 /   4.0 |   2.50 /   7.0 |'
            '   2.40 (1/1)') in out
    assert 'none proven (0/1)' in out


def test_quality_summary_counts_the_two_percent_goal(bench, capsys):
    rows = [{'hosts': 6, 'guests': 20, 'rules': True, 'seed': seed, 'ours': ours, 'moves': 10,
             'opt_same_moves': ours, 'proven_same_moves': True, 'bound_same_moves': ours,
             'opt_any': opt, 'proven_any': proven, 'bound_any': opt}
            for seed, ours, opt, proven in ((0, 4.0, 3.95, True), (1, 3.97, 3.55, True), (2, 3.0, 2.0, False))]
    bench.summarize_quality(rows)
    out = capsys.readouterr().out
    # 4.0 is 1.3 % above 3.95, 3.97 is 11.8 % above 3.55; the third optimum is not proven and does not count
    assert 'planner within 2 % of it on 1/2 (max +11.8 %)' in out
    assert 'more than 2 % above the proven optimum: 6 hosts 20 guests rules=True seed 1: planner 3.970, optimum 3.550' in out


def test_xen_balance_reads_the_cpu_use_xo_rules_reads(bench):
    # The benchmark's "xen_balance" is balance.yml's default: measured CPU weighed with memory and vCPUs, the measure
    # being the one XO rules reads (a given cpu_percent, else every vCPU busy).
    guests = [{'name': 'a', 'host': 'h0', 'memory_mb': 512, 'vcpus': 2},
              {'name': 'b', 'host': 'h0', 'memory_mb': 512, 'vcpus': 4, 'cpu_percent': 30.0}]
    assert [g['cpu_percent'] for g in bench.measured(guests)] == [200.0, 30.0]
    assert 'cpu_percent' not in guests[0]
    # four 8-CPU hosts, vCPUs 12 / 5 / 5 / 5 (150 / 62.5 % x 3; average 84.4 %, h0 at 1.78 x): on reservations the
    # 2-vCPU guest moves to h1, which it leaves at 87.5 % (within 1.25 x the average); measured, every vCPU busy, no
    # host may end above economy.cpu (75 %) and nothing moves
    hosts = [{'name': 'h%d' % i, 'memory_mb': 16384, 'cpus': 8} for i in range(4)]
    fleet = [{'name': 'big', 'host': 'h0', 'memory_mb': 1024, 'vcpus': 6},
             {'name': 'mid', 'host': 'h0', 'memory_mb': 1024, 'vcpus': 4},
             {'name': 'low', 'host': 'h0', 'memory_mb': 1024, 'vcpus': 2}]
    fleet += [{'name': 'x%d' % i, 'host': 'h%d' % i, 'memory_mb': 1024, 'vcpus': 5} for i in (1, 2, 3)]
    _after, _count, reserved = bench.planner(hosts, fleet, {}, 5.0, economy=True, measure=False)
    _after, count, measured = bench.planner(hosts, fleet, {}, 5.0, economy=True)
    assert [(m['guest'], m['to']) for m in reserved['migrations']] == [('low', 'h1')]
    assert reserved['hosts']['h1']['after']['vcpus_percent'] == 87.5
    assert count == 0 and measured['migrations'] == []
