# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: converging N guests that already match in ONE task (xen_domains, the guests role's path), as a ratio to
ONE `command: true` task, beside N xen_domain tasks (the per-guest path). Goal (issue 22): 20 guests < 2x, 200 < 3x.

  python3 benchmarks/domains/run.py [--guests 20,200] [--per-guest 20] [--rounds 5]
  python3 benchmarks/domains/run.py --inventory LAB_INVENTORY [--host xen1] [--guests 20] [--rounds 3]

Both run ansible-playbook (from PATH, with this checkout as the collection xenfleet.xen) and time, in the same play and
round after round, one `command: true` task, then one no-op xen_domains task per N, then the per-guest path (N
xen_domain tasks, a loop) for --per-guest guests. Only the ratios mean something: each task pays the same connection
and Python start-up. Prints per round and the medians (with the spread), the xl calls of each run, and fails (exit
1) when a task changed something; simulated, also the module's own time (its main() in this process, no task around
it) and the size of its result.

Without --inventory (simulated: no lab, any machine): the play runs on localhost (connection local). The modules are
benchmarks/domains/library/bench_xen_domain[s].py - the collection's own main() of xen_domain / xen_domains, with the
dom0's two host files answered from there and the host lock under /tmp - and xl is a stand-in script (xl_path) that
prints data-shaped captured output: pv1 of tests/unit/fixtures/xen-4.17.5-nested-tcg (its `xl list -l` entry and its
`xl list` row, as real Xen 4.17.5 printed them), copied N times with its name, domid and uuid changed, beside the
captured Domain-0 entry and row; the config files are what xen_domain renders for pv1's declaration under each name.
What this leaves out: the time real xl takes to read N domains (libxl asks each one; for HVM guests their device
model), which the lab figures include.

