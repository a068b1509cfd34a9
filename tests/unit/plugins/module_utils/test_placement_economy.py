# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The economy policy of the performance planner (act only where it pays): hand-worked fleets whose
plans follow from the rules (worked out in the comments), and properties on random fleets."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _placement as pl
from ansible_collections.xenfleet.xen.tests.unit.plugins.module_utils.test_placement import random_fleet, replay

BOTH = {'memory': 1.0, 'vcpus': 1.0}


def hosts(count=4):
    return [{'name': 'h%d' % i, 'memory_mb': 16384, 'cpus': 8} for i in range(count)]


def guest(name, host, memory_mb, vcpus, **extra):
    return dict({'name': name, 'host': host, 'memory_mb': memory_mb, 'vcpus': vcpus}, **extra)


def moves(plan):
    return [(m['guest'], m['from'], m['to']) for m in plan['migrations']]


def vcpu_fleet():
    # 8-CPU hosts with 4 GiB of guests each (25 % memory everywhere). vCPUs: h0 16 (200 %), h1 4 (50 %),
    # h2 4 (50 %), h3 8 (100 %): the average is 100 %, so h0 (2 x) is overloaded and h3 (1 x) is not.
    guests = [guest('a', 'h0', 1024, 6), guest('b', 'h0', 1024, 4), guest('c', 'h0', 1024, 2), guest('d', 'h0', 1024, 4),
              guest('e', 'h1', 2048, 2), guest('f', 'h1', 2048, 2), guest('g', 'h2', 2048, 2), guest('i', 'h2', 2048, 2),
              guest('j', 'h3', 2048, 4), guest('k', 'h3', 2048, 4)]
    return hosts(), guests


def test_overloaded_host_is_relieved_with_one_migration():
    # vCPU deviations from the average (points): +100, -50, -50, 0. Moving a (6 vCPUs = 75 points) to h1:
    # +25, +25, -50, 0 (sum of squares 3750, from 15000); b or d (4): +50, 0, -50, 0 (5000); c (2): 8750.
    # The memory side costs each of them the same 1 GiB (6.25 points) shift, so a goes first; h1 and h2 are
    # equal and the lower index wins. h0 is then at 125 % = 1.25 x the average: relieved, the plan stops.
    # h1 ends at 125 %, within 1.25 x. Spreading as evenly as possible takes more migrations.
    hs, gs = vcpu_fleet()
    plan = pl.plan_balance(hs, gs, weights=BOTH, threshold=0.0, economy=True)
    assert moves(plan) == [('a', 'h0', 'h1')]
    assert plan['hosts']['h0']['after']['vcpus_percent'] == 125.0
    assert plan['hosts']['h1']['after']['vcpus_percent'] == 125.0
    assert plan['migrations'][0]['reason'].startswith('relieve: h0 is overloaded (memory 25% (limit 95%), vcpus 200% = '
                                                      '2.00 x the fleet average 100%')
    after = replay(hs, gs, {}, plan)
    assert pl.plan_balance(hs, after, weights=BOTH, threshold=0.0, economy=True)['migrations'] == []
    spread = pl.plan_balance(hs, gs, weights=BOTH, threshold=0.0, economy=None)
    assert len(spread['migrations']) > 1
    assert spread['imbalance']['after'] < plan['imbalance']['after']


def test_host_under_the_trigger_is_left_alone():
    # vCPUs 14 / 6 / 6 / 6 (175 / 75 / 75 / 75 %, average 100 %): h0 is 1.75 x the average. At trigger 2 it
    # is not overloaded and nothing moves; at 1.5 it gives until within 1.25 x.
    hs = hosts()
    gs = [guest('a', 'h0', 1024, 4), guest('b', 'h0', 1024, 4), guest('c', 'h0', 1024, 4), guest('d', 'h0', 1024, 2),
          guest('e', 'h1', 1024, 6), guest('f', 'h2', 1024, 6), guest('g', 'h3', 1024, 6)]
    plan = pl.plan_balance(hs, gs, weights={'vcpus': 1, 'memory': 0}, threshold=0.0,
                           economy={'trigger': 2.0, 'target': 1.25})
    assert plan['migrations'] == []
    plan = pl.plan_balance(hs, gs, weights={'vcpus': 1, 'memory': 0}, threshold=0.0, economy={})
    # one 4-vCPU guest (50 points) to a 75 % host: 125 / 125 / 75 / 75, within 1.25 x everywhere
    assert len(plan['migrations']) == 1 and plan['migrations'][0]['from'] == 'h0'
    assert plan['migrations'][0]['guest'] in ('a', 'b', 'c')
    assert max(row['after']['vcpus_percent'] for row in plan['hosts'].values()) == 125.0


