# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.module_utils import basic

from ansible_collections.xenfleet.xen.plugins.module_utils import _files, _lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils._xl_parse import parse_list_long
from ansible_collections.xenfleet.xen.plugins.modules import xen_vcpu
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture, fixture_text

# Captured state: pv1 has maxvcpus 4, 2 online, vCPU 0 hard-pinned to CPU 1; the host has 2 CPUs.
READ = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]
INFO = [(['info'], 'xl_info')]
VCPU_LIST = [(['vcpu-list', 'pv1'], 'xl_vcpu_list')]


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setattr(_lifecycle.time, 'sleep', lambda s: None)
    cfg = tmp_path / 'pv1.cfg'
    cfg.write_text(fixture_text('pv-busybox.cfg'))

    def run(args, steps):
        full = dict(name='pv1', config_dir=str(tmp_path))
        full.update(args)
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_vcpu.main, full, script)
        return result, failed, script

    run.cfg = cfg
    return run


def test_live_matches_but_file_does_not(env):
    # online/pins are already right in Xen, but the file says vcpus = 1 and has no cpus:
    # persisting them is the only change, and needs no xl write
    args = {'online': 2, 'pin': [{'vcpu': '0', 'hard': '1'}], '_ansible_diff': True}
    result, failed, script = env(args, READ + INFO + VCPU_LIST)
    assert not failed, result
    assert result['changed'] is True and result['applied'] == ['config file updated']
    text = env.cfg.read_text()
    assert 'vcpus = 2\n' in text and 'cpus = [\n    "1",\n    "all",\n    "all",\n    "all",\n]\n' in text
    assert result['pins'][0] == {'vcpu': 0, 'hard': '1', 'soft': 'all'}
    # second run: nothing left to do
    result, failed, script = env(args, READ + INFO + VCPU_LIST)
    assert not failed and result['changed'] is False and result['applied'] == []


def test_check_mode_online_with_overcommit(env):
    before = env.cfg.read_text()
    result, failed, script = env({'online': 3, 'allow_overcommit': True, '_ansible_check_mode': True,
                                  '_ansible_diff': True}, READ + INFO)
    assert not failed, result
    assert result['applied'] == ['vcpu-set --ignore-host pv1 3', 'config file updated']
    assert result['diff'][0]['before'] == {'online': 2} and result['diff'][0]['after'] == {'online': 3}
    assert 'vcpus = 3' in result['diff'][1]['after'] and 'maxvcpus = 4' in result['diff'][1]['after']
    assert env.cfg.read_text() == before


def test_online_beyond_maxvcpus(env):
    result, failed, script = env({'online': 5}, READ)
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith('online: 5 is more than maxvcpus (4) of pv1')
    assert 'xenfleet.xen.xen_domain' in result['msg']


def test_overcommit_refused_by_default(env):
    result, failed, script = env({'online': 3}, READ + INFO)
    assert failed and 'more than the 2 physical CPUs' in result['msg'] and 'allow_overcommit' in result['msg']
    assert ['vcpu-set', 'pv1', '3'] not in script.seen


def test_vcpu_set_waits_for_guest_then_explains(env, monkeypatch):
    # the captured list still shows 2 online vCPUs after the vcpu-set: the guest did not online the 3rd
    times = iter(range(0, 1000, 10))
    monkeypatch.setattr(_lifecycle.time, 'time', lambda: next(times))
    steps = READ + INFO + [(['vcpu-set', '--ignore-host', 'pv1', '3'], 'xl_vcpu_set_pv_2')] + \
        [(['list', 'pv1'], 'xl_list_three_guests')] * 3
    result, failed, script = env({'online': 3, 'allow_overcommit': True, 'vcpu_timeout': 30}, steps)
    assert failed and result['error'] == 'timeout'
    assert 'did not online them' in result['msg'] and 'CONFIG_HOTPLUG_CPU' in result['msg']
    assert env.cfg.read_text() == fixture_text('pv-busybox.cfg')  # nothing persisted after a failure


