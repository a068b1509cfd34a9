# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The repository's scripts that are not importable packages (benchmarks/*/run.py, .ci/*.py), loaded by path for
the unit tests that check them; such a test is skipped where the tree does not carry the script (the collection
tarball ships neither benchmarks/ nor .ci/)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_script(relpath, name):
    """The script at ROOT/relpath as module `name`; skips the calling test when the file is not in this tree."""
    path = os.path.join(ROOT, relpath)
    if not os.path.isfile(path):
        pytest.skip('%s is not in this tree' % relpath)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
