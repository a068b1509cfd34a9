#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_domain
short_description: Declare a Xen guest (PV, PVH or HVM) and converge it, idempotently
version_added: 0.1.0
description:
  - Keeps a guest's definition as an xl configuration file (C(<config_dir>/<name>.cfg)) and makes
    the live domain match it - it creates, starts, pauses, shuts down or removes the guest, and
    applies changes to a running guest live where Xen can (memory within C(maxmem), vCPUs within
    C(maxvcpus), disks and network interfaces of PV/PVH guests), or on restart where it cannot.
  - The desired guest is compared with B(both) the config file and the live domain (C(xl list -l)),
    so an edit to an existing guest is never silently ignored, and a guest that already matches
    reports no change.
  - The config file is rendered deterministically from the options, validated with xl's own dry
    run (C(xl -N create)) before it replaces the old one, and written atomically (mode C(0600) when
    it holds a VNC password). Keys this module does not model go in O(extra).
  - Transitions wait until they are done, with timeouts. C(xl pause)/C(xl unpause) exit 0 even
    when they fail, so the state is re-read after every action.
  - A guest found shut down or crashed (for example in the middle of a reboot) is first left to xl's
    monitor for a few seconds; when the monitor starts it again, the module works on the new domain
    and warns. A guest that reboots or crashes while a live change is applied fails the task with
    V(guest_restarted).
  - Disks are never created or deleted by this module; their targets must exist on the host.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
  - xenfleet.xen.xl.attributes
