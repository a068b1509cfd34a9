# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_domains: many guests in one run, fed with the captured xl output of the nested lab (pv1 and pvh1 running,
xen-4.17.5-nested-tcg). Its results per guest are compared with xen_domain's for the same input, run by the same
harness on the same files."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain
from ansible_collections.xenfleet.xen.plugins.module_utils import _domain
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle
from ansible_collections.xenfleet.xen.plugins.modules import xen_domain, xen_domains
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module

# pv1 and pvh1 as they run in the captured `xl list -l` (pv1 after `xl mem-set pv1 96m` and `xl vcpu-set pv1 2`;
# pvh1 from pvh-busybox.cfg of the capture)
PV1 = {'name': 'pv1', 'type': 'pv', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4,
       'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet'}
PVH1 = {'name': 'pvh1', 'type': 'pvh', 'memory': 128, 'vcpus': 1, 'maxvcpus': 2,
        'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0'}
NEW = dict(PV1, name='pvnew')
READ = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]
READ_NONE = [(['list', '-l'], 'xl_list_l_dom0_only'), (['list'], 'xl_list_dom0_only')]


def is_dry_run(args):
    return args[:2] == ['-N', 'create'] and args[2].endswith('.cfg')


@pytest.fixture
def host(monkeypatch, tmp_path):
    """A dom0 directory pair (config files, autostart links) and runners for both modules on it."""
    monkeypatch.setattr(_converge_domain.Converger, 'path_exists', staticmethod(lambda path: True))
    monkeypatch.setattr(_lifecycle.time, 'sleep', lambda s: None)

    class Host(object):
        etc = tmp_path / 'xen'
        save = tmp_path / 'save'

        def common(self):
            return dict(config_dir=str(self.etc), autostart_dir=str(self.etc / 'auto'))

        def batch(self, domains, steps, **args):
            full = self.common()
            full.update(args)
            full['domains'] = [dict(dict(save_dir=str(self.save)), **d) for d in domains]
            script = XlScript(steps)
            result, failed = run_module(monkeypatch, xen_domains.main, full, script)
            return result, failed, script

        def single(self, spec, steps, **args):
            full = self.common()
            full.update(spec, save_dir=str(self.save))
            full.update(args)
            script = XlScript(steps)
            result, failed = run_module(monkeypatch, xen_domain.main, full, script)
            return result, failed, script

        def write(self, spec):
            with open(self.path(spec['name']), 'w') as handle:
                handle.write(_domain.render_config(dict(spec)))

        def path(self, name):
            return str(self.etc / ('%s.cfg' % name))

        def snapshot(self):
            """The config directory's files and texts (to compare runs, and to put it back between them)."""
            found = {}
            for root, _dirs, files in os.walk(str(self.etc)):
                for name in files:
                    path = os.path.join(root, name)
                    with open(path) as handle:
                        found[os.path.relpath(path, str(self.etc))] = handle.read()
            return found

        def reset(self, files):
            shutil.rmtree(str(self.etc))
            self.etc.mkdir()
            for rel, text in files.items():
                with open(os.path.join(str(self.etc), rel), 'w') as handle:
                    handle.write(text)

    Host.etc.mkdir()
    return Host()


def without_calls(result):
    return dict((k, v) for k, v in result.items() if k not in ('xl_calls', 'name'))


# -- no-op: one read for all guests ---------------------------------------------------------------

def test_matching_guests_cost_one_read_for_all(host):
    host.write(PV1)
    host.write(PVH1)
    result, failed, script = host.batch([dict(PV1, state='running'), dict(PVH1, state='running')], READ)
    assert not failed, result
    assert result['changed'] is False and result['xl_calls'] == 2
    assert [d['name'] for d in result['domains']] == ['pv1', 'pvh1']
    assert all(d['changed'] is False and d['applied'] == [] and d['xl_calls'] == 0 for d in result['domains'])
    assert result['domains'][0]['domain']['config_file'] == host.path('pv1')


