# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_cloud_init's main(): xl answered from captures; the seed tools either run for real (the tests are
skipped when the tool is not installed) or answer from captures (tests/unit/fixtures/debian12-seed)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.xenfleet.xen.plugins.module_utils import _seed
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import XlClient
from ansible_collections.xenfleet.xen.plugins.modules import xen_cloud_init
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import (
    ModuleExit,
    XlScript,
    patch_ansible_module,
)
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

SEED_SET = 'debian12-seed'
READ_DOMAINS = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]
SECRET = '$6$rounds=4096$salt$hash-that-must-not-leak'
# the declaration the captures were made with (capture.sh renders the same seed)
WEB1 = {'user_data': {'users': [{'name': 'admin', 'ssh_authorized_keys': [
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@example.org']}]},
    'meta_data': {'local-hostname': 'web1'},
    'network_config': {'version': 2, 'ethernets': {'eth0': {'addresses': ['192.0.2.11/24'], 'gateway4': '192.0.2.1'}}}}
TOOLS = ('xorriso', 'mkfs.vfat', 'mcopy')


def which(tool):
    return shutil.which(tool) or shutil.which(tool, path='/usr/sbin:/sbin')


needs_xorriso = pytest.mark.skipif(not which('xorriso'), reason='xorriso is not installed (apt-get install xorriso)')
needs_vfat = pytest.mark.skipif(not which('mkfs.vfat') or not which('mcopy'),
                                reason='dosfstools and mtools are not installed')


class Host(object):
    """xl calls go to an XlScript (exact argv, captured answers); calls of the seed tools are recorded and
    run for real, or answered by `tool_replies` (a list of (rc, out, err) from captures)."""

    def __init__(self, xl_steps, tool_replies=None, missing=()):
        self.xl = XlScript(xl_steps)
        self.tool_replies = list(tool_replies or [])
        self.tools = []
        self.missing = missing

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        if arg in TOOLS:
            return None if arg in self.missing else (which(arg) or '/usr/bin/%s' % arg)
        return {'xl': '/usr/sbin/xl', 'timeout': '/usr/bin/timeout'}.get(arg)

    def run_command(self, args, **kwargs):
        bare = args[3:] if args[0].endswith('/timeout') else args
        if os.path.basename(bare[0]) not in TOOLS:
            return self.xl.run_command(args, **kwargs)
        assert kwargs.get('environ_update', {}).get('LC_ALL') == 'C' and isinstance(args, list)
        self.tools.append([os.path.basename(bare[0])] + list(bare[1:]))
        if self.tool_replies:
            return self.tool_replies.pop(0)
        proc = subprocess.run(bare, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=dict(os.environ, LC_ALL='C'), check=False)
        return proc.returncode, proc.stdout, proc.stderr


def run(monkeypatch, args, host):
    patch_ansible_module(monkeypatch, host.run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, arg, required=False, opt_dirs=None:
                        host.get_bin_path(arg, required, opt_dirs))
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    with patch_module_args(args):
        try:
            xen_cloud_init.main()
        except ModuleExit as exc:
            assert not host.xl.steps, 'xl calls expected but not made: %r' % (host.xl.steps,)
            exc.result['warnings'] = warnings
            return exc.result, exc.failed
    raise AssertionError('module returned without exit_json/fail_json')


def reply(name):
    cap = Capture(name, SEED_SET)
    return cap.rc, cap.stdout, cap.stderr


@pytest.fixture
def seed_dir(tmp_path):
    return tmp_path / 'seed'


def args_for(path, **extra):
    args = dict(WEB1, path=str(path))
    args.update(extra)
    return args


def leftovers(directory):
    return sorted(n for n in os.listdir(str(directory)) if n.endswith('.tmp')) if directory.exists() else []


# -- building --------------------------------------------------------------------------------

@needs_xorriso
def test_four_calls_iso(monkeypatch, seed_dir):
    path = seed_dir / 'web1.iso'
    want = _seed.render(WEB1['user_data'], WEB1['meta_data'], WEB1['network_config'], 'iso')
    changed = []
    for check in (True, False, True, False):
        # the running domains are read only when the seed changes (to name those that use it)
        host = Host(READ_DOMAINS if len(changed) < 2 else [])
        result, failed = run(monkeypatch, args_for(path, _ansible_check_mode=check, _ansible_diff=True), host)
        assert not failed, result
        changed.append(result['changed'])
        assert result['content_id'] == want.content_id and result['instance_id'] == want.instance_id
        if len(changed) == 1:
            assert not path.exists() and not seed_dir.exists() and host.tools == []
            assert result['diff']['before'] == {'state': 'absent'}
            assert result['diff']['after']['meta-data'] == want.files['meta-data'].decode()
        if len(changed) == 2:
            assert len(host.tools) == 1 and host.tools[0][:3] == ['xorriso', '-as', 'mkisofs']
            assert os.stat(str(path)).st_mode & 0o777 == 0o600 and leftovers(seed_dir) == []
            assert result['used_by'] == []
        if len(changed) > 2:
            assert host.tools == [] and result['xl_calls'] == 0
            assert result['diff']['before'] == result['diff']['after'] == {
                'state': 'present', 'format': 'iso', 'content_id': want.content_id}
    assert changed == [True, True, False, False]
    image = _seed.read_image(lambda offset, length: path.read_bytes()[offset:offset + length])
    assert image == {'format': 'iso', 'label': 'cidata', 'id_line': want.id_line}


@needs_vfat
def test_four_calls_vfat(monkeypatch, seed_dir):
    path = seed_dir / 'web1.img'
    changed = []
    for check in (True, False, True, False):
        host = Host(READ_DOMAINS if len(changed) < 2 else [])
        result, failed = run(monkeypatch, args_for(path, format='vfat', _ansible_check_mode=check), host)
        assert not failed, result
        changed.append(result['changed'])
        if len(changed) == 2:
            assert [call[0] for call in host.tools] == ['mkfs.vfat', 'mcopy']
            assert host.tools[0][1:6] == ['-n', 'CIDATA', '--invariant', '-i', result['content_id'][7:15]]
    assert changed == [True, True, False, False]
    assert _seed.up_to_date(_seed.read_image(lambda o, n: path.read_bytes()[o:o + n]),
                            _seed.render(WEB1['user_data'], WEB1['meta_data'], WEB1['network_config'], 'vfat'))


@needs_xorriso
def test_changed_input_rebuilds_with_a_new_instance_id_and_hides_secrets(monkeypatch, seed_dir):
    path = seed_dir / 'web1.iso'
    first, failed = run(monkeypatch, args_for(path), Host(READ_DOMAINS))
    assert not failed and first['changed']
    secret = dict(WEB1, user_data={'chpasswd': {'users': [{'name': 'admin', 'password': SECRET}]}})
    result, failed = run(monkeypatch, dict(secret, path=str(path), _ansible_diff=True), Host(READ_DOMAINS))
    assert not failed and result['changed'] and result['instance_id'] != first['instance_id']
    assert result['diff']['before']['content_id'] == first['content_id']
    assert result['diff']['after']['user-data'].startswith('(hidden: ')
    assert SECRET not in json.dumps(result) and 'hash-that-must-not-leak' not in json.dumps(result)
    # a fixed instance-id that stays the same is worth a warning: cloud-init would ignore the new seed
    fixed = dict(WEB1, meta_data={'instance-id': 'web1-1'}, path=str(path))
    result, failed = run(monkeypatch, fixed, Host(READ_DOMAINS))
    assert not failed and result['changed'] and result['instance_id'] == 'web1-1'
    assert any('cloud-init acts on a seed only when its instance-id is new' in w for w in result['warnings'])


def test_tool_failure_is_reported_and_changes_nothing(monkeypatch, seed_dir):
    path = seed_dir / 'web1.iso'
    result, failed = run(monkeypatch, args_for(path), Host(READ_DOMAINS, [reply('err_xorriso_no_dir')]))
    assert failed and result['error'] == 'command_failed'
    assert 'failed with exit code 5' in result['msg'] and "Cannot acquire drive" in result['msg']
    assert result['rc'] == 5 and 'Neither stdio-path nor its directory exist' in result['stderr']
    assert result['cmd'][1:4] == ['-as', 'mkisofs', '-quiet']
    assert not path.exists() and leftovers(seed_dir) == []


def test_tool_that_exits_0_without_an_image_is_caught(monkeypatch, seed_dir):
    # the captured successful run's answer, but nothing written: the image does not read back as the seed
    path = seed_dir / 'web1.iso'
    result, failed = run(monkeypatch, args_for(path), Host(READ_DOMAINS, [reply('xorriso_iso_seed')]))
    assert failed and result['error'] == 'command_failed'
    assert 'exited 0 but the image it wrote does not read back as the seed' in result['msg']
    assert not path.exists() and leftovers(seed_dir) == []


def test_missing_tool_names_the_package(monkeypatch, seed_dir):
    result, failed = run(monkeypatch, args_for(seed_dir / 'web1.img', format='vfat'),
                         Host(READ_DOMAINS, missing=('mkfs.vfat',)))
    assert failed and result['error'] == 'tool_not_found'
    assert 'mkfs.vfat was not found' in result['msg'] and 'Debian package dosfstools' in result['msg']


@pytest.mark.parametrize('extra,param,fragment', [
    ({'path': 'seed/web1.iso'}, 'path', 'is not an absolute path'),
    ({'user_data': 'hostname: web1'}, 'user_data', 'must start with a header cloud-init recognises'),
    ({'meta_data': {'instance-id': 'a b'}}, 'meta_data', "instance-id 'a b'"),
    ({'network_config': {'version': 2, 'ethernets': {'eth0': {'addresses': ['192.0.2.11']}}}}, 'network_config',
     'has no prefix length'),
])
def test_bad_input_fails_before_anything_runs(monkeypatch, tmp_path, extra, param, fragment):
    args = args_for(tmp_path / 'web1.iso')
    args.update(extra)
    host = Host([])
    result, failed = run(monkeypatch, args, host)
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith(param + ': ') and fragment in result['msg']
    assert host.xl.seen == [] and host.tools == []


def test_a_directory_is_not_a_seed(monkeypatch, tmp_path):
    result, failed = run(monkeypatch, args_for(tmp_path), Host([]))
    assert failed and result['error'] == 'invalid_parameter' and 'is a directory' in result['msg']


# -- removing --------------------------------------------------------------------------------

def test_absent_when_missing_runs_nothing(monkeypatch, seed_dir):
    host = Host([])
    result, failed = run(monkeypatch, {'path': str(seed_dir / 'web1.iso'), 'state': 'absent'}, host)
    assert not failed and result['changed'] is False and result['xl_calls'] == 0


def test_absent_removes_an_unused_seed_check_mode_first(monkeypatch, seed_dir):
    seed_dir.mkdir()
    path = seed_dir / 'web1.iso'
    path.write_bytes(b'\0' * 4096)
    result, failed = run(monkeypatch, {'path': str(path), 'state': 'absent', '_ansible_check_mode': True,
                                       '_ansible_diff': True}, Host(READ_DOMAINS))
    assert not failed and result['changed'] and path.exists()
    assert result['diff'] == {'before': {'state': 'present', 'format': None, 'content_id': None},
                              'after': {'state': 'absent'}, 'before_header': str(path), 'after_header': str(path)}
    result, failed = run(monkeypatch, {'path': str(path), 'state': 'absent'}, Host(READ_DOMAINS))
    assert not failed and result['changed'] and not path.exists()


def test_absent_refused_while_a_domain_uses_it(monkeypatch, seed_dir):
    seed_dir.mkdir()
    path = seed_dir / 'web1.iso'
    path.write_bytes(b'\0' * 4096)
    # no capture of a guest with disks exists yet (the lab's guests boot from a ramdisk): the parsed domain
    # list, as XlClient.domains returns it, is given as data
    monkeypatch.setattr(XlClient, 'domains', lambda self, *a, **k: [
        {'name': 'web1', 'disks': [{'target': str(seed_dir / '.' / 'web1.iso'), 'vdev': 'xvdz'}]}])
    result, failed = run(monkeypatch, {'path': str(path), 'state': 'absent'}, Host([]))
    assert failed and result['error'] == 'disk_in_use'
    assert 'is a disk of domain web1 (xvdz)' in result['msg'] and 'Nothing was changed' in result['msg']
    assert path.exists()


@needs_xorriso
def test_rebuilding_a_seed_in_use_warns(monkeypatch, seed_dir):
    path = seed_dir / 'web1.iso'
    monkeypatch.setattr(XlClient, 'domains', lambda self, *a, **k: [
        {'name': 'web1', 'disks': [{'target': str(path), 'vdev': 'xvdz'}]}])
    result, failed = run(monkeypatch, args_for(path), Host([]))
    assert not failed and result['changed'] and result['used_by'] == [{'name': 'web1', 'vdev': 'xvdz'}]
    assert any('Domain web1 uses %s (xvdz): it keeps the seed it was started with' % path in w
               for w in result['warnings'])
