# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_vcpu: bring a running guest's online vCPUs, pins and scheduler parameters to what
# the task declares, live, and persist them in its config file. In named steps: validate the input
# (nothing runs before); read the domain and the host; plan the count, the pins and the scheduler; stage
# the new config file (a directory that cannot take it fails the task before the domain changes); act
# live, verifying each step by reading again (vcpu-pin and sched-credit* may exit 0 without effect);
# commit the file; report the result and the diff. Check mode takes the same path and skips the writes.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils import _vcpu as vcpu
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    DomainNotFoundError,
    GuestError,
    GuestRestarted,
    InvalidSpec,
)
from ansible_collections.xenfleet.xen.plugins.module_utils._files import DomainFiles

CONFIG_UPDATED = 'config file updated'


def run(module, client):
    """xen_vcpu: run(module, client) -> result dict (run_module's worker)."""
    validate(module.params)
    client.ensure_xen_host()
    return _Converge(module, client).run()


def validate(p):
    """Refuse bad input before any command runs (no host facts needed)."""
    if p['online'] is not None and p['online'] < 1:
        raise InvalidSpec('online', 'must be at least 1, got %d' % p['online'])
    if p['weight'] is not None and not vcpu.WEIGHT_RANGE[0] <= p['weight'] <= vcpu.WEIGHT_RANGE[1]:
        raise InvalidSpec('weight', 'must be from %d to %d, got %d' % (vcpu.WEIGHT_RANGE + (p['weight'],)))
    if p['cap'] is not None and p['cap'] < 0:
        raise InvalidSpec('cap', 'must be 0 (no cap) or a positive percentage, got %d' % p['cap'])
    problem = xlcfg.name_problem(p['name'])
    if problem:
        raise InvalidSpec('name', '%r %s' % (p['name'], problem))
    vcpu.check_pins(p['pin'])


def read_pins(client, name, nr_cpus):
    """`xl vcpu-list NAME`: (the pins of NAME's vCPUs, the parsed rows)."""
    rows = parse.parse_vcpu_list(client.run(xlcmd.vcpu_list(name)).stdout)
    return vcpu.pins_from_rows(name, rows, nr_cpus), rows


