# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin xenfleet.xen.xen, built as ansible-inventory builds it (its options from its documentation,
the constructed and inventory_cache fragments), with ssh replaced by answers put together from captured xl output."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import subprocess

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.xenfleet.xen.plugins.inventory import xen
from ansible_collections.xenfleet.xen.tests.unit.plugins.inventory.probe_capture import (
    SSH_UNREACHABLE, FakeSsh, dom0_output, script_of, ssh_host, write_stand_ins)

NAME = 'xenfleet.xen.xen'


def _definitions():
    doc = yaml.safe_load(xen.DOCUMENTATION)
    add_fragments(doc, xen.__file__, fragment_loader=fragment_loader)
    C.config.initialize_plugin_configuration_definitions('inventory', NAME, doc['options'])


def new_plugin():
    """The plugin as the plugin loader hands it out (names set, option definitions registered)."""
    _definitions()
    plugin = xen.InventoryModule()
    plugin._load_name = NAME
    plugin.ansible_name = NAME
    plugin._redirected_names = [NAME]
    return plugin


@pytest.fixture
def ssh_path(tmp_path):
    """An executable named ssh for the option ssh_executable (never run: run_ssh is replaced)."""
    path = tmp_path / 'ssh'
    path.write_text(u'#!/bin/sh\nexit 255\n')
    path.chmod(stat.S_IRWXU)
    return str(path)


class Build(object):
    def __init__(self, plugin, inventory, warnings, runner):
        self.plugin = plugin
        self.inventory = inventory
        self.warnings = warnings
        self.runner = runner

    def hosts(self, group='all'):
        return sorted(h.name for h in self.inventory.groups[group].get_hosts()) if group in self.inventory.groups else []

    def vars(self, host):
        return self.inventory.get_host(host).get_vars()


def build(monkeypatch, tmp_path, ssh_path, config, answers=None, inventory=None, cache=True, runner=None, name='test.xen.yml'):
    config = dict({'plugin': NAME, 'ssh_executable': ssh_path}, **config)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    runner = runner or FakeSsh(answers or {})
    monkeypatch.setattr(xen, 'run_ssh', runner)
    plugin = new_plugin()
    warnings = []
    monkeypatch.setattr(plugin.display, 'warning', lambda msg, *args, **kwargs: warnings.append(msg))
    inventory = inventory if inventory is not None else InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=cache)
    return Build(plugin, inventory, warnings, runner)


def ok(kind, **kwargs):
    return (0, dom0_output(kind, **kwargs), '')


TWO = {'xen1': ok('neigh'), 'xen2': ok('tcg')}


# -- the guests ---------------------------------------------------------------------------------

def test_guests_of_two_dom0s_with_facts_and_groups(monkeypatch, tmp_path, ssh_path):
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen2'], 'hostname_template': '{{ name }}.{{ xen_dom0 }}'}, TWO)
    assert b.hosts('xen_guests') == ['hvm1.xen1', 'hvm1.xen2', 'pv1.xen1', 'pv1.xen2', 'pvh1.xen1', 'pvh1.xen2', 'pvnet1.xen1']
    assert b.hosts('xen_dom0_xen2') == ['hvm1.xen2', 'pv1.xen2', 'pvh1.xen2']
    assert b.hosts('xen_type_pvh') == ['pvh1.xen1', 'pvh1.xen2'] and len(b.hosts('xen_state_running')) == 7
    pvnet1 = b.vars('pvnet1.xen1')
    assert pvnet1['ansible_host'] == '192.168.100.10' and pvnet1['xen_dom0'] == 'xen1'
    assert (pvnet1['xen_type'], pvnet1['xen_state'], pvnet1['xen_vcpus'], pvnet1['xen_memory_mb']) == ('pv', 'running', 1, 128)
    assert pvnet1['xen_uuid'] == '7891cfb3-bb9d-4ef0-9cd0-db3d6a8eaf62' and pvnet1['xen_addresses'][0]['source'] == 'neighbour'
    assert 'ansible_ssh_common_args' not in pvnet1  # no bridge ports reported: auto does not jump
    pv1 = b.vars('pv1.xen2')
    assert (pv1['xen_vcpus'], pv1['xen_vcpus_max'], pv1['xen_memory_mb'], pv1['xen_memory_max_mb']) == (2, 4, 96, 256)
    assert 'ansible_host' not in pv1 and b.warnings == []
    assert len(b.runner.calls) == 2 and 'xen1' not in b.hosts()