@pytest.mark.parametrize('check,diff', [(False, False), (True, True), (False, True)])
def test_each_guest_gets_the_result_xen_domain_gives_it(host, check, diff):
    """Two matching guests and a new one: the batch's result per guest is xen_domain's, key for key; its diff is
    theirs, in order."""
    host.write(PV1)
    host.write(PVH1)
    host.write(dict(NEW, name='old'))
    before = host.snapshot()
    flags = dict(_ansible_check_mode=check, _ansible_diff=diff)
    new_steps = [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    guests = [dict(PV1, state='running'), dict(NEW, state='present', autostart=True), dict(PVH1, state='present'),
              {'name': 'old', 'state': 'absent'}]

    singles = []
    for guest in guests:
        steps = READ + (new_steps if guest['name'] == 'pvnew' else [])
        result, failed, _script = host.single(guest, steps, **flags)
        assert not failed, result
        singles.append(result)
    after_singles = host.snapshot()
    host.reset(before)

    result, failed, script = host.batch(guests, READ + new_steps, **flags)
    assert not failed, result
    assert host.snapshot() == after_singles
    assert [without_calls(r) for r in result['domains']] == [without_calls(r) for r in singles]
    assert [r['changed'] for r in result['domains']] == [False, True, False, True]
    assert result['domains'][3]['applied'] == ['config file removed']
    assert [r['xl_calls'] for r in result['domains']] == [0, 2, 0, 0]
    assert result['xl_calls'] == 4  # one read of the domains for four guests, xl info, one dry run
    if diff:
        assert result['diff'] == [part for r in singles for part in r['diff']]
        assert [p['after_header'] for p in result['diff']][:2] == [host.path('pv1'), 'live domain pv1']
        assert len(result['diff']) == 8
    else:
        assert 'diff' not in result


def test_empty_list_changes_nothing_and_runs_no_xl(host):
    result, failed, script = host.batch([], [])
    assert not failed and result['changed'] is False and result['domains'] == [] and result['xl_calls'] == 0


# -- live changes are applied and verified per guest ----------------------------------------------

def test_live_change_of_one_guest_is_applied_and_verified_by_reading_again(host):
    # mem-set exits 0, but the re-read still shows the old target: pv1 fails, nothing written for it, pvh1 (after
    # it) is not converged; the run names both
    host.write(PV1)
    host.write(PVH1)
    steps = READ + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),
                    (['mem-set', 'pv1', '200m'], 'xl_mem_set_pv')] + READ
    result, failed, script = host.batch([dict(PV1, memory=200, state='running'), dict(PVH1, state='running')], steps)
    assert failed and result['error'] == 'guest_error' and 'did not take effect' in result['msg']
    assert result['msg'].startswith('domains[0] (pv1): ')
    assert result['msg'].endswith(' Converged before it: none; not converged: pv1, pvh1.')
    assert result['failed_domain'] == 'pv1' and result['converged'] == [] and result['not_converged'] == ['pv1', 'pvh1']
    assert result['domains'][0]['failed'] is True and result['domains'][0]['applied'] == ['mem-set pv1 200m']
    assert open(host.path('pv1')).read() == _domain.render_config(dict(PV1))


def test_live_change_predicted_in_check_mode_like_xen_domain(host):
    host.write(PV1)
    host.write(PVH1)
    steps = READ + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    spec = dict(PV1, memory=200, state='running')
    single, failed, _script = host.single(spec, steps, _ansible_check_mode=True, _ansible_diff=True)
    assert not failed, single
    result, failed, script = host.batch([dict(PVH1, state='running'), spec], steps,
                                        _ansible_check_mode=True, _ansible_diff=True)
    assert not failed, result
    assert without_calls(result['domains'][1]) == without_calls(single)
    assert result['domains'][1]['applied'] == ['mem-set pv1 200m', 'config file updated']
    assert result['diff'][3] == {'before_header': 'live domain pv1 (before)', 'after_header': 'live domain pv1',
                                 'before': {'state': 'running', 'memory': 96}, 'after': {'state': 'running', 'memory': 200}}


# -- failures ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('entries,param,fragment', [
    ([PV1, dict(PVH1, vcpus=5, maxvcpus=4)], 'domains[1].vcpus', 'more than maxvcpus'),
    ([PV1, dict(PVH1, disks=[{'target': '/a.img', 'vdev': 'xvda'}, {'target': '/b.img', 'vdev': 'xvda'}])],
     'domains[1].disks[1]', 'used twice'),
    ([PV1, PVH1, dict(PV1, memory=64)], 'domains[2].name', "'pv1' is declared twice (domains[0] and domains[2])"),
    ([PV1, dict(PVH1, command_timeout=0)], 'domains[1].command_timeout', 'must be a positive number'),
    ([dict(PV1, state='absent', name='Domain-0')], 'domains[0].name', 'reserved'),
    ([PV1, dict(PVH1, save_dir='relative')], 'domains[1].save_dir', 'not an absolute path'),
])
def test_bad_input_names_the_entry_before_any_xl_call(host, entries, param, fragment):
    host.write(PV1)
    result, failed, script = host.batch(entries, [])
    assert failed and result['error'] == 'invalid_parameter', result
    assert result['msg'].startswith(param + ': ') and fragment in result['msg'], result['msg']
    assert script.seen == [] and result['xl_calls'] == 0


def test_a_guest_the_host_refuses_fails_the_run_before_any_guest_changes(host):
    # pvnew would be created, but pv1 (after it) asks more memory than the host has: nothing is written
    host.write(PV1)
    steps = READ + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')]
    result, failed, script = host.batch([dict(NEW, state='present'), dict(PV1, memory=8192, maxmem=8192)], steps)
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == ('domains[1].memory: 8192 MiB is more than this host has in total (4095 MiB) (pv1) '
                             'Nothing was changed on any guest (every guest is checked before the first is changed).')
    assert result['changed'] is False and result['domains'] == [] and result['converged'] == []
    assert result['not_converged'] == ['pvnew', 'pv1'] and result['failed_domain'] == 'pv1'
    assert not os.path.exists(host.path('pvnew'))


