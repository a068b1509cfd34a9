# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One declaration per guest option (plugins/module_utils/_options.py), and everything that repeats it
agrees with it: xen_domain's DOCUMENTATION (with its doc fragments), the guests role's task (it passes
every option of the module) and the role's meta/argument_specs.yml (it documents every per-guest option,
with the module's type and choices)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.xenfleet.xen.plugins.doc_fragments.xl import ModuleDocFragment
from ansible_collections.xenfleet.xen.plugins.module_utils import _domain as dom
from ansible_collections.xenfleet.xen.plugins.module_utils import _options
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.modules import xen_domain, xen_domain_info, xen_domains, xen_wait_ssh

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, 'roles', 'guests')
# Options the role sets for all guests from its own variables, not per guest.
ROLE_WIDE = {'config_dir': 'xen_guests_config_dir', 'autostart_dir': 'xen_guests_autostart_dir'}
# Per-guest options whose default is a role variable rather than the module's default.
ROLE_DEFAULTS = {'apply': 'xen_guests_apply', 'command_timeout': 'xen_guests_command_timeout'}
# Per-guest keys of the role alone (provisioning, roles/guests/templates/plan.json.j2): the module never sees them.
ROLE_ONLY = {'cloud_init': 'xen_cloud_init', 'address': None}
# Keys of a disk that make the role create it with xen_disk (role key -> xen_disk option).
ROLE_ONLY_DISK = {'size': 'size', 'source': 'source', 'clone': 'clone', 'backend': 'backend', 'vg': 'vg', 'lv': 'name',
                  'thin_pool': 'thin_pool'}


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


class Captured(Exception):
    pass


def argument_spec(module, monkeypatch):
    """The argument spec the module's main() gives AnsibleModule."""
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        raise Captured()

    monkeypatch.setattr(module, 'AnsibleModule', fake)
    with pytest.raises(Captured):
        module.main()
    return seen['argument_spec']


