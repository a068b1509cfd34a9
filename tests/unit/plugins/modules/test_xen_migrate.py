# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess

import pytest

from ansible_collections.xenfleet.xen.plugins.modules import xen_migrate
from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_migrate as conv
from ansible_collections.xenfleet.xen.plugins.module_utils import _migrate as mig
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import SshTarget, XlClient
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import XEN_DOM0_FILES, Capture, fixture_text

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
    def run(args, steps, files=None):
        full = dict(name='pv1', target='xen2', config_dir=str(tmp_path), autostart_dir=str(tmp_path / 'auto'))
        full.update(args)
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_migrate.main, full, script, files=files)
        return result, failed, script
    return run


def arrival(list_capture='xl_list_three_guests', written=True):
    """What mig.arrive_script prints on a target whose `xl list` printed the capture (pv1 listed there or not): the
    rows, the marker, and - when it wrote the definition - the second marker."""
    rows = Capture(list_capture).stdout
    listed = any(row['name'] == 'pv1' for row in parse.parse_list(rows))
    return (0, rows + '%s listed\n' % MARK + ('%s written\n' % MARK if written and listed else ''), '')


def is_arrival(definition=None):
    """The arrival script (the target's xl list, and with `definition` - a piece of its script - the definition's
    write; without it no write)."""
    def match(call):
        script = call[-1]
        return is_ssh('%s listed' % MARK)(call) and (definition in script if definition else 'cat >' not in script)
    return match


def migrated(real=None, remote_list='xl_list_three_guests', definition=None, arrives=None):
    """The calls of a migration of pv1 to xen2 after the pre-flight: `xl migrate` answered with the capture `real`,
    pv1 gone from here; then, when `xl migrate` succeeded (or `arrives`), one ssh call that reads xen2's `xl list` (the
    capture `remote_list`) and, with `definition` (a piece of the script), writes the definition there; else xen2's
    `xl list` alone."""
    real = real or lab_capture('migrate_ok_pv_by_name')
    if arrives is None:
        arrives = mig.migrate_outcome(real.rc, real.stdout, real.stderr)[0] == 'ok'
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('xl info'), probe_reply()),
        (lambda call: call[0] == 'migrate' and call[-2:] == ['pv1', 'xen2'], (real.rc, real.stdout, real.stderr)),
        (['list', 'pv1'], 'err_list_unknown_name'),  # captured for another name: only the error matters
    ]
    if arrives:
        steps.append((is_arrival(definition), arrival(remote_list, written=bool(definition))))
    else:
        steps.append((lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, Capture(remote_list).stdout, '')))
    return steps


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
    assert failed and result['error'] == 'preflight_failed'
    assert result['msg'] == ('cannot reach xen2 over ssh as root (xl migrate uses the same transport): '
                             'ssh: connect to host xen2 port 22: Connection refused')
    assert result['rc'] == 255 and not any(call[0] == 'migrate' for call in script.seen)


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
    assert failed and result['error'] == 'guest_error'
    assert result['msg'] == 'pv1 runs neither on this host nor on xen2'


def test_ssh_options_validated(env):
    result, failed, script = env({'ssh_options': ['-v']}, [])
    assert failed and result['msg'].startswith('ssh_options:') and script.seen == []
    assert result['msg'] == "ssh_options: '-v' is not an ssh -o option of the form Key=value"


