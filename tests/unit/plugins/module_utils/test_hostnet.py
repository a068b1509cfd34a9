# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_hostnet: a Xen host's bridges as data - parsing ip's JSON (captured, tests/unit/fixtures/iproute2-6.1-netns) and
interfaces(5) files, validating the declaration, choosing the stack, rendering ifupdown stanzas and networkd units,
planning the change and judging the result."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _hostnet as net
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import fixture_text

CAPTURE_SET = 'iproute2-6.1-netns'
ROLE_NAMES = {'bridges': 'xen_hypervisor_bridges', 'bonds': 'xen_hypervisor_bonds',
              'stack': 'xen_hypervisor_network_stack', 'legacy': 'xen_hypervisor_bridge_'}

# /etc/network/interfaces as Debian 12's installer (netcfg) writes it for a DHCP server with SLAAC: typed from the
# installer's template, not copied from a host.
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
# This is an autoconfigured IPv6 interface
iface eno1 inet6 auto
"""
# the same with a static address, as the installer writes it when DHCP is declined (typed, as above)
INSTALLER_STATIC = """\
source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
auto eno1
iface eno1 inet static
\taddress 192.0.2.10/24
\tgateway 192.0.2.1
\t# dns-* options are implemented by the resolvconf package, if installed
\tdns-nameservers 192.0.2.53
\tdns-search example.org
"""
MAIN = net.IFUPDOWN_MAIN


def fixture(name):
    return fixture_text(name, CAPTURE_SET)


def captured_host():
    """The captured namespace: eno1 a port of xenbr0 (192.0.2.10/24, default route), eno2 with a dynamic address,
    xenbr1 empty; eno1/eno2 are veth (the capture's kernel had no dummy NICs), peer1/peer2 their peers."""
    return {'links': net.parse_links(fixture('ip_j_d_link_show.json')),
            'addresses': net.parse_addresses(fixture('ip_j_addr_show.json')),
            'default_route': net.parse_default_route(fixture('ip_j_route_show_default.json'))}


def fresh_host(**extra):
    """A server before the role: eno1 with the DHCP address and the default route, eno2 and eno3 unused. Built by
    hand in parse_* output form (no capture has a VLAN or bond: the capture kernel lacks them)."""
    def nic(mac):
        return {'kind': 'ether', 'mac': mac, 'permaddr': None, 'mtu': 1500, 'master': None, 'slave_kind': None,
                'parent': None, 'vlan_id': None, 'up': True}
    host = {'links': {'lo': dict(nic('00:00:00:00:00:00'), kind='loopback'),
                      'eno1': nic('52:54:00:00:00:01'), 'eno2': nic('52:54:00:00:00:02'),
                      'eno3': nic('52:54:00:00:00:03')},
            'addresses': {'eno1': [{'family': 4, 'address': '10.0.2.15/24', 'dynamic': True, 'scope': 'global'}]},
            'default_route': {'dev': 'eno1', 'gateway': '10.0.2.2'}}
    host.update(extra)
    return host


def normalize(bridges, bonds=None, legacy=None, host=None):
    return net.normalize(bridges, bonds or [], legacy or {}, host or fresh_host(), ROLE_NAMES)


def refused(bridges, bonds=None, legacy=None, host=None):
    with pytest.raises(InvalidSpec) as info:
        normalize(bridges, bonds, legacy, host)
    return info.value.msg


def applied(files, plan):
    out = dict(files)
    out.update(plan)
    return dict((k, v) for k, v in out.items() if v is not None)


# -- reading the host ----------------------------------------------------------------------------

def test_links_from_captured_ip_json():
    host = captured_host()
    links = host['links']
    assert links['lo']['kind'] == 'loopback'
    assert links['xenbr0']['kind'] == 'bridge' and links['xenbr1']['kind'] == 'bridge'
    assert links['eno1']['master'] == 'xenbr0' and links['eno1']['slave_kind'] == 'bridge'
    assert links['eno1']['mac'] == '52:54:00:12:34:01'
    # a veth's `link` is its peer, not a VLAN parent
    assert links['eno1']['parent'] is None and links['eno1']['vlan_id'] is None
    assert host['default_route'] == {'dev': 'xenbr0', 'gateway': '192.0.2.1'}


def test_addresses_from_captured_ip_json_mark_leases_dynamic():
    host = captured_host()
    assert net.ipv4_of(host, 'xenbr0') == [
        {'family': 4, 'address': '192.0.2.10/24', 'dynamic': False, 'scope': 'global'}]
    assert net.ipv4_of(host, 'eno2')[0]['dynamic'] is True
    assert net.ipv4_of(host, 'lo') == []  # 127.0.0.1 is scope host


def test_vlan_and_bond_entries_in_ip_json_format():
    # hand-written in iproute2's -j -d format (the capture kernel had no vlan or bond link type)
    text = ('[{"ifname":"eno1.20","link":"eno1","mtu":1500,"address":"52:54:00:00:00:01","flags":["UP"],'
            '"link_type":"ether","linkinfo":{"info_kind":"vlan","info_data":{"protocol":"802.1Q","id":20}}},'
            '{"ifname":"eno2","master":"bond0","address":"52:54:00:00:00:09","permaddr":"52:54:00:00:00:02",'
            '"link_type":"ether","linkinfo":{"info_slave_kind":"bond"}}]')
    links = net.parse_links(text)
    assert links['eno1.20']['kind'] == 'vlan' and links['eno1.20']['parent'] == 'eno1'
    assert links['eno1.20']['vlan_id'] == 20
    assert links['eno2']['kind'] == 'ether' and links['eno2']['permaddr'] == '52:54:00:00:00:02'


def test_parse_errors_and_networkctl():
    with pytest.raises(net.HostParseError):
        net.parse_links('not json')
    with pytest.raises(net.HostParseError):
        net.parse_addresses('{}')
    assert net.parse_default_route('[]') is None
    # `networkctl list --no-legend` columns: IDX LINK TYPE OPERATIONAL SETUP (typed in systemd 252's layout)
    text = '  1 lo     loopback carrier  unmanaged\n  2 enp0s3 ether    routable configured\n'
    assert net.parse_networkctl_list(text) == {'lo': 'unmanaged', 'enp0s3': 'configured'}


# -- the declaration -----------------------------------------------------------------------------

def test_default_is_xenbr0_on_the_default_route_taking_over_its_configuration():
    desired = normalize(None)
    assert desired['deprecations'] == []
    bridge, = desired['bridges']
    assert (bridge['name'], bridge['type'], bridge['uplink'], bridge['ipv4']) == ('xenbr0', 'uplink', 'eno1', 'inherit')
    assert bridge['mac'] == '52:54:00:00:00:01'


def test_once_bridged_the_default_uplink_is_the_bridges_port():
    desired = net.normalize(None, [], {}, captured_host())
    assert desired['bridges'][0]['uplink'] == 'eno1'
    assert desired['bridges'][0]['mac'] == '52:54:00:12:34:01'


def test_bond_member_mac_prefers_the_permanent_address():
    host = fresh_host()
    host['links']['eno2'].update(mac='52:54:00:00:00:09', permaddr='52:54:00:00:00:02')
    desired = normalize([{'name': 'xenbr0', 'uplink': 'bond0'}], [{'name': 'bond0', 'interfaces': ['eno2', 'eno3']}],
                        host=host)
    assert desired['bridges'][0]['mac'] == '52:54:00:00:00:02'


def test_legacy_settings_become_one_bridge_with_a_deprecation_naming_them():
    desired = normalize(None, legacy={'mode': 'internal', 'ipv4': '192.168.100.1/24'})
    bridge, = desired['bridges']
    assert (bridge['name'], bridge['type'], bridge['ipv4'], bridge['address']) == \
        ('xenbr0', 'internal', 'static', '192.168.100.1/24')
    message, = desired['deprecations']
    assert message.startswith('xen_hypervisor_bridge_mode, xen_hypervisor_bridge_ipv4: the single-bridge settings '
                              'are deprecated and will be removed in xenfleet.xen 2.0.0')
    assert 'xen_hypervisor_bridges' in message and '"type": "internal"' in message


def test_legacy_uplink_mode_keeps_its_dhcp_default_and_none_means_no_bridge():
    bridge, = normalize(None, legacy={'uplink': 'eno2'})['bridges']
    assert (bridge['uplink'], bridge['ipv4']) == ('eno2', 'dhcp')
    assert normalize(None, legacy={'mode': 'none'})['bridges'] == []


def test_legacy_and_list_together_are_refused():
    assert refused([{'name': 'xenbr0'}], legacy={'name': 'br0'}) == (
        'xen_hypervisor_bridges: set together with the deprecated xen_hypervisor_bridge_name: declare the bridges in '
        'xen_hypervisor_bridges only')


@pytest.mark.parametrize('bridges, bonds, expected', [
    ([{'name': 'xenbr0', 'uplink': 'eth7'}], None,
     "xen_hypervisor_bridges[0] (xenbr0).uplink: unknown interface 'eth7' (this host has: eno1, eno2, eno3)"),
    ([{'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno1', 'vlan': 5000}], None,
     'xen_hypervisor_bridges[0] (xenbr20).vlan: VLAN id 5000 is outside 1-4094'),
    ([{'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno2', 'vlan': 0}], None,
     'xen_hypervisor_bridges[0] (xenbr20).vlan: VLAN id 0 is outside 1-4094'),
    ([{'name': 'xenbr0', 'uplink': 'eno2'}, {'name': 'xenbr1', 'uplink': 'eno2'}], None,
     "xen_hypervisor_bridges[1] (xenbr1).uplink: 'eno2' is already the uplink of bridge xenbr0: two bridges on one "
     "uplink without VLANs would share one network. Give one of them a VLAN (type: vlan, vlan: ID) or another uplink"),
    ([{'name': 'xenbr-management0'}], None,
     "xen_hypervisor_bridges[0].name: bridge name 'xenbr-management0' is 17 characters long; Linux allows at most 15 "
     "in an interface name"),
    ([{'name': 'xenbr9', 'type': 'vlan', 'uplink': 'eno2', 'vlan': True}], None,
     'xen_hypervisor_bridges[0] (xenbr9).vlan: VLAN id must be a whole number, got True'),
    ([{'name': 'xenbr0', 'type': 'internal', 'uplink': 'eno1'}], None,
     'xen_hypervisor_bridges[0] (xenbr0).uplink: an internal bridge has no uplink (use type uplink or vlan)'),
    ([{'name': 'xenbr0', 'type': 'bridge'}], None,
     "xen_hypervisor_bridges[0] (xenbr0).type: 'bridge' is not a bridge type (uplink, internal or vlan)"),
    ([{'name': 'xenbr0', 'colour': 'blue'}], None,
     'xen_hypervisor_bridges[0]: unknown key colour (known: name, type, uplink, vlan, ipv4, gateway, dns, mtu)'),
    ([{'name': 'xenbr0', 'ipv4': '192.0.2.10'}], None,
     "xen_hypervisor_bridges[0] (xenbr0).ipv4: '192.0.2.10' lacks its prefix length: write ADDRESS/PREFIX, "
     "e.g. 192.0.2.10/24"),
    ([{'name': 'xenbr0', 'ipv4': '192.0.2.0/24'}], None,
     "xen_hypervisor_bridges[0] (xenbr0).ipv4: '192.0.2.0/24' is the network address of 192.0.2.0/24, not a host "
     "address"),
    ([{'name': 'xenbr0', 'ipv4': 'dhcp', 'gateway': '192.0.2.1'}], None,
     'xen_hypervisor_bridges[0] (xenbr0).gateway: a gateway goes with a static ipv4 (ADDRESS/PREFIX); with dhcp the '
     'gateway comes from DHCP'),
    ([{'name': 'xenbr0', 'ipv4': '192.0.2.10/24', 'gateway': '198.51.100.1'}], None,
     "xen_hypervisor_bridges[0] (xenbr0).gateway: 198.51.100.1 is not in the bridge's network 192.0.2.0/24: it could "
     "not be reached"),
    ([{'name': 'xenint', 'type': 'internal', 'ipv4': 'dhcp'}], None,
     'xen_hypervisor_bridges[0] (xenint).ipv4: an internal bridge has no network to ask for DHCP: give '
     'ADDRESS/PREFIX or none'),
    ([{'name': 'xenbr0', 'uplink': 'eno2'}, {'name': 'xenbr0', 'type': 'internal'}], None,
     "xen_hypervisor_bridges[1] (xenbr0).name: a second bridge named 'xenbr0'"),
    ([{'name': 'eno2', 'type': 'internal'}], None,
     "xen_hypervisor_bridges[0] (eno2).name: 'eno2' is already a ether interface on this host"),
    ([{'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno1', 'vlan': 20}], None,
     'xen_hypervisor_bridges[0] (xenbr20).uplink: VLANs on eno1 make it a trunk that this role configures without '
     'an address, but it carries 10.0.2.15/24 now. Declare an uplink bridge on eno1 (type uplink, ipv4 inherit) '
     'that takes the address over, or carry the VLANs on an interface without addresses'),
    ([{'name': 'xenbr0', 'uplink': 'eno2'}], [{'name': 'bond0', 'interfaces': ['eno2', 'eno3']}],
     "xen_hypervisor_bridges[0] (xenbr0).uplink: 'eno2' is a member of bond bond0: use the bond as uplink"),
    ([{'name': 'xenbr0', 'uplink': 'eno1'}], [{'name': 'bond0', 'interfaces': ['eno2', 'eno3']}],
     'xen_hypervisor_bonds[0] (bond0): no bridge uses bond bond0 as its uplink: a bond this role makes carries '
     'bridges (type uplink or vlan)'),
    ([{'name': 'xenbr0', 'uplink': 'bond0'}], [{'name': 'bond0', 'interfaces': ['eno2', 'eth9']}],
     "xen_hypervisor_bonds[0] (bond0).interfaces: unknown interface 'eth9' (this host has: eno1, eno2, eno3)"),
    ([{'name': 'xenbr0', 'uplink': 'bond0'}], [{'name': 'bond0', 'interfaces': ['eno2'], 'mode': 'fast'}],
     "xen_hypervisor_bonds[0] (bond0).mode: 'fast' is not a bonding mode (one of balance-rr, active-backup, "
     "balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)"),
    ([{'name': 'xenbr0', 'uplink': 'eno1'}, {'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno1', 'vlan': 20,
                                             'mtu': 9000}], None,
     'xen_hypervisor_bridges[1] (xenbr20).mtu: MTU 9000 is larger than the MTU 1500 of eno1, which carries the VLAN'),
    ([{'name': 'xenbr0', 'uplink': 'eno2', 'ipv4': '192.0.2.2/24', 'gateway': '192.0.2.1'},
      {'name': 'xenbr1', 'uplink': 'eno3', 'ipv4': '198.51.100.2/24', 'gateway': '198.51.100.1'}], None,
     'xen_hypervisor_bridges[1] (xenbr1).gateway: bridge xenbr0 has a gateway already: one default gateway per host'),
    ([{'name': 'xenbr0', 'uplink': 'eno2'}, {'name': 'xenbr30', 'type': 'vlan', 'uplink': 'eno2', 'vlan': 30},
      {'name': 'xenbr31', 'type': 'vlan', 'uplink': 'eno2', 'vlan': 30}], None,
     'xen_hypervisor_bridges[2] (xenbr31).vlan: VLAN 30 of eno2 is already bridged by xenbr30'),
])
def test_bad_input_is_refused_naming_the_variable_and_why(bridges, bonds, expected):
    assert refused(bridges, bonds) == expected


def test_no_default_route_and_no_uplink_says_what_to_do():
    host = fresh_host(default_route=None)
    assert refused([{'name': 'xenbr0'}], host=host) == (
        'xen_hypervisor_bridges[0] (xenbr0).uplink: not given, and it cannot be found: this host has no default IPv4 '
        'route. Name the interface (or bond) to enslave in uplink')


def test_vlan_interface_name_longer_than_15_is_refused():
    host = fresh_host()
    host['links']['enp129s0f1np1'] = dict(host['links']['eno2'])
    assert refused([{'name': 'xenbr0', 'uplink': 'enp129s0f1np1'},
                    {'name': 'xenbr1000', 'type': 'vlan', 'uplink': 'enp129s0f1np1', 'vlan': 1000}], host=host) == (
        "xen_hypervisor_bridges[1] (xenbr1000).vlan: the VLAN interface 'enp129s0f1np1.1000' would be 18 characters "
        "long; Linux allows at most 15")


def test_vlan_ids_as_text_from_extra_vars_are_accepted():
    desired = normalize([{'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno2', 'vlan': '20'}])
    assert desired['bridges'][0]['vlan'] == 20 and desired['bridges'][0]['vlan_dev'] == 'eno2.20'


def test_bond_mode_outside_the_tested_ones_warns():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'bond0'}],
                        [{'name': 'bond0', 'interfaces': ['eno2', 'eno3'], 'mode': 'balance-rr'}])
    assert desired['warnings'] == ["xen_hypervisor_bonds[0] (bond0): bridges over a bond in mode balance-rr may not "
                                   "forward traffic (Debian's bridge-utils names active-backup, balance-tlb and "
                                   "802.3ad as the tested modes)"]


