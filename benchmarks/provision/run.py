#!/usr/bin/env python
"""Benchmark: from a host without guests to N guests answering SSH, linked clones against full copies.

Usage: run.py --inventory LAB_INVENTORY [--host xen1] [--guests 1,5] [--clones linked,full] [--boot-wave-size 2]
Needs a lab host from tests/lab booted with the APT repository and the cloud image
(`xenlab up --apt-repo --cloud-image`), and ansible-playbook on PATH with ANSIBLE_COLLECTIONS_PATH pointing at this
collection. For each case (N guests, clone) it prints: seconds from nothing to every guest answering SSH (the guests
role: disk from Debian's cloud image, cloud-init seed, domain, SSH wait), the same per guest, each guest's seconds from
the start of the case to its SSH answer (and its boot wave), and the no-op rerun of the role against N `command: true`
tasks of the same run (ratio: the goal is what a matching guest costs). Cases with more guests than --boot-wave-size
boot them in waves of that many (the role's xen_guests_boot_wave_size; the lab host has 2 vCPUs, and five guests
booted at once there overran systemd's start timeouts inside them, docs/provision.md). A case whose SSH wait fails is
recorded with each guest's wait before the run stops. Writes benchmarks/output/provision.json.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE_URL = 'http://10.0.2.100/images/debian-12-genericcloud-amd64.qcow2'
IMAGE = '/var/lib/xen/images/debian-12-genericcloud-amd64.qcow2'
KERNELS = {'pvh': '/usr/lib/grub-xen/grub-i386-xen_pvh.bin', 'pv': '/usr/lib/grub-xen/grub-x86_64-xen.bin'}


def summarise(cases):
    rows = []
    for case in cases:
        row = dict(case)
        if 'failed' not in case:
            row['to_ssh_seconds_per_guest'] = case['to_ssh_seconds'] / case['guests']
            row['rerun_ratio'] = case['rerun_seconds'] / case['command_true_seconds']
        rows.append(row)
    by = dict(((r['guests'], r['clone']), r) for r in rows if 'failed' not in r)
    for guests in sorted(set(r['guests'] for r in rows)):
        linked, full = by.get((guests, 'linked')), by.get((guests, 'full'))
        if linked and full:
            linked['linked_over_full'] = linked['to_ssh_seconds'] / full['to_ssh_seconds']
    return rows


def waves(guests, size):
    """The case's xen_guests_boot_wave_size: `size` when the case has more guests than that, else 0 (all at once, as
    the 1-guest figures were measured)."""
    return size if 0 < size < guests else 0


def boot(row):
    return ('boot waves of %d' % row['boot_wave_size']) if row.get('boot_wave_size') else 'all booted at once'


def report(row):
    """The lines printed for one case: its figures (or why it failed), then each guest's wait."""
    head = '%d x %s (%s)' % (row['guests'], row['clone'], boot(row))
    if 'failed' in row:
        lines = ['%s: FAILED after %.0f s: %s' % (head, row['seconds_until_failed'], row['failed'])]
    else:
        lines = ['%s: %.0f s to SSH (%.0f s per guest), rerun %.1f s = %.2fx %d command:true (%.1f s), rerun changed '
                 '%d, images dir %d MiB used%s'
                 % (head, row['to_ssh_seconds'], row['to_ssh_seconds_per_guest'], row['rerun_seconds'],
                    row['rerun_ratio'], row['guests'], row['command_true_seconds'], row['rerun_changed'],
                    row['images_dir_kib'] // 1024,
                    (', linked/full %.2f' % row['linked_over_full']) if 'linked_over_full' in row else '')]
    for guest in row.get('ssh') or []:
        name = guest['name'] + (' (wave %d)' % guest['wave'] if guest['wave'] else '')
        if guest['answered']:
            lines.append('  %s: SSH %.0f s after the case began, %.0f s into its wait, %d attempts'
                         % (name, guest['seconds_from_start'], guest['seconds_in_wait'], guest['attempts']))
        else:
            lines.append('  %s: no SSH answer (%d attempts; last: %s)' % (name, guest['attempts'], guest['error']))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inventory', required=True)
    parser.add_argument('--host', default='xen1')
    parser.add_argument('--guests', default='1,5', help='comma-separated guest counts (default 1,5)')
    parser.add_argument('--clones', default='linked,full', help='linked, full or both (default linked,full)')
    parser.add_argument('--type', default='pvh', choices=sorted(KERNELS), help='guest type (default pvh)')
    parser.add_argument('--memory', type=int, default=256, help='MiB per guest (default 256)')
    parser.add_argument('--boot-wave-size', type=int, default=2,
                        help='boot the guests of cases with more guests than this in waves of this many '
                             '(xen_guests_boot_wave_size; default 2, the lab host\'s vCPUs; 0: all at once)')
    parser.add_argument('--output', default=os.path.join(HERE, '..', 'output', 'provision.json'))
    args = parser.parse_args()
    cases = [{'guests': int(n), 'clone': c, 'boot_wave_size': waves(int(n), args.boot_wave_size)}
             for n in args.guests.split(',') for c in args.clones.split(',')]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        extra = os.path.join(tmp, 'vars.json')
        raw = os.path.join(tmp, 'cases.json')
        with open(extra, 'w') as handle:
            json.dump({'bench_host': args.host, 'bench_cases': cases, 'bench_tmp': tmp, 'bench_output': raw,
                       'bench_image_url': IMAGE_URL, 'bench_image': IMAGE, 'bench_guest_type': args.type,
                       'bench_kernel': KERNELS[args.type], 'bench_memory': args.memory}, handle)
        played = subprocess.run(['ansible-playbook', '-i', args.inventory, '-e', '@' + extra,
                                 os.path.join(HERE, 'provision_bench.yml')], check=False)
        if not os.path.exists(raw):
            print('no case finished (ansible-playbook exited %d)' % played.returncode)
            return 1
        with open(raw) as handle:
            rows = summarise(json.load(handle))
        if played.returncode != 0:
            print('ansible-playbook exited %d: the cases that finished before it stopped follow' % played.returncode)
    for row in rows:
        for line in report(row):
            print(line)
    with open(args.output, 'w') as handle:
        json.dump({'type': args.type, 'memory_mb': args.memory, 'boot_wave_size': args.boot_wave_size, 'cases': rows,
                   'complete': played.returncode == 0}, handle, indent=2)
    return 0 if played.returncode == 0 and all(r.get('rerun_changed') == 0 for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
