# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.xenfleet.xen.plugins.modules import xen_migrate
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import XlResult
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture, fixture_text

READ = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]
READ_NONE = [(['list', '-l'], 'xl_list_l_dom0_only'), (['list'], 'xl_list_dom0_only')]
MARK = '@@XENFLEET@@'


def probe_reply(list_capture='xl_list_dom0_only', paths=('/vmlinuz', '/root/guests/guest-initrd.img'), missing=(),
                banner=''):
    """What the probe script prints on a target whose xl printed these captured outputs."""
    out = [banner] if banner else []
    out += ['%s begin' % MARK, Capture('xl_info').stdout.rstrip('\n'), '%s info-rc 0' % MARK,
            '%s capabilities' % MARK, 'control_d', '%s list' % MARK, Capture(list_capture).stdout.rstrip('\n'),
            '%s paths' % MARK]
    out += ['%s %s' % ('missing' if p in missing else 'present', p) for p in paths]
    out += ['%s bridges' % MARK, '%s config' % MARK, 'missing', '%s end' % MARK]
    return (0, '\n'.join(out) + '\n', '')


def is_ssh(script_part):
    def match(call):
        return call[0] == 'ssh' and 'BatchMode=yes' in call and call[-2] == 'xen2' and script_part in call[-1]
    return match


@pytest.fixture
def env(monkeypatch, tmp_path):
    def run(args, steps):
        full = dict(name='pv1', target='xen2', config_dir=str(tmp_path), autostart_dir=str(tmp_path / 'auto'))
        full.update(args)
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_migrate.main, full, script)
        return result, failed, script
    return run


def test_check_mode_runs_preflight_only(env):
    steps = [(['info'], 'xl_info')] + READ + [(is_ssh('xl info'), probe_reply())]
    result, failed, script = env({'_ansible_check_mode': True, '_ansible_diff': True}, steps)
    assert not failed, result
    assert result['changed'] is True and result['location'] == 'source'
    assert result['preflight']['paths'] == {'/vmlinuz': True, '/root/guests/guest-initrd.img': True}
    assert result['preflight']['target_free_memory_mb'] == 3028
    assert result['diff'] == {'before': {'host': 'xendom0'}, 'after': {'host': 'xen2'}}
    assert not any(call[0] == 'migrate' for call in script.seen)


def test_preflight_failure_moves_nothing(env):
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('xl info'), probe_reply('xl_list_three_guests', missing=('/root/guests/guest-initrd.img',),
                                        banner='Last login: yesterday'))]
    result, failed, script = env({}, steps)
    assert failed and result['error'] == 'preflight_failed'
    assert 'already has a domain named pv1' in result['msg']
    assert 'missing on xen2' in result['msg'] and '/root/guests/guest-initrd.img' in result['msg']
    assert 'prints text on a non-interactive ssh command' in result['msg']
    assert 'the guest still runs here' in result['msg']
    assert not any(call[0] == 'migrate' for call in script.seen)


def test_unreachable_target(env):
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('xl info'), (255, '', 'ssh: connect to host xen2 port 22: Connection refused\n'))]
    result, failed, script = env({}, steps)
    assert failed and result['error'] == 'preflight_failed' and 'cannot reach xen2 over ssh' in result['msg']


def test_already_on_target_is_ok(env):
    remote_list = Capture('xl_list_three_guests')
    steps = [(['info'], 'xl_info')] + READ_NONE + [
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, remote_list.stdout, ''))]
    result, failed, script = env({}, steps)
    assert not failed and result['changed'] is False and result['location'] == 'target'


def test_nowhere(env):
    steps = [(['info'], 'xl_info')] + READ_NONE + [
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, Capture('xl_list_dom0_only').stdout, ''))]
    result, failed, script = env({}, steps)
    assert failed and 'runs neither on this host nor on xen2' in result['msg']


def test_ssh_options_validated(env):
    result, failed, script = env({'ssh_options': ['-v']}, [])
    assert failed and result['msg'].startswith('ssh_options:') and script.seen == []


def test_xl_sshcmd_keeps_host_key_checking():
    target = xen_migrate.SshTarget('xen2', port=2222, identity='/root/.ssh/id x', options=['UserKnownHostsFile=/k'])
    cmd = target.xl_sshcmd()
    assert cmd == ("ssh -o BatchMode=yes -o ConnectTimeout=15 -l root -p 2222 -i '/root/.ssh/id x' -o UserKnownHostsFile=/k"
                   " -o ServerAliveInterval=15 -o ServerAliveCountMax=4")
    assert 'StrictHostKeyChecking' not in cmd


def test_a_dead_target_is_noticed_and_the_users_alive_settings_win():
    argv = xen_migrate.SshTarget('xen2', options=['ServerAliveInterval=5']).base_argv()
    values = [argv[i + 1] for i, word in enumerate(argv) if word == '-o' and argv[i + 1].startswith('ServerAlive')]
    # ssh keeps the first value it reads for an option: the user's 5 s comes before the default
    assert values == ['ServerAliveInterval=5', 'ServerAliveInterval=15', 'ServerAliveCountMax=4']


