#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_balance
short_description: Plan live migrations that balance a fleet of Xen hosts, pack it, or drain one host
version_added: 1.0.0
description:
  - Takes the facts of a group of Xen hosts, as M(xenfleet.xen.xen_host_info) and
    M(xenfleet.xen.xen_domain_info) return them, and a placement policy, and returns a plan, an ordered
    list of live migrations (guest, from, to, why) with the load of every host before and after and the
    imbalance figure before and after.
  - 'It only plans. It runs on the controller (C(delegate_to: localhost) with C(run_once: true)), never
    calls C(xl) and changes nothing, so it reports C(changed=false) and behaves the same in check
    mode. The C(xenfleet.xen.balance) playbook shows the plan and, when confirmed, applies it with
    M(xenfleet.xen.xen_migrate), in order.'
  - O(mode=performance) spreads load. O(mode=density) packs guests onto fewer hosts so that whole hosts are
    freed. O(mode=evacuate) drains the host O(evacuate), largest guest first, each to the host with the most
    free memory.
  - 'The imbalance figure is C(100 * sqrt(sum_m w_m * Var_m / sum_m w_m)) in percentage points: for each
    metric m with weight w_m (memory, vCPUs, CPU usage), Var_m is the variance over the hosts that are not
    cordoned of their load (memory held by guests / memory available to guests, guest vCPUs / physical CPUs,
    guest CPU usage / (100 * physical CPUs)). With one metric it is the standard deviation of the host load;
    V(0) is a perfectly even fleet.'
  - 'What a plan never does: put more memory on a host than it has (memory is a hard limit, checked for
    every migration at its place in the order, with O(memory_reserve_mb) and O(max_load) on top), break a
    rule (affinity, anti-affinity, pinning, cordoned hosts, excluded guests), or migrate a guest twice.
    Planning again on the result of a plan gives an empty plan. The one exception is asked for: a drain
    with O(evacuate_anti_affinity=soft) may put anti-affinity mates together, and reports each such
    place in RV(unresolved).'
  - A paused guest (state V(paused) in the facts of M(xenfleet.xen.xen_domain_info)) never moves, because
    C(xl migrate) cannot live-migrate it. A plan leaves it where it is; a drain lists it in RV(blocked), so
    the drain is not complete until it is unpaused, shut down or excluded.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl.attributes
attributes:
  check_mode:
    support: full
    details: The module only plans; the plan is the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: It never changes anything. Planning on the placement a plan leads to returns an empty plan.
