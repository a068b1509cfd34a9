#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: xenfleet.xen against the peer a Xen user would otherwise pick, community.libvirt's virt module through
libvirt's libxl driver, doing the same work on the same lab host in one run.

  python3 benchmarks/peer_libvirt/run.py --inventory LAB_INVENTORY [--host xen1] [--guests 1,10,20] [--rounds 3,2,1]
  python3 benchmarks/peer_libvirt/run.py --summary benchmarks/output/peer_libvirt-DATE.json

The lab host comes from tests/lab, started with the peer's packages in its local APT repository:
  PYTHONPATH=tests/lab python3 -m xenlab up --name peer --hosts 1 --apt-repo --apt-extra libvirt
setup.yml installs libvirt's Xen driver there (not timed). Then, for each N and round after round, three variants do
the same four operations on N PV guests (128 MiB, the lab's guest payload, no disk, no network), each variant with
its own guests, one after the other in an order that rotates every round:
  - xen_domain: one xen_domain task per guest (a loop), as a user converts a libvirt playbook;
  - xen_domains: all guests in one xen_domains task (the guests role's path);
  - virt: community.libvirt.virt, two tasks per guest to create (define from XML, then state running) and to remove
    (state destroyed, then command undefine); `virsh setmem --live --config` for the memory change (virt has no
    option for it).
Operations: create (define and start), noop (the same again), check (the same again in check mode: a tool that
compares what it was given with what runs predicts no change), memory (128 -> 96 MiB live, and in the definition),
remove (stop and undefine; ours asks the guest to shut down and waits for it, destroying it only after its
shutdown_timeout - the payload powers off at once -, the peer's state destroyed pulls the plug).

Prints per N and operation the median seconds of each variant, the ratios ours / theirs (the goal: 0.5 or less) and
the calls each made (xl commands; libvirt calls as libvirtd counts them, its RPC_SERVER_CLIENT_MSG_RX lines), and
whether a no-op changed anything or check mode predicted a change on guests that match (ours must not; the
peer's predictions are reported as measured). Writes benchmarks/output/peer_libvirt-<date>.json.

community.libvirt comes from PyPI's `ansible` package (Galaxy is not reachable from the lab machines): run.py
downloads the pinned wheel once (pip download --no-deps) and unpacks only ansible_collections/community/libvirt into
--cache; ANSIBLE_COLLECTIONS_PATH must already name the directory holding this collection (ansible_collections/
xenfleet/xen), the cache is appended to it.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ANSIBLE_WHEEL = ('ansible', '14.5.0')   # ships community.libvirt 2.3.0
GUEST = {
    'memory': 128, 'maxmem': 128, 'memory_changed': 96, 'vcpus': 1,
    'kernel': '/var/lib/xenlab/guest/vmlinuz', 'ramdisk': '/var/lib/xenlab/guest/initrd.img',
    'cmdline': 'console=hvc0 quiet',
}
VARIANTS = ('xen_domain', 'xen_domains', 'virt')
PREFIX = {'xen_domain': 'xe', 'xen_domains': 'xo', 'virt': 'lv'}
OPS = ('create', 'noop', 'check', 'memory', 'remove')
OURS = ('xen_domain', 'xen_domains')


def community_libvirt(cache):
    """The directory holding ansible_collections/community/libvirt, unpacked from the pinned `ansible` wheel."""
    root = os.path.join(cache, 'collections')
    manifest = os.path.join(root, 'ansible_collections', 'community', 'libvirt', 'MANIFEST.json')
    if os.path.isfile(manifest):
        return root
    os.makedirs(cache, exist_ok=True)
    name, version = ANSIBLE_WHEEL
    wheel = os.path.join(cache, '%s-%s-py3-none-any.whl' % (name, version))
    if not os.path.isfile(wheel):
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:',
                        '-d', cache, '%s==%s' % (name, version)], check=True)
    with zipfile.ZipFile(wheel) as whl:
        members = [m for m in whl.namelist() if m.startswith('ansible_collections/community/libvirt/')]
        if not members:
            raise SystemExit('%s has no community.libvirt' % wheel)
        whl.extractall(root, members)
    return root


def plan(guest_counts, rounds):
    """Steps (round, variant, N, guest names, declarations): the variants take turns, rotated every round;
    rounds[i] rounds for guest_counts[i]."""
    steps = []
    for count, count_rounds in zip(guest_counts, rounds):
        for rnd in range(count_rounds):
            order = VARIANTS[rnd % len(VARIANTS):] + VARIANTS[:rnd % len(VARIANTS)]
            for variant in order:
                names = ['%s%02d' % (PREFIX[variant], i) for i in range(count)]
                step = {'round': rnd, 'variant': variant, 'guests': count, 'names': names}
                if variant == 'xen_domains':
                    base = {'state': 'running', 'type': 'pv', 'memory': GUEST['memory'], 'maxmem': GUEST['maxmem'],
                            'vcpus': GUEST['vcpus'], 'kernel': GUEST['kernel'], 'ramdisk': GUEST['ramdisk'],
                            'cmdline': GUEST['cmdline']}
                    step['domains'] = [dict(base, name=n) for n in names]
                    step['domains_memory'] = [dict(base, name=n, memory=GUEST['memory_changed']) for n in names]
                    step['domains_absent'] = [{'name': n, 'state': 'absent', 'force': True} for n in names]
                steps.append(step)
    return steps


def summarize(rows):
    """Per N and operation: median seconds and calls of each variant, the ratios ours / theirs, changes."""
    table = []
    for count in sorted({r['guests'] for r in rows}):
        for op in OPS:
            entry = {'guests': count, 'op': op}
            for variant in VARIANTS:
                mine = [r for r in rows if r['guests'] == count and r['op'] == op and r['variant'] == variant]
                entry[variant] = {
                    'seconds': [round(r['seconds'], 2) for r in mine],
                    'median_s': statistics.median(r['seconds'] for r in mine) if mine else None,
                    'calls_per_guest': statistics.median(r['calls'] / count for r in mine) if mine else None,
                    'tasks_per_guest': mine[0]['tasks_per_guest'] if mine else None,
                    'changed': [r['changed'] for r in mine],
                }
            if any(entry[variant]['median_s'] is None for variant in VARIANTS):
                continue   # a run cut short: this operation was not measured for every variant
            theirs = entry['virt']['median_s']
            for variant in OURS:
                entry['ratio_' + variant] = entry[variant]['median_s'] / theirs if theirs else None
                entry['ratio_' + variant + '_rounds'] = [
                    a / b for a, b in zip(entry[variant]['seconds'], entry['virt']['seconds']) if b]
            table.append(entry)
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inventory', help='the lab inventory (required unless --summary)')
    parser.add_argument('--summary', metavar='FILE', help="print the tables of an earlier run's output file and stop")
    parser.add_argument('--host', default='xen1')
    parser.add_argument('--guests', default='1,10,20', help='comma-separated guest counts (default 1,10,20)')
    parser.add_argument('--rounds', default='3,2,1',
                        help='rounds per guest count: one number for all, or one per count (default 3,2,1)')
    parser.add_argument('--cache', default=os.path.join(os.path.expanduser('~'), '.cache', 'xenfleet-bench'),
                        help='where the ansible wheel and community.libvirt are kept')
    parser.add_argument('--output', default=os.path.join(
        HERE, '..', 'output', 'peer_libvirt-%s.json' % datetime.date.today().isoformat()))
    args = parser.parse_args()
    if args.summary:
        return reprint(args.summary)
    if not args.inventory:
        parser.error('--inventory is required (or --summary FILE)')
    try:
        counts = [int(c) for c in args.guests.split(',') if c.strip()]
        rounds = [int(r) for r in args.rounds.split(',') if r.strip()]
    except ValueError:
        parser.error('--guests and --rounds take comma-separated whole numbers')
    if len(rounds) == 1:
        rounds = rounds * len(counts)
    if not counts or min(counts) < 1 or max(counts) > 99 or len(rounds) != len(counts) or min(rounds) < 1:
        parser.error('--guests: counts from 1 to 99; --rounds: 1 or more, one number or one per count')
    env = dict(os.environ)
    paths = [p for p in env.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep) if p]
    env['ANSIBLE_COLLECTIONS_PATH'] = os.pathsep.join(paths + [community_libvirt(args.cache)])
    common = {'bench_host': args.host, 'bench_guest': GUEST}
    with tempfile.TemporaryDirectory() as tmp:
        extra = os.path.join(tmp, 'vars.json')
        raw = os.path.join(tmp, 'rows.json')
        with open(extra, 'w') as handle:
            json.dump(dict(common, bench_plan=plan(counts, rounds), bench_output=raw), handle)
        subprocess.run(['ansible-playbook', '-i', args.inventory, '-e', '@' + extra,
                        os.path.join(HERE, 'setup.yml')], check=True, env=env)
        played = subprocess.run(['ansible-playbook', '-i', args.inventory, '-e', '@' + extra,
                                 os.path.join(HERE, 'bench.yml')], check=False, env=env)
        if not os.path.exists(raw):
            print('the benchmark play failed before its first variant ended (rc %d): nothing measured'
                  % played.returncode)
            return 2
        with open(raw) as handle:
            rows = json.load(handle)
    if played.returncode:
        print('THE RUN WAS CUT SHORT (ansible-playbook rc %d): the tables below have only the steps that ended'
              % played.returncode)
        counts = sorted({r['guests'] for r in rows})
    return report(rows, counts, rounds, args.output) or played.returncode


def markdown(table):
    """The table as docs/performance.md shows it."""
    lines = ['| N | operation | xen_domain (per guest) | xen_domains (one call) | virt | ours / theirs: per guest, '
             'one call (rounds) |', '|---|---|---|---|---|---|']
    for e in table:
        cells = []
        for variant, unit in (('xen_domain', 'xl'), ('xen_domains', 'xl'), ('virt', 'libvirt')):
            v = e[variant]
            cells.append('%.1f s, %.1f %s calls/guest, %s task%s/guest' % (
                v['median_s'], v['calls_per_guest'], unit, ('%g' % round(v['tasks_per_guest'], 2)),
                '' if v['tasks_per_guest'] == 1 else 's'))
        pairs = zip(e['ratio_xen_domain_rounds'], e['ratio_xen_domains_rounds'])
        spread = '; '.join('%.2f/%.2f' % (a, b) for a, b in pairs)
        lines.append('| %d | %s | %s | %s | %s | **%.2f**, **%.2f** (%s) |' % (
            e['guests'], e['op'], cells[0], cells[1], cells[2], e['ratio_xen_domain'], e['ratio_xen_domains'], spread))
    return '\n'.join(lines)


def report(rows, counts, rounds, output):
    """Print the table (plain and Markdown), write OUTPUT; exit code 1 when a no-op changed something or our check
    mode predicted a change on matching guests."""
    table = summarize(rows)
    print('%-4s %-7s | %-24s | %-24s | %-24s | %s' % ('N', 'op', 'xen_domain s (calls/guest)',
                                                      'xen_domains s (calls/guest)', 'virt s (calls/guest)',
                                                      'ours/theirs: per guest, one call'))
    for e in table:
        cells = ['%7.1f (%4.1f xl)' % (e[v]['median_s'], e[v]['calls_per_guest']) if v != 'virt' else
                 '%7.1f (%4.1f libvirt)' % (e[v]['median_s'], e[v]['calls_per_guest']) for v in VARIANTS]
        print('%-4d %-7s | %-24s | %-24s | %-24s | %.2f, %.2f' % (
            e['guests'], e['op'], cells[0], cells[1], cells[2], e['ratio_xen_domain'], e['ratio_xen_domains']))
    noop_changes = [(e['guests'], v, e[v]['changed']) for e in table if e['op'] == 'noop' for v in VARIANTS
                    if any(e[v]['changed'])]
    for count, variant, changed in noop_changes:
        print('NOT A NO-OP: %s changed %s guests of %d' % (variant, changed, count))
    wrong_checks = []
    for e in table:
        if e['op'] != 'check':
            continue
        for variant in VARIANTS:
            print('check mode on %d matching guests: %s predicted a change for %s (per round)' % (
                e['guests'], variant, e[variant]['changed']))
            if variant in OURS and any(e[variant]['changed']):
                wrong_checks.append(variant)
    for variant in wrong_checks:
        print('WRONG PREDICTION: %s in check mode reported a change on guests that match' % variant)
    print()
    print(markdown(table))
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, 'w') as handle:
            json.dump({'ansible_wheel': '%s==%s' % ANSIBLE_WHEEL, 'guest': GUEST,
                       'rounds': dict(zip(counts, rounds)), 'table': table, 'rows': rows}, handle, indent=2)
        print('raw rounds: %s' % os.path.abspath(output))
    return 1 if noop_changes or wrong_checks else 0


def reprint(path):
    """--summary FILE: the tables again from a run's output file."""
    with open(path) as handle:
        saved = json.load(handle)
    rows = saved['rows']
    counts = sorted({r['guests'] for r in rows})
    return report(rows, counts, [saved['rounds'].get(str(c)) for c in counts], None)


if __name__ == '__main__':
    sys.exit(main())
