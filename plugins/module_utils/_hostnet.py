# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# A Xen host's bridges as data, pure functions only (no I/O, no AnsibleModule), for xen_host_network:
#
#   read      `ip -j -d link show`, `ip -j addr show`, `ip -j route show default`, `networkctl list` -> host facts;
#             /etc/network/interfaces (and what it sources) -> stanzas (parse_interfaces)
#   normalise the bridge and bond lists (and the deprecated single-bridge settings) against the host; every
#             refusal names the variable and says why (InvalidSpec)
#   choose    the network stack: ifupdown (Debian's installer) or systemd-networkd; NetworkManager is refused
#   render    ifupdown stanzas for /etc/network/interfaces.d/ and the edit that takes an uplink's stanza out of
#             the file the installer wrote; or networkd .netdev/.network units
#   plan      which files change, which interfaces go down before and up after (ifupdown), which links are
#             deleted and reconfigured (networkd), and what "healthy" means afterwards (health)
#
# _converge_hostnet does the reading, writing, applying and rolling back.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import fnmatch
import ipaddress
import json
import posixpath
import re

from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec, XenError

STACKS = ('ifupdown', 'networkd')
BRIDGE_TYPES = ('uplink', 'internal', 'vlan')
BRIDGE_KEYS = ('name', 'type', 'uplink', 'vlan', 'ipv4', 'gateway', 'dns', 'mtu')
BOND_KEYS = ('name', 'interfaces', 'mode', 'miimon', 'lacp_rate', 'xmit_hash_policy', 'mtu')
BOND_MODES = ('balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb')
HASH_POLICIES = ('layer2', 'layer2+3', 'layer3+4', 'encap2+3', 'encap3+4', 'vlan+srcmac')
LEGACY_KEYS = ('mode', 'name', 'uplink', 'ipv4', 'gateway', 'dns')
LEGACY_REMOVED_IN = '2.0.0'
IFNAMSIZ = 15  # Linux: interface names have at most 15 characters
NAME_RE = re.compile(r'^[A-Za-z0-9_.-]+$')
# link kinds (`ip -d` linkinfo info_kind) that cannot be a bridge's uplink or a bond member
NOT_A_PORT = ('bridge', 'bond', 'vlan', 'loopback', 'tun', 'tap')
GUEST_PORT_RE = re.compile(r'^(vif|tap)')  # Xen's guest interfaces, never an uplink

DEFAULT_NAMES = {'bridges': 'bridges', 'bonds': 'bonds', 'stack': 'stack', 'legacy': 'legacy_bridge.'}

# ifupdown
IFUPDOWN_MAIN = '/etc/network/interfaces'
IFUPDOWN_DIR = '/etc/network/interfaces.d'
IFUPDOWN_PREFIX = 'xenfleet-'
STANZA_WORDS = ('iface', 'auto', 'source', 'source-directory', 'mapping', 'rename', 'no-auto-down', 'no-scripts')
# options of an uplink's stanza that belong to the port or that the role sets itself: not moved to the bridge
NOT_CARRIED = re.compile(r'^(bridge[-_]|bond[-_]|vlan[-_]|hwaddress$)')
# networkd
NETWORKD_DIR = '/etc/systemd/network'
NETWORKD_PREFIX = '05-xenfleet-'
MANAGED_HEADER = ('# Managed by xenfleet.xen (module xen_host_network, role hypervisor): '
                  'changes made here are overwritten.')


class StackError(XenError):
    """The host's network stack cannot be used (NetworkManager, none detected, a conflict)."""
    kind = 'network_stack'


# --------------------------------------------------------------------------------------------
# Reading the host: ip -j, networkctl
# --------------------------------------------------------------------------------------------

class HostParseError(XenError):
    kind = 'parse_error'


def _json_list(text, what):
    try:
        data = json.loads(text or '[]')
    except ValueError as exc:
        raise HostParseError('`%s` did not print JSON: %s' % (what, exc))
    if not isinstance(data, list):
        raise HostParseError('`%s` printed a %s, not a list' % (what, type(data).__name__))
    return data


def parse_links(text):
    """`ip -j -d link show` -> {name: {'kind', 'mac', 'permaddr', 'mtu', 'master', 'parent', 'vlan_id',
    'slave_kind', 'up'}}. kind: linkinfo's info_kind (bridge, bond, vlan, veth, ...), 'loopback', or
    'ether' for a NIC without one (a physical interface)."""
    links = {}
    for entry in _json_list(text, 'ip -j -d link show'):
        if not isinstance(entry, dict) or not entry.get('ifname'):
            continue
        info = entry.get('linkinfo') or {}
        kind = info.get('info_kind')
        if entry.get('link_type') == 'loopback':
            kind = 'loopback'
        elif not kind:
            kind = 'ether'
        data = info.get('info_data') or {}
        links[entry['ifname']] = {
            'kind': kind,
            'mac': (entry.get('address') or '').lower() or None,
            'permaddr': (entry.get('permaddr') or '').lower() or None,
            'mtu': entry.get('mtu'),
            'master': entry.get('master'),
            'slave_kind': info.get('info_slave_kind'),
            # `link` is a VLAN's parent (for a veth it is the peer: not used)
            'parent': entry.get('link') if kind == 'vlan' else None,
            'vlan_id': data.get('id') if kind == 'vlan' else None,
            'up': 'UP' in (entry.get('flags') or []),
        }
    return links


def parse_addresses(text):
    """`ip -j addr show` -> {name: [{'family': 4|6, 'address': 'A/P', 'dynamic': bool, 'scope'}]}."""
    out = {}
    for entry in _json_list(text, 'ip -j addr show'):
        if not isinstance(entry, dict) or not entry.get('ifname'):
            continue
        found = []
        for addr in entry.get('addr_info') or []:
            family = {'inet': 4, 'inet6': 6}.get(addr.get('family'))
            if not family or not addr.get('local'):
                continue
            found.append({'family': family, 'address': '%s/%s' % (addr['local'], addr.get('prefixlen')),
                          'dynamic': bool(addr.get('dynamic')), 'scope': addr.get('scope')})
        out[entry['ifname']] = found
    return out


def parse_default_route(text):
    """`ip -j route show default` -> {'dev', 'gateway'} of the first default route, or None."""
    for entry in _json_list(text, 'ip -j route show default'):
        if isinstance(entry, dict) and entry.get('dst') == 'default' and entry.get('dev'):
            return {'dev': entry['dev'], 'gateway': entry.get('gateway')}
    return None


def parse_networkctl_list(text):
    """`networkctl list --no-pager --no-legend` -> {link: setup state} (configured, configuring, unmanaged...)."""
    out = {}
    for line in (text or '').splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit():
            out[fields[1]] = fields[4]
    return out


def ipv4_of(host, name):
    return [a for a in host.get('addresses', {}).get(name, []) if a['family'] == 4 and a.get('scope') != 'host']


# --------------------------------------------------------------------------------------------
# The bridge and bond lists
# --------------------------------------------------------------------------------------------

def names_for(names):
    out = dict(DEFAULT_NAMES)
    out.update(names or {})
    return out


def legacy_bridges(legacy):
    """The deprecated single-bridge settings (only those given: mode, name, uplink, ipv4, gateway, dns) as an
    entry list of the bridge list, the way the role read them before (mode uplink, xenbr0, DHCP)."""
    mode = legacy.get('mode') or 'uplink'
    if mode == 'none':
        return []
    entry = {'name': legacy.get('name') or 'xenbr0', 'type': mode}
    ipv4 = legacy.get('ipv4')
    if ipv4 is None:
        ipv4 = 'dhcp' if mode == 'uplink' else ''
    entry['ipv4'] = ipv4 or 'none'
    if legacy.get('uplink'):
        entry['uplink'] = legacy['uplink']
    if legacy.get('gateway'):
        entry['gateway'] = legacy['gateway']
    if legacy.get('dns'):
        entry['dns'] = list(legacy['dns'])
    return [entry]


