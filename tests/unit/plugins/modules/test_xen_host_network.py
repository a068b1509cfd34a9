# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_host_network's main() against a simulated host: its files under a temporary root, its commands answered in
process (ip's JSON is built here in iproute2's format - the parser itself is tested against a capture in
test_hostnet.py), ifup/ifdown/networkctl changing the simulated links as the real ones would, and a fake clock.
Check mode and diff, the confirmed change, the rollback when no confirmation comes or ifup fails, idempotence,
refusals before any change."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_hostnet
from ansible_collections.xenfleet.xen.plugins.modules import xen_host_network

INSTALLER_DHCP = """\
# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug eno1
iface eno1 inet dhcp
"""
BRIDGE_FILE = '/etc/network/interfaces.d/xenfleet-bridge-xenbr0'
CONFIRM = '/run/xenfleet-xen/network-confirm'
STATE = '/run/xenfleet-xen/network-state'
ROLE_NAMES = {'bridges': 'xen_hypervisor_bridges', 'bonds': 'xen_hypervisor_bonds',
              'stack': 'xen_hypervisor_network_stack', 'legacy': 'xen_hypervisor_bridge_'}
BINS = {'ip': '/usr/bin/ip', 'timeout': '/usr/bin/timeout', 'systemctl': '/usr/bin/systemctl',
        'networkctl': '/usr/bin/networkctl', 'ifup': '/usr/sbin/ifup', 'ifdown': '/usr/sbin/ifdown'}


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result)
        self.result = result
        self.failed = failed


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakeHost(object):
    """A Debian server: eno1 with a DHCP lease and the default route. ifup/ifdown and networkctl act on `links`;
    `on_up` hooks let a test write the controller's confirmation or break the result."""

    def __init__(self, root, networkd=False, networkmanager=False, networkd_links=None):
        self.root = root
        self.calls = []
        self.raw_calls = []
        self.networkd = networkd
        self.networkmanager = networkmanager
        self.networkd_links = networkd_links or {}
        self.links = {'lo': {'kind': 'loopback', 'mac': '00:00:00:00:00:00'},
                      'eno1': {'kind': None, 'mac': '52:54:00:00:00:01'},
                      'eno2': {'kind': None, 'mac': '52:54:00:00:00:02'}}
        self.addrs = {'eno1': ('10.0.2.15', 24, True)}
        self.route = {'dev': 'eno1', 'gateway': '10.0.2.2'}
        self.ifup_rc = {}
        self.dhcp_works = True
        self.on_up = []

    # ip -j output in iproute2's format
    def link_json(self):
        out = []
        for name, link in sorted(self.links.items()):
            entry = {'ifname': name, 'flags': ['UP'], 'mtu': 1500, 'address': link['mac'],
                     'link_type': 'loopback' if link['kind'] == 'loopback' else 'ether'}
            info = {}
            if link['kind'] not in (None, 'loopback'):
                info['info_kind'] = link['kind']
            if link.get('master'):
                entry['master'] = link['master']
                info['info_slave_kind'] = 'bridge'
            if info:
                entry['linkinfo'] = info
            out.append(entry)
        return json.dumps(out)

    def addr_json(self):
        out = []
        for name in sorted(self.links):
            info = []
            if name in self.addrs:
                local, prefix, dynamic = self.addrs[name]
                entry = {'family': 'inet', 'local': local, 'prefixlen': prefix, 'scope': 'global'}
                if dynamic:
                    entry['dynamic'] = True
                info.append(entry)
            out.append({'ifname': name, 'addr_info': info})
        return json.dumps(out)

    def route_json(self):
        return json.dumps([dict(dst='default', flags=[], **self.route)] if self.route else [])

    # what the tools do
    def bridge_up(self, name, port):
        self.links[name] = {'kind': 'bridge', 'mac': self.links[port]['mac']}
        self.links[port]['master'] = name
        if self.dhcp_works:
            self.addrs[name] = ('10.0.2.15', 24, True)
            self.route = {'dev': name, 'gateway': '10.0.2.2'}

    def run_command(self, args, **kwargs):
        assert kwargs.get('environ_update', {}).get('LC_ALL') == 'C'
        assert isinstance(args, list)
        self.raw_calls.append(list(args))
        if args[0] == BINS['timeout']:
            args = args[3:]
        self.calls.append(list(args))
        tool, rest = os.path.basename(args[0]), args[1:]
        if tool == 'ip':
            if rest[:3] == ['-j', '-d', 'link']:
                self.poll()
                return 0, self.link_json(), ''
            if rest[:2] == ['-j', 'addr']:
                return 0, self.addr_json(), ''
            if rest[:2] == ['-j', 'route']:
                return 0, self.route_json(), ''
            if rest[:3] == ['link', 'delete', 'dev']:
                self.links.pop(rest[3], None)
                for link in self.links.values():
                    if link.get('master') == rest[3]:
                        link['master'] = None
                return 0, '', ''
            if rest[:3] == ['link', 'set', 'dev'] and rest[4:] == ['nomaster']:
                self.links[rest[3]]['master'] = None
                return 0, '', ''
        if tool == 'systemctl':
            unit = rest[-1]
            active = {'NetworkManager.service': self.networkmanager, 'systemd-networkd.service': self.networkd}
            return (0 if active.get(unit) else 3), '', ''
        if tool == 'networkctl':
            if rest[0] == 'list':
                return 0, ''.join('%3d %s ether routable %s\n' % (i + 2, n, s)
                                  for i, (n, s) in enumerate(sorted(self.networkd_links.items()))), ''
            if rest[0] == 'reload':
                self.networkd_reload()
                return 0, '', ''
            if rest[0] == 'reconfigure':
                return 0, '', ''
        if tool == 'ifdown':
            name = rest[0]
            if name in self.links and self.links[name]['kind'] == 'bridge':
                for link in self.links.values():
                    if link.get('master') == name:
                        link['master'] = None
                del self.links[name]
            self.addrs.pop(name, None)
            if self.route and self.route['dev'] == name:
                self.route = None
            return 0, '', ''
        if tool == 'ifup':
            name = rest[0]
            if self.ifup_rc.get(name):
                return self.ifup_rc[name], '', 'dhclient: no lease'
            text = self.read(BRIDGE_FILE.replace('xenbr0', name)) if name.startswith('xen') else None
            if text and 'bridge-ports ' in text:
                self.bridge_up(name, text.split('bridge-ports ')[1].split()[0])
            elif name == 'eno1':
                self.addrs['eno1'] = ('10.0.2.15', 24, True)
                self.route = {'dev': 'eno1', 'gateway': '10.0.2.2'}
            for hook in self.on_up:
                hook(name)
            return 0, '', ''
        raise AssertionError('unexpected command %r' % (args,))

    def networkd_reload(self):
        units = self.read_dir('/etc/systemd/network')
        for path, text in units.items():
            if path.endswith('-uplink.network'):
                port = text.split('Name=')[1].split()[0]
                bridge = text.split('Bridge=')[1].split()[0]
                self.bridge_up(bridge, port)
        for hook in self.on_up:
            hook('reload')

    # files
    def path(self, path):
        return str(self.root) + path

    def read(self, path):
        try:
            with open(self.path(path)) as handle:
                return handle.read()
        except IOError:
            return None

    def write(self, path, text):
        full = self.path(path)
        if not os.path.isdir(os.path.dirname(full)):
            os.makedirs(os.path.dirname(full))
        with open(full, 'w') as handle:
            handle.write(text)

    def read_dir(self, directory):
        full = self.path(directory)
        if not os.path.isdir(full):
            return {}
        return dict((directory + '/' + n, self.read(directory + '/' + n)) for n in sorted(os.listdir(full)))

    def confirm_on_up(self, token, mtime=None):
        """The token written while the interfaces come up (before the module waits for it)."""
        def write(name):
            self.write(CONFIRM, token + '\n')
            if mtime is not None:
                os.utime(self.path(CONFIRM), (mtime, mtime))
        self.on_up.append(write)

    def confirm_when_waiting(self, token):
        """What the role does: poll the state file and write the token once it says `waiting TOKEN`."""
        self.confirm_token = token

    def poll(self):
        token = getattr(self, 'confirm_token', None)
        if token and (self.read(STATE) or '').split()[:2] == ['waiting', token]:
            self.write(CONFIRM, token + '\n')
            self.confirmed_at_state = self.read(STATE)


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeHost(tmp_path)
    fake.write('/etc/network/interfaces', INSTALLER_DHCP)
    fake.write(_converge_hostnet.BRIDGE_HOOK, '#!/bin/sh\n')
    monkeypatch.setattr(_converge_hostnet, 'ROOT', str(tmp_path))
    clock = Clock()
    monkeypatch.setattr(_converge_hostnet.time, 'time', clock.time)
    monkeypatch.setattr(_converge_hostnet.time, 'sleep', clock.sleep)
    fake.clock = clock
    return fake


