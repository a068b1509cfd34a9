# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import itertools
import math
import random

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _placement as pl


# --------------------------------------------------------------------------------------------
# helpers: random fleets and an independent checker of plans
# --------------------------------------------------------------------------------------------

def random_fleet(seed, nh=None, ng=None, with_rules=True):
    rnd = random.Random(seed)
    nh = nh or rnd.randint(2, 9)
    ng = rnd.randint(0, 50) if ng is None else ng
    hosts = []
    for i in range(nh):
        mem = rnd.choice([8192, 16384, 32768])
        hosts.append({'name': 'h%d' % i, 'memory_mb': mem, 'cpus': mem // 2048})
    skew = [rnd.random() ** 2 + 0.05 for _i in hosts]
    used = dict((h['name'], 0) for h in hosts)
    guests = []
    for j in range(ng):
        mem = rnd.choice([256, 512, 1024, 2048, 4096, 8192])
        options = [h for h in hosts if used[h['name']] + mem <= h['memory_mb'] * 0.97]
        if not options:
            continue
        host = rnd.choices(options, weights=[skew[int(h['name'][1:])] for h in options])[0]
        used[host['name']] += mem
        guests.append({'name': 'g%02d' % j, 'host': host['name'], 'memory_mb': mem, 'vcpus': rnd.choice([1, 1, 2, 4]),
                       'cpu_percent': rnd.choice([None, 5, 50, 180])})
    rules = {}
    if with_rules and len(guests) >= 8:
        names = [g['name'] for g in guests]
        rnd.shuffle(names)
        rules = {
            'anti_affinity': [{'name': 'replicas', 'guests': names[0:3]}],
            'affinity': [names[3:5]],
            'pinned': {names[5]: [hosts[0]['name'], hosts[-1]['name']]},
            'excluded': [names[6]],
        }
        if nh > 3 and rnd.random() < 0.5:
            rules['cordoned'] = [hosts[1]['name']]
    return hosts, guests, rules


def replay(hosts, guests, rules, plan, max_load_memory=100.0, reserve=0):
    """Apply the plan one migration at a time and check every hard constraint at each step.

    An anti-affinity rule may be broken only by a guest that the plan reports in `unresolved` for it
    (a drain with anti_affinity='soft'). Returns the guests at their final hosts.
    """
    reported = set(u['guest'] for u in plan.get('unresolved', []) if u['rule'] == 'anti_affinity'
                   and plan.get('mode') == 'evacuate')
    where = dict((g['name'], g['host']) for g in guests)
    demand = dict((g['name'], g) for g in guests)
    limit = dict((h['name'], h['memory_mb'] * max_load_memory / 100.0 - reserve) for h in hosts)
    used = dict((h['name'], 0) for h in hosts)
    for g in guests:
        used[g['host']] += g['memory_mb']
    cordoned = set(rules.get('cordoned', []))
    excluded = set(rules.get('excluded', []))
    pinned = rules.get('pinned', {})
    anti = [grp['guests'] if isinstance(grp, dict) else grp for grp in rules.get('anti_affinity', [])]
    affinity = [grp['guests'] if isinstance(grp, dict) else grp for grp in rules.get('affinity', [])]
    anti_ok_before = [len(set(where[n] for n in grp)) == len(grp) for grp in anti]
    aff_ok_before = [len(set(where[n] for n in grp)) == 1 for grp in affinity]
    moved = set()
    for index, move in enumerate(plan['migrations']):
        g, src, dst = move['guest'], move['from'], move['to']
        assert move['order'] == index + 1
        assert g not in moved, 'guest %s migrates twice' % g
        moved.add(g)
        assert where[g] == src, 'guest %s is on %s, not %s' % (g, where[g], src)
        assert src != dst
        assert src not in cordoned and dst not in cordoned, 'cordoned host touched by %r' % move
        assert g not in excluded, 'excluded guest %s moves' % g
        if g in pinned:
            assert dst in pinned[g], 'pinned guest %s goes to %s' % (g, dst)
        assert used[dst] + demand[g]['memory_mb'] <= limit[dst] + 1e-6, 'overfills %s: %r' % (dst, move)
        for grp, ok in zip(anti, anti_ok_before):
            if g in grp and ok and g not in reported:
                assert not [o for o in grp if o != g and where[o] == dst], 'anti-affinity broken by %r' % move
        used[src] -= demand[g]['memory_mb']
        used[dst] += demand[g]['memory_mb']
        where[g] = dst
        assert move['reason']
    for grp, ok in zip(affinity, aff_ok_before):
        if ok:
            assert len(set(where[n] for n in grp)) == 1, 'affinity group %r split' % (grp,)
    for grp, ok in zip(anti, anti_ok_before):
        if ok and not reported & set(grp):
            assert len(set(where[n] for n in grp)) == len(grp), 'anti-affinity group %r broken' % (grp,)
    return [dict(g, host=where[g['name']]) for g in guests]


def imbalance_by_hand(hosts, guests, weights, cordoned=()):
    """The documented formula, computed the slow way."""
    active = [h for h in hosts if h['name'] not in cordoned]
    total = 0.0
    for metric, key in (('memory', 'memory_mb'), ('vcpus', 'vcpus'), ('cpu', 'cpu_percent')):
        w = weights.get(metric, 0)
        if not w:
            continue
        loads = []
        for h in active:
            cap = {'memory': h['memory_mb'], 'vcpus': h['cpus'], 'cpu': 100.0 * h['cpus']}[metric]
            loads.append(sum((g.get(key) or 0) for g in guests if g['host'] == h['name']) / float(cap))
        mean = sum(loads) / len(loads)
        total += w * sum((u - mean) ** 2 for u in loads) / len(loads)
    return 100.0 * math.sqrt(total / sum(weights.values()))


# --------------------------------------------------------------------------------------------
# property checks on random fleets
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize('seed', range(60))
@pytest.mark.parametrize('mode', ['performance', 'density'])
def test_random_plans_are_safe_and_idempotent(seed, mode):
    hosts, guests, rules = random_fleet(seed)
    threshold = [0.0, 2.0, 5.0][seed % 3]
    plan = pl.plan_balance(hosts, guests, mode=mode, threshold=threshold, rules=rules,
                           weights={'memory': 1, 'vcpus': 1, 'cpu': seed % 2})
    after = replay(hosts, guests, rules, plan)
    again = pl.plan_balance(hosts, after, mode=mode, threshold=threshold, rules=rules,
                            weights={'memory': 1, 'vcpus': 1, 'cpu': seed % 2})
    if plan['converged']:
        assert again['migrations'] == [], 'second plan not empty: %r' % again['migrations']
    assert not plan['dropped']
    if mode == 'performance' and not rules:
        assert plan['imbalance']['after'] <= plan['imbalance']['before'] + 1e-9


@pytest.mark.parametrize('seed', range(20))
def test_limits_reserve_and_budget_hold(seed):
    hosts, guests, rules = random_fleet(1000 + seed)
    budget = seed % 4
    plan = pl.plan_balance(hosts, guests, threshold=0.0, rules=rules, max_migrations=budget,
                           max_load={'memory': 90}, memory_reserve_mb=512)
    replay(hosts, guests, rules, plan, max_load_memory=90.0, reserve=512)
    assert len(plan['migrations']) <= budget


@pytest.mark.parametrize('seed', range(20))
def test_density_is_safe_with_headroom(seed):
    hosts, guests, rules = random_fleet(2000 + seed)
    plan = pl.plan_balance(hosts, guests, mode='density', rules=rules, max_load={'memory': 85})
    after = replay(hosts, guests, rules, plan, max_load_memory=85.0)
    assert plan['hosts_in_use']['after'] <= plan['hosts_in_use']['before']
    again = pl.plan_balance(hosts, after, mode='density', rules=rules, max_load={'memory': 85})
    assert again['migrations'] == []


@pytest.mark.parametrize('seed', range(30))
def test_random_evacuations(seed):
    """Both anti-affinity modes on the same fleets: every limit holds at each step (replay), the guests
    left are exactly those reported, largest first; soft places at least as many and breaks a rule only
    where the hard plan could not keep it, each break reported."""
    hosts, guests, rules = random_fleet(3000 + seed)
    source = hosts[seed % len(hosts)]['name']
    rules.pop('cordoned', None)
    plans = dict((mode, pl.plan_evacuation(hosts, guests, source, rules=rules, anti_affinity=mode))
                 for mode in ('hard', 'soft'))
    for plan in plans.values():
        after = replay(hosts, guests, rules, plan)
        left = sorted(g['name'] for g in after if g['host'] == source)
        expected_left = sorted([n for item in plan['blocked'] for n in item['guests']] +
                               [n for item in plan['remaining'] for n in item['guests']])
        assert left == expected_left
        assert plan['complete'] == (not plan['blocked'])
        # largest first
        sizes = [m['memory_mb'] for m in plan['migrations']]
        grouped = [k for k, _g in itertools.groupby(sizes)]
        assert grouped == sorted(grouped, reverse=True) or rules.get('affinity')
    hard, soft = plans['hard'], plans['soft']
    assert len(soft['blocked']) <= len(hard['blocked'])
    if not hard['blocked']:
        assert soft['migrations'] == hard['migrations'] and soft['unresolved'] == []
    assert hard['unresolved'] == []
    for item in soft['unresolved']:
        assert item['rule'] == 'anti_affinity' and 'while %s is drained' % source in item['why']


# --------------------------------------------------------------------------------------------
# exact optimum on tiny fleets
# --------------------------------------------------------------------------------------------

def brute_force(hosts, guests, weights, budget):
    """Least imbalance over every placement that fits memory and moves at most `budget` guests."""
    best = None
    names = [h['name'] for h in hosts]
    caps = dict((h['name'], h['memory_mb']) for h in hosts)
    for assign in itertools.product(names, repeat=len(guests)):
        if sum(1 for g, h in zip(guests, assign) if g['host'] != h) > budget:
            continue
        used = dict((n, 0) for n in names)
        for g, h in zip(guests, assign):
            used[h] += g['memory_mb']
        if any(used[n] > caps[n] for n in names):
            continue
        value = imbalance_by_hand(hosts, [dict(g, host=h) for g, h in zip(guests, assign)], weights)
        if best is None or value < best:
            best = value
    return best


@pytest.mark.parametrize('seed', range(12))
def test_tiny_fleets_reach_the_optimum_for_their_migration_count(seed):
    rnd = random.Random(seed)
    hosts = [{'name': 'h%d' % i, 'memory_mb': 8192, 'cpus': 4} for i in range(3)]
    guests = [{'name': 'g%d' % j, 'host': 'h%d' % rnd.choice([0, 0, 1, 2]), 'memory_mb': rnd.choice([512, 1024, 2048]),
               'vcpus': rnd.choice([1, 2])} for j in range(6)]
    weights = {'memory': 1.0, 'vcpus': 1.0}
    for h in hosts:  # keep the random input valid
        while sum(g['memory_mb'] for g in guests if g['host'] == h['name']) > h['memory_mb']:
            guests.pop()
    plan = pl.plan_balance(hosts, guests, threshold=0.0, weights=weights)
    moves = len(plan['migrations'])
    optimum = brute_force(hosts, guests, weights, moves)
    assert plan['imbalance']['after'] <= optimum + 1.0 + 1e-6, (plan['imbalance'], optimum, moves)
    assert abs(plan['imbalance']['before'] - imbalance_by_hand(hosts, guests, weights)) < 1e-3


def test_two_hosts_one_move_is_optimal():
    hosts = [{'name': 'a', 'memory_mb': 10000, 'cpus': 4}, {'name': 'b', 'memory_mb': 10000, 'cpus': 4}]
    guests = [{'name': 'g%d' % i, 'host': 'a', 'memory_mb': 1000 * (i + 1), 'vcpus': 1} for i in range(4)]
    plan = pl.plan_balance(hosts, guests, threshold=0.0, weights={'memory': 1, 'vcpus': 0})
    # a holds 10000 of 10000: moving g3 (4000) and g0 (1000) makes 5000 / 5000
    assert sorted(m['guest'] for m in plan['migrations']) == ['g0', 'g3']
    assert plan['imbalance']['after'] == 0.0
    assert plan['hosts']['a']['after']['memory_percent'] == 50.0


# --------------------------------------------------------------------------------------------
# behaviour
# --------------------------------------------------------------------------------------------

def even_fleet():
    hosts = [{'name': 'h%d' % i, 'memory_mb': 16384, 'cpus': 8} for i in range(3)]
    guests = [{'name': 'g%d%d' % (i, j), 'host': 'h%d' % i, 'memory_mb': 2048, 'vcpus': 2} for i in range(3) for j in range(3)]
    return hosts, guests


def test_balanced_fleet_plans_nothing():
    hosts, guests = even_fleet()
    plan = pl.plan_balance(hosts, guests, threshold=0.0)
    assert plan['migrations'] == []
    assert plan['imbalance'] == {'before': 0.0, 'after': 0.0}
    assert plan['summary'].startswith('0 migration(s)')


def test_threshold_band_and_min_improvement():
    hosts, guests = even_fleet()
    guests.append({'name': 'extra1', 'host': 'h0', 'memory_mb': 512, 'vcpus': 1})
    guests.append({'name': 'extra2', 'host': 'h0', 'memory_mb': 512, 'vcpus': 1})
    weights = {'memory': 1, 'vcpus': 0}
    # h0 is about 4 points above average: inside a 5-point band, nothing moves
    assert pl.plan_balance(hosts, guests, threshold=5.0, weights=weights)['migrations'] == []
    # with no band, one move helps ... unless it must improve the figure by 100 %
    assert len(pl.plan_balance(hosts, guests, threshold=0.0, weights=weights)['migrations']) == 1
    plan = pl.plan_balance(hosts, guests, threshold=0.0, min_improvement=100.0, weights=weights)
    assert plan['migrations'] == [] and 'min_improvement' in plan['note']


def test_anti_affinity_is_honoured_and_repaired():
    hosts = [{'name': n, 'memory_mb': 16384, 'cpus': 8} for n in ('a', 'b', 'c')]
    guests = [{'name': 'db1', 'host': 'a', 'memory_mb': 4096, 'vcpus': 2},
              {'name': 'db2', 'host': 'a', 'memory_mb': 4096, 'vcpus': 2},
              {'name': 'web', 'host': 'b', 'memory_mb': 1024, 'vcpus': 1}]
    rules = {'anti_affinity': [{'name': 'db', 'guests': ['db1', 'db2']}]}
    plan = pl.plan_balance(hosts, guests, threshold=50.0, rules=rules)
    assert [(m['guest'], m['to']) for m in plan['migrations']] == [('db2', 'c')]
    assert plan['migrations'][0]['reason'].startswith('repair anti-affinity db')
    assert plan['unresolved'] == []


def test_unrepairable_rule_is_reported():
    hosts = [{'name': 'a', 'memory_mb': 8192, 'cpus': 4}, {'name': 'b', 'memory_mb': 8192, 'cpus': 4}]
    guests = [{'name': 'db1', 'host': 'a', 'memory_mb': 2048, 'vcpus': 1},
              {'name': 'db2', 'host': 'a', 'memory_mb': 2048, 'vcpus': 1},
              {'name': 'fat', 'host': 'b', 'memory_mb': 7168, 'vcpus': 1}]
    plan = pl.plan_balance(hosts, guests, rules={'anti_affinity': [['db1', 'db2']]})
    assert plan['migrations'] == []
    assert plan['unresolved'][0]['guest'] == 'db2'
    assert 'room' in plan['unresolved'][0]['why']


def test_pinned_cordoned_excluded_and_affinity():
    hosts = [{'name': n, 'memory_mb': 16384, 'cpus': 8} for n in ('a', 'b', 'c', 'd')]
    guests = [{'name': 'g%d' % i, 'host': 'a', 'memory_mb': 2048, 'vcpus': 1} for i in range(7)]
    rules = {'pinned': {'g0': 'a', 'g1': ['a', 'd']}, 'cordoned': ['b'], 'excluded': ['g2'],
             'affinity': [{'name': 'pair', 'guests': ['g3', 'g4']}]}
    plan = pl.plan_balance(hosts, guests, threshold=0.0, rules=rules)
    after = replay(hosts, guests, rules, plan)
    where = dict((g['name'], g['host']) for g in after)
    assert where['g0'] == 'a' and where['g2'] == 'a' and where['g1'] in ('a', 'd')
    assert where['g3'] == where['g4']
    assert 'b' not in where.values()
    assert plan['hosts']['b']['cordoned']
    moves = [m['guest'] for m in plan['migrations']]
    if 'g3' in moves:  # a group moves as consecutive migrations
        assert abs(moves.index('g3') - moves.index('g4')) == 1


def test_split_affinity_group_is_gathered():
    hosts = [{'name': n, 'memory_mb': 16384, 'cpus': 8} for n in ('a', 'b')]
    guests = [{'name': 'app', 'host': 'a', 'memory_mb': 2048, 'vcpus': 1},
              {'name': 'cache', 'host': 'b', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'big', 'host': 'a', 'memory_mb': 4096, 'vcpus': 1}]
    plan = pl.plan_balance(hosts, guests, threshold=50.0, rules={'affinity': [['app', 'cache']]})
    assert len(plan['migrations']) == 1 and plan['migrations'][0]['reason'].startswith('repair affinity')


def test_memory_is_a_hard_limit_even_when_unbalanced():
    hosts = [{'name': 'a', 'memory_mb': 8192, 'cpus': 2}, {'name': 'b', 'memory_mb': 8192, 'cpus': 64}]
    guests = [{'name': 'cpu%d' % i, 'host': 'a', 'memory_mb': 512, 'vcpus': 8} for i in range(2)]
    guests.append({'name': 'fill', 'host': 'b', 'memory_mb': 8192, 'vcpus': 1})
    plan = pl.plan_balance(hosts, guests, threshold=0.0)
    assert plan['migrations'] == []  # b has no memory left, however idle its CPUs are


def test_order_makes_every_step_fit():
    # c is full; the only way to balance is to move out of c before moving into it
    hosts = [{'name': n, 'memory_mb': 8192, 'cpus': 8} for n in ('a', 'b', 'c')]
    guests = [{'name': 'a%d' % i, 'host': 'a', 'memory_mb': 2048, 'vcpus': 4} for i in range(4)]
    guests += [{'name': 'c%d' % i, 'host': 'c', 'memory_mb': 4096, 'vcpus': 1} for i in range(2)]
    plan = pl.plan_balance(hosts, guests, threshold=0.0)
    replay(hosts, guests, {}, plan)
    assert plan['migrations']


def test_density_frees_hosts():
    hosts = [{'name': 'h%d' % i, 'memory_mb': 16384, 'cpus': 8} for i in range(4)]
    guests = [{'name': 'g%d' % i, 'host': 'h%d' % (i % 4), 'memory_mb': 2048, 'vcpus': 1} for i in range(8)]
    plan = pl.plan_balance(hosts, guests, mode='density')
    assert plan['hosts_in_use'] == {'before': 4, 'after': 1}
    assert len(plan['migrations']) == 6
    assert all(m['reason'].startswith('density: free') for m in plan['migrations'])
    plan = pl.plan_balance(hosts, guests, mode='density', max_load={'memory': 50})
    assert plan['hosts_in_use']['after'] == 2


def test_evacuation_spreads_by_free_memory_and_reports_blocked():
    hosts = [{'name': 'src', 'memory_mb': 32768, 'cpus': 16}, {'name': 'x', 'memory_mb': 16384, 'cpus': 8},
             {'name': 'y', 'memory_mb': 16384, 'cpus': 8}, {'name': 'off', 'memory_mb': 65536, 'cpus': 8}]
    guests = [{'name': 'big', 'host': 'src', 'memory_mb': 8192, 'vcpus': 2},
              {'name': 'mid', 'host': 'src', 'memory_mb': 6144, 'vcpus': 2},
              {'name': 'small', 'host': 'src', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'huge', 'host': 'src', 'memory_mb': 20480, 'vcpus': 4},
              {'name': 'keep', 'host': 'src', 'memory_mb': 512, 'vcpus': 1},
              {'name': 'other', 'host': 'y', 'memory_mb': 1024, 'vcpus': 1}]
    rules = {'cordoned': ['src', 'off'], 'excluded': ['keep']}
    plan = pl.plan_evacuation(hosts, guests, 'src', rules=rules)
    assert [(m['guest'], m['to']) for m in plan['migrations']] == [('big', 'x'), ('mid', 'y'), ('small', 'y')]
    assert not plan['complete']
    assert plan['blocked'][0]['guest'] == 'huge'
    assert 'needs 20480 MiB' in plan['blocked'][0]['why']
    assert plan['remaining'] == [{'guest': 'keep', 'guests': ['keep'], 'why': 'excluded from moves'}]
    assert 'cannot be placed' in plan['summary']


def test_evacuation_reasons_for_pins_and_anti_affinity():
    hosts = [{'name': n, 'memory_mb': 16384, 'cpus': 8} for n in ('a', 'b', 'c')]
    guests = [{'name': 'p', 'host': 'a', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r1', 'host': 'a', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r2', 'host': 'b', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r3', 'host': 'c', 'memory_mb': 1024, 'vcpus': 1}]
    plan = pl.plan_evacuation(hosts, guests, 'a', rules={'pinned': {'p': ['a']}, 'anti_affinity': [['r1', 'r2', 'r3']]})
    why = dict((b['guest'], b['why']) for b in plan['blocked'])
    assert why['p'] == 'pinned to a only'
    assert 'anti-affinity' in why['r1']


def two_replicas(extra_hosts=()):
    hosts = [{'name': n, 'memory_mb': m, 'cpus': 4} for n, m in [('a', 8192), ('b', 8192)] + list(extra_hosts)]
    guests = [{'name': 'r1', 'host': 'a', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r2', 'host': 'b', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'web', 'host': 'a', 'memory_mb': 512, 'vcpus': 1}]
    return hosts, guests, {'cordoned': ['a'], 'anti_affinity': [{'name': 'db', 'guests': ['r1', 'r2']}]}


def test_hard_evacuation_blocks_a_guest_whose_only_target_runs_its_mate():
    hosts, guests, rules = two_replicas()
    plan = pl.plan_evacuation(hosts, guests, 'a', rules=rules)
    assert [(m['guest'], m['to']) for m in plan['migrations']] == [('web', 'b')]
    assert not plan['complete']
    assert plan['blocked'][0]['guest'] == 'r1'
    assert 'run members of its anti-affinity group (hard anti-affinity' in plan['blocked'][0]['why']
    assert plan['unresolved'] == []


def test_soft_evacuation_places_it_and_reports_the_broken_rule():
    hosts, guests, rules = two_replicas()
    plan = pl.plan_evacuation(hosts, guests, 'a', rules=rules, anti_affinity='soft')
    assert [(m['guest'], m['to']) for m in plan['migrations']] == [('r1', 'b'), ('web', 'b')]
    assert plan['complete'] and plan['blocked'] == []
    assert plan['unresolved'] == [{
        'guest': 'r1', 'rule': 'anti_affinity', 'problem': 'anti-affinity db: r1 joins r2 on b',
        'why': 'while a is drained: every other host with room runs a member of the group '
               '(soft anti-affinity; hard would block the drain)'}]
    assert 'breaks anti-affinity db' in plan['migrations'][0]['reason']
    assert '1 rule problem(s) left' in plan['summary']


def test_soft_evacuation_keeps_the_rule_where_a_host_has_room():
    # c has less free memory than b but runs no replica: the rule holds, nothing is reported
    hosts, guests, rules = two_replicas(extra_hosts=[('c', 2048)])
    plan = pl.plan_evacuation(hosts, guests, 'a', rules=rules, anti_affinity='soft')
    assert dict((m['guest'], m['to']) for m in plan['migrations']) == {'r1': 'c', 'web': 'b'}
    assert plan['unresolved'] == [] and plan['complete']


def test_soft_evacuation_takes_the_host_with_the_fewest_mates_and_never_overfills():
    hosts = [{'name': n, 'memory_mb': m, 'cpus': 4} for n, m in (('a', 8192), ('b', 8192), ('c', 4096), ('d', 2048))]
    guests = [{'name': 'r1', 'host': 'a', 'memory_mb': 1536, 'vcpus': 1},
              {'name': 'r2', 'host': 'b', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r3', 'host': 'b', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r4', 'host': 'c', 'memory_mb': 1024, 'vcpus': 1},
              {'name': 'r5', 'host': 'd', 'memory_mb': 1024, 'vcpus': 1}]
    rules = {'anti_affinity': [['r1', 'r2', 'r3', 'r4', 'r5']]}
    # d (one mate) lacks room for r1's 1536 MiB; of b (two mates) and c (one mate), c
    plan = pl.plan_evacuation(hosts, guests, 'a', rules=rules, anti_affinity='soft')
    assert [(m['guest'], m['to']) for m in plan['migrations']] == [('r1', 'c')]
    assert plan['unresolved'][0]['problem'] == 'anti-affinity rules.anti_affinity[0]: r1 joins r4 on c'
    replay(hosts, guests, rules, plan)
    # memory stays a hard limit in soft mode: with no room anywhere the guest is blocked
    small = [dict(h, memory_mb=2048) if h['name'] != 'a' else h for h in hosts]
    plan = pl.plan_evacuation(small, guests, 'a', rules=rules, anti_affinity='soft')
    assert plan['migrations'] == [] and plan['blocked'][0]['guest'] == 'r1'
    assert 'needs 1536 MiB' in plan['blocked'][0]['why']


def test_fleet_from_facts():
    facts = {
        'xen1': {'host': {'free_memory_mb': 3000, 'nr_cpus': 4, 'total_memory_mb': 8191},
                 'domains': [{'name': 'Domain-0', 'domid': 0, 'memory_mb': {'current': 1024, 'max': 1024},
                              'vcpus': {'online': 2, 'max': 2}},
                             {'name': 'web', 'domid': 3, 'memory_mb': {'current': 1000, 'target': 1000, 'max': 2000},
                              'vcpus': {'online': 2, 'max': 4}}]},
        'xen2': {'host': {'host': {'free_memory_mb': 4000, 'nr_cpus': 2}}, 'domains': {'domains': []}, 'cordoned': True,
                 'cpu_usage': {}},
    }
    hosts, guests = pl.fleet_from_facts(facts, cpu_usage={'web': 35})
    assert hosts == [{'name': 'xen1', 'memory_mb': 4000, 'cpus': 4, 'cordoned': False},
                     {'name': 'xen2', 'memory_mb': 4000, 'cpus': 2, 'cordoned': True}]
    assert guests == [{'name': 'web', 'host': 'xen1', 'memory_mb': 1000, 'vcpus': 2, 'cpu_percent': 35.0, 'paused': False}]
    _hosts, guests = pl.fleet_from_facts(facts, memory_basis='max')
    assert guests[0]['memory_mb'] == 2000


@pytest.mark.parametrize('call,param,said', [
    (lambda: pl.fleet_from_facts({}), 'hosts', 'expected a non-empty dict of host name'),
    (lambda: pl.fleet_from_facts({'a': {'domains': []}}), 'hosts.a.host', 'missing: the host key of xenfleet.xen.xen_host_info'),
    (lambda: pl.fleet_from_facts({'a': {'host': {'free_memory_mb': 'x', 'nr_cpus': 1}}}), 'hosts.a.host.free_memory_mb',
     "expected a number, got 'x'"),
    (lambda: pl.fleet_from_facts({'a': {'host': {'free_memory_mb': 1, 'nr_cpus': 0}}}), 'hosts.a.host.nr_cpus',
     'must be at least 1, got 0'),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], mode='fast'), 'mode',
     "must be one of performance, density, got 'fast'"),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], weights={'disk': 1}), 'weights',
     "unknown metric 'disk'"),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], weights={'memory': 0, 'vcpus': 0}), 'weights',
     'at least one weight must be above 0'),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], rules={'pinned': {'x': 'a'}}), 'rules.pinned',
     'unknown guest x'),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], rules={'cordoned': ['z']}), 'rules.cordoned',
     'unknown host z'),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], rules={'colocate': []}), 'rules',
     'unknown rule kind(s) colocate'),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}],
                             [{'name': 'g', 'host': 'b', 'memory_mb': 1}]), 'guests[0]', "guest g is on unknown host 'b'"),
    (lambda: pl.plan_balance([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], max_migrations=-1), 'max_migrations',
     'must be at least 0, got -1'),
    (lambda: pl.plan_evacuation([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], 'b'), 'host', "unknown host 'b' (known: a)"),
    (lambda: pl.plan_evacuation([{'name': 'a', 'memory_mb': 1, 'cpus': 1}], [], 'a', anti_affinity='maybe'),
     'anti_affinity', "must be one of soft, hard, got 'maybe'"),
])
def test_bad_input_names_the_parameter(call, param, said):
    with pytest.raises(pl.PlacementError) as exc:
        call()
    assert exc.value.param == param
    assert str(exc.value).startswith(param + ': ')
    assert str(exc.value).startswith('%s: %s' % (param, said)), str(exc.value)