With --inventory (a lab host from tests/lab; the guest payload at /var/lib/xenlab/guest): N PV guests are created
first (not timed) and removed at the end; the same rounds run against them over SSH. Writes
benchmarks/output/domains[-lab]-<date>.json.
"""

import argparse
import copy
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CAPTURE = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'xen-4.17.5-nested-tcg')
# pv1 as it runs in that capture (the unit tests' PV1: after `xl mem-set pv1 96m` and `xl vcpu-set pv1 2`)
PV1 = {'type': 'pv', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4, 'kernel': '/vmlinuz',
       'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet'}
# the lab's guest payload (benchmarks/domain): 128 MiB, 1 vCPU
LAB_GUEST = {'type': 'pv', 'memory': 128, 'vcpus': 1, 'kernel': '/var/lib/xenlab/guest/vmlinuz',
             'ramdisk': '/var/lib/xenlab/guest/initrd.img', 'cmdline': 'console=hvc0 quiet'}

STAND_IN_XL = r'''#!/bin/sh
# stand-in for xl (benchmarks/domains/run.py): captured answers, data-shaped to %(guests)d guests
case "$*" in
    "list -l") exec cat %(dir)s/list_l.json ;;
    "list") exec cat %(dir)s/list.txt ;;
    *) echo "stand-in xl: not captured: $*" >&2; exit 1 ;;
esac
'''

SIM_PLAY = '''
- name: Timed rounds (simulated dom0 on localhost)
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Rounds
      ansible.builtin.include_tasks: {round}
      loop: "{{{{ range(bench_rounds | int) | list }}}}"
      loop_control:
        loop_var: bench_round

    - name: Results
      ansible.builtin.copy:
        content: "{{{{ bench_results | to_nice_json }}}}\\n"
        dest: "{{{{ bench_output }}}}"
        mode: "0644"
'''


def name(index):
    return 'bench%03d' % index


def read(filename):
    with open(os.path.join(CAPTURE, filename)) as handle:
        return handle.read()


def shaped_answers(guests):
    """`xl list -l` and `xl list` of a dom0 running `guests` copies of the captured pv1 (and the captured Domain-0)."""
    entries = json.loads(read('xl_list_l_three_guests.stdout'))
    rows = read('xl_list_three_guests.stdout').splitlines()
    pv1 = [e for e in entries if e['config']['c_info'].get('name') == 'pv1'][0]
    dom0 = [e for e in entries if e['domid'] == 0][0]
    header, dom0_row = rows[0], [r for r in rows if r.startswith('Domain-0 ')][0]
    pv1_row = [r for r in rows if r.startswith('pv1 ')][0]
    fields = re.match(r'\A(\S+\s+\d+)(.*)\Z', pv1_row)
    id_end, row_rest = len(fields.group(1)), fields.group(2)
    out_entries, out_rows = [dom0], [header, dom0_row]
    for index in range(guests):
        domid = index + 1
        entry = copy.deepcopy(pv1)
        entry['domid'] = domid
        entry['config']['c_info']['name'] = name(index)
        entry['config']['c_info']['uuid'] = str(uuid.uuid5(uuid.NAMESPACE_DNS, name(index)))
        out_entries.append(entry)
        out_rows.append('%-*s%d%s' % (id_end - len(str(domid)), name(index), domid, row_rest))
    return json.dumps(out_entries, indent=4) + '\n', '\n'.join(out_rows) + '\n'


def simulated_host(tmp, guests):
    """A directory per N: the stand-in xl and its answers, the config files xen_domain renders for the guests."""
    from ansible_collections.xenfleet.xen.plugins.module_utils import _domain
    host = os.path.join(tmp, 'n%d' % guests)
    etc = os.path.join(host, 'etc')
    os.makedirs(os.path.join(etc, 'auto'))
    list_l, rows = shaped_answers(guests)
    with open(os.path.join(host, 'list_l.json'), 'w') as handle:
        handle.write(list_l)
    with open(os.path.join(host, 'list.txt'), 'w') as handle:
        handle.write(rows)
    xl = os.path.join(host, 'xl')
    with open(xl, 'w') as handle:
        handle.write(STAND_IN_XL % {'guests': guests, 'dir': shlex.quote(host)})
    os.chmod(xl, 0o755)
    for index in range(guests):
        with open(os.path.join(etc, name(index) + '.cfg'), 'w') as handle:
            handle.write(_domain.render_config(dict(PV1, name=name(index))))
    return {'guests': guests, 'xl_path': xl, 'config_dir': etc, 'autostart_dir': os.path.join(etc, 'auto')}


def module_seconds(host, size, tmp, repeat=5):
    """xen_domains' own work for `size` matching guests, without Ansible's task around it: its main() in this process
    (the same stand-in xl and files as the play's), median of `repeat` runs."""
    from ansible.module_utils import basic
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.xenfleet.xen.plugins.module_utils import _xl
    from ansible_collections.xenfleet.xen.plugins.modules import xen_domains

    class Done(Exception):
        pass

    def leave(self, **result):
        raise Done(result)

    saved = (basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json, _xl._read_file, _xl.DEFAULT_LOCK_PATH)
    basic.AnsibleModule.exit_json = basic.AnsibleModule.fail_json = leave
    _xl._read_file = {'/sys/hypervisor/type': 'xen\n', '/proc/xen/capabilities': 'control_d\n'}.get
    _xl.DEFAULT_LOCK_PATH = os.path.join(tmp, 'lock')
    args = dict((k, host[k]) for k in ('xl_path', 'config_dir', 'autostart_dir'))
    args['domains'] = [dict(PV1, name=name(i), state='running') for i in range(size)]
    times = []
    result = {}
    try:
        for _run in range(repeat):
            with patch_module_args(args):
                started = time.perf_counter()
                try:
                    xen_domains.main()
                except Done as done:
                    result = done.args[0]
                times.append(time.perf_counter() - started)
            if result.get('failed') or result.get('changed'):
                sys.exit('in-process run of %d guests: %r' % (size, result.get('msg') or 'changed'))
    finally:
        basic.AnsibleModule.exit_json, basic.AnsibleModule.fail_json, _xl._read_file, _xl.DEFAULT_LOCK_PATH = saved
    return statistics.median(times), len(json.dumps(result))


def round_tasks(sizes, per_guest, module, module_one, where):
    """One round: command: true; one xen_domains task per size; the per-guest loop. `where` gives each task's
    run-wide options per size (a dict of strings)."""
    tasks = ['---',
             '- name: Start', '  ansible.builtin.set_fact:', '    bench_t: ["{{ now().timestamp() }}"]',
             '- name: Baseline - one command true', '  ansible.builtin.command: "true"', '  changed_when: false',
             '- name: Time', '  ansible.builtin.set_fact:', '    bench_t: "{{ bench_t + [now().timestamp()] }}"']
    for size in sizes:
        tasks += ['- name: All %d guests in one task' % size, '  %s:' % module,
                  '    domains: "{{ bench_domains_%d }}"' % size]
        tasks += ['    %s: %s' % (k, json.dumps(v)) for k, v in sorted(where(size).items())]
        tasks += ['  register: bench_one_%d' % size,
                  '- name: Time', '  ansible.builtin.set_fact:', '    bench_t: "{{ bench_t + [now().timestamp()] }}"']
    if per_guest:
        tasks += ['- name: The per-guest path, %d tasks' % per_guest, '  %s: "{{ item }}"' % module_one,
                  '  loop: "{{ bench_each_%d }}"' % per_guest, '  loop_control:', '    label: "{{ item.name }}"',
                  '  register: bench_each',
                  '- name: Time', '  ansible.builtin.set_fact:', '    bench_t: "{{ bench_t + [now().timestamp()] }}"']
    record = ["'t': bench_t"]
    record += ["'one_%d': {'changed': bench_one_%d.changed, 'xl_calls': bench_one_%d.xl_calls}" % (s, s, s) for s in sizes]
    if per_guest:
        record += ["'each': {'changed': bench_each.results | selectattr('changed') | list | length, "
                   "'xl_calls': bench_each.results | map(attribute='xl_calls') | sum}"]
    tasks += ['- name: Record the round', '  ansible.builtin.set_fact:',
              '    bench_results: "{{ (bench_results | default([])) + [{%s}] }}"' % ', '.join(record)]
    return '\n'.join(tasks) + '\n'


def summarise(rounds, sizes, per_guest):
    rows = []
    for index, rnd in enumerate(rounds):
        t = [float(x) for x in rnd['t']]
        steps = [b - a for a, b in zip(t, t[1:])]
        base = steps[0]
        row = {'round': index, 'command_true_s': base}
        for pos, size in enumerate(sizes, 1):
            row['one_%d_s' % size] = steps[pos]
            row['one_%d_ratio' % size] = steps[pos] / base
            row['one_%d_xl_calls' % size] = rnd['one_%d' % size]['xl_calls']
            row['one_%d_changed' % size] = rnd['one_%d' % size]['changed']
        if per_guest:
            row['each_%d_s' % per_guest] = steps[len(sizes) + 1]
            row['each_%d_ratio' % per_guest] = steps[len(sizes) + 1] / base
            row['each_%d_xl_calls' % per_guest] = rnd['each']['xl_calls']
            row['each_%d_changed' % per_guest] = rnd['each']['changed']
        rows.append(row)
    return rows


def report(rows, sizes, per_guest, where):
    print('%5s %10s | %s%s' % ('round', 'true s', ' | '.join('%d in one: s, ratio, xl' % s for s in sizes),
                               ' | %d per guest: s, ratio' % per_guest if per_guest else ''))
    for row in rows:
        parts = ['%6.2f %5.2fx %3d' % (row['one_%d_s' % s], row['one_%d_ratio' % s], row['one_%d_xl_calls' % s])
                 for s in sizes]
        each = (' | %7.2f %6.2fx' % (row['each_%d_s' % per_guest], row['each_%d_ratio' % per_guest])) if per_guest else ''
        print('%5d %10.2f | %s%s' % (row['round'], row['command_true_s'], ' | '.join(parts), each))
    summary = {'where': where, 'rounds': rows, 'date': datetime.date.today().isoformat()}
    for size in sizes:
        ratios = sorted(r['one_%d_ratio' % size] for r in rows)
        summary['one_%d_median_ratio' % size] = statistics.median(ratios)
        print('%d guests in one task: median %.2fx one `command: true` (rounds %.2f-%.2f), %d xl calls per run'
              % (size, statistics.median(ratios), ratios[0], ratios[-1], rows[0]['one_%d_xl_calls' % size]))
    if per_guest:
        ratios = sorted(r['each_%d_ratio' % per_guest] for r in rows)
        summary['each_%d_median_ratio' % per_guest] = statistics.median(ratios)
        print('%d guests, one xen_domain task each: median %.2fx one `command: true` (rounds %.2f-%.2f), %d xl calls'
              % (per_guest, statistics.median(ratios), ratios[0], ratios[-1], rows[0]['each_%d_xl_calls' % per_guest]))
    changed = sum(r['one_%d_changed' % s] for r in rows for s in sizes) + (
        sum(r['each_%d_changed' % per_guest] for r in rows) if per_guest else 0)
    summary['changed'] = changed
    print('changed: %d (must be 0)' % changed)
    return summary


def collection(tmp):
    """This checkout where Python and ansible find it: <tmp>/collections/ansible_collections/xenfleet/xen."""
    parent = os.path.join(tmp, 'collections', 'ansible_collections', 'xenfleet')
    os.makedirs(parent)
    os.symlink(ROOT, os.path.join(parent, 'xen'))
    sys.path.insert(0, os.path.join(tmp, 'collections'))
    return os.path.join(tmp, 'collections')


def play(tmp, playbook, extra, inventory=None):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(tmp, 'collections'), ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_RETRY_FILES_ENABLED='false',
               ANSIBLE_LIBRARY=os.path.join(HERE, 'library'))
    extra_file = os.path.join(tmp, 'vars.json')
    with open(extra_file, 'w') as handle:
        json.dump(extra, handle)
    argv = ['ansible-playbook', '-i', inventory or 'localhost,', '-e', '@' + extra_file, playbook]
    if not inventory:
        argv[3:3] = ['-e', 'ansible_python_interpreter=%s' % sys.executable]
    subprocess.run(argv, check=True, env=env)


