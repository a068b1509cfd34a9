# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.module_utils import basic

from ansible_collections.xenfleet.xen.plugins.modules import xen_domain_info
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

READS = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]


def test_all_guests(monkeypatch, tmp_path):
    args = {'config_dir': str(tmp_path), 'autostart_dir': str(tmp_path / 'auto')}
    result, failed = run_module(monkeypatch, xen_domain_info.main, args, XlScript(READS))
    assert not failed and result['changed'] is False and result['xl_calls'] == 2
    assert [d['name'] for d in result['domains']] == ['pv1', 'pvh1']
    pv1 = result['domains'][0]
    assert pv1['state'] == 'running' and pv1['vcpus'] == {'online': 2, 'max': 4}
    assert pv1['config_file'] is None and pv1['autostart'] is False


def test_unknown_name_is_empty_not_error(monkeypatch, tmp_path):
    result, failed = run_module(monkeypatch, xen_domain_info.main,
                                {'name': ['nosuchdomain'], 'config_dir': str(tmp_path)}, XlScript(READS))
    assert not failed and result['domains'] == []


def test_config_file_and_autostart(monkeypatch, tmp_path):
    cfg = tmp_path / 'pvh1.cfg'
    cfg.write_text(u'name = "pvh1"\n')
    (tmp_path / 'pv1.cfg').write_text(u'name = "pv1"\n')
    auto = tmp_path / 'auto'
    auto.mkdir()
    os.symlink(str(cfg), str(auto / 'pvh1'))
    args = {'config_dir': str(tmp_path), 'autostart_dir': str(auto)}
    result, failed = run_module(monkeypatch, xen_domain_info.main, args, XlScript(READS))
    assert not failed
    by_name = dict((d['name'], d) for d in result['domains'])
    assert by_name['pvh1']['config_file'] == str(cfg) and by_name['pvh1']['autostart'] is True
    assert by_name['pv1']['config_file'] == str(tmp_path / 'pv1.cfg') and by_name['pv1']['autostart'] is False


def test_dom0_and_dying_on_request(monkeypatch, tmp_path):
    args = {'include_dom0': True, 'include_dying': True, 'config_dir': str(tmp_path)}
    result, failed = run_module(monkeypatch, xen_domain_info.main, args, XlScript(READS))
    assert [d['name'] for d in result['domains']] == ['Domain-0', 'pv1', 'pvh1', '(null)']


def test_only_dom0_after_failed_create(monkeypatch, tmp_path):
    # After the HVM create failed, `xl list` shows Domain-0 and a dying (null) domain.
    script = XlScript([(['list', '-l'], 'xl_list_l_dom0_only'), (['list'], 'xl_list_after')])
    result, failed = run_module(monkeypatch, xen_domain_info.main, {'config_dir': str(tmp_path)}, script)
    assert not failed and result['domains'] == []


def test_not_a_xen_host(monkeypatch):
    script = XlScript([])
    result, failed = run_module(monkeypatch, xen_domain_info.main, {}, script, files={})
    assert failed and result['error'] == 'not_xen_host' and 'not a Xen host' in result['msg']
    assert 'exception' not in result


# -- addresses (captured with a networked guest: tests/unit/fixtures/xen-4.17.5-lab-neigh) --------

NEIGH = 'xen-4.17.5-lab-neigh'


def captured(name):
    cap = Capture(name, NEIGH)
    return cap.rc, cap.stdout, cap.stderr


NEIGH_READS = [(['list', '-l'], captured('xl_list_l')), (['list'], captured('xl_list'))]


def test_addresses_from_dom0s_neighbour_table(monkeypatch, tmp_path):
    script = XlScript(NEIGH_READS + [(['ip', '-json', 'neigh', 'show'], captured('ip_neigh'))])
    result, failed = run_module(monkeypatch, xen_domain_info.main, {'config_dir': str(tmp_path)}, script)
    assert not failed, result
    by_name = dict((d['name'], d['addresses']) for d in result['domains'])
    assert by_name == {'pv1': [], 'pvh1': [], 'hvm1': [], 'pvnet1': [
        {'address': '192.168.100.10', 'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0', 'source': 'neighbour',
         'state': 'REACHABLE'}]}
    assert script.seen[-1] == ['ip', '-json', 'neigh', 'show'] and not script.steps


def test_addresses_false_runs_no_ip(monkeypatch, tmp_path):
    script = XlScript(NEIGH_READS)
    result, failed = run_module(monkeypatch, xen_domain_info.main,
                                {'config_dir': str(tmp_path), 'addresses': False}, script)
    assert not failed and not script.steps
    assert all('addresses' not in d for d in result['domains'])


def test_no_ip_call_when_no_domain_has_a_nic(monkeypatch, tmp_path):
    script = XlScript(READS)
    result, failed = run_module(monkeypatch, xen_domain_info.main, {'config_dir': str(tmp_path)}, script)
    assert not failed and [d['addresses'] for d in result['domains']] == [[], []]
    assert all(call[0] != 'ip' for call in script.seen)


