#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_backup
short_description: Export a Xen guest (config, disks, memory) to a backup directory, and import it on any host
version_added: 1.0.0
description:
  - Writes a backup of a guest - its config file, every disk as a standalone qcow2 image, and its memory image
    when it has one - with a manifest of sizes and SHA-256 checksums (O(state=present)); removes a backup
    (O(state=absent)); or makes a guest of this host from a backup (O(state=imported)), under the same name
    or a new one (O(new_name)), its disks where they were or elsewhere (O(disks)).
  - B(What is exported.) A guest is exported while its disks are quiet - shut off, or saved
    (M(xenfleet.xen.xen_domain) O(xenfleet.xen.xen_domain#module:state=saved), then its memory image comes
    along and the imported guest continues where it was) - or from one of its snapshots
    (O(snapshot), see M(xenfleet.xen.xen_snapshot)) while it runs on. A running guest without O(snapshot) is
    refused (RV(error=guest_running)).
  - B(Disks.) Image files (raw, qcow2 - a linked clone is flattened, the backup stands alone) and LVM volumes
    (thin or thick) are written with C(qemu-img convert) as qcow2 images - holes and zeroes skipped, clusters
    compressed with O(compress). Read-only disks (a cloud-init seed) are exported too, so the config file
    finds everything it names on the other host.
  - B(Backup directory.) C(<backup_dir>/<guest>/<backup>/) holds C(manifest.json), C(config.cfg),
    C(disk-<vdev>.qcow2) per disk and C(memory.gz) (or C(memory)). It is written under a hidden name and renamed
    into place when complete, so a backup that exists is whole; directories are created with mode 0700. Any
    directory the dom0 can write works - local, NFS, a disk carried to the other host.
  - B(Import.) Before anything is written, every file is checked against the manifest (size and SHA-256) - an
    incomplete or damaged backup is refused (RV(error=backup_corrupt)); a disk target that exists already, a
    missing volume group or thin pool and too little room are refused too. Disks go to their old paths (image
    files) or volumes (C(/dev/VG/LV), created with their old size, thin in their old pool) unless O(disks) maps
    them. Each is built under a temporary name and renamed, the config file written last; a failure removes
    everything the import made. The guest is not started - M(xenfleet.xen.xen_domain) (or the
    P(xenfleet.xen.guests#role) role) with O(xenfleet.xen.xen_domain#module:state=running) starts it, from its
    memory image when one was imported.
  - B(Idempotence.) O(state=present) writes a backup only when none of that name exists; O(state=imported)
    imports only when the guest is not defined on this host (no config file, no domain, no memory image of
    that name) - an imported guest that has since changed is left alone.
  - B(Moving a guest without shared storage.) Save it on the old host (or shut it down), export it, import it
    on the new host from the same directory, start it there, and remove it from the old host - see the
    examples. The guest does not run from the save to the restore (RV(seconds) of each step); live migration
    (M(xenfleet.xen.xen_migrate)) needs storage both hosts share.
author:
  - xenfleet.xen maintainers (@xenfleet)
options:
  name:
    description:
      - The guest - exported (O(state=present)), or whose backup is removed or imported (the name it had when
        it was backed up; see O(new_name)).
    type: str
    required: true
  backup:
    description:
      - The backup's name (letters, digits, C(_), C(.), C(+), C(-)).
    type: str
    required: true
  backup_dir:
    description:
      - The directory that holds the backups, a directory per guest in it.
    type: path
    required: true
  state:
    description:
      - V(present) - the backup exists (written when missing). V(absent) - it does not. V(imported) - the guest
        is defined on this host from the backup (imported when it is not).
    type: str
    choices: [present, absent, imported]
    default: present
  snapshot:
    description:
      - With O(state=present), export this snapshot of the guest (M(xenfleet.xen.xen_snapshot)) instead of the
        guest itself - its disks as they were then and its memory when the snapshot has it. The guest may run.
    type: str
  snapshot_dir:
    description:
      - Where the guest's snapshots are (O(xenfleet.xen.xen_snapshot#module:snapshot_dir)).
    type: path
    default: /var/lib/xen/snapshots
  compress:
    description:
      - Compress the disks' clusters (qcow2 zlib) and the memory image (gzip, fast level). Off, the backup is
        larger and quicker to write.
    type: bool
    default: true
  new_name:
    description:
      - With O(state=imported), the guest's name on this host (default O(name)). A copy under another name gets
        no fixed UUID; fixed MAC addresses stay and are warned about. A memory image records the old name, so a
        backup with memory is imported under a new name only with O(memory=false).
    type: str
  disks:
    description:
      - With O(state=imported), where disks go instead of where they were. Disks not listed keep their paths. A
        disk moved elsewhere cannot take the memory image along (it records the old paths; O(memory=false)).
    type: list
    elements: dict
    suboptions:
      vdev:
        description: The disk, by its virtual device (V(xvda)).
        type: str
        required: true
      target:
        description: An image file path, or C(/dev/VG/LV) for a logical volume (created; the volume group must
          exist).
        type: path
        required: true
      thin_pool:
        description: For a logical volume, the thin pool of its volume group to create it in (thick without).
        type: str
  memory:
    description:
      - With O(state=imported), import the memory image when the backup has one, so that the guest continues
        where it was saved. V(false) imports the disks and config only (the guest boots afresh).
    type: bool
    default: true
  config_dir:
    description:
      - Where the guests' config files are (C(NAME.cfg)), as for M(xenfleet.xen.xen_domain).
    type: path
    default: /etc/xen
  save_dir:
    description:
      - Where M(xenfleet.xen.xen_domain) keeps the memory images of saved guests
        (O(xenfleet.xen.xen_domain#module:save_dir)) - read when a saved guest is exported, written when a backup
        with memory is imported.
    type: path
    default: /var/lib/xen/save
  copy_timeout:
    description:
      - Seconds each disk's export or import (C(qemu-img convert)) may take.
    type: int
    default: 3600
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
  - xenfleet.xen.xl.attributes
attributes:
  check_mode:
    support: full
    details: The checks of an import (the files' checksums included) run in check mode too.
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - The backup of a raw image file holds what the file holds (holes skipped); a thick logical volume is read in
    full (its zeroes are skipped but read).
  - Room is checked before anything is written - the backup directory for the disks' data uncompressed (an upper
    bound), the volume groups, file systems and save directory of an import.
seealso:
  - module: xenfleet.xen.xen_snapshot
  - module: xenfleet.xen.xen_domain
  - module: xenfleet.xen.xen_migrate
'''

EXAMPLES = r'''
- name: Back up db1 from last night's snapshot while it runs
  xenfleet.xen.xen_backup:
    name: db1
    backup: "nightly-{{ now(utc=true, fmt='%Y%m%d') }}"
    snapshot: nightly
    backup_dir: /srv/backup/xen

# Moving web1 from xen1 to xen2, which share no storage but both mount /srv/backup/xen (NFS).
# web1 does not run from the save on xen1 to the restore on xen2; it continues where it was.
- name: Save web1 on xen1 (it stops running; its memory is kept)
  xenfleet.xen.xen_domain:
    name: web1
    state: saved
    # ... the rest of web1's declaration, as for any xen_domain task
  delegate_to: xen1

- name: Export web1, with its memory image
  xenfleet.xen.xen_backup:
    name: web1
    backup: move
    backup_dir: /srv/backup/xen
  delegate_to: xen1

- name: Import web1 on xen2 (its disks where they were on xen1)
  xenfleet.xen.xen_backup:
    name: web1
    backup: move
    backup_dir: /srv/backup/xen
    state: imported
  delegate_to: xen2

- name: Start web1 on xen2 from its memory image
  xenfleet.xen.xen_domain:
    name: web1
    state: running
    # ... the rest of web1's declaration
  delegate_to: xen2

- name: A copy of web1 for tests, its disk in a thin pool, booting afresh
  xenfleet.xen.xen_backup:
    name: web1
    backup: move
    backup_dir: /srv/backup/xen
    state: imported
    new_name: web1-test
    memory: false
    disks:
      - vdev: xvda
        target: /dev/vg0/web1-test
        thin_pool: pool0

- name: Drop the backup
  xenfleet.xen.xen_backup:
    name: web1
    backup: move
    backup_dir: /srv/backup/xen
    state: absent
'''

RETURN = r'''
backup:
  description:
    - The backup as it is after the task (predicted in check mode, where sizes are null); null when there is
      none (O(state=absent)).
  returned: always
  type: dict
  contains:
    name:
      description: The backup's name.
      type: str
    guest:
      description: The guest it was taken of.
      type: str
    path:
      description: Its directory.
      type: str
    created:
      description: When it was written (seconds since the epoch).
      type: int
    source:
      description: What was exported - C(kind) V(shutoff), V(saved) or V(snapshot), and C(snapshot) (its name).
      type: dict
    compress:
      description: Whether its disks and memory are compressed.
      type: bool
    memory:
      description: Whether it holds a memory image.
      type: bool
    bytes:
      description: The size of its files together.
      type: int
    disks:
      description: Each disk - vdev, target (where it was), kind (V(file) or V(lv)), file (its image in the
        backup), bytes.
      type: list
      elements: dict
    skipped:
      description: Disks not exported (a CD-ROM drive without media), with the reason.
      type: list
      elements: dict
  sample:
    name: move
    guest: web1
    path: /srv/backup/xen/web1/move
    created: 1764770000
    source: {kind: saved, snapshot: null}
    compress: true
    memory: true
    bytes: 352321536
    disks:
      - {vdev: xvda, target: /dev/vg0/web1, kind: lv, file: /srv/backup/xen/web1/move/disk-xvda.qcow2, bytes: 301989888}
    skipped: []
name:
  description: With O(state=imported), the guest's name on this host.
  returned: when O(state=imported)
  type: str
imported:
  description: With O(state=imported), whether this run imported it (false - the guest was defined here already).
  returned: when O(state=imported)
  type: bool
config:
  description: With O(state=imported), the guest's config file on this host.
  returned: when O(state=imported)
  type: str
memory:
  description: With O(state=imported), whether the guest has a memory image to start from.
  returned: when O(state=imported)
  type: bool
seconds:
  description: Seconds the export or import took (null when nothing was done, or in check mode).
  returned: when O(state=present) or O(state=imported)
  type: float
applied:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: str
error:
  description:
    - On failure, what went wrong, as a word - V(invalid_parameter) (bad input, a target that exists, no room;
      nothing changed), V(domain_not_found), V(guest_running) (export of a running guest without O(snapshot)),
      V(backup_corrupt) (an import refused - a file is missing, truncated or has another checksum),
      V(backup_failed) (a step failed; the message says what is left), V(command_failed), V(timeout).
  returned: failure
  type: str
  sample: backup_corrupt
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _backup as bk
from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_backup
from ansible_collections.xenfleet.xen.plugins.module_utils import _options as opts
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            opts.CONFIG_DIR, opts.SAVE_DIR, opts.SNAPSHOT_DIR, opts.COPY_TIMEOUT,
            locking=True,
            name=dict(type='str', required=True),
            backup=dict(type='str', required=True),
            backup_dir=dict(type='path', required=True),
            state=dict(type='str', default='present', choices=list(bk.STATES)),
            snapshot=dict(type='str'),
            compress=dict(type='bool', default=True),
            new_name=dict(type='str'),
            disks=dict(type='list', elements='dict', options=dict(
                vdev=dict(type='str', required=True),
                target=dict(type='path', required=True),
                thin_pool=dict(type='str'),
            )),
            memory=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    run_module(module, _converge_backup.run, critical='name')


if __name__ == '__main__':
    main()
