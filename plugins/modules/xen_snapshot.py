#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_snapshot
short_description: Named snapshots of a Xen guest - its disks and, optionally, its memory - and reverting to them
version_added: 1.0.0
description:
  - Takes a named snapshot of a guest (O(state=present)), removes it (O(state=absent)) or puts the guest back
    to it (O(state=reverted)), on the dom0 where the guest is defined.
  - B(Disks.) Every writable disk of the guest is snapshotted the way its backend allows, said per disk in
    RV(snapshot.disks) - an image file (raw or qcow2) is copied into the snapshot directory
    (C(cp --sparse=always --reflink=auto) - holes stay holes; a reflink costs nothing on a file system that
    has them), a thin logical volume gets a thin snapshot in its pool (instant), a thick logical volume a
    copy-on-write snapshot (instant; O(lvm_snapshot_size) of space reserved in its volume group). Read-only
    disks and CD-ROMs (a cloud-init seed, an installer image) are not snapshotted; RV(snapshot.skipped) lists
    them. A disk that is another kind of block device, or missing, is refused before anything changes.
  - B(Consistency.) Without O(memory), a running guest is paused for the instant of the disk snapshots (the
    copy of an image file lasts as long as the copy) and unpaused; RV(pause_seconds) reports how long. With
    O(memory=true), the guest is saved (C(xl save) - its memory to the snapshot, the domain gone, its disks
    quiet), its disks are snapshotted, and it is restored from the image, which the snapshot keeps; it
    continues where it was (the same processes, the same boot id), and RV(pause_seconds) is the time it did
    not run. C(xl save -c) (a checkpoint while the guest runs) is not used - on Xen 4.17 the guest's C(xl)
    monitor is gone after it, and the guest's next shutdown or reboot leaves a zombie domain.
  - B(Layout.) Snapshot S of guest G is the directory C(SNAPSHOT_DIR/G/S) - C(manifest.json) (what was taken,
    when, how), C(config.cfg) (the guest's config file then), C(memory) (the memory image), C(disk-VDEV)
    (copies of image files); LVM snapshots are volumes C(LV_snap_S) beside the disk's volume. A snapshot is
    built under C(SNAPSHOT_DIR/G/.S.partial) and renamed into place when complete; when a step fails, what was
    made is removed and the guest is back as it was.
  - B(Reverting) destroys the running guest (its current state is what the revert replaces), puts every disk
    back (file copies are staged beside the disk and renamed over it; a thin volume is replaced by a new thin
    snapshot of the snapshot; a thick volume gets C(lvconvert --merge), after which the snapshot is taken
    again so it can be reverted to once more), then - with a memory image - restores the guest from it (it
    continues exactly where the snapshot was taken) or - without one - starts it afresh from its config file
    if it ran before. A stopped guest without memory in the snapshot stays stopped. The snapshot is kept.
    O(state=reverted) is an action, like a rollback in other collections - every run with it reverts again
    (the task always reports a change; use it under a condition).
  - Refused before anything changes, with the option named - a volume group without room for the thick
    snapshots, a snapshot directory without room for the copies and the memory image, a disk that cannot be
    snapshotted, O(memory) for a guest that does not run, a revert when the guest's disks are no longer
    those the snapshot recorded, or while the guest is saved (C(xen_domain) O(xenfleet.xen.xen_domain#module:state=saved);
    its memory image belongs to its current disks).
  - Check mode predicts exactly what would be done (RV(applied)) and changes nothing; diff mode shows the
    guest's snapshots before and after.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
  - xenfleet.xen.xl.attributes
options:
  name:
    description:
      - The guest (its domain name; a guest that does not run is found by its config file in O(config_dir)).
    type: str
    required: true
  snapshot:
    description:
      - The snapshot's name - letters, digits, C(_), C(.), C(+) and C(-), starting with a letter or digit, at
        most 64 characters.
      - Required, except with O(state=present) and O(retain), which then only drops old snapshots.
    type: str
  state:
    description:
      - V(present) takes the snapshot unless the guest has one of that name (an existing snapshot is never
        replaced - remove it first to take it again). V(absent) removes it (its directory and LVM volumes).
        V(reverted) puts the guest back to it.
    type: str
    choices: [present, absent, reverted]
    default: present
  memory:
    description:
      - With O(state=present), also keep the guest's memory, so a revert resumes it where it was instead of
        booting it. The guest must run (or be paused); it does not run while it is saved and restored (a few
        seconds for a small guest; RV(pause_seconds)).
    type: bool
    default: false
  retain:
    description:
      - With O(state=present), keep only the newest O(retain) snapshots of the guest (by the time they were
        taken); older ones are removed after the new one is taken. The snapshot named in O(snapshot) is never
        removed by it.
    type: int
  snapshot_dir:
    description:
      - Where snapshots live on the dom0 - a directory per guest, one per snapshot in it. Created (mode 0700)
        when missing.
    type: path
    default: /var/lib/xen/snapshots
  lvm_snapshot_size:
    description:
      - Copy-on-write space of a thick LVM snapshot - a size (V(2G)) or a share of the volume (V(20%)). A thick
        snapshot whose space runs out becomes invalid and cannot be reverted to, so the default reserves the
        whole volume's size. Thin volumes take no reservation (their snapshots share the pool).
    type: str
    default: 100%
  config_dir:
    description:
      - Where the guests' config files are (C(NAME.cfg)), as for M(xenfleet.xen.xen_domain).
    type: path
    default: /etc/xen
  save_dir:
    description:
      - Where M(xenfleet.xen.xen_domain) keeps the images of saved guests (O(xenfleet.xen.xen_domain#module:save_dir)); a revert is refused
        while the guest has one there.
    type: path
    default: /var/lib/xen/save
  save_timeout:
    description:
      - Seconds for C(xl save) and for C(xl restore) each (snapshots and reverts with memory).
    type: int
    default: 300
  start_timeout:
    description:
      - Seconds a guest gets to run after it is started from its config file (revert without memory).
    type: int
    default: 60
  copy_timeout:
    description:
      - Seconds a copy of an image file (and an LVM merge) may take.
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: partial
    details: V(present) and V(absent) are idempotent; V(reverted) is an action that reverts again on every run.
notes:
  - A snapshot is a point to go back to on the same host, not a backup - its copies and volumes live beside the
    guest's disks.
  - The snapshot of an image file is a full copy while the guest is paused; for large raw files prefer LVM (or a
    file system with reflinks, where the copy is instant).
seealso:
  - module: xenfleet.xen.xen_domain
  - module: xenfleet.xen.xen_disk
'''

EXAMPLES = r'''
- name: Before the upgrade, snapshot web1 with its memory
  xenfleet.xen.xen_snapshot:
    name: web1
    snapshot: before-upgrade
    memory: true

- name: The upgrade failed - put web1 back where it was (same processes, same boot id)
  xenfleet.xen.xen_snapshot:
    name: web1
    snapshot: before-upgrade
    state: reverted
  when: upgrade_failed | default(false)

- name: A nightly disk snapshot, keeping the newest 7
  xenfleet.xen.xen_snapshot:
    name: db1
    snapshot: "nightly-{{ now(utc=true, fmt='%Y%m%d') }}"
    retain: 7
    lvm_snapshot_size: 20%

- name: Drop the snapshot
  xenfleet.xen.xen_snapshot:
    name: web1
    snapshot: before-upgrade
    state: absent
'''

RETURN = r'''
snapshot:
  description:
    - The snapshot named in O(snapshot) as it is after the task (predicted in check mode); null when it does not
      exist (after O(state=absent)).
  returned: always
  type: dict
  contains:
    name:
      description: The snapshot's name.
      type: str
    path:
      description: Its directory on the dom0.
      type: str
    created:
      description: When it was taken (seconds since the epoch).
      type: int
    memory:
      description: Whether it holds the guest's memory (a revert resumes the guest instead of booting it).
      type: bool
    guest_state:
      description: The guest's state when it was taken (V(running), V(blocked), V(paused), V(shutoff)).
      type: str
    pause_seconds:
      description: How long the guest did not run while it was taken (null when it did not run, or in check mode).
      type: float
    disks:
      description: Each snapshotted disk - vdev, source (the disk), method (V(copy), V(lvm-thin-snapshot),
        V(lvm-snapshot)) and snapshot (the copy's path or the snapshot volume's path).
      type: list
      elements: dict
    skipped:
      description: The disks not snapshotted (read-only disks, CD-ROMs), with the reason.
      type: list
      elements: dict
  sample:
    name: before-upgrade
    path: /var/lib/xen/snapshots/web1/before-upgrade
    created: 1764770000
    memory: true
    guest_state: running
    pause_seconds: 3.4
    disks:
      - {vdev: xvda, source: /dev/vg0/web1, method: lvm-snapshot, snapshot: /dev/vg0/web1_snap_before-upgrade}
    skipped:
      - {vdev: xvdb, source: /var/lib/xen/seeds/web1.iso, reason: read-only}
snapshots:
  description: Every snapshot of the guest after the task, by name (the same fields as RV(snapshot)).
  returned: always
  type: list
  elements: dict
applied:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
  sample:
    - "before-upgrade: save web1 (memory to /var/lib/xen/snapshots/web1/before-upgrade/memory), snapshot its disks, restore it"
    - "before-upgrade: lvcreate --yes -s -n web1_snap_before-upgrade -L 4294967296b vg0/web1"
pause_seconds:
  description: With O(state=present), how long the guest did not run while the snapshot was taken (null when
    nothing was taken, the guest did not run, or in check mode).
  returned: when O(state=present)
  type: float
downtime_seconds:
  description: With O(state=reverted), seconds from the guest's destruction to it running again (or to its disks
    being back, for a guest that stays stopped); null in check mode.
  returned: when O(state=reverted)
  type: float
domid:
  description: With O(state=reverted), the id of the guest's new domain (null when it stays stopped, or in check
    mode).
  returned: when O(state=reverted)
  type: int
pruned:
  description: With O(retain), the snapshots it removed, oldest first.
  returned: when O(retain) is set
  type: list
  elements: str
error:
  description:
    - On failure, what went wrong, as a word - V(invalid_parameter) (bad input or no room, nothing changed),
      V(domain_not_found), V(not_running) (memory asked of a guest that does not run), V(saved_image) (a revert
      of a saved guest), V(snapshot_failed) (a step failed; the message says where the guest is), V(save_failed),
      V(command_failed), V(timeout).
  returned: failure
  type: str
  sample: invalid_parameter
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_snapshot
from ansible_collections.xenfleet.xen.plugins.module_utils import _options as opts
from ansible_collections.xenfleet.xen.plugins.module_utils import _snapshot as snap
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            opts.CONFIG_DIR, opts.SAVE_DIR, opts.SAVE_TIMEOUT, opts.START_TIMEOUT, opts.SNAPSHOT_DIR, opts.COPY_TIMEOUT,
            locking=True,
            name=dict(type='str', required=True),
            snapshot=dict(type='str'),
            state=dict(type='str', default='present', choices=list(snap.STATES)),
            memory=dict(type='bool', default=False),
            retain=dict(type='int'),
            lvm_snapshot_size=dict(type='str', default='%d%%' % snap.DEFAULT_LVM_PERCENT),
        ),
        supports_check_mode=True,
    )
    run_module(module, _converge_snapshot.run, critical='name')


if __name__ == '__main__':
    main()
