# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers that feed the unit tests with xl output captured from real Xen."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures')
DEFAULT_SET = 'xen-4.17.5-nested-tcg'


class Capture(object):
    """One captured command: cmd (text), rc, stdout, stderr."""

    def __init__(self, name, capture_set=DEFAULT_SET):
        base = os.path.join(FIXTURES, capture_set, name)
        self.name = name
        with open(base + '.cmd') as handle:
            self.cmd = handle.read().strip()
        with open(base + '.rc') as handle:
            self.rc = int(handle.read().strip())
        with open(base + '.stdout') as handle:
            self.stdout = handle.read()
        with open(base + '.stderr') as handle:
            self.stderr = handle.read()

    @property
    def xl_args(self):
        """The argv after `xl` as captured, e.g. ['list', '-l']."""
        words = self.cmd.split()
        assert words[0] == 'xl', self.cmd
        return words[1:]


def fixture_text(name, capture_set=DEFAULT_SET):
    with open(os.path.join(FIXTURES, capture_set, name)) as handle:
        return handle.read()


XEN_DOM0_FILES = {
    '/sys/hypervisor/type': 'xen\n',
    '/proc/xen/capabilities': 'control_d\n',
    '/proc/cmdline': 'root=/dev/vda rw console=hvc0 earlyprintk=xen net.ifnames=1\n',
}


def fake_files(files):
    """A read_file() stand-in backed by a dict (missing path -> None)."""
    return files.get
