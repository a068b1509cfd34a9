#!/usr/bin/env python
"""Benchmark: xen_domain converging N guests that already match, as a ratio to `command: true`.

Usage: run.py --inventory LAB_INVENTORY [--host xen1] [--guests 20] [--rounds 3]
Needs a lab host from tests/lab (the guest payload at /var/lib/xenlab/guest) and ansible-playbook
on PATH with ANSIBLE_COLLECTIONS_PATH pointing at this collection. Prints per round and the medians:
seconds per guest for xen_domain and for `command: true` (same run, same connection settings),
their ratio, and the xl calls per module call (the goal is one read and no write).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = {
    # 128 MiB: with 48 MiB Xen's domain builder cannot place dom0's kernel and the lab initramfs
    'state': 'running', 'type': 'pv', 'memory': 128, 'vcpus': 1,
    'kernel': '/var/lib/xenlab/guest/vmlinuz', 'ramdisk': '/var/lib/xenlab/guest/initrd.img',
    'cmdline': 'console=hvc0 quiet',
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inventory', required=True)
    parser.add_argument('--host', default='xen1')
    parser.add_argument('--guests', type=int, default=20)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--output', default=os.path.join(HERE, '..', 'output', 'domain.json'))
    args = parser.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        extra = os.path.join(tmp, 'vars.json')
        raw = os.path.join(tmp, 'rounds.json')
        with open(extra, 'w') as handle:
            json.dump({'bench_host': args.host, 'bench_guests': args.guests, 'bench_rounds': args.rounds,
                       'bench_guest': GUEST, 'bench_output': raw}, handle)
        subprocess.run(['ansible-playbook', '-i', args.inventory, '-e', '@' + extra,
                        os.path.join(HERE, 'converge_bench.yml')], check=True)
        with open(raw) as handle:
            rounds = json.load(handle)
    rows = []
    for index, rnd in enumerate(rounds):
        per_guest = rnd['xen_domain_seconds'] / args.guests
        per_cmd = rnd['command_true_seconds'] / args.guests
        rows.append({'round': index, 'xen_domain_s_per_guest': per_guest, 'command_true_s_per_task': per_cmd,
                     'ratio': per_guest / per_cmd, 'changed': rnd['changed'],
                     'xl_calls_per_call': statistics.mean(rnd['xl_calls'])})
        print('round %d: xen_domain %.3f s/guest, command:true %.3f s/task, ratio %.2f, changed %d, xl calls/call %.1f'
              % (index, per_guest, per_cmd, per_guest / per_cmd, rnd['changed'], statistics.mean(rnd['xl_calls'])))
    summary = {
        'guests': args.guests, 'rounds': rows,
        'median_ratio': statistics.median(r['ratio'] for r in rows),
        'median_xen_domain_s_per_guest': statistics.median(r['xen_domain_s_per_guest'] for r in rows),
        'xl_calls_per_call': statistics.median(r['xl_calls_per_call'] for r in rows),
        'changed_total': sum(r['changed'] for r in rows),
    }
    print('median: ratio %.2f (xen_domain time per guest / command:true time per task), %.1f xl calls per call '
          '(all reads), %d changed' % (summary['median_ratio'], summary['xl_calls_per_call'], summary['changed_total']))
    with open(args.output, 'w') as handle:
        json.dump(summary, handle, indent=2)
    return 0 if summary['changed_total'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
