# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release metadata agree with each other (issue 23): the supported ansible-core range (meta/runtime.yml)
with the roles' metadata, the execution environment's pin and the CI stacks; the execution environment files
with the way ansible-builder resolves their paths; the licence with galaxy.yml; every role README with its
role's argument specification."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, 'roles', '*')) if os.path.isdir(p))
EXAMPLE_EE = os.path.join(ROOT, 'docs', 'examples', 'execution-environment.yml')


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def lower_bound(spec):
    """(major, minor) of a '>=X.Y[.Z]' specifier; nothing else is expected in requires_ansible."""
    match = re.match(r'^>=\s*(\d+)\.(\d+)(\.\d+)?$', spec.strip())
    assert match, 'requires_ansible should be a plain lower bound, got %r' % spec
    return int(match.group(1)), int(match.group(2))


REQUIRED = lower_bound(load(os.path.join(ROOT, 'meta', 'runtime.yml'))['requires_ansible'])


def test_the_oldest_supported_core_is_the_oldest_one_ci_tests():
    """requires_ansible claims no ansible-core older than the oldest controller stack of the pipeline."""
    pipeline = os.path.join(ROOT, '.ci', 'pipeline.sh')
    if not os.path.exists(pipeline):
        pytest.skip('.ci/ is not shipped in the collection tarball')
    with open(pipeline) as handle:
        stacks = re.search(r'^ALL_STACKS="([^"]+)"', handle.read(), re.M).group(1).split()
    assert min(tuple(int(p) for p in s.split('.')) for s in stacks) == REQUIRED


@pytest.mark.parametrize('role', ROLES)
def test_role_metadata_names_the_same_minimum(role):
    meta = load(os.path.join(ROOT, 'roles', role, 'meta', 'main.yml'))
    assert meta['galaxy_info']['min_ansible_version'] == '%d.%d' % REQUIRED


def test_the_example_execution_environment_pins_the_supported_cores():
    core = load(EXAMPLE_EE)['dependencies']['ansible_core']['package_pip']
    assert core.replace(' ', '').startswith('ansible-core>=%d.%d' % REQUIRED)


def test_collection_ee_metadata_paths_are_relative_to_the_collection_root():
    """ansible-builder introspect joins these paths to the installed collection's root (not to meta/), so
    meta/execution-environment.yml is metadata only: a definition to build lives in docs/examples/."""
    meta = load(os.path.join(ROOT, 'meta', 'execution-environment.yml'))
    assert set(meta) <= {'version', 'dependencies'}
    assert set(meta['dependencies']) == {'python', 'system'}
    for path in meta['dependencies'].values():
        assert not os.path.isabs(path)
        assert os.path.isfile(os.path.join(ROOT, path)), path


def test_the_example_execution_environment_installs_this_collection_from_its_own_directory():
    """A definition's file paths are relative to its own directory; this one needs none, and installs the
    collection (whose meta/execution-environment.yml then adds the controller's needs)."""
    dependencies = load(EXAMPLE_EE)['dependencies']
    for key in ('python', 'system', 'galaxy'):
        if isinstance(dependencies.get(key), str):
            assert os.path.isfile(os.path.join(os.path.dirname(EXAMPLE_EE), dependencies[key])), key
    assert 'xenfleet.xen' in [c['name'] for c in dependencies['galaxy']['collections']]


def test_the_licence_text_ships_and_galaxy_yml_names_it_by_spdx():
    galaxy = load(os.path.join(ROOT, 'galaxy.yml'))
    with open(os.path.join(ROOT, 'COPYING')) as handle:
        head = handle.read(400)
    assert 'GNU GENERAL PUBLIC LICENSE' in head and 'Version 3, 29 June 2007' in head
    # galaxy.yml takes license (SPDX) or license_file, not both
    assert galaxy['license'] == ['GPL-3.0-or-later'] and 'license_file' not in galaxy
    assert 'COPYING' not in galaxy['build_ignore']
    assert {'docs/lab.md', 'docs/testing.md'} <= set(galaxy['build_ignore'])


@pytest.mark.parametrize('role', ROLES)
def test_every_role_readme_names_every_variable(role):
    """Every option of every entry point of a role's argument specification is named (`name`) in its README."""
    with open(os.path.join(ROOT, 'roles', role, 'README.md')) as handle:
        readme = handle.read()
    specs = load(os.path.join(ROOT, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs']
    missing = sorted(name for spec in specs.values() for name in (spec.get('options') or {}) if '`%s`' % name not in readme)
    assert missing == []