def test_gain_formula_matches_recomputation():
    hosts, guests, _rules = random_fleet(7, nh=5, ng=30, with_rules=False)
    fleet = pl._Fleet(hosts, guests, weights={'memory': 1, 'vcpus': 2, 'cpu': 0.5})
    for unit in fleet.units[:10]:
        for t in range(fleet.nh):
            if t == unit.host:
                continue
            s = unit.host
            predicted = fleet.gain(unit, s, t)
            coef = pl._pair_coef(fleet, s, t)
            quick = sum(unit.dem[m] * (a + b * unit.dem[m]) for m, a, b in coef)
            before = fleet.sq_dev()
            fleet.move(unit, t, 'test')
            after = fleet.sq_dev()
            fleet.undo()
            assert abs((before - after) - predicted) < 1e-9
            assert abs(quick - predicted) < 1e-9


def test_imbalance_helper_matches_formula():
    hosts, guests, _rules = random_fleet(11, nh=6, ng=40, with_rules=False)
    weights = {'memory': 2.0, 'vcpus': 1.0, 'cpu': 1.0}
    assert abs(pl.imbalance(hosts, guests, weights) - imbalance_by_hand(hosts, guests, weights)) < 1e-9
    assert abs(pl.imbalance(hosts, guests, weights, cordoned=['h0']) -
               imbalance_by_hand(hosts, guests, weights, cordoned=['h0'])) < 1e-9