def test_exactly_at_the_trigger_is_overloaded():
    # two 4-CPU hosts, 1-vCPU guests: 3 on h0, 1 on h1. The average is 2 vCPUs (50 %); h0 (75 %) is exactly
    # 1.5 x it, so it is overloaded (Xen Orchestra: "at 1.5 x the average or more") and gives one guest: 50 / 50.
    hs = [{'name': 'h0', 'memory_mb': 4096, 'cpus': 4}, {'name': 'h1', 'memory_mb': 4096, 'cpus': 4}]
    gs = [guest('a', 'h0', 256, 1), guest('b', 'h0', 256, 1), guest('c', 'h0', 256, 1), guest('d', 'h1', 256, 1)]
    plan = pl.plan_balance(hs, gs, weights=BOTH, threshold=5.0, economy={})
    assert len(plan['migrations']) == 1 and plan['migrations'][0]['from'] == 'h0'
    assert plan['hosts']['h0']['after']['vcpus_percent'] == 50.0
    # just under it (a trigger a little higher), nothing moves
    assert pl.plan_balance(hs, gs, weights=BOTH, threshold=5.0, economy={'trigger': 1.51})['migrations'] == []


def test_the_lab_fleet_two_hosts_four_guests_one_anti_affinity_rule():
    # molecule scenario "fleet": four 1-vCPU guests on xen1 (fa, fb 256 MiB, fc, fd 128 MiB), fa and fb never
    # together. The repair moves fb to xen2 (a rule, whatever the economy); xen1 is then at 3 vCPUs against an
    # average of 2 (1.5 x, overloaded) and gives one of fc, fd (not fa, fb's mate): two guests per host, both
    # moves from xen1 to xen2, and a second plan is empty.
    hs = [{'name': 'xen1', 'memory_mb': 2048, 'cpus': 2}, {'name': 'xen2', 'memory_mb': 2048, 'cpus': 2}]
    gs = [guest('fa', 'xen1', 256, 1), guest('fb', 'xen1', 256, 1), guest('fc', 'xen1', 128, 1),
          guest('fd', 'xen1', 128, 1)]
    rules = {'anti_affinity': [{'name': 'replicas', 'guests': ['fa', 'fb']}]}
    plan = pl.plan_balance(hs, gs, threshold=5.0, min_improvement=10.0, rules=rules, economy={})
    assert [m['from'] for m in plan['migrations']] == ['xen1', 'xen1']
    assert [m['to'] for m in plan['migrations']] == ['xen2', 'xen2']
    moved = [m['guest'] for m in plan['migrations']]
    assert 'fb' in moved and 'fa' not in moved
    after = replay(hs, gs, rules, plan)
    assert pl.plan_balance(hs, after, threshold=5.0, min_improvement=10.0, rules=rules, economy={})['migrations'] == []


def test_threshold_still_bounds_the_trigger():
    # 1.75 x the average, but only 3 points above it (loads 7 / 4 / 4 / 1 % of 100 CPUs, average 4 %)
    hs = [{'name': 'h%d' % i, 'memory_mb': 16384, 'cpus': 100} for i in range(4)]
    gs = [guest('a', 'h0', 1024, 4), guest('b', 'h0', 1024, 3), guest('c', 'h1', 1024, 4), guest('d', 'h2', 1024, 4),
          guest('e', 'h3', 1024, 1)]
    weights = {'vcpus': 1, 'memory': 0}
    assert pl.plan_balance(hs, gs, weights=weights, threshold=5.0, economy={})['migrations'] == []
    assert pl.plan_balance(hs, gs, weights=weights, threshold=2.0, economy={})['migrations'] != []


def memory_fleet():
    # h0 holds 15 GiB of 16 (93.75 %): m1 8 GiB, m2 4 GiB, m3 2 GiB, m4 1 GiB; the others 4 GiB each (25 %)
    guests = [guest('m1', 'h0', 8192, 1), guest('m2', 'h0', 4096, 1), guest('m3', 'h0', 2048, 1), guest('m4', 'h0', 1024, 1),
              guest('x', 'h1', 4096, 1), guest('y', 'h2', 4096, 1), guest('z', 'h3', 4096, 1)]
    return hosts(), guests


