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

from ansible_collections.xenfleet.xen.tests.unit.script_loader import load_script

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


def pipeline_text():
    pipeline = os.path.join(ROOT, '.ci', 'pipeline.sh')
    if not os.path.exists(pipeline):
        pytest.skip('.ci/ is not shipped in the collection tarball')
    with open(pipeline) as handle:
        return handle.read()


def ci_stacks(text):
    """The pipeline's controller stacks, as (major, minor) tuples."""
    stacks = re.search(r'^ALL_STACKS="([^"]+)"', text, re.M).group(1).split()
    return sorted(tuple(int(p) for p in s.split('.')) for s in stacks)


def test_the_oldest_supported_core_is_the_oldest_one_ci_tests():
    """requires_ansible claims no ansible-core older than the oldest controller stack of the pipeline."""
    assert ci_stacks(pipeline_text())[0] == REQUIRED


def test_ci_tests_every_core_release_between_the_oldest_and_the_newest():
    """requires_ansible admits every ansible-core from it on: no minor release up to the newest stack is left
    untested (2.20 was, while CI ran 2.19 and 2.21 only)."""
    stacks = ci_stacks(pipeline_text())
    assert stacks == [(REQUIRED[0], minor) for minor in range(REQUIRED[1], stacks[-1][1] + 1)]


def test_every_stack_has_its_python_and_its_core_pin():
    """Each stack names its Python and pins its own ansible-core minor release; the newest stack is the last."""
    text = pipeline_text()
    stacks = ci_stacks(text)
    python_cases = re.search(r'^stack_python\(\) \{ case \$1 in (.*?) esac; \}', text, re.M).group(1)
    for major, minor in stacks:
        assert re.search(r'\b%d\.%d\) echo 3\.\d+ ;;' % (major, minor), python_cases), (major, minor)
        assert "%d.%d) echo 'ansible-core>=%d.%d,<%d.%d'" % (major, minor, major, minor, major, minor + 1) in text
    assert re.search(r'^NEWEST_STACK=(\S+)$', text, re.M).group(1) == '%d.%d' % stacks[-1]


@pytest.mark.parametrize('role', ROLES)
def test_role_metadata_names_the_same_minimum(role):
    meta = load(os.path.join(ROOT, 'roles', role, 'meta', 'main.yml'))
    assert meta['galaxy_info']['min_ansible_version'] == '%d.%d' % REQUIRED


def test_the_example_execution_environment_pins_the_supported_cores():
    core = load(EXAMPLE_EE)['dependencies']['ansible_core']['package_pip']
    assert core.replace(' ', '').startswith('ansible-core>=%d.%d' % REQUIRED)


def test_the_example_execution_environment_admits_no_core_newer_than_ci_tests():
    core = load(EXAMPLE_EE)['dependencies']['ansible_core']['package_pip'].replace(' ', '')
    newest = ci_stacks(pipeline_text())[-1]
    assert core == 'ansible-core>=%d.%d,<%d.%d' % (REQUIRED + (newest[0], newest[1] + 1))


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


def version_added_of_content():
    """{'modules/xen_domain': '1.0.0', 'roles/guests': '1.0.0', ...}: the version_added of every module, plugin and
    role (a role's main entry point), None where it is missing - as the pipeline's changelog check reads them
    (.ci/changelog_new_content.py, one reader for both)."""
    reader = load_script(os.path.join('.ci', 'changelog_new_content.py'), 'changelog_new_content')
    return dict(('%s/%s' % (ptype, name), version) for _category, ptype, name, version in reader.documented(ROOT))


def version_key(version):
    return tuple(int(part) for part in str(version).split('.'))


def test_new_content_names_the_one_release_it_first_ships_in():
    """antsibull-changelog lists a module, plugin or role as new in the release its version_added names (no
    fragment announces them): each has one, either a release the changelog records or the single next release,
    which is newer than every recorded one and not older than galaxy.yml's version."""
    content = version_added_of_content()
    assert content, 'no modules, plugins or roles found'
    assert sorted(name for name, version in content.items() if not version) == []
    released = set(load(os.path.join(ROOT, 'changelogs', 'changelog.yaml')).get('releases') or {})
    unreleased = set(str(version) for version in content.values()) - released
    assert len(unreleased) <= 1, 'version_added names several unreleased versions: %s' % sorted(unreleased)
    for version in unreleased:
        assert all(version_key(version) > version_key(r) for r in released)
        assert version_key(version) >= version_key(load(os.path.join(ROOT, 'galaxy.yml'))['version'])


def test_no_fragment_announces_a_new_module_plugin_or_role():
    """The changelog's New Modules / Plugins / Roles sections come from version_added; a fragment saying
    'new module' (or plugin, role) repeats them, as the community collections' changelogs avoid."""
    pattern = re.compile(r'\bnew (module|(inventory |lookup |filter |callback |connection )?plugin|role)\b', re.I)
    offenders = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'changelogs', 'fragments', '*.y*ml'))):
        for section, entries in load(path).items():
            for entry in entries if isinstance(entries, list) else []:
                if pattern.search(entry):
                    offenders.append('%s (%s): %s' % (os.path.basename(path), section, entry[:80]))
    assert offenders == []