# --------------------------------------------------------------------------------------------
# small fleets with rules where single moves and exchanges get stuck (benchmark instances whose exact
# optimum HiGHS proved; the planner before the wider search stopped at 10.98 and 10.34 points)
# --------------------------------------------------------------------------------------------

def fleet_from_rows(host_rows, guest_rows):
    hosts = [{'name': n, 'memory_mb': m, 'cpus': c} for n, m, c in host_rows]
    guests = [{'name': n, 'host': h, 'memory_mb': m, 'vcpus': v} for n, h, m, v in guest_rows]
    return hosts, guests


def stuck_four_hosts():
    hosts, guests = fleet_from_rows(
        [('h0', 16384, 8), ('h1', 32768, 16), ('h2', 16384, 8), ('h3', 16384, 8)],
        [('g00', 'h3', 4096, 1), ('g01', 'h2', 1024, 1), ('g02', 'h3', 8192, 1), ('g03', 'h3', 2048, 1),
         ('g04', 'h2', 512, 1), ('g05', 'h2', 4096, 1), ('g06', 'h2', 1024, 2), ('g07', 'h0', 4096, 1),
         ('g08', 'h2', 2048, 2), ('g09', 'h0', 1024, 4), ('g10', 'h2', 4096, 2), ('g11', 'h1', 8192, 4)])
    rules = {'anti_affinity': [['g07', 'g11', 'g01']], 'pinned': {'g09': ['h0', 'h1']}, 'excluded': ['g04'],
             'affinity': [['g02', 'g00']]}
    return hosts, guests, rules


