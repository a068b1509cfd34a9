# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _domain as dom
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

BASE = {'name': 'pv1', 'type': 'pv', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4,
        'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet'}


def live_pv1():
    entries = parse.parse_list_long(Capture('xl_list_l_three_guests').stdout)
    rows = parse.parse_list(Capture('xl_list_three_guests').stdout)
    return [d for d in parse.merge_domains(entries, rows) if d['name'] == 'pv1'][0]


def test_render_is_deterministic_and_parses_back():
    text = dom.render_config(BASE)
    assert text == dom.render_config(dict(BASE))
    data = xlcfg.parse(text)
    assert data == {'name': 'pv1', 'type': 'pv', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4,
                    'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet'}
    assert text.startswith('# Managed by Ansible')


def test_extra_keys_sorted_after_modelled():
    text = dom.render_config(dict(BASE, extra={'zz': 1, 'cpu_weight': 512, 'tags': ['a', 'b']}))
    keys = [line.split(' = ')[0] for line in text.splitlines() if ' = ' in line]
    assert keys[-3:] == ['cpu_weight', 'tags', 'zz']


def action(change):
    """The xl call that applies a live change (Change carries the intent; _lifecycle builds the call)."""
    return lifecycle.live_change_args('pv1', change)


def test_compare_no_change():
    assert dom.compare_live(BASE, live_pv1()) == []


def test_compare_classifies_live_and_restart():
    spec = dict(BASE, memory=200, vcpus=3, maxvcpus=6, cmdline='console=hvc0')
    changes = dict((c.key, c) for c in dom.compare_live(spec, live_pv1()))
    assert changes['memory'].how == 'live' and action(changes['memory']) == ['mem-set', 'pv1', '200m']
    assert changes['vcpus'].how == 'live' and action(changes['vcpus']) == ['vcpu-set', '--ignore-host', 'pv1', '3']
    assert changes['maxvcpus'].how == 'restart' and changes['maxvcpus'].before == 4
    assert changes['cmdline'].how == 'restart'


def test_compare_beyond_static_limits_needs_restart():
    spec = dict(BASE, memory=512, maxmem=None, vcpus=4)
    changes = dict((c.key, c) for c in dom.compare_live(spec, live_pv1()))
    assert changes['memory'].how == 'restart' and changes['maxmem'].how == 'restart'
    assert changes['vcpus'].how == 'live'


def test_compare_disks_and_vifs_live_for_pv():
    spec = dict(BASE, disks=[{'target': '/srv/d.img', 'vdev': 'xvdb'}], vifs=[{'bridge': 'xenbr0'}])
    changes = dom.compare_live(spec, live_pv1())
    assert [(c.key, c.how, action(c)) for c in changes] == [
        ('disks', 'live', ['block-attach', 'pv1', 'format=raw, vdev=xvdb, access=rw, target=/srv/d.img']),
        ('vifs', 'live', ['network-attach', 'pv1', 'bridge=xenbr0']),
    ]


def test_compare_file_only_keys():
    spec = dict(BASE)
    before = dom.render_config(dict(BASE, extra={'cpu_weight': 256}))
    after = dom.render_config(dict(BASE, extra={'cpu_weight': 512}))
    changes = dom.compare_live(spec, live_pv1(), before, after)
    assert [(c.key, c.before, c.after, c.how) for c in changes] == [('cpu_weight', 256, 512, 'restart')]


def test_redact():
    text = dom.render_config({'name': 'h', 'type': 'hvm', 'vnc': True, 'vncpasswd': 'pw', 'vnclisten': '127.0.0.1'})
    assert 'pw' in text and '"pw"' not in dom.redact(text) and 'vncpasswd = "********"' in dom.redact(text)


@pytest.mark.parametrize('host,fragment', [
    ({'total_memory_mb': 64}, 'more than this host has'),
    ({'total_memory_mb': 4096, 'hvm': False, 'virt_caps': ['pv']}, 'need hardware virtualization'),
])
def test_host_checks(host, fragment):
    spec = dict(BASE, type='pvh') if 'hvm' in host else dict(BASE)
    with pytest.raises(dom.InvalidSpec) as exc:
        dom.validate(spec, host=host)
    assert fragment in exc.value.msg