def run(monkeypatch, fake, args, check=False, diff=True):
    deprecations = []

    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs, False)

    def fail_json(self, **kwargs):
        raise ModuleExit(kwargs, True)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return BINS.get(arg)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, a, **kw: fake.run_command(a, **kw))
    monkeypatch.setattr(basic.AnsibleModule, 'deprecate',
                        lambda self, msg, **kw: deprecations.append((msg, kw.get('version'))))
    full = dict(args)
    full.setdefault('settle', 0)
    full['_ansible_check_mode'] = check
    full['_ansible_diff'] = diff
    with patch_module_args(full):
        try:
            xen_host_network.main()
        except ModuleExit as exc:
            exc.result['_deprecations'] = deprecations
            return exc.result, exc.failed
    raise AssertionError('module returned without exit_json/fail_json')


def changing_calls(fake):
    """The commands that change something (reads left out)."""
    return [c for c in fake.calls
            if not (os.path.basename(c[0]) == 'ip' and c[1] == '-j') and os.path.basename(c[0]) != 'systemctl'
            and c[1:2] != ['list']]


XENBR0 = {'bridges': [{'name': 'xenbr0', 'uplink': 'eno1'}]}


def test_check_mode_shows_both_files_and_changes_nothing(monkeypatch, host):
    result, failed = run(monkeypatch, host, XENBR0, check=True)
    assert not failed, result
    assert result['changed'] is True and result['stack'] == 'ifupdown'
    assert result['files'] == [{'path': '/etc/network/interfaces', 'action': 'update'},
                               {'path': BRIDGE_FILE, 'action': 'create'}]
    before_after = dict((d['after_header'], (d['before'], d['after'])) for d in result['diff'])
    assert before_after['/etc/network/interfaces'][0] == INSTALLER_DHCP
    assert 'iface eno1' not in before_after['/etc/network/interfaces'][1]
    assert before_after[BRIDGE_FILE][0] == '' and 'iface xenbr0 inet dhcp' in before_after[BRIDGE_FILE][1]
    assert result['down'] == ['eno1'] and result['up'] == ['xenbr0']
    assert result['packages'] == ['bridge-utils']
    assert result['applied'] is False
    assert changing_calls(host) == []
    assert host.read('/etc/network/interfaces') == INSTALLER_DHCP and host.read(BRIDGE_FILE) is None