def legacy_deprecation(legacy, names):
    given = ', '.join(names['legacy'] + key for key in LEGACY_KEYS if key in legacy)
    example = json.dumps(legacy_bridges(legacy), sort_keys=True)
    return ('%s: the single-bridge settings are deprecated and will be removed in xenfleet.xen %s; declare the '
            'bridge in %s instead, e.g. %s' % (given, LEGACY_REMOVED_IN, names['bridges'], example))


def _int(value, where, what, low, high):
    if isinstance(value, bool):
        raise InvalidSpec(where, '%s must be a whole number, got %r' % (what, value))
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise InvalidSpec(where, '%s must be a whole number, got %r' % (what, value))
    if not low <= value <= high:
        raise InvalidSpec(where, '%s %d is outside %d-%d' % (what, value, low, high))
    return value


def _ifname(value, where, what):
    if not isinstance(value, str) or not value:
        raise InvalidSpec(where, '%s must be a non-empty string, got %r' % (what, value))
    if len(value) > IFNAMSIZ:
        raise InvalidSpec(where, "%s '%s' is %d characters long; Linux allows at most %d in an interface name"
                          % (what, value, len(value), IFNAMSIZ))
    if not NAME_RE.match(value) or value in ('.', '..'):
        raise InvalidSpec(where, "%s '%s' may hold only letters, digits, '_', '.' and '-'" % (what, value))
    return value


def _ipv4_setting(value, where, kind):
    """'inherit' | 'dhcp' | 'none' | an ip_interface ('A/P')."""
    if value is None:
        return 'inherit' if kind == 'uplink' else 'none'
    if not isinstance(value, str):
        raise InvalidSpec(where, 'must be dhcp, inherit, none or ADDRESS/PREFIX, got %r' % (value,))
    value = value.strip()
    if value in ('', 'none'):
        return 'none'
    if value in ('dhcp', 'inherit'):
        if kind == 'internal' and value == 'dhcp':
            raise InvalidSpec(where, 'an internal bridge has no network to ask for DHCP: give ADDRESS/PREFIX or none')
        if value == 'inherit' and kind != 'uplink':
            raise InvalidSpec(where, "'inherit' takes over an uplink's address: only for type uplink")
        return value
    if '/' not in value:
        raise InvalidSpec(where, "'%s' lacks its prefix length: write ADDRESS/PREFIX, e.g. 192.0.2.10/24" % value)
    try:
        iface = ipaddress.IPv4Interface(value)
    except ValueError as exc:
        raise InvalidSpec(where, "'%s' is not an IPv4 ADDRESS/PREFIX (or dhcp, inherit, none): %s" % (value, exc))
    net = iface.network
    if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        raise InvalidSpec(where, "'%s' is the %s address of %s, not a host address"
                          % (value, 'network' if iface.ip == net.network_address else 'broadcast', net))
    return iface


def _reject_unknown(entry, allowed, where):
    unknown = sorted(k for k in entry if k not in allowed)
    if unknown:
        raise InvalidSpec(where, 'unknown key%s %s (known: %s)'
                          % ('s' if len(unknown) > 1 else '', ', '.join(unknown), ', '.join(allowed)))


def _bond(entry, index, names, host):
    where = '%s[%d]' % (names['bonds'], index)
    if not isinstance(entry, dict):
        raise InvalidSpec(where, 'must be a mapping with name and interfaces, got %r' % (entry,))
    _reject_unknown(entry, BOND_KEYS, where)
    name = _ifname(entry.get('name'), where + '.name', 'bond name')
    where = '%s (%s)' % (where, name)
    members = entry.get('interfaces')
    if not isinstance(members, list) or not members:
        raise InvalidSpec(where + '.interfaces', 'must list the interfaces the bond aggregates, got %r' % (members,))
    seen = []
    for member in members:
        _ifname(member, where + '.interfaces', 'interface')
        if member in seen:
            raise InvalidSpec(where + '.interfaces', "'%s' is listed twice" % member)
        _port_exists(host, member, where + '.interfaces')
        seen.append(member)
    mode = entry.get('mode') or 'active-backup'
    if mode not in BOND_MODES:
        raise InvalidSpec(where + '.mode', "'%s' is not a bonding mode (one of %s)" % (mode, ', '.join(BOND_MODES)))
    lacp_rate = entry.get('lacp_rate')
    if lacp_rate is not None:
        if mode != '802.3ad':
            raise InvalidSpec(where + '.lacp_rate', 'applies to mode 802.3ad only (this bond: %s)' % mode)
        if lacp_rate not in ('slow', 'fast'):
            raise InvalidSpec(where + '.lacp_rate', "must be slow or fast, got %r" % (lacp_rate,))
    policy = entry.get('xmit_hash_policy')
    if policy is not None and policy not in HASH_POLICIES:
        raise InvalidSpec(where + '.xmit_hash_policy', "'%s' is not one of %s" % (policy, ', '.join(HASH_POLICIES)))
    miimon = entry.get('miimon')
    miimon = 100 if miimon is None else _int(miimon, where + '.miimon', 'miimon (ms)', 0, 60000)
    mtu = entry.get('mtu')
    mtu = None if mtu is None else _int(mtu, where + '.mtu', 'MTU', 68, 65535)
    return {'name': name, 'interfaces': list(members), 'mode': mode, 'miimon': miimon, 'lacp_rate': lacp_rate,
            'xmit_hash_policy': policy, 'mtu': mtu, 'label': where}


def _port_exists(host, name, where):
    links = host['links']
    if name not in links:
        raise InvalidSpec(where, "unknown interface '%s' (this host has: %s)"
                          % (name, ', '.join(sorted(n for n in links if links[n]['kind'] != 'loopback')) or 'none'))
    kind = links[name]['kind']
    if kind in NOT_A_PORT or GUEST_PORT_RE.match(name):
        raise InvalidSpec(where, "'%s' is a %s interface, not one to enslave (a NIC)" % (name, kind))


def _bridge(entry, index, names):
    where = '%s[%d]' % (names['bridges'], index)
    if not isinstance(entry, dict):
        raise InvalidSpec(where, 'must be a mapping with at least a name, got %r' % (entry,))
    _reject_unknown(entry, BRIDGE_KEYS, where)
    name = _ifname(entry.get('name'), where + '.name', 'bridge name')
    where = '%s (%s)' % (where, name)
    kind = entry.get('type') or ('vlan' if entry.get('vlan') is not None else 'uplink')
    if kind not in BRIDGE_TYPES:
        raise InvalidSpec(where + '.type', "'%s' is not a bridge type (uplink, internal or vlan)" % (kind,))
    uplink = entry.get('uplink') or None
    if uplink is not None:
        _ifname(uplink, where + '.uplink', 'uplink')
    vlan = entry.get('vlan')
    if kind == 'internal' and uplink:
        raise InvalidSpec(where + '.uplink', 'an internal bridge has no uplink (use type uplink or vlan)')
    if kind == 'vlan':
        if vlan is None:
            raise InvalidSpec(where + '.vlan', 'a vlan bridge needs its VLAN id (1-4094)')
        vlan = _int(vlan, where + '.vlan', 'VLAN id', 1, 4094)
        if not uplink:
            raise InvalidSpec(where + '.uplink', 'a vlan bridge needs the interface or bond that carries VLAN %d' % vlan)
    elif vlan is not None:
        raise InvalidSpec(where + '.vlan', 'only a bridge of type vlan has a VLAN id (this one: %s)' % kind)
    ipv4 = _ipv4_setting(entry.get('ipv4'), where + '.ipv4', kind)
    gateway = entry.get('gateway') or None
    if gateway is not None:
        if not isinstance(ipv4, ipaddress.IPv4Interface):
            raise InvalidSpec(where + '.gateway', 'a gateway goes with a static ipv4 (ADDRESS/PREFIX); with %s the '
                              'gateway comes from %s' % (ipv4, 'DHCP' if ipv4 == 'dhcp' else 'the uplink'))
        try:
            gw = ipaddress.IPv4Address(str(gateway))
        except ValueError:
            raise InvalidSpec(where + '.gateway', "'%s' is not an IPv4 address" % (gateway,))
        if gw not in ipv4.network:
            raise InvalidSpec(where + '.gateway', '%s is not in the bridge\'s network %s: it could not be reached'
                              % (gw, ipv4.network))
        gateway = str(gw)
    dns = entry.get('dns') or []
    if not isinstance(dns, list):
        raise InvalidSpec(where + '.dns', 'must be a list of addresses, got %r' % (dns,))
    if dns and not isinstance(ipv4, ipaddress.IPv4Interface):
        raise InvalidSpec(where + '.dns', 'DNS servers go with a static ipv4 (ADDRESS/PREFIX); with %s they come '
                          'from %s' % (ipv4, 'DHCP' if ipv4 == 'dhcp' else 'the uplink\'s configuration'))
    for server in dns:
        try:
            ipaddress.ip_address(str(server))
        except ValueError:
            raise InvalidSpec(where + '.dns', "'%s' is not an IP address" % (server,))
    mtu = entry.get('mtu')
    mtu = None if mtu is None else _int(mtu, where + '.mtu', 'MTU', 68, 65535)
    return {'name': name, 'type': kind, 'uplink': uplink, 'vlan': vlan, 'vlan_dev': None,
            'ipv4': ipv4 if isinstance(ipv4, str) else 'static', 'address': None if isinstance(ipv4, str) else str(ipv4),
            'gateway': gateway, 'dns': [str(s) for s in dns], 'mtu': mtu, 'mac': None, 'label': where}


