# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin's pure part (plugins/module_utils/_inventory.py) and its probe script
(_xl_cmd.inventory_probe), fed with xl output captured on real Xen 4.17.5."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import os
import shlex
import subprocess

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _inventory as inv
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec, XlCommandError, XlOutputError
from ansible_collections.xenfleet.xen.tests.unit.plugins.inventory.probe_capture import (
    DOM0S, NO_XL, SSH_UNREACHABLE, dom0_output, probe_output, section_text, write_stand_ins)
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import XEN_DOM0_FILES, Capture

CMD = ['ssh', '-o', 'BatchMode=yes', '--', 'xen1', 'sh -c ...']


def report(kind, dom0='xen1', host_info=False, bridges=''):
    return inv.read_probe(dom0, CMD, 0, dom0_output(kind, host_info=host_info, bridges=bridges), '')


def by_name(rep):
    return dict((r['name'], r) for r in rep['domains'])


# -- the probe script -----------------------------------------------------------------------------

def test_the_probe_runs_the_verbs_of_xl_cmd_and_host_cmd():
    script = xlcmd.inventory_probe(hostcmd.ip_neigh())
    assert 'xl list -l; r=$?' in script and 'xl list; r=$?' in script and 'ip -json neigh show; r=$?' in script
    assert 'LC_ALL=C' in script.splitlines()[0] and 'export LC_ALL' in script.splitlines()[0]
    assert 'xl info' not in script and '/proc/cmdline' not in script
    with_host = xlcmd.inventory_probe(hostcmd.ip_neigh(), host_info=True, xl='/usr/sbin/my xl')
    assert "'/usr/sbin/my xl' list -l" in with_host and "'/usr/sbin/my xl' info" in with_host
    assert 'cat /proc/cmdline' in with_host


