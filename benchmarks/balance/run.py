# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the xen_balance placement planner (plugins/module_utils/_placement.py).

  python3 benchmarks/balance/run.py            # everything, writes docs/balance.png
  python3 benchmarks/balance/run.py --quick    # fewer seeds, shorter solver limits

Needs benchmarks/requirements.txt (highspy for the exact optimum, matplotlib for the chart) in a venv of
its own; the planner itself needs neither. Prints figures; asserts nothing about time.

1. Quality: small fleets (4-8 hosts, 12-30 guests, several seeds, with and without rules) solved exactly
   as a mixed-integer program (HiGHS): the least imbalance reachable with as many migrations as the planner used,
   and with any number of migrations.
2. Baselines: the same instances planned by three greedy reference points implemented here, a Xen
   Orchestra-like pass (hottest host first, its guests by load descending, each to the coolest host),
   "XO rules" (xo_rules_plan: Xen Orchestra's load balancer, performance plan with the preventive
   behaviour, transcribed rule by rule; see docs/balance.md) and an OpenStack Watcher workload_balance-like
   loop (one move per round while a host is above the threshold); imbalance and migrations against the
   planner with the same threshold, then per instance family (the quality part's fleets too, where the
   optimum was proven).
3. Scale: plan time from 100 to 1,000 hosts (20 guests per host), as ratios to the 100-host time and to a
   fixed pure-Python calibration loop measured in the same process, medians of several runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