# -- choosing the stack --------------------------------------------------------------------------

def stack_of(choice, host_extra, files):
    host = fresh_host(**host_extra)
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}], host=host)
    return net.choose_stack(choice, host, net.index_stanzas(files), desired, ROLE_NAMES)


def test_auto_picks_ifupdown_when_it_configures_the_uplink():
    assert stack_of('auto', {'networkd': True, 'ifup': True}, {MAIN: INSTALLER_DHCP}) == 'ifupdown'


def test_auto_picks_networkd_when_networkd_manages_the_uplink():
    lo_only = 'auto lo\niface lo inet loopback\n'
    assert stack_of('auto', {'networkd': True, 'networkd_links': {'eno1': 'configured'}, 'ifup': True},
                    {MAIN: lo_only}) == 'networkd'
    assert stack_of('auto', {'networkd': True}, {}) == 'networkd'


def test_networkmanager_is_refused_with_the_choice_to_make():
    with pytest.raises(net.StackError) as info:
        stack_of('auto', {'networkmanager': True, 'ifup': True}, {MAIN: INSTALLER_DHCP})
    assert info.value.msg.startswith('NetworkManager is running on this host; the hypervisor role makes bridges with '
                                     'ifupdown or systemd-networkd only.')
    assert 'set xen_hypervisor_network_stack to ifupdown or networkd' in info.value.msg