def restarted_list():
    # `xl list` from another capture session, where pv1 is domid 2 (domid 1 in the default set): what
    # `xl list pv1` shows after the guest rebooted or crashed and Xen started it again
    cap = Capture('xl_list_three_guests', 'xen-4.17.5-lab-tcg')
    assert any(line.split()[:2] == ['pv1', '2'] for line in cap.stdout.splitlines())
    return (cap.rc, cap.stdout, cap.stderr)


def test_guest_restarted_during_vcpu_set_is_reported_as_such(env):
    steps = READ + INFO + [(['vcpu-set', '--ignore-host', 'pv1', '3'], 'xl_vcpu_set_pv_2'),
                           (['list', 'pv1'], restarted_list())]
    result, failed, script = env({'online': 3, 'allow_overcommit': True, 'vcpu_timeout': 30}, steps)
    assert failed and result['error'] == 'guest_restarted', result
    assert 'pv1 restarted while' in result['msg'] and 'domid 1 before; it runs again as domid 2' in result['msg']
    assert 'CONFIG_HOTPLUG_CPU' not in result['msg']
    assert env.cfg.read_text() == fixture_text('pv-busybox.cfg')


def test_guest_gone_during_vcpu_set_is_reported_as_restarted(env):
    gone = Capture('err_list_unknown_name')
    steps = READ + INFO + [(['vcpu-set', '--ignore-host', 'pv1', '3'], 'xl_vcpu_set_pv_2'),
                           (['list', 'pv1'], (gone.rc, gone.stdout, gone.stderr))]
    result, failed, script = env({'online': 3, 'allow_overcommit': True, 'vcpu_timeout': 30}, steps)
    assert failed and result['error'] == 'guest_restarted', result
    assert 'domid 1 before; it is gone' in result['msg']


def test_pin_change_is_verified(env):
    steps = READ + INFO + VCPU_LIST + [(['vcpu-pin', 'pv1', '1', '0', '-'], (0, '', ''))] + VCPU_LIST
    result, failed, script = env({'pin': [{'vcpu': '1', 'hard': '0'}]}, steps)
    assert failed and 'xl vcpu-pin did not apply' in result['msg']


def test_pin_check_mode_plan(env):
    steps = READ + INFO + VCPU_LIST
    result, failed, script = env({'pin': [{'vcpu': 'all', 'soft': '0'}, {'vcpu': '0', 'hard': '1'}],
                                  '_ansible_check_mode': True}, steps)
    assert not failed, result
    assert result['applied'][:4] == ['vcpu-pin pv1 0 1 0', 'vcpu-pin pv1 1 - 0', 'vcpu-pin pv1 2 - 0',
                                     'vcpu-pin pv1 3 - 0']
    assert result['applied'][4] == 'config file updated'


# what each refusal needs to read first: nothing (syntax), the domain (its maxvcpus), the host's CPUs
@pytest.mark.parametrize('pin,fragment,steps', [
    ([{'vcpu': '0', 'hard': '2'}], 'CPU 2 does not exist on this host', READ + INFO + VCPU_LIST),
    ([{'vcpu': '7', 'hard': '1'}], 'not "all" or a vCPU index 0-3', READ + INFO),
    # an item without any affinity needs no host facts: refused before anything runs (it used to be refused
    # after `xl list -l`, `xl list` and `xl info`)
    ([{'vcpu': '0'}], 'set hard, soft or both', []),
    ([{'vcpu': '0', 'hard': '^0-1'}], 'selects no CPU', READ + INFO + VCPU_LIST),
])
def test_bad_pins(env, pin, fragment, steps):
    result, failed, script = env({'pin': pin}, steps)
    assert failed and result['error'] == 'invalid_parameter' and fragment in result['msg']
    assert not any(s[0] == 'vcpu-pin' for s in script.seen)