options:
  hosts:
    description:
      - The fleet, a dict of host name to that host's facts.
      - Each value has C(host), the RV(xenfleet.xen.xen_host_info#module:host) dict (C(free_memory_mb) and
        C(nr_cpus) are used), and C(domains), the RV(xenfleet.xen.xen_domain_info#module:domains) list
        (C(name), C(memory_mb), C(vcpus) are used; Domain-0 is ignored). The registered results of those
        modules are accepted as they are.
      - Optional per host, C(cordoned=true) (the same as listing it in O(cordoned)) and C(cpu_usage), a
        dict of guest name to CPU usage in percent of one CPU.
      - The memory a host offers to guests is its free memory plus what its guests hold.
    type: dict
    required: true
  mode:
    description:
      - V(performance) spreads load evenly. V(density) frees whole hosts. V(evacuate) drains O(evacuate).
    type: str
    choices: [performance, density, evacuate]
    default: performance
  evacuate:
    description:
      - With O(mode=evacuate), the host to drain. It may be cordoned (the usual first step of maintenance).
    type: str
  evacuate_anti_affinity:
    description:
      - With O(mode=evacuate), how O(anti_affinity) binds the drain.
      - V(hard) never puts two members of a group on one host; a guest whose every possible target runs a
        member of its group is listed in RV(blocked) and RV(complete) is false (so a drain of one of two
        hosts that each run one replica cannot complete).
      - V(soft) still prefers a host free of the guest's group; only when no such host has room, it takes
        the host with room that runs the fewest members of the group and reports the rule broken in
        RV(unresolved), for as long as the drained host is away. The C(xenfleet.xen.evacuate) role and the
        rolling upgrade use V(soft) by default, to keep every guest running during maintenance.
      - Memory, O(max_load) and O(pinned) are limits in both.
    type: str
    choices: [hard, soft]
    default: hard
  weights:
    description:
      - Weight of each metric in the load and the imbalance figure. V(0) leaves a metric out.
      - C(cpu) is the guests' CPU usage, taken from C(cpu_usage) (per host in O(hosts), or O(cpu_usage)) or
        a C(cpu_percent) key of a domain; it counts as 0 where unknown.
    type: dict
    suboptions:
      memory:
        description: Weight of memory.
        type: float
        default: 1.0
      vcpus:
        description: Weight of vCPUs per physical CPU.
        type: float
        default: 1.0
      cpu:
        description: Weight of CPU usage.
        type: float
        default: 0.0
  economy:
    description:
      - With O(mode=performance), how much moving is worth it. By default the plan acts only where it pays,
        with the rules of Xen Orchestra's load balancer (its preventive mode) on this module's metrics.
      - 'A host is overloaded when, on a weighted metric (see O(weights)), it is more than O(threshold) points
        above the fleet average and: for vCPUs and CPU usage, at O(economy.trigger) times that average or more;
        for memory, above O(economy.memory) percent of its memory.'
      - Only overloaded hosts give guests. Each gives them one at a time, the move that lowers the imbalance
        figure most first, until it is within O(economy.target) times the average on vCPUs and CPU usage and
        within O(economy.memory) percent on memory, or no move helps. A host that receives a guest never ends
        overloaded, and hosts that are not overloaded are left alone. A fleet where no host is overloaded gets
        an empty plan.
      - The result is a fleet that is not overloaded anywhere, reached with few migrations, rather than as even
        as possible. O(economy.enabled=false) spreads the load as evenly as the search can instead (every host
        outside O(threshold) of the average starts moves, small fleets get a wider search), with many more
        migrations; this was the only behaviour before this option.
      - O(max_migrations), O(min_improvement) and the hard limits apply in both cases.
    type: dict
    suboptions:
      enabled:
        description: Act only where it pays. V(false) spreads the load as evenly as possible.
        type: bool
        default: true
      trigger:
        description:
          - A host whose vCPU or CPU load is at this many times the fleet average or more is overloaded
            (Xen Orchestra's preventive mode uses 1.5). At least O(economy.target).
        type: float
        default: 1.5
      target:
        description:
          - An overloaded host gives guests until its vCPU and CPU loads are within this many times the fleet
            average, and no host that receives a guest ends above it (Xen Orchestra uses 1.25). At least 1.
        type: float
        default: 1.25
      memory:
        description:
          - In percent of the memory a host offers to guests. A host above it is short of memory (overloaded);
            it gives guests until it is within it, and no host that receives a guest ends above it. Above 0, at
            most 100.
          - Memory counts as a limit here, not as a load to spread; O(economy.enabled=false) spreads it.
        type: float
        default: 95.0
      cpu:
        description:
          - In percent of a host's CPUs, for measured CPU use (when O(weights.cpu) is above 0). No migration takes
            its target above it, whatever the fleet average; a host already above it receives no guest.
          - A host that busy makes its guests wait for CPU, so a move onto it only trades one busy host for
            another. On a fleet whose hosts are all that busy (its CPU demand at or past what it has), the plan
            moves nothing for CPU (and a host short of memory gives guests only to hosts under this level).
          - 'It only limits targets: a host above it is not overloaded for that alone (only relative to the
            average, O(economy.trigger)). Xen Orchestra calls a host overloaded at 76.5 % CPU by default.
            Above 0, at most 100 (V(100): no limit but the host''s CPUs).'
        type: float
        default: 75.0
      min_gain:
        description:
          - In points of the imbalance figure. A migration is planned only when it lowers the figure by at least
            this much (an affinity group, this much per guest). V(0) accepts every improving move.
          - One move changes the figure less in a large fleet than in a small one, so keep this small (a
            fraction of a point) for fleets of more than a few dozen hosts.
        type: float
        default: 0.0
  threshold:
    description:
      - In percentage points. With O(mode=performance), only hosts whose load on a weighted metric is more
        than this above (or, with O(economy.enabled=false), below) the fleet average start migrations; a fleet
        where every host is within the band gets an empty plan.
    type: float
    default: 5.0
  min_improvement:
    description:
      - In percent of the imbalance figure before. A O(mode=performance) plan that lowers the imbalance by
        less than this is dropped (moves that repair broken rules are kept).
    type: float
    default: 10.0
  max_migrations:
    description:
      - The most guests the plan may migrate. No limit when omitted. A plan cut short by this limit is
        continued by the next run.
    type: int
  memory_basis:
    description:
      - The memory a guest needs on its target. V(current) is what it holds now; V(max) is its static
        maximum (room to balloon up).
    type: str
    choices: [current, max]
    default: current
  memory_reserve_mb:
    description: Memory in MiB that a plan leaves free on every target host, for Xen's own overhead.
    type: int
    default: 256
  max_load:
    description:
      - Hard limits on target hosts, in percent of their capacity; no guest moves to a host it would take
        above them.
    type: dict
    suboptions:
      memory:
        description: Memory, in percent of the memory available to guests.
        type: float
        default: 100.0
      vcpus:
        description: vCPUs, in percent of the physical CPUs (V(400) allows 4 vCPUs per CPU). No limit when omitted.
        type: float
      cpu:
        description: CPU usage, in percent of the host's CPU capacity. No limit when omitted.
        type: float
  affinity:
    description:
      - Groups of guests that run together on one host; a group moves as one (one migration per guest,
        one after the other). A group found split over hosts is gathered when possible.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A name for the group, used in reasons.
        type: str
      guests:
        description: Guest names.
        type: list
        elements: str
        required: true
  anti_affinity:
    description:
      - Groups of guests of which no two run on one host, for example the replicas of a database.
        Two members found on one host are separated when possible.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A name for the group, used in reasons.
        type: str
      guests:
        description: Guest names.
        type: list
        elements: str
        required: true
  pinned:
    description:
      - Guests that may run only on some hosts, as a dict of guest name to a list of host names. A pinned
        guest found elsewhere is moved to one of its hosts when possible.
    type: dict
    default: {}
  cordoned:
    description:
      - Hosts that the plan leaves alone; no guest moves to or from them, and they do not count in the
        imbalance figure.
    type: list
    elements: str
    default: []
  excluded_guests:
    description: Guests that never move.
    type: list
    elements: str
    default: []
  cpu_usage:
    description:
      - CPU usage of guests in percent of one CPU (V(150) is one and a half busy CPUs), as a dict of guest
        name to number, for example from two samples of C(xl list).
    type: dict
    default: {}
  xl_path:
    description:
      - Not used; this module does not run C(xl). Accepted so that C(module_defaults) set for the
        C(group/xenfleet.xen.xen) action group, which this module belongs to, do not make it fail.
    type: path
  command_timeout:
    description:
      - Not used; this module does not run C(xl). Accepted for the same reason as O(xl_path).
    type: int
notes:
  - Rules can come from variables or from inventory groups, for example
    C(anti_affinity=[{name=db, guests=groups['db_replicas']}]) in YAML as a list of C(name)/C(guests) dicts.
  - Migrations are planned one guest at a time; an affinity group is moved as consecutive migrations, so
    it is briefly split while it moves.
seealso:
  - module: xenfleet.xen.xen_host_info
  - module: xenfleet.xen.xen_domain_info
'''

EXAMPLES = r'''
# In a play on the Xen hosts: gather the facts of each host, then plan once on the controller.
- name: Host facts
  xenfleet.xen.xen_host_info:
  register: xen_host

- name: Guest facts
  xenfleet.xen.xen_domain_info:
  register: xen_domains

- name: Keep both for the planner
  ansible.builtin.set_fact:
    xen_facts:
      host: "{{ xen_host.host }}"
      domains: "{{ xen_domains.domains }}"

- name: Plan a balanced placement
  xenfleet.xen.xen_balance:
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'xen_facts'))) }}"
    anti_affinity:
      - name: db
        guests: "{{ groups['db_replicas'] }}"
    pinned:
      licence-server: [xen1]
    max_migrations: 10
  delegate_to: localhost
  run_once: true
  register: plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ plan.report }}"
  run_once: true

