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
2. Baselines: the same instances planned by two greedy reference points implemented here, a Xen
   Orchestra-like pass (hottest host first, its guests by load descending, each to the coolest host)
   and an OpenStack Watcher workload_balance-like loop (one move per round while a host is above the
   threshold); imbalance and migrations against the planner with the same threshold.
3. Scale: plan time from 100 to 1,000 hosts (20 guests per host), as ratios to the 100-host time and to a
   fixed pure-Python calibration loop measured in the same process, medians of several runs.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import argparse
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
# Runs
# --------------------------------------------------------------------------------------------

WEIGHTS = {'memory': 1.0, 'vcpus': 1.0}


def planner(hosts, guests, rules, threshold, max_migrations=None):
    res = P.plan_balance(hosts, guests, mode='performance', weights=WEIGHTS, threshold=threshold, rules=rules,
                         max_migrations=max_migrations)
    return res['imbalance']['after'], len(res['migrations']), res


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
                row = {'hosts': nh, 'guests': len(guests), 'rules': with_rules, 'seed': seed, 'before': imb0,
                       'ours': ours, 'moves': moves, 'opt_same_moves': opt_k, 'proven_same_moves': proven_k,
                       'bound_same_moves': bound_k, 'opt_any': opt, 'proven_any': proven, 'bound_any': bound,
                       'plan_s': dt}
                rows.append(row)
                print('  %d hosts %2d guests rules=%-5s seed %d: before %6.2f  ours %6.2f (%2d moves, %.3fs)  '
                      'optimum same moves %6.2f%s  any moves %6.2f%s' % (
                          nh, len(guests), with_rules, seed, imb0, ours, moves, dt, opt_k, '' if proven_k else '?',
                          opt, '' if proven else '?'))
                sys.stdout.flush()
    return rows


def baselines(args):
    rows = []
    for nh, ng in [(4, 12), (6, 20), (8, 30), (20, 200), (50, 1000)]:
        for seed in range(args.seeds):
            hosts, guests, _rules = small_instance(seed * 13 + nh, nh, ng, False)
            for threshold in (2.0, 5.0):
                imb0 = P.imbalance(hosts, guests, WEIGHTS)
                ours, moves, _res = planner(hosts, guests, {}, threshold)
                row = {'hosts': nh, 'guests': len(guests), 'seed': seed, 'threshold': threshold, 'before': imb0,
                       'ours': [ours, moves]}
                for name, algo in (('xo', xo_like), ('watcher', watcher_like)):
                    after, count = algo(hosts, guests, WEIGHTS, threshold)
                    row[name] = [P.imbalance(hosts, after, WEIGHTS), count]
                    # the planner allowed no more migrations than the baseline made
                    same, same_moves, _res = planner(hosts, guests, {}, threshold, max_migrations=count)
                    row['ours_as_' + name] = [same, same_moves]
                rows.append(row)
    for row in rows:
        print('  %3d hosts %4d guests thr %.0f seed %d: before %6.2f | ours %6.2f/%3d | xo %6.2f/%3d, ours at that budget '
              '%6.2f/%3d | watcher %6.2f/%3d, ours at that budget %6.2f/%3d' % (
                  row['hosts'], row['guests'], row['threshold'], row['seed'], row['before'], row['ours'][0], row['ours'][1],
                  row['xo'][0], row['xo'][1], row['ours_as_xo'][0], row['ours_as_xo'][1],
                  row['watcher'][0], row['watcher'][1], row['ours_as_watcher'][0], row['ours_as_watcher'][1]))
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
    for nh in sizes:
        hosts, guests = big_instance(nh, nh)
        for mode in ('performance', 'density'):
            times = []
            res = None
            for _i in range(repeats):
                t0 = time.perf_counter()
                res = P.plan_balance(hosts, guests, mode=mode, weights=WEIGHTS, threshold=5.0)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            rows.append({'hosts': nh, 'guests': len(guests), 'mode': mode, 'seconds': med, 'runs': times,
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
    for mode in ('performance', 'density'):
        base = [r for r in rows if r['mode'] == mode][0]['seconds']
        for r in rows:
            if r['mode'] == mode:
                r['ratio_100'] = r['seconds'] / base
                r['ratio_calib'] = r['seconds'] / calib
                print('  %-11s %4d hosts %5d guests: %5.2f x the 100-host time, %5.1f x calibration '
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
    ax.bar([x - 0.27 for x in xs], ours, width=0.27, label='xen_balance')
    ax.bar(list(xs), opt_k, width=0.27, label='optimum, same migrations')
    ax.bar([x + 0.27 for x in xs], opt_any, width=0.27, label='optimum, any migrations')
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, fontsize=6)
    ax.set_ylabel('imbalance after (points, lower is better)')
    ax.set_title('Small fleets vs exact optimum (R = with rules)')
    ax.legend(fontsize=7)

    ax = axes[1]
    algos = [('ours', 'xen_balance'), ('xo', 'XO-like'), ('watcher', 'Watcher-like')]
    groups = sorted(set((r['hosts'], r['threshold']) for r in baseline_rows))
    width = 0.27
    for k, (key, label) in enumerate(algos):
        imb = [statistics.mean(r[key][0] for r in baseline_rows if (r['hosts'], r['threshold']) == grp) for grp in groups]
        ax.bar([i + (k - 1) * width for i in range(len(groups))], imb, width=width, label=label)
    ax2 = ax.twinx()
    for k, (key, label) in enumerate(algos):
        mig = [statistics.mean(r[key][1] for r in baseline_rows if (r['hosts'], r['threshold']) == grp) for grp in groups]
        ax2.plot([i + (k - 1) * width for i in range(len(groups))], mig, 'o', color='C%d' % k, markeredgecolor='black')
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(['%d hosts\nthr %.0f' % g for g in groups], fontsize=7)
    ax.set_ylabel('mean imbalance after (bars)')
    ax2.set_ylabel('mean migrations (dots)')
    ax.set_title('Against greedy baselines (same instances)')
    ax.legend(fontsize=7, loc='upper left')

    ax = axes[2]
    for mode, marker in (('performance', 'o-'), ('density', 's-')):
        rows = [r for r in scale_data['rows'] if r['mode'] == mode]
        ax.plot([r['hosts'] for r in rows], [r['seconds'] for r in rows], marker, label=mode)
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
        print('  optimum with any number of migrations (proven on %d): median %.2f vs planner %.2f points' % (
            len(any_proven), statistics.median(r['opt_any'] for r in any_proven),
            statistics.median(r['ours'] for r in any_proven)))


def summarize_baselines(rows):
    for key in ('xo', 'watcher'):
        better_or_equal = sum(1 for r in rows if r['ours'][0] <= r[key][0] + 1e-6)
        same = [r['ours_as_' + key] for r in rows]
        both = sum(1 for r, s in zip(rows, same) if s[0] <= r[key][0] + 1e-6 and s[1] <= r[key][1])
        ratio = statistics.median(r['ours'][1] / float(max(r[key][1], 1)) for r in rows)
        print('  vs %-7s: with no more migrations than it, better or equal imbalance on %d/%d instances '
              '(median imbalance %.2f vs %.2f); unconstrained, better or equal on %d/%d '
              '(median %.2f vs %.2f) with a median %.2f x its migrations' % (
                  key, both, len(rows), statistics.median(s[0] for s in same), statistics.median(r[key][0] for r in rows),
                  better_or_equal, len(rows), statistics.median(r['ours'][0] for r in rows),
                  statistics.median(r[key][0] for r in rows), ratio))


if __name__ == '__main__':
    main()
