# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import stat
import threading

import pytest
from ansible.module_utils import basic

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain
from ansible_collections.xenfleet.xen.plugins.module_utils import _domain
from ansible_collections.xenfleet.xen.plugins.module_utils import _files
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.modules import xen_domain
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture, XEN_DOM0_FILES, fixture_text

# pv1 as it runs in the captured xl list -l (after `xl mem-set pv1 96m` and `xl vcpu-set pv1 2`)
PV1 = {
    'name': 'pv1', 'type': 'pv', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4,
    'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet',
}
READ_PV1 = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]
READ_NONE = [(['list', '-l'], 'xl_list_l_dom0_only'), (['list'], 'xl_list_dom0_only')]
OK = (0, '', '')


def read_of(capture_set, list_l='xl_list_l', list_rows='xl_list'):
    """The read of the domains (`xl list -l`, then `xl list`) answered by the captures of another capture set."""
    return [(args, (cap.rc, cap.stdout, cap.stderr)) for args, cap in (
        (['list', '-l'], Capture(list_l, capture_set)), (['list'], Capture(list_rows, capture_set)))]


def is_dry_run(args):
    return args[:2] == ['-N', 'create'] and args[2].endswith('.cfg')


def cfg_path(env, name='pv1'):
    return str(env.etc / ('%s.cfg' % name))


def write_rendered(env, spec):
    with open(cfg_path(env, spec['name']), 'w') as handle:
        handle.write(_domain.render_config(dict(spec)))


# -- idempotence: a guest that already matches is one read, no writes -----------------------

def test_matching_running_guest_is_unchanged(env):
    write_rendered(env, PV1)
    result, failed, script = env(dict(PV1, state='running'), READ_PV1)
    assert not failed, result
    assert result['changed'] is False and result['applied'] == [] and result['pending'] == []
    assert result['xl_calls'] == 2
    assert result['domain']['name'] == 'pv1' and result['domain']['config_file'] == cfg_path(env)


def test_matching_guest_check_mode_diff(env):
    write_rendered(env, PV1)
    result, failed, script = env(dict(PV1, state='running', _ansible_check_mode=True, _ansible_diff=True), READ_PV1)
    assert result['changed'] is False
    assert result['diff'][0]['before'] == result['diff'][0]['after']
    assert result['diff'][1]['before'] == {'state': 'running'} == result['diff'][1]['after']


# -- creating ------------------------------------------------------------------------------

def test_create_check_mode_predicts_and_changes_nothing(env):
    spec = dict(PV1, name='pvnew', state='running', _ansible_check_mode=True, _ansible_diff=True)
    steps = READ_NONE + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert not failed, result
    assert result['changed'] is True
    assert result['applied'] == ['config file created', 'create']
    assert not os.path.exists(cfg_path(env, 'pvnew'))
    assert result['diff'][0]['before'] == '' and 'name = "pvnew"' in result['diff'][0]['after']
    assert result['diff'][1]['before'] == {'state': 'undefined'} and result['diff'][1]['after'] == {'state': 'running'}
    assert result['domain'] is None


def test_create_runs_create_and_waits(env):
    spec = dict(PV1, state='running', autostart=True)
    steps = READ_NONE + [
        (['info'], 'xl_info'),
        (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env)], 'xl_create_pv'),
        (['list', 'pv1'], 'xl_list_three_guests'),
    ] + READ_PV1
    result, failed, script = env(spec, steps)
    assert not failed, result
    assert result['applied'] == ['config file created', 'autostart link created', 'create']
    text = open(cfg_path(env)).read()
    assert text == _domain.render_config(dict(PV1))
    assert stat.S_IMODE(os.stat(cfg_path(env)).st_mode) == 0o644
    link = str(env.etc / 'auto' / 'pv1.cfg')
    assert os.readlink(link) == cfg_path(env)
    assert result['domain']['autostart'] is True and result['domain']['state'] == 'running'


def hotplug_timeout():
    cap = Capture('err_create_vif_hotplug_timeout', 'xen-4.17.5-lab-guests')
    return (cap.rc, cap.stdout, cap.stderr)


def create_after_hotplug_timeout(env, *answers):
    """pv1 is absent; its first `xl create` fails on the captured hotplug timeout (no domain left), the next ones
    answer `answers` in turn (a hotplug timeout again is followed by the read that finds nothing left)."""
    steps = READ_NONE + [
        (['info'], 'xl_info'),
        (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env)], hotplug_timeout()),
        (['list', 'pv1'], 'err_list_unknown_name'),
    ]
    for answer in answers:
        steps.append((['create', cfg_path(env)], answer))
        if answer != 'xl_create_pv':
            steps.append((['list', 'pv1'], 'err_list_unknown_name'))
    return steps


@pytest.fixture
def slept(monkeypatch):
    pauses = []
    monkeypatch.setattr(_lifecycle.time, 'sleep', pauses.append)
    return pauses


def test_create_after_a_hotplug_script_timeout_is_tried_again(env, monkeypatch, slept):
    # libxl killed vif-bridge at its timeout (captured on a loaded lab dom0) and left no domain
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    steps = create_after_hotplug_timeout(env, 'xl_create_pv') + [(['list', 'pv1'], 'xl_list_three_guests')] + READ_PV1
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert not failed, result
    assert result['applied'] == ['config file created', 'create']
    assert len(warnings) == 1 and 'created it again after 5 s (attempt 2)' in warnings[0], warnings
    assert 'vif-bridge' in warnings[0] and 5 in slept