- name: Relieve only hosts at twice the fleet's vCPU average, and only by moves worth a point each
  xenfleet.xen.xen_balance:
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'xen_facts'))) }}"
    economy:
      trigger: 2.0
      target: 1.5
      min_gain: 1.0
  delegate_to: localhost
  run_once: true
  register: relief

- name: Spread the load as evenly as possible, whatever the number of migrations (the behaviour before 0.2.0)
  xenfleet.xen.xen_balance:
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'xen_facts'))) }}"
    economy:
      enabled: false
    threshold: 2
  delegate_to: localhost
  run_once: true
  register: spread

- name: Pack guests on as few hosts as possible, keeping 10 % memory headroom
  xenfleet.xen.xen_balance:
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'xen_facts'))) }}"
    mode: density
    max_load:
      memory: 90
  delegate_to: localhost
  run_once: true
  register: packing

- name: Plan the evacuation of xen2 for maintenance
  xenfleet.xen.xen_balance:
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'xen_facts'))) }}"
    mode: evacuate
    evacuate: xen2
    cordoned: [xen2]
  delegate_to: localhost
  run_once: true
  register: drain

- name: Stop when the rest of the fleet cannot take every guest of xen2
  ansible.builtin.assert:
    that: drain.complete
    fail_msg: "{{ drain.blocked | map(attribute='why') | join('; ') }}"
  run_once: true