def test_memory_is_a_limit_not_a_load():
    # Memory deviations: +51.6, -17.2 x 3 (average 42.2 %). On memory alone the best move is m2 (25 points)
    # to h1: 68.75 / 50 / 25 / 25 (sum of squares 1358, from 3547; m1 gives 1669, m3 2140). h0 is then
    # under 90 %: relieved after one migration.
    hs, gs = memory_fleet()
    weights = {'memory': 1, 'vcpus': 0}
    plan = pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={'memory': 90})
    assert moves(plan) == [('m2', 'h0', 'h1')]
    assert plan['hosts']['h0']['after']['memory_percent'] == 68.8
    # at the default 95 %, h0 (93.75 %) is not short of memory: a fleet whose memory is uneven but nowhere
    # short is left alone
    assert pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={})['migrations'] == []
    # spreading memory evenly moves more
    assert len(pl.plan_balance(hs, gs, weights=weights, threshold=0.0)['migrations']) > 1


def test_a_target_never_ends_overloaded():
    # With the memory level at 90 %: h0 is short of memory (15 GiB of 16, 93.75 %); h1 holds 10.5 GiB (65.6 %)
    # and has room for m2, but would end at 90.6 %, above 90 %; h2 and h3 are full. Nothing may move, although
    # moving m2 to h1 lowers the imbalance (deviations 3.9 / -24.2 / 10.2 / 10.2 -> -21.1 / 0.8 / 10.2 / 10.2).
    hs = hosts()
    gs = [guest('m1', 'h0', 11264, 1), guest('m2', 'h0', 4096, 1), guest('x', 'h1', 10752, 1),
          guest('y', 'h2', 16384, 1), guest('z', 'h3', 16384, 1)]
    weights = {'memory': 1, 'vcpus': 0}
    assert pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={'memory': 90})['migrations'] == []
    assert moves(pl.plan_balance(hs, gs, weights=weights, threshold=0.0)) == [('m2', 'h0', 'h1')]


def test_measured_cpu_is_relieved_like_vcpus():
    # CPU usage in percent of one CPU, 800 per 8-CPU host: h0 runs busy 300, mid, low and low2 100 each (75 %),
    # h1-h3 100 each (12.5 %). The average is 900 / 3200 = 28.1 %, so h0 (2.7 x) is overloaded, and a target
    # may reach 1.25 x 28.1 = 35.2 %. busy (37.5 points) fits nowhere (50 % at least); mid, low2 and low (12.5
    # points each, equal gains: the later name first) go one to each other host, the least loaded first
    # (lower index on ties): h0 ends at 37.5 %, 1.33 x, still above 1.25 x, and stops there (no move left).
    hs = hosts()
    gs = [guest('busy', 'h0', 1024, 4, cpu_percent=300), guest('mid', 'h0', 1024, 2, cpu_percent=100),
          guest('low', 'h0', 1024, 1, cpu_percent=100), guest('low2', 'h0', 1024, 1, cpu_percent=100),
          guest('p', 'h1', 1024, 1, cpu_percent=100), guest('q', 'h2', 1024, 1, cpu_percent=100),
          guest('r', 'h3', 1024, 1, cpu_percent=100)]
    weights = {'memory': 0, 'vcpus': 0, 'cpu': 1}
    plan = pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={})
    assert moves(plan) == [('mid', 'h0', 'h1'), ('low2', 'h0', 'h2'), ('low', 'h0', 'h3')]
    assert [plan['hosts'][h]['after']['cpu_percent'] for h in ('h0', 'h1', 'h2', 'h3')] == [37.5, 25.0, 25.0, 25.0]
    assert pl.plan_balance(hs, replay(hs, gs, {}, plan), weights=weights, threshold=0.0, economy={})['migrations'] == []


def busy_cpu_fleet():
    # 4-CPU hosts (400 % of one CPU each), CPU use measured: h0 at 100 % (a 200, b 100, c 100), h1-h3 at 55 % (one
    # guest of 220 each). The average is 66.25 %, so h0 (1.51 x) is overloaded, and a target may reach 1.25 x the
    # average (82.8 %) by the relative rule.
    gs = [guest('a', 'h0', 2048, 2, cpu_percent=200), guest('b', 'h0', 1024, 1, cpu_percent=100),
          guest('c', 'h0', 1024, 1, cpu_percent=100), guest('d', 'h1', 4096, 3, cpu_percent=220),
          guest('e', 'h2', 4096, 3, cpu_percent=220), guest('f', 'h3', 4096, 3, cpu_percent=220)]
    return [dict(h, cpus=4) for h in hosts()], gs


