# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Pure placement planning: which guests to live-migrate where, to spread load over a fleet of Xen
# hosts (mode performance), to pack guests and free whole hosts (mode density), or to drain one host
# (evacuation). No I/O, no AnsibleModule, standard library only: every function takes plain data and
# returns plain data, so it is tested and benchmarked without Xen.
#
# Model
#   host  = {'name', 'memory_mb' (memory guests may use: free + held by guests), 'cpus' (physical),
#            'cordoned' (bool)}
#   guest = {'name', 'host', 'memory_mb', 'vcpus', 'cpu_percent' (optional, 100 = one busy CPU)}
#   Load of a host per metric, as a fraction of its capacity:
#     memory = guest memory / memory_mb, vcpus = guest vCPUs / cpus, cpu = guest CPU% / (100 * cpus).
#
# Imbalance (the figure reported before/after, in percentage points):
#   I = 100 * sqrt( sum_m w_m * Var_m / sum_m w_m )
#   where Var_m is the population variance, over the hosts that are not cordoned, of the load of metric
#   m, and w_m its weight. With one metric it is the standard deviation of host load; 0 is perfect.
#   The search minimises the same quantity (as the sum of squared deviations, which scales with the
#   fleet and not with one host).
#
# Hard constraints, checked on every step of the ordered plan (each move at its time):
#   memory never above the target's limit (max_load.memory percent of memory_mb, minus memory_reserve_mb),
#   optional vCPU / CPU limits, pinned guests only on their hosts, two members of an anti-affinity group
#   never on one host, members of an affinity group move together, cordoned hosts neither give nor take,
#   excluded guests never move, and no guest migrates twice (a guest the search moves again is re-routed:
#   one migration from where it is to where it ends).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import heapq
import math
import random
import zlib
from bisect import bisect_left, insort

METRICS = ('memory', 'vcpus', 'cpu')
MEM, VCPU, CPU = 0, 1, 2
MODES = ('performance', 'density')
# What a guest's memory counts as: what it has now, or its static maximum.
MEMORY_BASES = ('current', 'max')
DEFAULT_WEIGHTS = {'memory': 1.0, 'vcpus': 1.0, 'cpu': 0.0}
DEFAULT_MAX_LOAD = {'memory': 100.0, 'vcpus': None, 'cpu': None}
_EPS = 1e-12
_CANDIDATES = 4
_SMALL_FLEET = 24
# the wider search (perturbation + re-descent) runs on fleets of at most this many active hosts and
# movable units, with this many perturbations tried from each local optimum
_REFINE_HOSTS = 16
_REFINE_UNITS = 80
_REFINE_TRIALS = 3
_REFINE_STEPS = 300
_REFINE_MAX_STEPS = 40000
_REFINE_HEAT = 1.0
_REFINE_ROUNDS = 40
# then, on fleets of at most _TRIPLE_HOSTS active hosts, every three hosts in turn get their units placed
# anew by an exact search (branch and bound over what each of them holds), each search cut at this much
# work (counted, never timed)
_TRIPLE_HOSTS = 10
_TRIPLE_WORK = 5000
# placements that no order of one migration per guest reaches, per three hosts, before the search over them
# gives up
_TRIPLE_REFUSALS = 3
# economy (the default of the xen_balance module): only overloaded hosts give guests. A host is overloaded
# on vCPUs or CPU at `trigger` x the fleet average, relieved (and a target host stays) within `target` x
# it; on memory, above `memory` percent of its memory. `cpu`: when measured CPU use is weighted, no move
# takes its target above this percent of its CPUs (a busier target would only trade one busy host for
# another). `min_gain`: points of imbalance each migration must buy.
ECONOMY_DEFAULTS = {'trigger': 1.5, 'target': 1.25, 'memory': 95.0, 'cpu': 75.0, 'min_gain': 0.0}


class PlacementError(ValueError):
    """Bad input; `param` names the parameter (or the path inside it) that is wrong."""

    def __init__(self, param, message):
        super(PlacementError, self).__init__('%s: %s' % (param, message))
        self.param = param
        self.message = message


# --------------------------------------------------------------------------------------------
# Facts (xen_host_info.host + xen_domain_info.domains) -> model
# --------------------------------------------------------------------------------------------