'''

RETURN = r'''
migrations:
  description: The plan, in the order to apply it; each migration fits at its place in the order.
  returned: success
  type: list
  elements: dict
  contains:
    order:
      description: Position in the plan, from 1.
      type: int
      sample: 1
    guest:
      description: Guest name.
      type: str
      sample: web1
    from:
      description: Host it runs on.
      type: str
      sample: xen1
    to:
      description: Host to migrate it to.
      type: str
      sample: xen3
    memory_mb:
      description: Memory it needs on the target.
      type: int
      sample: 2048
    vcpus:
      description: Its vCPUs.
      type: int
      sample: 2
    reason:
      description:
        - Why it moves. C(relieve:) a move of the economy (O(economy)), C(balance:) a move that spreads the load
          (O(economy.enabled=false)), C(repair) a move that repairs a broken rule, C(density:) and C(evacuate) the
          other modes.
      type: str
      sample: 'relieve: xen1 is overloaded (memory 82% (limit 95%), vcpus 150% = 1.67 x the fleet average 90%;
        trigger 1.50 x, relieved at 1.25 x)'
  sample:
    - {order: 1, guest: web1, from: xen1, to: xen3, memory_mb: 2048, vcpus: 2,
       reason: 'relieve: xen1 is overloaded (memory 82% (limit 95%), vcpus 150% = 1.67 x the fleet average 90%;
         trigger 1.50 x, relieved at 1.25 x)'}
hosts:
  description:
    - Per host, its load before and after the plan (C(memory_percent), C(vcpus_percent), C(cpu_percent),
      C(score_percent) the weighted load, C(memory_used_mb), C(memory_free_mb), C(vcpus), C(guests)) and
      whether it is cordoned.
  returned: success
  type: dict
  sample:
    xen1:
      cordoned: false
      before: {memory_percent: 81.3, vcpus_percent: 150.0, cpu_percent: 0.0, score_percent: 115.6,
               memory_used_mb: 13312, memory_free_mb: 3072, vcpus: 12, guests: 7}
      after: {memory_percent: 56.3, vcpus_percent: 100.0, cpu_percent: 0.0, score_percent: 78.1,
              memory_used_mb: 9216, memory_free_mb: 7168, vcpus: 8, guests: 5}
imbalance:
  description: The imbalance figure (see the description) before and after the plan, in percentage points.
  returned: success
  type: dict
  sample: {before: 24.7, after: 3.1}
hosts_in_use:
  description: Hosts (not cordoned) that run at least one guest, before and after.
  returned: success
  type: dict
  sample: {before: 4, after: 3}
unresolved:
  description:
    - Rules that the fleet breaks and that the plan cannot repair, with why.
    - With O(mode=evacuate) and O(evacuate_anti_affinity=soft), the anti-affinity rules the drain breaks.
  returned: success
  type: list
  elements: dict
  sample: [{guest: db2, rule: anti_affinity, problem: 'anti-affinity db: db1, db2 share host xen1',
            why: no host that the rules allow has room for it}]