class FakeClient(object):
    """Answers xl calls from a script of (args, (rc, out, err)), like module.run_command would."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.timeout = 60

    def run(self, args, mutating=False, timeout=None, check=True, data=None):
        want, (rc, out, err) = self.steps.pop(0)
        assert args == want, (args, want)
        result = _xl.XlResult(['/usr/sbin/xl'] + args, rc, out, err)
        if check and rc:
            raise _xl.classify_failure(result.cmd, rc, out, err)
        return result

    def list_rows(self, name=None):
        res = self.run(['list', name])
        return parse.parse_list(res.stdout)


def cap(name, capture_set=None):
    c = Capture(name, capture_set) if capture_set else Capture(name)
    return (c.rc, c.stdout, c.stderr)


def test_destroy_racing_xl_monitor_is_done_when_domain_is_gone(monkeypatch):
    monkeypatch.setattr(lifecycle.time, 'sleep', lambda s: None)
    race = cap('err_destroy_race_hvm', 'xen-4.17.5-lab-guests')
    client = FakeClient([(['destroy', 'hvm1'], race), (['list', 'hvm1'], cap('err_list_unknown_name'))])
    lifecycle.destroy(client, 'hvm1')
    assert client.steps == []


def test_destroy_failing_while_domain_stays_is_reported(monkeypatch):
    ticks = iter(range(0, 1000, 10))
    monkeypatch.setattr(lifecycle.time, 'sleep', lambda s: None)
    monkeypatch.setattr(lifecycle.time, 'time', lambda: next(ticks))
    race = cap('err_destroy_race_hvm', 'xen-4.17.5-lab-guests')
    still = cap('xl_list_three_guests')
    client = FakeClient([(['destroy', 'pv1'], race)] + [(['list', 'pv1'], still)] * 4)
    with pytest.raises(_xl.XlCommandError) as exc:
        lifecycle.destroy(client, 'pv1')
    assert 'destroy failed (rc=-15)' in exc.value.stderr
    assert exc.value.msg == '`/usr/sbin/xl destroy pv1` failed with exit code 1: destroy failed (rc=-15)'


@pytest.mark.parametrize('text', ['all', 'none', '', '0', '0-3,5', '^1', '^0,^2', '0-7,^3', 'node:0', 'nodes:0-1',
                                  '^node:1', '0, 2', '12345'])
def test_cpu_lists_in_xl_syntax_pass_without_host_facts(text):
    assert parse.cpulist_problem(text) is None
    dom.validate(dict(BASE, cpus=text, cpus_soft=text))


@pytest.mark.parametrize('text,fragment', [
    ('0-3 5', "'0-3 5' is not a CPU number or range"),
    ('3-1', "'3-1' is an empty range"),
    ('1-', "'1-' is not a CPU number or range"),
    ('^', "'' is not a CPU number or range"),
    ('nodes:', "'' is not a node number or range"),
    ('node:a', "'a' is not a node number or range"),
    ('cpu0', "'cpu0' is not a CPU number or range"),
    ('-1', "'-1' is not a CPU number or range"),
])
def test_cpu_lists_not_in_xl_syntax(text, fragment):
    assert parse.cpulist_problem(text) == fragment
    for key in ('cpus', 'cpus_soft'):
        with pytest.raises(dom.InvalidSpec) as exc:
            dom.validate(dict(BASE, **{key: text}))
        assert exc.value.param == key and fragment in exc.value.msg


def test_cpu_list_syntax_mode_leaves_host_checks_to_the_host():
    # the same grammar: what only the host can say (does CPU 7 / node 3 exist?) is checked with its facts
    assert parse.cpulist_problem('7') is None and parse.cpulist_problem('node:3') is None
    with pytest.raises(ValueError) as exc:
        parse.parse_cpulist('7', 4)
    assert str(exc.value) == 'CPU 7 does not exist on this host (it has 4: 0-3)'
    with pytest.raises(ValueError) as exc:
        parse.parse_cpulist('node:3', 4, {0: {0, 1}, 1: {2, 3}})
    assert str(exc.value) == 'node 3 does not exist on this host (nodes: 0, 1)'
    assert parse.parse_cpulist('0-3,^1', 4) == frozenset([0, 2, 3])