@pytest.mark.parametrize('args,msg', [
    ({'target': 'bad host;rm'}, "target: 'bad host;rm' is not a host name (letters, digits and hyphens in "
                                "dot-separated labels, RFC 1123) or an IPv4 or IPv6 address"),
    ({'target': '-oProxyCommand=x'}, "target: '-oProxyCommand=x' is not a host name (letters, digits and hyphens "
                                     "in dot-separated labels, RFC 1123) or an IPv4 or IPv6 address"),
    ({'target': 'a b'}, "target: 'a b' is not a host name (letters, digits and hyphens in dot-separated labels, "
                        "RFC 1123) or an IPv4 or IPv6 address"),
    ({'target': ''}, 'target: is empty: give a host name (letters, digits and hyphens in dot-separated labels, '
                     'RFC 1123) or an IPv4 or IPv6 address'),
    ({'ssh_port': 0}, 'ssh_port: must be a port number from 1 to 65535, got 0'),
    ({'ssh_port': 65536}, 'ssh_port: must be a port number from 1 to 65535, got 65536'),
    ({'ssh_user': 'root; id'}, "ssh_user: 'root; id' is not a user name: letters, digits and . _ @ - only, not "
                               "starting with -"),
    ({'ssh_user': '-oProxyCommand=x'}, "ssh_user: '-oProxyCommand=x' is not a user name: letters, digits and "
                                       ". _ @ - only, not starting with -"),
    ({'ssh_connect_timeout': 0}, 'ssh_connect_timeout: must be a positive number of seconds, got 0'),
    ({'timeout': -1}, 'timeout: must be a positive number of seconds, got -1'),
    ({'name': 'a b'}, "name: 'a b' "),
])
def test_bad_input_is_refused_before_anything_runs(env, args, msg):
    # no dom0 files: were the host looked at first, this would fail as not_xen_host
    result, failed, script = env(args, [], files={})
    assert failed and result['error'] == 'invalid_parameter', result
    assert result['msg'].startswith(msg), result['msg']
    assert script.seen == [] and result['xl_calls'] == 0


def test_xl_sshcmd_keeps_host_key_checking():
    target = SshTarget('xen2', port=2222, identity='/root/.ssh/id x', options=['UserKnownHostsFile=/k'])
    cmd = target.xl_sshcmd()
    assert cmd == ("ssh -o BatchMode=yes -o ConnectTimeout=15 -l root -p 2222 -i '/root/.ssh/id x' -o UserKnownHostsFile=/k"
                   " -o ServerAliveInterval=15 -o ServerAliveCountMax=4")
    assert 'StrictHostKeyChecking' not in cmd


def test_a_dead_target_is_noticed_and_the_users_alive_settings_win():
    argv = SshTarget('xen2', options=['ServerAliveInterval=5']).base_argv()
    values = [argv[i + 1] for i, word in enumerate(argv) if word == '-o' and argv[i + 1].startswith('ServerAlive')]
    # ssh keeps the first value it reads for an option: the user's 5 s comes before the default
    assert values == ['ServerAliveInterval=5', 'ServerAliveInterval=15', 'ServerAliveCountMax=4']


def test_multiplexing_options_follow_the_users():
    target = SshTarget('xen2', options=['ControlMaster=no'], control_path='/tmp/x/master')
    argv = target.base_argv()
    assert argv[-12:] == ['-o', 'ControlMaster=no', '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4',
                          '-o', 'ControlMaster=auto', '-o', 'ControlPath=/tmp/x/master', '-o', 'ControlPersist=60']
    assert target.close_argv()[-4:] == ['-O', 'exit', '--', 'xen2']
    assert SshTarget('xen2').close_argv() is None


def test_every_ssh_call_shares_one_connection_which_is_closed(env, tmp_path, monkeypatch):
    # the probe, xl's transport, and the read after the migration with the definition's move: one master
    control = tmp_path / 'ctl'
    control.mkdir()
    (control / 'master').write_text(u'')  # the socket the first ssh would have made
    monkeypatch.setattr(conv.tempfile, 'mkdtemp', lambda prefix: str(control))
    real = lab_capture('migrate_ok_pv_by_name')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    path_opt = 'ControlPath=%s' % (control / 'master')
    steps = [(['info'], 'xl_info')] + READ + [
        (lambda call: is_ssh('xl info')(call) and path_opt in call, probe_reply()),
        (lambda call: call[0] == 'migrate' and path_opt in call[2], (real.rc, real.stdout, real.stderr)),
        (['list', 'pv1'], 'err_list_unknown_name'),
        (lambda call: is_arrival('cat >')(call) and path_opt in call, arrival()),
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
    return json.loads(fixture_text(name, LAB))


@pytest.mark.parametrize('recorded', ['module_result_pv_ok.json', 'module_result_pvh_ok.json'])
def test_real_transfer_lines_read_as_success(env, tmp_path, recorded):
    """The module, fed the xl lines of the real PV and PVH migrations (converge of molecule/migrate, recorded in
    the module's result there), returns what it returned in the lab: moved, with these transfer lines."""
    real = lab_result(recorded)
    text = '\n'.join(real['transfer'])
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    (tmp_path / 'auto').mkdir()
    (tmp_path / 'auto' / 'pv1.cfg').symlink_to(tmp_path / 'pv1.cfg')
    steps = migrated(definition='ln -sfn')
    steps[4] = (steps[4][0], (0, '', text + '\n'))  # xl prints the transfer on stderr
    result, failed, script = env({}, steps)
    assert not failed, result
    for key in ('changed', 'location', 'moved', 'transfer'):
        assert result[key] == real[key], key


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
        (is_arrival('cat >'), arrival()),
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
        (is_arrival('ln -sfn'), arrival()),
    ]
    result, failed, script = env({}, steps)
    assert not failed, result
    assert result['moved'] == {'config_file': True, 'autostart': True}
    assert os.listdir(str(tmp_path / 'auto')) == []