def test_no_stack_found_and_conflicting_choices_are_refused():
    with pytest.raises(net.StackError) as info:
        stack_of('auto', {}, {MAIN: 'auto lo\niface lo inet loopback\n'})
    assert 'Set xen_hypervisor_network_stack to ifupdown or networkd' in info.value.msg
    with pytest.raises(net.StackError) as info:
        stack_of('networkd', {'networkd': True}, {MAIN: INSTALLER_DHCP})
    assert info.value.msg.startswith('xen_hypervisor_network_stack=networkd, but ifupdown configures eno1 '
                                     '(/etc/network/interfaces)')
    with pytest.raises(net.StackError) as info:
        stack_of('ifupdown', {'networkd': True, 'networkd_links': {'eno1': 'configured'}, 'ifup': True}, {})
    assert info.value.msg.startswith('xen_hypervisor_network_stack=ifupdown, but systemd-networkd manages eno1')


# -- ifupdown ------------------------------------------------------------------------------------

def test_interfaces_parser_knows_stanzas_options_and_continuations():
    text = 'auto lo eno1\nallow-hotplug eno2\niface eno1 inet static\n  address 192.0.2.1/24 \\\n  \n# c\n' \
           '  gateway 192.0.2.254\nsource-directory interfaces.d\n'
    stanzas = net.parse_interfaces(text)
    assert [(s.kind, s.first, s.last) for s in stanzas] == [('auto', 0, 0), ('allow', 1, 1), ('iface', 2, 6),
                                                            ('source-directory', 7, 7)]
    assert stanzas[0].names() == ['lo', 'eno1'] and stanzas[1].names() == ['eno2']
    assert stanzas[2].options == [('address', '192.0.2.1/24'), ('gateway', '192.0.2.254')]
    assert net.sources(text, '/etc/network/interfaces') == [('source-directory', '/etc/network/interfaces.d')]


