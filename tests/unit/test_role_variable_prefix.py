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


INCLUDE_ROLE = ('ansible.builtin.include_role', 'include_role', 'ansible.builtin.import_role', 'import_role')


def included_role_prefix(task):
    """xen_<role>_ of the role of this collection that the task includes or imports, else None."""
    for key in INCLUDE_ROLE:
        if isinstance(task.get(key), dict) and task[key].get('name'):
            return 'xen_%s_' % str(task[key]['name']).rsplit('.', maxsplit=1)[-1]
    return None


def task_variables(tasks):
    """Names a task list defines: register, set_fact keys, loop_var, and those of nested blocks.

    The vars of a task that includes another role of the collection pass that role its arguments: those
    named with that role's prefix are the other role's variables, not new ones of this role.
    """
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
            passed = included_role_prefix(task)
            names.extend(k for k in task['vars'] if not (passed and k.startswith(passed)))
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


def test_arguments_passed_to_an_included_role_carry_its_prefix():
    tasks = [{'ansible.builtin.include_role': {'name': 'xenfleet.xen.migrations'},
              'vars': {'xen_migrations_moves': [], 'xen_evacuate_x': 1, 'other': 2}},
             {'ansible.builtin.debug': {}, 'vars': {'xen_migrations_moves': []}}]
    assert task_variables(tasks) == ['xen_evacuate_x', 'other', 'xen_migrations_moves']


def test_there_are_roles():
    assert ROLES, 'no roles found under %s' % os.path.join(ROOT, 'roles')


@pytest.mark.parametrize('role', ROLES)
def test_role_variables_are_prefixed(role):
    prefix = 'xen_%s_' % role
    wrong = ['%s: %s' % (os.path.relpath(path, ROOT), name) for path, name in role_variables(role)
             if not (name.lstrip('_').startswith(prefix) or name == prefix[:-1])]
    assert wrong == [], 'variables without the %s prefix: %s' % (prefix, wrong)