def test_multiplexing_options_follow_the_users():
    target = xen_migrate.SshTarget('xen2', options=['ControlMaster=no'], control_path='/tmp/x/master')
    argv = target.base_argv()
    assert argv[-12:] == ['-o', 'ControlMaster=no', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4',
                          '-o', 'ControlMaster=auto', '-o', 'ControlPath=/tmp/x/master', '-o', 'ControlPersist=60']
    assert target.close_argv()[-4:] == ['-O', 'exit', '--', 'xen2']
    assert xen_migrate.SshTarget('xen2').close_argv() is None


def test_every_ssh_call_shares_one_connection_which_is_closed(env, tmp_path, monkeypatch):
    # the probe, xl's transport, the read after the migration and the definition move: one master
    control = tmp_path / 'ctl'
    control.mkdir()
    (control / 'master').write_text(u'')  # the socket the first ssh would have made
    monkeypatch.setattr(xen_migrate.tempfile, 'mkdtemp', lambda prefix: str(control))
    real = lab_capture('migrate_ok_pv_by_name')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    path_opt = 'ControlPath=%s' % (control / 'master')
    steps = [(['info'], 'xl_info')] + READ + [
        (lambda call: is_ssh('xl info')(call) and path_opt in call, probe_reply()),
        (lambda call: call[0] == 'migrate' and path_opt in call[2], (real.rc, real.stdout, real.stderr)),
        (['list', 'pv1'], 'err_list_unknown_name'),
        (lambda call: path_opt in call and call[-1] == 'xl list', (0, Capture('xl_list_three_guests').stdout, '')),
        (lambda call: is_ssh('cat >')(call) and path_opt in call, (0, '', '')),
        (lambda call: path_opt in call and call[-4:] == ['-O', 'exit', '--', 'xen2'], (0, '', 'Exit request sent.\n')),
    ]
    result, failed, script = env({}, steps)
    assert not failed, result
    assert result['location'] == 'target' and script.steps == []
    assert not control.exists()


def test_multiplexing_can_be_turned_off(env, tmp_path):
    steps = [(['info'], 'xl_info')] + READ + [
        (lambda call: is_ssh('xl info')(call) and not any('Control' in a for a in call), probe_reply())]
    result, failed, script = env({'_ansible_check_mode': True, 'ssh_multiplex': False}, steps)
    assert not failed, result
    assert result['location'] == 'source' and script.steps == []


# ---- output of real migrations between two nested Xen 4.17.5 hosts (tests/unit/fixtures/xen-4.17.5-lab-migrate)

LAB = 'xen-4.17.5-lab-migrate'


def lab_capture(name):
    return Capture(name, LAB)


def lab_result(name):
    import json
    return json.loads(fixture_text(name, LAB))


def test_real_transfer_lines_read_as_success():
    """The xl lines the module returned from the real PV and PVH migrations (converge of molecule/migrate)."""
    for name in ('module_result_pv_ok.json', 'module_result_pvh_ok.json'):
        real = lab_result(name)
        text = '\n'.join(real['transfer'])
        assert xen_migrate.mig.migrate_outcome(0, '', text) == ('ok', 'Migration successful.')
        assert xen_migrate.mig.transfer_facts('', text) == real['transfer']
        assert real['location'] == 'target' and real['moved'] == {'autostart': True, 'config_file': True}


def test_successful_migration_moves_the_definition(env, tmp_path):
    # a real successful `xl migrate` between the lab hosts: xl prints everything on stderr
    real = lab_capture('migrate_ok_pv_by_name')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    (tmp_path / 'auto').mkdir()
    (tmp_path / 'auto' / 'pv1.cfg').symlink_to(tmp_path / 'pv1.cfg')
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('xl info'), probe_reply()),
        (lambda call: call[0] == 'migrate' and call[-2:] == ['pv1', 'xen2'], (real.rc, real.stdout, real.stderr)),
        (['list', 'pv1'], 'err_list_unknown_name'),  # captured for another name: only the error matters
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, Capture('xl_list_three_guests').stdout, '')),
        (is_ssh('cat >'), (0, '', '')),
    ]
    result, failed, script = env({}, steps)
    assert not failed, result
    assert result['changed'] is True and result['location'] == 'target'
    assert result['moved'] == {'config_file': True, 'autostart': True}
    assert 0 <= result['preflight_duration'] <= result['duration']
    assert result['preflight_duration'] + result['migrate_duration'] <= result['duration'] + 0.002
    assert result['transfer'][0] == 'migration target: Ready to receive domain.'
    assert result['transfer'][-1] == 'Migration successful.' and 'Parsing config from <saved>' not in result['transfer']
    assert not (tmp_path / 'pv1.cfg').exists() and not (tmp_path / 'auto' / 'pv1.cfg').is_symlink()


