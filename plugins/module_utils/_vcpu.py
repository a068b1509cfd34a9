# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# vCPU placement and scheduling: the `pin` option checked before anything runs, desired pins/weights
# vs `xl vcpu-list` and `xl list -l`, the xl calls that fix the difference, and the config-file keys
# that persist it. Pure: no I/O (_converge_vcpu runs the calls). The vCPU count itself is changed by
# _lifecycle.set_vcpus, which xen_domain uses too.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import GuestError, InvalidSpec

WEIGHT_RANGE = (1, 65535)
SCHEDULERS = xlcmd.SCHEDULERS


# What the `pin` option's items take (the messages of check_pins say it).
VCPU_ALLOWED = '"all" or a vCPU index (0, 1, ...)'
CPULIST_ALLOWED = ('xl\'s CPU list syntax: "all", a CPU or a range of CPUs ("2", "0-3"), "^" before an item to '
                   'leave its CPUs out ("^1"), "node:N" or "nodes:A-B" for the CPUs of NUMA nodes, items separated '
                   'by commas ("0-3,^2")')
_VCPU_INDEX = re.compile(r'[0-9]+\Z')
# check_pins reads a CPU list with parse_cpulist on an imaginary host that has more CPUs than Xen supports
# (its NR_CPUS build option stops below 16384) and every NUMA node: what parse_cpulist still refuses there
# is a syntax error, whatever the real host.
SYNTAX_NR_CPUS = 1 << 16


class _EveryNode(dict):
    """A NUMA node map in which every node exists (with no CPUs of its own)."""

    def __contains__(self, node):
        return True

    def __missing__(self, node):
        return frozenset()


def cpulist_problem(text):
    """Why `text` is not an xl CPU list, or None. Syntax only: needs no host facts (a CPU or node the
    host does not have is found later, by plan_pins, against `xl info`).

    Uses parse_cpulist's grammar; an empty item ("0,,1", "0,", "") is refused too, although
    parse_cpulist (and xl, which splits with strtok) skip it: it is a typo, not a CPU list.
    """
    text = str(text)
    if any(not item.strip() for item in text.split(',')):
        return 'it has an empty item'
    try:
        parse.parse_cpulist(text, SYNTAX_NR_CPUS, _EveryNode())
    except ValueError as exc:
        if 'does not exist' in str(exc):
            # every node exists on the imaginary host: only a CPU number can be too high
            return 'it names a CPU above %d, more than any Xen host has' % (SYNTAX_NR_CPUS - 1)
        return str(exc)
    return None


def check_pins(pins):
    """Refuse `pin` items that no host could take, before anything runs (InvalidSpec naming the item):
    a vcpu that is neither "all" nor a non-negative integer, an item with neither hard nor soft, a hard
    or soft affinity that is not an xl CPU list."""
    for index, pin in enumerate(pins or []):
        vcpu = str(pin.get('vcpu', 'all'))
        if vcpu != 'all' and not _VCPU_INDEX.match(vcpu):
            raise InvalidSpec('pin[%d].vcpu' % index, '%r is not %s' % (vcpu, VCPU_ALLOWED))
        if pin.get('hard') is None and pin.get('soft') is None:
            raise InvalidSpec('pin[%d]' % index, 'set hard, soft or both')
        for kind in ('hard', 'soft'):
            if pin.get(kind) is None:
                continue
            problem = cpulist_problem(pin[kind])
            if problem:
                raise InvalidSpec('pin[%d].%s' % (index, kind), '%r is not a CPU list: %s. Allowed: %s.'
                                  % (pin[kind], problem, CPULIST_ALLOWED))


def pin_targets(pins, max_vcpus):
    """Expand the `pin` option into {vcpu index: {'hard': str|None, 'soft': str|None}}.

    An item with vcpu 'all' (the default) applies to every vCPU; items for a single index
    override it. Raises InvalidSpec for an item check_pins refuses and for an index the
    domain does not have (items are numbered as the user wrote them).
    """
    check_pins(pins)
    result = {}
    ordered = sorted(enumerate(pins or []), key=lambda item: 0 if str(item[1].get('vcpu', 'all')) == 'all' else 1)
    for index, pin in ordered:
        vcpu = str(pin.get('vcpu', 'all'))
        if vcpu == 'all':
            targets = range(max_vcpus)
        elif int(vcpu) < max_vcpus:
            targets = [int(vcpu)]
        else:
            raise InvalidSpec('pin[%d].vcpu' % index, '%r is not "all" or a vCPU index 0-%d of this domain '
                                                      '(maxvcpus %d)' % (vcpu, max_vcpus - 1, max_vcpus))
        for target in targets:
            entry = result.setdefault(target, {'hard': None, 'soft': None})
            for kind in ('hard', 'soft'):
                if pin.get(kind) is not None:
                    entry[kind] = pin[kind]
    return result


def pins_from_rows(name, vcpu_rows, nr_cpus):
    """The hard and soft affinity of each vCPU of NAME, from `xl vcpu-list` rows, in xl's compact syntax
    (the `pins` the module returns)."""
    return [{'vcpu': r['vcpu'],
             'hard': parse.format_cpuset(parse.parse_cpulist(r['hard_affinity'], nr_cpus), nr_cpus),
             'soft': parse.format_cpuset(parse.parse_cpulist(r['soft_affinity'], nr_cpus), nr_cpus)}
            for r in vcpu_rows if r['name'] == name]


