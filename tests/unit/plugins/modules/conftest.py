# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures shared by the module tests."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle
from ansible_collections.xenfleet.xen.plugins.modules import xen_domain
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setattr(_converge_domain.Converger, 'path_exists', staticmethod(lambda path: True))
    monkeypatch.setattr(_lifecycle.time, 'sleep', lambda s: None)
    etc = tmp_path / 'xen'
    etc.mkdir()
    save = tmp_path / 'save'  # never the machine's /var/lib/xen/save

    def run(args, steps):
        full = dict(config_dir=str(etc), autostart_dir=str(etc / 'auto'), save_dir=str(save))
        full.update(args)
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_domain.main, full, script)
        return result, failed, script

    run.etc = etc
    run.save = save
    return run