@pytest.mark.parametrize('weights', [{'memory': 0, 'vcpus': 0, 'cpu': 1}, {'memory': 1, 'vcpus': 1, 'cpu': 1}])
def test_measured_cpu_never_moves_onto_a_host_it_makes_busy(weights):
    # b or c (25 points) would take a target to 80 %: within 1.25 x the average, but above economy.cpu (75 % by
    # default); a (50 points) to 105 %. Nothing moves: every other host would end busier than 75 %, and the move
    # would only trade one busy host for another. Allowed 80 %, the later name of the equal b and c goes to the
    # first host (h0 75 %, 1.13 x: relieved); at 79.9 % nothing moves again.
    hs, gs = busy_cpu_fleet()
    assert pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={})['migrations'] == []
    plan = pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={'cpu': 80})
    assert moves(plan) == [('c', 'h0', 'h1')]
    assert [plan['hosts'][h]['after']['cpu_percent'] for h in ('h0', 'h1', 'h2', 'h3')] == [75.0, 80.0, 55.0, 55.0]
    assert pl.plan_balance(hs, gs, weights=weights, threshold=0.0, economy={'cpu': 79.9})['migrations'] == []
    assert pl.plan_balance(hs, replay(hs, gs, {}, plan), weights=weights, threshold=0.0,
                           economy={'cpu': 80})['migrations'] == []


def test_the_cpu_level_limits_measured_cpu_only():
    # Reservations are not measured use: vCPUs go past 75 % of a target's CPUs (vcpu_fleet: h1 ends at 125 %),
    # and CPU use given but not weighted limits nothing.
    hs, gs = vcpu_fleet()
    gs = [dict(g, cpu_percent=100.0 * g['vcpus']) for g in gs]
    plan = pl.plan_balance(hs, gs, weights=BOTH, threshold=0.0, economy={})
    assert moves(plan) == [('a', 'h0', 'h1')]
    assert plan['hosts']['h1']['after']['cpu_percent'] == 125.0
    # weighted, the same figures as measured use: only c (25 points) finds a host it leaves at 75 % (h1, from 50 %);
    # a, b and d (50-75 points) would take any host past it, and h0 stays at 175 %
    plan = pl.plan_balance(hs, gs, weights={'memory': 1, 'vcpus': 1, 'cpu': 1}, threshold=0.0, economy={})
    assert moves(plan) == [('c', 'h0', 'h1')]
    assert [plan['hosts'][h]['after']['cpu_percent'] for h in ('h0', 'h1', 'h2', 'h3')] == [175.0, 75.0, 50.0, 100.0]


def test_a_host_short_of_memory_gives_to_a_host_that_is_not_busy():
    # h0 holds 15.5 GiB of 16 (96.9 %, above economy.memory 95 %) in two quiet guests; h1 and h2 run at 80 %
    # measured CPU, h3 at 50 %, each with 4 GiB. Memory alone sends m2 to h1 (the first of three equal hosts); with
    # measured CPU weighted, h1 and h2 are above economy.cpu and m2 (10 % of one CPU) goes to h3.
    hs = [dict(h, cpus=4) for h in hosts()]
    gs = [guest('m1', 'h0', 8192, 1, cpu_percent=10), guest('m2', 'h0', 7680, 1, cpu_percent=10),
          guest('x', 'h1', 4096, 4, cpu_percent=320), guest('y', 'h2', 4096, 4, cpu_percent=320),
          guest('z', 'h3', 4096, 4, cpu_percent=200)]
    assert moves(pl.plan_balance(hs, gs, weights={'memory': 1, 'vcpus': 0, 'cpu': 0}, threshold=0.0,
                                 economy={})) == [('m2', 'h0', 'h1')]
    plan = pl.plan_balance(hs, gs, weights={'memory': 1, 'vcpus': 0, 'cpu': 1}, threshold=0.0, economy={})
    assert moves(plan) == [('m2', 'h0', 'h3')]
    assert plan['hosts']['h3']['after']['cpu_percent'] == 52.5


def test_min_gain_per_migration():
    hs, gs = vcpu_fleet()
    plan = pl.plan_balance(hs, gs, weights=BOTH, threshold=0.0, economy={})
    gain = plan['imbalance']['before'] - plan['imbalance']['after']
    assert len(plan['migrations']) == 1 and gain > 5
    assert pl.plan_balance(hs, gs, weights=BOTH, threshold=0.0, economy={'min_gain': gain - 0.01})['migrations'] \
        == plan['migrations']
    # no other move buys more than the best one, so asking for a little more than it plans nothing
    assert pl.plan_balance(hs, gs, weights=BOTH, threshold=0.0, economy={'min_gain': gain + 0.01})['migrations'] == []