def documented_options(module):
    """The module's options from its DOCUMENTATION and the doc fragments it extends."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for fragment in doc.get('extends_documentation_fragment') or []:
        parts = fragment.split('.')
        assert parts[:3] == ['xenfleet', 'xen', 'xl'], fragment
        text = getattr(ModuleDocFragment, parts[3].upper() if len(parts) > 3 else 'DOCUMENTATION')
        options.update(yaml.safe_load(text).get('options') or {})
    for name, option in (doc.get('options') or {}).items():
        assert name not in options, '%s is documented by the module and by a doc fragment' % name
        options[name] = option
    return options


def normalized(options, nested='options', with_defaults=True):
    """name -> the facts an argument spec and its documentation must share."""
    result = {}
    for name, option in options.items():
        option = option or {}
        facts = {
            'type': option.get('type', 'str'),
            'elements': option.get('elements'),
            'required': bool(option.get('required')),
            'choices': list(option['choices']) if option.get('choices') is not None else None,
            'aliases': sorted(option.get('aliases') or []),
            'no_log': bool(option.get('no_log')),
        }
        if with_defaults:
            facts['default'] = option.get('default')
        sub = option.get(nested)
        facts['options'] = normalized(sub, nested, with_defaults) if sub else None
        result[name] = facts
    return result


def without_no_log(facts):
    # module documentation has no no_log (it says so in the text); compare everything else
    result = {}
    for name, fact in facts.items():
        fact = dict(fact, no_log=None)
        if fact['options']:
            fact['options'] = without_no_log(fact['options'])
        result[name] = fact
    return result


# -- (a) the module's documentation is its argument spec ------------------------------------------

@pytest.mark.parametrize('module', [xen_domain, xen_domain_info, xen_domains, xen_wait_ssh],
                         ids=lambda m: m.__name__.split('.')[-1])
def test_documentation_equals_argument_spec(module, monkeypatch):
    spec = without_no_log(normalized(argument_spec(module, monkeypatch)))
    docs = without_no_log(normalized(documented_options(module), nested='suboptions'))
    assert sorted(docs) == sorted(spec)
    for name in spec:
        assert docs[name] == spec[name], name


def test_xen_domain_spec_comes_from_the_one_declaration(monkeypatch):
    spec = argument_spec(xen_domain, monkeypatch)
    for name, option in _options.XEN_DOMAIN.items():
        assert spec[name] == option, name
    # choices come from the pure rooms, not from copies
    assert spec['type']['choices'] == list(dom.TYPES)
    assert spec['state']['choices'] == list(dom.STATES)
    assert spec['apply']['choices'] == list(dom.APPLY_MODES)
    assert all(spec[k]['choices'] == list(dom.ACTIONS) for k in ('on_poweroff', 'on_reboot', 'on_crash'))
    disk = spec['disks']['options']
    assert (disk['format']['choices'], disk['access']['choices'], disk['backendtype']['choices']) == (
        list(xlcfg.DISK_FORMATS), list(xlcfg.DISK_ACCESS), list(xlcfg.DISK_BACKENDS))
    assert spec['vifs']['options']['type']['choices'] == list(xlcfg.VIF_TYPES)
    # the guest declaration is what _domain renders and compares; no module option is left out of both
    assert set(_options.GUEST_KEYS) | set(_options.GUEST_RUN) <= set(spec)
    rendered = set(dom.MODELLED_KEYS) - {'disk', 'vif'} | {'disks', 'vifs', 'extra'}
    assert set(_options.GUEST_KEYS) == rendered


def test_xen_domains_entries_are_xen_domains_options(monkeypatch):
    """An entry of xen_domains' `domains` takes every option of xen_domain, the same declaration, except those of
    the run (the files' directories, the xl command, the host lock); command_timeout defaults to the run's."""
    single = argument_spec(xen_domain, monkeypatch)
    many = argument_spec(xen_domains, monkeypatch)
    run_wide = {'config_dir', 'autostart_dir', 'xl_path', 'lock_timeout'}
    entry = many['domains']['options']
    assert sorted(entry) == sorted(set(single) - run_wide)
    for name, option in entry.items():
        if name == 'command_timeout':
            assert option == {'type': 'int'} and many['command_timeout'] == single['command_timeout']
        else:
            assert option == single[name], name
    assert sorted(many) == sorted(run_wide | {'domains', 'command_timeout'})


# -- (b) the role's task passes every option of the module -----------------------------------------

def converge_task():
    tasks = load(os.path.join(ROLE, 'tasks', 'converge_each.yml'))
    step_guests = "{{ xen_guests_plan.guests | selectattr('name', 'in', xen_guests_step.guests) | list }}"
    found = [t for t in tasks if 'xenfleet.xen.xen_domain' in t and t.get('loop') == step_guests]
    assert len(found) == 1, 'the role has one xen_domain task looping over the planned guests of the step'
    assert found[0]['vars'] == {'xen_guests_guest': '{{ xen_guests_item.domain }}'}
    assert found[0]['register'] == 'xen_guests_result'
    return found[0]['xenfleet.xen.xen_domain']


def one_call_task():
    main = load(os.path.join(ROLE, 'tasks', 'main.yml'))
    assert [t for t in main if 'xenfleet.xen.xen_domains' in t] == []
    steps = [t for t in main if t.get('ansible.builtin.include_tasks') == 'converge_step.yml']
    assert len(steps) == 1 and steps[0]['loop'] == '{{ __xen_guests_order.steps }}'
    assert steps[0]['loop_control']['loop_var'] == 'xen_guests_step'
    tasks = load(os.path.join(ROLE, 'tasks', 'converge_step.yml'))
    found = [t for t in tasks if 'xenfleet.xen.xen_domains' in t]
    assert len(found) == 1, 'the role has one xen_domains task'
    include = [t for t in tasks if t.get('ansible.builtin.include_tasks') == 'converge_each.yml']
    assert len(include) == 1 and include[0]['when'] == 'not xen_guests_one_call | bool'
    assert found[0]['when'].startswith('xen_guests_one_call | bool and ')
    return found[0]['xenfleet.xen.xen_domains']


def test_role_one_call_task_passes_the_run_wide_options_and_each_guest_as_planned(monkeypatch):
    """The xen_domains task: the role-wide options as the per-guest task passes them, the run's xl_path and
    lock_timeout from the plan, each guest as its plan's `entry` (templates/plan.json.j2 builds it from the same
    domain the per-guest task reads, test_guests_role_plan.py checks it); every per-guest key but those of the run is
    an option of an entry."""
    args = one_call_task()
    spec = argument_spec(xen_domains, monkeypatch)
    assert sorted(args) == sorted(spec)
    for option, variable in ROLE_WIDE.items():
        assert args[option] == '{{ %s }}' % variable
    assert args['command_timeout'] == '{{ xen_guests_command_timeout }}'
    assert args['xl_path'] == '{{ xen_guests_plan.one_call.xl_path | default(omit, true) }}'
    assert args['lock_timeout'] == '{{ xen_guests_plan.one_call.lock_timeout | default(omit, true) }}'
    assert ' '.join(args['domains'].split()) == (
        "{{ xen_guests_plan.guests | selectattr('name', 'in', xen_guests_step.guests) "
        "| rejectattr('name', 'in', xen_guests_unmade) | map(attribute='entry') | list }}")
    run_wide = {'xl_path', 'lock_timeout'}
    assert per_guest_keys(converge_task()) - run_wide == set(spec['domains']['options'])


def per_guest_keys(args):
    """The options a guest sets: those the task takes from xen_guests_guest.<option>."""
    keys = set()
    for option, value in args.items():
        used = re.findall(r'xen_guests_guest\.(\w+)', str(value))
        assert set(used) <= {option}, '%s reads another key of the guest: %s' % (option, value)
        if used:
            keys.add(option)
    return keys


def test_role_task_passes_every_module_option(monkeypatch):
    args = converge_task()
    spec = argument_spec(xen_domain, monkeypatch)
    assert sorted(args) == sorted(spec)
    for option, variable in ROLE_WIDE.items():
        assert args[option] == '{{ %s }}' % variable
    for option, value in args.items():
        if option in ROLE_WIDE or option == 'name':
            continue
        default = 'default(%s)' % ROLE_DEFAULTS.get(option, 'omit')
        assert value == '{{ xen_guests_guest.%s | %s }}' % (option, default), option
    assert per_guest_keys(args) == set(spec) - set(ROLE_WIDE)


# -- (c) the role's argument spec documents every per-guest option ---------------------------------

def role_options():
    return load(os.path.join(ROLE, 'meta', 'argument_specs.yml'))['argument_specs']['main']['options']


@pytest.mark.parametrize('variable', ['xen_guests', 'xen_guests_defaults'])
def test_role_argument_spec_documents_every_per_guest_option(variable, monkeypatch):
    spec = argument_spec(xen_domain, monkeypatch)
    keys = per_guest_keys(converge_task())
    if variable == 'xen_guests_defaults':
        keys.discard('name')
    documented = dict(role_options()[variable]['options'])
    assert set(ROLE_ONLY) <= set(documented)
    documented = dict((k, v) for k, v in documented.items() if k not in ROLE_ONLY)
    documented['disks'] = dict(documented['disks'], options=dict(
        (k, v) for k, v in documented['disks']['options'].items() if k not in ROLE_ONLY_DISK))
    assert sorted(documented) == sorted(keys)
    module = normalized(dict((k, spec[k]) for k in keys), with_defaults=False)
    role = normalized(documented, with_defaults=False)
    for name in keys:
        assert role[name] == module[name], name
        assert documented[name].get('description'), name
        if name in ROLE_DEFAULTS:
            assert 'default' not in documented[name] and ROLE_DEFAULTS[name] in documented[name]['description']
        else:
            assert documented[name].get('default') == spec[name].get('default'), name


def test_role_wide_variables_match_the_module():
    assert role_options()['xen_guests_one_call'] == dict(role_options()['xen_guests_one_call'], type='bool', default=True)
    options = role_options()
    for option, variable in ROLE_WIDE.items():
        assert options[variable]['default'] == _options.XEN_DOMAIN[option]['default']
    assert options['xen_guests_apply']['choices'] == list(dom.APPLY_MODES)
    assert options['xen_guests_apply']['default'] == _options.XEN_DOMAIN['apply']['default']
    defaults = load(os.path.join(ROLE, 'defaults', 'main.yml'))
    for name, option in options.items():
        assert defaults[name] == option.get('default'), name


def validate_role_vars(values):
    options = role_options()
    result = ArgumentSpecValidator(options).validate(values, validate_role_argument_spec=True)
    return result.error_messages


def test_role_argument_spec_accepts_the_lab_guests():
    guests = load(os.path.join(ROOT, 'molecule', 'guests', 'vars', 'main.yml'))
    faults = load(os.path.join(ROOT, 'molecule', 'faults', 'vars', 'main.yml'))
    items = [guests[k] for k in ('guests_pv', 'guests_pvh', 'guests_hvm', 'guests_net')]
    assert validate_role_vars({'xen_guests': items, 'xen_guests_defaults': faults['faults_guest']}) == []


@pytest.mark.parametrize('values,fragment', [
    ({'xen_guests': [{'name': 'g1', 'memroy': 128}]}, 'memroy'),
    ({'xen_guests': [{'memory': 128}]}, 'name'),
    ({'xen_guests': [{'name': 'g1', 'type': 'xen'}]}, 'type'),
    ({'xen_guests_defaults': {'on_crash': 'reboot'}}, 'on_crash'),
    ({'xen_guests': [{'name': 'g1', 'disks': [{'vdev': 'xvda', 'format': 'iso'}]}]}, 'format'),
])
def test_role_argument_spec_refuses_unknown_or_wrong_guest_keys(values, fragment):
    errors = validate_role_vars(values)
    assert errors and any(fragment in e for e in errors), errors


def test_role_only_keys_are_those_of_the_provisioning_modules(monkeypatch):
    """A disk's storage keys are xen_disk's options, cloud_init's keys xen_cloud_init's (same type and choices)."""
    from ansible_collections.xenfleet.xen.plugins.modules import xen_cloud_init, xen_disk
    guest = role_options()['xen_guests']['options']
    disk_spec = argument_spec(xen_disk, monkeypatch)
    disk = guest['disks']['options']
    role = normalized(dict((k, disk[k]) for k in ROLE_ONLY_DISK), with_defaults=False)
    module = normalized(dict((k, disk_spec[v]) for k, v in ROLE_ONLY_DISK.items()), with_defaults=False)
    for key in ROLE_ONLY_DISK:
        assert role[key] == module[key], key
    seed_spec = argument_spec(xen_cloud_init, monkeypatch)
    seed = guest['cloud_init']['options']
    shared = set(seed) - {'vdev'}
    assert shared <= set(seed_spec)
    role = normalized(dict((k, seed[k]) for k in shared), with_defaults=False)
    module = normalized(dict((k, seed_spec[k]) for k in shared), with_defaults=False)
    module['path']['required'] = False  # the role has a default path per guest
    assert role == module


def readme_yaml_blocks(path, heading):
    """The YAML code blocks of one section (`## <heading>...`) of a Markdown file, parsed."""
    with open(path) as handle:
        text = handle.read()
    start = text.index('\n## ' + heading)
    end = text.find('\n## ', start + 4)
    section = text[start:end if end > 0 else len(text)]
    return [yaml.safe_load(block) for block in re.findall(r'\n```yaml\n(.*?)\n```', section, re.S)]


def test_the_readme_quick_start_declares_guests_the_role_accepts():
    """The README's quick start (group variables for xenfleet.xen.site: image + storage + cloud-init + guest) passes
    the role's argument spec."""
    blocks = [b for b in readme_yaml_blocks(os.path.join(ROOT, 'README.md'), 'Quick start') if isinstance(b, dict) and 'xen_guests' in b]
    assert len(blocks) == 1
    values = dict((k, v) for k, v in blocks[0].items() if k.startswith('xen_guests'))
    assert validate_role_vars(values) == []
    guest = values['xen_guests'][0]
    assert guest['disks'][0]['source'].endswith('debian-12-genericcloud-amd64.qcow2') and 'cloud_init' in guest


@pytest.mark.parametrize('path,heading', [
    ('README.md', 'In a playbook of your own'),
    (os.path.join('roles', 'guests', 'README.md'), 'Example'),
])
def test_the_readme_plays_declare_guests_the_role_accepts(path, heading):
    """The plays of the README and of the role's README that run the role pass its argument spec."""
    plays = [p for b in readme_yaml_blocks(os.path.join(ROOT, path), heading) if isinstance(b, list) for p in b]
    calls = [t['vars'] for p in plays for t in p.get('tasks', []) if t.get('ansible.builtin.include_role', {}).get('name') == 'xenfleet.xen.guests']
    calls += [r['vars'] for p in plays for r in p.get('roles', []) if isinstance(r, dict) and r.get('role') == 'xenfleet.xen.guests']
    assert len(calls) == 1
    assert validate_role_vars(dict(calls[0])) == []
    assert any('cloud_init' in g for g in calls[0]['xen_guests'])
