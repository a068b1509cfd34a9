# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_balance: its parameters -> a plan from _placement (balance, pack or evacuate)
# and the plan's report lines. Pure: no I/O.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.xenfleet.xen.plugins.module_utils import _placement
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec
from ansible_collections.xenfleet.xen.plugins.module_utils._placement import PlacementError

MODES = _placement.MODES + ('evacuate',)
GROUP_SPEC = dict(name=dict(type='str'), guests=dict(type='list', elements='str', required=True))


# The planner's names for its inputs -> the module's options (a message names what the user set).
_OPTION_OF = (
    (re.compile(r'^rules\.excluded'), 'excluded_guests'),
    (re.compile(r'^rules$'), 'anti_affinity'),   # an anti-affinity group that an affinity group contradicts
    (re.compile(r'^rules\.'), ''),
    (re.compile(r'^host$'), 'evacuate'),
    (re.compile(r'^anti_affinity$'), 'evacuate_anti_affinity'),
)


def option_of(param):
    """The xen_balance option that a planner parameter path (e.g. rules.pinned.web1) comes from."""
    for pattern, option in _OPTION_OF:
        if pattern.match(param):
            return pattern.sub(option, param, count=1)
    return param


def run(params):
    """The plan for xen_balance's parameters, with its report lines; InvalidSpec (naming the module's
    option) for bad input."""
    try:
        return _run(params)
    except PlacementError as exc:
        raise InvalidSpec(option_of(exc.param), exc.message)


def _run(params):
    for name in ('threshold', 'min_improvement', 'memory_reserve_mb'):
        if params[name] < 0:
            raise PlacementError(name, 'must be at least 0, got %s' % params[name])
    if params['max_migrations'] is not None and params['max_migrations'] < 0:
        raise PlacementError('max_migrations', 'must be at least 0, got %s' % params['max_migrations'])
    economy_of(params)  # refuse a bad economy in every mode, naming the sub-option
    result = plan(params)
    result['report'] = report_lines(result)
    return result


def economy_of(params):
    """The planner's economy policy for the module's `economy` option: None when disabled."""
    economy = dict(params.get('economy') or {})
    if not economy.pop('enabled', True):
        return None
    return _placement.economy_policy(economy)


def report_lines(plan):
    lines = []
    width = max([len(name) for name in plan['hosts']] + [4])
    for name in sorted(plan['hosts']):
        row = plan['hosts'][name]
        before, after = row['before'], row['after']
        line = '%-*s  memory %3.0f%% -> %3.0f%%  vcpus %3.0f%% -> %3.0f%%' % (
            width, name, before['memory_percent'], after['memory_percent'], before['vcpus_percent'], after['vcpus_percent'])
        if before['cpu_percent'] or after['cpu_percent']:
            line += '  cpu %3.0f%% -> %3.0f%%' % (before['cpu_percent'], after['cpu_percent'])
        line += '  guests %d -> %d%s' % (before['guests'], after['guests'], '  (cordoned)' if row['cordoned'] else '')
        lines.append(line)
    for move in plan['migrations']:
        lines.append('%d. %s: %s -> %s (%d MiB, %d vCPUs): %s' % (
            move['order'], move['guest'], move['from'], move['to'], move['memory_mb'], move['vcpus'], move['reason']))
    for item in plan.get('blocked') or []:
        lines.append('cannot place %s: %s' % (item['guest'], item['why']))
    for item in plan.get('unresolved') or []:
        lines.append('rule left broken: %s (%s)' % (item['problem'], item['why']))
    lines.append(plan['summary'])
    return lines


def plan(params):
    hosts, guests = _placement.fleet_from_facts(params['hosts'], memory_basis=params['memory_basis'],
                                                cpu_usage=params['cpu_usage'])
    rules = {
        'affinity': params['affinity'], 'anti_affinity': params['anti_affinity'], 'pinned': params['pinned'],
        'cordoned': params['cordoned'], 'excluded': params['excluded_guests'],
    }
    weights = dict((k, v) for k, v in (params['weights'] or {}).items() if v is not None)
    max_load = dict(params['max_load'] or {})
    if params['mode'] == 'evacuate':
        if not params['evacuate']:
            raise PlacementError('evacuate', 'required with mode=evacuate: the host to drain')
        return _placement.plan_evacuation(hosts, guests, params['evacuate'], rules=rules, weights=weights or None,
                                          max_load=max_load, memory_reserve_mb=params['memory_reserve_mb'],
                                          anti_affinity=params['evacuate_anti_affinity'])
    if params['evacuate']:
        raise PlacementError('evacuate', 'only used with mode=evacuate')
    return _placement.plan_balance(
        hosts, guests, mode=params['mode'], weights=weights or None, threshold=params['threshold'],
        min_improvement=params['min_improvement'], max_migrations=params['max_migrations'], rules=rules,
        max_load=max_load, memory_reserve_mb=params['memory_reserve_mb'],
        economy=economy_of(params) if params['mode'] == 'performance' else None)
