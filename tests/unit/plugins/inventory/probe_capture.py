# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A dom0's answer to the inventory probe, put together from xl output captured on real Xen.

The probe (_xl_cmd.inventory_probe) prints each command's stdout between marker lines; probe_output() lays
captured outputs out the same way (test_inventory_utils checks that the real script, run by sh with stand-ins
answering the same captures, prints what this builds). Nothing of xl's output is written here: every section's
text is a capture's stdout (tests/unit/fixtures), or the empty bridges listing of a dom0 whose ports are not
known."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shlex
import stat

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import FIXTURES, Capture, XEN_DOM0_FILES

NEIGH = 'xen-4.17.5-lab-neigh'
TCG = 'xen-4.17.5-lab-tcg'
MIGRATE = 'xen-4.17.5-lab-migrate'

# (capture set, capture name) of each section, per simulated dom0
DOM0S = {
    # lab host xen1 of the guests scenario: pv1, pvh1, hvm1 and pvnet1 (a vif on xenbr0, seen in the neighbour table)
    'neigh': {'list_long': (NEIGH, 'xl_list_l'), 'list': (NEIGH, 'xl_list'), 'neigh': (NEIGH, 'ip_neigh')},
    # another lab session: pv1, pvh1 and hvm1 again (other UUIDs), no vif; its neighbour table has no guest
    'tcg': {'list_long': (TCG, 'xl_list_l_three_guests'), 'list': (TCG, 'xl_list_three_guests'),
            'neigh': (NEIGH, 'ip_neigh_before_ping'), 'info': (TCG, 'xl_info')},
    # hvm1's device model stopped: `xl list -l` leaves hvm1 out, `xl list` still shows it
    'qemu_stopped': {'list_long': (TCG, 'xl_list_l_hvm_qemu_stopped'), 'list': (TCG, 'xl_list_hvm_qemu_stopped'),
                     'neigh': (NEIGH, 'ip_neigh')},
    # the two dom0s of a migration whose receiver was killed: mkill runs on the source, mkill--incoming stays on the
    # target. Only `xl list` was captured there; `xl list -l` is the capture of a dom0 with no guest (lab-tcg), so the
    # guests are reported from their `xl list` rows, as when `xl list -l` leaves a domain out.
    'mig_source': {'list_long': (TCG, 'xl_list_l_dom0_only'), 'list': (MIGRATE, 'xl_list_source_after_receiver_killed'),
                   'neigh': (NEIGH, 'ip_neigh')},
    'mig_target': {'list_long': (TCG, 'xl_list_l_dom0_only'), 'list': (MIGRATE, 'xl_list_target_after_receiver_killed'),
                   'neigh': (NEIGH, 'ip_neigh')},
    # a dom0 that still holds mpv--incoming from an earlier failed migration, and no mpv anywhere
    'mig_leftover': {'list_long': (TCG, 'xl_list_l_dom0_only'), 'list': (MIGRATE, 'xl_list_source_after_ssh_banner_timeout'),
                     'neigh': (NEIGH, 'ip_neigh')},
}

# ssh's own words when it could not reach a host (its first two stderr lines in a captured migration whose
# transport, ssh, exited with status 255)
SSH_UNREACHABLE = ''.join(line for line in Capture('err_migrate_ssh_banner_timeout', MIGRATE).stderr.splitlines(True)
                          if not line.startswith('libxl'))
# a login shell's words when the dom0 has no xl (a captured migration to a host without the Xen tools)
NO_XL = [line + '\n' for line in Capture('err_migrate_no_xl', MIGRATE).stderr.splitlines() if 'xl:' in line][0]


def section_text(capture_set, name):
    return Capture(name, capture_set).stdout


def probe_output(sections, bridges='', cmdline=None, banner=''):
    """The probe's stdout for `sections` ({name: (capture set, capture name) or (text, rc)}), in the script's order."""
    mark = xlcmd.INVENTORY_MARK
    out = [banner, '%s begin\n' % mark]
    for name in ('list_long', 'list', 'neigh', 'bridges', 'info', 'cmdline'):
        if name == 'bridges':
            text, rc = bridges, 0
        elif name == 'cmdline':
            if cmdline is None:
                continue
            text, rc = cmdline, 0
        elif name not in sections:
            continue
        else:
            source = sections[name]
            text, rc = (source[0], source[1]) if isinstance(source[1], int) else (section_text(*source), 0)
        out.append('%s section %s\n%s\n%s end %s %d\n' % (mark, name, text, mark, name, rc))
    out.append('%s done\n' % mark)
    return ''.join(out)


def dom0_output(kind, host_info=False, bridges=''):
    sections = dict(DOM0S[kind])
    if not host_info:
        sections.pop('info', None)
    return probe_output(sections, bridges=bridges,
                        cmdline=XEN_DOM0_FILES['/proc/cmdline'] if host_info and 'info' in sections else None)


def ssh_host(argv):
    """The host an ssh argv connects to (the word after `--`)."""
    return argv[argv.index('--') + 1]


class FakeSsh(object):
    """Stands in for plugins/inventory/xen.run_ssh: answers per host (the word after `--`) with
    (rc, stdout, stderr), or raises what it is given; records every argv."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, timeout):
        assert isinstance(argv, list) and all(isinstance(word, str) for word in argv), argv
        assert 'BatchMode=yes' in argv
        assert not any(w.lower().startswith('stricthostkeychecking') for w in argv), argv
        assert argv[-1].startswith('sh -c ')
        self.calls.append(argv)
        answer = self.answers[ssh_host(argv)]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def script_of(argv):
    """The POSIX sh script an ssh argv runs on the dom0."""
    words = shlex.split(argv[-1])
    assert words[:2] == ['sh', '-c'] and len(words) == 3, words
    return words[2]


def write_stand_ins(folder, kind, neigh_rc=0):
    """Executables `xl` and `ip` in `folder` that answer as the captures of DOM0S[kind] (exit status as captured)."""
    sections = DOM0S[kind]
    cases = []
    for args, section in (('list -l', 'list_long'), ('list', 'list'), ('info', 'info')):
        if section in sections:
            capture_set, name = sections[section]
            stdout = shlex.quote(os.path.join(FIXTURES, capture_set, name + '.stdout'))
            cases.append('  "%s") cat %s; exit %d ;;' % (args, stdout, Capture(name, capture_set).rc))
    xl = '#!/bin/sh\ncase "$*" in\n%s\n  *) echo "unexpected: xl $*" >&2; exit 2 ;;\nesac\n' % '\n'.join(cases)
    capture_set, name = sections['neigh']
    ip = '#!/bin/sh\n[ "$*" = "-json neigh show" ] || exit 2\ncat %s\nexit %d\n' % (
        shlex.quote(os.path.join(FIXTURES, capture_set, name + '.stdout')), neigh_rc)
    for tool, text in (('xl', xl), ('ip', ip)):
        path = os.path.join(str(folder), tool)
        with open(path, 'w') as handle:
            handle.write(text)
        os.chmod(path, stat.S_IRWXU)