def test_confirmed_change_is_kept_and_the_next_run_changes_nothing(monkeypatch, host):
    host.confirm_when_waiting('t0ken')
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=30))
    assert not failed, result
    assert result['changed'] is True and result['applied'] is True and result['rolled_back'] is False
    assert host.confirmed_at_state == 'waiting t0ken\n'
    assert host.read(STATE) == 'done t0ken kept\n'
    assert changing_calls(host) == [['/usr/sbin/ifdown', 'eno1'], ['/usr/sbin/ifup', 'xenbr0']]
    assert 'iface xenbr0 inet dhcp' in host.read(BRIDGE_FILE)
    assert 'allow-hotplug eno1' not in host.read('/etc/network/interfaces')
    assert host.read(CONFIRM) is None  # used up
    host.calls = []
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='other'))
    assert not failed and result['changed'] is False and result['files'] == [] and result['problems'] == []
    assert changing_calls(host) == []


def test_no_confirmation_rolls_back_by_itself_and_fails_saying_why(monkeypatch, host):
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=20))
    assert failed
    assert result['error'] == 'rolled_back' and result['rolled_back'] is True
    assert result['reason'].startswith('the controller did not confirm within 20 s that it reaches the host')
    assert result['msg'].startswith('The network change was rolled back: the controller did not confirm')
    assert changing_calls(host) == [['/usr/sbin/ifdown', 'eno1'], ['/usr/sbin/ifup', 'xenbr0'],
                                    ['/usr/sbin/ifdown', 'xenbr0'], ['/usr/sbin/ifup', 'eno1']]
    assert host.read('/etc/network/interfaces') == INSTALLER_DHCP
    assert host.read(BRIDGE_FILE) is None
    assert host.route == {'dev': 'eno1', 'gateway': '10.0.2.2'} and 'xenbr0' not in host.links
    # the previous files were kept for the record
    saved = json.loads(host.read('/var/lib/xenfleet-xen/network-backup/files.json'))
    assert saved == {'/etc/network/interfaces': INSTALLER_DHCP, BRIDGE_FILE: None}
    assert [d['after_header'] for d in result['diff']] == ['/etc/network/interfaces', BRIDGE_FILE]