def test_create_after_two_hotplug_script_timeouts_waits_longer(env, monkeypatch, slept):
    # the lab's benchmark: a fifth guest's create met the timeout twice, 5 s apart, on a dom0 with four booting
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    steps = create_after_hotplug_timeout(env, hotplug_timeout(), 'xl_create_pv') + \
        [(['list', 'pv1'], 'xl_list_three_guests')] + READ_PV1
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert not failed, result
    assert ['after 5 s (attempt 2)' in w for w in warnings] == [True, False]
    assert 'created it again after 20 s (attempt 3)' in warnings[1] and 5 in slept and 20 in slept


def test_create_fails_after_the_last_hotplug_script_timeout(env, slept):
    steps = create_after_hotplug_timeout(env, hotplug_timeout(), hotplug_timeout())
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert failed and result['error'] == 'hotplug_timeout'
    assert 'did not finish within libxl\'s timeout' in result['msg'], result['msg']
    assert 'killing execution of /etc/xen/scripts/vif-bridge online because of timeout' in result['msg']
    assert result['msg'].endswith('(attempt 3 of 3 after hotplug timeouts)')
    assert not os.path.exists(cfg_path(env))  # the new file was taken back


def test_create_present_only_writes_file(env):
    steps = READ_NONE + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(dict(PV1, state='present'), steps)
    assert not failed and result['applied'] == ['config file created']
    assert os.path.exists(cfg_path(env))


def test_failed_create_restores_and_reports(env):
    # the real failed HVM create (device model crashed), left only a dying (null) domain
    spec = {'name': 'hvm1', 'type': 'hvm', 'memory': 256, 'vcpus': 1, 'kernel': '/vmlinuz',
            'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=ttyS0', 'state': 'running'}
    steps = READ_NONE + [
        (['info'], 'xl_info'),
        (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env, 'hvm1')], 'xl_create_hvm'),
        (['list', 'hvm1'], 'err_list_unknown_name'),
    ]
    result, failed, script = env(spec, steps)
    assert failed and result['error'] == 'xl_failed' and result['rc'] == 3
    assert result['msg'].startswith('`/usr/sbin/xl create %s` failed with exit code 3: ' % cfg_path(env, 'hvm1')), result['msg']
    assert 'malloc(): unsorted double linked list corrupted' in result['stderr']
    assert not os.path.exists(cfg_path(env, 'hvm1'))  # the new file was taken back


def test_dry_run_rejection_changes_nothing(env):
    steps = READ_NONE + [(['info'], 'xl_info'), (is_dry_run, 'err_create_syntax')]
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert failed and result['error'] == 'config_rejected'
    assert 'rejected by `xl -N create`' in result['msg']
    assert not os.path.exists(cfg_path(env))