class _Converge(object):
    """One run: every step reads or plans into these attributes; act() carries out the plan."""

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.name = self.p['name']
        self.check = module.check_mode
        # what the run does ('vcpu-set pv1 4', ..., 'config file updated'), in the order it does it
        self.applied = []
        self.before = {}
        self.after = {}
        self.live = None
        self.host = None
        self.nr_cpus = None
        self.count_args = None
        self.targets = {}
        self.node_cpus = None
        self.pin_calls = []
        self.pins_now = None
        self.pins_after = None
        self.sched_call = None
        self.files = None
        self.config_path = None
        self.file_before = self.file_after = None

    def run(self):
        self.read_domain()
        self.check_count()
        self.read_host()
        self.plan_count()
        self.plan_pins()
        self.plan_scheduler()
        self.stage_config()
        try:
            self.act()
        except Exception:
            self.files.discard()
            raise
        self.commit_config()
        return self.result()

    # -- read ----------------------------------------------------------------------------------

    def read_domain(self):
        self.live = lifecycle.find_domain(self.client, self.name)
        if self.live is None:
            raise DomainNotFoundError(
                'Domain %s is not running on this host. xen_vcpu changes running guests; define vCPUs of a '
                'stopped guest with xenfleet.xen.xen_domain (vcpus, cpus).' % self.name)
        self.max_vcpus = self.live['vcpus']['max'] or self.live['vcpus']['online']
        self.online_now = self.live['vcpus']['online']
        self.before['online'] = self.after['online'] = self.online_now

    def read_host(self):
        """`xl info`, only when the count changes (overcommit check) or pins are set (CPU numbers)."""
        p = self.p
        if (p['online'] is not None and p['online'] != self.online_now) or p['pin']:
            self.host = parse.host_facts(self.client.info())
            self.nr_cpus = self.host['nr_cpus']

    # -- plan ----------------------------------------------------------------------------------

    def check_count(self):
        """What the domain itself allows (before the host is read)."""
        online = self.p['online']
        if online is not None and online > self.max_vcpus:
            raise InvalidSpec('online', '%d is more than maxvcpus (%d) of %s. maxvcpus is fixed when the domain is '
                                        'created: raise it with xenfleet.xen.xen_domain (maxvcpus) and restart the '
                                        'guest (apply: restart).' % (online, self.max_vcpus, self.name))
        problem = vcpu.hvm_removal_problem(self.name, self.live.get('type'), self.online_now, online)
        if problem:
            raise InvalidSpec('online', problem)

    def plan_count(self):
        p = self.p
        if self.host and p['online'] is not None and p['online'] > self.nr_cpus and not p['allow_overcommit']:
            raise InvalidSpec('online', '%d is more than the %d physical CPUs of this host; set allow_overcommit: '
                                        'true to run more vCPUs than CPUs' % (p['online'], self.nr_cpus))
        if p['online'] is not None and p['online'] != self.online_now:
            self.count_args = xlcmd.vcpu_set(self.name, p['online'], ignore_host=p['allow_overcommit'])
            self.applied.append(' '.join(self.count_args))
            self.after['online'] = p['online']

    def plan_pins(self):
        p = self.p
        self.targets = vcpu.pin_targets(p['pin'], self.max_vcpus) if p['pin'] else {}
        if not self.targets:
            return
        if any('node' in str(t.get(k)) for t in self.targets.values() for k in ('hard', 'soft')):
            if self.host.get('nr_nodes') != 1:
                raise InvalidSpec('pin', 'node:/nodes: affinities are supported on single-node hosts only for '
                                         'now; use CPU numbers')
            self.node_cpus = {0: set(range(self.nr_cpus))}
        self.pins_now, rows = read_pins(self.client, self.name, self.nr_cpus)
        changes, self.pin_calls = vcpu.plan_pins(self.name, self.targets, rows, self.nr_cpus, self.node_cpus)
        for index, hard, soft in vcpu.soft_outside_hard(self.name, self.targets, rows, self.nr_cpus, self.node_cpus):
            self.module.warn('vCPU %d of %s: its soft affinity (%s) has no CPU in its hard affinity (%s), so Xen '
                             'ignores the soft affinity and schedules the vCPU on its hard affinity only.'
                             % (index, self.name, soft, hard))
        self.before['pins'] = [dict(vcpu=c['vcpu'], **c['before']) for c in changes]
        self.after['pins'] = [dict(vcpu=c['vcpu'], **c['after']) for c in changes]
        self.applied.extend(' '.join(args) for args in self.pin_calls)

    def plan_scheduler(self):
        p = self.p
        sched = dict(self.live.get('scheduler') or {})
        sched_name = sched.get('sched') or (self.host or {}).get('scheduler') or 'credit2'
        weight_differs = p['weight'] is not None and p['weight'] != sched.get('weight')
        cap_differs = p['cap'] is not None and p['cap'] != sched.get('cap', 0)
        if not (weight_differs or cap_differs):
            return
        self.sched_call = vcpu.scheduler_args(sched_name, self.name,
                                              p['weight'] if p['weight'] != sched.get('weight') else None,
                                              p['cap'] if cap_differs else None)
        self.before.update(weight=sched.get('weight'), cap=sched.get('cap', 0))
        self.after.update(weight=p['weight'] if p['weight'] is not None else sched.get('weight'),
                          cap=p['cap'] if p['cap'] is not None else sched.get('cap', 0))
        self.applied.append(' '.join(self.sched_call))

    # -- the config file -----------------------------------------------------------------------

    def stage_config(self):
        """Plan the config file's new text and put it on disk beside the file (staged) before the domain
        is touched: a config directory that cannot take it fails the task here, with nothing changed."""
        p = self.p
        self.files = DomainFiles(self.module, self.name, p['config_dir'], check=self.check)
        self.config_path = self.files.path
        self.file_before = self.file_after = self.files.read()
        if not p['persist']:
            return
        if self.file_before is None:
            self.module.warn('%s has no config file at %s: the vCPU settings will not survive a restart.'
                             % (self.name, self.config_path))
            self.config_path = None
            return
        keys = vcpu.persisted_keys(p['online'], self.targets, p['weight'], p['cap'], self.max_vcpus,
                                   self.nr_cpus if self.nr_cpus else max(1, self.max_vcpus))
        if self.targets and not self.nr_cpus:
            keys.pop('cpus', None)
            keys.pop('cpus_soft', None)
        try:
            self.file_after = xlcfg.set_keys(self.file_before, keys)
        except xlcfg.XlConfigError as exc:
            raise GuestError('cannot update %s: %s' % (self.config_path, exc))
        if self.file_after != self.file_before:
            self.applied.append(CONFIG_UPDATED)
            if not self.check:
                self.files.stage(self.file_after, self.files.mode())

    def commit_config(self):
        self.files.commit()

    # -- act -----------------------------------------------------------------------------------

    def act(self):
        """Carry out the live part of the plan (nothing in check mode), each step verified."""
        if self.check:
            return
        self.act_count()
        self.act_pins()
        self.act_scheduler()
        self.verify()

    def act_count(self):
        # verified by set_vcpus: it waits until the guest has onlined/offlined the vCPUs
        if self.count_args:
            p = self.p
            lifecycle.set_vcpus(self.client, self.name, p['online'], ignore_host=p['allow_overcommit'],
                                timeout=p['vcpu_timeout'], domid=self.live['domid'])

    def act_pins(self):
        # vcpu-pin may exit 0 without effect: verified by reading `xl vcpu-list` again
        if not self.pin_calls:
            return
        for args in self.pin_calls:
            self.client.run(args, mutating=True)
        self.pins_after, rows = read_pins(self.client, self.name, self.nr_cpus)
        left, _calls = vcpu.plan_pins(self.name, self.targets, rows, self.nr_cpus, self.node_cpus)
        if left:
            raise GuestError('xl vcpu-pin did not apply: %s' % left)

    def act_scheduler(self):
        # verified by verify(), from `xl list -l`
        if self.sched_call:
            self.client.run(self.sched_call, mutating=True)

    def verify(self):
        """Read the domain again after a count or scheduler change: the result reports what Xen runs,
        and a scheduler change that did not apply fails the task before the file is committed."""
        p = self.p
        live_changed = bool(self.count_args or self.pin_calls or self.sched_call)
        if not live_changed or (p['online'] is None and not self.sched_call):
            return
        domid = self.live['domid']
        live = lifecycle.find_domain(self.client, self.name)
        if live is None or live['domid'] != domid:
            raise GuestRestarted(lifecycle.restarted_message(self.name, domid, live, 'its vCPU settings were changed'))
        self.live = live
        if self.sched_call:
            got = live.get('scheduler') or {}
            if (p['weight'] is not None and got.get('weight') != p['weight']) or \
                    (p['cap'] is not None and got.get('cap', 0) != p['cap']):
                raise GuestError('`xl %s` did not apply: scheduler parameters now %s'
                                 % (' '.join(self.sched_call), got))

    # -- result --------------------------------------------------------------------------------

    def result(self):
        result = {'changed': bool(self.applied), 'applied': self.applied, 'config_file': self.config_path,
                  'vcpus': dict(self.live['vcpus']), 'scheduler': dict(self.live.get('scheduler') or {})}
        if self.targets:
            result['pins'] = self.pins_after if self.pins_after is not None else self.pins_now
        if self.module._diff:
            name = self.name
            result['diff'] = [{'before': self.before, 'after': self.after, 'before_header': 'live %s' % name,
                               'after_header': 'live %s' % name}]
            if self.file_before is not None and self.file_after != self.file_before:
                result['diff'].append({'before': self.file_before, 'after': self.file_after,
                                       'before_header': '%s (before)' % self.config_path,
                                       'after_header': self.config_path})
        return result
