# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running the stack's real ansible-playbook from the unit tests: the role tests render the roles' templates and
run their task files with the ansible-core being tested, not with a re-implementation of Jinja2's behaviour."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import subprocess
import sys

import pytest


def ansible_playbook():
    """ansible-playbook beside this Python (the stack's), else on PATH; the test is skipped (reported as skipped)
    when there is none."""
    found = shutil.which('ansible-playbook', path=os.path.dirname(sys.executable)) or shutil.which('ansible-playbook')
    if not found:
        pytest.skip('ansible-playbook is not installed beside this Python')
    return found


def quiet_env(**extra):
    """The environment for a test's ansible-playbook: no colour, retry files or localhost warnings."""
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
               ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='false', ANSIBLE_HOST_KEY_CHECKING='false')
    env.update(extra)
    return env


def render_json(work, playbook_text, timeout=300):
    """Run a localhost play (`playbook_text`) that writes JSON to the file named by the extra var `out`, with
    this Python as the interpreter; return that JSON. A failed run fails the test with the run's output."""
    work = str(work)
    playbook = os.path.join(work, 'play.yml')
    out = os.path.join(work, 'out.json')
    with open(playbook, 'w') as handle:
        handle.write(playbook_text)
    proc = subprocess.run([ansible_playbook(), '-i', 'localhost,', playbook, '-e', 'out=%s' % out,
                           '-e', 'ansible_python_interpreter=%s' % sys.executable],
                          cwd=work, env=quiet_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    with open(out) as handle:
        return json.load(handle)
