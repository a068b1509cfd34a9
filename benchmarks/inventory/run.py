# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the inventory plugin xenfleet.xen.xen: building the inventory of 1, 10 and 200 dom0s.

  ~/.cache/xenfleet-ci/venvs/stack-2.21/bin/python benchmarks/inventory/run.py [--latency 0.05] [--sizes 1,10,200]
      [--guests 20] [--max-workers N,...] [--repeat 3] [--stand-in script|runner] [--keyed-groups]

Needs ansible-core (the Python that runs it must import ansible); runs no VM and asks no real dom0. Each build is
what ansible-inventory does (InventoryManager with a static INI file that puts the dom0s in group xen_hosts, then a
xen.xen.yml with dom0_group: xen_hosts), timed in this process. The plugin's ssh (its ssh_executable option) is a
stand-in POSIX sh script that sleeps --latency seconds (a round trip to a dom0), logs the call and prints the dom0's
answer to the probe.

The answers are data shaping of captured documents, not invented output: every guest is a copy of pvnet1 as real
Xen 4.17.5 printed it (tests/unit/fixtures/xen-4.17.5-lab-neigh: its `xl list -l` entry, its `xl list` row and its
entry in `ip -json neigh show`), with its name, uuid, domid, MAC and address changed; each dom0 also has the
captured Domain-0 entry and row. They are laid out in the probe's sections as _xl_cmd.inventory_probe prints them
(tests/unit/plugins/inventory checks that layout against the real script).