options:
  name:
    description:
      - Domain name. Letters, digits, C(_), C(.) and C(-); not all digits; not C(Domain-0).
    type: str
    required: true
  state:
    description:
      - V(present) - the definition is in place; a stopped guest is not started, a running one keeps running
        (and gets live changes per O(apply)).
      - V(running) - defined and running; created from the config file if needed, unpaused if paused.
      - V(paused) - defined and running but paused.
      - V(shutdown) - defined and not running (graceful shutdown, see O(shutdown_timeout) and O(force)).
      - V(absent) - not running and its config file and autostart link removed. Disks are B(never) deleted.
    type: str
    choices: [present, running, paused, shutdown, absent]
    default: present
  type:
    description:
      - Guest type. V(pv) paravirtualized, V(pvh) PVH (hardware virtualization with PV interfaces, no
        device model), V(hvm) fully virtualized (needs Intel VT-x or AMD-V, C(hvm) in C(xl info) C(virt_caps)).
      - Changing it needs a restart.
    type: str
    choices: [pv, pvh, hvm]
    default: pv
  memory:
    description:
      - Memory in MiB at boot (the balloon target). Changed live up to O(maxmem) (needs a balloon
        driver in the guest).
    type: int
  maxmem:
    description:
      - Maximum memory in MiB (static maximum). Defaults to O(memory). Changing it needs a restart.
    type: int
  vcpus:
    description:
      - Number of online vCPUs. Changed live up to O(maxvcpus); the guest kernel must support CPU
        hotplug to online added vCPUs. Lowering the vCPUs of an HVM guest needs a restart.
    type: int
  maxvcpus:
    description:
      - Maximum number of vCPUs (fixed at creation). Defaults to O(vcpus). Up to 128 for HVM and PVH.
        Changing it needs a restart.
    type: int
  cpus:
    description:
      - Hard CPU affinity of all vCPUs at creation, in xl's syntax (V(all), V(0-3,5), V(^1), V(nodes:0)).
        Use M(xenfleet.xen.xen_vcpu) to change pinning of a running guest.
    type: str
  cpus_soft:
    description: Soft CPU affinity at creation, same syntax as O(cpus).
    type: str
  kernel:
    description:
      - Kernel to boot directly (path on the Xen host). PV and PVH guests need O(kernel) or O(bootloader).
        HVM guests may use it for direct kernel boot through the device model.
    type: path
  ramdisk:
    description: Initial ramdisk for O(kernel) (path on the Xen host).
    type: path
  cmdline:
    description: Kernel command line for O(kernel).
    type: str
  bootloader:
    description: Bootloader run in dom0 to find the guest kernel, for example V(pygrub). Excludes O(kernel).
    type: str
  bootloader_args:
    description: Arguments for O(bootloader).
    type: list
    elements: str
  disks:
    description:
      - Virtual disks, rendered to xl-disk-configuration(5) syntax. Matched with the live disks by O(disks[].vdev).
      - For PV and PVH guests, disks added or removed here are attached or detached live; other disk
        changes need a restart.
    type: list
    elements: dict
    suboptions:
      target:
        description: Image file or block device on the Xen host. Must exist (not needed for an empty CD-ROM drive).
        type: path
      vdev:
        description: Device name in the guest, such as V(xvda), V(hda), V(sda).
        type: str
        required: true
      format:
        description: Image format.
        type: str
        choices: [raw, qcow, qcow2, vhd, qed]
        default: raw
      access:
        description: V(rw) or V(ro). CD-ROMs default to V(ro).
        type: str
        choices: [rw, ro]
      cdrom:
        description: Whether this is a CD-ROM drive (HVM).
        type: bool
        default: false
      backendtype:
        description: Backend to use (V(phy), V(qdisk), V(tap), V(standalone)); xl chooses when omitted.
        type: str
        choices: [phy, qdisk, tap, standalone]
  vifs:
    description:
      - Virtual network interfaces, rendered to xl-network-configuration(5) syntax, matched with the live
        interfaces by position. Only the keys given are compared. For PV and PVH guests, interfaces
        added or removed at the end of the list are attached or detached live.
    type: list
    elements: dict
    suboptions:
      mac:
        description: MAC address. Xen's prefix is C(00:16:3e). xl generates one when omitted.
        type: str
      bridge:
        description: Bridge in dom0 to connect to, for example V(xenbr0).
        type: str
      type:
        description: V(vif) (PV only) or V(ioemu) (emulated and PV, HVM).
        type: str
        choices: [vif, ioemu]
      model:
        description: Emulated NIC model for HVM, for example V(e1000).
        type: str
      vifname:
        description: Name of the backend interface in dom0.
        type: str
      script:
        description: Hotplug script.
        type: str
      ip:
        description: IP address(es) for the hotplug script (anti-spoofing rules).
        type: str
      rate:
        description: Bandwidth limit, for example V(10Mb/s).
        type: str
      mtu:
        description: MTU of the interface.
        type: int
      backend:
        description: Backend domain.
        type: str
  firmware:
    description: HVM firmware, for example V(bios), V(uefi), V(seabios), V(ovmf).
    type: str
  boot:
    description: HVM boot order, for example V(c) (disk), V(d) (CD-ROM), V(dc).
    type: str
  vnc:
    description: HVM - enable the VNC console of the device model.
    type: bool
  vnclisten:
    description: HVM - address the VNC server listens on. Defaults to localhost when O(vnc) is enabled.
    type: str
  vncdisplay:
    description: HVM - VNC display number.
    type: int
  vncpasswd:
    description: HVM - VNC password. Never logged; the config file then gets mode C(0600).
    type: str
  serial:
    description: HVM - serial port, for example V(pty) or V(file:/var/log/xen/console/NAME.log).
    type: str
  on_poweroff:
    description: What Xen does when the guest powers off. xl's default is V(destroy).
    type: str
    choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset]
  on_reboot:
    description: What Xen does when the guest reboots. xl's default is V(restart).
    type: str
    choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset]
  on_crash:
    description: What Xen does when the guest crashes. xl's default is V(destroy).
    type: str
    choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset]
  uuid:
    description: Domain UUID. xl generates a new one at every creation when omitted.
    type: str
  extra:
    description:
      - Further xl.cfg(5) keys this module does not model, as a dict. Values must be strings, numbers,
        booleans or lists of strings and numbers; keys are checked to be xl.cfg keys and rendered with
        xl's quoting, never pasted as text. Changes to them need a restart.
    type: dict
    default: {}
  autostart:
    description:
      - Whether the guest starts with the host (a link in O(autostart_dir) read by the C(xendomains)
        service). Left alone when not set.
      - V(true) creates C(<autostart_dir>/<name>.cfg) linking to the config file, unless some link there
        already points at it. V(false) removes every entry that would start the guest, that is C(<name>.cfg)
        (a link or a stale copy) and any link to its config file, since C(xendomains) starts a domain from
        each file in that directory.
    type: bool
  apply:
    description:
      - How to apply changes to a running guest.
      - V(live) - apply what Xen can change live; report the rest in RV(pending) (the file already has it,
        so it takes effect at the next start).
      - V(restart) - when a change needs it, shut the guest down gracefully and start it again from the
        new config file.
      - V(next_boot) - only update the config file; everything is reported in RV(pending).
    type: str
    choices: [live, restart, next_boot]
    default: live
  force:
    description:
      - When a graceful shutdown does not finish within O(shutdown_timeout), destroy the domain (like pulling the plug).
    type: bool
    default: false
  shutdown_timeout:
    description: Seconds to wait for a graceful shutdown.
    type: int
    default: 120
  start_timeout:
    description:
      - Seconds to wait, after C(xl create) has returned, for the created domain to be running (or paused).
      - C(xl create) itself is bounded by O(command_timeout) like every C(xl) call.
    type: int
    default: 60
  vcpu_timeout:
    description: Seconds to wait for the guest to online or offline vCPUs after a live change.
    type: int
    default: 30
  config_dir:
    description: Directory of the xl configuration files.
    type: path
    default: /etc/xen
  autostart_dir:
    description: Directory of the autostart links.
    type: path
    default: /etc/xen/auto
  validate:
    description: Check a new config file with C(xl -N create) (a dry run) before it replaces the old one.
    type: bool
    default: true
  backup:
    description: Keep a timestamped copy of the previous config file when it changes.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    details: Predicts exactly what a real run would change (the config file, live changes, transitions) and changes nothing.
  diff_mode:
    support: full
    details: Shows the config file before and after, and the live state and settings before and after.
  idempotent:
    support: full