def simulated(args, sizes, tmp):
    needed = sorted(set(sizes + ([args.per_guest] if args.per_guest else [])))
    hosts = dict((size, simulated_host(tmp, size)) for size in needed)
    extra = {'bench_rounds': args.rounds, 'bench_output': os.path.join(tmp, 'rounds.json')}
    for size, host in hosts.items():
        extra['bench_domains_%d' % size] = [dict(PV1, name=name(i), state='running') for i in range(size)]
    if args.per_guest:
        host = hosts[args.per_guest]
        extra['bench_each_%d' % args.per_guest] = [
            dict(PV1, name=name(i), state='running', xl_path=host['xl_path'], config_dir=host['config_dir'],
                 autostart_dir=host['autostart_dir']) for i in range(args.per_guest)]
    where = dict((size, dict((k, hosts[size][k]) for k in ('xl_path', 'config_dir', 'autostart_dir'))) for size in sizes)
    round_file = os.path.join(tmp, 'round.yml')
    with open(round_file, 'w') as handle:
        handle.write(round_tasks(sizes, args.per_guest, 'bench_xen_domains', 'bench_xen_domain', where.get))
    playbook = os.path.join(tmp, 'bench.yml')
    with open(playbook, 'w') as handle:
        handle.write(SIM_PLAY.format(round=round_file))
    play(tmp, playbook, extra)
    with open(extra['bench_output']) as handle:
        rounds = json.load(handle)
    alone = {}
    for size in sizes:
        seconds, size_bytes = module_seconds(hosts[size], size, tmp)
        alone['module_alone_%d_s' % size] = seconds
        alone['result_%d_bytes' % size] = size_bytes
    return rounds, alone