def stuck_six_hosts():
    hosts, guests = fleet_from_rows(
        [('h0', 16384, 8), ('h1', 16384, 8), ('h2', 16384, 8), ('h3', 32768, 16), ('h4', 16384, 8),
         ('h5', 32768, 16)],
        [('g00', 'h4', 4096, 1), ('g01', 'h2', 1024, 2), ('g02', 'h2', 2048, 1), ('g03', 'h1', 4096, 2),
         ('g04', 'h2', 4096, 2), ('g05', 'h4', 8192, 2), ('g06', 'h0', 2048, 2), ('g07', 'h0', 1024, 4),
         ('g08', 'h4', 2048, 1), ('g09', 'h2', 4096, 2), ('g10', 'h0', 8192, 1), ('g11', 'h0', 1024, 1),
         ('g12', 'h1', 2048, 4), ('g13', 'h0', 2048, 1), ('g14', 'h3', 2048, 1), ('g15', 'h5', 4096, 4),
         ('g16', 'h1', 1024, 1), ('g17', 'h1', 1024, 2), ('g18', 'h3', 2048, 2), ('g19', 'h1', 2048, 4)])
    rules = {'anti_affinity': [['g00', 'g18', 'g15']], 'pinned': {'g13': ['h0', 'h1']}, 'excluded': ['g10'],
             'affinity': [['g17', 'g12']]}
    return hosts, guests, rules