seealso:
  - module: xenfleet.xen.xen_domain_info
  - module: xenfleet.xen.xen_host_info
  - name: xl.cfg(5)
    description: The xl domain configuration file format.
    link: https://xenbits.xen.org/docs/unstable/man/xl.cfg.5.html
'''

EXAMPLES = r'''
- name: A PV guest booting its kernel directly, with a disk and a NIC on xenbr0
  xenfleet.xen.xen_domain:
    name: web1
    state: running
    type: pv
    memory: 1024
    maxmem: 2048
    vcpus: 2
    maxvcpus: 4
    kernel: /var/lib/xen/images/vmlinuz
    ramdisk: /var/lib/xen/images/initrd.img
    cmdline: root=/dev/xvda ro console=hvc0
    disks:
      - target: /var/lib/xen/images/web1.img
        vdev: xvda
    vifs:
      - bridge: xenbr0
        mac: "00:16:3e:00:01:01"
    autostart: true

- name: A PVH guest booted by pygrub from its own disk
  xenfleet.xen.xen_domain:
    name: db1
    state: running
    type: pvh
    memory: 4096
    vcpus: 4
    bootloader: pygrub
    disks:
      - target: /dev/vg0/db1
        vdev: xvda

- name: An HVM guest installing from an ISO, VNC on localhost with a password
  xenfleet.xen.xen_domain:
    name: win1
    state: running
    type: hvm
    memory: 4096
    vcpus: 2
    firmware: bios
    boot: dc
    disks:
      - target: /var/lib/xen/images/win1.qcow2
        vdev: hda
        format: qcow2
      - target: /srv/iso/installer.iso
        vdev: hdc
        cdrom: true
    vifs:
      - bridge: xenbr0
        model: e1000
        type: ioemu
    vnc: true
    vncpasswd: "{{ vault_win1_vnc_password }}"
    extra:
      viridian: true
      usbdevice: [tablet]

