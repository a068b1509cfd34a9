# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guests role's boot waves (xen_guests_boot_wave_size).

1. templates/steps.json.j2, rendered by the real ansible-core for each shape of host: which guests the run boots
   (declared running, no domain running, blocked or paused now - xen_domain's ACTIVE states), the waves, the steps
   (the guests not booted first, then each wave; one step without waves and in check mode) and whom each step waits
   for.
2. The role, run by the real ansible-core against a stand-in dom0 whose xl answers with output captured from real
   Xen 4.17.5 (tests/unit/fixtures/xen-4.17.5-nested-tcg: `xl list -l` and `xl list` with pv1 and pvh1, `xl create`
   of each, `xl info`, `xl -N create`) and remembers which of the two guests it has created: its `xl list -l` and
   `xl list` are the captured ones with only Domain-0 and the guests created so far (the captured entries and rows,
   unchanged, the others left out). Every xl call is logged with the module run (process) that made it, so the test
   sees each wave converged by a run of its own, in order, after the guests not booted; the rerun with every guest
   running boots no wave; check mode predicts every guest in one run and creates nothing; a wave whose guest does not
   answer SSH stops the role before the next wave, with every guest of the wait in xen_guests_ssh.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils._converge_domain import ACTIVE
from ansible_collections.xenfleet.xen.tests.unit.test_guests_role_one_call import (
    CAPTURE, PV1, PVH1, STAND_INS, overlay)
from ansible_collections.xenfleet.xen.tests.unit.playbook_harness import ansible_playbook, quiet_env, render_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS_TEMPLATE = os.path.join(ROOT, 'roles', 'guests', 'templates', 'steps.json.j2')
SKIPPED = {'skipped': True, 'changed': False}
# Every state xen_domain_info reports (_xl_parse.state_from_flags).
STATES = ('running', 'blocked', 'paused', 'shutdown', 'crashed', 'dying')


def guest(name, state='running', address=None, serial=None):
    domain = {'name': name} if serial is None else {'name': name, 'serial': serial}
    return {'name': name, 'state': state, 'address': address, 'domain': domain}


def host(guests, size, live=None, checking=False, console_dir='/var/log/xen/console'):
    return {'xen_guests_plan': {'guests': guests}, 'xen_guests_boot_wave_size': size,
            '__xen_guests_checking': checking, 'xen_guests_console_log_dir': console_dir,
            '__xen_guests_live': SKIPPED if live is None else {'domains': [{'name': n, 'state': s} for n, s in live]}}


FIVE = [guest('pb01', address='192.0.2.41'), guest('old', state='absent'), guest('pb02', address='192.0.2.42'),
        guest('pb03', address='192.0.2.43'), guest('tmpl', state='present'), guest('pb04', address='192.0.2.44'),
        guest('pb05')]
BY_STATE = [guest('g-%s' % state, address='192.0.2.%d' % (50 + i)) for i, state in enumerate(STATES)] + [
    guest('g-none', address='192.0.2.60'), guest('p-paused', state='paused'), guest('p-present', state='present')]

CASES = {
    'no_waves': host([guest('a', address='192.0.2.1'), guest('b'), guest('c', state='present', address='192.0.2.3')], 0),
    'fresh': host(FIVE, 2, live=[]),
    'fresh_check': host(FIVE, 2, live=[], checking=True),
    'big_wave': host(FIVE, 10, live=[]),
    'by_state': host(BY_STATE, 2, live=[('g-%s' % s, s) for s in STATES]),
    'rerun': host(FIVE, 2, live=[('pb01', 'running'), ('pb02', 'blocked'), ('pb03', 'running'), ('pb04', 'blocked'),
                                 ('pb05', 'running'), ('tmpl', 'running')]),
    'all_boot': host([guest('a'), guest('b', address='192.0.2.2')], 1, live=[]),
    'none_declared_running': host([guest('a', state='present'), guest('b', state='absent')], 2),
    'consoles': host([guest('hvm1', address='192.0.2.22', serial='file:/var/log/xen/console/guest-hvm1.log'),
                      guest('hvm2', address='192.0.2.23', serial='pty'), guest('pvh1', address='192.0.2.21')], 0,
                     console_dir='/srv/consoles'),
    'no_consoles': host([guest('hvm1', address='192.0.2.22', serial='file:/tmp/hvm1.log'),
                         guest('pvh1', address='192.0.2.21')], 0, console_dir=''),
}

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    cases: {cases}
  tasks:
    - ansible.builtin.set_fact:
        orders: "{{{{ orders | default({{}}) | combine({{item.key: lookup('ansible.builtin.template', '{template}',
                  template_vars=item.value) | from_json}}) }}}}"
      loop: "{{{{ cases | dict2items }}}}"
    - ansible.builtin.copy:
        content: "{{{{ orders | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0644"
