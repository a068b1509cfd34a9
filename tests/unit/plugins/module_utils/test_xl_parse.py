# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture, fixture_text


def test_parse_info_real_xen_4_17():
    info = parse.parse_info(Capture('xl_info').stdout)
    assert info['xen_version'] == '4.17.5'
    assert info['virt_caps'] == 'pv hvm hap shadow gnttab-v1 gnttab-v2'
    assert info['xen_changeset'] == ''
    # split on the FIRST colon only: values with colons survive
    assert info['xen_commandline'].startswith('dom0_mem=1024M,max:1024M ')
    assert info['cc_compile_date'] == 'Sat Nov 29 13:52:25 UTC 2025'


def test_parse_info_rejects_non_info_text():
    with pytest.raises(parse.XlParseError) as exc:
        parse.parse_info(Capture('err_destroy_unknown').stderr)
    assert str(exc.value) == '`xl info` output has no xen_major/xen_version field'


def test_host_facts():
    info = parse.parse_info(Capture('xl_info').stdout)
    rows = parse.parse_list(Capture('xl_list_dom0_only').stdout)
    facts = parse.host_facts(info, dom0=rows[0], dom0_cmdline='root=/dev/vda rw console=hvc0\n')
    assert facts['xen_major'] == 4 and facts['xen_minor'] == 17 and facts['xen_extra'] == '.5'
    assert facts['virt_caps'] == ['pv', 'hvm', 'hap', 'shadow', 'gnttab-v1', 'gnttab-v2']
    assert facts['pv'] and facts['hvm'] and facts['hap'] and facts['shadow']
    assert facts['hvm_directio'] is False
    assert facts['total_memory_mb'] == 4095 and facts['free_memory_mb'] == 3028
    assert facts['nr_cpus'] == 2 and facts['nr_nodes'] == 1
    assert facts['scheduler'] == 'credit2'
    assert facts['xen_commandline_options']['dom0_mem'] == '1024M,max:1024M'
    assert facts['xen_commandline_options']['noreboot'] is True
    assert facts['dom0_commandline_options'] == {'root': '/dev/vda', 'rw': True, 'console': 'hvc0'}
    assert facts['dom0_memory_mb'] == 1024 and facts['dom0_vcpus'] == 2


def test_virt_caps_without_hvm():
    # Xen 4.20 on the lab reports no `shadow`; a host without VT-x/AMD-V reports no `hvm`.
    facts = parse.host_facts({'xen_major': '4', 'xen_minor': '20', 'virt_caps': 'pv hap gnttab-v1'})
    assert facts['pv'] is True and facts['hvm'] is False and facts['shadow'] is False


def test_parse_list_with_dying_null_domain():
    rows = parse.parse_list(Capture('xl_list_three_guests').stdout)
    assert [(r['name'], r['domid'], r['flags']) for r in rows] == [
        ('Domain-0', 0, 'r-----'), ('pv1', 1, 'r-----'), ('pvh1', 2, '-b----'), ('(null)', 3, '--p--d')]
    assert rows[1]['memory_mb'] == 108 and rows[1]['vcpus'] == 2
    assert rows[0]['cpu_time'] == 60.9


def test_parse_list_rejects_garbage():
    with pytest.raises(parse.XlParseError) as exc:
        parse.parse_list('Name ID\nthis is not a row\n')
    assert str(exc.value) == "unexpected `xl list` row: 'this is not a row'"


@pytest.mark.parametrize('flags,state,reason', [
    ('r-----', 'running', None),
    ('-b----', 'blocked', None),
    ('------', 'running', None),
    ('--p---', 'paused', None),
    ('---s--', 'shutdown', 'poweroff'),
    ('---sr-', 'shutdown', 'reboot'),
    ('---sc-', 'crashed', 'crash'),
    ('--p--d', 'dying', None),
    ('--ps-d', 'dying', 'poweroff'),
])
def test_state_from_flags(flags, state, reason):
    assert parse.state_from_flags(flags) == state
    assert parse.shutdown_reason(flags) == reason


def test_paused_capture_is_paused():
    rows = parse.parse_list(Capture('xl_list_paused').stdout)
    assert parse.state_from_flags(rows[0]['flags']) == 'paused'


def test_parse_list_long_and_merge():
    entries = parse.parse_list_long(Capture('xl_list_l_three_guests').stdout)
    assert [e['domid'] for e in entries] == [0, 1, 2]  # the dying domain 3 is absent from list -l
    rows = parse.parse_list(Capture('xl_list_three_guests').stdout)
    doms = parse.merge_domains(entries, rows)
    assert [d['name'] for d in doms] == ['pv1', 'pvh1']
    pv1 = doms[0]
    # c_info.domid is 4294967295 in xl's JSON: the top-level domid is the real one
    assert pv1['domid'] == 1
    assert pv1['type'] == 'pv' and pv1['uuid'] == '7201e40a-aa64-469f-9b39-f65aeded2c0b'
    assert pv1['vcpus'] == {'online': 2, 'max': 4}
    assert pv1['memory_mb'] == {'current': 108, 'target': 96, 'max': 256}
    assert pv1['kernel'] == '/vmlinuz' and pv1['ramdisk'] == '/root/guests/guest-initrd.img'
    assert pv1['state'] == 'running' and pv1['on_reboot'] == 'restart'
    assert pv1['on_poweroff'] == 'destroy'  # omitted by xl because it is the default
    assert pv1['scheduler'] == {'sched': 'credit2', 'weight': 256, 'cap': 0}
    assert doms[1]['type'] == 'pvh' and doms[1]['state'] == 'blocked'