- name: Grow a running guest live (within maxmem / maxvcpus)
  xenfleet.xen.xen_domain:
    name: web1
    state: running
    type: pv
    memory: 1536
    maxmem: 2048
    vcpus: 3
    maxvcpus: 4
    kernel: /var/lib/xen/images/vmlinuz
    ramdisk: /var/lib/xen/images/initrd.img
    cmdline: root=/dev/xvda ro console=hvc0
    disks:
      - target: /var/lib/xen/images/web1.img
        vdev: xvda
    vifs:
      - bridge: xenbr0
        mac: "00:16:3e:00:01:01"
  register: web1

- name: Show what is applied and what waits for a restart
  ansible.builtin.debug:
    msg: "applied: {{ web1.applied }}, pending: {{ web1.pending }}"

- name: Raise maxvcpus, which needs a restart, and restart now
  xenfleet.xen.xen_domain:
    name: db1
    state: running
    type: pvh
    memory: 4096
    vcpus: 4
    maxvcpus: 8
    bootloader: pygrub
    disks:
      - target: /dev/vg0/db1
        vdev: xvda
    apply: restart

- name: Stop a guest, destroying it if it ignores the request for 60 s
  xenfleet.xen.xen_domain:
    name: web1
    state: shutdown
    shutdown_timeout: 60
    force: true

- name: Remove a guest (its disks stay)
  xenfleet.xen.xen_domain:
    name: web1
    state: absent