def _number(value, param, minimum=0, integer=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or value is None:
        raise PlacementError(param, 'expected a number, got %r' % (value,))
    try:
        num = int(value) if integer else float(value)
    except (TypeError, ValueError):
        raise PlacementError(param, 'expected a number, got %r' % (value,))
    if integer and isinstance(value, float) and value != num:
        raise PlacementError(param, 'expected a whole number, got %r' % (value,))
    if isinstance(num, float) and (math.isnan(num) or math.isinf(num)):
        raise PlacementError(param, 'expected a finite number, got %r' % (value,))
    if minimum is not None and num < minimum:
        raise PlacementError(param, 'must be at least %s, got %r' % (minimum, value))
    return num


def economy_policy(economy, param='economy'):
    """The economy policy as plan_balance uses it: None (off: spread the load as evenly as the search can)
    for None or False, the defaults for True, else a dict of ECONOMY_DEFAULTS' keys merged over them."""
    if economy is None or economy is False:
        return None
    if economy is True:
        return dict(ECONOMY_DEFAULTS)
    if not isinstance(economy, dict):
        raise PlacementError(param, 'expected true, false or a dict of %s' % ', '.join(sorted(ECONOMY_DEFAULTS)))
    unknown = set(economy) - set(ECONOMY_DEFAULTS)
    if unknown:
        raise PlacementError(param, 'unknown key(s) %s (known: %s)' % (
            ', '.join(sorted(unknown)), ', '.join(sorted(ECONOMY_DEFAULTS))))
    policy = dict(ECONOMY_DEFAULTS)
    for key, value in economy.items():
        if value is not None:
            policy[key] = _number(value, '%s.%s' % (param, key))
    if policy['target'] < 1:
        raise PlacementError(param + '.target', 'must be at least 1 (times the fleet average), got %s' % policy['target'])
    if policy['trigger'] < policy['target']:
        raise PlacementError(param + '.trigger', 'must be at least %s.target (%s), got %s' % (
            param, policy['target'], policy['trigger']))
    for key in ('memory', 'cpu'):
        if not 0 < policy[key] <= 100:
            raise PlacementError('%s.%s' % (param, key), 'must be above 0 and at most 100 (percent), got %s' % policy[key])
    return policy


def fleet_from_facts(facts, memory_basis='current', cpu_usage=None, param='hosts'):
    """Turn {host: {'host': xen_host_info.host, 'domains': xen_domain_info.domains, ...}} into the model.

    Per host entry, optional keys: 'cordoned' (bool) and 'cpu_usage' ({guest: percent}). A domain may
    carry 'cpu_percent' itself. `cpu_usage` ({guest: percent}) applies to the whole fleet.
    A host's memory for guests is its free memory plus the memory its guests hold now; a guest's demand
    is its current memory (memory_basis 'current') or its static maximum ('max').
    Returns (hosts, guests) lists of dicts.
    """
    if not isinstance(facts, dict) or not facts:
        raise PlacementError(param, 'expected a non-empty dict of host name -> {host: ..., domains: [...]}')
    if memory_basis not in MEMORY_BASES:
        raise PlacementError('memory_basis', 'must be %s, got %r' % (' or '.join(MEMORY_BASES), memory_basis))
    usage = dict(cpu_usage or {})
    hosts = []
    guests = []
    for hname in sorted(facts):
        entry = facts[hname]
        where = '%s.%s' % (param, hname)
        if not isinstance(entry, dict):
            raise PlacementError(where, 'expected a dict with keys host and domains')
        info = entry.get('host')
        if isinstance(info, dict) and 'host' in info and isinstance(info['host'], dict):
            info = info['host']  # a registered xen_host_info result
        if not isinstance(info, dict):
            raise PlacementError(where + '.host', 'missing: the host key of xenfleet.xen.xen_host_info')
        domains = entry.get('domains', [])
        if isinstance(domains, dict) and 'domains' in domains:
            domains = domains['domains']  # a registered xen_domain_info result
        if not isinstance(domains, list):
            raise PlacementError(where + '.domains', 'expected the domains list of xenfleet.xen.xen_domain_info')
        free = _number(info.get('free_memory_mb'), where + '.host.free_memory_mb')
        cpus = _number(info.get('nr_cpus'), where + '.host.nr_cpus', minimum=1, integer=True)
        host_usage = dict(entry.get('cpu_usage') or {})
        held = 0
        for index, dom in enumerate(domains):
            dwhere = '%s.domains[%d]' % (where, index)
            if not isinstance(dom, dict) or not dom.get('name'):
                raise PlacementError(dwhere, 'expected a domain with a name')
            if dom['name'] == 'Domain-0' or dom.get('domid') == 0:
                continue
            mem = dom.get('memory_mb') or {}
            current = _number(mem.get('current'), dwhere + '.memory_mb.current')
            demand = current
            if memory_basis == 'max' and mem.get('max') is not None:
                demand = max(current, _number(mem.get('max'), dwhere + '.memory_mb.max'))
            vcpus = dom.get('vcpus') or {}
            nvcpu = vcpus.get('online') if vcpus.get('online') is not None else vcpus.get('max', 1)
            cpu = usage.get(dom['name'], host_usage.get(dom['name'], dom.get('cpu_percent')))
            guests.append({
                'name': dom['name'], 'host': hname, 'memory_mb': demand,
                'vcpus': _number(nvcpu, dwhere + '.vcpus.online'),
                'cpu_percent': _number(cpu, dwhere + '.cpu_percent', allow_none=True),
                'paused': dom.get('state') == 'paused',
            })
            held += current
        hosts.append({'name': hname, 'memory_mb': free + held, 'cpus': cpus,
                      'cordoned': bool(entry.get('cordoned', False))})
    return hosts, guests


# --------------------------------------------------------------------------------------------
# The fleet state the planners work on
# --------------------------------------------------------------------------------------------

def _group_list(groups, param):
    """Accept [[g, ...], ...] or [{'name': n, 'guests': [...]}, ...]; return [(name, [guests])]."""
    result = []
    for index, group in enumerate(groups or []):
        if isinstance(group, dict):
            members = group.get('guests')
            name = group.get('name') or '%s[%d]' % (param, index)
        else:
            members = group
            name = '%s[%d]' % (param, index)
        if not isinstance(members, (list, tuple)) or not all(isinstance(m, str) for m in members):
            raise PlacementError('%s[%d]' % (param, index), 'expected a list of guest names')
        result.append((str(name), list(members)))
    return result


class _Unit(object):
    """Guests that move together (an affinity group on one host, or one guest)."""
    __slots__ = ('idx', 'name', 'members', 'gids', 'dem', 'host', 'origin', 'allowed', 'anti', 'movable', 'why_fixed',
                 'reasons', 'affinity')

    def __init__(self, idx, members, gids, host):
        self.idx = idx
        self.members = members
        self.gids = gids
        self.name = members[0]
        self.host = host
        self.origin = host
        self.dem = [0.0, 0.0, 0.0]
        self.allowed = None
        self.anti = ()
        self.movable = True
        self.why_fixed = None
        self.reasons = []
        self.affinity = None


class _Fleet(object):
    def __init__(self, hosts, guests, rules=None, weights=None, max_load=None, memory_reserve_mb=0, origins=None):
        rules = dict(rules or {})
        unknown = set(rules) - set(('affinity', 'anti_affinity', 'pinned', 'cordoned', 'excluded'))
        if unknown:
            raise PlacementError('rules', 'unknown rule kind(s) %s' % ', '.join(sorted(unknown)))
        self._weights(weights)
        self._hosts(hosts, rules.get('cordoned') or [], max_load, memory_reserve_mb)
        self._guests(guests)
        self._units(rules)
        self._init_sums()
        self.moves = []     # decisions in order: (unit idx, from, to, reason)
        # where each guest was when planning started (a rebuilt fleet keeps the first one's)
        self.gorigin = [self.hidx[origins[g]] if origins else self.ghost[i] for i, g in enumerate(self.guests)]
        self.migrations_now = self.migrations()
        # the wider search saw a lower imbalance that no order of single migrations reaches from here
        self.deferred = False

    # ---- input ----------------------------------------------------------------------------

    def _weights(self, weights):
        w = dict(DEFAULT_WEIGHTS)
        for key, value in (weights or {}).items():
            if key not in METRICS:
                raise PlacementError('weights', 'unknown metric %r (known: %s)' % (key, ', '.join(METRICS)))
            w[key] = _number(value if value is not None else 0, 'weights.%s' % key)
        self.w = [w[m] for m in METRICS]
        self.wsum = sum(self.w)
        if self.wsum <= 0:
            raise PlacementError('weights', 'at least one weight must be above 0')
        self.obj = [m for m in range(3) if self.w[m] > 0]

    def _hosts(self, hosts, cordoned, max_load, reserve):
        if not hosts:
            raise PlacementError('hosts', 'no host given')
        limits = dict(DEFAULT_MAX_LOAD)
        for key, value in (max_load or {}).items():
            if key not in METRICS:
                raise PlacementError('max_load', 'unknown metric %r (known: %s)' % (key, ', '.join(METRICS)))
            limits[key] = _number(value, 'max_load.%s' % key, minimum=0, allow_none=True)
        if limits['memory'] is None:
            limits['memory'] = 100.0
        reserve = _number(reserve, 'memory_reserve_mb')
        self.names = []
        self.hidx = {}
        self.cap = [[], [], []]
        self.inv = [[], [], []]
        self.lim = [[], [], []]
        self.active = []
        cordoned = set(cordoned)
        for index, host in enumerate(hosts):
            where = 'hosts[%d]' % index
            name = host.get('name') if isinstance(host, dict) else None
            if not name:
                raise PlacementError(where, 'expected a host with a name')
            if name in self.hidx:
                raise PlacementError(where, 'host %s is listed twice' % name)
            mem = _number(host.get('memory_mb'), '%s.memory_mb' % where)
            cpus = _number(host.get('cpus'), '%s.cpus' % where, minimum=1)
            self.hidx[name] = len(self.names)
            self.names.append(name)
            caps = (max(mem, 1.0), float(cpus), 100.0 * cpus)
            for m in range(3):
                self.cap[m].append(caps[m])
                self.inv[m].append(1.0 / caps[m])
            self.lim[MEM].append(mem * limits['memory'] / 100.0 - reserve)
            self.lim[VCPU].append(cpus * limits['vcpus'] / 100.0 if limits['vcpus'] is not None else float('inf'))
            self.lim[CPU].append(100.0 * cpus * limits['cpu'] / 100.0 if limits['cpu'] is not None else float('inf'))
            self.active.append(not (host.get('cordoned') or name in cordoned))
        for name in cordoned:
            if name not in self.hidx:
                raise PlacementError('rules.cordoned', 'unknown host %s' % name)
        self.nh = len(self.names)
        self.used = [[0.0] * self.nh for _i in range(3)]
        self.nactive = sum(1 for a in self.active if a)

    def _guests(self, guests):
        self.guests = []
        self.gidx = {}
        self.ghost = []
        self.gdem = []
        self.gpaused = []
        for index, guest in enumerate(guests):
            where = 'guests[%d]' % index
            name = guest.get('name') if isinstance(guest, dict) else None
            if not name:
                raise PlacementError(where, 'expected a guest with a name')
            if name in self.gidx:
                raise PlacementError(where, 'guest %s runs on two hosts (%s and %s)'
                                     % (name, self.names[self.ghost[self.gidx[name]]], guest.get('host')))
            if guest.get('host') not in self.hidx:
                raise PlacementError(where, 'guest %s is on unknown host %r' % (name, guest.get('host')))
            h = self.hidx[guest['host']]
            dem = (_number(guest.get('memory_mb'), '%s.memory_mb' % where),
                   _number(guest.get('vcpus', 1), '%s.vcpus' % where),
                   _number(guest.get('cpu_percent') or 0, '%s.cpu_percent' % where))
            self.gidx[name] = len(self.guests)
            self.guests.append(name)
            self.ghost.append(h)
            self.gdem.append(dem)
            self.gpaused.append(bool(guest.get('paused')))
            for m in range(3):
                self.used[m][h] += dem[m]

    def _units(self, rules):
        ng = len(self.guests)

        def lookup(name, param):
            if name not in self.gidx:
                raise PlacementError(param, 'unknown guest %s' % name)
            return self.gidx[name]

        # affinity groups: union the members, then split by current host
        aff_of = [None] * ng
        aff_names = []
        for gi, (gname, members) in enumerate(_group_list(rules.get('affinity'), 'rules.affinity')):
            aff_names.append(gname)
            for member in members:
                g = lookup(member, 'rules.affinity[%d]' % gi)
                if aff_of[g] is not None and aff_of[g] != gi:
                    raise PlacementError('rules.affinity[%d]' % gi, 'guest %s is in two affinity groups' % member)
                aff_of[g] = gi
        anti_of = [[] for _i in range(ng)]
        self.anti_names = []
        for gi, (gname, members) in enumerate(_group_list(rules.get('anti_affinity'), 'rules.anti_affinity')):
            self.anti_names.append(gname)
            for member in members:
                g = lookup(member, 'rules.anti_affinity[%d]' % gi)
                if gi not in anti_of[g]:
                    anti_of[g].append(gi)
        pinned = rules.get('pinned') or {}
        if not isinstance(pinned, dict):
            raise PlacementError('rules.pinned', 'expected a dict of guest name -> host name(s)')
        allowed_of = [None] * ng
        for gname, hosts in pinned.items():
            g = lookup(gname, 'rules.pinned')
            if isinstance(hosts, str):
                hosts = [hosts]
            if not isinstance(hosts, (list, tuple)) or not hosts:
                raise PlacementError('rules.pinned.%s' % gname, 'expected a host name or a non-empty list of them')
            for hname in hosts:
                if hname not in self.hidx:
                    raise PlacementError('rules.pinned.%s' % gname, 'unknown host %s' % hname)
            allowed_of[g] = frozenset(self.hidx[h] for h in hosts)
        excluded = set()
        for gname in rules.get('excluded') or []:
            excluded.add(lookup(gname, 'rules.excluded'))

        parts = {}
        order = []
        for g in range(ng):
            key = ('a', aff_of[g], self.ghost[g]) if aff_of[g] is not None else ('g', g)
            if key not in parts:
                parts[key] = []
                order.append(key)
            parts[key].append(g)
        self.units = []
        self.unit_of = [0] * ng
        self.on = [set() for _i in range(self.nh)]
        self.anti_count = [dict() for _i in self.anti_names]
        self.aff_parts = {}
        for key in order:
            members = parts[key]
            unit = _Unit(len(self.units), [self.guests[g] for g in members], members, self.ghost[members[0]])
            for g in members:
                self.unit_of[g] = unit.idx
                for m in range(3):
                    unit.dem[m] += self.gdem[g][m]
            allowed = None
            anti = []
            for g in members:
                if allowed_of[g] is not None:
                    allowed = allowed_of[g] if allowed is None else allowed & allowed_of[g]
                for a in anti_of[g]:
                    if a in anti:
                        raise PlacementError('rules', 'guests of anti-affinity group %s are also in one affinity group '
                                             '(%s)' % (self.anti_names[a], aff_names[aff_of[g]]))
                    anti.append(a)
            if allowed is not None and not allowed:
                raise PlacementError('rules.pinned', 'the guests of affinity group %s are pinned to disjoint hosts'
                                     % aff_names[aff_of[members[0]]])
            unit.allowed = allowed
            unit.anti = tuple(anti)
            if key[0] == 'a':
                unit.name = aff_names[key[1]]
                unit.affinity = key[1]
                self.aff_parts.setdefault(key[1], []).append(unit.idx)
            if any(g in excluded for g in members):
                unit.movable = False
                unit.why_fixed = 'excluded'
            elif any(self.gpaused[g] for g in members):
                # xl cannot live-migrate a paused guest (it suspends guests through their kernel)
                unit.movable = False
                unit.why_fixed = 'paused'
            elif not self.active[unit.host]:
                unit.movable = False
                unit.why_fixed = 'cordoned host'
            elif key[0] == 'a' and len(set(self.ghost[g] for g in range(ng) if aff_of[g] == key[1])) > 1:
                unit.movable = False
                unit.why_fixed = 'affinity group split over hosts'
            self.units.append(unit)
            self.on[unit.host].add(unit.idx)
            for a in unit.anti:
                self.anti_count[a][unit.host] = self.anti_count[a].get(unit.host, 0) + 1

    # ---- load bookkeeping -----------------------------------------------------------------

    def recompute(self):
        """Recompute loads and sums from the units' positions (no drift from incremental updates)."""
        self.used = [[0.0] * self.nh for _i in range(3)]
        for g, dem in enumerate(self.gdem):
            h = self.units[self.unit_of[g]].host
            for m in range(3):
                self.used[m][h] += dem[m]
        self._init_sums()

    def undo(self):
        """Revert the last move; returns the two hosts it touched."""
        uidx, s, t, _reason = self.moves[-1]
        unit = self.units[uidx]
        self.move(unit, s, None)
        self.moves.pop()
        self.moves.pop()
        unit.reasons.pop()
        unit.reasons.pop()
        return s, t

    def _init_sums(self):
        self.s1 = [0.0, 0.0, 0.0]
        self.s2 = [0.0, 0.0, 0.0]
        for m in range(3):
            for h in range(self.nh):
                if self.active[h]:
                    u = self.used[m][h] * self.inv[m][h]
                    self.s1[m] += u
                    self.s2[m] += u * u

    def load(self, m, h):
        return self.used[m][h] * self.inv[m][h]

    def score(self, h):
        return sum(self.w[m] * self.used[m][h] * self.inv[m][h] for m in self.obj) / self.wsum

    def sq_dev(self):
        """Weighted sum over active hosts of squared deviations from the mean load (fractions)."""
        n = self.nactive
        if n <= 1:
            return 0.0
        return sum(self.w[m] * (self.s2[m] - self.s1[m] * self.s1[m] / n) for m in self.obj) / self.wsum

    def imbalance(self):
        n = self.nactive
        if n <= 1:
            return 0.0
        return 100.0 * math.sqrt(max(self.sq_dev(), 0.0) / n)

    def fits(self, unit, t, anti=True):
        """Hard constraints for unit arriving on host t now (it is not on t); anti=False leaves out the
        anti-affinity rules (a drain that may break them)."""
        if not self.active[t] or t == unit.host:
            return False
        if unit.allowed is not None and t not in unit.allowed:
            return False
        dem = unit.dem
        if self.used[MEM][t] + dem[MEM] > self.lim[MEM][t] + 1e-9:
            return False
        if dem[VCPU] and self.used[VCPU][t] + dem[VCPU] > self.lim[VCPU][t] + 1e-9:
            return False
        if dem[CPU] and self.used[CPU][t] + dem[CPU] > self.lim[CPU][t] + 1e-9:
            return False
        if anti:
            for a in unit.anti:
                if self.anti_count[a].get(t):
                    return False
        return True

    def gain(self, unit, s, t):
        """Decrease of sq_dev when unit moves from active host s to active host t."""
        n = self.nactive
        total = 0.0
        dem = unit.dem
        for m in self.obj:
            d = dem[m]
            if not d:
                continue
            inv = self.inv[m]
            used = self.used[m]
            us = used[s] * inv[s]
            ut = used[t] * inv[t]
            us2 = us - d * inv[s]
            ut2 = ut + d * inv[t]
            s1 = self.s1[m]
            s1n = s1 + (us2 - us) + (ut2 - ut)
            ds2 = us2 * us2 - us * us + ut2 * ut2 - ut * ut
            total += self.w[m] * ((s1n * s1n - s1 * s1) / n - ds2)
        return total / self.wsum

    def move(self, unit, t, reason):
        s = unit.host
        for m in range(3):
            d = unit.dem[m]
            if not d:
                continue
            for h, sign in ((s, -1.0), (t, 1.0)):
                if self.active[h]:
                    u = self.used[m][h] * self.inv[m][h]
                    self.s1[m] -= u
                    self.s2[m] -= u * u
                self.used[m][h] += sign * d
                if self.active[h]:
                    u = self.used[m][h] * self.inv[m][h]
                    self.s1[m] += u
                    self.s2[m] += u * u
        self.on[s].discard(unit.idx)
        self.on[t].add(unit.idx)
        for a in unit.anti:
            cnt = self.anti_count[a]
            cnt[s] -= 1
            cnt[t] = cnt.get(t, 0) + 1
        unit.host = t
        unit.reasons.append(reason)
        self.moves.append((unit.idx, s, t, reason))

    def cost(self, unit, t):
        """Change of the migration count if unit moves to t (re-routes are free, a return refunds)."""
        if len(unit.gids) == 1:
            o = self.gorigin[unit.gids[0]]
            return (t != o) - (unit.host != o)
        return sum((t != self.gorigin[g]) - (unit.host != self.gorigin[g]) for g in unit.gids)

    def migrations(self):
        return sum(1 for u in self.units for g in u.gids if u.host != self.gorigin[g])

    def snapshot(self):
        return [u.host for u in self.units], [list(x) for x in self.used], list(self.s1), list(self.s2), \
            [dict(c) for c in self.anti_count], len(self.moves), [len(u.reasons) for u in self.units]

    def restore(self, snap):
        hosts, used, s1, s2, anti, nmoves, nreasons = snap
        self.on = [set() for _i in range(self.nh)]
        for unit, h, nr in zip(self.units, hosts, nreasons):
            unit.host = h
            del unit.reasons[nr:]
            self.on[h].add(unit.idx)
        self.used = [list(x) for x in used]
        self.s1, self.s2 = list(s1), list(s2)
        self.anti_count = [dict(c) for c in anti]
        self.migrations_now = self.migrations()
        del self.moves[nmoves:]

    # ---- rule violations present in the input -----------------------------------------------

    def violations(self):
        """[(unit idx, kind, text)] for units that break a rule where they are."""
        found = []
        for unit in self.units:
            if unit.allowed is not None and unit.host not in unit.allowed:
                found.append((unit.idx, 'pinned', 'pinned: %s may run only on %s, not on %s' % (
                    unit.name, ', '.join(sorted(self.names[h] for h in unit.allowed)), self.names[unit.host])))
        for a, cnt in enumerate(self.anti_count):
            for h in sorted(cnt):
                if cnt[h] >= 2:
                    mates = sorted((u for u in self.on[h] if a in self.units[u].anti), key=lambda i: self.units[i].name)
                    names = ', '.join(self.units[u].name for u in mates)
                    # keep the first (by name), move the others
                    for u in mates[1:]:
                        found.append((u, 'anti_affinity', 'anti-affinity %s: %s share host %s' % (
                            self.anti_names[a], names, self.names[h])))
        for gi, parts in sorted(self.aff_parts.items()):
            if len(parts) > 1:
                big = max(parts, key=lambda u: (len(self.units[u].members), -u))
                where = ', '.join('%s on %s' % ('+'.join(self.units[u].members), self.names[self.units[u].host])
                                  for u in parts)
                for u in parts:
                    if u != big:
                        found.append((u, 'affinity', 'affinity %s is split (%s)' % (self.units[u].name, where)))
        return found

    def repair(self, budget):
        """Move units that break a rule to a host where they do not, best balance first. Returns unresolved."""
        unresolved = []
        for _i in range(3):
            progress = False
            unresolved = []
            for uidx, kind, text in self.violations():
                unit = self.units[uidx]
                if not unit.movable and unit.why_fixed != 'affinity group split over hosts':
                    unresolved.append({'guest': unit.name, 'rule': kind, 'problem': text,
                                       'why': 'the guest may not move (%s)' % unit.why_fixed})
                    continue
                if kind == 'affinity':
                    big = max(self.aff_parts[unit.affinity], key=lambda u: (len(self.units[u].members), -u))
                    targets = [self.units[big].host]
                else:
                    targets = [t for t in range(self.nh) if self.active[t]]
                best = None
                for t in targets:
                    if t == unit.host or not self.fits(unit, t):
                        continue
                    if budget is not None and self.migrations() + self.cost(unit, t) > budget:
                        continue
                    g = self.gain(unit, unit.host, t) if self.active[unit.host] else -self._add_cost(unit, t)
                    key = (g, -t)
                    if best is None or key > best[0]:
                        best = (key, t)
                if best is None:
                    unresolved.append({'guest': unit.name, 'rule': kind, 'problem': text,
                                       'why': 'no host that the rules allow has room for it'
                                       if budget is None or self.migrations() < budget else 'max_migrations reached'})
                    continue
                self.move(unit, best[1], 'repair ' + text)
                progress = True
            if not progress:
                break
        return unresolved

    def _add_cost(self, unit, t):
        # sq_dev increase of adding unit to t only (the source is cordoned)
        n = self.nactive
        total = 0.0
        for m in self.obj:
            d = unit.dem[m]
            ut = self.used[m][t] * self.inv[m][t]
            ut2 = ut + d * self.inv[m][t]
            s1n = self.s1[m] + ut2 - ut
            total += self.w[m] * ((ut2 * ut2 - ut * ut) - (s1n * s1n - self.s1[m] * self.s1[m]) / n)
        return total / self.wsum


# --------------------------------------------------------------------------------------------
# Heaps of hosts keyed by load, with lazy invalidation
# --------------------------------------------------------------------------------------------

class _Heaps(object):
    """Per key (the combined score and each weighted metric), a max-heap and a min-heap of active hosts."""

    def __init__(self, fleet):
        self.f = fleet
        self.version = [0] * fleet.nh
        self.keys = ['score'] + list(fleet.obj)
        self.hot = dict((k, []) for k in self.keys)
        self.cold = dict((k, []) for k in self.keys)
        for h in range(fleet.nh):
            if fleet.active[h]:
                self._push(h)
        for k in self.keys:
            heapq.heapify(self.hot[k])
            heapq.heapify(self.cold[k])

    def value(self, k, h):
        return self.f.score(h) if k == 'score' else self.f.used[k][h] * self.f.inv[k][h]

    def _push(self, h):
        v = self.version[h]
        for k in self.keys:
            val = self.value(k, h)
            self.hot[k].append((-val, h, v))
            self.cold[k].append((val, h, v))

    def touch(self, h):
        self.version[h] += 1
        v = self.version[h]
        for k in self.keys:
            val = self.value(k, h)
            heapq.heappush(self.hot[k], (-val, h, v))
            heapq.heappush(self.cold[k], (val, h, v))

    def top(self, k, count, hot, skip=None):
        """Up to `count` valid hosts from the hot or cold heap of key k, without removing them."""
        heap = self.hot[k] if hot else self.cold[k]
        taken = []
        result = []
        while heap and len(result) < count:
            entry = heapq.heappop(heap)
            if entry[2] != self.version[entry[1]]:
                continue
            taken.append(entry)
            if skip is None or not skip(entry[1]):
                result.append(entry[1])
        for entry in taken:
            heapq.heappush(heap, entry)
        return result

    def rebuild(self):
        self.__init__(self.f)


# --------------------------------------------------------------------------------------------
# Performance: spread the load
# --------------------------------------------------------------------------------------------

def _candidates(fleet, heaps, anchor, hot):
    """(sources, targets) for a move anchored on a hot (cold) host: the anchor and the coolest (hottest)
    hosts by combined and by per-metric load; every active host in a small fleet."""
    if fleet.nactive <= _SMALL_FLEET:
        others = [h for h in range(fleet.nh) if fleet.active[h] and h != anchor]
    elif hot:
        others = heaps.top('score', _CANDIDATES, False)
        for m in fleet.obj:
            others.extend(heaps.top(m, 2, False))
    else:
        others = heaps.top('score', _CANDIDATES, True)
        for m in fleet.obj:
            others.extend(heaps.top(m, 2, True))
    others = sorted(set(others) - set([anchor]))
    return ([anchor], others) if hot else (others, [anchor])


def _pair_coef(fleet, s, t):
    """[(metric, A, B)]: moving demand d of each metric from s to t lowers sq_dev by sum(A*d + B*d^2)."""
    n = float(fleet.nactive)
    used, inv, s1, w = fleet.used, fleet.inv, fleet.s1, fleet.w
    scale = 1.0 / fleet.wsum
    coef = []
    for m in fleet.obj:
        i_s = inv[m][s]
        i_t = inv[m][t]
        k = i_t - i_s
        a = 2.0 * (s1[m] * k / n + used[m][s] * i_s * i_s - used[m][t] * i_t * i_t) * w[m] * scale
        b = (k * k / n - i_s * i_s - i_t * i_t) * w[m] * scale
        coef.append((m, a, b))
    return coef


def _best_swap(fleet, heaps, anchor, hot, budget):
    """Best improving exchange of two units between the anchor and a candidate host (two migrations),
    for when no single move helps. The exchange must be possible one migration after the other."""
    sources, targets = _candidates(fleet, heaps, anchor, hot)
    partners = targets if hot else sources
    a = anchor
    lim, used = fleet.lim, fleet.used
    units = fleet.units
    mine = sorted((units[u] for u in fleet.on[a] if units[u].movable), key=lambda u: u.name)
    best = None
    best_gain = _EPS
    for b in partners:
        theirs = sorted((units[u] for u in fleet.on[b] if units[u].movable), key=lambda u: u.name)
        if not theirs or not mine:
            continue
        # orient as "from the hotter to the cooler": x leaves src for dst, y comes back
        src, dst, xs, ys = (a, b, mine, theirs) if hot else (b, a, theirs, mine)
        coef = _pair_coef(fleet, src, dst)
        room = [(lim[m][src] - used[m][src] + 1e-9, lim[m][dst] - used[m][dst] + 1e-9) for m in range(3)]
        for x in xs:
            if x.allowed is not None and dst not in x.allowed:
                continue
            if x.anti and any(fleet.anti_count[k].get(dst) for k in x.anti):
                continue
            for y in ys:
                diff = [x.dem[m] - y.dem[m] for m in range(3)]
                # final memory/limits on both hosts, and one of the two orders possible
                if any(diff[m] > room[m][1] or -diff[m] > room[m][0] for m in range(3)):
                    continue
                g = 0.0
                for m, ca, cb in coef:
                    d = diff[m]
                    g += d * (ca + cb * d)
                if g < best_gain:
                    continue
                first_x = all(x.dem[m] <= room[m][1] for m in range(3))
                first_y = all(y.dem[m] <= room[m][0] for m in range(3))
                if not (first_x or first_y):
                    continue
                if y.allowed is not None and src not in y.allowed:
                    continue
                if y.anti and (set(y.anti) & set(x.anti) or any(fleet.anti_count[k].get(src) for k in y.anti)):
                    continue
                if budget is not None and fleet.migrations_now + fleet.cost(x, dst) + fleet.cost(y, src) > budget:
                    continue
                key = (g, x.name, y.name)
                if best is None or key > best[0]:
                    order = [(x, dst), (y, src)] if first_x else [(y, src), (x, dst)]
                    best = (key, order)
                    best_gain = g
    return best


def _best_move(fleet, heaps, anchor, hot, budget):
    """Best improving move that takes load off a hot anchor or puts load on a cold one.

    For a pair of hosts (s, t) the gain of moving demand d of metric m is w_m * (A*d + B*d^2) / sum(w)
    (exact, see _Fleet.gain), so A and B are computed once per pair and each unit costs a few flops.
    """
    sources, targets = _candidates(fleet, heaps, anchor, hot)
    units = fleet.units
    used, lim = fleet.used, fleet.lim
    best = None
    best_gain = _EPS
    for s in sources:
        movable = [units[u] for u in fleet.on[s] if units[u].movable]
        if not movable:
            continue
        for t in targets:
            if t == s:
                continue
            coef = _pair_coef(fleet, s, t)
            room_mem = lim[MEM][t] - used[MEM][t] + 1e-9
            room_vcpu = lim[VCPU][t] - used[VCPU][t] + 1e-9
            room_cpu = lim[CPU][t] - used[CPU][t] + 1e-9
            for unit in movable:
                dem = unit.dem
                if dem[MEM] > room_mem or (dem[VCPU] and dem[VCPU] > room_vcpu) or (dem[CPU] and dem[CPU] > room_cpu):
                    continue
                g = 0.0
                for m, a, b in coef:
                    d = dem[m]
                    g += d * (a + b * d)
                if g < best_gain:
                    continue
                if not _rules_let(fleet, unit, t, budget):
                    continue
                key = (g, -len(unit.members), unit.name, -t)
                if best is None or key > best[0]:
                    best = (key, [(unit, t)])
                    best_gain = g
    return best


def _rules_let(fleet, unit, t, budget):
    """Whether the placement rules and the migration budget let unit move to host t: its pinned hosts, no
    member of its anti-affinity groups on t, and the migrations the move adds within budget (None: no limit).
    Room is the caller's: each step checks it against its own limits first."""
    if unit.allowed is not None and t not in unit.allowed:
        return False
    if unit.anti and any(fleet.anti_count[x].get(t) for x in unit.anti):
        return False
    return budget is None or fleet.migrations_now + fleet.cost(unit, t) <= budget


def _pick_anchor(fleet, heaps, thr, stuck):
    """The host furthest outside mean +- thr on a weighted metric (ties: lower index), or None."""
    anchor = None
    n = fleet.nactive
    for m in fleet.obj:
        mean = fleet.s1[m] / n
        for hot in (True, False):
            cands = heaps.top(m, 1, hot, skip=stuck.__contains__)
            if not cands:
                continue
            h = cands[0]
            dev = fleet.used[m][h] * fleet.inv[m][h] - mean
            if not (dev > thr if hot else dev < -thr):
                continue
            key = (fleet.w[m] * abs(dev), -h)
            if anchor is None or key > anchor[0]:
                anchor = (key, h, hot)
    return anchor


def _balance(fleet, threshold, budget, economy=None):
    """Steepest descent on sq_dev, anchored on hosts outside mean +- threshold.

    Each step takes the host furthest outside the band and applies the best improving move that takes
    load off it (or puts load on it when it is below the band), among its units and the few coolest
    (hottest) hosts by combined and per-metric load. A host without an improving move is set aside until
    the end, when every set-aside host is checked again in the final state: the loop stops only when a
    whole pass in one state finds nothing, so planning again on the result finds nothing either.
    """
    if economy is not None:
        _relieve(fleet, threshold, budget, economy)
        return
    if fleet.nactive <= 1:
        return
    heaps = _Heaps(fleet)
    thr = threshold / 100.0
    stuck = set()
    clean = False
    fleet.migrations_now = fleet.migrations()
    while True:
        anchor = _pick_anchor(fleet, heaps, thr, stuck)
        if anchor is None:
            if clean or not stuck:
                break
            # re-check the set-aside hosts in the current state, with sums recomputed from scratch
            # (exactly what a new run would see)
            stuck = set()
            clean = True
            fleet.recompute()
            heaps.rebuild()
            continue
        h, hot = anchor[1], anchor[2]
        best = _best_move(fleet, heaps, h, hot, budget) or _best_swap(fleet, heaps, h, hot, budget)
        if best is None:
            stuck.add(h)
            continue
        reason = _balance_reason(fleet, h, hot)
        for unit, t in best[1]:
            s = unit.host
            fleet.migrations_now += fleet.cost(unit, t)
            fleet.move(unit, t, reason)
            heaps.touch(s)
            heaps.touch(t)
            stuck.discard(s)
            stuck.discard(t)
        clean = False
    if fleet.nactive <= _REFINE_HOSTS and _outside_band(fleet, thr) \
            and sum(1 for u in fleet.units if u.movable) <= _REFINE_UNITS:
        _refine(fleet, budget)


# --------------------------------------------------------------------------------------------
# Economy: relieve the overloaded hosts only, with few migrations
# --------------------------------------------------------------------------------------------

def _over(fleet, h, eco, thr, trigger):
    """How far host h is past its economy limits, weighted, summed over the weighted metrics (0: within),
    counting only metrics on which it is more than `thr` above the fleet average. trigger=True: whether it is
    overloaded - vCPUs or CPU at eco['trigger'] x the average or more, memory above eco['memory'] percent;
    trigger=False: whether it is still to be relieved - vCPUs or CPU above eco['target'] x the average,
    memory above eco['memory'] percent."""
    n = fleet.nactive
    total = 0.0
    for m in fleet.obj:
        mean = fleet.s1[m] / n
        load = fleet.used[m][h] * fleet.inv[m][h]
        if load - mean <= thr:
            continue
        if m == MEM:
            limit = eco['memory'] / 100.0
            past = load > limit + 1e-9
        elif trigger:
            limit = eco['trigger'] * mean
            past = load >= limit - 1e-9
        else:
            limit = eco['target'] * mean
            past = load > limit + 1e-9
        if past:
            total += fleet.w[m] * (max(load - limit, 0.0) + 1e-9)
    return total


def _relief_move(fleet, heaps, anchor, thr, eco, budget):
    """The best improving move of a unit off `anchor` to a host that stays within the economy limits
    (vCPUs and CPU within eco['target'] x the average, memory at most eco['memory'] percent, measured CPU at
    most eco['cpu'] percent when it is weighted) and that lowers the imbalance by at least eco['min_gain']
    points per migration, or None."""
    n = float(fleet.nactive)
    units = fleet.units
    used, inv, lim, s1 = fleet.used, fleet.inv, fleet.lim, fleet.s1
    target, trigger, level = eco['target'], eco['trigger'], eco['memory'] / 100.0
    cpu_level = eco['cpu'] / 100.0
    movable = sorted((units[u] for u in fleet.on[anchor] if units[u].movable), key=lambda u: u.name)
    if not movable:
        return None
    if fleet.nactive <= _SMALL_FLEET:
        targets = [h for h in range(fleet.nh) if fleet.active[h] and h != anchor]
    else:
        # the coolest hosts by combined and per-metric load among those with room for the smallest unit
        # under the memory level and the vCPU/CPU limits
        small = [min(u.dem[m] for u in movable) for m in range(3)]

        def full(h):
            if h == anchor:
                return True
            for m in fleet.obj:
                load = (used[m][h] + small[m]) * inv[m][h]
                if load > (level if m == MEM else target * s1[m] / n + thr) + 1e-9:
                    return True
                if m == CPU and load > cpu_level + 1e-9:
                    return True
            return any(small[m] > lim[m][h] - used[m][h] + 1e-9 for m in range(3))
        targets = heaps.top('score', _CANDIDATES, False, skip=full)
        for m in fleet.obj:
            targets.extend(heaps.top(m, 2, False, skip=full))
        targets = sorted(set(targets))
    sq = fleet.sq_dev()
    now = fleet.imbalance()
    s = anchor
    best = None
    for t in targets:
        coef = _pair_coef(fleet, s, t)
        for unit in movable:
            dem = unit.dem
            if dem[MEM] > lim[MEM][t] - used[MEM][t] + 1e-9 or (dem[VCPU] and dem[VCPU] > lim[VCPU][t] - used[VCPU][t] + 1e-9) \
                    or (dem[CPU] and dem[CPU] > lim[CPU][t] - used[CPU][t] + 1e-9):
                continue
            g = 0.0
            for m, a, b in coef:
                d = dem[m]
                g += d * (a + b * d)
            per = g / len(unit.members)
            if per <= _EPS or (best is not None and (per, unit.name, -t) <= best[0]):
                continue
            # the target must not end overloaded (so a new run does not move it back): on vCPUs and CPU within
            # target x the average (or threshold points of it), on memory at most the memory level
            within = True
            for m in fleet.obj:
                d = dem[m]
                load = (used[m][t] + d) * inv[m][t]
                if m == MEM:
                    within = load <= level + 1e-9
                else:
                    mean = (s1[m] + d * (inv[m][t] - inv[m][s])) / n
                    within = load - mean <= thr or (load <= target * mean + 1e-9 and load < trigger * mean - 1e-9)
                    if m == CPU and load > cpu_level + 1e-9:
                        within = False  # measured CPU: never onto a host that would then be busy
                if not within:
                    break
            if not within:
                continue
            if not _rules_let(fleet, unit, t, budget):
                continue
            if eco['min_gain'] > 0:
                after = 100.0 * math.sqrt(max(sq - g, 0.0) / n)
                if (now - after) / len(unit.members) < eco['min_gain'] - 1e-9:
                    continue
            best = ((per, unit.name, -t), [(unit, t)])
    return best


def _relieve(fleet, threshold, budget, eco):
    """Economy: only overloaded hosts give guests. A host is overloaded when, on a weighted metric, it is
    more than `threshold` points above the fleet average and, for vCPUs and CPU, at eco['trigger'] x that
    average or more, for memory, above eco['memory'] percent. It then gives units, the best improving move
    first, until it is within eco['target'] x the average (memory: eco['memory'] percent) on every weighted
    metric or no move helps; a target host never ends past those limits, so it never becomes overloaded, nor
    (measured CPU weighted) above eco['cpu'] percent of its CPUs: on a fleet whose hosts are all that busy,
    a move would only trade one busy host for another, and nothing moves for CPU.
    Hosts that found no move are checked again in the final state with the sums recomputed (what a new run
    sees), so planning again on the result plans nothing."""
    if fleet.nactive <= 1:
        return
    heaps = _Heaps(fleet)
    thr = threshold / 100.0
    stuck = set()
    relieving = set()
    clean = False
    fleet.migrations_now = fleet.migrations()
    while True:
        anchor = None
        for m in fleet.obj:
            for h in heaps.top(m, 1, True, skip=stuck.__contains__):
                key = _over(fleet, h, eco, thr, True)
                if key > 0 and (anchor is None or (key, -h) > anchor[0]):
                    anchor = ((key, -h), h)
        for h in sorted(relieving - stuck):
            key = _over(fleet, h, eco, thr, False)
            if key <= 0:
                relieving.discard(h)
            elif anchor is None or (key, -h) > anchor[0]:
                anchor = ((key, -h), h)
        if anchor is None:
            if clean or not stuck:
                break
            # re-check the hosts set aside in the current state, with the sums recomputed from scratch
            stuck = set()
            relieving = set()
            clean = True
            fleet.recompute()
            heaps.rebuild()
            continue
        h = anchor[1]
        relieving.add(h)
        best = _relief_move(fleet, heaps, h, thr, eco, budget)
        if best is None:
            stuck.add(h)
            continue
        reason = _relief_reason(fleet, h, eco)
        for unit, t in best[1]:
            fleet.migrations_now += fleet.cost(unit, t)
            fleet.move(unit, t, reason)
            heaps.touch(h)
            heaps.touch(t)
            stuck.discard(t)
        clean = False


def _relief_reason(fleet, h, eco):
    n = fleet.nactive
    parts = []
    for m in fleet.obj:
        load = 100.0 * fleet.used[m][h] * fleet.inv[m][h]
        mean = 100.0 * fleet.s1[m] / n
        if m == MEM:
            parts.append('memory %.0f%% (limit %.0f%%)' % (load, eco['memory']))
        else:
            parts.append('%s %.0f%% = %.2f x the fleet average %.0f%%' % (
                METRICS[m], load, load / mean if mean else 0.0, mean))
    return 'relieve: %s is overloaded (%s; trigger %.2f x, relieved at %.2f x)' % (
        fleet.names[h], ', '.join(parts), eco['trigger'], eco['target'])


def _outside_band(fleet, thr):
    n = fleet.nactive
    for m in fleet.obj:
        mean = fleet.s1[m] / n
        for h in range(fleet.nh):
            if fleet.active[h] and abs(fleet.used[m][h] * fleet.inv[m][h] - mean) > thr:
                return True
    return False


# --------------------------------------------------------------------------------------------
# Small fleets: a wider search (full neighbourhood descent, perturbation + re-descent)
# --------------------------------------------------------------------------------------------

def _full_step(fleet, budget):
    """The best improving move, else the best improving exchange, over every pair of active hosts."""
    best = None
    for a in range(fleet.nh):
        if not fleet.active[a]:
            continue
        cand = _best_move(fleet, None, a, True, budget)
        if cand is not None and (best is None or cand[0] > best[0]):
            best = cand
    if best is not None:
        return best
    for a in range(fleet.nh):
        if not fleet.active[a]:
            continue
        cand = _best_swap(fleet, None, a, True, budget)
        if cand is not None and (best is None or cand[0] > best[0]):
            best = cand
    return best


def _descend(fleet, budget, reason, limit):
    """Steepest descent over the full neighbourhood; returns the number of steps taken."""
    steps = 0
    while steps < limit:
        best = _full_step(fleet, budget)
        if best is None:
            break
        for unit, t in best[1]:
            fleet.migrations_now += fleet.cost(unit, t)
            fleet.move(unit, t, reason)
        steps += 1
    return steps


def _trim(fleet, reason):
    """Fewer migrations for the same loads: two single guests with the same demand trade places when
    that moves fewer guests away from where they started (memory and imbalance do not change)."""
    changed = False
    singles = [u for u in fleet.units if u.movable and len(u.gids) == 1]
    by_dem = {}
    for unit in singles:
        by_dem.setdefault(tuple(unit.dem), []).append(unit)
    for group in by_dem.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda u: u.name)
        for i, x in enumerate(group):
            for y in group[i + 1:]:
                hx, hy = x.host, y.host
                if hx == hy:
                    continue
                ox, oy = fleet.gorigin[x.gids[0]], fleet.gorigin[y.gids[0]]
                delta = (hy != ox) + (hx != oy) - (hx != ox) - (hy != oy)
                if delta >= 0:
                    continue
                if (x.allowed is not None and hy not in x.allowed) or (y.allowed is not None and hx not in y.allowed):
                    continue
                if any(fleet.anti_count[a].get(hy, 0) - (1 if a in y.anti else 0) for a in x.anti):
                    continue
                if any(fleet.anti_count[a].get(hx, 0) - (1 if a in x.anti else 0) for a in y.anti):
                    continue
                fleet.move(x, hy, reason)
                fleet.move(y, hx, reason)
                fleet.migrations_now += delta
                changed = True
    return changed