def test_merge_filters_and_includes():
    entries = parse.parse_list_long(Capture('xl_list_l_three_guests').stdout)
    rows = parse.parse_list(Capture('xl_list_three_guests').stdout)
    doms = parse.merge_domains(entries, rows, include_dom0=True, include_dying=True)
    assert [d['name'] for d in doms] == ['Domain-0', 'pv1', 'pvh1', '(null)']
    assert doms[0]['memory_mb']['current'] == 1024 and doms[0]['vcpus']['online'] == 2
    assert doms[3]['state'] == 'dying' and doms[3]['type'] is None


def test_merge_hides_stub_and_migration_transients():
    rows = [
        {'name': 'g1-dm', 'domid': 5, 'memory_mb': 32, 'vcpus': 1, 'flags': '-b----', 'cpu_time': 1.0},
        {'name': 'g2--incoming', 'domid': 6, 'memory_mb': 128, 'vcpus': 1, 'flags': '--p---', 'cpu_time': 0.0},
        {'name': 'g3--migratedaway', 'domid': 7, 'memory_mb': 128, 'vcpus': 1, 'flags': '--p---', 'cpu_time': 0.0},
        {'name': 'g4', 'domid': 8, 'memory_mb': 128, 'vcpus': 1, 'flags': '-b----', 'cpu_time': 0.0},
    ]
    assert [d['name'] for d in parse.merge_domains([], rows)] == ['g4']
    names = [d['name'] for d in parse.merge_domains([], rows, include_stubs=True, include_transient=True)]
    assert names == ['g1-dm', 'g2--incoming', 'g3--migratedaway', 'g4']


def test_parse_list_long_dom0_only_and_empty():
    entries = parse.parse_list_long(Capture('xl_list_l_dom0_only').stdout)
    assert len(entries) == 1 and entries[0]['config']['c_info']['name'] == 'Domain-0'
    assert parse.parse_list_long('[]\n') == []
    assert parse.parse_list_long('') == []


@pytest.mark.parametrize('text,said', [
    ('(domain (domid 0))', '`xl list -l` did not print JSON (is output_format="sxp" set in /etc/xen/xl.conf?)'),
    ('[{"config": {}}]', "`xl list -l` entry without domid: {'config': {}}"),
    ('[1', '`xl list -l` printed invalid JSON: '),
    # a JSON object, not an array: refused, though as "did not print JSON (... sxp ...)", not as "not an array"
    ('{"domid": 1}', '`xl list -l` '),
])
def test_parse_list_long_rejects(text, said):
    with pytest.raises(parse.XlParseError) as exc:
        parse.parse_list_long(text)
    assert str(exc.value).startswith(said)


def test_parse_vcpu_list():
    rows = parse.parse_vcpu_list(Capture('xl_vcpu_list').stdout)
    pv1 = [r for r in rows if r['name'] == 'pv1']
    assert [(r['vcpu'], r['cpu'], r['online']) for r in pv1] == [(0, 1, True), (1, 1, True), (2, None, False), (3, None, False)]
    assert pv1[0]['hard_affinity'] == '1' and pv1[0]['soft_affinity'] == 'all'
    assert [r for r in rows if r['name'] == '(null)'][0]['domid'] == 3


def test_parse_commandline():
    assert parse.parse_commandline('a=1 b c=x=y a=2') == {'a': '2', 'b': True, 'c': 'x=y'}
    assert parse.parse_commandline(None) == {}


# -- libxl's stored configuration (used when `xl list -l` leaves a domain out) ----------------

def test_pick_stored_config_reads_libxl_file_with_trailing_nul():
    stored = fixture_text('userdata_hvm1.stdout', 'xen-4.17.5-lab-tcg')
    assert stored.endswith('\x00')
    files = {'userdata-d.4.a1040ffa-aa94-4e0b-a509-c188f4bf2b5a.libxl-json': stored,
             'userdata-d.14.0000.libxl-json': '{}', 'userdata-d.4.a1040ffa.other-key': 'x'}
    config = parse.pick_stored_config(4, sorted(files), files.get)
    assert config['c_info']['name'] == 'hvm1' and config['c_info']['type'] == 'hvm'
    summary = parse.domain_summary(4, config, source='stored')
    assert summary['config_source'] == 'stored' and summary['memory_mb']['max'] == 256


@pytest.mark.parametrize('files', [
    {},
    {'userdata-d.4.aaaa.libxl-json': '{"c_info": {}}', 'userdata-d.4.bbbb.libxl-json': '{"c_info": {}}'},
    {'userdata-d.4.aaaa.libxl-json': 'not json'},
    {'userdata-d.4.aaaa.libxl-json': None},
    {'userdata-d.4.aaaa.libxl-json': '[1]'},
])
def test_pick_stored_config_none_when_missing_ambiguous_or_broken(files):
    assert parse.pick_stored_config(4, sorted(files), files.get) is None


def test_libxl_domids_of_a_failed_create():
    # the domain libxl was building (4), not the existing pv1 (1)
    assert parse.libxl_domids(Capture('err_create_same_name').stderr) == [4]
    assert parse.libxl_domids(Capture('xl_create_pv').stderr) == []
    assert parse.libxl_domids(None) == []
