# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# A guest's IP addresses as the dom0 can know them without an agent in the guest (pure functions):
# the addresses declared on its vifs (xl's `ip=`), and the entries of dom0's neighbour table
# (`ip -json neigh show`) whose link-layer address is a vif's MAC. The neighbour table only holds
# a guest that talked to dom0 recently (ARP/NDP); an address found there is what dom0 saw, not a
# promise that the guest still uses it.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

# neighbour states that carry no usable link-layer address
_UNUSABLE = frozenset(('FAILED', 'INCOMPLETE', 'NOARP', 'NONE'))


class NeighParseError(ValueError):
    pass


def parse_neigh(text):
    """`ip -json neigh show` -> [{'address', 'dev', 'mac', 'state'}] (state: the first of iproute2's list).

    Entries without a link-layer address, or only in a state without one (FAILED, INCOMPLETE), are
    left out. Raises NeighParseError when the text is not iproute2's JSON list."""
    try:
        data = json.loads(text or '[]')
    except ValueError as exc:
        raise NeighParseError('`ip -json neigh show` did not print JSON: %s' % exc)
    if not isinstance(data, list):
        raise NeighParseError('`ip -json neigh show` printed a %s, not a list' % type(data).__name__)
    out = []
    for entry in data:
        if not isinstance(entry, dict) or not entry.get('dst') or not entry.get('lladdr'):
            continue
        states = entry.get('state') or []
        if isinstance(states, str):
            states = [states]
        if states and all(s in _UNUSABLE for s in states):
            continue
        out.append({'address': entry['dst'], 'dev': entry.get('dev'), 'mac': entry['lladdr'].lower(),
                    'state': states[0] if states else None})
    return out


def guest_addresses(nics, neighbours):
    """A domain's addresses: [{'address', 'mac', 'bridge', 'source', 'state'}], declared ones first.

    `nics` are the domain's nics as xen_domain_info reports them (mac, bridge, ip: xl's space-separated
    `ip=` list); `neighbours` come from parse_neigh, or None when the table could not be read (then
    only declared addresses). Each address appears once; an address both declared and seen is
    reported as declared, with the neighbour's state."""
    out = []
    seen = {}
    for nic in nics or []:
        mac = (nic.get('mac') or '').lower()
        for address in (nic.get('ip') or '').split():
            if address not in seen:
                seen[address] = {'address': address, 'mac': mac or None, 'bridge': nic.get('bridge'),
                                 'source': 'declared', 'state': None}
                out.append(seen[address])
        if not mac or neighbours is None:
            continue
        for neighbour in neighbours:
            if neighbour['mac'] != mac:
                continue
            if neighbour['address'] in seen:
                seen[neighbour['address']]['state'] = neighbour['state']
                continue
            seen[neighbour['address']] = {'address': neighbour['address'], 'mac': mac, 'bridge': nic.get('bridge'),
                                          'source': 'neighbour', 'state': neighbour['state']}
            out.append(seen[neighbour['address']])
    return out