def default_uplink(host, declared_bonds):
    """The interface of the default route, or - when that is already a bridge - its one port (a bond or NIC,
    never a guest's vif). Returns (name or None, why-not text)."""
    route = host.get('default_route')
    if not route:
        return None, 'this host has no default IPv4 route'
    dev = route['dev']
    links = host['links']
    if dev in declared_bonds:
        return dev, ''
    if links.get(dev, {}).get('kind') == 'bridge':
        ports = sorted(n for n, link in links.items() if link.get('master') == dev and not GUEST_PORT_RE.match(n))
        if len(ports) == 1:
            return ports[0], ''
        return None, ('the default route goes through bridge %s, which has %s' %
                      (dev, 'the ports %s' % ', '.join(ports) if ports else 'no port'))
    return dev, ''


def normalize(bridges, bonds, legacy, host, names=None):
    """Check the declaration against the host; return {'bridges', 'bonds', 'deprecations'}.

    bridges: the list (None when the variable is unset), bonds: a list, legacy: the deprecated single-bridge
    settings that were given (a dict, possibly empty), host: parse_* output ({'links', 'addresses',
    'default_route'}). Raises InvalidSpec naming the variable (names maps bridges/bonds/legacy to the
    caller's variable names) on the first problem; nothing is read or written here."""
    names = names_for(names)
    legacy = dict((k, v) for k, v in (legacy or {}).items() if v is not None)
    unknown = sorted(k for k in legacy if k not in LEGACY_KEYS)
    if unknown:
        raise InvalidSpec(names['legacy'] + unknown[0], 'not a single-bridge setting (%s)' % ', '.join(LEGACY_KEYS))
    deprecations = []
    if bridges is not None and legacy:
        raise InvalidSpec(names['bridges'], 'set together with the deprecated %s: declare the bridges in %s only'
                          % (', '.join(names['legacy'] + k for k in LEGACY_KEYS if k in legacy), names['bridges']))
    if bridges is None:
        if legacy:
            if legacy.get('mode', 'uplink') not in ('uplink', 'internal', 'none'):
                raise InvalidSpec(names['legacy'] + 'mode', "'%s' is not uplink, internal or none" % legacy['mode'])
            bridges = legacy_bridges(legacy)
            deprecations.append(legacy_deprecation(legacy, names))
        else:
            bridges = [{'name': 'xenbr0'}]
    if not isinstance(bridges, list):
        raise InvalidSpec(names['bridges'], 'must be a list of bridges, got %r' % (bridges,))
    bonds = bonds or []
    if not isinstance(bonds, list):
        raise InvalidSpec(names['bonds'], 'must be a list of bonds, got %r' % (bonds,))
    links = host['links']

    out_bonds = []
    member_of = {}
    for index, entry in enumerate(bonds):
        bond = _bond(entry, index, names, host)
        if bond['name'] in [b['name'] for b in out_bonds]:
            raise InvalidSpec(bond['label'] + '.name', "a second bond named '%s'" % bond['name'])
        if bond['name'] in links and links[bond['name']]['kind'] != 'bond':
            raise InvalidSpec(bond['label'] + '.name', "'%s' is already a %s interface on this host"
                              % (bond['name'], links[bond['name']]['kind']))
        for member in bond['interfaces']:
            if member in member_of:
                raise InvalidSpec(bond['label'] + '.interfaces', "'%s' is already a member of bond %s"
                                  % (member, member_of[member]))
            member_of[member] = bond['name']
        out_bonds.append(bond)
    bond_by_name = dict((b['name'], b) for b in out_bonds)

    out = []
    for index, entry in enumerate(bridges):
        bridge = _bridge(entry, index, names)
        if bridge['name'] in [b['name'] for b in out]:
            raise InvalidSpec(bridge['label'] + '.name', "a second bridge named '%s'" % bridge['name'])
        existing = links.get(bridge['name'])
        if existing and existing['kind'] != 'bridge':
            raise InvalidSpec(bridge['label'] + '.name', "'%s' is already a %s interface on this host"
                              % (bridge['name'], existing['kind']))
        if bridge['name'] in bond_by_name:
            raise InvalidSpec(bridge['label'] + '.name', "'%s' is the name of a bond" % bridge['name'])
        out.append(bridge)
    bridge_names = set(b['name'] for b in out)

    # uplinks: named, or the default route's interface
    for bridge in out:
        where = bridge['label'] + '.uplink'
        if bridge['type'] == 'uplink' and not bridge['uplink']:
            found, why = default_uplink(host, bond_by_name)
            if not found or found in bridge_names:
                raise InvalidSpec(where, 'not given, and it cannot be found: %s. Name the interface (or bond) to '
                                  'enslave in uplink' % (why or 'the default route goes through %s' % found))
            bridge['uplink'] = found
        uplink = bridge['uplink']
        if not uplink:
            continue
        if uplink in bridge_names:
            raise InvalidSpec(where, "'%s' is one of the declared bridges, not an interface or bond" % uplink)
        if uplink in member_of:
            raise InvalidSpec(where, "'%s' is a member of bond %s: use the bond as uplink" % (uplink, member_of[uplink]))
        if uplink in bond_by_name:
            continue
        if uplink in links and links[uplink]['kind'] == 'bond':
            raise InvalidSpec(where, "'%s' is a bond this role does not manage: declare it in %s"
                              % (uplink, names['bonds']))
        _port_exists(host, uplink, where)

    # one uplink, one untagged bridge; one VLAN of an uplink, one bridge
    untagged = {}
    tagged = {}
    for bridge in out:
        if bridge['type'] == 'uplink':
            other = untagged.get(bridge['uplink'])
            if other:
                raise InvalidSpec(bridge['label'] + '.uplink', "'%s' is already the uplink of bridge %s: two bridges on "
                                  "one uplink without VLANs would share one network. Give one of them a VLAN (type: "
                                  "vlan, vlan: ID) or another uplink" % (bridge['uplink'], other['name']))
            untagged[bridge['uplink']] = bridge
        elif bridge['type'] == 'vlan':
            key = (bridge['uplink'], bridge['vlan'])
            if key in tagged:
                raise InvalidSpec(bridge['label'] + '.vlan', 'VLAN %d of %s is already bridged by %s'
                                  % (bridge['vlan'], bridge['uplink'], tagged[key]['name']))
            tagged[key] = bridge
            vlan_dev = '%s.%d' % (bridge['uplink'], bridge['vlan'])
            if len(vlan_dev) > IFNAMSIZ:
                raise InvalidSpec(bridge['label'] + '.vlan', "the VLAN interface '%s' would be %d characters long; Linux "
                                  "allows at most %d" % (vlan_dev, len(vlan_dev), IFNAMSIZ))
            if vlan_dev in bridge_names or vlan_dev in bond_by_name:
                raise InvalidSpec(bridge['label'] + '.vlan', "'%s' is also the name of a declared interface" % vlan_dev)
            bridge['vlan_dev'] = vlan_dev

    # a VLAN's parent that no bridge and no bond of ours configures is a bare trunk: it must not carry an address
    for bridge in out:
        if bridge['type'] != 'vlan':
            continue
        parent = bridge['uplink']
        if parent in untagged or parent in bond_by_name:
            continue
        addresses = ipv4_of(host, parent)
        if addresses:
            raise InvalidSpec(bridge['label'] + '.uplink', "VLANs on %s make it a trunk that this role configures "
                              "without an address, but it carries %s now. Declare an uplink bridge on %s (type "
                              "uplink, ipv4 inherit) that takes the address over, or carry the VLANs on an interface "
                              "without addresses" % (parent, ', '.join(a['address'] for a in addresses), parent))
        master = links.get(parent, {}).get('master')
        if master and master not in bridge_names and master not in bond_by_name:
            raise InvalidSpec(bridge['label'] + '.uplink', "%s is a port of %s, which this role does not manage"
                              % (parent, master))

    # bonds: used, and not also enslaved directly
    for bond in out_bonds:
        if not any(b['uplink'] == bond['name'] for b in out):
            raise InvalidSpec(bond['label'], 'no bridge uses bond %s as its uplink: a bond this role makes carries '
                              'bridges (type uplink or vlan)' % bond['name'])

    # at most one static default gateway
    gateways = [b for b in out if b['gateway']]
    if len(gateways) > 1:
        raise InvalidSpec(gateways[1]['label'] + '.gateway', 'bridge %s has a gateway already: one default gateway '
                          'per host' % gateways[0]['name'])

    # MTUs: a VLAN is not larger than its parent
    for bridge in out:
        if bridge['type'] != 'vlan' or not bridge['mtu']:
            continue
        parent = bridge['uplink']
        parent_mtu = (untagged[parent]['mtu'] if parent in untagged and untagged[parent]['mtu']
                      else bond_by_name[parent]['mtu'] if parent in bond_by_name and bond_by_name[parent]['mtu']
                      else links.get(parent, {}).get('mtu') if parent in links else None)
        if parent_mtu and bridge['mtu'] > parent_mtu:
            raise InvalidSpec(bridge['label'] + '.mtu', 'MTU %d is larger than the MTU %d of %s, which carries the VLAN'
                              % (bridge['mtu'], parent_mtu, parent))

    # the MAC of an uplink bridge: its uplink's (a bond's: its first member's), so that DHCP reservations and the
    # neighbours' ARP caches keep working
    for bridge in out:
        if bridge['type'] == 'uplink':
            nic = bond_by_name[bridge['uplink']]['interfaces'][0] if bridge['uplink'] in bond_by_name else bridge['uplink']
            link = links.get(nic, {})
            bridge['mac'] = link.get('permaddr') or link.get('mac')
    warnings = ['%s: bridges over a bond in mode %s may not forward traffic (Debian\'s bridge-utils names '
                'active-backup, balance-tlb and 802.3ad as the tested modes)' % (b['label'], b['mode'])
                for b in out_bonds if b['mode'] not in ('active-backup', 'balance-tlb', '802.3ad')]
    return {'bridges': out, 'bonds': out_bonds, 'deprecations': deprecations, 'warnings': warnings}


