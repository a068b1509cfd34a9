#!/usr/bin/env python
"""Benchmark: xen_snapshot and xen_backup against the bare xl/cp/qemu-img/LVM commands they wrap, as ratios in one run.

Usage: run.py --inventory LAB_INVENTORY [--host xen1] [--rounds 2]
Needs a lab host from tests/lab with the local APT repository (`xenlab up --hosts 1 --apt-repo`) and ansible-playbook
on PATH with ANSIBLE_COLLECTIONS_PATH pointing at this collection. Runs scenario `snapshot`'s prepare and converge
(tools, a volume group with a thin pool, guest snap1 with a raw file, a qcow2 file, a thick and a thin LV), then per
round: a snapshot with memory, the revert to it, a snapshot without memory - each by xen_snapshot (one task) and by
one `shell` task running the same commands - then the export of the last snapshot and its import as a copy, by
xen_backup and by `qemu-img convert`, `sha256sum` and LVM in one `shell` task. Prints per operation the median seconds of each and the ratio
module/bare; writes benchmarks/output/snapshot.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.join(HERE, '..', '..', 'molecule', 'snapshot')


def summarise(times):
    rows = []
    for op in ('take_memory', 'revert_memory', 'take_disks', 'export', 'import'):
        module = [t['seconds'] for t in times if t['op'] == op and t['how'] == 'module']
        bare = [t['seconds'] for t in times if t['op'] == op and t['how'] == 'bare']
        guest = [t['guest_seconds'] for t in times if t['op'] == op and t['how'] == 'module'
                 and t['guest_seconds'] is not None]
        if module and bare:
            rows.append({'op': op, 'rounds': min(len(module), len(bare)), 'module_seconds': statistics.median(module),
                         'bare_seconds': statistics.median(bare),
                         'ratio': statistics.median(module) / statistics.median(bare),
                         'guest_seconds': statistics.median(guest) if guest else None})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inventory', required=True)
    parser.add_argument('--host', default='xen1')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--output', default=os.path.join(HERE, '..', 'output', 'snapshot.json'))
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'times.json')
        extra = ['-e', json.dumps({'bench_host': args.host, 'bench_rounds': args.rounds, 'bench_output': raw})]
        setup = subprocess.run(['ansible-playbook', '-i', args.inventory, '--limit', args.host] + extra +
                               [os.path.join(SCENARIO, 'prepare.yml'), os.path.join(SCENARIO, 'converge.yml')],
                               check=False)
        if setup.returncode != 0:
            print('setup failed (ansible-playbook exited %d)' % setup.returncode)
            return 1
        played = subprocess.run(['ansible-playbook', '-i', args.inventory, '--limit', args.host] + extra +
                                [os.path.join(HERE, 'snapshot_bench.yml')], check=False)
        if played.returncode != 0 or not os.path.exists(raw):
            print('the benchmark failed (ansible-playbook exited %d)' % played.returncode)
            return 1
        with open(raw) as handle:
            times = json.load(handle)
    rows = summarise(times)
    for row in rows:
        print('%-14s module %6.1f s, bare commands %6.1f s: %.2fx (median of %d rounds)%s'
              % (row['op'], row['module_seconds'], row['bare_seconds'], row['ratio'], row['rounds'],
                 '; the guest did not run for %.1f s' % row['guest_seconds'] if row['guest_seconds'] else ''))
    with open(args.output, 'w') as handle:
        json.dump({'rounds': args.rounds, 'operations': rows, 'times': times}, handle, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
