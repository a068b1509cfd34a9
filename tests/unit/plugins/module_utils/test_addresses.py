# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _addresses as addr
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

LAB = 'xen-4.17.5-lab-neigh'


def neighbours(name):
    return addr.parse_neigh(Capture(name, LAB).stdout)


def pvnet1_nics():
    entries = parse.parse_list_long(Capture('xl_list_l', LAB).stdout)
    config = [e for e in entries if e['domid'] == 4][0]['config']
    return parse.domain_summary(4, config)['nics']


def test_the_argv_is_the_captured_command():
    assert ' '.join(hostcmd.ip_neigh()) == Capture('ip_neigh', LAB).cmd


def test_parse_neigh_keeps_entries_with_a_mac():
    got = neighbours('ip_neigh')
    assert {'address': '192.168.100.10', 'dev': 'xenbr0', 'mac': '00:16:3e:00:00:10', 'state': 'REACHABLE'} in got
    assert {'address': 'fe80::2', 'dev': 'ens3', 'mac': '52:56:00:00:00:02', 'state': 'STALE'} in got
    assert len(got) == 3


def test_parse_neigh_leaves_out_a_failed_entry_without_mac():
    got = neighbours('ip_neigh_with_failed')
    assert '192.168.100.99' not in [n['address'] for n in got]
    assert [n['state'] for n in got if n['address'] == '192.168.100.10'] == ['STALE']


@pytest.mark.parametrize('text', ['not json', '{"dst": "192.0.2.1"}'])
def test_parse_neigh_refuses_what_is_not_iproute2s_list(text):
    with pytest.raises(addr.NeighParseError):
        addr.parse_neigh(text)


def test_the_guests_address_is_found_by_its_vifs_mac():
    nics = pvnet1_nics()
    assert [n['mac'] for n in nics] == ['00:16:3e:00:00:10']
    assert addr.guest_addresses(nics, neighbours('ip_neigh')) == [
        {'address': '192.168.100.10', 'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0', 'source': 'neighbour',
         'state': 'REACHABLE'}]


def test_before_dom0_talked_to_the_guest_nothing_is_known():
    assert addr.guest_addresses(pvnet1_nics(), neighbours('ip_neigh_before_ping')) == []


def test_declared_addresses_come_first_and_once():
    nic = dict(pvnet1_nics()[0], ip='192.168.100.10 192.168.100.20')
    got = addr.guest_addresses([nic], neighbours('ip_neigh'))
    assert got == [
        {'address': '192.168.100.10', 'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0', 'source': 'declared',
         'state': 'REACHABLE'},
        {'address': '192.168.100.20', 'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0', 'source': 'declared',
         'state': None}]
    # without the table (it could not be read): the declared ones only
    assert [a['address'] for a in addr.guest_addresses([nic], None)] == ['192.168.100.10', '192.168.100.20']


def test_a_guest_without_nics_has_no_addresses():
    assert addr.guest_addresses([], neighbours('ip_neigh')) == []
    assert addr.guest_addresses(None, None) == []
