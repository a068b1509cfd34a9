# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The guests role's plan (roles/guests/templates/plan.json.j2), rendered by the real ansible-core of the stack
(one ansible-playbook run, every case through the template lookup): which disks the role makes and how the domain
sees them, the cloud-init seed and where it is attached, the guest's address and the ProxyJump through its host,
and the errors for combinations that cannot work."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.xenfleet.xen.tests.unit.playbook_harness import render_json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, 'roles', 'guests', 'templates', 'plan.json.j2')
IMAGE = '/var/lib/xen/images/debian-12-genericcloud-amd64.qcow2'
ROLE_VARS = {'xen_guests_defaults': {}, 'xen_guests_seed_dir': '/var/lib/xen/seed', 'xen_guests_seed_vdev': 'xvdz',
             'xen_guests_apply': 'live', 'xen_guests_one_call': True}
NETWORK = {'version': 2, 'ethernets': {'eth0': {'match': {'macaddress': '00:16:3e:00:00:01'},
                                                'addresses': ['192.168.100.21/24']}}}

CASES = {
    'plain': {'xen_guests': [{'name': 'g1', 'disks': [{'target': '/srv/g1.img', 'vdev': 'xvda'}]}]},
    'linked_file': {'xen_guests': [{'name': 'web1', 'state': 'running', 'disks': [
        {'target': '/srv/web1.qcow2', 'vdev': 'xvda', 'source': IMAGE, 'clone': 'linked', 'size': '4G'}]}]},
    'full_file': {'xen_guests': [{'name': 'g2', 'disks': [{'target': '/srv/g2.img', 'vdev': 'xvda', 'size': '2G'}]}]},
    'lvm': {'xen_guests': [{'name': 'db1', 'disks': [
        {'vdev': 'xvda', 'backend': 'lvm', 'vg': 'vg0', 'lv': 'db1-root', 'source': IMAGE, 'size': '8G'},
        {'vdev': 'xvdb', 'target': '/srv/data.img'}]}]},
    'cloud_init': {'xen_guests': [{'name': 'web1', 'state': 'running', 'cloud_init': {
        'user_data': {'users': [{'name': 'admin'}]}, 'meta_data': {'instance-id': 'web1-1'}, 'network_config': NETWORK}}]},
    'cloud_init_own_address': {'xen_guests': [{'name': 'web_1', 'address': '10.0.0.5', 'cloud_init': {
        'format': 'vfat', 'vdev': 'xvdc', 'network_config': {'network': NETWORK}}}]},
    'defaults': {'xen_guests_defaults': {'state': 'running', 'cloud_init': {'user_data': '#cloud-config\n'}},
                 'xen_guests': [{'name': 'a1'}, {'name': 'a2', 'state': 'absent'}]},
    'one_call': {'xen_guests_apply': 'restart', 'xen_guests_defaults': {'lock_timeout': 60},
                 'xen_guests': [{'name': 'o1', 'apply': 'live', 'xl_path': '/usr/sbin/xl', 'command_timeout': 30,
                                 'cloud_init': {'network_config': NETWORK}},
                                {'name': 'o2', 'lock_timeout': 300, 'state': 'absent'},
                                {'name': 'o3', 'xl_path': '/usr/sbin/xl'}]},
    'one_call_two_xl': {'xen_guests': [{'name': 'x1', 'xl_path': '/usr/sbin/xl'}, {'name': 'x2', 'xl_path': '/opt/xl'}]},
    'each_two_xl': {'xen_guests_one_call': False,
                    'xen_guests': [{'name': 'x1', 'xl_path': '/usr/sbin/xl'}, {'name': 'x2', 'xl_path': '/opt/xl'}]},
    'errors': {'xen_guests': [{'name': 'bad', 'cloud_init': 'yes', 'disks': [
        {'vdev': 'xvda', 'backend': 'lvm', 'size': '1G'},
        {'vdev': 'xvdb', 'size': '1G'},
        {'vdev': 'xvdc', 'backend': 'zfs', 'size': '1G'},
        {'vdev': 'xvdd', 'target': '/srv/x.img', 'clone': 'linked'},
        {'vdev': 'xvde', 'backend': 'lvm', 'vg': 'vg0', 'lv': 'x', 'target': '/dev/vg1/x', 'size': '1G'},
        {'vdev': 'xvdf', 'target': '/srv/y.img', 'vg': 'vg0', 'size': '1G'}]}]},
}

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    cases: {cases}
  tasks:
    - ansible.builtin.set_fact:
        plans: "{{{{ plans | default({{}}) | combine({{item.key: lookup('ansible.builtin.template', '{template}',
                   template_vars=item.value) | from_json}}) }}}}"
      loop: "{{{{ cases | dict2items }}}}"
    - ansible.builtin.copy:
        content: "{{{{ plans | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0644"
