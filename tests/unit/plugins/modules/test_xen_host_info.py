# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.xenfleet.xen.plugins.modules import xen_host_info
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module


def test_host_info_from_real_capture(monkeypatch):
    script = XlScript([(['info'], 'xl_info'), (['list', '0'], 'xl_list_dom0_only')])
    result, failed = run_module(monkeypatch, xen_host_info.main, {}, script)
    assert not failed
    assert result['changed'] is False and result['xl_calls'] == 2
    host = result['host']
    assert host['xen_version'] == '4.17.5' and host['xen_major'] == 4 and host['xen_minor'] == 17
    assert host['hvm'] is True and host['hap'] is True and 'gnttab-v2' in host['virt_caps']
    assert host['dom0_memory_mb'] == 1024 and host['dom0_vcpus'] == 2
    assert host['dom0_commandline_options']['console'] == 'hvc0'
    assert host['total_memory_mb'] == 4095


def test_host_info_check_mode_reads_the_same(monkeypatch):
    script = XlScript([(['info'], 'xl_info'), (['list', '0'], 'xl_list_dom0_only')])
    result, failed = run_module(monkeypatch, xen_host_info.main, {'_ansible_check_mode': True}, script)
    assert not failed and result['host']['scheduler'] == 'credit2'


def test_host_info_not_a_xen_host(monkeypatch):
    script = XlScript([])
    result, failed = run_module(monkeypatch, xen_host_info.main, {}, script,
                                files={'/proc/cpuinfo': 'flags : fpu hypervisor\n'})
    assert failed
    assert result['error'] == 'not_xen_host'
    assert result['msg'].startswith('This is not a Xen host')
    assert script.seen == []


def test_host_info_xenstored_down(monkeypatch):
    script = XlScript([(['info'], (1, '', 'xencall: error: ...\ncannot connect to xenstore\ncannot init xl context\n'))])
    result, failed = run_module(monkeypatch, xen_host_info.main, {'command_timeout': 9}, script)
    assert failed and result['error'] == 'toolstack_unavailable'
    assert result['msg'] == ('xenstored is not running: start the Xen services (systemctl start xen or xencommons). '
                             'xl said: cannot connect to xenstore')
    assert result['rc'] == 1 and 'cannot init xl context' in result['stderr']
    assert result['cmd'] == ['/usr/sbin/xl', 'info']


def test_host_info_timeout(monkeypatch):
    script = XlScript([(['info'], (124, '', ''))])
    result, failed = run_module(monkeypatch, xen_host_info.main, {'command_timeout': 7}, script)
    assert failed and result['error'] == 'timeout' and 'within 7 seconds' in result['msg']