def test_one_ssh_per_dom0_with_its_address_port_and_user(monkeypatch, tmp_path, ssh_path):
    hosts = ['xen1', {'name': 'xen2', 'address': '192.0.2.12', 'port': 2222, 'user': 'root'}]
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': hosts, 'timeout': 7}, {'xen1': ok('neigh'), '192.0.2.12': ok('tcg')})
    calls = dict((ssh_host(argv), argv) for argv in b.runner.calls)
    first, second = calls['xen1'], calls['192.0.2.12']
    assert first[0] == ssh_path and first[1:5] == ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=7']
    assert '-l' not in first and '-p' not in first and first[-2:-1] == ['xen1']
    assert second[second.index('-l') + 1] == 'root' and second[second.index('-p') + 1] == '2222'
    assert 'xl list -l' in script_of(first) and 'xl info' not in script_of(first)


def test_same_named_guests_collide_without_a_hostname_template(monkeypatch, tmp_path, ssh_path):
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen2']}, TWO)
    assert b.hosts('xen_guests') == ['hvm1', 'pv1', 'pvh1', 'pvnet1']
    assert b.vars('pv1')['xen_dom0'] == 'xen1' and b.hosts('xen_dom0_xen2') == []
    assert len(b.warnings) == 3
    assert b.warnings[0].startswith("hostname_template '{{ name }}' gives pv1 for guest pv1 on xen1 and guest pv1 on xen2")
    with pytest.raises(AnsibleError, match='gives pv1 for guest pv1 on xen1'):
        build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen2'], 'strict': True}, TWO)


def test_filters_and_keyed_groups_and_compose(monkeypatch, tmp_path, ssh_path):
    config = {'hosts': ['xen1', 'xen2'], 'hostname_template': '{{ name }}-{{ xen_dom0 }}',
              'filters': ["xen_type != 'hvm'", 'xen_memory_mb >= 96'],
              'keyed_groups': [{'key': 'xen_dom0', 'prefix': 'on'}, {'key': 'xen_state', 'prefix': 'state'}],
              'groups': {'networked': 'xen_nics | length > 0'},
              'compose': {'ansible_user': "'debian'", 'memory_gb': 'xen_memory_max_mb / 1024'}}
    b = build(monkeypatch, tmp_path, ssh_path, config, TWO)
    assert b.hosts('xen_guests') == ['pv1-xen1', 'pv1-xen2', 'pvh1-xen1', 'pvh1-xen2', 'pvnet1-xen1']
    assert b.hosts('on_xen2') == ['pv1-xen2', 'pvh1-xen2'] and len(b.hosts('state_running')) == 5
    assert b.hosts('networked') == ['pvnet1-xen1']
    assert b.vars('pv1-xen2')['ansible_user'] == 'debian' and b.vars('pv1-xen2')['memory_gb'] == 0.25


def test_a_filter_that_cannot_be_evaluated_leaves_the_guest_out(monkeypatch, tmp_path, ssh_path):
    config = {'hosts': ['xen1'], 'filters': ["xen_addresses[0].source == 'neighbour'"]}
    b = build(monkeypatch, tmp_path, ssh_path, config, TWO)
    assert b.hosts('xen_guests') == ['pvnet1']
    assert len(b.warnings) == 3 and b.warnings[0].startswith('filters[0] ("xen_addresses[0].source == \'neighbour\'") could '
                                                             'not be evaluated for guest pv1 on xen1, which is left out')
    with pytest.raises(AnsibleError, match=r'filters\[0\]'):
        build(monkeypatch, tmp_path, ssh_path, dict(config, strict=True), TWO)