def test_installer_dhcp_host_gets_its_uplink_stanzas_moved_to_the_bridge():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    plan = net.plan_ifupdown(desired, {MAIN: INSTALLER_DHCP})
    ours = '/etc/network/interfaces.d/xenfleet-bridge-xenbr0'
    assert sorted(plan) == [MAIN, ours]
    assert plan[ours] == net.MANAGED_HEADER + """

# Bridge xenbr0 with uplink eno1.

auto xenbr0
iface xenbr0 inet dhcp
    bridge-ports eno1
    bridge-stp off
    bridge-fd 0
    bridge-hw 52:54:00:00:00:01

iface xenbr0 inet6 auto
    bridge-ports eno1
    bridge-stp off
    bridge-fd 0
    bridge-hw 52:54:00:00:00:01
"""
    assert plan[MAIN].endswith("""# The primary network interface
# moved by xenfleet.xen: eno1 is a port of xenbr0 (/etc/network/interfaces.d/xenfleet-bridge-xenbr0)
# This is an autoconfigured IPv6 interface
""")
    assert 'auto lo\niface lo inet loopback' in plan[MAIN]
    # the main file already sources the directory: no source line added
    assert plan[MAIN].count('source ') == 1


def test_installer_static_host_keeps_address_gateway_and_dns_options():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    plan = net.plan_ifupdown(desired, {MAIN: INSTALLER_STATIC})
    ours = plan['/etc/network/interfaces.d/xenfleet-bridge-xenbr0']
    assert """iface xenbr0 inet static
    bridge-ports eno1
    bridge-stp off
    bridge-fd 0
    bridge-hw 52:54:00:00:00:01
    address 192.0.2.10/24
    gateway 192.0.2.1
    dns-nameservers 192.0.2.53
    dns-search example.org
""" in ours
    assert 'iface eno1' not in plan[MAIN] and 'auto eno1' not in plan[MAIN]


