# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every variable a role defines carries the prefix xen_<role>_ (see .ansible-lint)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'roles', '*')) if os.path.isdir(p))


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def task_variables(tasks):
    """Names a task list defines: register, set_fact keys, loop_var, and those of nested blocks."""
    names = []
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        if 'register' in task:
            names.append(task['register'])
        for key in ('ansible.builtin.set_fact', 'set_fact'):
            if isinstance(task.get(key), dict):
                names.extend(k for k in task[key] if k != 'cacheable')
        if isinstance(task.get('vars'), dict):
            names.extend(task['vars'])
        loop_control = task.get('loop_control') or {}
        if 'loop_var' in loop_control:
            names.append(loop_control['loop_var'])
        for key in ('block', 'rescue', 'always'):
            names.extend(task_variables(task.get(key)))
    return names


def role_variables(role):
    base = os.path.join(ROOT, 'roles', role)
    names = []
    for path in glob.glob(os.path.join(base, 'defaults', '*.yml')) + glob.glob(os.path.join(base, 'vars', '*.yml')):
        names.extend((path, name) for name in load(path))
    spec_path = os.path.join(base, 'meta', 'argument_specs.yml')
    if os.path.exists(spec_path):
        for entry in (load(spec_path).get('argument_specs') or {}).values():
            names.extend((spec_path, name) for name in (entry.get('options') or {}))
    for path in glob.glob(os.path.join(base, 'tasks', '*.yml')) + glob.glob(os.path.join(base, 'handlers', '*.yml')):
        names.extend((path, name) for name in task_variables(load(path) or []))
    return names


def test_there_are_roles():
    assert ROLES, 'no roles found under %s' % os.path.join(ROOT, 'roles')


@pytest.mark.parametrize('role', ROLES)
def test_role_variables_are_prefixed(role):
    prefix = 'xen_%s_' % role
    wrong = ['%s: %s' % (os.path.relpath(path, ROOT), name) for path, name in role_variables(role)
             if not (name.lstrip('_').startswith(prefix) or name == prefix[:-1])]
    assert wrong == [], 'variables without the %s prefix: %s' % (prefix, wrong)