def _placement_seed(fleet):
    """A seed that depends only on where every guest is (the same in a new run on the same state)."""
    text = ';'.join('%s=%s' % (unit.name, fleet.names[unit.host]) for unit in fleet.units)
    return zlib.crc32(text.encode('utf-8'))


def _anneal(fleet, rnd, budget, iterations):
    """Simulated annealing over single moves and exchanges that keep every hard constraint (on a light
    copy of the loads); returns {unit idx: host} of the best placement seen. The fleet is not changed."""
    units = [u for u in fleet.units if u.movable]
    hosts = [h for h in range(fleet.nh) if fleet.active[h]]
    if not units or len(hosts) < 2:
        return dict((u.idx, u.host) for u in units)
    n = float(fleet.nactive)
    obj = list(fleet.obj)
    wn = [fleet.w[m] / fleet.wsum for m in range(3)]
    inv = fleet.inv
    load = [[fleet.used[m][h] * inv[m][h] for h in range(fleet.nh)] for m in range(3)]
    s1 = list(fleet.s1)
    used = [list(x) for x in fleet.used]
    lim = [[v + 1e-9 for v in x] for x in fleet.lim]
    anti = [dict(c) for c in fleet.anti_count]
    where = dict((u.idx, u.host) for u in units)
    origin = fleet.gorigin
    moved = [sum(1 for g in u.gids if u.host != origin[g]) for u in units]
    pos = dict((u.idx, k) for k, u in enumerate(units))
    migrations = fleet.migrations_now

    def delta_of(u, s, t):
        total = 0.0
        for m in obj:
            d = u.dem[m]
            if not d:
                continue
            a, b = load[m][s], load[m][t]
            a2, b2 = a - d * inv[m][s], b + d * inv[m][t]
            c = s1[m]
            c2 = c + (a2 - a) + (b2 - b)
            total += wn[m] * (a2 * a2 - a * a + b2 * b2 - b * b - (c2 * c2 - c * c) / n)
        return total

    def apply(u, s, t):
        for m in range(3):
            d = u.dem[m]
            if not d:
                continue
            used[m][s] -= d
            used[m][t] += d
            a, b = load[m][s], load[m][t]
            load[m][s] = used[m][s] * inv[m][s]
            load[m][t] = used[m][t] * inv[m][t]
            s1[m] += load[m][s] - a + load[m][t] - b
        for a in u.anti:
            anti[a][s] -= 1
            anti[a][t] = anti[a].get(t, 0) + 1
        where[u.idx] = t

    def room(u, t, extra=None):
        for m in range(3):
            d = u.dem[m]
            if extra is not None:
                d -= extra.dem[m]
            if d > 0 and used[m][t] + d > lim[m][t]:
                return False
        return True

    def moves_after(u, t):
        return sum(1 for g in u.gids if t != origin[g])

    # start hot enough to accept a typical worsening move about half of the time
    ups = sorted(d for d in (delta_of(u, u.host, t) for u in units for t in hosts if t != u.host) if d > 0)
    best_at = dict(where)
    if not ups:
        return best_at
    temp = ups[len(ups) // 2] * _REFINE_HEAT
    cool = math.exp(math.log(1e-3) / max(iterations, 1))
    cur = best = 0.0
    exp, rand = math.exp, rnd.random
    nu, nh = len(units), len(hosts)
    for _it in range(iterations):
        temp *= cool
        x = units[int(rand() * nu)]
        s = where[x.idx]
        if rand() < 0.5:
            t = hosts[int(rand() * nh)]
            if t == s or (x.allowed is not None and t not in x.allowed) or not room(x, t):
                continue
            if x.anti and any(anti[a].get(t) for a in x.anti):
                continue
            after = moves_after(x, t)
            if budget is not None and migrations + after - moved[pos[x.idx]] > budget:
                continue
            delta = delta_of(x, s, t)
            if delta > 0 and rand() >= exp(-delta / temp):
                continue
            apply(x, s, t)
            migrations += after - moved[pos[x.idx]]
            moved[pos[x.idx]] = after
        else:
            y = units[int(rand() * nu)]
            t = where[y.idx]
            if t == s or (x.allowed is not None and t not in x.allowed) or (y.allowed is not None and s not in y.allowed):
                continue
            if (x.anti and any(anti[a].get(t) for a in x.anti)) or (y.anti and any(anti[a].get(s) for a in y.anti)):
                continue  # (two members of one anti-affinity group cannot trade places one after the other)
            # final loads within the limits, and one of the two orders possible
            if not (room(x, t, y) and room(y, s, x)) or not (room(x, t) or room(y, s)):
                continue
            ax, ay = moves_after(x, t), moves_after(y, s)
            dm = ax - moved[pos[x.idx]] + ay - moved[pos[y.idx]]
            if budget is not None and migrations + dm > budget:
                continue
            delta = delta_of(x, s, t)
            apply(x, s, t)
            delta += delta_of(y, t, s)
            if delta > 0 and rand() >= exp(-delta / temp):
                apply(x, t, s)
                continue
            apply(y, t, s)
            migrations += dm
            moved[pos[x.idx]] = ax
            moved[pos[y.idx]] = ay
        cur += delta
        if cur < best - 1e-12:
            best = cur
            best_at = dict(where)
    return best_at


def _schedulable(fleet):
    """Whether the units can go from where they started to where they are now, one migration each, in
    some order that keeps every hard constraint at each step (as _schedule would order them)."""
    final = [u.host for u in fleet.units]
    start = {}
    for unit in fleet.units:
        o = fleet.gorigin[unit.gids[0]]
        if any(fleet.gorigin[g] != o for g in unit.gids):
            # an affinity group split in the input, gathered by a repair: not modelled here; if no order
            # works, _schedule drops the move and plan_balance plans again without it (converged: false)
            return True
        if o != unit.host:
            start[unit.idx] = o
    if not start:
        return True
    snap = fleet.snapshot()
    for uidx, o in start.items():
        fleet.move(fleet.units[uidx], o, None)
    _ordered, pending = _run_order(fleet, sorted(start), dict(enumerate(final)), {})
    fleet.restore(snap)
    return not pending


# --------------------------------------------------------------------------------------------
# Small fleets: an exact search over what each host holds
# --------------------------------------------------------------------------------------------

class _Exact(object):
    """Branch and bound for the least imbalance over the placements of the movable units of some hosts among
    those hosts (the other hosts as they are), keeping the hard constraints (memory and max_load limits,
    pinning, anti-affinity), whatever the number of migrations.

    Units with the same demand and the same rules form a class; the search fills the hosts one after the
    other (smallest capacity first, so that the hosts left at the end are alike), choosing how many units of
    each class a host holds. A host's content is kept only when a lower bound of the final figure stays under
    the ceiling: the hosts filled so far as they are, the rest of the demand spread over the remaining hosts
    as a fluid (closed form, per metric); the same bound gives, before a host is filled, the window its load
    must fall in. Alike hosts hold contents in decreasing order, so that a placement is not searched once per
    permutation of alike hosts. The work is counted (never timed); `stop` says the search was cut short.

    It does not read where the units of the searched hosts are, only which they are.
    """

    def __init__(self, fleet, work, hosts=None):
        self.f = fleet
        self.work = work
        self.steps = 0
        self.stop = False
        self.obj = list(fleet.obj)
        self.w = [fleet.w[m] / fleet.wsum for m in range(3)]
        active = [h for h in range(fleet.nh) if fleet.active[h]]
        searched = set(active if hosts is None else hosts)
        self.total = len(active)
        # the hosts that are not searched count as they are
        self.s1 = [0.0, 0.0, 0.0]
        self.s2 = [0.0, 0.0, 0.0]
        for h in active:
            if h not in searched:
                for m in range(3):
                    u = fleet.used[m][h] * fleet.inv[m][h]
                    self.s1[m] += u
                    self.s2[m] += u * u
        base = [[0.0] * fleet.nh for _i in range(3)]
        base_anti = [dict() for _i in fleet.anti_names]
        classes = {}
        for unit in fleet.units:
            if unit.host not in searched:
                continue
            if unit.movable:
                key = (tuple(unit.dem), tuple(sorted(unit.allowed)) if unit.allowed is not None else None,
                       tuple(sorted(unit.anti)))
                classes.setdefault(key, []).append(unit)
            else:
                for m in range(3):
                    base[m][unit.host] += unit.dem[m]
                for a in unit.anti:
                    base_anti[a][unit.host] = base_anti[a].get(unit.host, 0) + 1
        # anti-affinity members on hosts that are not searched do not matter here (they stay there)
        total = [sum(fleet.cap[m][h] for h in active) for m in range(3)]

        def weight(key):
            return sum(self.w[m] * key[0][m] * self.total / total[m] for m in self.obj)
        self.keys = sorted(classes, key=lambda k: (-weight(k), k[0], k[1] or (), k[2]))
        self.units = [sorted(classes[k], key=lambda u: u.name) for k in self.keys]
        self.dem = [k[0] for k in self.keys]
        self.allowed = [frozenset(k[1]) if k[1] is not None else None for k in self.keys]
        self.anti = [k[2] for k in self.keys]
        self.base = base
        self.base_anti = base_anti

        def alike(h):
            return (tuple(fleet.cap[m][h] for m in range(3)), tuple(fleet.lim[m][h] for m in range(3)),
                    tuple(base[m][h] for m in range(3)), tuple(base_anti[a].get(h, 0) for a in range(len(base_anti))),
                    tuple(al is None or h in al for al in self.allowed))
        self.order = sorted(searched, key=lambda h: (alike(h), h))
        self.n = len(self.order)
        self.i0 = self.total - self.n
        self.same = [j > 0 and alike(self.order[j]) == alike(self.order[j - 1]) for j in range(self.n)]
        n = self.n
        # per metric, over the hosts order[j:]: sum of capacities, of their squares, of their fixed demand
        self.c1 = [[0.0] * (n + 1) for _i in range(3)]
        self.c2 = [[0.0] * (n + 1) for _i in range(3)]
        self.cb = [[0.0] * (n + 1) for _i in range(3)]
        for m in range(3):
            for j in range(n - 1, -1, -1):
                h = self.order[j]
                self.c1[m][j] = self.c1[m][j + 1] + fleet.cap[m][h]
                self.c2[m][j] = self.c2[m][j + 1] + fleet.cap[m][h] ** 2
                self.cb[m][j] = self.cb[m][j + 1] + base[m][h]

    def _rest(self, m, j, s1, s2, rem):
        """Least sum of squared deviations of metric m when the hosts not searched and order[:j] have load sum
        s1 and sum of squares s2, and the hosts order[j:] share the demand rem (and their fixed demand) as a
        fluid: min over t of s2 - 2 t s1 + i t^2 + (e - t c1)^2 / c2, the rest at t + nu * capacity."""
        i = self.i0 + j
        if j >= self.n:
            return s2 - s1 * s1 / i
        c1, c2 = self.c1[m][j], self.c2[m][j]
        e = rem + self.cb[m][j]
        t = (s1 + c1 * e / c2) / (i + c1 * c1 / c2)
        return s2 - 2.0 * t * s1 + i * t * t + (e - t * c1) ** 2 / c2

    def _window(self, j, s1, s2, rem, ceiling):
        """Per metric, the demand host order[j] may hold for the bound to stay under the ceiling (None: no
        content can)."""
        h = self.order[j]
        f = self.f
        quad = {}
        low = {}
        for m in self.obj:
            cap, b = f.cap[m][h], self.base[m][h]

            def g(u, m=m, cap=cap, b=b):
                return self._rest(m, j + 1, s1[m] + u, s2[m] + u * u, rem[m] - (u * cap - b))
            # the bound is a quadratic in the host's load u: three values give it
            g0, g1, g2 = g(0.0), g(0.5), g(1.0)
            a = 2.0 * (g2 - 2.0 * g1 + g0)
            bq = 2.0 * (g1 - g0) - 0.5 * a
            quad[m] = (a, bq, g0)
            low[m] = g0 - bq * bq / (4.0 * a) if a > 1e-15 else min(g0, g2)
        window = [None, None, None]
        for m in self.obj:
            a, bq, c = quad[m]
            if a <= 1e-15:
                continue
            room = (ceiling - sum(self.w[o] * low[o] for o in self.obj if o != m)) / self.w[m]
            disc = bq * bq - 4.0 * a * (c - room)
            if disc < 0:
                return None
            r = math.sqrt(disc)
            cap = f.cap[m][h]
            window[m] = (((-bq - r) / (2.0 * a) - 1e-9) * cap, ((-bq + r) / (2.0 * a) + 1e-9) * cap)
        return window

    def _contents(self, j, left, anti_used, window):
        """The class counts host order[j] may hold (everything left, for the last host), with its loads."""
        h = self.order[j]
        f = self.f
        nk = len(self.keys)
        dem, allowed, anti = self.dem, self.allowed, self.anti
        lim = [f.lim[m][h] + 1e-9 for m in range(3)]
        last = j == self.n - 1
        # demand of the classes from k on that this host may take, for the lower end of the window
        reach = [[0.0] * 3 for _k in range(nk + 1)]
        for k in range(nk - 1, -1, -1):
            ok = allowed[k] is None or h in allowed[k]
            for m in range(3):
                reach[k][m] = reach[k + 1][m] + (left[k] * dem[k][m] if ok else 0.0)
        checks = [(m, window[m][0], window[m][1]) for m in self.obj if window is not None and window[m] is not None]
        out = []
        x = [0] * nk
        load = [self.base[m][h] for m in range(3)]
        taken = dict((a, anti_used[a].get(h, 0)) for k in range(nk) for a in anti[k])

        def walk(k):
            self.steps += 1
            if self.steps > self.work:
                self.stop = True
                return
            for m, lo, hi in checks:
                if load[m] > hi or load[m] + reach[k][m] < lo:
                    return
            if k == nk:
                out.append((tuple(x), list(load)))
                return
            top = left[k]
            if top and allowed[k] is not None and h not in allowed[k]:
                top = 0
            if top and anti[k]:
                top = 0 if any(taken[a] for a in anti[k]) else 1
            if last and top != left[k]:
                return
            d = dem[k]
            for c in range(top, top - 1 if last else -1, -1):
                if c and any(d[m] and load[m] + c * d[m] > lim[m] for m in range(3)):
                    continue
                x[k] = c
                for m in range(3):
                    load[m] += c * d[m]
                for a in anti[k]:
                    taken[a] += c
                walk(k + 1)
                for a in anti[k]:
                    taken[a] -= c
                for m in range(3):
                    load[m] -= c * d[m]
                x[k] = 0
                if self.stop:
                    return
        walk(0)
        return out

    def solve(self, ceiling, accept=None):
        """(sum of squared deviations, [class counts per host of self.order]) of the best placement under the
        ceiling that `accept` (a function of the class counts, if given) takes, or (ceiling, None) when the
        search found none."""
        n = self.n
        nk = len(self.keys)
        left = [len(u) for u in self.units]
        anti_used = [dict(c) for c in self.base_anti]
        rem = [sum(left[k] * self.dem[k][m] for k in range(nk)) for m in range(3)]
        chosen = [None] * n
        result = [ceiling, None]
        f = self.f

        def dfs(j, s1, s2, rem):
            h = self.order[j]
            window = None
            if j < n - 1:
                window = self._window(j, s1, s2, rem, result[0])
                if window is None:
                    return
            options = []
            for x, load in self._contents(j, left, anti_used, window):
                if self.same[j] and x > chosen[j - 1]:
                    continue
                u = [load[m] * f.inv[m][h] for m in range(3)]
                n1 = [s1[m] + u[m] for m in range(3)]
                n2 = [s2[m] + u[m] * u[m] for m in range(3)]
                nrem = [rem[m] - (load[m] - self.base[m][h]) for m in range(3)]
                bound = sum(self.w[m] * self._rest(m, j + 1, n1[m], n2[m], nrem[m]) for m in self.obj)
                if bound < result[0] - 1e-12:
                    options.append((bound, x, n1, n2, nrem))
            if self.stop:
                return
            options.sort(key=lambda o: (o[0], o[1]))
            for bound, x, n1, n2, nrem in options:
                if bound >= result[0] - 1e-12:
                    break
                chosen[j] = x
                if j == n - 1:
                    if accept is None or accept(chosen):
                        result[0] = bound
                        result[1] = list(chosen)
                    break
                for k in range(nk):
                    if x[k]:
                        left[k] -= x[k]
                        for a in self.anti[k]:
                            anti_used[a][h] = anti_used[a].get(h, 0) + 1
                dfs(j + 1, n1, n2, nrem)
                for k in range(nk):
                    if x[k]:
                        left[k] += x[k]
                        for a in self.anti[k]:
                            anti_used[a][h] -= 1
                if self.stop:
                    return

        if n:
            dfs(0, list(self.s1), list(self.s2), rem)
        return result[0], result[1]

    def placement(self, contents):
        """{unit idx: host} for class counts per host of self.order, keeping on each host the units that
        started there (as many as it holds of their class), the others by name to the hosts by index."""
        f = self.f
        where = {}
        for k, units in enumerate(self.units):
            need = dict((self.order[j], contents[j][k]) for j in range(self.n) if contents[j][k])
            rest = []
            for unit in units:
                o = f.gorigin[unit.gids[0]]
                if need.get(o):
                    where[unit.idx] = o
                    need[o] -= 1
                else:
                    rest.append(unit)
            targets = [h for h in sorted(need) for _c in range(need[h])]
            for unit, h in zip(rest, targets):
                where[unit.idx] = h
        return where


def _triples(fleet):
    """Every three active hosts in turn (in index order), the movable units on them placed anew among them by
    the exact search, when that lowers the figure clearly and some order of single migrations reaches it.
    Returns whether something changed. Deterministic given the placement, so a new run on a placement where
    no three hosts can do better finds the same. (Not with max_migrations: the exact search does not count
    migrations, and under a budget most of what it finds would be refused.)"""
    reason = 'balance: an exact search over three hosts found a lower imbalance'
    hosts = [h for h in range(fleet.nh) if fleet.active[h]]
    changed = False
    for a in range(len(hosts)):
        for b in range(a + 1, len(hosts)):
            for c in range(b + 1, len(hosts)):
                trio = (hosts[a], hosts[b], hosts[c])
                if not any(fleet.units[u].movable for h in trio for u in fleet.on[h]):
                    continue
                fleet.recompute()
                sq0 = fleet.sq_dev()
                search = _Exact(fleet, _TRIPLE_WORK, trio)
                units = [fleet.units[u] for h in trio for u in sorted(fleet.on[h])]

                def apply(contents, search=search, units=units):
                    target = search.placement(contents)
                    for unit in units:
                        if unit.idx in target and target[unit.idx] != unit.host:
                            fleet.move(unit, target[unit.idx], reason)
                    fleet.recompute()

                accept = _triple_acceptor(fleet, apply, search)
                _value, contents = search.solve(sq0 - 1e-6 * sq0 - 1e-12, accept)
                if contents is not None:
                    apply(contents)
                    changed = True
    fleet.migrations_now = fleet.migrations()
    return changed


def _refine(fleet, budget):
    """Iterated local search on a small fleet, deterministic given the placement it starts from.

    From a local optimum L of the full neighbourhood (every move, every exchange), try a fixed number of
    perturbations (a few random moves that keep the hard constraints) each followed by a descent; the
    perturbations are drawn from a seed computed from L's placement. The first trial that ends clearly
    better than L becomes the new starting point. When no trial helps, on fleets of at most _TRIPLE_HOSTS
    hosts (and without max_migrations), every three hosts get their units placed anew by an exact search
    (_triples); what that lowers becomes the new starting point. The search stops when neither helps. A new
    run on the result starts from that same L, draws the same trials, searches the same triples and so plans
    nothing (idempotence).
    """
    reason = 'balance: a wider search (perturbation and re-descent) found a lower imbalance'
    movable = [u for u in fleet.units if u.movable]
    if not movable:
        return
    limit = 4 * len(movable) + 10
    for _round in range(_REFINE_ROUNDS):
        fleet.recompute()
        fleet.migrations_now = fleet.migrations()
        if _descend(fleet, budget, reason, limit):
            continue
        if _trim(fleet, reason):
            continue
        base = fleet.snapshot()
        sq0 = fleet.sq_dev()
        tol = 1e-6 * sq0 + 1e-12
        rnd = random.Random(_placement_seed(fleet))
        accepted = False
        fleet.deferred = False
        for _trial in range(_REFINE_TRIALS):
            fleet.restore(base)
            fleet.migrations_now = fleet.migrations()
            target = _anneal(fleet, rnd, budget, min(_REFINE_STEPS * len(movable), _REFINE_MAX_STEPS))
            fleet.restore(base)
            for unit in movable:
                if target[unit.idx] != unit.host:
                    fleet.move(unit, target[unit.idx], reason)
            fleet.recompute()
            fleet.migrations_now = fleet.migrations()
            _descend(fleet, budget, reason, limit)
            if fleet.sq_dev() < sq0 - tol:
                if _schedulable(fleet):
                    accepted = True
                    break
                fleet.deferred = True
        if not accepted:
            fleet.restore(base)
            if budget is None and fleet.nactive <= _TRIPLE_HOSTS and _triples(fleet):
                continue
            break
    fleet.recompute()
    fleet.migrations_now = fleet.migrations()


def _loads_text(fleet, h):
    return ', '.join('%s %.0f%%' % (METRICS[m], 100 * fleet.used[m][h] * fleet.inv[m][h]) for m in fleet.obj)


def _balance_reason(fleet, anchor, hot):
    n = fleet.nactive
    mean = ', '.join('%s %.0f%%' % (METRICS[m], 100 * fleet.s1[m] / n) for m in fleet.obj)
    if hot:
        return 'balance: %s is above the fleet average (%s vs %s)' % (fleet.names[anchor], _loads_text(fleet, anchor), mean)
    return 'balance: %s is below the fleet average (%s vs %s)' % (fleet.names[anchor], _loads_text(fleet, anchor), mean)


# --------------------------------------------------------------------------------------------
# Density: pack guests, free whole hosts
# --------------------------------------------------------------------------------------------

class _FreeIndex(object):
    """Non-empty active hosts sorted by free memory (under their limit), for best fit."""

    def __init__(self, fleet):
        self.f = fleet
        self.key = {}
        self.items = []
        for h in range(fleet.nh):
            self.update(h)

    def update(self, h):
        old = self.key.pop(h, None)
        if old is not None:
            i = bisect_left(self.items, old)
            del self.items[i]
        if self.f.active[h] and self.f.on[h]:
            key = (self.f.lim[MEM][h] - self.f.used[MEM][h], h)
            insort(self.items, key)
            self.key[h] = key

    def best_fit(self, unit, exclude):
        i = bisect_left(self.items, (unit.dem[MEM] - 1e-9, -1))
        for free, t in self.items[i:]:
            if t != exclude and self.f.fits(unit, t):
                return t
        return None


def _pack(fleet, budget):
    """Empty the least loaded hosts into the fullest ones that have room (best fit, largest guest first).

    Passes over the non-empty hosts, least loaded first, until a whole pass frees no host; a host is
    emptied only when all its guests fit on other non-empty hosts, else nothing of it moves.
    """
    index = _FreeIndex(fleet)
    fleet.migrations_now = fleet.migrations()
    while True:
        freed = False
        order = sorted((fleet.score(h), fleet.names[h], h) for h in range(fleet.nh) if fleet.active[h] and fleet.on[h])
        for _score, _name, h in order:
            units = [fleet.units[u] for u in fleet.on[h]]
            if not units or any(not u.movable for u in units):
                continue
            cost = sum(fleet.cost(u, -1) for u in units)
            if budget is not None and fleet.migrations_now + cost > budget:
                continue
            units.sort(key=lambda u: (-u.dem[MEM], -u.dem[VCPU], u.name))
            reason = 'density: free %s (%s, %d guest(s)) by packing its guests onto fuller hosts' % (
                fleet.names[h], _loads_text(fleet, h), sum(len(u.members) for u in units))
            done = 0
            delta = 0
            for unit in units:
                t = index.best_fit(unit, h)
                if t is None:
                    break
                delta += fleet.cost(unit, t)
                fleet.move(unit, t, reason)
                index.update(t)
                done += 1
            if done == len(units):
                index.update(h)
                fleet.migrations_now += delta
                freed = True
            else:
                for _i in range(done):
                    for t in fleet.undo():
                        index.update(t)
        if not freed:
            break


# --------------------------------------------------------------------------------------------
# Ordering: one migration per guest, each feasible at its time
# --------------------------------------------------------------------------------------------

def _schedule(fleet, start, final, reasons, last):
    """Turn the search into one migration per unit of `fleet` (origin -> final host), each feasible at its time.

    `fleet` is the fleet as built from the input (restored to `start`); final/reasons/last map its unit
    indices to the host where the search left them, why, and when the search last moved them.
    Units go in the order of their last decision; one that does not fit yet (its target still holds
    what leaves later, or an anti-affinity mate has not left yet) waits until a later migration makes
    room; when that order leaves some unit stuck, the units are tried again in index order (the order
    _schedulable checks during the search). What can never go (a cycle on full hosts) is dropped and
    reported; everything that stays in the plan was checked, in plan order, against memory, limits
    and rules.
    Returns (ordered [(unit, from, to, reason)], dropped [dict]).
    """
    fleet.restore(start)
    todo = [u for u in final if final[u] != fleet.units[u].host]
    orders = [[u for _key, u in sorted((last[u], u) for u in todo)], sorted(todo)]
    for todo in orders:
        fleet.restore(start)
        fleet.moves = []
        ordered, pending = _run_order(fleet, todo, final, reasons)
        if not pending:
            break
    else:
        fleet.restore(start)
        fleet.moves = []
        ordered, pending = _run_order(fleet, orders[0], final, reasons)
    dropped = [{'guest': unit.name, 'guests': list(unit.members), 'from': fleet.names[unit.host], 'to': fleet.names[t],
                'why': 'no order of the migrations lets it move without overfilling a host or breaking a rule'}
               for unit, t in pending]
    fleet.recompute()
    return ordered, dropped


def _run_order(fleet, todo, final, reasons):
    """Migrations in the order of `todo`, a unit that does not fit yet waiting for a later one to make room."""
    ordered = []
    pending = []

    def go(unit, t):
        ordered.append((unit, unit.host, t, reasons.get(unit.idx, '')))
        fleet.move(unit, t, reasons.get(unit.idx, ''))

    for uidx in todo:
        unit = fleet.units[uidx]
        t = final[uidx]
        if not fleet.fits(unit, t):
            pending.append((unit, t))
            continue
        go(unit, t)
        progress = True
        while progress and pending:
            progress = False
            for k, (punit, pt) in enumerate(pending):
                if fleet.fits(punit, pt):
                    del pending[k]
                    go(punit, pt)
                    progress = True
                    break
    return ordered, pending


def _compose_reason(reasons):
    reasons = [r for r in reasons if r]
    if not reasons:
        return ''
    text = reasons[-1]
    first = reasons[0]
    if first != text and first.startswith('repair'):
        text = '%s; then %s' % (first, text)
    return text


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------

def _host_rows(fleet):
    rows = []
    for h in range(fleet.nh):
        row = {
            'memory_percent': round(100.0 * fleet.used[MEM][h] * fleet.inv[MEM][h], 1),
            'vcpus_percent': round(100.0 * fleet.used[VCPU][h] * fleet.inv[VCPU][h], 1),
            'cpu_percent': round(100.0 * fleet.used[CPU][h] * fleet.inv[CPU][h], 1),
            'score_percent': round(100.0 * fleet.score(h), 1),
            'memory_used_mb': int(round(fleet.used[MEM][h])),
            'memory_free_mb': int(round(fleet.cap[MEM][h] - fleet.used[MEM][h])),
            'vcpus': int(round(fleet.used[VCPU][h])),
            'guests': sum(len(fleet.units[u].members) for u in fleet.on[h]),
        }
        rows.append(row)
    return rows


def _in_use(fleet):
    return sum(1 for h in range(fleet.nh) if fleet.active[h] and fleet.on[h])


def _result(fleet, mode, before_rows, before_imb, before_use, ordered, dropped, extra):
    after_rows = _host_rows(fleet)
    migrations = []
    for unit, s, t, reason in ordered:
        for g in unit.members:
            dem = fleet.gdem[fleet.gidx[g]]
            migrations.append({
                'order': len(migrations) + 1, 'guest': g, 'from': fleet.names[s], 'to': fleet.names[t],
                'memory_mb': int(round(dem[MEM])), 'vcpus': int(round(dem[VCPU])), 'reason': reason,
            })
    hosts = {}
    for h, name in enumerate(fleet.names):
        hosts[name] = {'cordoned': not fleet.active[h], 'before': before_rows[h], 'after': after_rows[h]}
    result = {
        'mode': mode,
        'migrations': migrations,
        'hosts': hosts,
        'imbalance': {'before': round(before_imb, 3), 'after': round(fleet.imbalance(), 3)},
        'hosts_in_use': {'before': before_use, 'after': _in_use(fleet)},
        'dropped': dropped,
    }
    result.update(extra)
    result['summary'] = _summary(result)
    return result


def _summary(result):
    text = '%d migration(s); imbalance %.2f -> %.2f points; hosts in use %d -> %d' % (
        len(result['migrations']), result['imbalance']['before'], result['imbalance']['after'],
        result['hosts_in_use']['before'], result['hosts_in_use']['after'])
    if result.get('unresolved'):
        text += '; %d rule problem(s) left' % len(result['unresolved'])
    if result.get('dropped'):
        text += '; %d move(s) dropped' % len(result['dropped'])
    if result.get('blocked'):
        text += '; %d guest(s) cannot be placed' % len(result['blocked'])
    if result.get('note'):
        text += '; ' + result['note']
    return text


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------

def plan_balance(hosts, guests, mode='performance', weights=None, threshold=5.0, min_improvement=0.0,
                 max_migrations=None, rules=None, max_load=None, memory_reserve_mb=0, economy=None):
    """Plan live migrations that spread load (performance) or free whole hosts (density).

    hosts, guests: the model (see fleet_from_facts). rules: {'affinity': [[guest, ...] | {name, guests}],
    'anti_affinity': [...], 'pinned': {guest: host | [hosts]}, 'cordoned': [hosts], 'excluded': [guests]}.
    threshold: percentage points; in performance mode only hosts whose load on a weighted metric is more
    than this above (or below) the fleet average start moves. min_improvement: percent; a performance
    plan that lowers the imbalance by less than this share of its value is dropped (rule repairs stay).
    max_migrations: upper bound on guests moved (None: no bound). max_load: {metric: percent or None},
    hard limits on targets (memory defaults to 100); memory_reserve_mb: memory kept free on each target.
    Rule violations found in the input (two anti-affinity mates on one host, a guest off its pinned
    hosts, a split affinity group) are repaired first when possible.
    """
    if mode not in MODES:
        raise PlacementError('mode', 'must be one of %s, got %r' % (', '.join(MODES), mode))
    threshold = _number(threshold, 'threshold')
    min_improvement = _number(min_improvement, 'min_improvement')
    budget = _number(max_migrations, 'max_migrations', integer=True, allow_none=True)
    economy = economy_policy(economy)
    frozen = []
    first = None
    for _attempt in range(4):
        # a move that no order of migrations allows (rare: a cycle on full hosts, made of moves whose
        # intermediate hops were folded into one) keeps its guests in place, and the search runs again
        run_rules = dict(rules or {})
        if frozen:
            run_rules['excluded'] = list(run_rules.get('excluded') or []) + frozen
        opts = dict(rules=run_rules, weights=weights, max_load=max_load, memory_reserve_mb=memory_reserve_mb)
        base = _Fleet(hosts, guests, **opts)
        if first is None:
            first = (_host_rows(base), base.imbalance(), _in_use(base))
        ordered, dropped, extra = _plan_once(base, hosts, guests, opts, mode, threshold, min_improvement, budget, economy)
        if not dropped:
            break
        frozen.extend(g for item in dropped for g in item['guests'])
    deferred = extra.pop('deferred', False)
    extra['converged'] = not frozen and not deferred
    if deferred and not frozen:
        extra['note'] = ('a lower imbalance exists that would move some guest(s) twice (no order of single '
                         'migrations reaches it from here); the next run may go there')
    if frozen:
        extra['note'] = ('%d guest(s) kept in place because no order of migrations could move them without '
                         'overfilling a host; the next run may move them' % len(frozen))
    return _result(base, mode, first[0], first[1], first[2], ordered, dropped, extra)


def _plan_once(base, hosts, guests, opts, mode, threshold, min_improvement, budget, economy):
    start = base.snapshot()
    before_imb = base.imbalance()
    origins = dict((g, base.names[h]) for g, h in zip(base.guests, base.ghost))
    state = _search(base, start, hosts, guests, opts, origins, mode, threshold, budget, True, economy)
    extra = {}
    if mode == 'performance' and state['balanced']:
        # judge the balancing moves against the state that the rule repairs alone would give
        ref = before_imb
        plain = None
        if state['repaired']:
            plain = _search(base, start, hosts, guests, opts, origins, mode, threshold, budget, False, economy)
            ref = plain['imbalance']
        gain = 100.0 * (ref - state['imbalance']) / ref if ref > 0 else 0.0
        if gain < min_improvement or gain <= 0:
            extra['note'] = 'balancing would lower the imbalance by %.1f%% only (min_improvement %s%%): not planned' % (
                gain, min_improvement)
            state = plain or _search(base, start, hosts, guests, opts, origins, mode, threshold, budget, False, economy)
    final = {}
    reasons = {}
    last = {}
    for unit in base.units:
        final[unit.idx] = state['positions'][unit.gids[0]]
        why = []
        when = (-1, -1)
        for gname in unit.members:
            why.extend(state['reasons'].get(gname, []))
            when = max(when, state['last'].get(gname, when))
        reasons[unit.idx] = _compose_reason(why)
        last[unit.idx] = when
    extra['unresolved'] = state['unresolved']
    extra['deferred'] = state['deferred']
    ordered, dropped = _schedule(base, start, final, reasons, last)
    return ordered, dropped, extra


def _search(base, start, hosts, guests, opts, origins, mode, threshold, budget, balance, economy):
    """Rounds of repair (rebuilding the fleet so that repaired affinity groups move as one) and balance or
    pack, until a round repairs nothing. Returns the final host (index) per guest index, per guest name
    its reasons and the (round, step) of its last move, the rule problems left, and flags."""
    base.restore(start)
    base.moves = []
    fleet = base
    reasons = {}
    last = {}
    unresolved = []
    balanced = repaired_any = False
    for rnd in range(4):
        mark = len(fleet.moves)
        unresolved = fleet.repair(budget)
        repaired = len(fleet.moves) > mark
        repaired_any = repaired_any or repaired
        _record(fleet, rnd, mark, reasons, last)
        if not repaired and rnd > 0:
            break
        if repaired:
            moved = [dict(g, host=fleet.names[fleet.units[fleet.unit_of[i]].host]) for i, g in enumerate(guests)]
            fleet = _Fleet(hosts, moved, origins=origins, **opts)
        mark = len(fleet.moves)
        if mode == 'density':
            _pack(fleet, budget)
        elif balance:
            _balance(fleet, threshold, budget, economy)
        balanced = balanced or len(fleet.moves) > mark
        _record(fleet, rnd, mark, reasons, last, offset=0.5)
        if not (repaired or len(fleet.moves) > mark):
            break
    left = set(v[2] for v in fleet.violations())
    return {
        'positions': [fleet.units[fleet.unit_of[g]].host for g in range(len(fleet.guests))],
        'reasons': reasons, 'last': last, 'balanced': balanced, 'repaired': repaired_any,
        'unresolved': [v for v in unresolved if v['problem'] in left], 'imbalance': fleet.imbalance(),
        'deferred': fleet.deferred,
    }


def _record(fleet, rnd, mark, reasons, last, offset=0.0):
    for step in range(mark, len(fleet.moves)):
        uidx, _s, _t, reason = fleet.moves[step]
        for g in fleet.units[uidx].members:
            reasons.setdefault(g, []).append(reason)
            last[g] = (rnd + offset, step)


def imbalance(hosts, guests, weights=None, cordoned=None):
    """The imbalance figure (percentage points) of a placement, as plan_balance reports it."""
    return _Fleet(hosts, guests, {'cordoned': list(cordoned or [])}, weights).imbalance()


EVACUATE_ANTI_AFFINITY = ('soft', 'hard')


def plan_evacuation(hosts, guests, host, rules=None, max_load=None, memory_reserve_mb=0, weights=None,
                    anti_affinity='hard'):
    """Plan the migrations that drain `host`: its guests, largest memory first, each to the other host
    (not cordoned, allowed by the rules) with the most free memory at that point, never overfilling one.

    Guests listed in rules.excluded stay (reported in `remaining`). A guest that no host can take is
    reported in `blocked` with why, and `complete` is false; the others are still planned.
    anti_affinity: 'soft' - a guest goes to a host free of its anti-affinity mates when one has room, and
    only when none has, to the host with room and the fewest mates; each rule so broken is reported in
    `unresolved` (for the time the host is drained). 'hard' - such a guest is blocked instead.
    Memory, max_load and pinning are always hard.
    """
    if anti_affinity not in EVACUATE_ANTI_AFFINITY:
        raise PlacementError('anti_affinity', 'must be one of %s, got %r' % (', '.join(EVACUATE_ANTI_AFFINITY),
                                                                             anti_affinity))
    fleet = _Fleet(hosts, guests, rules, weights, max_load, memory_reserve_mb)
    if host not in fleet.hidx:
        raise PlacementError('host', 'unknown host %r (known: %s)' % (host, ', '.join(fleet.names)))
    src = fleet.hidx[host]
    before_rows = _host_rows(fleet)
    before_imb = fleet.imbalance()
    before_use = _in_use(fleet)
    remaining = []
    blocked = []
    unresolved = []
    units = sorted((fleet.units[u] for u in fleet.on[src]), key=lambda u: (-u.dem[MEM], -u.dem[VCPU], u.name))
    targets = [t for t in range(fleet.nh) if t != src and fleet.active[t]]
    for unit in units:
        if unit.why_fixed == 'excluded':
            remaining.append({'guest': unit.name, 'guests': list(unit.members), 'why': 'excluded from moves'})
            continue
        if unit.why_fixed == 'paused':
            blocked.append({'guest': unit.name, 'guests': list(unit.members), 'memory_mb': int(round(unit.dem[MEM])),
                            'why': 'paused: a paused guest cannot be live-migrated; unpause it, shut it down or '
                                   'exclude it'})
            continue
        # a host free of the unit's anti-affinity mates first (mates 0), then - soft only - the fewest
        # mates; among those the most free memory
        best = None
        for t in targets:
            if not fleet.fits(unit, t, anti=False):
                continue
            mates = sum(fleet.anti_count[a].get(t, 0) for a in unit.anti)
            if mates and anti_affinity == 'hard':
                continue
            key = (-mates, fleet.lim[MEM][t] - fleet.used[MEM][t], -fleet.score(t), -t)
            if best is None or key > best[0]:
                best = (key, t)
        if best is None:
            blocked.append({'guest': unit.name, 'guests': list(unit.members), 'memory_mb': int(round(unit.dem[MEM])),
                            'why': _why_blocked(fleet, unit, targets)})
            continue
        t = best[1]
        free = int(round(best[0][1]))
        if not best[0][0]:
            fleet.move(unit, t, 'evacuate %s: %s has the most free memory (%d MiB)' % (host, fleet.names[t], free))
            continue
        groups = [a for a in unit.anti if fleet.anti_count[a].get(t)]
        text = 'anti-affinity %s: %s joins %s on %s' % (
            ', '.join(fleet.anti_names[a] for a in groups), unit.name,
            ', '.join(sorted(fleet.units[u].name for u in fleet.on[t]
                             if any(a in fleet.units[u].anti for a in groups))), fleet.names[t])
        unresolved.append({'guest': unit.name, 'rule': 'anti_affinity', 'problem': text,
                           'why': 'while %s is drained: every other host with room runs a member of the '
                                  'group (soft anti-affinity; hard would block the drain)' % host})
        fleet.move(unit, t, 'evacuate %s: %s has room (%d MiB free); breaks %s while %s is drained' % (
            host, fleet.names[t], free, text, host))
    # sources only lose and targets only gain, in this order: each migration fits at its time
    ordered = [(fleet.units[uidx], s, t, reason) for uidx, s, t, reason in fleet.moves]
    dropped = []
    extra = {'host': host, 'complete': not blocked and not dropped, 'blocked': blocked, 'remaining': remaining,
             'unresolved': unresolved}
    return _result(fleet, 'evacuate', before_rows, before_imb, before_use, ordered, dropped, extra)


def _why_blocked(fleet, unit, targets):
    need = int(round(unit.dem[MEM]))
    if not targets:
        return 'no other host that is not cordoned'
    allowed = [t for t in targets if unit.allowed is None or t in unit.allowed]
    if not allowed:
        return 'pinned to %s only' % ', '.join(sorted(fleet.names[h] for h in unit.allowed))
    free = sorted(((fleet.lim[MEM][t] - fleet.used[MEM][t], fleet.names[t]) for t in allowed), reverse=True)
    if free[0][0] < need - 1e-9:
        return 'needs %d MiB; the most free memory on an eligible host is %d MiB (%s)' % (
            need, max(int(free[0][0]), 0), free[0][1])
    roomy = [t for t in allowed if fleet.lim[MEM][t] - fleet.used[MEM][t] >= need - 1e-9]
    mates = [t for t in roomy if any(fleet.anti_count[a].get(t) for a in unit.anti)]
    if mates and len(mates) == len(roomy):
        return ('the hosts with room (%s) run members of its anti-affinity group (hard anti-affinity; soft would '
                'place it there while the host is drained)' % ', '.join(sorted(fleet.names[t] for t in mates)))
    return 'needs %d MiB; no host with room also has room for its %d vCPU(s) under max_load' % (
        need, int(round(unit.dem[VCPU])))


def _triple_acceptor(fleet, apply, search):
    """The acceptance test of one three-host re-placement: one migration per guest in some order (else the
    search goes on to the next best); after _TRIPLE_REFUSALS refusals the search stops."""
    refused = []

    def accept(contents):
        snap = fleet.snapshot()
        apply(contents)
        ok = _schedulable(fleet)
        fleet.restore(snap)
        fleet.recompute()
        if not ok:
            fleet.deferred = True
            refused.append(contents)
            search.stop = search.stop or len(refused) >= _TRIPLE_REFUSALS
        return ok
    return accept