def test_max_migrations_still_bounds_an_economy_plan():
    hs, gs = memory_fleet()
    gs = [dict(g, memory_mb=g['memory_mb'] // 2) if g['host'] != 'h0' else g for g in gs]
    gs.append(guest('m5', 'h0', 512, 1))   # h0 at 96.9 %: relieving it takes two moves at most ...
    full = pl.plan_balance(hs, gs, weights={'memory': 1, 'vcpus': 0}, threshold=0.0, economy={'memory': 50})
    assert len(full['migrations']) >= 2
    capped = pl.plan_balance(hs, gs, weights={'memory': 1, 'vcpus': 0}, threshold=0.0, economy={'memory': 50},
                             max_migrations=1)
    assert len(capped['migrations']) == 1
    assert capped['migrations'][0]['guest'] == full['migrations'][0]['guest']


@pytest.mark.parametrize('seed', range(60))
def test_random_economy_plans_are_safe_and_idempotent(seed):
    hs, gs, rules = random_fleet(seed)
    threshold = [0.0, 2.0, 5.0][seed % 3]
    weights = {'memory': 1, 'vcpus': 1, 'cpu': seed % 2}
    economy = [{}, {'trigger': 1.3, 'target': 1.1}, {'memory': 70, 'min_gain': 0.2}][seed % 3]
    plan = pl.plan_balance(hs, gs, threshold=threshold, rules=rules, weights=weights, economy=economy)
    after = replay(hs, gs, rules, plan)
    assert not plan['dropped']
    if plan['converged']:
        again = pl.plan_balance(hs, after, threshold=threshold, rules=rules, weights=weights, economy=economy)
        assert again['migrations'] == [], 'second plan not empty: %r' % again['migrations']
    if not rules:
        assert plan['imbalance']['after'] <= plan['imbalance']['before'] + 1e-9


def test_random_fleets_do_get_relief_moves():
    # the property test above means something: most of its fleets have an overloaded host that gets relieved
    relieved = 0
    for seed in range(60):
        hs, gs, rules = random_fleet(seed)
        plan = pl.plan_balance(hs, gs, threshold=[0.0, 2.0, 5.0][seed % 3], rules=rules,
                               weights={'memory': 1, 'vcpus': 1, 'cpu': seed % 2},
                               economy=[{}, {'trigger': 1.3, 'target': 1.1}, {'memory': 70, 'min_gain': 0.2}][seed % 3])
        relieved += any(m['reason'].startswith('relieve:') for m in plan['migrations'])
    assert relieved >= 30


@pytest.mark.parametrize('economy,param,said', [
    ({'trigger': 1.2}, 'economy.trigger', 'must be at least economy.target (1.25), got 1.2'),
    ({'target': 0.9, 'trigger': 2}, 'economy.target', 'must be at least 1'),
    ({'memory': 0}, 'economy.memory', 'must be above 0 and at most 100'),
    ({'memory': 120}, 'economy.memory', 'must be above 0 and at most 100'),
    ({'cpu': 0}, 'economy.cpu', 'must be above 0 and at most 100'),
    ({'cpu': 101}, 'economy.cpu', 'must be above 0 and at most 100'),
    ({'min_gain': -1}, 'economy.min_gain', 'must be at least 0'),
    ({'trigger': 'high'}, 'economy.trigger', 'expected a number'),
    ({'speed': 1}, 'economy', 'unknown key(s) speed'),
    ('yes', 'economy', 'expected true, false or a dict'),
])
def test_bad_economy_names_the_key(economy, param, said):
    hs, gs = vcpu_fleet()
    with pytest.raises(pl.PlacementError) as info:
        pl.plan_balance(hs, gs, economy=economy)
    assert info.value.param == param
    assert said in info.value.message


def test_economy_policy_defaults():
    assert pl.economy_policy(None) is None and pl.economy_policy(False) is None
    defaults = {'trigger': 1.5, 'target': 1.25, 'memory': 95.0, 'cpu': 75.0, 'min_gain': 0.0}
    assert pl.economy_policy(True) == pl.economy_policy({}) == defaults
    assert pl.economy_policy({'trigger': 2, 'target': None})['target'] == 1.25