def plan_pins(name, targets, vcpu_rows, nr_cpus, node_cpus=None):
    """Compare desired pins with `xl vcpu-list` rows; return (changes, xl argv list).

    Affinities are compared as CPU sets, so `0-1` and `all` on a 2-CPU host are equal.
    """
    rows = dict((r['vcpu'], r) for r in vcpu_rows if r['name'] == name)
    changes = []
    calls = []
    for vcpu in sorted(targets):
        want = targets[vcpu]
        row = rows.get(vcpu)
        if row is None:
            continue
        args = {}
        differs = False
        before = {}
        after = {}
        for kind in ('hard', 'soft'):
            have_text = row['%s_affinity' % kind]
            if want[kind] is None:
                args[kind] = '-'
                continue
            try:
                wanted = parse.parse_cpulist(want[kind], nr_cpus, node_cpus)
            except ValueError as exc:
                raise InvalidSpec('pin', 'vCPU %d %s affinity %r: %s' % (vcpu, kind, want[kind], exc))
            if not wanted:
                raise InvalidSpec('pin', 'vCPU %d %s affinity %r selects no CPU' % (vcpu, kind, want[kind]))
            have = parse.parse_cpulist(have_text, nr_cpus, node_cpus) if have_text != 'none' else frozenset()
            before[kind] = parse.format_cpuset(have, nr_cpus)
            after[kind] = parse.format_cpuset(wanted, nr_cpus)
            if have != wanted:
                differs = True
            args[kind] = parse.format_cpuset(wanted, nr_cpus)
        if differs:
            changes.append({'vcpu': vcpu, 'before': before, 'after': after})
            calls.append(xlcmd.vcpu_pin(name, vcpu, args['hard'], args['soft']))
    return changes, calls


def hvm_removal_problem(name, dtype, online_now, wanted):
    """Why lowering the online vCPUs of this domain live cannot work, or None.

    Measured on Xen 4.17 (lab, QEMU upstream device model): for an HVM guest `xl vcpu-set`
    adds vCPUs through QEMU (QMP device_add, ACPI CPU hotplug), but to remove one it only
    writes `offline` into xenstore and exits 0: QEMU keeps the vCPU (`avail_vcpus` unchanged)
    and an HVM Linux guest does not watch that xenstore key, so the vCPU stays online.
    """
    if dtype != 'hvm' or wanted is None or online_now is None or wanted >= online_now:
        return None
    return ('%d is fewer than the %d vCPUs %s runs now, and %s is an HVM guest: Xen 4.17 cannot remove vCPUs from '
            'a running HVM guest (`xl vcpu-set` exits 0 but the device model keeps the vCPU). Lower vcpus in its '
            'config with xenfleet.xen.xen_domain and restart the guest (apply: restart), or offline the CPU from '
            'inside the guest.' % (wanted, online_now, name, name))


def soft_outside_hard(name, targets, vcpu_rows, nr_cpus, node_cpus=None):
    """vCPUs whose soft affinity (after the change) has no CPU in common with their hard affinity.

    Xen then ignores the soft affinity (libxl warns "All cpus in soft affinity of vcpu N are
    unreachable. Only hard affinity will be considered for scheduling" and exits 0).
    Returns [(vcpu, hard text, soft text)].
    """
    rows = dict((r['vcpu'], r) for r in vcpu_rows if r['name'] == name)
    result = []
    for vcpu in sorted(targets):
        row = rows.get(vcpu)
        if row is None:
            continue
        sets = {}
        for kind in ('hard', 'soft'):
            text = targets[vcpu][kind] if targets[vcpu][kind] is not None else row['%s_affinity' % kind]
            sets[kind] = parse.parse_cpulist(text, nr_cpus, node_cpus) if text != 'none' else frozenset()
        if sets['hard'] and sets['soft'] and not sets['hard'] & sets['soft']:
            result.append((vcpu, parse.format_cpuset(sets['hard'], nr_cpus), parse.format_cpuset(sets['soft'], nr_cpus)))
    return result


def scheduler_args(sched, name, weight, cap):
    if sched not in SCHEDULERS:
        raise GuestError('weight and cap need the credit2 or credit scheduler; this domain runs under %r' % sched)
    return xlcmd.sched(sched, name, weight=weight, cap=cap)


def persisted_keys(online, pins, weight, cap, max_vcpus, nr_cpus):
    """Config-file keys that make the settings survive a restart (None: leave the key alone).

    Pins for all vCPUs become one string; per-vCPU pins become xl's list form (one entry per
    vCPU, in order), which xl.cfg(5) documents for `cpus` and `cpus_soft`.
    """
    keys = {}
    if online is not None:
        keys['vcpus'] = online
    if pins:
        for kind, key in (('hard', 'cpus'), ('soft', 'cpus_soft')):
            per_vcpu = [pins.get(v, {}).get(kind) for v in range(max_vcpus)]
            if all(p is None for p in per_vcpu):
                continue
            normalized = [parse.format_cpuset(parse.parse_cpulist(p or 'all', nr_cpus), nr_cpus) for p in per_vcpu]
            if len(set(normalized)) == 1:
                keys[key] = normalized[0]
            else:
                keys[key] = normalized
    if weight is not None:
        keys['cpu_weight'] = weight
    if cap is not None:
        keys['cap'] = cap
    return keys