def test_a_hostname_template_that_does_not_render_names_the_option(monkeypatch, tmp_path, ssh_path):
    with pytest.raises(AnsibleParserError) as exc:
        build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1'], 'hostname_template': '{{ name }}.{{ nosuch }}'}, TWO)
    assert "hostname_template '{{ name }}.{{ nosuch }}' could not be rendered for guest pv1 on xen1" in str(exc.value)
    assert 'nosuch' in str(exc.value).split('on xen1', 1)[1]


# -- the jump -------------------------------------------------------------------------------------

@pytest.mark.parametrize('config, bridges, expected', [
    ({}, 'xenbr0 vif4.0\n', '-o ProxyJump=root@192.0.2.11:2222'),
    ({}, 'xenbr0 eno1 vif4.0\n', None),
    ({'jump_bridges': ['xenbr0']}, '', '-o ProxyJump=root@192.0.2.11:2222'),
    ({'jump': 'never'}, 'xenbr0 vif4.0\n', None),
])
def test_the_jump_through_the_dom0(monkeypatch, tmp_path, ssh_path, config, bridges, expected):
    config = dict(config, hosts=[{'name': 'xen1', 'address': '192.0.2.11', 'port': 2222, 'user': 'root'}])
    b = build(monkeypatch, tmp_path, ssh_path, config, {'192.0.2.11': ok('neigh', bridges=bridges)})
    assert b.vars('pvnet1').get('ansible_ssh_common_args') == expected
    assert 'ansible_ssh_common_args' not in b.vars('pv1')  # no vif, no bridge


def test_jump_always(monkeypatch, tmp_path, ssh_path):
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1'], 'jump': 'always'}, TWO)
    assert set(b.vars(h)['ansible_ssh_common_args'] for h in b.hosts('xen_guests')) == set(['-o ProxyJump=xen1'])


# -- where the dom0s come from ------------------------------------------------------------------------

def static_inventory():
    """What an ini source read before this one leaves: group xen_hosts, vars on hosts and on the group."""
    inventory = InventoryData()
    inventory.add_group('xen_hosts')
    for name, address in (('xen1', '192.0.2.11'), ('xen2', '192.0.2.12')):
        inventory.add_host(name, 'xen_hosts')
        inventory.set_variable(name, 'ansible_host', address)
    inventory.set_variable('xen2', 'ansible_port', 2222)
    inventory.groups['xen_hosts'].set_variable('ansible_user', 'root')
    return inventory


def test_dom0s_from_a_group_of_an_earlier_source(monkeypatch, tmp_path, ssh_path):
    answers = {'192.0.2.11': ok('neigh'), '192.0.2.12': ok('tcg', host_info=True)}
    config = {'dom0_group': 'xen_hosts', 'hostname_template': '{{ name }}.{{ xen_dom0 }}', 'jump': 'always',
              'include_dom0s': True}
    b = build(monkeypatch, tmp_path, ssh_path, config, answers, inventory=static_inventory())
    assert len(b.hosts('xen_guests')) == 7 and b.hosts('xen_dom0s') == ['xen1', 'xen2']
    assert b.vars('pv1.xen2')['ansible_ssh_common_args'] == '-o ProxyJump=root@192.0.2.12:2222'
    argv = [a for a in b.runner.calls if ssh_host(a) == '192.0.2.12'][0]
    assert argv[argv.index('-l') + 1] == 'root' and 'xl info' in script_of(argv)
    xen2 = b.vars('xen2')
    assert xen2['xen_host']['nr_cpus'] == 2 and xen2['xen_dom0_guests'] == ['pv1.xen2', 'pvh1.xen2', 'hvm1.xen2']
    assert xen2['ansible_host'] == '192.0.2.12' and xen2['ansible_port'] == 2222