"""


@pytest.fixture(scope='module')
def orders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('steps')
    return render_json(tmp, PLAYBOOK.format(cases=json.dumps(CASES), template=STEPS_TEMPLATE))


def steps(order):
    return [(s['wave'], s['guests']) for s in order['steps']]


def ssh(order):
    return [(s['wave'], [g['name'] for g in s['ssh']]) for s in order['steps']]


def test_without_a_wave_size_every_guest_is_one_step(orders):
    order = orders['no_waves']
    assert order['waves'] == [] and steps(order) == [(0, ['a', 'b', 'c'])]
    # the step waits for its guests declared running that have an address
    assert order['steps'][0]['ssh'] == [{'name': 'a', 'address': '192.0.2.1', 'console_log': '/var/log/xen/console/guest-a.log'}]


def test_each_guest_waited_for_names_its_console_log(orders):
    """A failed wait shows the last lines of each late guest's console: its `serial: file:` file, else xenconsoled's
    guest-NAME.log in xen_guests_console_log_dir (a serial that is no file does not count); none when it is empty
    (though a serial file still counts)."""
    assert orders['consoles']['steps'][0]['ssh'] == [
        {'name': 'hvm1', 'address': '192.0.2.22', 'console_log': '/var/log/xen/console/guest-hvm1.log'},
        {'name': 'hvm2', 'address': '192.0.2.23', 'console_log': '/srv/consoles/guest-hvm2.log'},
        {'name': 'pvh1', 'address': '192.0.2.21', 'console_log': '/srv/consoles/guest-pvh1.log'}]
    assert orders['no_consoles']['steps'][0]['ssh'] == [
        {'name': 'hvm1', 'address': '192.0.2.22', 'console_log': '/tmp/hvm1.log'},
        {'name': 'pvh1', 'address': '192.0.2.21'}]


def test_guests_to_boot_come_in_waves_after_the_others(orders):
    order = orders['fresh']
    assert order['waves'] == [['pb01', 'pb02'], ['pb03', 'pb04'], ['pb05']]
    assert steps(order) == [(0, ['old', 'tmpl']), (1, ['pb01', 'pb02']), (2, ['pb03', 'pb04']), (3, ['pb05'])]
    # each wave waits for its own guests with an address (pb05 has none: its wave ends when its domain runs)
    assert ssh(order) == [(0, []), (1, ['pb01', 'pb02']), (2, ['pb03', 'pb04']), (3, [])]
    assert order['steps'][1]['ssh'] == [{'name': 'pb01', 'address': '192.0.2.41', 'console_log': '/var/log/xen/console/guest-pb01.log'},
                                        {'name': 'pb02', 'address': '192.0.2.42', 'console_log': '/var/log/xen/console/guest-pb02.log'}]


def test_a_wave_as_large_as_the_guests_is_one_wave(orders):
    order = orders['big_wave']
    assert order['waves'] == [['pb01', 'pb02', 'pb03', 'pb04', 'pb05']]
    assert steps(order) == [(0, ['old', 'tmpl']), (1, ['pb01', 'pb02', 'pb03', 'pb04', 'pb05'])]


def test_check_mode_converges_every_guest_in_one_step_and_still_names_the_waves(orders):
    order = orders['fresh_check']
    assert order['waves'] == orders['fresh']['waves']
    assert steps(order) == [(0, [g['name'] for g in FIVE])]


def test_only_guests_whose_domain_does_not_run_are_booted(orders):
    """A domain running, blocked or paused (xen_domain's ACTIVE states: a paused one is only unpaused) is not booted;
    one shut down, crashed or dying is (xen_domain destroys it, or does not see it, and creates the guest), and so is
    a guest without a domain. Guests declared paused or present are never booted."""
    order = orders['by_state']
    booted = ['g-%s' % s for s in STATES if s not in ACTIVE] + ['g-none']
    assert booted == ['g-shutdown', 'g-crashed', 'g-dying', 'g-none']
    assert order['waves'] == [booted[:2], booted[2:]]
    assert steps(order)[0] == (0, ['g-%s' % s for s in ACTIVE if s in STATES] + ['p-paused', 'p-present'])


def test_a_rerun_with_every_guest_running_boots_no_wave(orders):
    order = orders['rerun']
    assert order['waves'] == [] and steps(order) == [(0, [g['name'] for g in FIVE])]


def test_when_every_guest_is_booted_there_is_no_step_zero(orders):
    assert steps(orders['all_boot']) == [(1, ['a']), (2, ['b'])]
    assert ssh(orders['all_boot']) == [(1, []), (2, ['b'])]


def test_no_guest_declared_running_needs_no_read_and_boots_nothing(orders):
    order = orders['none_declared_running']
    assert order['waves'] == [] and steps(order) == [(0, ['a', 'b'])]


def test_every_step_names_its_host(orders):
    """ansible-core merges equal iterations of an include_tasks loop of several hosts into one included file, which
    reorders a host's steps when another host has an equal step elsewhere (the role run below shows it without this):
    the host in each step keeps them apart."""
    assert set(s['host'] for order in orders.values() for s in order['steps']) == {'localhost'}


# -- the role against a stand-in dom0 -------------------------------------------------------------------------------

STAND_IN_XL = '''#!{python}
# Stand-in for xl (tests/unit/test_guests_role_boot_waves.py): captured answers of real Xen 4.17.5 ({capture}); the
# domains listed are Domain-0 and the guests this stand-in has created (its state file), the captured entries and
# rows of the others left out. Each call is logged with the process id of the module run that made it (Linux /proc).
import json, os, sys
CAPTURE = {capture!r}
STATE = {state!r}
LOG = {log!r}
args = sys.argv[1:]


def module_run():
    # the module's process: xl's parent, or the parent of the `timeout` that runs xl
    pid = os.getppid()
    with open('/proc/%d/comm' % pid) as comm:
        if comm.read().strip() != 'timeout':
            return pid
    with open('/proc/%d/stat' % pid) as stat:
        return int(stat.read().rsplit(')', 1)[1].split()[1])


with open(LOG, 'a') as log:
    log.write(json.dumps([module_run()] + args) + '\\n')
created = open(STATE).read().split() if os.path.exists(STATE) else []
shown = ['Domain-0'] + created


def cap(name):
    out = open(os.path.join(CAPTURE, name + '.stdout')).read()
    err = open(os.path.join(CAPTURE, name + '.stderr')).read()
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.exit(int(open(os.path.join(CAPTURE, name + '.rc')).read()))


def rows(names):
    lines = open(os.path.join(CAPTURE, 'xl_list_three_guests.stdout')).read().splitlines(True)
    sys.stdout.write(''.join([lines[0]] + [line for line in lines[1:] if line.split()[0] in names]))
    sys.exit(0)


if args == ['list', '-l']:
    entries = json.load(open(os.path.join(CAPTURE, 'xl_list_l_three_guests.stdout')))
    sys.stdout.write(json.dumps([e for e in entries if e['config']['c_info']['name'] in shown], indent=4) + '\\n')
    sys.exit(0)
if args == ['list']:
    rows(shown)
if len(args) == 2 and args[0] == 'list' and args[1] in created:
    rows([args[1]])
if args == ['info']:
    cap('xl_info')
if args[:2] == ['-N', 'create']:
    cap('create_dryrun_pv')
if len(args) == 2 and args[0] == 'create':
    name = os.path.basename(args[1])[:-len('.cfg')]
    if name in ('pv1', 'pvh1') and name not in created:
        with open(STATE, 'a') as state:
            state.write(name + '\\n')
        cap({{'pv1': 'xl_create_pv', 'pvh1': 'xl_create_pvh'}}[name])
sys.stderr.write('stand-in xl: not captured: %s\\n' % ' '.join(args))
sys.exit(1)
'''

ROLE_PLAYBOOK = '''
- hosts: all
  gather_facts: false
  tasks:
    - name: The role, its failure kept
      block:
        - ansible.builtin.include_role:
            name: xenfleet.xen.guests
      rescue:
        - ansible.builtin.set_fact:
            failure: "{{ ansible_failed_result.msg }}"
    - ansible.builtin.copy:
        content: >-
          {{ {'result': xen_guests_result | default(none), 'ssh': xen_guests_ssh | default(none),
              'order': __xen_guests_order | default(none), 'failure': failure | default(none)} | to_json }}
        dest: "{{ report }}-{{ run }}.json"
        mode: "0644"
      check_mode: false
'''

# pvnew: a config file only (state present) - converged before the waves
NEW = dict(PV1, name='pvnew', state='present')
# A TEST-NET-1 address (RFC 5737): nothing answers there
NOWHERE = '192.0.2.1'


@pytest.fixture(scope='module')
def role_runs(tmp_path_factory):
    """Hosts (connection local), each with its own stand-in xl and config directory, dom0 only at first:
    waves (one xen_domains run per step), each (one xen_domain task per guest), check (--check --diff), ssh (pv1 has an
    address where nothing answers). Run A: waves, each, ssh; run B: check; run C: waves and each again."""
    tmp = str(tmp_path_factory.mktemp('waves'))
    collections = overlay(tmp, stand_ins=STAND_INS + ('xen_domain_info.py',))
    hosts = {
        'waves': {'xen_guests_one_call': True, 'xen_guests': [PV1, NEW, PVH1]},
        'each': {'xen_guests_one_call': False, 'xen_guests': [PV1, NEW, PVH1]},
        'check': {'xen_guests_one_call': True, 'xen_guests': [PV1, NEW, PVH1]},
        'ssh': {'xen_guests_one_call': True, 'xen_guests': [dict(PV1, address=NOWHERE), PVH1],
                'xen_guests_wait_ssh': True, 'xen_guests_wait_timeout': 1},
    }
    lines = ['[hosts]']
    for name, role_vars in sorted(hosts.items()):
        base = os.path.join(tmp, name)
        etc = os.path.join(base, 'etc')
        os.makedirs(os.path.join(etc, 'auto'))
        xl = os.path.join(base, 'xl')
        with open(xl, 'w') as handle:
            handle.write(STAND_IN_XL.format(python=sys.executable, capture=CAPTURE, state=os.path.join(base, 'created'),
                                            log=os.path.join(base, 'xl.log')))
        os.chmod(xl, 0o755)
        host_vars = dict(role_vars, ansible_connection='local', ansible_python_interpreter=sys.executable,
                         report=os.path.join(base, 'report'), xen_guests_boot_wave_size=1,
                         xen_guests_config_dir=etc, xen_guests_autostart_dir=os.path.join(etc, 'auto'),
                         xen_guests_defaults={'xl_path': xl, 'save_dir': os.path.join(base, 'save')})
        os.makedirs(os.path.join(tmp, 'host_vars'), exist_ok=True)
        with open(os.path.join(tmp, 'host_vars', name + '.json'), 'w') as handle:
            json.dump(host_vars, handle)
        lines.append(name)
    with open(os.path.join(tmp, 'hosts.ini'), 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    with open(os.path.join(tmp, 'play.yml'), 'w') as handle:
        handle.write(ROLE_PLAYBOOK)
    env = quiet_env(ANSIBLE_COLLECTIONS_PATH=collections)
    logs = {}
    for run, limit, extra in (('A', 'waves,each,ssh', []), ('B', 'check', ['--check', '--diff']), ('C', 'waves,each', [])):
        for name in limit.split(','):   # each run's calls apart
            log = os.path.join(tmp, name, 'xl.log')
            if os.path.exists(log):
                os.rename(log, log + '.' + logs.setdefault(name, run))
            logs[name] = run
        proc = subprocess.run([ansible_playbook(), '-i', os.path.join(tmp, 'hosts.ini'), '--limit', limit, '-e', 'run=' + run]
                              + extra + [os.path.join(tmp, 'play.yml')], cwd=tmp, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=900, check=False)
        assert proc.returncode == 0, proc.stdout[-8000:]
    return tmp


def report(tmp, name, run):
    with open(os.path.join(tmp, name, 'report-%s.json' % run)) as handle:
        return json.load(handle)


def calls(tmp, name, run):
    """The xl calls of one playbook run on one host: [(module run number, argv)], the module runs numbered in order."""
    path = os.path.join(tmp, name, 'xl.log')
    path = path + '.' + run if os.path.exists(path + '.' + run) else path
    runs, found = {}, []
    with open(path) as handle:
        for line in handle:
            entry = json.loads(line)
            found.append((runs.setdefault(entry[0], len(runs)), entry[1:]))
    return found


def creates(found):
    """(module run, guest) of each `xl create FILE`, in order."""
    return [(run, os.path.basename(argv[1])[:-len('.cfg')]) for run, argv in found if argv[0] == 'create']


def per_guest(rep):
    return [(r['xen_guests_item']['name'], r['changed'], r.get('applied')) for r in rep['result']['results']]


def test_each_wave_is_converged_by_a_run_of_its_own_after_the_guests_not_booted(role_runs):
    found = calls(role_runs, 'waves', 'A')
    # run 0: xen_domain_info (which guests run); run 1: pvnew (not booted); runs 2 and 3: the waves
    assert found[:2] == [(0, ['list', '-l']), (0, ['list'])]
    assert creates(found) == [(2, 'pv1'), (3, 'pvh1')]
    # pvnew: the domains read, the host's facts and xl's dry run of its new file (a temporary copy)
    assert [argv[:2] for run, argv in found if run == 1] == [['list', '-l'], ['list'], ['info'], ['-N', 'create']]
    rep = report(role_runs, 'waves', 'A')
    assert [(s['wave'], s['guests']) for s in rep['order']['steps']] == [(0, ['pvnew']), (1, ['pv1']), (2, ['pvh1'])]
    # xen_guests_result in the order of xen_guests, each guest's result from its own step
    assert [(n, c) for n, c, _a in per_guest(rep)] == [('pv1', True), ('pvnew', True), ('pvh1', True)]
    assert [a[-1] for _n, _c, a in per_guest(rep)] == ['create', 'config file created', 'create']
    assert rep['ssh'] == [] and rep['failure'] is None


def test_one_task_per_guest_boots_in_the_same_waves_with_the_same_results(role_runs):
    found = calls(role_runs, 'each', 'A')
    # xen_domain_info, then one run per guest: pvnew (step 0), pv1 (wave 1), pvh1 (wave 2)
    assert [run for run, _name in creates(found)] == [2, 3] and [name for _run, name in creates(found)] == ['pv1', 'pvh1']
    assert sorted(set(run for run, _argv in found)) == [0, 1, 2, 3]
    waves, each = report(role_runs, 'waves', 'A'), report(role_runs, 'each', 'A')
    assert per_guest(each) == per_guest(waves)
    assert each['order']['waves'] == waves['order']['waves']
    assert [(s['wave'], s['guests']) for s in each['order']['steps']] == [(s['wave'], s['guests']) for s in waves['order']['steps']]


def test_the_rerun_with_every_guest_running_boots_no_wave_and_changes_nothing(role_runs):
    for name in ('waves', 'each'):
        rep = report(role_runs, name, 'C')
        assert rep['order']['waves'] == [] and [s['wave'] for s in rep['order']['steps']] == [0]
        assert [(n, c) for n, c, _a in per_guest(rep)] == [('pv1', False), ('pvnew', False), ('pvh1', False)]
        assert creates(calls(role_runs, name, 'C')) == []


def test_check_mode_predicts_every_guest_in_one_run_and_creates_nothing(role_runs):
    found = calls(role_runs, 'check', 'B')
    assert creates(found) == []
    # xen_domain_info, then one xen_domains run for all three guests
    assert sorted(set(run for run, _argv in found)) == [0, 1]
    assert [run for run, argv in found if argv[0] == '-N'] == [1, 1, 1]
    rep = report(role_runs, 'check', 'B')
    assert rep['order']['waves'] == [['pv1'], ['pvh1']]
    assert [(s['wave'], s['guests']) for s in rep['order']['steps']] == [(0, ['pv1', 'pvnew', 'pvh1'])]
    # the same prediction per guest as the real run made
    assert per_guest(rep) == per_guest(report(role_runs, 'waves', 'A'))


def test_a_wave_that_does_not_answer_ssh_stops_the_role_before_the_next_wave(role_runs):
    # xen_domain_info, then wave 1 (pv1); wave 2 (pvh1) never came
    assert creates(calls(role_runs, 'ssh', 'A')) == [(1, 'pv1')]
    rep = report(role_runs, 'ssh', 'A')
    assert rep['failure'].startswith('1 of 1 guest did not answer SSH within 1 s: pv1 at %s:22 (waited ' % NOWHERE)
    assert rep['failure'].endswith('None answered.')
    (record,) = rep['ssh']
    assert record['name'] == 'pv1' and record['answered'] is False and record['wave'] == 1
    assert record['attempts'] >= 1 and record['error'] and record['wait_began'] > 0