def six_hosts_seed_two():
    # benchmark quality fleet 6 hosts / 20 guests with rules, seed 2: the annealing trials stopped at 3.415
    hosts, guests = fleet_from_rows(
        [('h0', 32768, 16), ('h1', 32768, 16), ('h2', 32768, 16), ('h3', 32768, 16), ('h4', 16384, 8),
         ('h5', 16384, 8)],
        [('g00', 'h1', 2048, 2), ('g01', 'h5', 4096, 1), ('g02', 'h1', 512, 2), ('g03', 'h1', 512, 4),
         ('g04', 'h3', 2048, 4), ('g05', 'h0', 2048, 1), ('g06', 'h1', 4096, 2), ('g07', 'h1', 1024, 2),
         ('g08', 'h1', 512, 1), ('g09', 'h4', 512, 1), ('g10', 'h4', 512, 1), ('g11', 'h1', 2048, 1),
         ('g12', 'h4', 512, 4), ('g13', 'h4', 2048, 1), ('g14', 'h5', 1024, 4), ('g15', 'h4', 4096, 1),
         ('g16', 'h2', 1024, 1), ('g17', 'h1', 2048, 4), ('g18', 'h4', 4096, 1), ('g19', 'h1', 8192, 1)])
    rules = {'anti_affinity': [['g05', 'g09', 'g07']], 'pinned': {'g08': ['h0', 'h1']}, 'excluded': ['g04'],
             'affinity': [['g10', 'g15']]}
    return hosts, guests, rules