def _definition(tmp_path, autostart):
    """pv1's config file, and an autostart entry: 'link' (auto/pv1.cfg -> it), 'other_link' (auto/web -> it),
    'copy' (a plain copy at auto/pv1.cfg), 'dangling' (auto/pv1.cfg -> a file that is gone) or None."""
    cfg = tmp_path / 'pv1.cfg'
    cfg.write_text(u'name = "pv1"\n')
    auto = tmp_path / 'auto'
    auto.mkdir()
    if autostart == 'link':
        (auto / 'pv1.cfg').symlink_to(cfg)
    elif autostart == 'other_link':
        (auto / 'web').symlink_to(cfg)
    elif autostart == 'copy':
        (auto / 'pv1.cfg').write_text(u'name = "pv1"\n')
    elif autostart == 'dangling':
        (auto / 'pv1.cfg').symlink_to(tmp_path / 'gone.cfg')


def _snapshot(tmp_path):
    return sorted((str(p.relative_to(tmp_path)), os.path.islink(str(p))) for p in tmp_path.rglob('*'))


# Check mode used to predict `moved.autostart` from a link at auto/pv1.cfg alone, while the real run removes every
# entry that starts the guest: a link under another name and a copy at pv1.cfg were predicted as not moving.
@pytest.mark.parametrize('autostart,moves', [('link', True), ('other_link', True), ('copy', True),
                                             ('dangling', True), (None, False)])
def test_check_mode_predicts_what_the_real_run_moves(env, tmp_path, autostart, moves):
    _definition(tmp_path, autostart)
    before = _snapshot(tmp_path)
    steps = [(['info'], 'xl_info')] + READ + [(is_ssh('xl info'), probe_reply())]
    predicted, failed, script = env({'_ansible_check_mode': True}, steps)
    assert not failed, predicted
    assert predicted['moved'] == {'config_file': True, 'autostart': moves}
    assert _snapshot(tmp_path) == before
    result, failed, script = env({}, migrated(definition='ln -sfn' if moves else 'cat >'))
    assert not failed, result
    assert result['moved'] == predicted['moved']
    assert ('ln -sfn' in script.seen[-1][-1]) == moves
    assert os.listdir(str(tmp_path / 'auto')) == [] and not (tmp_path / 'pv1.cfg').exists()


