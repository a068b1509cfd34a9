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
version_added: 1.0.0
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
  - xenfleet.xen.xl.files
  - xenfleet.xen.xl.autostart
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
      - V(running) - defined and running; created from the config file if needed, unpaused if paused. A guest
        with a save image (see V(saved)) is B(restored) from it, not booted afresh, unless O(discard_saved=true).
      - V(paused) - defined and running but paused (restored paused from a save image).
      - V(saved) - defined, its memory written to C(<save_dir>/<name>) with C(xl save), the domain gone. The guest
        continues where it was (same uptime, same boot id) when it is next declared V(running). Only a running or
        paused guest can be saved; a guest already saved stays so. O(save_dir) must have room for the guest's
        memory (checked before the guest is touched). What needs a restart waits for its next boot.
      - V(shutdown) - defined and not running (graceful shutdown, see O(shutdown_timeout) and O(force)). Refused
        for a saved guest unless O(discard_saved=true) (its memory would be thrown away).
      - V(absent) - not running, its config file, autostart link and save image removed. Disks are B(never)
        deleted.
    type: str
    choices: [present, running, paused, saved, shutdown, absent]
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
      - Hard CPU affinity of all vCPUs at creation, in xl's syntax, for example V(all), V(0-3,5), V(^1) or V(nodes:0).
        That is comma-separated CPU numbers, ranges C(a-b), V(all), C(node:N) or C(nodes:a-b), each optionally
        preceded by C(^) to exclude it. Anything else is refused before the host is touched.
      - Use M(xenfleet.xen.xen_vcpu) to change pinning of a running guest.
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
        description:
          - Bridge in dom0 to connect to, for example V(xenbr0).
          - A Linux interface name - at most 15 characters, not V(.) or V(..), without C(/), C(:), white space,
            C(,) or C(=).
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
    description:
      - HVM - address the VNC server listens on, an IPv4 or IPv6 address, optionally with the display number
        (C(ADDRESS:DISPLAYNUM); an IPv6 address then in brackets, V([::1]:1)). Host names are refused.
      - Defaults to V(127.0.0.1) when O(vnc) is enabled.
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
  validate:
    description: Check a new config file with C(xl -N create) (a dry run) before it replaces the old one.
    type: bool
    default: true
  backup:
    description: Keep a timestamped copy of the previous config file when it changes.
    type: bool
    default: false
  save_dir:
    description:
      - Directory of the guests' memory images (O(state=saved)); the image of guest NAME is C(<save_dir>/NAME).
      - The default is where Debian's C(xendomains) saves every running guest when the host shuts down
        (C(XENDOMAINS_SAVE) in C(/etc/default/xendomains)), so a guest saved that way is found as saved too.
        With C(XENDOMAINS_RESTORE=true) (Debian's default; the C(hypervisor) role sets it only with
        C(xen_hypervisor_xendomains_on_stop=save)) the host's boot restores B(every) image in that directory, so a
        guest you declared V(saved) runs again after a host reboot; point O(save_dir) elsewhere to keep it saved.
      - Created (mode 0700) when missing. Must be an absolute path.
    type: path
    default: /var/lib/xen/save
  save_timeout:
    description:
      - Seconds C(xl save) may take to write the memory image, and C(xl restore) to bring the guest back and
        running (both grow with the guest's memory).
    type: int
    default: 300
  discard_saved:
    description:
      - Throw a saved guest's memory image away. With O(state=running) or O(state=paused) the guest then boots
        afresh from its config file; with O(state=shutdown) it stays stopped, without image.
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

- name: Before host maintenance, save a guest (memory to /var/lib/xen/save/web1, the domain gone)
  xenfleet.xen.xen_domain:
    name: web1
    state: saved

- name: Afterwards, bring it back where it was (restored from its image, not booted afresh)
  xenfleet.xen.xen_domain:
    name: web1
    state: running

- name: Remove a guest (its disks stay)
  xenfleet.xen.xen_domain:
    name: web1
    state: absent
'''

RETURN = r'''
domain:
  description:
    - The domain after the module ran, in the shape of RV(xenfleet.xen.xen_domain_info#module:domains) items.
      V(null) when the domain is not running (states V(present), V(saved), V(shutdown), V(absent)).
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
save_image:
  description:
    - Path of the guest's memory image when it has one after the run (O(state=saved), or V(present) on a saved
      guest), else V(null). A restore deletes the image once the guest runs again.
  returned: success
  type: str
  sample: /var/lib/xen/save/web1
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
      it was), V(not_running) (O(state=saved) for a guest that is neither running nor saved), V(save_dir_unusable)
      (O(save_dir) is not writable or lacks room for the memory image; checked before the guest is touched),
      V(save_failed) (C(xl save) or C(xl restore) failed; a failed save resumes the guest and keeps no image, a failed
      restore keeps the image), V(saved_image) (O(state=shutdown) for a saved guest without O(discard_saved)).
  returned: failure
  type: str
  sample: invalid_parameter
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domain
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec
from ansible_collections.xenfleet.xen.plugins.module_utils._options import XEN_DOMAIN


def main():
    module = AnsibleModule(argument_spec=xl_argument_spec(locking=True, **XEN_DOMAIN), supports_check_mode=True)
    run_module(module, _converge_domain.run, critical='name')


if __name__ == '__main__':
    main()