'''

RETURN = r'''
domain:
  description:
    - The domain after the module ran, in the shape of RV(xenfleet.xen.xen_domain_info#module:domains) items.
      V(null) when the domain is not running (states V(present), V(shutdown), V(absent)).
    - In check mode, the domain as it is now.
  returned: success
  type: dict
  sample: {name: web1, domid: 7, type: pv, state: blocked, vcpus: {online: 2, max: 4}, memory_mb: {current: 1024, target: 1024, max: 2048}}
config_file:
  description: Path of the domain's config file (V(null) after O(state=absent)).
  returned: success
  type: str
  sample: /etc/xen/web1.cfg
applied:
  description: What was done (or, in check mode, would be done), in order.
  returned: success
  type: list
  elements: str
  sample: ["config file updated", "mem-set web1 1536m", "vcpu-set web1 3"]
pending:
  description: Differences with the running domain that need a restart and were not applied (O(apply=live) or O(apply=next_boot)).
  returned: success
  type: list
  elements: dict
  sample: [{key: maxvcpus, before: 4, after: 8, how: restart}]
backup_file:
  description: Path of the backup of the previous config file, when O(backup=true) and it changed.
  returned: changed and backup requested
  type: str
  sample: /etc/xen/web1.cfg.12345.2026-11-26@10:00:00~
xl_calls:
  description: Number of C(xl) commands the module ran.
  returned: always
  type: int
  sample: 2
error:
  description:
    - On failure, what went wrong, as a word, for example V(invalid_parameter), V(not_xen_host),
      V(timeout), V(config_rejected), V(domain_exists), V(not_enough_memory), V(guest_error),
      V(xl_crashed) (xl was killed by a signal), V(hotplug_timeout) (a device hotplug script such as
      C(vif-bridge) outlived libxl's timeout twice - the module creates the domain once more after the first time,
      with a warning - so the domain was not created), V(config_unreadable) (the guest runs but libxl could
      report neither its live nor its stored configuration, see RV(xenfleet.xen.xen_domain_info#module:domains[].config_source),
      for 120 seconds - the module reads it again meanwhile, since a guest that libxl is still building after a reboot or
      whose device model is busy is in that state for a while; nothing is changed), V(guest_restarted) (the guest
      rebooted or crashed while a live change was applied, so Xen restarted or removed it; the config file is left as
      it was).
  returned: failure
  type: str
  sample: invalid_parameter
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _domain as dom
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._module import (
    commit_staged, discard_staged, read_text, run_module, stage_file, xl_argument_spec)
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import XlCommandError
from ansible_collections.xenfleet.xen.plugins.module_utils._xl_config import name_problem

SPEC_KEYS = ('name', 'type', 'memory', 'maxmem', 'vcpus', 'maxvcpus', 'cpus', 'cpus_soft', 'kernel', 'ramdisk',
             'cmdline', 'bootloader', 'bootloader_args', 'disks', 'vifs', 'firmware', 'boot', 'vnc', 'vnclisten',
             'vncdisplay', 'vncpasswd', 'serial', 'on_poweroff', 'on_reboot', 'on_crash', 'uuid', 'extra')


def spec_from_params(params):
    spec = dict((k, params.get(k)) for k in SPEC_KEYS)
    if spec.get('vnc') and not spec.get('vnclisten'):
        spec['vnclisten'] = '127.0.0.1'
    return spec


def diff_state(live_state):
    """A live state in the module's terms for diffs: `blocked` (idle) is `running` too."""
    return 'running' if live_state == 'blocked' else live_state


class Converger(object):
    """One run of the module: read, compare, act (or predict), report."""

    path_exists = staticmethod(os.path.exists)

    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.p = module.params
        self.name = self.p['name']
        self.check = module.check_mode
        self.config_path = os.path.join(self.p['config_dir'], '%s.cfg' % self.name)
        self.link_path = os.path.join(self.p['autostart_dir'], '%s.cfg' % self.name)
        self.applied = []
        self.staged = None
        self.pending = []
        self.changed = False
        self.live_touched = False
        self.result = {}

    # -- helpers ---------------------------------------------------------------------------

    def did(self, what, live=False):
        self.applied.append(what)
        self.changed = True
        self.live_touched = self.live_touched or live

    def host(self):
        return parse.host_facts(self.client.info())

    def dry_run(self, text):
        """`xl -N create FILE` on a private temp copy; raises ConfigRejectedError on failure."""
        fd, path = tempfile.mkstemp(prefix='xen_domain_', suffix='.cfg', dir=self.module.tmpdir)
        try:
            with os.fdopen(fd, 'w') as handle:
                handle.write(text)
            self.client.run(['-N', 'create', path])
        except XlCommandError as exc:
            exc.msg = 'The new configuration of %s was rejected by `xl -N create`: %s' % (self.name, exc.msg)
            raise
        finally:
            os.unlink(path)

    def stage_config(self, text, secret):
        """Put the new config file on disk beside the old one before the domain is touched: a config
        directory that cannot take it (full, read-only) fails the task here, with nothing changed."""
        if self.p['backup'] and os.path.exists(self.config_path):
            self.result['backup_file'] = self.module.backup_local(self.config_path)
        self.staged = stage_file(self.module, self.config_path, text, 0o600 if secret else 0o644)

    def write_config(self, text, secret):
        if self.staged is None:
            self.stage_config(text, secret)
        staged, self.staged = self.staged, None
        commit_staged(self.module, staged, self.config_path)

    def discard_staged(self):
        staged, self.staged = self.staged, None
        discard_staged(staged)

    def restore_config(self, text):
        if text is None:
            if os.path.exists(self.config_path):
                os.unlink(self.config_path)
        else:
            self.write_config(text, secret='vncpasswd' in text)

    def autostart_entries(self):
        return dom.autostart_entries(self.name, self.config_path, self.p['autostart_dir'])

    def autostart_is(self):
        return dom.autostart_links_to(self.config_path, self.autostart_entries())

    def ensure_autostart(self, wanted):
        if wanted is None:
            return
        entries = self.autostart_entries()
        if wanted:
            if dom.autostart_links_to(self.config_path, entries):
                return
            # none of them links to the managed file (or a stale copy sits at <name>.cfg): link it
            self.did('autostart link created')
            if not self.check:
                if not os.path.isdir(self.p['autostart_dir']):
                    os.makedirs(self.p['autostart_dir'], 0o755)
                if os.path.lexists(self.link_path):
                    os.unlink(self.link_path)
                os.symlink(self.config_path, self.link_path)
        else:
            self.remove_autostart(entries)

    def remove_autostart(self, entries):
        """Remove every entry that would start this guest with the host, and a dangling <name>.cfg."""
        doomed = list(entries)
        if os.path.lexists(self.link_path) and self.link_path not in doomed:
            doomed.append(self.link_path)
        if doomed:
            self.did('autostart link removed')
            if not self.check:
                for path in doomed:
                    os.unlink(path)

    # -- states ----------------------------------------------------------------------------

    def absent(self, live, file_before):
        if live is not None:
            self.stop(live)
        self.remove_autostart(self.autostart_entries())
        if file_before is not None or os.path.exists(self.config_path):
            self.did('config file removed')
            if not self.check:
                if self.p['backup']:
                    self.result['backup_file'] = self.module.backup_local(self.config_path)
                os.unlink(self.config_path)
        self.result['config_file'] = None

    def stop(self, live):
        if live['state'] in ('shutdown', 'crashed'):
            self.did('destroy (domain was %s)' % live['state'], live=True)
            if not self.check:
                dom.destroy(self.client, self.name)
            return
        if live['state'] == 'paused':
            # a paused guest cannot act on the shutdown request: xl shutdown needs it running
            self.did('unpause', live=True)
        self.did('shutdown', live=True)
        if not self.check:
            done = dom.shutdown(self.client, self.name, self.p['shutdown_timeout'], force=self.p['force'])
            # what check mode cannot predict (a forced destroy, a domain xl left shut down) is added
            self.applied.extend(d for d in done if d.startswith('destroy'))

    def start(self, paused, file_before, file_after):
        self.did('create' + (' (paused)' if paused else ''), live=True)
        if self.check:
            return
        try:
            dom.create(self.client, self.name, self.config_path, paused=paused, timeout=self.p['start_timeout'])
        except Exception:
            if file_before != file_after:
                self.restore_config(file_before)
                self.applied.append('config file restored after the failed create')
            raise

    def converge(self):
        p = self.p
        spec = spec_from_params(p)
        state = p['state']
        if state == 'absent':
            problem = name_problem(self.name)
            if problem:
                raise dom.InvalidSpec('name', '%r %s' % (self.name, problem))
        else:
            dom.validate(spec)
        self.client.ensure_xen_host()
        # stopping or removing a guest does not need its configuration; comparing it does
        need_config = state not in ('absent', 'shutdown')
        live = dom.find_domain(self.client, self.name, need_config=need_config)
        if dom.settle(self.client, self.name, live, start_timeout=p['start_timeout']):
            # it was rebooting or crashing: read what xl's monitor made of it
            live = dom.find_domain(self.client, self.name, need_config=need_config)
        file_before = read_text(self.config_path)
        before_state = diff_state(live['state']) if live else ('defined' if file_before is not None else 'undefined')

        if state == 'absent':
            self.absent(live, file_before)
            return self.finish(None, before_state, 'undefined', file_before, None, [])

        file_after = dom.render_config(dom.preserve_vcpu_keys(spec, file_before))
        file_changed = file_before != file_after
        active = live is not None and live['state'] in ('running', 'blocked', 'paused')
        changes = dom.compare_live(spec, live, file_before, file_after) if active else []
        creating = state in ('running', 'paused') and not active
        if file_changed or creating or changes:
            dom.validate(spec, host=self.host(), path_exists=self.path_exists)
            if file_changed and p['validate']:
                self.dry_run(file_after)

        restart_changes = [c for c in changes if c.how == 'restart']
        live_changes = [c for c in changes if c.how == 'live']
        secret = dom.has_secret(spec)
        if file_changed and not self.check:
            self.stage_config(file_after, secret)

        if live is not None and not active and state in ('running', 'paused', 'shutdown'):
            # shut down / crashed but kept (on_poweroff=preserve, or its xl monitor died): clear it
            self.stop(live)
            live = None
        if state == 'shutdown' and active:
            self.stop(live)
            active = False
            changes, restart_changes, live_changes = [], [], []

        if active and restart_changes and p['apply'] == 'restart':
            self.stop(live)
            if file_changed:
                self.did('config file updated')
                if not self.check:
                    self.write_config(file_after, secret)
            try:
                self.start(state == 'paused', file_before, file_after)
            except Exception:
                if not self.check and file_before is not None:
                    # leave the guest where it was: running, from its previous definition
                    dom.create(self.client, self.name, self.config_path, timeout=p['start_timeout'])
                    self.applied.append('restarted from the previous config file')
                raise
            self.applied[-1] = 'restart (%s)' % ', '.join(sorted(set(c.key for c in restart_changes)))
            self.ensure_autostart(p['autostart'])
            return self.finish(live, before_state, state, file_before, file_after, changes, refresh=True)

        paused_now = active and live['state'] == 'paused'
        if active and p['apply'] != 'next_boot':
            if paused_now and live_changes and (state != 'paused' or any(c.key == 'vcpus' for c in live_changes)):
                # a paused guest cannot online or offline vCPUs: run it first (paused again below if wanted)
                self.did('unpause', live=True)
                paused_now = False
                if not self.check:
                    dom.set_paused(self.client, self.name, False)
            for change in live_changes:
                self.did(' '.join(change.action), live=True)
                if not self.check:
                    dom.apply_live_change(self.client, change, ignore_host=True, vcpu_timeout=p['vcpu_timeout'],
                                          domid=live['domid'])
            self.pending = [c.as_dict() for c in restart_changes]
        elif active:
            self.pending = [c.as_dict() for c in changes]

        if file_changed:
            self.did('config file %s' % ('created' if file_before is None else 'updated'))
            if not self.check:
                self.write_config(file_after, secret)
        elif secret and os.path.exists(self.config_path) and os.stat(self.config_path).st_mode & 0o077:
            self.did('config file mode set to 0600')
            if not self.check:
                os.chmod(self.config_path, 0o600)
        self.ensure_autostart(p['autostart'])

        if creating:
            self.start(state == 'paused', file_before, file_after)
        elif active and state == 'running' and paused_now:
            self.did('unpause', live=True)
            if not self.check:
                dom.set_paused(self.client, self.name, False)
        elif active and state == 'paused' and not paused_now:
            self.did('pause', live=True)
            if not self.check:
                dom.set_paused(self.client, self.name, True)

        after_state = {'running': 'running', 'paused': 'paused', 'shutdown': 'defined'}.get(state)
        if state == 'present':
            after_state = diff_state(live['state']) if active else 'defined'
        if state == 'shutdown':
            live = None
        return self.finish(live, before_state, after_state, file_before, file_after, changes,
                           refresh=self.live_touched and state in ('running', 'paused', 'present'))

    def finish(self, live, before_state, after_state, file_before, file_after, changes, refresh=False):
        domain = live if (live and live['state'] in ('running', 'blocked', 'paused')) else None
        if refresh and not self.check:
            domain = dom.find_domain(self.client, self.name)
        if domain is not None:
            domain = dict(domain)
            domain['config_file'] = self.config_path if os.path.exists(self.config_path) else None
            domain['autostart'] = self.autostart_is()
        result = dict(self.result)
        result.update(changed=self.changed, domain=domain, applied=self.applied, pending=self.pending)
        result.setdefault('config_file', self.config_path)
        if self.module._diff:
            live_before = {'state': before_state}
            live_after = {'state': after_state}
            for change in changes:
                if change.how == 'live' or self.p['apply'] == 'restart':
                    live_before[change.key] = change.before
                    live_after[change.key] = change.after
            result['diff'] = [
                {'before_header': '%s (before)' % self.config_path, 'after_header': self.config_path,
                 'before': dom.redact(file_before) or '', 'after': dom.redact(file_after) or ''},
                {'before_header': 'live domain %s (before)' % self.name, 'after_header': 'live domain %s' % self.name,
                 'before': live_before, 'after': live_after},
            ]
        return result


def converge(module, client):
    converger = Converger(module, client)
    try:
        return converger.converge()
    finally:
        converger.discard_staged()


def main():
    action_choices = ['destroy', 'restart', 'rename-restart', 'preserve', 'coredump-destroy', 'coredump-restart',
                      'soft-reset']
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            locking=True,
            name=dict(type='str', required=True),
            state=dict(type='str', default='present', choices=['present', 'running', 'paused', 'shutdown', 'absent']),
            type=dict(type='str', default='pv', choices=['pv', 'pvh', 'hvm']),
            memory=dict(type='int'),
            maxmem=dict(type='int'),
            vcpus=dict(type='int'),
            maxvcpus=dict(type='int'),
            cpus=dict(type='str'),
            cpus_soft=dict(type='str'),
            kernel=dict(type='path'),
            ramdisk=dict(type='path'),
            cmdline=dict(type='str'),
            bootloader=dict(type='str'),
            bootloader_args=dict(type='list', elements='str'),
            disks=dict(type='list', elements='dict', options=dict(
                target=dict(type='path'),
                vdev=dict(type='str', required=True),
                format=dict(type='str', default='raw', choices=['raw', 'qcow', 'qcow2', 'vhd', 'qed']),
                access=dict(type='str', choices=['rw', 'ro']),
                cdrom=dict(type='bool', default=False),
                backendtype=dict(type='str', choices=['phy', 'qdisk', 'tap', 'standalone']),
            )),
            vifs=dict(type='list', elements='dict', options=dict(
                mac=dict(type='str'),
                bridge=dict(type='str'),
                type=dict(type='str', choices=['vif', 'ioemu']),
                model=dict(type='str'),
                vifname=dict(type='str'),
                script=dict(type='str'),
                ip=dict(type='str'),
                rate=dict(type='str'),
                mtu=dict(type='int'),
                backend=dict(type='str'),
            )),
            firmware=dict(type='str'),
            boot=dict(type='str'),
            vnc=dict(type='bool'),
            vnclisten=dict(type='str'),
            vncdisplay=dict(type='int'),
            vncpasswd=dict(type='str', no_log=True),
            serial=dict(type='str'),
            on_poweroff=dict(type='str', choices=action_choices),
            on_reboot=dict(type='str', choices=action_choices),
            on_crash=dict(type='str', choices=action_choices),
            uuid=dict(type='str'),
            extra=dict(type='dict', default={}),
            autostart=dict(type='bool'),
            apply=dict(type='str', default='live', choices=['live', 'restart', 'next_boot']),
            force=dict(type='bool', default=False),
            shutdown_timeout=dict(type='int', default=120),
            start_timeout=dict(type='int', default=60),
            vcpu_timeout=dict(type='int', default=30),
            config_dir=dict(type='path', default='/etc/xen'),
            autostart_dir=dict(type='path', default='/etc/xen/auto'),
            validate=dict(type='bool', default=True),
            backup=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    run_module(module, converge, critical='name')


if __name__ == '__main__':
    main()