def test_a_dom0s_key_from_its_inventory_is_used_and_a_changed_key_asks_again(monkeypatch, tmp_path, ssh_path):
    answers = {'192.0.2.11': ok('neigh'), '192.0.2.12': ok('tcg')}
    config = {'dom0_group': 'xen_hosts', 'hostname_template': '{{ name }}.{{ xen_dom0 }}', 'jump': 'always',
              'cache': True, 'cache_plugin': 'jsonfile', 'cache_connection': str(tmp_path / 'cache')}
    inventory = static_inventory()
    inventory.set_variable('xen2', 'ansible_ssh_private_key_file', '/keys/xen2')
    inventory.set_variable('xen2', 'ansible_ssh_common_args', '-o UserKnownHostsFile=/keys/known_hosts')
    first = build(monkeypatch, tmp_path, ssh_path, config, answers, inventory=inventory)
    argv = [a for a in first.runner.calls if ssh_host(a) == '192.0.2.12'][0]
    assert argv[argv.index('-i') + 1] == '/keys/xen2' and 'UserKnownHostsFile=/keys/known_hosts' in argv
    assert 'ProxyCommand=' in first.vars('pv1.xen2')['ansible_ssh_common_args']
    assert first.vars('pv1.xen1')['ansible_ssh_common_args'] == '-o ProxyJump=root@192.0.2.11'
    first.plugin.update_cache_if_changed()
    inventory = static_inventory()
    inventory.set_variable('xen2', 'ansible_ssh_private_key_file', '/keys/xen2-new')
    inventory.set_variable('xen2', 'ansible_ssh_common_args', '-o UserKnownHostsFile=/keys/known_hosts')
    second = build(monkeypatch, tmp_path, ssh_path, config, answers, inventory=inventory)
    assert len(second.runner.calls) == 2


def test_a_missing_or_empty_group_is_a_configuration_error(monkeypatch, tmp_path, ssh_path):
    with pytest.raises(AnsibleParserError, match="dom0_group: there is no group 'xen_hosts' in the inventory read before"):
        build(monkeypatch, tmp_path, ssh_path, {'dom0_group': 'xen_hosts'})
    inventory = InventoryData()
    inventory.add_group('xen_hosts')
    with pytest.raises(AnsibleParserError, match="dom0_group: group 'xen_hosts' has no hosts"):
        build(monkeypatch, tmp_path, ssh_path, {'dom0_group': 'xen_hosts'}, inventory=inventory)


# -- failures ---------------------------------------------------------------------------------------

def test_an_unreachable_dom0_is_a_warning_and_the_rest_is_built(monkeypatch, tmp_path, ssh_path):
    answers = {'xen1': ok('neigh'), 'xen3': (255, '', SSH_UNREACHABLE),
               'xen4': subprocess.TimeoutExpired(['ssh'], 5, output=b'', stderr=b'')}
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen3', 'xen4'], 'timeout': 5}, answers)
    assert b.hosts('xen_guests') == ['hvm1', 'pv1', 'pvh1', 'pvnet1']
    assert len(b.warnings) == 2
    assert b.warnings[0].startswith('dom0 xen3 did not answer (ssh exit code 255): Connection to 192.168.77.12 port 22 '
                                    'timed out (cmd: %s -o BatchMode=yes' % ssh_path)
    assert "rc: 255; stdout: ''; stderr: 'Connection timed out during banner exchange" in b.warnings[0]
    assert b.warnings[0].endswith('its guests are not in the inventory.')
    assert b.warnings[1].startswith('dom0 xen4 did not answer within 5 seconds (timeout) (cmd: ')


