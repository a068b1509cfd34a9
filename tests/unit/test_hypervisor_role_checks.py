# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hypervisor role's own Jinja, rendered by the real ansible-core of the stack (one ansible-playbook run on
localhost, one play per case): every refused dom0 setting gets its reason (roles/hypervisor/tasks/validate.yml -
`xen_hypervisor_dom0_memory_mb: -5` used to fail with an empty one), and the deprecated single-bridge variables
the user set reach xen_host_network as `legacy_bridge` (roles/hypervisor/vars/main.yml)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.xenfleet.xen.tests.unit.playbook_harness import ansible_playbook, quiet_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, 'roles', 'hypervisor')
HOST = {'__xen_hypervisor_host_memory_mb': 4096, '__xen_hypervisor_host_cpus': 2,
        '__xen_hypervisor_os': {'schedulers': ['credit', 'credit2', 'rtds', 'arinc653', 'null']}}
GOOD = {'xen_hypervisor_dom0_memory_mb': 1024, 'xen_hypervisor_dom0_vcpus': 2, 'xen_hypervisor_scheduler': 'credit2',
        '__xen_hypervisor_autoballoon': 'off'}

REFUSAL_CASES = {
    'good': {},
    'memory_negative': {'xen_hypervisor_dom0_memory_mb': -5},
    'memory_small': {'xen_hypervisor_dom0_memory_mb': 100},
    'memory_too_big': {'xen_hypervisor_dom0_memory_mb': 4096},
    'memory_default': {'xen_hypervisor_dom0_memory_mb': 0, '__xen_hypervisor_autoballoon': 'auto'},
    'vcpus_negative': {'xen_hypervisor_dom0_vcpus': -1},
    'vcpus_many': {'xen_hypervisor_dom0_vcpus': 8},
    'scheduler': {'xen_hypervisor_scheduler': 'sedf'},
    'balloon': {'__xen_hypervisor_autoballoon': 'on'},
}
LEGACY_CASES = {
    'none_set': {},
    'some_set': {'xen_hypervisor_bridge_mode': 'internal', 'xen_hypervisor_bridge_ipv4': '192.168.100.1/24',
                 'xen_hypervisor_bridge_apply_timeout': 30},
    'mode_none': {'xen_hypervisor_bridge_mode': 'none'},
    'empty_list': {'xen_hypervisor_bridges': []},
    'list': {'xen_hypervisor_bridges': [{'name': 'xenbr0'}]},
}


def refusal_expression():
    with open(os.path.join(ROLE, 'tasks', 'validate.yml')) as handle:
        tasks = yaml.safe_load(handle)
    task, = [t for t in tasks if t.get('name') == 'Work out which dom0 settings this host refuses, and why']
    return task['ansible.builtin.set_fact']['__xen_hypervisor_refusals']


@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    playbook_bin = ansible_playbook()
    out = tmp_path_factory.mktemp('rendered')
    plays = []
    for name, case in REFUSAL_CASES.items():
        variables = dict(HOST, **dict(GOOD, **case))
        plays.append({'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'vars': variables,
                      'tasks': [{'ansible.builtin.set_fact': {'__xen_hypervisor_refusals': refusal_expression()}},
                                {'ansible.builtin.copy': {'content': '{{ __xen_hypervisor_refusals | to_json }}',
                                                          'dest': str(out / ('refusals-%s.json' % name))}}]})
    for name, case in LEGACY_CASES.items():
        variables = dict({'xen_hypervisor_bridges': None}, **case)
        plays.append({'hosts': 'localhost', 'connection': 'local', 'gather_facts': False, 'vars': variables,
                      'vars_files': [os.path.join(ROLE, 'vars', 'main.yml')],
                      'tasks': [{'ansible.builtin.copy': {
                          'content': '{{ {"legacy": __xen_hypervisor_legacy_bridge, '
                                     '"manage": __xen_hypervisor_manage_network | bool} | to_json }}',
                          'dest': str(out / ('legacy-%s.json' % name))}}]})
    playbook = out / 'playbook.yml'
    playbook.write_text(yaml.safe_dump(plays))
    env = quiet_env(ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([playbook_bin, '-i', 'localhost,', str(playbook)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]

    def read(kind, name):
        with open(str(out / ('%s-%s.json' % (kind, name)))) as handle:
            return json.load(handle)
    return read


@pytest.mark.parametrize('case, expected', [
    ('good', []),
    ('memory_default', []),
    ('memory_negative', ["xen_hypervisor_dom0_memory_mb=-5 is negative: give 0 (Xen's default) or at least 512 MiB"]),
    ('memory_small', ['xen_hypervisor_dom0_memory_mb=100 is below 512 MiB, too little for dom0']),
    ('memory_too_big', ["xen_hypervisor_dom0_memory_mb=4096 is not smaller than the host's 4096 MiB of memory"]),
    ('vcpus_negative', ["xen_hypervisor_dom0_vcpus=-1 is negative: give 0 (Xen's default) or a number of vCPUs"]),
    ('vcpus_many', ["xen_hypervisor_dom0_vcpus=8 exceeds the host's 2 CPUs"]),
    ('scheduler', ['xen_hypervisor_scheduler=sedf is not a Xen scheduler (one of credit, credit2, rtds, arinc653, '
                   'null)']),
    ('balloon', ['xen_hypervisor_xl_autoballoon=on contradicts a fixed dom0 memory (dom0_mem): use off, or set '
                 'xen_hypervisor_dom0_memory_mb to 0']),
])
def test_every_refused_dom0_setting_has_its_reason(rendered, case, expected):
    assert rendered('refusals', case) == expected


@pytest.mark.parametrize('case, legacy, manage', [
    ('none_set', {}, True),
    ('some_set', {'mode': 'internal', 'ipv4': '192.168.100.1/24'}, True),
    ('mode_none', {'mode': 'none'}, False),
    ('empty_list', {}, False),
    ('list', {}, True),
])
def test_legacy_bridge_variables_reach_the_module_only_when_set(rendered, case, legacy, manage):
    assert rendered('legacy', case) == {'legacy': legacy, 'manage': manage}