def test_migration_takes_every_autostart_entry_off_the_source(env, tmp_path):
    # a link under another name starts the guest too (xendomains reads every file): it must not stay
    real = lab_capture('migrate_ok_pv_by_name')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    (tmp_path / 'auto').mkdir()
    (tmp_path / 'auto' / 'web').symlink_to(tmp_path / 'pv1.cfg')
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('xl info'), probe_reply()),
        (lambda call: call[0] == 'migrate' and call[-2:] == ['pv1', 'xen2'], (real.rc, real.stdout, real.stderr)),
        (['list', 'pv1'], 'err_list_unknown_name'),
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, Capture('xl_list_three_guests').stdout, '')),
        (is_ssh('ln -sfn'), (0, '', '')),
    ]
    result, failed, script = env({}, steps)
    assert not failed, result
    assert result['moved'] == {'config_file': True, 'autostart': True}
    assert os.listdir(str(tmp_path / 'auto')) == []


def test_real_transport_timeout_is_a_failure_with_the_guest_at_the_source(env):
    """`xl migrate` whose ssh timed out in the banner exchange (xen2 too busy; captured by the same_name step,
    see the fixtures' README): xl never reached the target, the guest still runs at the source."""
    real = lab_capture('err_migrate_ssh_banner_timeout')
    assert 'Connection timed out during banner exchange' in real.stderr
    assert xen_migrate.mig.migrate_outcome(real.rc, real.stdout, real.stderr) == (
        'failed', 'SSH to the target timed out in the banner exchange: Connection timed out during banner exchange')
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('xl info'), probe_reply()),
        (lambda call: call[0] == 'migrate', (real.rc, real.stdout, real.stderr)),
        (['list', 'pv1'], (0, Capture('xl_list_three_guests').stdout, '')),
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, Capture('xl_list_dom0_only').stdout, '')),
    ]
    result, failed, script = env({}, steps)
    assert failed and result['error'] == 'migration_failed'
    assert 'the guest still runs on this host' in result['msg'] and 'banner exchange' in result['msg']
    assert 'ConnectTimeout=60' in script.seen[4][2]


def test_real_target_without_xl():
    real = lab_capture('err_migrate_no_xl')
    assert xen_migrate.mig.migrate_outcome(real.rc, real.stdout, real.stderr) == (
        'failed', "xl is not installed on the target (or not in the ssh user's PATH): bash: line 1: xl: command not found")


def test_real_failure_at_the_target_after_the_transfer():
    """Evacuation xen2 -> xen1 in the lab: the whole memory arrived, then xen1's block hotplug script timed
    out, the target could not create the domain and xl resumed the guest at the sender."""
    real = lab_result('module_result_target_hotplug_timeout.json')
    assert xen_migrate.mig.migrate_outcome(real['rc'], real['stdout'], real['stderr']) == (
        'failed', 'Migration failed, resuming at sender.')
    assert 'the guest still runs on this host (running)' in real['msg']


def test_real_guest_not_on_this_host():
    real = lab_capture('err_migrate_guest_not_here')
    assert real.rc == 1 and 'is an invalid domain identifier' in real.stderr
    assert xen_migrate.mig.migrate_outcome(real.rc, real.stdout, real.stderr)[0] == 'failed'


class _SshRecorder(object):
    def __init__(self, rc=0):
        self.rc = rc
        self.calls = []

    def run_ssh(self, target, argv, check=True):
        self.calls.append(argv)
        return XlResult(['ssh'] + list(argv), self.rc, '', '')


def test_real_receiver_killed_leaves_incoming_copy_which_is_destroyed():
    """xl's receiver on xen2 killed (SIGKILL) mid-transfer: the sender resumed the guest (it kept running on
    xen1), and xen2 kept `mkill--incoming` paused; `xl destroy mkill--incoming` there removed it (rc 0, by hand
    in the same lab). The module now does that destroy itself."""
    real = lab_capture('err_migrate_receiver_killed')
    assert xen_migrate.mig.migrate_outcome(real.rc, real.stdout, real.stderr) == (
        'failed', 'Migration failed, resuming at sender.')
    source = xen_migrate.parse.parse_list(lab_capture('xl_list_source_after_receiver_killed').stdout)
    assert [r['name'] for r in source if r['name'] == 'mkill'] == ['mkill']
    rows = xen_migrate.parse.parse_list(lab_capture('xl_list_target_after_receiver_killed').stdout)
    target = xen_migrate.SshTarget('192.168.77.12')
    client = _SshRecorder(rc=0)
    said = xen_migrate.clean_incoming(client, target, 'mkill', rows)
    assert client.calls == [['xl', 'destroy', 'mkill--incoming']]
    assert 'mkill--incoming' in said and 'was destroyed' in said
    failing = _SshRecorder(rc=1)
    assert 'destroy it by hand' in xen_migrate.clean_incoming(failing, target, 'mkill', rows)
    assert xen_migrate.clean_incoming(_SshRecorder(), target, 'mcap', rows) == ''


def test_paused_guest_is_refused_before_anything(env):
    # a paused PV guest failed in the lab with "Migration failed, failed to suspend at sender"
    steps = [(['info'], 'xl_info'), (['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_paused')]
    result, failed, script = env({}, steps)
    assert failed and result['error'] == 'preflight_failed'
    assert result['msg'].startswith('pv1 is paused on this host: a paused guest cannot be live-migrated')
    assert not any(call[0] in ('migrate', 'ssh') for call in script.seen)
