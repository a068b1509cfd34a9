# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guests role, run by the real ansible-core on localhost against a stand-in dom0, both ways: all guests in one
xen_domains task (xen_guests_one_call: true) and one xen_domain task per guest (false). Both must leave the same files
and register the same xen_guests_result (per guest: name and changed), in a real run and in check mode with diff.

The stand-in dom0: xl is a script that prints captured output of real Xen (tests/unit/fixtures/xen-4.17.5-nested-tcg:
`xl list -l`, `xl list` with pv1 and pvh1 running, `xl info`, `xl -N create`), unchanged. The modules xen_domain,
xen_domains and xen_disk (check mode only) are the collection's own, copied into a collection tree beside the real one
with three lines before main(): the dom0's two
host files (/sys/hypervisor/type, /proc/xen/capabilities) answered as a dom0's, every guest file said to exist (the
kernel check), the host lock in the test's directory. The real lab runs the role in scenarios guests and provision."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shlex
import subprocess
import sys

import pytest

from ansible_collections.xenfleet.xen.tests.unit.playbook_harness import ansible_playbook, quiet_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURE = os.path.join(ROOT, 'tests', 'unit', 'fixtures', 'xen-4.17.5-nested-tcg')
STAND_INS = ('xen_domain.py', 'xen_domains.py', 'xen_disk.py')

STAND_IN_XL = '''#!/bin/sh
# stand-in for xl: captured answers of real Xen 4.17.5 ({capture})
case "$*" in
    "list -l") exec cat {capture}/xl_list_l_three_guests.stdout ;;
    "list") exec cat {capture}/xl_list_three_guests.stdout ;;
    "info") exec cat {capture}/xl_info.stdout ;;
    "-N create "*) exec cat {capture}/create_dryrun_pv.stdout ;;
    *) echo "stand-in xl: not captured: $*" >&2; exit 1 ;;
esac
'''

PATCH = '''
# TEST STAND-IN (tests/unit/test_guests_role_one_call.py): a dom0's host files, guest files said to exist, the test's lock
from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain as _test_converge, _xl as _test_xl
_test_xl._read_file = {{'/sys/hypervisor/type': 'xen\\n', '/proc/xen/capabilities': 'control_d\\n'}}.get
_test_converge.Converger.path_exists = staticmethod(lambda path: True)
_test_xl.DEFAULT_LOCK_PATH = {lock!r}

'''

# pv1 and pvh1 as they run in the capture (see tests/unit/plugins/modules/test_xen_domains.py), and a new guest
PV1 = {'name': 'pv1', 'state': 'running', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4,
       'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet'}
PVH1 = {'name': 'pvh1', 'state': 'running', 'type': 'pvh', 'memory': 128, 'vcpus': 1, 'maxvcpus': 2,
        'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0'}
NEW = dict(PV1, name='pvnew', state='present')

PLAYBOOK = '''
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: xenfleet.xen.guests
    - ansible.builtin.copy:
        content: "{{ {'result': xen_guests_result, 'converged': xen_guests_converged | default(none)} | to_json }}"
        dest: "{{ report }}"
        mode: "0644"
      check_mode: false
'''


def overlay(tmp, stand_ins=STAND_INS):
    """ansible_collections/xenfleet/xen: this checkout, but for the modules `stand_ins` (patched copies)."""
    coll = os.path.join(tmp, 'collections', 'ansible_collections', 'xenfleet', 'xen')
    os.makedirs(os.path.join(coll, 'plugins', 'modules'))
    for entry in os.listdir(ROOT):
        if entry not in ('plugins', '.git'):
            os.symlink(os.path.join(ROOT, entry), os.path.join(coll, entry))
    for entry in os.listdir(os.path.join(ROOT, 'plugins')):
        if entry != 'modules':
            os.symlink(os.path.join(ROOT, 'plugins', entry), os.path.join(coll, 'plugins', entry))
    modules = os.path.join(ROOT, 'plugins', 'modules')
    for entry in os.listdir(modules):
        target = os.path.join(coll, 'plugins', 'modules', entry)
        if entry not in stand_ins:
            os.symlink(os.path.join(modules, entry), target)
            continue
        with open(os.path.join(modules, entry)) as handle:
            text = handle.read()
        assert text.count('\n\ndef main():') == 1
        with open(target, 'w') as handle:
            handle.write(text.replace('\n\ndef main():', PATCH.format(lock=os.path.join(tmp, 'lock')) + '\ndef main():'))
    return os.path.join(tmp, 'collections')