def packages(stack, desired):
    """Debian packages the stack needs for the declaration."""
    if stack != 'ifupdown' or not desired['bridges']:
        return []
    return ['bridge-utils'] + (['ifenslave'] if desired['bonds'] else [])


def takeover(desired):
    """Interfaces whose configuration the declaration replaces: uplinks of uplink bridges, bonds and their members,
    trunk parents of VLAN bridges."""
    bonds = dict((b['name'], b) for b in desired['bonds'])
    out = []
    for bridge in desired['bridges']:
        if bridge['type'] == 'uplink':
            for name in bonds[bridge['uplink']]['interfaces'] if bridge['uplink'] in bonds else [bridge['uplink']]:
                if name not in out:
                    out.append(name)
    for bond in desired['bonds']:
        for name in bond['interfaces'] + [bond['name']]:
            if name not in out:
                out.append(name)
    for name in trunks(desired):
        if name not in out:
            out.append(name)
    return out


def trunks(desired):
    """VLAN parents that no bridge of type uplink and no bond of ours configures: bare trunks we configure."""
    bonds = set(b['name'] for b in desired['bonds'])
    untagged = set(b['uplink'] for b in desired['bridges'] if b['type'] == 'uplink')
    out = []
    for bridge in desired['bridges']:
        parent = bridge['uplink']
        if bridge['type'] == 'vlan' and parent not in bonds and parent not in untagged and parent not in out:
            out.append(parent)
    return out


# --------------------------------------------------------------------------------------------
# Which stack
# --------------------------------------------------------------------------------------------

def choose_stack(choice, host, stanzas, desired, names=None):
    """'ifupdown' or 'networkd' for this host. choice: auto | ifupdown | networkd. host: {'networkmanager',
    'networkd', 'networkd_links', 'ifup'}; stanzas: {iface: [(path, Stanza)]} of the ifupdown configuration.
    Raises StackError with the choice to make."""
    names = names_for(names)
    var = names['stack']
    configured = sorted(n for n in stanzas if n != 'lo' and any(s.kind == 'iface' for _p, s in stanzas[n]))
    taken = takeover(desired)
    networkd_links = host.get('networkd_links') or {}
    in_ifupdown = [n for n in taken if n in configured]
    in_networkd = [n for n in taken if networkd_links.get(n) in ('configured', 'configuring')]
    if choice == 'auto':
        if host.get('networkmanager'):
            raise StackError('NetworkManager is running on this host; the hypervisor role makes bridges with ifupdown '
                             'or systemd-networkd only. Move the host\'s network to one of them (Debian\'s installer '
                             'sets up ifupdown: /etc/network/interfaces) and disable NetworkManager, then set %s to '
                             'ifupdown or networkd; or leave the host\'s network alone with an empty bridge list. '
                             'Nothing was changed.' % var)
        if in_ifupdown:
            return 'ifupdown'
        if in_networkd:
            return 'networkd'
        if configured and host.get('ifup'):
            return 'ifupdown'
        if host.get('networkd'):
            return 'networkd'
        raise StackError('Cannot tell which network stack this host uses: /etc/network/interfaces configures no '
                         'interface besides lo and systemd-networkd is not running. Set %s to ifupdown or networkd. '
                         'Nothing was changed.' % var)
    if choice == 'ifupdown':
        if in_networkd:
            raise StackError('%s=ifupdown, but systemd-networkd manages %s: both would configure %s. Remove its '
                             '.network file or set %s to networkd. Nothing was changed.'
                             % (var, ', '.join(in_networkd), 'them' if len(in_networkd) > 1 else 'it', var))
        if not host.get('ifup'):
            raise StackError('%s=ifupdown, but ifupdown is not installed (no ifup): install the Debian package '
                             'ifupdown, or set %s to networkd. Nothing was changed.' % (var, var))
        return 'ifupdown'
    if choice == 'networkd':
        foreign = [n for n in in_ifupdown if any(not is_managed_path(p) for p, _s in stanzas[n])]
        if foreign:
            raise StackError('%s=networkd, but ifupdown configures %s (%s): both would configure %s. Remove the '
                             'stanza or set %s to ifupdown. Nothing was changed.'
                             % (var, ', '.join(foreign), ', '.join(sorted(set(p for n in foreign for p, _s in stanzas[n]))),
                                'them' if len(foreign) > 1 else 'it', var))
        return 'networkd'
    raise InvalidSpec(var, "'%s' is not auto, ifupdown or networkd" % (choice,))