@pytest.mark.parametrize('kind', ['neigh', 'qemu_stopped'])
def test_the_real_script_prints_what_the_parser_reads(tmp_path, kind):
    """The script, run by the machine's sh with stand-ins for xl and ip that answer with the captures, gives each
    command's captured stdout back, section by section, less trailing blank lines (and the bridges of a fake
    /sys/class/net)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    write_stand_ins(bin_dir, kind)
    net = tmp_path / 'net'
    for bridge, ports in (('xenbr0', ['vif4.0', 'vif3.0-emu']), ('xenbr1', ['vif4.1', 'eno1'])):
        for port in ports:
            (net / bridge / 'brif' / port).mkdir(parents=True)
        (net / bridge / 'bridge').mkdir()
    (net / 'eno1').mkdir()
    script = xlcmd.inventory_probe(hostcmd.ip_neigh(), net_dir=str(net))
    env = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ.get('PATH', '/usr/bin:/bin')), LC_ALL='en_US.UTF-8')
    proc = subprocess.run(['sh', '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    assert proc.returncode == 0 and proc.stderr == b''
    probe = inv.parse_probe(proc.stdout.decode())
    assert probe['started'] and probe['complete'] and probe['banner'] == []
    for name in ('list_long', 'list', 'neigh'):
        assert probe['sections'][name] == {'text': section_text(*DOM0S[kind][name]).rstrip('\n') + '\n', 'rc': 0}
    assert inv.parse_bridges(probe['sections']['bridges']['text']) == {
        'xenbr0': ['vif3.0-emu', 'vif4.0'], 'xenbr1': ['eno1', 'vif4.1']}
    # the same as the layout the plugin tests feed
    assert probe['sections'] == inv.parse_probe(dom0_output(kind, bridges=probe['sections']['bridges']['text']))['sections']


def test_the_script_reports_a_failing_command_with_its_exit_status(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    write_stand_ins(bin_dir, 'neigh', neigh_rc=1)
    (bin_dir / 'xl').unlink()
    env = dict(os.environ, PATH='%s:/usr/bin:/bin' % bin_dir)
    script = xlcmd.inventory_probe(hostcmd.ip_neigh(), net_dir=str(tmp_path / 'none'))
    proc = subprocess.run(['sh', '-c', script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    probe = inv.parse_probe(proc.stdout.decode())
    assert probe['complete'] and probe['sections']['list_long'] == {'text': '', 'rc': 127}
    assert probe['sections']['neigh']['rc'] == 1 and probe['sections']['bridges'] == {'text': '', 'rc': 0}


def test_parse_probe_sets_a_banner_aside_and_sees_an_incomplete_run():
    text = probe_output(DOM0S['neigh'], banner='Welcome to xen1\n\n')
    probe = inv.parse_probe(text)
    assert probe['banner'] == ['Welcome to xen1'] and probe['complete']
    cut = text[:text.index(xlcmd.INVENTORY_MARK + ' section neigh')]
    probe = inv.parse_probe(cut)
    assert probe['started'] and not probe['complete'] and sorted(probe['sections']) == ['list', 'list_long']
    assert inv.parse_probe('') == {'banner': [], 'sections': {}, 'started': False, 'complete': False}


# -- one dom0's answer ----------------------------------------------------------------------------

def test_the_guests_of_a_dom0_with_their_addresses():
    rep = report('neigh')
    assert [r['name'] for r in rep['domains']] == ['pv1', 'pvh1', 'hvm1', 'pvnet1']
    pvnet1 = by_name(rep)['pvnet1']
    assert pvnet1['addresses'] == [{'address': '192.168.100.10', 'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0',
                                    'source': 'neighbour', 'state': 'REACHABLE'}]
    assert pvnet1['nics'] == [{'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0', 'ip': None, 'ifname': None}]
    assert (pvnet1['type'], pvnet1['state'], pvnet1['vcpus'], pvnet1['memory_mb']) == ('pv', 'blocked', 1, 128)
    assert by_name(rep)['hvm1']['state'] == 'running' and by_name(rep)['pvh1']['type'] == 'pvh'
    assert rep['warnings'] == [] and rep['host'] is None and rep['bridges'] == {}


# The whole probe as the plugin runs it, captured over ssh from a lab dom0 (fixtures/xen-4.17.5-lab-inventory)
WHOLE = 'xen-4.17.5-lab-inventory'


def test_a_whole_probe_captured_over_ssh_from_a_dom0_without_guests():
    cap = Capture('probe_no_guests', WHOLE)
    rep = inv.read_probe('xen1', cap.cmd, cap.rc, cap.stdout, cap.stderr)
    assert rep['domains'] == [] and rep['warnings'] == []
    assert rep['bridges'] == {'xenbr0': []}
    assert rep['host']['hostname'] == 'xen1' and rep['host']['xen_version'].startswith('4.17')
    # the empty bridge has no uplink: a guest on it would be reached through the dom0
    assert inv.wants_jump('auto', 'xenbr0', rep['bridges'], [], set())


def test_a_whole_probe_captured_over_ssh_with_a_provisioned_guest():
    cap = Capture('probe_pvh1', WHOLE)
    rep = inv.read_probe('xen1', cap.cmd, cap.rc, cap.stdout, cap.stderr)
    assert [r['name'] for r in rep['domains']] == ['pvh1'] and rep['warnings'] == []
    assert rep['bridges'] == {'xenbr0': ['vif1.0']}
    pvh1 = by_name(rep)['pvh1']
    assert (pvh1['type'], pvh1['state'], pvh1['vcpus'], pvh1['memory_mb']) == ('pvh', 'blocked', 1, 256)
    assert pvh1['addresses'] == [{'address': '192.168.100.21', 'mac': '00:16:3e:5a:00:21', 'bridge': 'xenbr0',
                                  'source': 'neighbour', 'state': 'REACHABLE'}]
    dom0 = inv.dom0_from_host_vars('xen1', LAB_DOM0_VARS, 'xen_hosts')
    facts = inv.guest_vars(dom0, pvh1, False, rep['bridges'], 'auto', [], inv.guest_ifnames(rep))
    assert facts['ansible_host'] == '192.168.100.21' and facts['xen_state'] == 'running'
    assert 'ProxyCommand=' in facts['ansible_ssh_common_args'] and facts['xen_jump'] == 'root@127.0.0.1:28212'


def test_a_domain_that_xl_list_l_left_out_is_reported_from_its_row_with_a_warning():
    rep = report('qemu_stopped')
    hvm1 = by_name(rep)['hvm1']
    assert hvm1['type'] is None and hvm1['state'] == 'running' and hvm1['config_source'] is None
    assert len(rep['warnings']) == 1 and 'left out domain hvm1 (id 4)' in rep['warnings'][0]


def test_the_dom0s_own_facts_when_asked():
    rep = report('tcg', host_info=True)
    assert rep['host']['nr_cpus'] == 2 and rep['host']['xen_version'].startswith('4.17')
    assert rep['host']['dom0_memory_mb'] == 1024 and rep['host']['dom0_commandline'] == XEN_DOM0_FILES['/proc/cmdline'].strip()


def test_an_unreadable_neighbour_table_leaves_the_declared_addresses_with_a_warning():
    sections = dict(DOM0S['neigh'], neigh=('', 127))
    rep = inv.read_probe('xen1', CMD, 0, probe_output(sections), NO_XL)
    assert by_name(rep)['pvnet1']['addresses'] == []
    assert rep['warnings'] == ["dom0 xen1: its neighbour table could not be read (`ip -json neigh show` exit code 127): "
                               "the guests' addresses are only the declared ones."]


def test_a_dom0_that_ssh_could_not_reach():
    with pytest.raises(XlCommandError) as exc:
        inv.read_probe('xen3', CMD, 255, '', SSH_UNREACHABLE)
    assert 'dom0 xen3 did not answer (ssh exit code 255): Connection to 192.168.77.12 port 22 timed out' in exc.value.msg
    text = inv.describe_failure(exc.value)
    assert 'cmd: ssh -o BatchMode=yes -- xen1' in text and 'rc: 255' in text and 'banner exchange' in text


def test_a_dom0_without_xl():
    sections = dict(DOM0S['neigh'], list_long=('', 127), list=('', 127))
    with pytest.raises(XlCommandError) as exc:
        inv.read_probe('xen1', CMD, 0, probe_output(sections), NO_XL * 2)
    assert exc.value.msg == ("dom0 xen1: `xl list -l` failed with exit code 127 (not found in the ssh user's PATH on the dom0: "
                             "set xl_path)")
    assert exc.value.cmd == 'xl list -l' and exc.value.rc == 127 and 'xl: command not found' in exc.value.stderr


def test_output_that_is_not_xls_json_is_an_output_error():
    # `xl list` table where the JSON should be
    sections = dict(DOM0S['neigh'], list_long=DOM0S['neigh']['list'])
    with pytest.raises(XlOutputError) as exc:
        inv.read_probe('xen1', CMD, 0, probe_output(sections), '')
    assert 'could not read the output of `xl list -l`' in exc.value.msg and exc.value.stdout.startswith('Name')


def test_a_probe_cut_short_is_a_failure_of_the_dom0():
    text = dom0_output('neigh')
    with pytest.raises(XlCommandError) as exc:
        inv.read_probe('xen1', CMD, 255, text[:len(text) // 2], 'Connection closed by remote host\n')
    assert 'stopped before the end of the probe' in exc.value.msg


# -- one copy of each guest --------------------------------------------------------------------------

def test_a_guest_during_a_migration_is_reported_once_from_where_it_runs():
    source, target = report('mig_source', 'xen1'), report('mig_target', 'xen2')
    assert [r['name'] for r in target['domains']] == ['mpv', 'mpvh', 'mcap', 'mkill--incoming']
    chosen, warnings = inv.select_guests([source, target])
    placed = [(dom0, r['name'], migrating) for dom0, r, migrating in chosen]
    assert placed == [('xen1', 'mkill', True), ('xen2', 'mpv', False), ('xen2', 'mpvh', False), ('xen2', 'mcap', False)]
    assert warnings == ['guest mkill is being migrated (mkill on xen1, mkill--incoming on xen2): reported once, from xen1.']


def test_a_copy_without_counterpart_is_not_a_guest():
    chosen, warnings = inv.select_guests([report('mig_leftover', 'xen1')])
    assert [r['name'] for _d, r, _m in chosen] == ['mcap', 'mkill']
    assert len(warnings) == 1 and warnings[0].startswith('guest mpv is only seen as mpv--incoming on xen1')


def test_at_the_switch_over_the_incoming_copy_is_the_guest():
    # both copies carry a suffix for an instant: the source's renamed to --migratedaway (records from the captures,
    # renamed as xl renames the domain)
    source, target = report('mig_source', 'xen1'), report('mig_target', 'xen2')
    source['domains'] = [dict(r, name='mkill--migratedaway') if r['name'] == 'mkill' else r for r in source['domains']]
    chosen, warnings = inv.select_guests([source, target])
    mkill = [(d, r) for d, r, _m in chosen if r['name'] == 'mkill']
    assert len(mkill) == 1 and mkill[0][0] == 'xen2' and mkill[0][1]['domid'] == 5
    assert warnings[0].startswith('guest mkill is switching dom0s (mkill--migratedaway on xen1, mkill--incoming on xen2)')


def test_the_same_uuid_on_two_dom0s_is_one_guest():
    chosen, warnings = inv.select_guests([report('neigh', 'xen1'), report('neigh', 'xen1-by-address')])
    assert [(d, r['name']) for d, r, _m in chosen] == [('xen1', 'pv1'), ('xen1', 'pvh1'), ('xen1', 'hvm1'), ('xen1', 'pvnet1')]
    assert len(warnings) == 4 and 'guest pv1 (uuid c45b918f-77c0-4d34-af31-8bea28bc95a6) is on both xen1 and xen1-by-address' in warnings[0]


def test_same_named_guests_with_different_uuids_are_different_guests():
    chosen, warnings = inv.select_guests([report('neigh', 'xen1'), report('tcg', 'xen2')])
    assert [(d, r['name']) for d, r, _m in chosen if r['name'] == 'pv1'] == [('xen1', 'pv1'), ('xen2', 'pv1')]
    assert warnings == []


# -- host variables and groups --------------------------------------------------------------------

def address(text, source='neighbour', bridge='xenbr0'):
    return {'address': text, 'mac': '00:16:3e:00:00:10', 'bridge': bridge, 'source': source, 'state': None}


def test_choose_address_prefers_declared_then_ipv4_and_never_link_local():
    assert inv.choose_address([]) is None
    assert inv.choose_address([address('fe80::216:3eff:fe00:10')]) is None
    assert inv.choose_address([address('2001:db8::10'), address('192.168.100.10')])['address'] == '192.168.100.10'
    assert inv.choose_address([address('192.168.100.10'), address('2001:db8::10', 'declared')])['address'] == '2001:db8::10'
    assert inv.choose_address([address('169.254.1.1'), address('2001:db8::10')])['address'] == '2001:db8::10'


@pytest.mark.parametrize('mode, bridge, bridges, jump_bridges, ifnames, expected', [
    ('always', None, None, [], (), True),
    ('never', 'xenbr0', {'xenbr0': []}, ['xenbr0'], (), False),
    ('auto', 'xenbr0', {'xenbr0': ['vif4.0', 'vif3.0-emu']}, [], (), True),
    ('auto', 'xenbr0', {'xenbr0': ['vif4.0', 'eno1']}, [], (), False),
    ('auto', 'xenbr0', {'xenbr0': ['vif4.0', 'web1-eth0', 'web1-eth0-emu']}, [], ('web1-eth0',), True),
    ('auto', 'xenbr0', {'xenbr0': ['eno1']}, ['xenbr0'], (), True),
    ('auto', 'xenbr0', {}, [], (), False),
    ('auto', 'xenbr0', None, [], (), False),
    ('auto', None, {'xenbr0': []}, [], (), False),
])
def test_wants_jump(mode, bridge, bridges, jump_bridges, ifnames, expected):
    assert inv.wants_jump(mode, bridge, bridges, jump_bridges, ifnames) is expected


def test_jump_target():
    assert inv.jump_target({'name': 'xen1', 'address': None, 'port': None, 'user': None}) == 'xen1'
    assert inv.jump_target({'name': 'xen1', 'address': '192.0.2.11', 'port': 2222, 'user': 'root'}) == 'root@192.0.2.11:2222'
    assert inv.jump_target({'name': 'xen1', 'address': '2001:db8::11', 'port': None, 'user': None}) == '[2001:db8::11]'


def test_guest_vars_of_a_guest_on_an_internal_bridge():
    rep = report('neigh', bridges='xenbr0 vif4.0\n')
    rep['bridges'] = inv.parse_bridges('xenbr0 vif4.0\n')
    dom0 = {'name': 'xen1', 'address': '192.0.2.11', 'port': None, 'user': 'root'}
    facts = inv.guest_vars(dom0, by_name(rep)['pvnet1'], False, rep['bridges'], 'auto', [], inv.guest_ifnames(rep))
    assert facts['ansible_host'] == '192.168.100.10' and facts['xen_bridge'] == 'xenbr0'
    assert facts['ansible_ssh_common_args'] == '-o ProxyJump=root@192.0.2.11' and facts['xen_jump'] == 'root@192.0.2.11'
    assert (facts['xen_state'], facts['xen_flags'], facts['xen_name'], facts['xen_dom0']) == ('running', '-b----', 'pvnet1', 'xen1')
    assert inv.guest_groups(facts) == ['xen_guests', 'xen_dom0_xen1', 'xen_state_running', 'xen_type_pv']
    # a guest without any address or vif: no ansible_host, no jump
    pv1 = inv.guest_vars(dom0, by_name(rep)['pv1'], False, rep['bridges'], 'auto', [], ())
    assert 'ansible_host' not in pv1 and 'ansible_ssh_common_args' not in pv1 and pv1['xen_bridge'] is None


def test_group_names_are_sanitised_and_states_are_lifecycle_states():
    assert inv.safe_group_name('xen-1.example.com') == 'xen_1_example_com'
    assert inv.lifecycle_state('blocked') == 'running' and inv.lifecycle_state('paused') == 'paused'
    facts = {'xen_dom0': 'xen-1.lab', 'xen_state': 'shutdown', 'xen_type': None}
    assert inv.guest_groups(facts) == ['xen_guests', 'xen_dom0_xen_1_lab', 'xen_state_shutdown']


# -- the dom0s ----------------------------------------------------------------------------------------

def test_dom0s_from_the_hosts_option():
    assert inv.dom0_from_option('xen1', 0) == {'name': 'xen1', 'address': None, 'port': None, 'user': None,
                                               'identity': None, 'options': []}
    assert inv.dom0_from_option({'name': 'xen2', 'address': '192.0.2.12', 'port': '2222', 'user': 'root'}, 1) == \
        {'name': 'xen2', 'address': '192.0.2.12', 'port': 2222, 'user': 'root', 'identity': None, 'options': []}
    # a key and ssh options, as a dom0_group member's inventory gives them (-i in ssh_args when no key is named)
    assert inv.dom0_from_option({'name': 'xen3', 'private_key_file': '/keys/fleet',
                                 'ssh_args': '-o ConnectTimeout=5 -J admin@bastion -i /keys/other'}, 2) == \
        {'name': 'xen3', 'address': None, 'port': None, 'user': None, 'identity': '/keys/fleet',
         'options': ['ConnectTimeout=5', 'ProxyJump=admin@bastion']}
    got = inv.dom0_from_option({'name': 'xen4', 'ssh_args': '-oStrictHostKeyChecking=yes -i /keys/other'}, 3)
    assert got['identity'] == '/keys/other' and got['options'] == ['StrictHostKeyChecking=yes']
    argv = inv.dom0_ssh_target(got).base_argv()
    assert argv[argv.index('-i') + 1] == '/keys/other' and 'StrictHostKeyChecking=yes' in argv


@pytest.mark.parametrize('entry, where, says', [
    ('', 'hosts[0].name', 'non-empty'),
    ('-oProxyCommand=x', 'hosts[0].name', 'not starting with -'),
    ({'name': 'xen1', 'port': 70000}, 'hosts[0].port', '1 to 65535'),
    ({'name': 'xen1', 'port': True}, 'hosts[0].port', '1 to 65535'),
    ({'name': 'xen1', 'user': '-x'}, 'hosts[0].user', 'not a user name'),
    ({'name': 'xen1', 'host': 'a'}, 'hosts[0]', 'unknown key(s) host'),
    ({'address': 'a'}, 'hosts[0].name', 'non-empty'),
    (['xen1'], 'hosts[0]', 'must be a dom0 name or a dict'),
    ({'name': 'xen1', 'private_key_file': ''}, 'hosts[0].private_key_file', 'path of a private key file'),
    ({'name': 'xen1', 'private_key_file': '-oProxyCommand=x'}, 'hosts[0].private_key_file', 'path of a private key'),
    ({'name': 'xen1', 'ssh_args': ['-o', 'A=b']}, 'hosts[0].ssh_args', 'must be a string'),
    ({'name': 'xen1', 'ssh_args': '-v'}, 'hosts[0].ssh_args', "has '-v', which the inventory plugin cannot pass on"),
    ({'name': 'xen1', 'ssh_args': '-o'}, 'hosts[0].ssh_args', 'ends with -o and no value'),
    ({'name': 'xen1', 'ssh_args': '-o "A=b'}, 'hosts[0].ssh_args', 'cannot be split into words'),
])
def test_bad_dom0_entries_name_the_option(entry, where, says):
    with pytest.raises(InvalidSpec) as exc:
        inv.dom0_from_option(entry, 0)
    assert exc.value.param == where and says in exc.value.msg


def test_dom0s_from_an_inventory_group():
    got = inv.dom0_from_host_vars('xen1', {'ansible_host': '192.0.2.11', 'ansible_port': 22, 'ansible_user': 'root',
                                           'other': 1}, 'xen_hosts')
    assert got == {'name': 'xen1', 'address': '192.0.2.11', 'port': 22, 'user': 'root', 'identity': None, 'options': []}
    with pytest.raises(InvalidSpec) as exc:
        inv.dom0_from_host_vars('xen1', {'ansible_host': '{{ lookup("env", "X") }}'}, 'xen_hosts')
    assert exc.value.param == 'dom0_group' and 'template in ansible_host' in exc.value.msg
    assert inv.merge_dom0s([{'name': 'a', 'port': 1}, {'name': 'b'}, {'name': 'a', 'port': 2}]) == \
        [{'name': 'a', 'port': 1}, {'name': 'b'}]


# The host variables of a lab dom0 as `xenlab` writes its inventory (tests/lab/xenlab), which Ansible's ssh uses
LAB_DOM0_VARS = {
    'ansible_host': '127.0.0.1', 'ansible_port': 28212, 'ansible_user': 'root',
    'ansible_ssh_private_key_file': '/root/.cache/xenfleet-lab/labs/diag/id_ed25519',
    'ansible_ssh_common_args': '-o UserKnownHostsFile=/root/.cache/xenfleet-lab/labs/diag/known_hosts '
                               '-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ServerAliveInterval=10',
}


def test_a_dom0_is_reached_with_the_key_and_options_its_inventory_gives_ansible():
    dom0 = inv.dom0_from_host_vars('xen1', LAB_DOM0_VARS, 'xen_hosts')
    assert dom0['identity'] == '/root/.cache/xenfleet-lab/labs/diag/id_ed25519'
    assert dom0['options'] == ['UserKnownHostsFile=/root/.cache/xenfleet-lab/labs/diag/known_hosts',
                               'StrictHostKeyChecking=yes', 'IdentitiesOnly=yes', 'ServerAliveInterval=10']
    # the extra args add theirs; -J becomes ProxyJump; -i counts when no key variable is set
    dom0 = inv.dom0_from_host_vars('xen2', {'ansible_ssh_extra_args': '-oCompression=yes -J bastion -i /k/id'}, 'g')
    assert dom0['options'] == ['Compression=yes', 'ProxyJump=bastion'] and dom0['identity'] == '/k/id'


@pytest.mark.parametrize('value, says', [
    ('-F /etc/other_config', "has '-F'"),
    ('-o', 'ends with -o and no value'),
    ('-o "unclosed', 'cannot be split'),
    ('-v', "has '-v'"),
])
def test_ssh_args_the_plugin_cannot_pass_on_are_refused_naming_host_and_variable(value, says):
    with pytest.raises(InvalidSpec) as exc:
        inv.dom0_from_host_vars('xen1', {'ansible_ssh_common_args': value}, 'xen_hosts')
    assert exc.value.param == 'dom0_group' and 'ansible_ssh_common_args of host xen1' in exc.value.msg
    assert says in exc.value.msg


def test_the_jump_to_a_guest_carries_the_dom0s_key_and_options_in_a_proxycommand():
    dom0 = inv.dom0_from_host_vars('xen1', LAB_DOM0_VARS, 'xen_hosts')
    args = inv.jump_ssh_args(dom0, inv.jump_target(dom0), '/usr/bin/ssh')
    words = shlex.split(args)
    assert words[0] == '-o' and words[1].startswith('ProxyCommand=')
    command = shlex.split(words[1][len('ProxyCommand='):])
    assert command[0] == '/usr/bin/ssh' and command[-4:] == ['-W', '%h:%p', '--', '127.0.0.1']
    assert ['-l', 'root'] == command[command.index('-l'):command.index('-l') + 2]
    assert ['-p', '28212'] == command[command.index('-p'):command.index('-p') + 2]
    assert ['-i', '/root/.cache/xenfleet-lab/labs/diag/id_ed25519'] == command[command.index('-i'):command.index('-i') + 2]
    assert 'UserKnownHostsFile=/root/.cache/xenfleet-lab/labs/diag/known_hosts' in command
    assert 'BatchMode=yes' in command and 'StrictHostKeyChecking=no' not in command
    # a dom0 that needs nothing but ~/.ssh/config keeps the plain ProxyJump
    plain = inv.dom0_from_option({'name': 'xen2', 'address': '192.0.2.12', 'user': 'root'}, 0)
    assert inv.jump_ssh_args(plain, inv.jump_target(plain)) == '-o ProxyJump=root@192.0.2.12'


# -- layering -------------------------------------------------------------------------------------------

PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'plugins')


def test_the_plugin_builds_no_xl_argv_of_its_own():
    with open(os.path.join(PLUGINS, 'inventory', 'xen.py')) as handle:
        tree = ast.parse(handle.read())
    lists = [node.elts[0].value for node in ast.walk(tree) if isinstance(node, ast.List) and node.elts
             and isinstance(node.elts[0], ast.Constant)]
    assert not set(lists) & set(('xl', 'list', 'info', 'ip', 'sh'))


@pytest.mark.parametrize('template, expected', [
    ('{{ name }}', 'pv1'),
    ('{{name}}.{{ xen_dom0 }}', 'pv1.xen1'),
    ('guest-{{ xen_domid }}', 'guest-1'),
    ('{{ name | upper }}', None),
    ('{{ xen_migrating }}', None),
    ('{{ xen_bridge }}', None),
    ('{% if true %}x{% endif %}', None),
    ('{{ nosuch }}', None),
    ('a }} b', None),
    ('{{ name }}\n', None),
    ('plain', 'plain'),
])
def test_simple_hostname_templates_are_rendered_without_jinja(template, expected):
    variables = {'name': 'pv1', 'xen_dom0': 'xen1', 'xen_domid': 1, 'xen_migrating': False, 'xen_bridge': None}
    assert inv.render_simple(template, variables) == expected