@pytest.mark.parametrize('pin,start', [
    ([{'hard': 'abc'}], "pin[0].hard: 'abc' is not a CPU list: 'abc' is not a CPU number or range"),
    ([{'vcpu': '1', 'soft': '1-'}], "pin[0].soft: '1-' is not a CPU list: '1-' is not a CPU number or range"),
    ([{'hard': '0'}, {'vcpu': '1', 'hard': '3-1'}], "pin[1].hard: '3-1' is not a CPU list: '3-1' is an empty range"),
    ([{'hard': '0,,1'}], "pin[0].hard: '0,,1' is not a CPU list: it has an empty item"),
    ([{'soft': 'nodes:x'}], "pin[0].soft: 'nodes:x' is not a CPU list: 'x' is not a node number or range"),
    ([{'vcpu': '-1', 'hard': '0'}], "pin[0].vcpu: '-1' is not \"all\" or a vCPU index (0, 1, ...)"),
    ([{'vcpu': 'first', 'hard': '0'}], "pin[0].vcpu: 'first' is not \"all\" or a vCPU index"),
    ([{'vcpu': '1.5', 'soft': '0'}], "pin[0].vcpu: '1.5' is not \"all\" or a vCPU index"),
])
def test_invalid_pin_refused_before_anything_runs(monkeypatch, tmp_path, pin, start):
    # no xl call, and before the "not a Xen host" check: this run's host has none of a dom0's files
    script = XlScript([])
    result, failed = run_module(monkeypatch, xen_vcpu.main, {'name': 'pv1', 'config_dir': str(tmp_path), 'pin': pin},
                                script, files={})
    assert failed and result['error'] == 'invalid_parameter', result
    assert result['msg'].startswith(start), result['msg']
    if 'vcpu:' not in start:
        assert 'Allowed: xl\'s CPU list syntax: "all", a CPU or a range of CPUs' in result['msg']
    assert script.seen == [] and result['xl_calls'] == 0


def test_a_dom0_without_its_files_is_refused_after_validation(monkeypatch, tmp_path):
    # the counterpart of the test above: valid input on that host fails at the host check, not at the input
    script = XlScript([])
    result, failed = run_module(monkeypatch, xen_vcpu.main, {'name': 'pv1', 'config_dir': str(tmp_path),
                                                             'pin': [{'vcpu': '0', 'hard': '0-1,^1'}]},
                                script, files={})
    assert failed and result['error'] == 'not_xen_host', result
    assert result['msg'].startswith('This is not a Xen host: the kernel is not running under the Xen hypervisor'), result['msg']
    assert script.seen == []


def test_weight_check_mode(env):
    result, failed, script = env({'weight': 512, '_ansible_check_mode': True}, READ)
    assert not failed, result
    assert result['applied'] == ['sched-credit2 -d pv1 -w 512', 'config file updated']


def test_weight_not_applied_fails_before_the_file_changes(env):
    # sched-credit2 exits 0 without output; the domain read again still has the old weight (the same capture)
    steps = READ + [(['sched-credit2', '-d', 'pv1', '-w', '512'], (0, '', ''))] + READ
    result, failed, script = env({'weight': 512}, steps)
    assert failed and result['error'] == 'guest_error', result
    assert result['msg'].startswith('`xl sched-credit2 -d pv1 -w 512` did not apply: scheduler parameters now')
    assert env.cfg.read_text() == fixture_text('pv-busybox.cfg')
    assert not [p for p in env.cfg.parent.iterdir() if p.name.endswith('.tmp')]


def test_guest_restarted_during_a_scheduler_change_is_reported_as_such(env):
    # the domain read again after sched-credit2 is another capture session's, where pv1 is domid 2
    lab_tcg = Capture('xl_list_l_three_guests', 'xen-4.17.5-lab-tcg')
    steps = READ + [(['sched-credit2', '-d', 'pv1', '-w', '512'], (0, '', '')),
                    (['list', '-l'], (lab_tcg.rc, lab_tcg.stdout, lab_tcg.stderr)), (['list'], restarted_list())]
    result, failed, script = env({'weight': 512}, steps)
    assert failed and result['error'] == 'guest_restarted', result
    assert result['msg'].startswith('pv1 restarted while its vCPU settings were changed (domid 1 before; it runs '
                                    'again as domid 2)')
    assert env.cfg.read_text() == fixture_text('pv-busybox.cfg')


@pytest.mark.parametrize('args,fragment', [
    ({'weight': 0}, 'weight: must be from 1 to 65535'),
    ({'cap': -1}, 'cap: must be 0'),
    ({'online': 0}, 'online: must be at least 1'),
])
def test_bad_numbers_before_any_call(env, args, fragment):
    result, failed, script = env(args, [])
    assert failed and result['msg'].startswith(fragment) and script.seen == []