def render(spec):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(ROOT)))))
    from ansible_collections.xenfleet.xen.plugins.module_utils import _domain
    spec = dict((k, v) for k, v in spec.items() if k != 'state')
    return _domain.render_config(spec)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Four hosts (connection local), each with its own config directory holding pv1's and pvh1's files: one call and
    per guest, each for real and in check mode with diff. Returns host -> (report, config directory)."""
    tmp = str(tmp_path_factory.mktemp('role'))
    collections = overlay(tmp)
    xl = os.path.join(tmp, 'xl')
    with open(xl, 'w') as handle:
        handle.write(STAND_IN_XL.format(capture=shlex.quote(CAPTURE)))
    os.chmod(xl, 0o755)
    hosts = {'one': True, 'each': False, 'one_check': True, 'each_check': False}
    lines = ['[hosts]']
    for host, one_call in sorted(hosts.items()):
        etc = os.path.join(tmp, host, 'etc')
        os.makedirs(os.path.join(etc, 'auto'))
        for spec in (PV1, PVH1):
            with open(os.path.join(etc, spec['name'] + '.cfg'), 'w') as handle:
                handle.write(render(spec))
        host_vars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                     'report': os.path.join(tmp, host + '.json'), 'xen_guests_one_call': one_call,
                     'xen_guests_config_dir': etc, 'xen_guests_autostart_dir': os.path.join(etc, 'auto'),
                     'xen_guests_defaults': {'xl_path': xl, 'save_dir': os.path.join(tmp, host, 'save')},
                     'xen_guests': [PV1, PVH1, NEW] + ([dict(NEW, name='pvdisk', disks=[
                         {'vdev': 'xvda', 'target': os.path.join(tmp, host, 'pvdisk.img'), 'size': '64M'}])]
                         if host.endswith('_check') else [])}
        os.makedirs(os.path.join(tmp, 'host_vars'), exist_ok=True)
        with open(os.path.join(tmp, 'host_vars', host + '.json'), 'w') as handle:
            json.dump(host_vars, handle)
        lines.append(host)
    with open(os.path.join(tmp, 'hosts.ini'), 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    with open(os.path.join(tmp, 'play.yml'), 'w') as handle:
        handle.write(PLAYBOOK)
    env = quiet_env(ANSIBLE_COLLECTIONS_PATH=collections)
    for limit, extra in (('one,each', []), ('one_check,each_check', ['--check', '--diff'])):
        proc = subprocess.run([ansible_playbook(), '-i', os.path.join(tmp, 'hosts.ini'), '--limit', limit] + extra +
                              [os.path.join(tmp, 'play.yml')], cwd=tmp, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stdout[-6000:]
    found = {}
    for host in hosts:
        with open(os.path.join(tmp, host + '.json')) as handle:
            found[host] = (json.load(handle), os.path.join(tmp, host, 'etc'))
    return found


def per_guest(report):
    return [(r['xen_guests_item']['name'], r['changed']) for r in report['result']['results']]


def test_one_call_converges_every_guest_in_one_task_with_one_read(runs):
    report, etc = runs['one']
    assert per_guest(report) == [('pv1', False), ('pvh1', False), ('pvnew', True)]
    converged = report['converged']
    assert [d['name'] for d in converged['domains']] == ['pv1', 'pvh1', 'pvnew']
    # one read for all three guests, then xl info and one dry run for the new one
    assert converged['xl_calls'] == 4
    assert converged['domains'][2]['applied'] == ['config file created']
    assert os.path.exists(os.path.join(etc, 'pvnew.cfg'))


def same_paths(data):
    """The data with each host's own directory named alike (the runs differ only there)."""
    text = json.dumps(data, sort_keys=True)
    for host in ('one_check', 'each_check', 'one', 'each'):
        text = text.replace('/%s/' % host, '/HOST/')
    return json.loads(text)


# xen_domain's result keys (a loop's item adds invocation, xen_domains' item name; xl_calls differ by design)
RESULT_KEYS = ('changed', 'domain', 'config_file', 'applied', 'pending', 'save_image', 'diff', 'xen_guests_item',
               'skipped')


def comparable(report):
    return same_paths([dict((k, r.get(k)) for k in RESULT_KEYS) for r in report['result']['results']])


def test_one_call_and_one_task_per_guest_give_the_same_results_and_files(runs):
    one, one_etc = runs['one']
    each, each_etc = runs['each']
    assert per_guest(one) == per_guest(each)
    assert each['converged'] is None or each['converged'].get('skipped')
    assert comparable(one) == comparable(each)
    for name in ('pv1', 'pvh1', 'pvnew'):
        with open(os.path.join(one_etc, name + '.cfg')) as a, open(os.path.join(each_etc, name + '.cfg')) as b:
            assert a.read() == b.read()


def test_check_mode_predicts_per_guest_and_changes_nothing(runs):
    one, one_etc = runs['one_check']
    each, each_etc = runs['each_check']
    # pvdisk's disk is still to be made (xen_disk, check mode): its domain is named, not converged, both ways
    assert per_guest(one) == per_guest(each) == [('pv1', False), ('pvh1', False), ('pvnew', True), ('pvdisk', False)]
    assert [r.get('skipped', False) for r in one['result']['results']] == [False, False, False, True]
    assert [r.get('applied') for r in one['result']['results']] == [[], [], ['config file created'], None]
    assert [d['name'] for d in one['converged']['domains']] == ['pv1', 'pvh1', 'pvnew']
    assert not os.path.exists(os.path.join(one_etc, 'pvnew.cfg')) and not os.path.exists(os.path.join(each_etc, 'pvnew.cfg'))
    diff = one['converged']['diff']
    assert len(diff) == 6 and diff[4]['before'] == '' and 'name = "pvnew"' in diff[4]['after']
    assert comparable(one) == comparable(each)