def eight_hosts_seed_three():
    # benchmark quality fleet 8 hosts / 30 guests with rules, seed 3: the annealing trials stopped at 2.786
    hosts, guests = fleet_from_rows(
        [('h0', 32768, 16), ('h1', 16384, 8), ('h2', 32768, 16), ('h3', 16384, 8), ('h4', 32768, 16),
         ('h5', 32768, 16), ('h6', 32768, 16), ('h7', 16384, 8)],
        [('g00', 'h3', 4096, 1), ('g01', 'h1', 2048, 1), ('g02', 'h4', 4096, 2), ('g03', 'h5', 1024, 2),
         ('g04', 'h3', 512, 4), ('g05', 'h5', 2048, 2), ('g06', 'h5', 512, 2), ('g07', 'h5', 512, 1),
         ('g08', 'h5', 512, 2), ('g09', 'h5', 2048, 4), ('g10', 'h1', 512, 4), ('g11', 'h4', 1024, 1),
         ('g12', 'h5', 2048, 4), ('g13', 'h3', 4096, 2), ('g14', 'h5', 2048, 4), ('g15', 'h4', 1024, 2),
         ('g16', 'h4', 8192, 2), ('g17', 'h5', 1024, 4), ('g18', 'h5', 4096, 2), ('g19', 'h1', 2048, 2),
         ('g20', 'h5', 512, 1), ('g21', 'h5', 2048, 2), ('g22', 'h5', 1024, 2), ('g23', 'h1', 2048, 4),
         ('g24', 'h5', 4096, 2), ('g25', 'h6', 8192, 2), ('g26', 'h5', 2048, 2), ('g27', 'h0', 2048, 1),
         ('g28', 'h2', 1024, 2), ('g29', 'h5', 512, 2)])
    rules = {'anti_affinity': [['g07', 'g01', 'g25']], 'pinned': {'g10': ['h0', 'h1']}, 'excluded': ['g06'],
             'affinity': [['g26', 'g17']]}
    return hosts, guests, rules