# --------------------------------------------------------------------------------------------
# ifupdown: /etc/network/interfaces
# --------------------------------------------------------------------------------------------

class Stanza(object):
    """One stanza of an interfaces(5) file: kind (iface, auto, allow, source, source-directory, mapping, ...),
    first and last physical line (0-based, inclusive), the words of its first line, and for iface: name, family,
    method and options [(key, value)]."""

    def __init__(self, kind, first, words):
        self.kind = kind
        self.first = first
        self.last = first
        self.words = words
        self.options = []
        self.name = words[1] if kind == 'iface' and len(words) > 1 else None
        self.family = words[2] if kind == 'iface' and len(words) > 2 else None
        self.method = words[3] if kind == 'iface' and len(words) > 3 else None

    def names(self):
        """The interfaces an auto/allow-* line lists, or the iface's name."""
        if self.kind in ('auto', 'allow'):
            return self.words[1:]
        return [self.name] if self.name else []

    def __repr__(self):
        return 'Stanza(%s %r lines %d-%d)' % (self.kind, self.words, self.first, self.last)


def _logical_lines(text):
    """(first, last, text) of each logical line: a trailing backslash continues a line."""
    out = []
    pending = None
    for index, line in enumerate(text.splitlines()):
        if pending is not None:
            first, acc = pending
            if line.rstrip().endswith('\\'):
                pending = (first, acc + ' ' + line.rstrip()[:-1])
                continue
            out.append((first, index, acc + ' ' + line))
            pending = None
            continue
        if line.rstrip().endswith('\\') and not line.lstrip().startswith('#'):
            pending = (index, line.rstrip()[:-1])
            continue
        out.append((index, index, line))
    if pending is not None:
        out.append((pending[0], len(text.splitlines()) - 1, pending[1]))
    return out


def parse_interfaces(text):
    """interfaces(5) text -> [Stanza]. Comments are lines starting with '#'; option lines belong to the iface
    (or mapping) stanza above them."""
    stanzas = []
    current = None
    for first, last, line in _logical_lines(text or ''):
        words = line.split()
        if not words or words[0].startswith('#'):
            continue
        head = words[0]
        if head in STANZA_WORDS or head.startswith('allow-'):
            kind = 'allow' if head.startswith('allow-') else head
            current = Stanza(kind, first, words)
            current.last = last
            stanzas.append(current)
            continue
        if current is not None and current.kind in ('iface', 'mapping'):
            current.options.append((head, ' '.join(words[1:])))
            current.last = last
    return stanzas


def sources(text, path):
    """The (kind, pattern) of each source / source-directory line, relative patterns made absolute against
    the file's directory (interfaces(5))."""
    out = []
    for stanza in parse_interfaces(text):
        if stanza.kind in ('source', 'source-directory') and len(stanza.words) > 1:
            pattern = stanza.words[1]
            if not pattern.startswith('/'):
                pattern = posixpath.join(posixpath.dirname(path), pattern)
            out.append((stanza.kind, pattern))
    return out


RUN_PARTS_NAME = re.compile(r'^[A-Za-z0-9_-]+$')


def source_covers(kind, pattern, path):
    """Whether a source line (kind, pattern) reads the file `path`."""
    if kind == 'source':
        return fnmatch.fnmatchcase(path, pattern)
    return posixpath.dirname(path) == pattern.rstrip('/') and bool(RUN_PARTS_NAME.match(posixpath.basename(path)))


def index_stanzas(files):
    """{iface: [(path, Stanza)]} of the iface, auto and allow-* stanzas of the files (path -> text, in the
    order ifupdown reads them)."""
    out = {}
    for path, text in files.items():
        for stanza in parse_interfaces(text):
            if stanza.kind in ('iface', 'auto', 'allow'):
                for name in stanza.names():
                    out.setdefault(name, []).append((path, stanza))
    return out


def is_managed_path(path):
    return posixpath.basename(path).startswith(IFUPDOWN_PREFIX) or posixpath.basename(path).startswith(NETWORKD_PREFIX)


def ifupdown_file(kind, name, directory=IFUPDOWN_DIR):
    """Our file for a bond ('bond'), a bridge ('bridge') or a trunk ('trunk'): run-parts-safe names (letters,
    digits, '-', '_'), bonds sorting before bridges so `ifup -a` makes a bond before the bridge on it."""
    return posixpath.join(directory, '%s%s-%s' % (IFUPDOWN_PREFIX, kind, name.replace('.', '_')))


def _iface_lines(name, family, method, options, auto):
    lines = (['auto %s' % name] if auto else []) + ['iface %s %s %s' % (name, family, method)]
    lines += ['    %s %s' % (k, v) if v else '    %s' % k for k, v in options]
    return '\n'.join(lines)


def _inherited_ifupdown(bridge, bonds, stanzas, managed):
    """The inet and inet6 stanzas an uplink bridge takes over: the uplink's (a bond's members') when another file
    configures it, else the bridge's own in our file (a later run). {family: Stanza}."""
    candidates = []
    if bridge['uplink'] in bonds:
        candidates += bonds[bridge['uplink']]['interfaces'] + [bridge['uplink']]
    else:
        candidates.append(bridge['uplink'])
    found = {}
    for name in candidates:
        for path, stanza in stanzas.get(name, []):
            if stanza.kind == 'iface' and path not in managed and stanza.family in ('inet', 'inet6'):
                if stanza.family not in found and (stanza.method != 'manual' or stanza.family == 'inet6'):
                    found[stanza.family] = stanza
    if found:
        return found
    for path, stanza in stanzas.get(bridge['name'], []):
        if stanza.kind == 'iface' and path in managed and stanza.family in ('inet', 'inet6'):
            found.setdefault(stanza.family, stanza)
    return found


def _carried(stanza, bridge):
    return [(k, v) for k, v in stanza.options
            if not NOT_CARRIED.match(k) and not (k == 'mtu' and bridge['mtu'])]