def test_check_mode_on_the_target_predicts_the_definition_left_behind(env, tmp_path):
    _definition(tmp_path, 'other_link')
    before = _snapshot(tmp_path)
    steps = [(['info'], 'xl_info')] + READ_NONE + [
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list', (0, Capture('xl_list_three_guests').stdout, ''))]
    result, failed, script = env({'_ansible_check_mode': True}, steps)
    assert not failed, result
    assert result['changed'] is True and result['location'] == 'target'
    assert result['moved'] == {'config_file': True, 'autostart': True}
    assert _snapshot(tmp_path) == before


def test_nothing_moves_without_persist(env, tmp_path):
    _definition(tmp_path, 'link')
    before = _snapshot(tmp_path)
    result, failed, script = env({'persist': False}, migrated())
    assert not failed, result
    assert result['moved'] == {'config_file': False, 'autostart': False} and _snapshot(tmp_path) == before


def test_the_remote_xl_is_xl_path(env, monkeypatch):
    # xl_path (here the harness's /usr/sbin/xl) is the xl the module runs on the target too
    monkeypatch.setattr(_xl, 'xl_path_problem', lambda path: None)
    steps = [(['info'], 'xl_info')] + READ_NONE + [
        (lambda call: call[0] == 'ssh' and call[-1] == '/usr/sbin/xl list', (0, Capture('xl_list_three_guests').stdout, ''))]
    result, failed, script = env({'xl_path': '/usr/sbin/xl'}, steps)
    assert not failed and result['location'] == 'target', result
    steps = [(['info'], 'xl_info')] + READ + [
        (is_ssh('command -v /usr/sbin/xl >/dev/null 2>&1; then /usr/sbin/xl info 2>&1'), probe_reply())]
    result, failed, script = env({'xl_path': '/usr/sbin/xl', '_ansible_check_mode': True}, steps)
    assert not failed and result['location'] == 'source', result
    assert 'echo @@XENFLEET@@ list; /usr/sbin/xl list 2>/dev/null' in script.seen[-1][-1]


def test_real_transport_timeout_is_a_failure_with_the_guest_at_the_source(env):
    """`xl migrate` whose ssh timed out in the banner exchange (xen2 too busy; captured by the same_name step,
    see the fixtures' README): xl never reached the target, the guest still runs at the source."""
    real = lab_capture('err_migrate_ssh_banner_timeout')
    assert 'Connection timed out during banner exchange' in real.stderr
    assert mig.migrate_outcome(real.rc, real.stdout, real.stderr) == (
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
    assert mig.migrate_outcome(real.rc, real.stdout, real.stderr) == (
        'failed', "xl is not installed on the target (or not in the ssh user's PATH): bash: line 1: xl: command not found")


def test_real_failure_at_the_target_after_the_transfer(env, tmp_path):
    """Evacuation xen2 -> xen1 in the lab: the whole memory arrived, then xen1's block hotplug script timed
    out, the target could not create the domain and xl resumed the guest at the sender. Fed xl's output from
    that run, the module fails as it did there (the lab's guest and target were mpv and 192.168.77.11)."""
    real = lab_result('module_result_target_hotplug_timeout.json')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    steps = migrated(remote_list='xl_list_dom0_only', arrives=False)
    steps[4] = (steps[4][0], (real['rc'], real['stdout'], real['stderr']))
    steps[5] = (['list', 'pv1'], (0, Capture('xl_list_three_guests').stdout, ''))  # still here, running
    result, failed, script = env({}, steps)
    assert failed and result['error'] == real['error'] == 'migration_failed'
    assert result['msg'] == real['msg'].replace('mpv', 'pv1').replace('192.168.77.11', 'xen2')
    assert (result['rc'], result['stdout'], result['stderr']) == (real['rc'], real['stdout'], real['stderr'])
    assert result['cmd'][1:3] == real['cmd'][1:3] == ['migrate', '-s'] and result['cmd'][-2:] == ['pv1', 'xen2']
    assert (tmp_path / 'pv1.cfg').exists()


def test_real_guest_gone_before_the_transfer(env, tmp_path):
    """`xl migrate` of a guest that was not there (any more): xl says so, and the guest is on neither host."""
    real = lab_capture('err_migrate_guest_not_here')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    result, failed, script = env({}, migrated(real, remote_list='xl_list_dom0_only'))
    assert failed and result['error'] == 'migration_undefined'
    assert result['msg'].startswith(
        'Migration of pv1 to xen2 ended in an undefined state (mcap is an invalid domain identifier (rc=-6)). '
        'On this host the guest is absent; on xen2 it is absent.')
    assert result['rc'] == 1 and result['stderr'] == real.stderr
    assert (tmp_path / 'pv1.cfg').exists()


class _Module(object):
    """What XlClient and the Migration steps use of an AnsibleModule, its commands answered by an XlScript."""

    check_mode = False
    _diff = False

    def __init__(self, script, **params):
        self.script = script
        self.params = dict(xl_path=None, command_timeout=120, lock_timeout=900, timeout=900, persist=True,
                           ssh_user='root')
        self.params.update(params)

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return {'xl': '/usr/sbin/xl', 'timeout': '/usr/bin/timeout'}.get(name)

    def run_command(self, args, **kwargs):
        return self.script.run_command(args, **kwargs)


def _client(tmp_path, steps, **params):
    script = XlScript(steps)
    module = _Module(script, **params)
    return XlClient(module, lock_path=str(tmp_path / 'lock'), read_file=XEN_DOM0_FILES.get), module, script


def test_real_receiver_killed_leaves_incoming_copy_which_is_destroyed(tmp_path):
    """xl's receiver on xen2 killed (SIGKILL) mid-transfer: the sender resumed the guest (it kept running on
    xen1), and xen2 kept `mkill--incoming` paused; `xl destroy mkill--incoming` there removed it (rc 0, by hand
    in the same lab). The module now does that destroy itself. The steps after the pre-flight, fed the captures."""
    real = lab_capture('err_migrate_receiver_killed')
    client, module, script = _client(tmp_path, [
        (lambda call: call[:2] == ['migrate', '-s'] and call[-2:] == ['mkill', '192.168.77.12'],
         (real.rc, real.stdout, real.stderr)),
        (['list', 'mkill'], (0, lab_capture('xl_list_source_after_receiver_killed').stdout, '')),
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl list',
         (0, lab_capture('xl_list_target_after_receiver_killed').stdout, '')),
        (lambda call: call[0] == 'ssh' and call[-1] == 'xl destroy mkill--incoming', (0, '', '')),
    ], name='mkill', target='192.168.77.12')
    move = conv.Migration(module, client, SshTarget('192.168.77.12'), started=0)
    outcome = move.transfer()
    assert (outcome['status'], outcome['message']) == ('failed', 'Migration failed, resuming at sender.')
    here = conv.life.row_of(client, 'mkill')
    rows, there = move.on_target()
    assert here['name'] == 'mkill' and there is None
    err = move.failure(outcome, here, rows, there)
    assert err.kind == 'migration_failed' and err.rc == real.rc and err.stderr == real.stderr
    assert err.msg == ('Migration of mkill to 192.168.77.12 failed (Migration failed, resuming at sender.); the guest '
                       'still runs on this host (running). Its definition was not moved. The half-received copy '
                       'mkill--incoming that the receiver left on 192.168.77.12 was destroyed.')
    assert script.steps == []


def test_incoming_copy_that_cannot_be_destroyed_is_named(tmp_path):
    rows = parse.parse_list(lab_capture('xl_list_target_after_receiver_killed').stdout)
    gone = Capture('err_destroy_unknown')  # the copy went away meanwhile: xl destroy fails
    client, module, script = _client(tmp_path, [
        (lambda call: call[0] == 'ssh' and call[-1] == '/opt/xen/bin/xl destroy mkill--incoming',
         (gone.rc, gone.stdout, gone.stderr))], xl_path='/opt/xen/bin/xl')
    said = conv.clean_incoming(client, SshTarget('192.168.77.12'), 'mkill', rows)
    assert said == (' The receiver left a half-received copy mkill--incoming on 192.168.77.12, and `xl destroy '
                    'mkill--incoming` there failed (nosuchdomain is an invalid domain identifier (rc=-6)): destroy it '
                    'by hand before migrating again.')
    assert conv.clean_incoming(client, SshTarget('192.168.77.12'), 'mcap', rows) == ''
    assert script.steps == [] and len(script.seen) == 1


def test_paused_guest_is_refused_before_anything(env):
    # a paused PV guest failed in the lab with "Migration failed, failed to suspend at sender"
    steps = [(['info'], 'xl_info'), (['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_paused')]
    result, failed, script = env({}, steps)
    assert failed and result['error'] == 'preflight_failed'
    assert result['msg'].startswith('pv1 is paused on this host: a paused guest cannot be live-migrated')
    assert not any(call[0] in ('migrate', 'ssh') for call in script.seen)


# -- after a successful transfer: the target read and the definition written in one ssh round trip ----------------

def _run_arrival(tmp_path, list_capture, xl_rc=0, config_dir=None):
    """mig.arrive_script for pv1 run by /bin/sh, its `xl` a stand-in printing the captured `xl list` (exit xl_rc);
    the config file from stdin to config_dir (default tmp_path/etc) with an autostart link. Returns (rc, stdout,
    config path, link path)."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'list.txt').write_text(Capture(list_capture).stdout)
    fake = bindir / 'xl'
    fake.write_text(u'#!/bin/sh\n[ "$1" = list ] || exit 2\ncat %s\nexit %d\n' % (bindir / 'list.txt', xl_rc))
    fake.chmod(0o755)
    config = os.path.join(str(config_dir or tmp_path / 'etc'), 'pv1.cfg')
    link = str(tmp_path / 'auto' / 'pv1.cfg')
    script = mig.arrive_script('pv1', str(fake), config, 0o600, link)
    proc = subprocess.run(['/bin/sh', '-c', script], input='name = "pv1"\n', stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout, config, link


def test_arrival_writes_the_definition_where_the_guest_is_listed(tmp_path):
    rc, out, config, link = _run_arrival(tmp_path, 'xl_list_three_guests')
    rows, written = mig.parse_arrival(out)
    assert rc == 0 and written and [r['name'] for r in rows] == [r['name'] for r in parse.parse_list(
        Capture('xl_list_three_guests').stdout)]
    assert open(config).read() == 'name = "pv1"\n' and oct(os.stat(config).st_mode & 0o777) == oct(0o600)
    assert os.readlink(link) == config and os.listdir(os.path.dirname(config)) == ['pv1.cfg']


def test_arrival_writes_nothing_where_the_guest_is_not_listed(tmp_path):
    rc, out, config, link = _run_arrival(tmp_path, 'xl_list_dom0_only')
    rows, written = mig.parse_arrival(out)
    assert rc == 0 and not written and [r['name'] for r in rows] == ['Domain-0']
    assert not os.path.exists(config) and not os.path.lexists(link)


def test_arrival_with_a_failing_xl_reads_nothing_and_writes_nothing(tmp_path):
    rc, out, config, link = _run_arrival(tmp_path, 'xl_list_three_guests', xl_rc=1)
    assert rc == 1 and mig.parse_arrival(out) == (None, False)
    assert not os.path.exists(config) and not os.path.lexists(link)


def test_arrival_whose_write_fails_says_so(tmp_path):
    blocked = tmp_path / 'blocked'
    blocked.write_text(u'a file where the config directory should be\n')
    rc, out, config, link = _run_arrival(tmp_path, 'xl_list_three_guests', config_dir=blocked)
    rows, written = mig.parse_arrival(out)
    assert rc != 0 and rows is not None and not written and not os.path.lexists(link)


def test_definition_not_written_on_the_target_stays_here(env, tmp_path):
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    steps = migrated(definition='cat >')
    rows = Capture('xl_list_three_guests').stdout
    steps[-1] = (steps[-1][0], (1, rows + '%s listed\n' % MARK, 'mkdir: cannot create directory: Read-only file system\n'))
    result, failed, script = env({}, steps)
    assert failed and result['error'] == 'migration_failed' and script.steps == []
    assert result['msg'] == ('pv1 now runs on xen2, but its config file could not be written there (mkdir: cannot '
                             'create directory: Read-only file system); it is still in %s on this host. Copy it by '
                             'hand, or run the task again.' % (tmp_path / 'pv1.cfg'))
    assert (tmp_path / 'pv1.cfg').exists()


def test_success_reported_but_guest_on_neither_host_keeps_the_definition(env, tmp_path):
    # xl said success, the guest left here, but the target's list (read by the arrival, no other call) lacks it
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    result, failed, script = env({}, migrated(remote_list='xl_list_dom0_only', definition='cat >'))
    assert failed and result['error'] == 'migration_undefined' and script.steps == []
    assert 'On this host the guest is absent; on xen2 it is absent.' in result['msg']
    assert (tmp_path / 'pv1.cfg').exists()
