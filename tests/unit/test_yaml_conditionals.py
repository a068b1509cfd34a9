# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every conditional in the collection's playbooks, roles and scenarios is a string (or a boolean).

An unquoted condition that contains ': ' - `- x is search('a: b')` - is a YAML mapping, not a string;
ansible-lint and the syntax check accept it and ansible-core fails only when the task runs ("Conditional
expressions must be strings"), which in a Molecule scenario can be 30 minutes in (seen in the fleet
scenario, 2026-11-27).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONDITION_KEYS = ('when', 'changed_when', 'failed_when', 'until', 'that')
YAML_FILES = sorted(
    p for d in ('roles', 'playbooks', 'molecule', 'tests/lab', 'benchmarks')
    for p in glob.glob(os.path.join(ROOT, d, '**', '*.yml'), recursive=True)
)


def bad_conditions(node, where=''):
    """(path, value) of every condition that is neither a string nor a boolean."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = '%s/%s' % (where, key)
            if key in CONDITION_KEYS:
                for item in value if isinstance(value, list) else [value]:
                    if not isinstance(item, (str, bool)):
                        found.append((here, item))
            found.extend(bad_conditions(value, here))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(bad_conditions(item, '%s[%d]' % (where, index)))
    return found


def test_the_check_finds_an_unquoted_colon():
    tasks = yaml.safe_load("- assert:\n    that:\n      - x is search('a: b')\n      - y == 1\n")
    assert bad_conditions(tasks) == [('[0]/assert/that', {"x is search('a": "b')"})]
    assert bad_conditions(yaml.safe_load('- debug: {}\n  when: true\n')) == []


def test_there_are_files_to_check():
    assert len(YAML_FILES) > 50


@pytest.mark.parametrize('path', YAML_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_conditions_are_strings(path):
    with open(path) as handle:
        documents = list(yaml.safe_load_all(handle))
    assert bad_conditions(documents) == []