def render_ifupdown(desired, stanzas, directory=IFUPDOWN_DIR):
    """Our files: {path: text}. A bond file per bond (ifenslave's bond-* options), a trunk file per VLAN parent that
    no bridge or bond of ours configures, a bridge file per bridge (bridge-utils' bridge-* options). The ports of a
    bridge get no stanza of their own: bridge-utils brings them up, applies the bridge's mtu to them and makes a
    port named like a VLAN (eno1.20) on its parent (bridge-utils' README.Debian); so do ifenslave for bond members.
    Every stanza of a bridge (inet and inet6) carries its bridge-ports, as bridge-utils requires."""
    bonds = dict((b['name'], b) for b in desired['bonds'])
    managed = set(p for entries in stanzas.values() for p, _s in entries if is_managed_path(p))
    vlans_on = {}
    for bridge in desired['bridges']:
        if bridge['type'] == 'vlan':
            vlans_on.setdefault(bridge['uplink'], []).append(bridge)
    files = {}
    for bond in desired['bonds']:
        options = [('bond-slaves', ' '.join(bond['interfaces'])), ('bond-mode', bond['mode']),
                   ('bond-miimon', str(bond['miimon']))]
        if bond['lacp_rate']:
            options.append(('bond-lacp-rate', bond['lacp_rate']))
        if bond['xmit_hash_policy']:
            options.append(('bond-xmit-hash-policy', bond['xmit_hash_policy']))
        if bond['mtu']:
            options.append(('mtu', str(bond['mtu'])))
        parts = [MANAGED_HEADER, '# Bond %s of %s.' % (bond['name'], ', '.join(bond['interfaces'])),
                 _iface_lines(bond['name'], 'inet', 'manual', options, True)]
        files[ifupdown_file('bond', bond['name'], directory)] = '\n\n'.join(parts) + '\n'
    for parent in trunks(desired):
        mtu = max([b['mtu'] for b in vlans_on[parent] if b['mtu']] or [0])
        parts = [MANAGED_HEADER, '# %s carries the VLANs %s (a trunk: no address).'
                 % (parent, ', '.join(str(b['vlan']) for b in vlans_on[parent])),
                 _iface_lines(parent, 'inet', 'manual', [('mtu', str(mtu))] if mtu else [], True)]
        files[ifupdown_file('trunk', parent, directory)] = '\n\n'.join(parts) + '\n'
    for bridge in desired['bridges']:
        mtu = [('mtu', str(bridge['mtu']))] if bridge['mtu'] else []
        inherited = {}
        if bridge['type'] == 'uplink':
            what = 'with uplink %s' % bridge['uplink']
            ports = bridge['uplink']
            inherited = _inherited_ifupdown(bridge, bonds, stanzas, managed)
        elif bridge['type'] == 'vlan':
            what = 'on VLAN %d of %s' % (bridge['vlan'], bridge['uplink'])
            ports = bridge['vlan_dev']
        else:
            what = 'without uplink (internal)'
            ports = 'none'
        options = [('bridge-ports', ports), ('bridge-stp', 'off'), ('bridge-fd', '0')]
        if bridge['mac']:
            options.append(('bridge-hw', bridge['mac']))
        if bridge['ipv4'] == 'inherit' and inherited.get('inet') is not None:
            base = inherited['inet']
            method, extra = base.method, _carried(base, bridge)
        elif bridge['ipv4'] == 'dhcp':
            method, extra = 'dhcp', []
        elif bridge['ipv4'] == 'static':
            method, extra = 'static', [('address', bridge['address'])]
            if bridge['gateway']:
                extra.append(('gateway', bridge['gateway']))
            if bridge['dns']:
                extra.append(('dns-nameservers', ' '.join(bridge['dns'])))
        else:
            method, extra = 'manual', []
        parts = [MANAGED_HEADER, '# Bridge %s %s.' % (bridge['name'], what),
                 _iface_lines(bridge['name'], 'inet', method, options + extra + mtu, True)]
        inet6 = inherited.get('inet6')
        if inet6 is not None:
            parts.append(_iface_lines(bridge['name'], 'inet6', inet6.method, options + _carried(inet6, bridge), False))
        files[ifupdown_file('bridge', bridge['name'], directory)] = '\n\n'.join(parts) + '\n'
    return files


def owners(desired, directory=IFUPDOWN_DIR):
    """{interface: (what it is now, our file that configures it)} for the note left where its stanza was."""
    out = {}
    bonds = dict((b['name'], b) for b in desired['bonds'])
    for bond in desired['bonds']:
        path = ifupdown_file('bond', bond['name'], directory)
        out[bond['name']] = ('is a bond', path)
        for member in bond['interfaces']:
            out[member] = ('is in bond %s' % bond['name'], path)
    for parent in trunks(desired):
        out[parent] = ('carries VLANs', ifupdown_file('trunk', parent, directory))
    for bridge in desired['bridges']:
        path = ifupdown_file('bridge', bridge['name'], directory)
        out[bridge['name']] = ('is a bridge', path)
        if bridge['type'] == 'uplink' and bridge['uplink'] not in bonds:
            out[bridge['uplink']] = ('is a port of %s' % bridge['name'], path)
        if bridge['vlan_dev']:
            out[bridge['vlan_dev']] = ('is a port of %s' % bridge['name'], path)
    return out


def remove_stanzas(text, ifaces, note):
    """`text` without the iface stanzas of `ifaces` and without them on auto/allow-* lines (a line naming others
    keeps those); the first removed line becomes the comment `note`. Returns the new text (unchanged when none of
    them is configured here)."""
    lines = (text or '').splitlines()
    drop = set()
    replace = {}
    for stanza in parse_interfaces(text or ''):
        if stanza.kind == 'iface' and stanza.name in ifaces:
            drop.update(range(stanza.first, stanza.last + 1))
        elif stanza.kind in ('auto', 'allow') and any(n in ifaces for n in stanza.names()):
            keep = [n for n in stanza.names() if n not in ifaces]
            if keep:
                replace[stanza.first] = '%s %s' % (stanza.words[0], ' '.join(keep))
                drop.update(range(stanza.first + 1, stanza.last + 1))
            else:
                drop.update(range(stanza.first, stanza.last + 1))
    if not drop and not replace:
        return text
    out = []
    noted = False
    for index, line in enumerate(lines):
        if index in replace:
            out.append(replace[index])
        elif index in drop:
            if not noted:
                out.append(note)
                noted = True
        else:
            out.append(line)
    return '\n'.join(out) + '\n'


def plan_ifupdown(desired, files, main=IFUPDOWN_MAIN, directory=IFUPDOWN_DIR):
    """The desired state of every file involved: {path: text or None (remove)}. `files` holds the current
    configuration as read (path -> text, main first, then what it sources, in order; our own files included).

    Ours are rendered; the stanzas of the interfaces the bridges and bonds take over are removed from every other
    file (and from auto/allow lines); the main file gains `source <dir>/*` when nothing reads our directory."""
    stanzas = index_stanzas(files)
    for parent in trunks(desired):
        for path, stanza in stanzas.get(parent, []):
            if stanza.kind == 'iface' and stanza.method != 'manual' and not is_managed_path(path):
                bridge = [b for b in desired['bridges'] if b['uplink'] == parent][0]
                raise InvalidSpec(bridge['label'] + '.uplink', "VLANs on %s make it a trunk without an address, but %s "
                                  "configures it with 'iface %s %s %s'. Declare an uplink bridge on %s (type uplink, "
                                  "ipv4 inherit) that takes its configuration over, or carry the VLANs on an interface "
                                  "without addresses" % (parent, path, parent, stanza.family, stanza.method, parent))
    ours = render_ifupdown(desired, stanzas, directory)
    out = dict((path, None) for path in files if is_managed_path(path) and path not in ours)
    out.update(ours)
    taken = set(takeover(desired)) | set(b['name'] for b in desired['bridges']) | \
        set(b['vlan_dev'] for b in desired['bridges'] if b['vlan_dev'])
    where = owners(desired, directory)
    for path, text in files.items():
        if is_managed_path(path):
            continue
        here = sorted(n for n in taken if n in _configured_in(text))
        note = '# moved by xenfleet.xen: ' + '; '.join('%s %s (%s)' % (n, where[n][0], where[n][1]) for n in here)
        edited = remove_stanzas(text, taken, note)
        if edited != text:
            out[path] = edited
    if ours:
        main_text = out.get(main, files.get(main)) or ''
        readers = []
        for name, text in files.items():
            if not is_managed_path(name):
                readers.extend(sources(out.get(name, text) or '', name))
        if not all(any(source_covers(kind, pattern, path) for kind, pattern in readers) for path in ours):
            out[main] = main_text.rstrip('\n') + ('\n\n' if main_text.strip() else '') + \
                '# added by xenfleet.xen: the bridges are configured there\nsource %s/*\n' % directory
    return out


def _configured_in(text):
    names = set()
    for stanza in parse_interfaces(text or ''):
        if stanza.kind in ('iface', 'auto', 'allow'):
            names.update(stanza.names())
    return names


