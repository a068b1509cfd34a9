# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import subprocess

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _migrate as mig
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture


def live(name='pv1'):
    entries = parse.parse_list_long(Capture('xl_list_l_three_guests').stdout)
    rows = parse.parse_list(Capture('xl_list_three_guests').stdout)
    return [d for d in parse.merge_domains(entries, rows) if d['name'] == name][0]


def probe_output(tmp_path, list_capture='xl_list_dom0_only', paths=(), bridges=(), banner='', info='xl_info',
                 remote_xl=None):
    """Run the real probe script with sh, with `xl` a stub that prints captured output (in PATH, or at
    `remote_xl`, a path under tmp_path, given to the script as the target's xl)."""
    stub = tmp_path / 'bin'
    stub.mkdir(exist_ok=True)
    xl = tmp_path / remote_xl if remote_xl else stub / 'xl'
    xl.parent.mkdir(parents=True, exist_ok=True)
    xl.write_text(u'#!/bin/sh\ncase "$1" in\n  info) cat %s ;;\n  list) cat %s ;;\nesac\n'
                  % (_path(info), _path(list_capture)))
    xl.chmod(0o755)
    args = (list(paths), list(bridges), str(tmp_path / 'etc' / 'pv1.cfg'))
    script = mig.probe_script(*args, xl=str(xl)) if remote_xl else mig.probe_script(*args)
    env = {'PATH': '%s:/usr/bin:/bin' % stub}
    out = subprocess.run(['sh', '-c', (('echo %s\n' % banner) if banner else '') + script], env=env,
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    return out


def _path(name):
    import os
    from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import FIXTURES, DEFAULT_SET
    return os.path.join(FIXTURES, DEFAULT_SET, name + '.stdout')


def test_requirements_of_captured_guest():
    paths, bridges = mig.guest_requirements(live())
    assert paths == ['/vmlinuz', '/root/guests/guest-initrd.img'] and bridges == []


def test_probe_on_a_clean_target(tmp_path):
    present = tmp_path / 'disk.img'
    present.write_text(u'')
    out = probe_output(tmp_path, paths=[str(present), '/nonexistent/x y.img'])
    probe = mig.parse_probe(out)
    assert probe['complete'] and probe['has_xl'] and probe['info_rc'] == 0 and probe['banner'] == []
    assert probe['paths'] == {str(present): True, '/nonexistent/x y.img': False}
    assert parse.parse_info(probe['info_text'])['xen_version'] == '4.17.5'
    assert [r['name'] for r in parse.parse_list(probe['list_text'])] == ['Domain-0']


def test_preflight_reports_every_problem(tmp_path):
    out = probe_output(tmp_path, list_capture='xl_list_three_guests', paths=['/nonexistent.img'], bridges=['nobr0'],
                       banner='Welcome to the target')
    probe = mig.parse_probe(out)
    probe['dom0'] = True  # this machine has no /proc/xen: stand in for the target's capabilities file
    summary = dict(live(), pci_devices=1)
    summary['memory_mb'] = dict(summary['memory_mb'], current=5000)
    info = parse.parse_info(Capture('xl_info').stdout)
    problems = mig.preflight_problems('pv1', summary, info, probe, 'xen2')
    text = ' | '.join(problems)
    assert 'prints text on a non-interactive ssh command' in text and 'Welcome' in text
    assert 'xen2 has 3028 MiB free, pv1 needs 5000 MiB' in text
    assert 'already has a domain named pv1' in text
    assert 'missing on xen2' in text and '/nonexistent.img' in text
    assert 'bridge(s) nobr0' in text
    assert 'PCI passthrough' in text


def test_preflight_ok(tmp_path):
    probe = mig.parse_probe(probe_output(tmp_path))
    probe['dom0'] = True
    info = parse.parse_info(Capture('xl_info').stdout)
    assert mig.preflight_problems('pv1', live(), info, probe, 'xen2') == []


def test_preflight_older_xen(tmp_path):
    probe = mig.parse_probe(probe_output(tmp_path))
    probe['dom0'] = True
    info = dict(parse.parse_info(Capture('xl_info').stdout), xen_minor='20', xen_version='4.20.4')
    assert 'older than this host' in mig.preflight_problems('pv1', live(), info, probe, 'xen2')[0]


def test_preflight_not_a_xen_host():
    probe = mig.parse_probe('@@XENFLEET@@ begin\n@@XENFLEET@@ no-xl\n@@XENFLEET@@ capabilities\n@@XENFLEET@@ end\n')
    assert mig.preflight_problems('pv1', live(), {}, probe, 'plain1') == ['plain1 is not a Xen host: xl is not installed there']


@pytest.mark.parametrize('rc,text,status,said', [
    (1, 'migration sender: Target reported startup failure\nMigration failed, resuming at sender.', 'failed',
     'Migration failed, resuming at sender.'),
    (1, '** Migration failed during final handshake **\nDomain state is now undefined !', 'undefined',
     '** Migration failed during final handshake **'),
    (1, 'migration receiver stream contained unexpected data instead of banner', 'failed',
     'migration receiver stream contained unexpected data instead of banner'),
    (0, 'Migration successful.', 'ok', 'Migration successful.'),
])
def test_migrate_outcome(rc, text, status, said):
    assert mig.migrate_outcome(rc, '', text)[0] == status
    assert mig.migrate_outcome(rc, '', text)[1] == said


def test_move_config_script_quotes(tmp_path):
    script = mig.move_config_script(str(tmp_path / 'etc x' / 'pv1.cfg'), 0o600, str(tmp_path / 'auto' / 'pv1.cfg'))
    subprocess.run(['sh', '-c', script], input='name = "pv1"\n', universal_newlines=True, check=True)
    cfg = tmp_path / 'etc x' / 'pv1.cfg'
    assert cfg.read_text() == 'name = "pv1"\n' and oct(cfg.stat().st_mode & 0o777) == '0o600'
    assert (tmp_path / 'auto' / 'pv1.cfg').resolve() == cfg


def test_preflight_explains_a_half_received_copy_on_the_target(tmp_path):
    # xen2 after a receiver died mid-transfer (captured): mkill--incoming paused, 0 MiB
    probe = mig.parse_probe(probe_output(tmp_path))
    probe['dom0'] = True
    probe['list_text'] = Capture('xl_list_target_after_receiver_killed', 'xen-4.17.5-lab-migrate').stdout
    info = parse.parse_info(Capture('xl_info').stdout)
    text = ' | '.join(mig.preflight_problems('mkill', live(), info, probe, 'xen2'))
    assert 'xen2 already has a domain named mkill--incoming: a migration of mkill to it is running' in text
    assert 'ClientAliveInterval' in text and '`xl destroy mkill--incoming` there' in text


def test_move_config_script_without_autostart(tmp_path):
    script = mig.move_config_script(str(tmp_path / 'etc' / 'pv1.cfg'), 0o644)
    assert 'ln ' not in script
    subprocess.run(['sh', '-c', script], input='name = "pv1"\n', universal_newlines=True, check=True)
    assert sorted(p.name for p in (tmp_path / 'etc').iterdir()) == ['pv1.cfg']


def test_probe_uses_the_given_remote_xl(tmp_path):
    # xl_path on the target, a directory with a space in it: the script's xl words are quoted (_xl_cmd.remote_words)
    script = mig.probe_script([], [], '/etc/xen/pv1.cfg', xl='/opt/xen 4/bin/xl')
    assert "'/opt/xen 4/bin/xl' info" in script and "'/opt/xen 4/bin/xl' list" in script
    assert "command -v '/opt/xen 4/bin/xl'" in script
    probe = mig.parse_probe(probe_output(tmp_path, remote_xl='opt x/bin/xl'))
    assert probe['complete'] and probe['has_xl'] and probe['info_rc'] == 0
    assert parse.parse_info(probe['info_text'])['xen_version'] == '4.17.5'
    assert [r['name'] for r in parse.parse_list(probe['list_text'])] == ['Domain-0']


def test_probe_without_the_remote_xl(tmp_path):
    script = mig.probe_script([], [], str(tmp_path / 'pv1.cfg'), xl=str(tmp_path / 'no' / 'xl'))
    out = subprocess.run(['sh', '-c', script], env={'PATH': '/usr/bin:/bin'}, stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    probe = mig.parse_probe(out)
    assert probe['complete'] and not probe['has_xl']
    assert mig.preflight_problems('pv1', live(), {}, probe, 'xen2') == ['xen2 is not a Xen host: xl is not installed there']


@pytest.mark.parametrize('host', ['xen2', 'xen2.migration.example.net', 'xen2.', 'XEN-2', '10.0.99.2', '::1',
                                  'fe80::1', '2001:db8::2'])
def test_target_accepted(host):
    assert mig.target_problem(host) is None


@pytest.mark.parametrize('host,said', [
    ('', 'is empty: give a host name'),
    ('bad host;rm', "'bad host;rm' is not a host name"),
    ('xen2\n', "'xen2\\n' is not a host name"),
    ('-oProxyCommand=x', "'-oProxyCommand=x' is not a host name"),
    ('a b', "'a b' is not a host name"),
    ('xen2$(id)', "'xen2$(id)' is not a host name"),
    ('-xen2', "'-xen2' is not a host name"),
    ('xen_2', "'xen_2' is not a host name"),
    ('xen2..net', "'xen2..net' is not a host name"),
    ('a' * 64, 'is not a host name'),
    ('[::1]', "'[::1]' is not a host name"),
    ('::g', "'::g' is not a host name"),
    ('10.0.99.256', "'10.0.99.256' is not a valid IPv4 address"),
])
def test_target_refused(host, said):
    problem = mig.target_problem(host)
    assert said in problem
    assert 'or an IPv4 or IPv6 address' in problem or 'valid IPv4' in problem


@pytest.mark.parametrize('user,ok', [('root', True), ('migrate.user', True), ('svc_xen@corp', True), (None, True),
                                     ('', False), ('-oProxyCommand=x', False), ('root;id', False), ('a b', False),
                                     ('root\n', False), ('`id`', False)])
def test_ssh_user(user, ok):
    problem = mig.ssh_user_problem(user)
    assert (problem is None) == ok
    if not ok:
        assert 'is not a user name: letters, digits and . _ @ - only, not starting with -' in problem


def _params(**values):
    params = dict(target='xen2', ssh_user='root', ssh_port=None, ssh_connect_timeout=60, timeout=900, ssh_options=[])
    params.update(values)
    return params


@pytest.mark.parametrize('values,param,said', [
    (dict(target='a b'), 'target', "target: 'a b' is not a host name"),
    (dict(ssh_user='-l'), 'ssh_user', "ssh_user: '-l' is not a user name"),
    (dict(ssh_port=0), 'ssh_port', 'ssh_port: must be a port number from 1 to 65535, got 0'),
    (dict(ssh_port=65536), 'ssh_port', 'ssh_port: must be a port number from 1 to 65535, got 65536'),
    (dict(ssh_connect_timeout=0), 'ssh_connect_timeout', 'ssh_connect_timeout: must be a positive number of seconds, got 0'),
    (dict(timeout=-1), 'timeout', 'timeout: must be a positive number of seconds, got -1'),
    (dict(ssh_options=['BatchMode=no', '-v']), 'ssh_options', "ssh_options: '-v' is not an ssh -o option of the form Key=value"),
])
def test_validate_refuses(values, param, said):
    with pytest.raises(InvalidSpec) as caught:
        mig.validate(_params(**values))
    assert caught.value.param == param and caught.value.msg.startswith(said)


def test_validate_accepts():
    mig.validate(_params(ssh_port=2222, ssh_options=['UserKnownHostsFile=/k']))
    mig.validate(_params(target='2001:db8::2', ssh_port=65535, ssh_user=None))