def test_second_run_changes_nothing_and_keeps_the_inherited_configuration():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    files = {MAIN: INSTALLER_STATIC}
    after = applied(files, net.plan_ifupdown(desired, files))
    assert net.changes(after, net.plan_ifupdown(desired, after)) == []


def test_changes_ignore_comments_and_indentation():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    files = {MAIN: INSTALLER_DHCP}
    after = applied(files, net.plan_ifupdown(desired, files))
    path = '/etc/network/interfaces.d/xenfleet-bridge-xenbr0'
    after[path] = '# hand-edited comment\n' + after[path].replace('    ', '\t')
    assert net.changes(after, net.plan_ifupdown(desired, after)) == []
    after[path] = after[path].replace('bridge-fd 0', 'bridge-fd 2')
    assert net.changes(after, net.plan_ifupdown(desired, after)) == [{'path': path, 'action': 'update'}]


def test_ifupdown_actions_take_the_old_uplink_down_and_bring_the_bridge_up():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    files = {MAIN: INSTALLER_DHCP}
    assert net.ifupdown_actions(files, applied(files, net.plan_ifupdown(desired, files))) == (['eno1'], ['xenbr0'])


def test_bond_vlan_and_internal_bridges_render_and_order():
    host = fresh_host()
    desired = normalize([{'name': 'xenbr0', 'uplink': 'bond0', 'ipv4': '192.0.2.10/24', 'gateway': '192.0.2.1',
                          'dns': ['192.0.2.53'], 'mtu': 9000},
                         {'name': 'xenbr20', 'uplink': 'bond0', 'vlan': 20},
                         {'name': 'xenint', 'type': 'internal', 'ipv4': '192.168.100.1/24'}],
                        [{'name': 'bond0', 'interfaces': ['eno2', 'eno3'], 'mode': '802.3ad', 'lacp_rate': 'fast',
                          'mtu': 9000}], host=host)
    files = {MAIN: INSTALLER_DHCP}
    plan = net.plan_ifupdown(desired, files)
    d = '/etc/network/interfaces.d/'
    # eno1 is not taken over here: the main file stays as it is
    assert sorted(plan) == [d + 'xenfleet-bond-bond0', d + 'xenfleet-bridge-xenbr0', d + 'xenfleet-bridge-xenbr20',
                            d + 'xenfleet-bridge-xenint']
    assert """auto bond0
iface bond0 inet manual
    bond-slaves eno2 eno3
    bond-mode 802.3ad
    bond-miimon 100
    bond-lacp-rate fast
    mtu 9000
""" in plan[d + 'xenfleet-bond-bond0']
    assert """iface xenbr0 inet static
    bridge-ports bond0
    bridge-stp off
    bridge-fd 0
    bridge-hw 52:54:00:00:00:02
    address 192.0.2.10/24
    gateway 192.0.2.1
    dns-nameservers 192.0.2.53
    mtu 9000
""" in plan[d + 'xenfleet-bridge-xenbr0']
    assert 'iface xenbr20 inet manual\n    bridge-ports bond0.20\n' in plan[d + 'xenfleet-bridge-xenbr20']
    assert 'iface xenint inet static\n    bridge-ports none\n' in plan[d + 'xenfleet-bridge-xenint']
    down, up = net.ifupdown_actions(files, applied(files, plan))
    assert down == []
    assert up.index('bond0') < up.index('xenbr0') and up.index('bond0') < up.index('xenbr20')
    assert sorted(up) == ['bond0', 'xenbr0', 'xenbr20', 'xenint']