def _ifupdown_view(files):
    """{iface: canonical text of its auto flag and stanzas} across the files."""
    view = {}
    for path, text in files.items():
        if text is None:
            continue
        for stanza in parse_interfaces(text):
            if stanza.kind == 'iface' and stanza.name:
                view.setdefault(stanza.name, []).append('iface %s %s %s|%s' % (
                    stanza.name, stanza.family, stanza.method, '|'.join('%s %s' % kv for kv in stanza.options)))
            elif stanza.kind in ('auto', 'allow'):
                for name in stanza.names():
                    view.setdefault(name, []).append(stanza.words[0])
    return dict((k, sorted(v)) for k, v in view.items())


def _ifupdown_deps(files):
    """{iface: [interfaces it needs]}: bridge ports, bond slaves, VLAN parents."""
    deps = {}
    for path, text in files.items():
        if text is None:
            continue
        for stanza in parse_interfaces(text):
            if stanza.kind != 'iface' or not stanza.name:
                continue
            need = deps.setdefault(stanza.name, [])
            for key, value in stanza.options:
                if key in ('bridge-ports', 'bridge_ports', 'bond-slaves', 'bond_slaves'):
                    for port in value.split():
                        if port not in ('none', 'all') and port not in need:
                            need.append(port)
                            if '.' in port:  # a VLAN port: bridge-utils makes it on its parent
                                need.append(port.split('.', 1)[0])
            if '.' in stanza.name and not any(k in ('bridge-ports', 'bridge_ports') for k, _v in stanza.options):
                need.append(stanza.name.split('.', 1)[0])
    return deps


def _order(names, deps):
    """Interfaces in the order they can come up: what an interface needs first."""
    out = []

    def visit(name, path):
        if name in out or name in path:
            return
        for need in deps.get(name, []):
            if need in names:
                visit(need, path + [name])
        out.append(name)
    for name in sorted(names):
        visit(name, [])
    return out


def ifupdown_actions(old_files, new_files):
    """(down, up): the interfaces to take down with the OLD configuration before the files change (dependents
    first), and to bring up with the NEW one afterwards (what they need first). An interface is affected when its
    stanzas or auto/allow lines differ, or when something it needs is affected."""
    old_view, new_view = _ifupdown_view(old_files), _ifupdown_view(new_files)
    old_deps, new_deps = _ifupdown_deps(old_files), _ifupdown_deps(new_files)
    changed = set(n for n in set(old_view) | set(new_view) if old_view.get(n) != new_view.get(n) and n != 'lo')
    grew = True
    while grew:
        grew = False
        for deps in (old_deps, new_deps):
            for name, needs in deps.items():
                if name not in changed and any(n in changed for n in needs):
                    changed.add(name)
                    grew = True

    def is_up(view, name):
        # what the configuration brings up: auto/allow-* interfaces and whatever they need
        return name in view and any(not w.startswith('iface ') for w in view[name])

    old_up = _closure([n for n in changed if is_up(old_view, n)], old_deps, old_view)
    new_up = _closure([n for n in changed if is_up(new_view, n)], new_deps, new_view)
    down = list(reversed(_order(set(n for n in old_up if n in changed), old_deps)))
    up = list(_order(set(n for n in new_up if n in changed), new_deps))
    return down, up


def _closure(names, deps, view):
    out = set(names)
    grew = True
    while grew:
        grew = False
        for name in list(out):
            for need in deps.get(name, []):
                if need not in out and need in view:
                    out.add(need)
                    grew = True
    return out


# --------------------------------------------------------------------------------------------
# systemd-networkd
# --------------------------------------------------------------------------------------------

def networkd_file(name, suffix, directory=NETWORKD_DIR):
    return posixpath.join(directory, '%s%s%s' % (NETWORKD_PREFIX, name, suffix))


def parse_unit(text):
    """networkd unit text -> [(section, key, value)] (comments and blank lines left out)."""
    out = []
    section = None
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
            continue
        if '=' in line:
            key, value = line.split('=', 1)
            out.append((section, key.strip(), value.strip()))
    return out


def _unit(sections):
    """[(section, [(key, value)])] -> unit text with our header."""
    parts = [MANAGED_HEADER]
    for section, pairs in sections:
        if pairs:
            parts.append('[%s]\n%s' % (section, '\n'.join('%s=%s' % kv for kv in pairs)))
    return '\n\n'.join(parts) + '\n'


NETWORKD_ADDRESSING = ('DHCP', 'Address', 'Gateway', 'DNS')


def inherited_networkd(bridge, current_bridge_unit, host):
    """[(key, value)] of the [Network] addressing an uplink bridge takes over: what our bridge unit says (a later
    run), else what the uplink (or the bridge, if it exists and holds the address already) has now: a dynamic
    address is DHCP, static ones are kept with the default gateway through that interface."""
    if current_bridge_unit:
        kept = [(k, v) for s, k, v in parse_unit(current_bridge_unit) if s == 'Network' and k in NETWORKD_ADDRESSING]
        if kept:
            return kept
    for name in (bridge['name'], bridge['uplink']):
        addresses = ipv4_of(host, name)
        if not addresses:
            continue
        if any(a['dynamic'] for a in addresses):
            return [('DHCP', 'ipv4')]
        pairs = [('Address', a['address']) for a in addresses]
        route = host.get('default_route') or {}
        if route.get('dev') == name and route.get('gateway'):
            pairs.append(('Gateway', route['gateway']))
        return pairs
    return []


def render_networkd(desired, host, current, directory=NETWORKD_DIR):
    """Our units: {path: text}. `current` maps the paths of our units that exist now to their text (for 'inherit')."""
    bonds = dict((b['name'], b) for b in desired['bonds'])
    untagged = dict((b['uplink'], b) for b in desired['bridges'] if b['type'] == 'uplink')
    vlans_on = {}
    for bridge in desired['bridges']:
        if bridge['type'] == 'vlan':
            vlans_on.setdefault(bridge['uplink'], []).append(bridge)
    no_ll = [('LinkLocalAddressing', 'no'), ('IPv6AcceptRA', 'no')]
    files = {}

    def link_mtu(mtu):
        return [('Link', [('MTUBytes', str(mtu))])] if mtu else []

    for bond in desired['bonds']:
        settings = [('Mode', bond['mode']), ('MIIMonitorSec', '%dms' % bond['miimon'])]
        if bond['lacp_rate']:
            settings.append(('LACPTransmitRate', bond['lacp_rate']))
        if bond['xmit_hash_policy']:
            settings.append(('TransmitHashPolicy', bond['xmit_hash_policy']))
        files[networkd_file(bond['name'], '.netdev', directory)] = _unit(
            [('NetDev', [('Name', bond['name']), ('Kind', 'bond')] +
              ([('MTUBytes', str(bond['mtu']))] if bond['mtu'] else [])), ('Bond', settings)])
        for member in bond['interfaces']:
            files[networkd_file('%s-%s' % (bond['name'], member), '.network', directory)] = _unit(
                [('Match', [('Name', member)]), ('Network', [('Bond', bond['name'])] + no_ll)] + link_mtu(bond['mtu']))
        if bond['name'] not in untagged:
            files[networkd_file(bond['name'], '.network', directory)] = _unit(
                [('Match', [('Name', bond['name'])]),
                 ('Network', [('VLAN', b['vlan_dev']) for b in vlans_on.get(bond['name'], [])] + no_ll +
                  [('ConfigureWithoutCarrier', 'yes')])] + link_mtu(bond['mtu']))
    for parent in sorted(vlans_on):
        if parent in untagged or parent in bonds:
            continue
        mtu = max([b['mtu'] for b in vlans_on[parent] if b['mtu']] or [0])
        files[networkd_file('trunk-' + parent, '.network', directory)] = _unit(
            [('Match', [('Name', parent)]),
             ('Network', [('VLAN', b['vlan_dev']) for b in vlans_on[parent]] + no_ll +
              [('ConfigureWithoutCarrier', 'yes')])] + link_mtu(mtu))
    for bridge in desired['bridges']:
        name = bridge['name']
        netdev = [('Name', name), ('Kind', 'bridge')]
        if bridge['mtu']:
            netdev.append(('MTUBytes', str(bridge['mtu'])))
        if bridge['mac']:
            netdev.append(('MACAddress', bridge['mac']))
        files[networkd_file(name, '.netdev', directory)] = _unit(
            [('NetDev', netdev), ('Bridge', [('STP', 'no'), ('ForwardDelaySec', '0')])])
        unit_path = networkd_file(name, '.network', directory)
        if bridge['ipv4'] == 'inherit':
            addressing = inherited_networkd(bridge, current.get(unit_path), host)
        elif bridge['ipv4'] == 'dhcp':
            addressing = [('DHCP', 'ipv4')]
        elif bridge['ipv4'] == 'static':
            addressing = [('Address', bridge['address'])]
            if bridge['gateway']:
                addressing.append(('Gateway', bridge['gateway']))
            addressing += [('DNS', s) for s in bridge['dns']]
        else:
            addressing = []
        files[unit_path] = _unit([('Match', [('Name', name)]),
                                  ('Network', addressing + [('ConfigureWithoutCarrier', 'yes')] + no_ll)]
                                 + link_mtu(bridge['mtu']))
        if bridge['type'] == 'uplink':
            files[networkd_file(name + '-uplink', '.network', directory)] = _unit(
                [('Match', [('Name', bridge['uplink'])]),
                 ('Network', [('Bridge', name)] + [('VLAN', b['vlan_dev']) for b in vlans_on.get(bridge['uplink'], [])]
                  + no_ll)] + link_mtu(bridge['mtu']))
        elif bridge['type'] == 'vlan':
            files[networkd_file(name + '-vlan', '.netdev', directory)] = _unit(
                [('NetDev', [('Name', bridge['vlan_dev']), ('Kind', 'vlan')] +
                  ([('MTUBytes', str(bridge['mtu']))] if bridge['mtu'] else [])), ('VLAN', [('Id', str(bridge['vlan']))])])
            files[networkd_file(name + '-vlan', '.network', directory)] = _unit(
                [('Match', [('Name', bridge['vlan_dev'])]), ('Network', [('Bridge', name)] + no_ll)])
    return files