def test_a_failed_create_stops_the_run_after_the_guests_before_it(host):
    # pvnew is defined; hvm1's create fails (the captured device model crash): its new config file is taken back,
    # pvh1 after it is not touched, and the result says so
    hvm1 = {'name': 'hvm1', 'type': 'hvm', 'memory': 256, 'vcpus': 1, 'kernel': '/vmlinuz',
            'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=ttyS0', 'state': 'running'}
    steps = READ + [
        (['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv'),   # pvnew planned
        (is_dry_run, 'create_dryrun_pv'),                          # hvm1 planned (xl info once for the run)
        (is_dry_run, 'create_dryrun_pv'),                          # pvh1 planned (no config file yet)
        (['create', host.path('hvm1')], 'xl_create_hvm'),
        (['list', 'hvm1'], 'err_list_unknown_name'),
    ]
    result, failed, script = host.batch([dict(NEW, state='present'), hvm1, dict(PVH1, memory=100)], steps)
    assert failed and result['error'] == 'xl_failed' and result['rc'] == 3
    assert result['msg'].startswith('domains[1] (hvm1): `/usr/sbin/xl create %s` failed with exit code 3: '
                                    % host.path('hvm1')), result['msg']
    assert result['msg'].endswith(' Converged before it: pvnew; not converged: hvm1, pvh1.')
    assert result['changed'] is True and result['converged'] == ['pvnew'] and result['not_converged'] == ['hvm1', 'pvh1']
    assert result['domains'][0]['name'] == 'pvnew' and result['domains'][0]['applied'] == ['config file created']
    assert result['domains'][1]['failed'] is True and result['domains'][1]['error'] == 'xl_failed'
    assert result['domains'][1]['applied'] == ['config file created', 'create', 'config file restored after the failed create']
    assert os.path.exists(host.path('pvnew')) and not os.path.exists(host.path('hvm1'))
    assert not os.path.exists(host.path('pvh1'))


# -- the run's settings -------------------------------------------------------------------------------

def test_each_guest_bounds_its_commands_with_its_own_command_timeout(host, monkeypatch):
    host.write(PV1)
    seen = []
    script = XlScript(READ + [(['info'], 'xl_info'), (is_dry_run, 'create_dryrun_pv')])

    def run_command(args, **kwargs):
        seen.append((args[2], args[4]))  # timeout --kill-after=10 SECONDS xl ARG...
        return script.run_command(args, **kwargs)

    from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import ModuleExit, patch_ansible_module
    from ansible.module_utils.testing import patch_module_args
    patch_ansible_module(monkeypatch, run_command)
    args = dict(host.common(), command_timeout=50,
                domains=[dict(PV1, state='running'), dict(NEW, state='present', command_timeout=7)])
    with patch_module_args(args):
        with pytest.raises(ModuleExit) as exit_:
            xen_domains.main()
    assert not exit_.value.failed, exit_.value.result
    assert seen == [('50', 'list'), ('50', 'list'), ('7', 'info'), ('7', '-N')]


def test_the_lock_record_names_the_guests():
    params = {'domains': [{'name': 'g%d' % i} for i in range(7)]}
    from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domains
    assert _converge_domains.holder(params) == 'g0, g1, g2, g3, g4, ... (7 guests)'
    assert _converge_domains.holder({'domains': [{'name': 'web1'}]}) == 'web1 (1 guest)'


# -- the domains read once: what the per-guest read does for a guest, it does for each -----------------------------

def test_a_guest_left_out_by_list_l_is_read_from_its_stored_config_in_the_one_read(monkeypatch, tmp_path):
    """hvm1's device model did not answer (captured, xen-4.17.5-lab-tcg): the one read of the domains takes its stored
    configuration, as xen_domain's read does, and warns once."""
    from ansible.module_utils import basic
    from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.test_xen_domain import (
        HVM1, READ_HVM1_QMP_TIMEOUT, stored_hvm1_files)
    monkeypatch.setattr(_converge_domain.Converger, 'path_exists', staticmethod(lambda path: True))
    with open(str(tmp_path / 'hvm1.cfg'), 'w') as handle:
        handle.write(_domain.render_config(dict(HVM1)))
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    args = dict(config_dir=str(tmp_path), autostart_dir=str(tmp_path / 'auto'),
                domains=[dict(HVM1, state='running', save_dir=str(tmp_path / 'save'))])
    result, failed = run_module(monkeypatch, xen_domains.main, args, XlScript(list(READ_HVM1_QMP_TIMEOUT)),
                                files=stored_hvm1_files())
    assert not failed, result
    assert result['changed'] is False and result['xl_calls'] == 2 and result['domains'][0]['applied'] == []
    assert result['domains'][0]['domain']['config_source'] == 'stored'
    assert len(warnings) == 1 and 'hvm1' in warnings[0] and 'stored' in warnings[0]