"""


@pytest.fixture(scope='module')
def plans(tmp_path_factory):
    work = tmp_path_factory.mktemp('plan')
    cases = dict((name, dict(ROLE_VARS, **case)) for name, case in CASES.items())
    return render_json(work, PLAYBOOK.format(cases=json.dumps(cases), template=TEMPLATE))


def only(plan):
    assert plan['errors'] == []
    assert len(plan['guests']) == 1
    return plan['guests'][0]


def test_a_guest_without_storage_keys_is_passed_as_declared(plans):
    guest = only(plans['plain'])
    assert guest['storage'] == [] and guest['seed'] is None and guest['address'] is None and guest['reach'] is None
    assert guest['made'] == []
    assert guest['domain'] == CASES['plain']['xen_guests'][0]
    assert guest['state'] == 'present'


def test_a_linked_clone_file_disk_is_qcow2_for_xen_disk_and_the_domain(plans):
    guest = only(plans['linked_file'])
    assert guest['storage'] == [{'backend': 'file', 'path': '/srv/web1.qcow2', 'format': 'qcow2', 'size': '4G',
                                 'source': IMAGE, 'clone': 'linked', 'vdev': 'xvda'}]
    assert guest['domain']['disks'] == [{'target': '/srv/web1.qcow2', 'vdev': 'xvda', 'format': 'qcow2'}]
    assert guest['domain']['state'] == 'running'
    assert guest['made'] == ['/srv/web1.qcow2']


def test_a_new_file_disk_without_source_is_raw(plans):
    guest = only(plans['full_file'])
    assert guest['storage'] == [{'backend': 'file', 'path': '/srv/g2.img', 'format': 'raw', 'size': '2G',
                                 'clone': 'full', 'vdev': 'xvda'}]
    assert guest['domain']['disks'] == [{'target': '/srv/g2.img', 'vdev': 'xvda', 'format': 'raw'}]


def test_a_logical_volume_is_attached_as_its_device_and_other_disks_are_kept(plans):
    guest = only(plans['lvm'])
    assert guest['storage'] == [{'backend': 'lvm', 'vg': 'vg0', 'name': 'db1-root', 'size': '8G', 'source': IMAGE,
                                 'clone': 'full', 'vdev': 'xvda'}]
    assert guest['domain']['disks'] == [{'target': '/dev/vg0/db1-root', 'vdev': 'xvda', 'format': 'raw'},
                                        {'target': '/srv/data.img', 'vdev': 'xvdb'}]
    assert guest['made'] == ['/dev/vg0/db1-root']


def test_cloud_init_makes_a_seed_attached_read_only_and_gives_the_address(plans):
    guest = only(plans['cloud_init'])
    assert guest['seed'] == {'path': '/var/lib/xen/seed/web1.iso', 'format': 'iso',
                             'user_data': {'users': [{'name': 'admin'}]},
                             'meta_data': {'local-hostname': 'web1', 'instance-id': 'web1-1'},
                             'network_config': NETWORK, 'vdev': 'xvdz'}
    assert guest['domain']['disks'] == [{'target': '/var/lib/xen/seed/web1.iso', 'vdev': 'xvdz', 'access': 'ro',
                                         'format': 'raw'}]
    assert 'cloud_init' not in guest['domain'] and 'address' not in guest['domain']
    assert guest['made'] == ['/var/lib/xen/seed/web1.iso']
    assert guest['address'] == '192.168.100.21'
    assert guest['reach'] == {'name': 'web1', 'address': '192.168.100.21', 'port': 22, 'dom0': 'localhost',
                              'jump_host': 'localhost', 'jump_port': 22, 'jump_user': None,
                              'proxy_jump': 'localhost:22'}


def test_an_own_address_wins_and_a_name_that_is_no_host_name_is_not_the_hostname(plans):
    guest = only(plans['cloud_init_own_address'])
    assert guest['address'] == '10.0.0.5'
    assert guest['seed']['path'] == '/var/lib/xen/seed/web_1.img' and guest['seed']['vdev'] == 'xvdc'
    assert guest['seed']['meta_data'] == {}
    assert 'user_data' not in guest['seed']


def test_defaults_are_merged_under_every_guest(plans):
    plan = plans['defaults']
    assert plan['errors'] == []
    assert [(g['name'], g['state'], g['seed']['user_data']) for g in plan['guests']] == [
        ('a1', 'running', '#cloud-config\n'), ('a2', 'absent', '#cloud-config\n')]


def test_combinations_that_cannot_work_are_named(plans):
    plan = plans['errors']
    assert plan['errors'] == [
        'xen_guests[bad].disks[xvda]: a logical volume (backend: lvm) needs vg and lv',
        'xen_guests[bad].disks[xvdb]: a file disk (backend: file) needs target (the image file) and takes no vg, lv'
        ' or thin_pool',
        'xen_guests[bad].disks[xvdc].backend must be file or lvm, not zfs',
        'xen_guests[bad].disks[xvdd].clone needs size or source (the role makes only disks that say how big or from'
        ' what)',
        'xen_guests[bad].disks[xvde]: a logical volume is /dev/vg0/x in format raw; leave target and format out',
        'xen_guests[bad].disks[xvdf]: a file disk (backend: file) needs target (the image file) and takes no vg, lv'
        ' or thin_pool',
        'xen_guests[bad].cloud_init must be a dict (user_data, meta_data, network_config, ...)',
    ]


# -- the one call (xen_domains): each guest's entry and the run's settings ------------------------------------------

def test_each_guest_entry_is_its_domain_with_the_default_apply_and_without_the_run_keys(plans):
    plan = plans['one_call']
    assert plan['errors'] == []
    o1, o2, o3 = plan['guests']
    # the domain as the per-guest task reads it; the entry without xl_path/lock_timeout, apply defaulted
    assert o1['domain']['xl_path'] == '/usr/sbin/xl' and o1['domain']['lock_timeout'] == 60
    assert o1['entry'] == dict((k, v) for k, v in o1['domain'].items() if k not in ('xl_path', 'lock_timeout'))
    assert o1['entry']['apply'] == 'live' and o1['entry']['command_timeout'] == 30
    assert o1['entry']['disks'] == [{'target': '/var/lib/xen/seed/o1.iso', 'vdev': 'xvdz', 'access': 'ro', 'format': 'raw'}]
    assert o2['entry'] == {'name': 'o2', 'state': 'absent', 'apply': 'restart'}
    assert o3['entry'] == {'name': 'o3', 'apply': 'restart'}
    assert plan['one_call'] == {'xl_path': '/usr/sbin/xl', 'lock_timeout': 300}


def test_the_run_has_no_xl_path_or_lock_timeout_when_no_guest_gives_one(plans):
    assert plans['plain']['one_call'] == {'xl_path': None, 'lock_timeout': None}
    assert only(plans['plain'])['entry'] == dict(CASES['plain']['xen_guests'][0], apply='live')


def test_two_xl_commands_cannot_serve_one_run(plans):
    assert plans['one_call_two_xl']['errors'] == [
        'xen_guests[x2].xl_path /opt/xl differs from xen_guests[x1].xl_path /usr/sbin/xl: the guests of a host are '
        'converged in one run, with one xl (give them the same xl_path, or set xen_guests_one_call: false)']
    assert plans['each_two_xl']['errors'] == []


RESULTS_TEMPLATE = os.path.join(ROOT, 'roles', 'guests', 'templates', 'results.json.j2')
RESULTS_PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    cases: {cases}
  tasks:
    - ansible.builtin.set_fact:
        results: "{{{{ results | default({{}}) | combine({{item.key: lookup('ansible.builtin.template', '{template}',
                     template_vars=item.value) | from_json}}) }}}}"
      loop: "{{{{ cases | dict2items }}}}"
    - ansible.builtin.copy:
        content: "{{{{ results | to_json }}}}"
        dest: "{{{{ out }}}}"
        mode: "0644"
"""
PLANNED = [{'name': 'a1', 'state': 'running', 'made': []}, {'name': 'a2', 'state': 'running', 'made': ['/srv/a2.img']},
           {'name': 'a3', 'state': 'absent', 'made': []}]
