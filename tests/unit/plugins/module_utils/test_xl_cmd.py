# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every xl verb builds the argv that real xl was run with (the captured .cmd files), so a verb that
drifts from what Xen 4.17's xl accepts fails here."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import os
import shlex

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

# (verb call, capture set, capture name): the capture's command is what the verb must build
CASES = [
    (xlcmd.info, 'xen-4.17.5-lab-tcg', 'xl_info'),
    (xlcmd.list_rows, 'xen-4.17.5-lab-migrate', 'xl_list_source_after_guest_left'),
    (lambda: xlcmd.list_rows('pv1'), 'xen-4.17.5-lab-tcg', 'xl_list_paused'),
    (xlcmd.list_long, 'xen-4.17.5-lab-tcg', 'xl_list_l_dom0_only'),
    (xlcmd.vcpu_list, 'xen-4.17.5-lab-tcg', 'xl_vcpu_list'),
    (lambda: xlcmd.vcpu_list('smp1'), 'xen-4.17.5-lab-vcpu', 'xl_vcpu_list_smp1'),
    (lambda: xlcmd.create('/var/lib/xenlab/guest/pvh.cfg'), 'xen-4.17.5-lab-tcg', 'xl_create_pvh'),
    (lambda: xlcmd.dry_run_create('/var/lib/xenlab/guest/pv.cfg'), 'xen-4.17.5-lab-tcg', 'create_dryrun_pv'),
    (lambda: xlcmd.shutdown('pv1'), 'xen-4.17.5-lab-tcg', 'xl_shutdown_pv'),
    (lambda: xlcmd.destroy('hvm1'), 'xen-4.17.5-lab-guests', 'err_destroy_race_hvm'),
    (lambda: xlcmd.pause('pv1'), 'xen-4.17.5-lab-tcg', 'xl_pause_pv'),
    (lambda: xlcmd.unpause('pv1'), 'xen-4.17.5-lab-tcg', 'xl_unpause_pv'),
    (lambda: xlcmd.mem_set('pv1', 96), 'xen-4.17.5-lab-tcg', 'xl_mem_set_pv'),
    (lambda: xlcmd.vcpu_set('pv1', 2), 'xen-4.17.5-lab-tcg', 'xl_vcpu_set_pv_2'),
    (lambda: xlcmd.vcpu_set('pv1', 5, ignore_host=True), 'xen-4.17.5-lab-tcg', 'err_vcpu_set_over_max'),
    (lambda: xlcmd.vcpu_pin('smp1', 0, '1', '0'), 'xen-4.17.5-lab-vcpu', 'xl_vcpu_pin_soft_outside_hard'),
    (lambda: xlcmd.migrate('mcap', 'xen2', 'ssh -o BatchMode=yes -o ConnectTimeout=15 -l root'),
     'xen-4.17.5-lab-migrate', 'migrate_ok_pv_by_name'),
]


@pytest.mark.parametrize('build, capture_set, name', CASES, ids=[c[2] for c in CASES])
def test_verb_builds_the_captured_command(build, capture_set, name):
    words = shlex.split(Capture(name, capture_set).cmd)
    assert words[0] == 'xl'
    assert build() == words[1:]


def test_every_verb_returns_a_list_of_strings():
    argv = xlcmd.sched('credit2', 'web1', weight=512, cap=50)
    assert argv == ['sched-credit2', '-d', 'web1', '-w', '512', '-c', '50']
    assert xlcmd.sched('credit', 'web1', weight=256) == ['sched-credit', '-d', 'web1', '-w', '256']
    assert xlcmd.network_attach('web1', 'mac=00:16:3e:00:00:01,bridge=xenbr0') == \
        ['network-attach', 'web1', 'mac=00:16:3e:00:00:01', 'bridge=xenbr0']
    assert xlcmd.block_detach('web1', 'xvdb') == ['block-detach', 'web1', 'xvdb']
    assert xlcmd.network_detach('web1', 1) == ['network-detach', 'web1', '1']
    assert xlcmd.create('/etc/xen/a.cfg', paused=True) == ['create', '-p', '/etc/xen/a.cfg']
    assert xlcmd.shutdown('h1', acpi=True) == ['shutdown', '-F', '-w', 'h1']
    assert xlcmd.destroy(7) == ['destroy', '7']


def test_sched_refuses_a_scheduler_xl_has_no_verb_for():
    with pytest.raises(ValueError) as exc:
        xlcmd.sched('rtds', 'web1', weight=1)
    assert "'rtds'" in str(exc.value)


def test_remote_words_quote_every_word_for_the_remote_shell():
    assert xlcmd.remote_words(xlcmd.list_rows()) == 'xl list'
    assert xlcmd.remote_words(xlcmd.destroy('a b;rm'), xl='/usr/sbin/xl') == "/usr/sbin/xl destroy 'a b;rm'"


PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'plugins')
XL_SUBCOMMANDS = set(('info', 'list', 'vcpu-list', 'create', 'shutdown', 'destroy', 'pause', 'unpause', 'mem-set',
                      'vcpu-set', 'vcpu-pin', 'sched-credit', 'sched-credit2', 'block-attach', 'block-detach',
                      'network-attach', 'network-detach', 'migrate', 'migrate-receive', 'reboot', 'save', 'restore'))


def _literal_argvs(path):
    """List literals in a Python file whose first element is an xl subcommand (or 'xl')."""
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List) and node.elts and isinstance(node.elts[0], ast.Constant) \
                and node.elts[0].value in XL_SUBCOMMANDS | set(('xl', '-N')):
            found.append((node.lineno, node.elts[0].value))
    return found


def test_no_xl_argv_is_built_outside_xl_cmd():
    offenders = []
    for folder in ('modules', 'module_utils'):
        for name in sorted(os.listdir(os.path.join(PLUGINS, folder))):
            if not name.endswith('.py') or name == '_xl_cmd.py':
                continue
            for line, word in _literal_argvs(os.path.join(PLUGINS, folder, name)):
                offenders.append('%s/%s:%d [%r, ...]' % (folder, name, line, word))
    assert offenders == []
