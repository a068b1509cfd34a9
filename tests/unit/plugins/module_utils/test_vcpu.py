# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _vcpu as vcpu
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import fixture_text


@pytest.mark.parametrize('text,nr,expected', [
    ('all', 4, {0, 1, 2, 3}), ('none', 4, set()), ('1', 4, {1}), ('0-2,^1', 4, {0, 2}),
    ('^0', 4, {1, 2, 3}), ('2-3,0', 4, {0, 2, 3}), ('nodes:0', 4, {0, 1}), ('node:1,^3', 4, {2}),
])
def test_parse_cpulist(text, nr, expected):
    assert parse.parse_cpulist(text, nr, {0: {0, 1}, 1: {2, 3}}) == frozenset(expected)


@pytest.mark.parametrize('text,fragment', [
    ('4', 'CPU 4 does not exist'), ('x', 'not a CPU'), ('3-1', 'empty range'), ('nodes:2', 'node 2 does not exist'),
])
def test_parse_cpulist_errors(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse.parse_cpulist(text, 4, {0: {0, 1}, 1: {2, 3}})
    assert fragment in str(exc.value)


def test_format_cpuset():
    assert parse.format_cpuset({0, 1, 2, 3}, 4) == 'all'
    assert parse.format_cpuset({0, 1, 3, 5, 6, 7}, 8) == '0-1,3,5-7'
    assert parse.format_cpuset(set(), 4) == 'none'


def test_pin_targets_specific_overrides_all():
    targets = vcpu.pin_targets([{'vcpu': '0', 'hard': '1'}, {'vcpu': 'all', 'hard': '0-1', 'soft': '0'}], 3)
    assert targets == {0: {'hard': '1', 'soft': '0'}, 1: {'hard': '0-1', 'soft': '0'}, 2: {'hard': '0-1', 'soft': '0'}}


def test_plan_pins_against_captured_vcpu_list():
    rows = parse.parse_vcpu_list(fixture_text('xl_vcpu_list.stdout'))
    changes, calls = vcpu.plan_pins('pv1', {0: {'hard': '1', 'soft': None}, 1: {'hard': '0-1', 'soft': '0'}}, rows, 2)
    assert calls == [['vcpu-pin', 'pv1', '1', 'all', '0']]
    assert changes == [{'vcpu': 1, 'before': {'hard': 'all', 'soft': 'all'}, 'after': {'hard': 'all', 'soft': '0'}}]


def test_persisted_keys():
    keys = vcpu.persisted_keys(2, {0: {'hard': '1', 'soft': None}, 1: {'hard': '0', 'soft': None}}, 512, None, 2, 2)
    assert keys == {'vcpus': 2, 'cpus': ['1', '0'], 'cpu_weight': 512}
    keys = vcpu.persisted_keys(None, {0: {'hard': '0-1', 'soft': '0'}, 1: {'hard': 'all', 'soft': '0'}}, None, 0, 2, 2)
    assert keys == {'cpus': 'all', 'cpus_soft': '0', 'cap': 0}


def test_set_keys_keeps_comments_and_order():
    text = fixture_text('pv-busybox.cfg')
    out = xlcfg.set_keys(text, {'vcpus': 3, 'cpus': ['1', '0'], 'maxmem': None})
    assert out.startswith('# Minimal Xen PV test guest')
    assert 'vcpus = 3\n' in out and 'maxmem' not in out
    assert out.index('vcpus = 3') < out.index('maxvcpus = 4')
    assert out.endswith('cpus = [\n    "1",\n    "0",\n]\n')
    again = xlcfg.set_keys(out, {'cpus': '1'})
    assert 'cpus = "1"\n' in again and '"0",' not in again
    assert xlcfg.parse(again)['vcpus'] == 3


def test_set_keys_refuses_broken_file():
    with pytest.raises(xlcfg.XlConfigError) as exc:
        xlcfg.set_keys('name = \n', {'vcpus': 1})
    assert str(exc.value) == 'line 1: expected a string, a number or a list'


def test_soft_outside_hard_from_lab_vcpu_list():
    # captured in the lab after `xl vcpu-pin smp1 0 1 0`: vCPU 0 is `1 / 0`, which libxl warns about
    rows = parse.parse_vcpu_list(fixture_text('xl_vcpu_list_smp1_pinned.stdout', 'xen-4.17.5-lab-vcpu'))
    # as it is now (no change asked for the soft affinity)
    assert vcpu.soft_outside_hard('smp1', {0: {'hard': None, 'soft': None}}, rows, 2) == [(0, '1', '0')]
    # a change that makes them overlap again
    assert vcpu.soft_outside_hard('smp1', {0: {'hard': 'all', 'soft': None}}, rows, 2) == []
    assert vcpu.soft_outside_hard('smp1', {1: {'hard': '0', 'soft': '1'}, 2: {'hard': '0', 'soft': 'all'}},
                                  rows, 2) == [(1, '0', '1')]


def test_hvm_removal_problem():
    msg = vcpu.hvm_removal_problem('h1', 'hvm', 2, 1)
    assert msg.startswith('1 is fewer than the 2 vCPUs h1 runs now, and h1 is an HVM guest')
    assert 'apply: restart' in msg
    assert vcpu.hvm_removal_problem('h1', 'hvm', 1, 2) is None
    assert vcpu.hvm_removal_problem('h1', 'hvm', 2, 2) is None
    assert vcpu.hvm_removal_problem('p1', 'pv', 4, 1) is None
    assert vcpu.hvm_removal_problem('p1', 'pvh', 4, 1) is None
    assert vcpu.hvm_removal_problem('h1', 'hvm', 2, None) is None


@pytest.mark.parametrize('text', ['all', '0', '0-3,^2', '^1', ' 1 , 3', 'nodes:0', 'node:1-2,^0', '65535', 'none'])
def test_cpulist_syntax_accepted_without_host_facts(text):
    # CPU and node numbers are checked against the host later (plan_pins), not here
    assert vcpu.cpulist_problem(text) is None


@pytest.mark.parametrize('text,problem', [
    ('abc', "'abc' is not a CPU number or range"), ('1-', "'1-' is not a CPU number or range"),
    ('3-1', "'3-1' is an empty range"), ('0,,1', 'it has an empty item'), ('0,', 'it has an empty item'),
    ('', 'it has an empty item'), ('nodes:', "'' is not a node number or range"), ('^x', "'x' is not a CPU"),
    ('0-70000', 'it names a CPU above 65535, more than any Xen host has'),
])
def test_cpulist_syntax_refused(text, problem):
    assert vcpu.cpulist_problem(text) == problem or problem in vcpu.cpulist_problem(text)


@pytest.mark.parametrize('pins,param,fragment', [
    ([{'vcpu': 'all', 'hard': '0'}, {'vcpu': '01x', 'hard': '0'}], 'pin[1].vcpu', 'is not "all" or a vCPU index'),
    ([{'vcpu': '-0', 'hard': '0'}], 'pin[0].vcpu', 'is not "all" or a vCPU index'),
    ([{'vcpu': '\u00b2', 'hard': '0'}], 'pin[0].vcpu', 'is not "all" or a vCPU index'),  # str.isdigit() says yes
    ([{'vcpu': '0', 'hard': None, 'soft': None}], 'pin[0]', 'set hard, soft or both'),
    ([{'vcpu': '0', 'hard': '0', 'soft': '1-x'}], 'pin[0].soft', "'1-x' is not a CPU list"),
])
def test_check_pins(pins, param, fragment):
    with pytest.raises(vcpu.InvalidSpec) as exc:
        vcpu.check_pins(pins)
    assert exc.value.param == param and fragment in exc.value.msg
    assert exc.value.msg.startswith(param + ': ')


def test_check_pins_accepts_good_items():
    vcpu.check_pins([{'vcpu': 'all', 'soft': '0'}, {'vcpu': '12', 'hard': '^0'}, {'hard': 'nodes:0'}])
    vcpu.check_pins(None)


def test_pin_targets_names_the_item_as_written():
    # the 'all' item is applied first, but the message numbers the items in the user's order
    with pytest.raises(vcpu.InvalidSpec) as exc:
        vcpu.pin_targets([{'vcpu': '5', 'hard': '0'}, {'vcpu': 'all', 'hard': '1'}], 2)
    assert exc.value.msg.startswith('pin[0].vcpu: \'5\' is not "all" or a vCPU index 0-1 of this domain')


def test_pins_from_captured_vcpu_list():
    rows = parse.parse_vcpu_list(fixture_text('xl_vcpu_list.stdout'))
    pins = vcpu.pins_from_rows('pv1', rows, 2)
    assert pins[0] == {'vcpu': 0, 'hard': '1', 'soft': 'all'}
    assert [p['vcpu'] for p in pins] == sorted(r['vcpu'] for r in rows if r['name'] == 'pv1')
