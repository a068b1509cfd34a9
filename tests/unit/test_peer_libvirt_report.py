# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""benchmarks/peer_libvirt/run.py's summary: medians and ratios per operation, a run cut short, and the verdicts
its exit code carries (a no-op that changed something; our check mode predicting a change on matching guests,
while the peer's predictions are only reported). The rows are the benchmark's own records, made by hand here."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.xenfleet.xen.tests.unit.script_loader import load_script


@pytest.fixture(scope='module')
def bench():
    return load_script(os.path.join('benchmarks', 'peer_libvirt', 'run.py'), 'xenfleet_peer_bench')


def row(variant, op, seconds, changed=0, calls=2, rnd=0, guests=1):
    tasks = 2 if variant == 'virt' and op != 'memory' else 1
    return {'round': rnd, 'variant': variant, 'guests': guests, 'op': op, 'seconds': seconds,
            'tasks_per_guest': tasks, 'changed': changed, 'calls': calls}


def full_run(bench, check_changed=None, noop_changed=None):
    """One round of N=1: every variant, every operation; ours twice as fast as the peer on each."""
    check_changed = check_changed or {}
    noop_changed = noop_changed or {}
    rows = []
    for op in bench.OPS:
        for variant in bench.VARIANTS:
            seconds = 8.0 if variant == 'virt' else 4.0
            changed = {'check': check_changed, 'noop': noop_changed}.get(op, {}).get(variant, 1 if op in (
                'create', 'memory', 'remove') else 0)
            rows.append(row(variant, op, seconds, changed=changed))
    return rows


def test_ratios_per_operation(bench):
    rows = full_run(bench) + [row('xen_domain', 'noop', 2.0, rnd=1), row('xen_domains', 'noop', 6.0, rnd=1),
                              row('virt', 'noop', 4.0, rnd=1)]
    table = {e['op']: e for e in bench.summarize(rows)}
    assert list(table) == list(bench.OPS)
    assert table['create']['ratio_xen_domain'] == pytest.approx(0.5)
    # medians of two rounds: ours (4, 2) -> 3, (4, 6) -> 5; theirs (8, 4) -> 6
    assert table['noop']['ratio_xen_domain'] == pytest.approx(0.5)
    assert table['noop']['ratio_xen_domains'] == pytest.approx(5.0 / 6.0)
    assert table['noop']['ratio_xen_domain_rounds'] == pytest.approx([0.5, 0.5])
    assert table['noop']['ratio_xen_domains_rounds'] == pytest.approx([0.5, 1.5])


def test_an_operation_not_measured_for_every_variant_is_left_out(bench):
    rows = [r for r in full_run(bench) if not (r['op'] == 'remove' and r['variant'] == 'virt')]
    assert [e['op'] for e in bench.summarize(rows)] == ['create', 'noop', 'check', 'memory']


def test_the_peer_predicting_a_change_is_reported_not_failed(bench, capsys):
    rows = full_run(bench, check_changed={'virt': 1})
    assert bench.report(rows, [1], [1], None) == 0
    out = capsys.readouterr().out
    assert 'virt predicted a change for [1]' in out
    assert 'xen_domain predicted a change for [0]' in out
    assert 'WRONG PREDICTION' not in out


@pytest.mark.parametrize('variant', ['xen_domain', 'xen_domains'])
def test_our_check_mode_predicting_a_change_fails_the_run(bench, capsys, variant):
    rows = full_run(bench, check_changed={variant: 1})
    assert bench.report(rows, [1], [1], None) == 1
    assert 'WRONG PREDICTION: %s in check mode' % variant in capsys.readouterr().out


def test_a_noop_that_changed_something_fails_the_run(bench, capsys):
    rows = full_run(bench, noop_changed={'virt': 1})
    assert bench.report(rows, [1], [1], None) == 1
    assert 'NOT A NO-OP: virt changed [1] guests of 1' in capsys.readouterr().out