def test_an_answer_that_breaks_the_reader_is_a_failure_of_that_dom0(monkeypatch, tmp_path, ssh_path):
    # a domid that is not a number (no xl prints that; it stands for any bug in the reader)
    odd = ok('neigh')[1].replace('"domid": 4,', '"domid": "four",', 1)
    assert odd != ok('neigh')[1]
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen2']}, {'xen1': (0, odd, ''), 'xen2': ok('tcg')})
    assert b.hosts('xen_guests') == ['hvm1', 'pv1', 'pvh1']
    assert len(b.warnings) == 1 and b.warnings[0].startswith('dom0 xen1: its answer could not be read (')


def test_an_unreachable_dom0_is_an_error_with_strict(monkeypatch, tmp_path, ssh_path):
    answers = {'xen1': ok('neigh'), 'xen3': (255, '', SSH_UNREACHABLE)}
    with pytest.raises(AnsibleError, match='dom0 xen3 did not answer'):
        build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen3'], 'strict': True}, answers)


def test_a_guest_in_migration_is_one_host(monkeypatch, tmp_path, ssh_path):
    answers = {'xen1': ok('mig_source'), 'xen2': ok('mig_target')}
    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1', 'xen2'], 'hostname_template': '{{ name }}.{{ xen_dom0 }}'},
              answers)
    assert b.hosts('xen_guests') == ['mcap.xen2', 'mkill.xen1', 'mpv.xen2', 'mpvh.xen2']
    assert b.vars('mkill.xen1')['xen_migrating'] is True and b.vars('mpv.xen2')['xen_migrating'] is False
    migrating = [w for w in b.warnings if 'being migrated' in w]
    assert migrating == ['guest mkill is being migrated (mkill on xen1, mkill--incoming on xen2): reported once, from xen1.']


# -- configuration --------------------------------------------------------------------------------------

@pytest.mark.parametrize('config, says', [
    ({'hosts': ['xen1'], 'bogus': 1}, 'bogus: unknown option(s) of xenfleet.xen.xen'),
    ({}, 'hosts: no dom0 to ask'),
    ({'hosts': [{'name': 'xen1', 'port': 'ssh'}]}, 'hosts[0].port: must be a port number'),
    ({'hosts': ['xen1'], 'max_workers': 0}, 'max_workers: must be 1 or more'),
    ({'hosts': ['xen1'], 'timeout': 0}, 'timeout: must be 1 or more'),
    ({'hosts': ['xen1'], 'hostname_template': ' '}, 'hostname_template: must be a non-empty template'),
    ({'hosts': ['xen1'], 'ssh_executable': 'no-such-ssh-here'}, "ssh_executable: 'no-such-ssh-here' was not found"),
    ({'hosts': ['xen1'], 'xl_path': ''}, 'xl_path: must be the xl command'),
])
def test_bad_configuration_names_the_option(monkeypatch, tmp_path, ssh_path, config, says):
    with pytest.raises(AnsibleParserError) as exc:
        build(monkeypatch, tmp_path, ssh_path, config)
    assert says in str(exc.value)


def test_an_invalid_choice_is_refused_by_ansibles_option_check(monkeypatch, tmp_path, ssh_path):
    with pytest.raises(AnsibleError, match="'sometimes' for config 'jump'"):
        build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1'], 'jump': 'sometimes'})


def test_verify_file_takes_xen_yml_files_only(tmp_path):
    plugin = new_plugin()
    for name, expected in (('a.xen.yml', True), ('a.xen.yaml', True), ('xen.yml', False), ('a.yml', False)):
        path = tmp_path / name
        path.write_text(u'plugin: xenfleet.xen.xen\n')
        assert plugin.verify_file(str(path)) is expected, name


# -- the cache ---------------------------------------------------------------------------------------