def test_vlan_bridge_on_a_bare_nic_makes_it_a_trunk():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'},
                         {'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno2', 'vlan': 20}])
    plan = net.plan_ifupdown(desired, {MAIN: INSTALLER_DHCP})
    trunk = plan['/etc/network/interfaces.d/xenfleet-trunk-eno2']
    assert 'auto eno2\niface eno2 inet manual\n' in trunk


def test_a_trunk_configured_with_an_address_elsewhere_is_refused():
    desired = normalize([{'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno2', 'vlan': 20}])
    with pytest.raises(InvalidSpec) as info:
        net.plan_ifupdown(desired, {MAIN: INSTALLER_DHCP + '\nauto eno2\niface eno2 inet dhcp\n'})
    assert info.value.msg.startswith("xen_hypervisor_bridges[0] (xenbr20).uplink: VLANs on eno2 make it a trunk without "
                                     "an address, but /etc/network/interfaces configures it with 'iface eno2 inet dhcp'")


def test_main_file_without_source_line_gets_one():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    plan = net.plan_ifupdown(desired, {MAIN: 'auto lo\niface lo inet loopback\n\nauto eno1 eno2\niface eno1 inet dhcp\n'})
    assert plan[MAIN] == ('auto lo\niface lo inet loopback\n\nauto eno2\n'
                          '# moved by xenfleet.xen: eno1 is a port of xenbr0 '
                          '(/etc/network/interfaces.d/xenfleet-bridge-xenbr0)\n\n'
                          '# added by xenfleet.xen: the bridges are configured there\n'
                          'source /etc/network/interfaces.d/*\n')


def test_source_directory_reads_our_run_parts_safe_names():
    text = 'source-directory /etc/network/interfaces.d\nauto lo\niface lo inet loopback\nauto eno1\niface eno1 inet dhcp\n'
    desired = normalize([{'name': 'xen.br0', 'uplink': 'eno1'}])
    plan = net.plan_ifupdown(desired, {MAIN: text})
    assert '/etc/network/interfaces.d/xenfleet-bridge-xen_br0' in plan
    assert 'added by xenfleet.xen' not in plan[MAIN]