def test_a_stale_confirmation_does_not_count(monkeypatch, host):
    host.write(CONFIRM, 't0ken\n')  # left by an earlier run: removed before the change
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=5))
    assert failed and result['rolled_back'] is True
    assert host.read(STATE).startswith('done t0ken rolled-back: the controller did not confirm')


def test_a_confirmation_written_before_the_change_was_up_does_not_count(monkeypatch, host):
    host.confirm_on_up('t0ken', mtime=1)  # written while ifup ran: proves nothing about the new network
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=5))
    assert failed and result['rolled_back'] is True


def test_an_unhealthy_result_rolls_back_even_when_confirmed(monkeypatch, host):
    host.dhcp_works = False  # the bridge gets no lease: no address, no default route
    host.confirm_when_waiting('t0ken')
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=10))
    assert failed and result['rolled_back'] is True
    assert result['reason'] == ('after 10 s: xenbr0 has no IPv4 address; the default route goes through nothing, '
                                'not xenbr0')
    assert host.read('/etc/network/interfaces') == INSTALLER_DHCP


def test_ifup_failure_rolls_back_at_once(monkeypatch, host):
    host.ifup_rc['xenbr0'] = 1
    start = host.clock.now
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=90))
    assert failed and result['rolled_back'] is True
    assert result['reason'] == '`ifup xenbr0` failed (rc 1): dhclient: no lease'
    assert host.clock.now == start  # no waiting for the confirmation
    assert host.read('/etc/network/interfaces') == INSTALLER_DHCP


def test_without_a_token_a_healthy_network_is_enough(monkeypatch, host):
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_timeout=30))
    assert not failed and result['applied'] is True


def test_bad_input_fails_before_any_change_naming_the_role_variable(monkeypatch, host):
    result, failed = run(monkeypatch, host, {'bridges': [{'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno2',
                                                          'vlan': 5000}], 'variable_names': ROLE_NAMES})
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == 'xen_hypervisor_bridges[0] (xenbr20).vlan: VLAN id 5000 is outside 1-4094'
    assert changing_calls(host) == []


def test_networkmanager_is_refused(monkeypatch, host):
    host.networkmanager = True
    result, failed = run(monkeypatch, host, dict(XENBR0, variable_names=ROLE_NAMES))
    assert failed and result['error'] == 'network_stack'
    assert 'xen_hypervisor_network_stack' in result['msg'] and 'Nothing was changed.' in result['msg']