def test_unknown_domain(env):
    result, failed, script = env({'name': 'nosuch', 'online': 1}, READ)
    assert failed and result['error'] == 'domain_not_found' and 'not running' in result['msg']


LAB = 'xen-4.17.5-lab-vcpu'


def lab(name):
    cap = Capture(name, LAB)
    return cap.rc, cap.stdout, cap.stderr


def test_soft_affinity_outside_hard_is_warned_about(env, tmp_path, monkeypatch):
    # all captured in the lab: smp1 (PV, maxvcpus 4, 1 online); `xl vcpu-pin smp1 0 1 0` makes libxl
    # warn on stderr and exit 0; Xen keeps soft affinity 0 but ignores it
    (tmp_path / 'smp1.cfg').write_text(fixture_text('pv-busybox.cfg').replace('pv1', 'smp1'))
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    steps = [(['list', '-l'], lab('xl_list_l')), (['list'], lab('xl_list')), (['info'], lab('xl_info')),
             (['vcpu-list', 'smp1'], lab('xl_vcpu_list_smp1')),
             (['vcpu-pin', 'smp1', '0', '1', '0'], lab('xl_vcpu_pin_soft_outside_hard')),
             (['vcpu-list', 'smp1'], lab('xl_vcpu_list_smp1_pinned'))]
    result, failed, script = env({'name': 'smp1', 'pin': [{'vcpu': '0', 'hard': '1', 'soft': '0'}]}, steps)
    assert not failed, result
    assert result['applied'] == ['vcpu-pin smp1 0 1 0', 'config file updated']
    assert result['pins'][0] == {'vcpu': 0, 'hard': '1', 'soft': '0'}
    assert len(warnings) == 1 and 'vCPU 0 of smp1: its soft affinity (0) has no CPU in its hard affinity (1)' in warnings[0]
    assert script.steps == []


# Captured in the lab after `xl vcpu-set smphvm1 2` on an HVM guest (maxvcpus 2) whose kernel had not
# onlined the new vCPU yet, and a later `xl vcpu-set smphvm1 1` (exit 0, changes nothing in QEMU):
# `xl list -l` says avail_vcpus [0, 1], `xl list` says 1 vCPU runs.
HVM_READ = [(['list', '-l'], lab('xl_list_l_with_hvm')), (['list'], lab('xl_list_with_hvm'))]


def test_hvm_online_is_what_runs_not_what_was_requested(env):
    result, failed, script = env({'name': 'smphvm1', 'online': 1, 'persist': False}, HVM_READ)
    assert not failed, result
    assert result['changed'] is False and result['vcpus'] == {'online': 1, 'max': 2}
    result, failed, script = env({'name': 'smphvm1', 'online': 2, 'persist': False, '_ansible_check_mode': True},
                                 HVM_READ + [(['info'], lab('xl_info'))])
    assert not failed, result
    assert result['applied'] == ['vcpu-set smphvm1 2']


def test_hvm_vcpu_set_remove_is_a_silent_no_op_in_the_lab():
    # the evidence behind hvm_removal_problem: rc 0, no output, QEMU keeps both vCPUs
    removed = Capture('xl_vcpu_set_hvm_remove', LAB)
    assert (removed.rc, removed.stdout, removed.stderr) == (0, '', '')
    after = parse_list_long(Capture('xl_list_l_hvm_after_remove', LAB).stdout)
    assert after[0]['config']['b_info']['avail_vcpus'] == [0, 1]


def test_full_config_directory_fails_before_the_guest_changes(env, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(_files.tempfile, 'mkstemp', full)
    before = env.cfg.read_text()
    # 3 vCPUs would be a live vcpu-set: it must not run when the file cannot follow
    result, failed, script = env({'online': 3, 'allow_overcommit': True}, READ + INFO)
    assert failed and result['error'] == 'config_unwritable', result
    assert 'No space left on device' in result['msg'] and 'Nothing was changed' in result['msg']
    assert not any(call[0] == 'vcpu-set' for call in script.seen)
    assert env.cfg.read_text() == before