def eight_hosts_no_rules():
    # benchmark quality fleet 8 hosts / 30 guests without rules, seed 0: the annealing trials stopped at 2.048
    hosts, guests = fleet_from_rows(
        [('h0', 32768, 16), ('h1', 16384, 8), ('h2', 32768, 16), ('h3', 16384, 8), ('h4', 32768, 16),
         ('h5', 32768, 16), ('h6', 16384, 8), ('h7', 32768, 16)],
        [('g00', 'h5', 512, 4), ('g01', 'h3', 2048, 2), ('g02', 'h0', 4096, 2), ('g03', 'h7', 512, 1),
         ('g04', 'h5', 2048, 2), ('g05', 'h5', 512, 2), ('g06', 'h5', 1024, 2), ('g07', 'h3', 4096, 1),
         ('g08', 'h5', 2048, 4), ('g09', 'h3', 512, 1), ('g10', 'h5', 2048, 1), ('g11', 'h5', 8192, 4),
         ('g12', 'h1', 2048, 2), ('g13', 'h6', 8192, 1), ('g14', 'h5', 1024, 1), ('g15', 'h5', 2048, 2),
         ('g16', 'h5', 4096, 4), ('g17', 'h1', 2048, 1), ('g18', 'h3', 1024, 4), ('g19', 'h0', 4096, 4),
         ('g20', 'h4', 4096, 2), ('g21', 'h6', 1024, 2), ('g22', 'h1', 1024, 1), ('g23', 'h1', 2048, 2),
         ('g24', 'h4', 8192, 2), ('g25', 'h5', 1024, 1), ('g26', 'h7', 1024, 1), ('g27', 'h7', 1024, 1),
         ('g28', 'h0', 1024, 2), ('g29', 'h5', 1024, 4)])
    return hosts, guests, {}


# the optimum with any number of migrations, proven by HiGHS (benchmarks/balance/run.py, exact()); the
# planner must come within 2 % of it
@pytest.mark.parametrize('make,optimum', [
    (stuck_four_hosts, 2.4705),
    (stuck_six_hosts, 3.5516),
    (six_hosts_seed_two, 3.1948),
    (eight_hosts_seed_three, 2.1705),
    (eight_hosts_no_rules, 1.9482),
])
def test_small_fleets_come_within_two_percent_of_the_proven_optimum(make, optimum):
    hosts, guests, rules = make()
    weights = {'memory': 1.0, 'vcpus': 1.0}
    plan = pl.plan_balance(hosts, guests, threshold=0.0, rules=rules, weights=weights)
    after = replay(hosts, guests, rules, plan)
    value = imbalance_by_hand(hosts, after, weights)
    assert abs(value - plan['imbalance']['after']) < 1e-3
    assert optimum - 1e-3 <= value <= optimum * 1.02, (value, len(plan['migrations']))
    assert plan['converged'] and not plan['dropped']
    again = pl.plan_balance(hosts, after, threshold=0.0, rules=rules, weights=weights)
    assert again['migrations'] == []


def brute_force_any(hosts, guests, rules, weights):
    """Least imbalance over every placement that keeps memory, pinning, anti-affinity and excluded guests,
    whatever the number of migrations (affinity groups: none in the fleets that use this)."""
    names = [h['name'] for h in hosts]
    caps = dict((h['name'], h['memory_mb']) for h in hosts)
    pinned = rules.get('pinned', {})
    excluded = set(rules.get('excluded', []))
    anti = rules.get('anti_affinity', [])
    best = None
    for assign in itertools.product(names, repeat=len(guests)):
        where = dict((g['name'], h) for g, h in zip(guests, assign))
        if any(where[g['name']] != g['host'] for g in guests if g['name'] in excluded):
            continue
        if any(where[n] not in allowed for n, allowed in pinned.items()):
            continue
        if any(len(set(where[n] for n in grp)) < len(grp) for grp in anti):
            continue
        used = dict((n, 0) for n in names)
        for g in guests:
            used[where[g['name']]] += g['memory_mb']
        if any(used[n] > caps[n] for n in names):
            continue
        value = imbalance_by_hand(hosts, [dict(g, host=where[g['name']]) for g in guests], weights)
        if best is None or value < best:
            best = value
    return best