def test_stanza_in_an_included_file_is_taken_out_of_that_file():
    cloud = '/etc/network/interfaces.d/50-cloud-init'
    files = {MAIN: 'source /etc/network/interfaces.d/*\nauto lo\niface lo inet loopback\n',
             cloud: 'auto eno1\niface eno1 inet dhcp\n'}
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    plan = net.plan_ifupdown(desired, files)
    assert MAIN not in plan
    assert 'iface eno1' not in plan[cloud]
    assert 'iface xenbr0 inet dhcp' in plan['/etc/network/interfaces.d/xenfleet-bridge-xenbr0']


def test_a_bridge_no_longer_declared_is_removed_and_taken_down_first():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'},
                         {'name': 'xenbr20', 'type': 'vlan', 'uplink': 'eno1', 'vlan': 20}])
    files = applied({MAIN: INSTALLER_DHCP}, net.plan_ifupdown(desired, {MAIN: INSTALLER_DHCP}))
    fewer = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    plan = net.plan_ifupdown(fewer, files)
    assert plan['/etc/network/interfaces.d/xenfleet-bridge-xenbr20'] is None
    assert net.changes(files, plan) == [{'path': '/etc/network/interfaces.d/xenfleet-bridge-xenbr20',
                                         'action': 'remove'}]
    assert net.ifupdown_actions(files, applied(files, plan)) == (['xenbr20'], [])


# -- networkd ------------------------------------------------------------------------------------

# what the role's templates (roles/hypervisor/templates/networkd/*.j2 before this change) rendered for the legacy
# defaults: uplink eno1, DHCP
LEGACY_UNITS = {
    '/etc/systemd/network/05-xenfleet-xenbr0.netdev':
        '# Ansible managed\n[NetDev]\nName=xenbr0\nKind=bridge\n# The uplink\'s MAC address: DHCP reservations and '
        'neighbours\' ARP caches keep working.\nMACAddress=52:54:00:00:00:01\n\n[Bridge]\nSTP=no\nForwardDelaySec=0\n',
    '/etc/systemd/network/05-xenfleet-xenbr0.network':
        '# Ansible managed\n[Match]\nName=xenbr0\n\n[Network]\nDHCP=ipv4\nConfigureWithoutCarrier=yes\n'
        'LinkLocalAddressing=no\nIPv6AcceptRA=no\n',
    '/etc/systemd/network/05-xenfleet-xenbr0-uplink.network':
        '# Ansible managed\n# eno1 carries no address of its own: it is a port of xenbr0.\n[Match]\nName=eno1\n\n'
        '[Network]\nBridge=xenbr0\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n',
}


def test_networkd_units_of_the_legacy_role_are_left_alone():
    desired = normalize(None, legacy={'uplink': 'eno1'})
    plan = net.plan_networkd(desired, fresh_host(), LEGACY_UNITS)
    assert sorted(plan) == sorted(LEGACY_UNITS)
    assert net.changes(LEGACY_UNITS, plan) == []


def test_networkd_inherit_takes_dhcp_from_a_dynamic_address_and_static_with_the_gateway():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    unit = net.plan_networkd(desired, fresh_host(), {})['/etc/systemd/network/05-xenfleet-xenbr0.network']
    assert '[Network]\nDHCP=ipv4\nConfigureWithoutCarrier=yes\n' in unit
    host = fresh_host()
    host['addresses']['eno1'][0]['dynamic'] = False
    unit = net.plan_networkd(desired, host, {})['/etc/systemd/network/05-xenfleet-xenbr0.network']
    assert '[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\nConfigureWithoutCarrier=yes\n' in unit


def test_networkd_inherit_keeps_what_our_unit_says_on_later_runs():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    current = {'/etc/systemd/network/05-xenfleet-xenbr0.network':
               '[Match]\nName=xenbr0\n[Network]\nAddress=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\n'}
    unit = net.plan_networkd(desired, fresh_host(), current)['/etc/systemd/network/05-xenfleet-xenbr0.network']
    assert 'Address=192.0.2.10/24\nGateway=192.0.2.1\nDNS=192.0.2.53\n' in unit