def plan_networkd(desired, host, current, directory=NETWORKD_DIR):
    """{path: text or None}: our units rendered, our other units (an earlier declaration) removed."""
    ours = render_networkd(desired, host, current, directory)
    out = dict((path, None) for path in current if path not in ours)
    out.update(ours)
    return out


def netdev_name(text):
    for section, key, value in parse_unit(text):
        if section == 'NetDev' and key == 'Name':
            return value
    return None


def match_names(text):
    out = []
    for section, key, value in parse_unit(text):
        if section == 'Match' and key == 'Name':
            out.extend(value.split())
    return out


def unit_masters(files):
    """{link: bridge or bond} as the .network units of `files` enslave them (Bridge=, Bond=)."""
    out = {}
    for path, text in files.items():
        if text is None or not path.endswith('.network'):
            continue
        pairs = parse_unit(text)
        master = [v for s, k, v in pairs if s == 'Network' and k in ('Bridge', 'Bond')]
        if master:
            for name in match_names(text):
                out[name] = master[0]
    return out


def networkd_actions(old, new, host):
    """What networkd needs around the file change (it never changes or removes an existing netdev by itself, nor
    takes a port out of its bridge):
    {'delete_before': links of changed or removed netdevs (deleted, then recreated by the reload),
     'release': links whose bridge or bond changes (`ip link set LINK nomaster` before the reload),
     'reconfigure': existing links whose .network changed (networkctl reconfigure),
     'created': links the new units create (deleted again by a rollback),
     'rollback_release': links the new units enslave that the old ones did not (freed by a rollback)}."""
    links = host['links']
    old_masters, new_masters = unit_masters(old), unit_masters(new)
    release = sorted(n for n, m in old_masters.items() if n in links and new_masters.get(n) != m)
    rollback_release = sorted(n for n, m in new_masters.items() if old_masters.get(n) != m)
    delete, reconfigure, created = [], [], []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if significant(before) == significant(after):
            continue
        if path.endswith('.netdev'):
            old_name, new_name = netdev_name(before or ''), netdev_name(after or '')
            if old_name and old_name in links:
                delete.append(old_name)
            # a rollback deletes what the new units made; a link that existed without a unit of ours stays
            if new_name and (new_name not in links or before is not None):
                created.append(new_name)
        elif path.endswith('.network'):
            for name in match_names(before or '') + match_names(after or ''):
                if name in links and name not in reconfigure:
                    reconfigure.append(name)
    return {'delete_before': sorted(set(delete)), 'release': release, 'reconfigure': reconfigure,
            'created': sorted(set(created)), 'rollback_release': rollback_release}


# --------------------------------------------------------------------------------------------
# Comparing, and what "healthy" means
# --------------------------------------------------------------------------------------------

def significant(text):
    """The lines that matter to ifupdown and networkd: comments, blank lines and indentation left out."""
    if text is None:
        return None
    return [' '.join(line.split()) for line in text.splitlines() if line.strip() and not line.strip().startswith('#')]


def changes(current, desired):
    """[{'path', 'action': create|update|remove}] of the files whose content matters differently."""
    out = []
    for path in sorted(desired):
        before, after = current.get(path), desired[path]
        if after is None:
            if before is not None:
                out.append({'path': path, 'action': 'remove'})
        elif before is None:
            out.append({'path': path, 'action': 'create'})
        elif significant(before) != significant(after):
            out.append({'path': path, 'action': 'update'})
    return out


def checks(desired, host):
    """What must hold once the configuration is applied, per bridge: it exists, its port (uplink, bond or VLAN
    interface) is enslaved to it, its address (static: that one; dhcp or inherited: any IPv4 address), and the
    default route through it when the uplink had it before (or a gateway is set); bond members in their bond."""
    route = (host.get('default_route') or {}).get('dev')
    out = []
    for bridge in desired['bridges']:
        port = bridge['vlan_dev'] if bridge['type'] == 'vlan' else bridge['uplink']
        want_ip = bridge['ipv4']
        if want_ip == 'inherit':
            had = ipv4_of(host, bridge['uplink']) + ipv4_of(host, bridge['name'])
            want_ip = 'any' if had else 'none'
        out.append({'bridge': bridge['name'], 'port': port,
                    'ipv4': 'any' if want_ip == 'dhcp' else want_ip, 'address': bridge['address'],
                    'default_route': bool(bridge['gateway']) or (bridge['type'] == 'uplink' and route in
                                                                 (bridge['uplink'], bridge['name']))})
    for bond in desired['bonds']:
        out.append({'bond': bond['name'], 'members': list(bond['interfaces'])})
    return out


def health(checks_, host):
    """[problem text] of the checks against the host as read now (parse_* output); empty when healthy."""
    links = host['links']
    route = (host.get('default_route') or {}).get('dev')
    problems = []
    for check in checks_:
        if 'bond' in check:
            for member in check['members']:
                if links.get(member, {}).get('master') != check['bond']:
                    problems.append('%s is not in bond %s' % (member, check['bond']))
            continue
        name = check['bridge']
        if links.get(name, {}).get('kind') != 'bridge':
            problems.append('bridge %s does not exist' % name)
            continue
        port = check['port']
        if port and links.get(port, {}).get('master') != name:
            problems.append('%s is not a port of %s' % (port, name))
        addresses = [a['address'] for a in ipv4_of(host, name)]
        if check['ipv4'] == 'static' and check['address'] not in addresses:
            problems.append('%s does not have %s (has: %s)' % (name, check['address'], ', '.join(addresses) or 'none'))
        elif check['ipv4'] == 'any' and not addresses:
            problems.append('%s has no IPv4 address' % name)
        if check['default_route'] and route != name:
            problems.append('the default route goes through %s, not %s' % (route or 'nothing', name))
    return problems