@pytest.mark.parametrize('seed', range(16))
def test_exact_search_finds_the_brute_force_optimum(seed):
    # three hosts of two sizes, up to seven guests, rules on half of them: the exact search over every host,
    # without a ceiling and without a work limit, must find exactly the least imbalance of all placements
    rnd = random.Random(500 + seed)
    hosts = [{'name': 'h%d' % i, 'memory_mb': rnd.choice([8192, 16384]), 'cpus': rnd.choice([4, 8])} for i in range(3)]
    guests = [{'name': 'g%d' % j, 'host': 'h%d' % rnd.randrange(3), 'memory_mb': rnd.choice([1024, 2048, 3072, 4096]),
               'vcpus': rnd.choice([1, 2, 3])} for j in range(rnd.randint(4, 7))]
    for h in hosts:  # keep the random input valid
        while sum(g['memory_mb'] for g in guests if g['host'] == h['name']) > h['memory_mb']:
            guests.remove([g for g in guests if g['host'] == h['name']][-1])
    rules = {}
    if seed % 2 and len(guests) >= 4:
        where = dict((g['name'], g['host']) for g in guests)
        mates = [g['name'] for g in guests if where[g['name']] != where[guests[0]['name']]][:1] + [guests[0]['name']]
        rules = {'anti_affinity': [mates] if len(mates) == 2 else [], 'pinned': {guests[1]['name']: ['h0', 'h1']},
                 'excluded': [guests[2]['name']]}
        if where[guests[1]['name']] not in ('h0', 'h1'):
            rules['pinned'] = {}
    weights = {'memory': 1.0, 'vcpus': 1.0}
    fleet = pl._Fleet(hosts, guests, rules, weights)
    search = pl._Exact(fleet, 10 ** 9)
    value, contents = search.solve(float('inf'))
    assert not search.stop and contents is not None
    expected = brute_force_any(hosts, guests, rules, weights)
    assert abs(100.0 * math.sqrt(max(value, 0.0) / fleet.nactive) - expected) < 1e-6
    # the placement it builds keeps the rules and has that figure
    target = search.placement(contents)
    for unit in fleet.units:
        if unit.idx in target:
            fleet.move(unit, target[unit.idx], 'test')
    fleet.recompute()
    assert not fleet.violations()
    assert all(fleet.used[0][h] <= fleet.lim[0][h] + 1e-9 for h in range(fleet.nh))
    assert abs(fleet.imbalance() - expected) < 1e-6


def test_exact_search_over_three_hosts_keeps_the_others():
    # the search over some hosts counts the others as they are: from the annealed placement of the 8-host
    # fleet, no unit of a host outside the three moves, and the figure it reports is the fleet's
    hosts, guests, rules = eight_hosts_no_rules()
    fleet = pl._Fleet(hosts, guests, rules, {'memory': 1.0, 'vcpus': 1.0})
    trio = (0, 1, 5)
    search = pl._Exact(fleet, 10 ** 9, trio)
    value, contents = search.solve(float('inf'))
    target = search.placement(contents)
    assert set(target.values()) <= set(trio)
    assert sorted(target) == sorted(u.idx for u in fleet.units if u.host in trio)
    for unit in fleet.units:
        if unit.idx in target:
            fleet.move(unit, target[unit.idx], 'test')
    fleet.recompute()
    assert abs(fleet.sq_dev() - value) < 1e-12
    # and nothing placed on those three hosts alone does better (it is their optimum)
    assert value <= pl._Fleet(hosts, guests, rules, {'memory': 1.0, 'vcpus': 1.0}).sq_dev()


@pytest.mark.parametrize('make,optimum,ceiling', [
    # proven optimum with any number of migrations; the planner must come within 2 % of it
    (stuck_four_hosts, 2.4705, 2.4705 * 1.02),
    # proven optimum 3.5516 with any number of migrations, 4.3731 with 10; the planner must beat the
    # latter (it uses more migrations, but every one of them lowers the figure)
    (stuck_six_hosts, 3.5516, 4.3731),
])
def test_wider_search_escapes_where_moves_and_exchanges_stall(make, optimum, ceiling):
    hosts, guests, rules = make()
    weights = {'memory': 1.0, 'vcpus': 1.0}
    plan = pl.plan_balance(hosts, guests, threshold=0.0, rules=rules, weights=weights)
    after = replay(hosts, guests, rules, plan)
    value = imbalance_by_hand(hosts, after, weights)
    assert abs(value - plan['imbalance']['after']) < 1e-3
    assert optimum - 1e-3 <= value <= ceiling, (value, len(plan['migrations']))
    assert plan['converged'] and not plan['dropped']
    again = pl.plan_balance(hosts, after, threshold=0.0, rules=rules, weights=weights)
    assert again['migrations'] == []


def test_wider_search_respects_the_migration_budget():
    hosts, guests, rules = stuck_six_hosts()
    for budget in (3, 6, 12):
        plan = pl.plan_balance(hosts, guests, threshold=0.0, rules=rules, max_migrations=budget)
        replay(hosts, guests, rules, plan)
        assert len(plan['migrations']) <= budget


def test_wider_search_is_deterministic():
    hosts, guests, rules = stuck_six_hosts()
    first = pl.plan_balance(hosts, guests, threshold=0.0, rules=rules)
    second = pl.plan_balance(hosts, list(guests), threshold=0.0, rules=dict(rules))
    assert first['migrations'] == second['migrations']