def test_networkd_bond_vlan_internal_units():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'bond0', 'ipv4': 'dhcp', 'mtu': 9000},
                         {'name': 'xenbr20', 'uplink': 'bond0', 'vlan': 20},
                         {'name': 'xenbr30', 'uplink': 'eno1', 'vlan': 30, 'ipv4': '198.51.100.2/24'},
                         {'name': 'xenint', 'type': 'internal'}],
                        [{'name': 'bond0', 'interfaces': ['eno2', 'eno3'], 'xmit_hash_policy': 'layer3+4',
                          'mtu': 9000}], host=fresh_host(addresses={}))
    plan = net.plan_networkd(desired, fresh_host(addresses={}), {})
    d = '/etc/systemd/network/05-xenfleet-'
    assert sorted(p[len(d):] for p in plan) == [
        'bond0-eno2.network', 'bond0-eno3.network', 'bond0.netdev', 'trunk-eno1.network', 'xenbr0-uplink.network',
        'xenbr0.netdev', 'xenbr0.network', 'xenbr20-vlan.netdev', 'xenbr20-vlan.network', 'xenbr20.netdev',
        'xenbr20.network', 'xenbr30-vlan.netdev', 'xenbr30-vlan.network', 'xenbr30.netdev', 'xenbr30.network',
        'xenint.netdev', 'xenint.network']
    assert '[NetDev]\nName=bond0\nKind=bond\nMTUBytes=9000\n\n[Bond]\nMode=active-backup\nMIIMonitorSec=100ms\n' \
           'TransmitHashPolicy=layer3+4\n' in plan[d + 'bond0.netdev']
    assert '[Match]\nName=eno2\n\n[Network]\nBond=bond0\n' in plan[d + 'bond0-eno2.network']
    assert '[Match]\nName=bond0\n\n[Network]\nBridge=xenbr0\nVLAN=bond0.20\n' in plan[d + 'xenbr0-uplink.network']
    assert '[NetDev]\nName=bond0.20\nKind=vlan\n\n[VLAN]\nId=20\n' in plan[d + 'xenbr20-vlan.netdev']
    assert '[Match]\nName=bond0.20\n\n[Network]\nBridge=xenbr20\n' in plan[d + 'xenbr20-vlan.network']
    assert '[Match]\nName=eno1\n\n[Network]\nVLAN=eno1.30\n' in plan[d + 'trunk-eno1.network']
    assert 'Address=198.51.100.2/24' in plan[d + 'xenbr30.network']
    assert 'MACAddress' not in plan[d + 'xenint.netdev']


def test_networkd_actions_release_delete_reconfigure_and_what_a_rollback_undoes():
    host = fresh_host()
    desired = normalize([{'name': 'xenbr0', 'uplink': 'eno1'}])
    new = net.plan_networkd(desired, host, {})
    actions = net.networkd_actions({}, new, host)
    assert actions == {'delete_before': [], 'release': [], 'reconfigure': ['eno1'], 'created': ['xenbr0'],
                       'rollback_release': ['eno1']}
    # the bridge exists now; its MAC changes: networkd would keep the old netdev, so it is deleted first
    host['links']['xenbr0'] = dict(host['links']['eno1'], kind='bridge')
    host['links']['eno1']['master'] = 'xenbr0'
    changed = copy.deepcopy(new)
    path = '/etc/systemd/network/05-xenfleet-xenbr0.netdev'
    changed[path] = changed[path].replace('52:54:00:00:00:01', '52:54:00:00:00:99')
    actions = net.networkd_actions(new, changed, host)
    assert actions['delete_before'] == ['xenbr0'] and actions['created'] == ['xenbr0']


# -- health ------------------------------------------------------------------------------------

def test_health_of_the_captured_bridge():
    host = captured_host()
    desired = net.normalize([{'name': 'xenbr0', 'uplink': 'eno1', 'ipv4': '192.0.2.10/24', 'gateway': '192.0.2.1'},
                             {'name': 'xenbr1', 'type': 'internal'}], [], {}, host)
    checks = net.checks(desired, host)
    assert checks[0] == {'bridge': 'xenbr0', 'port': 'eno1', 'ipv4': 'static', 'address': '192.0.2.10/24',
                         'default_route': True}
    assert net.health(checks, host) == []


def test_health_says_what_is_wrong():
    host = captured_host()
    desired = net.normalize([{'name': 'xenbr0', 'uplink': 'eno1', 'ipv4': '192.0.2.99/24', 'gateway': '192.0.2.1'},
                             {'name': 'xenbr2', 'uplink': 'eno2', 'ipv4': 'dhcp'}], [], {}, host)
    checks = net.checks(desired, host)
    assert net.health(checks, host) == ['xenbr0 does not have 192.0.2.99/24 (has: 192.0.2.10/24)',
                                        'bridge xenbr2 does not exist']
    moved = copy.deepcopy(host)
    moved['default_route'] = {'dev': 'eno2', 'gateway': '198.51.100.1'}
    moved['links']['eno1']['master'] = None
    assert net.health(checks[:1], moved) == ['eno1 is not a port of xenbr0',
                                             'xenbr0 does not have 192.0.2.99/24 (has: 192.0.2.10/24)',
                                             'the default route goes through eno2, not xenbr0']


def test_packages_per_stack():
    desired = normalize([{'name': 'xenbr0', 'uplink': 'bond0'}], [{'name': 'bond0', 'interfaces': ['eno2']}])
    assert net.packages('ifupdown', desired) == ['bridge-utils', 'ifenslave']
    assert net.packages('networkd', desired) == []
