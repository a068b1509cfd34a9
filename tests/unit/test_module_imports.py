# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a module imports is what the dom0 compiles on every run (AnsiballZ ships module_utils as source in a zip; no
bytecode is kept): measured on a lab dom0 (TCG), the collection's own imports of a xen_domain run took 0.5-0.8 s, of
which _snapshot and _disk 0.10-0.24 s. The modules that converge guests without snapshots or disks import neither."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import subprocess
import sys

import pytest

PREFIX = 'ansible_collections.xenfleet.xen.plugins.module_utils.'
PROBE = ('import sys, importlib; importlib.import_module(sys.argv[1]); '
         'print("\\n".join(sorted(m for m in sys.modules if m.startswith(%r))))' % PREFIX)


def imported(module):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, '-c', PROBE, 'ansible_collections.xenfleet.xen.plugins.modules.' + module],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env, check=True)
    return set(line[len(PREFIX):] for line in out.stdout.split())


@pytest.mark.parametrize('module', ['xen_domain', 'xen_domains', 'xen_domain_info'])
def test_guest_modules_leave_snapshots_and_disks_out(module):
    names = imported(module)
    assert '_xl' in names   # the probe sees the collection's imports at all
    assert not names & {'_snapshot', '_disk', '_converge_snapshot', '_backup'}, sorted(names)


def test_snapshot_module_still_imports_them():
    assert {'_snapshot', '_disk'} <= imported('xen_snapshot')