def test_existing_name_from_create(env):
    steps = READ_NONE + [
        (['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env)], 'err_create_same_name'),
        (['list', 'pv1'], 'err_list_unknown_name'),
    ]
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert failed and result['error'] == 'domain_exists' and 'already exists' in result['msg']


# -- live changes and restarts ----------------------------------------------------------------

def test_live_memory_change_predicted_in_check_mode(env):
    write_rendered(env, PV1)
    spec = dict(PV1, memory=200, state='running', _ansible_check_mode=True, _ansible_diff=True)
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert not failed, result
    assert result['applied'] == ['mem-set pv1 200m', 'config file updated']
    assert result['pending'] == []
    assert result['diff'][1]['before'] == {'state': 'running', 'memory': 96}
    assert result['diff'][1]['after'] == {'state': 'running', 'memory': 200}
    assert open(cfg_path(env)).read() == _domain.render_config(dict(PV1))


def test_live_memory_change_is_verified(env):
    # mem-set exits 0, but the re-read still shows the old target: fail, file untouched
    write_rendered(env, PV1)
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
                        (['mem-set', 'pv1', '200m'], 'xl_mem_set_pv')] + READ_PV1
    result, failed, script = env(dict(PV1, memory=200, state='running'), steps)
    assert failed and result['error'] == 'guest_error' and 'did not take effect' in result['msg']
    assert open(cfg_path(env)).read() == _domain.render_config(dict(PV1))


def test_live_memory_change_reports_the_verifying_read(env):
    # pv1 of the lab-neigh capture runs with 128 MiB (domid 1); declared 96 MiB: a live mem-set. The read that verifies
    # it (pv1 of the nested-tcg capture: domid 1, target 96 MiB) is the domain reported - no read after it (7 xl calls:
    # read, xl info, dry run, mem-set, the verifying read)
    neigh = dict(name='pv1', type='pv', memory=128, maxmem=256, vcpus=1, maxvcpus=2,
                 kernel='/var/lib/xenlab/guest/vmlinuz', ramdisk='/var/lib/xenlab/guest/initrd.img',
                 cmdline='console=hvc0 quiet xenlab.name=pv1')
    write_rendered(env, neigh)
    steps = read_of('xen-4.17.5-lab-neigh') + [
        (['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'), (['mem-set', 'pv1', '96m'], 'xl_mem_set_pv')] + READ_PV1
    result, failed, script = env(dict(neigh, memory=96, state='running'), steps)
    assert not failed, result
    assert result['applied'] == ['mem-set pv1 96m', 'config file updated'] and result['pending'] == []
    assert script.steps == [] and result['xl_calls'] == 7
    assert result['domain']['memory_mb']['target'] == 96 and result['domain']['kernel'] == '/vmlinuz'
    assert open(cfg_path(env)).read() == _domain.render_config(dict(neigh, memory=96))


def test_guest_restarted_during_memory_change(env):
    # the re-read after mem-set finds pv1 under another domid (a capture of another session, where pv1 is
    # domid 2): the guest rebooted or crashed meanwhile; reported as such, file untouched
    write_rendered(env, PV1)
    restarted = read_of('xen-4.17.5-lab-tcg', 'xl_list_l_three_guests', 'xl_list_three_guests')
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
                        (['mem-set', 'pv1', '200m'], 'xl_mem_set_pv')] + restarted
    result, failed, script = env(dict(PV1, memory=200, state='running'), steps)
    assert failed and result['error'] == 'guest_restarted', result
    assert 'domid 1 before; it runs again as domid 2' in result['msg']
    assert open(cfg_path(env)).read() == _domain.render_config(dict(PV1))


def test_restart_changes_are_pending_with_apply_live(env):
    write_rendered(env, PV1)
    spec = dict(PV1, maxvcpus=3, cmdline='console=hvc0', state='running')
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert not failed, result
    assert result['applied'] == ['config file updated']
    assert sorted(p['key'] for p in result['pending']) == ['cmdline', 'maxvcpus']
    assert 'maxvcpus = 3' in open(cfg_path(env)).read()


def test_next_boot_reports_live_changes_as_pending(env):
    write_rendered(env, PV1)
    spec = dict(PV1, memory=128, state='running', apply='next_boot')
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert result['applied'] == ['config file updated']
    assert result['pending'] == [{'key': 'memory', 'before': 96, 'after': 128, 'how': 'live'}]


def test_restart_check_mode(env):
    write_rendered(env, PV1)
    spec = dict(PV1, maxvcpus=3, state='running', apply='restart', _ansible_check_mode=True)
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert result['changed'] and result['applied'] == ['shutdown', 'config file updated', 'restart (maxvcpus)']


# -- pause, shutdown, absent -------------------------------------------------------------------

def test_pause_is_verified_by_reading_state(env):
    write_rendered(env, PV1)
    steps = READ_PV1 + [(['pause', 'pv1'], 'xl_pause_pv'), (['list', 'pv1'], 'xl_list_paused')] + READ_PV1
    result, failed, script = env(dict(PV1, state='paused'), steps)
    assert not failed, result
    assert result['applied'] == ['pause']


def test_pause_that_did_not_happen_fails(env):
    # xl pause exits 0 even on failure: the re-read shows it still running
    write_rendered(env, PV1)
    steps = READ_PV1 + [(['pause', 'pv1'], 'err_pause_unknown_domid'), (['list', 'pv1'], 'xl_list_three_guests')]
    result, failed, script = env(dict(PV1, state='paused'), steps)
    assert failed and '`xl pause pv1` exited 0 but the domain is running' in result['msg']


def test_shutdown_waits_and_keeps_definition(env):
    write_rendered(env, PV1)
    steps = READ_PV1 + [
        (['list', 'pv1'], 'xl_list_three_guests'),
        (['shutdown', '-w', 'pv1'], 'xl_shutdown_pv'),
        (['list', 'pv1'], 'err_list_unknown_name'),
    ]
    result, failed, script = env(dict(PV1, state='shutdown', shutdown_timeout=30), steps)
    assert not failed, result
    assert result['applied'] == ['shutdown']
    assert os.path.exists(cfg_path(env)) and result['domain'] is None
    # the shutdown ran under our timeout, not xl's (which has none)
    assert script.seen[3] == ['shutdown', '-w', 'pv1']


def test_shutdown_timeout_without_force_fails(env):
    write_rendered(env, PV1)
    steps = READ_PV1 + [(['list', 'pv1'], 'xl_list_three_guests'), (['shutdown', '-w', 'pv1'], (124, '', '')),
                        (['list', 'pv1'], 'xl_list_three_guests')]
    result, failed, script = env(dict(PV1, state='shutdown', shutdown_timeout=5), steps)
    assert failed and result['error'] == 'timeout' and 'force: true' in result['msg']
    # what the domain does now, read after the timeout
    assert result['msg'].startswith('pv1 (domain 1, running) did not shut down within 5 seconds: the guest did '
                                    'not act on the request'), result['msg']


def test_shutdown_that_ends_right_at_the_timeout_is_done(env):
    write_rendered(env, PV1)
    steps = READ_PV1 + [(['list', 'pv1'], 'xl_list_three_guests'), (['shutdown', '-w', 'pv1'], (124, '', '')),
                        (['list', 'pv1'], 'err_list_unknown_name')]
    result, failed, script = env(dict(PV1, state='shutdown', shutdown_timeout=5), steps)
    assert not failed, result
    assert result['applied'] == ['shutdown']


def test_shutdown_timeout_of_a_guest_that_restarted_says_so():
    # rows captured before and after a guest rebooted (tests/lab/capture_reboot.py): rb2 went from id 2 to id 3
    before = [r for r in parse.parse_list(Capture('xl_list_rb_running', 'xen-4.17.5-lab-reboot').stdout)
              if r['name'] == 'rb2'][0]
    after = [r for r in parse.parse_list(Capture('xl_list_rb2_restarted', 'xen-4.17.5-lab-reboot').stdout)
             if r['name'] == 'rb2'][0]
    exc = _lifecycle._shutdown_timeout('rb2', before['domid'], after, 60)
    assert exc.kind == 'guest_restarted'
    assert 'it restarted meanwhile (domain 2 is now domain 3)' in str(exc)
    assert _lifecycle._shutdown_timeout('rb2', before['domid'], before, 60).kind == 'timeout'


def test_absent_removes_file_and_link_never_disks(env):
    write_rendered(env, PV1)
    os.mkdir(str(env.etc / 'auto'))
    os.symlink(cfg_path(env), str(env.etc / 'auto' / 'pv1.cfg'))
    steps = READ_PV1 + [
        (['list', 'pv1'], 'xl_list_three_guests'),
        (['shutdown', '-w', 'pv1'], 'xl_shutdown_pv'),
        (['list', 'pv1'], 'err_list_unknown_name'),
    ]
    result, failed, script = env({'name': 'pv1', 'state': 'absent'}, steps)
    assert not failed, result
    assert result['applied'] == ['shutdown', 'autostart link removed', 'config file removed']
    assert not os.path.exists(cfg_path(env)) and not os.path.lexists(str(env.etc / 'auto' / 'pv1.cfg'))


def test_absent_when_already_absent(env):
    result, failed, script = env({'name': 'pv1', 'state': 'absent'}, READ_NONE)
    assert not failed and result['changed'] is False


# -- bad input fails before anything changes ----------------------------------------------------

@pytest.mark.parametrize('change,param,fragment', [
    ({'vcpus': 5, 'maxvcpus': 4}, 'vcpus', 'more than maxvcpus'),
    ({'memory': 512, 'maxmem': 256}, 'memory', 'more than maxmem'),
    ({'name': '1234'}, 'name', 'all digits'),
    ({'name': 'Domain-0'}, 'name', 'reserved'),
    ({'kernel': None}, 'kernel', 'needs kernel'),
    ({'vnc': True}, 'vnc', 'HVM option'),
    ({'disks': [{'target': '/a.img', 'vdev': 'xvda'}, {'target': '/b.img', 'vdev': 'xvda'}]}, 'disks[1]', 'used twice'),
    ({'vifs': [{'mac': 'nonsense'}]}, 'vifs[0]', 'MAC address'),
    ({'extra': {'memory': 5}}, 'extra', 'option of this module'),
    ({'extra': {'bad key': 5}}, 'extra', 'not an xl.cfg key'),
    ({'extra': {'x': {'nested': 1}}}, 'extra', 'must be a string'),
])
def test_bad_input_before_any_xl_call(env, change, param, fragment):
    spec = dict(PV1, state='running')
    spec.update(change)
    result, failed, script = env(spec, [])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith(param + ':') and fragment in result['msg']
    assert script.seen == []


HVM_VNC = {'name': 'hvmx', 'type': 'hvm', 'memory': 256, 'vcpus': 1, 'vnc': True, 'state': 'running'}


@pytest.mark.parametrize('spec,param,fragment', [
    (dict(PV1, vifs=[{'bridge': 'xen br0'}]), 'vifs[0]', "bridge 'xen br0' must not contain ' '"),
    (dict(PV1, vifs=[{'bridge': 'xenbr0'}, {'bridge': 'br\tlan'}]), 'vifs[1]', "must not contain '\\t'"),
    (dict(PV1, vifs=[{'bridge': 'a-very-long-bridge'}]), 'vifs[0]', 'longer than 15 characters'),
    (dict(PV1, vifs=[{'bridge': 'br/0'}]), 'vifs[0]', "must not contain '/'"),
    (dict(PV1, vifs=[{'bridge': 'br:0'}]), 'vifs[0]', "must not contain ':'"),
    (dict(PV1, vifs=[{'bridge': '..'}]), 'vifs[0]', 'must not be "." or ".."'),
    (dict(PV1, vifs=[{'bridge': 'br,0'}]), 'vifs[0]', 'must not contain ","'),
    (dict(PV1, vifs=[{'bridge': 'br=0'}]), 'vifs[0]', 'must not contain ","'),
    (dict(HVM_VNC, vnclisten='localhost'), 'vnclisten', "'localhost' is not an IP address"),
    (dict(HVM_VNC, vnclisten='0.0.0.0:x'), 'vnclisten', 'ADDRESS:DISPLAYNUM'),
    (dict(HVM_VNC, vnclisten='300.1.1.1'), 'vnclisten', 'not an IP address'),
    (dict(HVM_VNC, vnclisten='[::1]'), 'vnclisten', 'not an IP address'),
    (dict(PV1, cpus='0-3 5'), 'cpus', "'0-3 5' is not a CPU list in xl's syntax"),
    (dict(PV1, cpus='3-1'), 'cpus', 'empty range'),
    (dict(PV1, cpus='node:x'), 'cpus', "'x' is not a node number"),
    (dict(PV1, cpus='0,^'), 'cpus', 'is not a CPU number'),
    (dict(PV1, cpus_soft='cpu0'), 'cpus_soft', "'cpu0' is not a CPU number or range"),
])
def test_bad_names_addresses_and_cpu_lists_are_refused_before_the_host_check(monkeypatch, spec, param, fragment):
    # files={}: not a Xen host - the parameter is refused first, and no command runs
    script = XlScript([])
    result, failed = run_module(monkeypatch, xen_domain.main, spec, script, files={})
    assert failed and result['error'] == 'invalid_parameter', result
    assert result['msg'].startswith(param + ':') and fragment in result['msg'], result['msg']
    assert script.seen == [] and result['xl_calls'] == 0


@pytest.mark.parametrize('change', [
    {'cpus': '0-1,^1', 'cpus_soft': 'nodes:0-1'},
    {'cpus': 'all', 'cpus_soft': '^0'},
    {'vifs': [{'bridge': 'xenbr0.100'}, {'bridge': 'br-lan_2'}]},
])
def test_good_names_and_cpu_lists_reach_the_host(env, change):
    # accepted: the module goes on to the host (here: creating pv1, whose dry run xl accepts)
    steps = READ_NONE + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(dict(PV1, state='present', **change), steps)
    assert not failed, result
    assert result['applied'] == ['config file created']


@pytest.mark.parametrize('vnclisten', ['0.0.0.0', '192.0.2.1:1', '::', '[2001:db8::1]:2'])
def test_vnc_addresses_are_accepted(env, vnclisten):
    spec = dict(HVM_VNC, vnclisten=vnclisten, state='present')
    steps = READ_NONE + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert not failed, result
    assert 'vnclisten = "%s"' % vnclisten in open(cfg_path(env, 'hvmx')).read()


def test_memory_larger_than_host(env):
    result, failed, script = env(dict(PV1, memory=8192, maxmem=8192, state='running'), READ_NONE + [(['info'], 'xl_info')])
    assert failed and result['msg'] == 'memory: 8192 MiB is more than this host has in total (4095 MiB)'
    assert not os.path.exists(cfg_path(env))


def test_missing_kernel_path(env, monkeypatch):
    monkeypatch.setattr(_converge_domain.Converger, 'path_exists', staticmethod(lambda path: path != '/vmlinuz'))
    result, failed, script = env(dict(PV1, state='running'), READ_NONE + [(['info'], 'xl_info')])
    assert failed and result['msg'] == 'kernel: /vmlinuz does not exist on the Xen host'


def test_vnc_password_is_secret(env):
    spec = {'name': 'hvmx', 'type': 'hvm', 'memory': 256, 'vcpus': 1, 'vnc': True, 'vncpasswd': 's3cret',
            'state': 'present', '_ansible_diff': True}
    steps = READ_NONE + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(spec, steps)
    assert not failed, result
    path = cfg_path(env, 'hvmx')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert 'vncpasswd = "s3cret"' in text and 'vnclisten = "127.0.0.1"' in text
    assert 's3cret' not in str(result)


# -- `xl list -l` left the HVM guest out (its QEMU did not answer QMP in time) ---------------
# Captured on the lab with hvm1's device model stopped; the stored file is libxl's own.

LAB = 'xen-4.17.5-lab-tcg'
HVM1 = {
    'name': 'hvm1', 'type': 'hvm', 'memory': 256, 'vcpus': 1,
    'kernel': '/var/lib/xenlab/guest/vmlinuz', 'ramdisk': '/var/lib/xenlab/guest/initrd.img',
    'cmdline': 'console=ttyS0 quiet xenlab.name=hvm1', 'serial': 'file:/var/log/xen/console/guest-hvm1.log',
    'vnc': False,
}


def lab(name):
    cap = Capture(name, LAB)
    return (cap.rc, cap.stdout, cap.stderr)


READ_HVM1_QMP_TIMEOUT = [(['list', '-l'], lab('xl_list_l_hvm_qemu_stopped')),
                         (['list'], lab('xl_list_hvm_qemu_stopped'))]


def stored_hvm1_files():
    stored = fixture_text('userdata_hvm1.stdout', LAB)
    rows = Capture('xl_list_hvm_qemu_stopped', LAB).stdout.splitlines()
    domid = int([r for r in rows if r.startswith('hvm1 ')][0].split()[1])
    uuid = json.loads(stored.rstrip('\x00'))['c_info']['uuid']
    files = dict(XEN_DOM0_FILES)
    files['/var/lib/xen/userdata-d.%d.%s.libxl-json' % (domid, uuid)] = stored
    return files


def run_hvm1(monkeypatch, tmp_path, files, extra=None, more_steps=()):
    monkeypatch.setattr(_converge_domain.Converger, 'path_exists', staticmethod(lambda path: True))
    args = dict(HVM1, state='running', config_dir=str(tmp_path), autostart_dir=str(tmp_path / 'auto'))
    args.update(extra or {})
    with open(str(tmp_path / 'hvm1.cfg'), 'w') as handle:
        handle.write(_domain.render_config(dict(HVM1)))
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    script = XlScript(list(READ_HVM1_QMP_TIMEOUT) + list(more_steps))
    result, failed = run_module(monkeypatch, xen_domain.main, args, script, files=files)
    return result, failed, warnings


def test_matching_hvm_guest_left_out_by_list_l_is_read_from_stored_config(monkeypatch, tmp_path):
    result, failed, warnings = run_hvm1(monkeypatch, tmp_path, stored_hvm1_files())
    assert not failed, result
    assert result['changed'] is False and result['applied'] == [] and result['pending'] == []
    assert result['xl_calls'] == 2
    assert len(warnings) == 1 and 'hvm1' in warnings[0] and 'stored' in warnings[0]


def test_memory_change_on_hvm_guest_left_out_by_list_l_is_predicted_from_stored_config(monkeypatch, tmp_path):
    result, failed, warnings = run_hvm1(monkeypatch, tmp_path, stored_hvm1_files(),
                                        {'memory': 200, 'maxmem': 256, 'validate': False, '_ansible_check_mode': True},
                                        [(['info'], lab('xl_info'))])
    assert not failed, result
    # 200 MiB is under the stored maxmem (256 MiB): a live balloon, nothing pending a restart
    assert result['changed'] is True and result['pending'] == []
    assert result['applied'] == ['mem-set hvm1 200m', 'config file updated']
    assert result['domain']['config_source'] == 'stored' and result['xl_calls'] == 3


def fake_clock(monkeypatch):
    """_lifecycle's sleeps advance a fake clock instead of waiting; returns the list of sleeps."""
    now = [1000.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(_lifecycle.time, 'sleep', sleep)
    monkeypatch.setattr(_lifecycle.time, 'time', lambda: now[0])
    return sleeps


def test_guest_with_unreadable_config_is_left_alone(monkeypatch, tmp_path):
    # read again while libxl cannot report it (1 + 2 + 4 + 5 s of a 10 s wait), then give up
    sleeps = fake_clock(monkeypatch)
    monkeypatch.setattr(_lifecycle, 'CONFIG_WAIT', 10)
    result, failed, warnings = run_hvm1(monkeypatch, tmp_path, dict(XEN_DOM0_FILES),
                                        more_steps=READ_HVM1_QMP_TIMEOUT * 4)
    assert failed and result['error'] == 'config_unreadable'
    assert 'hvm1' in result['msg'] and 'Nothing was changed' in result['msg'] and 'for 10 seconds' in result['msg']
    assert sleeps == [1.0, 2.0, 4.0, 5.0]
    assert result['xl_calls'] == 10
    assert len(warnings) == 1


def test_guest_whose_config_becomes_readable_is_used_after_a_wait(monkeypatch, tmp_path):
    # first read: hvm1's device model does not answer (left out by `xl list -l`, nothing stored);
    # the next read, captured in the same session with hvm1 under the same domid, reports it
    sleeps = fake_clock(monkeypatch)
    result, failed, warnings = run_hvm1(monkeypatch, tmp_path, dict(XEN_DOM0_FILES), more_steps=[
        (['list', '-l'], lab('xl_list_l_three_guests')), (['list'], lab('xl_list_three_guests'))])
    assert not failed, result
    assert result['changed'] is False and result['xl_calls'] == 4 and sleeps == [1.0]
    assert len(warnings) == 2 and 'left out domain hvm1' in warnings[0]
    assert 'waited 1 s for libxl to report the configuration of hvm1' in warnings[1]


def test_guest_with_unreadable_config_can_still_be_removed(monkeypatch, tmp_path):
    monkeypatch.setattr(_lifecycle.time, 'sleep', lambda s: None)
    result, failed, warnings = run_hvm1(monkeypatch, tmp_path, dict(XEN_DOM0_FILES),
                                        {'state': 'absent', '_ansible_check_mode': True})
    assert not failed, result
    assert result['changed'] is True and result['xl_calls'] == 2 and len(warnings) == 1


# -- autostart: every entry of the autostart directory that would start the guest counts -----

def test_autostart_link_under_another_name_counts(env):
    write_rendered(env, PV1)
    auto = env.etc / 'auto'
    auto.mkdir()
    os.symlink(cfg_path(env), str(auto / 'pv1'))
    result, failed, script = env(dict(PV1, state='running', autostart=True), READ_PV1)
    assert not failed, result
    assert result['changed'] is False and sorted(os.listdir(str(auto))) == ['pv1']
    assert result['domain']['autostart'] is True


@pytest.mark.parametrize('check', [True, False])
def test_autostart_false_removes_every_entry_that_starts_the_guest(env, check):
    write_rendered(env, PV1)
    auto = env.etc / 'auto'
    auto.mkdir()
    os.symlink(cfg_path(env), str(auto / 'pv1'))
    (auto / 'pv1.cfg').write_text(u'name = "pv1"\n')     # a stale copy: xendomains starts it too
    os.symlink(str(env.etc / 'other.cfg'), str(auto / 'other.cfg'))
    result, failed, script = env(dict(PV1, state='running', autostart=False, _ansible_check_mode=check), READ_PV1)
    assert not failed, result
    assert result['changed'] is True and result['applied'] == ['autostart link removed']
    left = sorted(os.listdir(str(auto)))
    assert left == (['other.cfg', 'pv1', 'pv1.cfg'] if check else ['other.cfg'])


# -- a guest that is rebooting when the module reads it (xen-4.17.5-lab-reboot) ---------------
# rb2 was rebooted with its xl monitor held (SIGSTOP), so the first read shows it shut down with
# reason reboot (`---sr-`, domid 2); then `xl list rb2` answered: gone, domid 3 paused (being built),
# domid 3 runnable. rb1 has on_reboot = "preserve": it stays shut down.
REBOOT = 'xen-4.17.5-lab-reboot'
RB2 = {
    'name': 'rb2', 'type': 'pv', 'memory': 128, 'vcpus': 1, 'kernel': '/var/lib/xenlab/guest/vmlinuz',
    'ramdisk': '/var/lib/xenlab/guest/initrd.img', 'cmdline': 'console=hvc0 quiet xenlab.name=rb2',
}


def reboot_capture(name):
    cap = Capture(name, REBOOT)
    return (cap.rc, cap.stdout, cap.stderr)


def test_rebooting_guest_is_left_to_xl_monitor(env, monkeypatch):
    times = iter(range(0, 1000))
    monkeypatch.setattr(_lifecycle.time, 'time', lambda: next(times))
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    write_rendered(env, RB2)
    steps = [(['list', '-l'], reboot_capture('xl_list_l_rb2_rebooting_monitor_stopped')),
             (['list'], reboot_capture('xl_list_rb2_rebooting_monitor_stopped')),
             (['list', 'rb2'], reboot_capture('xl_list_rb2_restart_1')),
             (['list', 'rb2'], reboot_capture('xl_list_rb2_restart_2')),
             (['list', 'rb2'], reboot_capture('xl_list_rb2_restart_2')),
             (['list', 'rb2'], reboot_capture('xl_list_rb2_restart_3')),
             (['list', '-l'], reboot_capture('xl_list_l_rb2_restarted')),
             (['list'], reboot_capture('xl_list_rb2_restarted'))]
    result, failed, script = env(dict(RB2, state='running'), steps)
    assert not failed, result
    # no destroy, no create: xl's monitor restarted it, and it matches
    assert result['changed'] is False and result['applied'] == [], result
    assert result['domain']['domid'] == 3
    assert len(warnings) == 1 and 'rb2 was restarting' in warnings[0], warnings
    assert 'domain 2 shut down, reason reboot' in warnings[0] and '(domain 3)' in warnings[0]


def test_preserved_shut_down_guest_is_cleared_after_the_grace(env, monkeypatch):
    # on_reboot = preserve: nothing happens within the grace, so state=shutdown clears it (destroy)
    times = iter(range(0, 1000, 3))
    monkeypatch.setattr(_lifecycle.time, 'time', lambda: next(times))
    rb1 = dict(RB2, name='rb1', cmdline='console=hvc0 quiet xenlab.name=rb1', on_reboot='preserve')
    write_rendered(env, rb1)
    read = [(['list', '-l'], reboot_capture('xl_list_l_rb1_rebooted_preserved')),
            (['list'], reboot_capture('xl_list_rb1_rebooted_preserved'))]
    waits = [(['list', 'rb1'], reboot_capture('xl_list_rb1_one_rebooted_preserved'))] * 4
    result, failed, script = env(dict(rb1, state='shutdown', _ansible_check_mode=True), read + waits + read)
    assert not failed, result
    assert result['applied'] == ['destroy (domain was shutdown)']


# -- two runs at once (issue: the second run's clean-up destroyed the first run's guest) ---------

class RacingXl(object):
    """A host where two module runs declare the same new guest pv1 at the same time.

    Answers with captured output according to whether pv1 exists. The first `xl create` does not
    return until the second run has read the host (or 3 s have passed), which is exactly the window
    in which a run that does not hold the host's lock across read-decide-act reads "no pv1" and goes
    on to create it too.
    """

    def __init__(self, config_path):
        self.config_path = config_path
        self.exists = False
        self.lock = threading.Lock()
        self.second_read = threading.Event()
        self.reads = 0
        self.creates = 0
        self.destroyed = []

    def reply(self, name):
        cap = Capture(name)
        return cap.rc, cap.stdout, cap.stderr

    def run_command(self, args, **kwargs):
        assert kwargs.get('environ_update', {}).get('LC_ALL') == 'C'
        if args[0].endswith('/timeout'):
            args = args[3:]
        call = args[1:]
        if call == ['list', '-l']:
            with self.lock:
                self.reads += 1
                if self.reads == 2:
                    self.second_read.set()
            return self.reply('xl_list_l_three_guests' if self.exists else 'xl_list_l_dom0_only')
        if call == ['list']:
            return self.reply('xl_list_three_guests' if self.exists else 'xl_list_dom0_only')
        if call == ['list', 'pv1']:
            return self.reply('xl_list_three_guests' if self.exists else 'err_list_unknown_name')
        if call == ['info']:
            return self.reply('xl_info')
        if is_dry_run(call):
            return self.reply('create_dryrun_pv')
        if call == ['create', self.config_path]:
            with self.lock:
                self.creates += 1
                if self.exists:
                    return self.reply('err_create_same_name')
            self.second_read.wait(3)
            with self.lock:
                self.exists = True
            return self.reply('xl_create_pv')
        if call[0] == 'destroy':
            with self.lock:
                self.destroyed.append(call[1])
                self.exists = False
            return OK
        raise AssertionError('unexpected xl call %r' % (call,))


def test_two_runs_that_declare_the_same_new_guest_leave_it_running(monkeypatch, tmp_path):
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import ModuleExit, patch_ansible_module

    etc = tmp_path / 'xen'
    etc.mkdir()
    config = str(etc / 'pv1.cfg')
    xl = RacingXl(config)
    monkeypatch.setattr(_converge_domain.Converger, 'path_exists', staticmethod(lambda path: True))
    monkeypatch.setattr(_lifecycle.time, 'sleep', lambda s: None)
    # both runs in this process share the harness's host lock, as two runs on one dom0 share /run/lock
    patch_ansible_module(monkeypatch, xl.run_command)

    results = []

    def one_run():
        try:
            xen_domain.main()
        except ModuleExit as exc:
            results.append(exc)
        except Exception as exc:  # pylint: disable=broad-except
            results.append(exc)

    args = dict(PV1, state='running', config_dir=str(etc), autostart_dir=str(etc / 'auto'))
    with patch_module_args(args):
        runs = [threading.Thread(target=one_run) for _i in range(2)]
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)
    assert len(results) == 2 and all(isinstance(r, ModuleExit) for r in results), results
    assert not any(r.failed for r in results), [r.result for r in results]
    assert sorted(r.result['changed'] for r in results) == [False, True]
    assert xl.creates == 1 and xl.destroyed == []
    assert xl.exists and os.path.exists(config)


def test_failed_create_leaves_a_domain_it_did_not_make_alone(env):
    # pv1 was absent when read; then `xl create` said it already exists (someone created it meanwhile):
    # libxl named the domain it was building (4), so the pv1 found now (1) is not ours
    steps = READ_NONE + [
        (['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env)], 'err_create_same_name'),
        (['list', 'pv1'], 'xl_list_three_guests'),
    ]
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert failed and result['error'] == 'domain_exists'
    assert 'pv1 (id 1) exists now, but it is not the one this run tried to create (xl named id 4)' in result['msg']
    assert not any(call[0] == 'destroy' for call in script.seen)


def test_create_killed_destroys_only_its_own_domain_by_id(env):
    # `xl create` killed (kill -9: coreutils timeout exits 137 at once); the pv1 left is the one it made
    steps = READ_NONE + [
        (['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env)], (137, '', 'Parsing config from %s\n' % cfg_path(env))),
        (['list', 'pv1'], 'xl_list_paused'),
        (['destroy', '1'], OK),
        (['list', 'pv1'], 'err_list_unknown_name'),
    ]
    result, failed, script = env(dict(PV1, state='running'), steps)
    assert failed and result['error'] == 'xl_crashed', result
    assert 'killed by signal 9' in result['msg'] and 'The half-created domain pv1 (id 1) was destroyed.' in result['msg']
    assert not os.path.exists(cfg_path(env))  # the new file was taken back


def test_xl_create_is_bounded_by_command_timeout(env, monkeypatch):
    from ansible_collections.xenfleet.xen.plugins.module_utils import _xl
    bounds = []
    original = _xl.XlClient._timeout_prefix

    def recording(self, timeout):
        bounds.append(timeout)
        return original(self, timeout)

    monkeypatch.setattr(_xl.XlClient, '_timeout_prefix', recording)
    steps = READ_NONE + [
        (['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
        (['create', cfg_path(env)], 'xl_create_pv'),
        (['list', 'pv1'], 'xl_list_three_guests'),
    ] + READ_PV1
    result, failed, script = env(dict(PV1, state='running', command_timeout=10, start_timeout=300), steps)
    assert not failed, result
    assert len(bounds) == len(script.seen) and set(bounds) == {10}, bounds  # create too: not max(300, 10)


def test_shutting_down_a_paused_guest_says_it_unpaused_it(env):
    write_rendered(env, PV1)
    paused_reads = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_paused')]
    spec = dict(PV1, state='shutdown', _ansible_check_mode=True)
    result, failed, script = env(spec, paused_reads)
    assert not failed, result
    assert result['applied'] == ['unpause', 'shutdown']


def test_bad_common_option_is_refused_before_the_host_check(monkeypatch):
    # files={}: not a Xen host at all - the parameter is still what the user hears about first
    result, failed = run_module(monkeypatch, xen_domain.main, dict(name='pv1', xl_path='xl'), XlScript([]), files={})
    assert failed and result['error'] == 'invalid_parameter' and result['msg'].startswith('xl_path:'), result


@pytest.mark.parametrize('errno_name,text', [('ENOSPC', 'No space left on device'), ('EROFS', 'Read-only file system')])
def test_unwritable_config_directory_fails_before_the_domain_changes(env, monkeypatch, errno_name, text):
    import errno
    write_rendered(env, PV1)
    before = open(cfg_path(env)).read()

    mkstemp = _files.tempfile.mkstemp

    def refuse(*args, **kwargs):
        if kwargs.get('dir') != str(env.etc):
            return mkstemp(*args, **kwargs)  # xl -N create's private copy goes elsewhere
        raise OSError(getattr(errno, errno_name), text)

    monkeypatch.setattr(_files.tempfile, 'mkstemp', refuse)
    # memory 200 is a live mem-set: it must not happen when the file cannot be written
    steps = READ_PV1 + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = env(dict(PV1, memory=200, state='running'), steps)
    assert failed and result['error'] == 'config_unwritable', result
    assert text in result['msg'] and 'Nothing was changed' in result['msg']
    assert not any(call[0] == 'mem-set' for call in script.seen)
    assert open(cfg_path(env)).read() == before
    assert sorted(os.listdir(str(env.etc))) == ['pv1.cfg']  # no temp file left behind
