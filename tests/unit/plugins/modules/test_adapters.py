# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Modules are adapters: documentation, an argument spec and main(). Their verbs live in module_utils
(docs/architecture.md); a function or class in a module file is a verb in the wrong room."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ast
import os

import pytest

MODULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'plugins', 'modules')
NAMES = sorted(n for n in os.listdir(MODULES) if n.endswith('.py') and not n.startswith('_'))


@pytest.mark.parametrize('name', NAMES)
def test_a_module_file_defines_main_only(name):
    with open(os.path.join(MODULES, name)) as handle:
        tree = ast.parse(handle.read())
    defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert defined == ['main']


@pytest.mark.parametrize('name', NAMES)
def test_main_is_short(name):
    with open(os.path.join(MODULES, name)) as handle:
        tree = ast.parse(handle.read())
    main = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == 'main'][0]
    # an argument spec and a call; xen_balance's spec is long, its logic is not
    assert main.end_lineno - main.lineno < 50
