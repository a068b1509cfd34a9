# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible_collections.xenfleet.xen.plugins.modules import xen_domain_info
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module

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