def test_missing_bridge_utils_is_refused_before_any_change(monkeypatch, host):
    os.unlink(host.path(_converge_hostnet.BRIDGE_HOOK))
    result, failed = run(monkeypatch, host, XENBR0)
    assert failed and result['error'] == 'network_apply'
    assert 'install the Debian package bridge-utils first. Nothing was changed.' in result['msg']
    assert changing_calls(host) == [] and host.read(BRIDGE_FILE) is None


def test_legacy_settings_work_with_a_deprecation(monkeypatch, host):
    result, failed = run(monkeypatch, host, {'legacy_bridge': {'mode': 'internal', 'ipv4': '192.168.100.1/24'},
                                             'variable_names': ROLE_NAMES}, check=True)
    assert not failed
    assert result['bridges'][0]['name'] == 'xenbr0' and result['bridges'][0]['type'] == 'internal'
    (message, version), = result['_deprecations']
    assert version == '2.0.0' and message.startswith('xen_hypervisor_bridge_mode, xen_hypervisor_bridge_ipv4:')


def test_networkd_host_reloads_and_reconfigures(monkeypatch, tmp_path, host):
    host.networkd = True
    host.networkd_links = {'eno1': 'configured'}
    host.write('/etc/network/interfaces', 'source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n')
    host.confirm_when_waiting('t0ken')
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken'))
    assert not failed, result
    assert result['stack'] == 'networkd'
    # xenbr0 is new: the reload makes it; eno1 is reconfigured into it
    assert changing_calls(host) == [['/usr/bin/networkctl', 'reload'], ['/usr/bin/networkctl', 'reconfigure', 'eno1']]
    unit = host.read('/etc/systemd/network/05-xenfleet-xenbr0.network')
    assert '[Network]\nDHCP=ipv4\n' in unit
    host.calls = []
    result, failed = run(monkeypatch, host, XENBR0)
    assert not failed and result['changed'] is False


def test_networkd_rollback_deletes_what_it_made(monkeypatch, host):
    host.networkd = True
    host.networkd_links = {'eno1': 'configured'}
    host.write('/etc/network/interfaces', 'auto lo\niface lo inet loopback\n')
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=5))
    assert failed and result['rolled_back'] is True
    calls = changing_calls(host)
    assert calls[calls.index(['/usr/bin/ip', 'link', 'delete', 'dev', 'xenbr0']) + 1:][:2] == [
        ['/usr/bin/ip', 'link', 'set', 'dev', 'eno1', 'nomaster'], ['/usr/bin/networkctl', 'reload']]
    assert host.read_dir('/etc/systemd/network') == {}


def test_files_right_but_network_not_is_applied_again(monkeypatch, host):
    host.confirm_when_waiting('a')
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='a'))
    assert not failed
    del host.links['xenbr0']  # someone took the bridge down by hand
    host.links['eno1']['master'] = None
    host.calls = []
    result, failed = run(monkeypatch, host, XENBR0, check=True)
    assert not failed and result['changed'] is True and result['files'] == []
    assert result['problems'][0] == 'bridge xenbr0 does not exist'
    result, failed = run(monkeypatch, host, XENBR0)
    assert not failed and result['applied'] is True
    assert changing_calls(host) == [['/usr/sbin/ifdown', 'xenbr0'], ['/usr/sbin/ifup', 'xenbr0']]


def test_an_ifup_that_hangs_is_stopped_and_rolled_back(monkeypatch, host):
    host.ifup_rc['xenbr0'] = 124  # what coreutils timeout returns when it stopped the command
    result, failed = run(monkeypatch, host, dict(XENBR0, confirm_token='t0ken', confirm_timeout=45))
    assert failed and result['rolled_back'] is True
    assert result['reason'].startswith('`ifup xenbr0` failed (rc 124): dhclient: no lease `/usr/sbin/ifup xenbr0` did '
                                       'not finish within 45 seconds')
    assert ['/usr/bin/timeout', '--kill-after=10', '45', '/usr/sbin/ifup', 'xenbr0'] in host.raw_calls