def lab(args, sizes, tmp):
    most = max(sizes + [args.per_guest or 0])
    extra = {'bench_host': args.host, 'bench_rounds': args.rounds, 'bench_output': os.path.join(tmp, 'rounds.json'),
             'bench_all': [dict(LAB_GUEST, name=name(i), state='running') for i in range(most)],
             'bench_remove': [{'name': name(i), 'state': 'absent', 'force': True} for i in range(most)]}
    for size in sizes:
        extra['bench_domains_%d' % size] = extra['bench_all'][:size]
    if args.per_guest:
        extra['bench_each_%d' % args.per_guest] = extra['bench_all'][:args.per_guest]
    extra['bench_round_file'] = os.path.join(tmp, 'round.yml')
    with open(extra['bench_round_file'], 'w') as handle:
        handle.write(round_tasks(sizes, args.per_guest, 'xenfleet.xen.xen_domains', 'xenfleet.xen.xen_domain',
                                 lambda size: {}))
    play(tmp, os.path.join(HERE, 'domains_bench.yml'), extra, inventory=args.inventory)
    with open(extra['bench_output']) as handle:
        return json.load(handle), {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inventory', help='a lab inventory (tests/lab); without it the dom0 is simulated on localhost')
    parser.add_argument('--host', default='xen1')
    parser.add_argument('--guests', help='numbers of guests converged in one task (default: 20,200 simulated, 20 lab)')
    parser.add_argument('--per-guest', type=int, default=20, help='guests for the per-guest path (0: leave it out)')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--output')
    args = parser.parse_args()
    sizes = [int(n) for n in (args.guests or ('20' if args.inventory else '20,200')).split(',')]
    import ansible
    where = ('lab host %s (%s)' % (args.host, args.inventory) if args.inventory else
             'simulated dom0 on localhost (stand-in xl, captured output of xen-4.17.5-nested-tcg data-shaped)')
    print('xen_domains no-op: %s; ansible-core %s, Python %s, %d CPUs, %d rounds'
          % (where, ansible.__version__, sys.version.split()[0], os.cpu_count(), args.rounds))
    with tempfile.TemporaryDirectory() as tmp:
        collection(tmp)
        rounds, alone = lab(args, sizes, tmp) if args.inventory else simulated(args, sizes, tmp)
    rows = summarise(rounds, sizes, args.per_guest)
    summary = report(rows, sizes, args.per_guest, where)
    for size in sizes if alone else []:
        print('%d guests: the module alone (its main() in this process, median of 5) %.3f s; its result %d bytes of JSON'
              % (size, alone['module_alone_%d_s' % size], alone['result_%d_bytes' % size]))
    summary.update(alone)
    summary['ansible_core'] = ansible.__version__
    output = args.output or os.path.join(HERE, '..', 'output', 'domains%s-%s.json' % (
        '-lab' if args.inventory else '', summary['date']))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, 'w') as handle:
        json.dump(summary, handle, indent=2)
    return 0 if summary['changed'] == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
