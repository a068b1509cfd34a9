# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# vCPU placement and scheduling: desired pins/weights vs `xl vcpu-list` and `xl list -l`, the
# xl calls that fix the difference, and the config-file keys that persist it. The vCPU count
# itself is changed by _domain.set_vcpus, which xen_domain uses too.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import GuestError, InvalidSpec

WEIGHT_RANGE = (1, 65535)
SCHEDULERS = xlcmd.SCHEDULERS


def pin_targets(pins, max_vcpus):
    """Expand the `pin` option into {vcpu index: {'hard': str|None, 'soft': str|None}}.

    An item with vcpu 'all' (the default) applies to every vCPU; items for a single index
    override it. Raises InvalidSpec for an index the domain does not have.
    """
    result = {}
    ordered = sorted(pins or [], key=lambda p: 0 if str(p.get('vcpu', 'all')) == 'all' else 1)
    for index, pin in enumerate(ordered):
        vcpu = str(pin.get('vcpu', 'all'))
        if pin.get('hard') is None and pin.get('soft') is None:
            raise InvalidSpec('pin[%d]' % index, 'set hard, soft or both')
        if vcpu == 'all':
            targets = range(max_vcpus)
        elif vcpu.isdigit() and int(vcpu) < max_vcpus:
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