def test_an_unreadable_neighbour_table_warns_and_keeps_the_facts(monkeypatch, tmp_path):
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, text: warnings.append(text))
    script = XlScript(NEIGH_READS + [(['ip', '-json', 'neigh', 'show'], (1, '', ''))])
    result, failed = run_module(monkeypatch, xen_domain_info.main, {'config_dir': str(tmp_path)}, script)
    assert not failed, result
    assert [d['addresses'] for d in result['domains']] == [[], [], [], []]
    assert len(warnings) == 1 and "dom0's neighbour table could not be read" in warnings[0], warnings
    assert '/usr/bin/ip -json neigh show` failed with exit code 1' in warnings[0], warnings


def test_saved_guests_are_listed_from_their_images(monkeypatch, tmp_path):
    # a real image's head (tests/unit/fixtures/xen-4.17.5-lab-save: sv1, PV, 128 MiB, 1 vCPU), a temp file of a
    # save in progress, a file that is not an image, and an image named like a running guest (stale)
    from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import FIXTURES
    with open(os.path.join(FIXTURES, 'xen-4.17.5-lab-save', 'sv1.save.head'), 'rb') as handle:
        head = handle.read()
    save = tmp_path / 'save'
    save.mkdir()
    (save / 'sv1').write_bytes(head + b'\0' * (2 * 1024 * 1024))
    (save / 'pv1').write_bytes(head)
    (save / '.sv2.saving').write_bytes(head)
    (save / 'notes.txt').write_text(u'not an image')
    (tmp_path / 'sv1.cfg').write_text(u'name = "sv1"\n')
    args = {'config_dir': str(tmp_path), 'save_dir': str(save)}
    result, failed = run_module(monkeypatch, xen_domain_info.main, args, XlScript(READS))
    assert not failed, result
    assert [s['name'] for s in result['saved']] == ['pv1', 'sv1']
    sv1 = result['saved'][1]
    assert sv1['image'] == str(save / 'sv1') and sv1['size_mb'] == 2 and sv1['type'] == 'pv'
    assert sv1['memory_mb'] == 128 and sv1['config_file'] == str(tmp_path / 'sv1.cfg') and sv1['stale'] is False
    assert result['saved'][0]['stale'] is True  # pv1 runs in the three-guest capture
    result, failed = run_module(monkeypatch, xen_domain_info.main, dict(args, name=['sv1']), XlScript(READS))
    assert [s['name'] for s in result['saved']] == ['sv1']
    result, failed = run_module(monkeypatch, xen_domain_info.main, dict(args, save_dir=str(tmp_path / 'none')),
                                XlScript(READS))
    assert result['saved'] == []


def test_cpu_use_is_the_growth_of_cpu_time_over_the_window(monkeypatch, tmp_path):
    # two real `xl list` readings of the same domains (the save capture: before sv1 was saved, and after it came
    # back under a new domid); the module's clock is faked so the window is exactly 60 s
    from ansible_collections.xenfleet.xen.plugins.module_utils import _info

    class Clock(object):
        """_info's view of the time module: 100 s, then 160 s; sleeping takes no time."""
        readings = [100.0, 160.0]

        def monotonic(self):
            return self.readings.pop(0)

        def sleep(self, seconds):
            assert seconds == 60

    monkeypatch.setattr(_info, 'time', Clock())
    first = Capture('xl_list_running', 'xen-4.17.5-lab-save')
    second = Capture('xl_list_after_restore', 'xen-4.17.5-lab-save')

    def answer(name):
        cap = Capture(name, 'xen-4.17.5-lab-save')
        return (cap.rc, cap.stdout, cap.stderr)

    script = XlScript([(['list'], answer('xl_list_running')), (['list'], answer('xl_list_after_restore')),
                       (['list', '-l'], answer('xl_list_l_after_restore')), (['list'], answer('xl_list_after_restore'))])
    args = {'config_dir': str(tmp_path), 'cpu_sample': 60, 'include_dom0': True, 'addresses': False}
    result, failed = run_module(monkeypatch, xen_domain_info.main, args, script)
    assert not failed, result
    assert result['cpu_sample_seconds'] == 60.0 and result['xl_calls'] == 4
    by_name = dict((d['name'], d) for d in result['domains'])
    rows = dict((r.split()[0], float(r.split()[-1])) for r in first.stdout.splitlines()[1:])
    rows_after = dict((r.split()[0], float(r.split()[-1])) for r in second.stdout.splitlines()[1:])
    assert by_name['Domain-0']['cpu_percent'] == round(100 * (rows_after['Domain-0'] - rows['Domain-0']) / 60, 1)
    assert by_name['svh1']['cpu_percent'] == round(100 * (rows_after['svh1'] - rows['svh1']) / 60, 1)
    assert by_name['sv1']['cpu_percent'] is None  # restored under another domid: not there for the whole window


def test_a_bad_cpu_sample_is_refused_before_xl_runs(monkeypatch, tmp_path):
    for value in (-1, 3601):
        result, failed = run_module(monkeypatch, xen_domain_info.main,
                                    {'config_dir': str(tmp_path), 'cpu_sample': value}, XlScript([]))
        assert failed and result['error'] == 'invalid_parameter'
        assert result['msg'].startswith('cpu_sample: must be 0 (no measurement) or a number of seconds up to 3600')