ONE = {'changed': False, 'domain': None, 'config_file': '/etc/xen/a1.cfg', 'applied': [], 'pending': [],
       'save_image': None, 'xl_calls': 0}


def test_the_one_call_results_are_registered_as_the_per_guest_loop_registers_them(tmp_path):
    """results.json.j2 (real ansible-core): the results the steps of the converge kept (xen_domains' per guest, or the
    per-guest task's loop items) become xen_guests_result.results, one per planned guest in the order of the plan
    whatever the order the steps converged them in (boot waves: the guests not booted first); a guest no step
    converged (check mode: storage to be made) is skipped; no guests give no result."""
    converged = [dict(ONE, name='a3', changed=True, config_file=None, applied=['config file removed']),
                 dict(ONE, name='a1')]   # a3 in step 0, a1 booted in wave 1
    each = [{'changed': True, 'applied': ['config file removed'], 'xen_guests_item': PLANNED[2],
             'ansible_loop_var': 'xen_guests_item', 'failed': False},
            {'changed': False, 'applied': [], 'xen_guests_item': PLANNED[0], 'ansible_loop_var': 'xen_guests_item',
             'failed': False, 'skipped': False},
            {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False',
             'xen_guests_item': PLANNED[1], 'ansible_loop_var': 'xen_guests_item'}]
    cases = {'run': {'xen_guests_plan': {'guests': PLANNED}, '__xen_guests_domains_done': converged},
             'each': {'xen_guests_plan': {'guests': PLANNED}, '__xen_guests_each_done': each},
             'none': {'xen_guests_plan': {'guests': []}, '__xen_guests_domains_done': []}}
    results = render_json(tmp_path, RESULTS_PLAYBOOK.format(cases=json.dumps(cases), template=RESULTS_TEMPLATE))
    run = results['run']
    assert run['changed'] is True and run['skipped'] is False
    a1, a2, a3 = run['results']
    assert a1 == dict(ONE, name='a1', failed=False, xen_guests_item=PLANNED[0], ansible_loop_var='xen_guests_item')
    assert a2 == {'changed': False, 'skipped': True, 'skip_reason': 'Conditional result was False',
                  'xen_guests_item': PLANNED[1], 'ansible_loop_var': 'xen_guests_item'}
    assert a3['changed'] is True and a3['applied'] == ['config file removed'] and a3['xen_guests_item'] == PLANNED[2]
    # what the role's later tasks and the scenarios read
    assert [r['xen_guests_item']['name'] for r in run['results'] if r['changed']] == ['a3']
    # one task per guest: its loop items as registered, in the order of the plan
    assert results['each']['results'] == [each[1], each[2], each[0]]
    assert results['each']['changed'] is True and results['each']['skipped'] is False
    assert results['none'] == {'changed': False, 'msg': 'All items completed', 'skipped': True, 'results': []}