dropped:
  description:
    - Moves the search wanted but that no order of migrations allows; they are not in the plan.
  returned: success
  type: list
  elements: dict
  sample: []
converged:
  description:
    - V(false) when some guests were kept in place because no order of migrations could move them without
      overfilling a host at some step (rare, on very full hosts); planning again after applying the plan
      may then move them. Not returned with O(mode=evacuate).
  returned: when O(mode) is V(performance) or V(density)
  type: bool
  sample: true
note:
  description: Why the plan is smaller than the search wanted, when it is (for example O(min_improvement)).
  returned: sometimes
  type: str
  sample: 'balancing would lower the imbalance by 4.2% only (min_improvement 10.0%): not planned'
complete:
  description: With O(mode=evacuate), whether every guest that may move has a place.
  returned: when O(mode=evacuate)
  type: bool
  sample: true
blocked:
  description: With O(mode=evacuate), the guests that no other host can take (or that are paused), with why.
  returned: when O(mode=evacuate)
  type: list
  elements: dict
  sample: [{guest: big1, guests: [big1], memory_mb: 65536,
            why: 'needs 65536 MiB; the most free memory on an eligible host is 30720 MiB (xen3)'}]
remaining:
  description: With O(mode=evacuate), the guests that stay because they are excluded from moves.
  returned: when O(mode=evacuate)
  type: list
  elements: dict
  sample: [{guest: appliance, guests: [appliance], why: excluded from moves}]
summary:
  description: One line about the plan.
  returned: success
  type: str
  sample: '3 migration(s); imbalance 24.70 -> 3.10 points; hosts in use 4 -> 4'
report:
  description: The plan as readable lines, host load before and after, then each migration with its reason.
  returned: success
  type: list
  elements: str
  sample:
    - 'xen1  memory 81% -> 56%  vcpus 150% -> 100%  guests 7 -> 5'
    - '1. web1: xen1 -> xen3 (2048 MiB, 2 vCPUs): relieve: xen1 is overloaded (...)'
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _balance, _placement
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='dict', required=True),
            mode=dict(type='str', default='performance', choices=list(_balance.MODES)),
            evacuate=dict(type='str'),
            evacuate_anti_affinity=dict(type='str', default='hard', choices=list(_placement.EVACUATE_ANTI_AFFINITY)),
            weights=dict(type='dict', options=dict(
                memory=dict(type='float', default=1.0),
                vcpus=dict(type='float', default=1.0),
                cpu=dict(type='float', default=0.0),
            )),
            economy=dict(type='dict', apply_defaults=True, options=dict(
                enabled=dict(type='bool', default=True),
                trigger=dict(type='float', default=1.5),
                target=dict(type='float', default=1.25),
                memory=dict(type='float', default=95.0),
                cpu=dict(type='float', default=75.0),
                min_gain=dict(type='float', default=0.0),
            )),
            threshold=dict(type='float', default=5.0),
            min_improvement=dict(type='float', default=10.0),
            max_migrations=dict(type='int'),
            memory_basis=dict(type='str', default='current', choices=list(_placement.MEMORY_BASES)),
            memory_reserve_mb=dict(type='int', default=256),
            max_load=dict(type='dict', options=dict(
                memory=dict(type='float', default=100.0),
                vcpus=dict(type='float'),
                cpu=dict(type='float'),
            )),
            affinity=dict(type='list', elements='dict', default=[], options=_balance.GROUP_SPEC),
            anti_affinity=dict(type='list', elements='dict', default=[], options=_balance.GROUP_SPEC),
            pinned=dict(type='dict', default={}),
            cordoned=dict(type='list', elements='str', default=[]),
            excluded_guests=dict(type='list', elements='str', default=[]),
            cpu_usage=dict(type='dict', default={}),
            # accepted for module_defaults of the group/xenfleet.xen.xen action group; unused
            xl_path=dict(type='path'),
            command_timeout=dict(type='int'),
        ),
        supports_check_mode=True,
    )
    try:
        result = _balance.run(module.params)
    except InvalidSpec as exc:
        module.fail_json(msg=exc.msg, error=exc.kind, param=exc.param)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='Unexpected error in xen_balance: %s: %s' % (type(exc).__name__, exc), error='internal',
                         exception=traceback.format_exc())
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