Prints, per number of dom0s and per max_workers: the median time of the whole build and of its ssh phase (the
plugin's _probe_all: every dom0 asked and its answer read), each as a ratio to one dom0 (goal: 200 dom0s cost no
more than about 5x one dom0), the lower bound from latency alone (ceil(dom0s / max_workers) x latency) and the cost
of the rest per guest (adding hosts, variables and groups to Ansible's inventory, which grows with the guests, not
with the dom0s); then a cold and a warm build with the inventory cache (jsonfile): the warm one must run no ssh.
--keyed-groups adds keyed_groups by state (Ansible compiles the Jinja2 expression again for every guest).
--stand-in runner replaces the plugin's run_ssh by a function that sleeps the latency and returns the answer, so no
process is started: what is left is the plugin's own cost (threads, parsing, Ansible's inventory), without the cost
of starting a process per dom0 on the benchmark machine (the stand-in script starts three: sh, sleep, cat).
"""

import argparse
import copy
import json
import math
import os
import re
import shlex
import statistics
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NEIGH = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'xen-4.17.5-lab-neigh')
MARK = '@@XENFLEET-INVENTORY@@'  # _xl_cmd.INVENTORY_MARK (checked below once the collection is importable)

STAND_IN_SSH = r'''#!/bin/sh
# stand-in for ssh: the host is the word after --; answer after the latency, as the dom0 would
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then host=$2; break; fi
    shift
done
sleep %(latency)s
echo "$host" >> %(log)s
exec cat %(answers)s/"$host"
'''


def read(name):
    with open(os.path.join(NEIGH, name)) as handle:
        return handle.read()


def captured_guest():
    """pvnet1 (domid 4) and Domain-0 as captured: their `xl list -l` entries, `xl list` rows, neighbour entry."""
    entries = json.loads(read('xl_list_l.stdout'))
    rows = read('xl_list.stdout').splitlines()
    neigh = json.loads(read('ip_neigh.stdout'))
    guest = [e for e in entries if e['domid'] == 4][0]
    dom0 = [e for e in entries if e['domid'] == 0][0]
    header = rows[0]
    dom0_row = [r for r in rows if r.startswith('Domain-0 ')][0]
    guest_row = [r for r in rows if r.startswith('pvnet1 ')][0]
    guest_neigh = [n for n in neigh if n.get('lladdr') == '00:16:3e:00:00:10'][0]
    return guest, dom0, header, dom0_row, guest_row, guest_neigh


def dom0_answer(index, guests, captured):
    """One dom0's answer to the probe: `guests` copies of the captured pvnet1 with their identity changed."""
    guest, dom0, header, dom0_row, guest_row, guest_neigh = captured
    entries, rows, neigh = [dom0], [header, dom0_row], []
    fields = re.match(r'\A(\S+\s+\d+)(.*)\Z', guest_row)
    id_end, row_rest = len(fields.group(1)), fields.group(2)
    for i in range(guests):
        domid = i + 1
        name = 'd%03dg%02d' % (index, i)
        mac = '00:16:3e:%02x:%02x:%02x' % (index // 256, index % 256, i)
        entry = copy.deepcopy(guest)
        entry['domid'] = domid
        entry['config']['c_info']['name'] = name
        entry['config']['c_info']['uuid'] = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        entry['config']['nics'][0]['mac'] = mac
        entry['config']['b_info']['cmdline'] = entry['config']['b_info']['cmdline'].replace('pvnet1', name)
        entries.append(entry)
        # the captured row with its name and domid replaced, in the same columns
        rows.append('%-*s%d%s' % (id_end - len(str(domid)), name, domid, row_rest))
        neigh.append(dict(guest_neigh, dst='10.%d.%d.%d' % (index // 256, index % 256, i + 10), lladdr=mac))
    sections = [('list_long', json.dumps(entries, indent=4) + '\n'), ('list', '\n'.join(rows) + '\n'),
                ('neigh', json.dumps(neigh, separators=(',', ':')) + '\n'), ('bridges', '')]
    out = ['%s begin\n' % MARK]
    for name, text in sections:
        out.append('%s section %s\n%s\n%s end %s 0\n' % (MARK, name, text, MARK, name))
    out.append('%s done\n' % MARK)
    return ''.join(out)


def runner_stand_in(tmp, latency):
    """A replacement for the plugin's run_ssh: the same answers and log as the stand-in script, in-process."""
    lock = threading.Lock()

    def run_ssh(argv, timeout):
        host = argv[argv.index('--') + 1]
        time.sleep(latency)
        with lock:
            with open(os.path.join(tmp, 'calls'), 'a') as log:
                log.write(host + '\n')
        with open(os.path.join(tmp, 'answers', host)) as handle:
            return 0, handle.read(), ''
    return run_ssh


def setup(tmp, sizes, guests, latency):
    """The collection where ansible finds it, the answers of the largest fleet, the stand-in ssh."""
    coll = os.path.join(tmp, 'collections', 'ansible_collections', 'xenfleet')
    os.makedirs(coll)
    os.symlink(ROOT, os.path.join(coll, 'xen'))
    answers = os.path.join(tmp, 'answers')
    os.makedirs(answers)
    captured = captured_guest()
    for index in range(max(sizes)):
        with open(os.path.join(answers, 'd%03d' % index), 'w') as handle:
            handle.write(dom0_answer(index, guests, captured))
    ssh = os.path.join(tmp, 'ssh')
    with open(ssh, 'w') as handle:
        handle.write(STAND_IN_SSH % {'latency': latency, 'log': shlex.quote(os.path.join(tmp, 'calls')),
                                     'answers': shlex.quote(answers)})
    os.chmod(ssh, 0o755)
    return os.path.join(tmp, 'collections'), ssh


def sources(tmp, dom0s, ssh, max_workers, cache=None, keyed_groups=False):
    ini = os.path.join(tmp, 'hosts-%d.ini' % dom0s)
    with open(ini, 'w') as handle:
        handle.write('[xen_hosts]\n' + ''.join('d%03d ansible_user=root\n' % i for i in range(dom0s)))
    config = {'plugin': 'xenfleet.xen.xen', 'dom0_group': 'xen_hosts', 'ssh_executable': ssh, 'jump': 'always',
              'hostname_template': '{{ name }}.{{ xen_dom0 }}'}
    if keyed_groups:
        config['keyed_groups'] = [{'key': 'xen_state', 'prefix': 'state'}]
    if max_workers:
        config['max_workers'] = max_workers
    if cache:
        config.update(cache=True, cache_plugin='jsonfile', cache_connection=cache)
    yml = os.path.join(tmp, 'fleet-%d-%s%s.xen.yml' % (dom0s, max_workers or 'default', '-cache' if cache else ''))
    with open(yml, 'w') as handle:
        json.dump(config, handle)  # JSON is YAML
    return [ini, yml]


def calls(tmp):
    path = os.path.join(tmp, 'calls')
    if not os.path.exists(path):
        return 0
    with open(path) as handle:
        count = len(handle.read().splitlines())
    os.unlink(path)
    return count


PROBE_SECONDS = []


def time_the_ssh_phase(plugin_class):
    """Record how long each build's _probe_all (the ssh phase) takes."""
    probe_all = plugin_class._probe_all

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return probe_all(self, *args, **kwargs)
        finally:
            PROBE_SECONDS.append(time.perf_counter() - started)
    plugin_class._probe_all = timed


def build(tmp, srcs, expected_hosts):
    """One build as ansible-inventory does it: (seconds, seconds of the ssh phase or None, ssh calls)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    del PROBE_SECONDS[:]
    started = time.perf_counter()
    inventory = InventoryManager(loader=DataLoader(), sources=srcs)
    elapsed = time.perf_counter() - started
    hosts = len(inventory.get_groups_dict().get('xen_guests', []))
    if hosts != expected_hosts:
        sys.exit('expected %d guests, the inventory has %d: %s' % (expected_hosts, hosts, srcs))
    return elapsed, (PROBE_SECONDS[0] if PROBE_SECONDS else None), calls(tmp)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--latency', type=float, default=0.05, help='seconds of one ssh round trip (default 0.05)')
    parser.add_argument('--sizes', default='1,10,200', help='numbers of dom0s (default 1,10,200)')
    parser.add_argument('--guests', type=int, default=20, help='guests per dom0 (default 20)')
    parser.add_argument('--max-workers', default='16,default',
                        help='max_workers values to compare, "default" for the plugin\'s default (default: 16,default)')
    parser.add_argument('--repeat', type=int, default=3, help='builds per case; the median is reported (default 3)')
    parser.add_argument('--keyed-groups', action='store_true', help='add keyed_groups by state to the configuration')
    parser.add_argument('--stand-in', choices=('script', 'runner'), default='script',
                        help='ssh replaced by a script on the ssh_executable option (default) or by an in-process runner')
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(',')]
    workers = [None if w == 'default' else int(w) for w in args.max_workers.split(',')]
    with tempfile.TemporaryDirectory() as tmp:
        collections, ssh = setup(tmp, sizes, args.guests, args.latency)
        os.environ['ANSIBLE_INVENTORY_ENABLED'] = 'xenfleet.xen.xen,ini'
        os.environ['ANSIBLE_COLLECTIONS_PATH'] = collections
        os.environ['ANSIBLE_INVENTORY_UNPARSED_FAILED'] = 'true'
        from ansible.plugins.loader import init_plugin_loader
        init_plugin_loader([collections])
        import yaml
        from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd
        from ansible_collections.xenfleet.xen.plugins.inventory import xen
        assert _xl_cmd.INVENTORY_MARK == MARK
        time_the_ssh_phase(xen.InventoryModule)
        if args.stand_in == 'runner':
            xen.run_ssh = runner_stand_in(tmp, args.latency)
        default_workers = yaml.safe_load(xen.DOCUMENTATION)['options']['max_workers']['default']
        import ansible
        print('inventory plugin xenfleet.xen.xen: %d guests per dom0, ssh latency %.0f ms, ssh stand-in: %s, median of %d '
              'builds, ansible-core %s, Python %s, %d CPUs%s'
              % (args.guests, args.latency * 1000, args.stand_in, args.repeat, ansible.__version__, sys.version.split()[0],
                 os.cpu_count(), ', keyed_groups by state' if args.keyed_groups else ''))
        print('%6s %7s %7s %5s | %8s %6s | %8s %6s %8s | %14s' % (
            'dom0s', 'workers', 'guests', 'ssh', 'build s', 'x one', 'ssh s', 'x one', 'bound s', 'rest ms/guest'))
        summary = []
        for max_workers in workers:
            effective = max_workers or default_workers
            base = None
            for dom0s in sizes:
                runs = [build(tmp, sources(tmp, dom0s, ssh, max_workers, keyed_groups=args.keyed_groups), dom0s * args.guests)
                        for _run in range(args.repeat)]
                total = statistics.median(r[0] for r in runs)
                probe = statistics.median(r[1] for r in runs)
                base = base or (total, probe)
                rest = (total - probe) / (dom0s * args.guests) * 1000
                print('%6d %7d %7d %5d | %8.3f %6.2f | %8.3f %6.2f %8.3f | %14.3f' % (
                    dom0s, effective, dom0s * args.guests, runs[-1][2], total, total / base[0], probe, probe / base[1],
                    math.ceil(dom0s / float(effective)) * args.latency, rest))
                summary.append((dom0s, effective, total / base[0], probe / base[1]))
        dom0s = max(sizes)
        srcs = sources(tmp, dom0s, ssh, None, cache=os.path.join(tmp, 'cache'), keyed_groups=args.keyed_groups)
        cold, _probe, cold_calls = build(tmp, srcs, dom0s * args.guests)
        warm, warm_probe, warm_calls = build(tmp, srcs, dom0s * args.guests)
        print('cache (jsonfile), %d dom0s: cold build %.3f s with %d ssh calls; warm build %.3f s with %d ssh calls%s'
              % (dom0s, cold, cold_calls, warm, warm_calls, '' if warm_probe is None else ' (and a probe phase!)'))
        if warm_calls or warm_probe is not None:
            sys.exit('the warm build asked the dom0s')
        if len(sizes) > 1:
            for dom0s, effective, total_ratio, probe_ratio in summary:
                if dom0s == max(sizes):
                    print('%d dom0s, max_workers %d: the whole build %.1fx one dom0, its ssh phase %.1fx (goal: about 5x or less)'
                          % (dom0s, effective, total_ratio, probe_ratio))


if __name__ == '__main__':
    main()