def test_a_warm_cache_runs_no_ssh(monkeypatch, tmp_path, ssh_path):
    config = {'hosts': ['xen1', 'xen2'], 'hostname_template': '{{ name }}.{{ xen_dom0 }}', 'cache': True,
              'cache_plugin': 'jsonfile', 'cache_connection': str(tmp_path / 'cache')}
    first = build(monkeypatch, tmp_path, ssh_path, config, TWO)
    assert len(first.runner.calls) == 2
    first.plugin.update_cache_if_changed()  # what ansible-inventory does after a source is parsed
    second = build(monkeypatch, tmp_path, ssh_path, config, {})  # any ssh would fail: no answers
    assert second.runner.calls == [] and second.hosts('xen_guests') == first.hosts('xen_guests')
    assert second.vars('pvnet1.xen1') == first.vars('pvnet1.xen1')
    # --flush-cache (cache=False) asks again; so does another dom0 list
    third = build(monkeypatch, tmp_path, ssh_path, config, TWO, cache=False)
    assert len(third.runner.calls) == 2
    fourth = build(monkeypatch, tmp_path, ssh_path, dict(config, hosts=['xen1']), TWO)
    assert len(fourth.runner.calls) == 1
    fifth = build(monkeypatch, tmp_path, ssh_path, dict(config, hosts=['xen1'], include_dom0s=True), TWO)
    assert len(fifth.runner.calls) == 1


def test_a_cached_failure_is_warned_again(monkeypatch, tmp_path, ssh_path):
    config = {'hosts': ['xen1', 'xen3'], 'cache': True, 'cache_plugin': 'jsonfile', 'cache_connection': str(tmp_path / 'c')}
    first = build(monkeypatch, tmp_path, ssh_path, config, {'xen1': ok('neigh'), 'xen3': (255, '', SSH_UNREACHABLE)})
    first.plugin.update_cache_if_changed()
    second = build(monkeypatch, tmp_path, ssh_path, config, {})
    assert second.runner.calls == [] and second.warnings == first.warnings and len(second.warnings) == 1


# -- the real ssh runner and the real script ---------------------------------------------------------------

def test_run_ssh_runs_an_argv_with_lc_all_c_and_stops_at_the_timeout(tmp_path):
    tool = tmp_path / 'tool'
    tool.write_text(u'#!/bin/sh\necho "LC_ALL=$LC_ALL args=$*"\necho oops >&2\nexit 3\n')
    tool.chmod(stat.S_IRWXU)
    assert xen.run_ssh([str(tool), 'a b', '$HOME'], 10) == (3, 'LC_ALL=C args=a b $HOME\n', 'oops\n')
    slow = tmp_path / 'slow'
    slow.write_text(u'#!/bin/sh\nexec sleep 30\n')
    slow.chmod(stat.S_IRWXU)
    with pytest.raises(subprocess.TimeoutExpired):
        xen.run_ssh([str(slow)], 0.5)


def test_the_whole_way_through_the_real_script(monkeypatch, tmp_path, ssh_path):
    """ssh replaced by running the script the plugin sends with the machine's sh, xl and ip answering with captures."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    write_stand_ins(bin_dir, 'neigh')

    def run(argv, timeout):
        env = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ.get('PATH', '/usr/bin:/bin')))
        proc = subprocess.run(['sh', '-c', script_of(argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=timeout, check=False)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    b = build(monkeypatch, tmp_path, ssh_path, {'hosts': ['xen1']}, runner=run)
    assert b.hosts('xen_guests') == ['hvm1', 'pv1', 'pvh1', 'pvnet1'] and b.warnings == []
    assert b.vars('pvnet1')['ansible_host'] == '192.168.100.10'


def test_every_example_is_a_config_the_plugin_documents():
    """EXAMPLES holds several config files (YAML documents; ansible-lint cannot read them, .ansible-lint excludes
    plugins/inventory/): each names the plugin and uses only documented options, fragments included."""
    doc = yaml.safe_load(xen.DOCUMENTATION)
    add_fragments(doc, xen.__file__, fragment_loader=fragment_loader)
    examples = [e for e in yaml.safe_load_all(xen.EXAMPLES) if e]
    assert len(examples) >= 3
    for example in examples:
        assert example['plugin'] == NAME
        assert set(example) <= set(doc['options']), sorted(set(example) - set(doc['options']))