import functools
import importlib.util
import json
import math
import os
import platform
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_planner():
    path = os.path.join(ROOT, 'plugins', 'module_utils', '_placement.py')
    spec = importlib.util.spec_from_file_location('xenfleet_placement', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = load_planner()
CHUNK = 512  # MiB; guest and host memory sizes are multiples of it (keeps the exact model small)


# --------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------

def small_instance(seed, nh, ng, with_rules):
    """A skewed random placement on nh hosts (16 or 32 GiB, 8 or 16 CPUs); memory in 512 MiB chunks."""
    rnd = random.Random(seed)
    hosts = []
    for i in range(nh):
        big = rnd.random() < 0.5
        hosts.append({'name': 'h%d' % i, 'memory_mb': 32768 if big else 16384, 'cpus': 16 if big else 8})
    skew = [0.2 + rnd.random() ** 2 for _i in hosts]
    free = dict((h['name'], h['memory_mb'] * 0.9) for h in hosts)
    guests = []
    for j in range(ng):
        mem = rnd.choice([512, 1024, 1024, 2048, 2048, 4096, 8192])
        options = [h['name'] for h in hosts if free[h['name']] >= mem]
        if not options:
            continue
        weights = [skew[int(name[1:])] for name in options]
        host = rnd.choices(options, weights=weights)[0]
        free[host] -= mem
        guests.append({'name': 'g%02d' % j, 'host': host, 'memory_mb': mem, 'vcpus': rnd.choice([1, 1, 2, 2, 4])})
    rules = {}
    if with_rules and len(guests) >= 8:
        names = sorted(g['name'] for g in guests)
        rnd.shuffle(names)
        rules = {'anti_affinity': [names[0:3]], 'pinned': {names[3]: [hosts[0]['name'], hosts[1]['name']]},
                 'excluded': [names[4]], 'affinity': [names[5:7]]}
        # keep the input valid so that every algorithm starts from a placement that honours the rules
        where = dict((g['name'], g['host']) for g in guests)
        if len(set(where[n] for n in names[0:3])) < 3 or where[names[3]] not in ('h0', 'h1') \
                or where[names[5]] != where[names[6]]:
            return small_instance(seed + 1000, nh, ng, with_rules)
    return hosts, guests, rules


def big_instance(seed, nh, per_host=20):
    rnd = random.Random(seed)
    hosts = []
    for i in range(nh):
        mem, cpus = rnd.choice([(256, 64), (384, 96), (512, 128)])
        hosts.append({'name': 'h%04d' % i, 'memory_mb': mem * 1024, 'cpus': cpus})
    free = [h['memory_mb'] * 0.85 for h in hosts]
    skew = [0.3 + rnd.random() ** 2 for _i in hosts]
    guests = []
    for j in range(nh * per_host):
        mem = rnd.choice([1, 2, 4, 4, 8, 8, 16, 32]) * 1024
        for _i in range(20):
            h = rnd.choices(range(nh), weights=skew)[0]
            if free[h] >= mem:
                break
        else:
            continue
        free[h] -= mem
        guests.append({'name': 'vm%05d' % j, 'host': hosts[h]['name'], 'memory_mb': mem,
                       'vcpus': rnd.choice([1, 2, 2, 4, 8])})
    return hosts, guests


# --------------------------------------------------------------------------------------------
# Exact optimum (CP-SAT)
# --------------------------------------------------------------------------------------------

def exact(hosts, guests, rules, weights, max_migrations, time_limit):
    """Least imbalance over all placements that keep the rules and memory, with at most max_migrations
    guests moved (None: any), as a mixed-integer program solved by HiGHS.

    x[g,h] binary; per metric the scaled load b_h = sum_g a_g * (Q / cap_h) * x[g,h] is an integer (Q: the
    least common multiple of the capacities), sq_h >= (2j+1) b_h - j(j+1) for every integer j makes
    sq_h = b_h^2 at the optimum (exact at integers), and the total T = sum_h b_h (which varies when hosts
    differ in size) is written as sum_v v z_v over one-hot binaries so that T^2 is linear.
    Minimises sum_m w_m / Q_m^2 * (n * sum_h sq_h - T^2) = n * sum_m w_m * sum_h (u_h - mean)^2.
    Returns (imbalance, proven optimal, imbalance at the solver's lower bound).
    """
    import highspy  # pylint: disable=import-error

    solver = highspy.Highs()
    solver.setOptionValue('output_flag', False)
    solver.setOptionValue('time_limit', float(time_limit))
    solver.setOptionValue('mip_rel_gap', 1e-7)
    solver.setOptionValue('threads', 2)
    integer = highspy.HighsVarType.kInteger
    names = [h['name'] for h in hosts]
    nh = len(hosts)
    metrics = [('memory', lambda h: h['memory_mb'] // CHUNK, lambda g: g['memory_mb'] // CHUNK),
               ('vcpus', lambda h: h['cpus'], lambda g: g['vcpus'])]
    metrics = [m for m in metrics if weights.get(m[0], 0) > 0]
    x = {}
    pinned = rules.get('pinned', {})
    for g in guests:
        for i, h in enumerate(names):
            ub = 0 if (g['name'] in pinned and h not in pinned[g['name']]) else 1
            x[g['name'], i] = solver.addVariable(lb=0, ub=ub, type=integer)
        solver.addConstr(sum(x[g['name'], i] for i in range(nh)) == 1)
        if g['name'] in rules.get('excluded', []):
            solver.addConstr(x[g['name'], names.index(g['host'])] == 1)
    for group in rules.get('anti_affinity', []):
        for i in range(nh):
            solver.addConstr(sum(x[n, i] for n in group) <= 1)
    for group in rules.get('affinity', []):
        for n in group[1:]:
            for i in range(nh):
                solver.addConstr(x[n, i] - x[group[0], i] == 0)
    for i, h in enumerate(hosts):
        solver.addConstr(sum(x[g['name'], i] * (g['memory_mb'] // CHUNK) for g in guests) <= h['memory_mb'] // CHUNK)
    if max_migrations is not None:
        solver.addConstr(sum(x[g['name'], names.index(g['host'])] for g in guests) >= len(guests) - max_migrations)
    objective = 0
    wsum = 0.0
    for name, hcap, gdem in metrics:
        caps = [hcap(h) for h in hosts]
        q = 1
        for c in caps:
            q = q * c // math.gcd(q, c)
        w = weights[name] / float(q * q)
        wsum += weights[name]
        total_demand = sum(gdem(g) for g in guests)
        loads = []
        for i in range(nh):
            factor = q // caps[i]
            b = sum(x[g['name'], i] * (gdem(g) * factor) for g in guests)
            top = total_demand * factor
            if name == 'memory':
                top = min(top, caps[i] * factor)
            sq = solver.addVariable(lb=0, ub=float(top * top))
            for j in range(top):
                solver.addConstr(sq - (2 * j + 1) * b >= -j * (j + 1))
            objective = objective + w * nh * sq
            loads.append(b)
        if len(set(caps)) > 1:
            values = range(total_demand * min(q // c for c in caps), total_demand * max(q // c for c in caps) + 1)
            onehot = [(v, solver.addVariable(lb=0, ub=1, type=integer)) for v in values]
            solver.addConstr(sum(z for _v, z in onehot) == 1)
            solver.addConstr(sum(v * z for v, z in onehot) - sum(loads) == 0)
            objective = objective - w * sum(v * v * z for v, z in onehot)
        else:
            total = total_demand * (q // caps[0])
            objective = objective - w * total * total
    solver.minimize(objective)
    info = solver.getInfo()
    status = solver.getModelStatus()
    if info.primal_solution_status == 0:
        return None, False, None

    def to_imbalance(value):
        return 100.0 * math.sqrt(max(value, 0.0) / (nh * nh * wsum))
    return (to_imbalance(info.objective_function_value), status == highspy.HighsModelStatus.kOptimal,
            to_imbalance(info.mip_dual_bound))


# --------------------------------------------------------------------------------------------
# Greedy reference points
# --------------------------------------------------------------------------------------------

class Sim(object):
    """A tiny placement state for the baselines: loads, memory check, the imbalance figure."""

    def __init__(self, hosts, guests, weights):
        self.hosts = dict((h['name'], h) for h in hosts)
        self.where = dict((g['name'], g['host']) for g in guests)
        self.guest = dict((g['name'], g) for g in guests)
        self.weights = weights
        self.mem = dict((h, 0) for h in self.hosts)
        self.vcpu = dict((h, 0) for h in self.hosts)
        for g in guests:
            self.mem[g['host']] += g['memory_mb']
            self.vcpu[g['host']] += g['vcpus']
        self.moved = []

    def score(self, h):
        w = self.weights
        host = self.hosts[h]
        return (w['memory'] * self.mem[h] / host['memory_mb'] + w['vcpus'] * self.vcpu[h] / host['cpus']) / (
            w['memory'] + w['vcpus'])

    def guest_load(self, g, h):
        w = self.weights
        host = self.hosts[h]
        guest = self.guest[g]
        return (w['memory'] * guest['memory_mb'] / host['memory_mb'] + w['vcpus'] * guest['vcpus'] / host['cpus']) / (
            w['memory'] + w['vcpus'])

    def mean(self):
        return sum(self.score(h) for h in self.hosts) / len(self.hosts)

    def fits(self, g, h):
        return self.mem[h] + self.guest[g]['memory_mb'] <= self.hosts[h]['memory_mb']

    def move(self, g, t):
        s = self.where[g]
        guest = self.guest[g]
        self.mem[s] -= guest['memory_mb']
        self.vcpu[s] -= guest['vcpus']
        self.mem[t] += guest['memory_mb']
        self.vcpu[t] += guest['vcpus']
        self.where[g] = t
        self.moved.append(g)

    def on(self, h):
        return sorted(g for g, where in self.where.items() if where == h)

    def result(self):
        guests = [dict(g, host=self.where[g['name']]) for g in self.guest.values()]
        return guests, len(self.moved)


def xo_like(hosts, guests, weights, threshold):
    """Hottest host first; its guests by load descending, each to the coolest host when that helps."""
    sim = Sim(hosts, guests, weights)
    thr = threshold / 100.0
    done = set()
    for h in sorted(sim.hosts, key=lambda n: -sim.score(n)):
        mean = sim.mean()
        if sim.score(h) - mean <= thr:
            continue
        for g in sorted(sim.on(h), key=lambda n: -sim.guest_load(n, h)):
            if sim.score(h) - sim.mean() <= thr:
                break
            targets = [t for t in sim.hosts if t != h and t not in done and sim.fits(g, t)]
            if not targets:
                continue
            t = min(targets, key=lambda n: (sim.score(n), n))
            before = max(sim.score(h), sim.score(t))
            sim.move(g, t)
            if max(sim.score(h), sim.score(t)) >= before:
                sim.move(g, h)  # no gain: undo
                sim.moved = sim.moved[:-2]
        done.add(h)
    return sim.result()


def watcher_like(hosts, guests, weights, threshold):
    """One migration per round: the hottest host above mean + threshold gives the guest whose load is
    closest to its excess, to the coolest host that stays under mean + threshold."""
    sim = Sim(hosts, guests, weights)
    thr = threshold / 100.0
    moved = set()
    blocked = set()
    for _round in range(10 * len(sim.guest) + 1):
        mean = sim.mean()
        over = [h for h in sim.hosts if sim.score(h) - mean > thr and h not in blocked]
        if not over:
            break
        src = max(over, key=lambda n: (sim.score(n), n))
        excess = sim.score(src) - mean
        choice = None
        for g in sorted(sim.on(src), key=lambda n: (abs(sim.guest_load(n, src) - excess), n)):
            if g in moved:
                continue
            for t in sorted(sim.hosts, key=lambda n: (sim.score(n), n)):
                if t == src or not sim.fits(g, t):
                    continue
                sim.move(g, t)
                ok = sim.score(t) - sim.mean() <= thr
                sim.move(g, src)
                sim.moved = sim.moved[:-2]
                if ok:
                    choice = (g, t)
                break
            if choice:
                break
        if not choice:
            blocked.add(src)
            continue
        sim.move(*choice)
        moved.add(choice[0])
    return sim.result()


# --------------------------------------------------------------------------------------------
# Xen Orchestra's load balancer, transcribed
# --------------------------------------------------------------------------------------------
#
# The rules below follow xo-server-load-balancer as read in vatesfr/xen-orchestra at commit
# 9ef53890b8f5166539ca34654d8e7e77c0b218f1 (2026-08-21; the plugin's sources last changed in 26cd231):
# packages/xo-server-load-balancer/src/plan.js (thresholds, averages, measured CPU of a guest),
# src/performance-plan.js (which hosts, which guests, which destination, the per-move checks, the stop rule),
# src/density-plan.js, src/utils.js, src/index.js (schedule, cooldown, concurrency), and the user documentation
# docs/docs/xo5/load_balancing.md. Written here from those rules in our own words and data structures; no XO
# code is copied. docs/balance.md ("The Xen Orchestra baseline: what it follows") lists each rule and where
# this transcription differs from a running XO.

XO_CPU_CRITICAL = 90.0             # percent; plan.js DEFAULT_CRITICAL_THRESHOLD_CPU
XO_MEMORY_FREE_CRITICAL_MB = 1000  # MiB of free host memory; plan.js DEFAULT_CRITICAL_THRESHOLD_MEMORY_FREE
XO_CPU_HIGH, XO_CPU_LOW = 0.85, 0.65            # x critical: a host is exceeded at 85 %, relieved at 65 %
XO_MEMORY_FREE_HIGH, XO_MEMORY_FREE_LOW = 1.2, 1.5  # x critical free memory: exceeded at 1.2 x, relieved at 1.5 x
XO_PREVENTIVE_HIGH, XO_PREVENTIVE_LOW = 1.5, 1.25   # x the pool's average CPU (performance-plan.js, preventive)
XO_SIGNIFICANT_CPU = 25.0          # percent; preventive mode leaves hosts under it alone


def xo_thresholds(cpu_critical=XO_CPU_CRITICAL, memory_free_critical_mb=XO_MEMORY_FREE_CRITICAL_MB):
    return {'cpu': {'critical': cpu_critical, 'high': cpu_critical * XO_CPU_HIGH, 'low': cpu_critical * XO_CPU_LOW},
            'memory_free': {'critical': memory_free_critical_mb,
                            'high': memory_free_critical_mb * XO_MEMORY_FREE_HIGH,
                            'low': memory_free_critical_mb * XO_MEMORY_FREE_LOW}}


def _xo_near(a, b, tolerance=0.001):
    """XO's tolerant equality: the difference is at most `tolerance` times the smaller magnitude, or both
    magnitudes are at most `tolerance` itself (used with 0.001 for hosts and with 3 for guests)."""
    return abs(a - b) <= min(abs(a), abs(b)) * tolerance or (abs(a) <= tolerance and abs(b) <= tolerance)


def _xo_limits(avg, thr):
    """(CPU at or above the high threshold, free memory at or below the high threshold) for one host."""
    return avg['cpu'] >= thr['cpu']['high'], avg['memory_free'] <= thr['memory_free']['high']


def _xo_host_order(a, b, thr):
    """Comparison of two destination candidates (negative: a first): hosts past no limit before hosts past
    one, past both last; past one limit each, the one under the CPU limit first; in the same state the lower
    CPU first, and on (near) equal CPU the more free memory first."""
    la, lb = _xo_limits(a, thr), _xo_limits(b, thr)
    if la == lb:
        if _xo_near(a['cpu'], b['cpu']):
            return b['memory_free'] - a['memory_free']
        return a['cpu'] - b['cpu']
    if not any(la) or all(lb):
        return -1
    if not any(lb) or all(la):
        return 1
    return -1 if not la[0] else 1


def xo_guest_cpu(guest, vcpu_percent=100.0):
    """What XO would measure for a guest, in percent of one CPU: its `cpu_percent` when the instance gives
    one, else every vCPU busy at `vcpu_percent` (our instances carry vCPUs, not measurements)."""
    if guest.get('cpu_percent') is not None:
        return float(guest['cpu_percent'])
    return guest['vcpus'] * float(vcpu_percent)


def xo_measure(sim, vcpu_percent=100.0):
    """Host averages as XO reads them, from the current placement: CPU in percent of the host (usage of its
    guests / its CPUs; not capped at 100) and free memory in MiB (host memory - guest memory)."""
    avg = {}
    for h, host in sim.hosts.items():
        avg[h] = {'cpu': 0.0, 'memory_free': float(host['memory_mb']), 'cpus': host['cpus']}
    for g, h in sim.where.items():
        avg[h]['cpu'] += xo_guest_cpu(sim.guest[g], vcpu_percent) / sim.hosts[h]['cpus']
        avg[h]['memory_free'] -= sim.guest[g]['memory_mb']
    return avg


def _xo_optimize(sim, source, order, avg, thr, dest_thr, skip, vcpu_percent, run, step, log):
    """One exceeded host: its guests by measured CPU descending, by memory descending when their CPU is
    within a factor 4 (XO's tolerance 3); each to the single first destination of `order` (re-sorted before
    every guest, in place), or not at all."""
    src = avg[source]
    cpus = sim.hosts[source]['cpus']
    # a guest's CPU as XO sees it: per cent of the *source* host, also when added to the destination
    load = dict((g, xo_guest_cpu(sim.guest[g], vcpu_percent) / cpus) for g in sim.on(source))
    mem = dict((g, sim.guest[g]['memory_mb']) for g in load)

    def by_load(a, b):
        if _xo_near(load[a], load[b], 3):
            return mem[b] - mem[a]
        return load[b] - load[a]

    for g in sorted(load, key=functools.cmp_to_key(by_load)):
        if src['cpu'] <= thr['cpu']['low'] and src['memory_free'] >= thr['memory_free']['low']:
            break  # relieved: under the low CPU threshold with enough free memory
        if g in skip:
            continue  # cooldown, no guest tools, an (anti-)affinity tag, an ignored tag
        order.sort(key=functools.cmp_to_key(lambda a, b: _xo_host_order(avg[a], avg[b], dest_thr)))
        t = order[0]
        dst = avg[t]
        cpu_over = _xo_limits(src, thr)[0]
        if dst['cpu'] + load[g] >= thr['cpu']['low'] or dst['memory_free'] - mem[g] <= thr['memory_free']['high']:
            continue  # the destination would reach the low CPU threshold, or the high free-memory one
        # XO tests `!state.cpu && !state.memory`, but its state's key is `mem`: the second term is always true,
        # so a source under the CPU limit refuses any move that inverts CPU or free memory, even when its
        # memory is past the limit.
        if not cpu_over and (src['cpu'] - load[g] < dst['cpu'] + load[g]
                             or src['memory_free'] + mem[g] > dst['memory_free'] - mem[g]):
            continue
        assert sim.fits(g, t)
        src['cpu'] -= load[g]
        dst['cpu'] += load[g]
        src['memory_free'] += mem[g]
        dst['memory_free'] -= mem[g]
        sim.move(g, t)
        skip.add(g)
        log.append({'run': run, 'step': step, 'guest': g, 'from': source, 'to': t})


def xo_rules_plan(hosts, guests, rules=None, preventive=True, cpu_critical=XO_CPU_CRITICAL,
                  memory_free_critical_mb=XO_MEMORY_FREE_CRITICAL_MB, vcpu_percent=100.0, max_runs=10):
    """Xen Orchestra's performance plan, run after run on a static instance until a run moves nothing
    (at most `max_runs`). Returns the Sim and the migrations in order ({'run', 'step', 'guest', 'from', 'to'}).

    One run (performance-plan.js execute):
    1. Measure every host (xo_measure). Exceeded hosts: CPU >= 0.85 x critical or free memory <= 1.2 x
       critical. If there are any, each is optimised in the order the hosts are listed (XO sorts them with a
       comparison that reads fields host objects do not have, so its sort keeps the listed order), with
       the plan's thresholds; step 'threshold'.
    2. Only when no host is exceeded and `preventive` (XO's "Preventive" behaviour; XO's default is
       "Conservative", preventive=False): the pool's CPU average weighted by host CPUs; hosts at >= 1.5 x it
       and >= 25 % are optimised, in listed order, with the CPU thresholds high = 1.5 x and low = 1.25 x
       the average (free memory keeps the plan's); step 'preventive'.
    Optimising a host (_xo_optimize): stop once its CPU <= low and its free memory >= 1.5 x critical;
    guests by CPU descending (by memory descending when within a factor 4); the destination is the first
    of the other hosts sorted by _xo_host_order with the plan's thresholds (also in preventive mode); the
    move is dropped (no second choice) when the destination's CPU + the guest's would reach `low`, its free
    memory - the guest's would fall to 1.2 x critical or under, or, with the source under the CPU limit,
    the move would leave the source with less CPU or less free memory than the destination. Estimates are
    updated after each move (the guest's CPU share of the source added to the destination as is).

    Mapping to our instances: XO's measured CPU is the guest's `cpu_percent` when present, else `vcpus` x
    `vcpu_percent` (default: every vCPU busy, so a host's XO CPU equals our vCPU load in per cent); XO's
    free memory is the host's `memory_mb` minus its guests'. XO's averaging (0.75 x the last minute +
    0.25 x the last 30) is the identity on a static instance: each run reads the current placement, as if
    it came after the loads settled, so the 30-minute cooldown has passed as well; within a run a guest
    moves at most once. Guests in an affinity or anti-affinity group, excluded or pinned (`rules`) never
    move (XO skips tagged guests here and has no pinning; its affinity passes are not transcribed).
    No limit on migrations per run, as in XO (its limit of 2 concurrent migrations is about time).
    """
    sim = Sim(hosts, guests, {'memory': 1.0, 'vcpus': 1.0})
    rules = rules or {}
    frozen = set(rules.get('excluded', [])) | set(rules.get('pinned', {}))
    for group in rules.get('affinity', []) + rules.get('anti_affinity', []):
        frozen |= set(group)
    listed = [h['name'] for h in hosts]
    thr = xo_thresholds(cpu_critical, memory_free_critical_mb)
    log = []
    for run in range(1, max_runs + 1):
        before = len(log)
        skip = set(frozen)
        avg = xo_measure(sim, vcpu_percent)
        exceeded = [h for h in listed if any(_xo_limits(avg[h], thr))]
        if exceeded:
            for h in exceeded:
                _xo_optimize(sim, h, [n for n in listed if n != h], avg, thr, thr, skip, vcpu_percent, run,
                             'threshold', log)
        elif preventive and len(listed) > 1:
            mean = sum(a['cpu'] * a['cpus'] for a in avg.values()) / sum(a['cpus'] for a in avg.values())
            over = [h for h in listed if mean > 0 and avg[h]['cpu'] / mean >= XO_PREVENTIVE_HIGH
                    and avg[h]['cpu'] >= XO_SIGNIFICANT_CPU]
            pthr = {'cpu': {'high': mean * XO_PREVENTIVE_HIGH, 'low': mean * XO_PREVENTIVE_LOW},
                    'memory_free': thr['memory_free']}
            for h in over:
                _xo_optimize(sim, h, [n for n in listed if n != h], avg, pthr, thr, skip, vcpu_percent, run,
                             'preventive', log)
        if len(log) == before:
            break
    return sim, log


def xo_rules(hosts, guests, weights=None, threshold=None, rules=None, **options):
    """The 'XO rules' baseline (xo_rules_plan, preventive behaviour): (guests after, migrations). `weights`
    and `threshold` are accepted for the baselines' common call and ignored: XO has no weights and no band,
    only its critical thresholds (options: cpu_critical, memory_free_critical_mb, preventive, ...)."""
    sim, _log = xo_rules_plan(hosts, guests, rules=rules, **options)
    return sim.result()


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------

WEIGHTS = {'memory': 1.0, 'vcpus': 1.0}
# playbooks/balance.yml's weights: measured CPU use weighed with memory and vCPUs
MEASURED_WEIGHTS = {'memory': 1.0, 'vcpus': 1.0, 'cpu': 1.0}


# xen_balance's defaults (plugins/modules/xen_balance.py): the economy policy and min_improvement 10 %
DEFAULT_MIN_IMPROVEMENT = 10.0


def measured(guests):
    """The guests with the CPU use XO rules reads (xo_guest_cpu: `cpu_percent` when given, else every vCPU busy),
    as `cpu_percent`: what playbooks/balance.yml would measure on such a fleet (not capped at the host's CPUs)."""
    return [dict(g, cpu_percent=xo_guest_cpu(g)) for g in guests]


def planner(hosts, guests, rules, threshold, max_migrations=None, economy=False, measure=True):
    """The planner (imbalance after, migrations, plan). economy=False: the spread search (economy off, no
    min_improvement: the planner as before the economy policy; memory and vCPUs, no measured CPU); economy=True:
    xen_balance as playbooks/balance.yml runs it by default (the economy policy, min_improvement 10 %, measured CPU
    weighed with memory and vCPUs, here the CPU use the XO rules baseline reads); with measure=False the module's
    own defaults on reservations alone (no CPU measured, weights memory and vCPUs). The imbalance is recomputed
    from the placement the plan leads to, on memory and vCPUs (the plan reports its own figure rounded to 3
    decimals)."""
    with_cpu = economy and measure
    res = P.plan_balance(hosts, measured(guests) if with_cpu else guests, mode='performance',
                         weights=MEASURED_WEIGHTS if with_cpu else WEIGHTS, threshold=threshold, rules=rules,
                         max_migrations=max_migrations, economy=True if economy else None,
                         min_improvement=DEFAULT_MIN_IMPROVEMENT if economy else 0.0)
    where = dict((g['name'], g['host']) for g in guests)
    for move in res['migrations']:
        where[move['guest']] = move['to']
    after = P.imbalance(hosts, [dict(g, host=where[g['name']]) for g in guests], WEIGHTS,
                        cordoned=(rules or {}).get('cordoned'))
    return after, len(res['migrations']), res


def quality(args):
    rows = []
    sizes = [(4, 12), (6, 20), (8, 30)]
    seeds = range(args.seeds)
    for nh, ng in sizes:
        for with_rules in (False, True):
            for seed in seeds:
                hosts, guests, rules = small_instance(seed * 7 + nh, nh, ng, with_rules)
                imb0 = P.imbalance(hosts, guests, WEIGHTS)
                t0 = time.perf_counter()
                ours, moves, _res = planner(hosts, guests, rules, 0.0)
                dt = time.perf_counter() - t0
                opt_k, proven_k, bound_k = exact(hosts, guests, rules, WEIGHTS, moves, args.limit)
                opt, proven, bound = exact(hosts, guests, rules, WEIGHTS, None, args.limit)
                xo_after, xo_moves = xo_rules(hosts, guests, WEIGHTS, 0.0, rules=rules)
                eco, eco_moves, _res = planner(hosts, guests, rules, 5.0, economy=True)
                res_eco, res_moves, _res = planner(hosts, guests, rules, 5.0, economy=True, measure=False)
                row = {'hosts': nh, 'guests': len(guests), 'rules': with_rules, 'seed': seed, 'before': imb0,
                       'ours': ours, 'moves': moves, 'opt_same_moves': opt_k, 'proven_same_moves': proven_k,
                       'bound_same_moves': bound_k, 'opt_any': opt, 'proven_any': proven, 'bound_any': bound,
                       'plan_s': dt, 'xo_rules': [P.imbalance(hosts, xo_after, WEIGHTS), xo_moves],
                       'economy': [eco, eco_moves], 'economy_reserved': [res_eco, res_moves]}
                rows.append(row)
                print('  %d hosts %2d guests rules=%-5s seed %d: before %6.2f  spread %6.2f (%2d moves, %.3fs)  '
                      'optimum same moves %6.2f%s  any moves %6.2f%s | default %6.2f/%2d, XO rules %6.2f/%2d' % (
                          nh, len(guests), with_rules, seed, imb0, ours, moves, dt, opt_k, '' if proven_k else '?',
                          opt, '' if proven else '?', eco, eco_moves, row['xo_rules'][0], xo_moves))
                sys.stdout.flush()
    return rows


BASELINES = (('xo', xo_like), ('xo_rules', xo_rules), ('watcher', watcher_like))
LABELS = {'ours': 'xen_balance (economy)', 'spread': 'xen_balance spread', 'xo': 'XO-like', 'xo_rules': 'XO rules',
          'watcher': 'Watcher-like'}


def baselines(args):
    rows = []
    families = [(4, 12), (6, 20), (8, 30), (20, 200), (50, 1000)]
    for nh, ng in [f for f in families if args.max_hosts is None or f[0] <= args.max_hosts]:
        for seed in range(args.seeds):
            hosts, guests, _rules = small_instance(seed * 13 + nh, nh, ng, False)
            for threshold in (2.0, 5.0):
                imb0 = P.imbalance(hosts, guests, WEIGHTS)
                # xen_balance as a user gets it (balance.yml: economy, min_improvement 10 %, measured CPU), on
                # reservations alone (the module's defaults), and the spread search
                ours, moves, _res = planner(hosts, guests, {}, threshold, economy=True)
                reserved, reserved_moves, _res = planner(hosts, guests, {}, threshold, economy=True, measure=False)
                spread, spread_moves, _res = planner(hosts, guests, {}, threshold)
                row = {'hosts': nh, 'guests': len(guests), 'family': '%dx%d' % (nh, ng), 'seed': seed,
                       'threshold': threshold, 'before': imb0, 'ours': [ours, moves], 'spread': [spread, spread_moves],
                       'reserved': [reserved, reserved_moves]}
                for name, algo in BASELINES:
                    after, count = algo(hosts, guests, WEIGHTS, threshold)
                    row[name] = [P.imbalance(hosts, after, WEIGHTS), count]
                    # the spread search allowed no more migrations than the baseline made
                    same, same_moves, _res = planner(hosts, guests, {}, threshold, max_migrations=count)
                    row['ours_as_' + name] = [same, same_moves]
                rows.append(row)
    for row in rows:
        print('  %3d hosts %4d guests thr %.0f seed %d: before %6.2f | ours %6.2f/%3d | reservations %6.2f/%3d | '
              'spread %6.2f/%3d | %s' % (
                  row['hosts'], row['guests'], row['threshold'], row['seed'], row['before'], row['ours'][0],
                  row['ours'][1], row['reserved'][0], row['reserved'][1], row['spread'][0], row['spread'][1],
                  ' | '.join('%s %6.2f/%3d, spread at that budget %6.2f/%3d' % (
                      name, row[name][0], row[name][1], row['ours_as_' + name][0], row['ours_as_' + name][1])
                      for name, _algo in BASELINES)))
    return rows


def calibration():
    """A fixed pure-Python workload (dict and float arithmetic, like the planner's), to express times
    as ratios that do not depend on how fast or loaded the machine is."""
    t0 = time.perf_counter()
    acc = {}
    total = 0.0
    for i in range(300000):
        key = i % 997
        acc[key] = acc.get(key, 0.0) + (i * 0.5) ** 0.5
        total += acc[key] * 1e-9
    return time.perf_counter() - t0


def scale(args):
    sizes = [100, 200, 400, 600, 800, 1000]
    repeats = args.repeats
    rows = []
    calib = statistics.median(calibration() for _i in range(5))
    # performance mode with xen_balance's default economy policy (on reservations, the module's defaults; and
    # with every vCPU's use measured, balance.yml's weights), performance mode spreading the load (economy off:
    # the path measured before the economy policy), density
    variants = (('economy', 'performance', True, False), ('economy, measured', 'performance', True, True),
                ('spread', 'performance', None, False), ('density', 'density', None, False))
    for nh in sizes:
        hosts, guests = big_instance(nh, nh)
        for name, mode, economy, with_cpu in variants:
            times = []
            res = None
            fleet = measured(guests) if with_cpu else guests
            for _i in range(repeats):
                t0 = time.perf_counter()
                res = P.plan_balance(hosts, fleet, mode=mode, weights=MEASURED_WEIGHTS if with_cpu else WEIGHTS,
                                     threshold=5.0, economy=economy)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            rows.append({'hosts': nh, 'guests': len(guests), 'mode': name, 'seconds': med, 'runs': times,
                         'moves': len(res['migrations']), 'before': res['imbalance']['before'],
                         'after': res['imbalance']['after'], 'in_use': res['hosts_in_use']})
    calib_after = statistics.median(calibration() for _i in range(5))
    calib = (calib + calib_after) / 2.0
    evac = []
    hosts, guests = big_instance(1000, 1000)
    for _i in range(repeats):
        t0 = time.perf_counter()
        P.plan_evacuation(hosts, guests, hosts[0]['name'])
        evac.append(time.perf_counter() - t0)
    for mode in [variant[0] for variant in variants]:
        base = [r for r in rows if r['mode'] == mode][0]['seconds']
        for r in rows:
            if r['mode'] == mode:
                r['ratio_100'] = r['seconds'] / base
                r['ratio_calib'] = r['seconds'] / calib
                print('  %-17s %4d hosts %5d guests: %5.2f x the 100-host time, %5.1f x calibration '
                      '(%.3f s median of %d; %d moves, imbalance %.2f -> %.2f, hosts in use %d -> %d)' % (
                          mode, r['hosts'], r['guests'], r['ratio_100'], r['ratio_calib'], r['seconds'], repeats,
                          r['moves'], r['before'], r['after'], r['in_use']['before'], r['in_use']['after']))
    print('  calibration loop: %.3f s; evacuation of one host of 1,000: %.3f s median' % (calib, statistics.median(evac)))
    return {'rows': rows, 'calibration_s': calib, 'evacuation_s': statistics.median(evac)}


def machine():
    model = 'unknown'
    try:
        with open('/proc/cpuinfo') as handle:
            for line in handle:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip()
                    break
    except IOError:
        pass
    mem = 0
    try:
        with open('/proc/meminfo') as handle:
            mem = int(handle.readline().split()[1]) // 1024 // 1024
    except (IOError, ValueError, IndexError):
        pass
    return {'cpus': os.cpu_count(), 'model': model, 'memory_gib': mem, 'python': platform.python_version()}


def chart(quality_rows, baseline_rows, scale_data, path):
    import matplotlib  # pylint: disable=import-error
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=import-error

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ax = axes[0]
    labels = []
    ours = []
    opt_k = []
    opt_any = []
    for r in quality_rows:
        labels.append('%dh%s\ns%d' % (r['hosts'], 'R' if r['rules'] else '', r['seed']))
        ours.append(r['ours'])
        opt_k.append(r['opt_same_moves'])
        opt_any.append(r['opt_any'])
    xs = range(len(labels))
    ax.bar([x - 0.27 for x in xs], ours, width=0.27, label='xen_balance, spread (economy off)')
    ax.bar(list(xs), opt_k, width=0.27, label='optimum, same migrations')
    ax.bar([x + 0.27 for x in xs], opt_any, width=0.27, label='optimum, any migrations')
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel('imbalance after (points, lower is better)')
    ax.set_title('Small fleets vs exact optimum (R = with rules)')
    ax.legend(fontsize=7)

    ax = axes[1]
    algos = [(key, LABELS[key]) for key in ['ours', 'spread'] + [name for name, _algo in BASELINES] if key in baseline_rows[0]]
    groups = sorted(set((r['hosts'], r['threshold']) for r in baseline_rows))
    width = 0.8 / len(algos)
    offset = (len(algos) - 1) / 2.0
    for k, (key, label) in enumerate(algos):
        imb = [statistics.mean(r[key][0] for r in baseline_rows if (r['hosts'], r['threshold']) == grp) for grp in groups]
        ax.bar([i + (k - offset) * width for i in range(len(groups))], imb, width=width, label=label)
    ax2 = ax.twinx()
    for k, (key, label) in enumerate(algos):
        mig = [statistics.mean(r[key][1] for r in baseline_rows if (r['hosts'], r['threshold']) == grp) for grp in groups]
        ax2.plot([i + (k - offset) * width for i in range(len(groups))], mig, 'o', color='C%d' % k,
                 markeredgecolor='black')
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(['%d hosts\nthr %.0f' % g for g in groups], fontsize=7)
    ax.set_ylabel('mean imbalance after (bars)')
    ax2.set_ylabel('mean migrations (dots)')
    ax.set_title('Against greedy baselines (same instances)')
    ax.legend(fontsize=7, loc='upper left')

    ax = axes[2]
    for mode, marker in (('economy', 'o-'), ('economy, measured', 'v-'), ('spread', '^-'), ('density', 's-')):
        rows = [r for r in scale_data['rows'] if r['mode'] == mode]
        if not rows:
            continue
        ax.plot([r['hosts'] for r in rows], [r['seconds'] for r in rows], marker,
                label='performance (%s)' % mode if mode != 'density' else mode)
    ax.axhline(2.0, color='grey', linestyle='--', linewidth=0.8, label='goal 2 s')
    ax.set_xlabel('hosts (20 guests each)')
    ax.set_ylabel('plan time, s (median)')
    ax.set_title('Plan time vs fleet size')
    ax.legend(fontsize=7)
    mach = machine()
    fig.suptitle('xen_balance planner benchmark: %d CPUs (%s), %d GiB, Python %s' % (
        mach['cpus'], mach['model'], mach['memory_gib'], mach['python']), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print('chart: %s' % path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer seeds and shorter solver limits')
    parser.add_argument('--seeds', type=int, default=None)
    parser.add_argument('--limit', type=float, default=None, help='MIP solver time limit per solve, seconds')
    parser.add_argument('--repeats', type=int, default=None, help='runs per scale point')
    parser.add_argument('--skip', default='', help='comma-separated parts to skip: quality,baselines,scale,chart')
    parser.add_argument('--max-hosts', type=int, default=None, help='baselines: only the instance families of at most '
                        'this many hosts (4, 6, 8, 20, 50)')
    parser.add_argument('--chart', default=os.path.join(ROOT, 'docs', 'balance.png'))
    parser.add_argument('--json', default=os.path.join(ROOT, 'benchmarks', 'output', 'balance.json'))
    parser.add_argument('--summarize', action='store_true', help='only summarize and chart the saved --json results')
    args = parser.parse_args()
    args.seeds = args.seeds or (2 if args.quick else 4)
    args.limit = args.limit or (10.0 if args.quick else 60.0)
    args.repeats = args.repeats or (3 if args.quick else 5)
    skip = set(args.skip.split(',')) if args.skip else set()
    print('machine: %s' % json.dumps(machine()))
    data = {'machine': machine()}
    if args.summarize:
        with open(args.json) as handle:
            data = json.load(handle)
        summarize_quality(data['quality'])
        summarize_baselines(data['baselines'])
        summarize_families(data['baselines'], data['quality'])
        chart(data['quality'], data['baselines'], data['scale'], args.chart)
        return
    if 'quality' not in skip:
        print('quality against the exact optimum (threshold 0; "?" = solver time limit, best found):')
        data['quality'] = quality(args)
        summarize_quality(data['quality'])
    if 'baselines' not in skip:
        print('against the greedy baselines (imbalance after / migrations):')
        data['baselines'] = baselines(args)
        summarize_baselines(data['baselines'])
        summarize_families(data['baselines'], data.get('quality'))
    if 'scale' not in skip:
        print('scale:')
        data['scale'] = scale(args)
    if not os.path.isdir(os.path.dirname(args.json)):
        os.makedirs(os.path.dirname(args.json))
    with open(args.json, 'w') as handle:
        json.dump(data, handle, indent=1)
    if 'chart' not in skip and all(k in data for k in ('quality', 'baselines', 'scale')):
        chart(data['quality'], data['baselines'], data['scale'], args.chart)


def summarize_quality(rows):
    """Gap to the optimum with as many migrations as the planner used: exact where the solver proved its
    optimum, else an upper bound (against the solver's lower bound)."""
    proven = [r for r in rows if r['proven_same_moves']]
    open_rows = [r for r in rows if not r['proven_same_moves'] and r['bound_same_moves'] is not None]
    gaps = [r['ours'] - r['opt_same_moves'] for r in proven]
    rel = [100.0 * g / r['opt_same_moves'] if r['opt_same_moves'] > 1e-9 else 0.0 for g, r in zip(gaps, proven)]
    exact_hits = sum(1 for g in gaps if g <= 1e-3)
    print('  %d instances; optimum for the same number of migrations proven on %d' % (len(rows), len(proven)))
    if proven:
        print('  proven: planner = optimum on %d/%d; gap median %.2f, mean %.2f, max %.2f points '
              '(relative median %.1f%%, max %.1f%%); within 2 %% (relative) on %d/%d, within 2 points on %d/%d' % (
                  exact_hits, len(proven), statistics.median(gaps), statistics.mean(gaps), max(gaps),
                  statistics.median(rel), max(rel), sum(1 for x in rel if x <= 2.0), len(proven),
                  sum(1 for g in gaps if g <= 2.0), len(proven)))
    for r in open_rows:
        print('  not proven in the time limit: %d hosts %d guests rules=%s seed %d: planner %.2f, solver best %.2f, '
              'lower bound %.2f' % (r['hosts'], r['guests'], r['rules'], r['seed'], r['ours'], r['opt_same_moves'],
                                    r['bound_same_moves']))
    any_proven = [r for r in rows if r['proven_any']]
    if any_proven:
        rel_any = [100.0 * (r['ours'] - r['opt_any']) / r['opt_any'] if r['opt_any'] > 1e-9 else 0.0 for r in any_proven]
        print('  optimum with any number of migrations (proven on %d): median %.2f vs planner %.2f points; planner '
              'within 2 %% of it on %d/%d (max %+.1f %%)' % (
                  len(any_proven), statistics.median(r['opt_any'] for r in any_proven),
                  statistics.median(r['ours'] for r in any_proven), sum(1 for x in rel_any if x <= 2.0), len(any_proven),
                  max(rel_any)))
        for r, gap in zip(any_proven, rel_any):
            if gap > 2.0:
                print('  more than 2 %% above the proven optimum: %d hosts %d guests rules=%s seed %d: planner %.3f, '
                      'optimum %.3f (%+.1f %%)' % (
                          r['hosts'], r['guests'], r['rules'], r['seed'], r['ours'], r['opt_any'], gap))


def summarize_baselines(rows):
    for key in [name for name, _algo in BASELINES if rows and name in rows[0]]:
        better_or_equal = sum(1 for r in rows if r['ours'][0] <= r[key][0] + 1e-6)
        same = [r['ours_as_' + key] for r in rows]
        both = sum(1 for r, s in zip(rows, same) if s[0] <= r[key][0] + 1e-6 and s[1] <= r[key][1])
        ratio = statistics.median(r['ours'][1] / float(max(r[key][1], 1)) for r in rows)
        print('  vs %-8s: with no more migrations than it, better or equal imbalance on %d/%d instances '
              '(median imbalance %.2f vs %.2f); unconstrained, better or equal on %d/%d '
              '(median %.2f vs %.2f) with a median %.2f x its migrations' % (
                  key, both, len(rows), statistics.median(s[0] for s in same), statistics.median(r[key][0] for r in rows),
                  better_or_equal, len(rows), statistics.median(r['ours'][0] for r in rows),
                  statistics.median(r[key][0] for r in rows), ratio))


def _verdict(ours, theirs):
    """'yes' when ours used no more migrations than theirs and left an imbalance no higher (medians)."""
    return 'yes' if ours[1] <= theirs[1] and ours[0] <= theirs[0] + 1e-6 else 'no'


def summarize_families(baseline_rows, quality_rows=None, key='xo_rules'):
    """Per instance family (hosts x guests asked for; medians over the seeds): imbalance after / migrations of
    xen_balance as balance.yml runs it by default (the economy policy on measured CPU, memory and vCPUs), of the
    baseline `key` (XO rules), whether xen_balance used no more migrations than the baseline for no worse an
    imbalance, of xen_balance on reservations alone (the module's defaults, no CPU measured), of the spread search
    (economy off) and of the spread search held to the baseline's count; then, on the quality part's fleets (with
    and without rules), the same against the exact optimum where the solver proved it."""
    label = LABELS.get(key, key)
    rows = [r for r in baseline_rows or [] if key in r]
    if rows:
        print('  per instance family, median over seeds (imbalance after / migrations); "<= %s": xen_balance used no '
              'more migrations for no higher an imbalance:' % label)
        print('    %-9s %3s %7s | %-14s | %-14s | %-11s | %-14s | %-14s | %-14s' % (
            'family', 'thr', 'before', 'xen_balance', label, '<= ' + label, 'reservations', 'spread',
            'spread at its count'))
        families = sorted(set((r['hosts'], r.get('family', '%dx' % r['hosts']), r['threshold']) for r in rows))
        for nh, family, threshold in families:
            group = [r for r in rows if (r['hosts'], r.get('family', '%dx' % r['hosts']), r['threshold'])
                     == (nh, family, threshold)]

            def med(name, i, group=group):
                values = [r[name][i] for r in group if name in r]
                return statistics.median(values) if values else float('nan')
            print('    %-9s %3.0f %7.2f | %6.2f / %5.1f | %6.2f / %5.1f | %-11s | %6.2f / %5.1f | %6.2f / %5.1f | '
                  '%6.2f / %5.1f' % (
                      family, threshold, statistics.median(r['before'] for r in group), med('ours', 0), med('ours', 1),
                      med(key, 0), med(key, 1), _verdict((med('ours', 0), med('ours', 1)), (med(key, 0), med(key, 1))),
                      med('reserved', 0), med('reserved', 1), med('spread', 0), med('spread', 1),
                      med('ours_as_' + key, 0), med('ours_as_' + key, 1)))
        each = sum(1 for r in rows if _verdict(r['ours'], r[key]) == 'yes')
        print('    instance by instance: xen_balance used no more migrations for no higher an imbalance on %d/%d' % (
            each, len(rows)))
    rows = [r for r in quality_rows or [] if key in r]
    if rows:
        print('  quality fleets, median over seeds (xen_balance: balance.yml\'s defaults at threshold 5, and on '
              'reservations alone; spread: threshold 0); optimum: median where proven (proven/instances):')
        print('    %-11s | %-14s | %-14s | %-11s | %-14s | %-14s | %-23s | %-20s' % (
            'family', 'xen_balance', label, '<= ' + label, 'reservations', 'spread', 'optimum, spread\'s count',
            'optimum, any count'))
        for nh, with_rules in sorted(set((r['hosts'], r['rules']) for r in rows)):
            group = [r for r in rows if (r['hosts'], r['rules']) == (nh, with_rules)]

            def opt(name, proven, group=group):
                values = [r[name] for r in group if r[proven]]
                text = '%6.2f (%d/%d)' % (statistics.median(values), len(values), len(group)) if values else \
                    'none proven (0/%d)' % len(group)
                return text.ljust(23 if name == 'opt_same_moves' else 20)

            def pair(name, group=group):
                if all(name in r for r in group):
                    return (statistics.median(r[name][0] for r in group), statistics.median(r[name][1] for r in group))
                return (float('nan'), float('nan'))
            eco, reserved, xo = pair('economy'), pair('economy_reserved'), pair(key)
            print('    %-11s | %6.2f / %5.1f | %6.2f / %5.1f | %-11s | %6.2f / %5.1f | %6.2f / %5.1f | %s | %s' % (
                '%dh %s' % (nh, 'rules' if with_rules else 'no rules'), eco[0], eco[1], xo[0], xo[1], _verdict(eco, xo),
                reserved[0], reserved[1], statistics.median(r['ours'] for r in group),
                statistics.median(r['moves'] for r in group), opt('opt_same_moves', 'proven_same_moves'),
                opt('opt_any', 'proven_any')))


if __name__ == '__main__':
    main()
