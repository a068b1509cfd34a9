#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_disk
short_description: Guest disks on a Xen dom0 - image files (raw, qcow2) and LVM logical volumes
version_added: 1.0.0
description:
  - Creates, grows and removes the storage of Xen guests on the dom0, declaratively - an image file
    (O(backend=file), raw and sparse, or qcow2, which C(xl) serves through its C(qdisk) backend) or a
    logical volume (O(backend=lvm), thick, or thin in a thin pool).
  - Makes a disk from an image (O(source)), for example a Debian or Ubuntu cloud image as downloaded - a full
    copy (C(qemu-img convert)), or with O(clone=linked) a copy-on-write clone that costs seconds and little
    space - a qcow2 image over the source (C(qemu-img create -b SOURCE -F FORMAT)) or an LVM thin snapshot
    (C(lvcreate -s)). The source is used only when the disk is created.
  - A new disk is built under a temporary name beside the target (C(.NAME.xenfleet-tmp) for a file,
    C(NAME.xenfleet-tmp) for a logical volume) and renamed when complete; when a step fails, what was made so
    far is removed. Nothing is left half-written under the disk's name. A temporary left by an interrupted
    run is removed by the next one.
  - B(Grow only.) A disk smaller than O(size) is grown (C(qemu-img resize), C(lvextend)); a disk larger than
    O(size) is left alone and the task fails with the reason - the module never shrinks a disk, so it never
    loses data.
  - Reads what exists first (C(qemu-img info), C(vgs), C(lvs), C(xl list -l)), changes only what differs,
    and reads the disk again after a change to report what is there.
  - Bad input fails before anything changes, with the option named - a relative path, a name with C(/), an
    unknown volume group or thin pool, a size below the source image's virtual size, a source that is missing
    or not an image (a compressed download is recognised), an existing file of another format than declared,
    no size for a new disk without source.
  - B(Disks in use.) The domains that use the disk are read from C(xl list -l) (their disks' targets,
    compared as real paths, so C(/dev/VG/LV) and C(/dev/mapper/VG-LV) are the same disk) and returned in
    RV(disk.used_by). O(state=absent) refuses while a domain uses the disk (or, for a logical volume, while
    it is open) with RV(error=disk_in_use). A domain that only has a config file and does not run is not
    seen.
  - B(Growing a disk in use.) A logical volume or raw file that a running guest uses is grown on the host
    and RV(pending) says what is left - a PV or PVH guest sees the new size when its block frontend picks up
    the capacity that the backend announces. The module does not check the guest, so make sure
    inside the guest before you grow its partition and file system. A qcow2 image in use is not resized
    (C(qemu-img) would corrupt an image that QEMU has open); the task fails with RV(error=disk_in_use).
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
  - xenfleet.xen.xl.attributes
options:
  state:
    description:
      - V(present) creates the disk when it does not exist and grows it to O(size); V(absent) removes it
        (the file, or the logical volume with C(lvremove)).
    type: str
    choices: [present, absent]
    default: present
  backend:
    description:
      - V(file) - an image file at O(path).
      - V(lvm) - a logical volume O(name) in volume group O(vg) (C(/dev/VG/NAME)); thin in O(thin_pool) when
        set.
    type: str
    choices: [file, lvm]
    default: file
  path:
    description:
      - Absolute path of the image file (O(backend=file)). Its directory must exist.
      - Not used with O(backend=lvm).
    type: path
  format:
    description:
      - Format of the image file - V(raw) (sparse; what any backend reads) or V(qcow2).
      - Defaults to V(qcow2) with O(clone=linked), else to V(raw).
      - An existing file of another format is refused (the module never converts an existing disk).
      - A logical volume always holds the raw disk (only V(raw) is accepted with O(backend=lvm)).
    type: str
    choices: [raw, qcow2]
  vg:
    description: Volume group of the logical volume (O(backend=lvm)). It must exist.
    type: str
  name:
    description: Name of the logical volume in O(vg) (O(backend=lvm)); letters, digits, C(+), C(_), C(.) and C(-).
    type: str
  thin_pool:
    description:
      - Thin pool in O(vg) to create the logical volume in (O(backend=lvm)); a thick volume when not set.
      - A thin snapshot (O(clone=linked)) always lives in its origin's pool.
    type: str
  size:
    description:
      - Size of the disk as the guest sees it - bytes, or a number with a binary unit as C(qemu-img) and LVM
        read them - V(10G) (10 GiB), V(512M), V(1.5G), V(10GiB). A multiple of 512 bytes.
      - Required to create a disk without O(source). With O(source), at least the image's virtual size; the
        copy or clone is grown to it. Leave it out to keep the image's size.
      - A logical volume's size is rounded up to whole extents of the volume group (LVM does that).
      - When the disk exists, a larger O(size) grows it and a smaller one fails the task (never a shrink).
    type: raw
  source:
    description:
      - Absolute path of a raw or qcow2 image on the dom0 to make the disk from, when it is created - a
        downloaded cloud image for example (unpack a C(.tar.xz) first). Ignored when the disk exists.
      - With O(clone=full) (the default) the image is copied (C(qemu-img convert), zeroes skipped, into the
        declared O(format) or into the logical volume).
      - With O(clone=linked) and O(backend=file), the new qcow2 image stores only what the guest changes and
        reads the rest from O(source) (its backing file, raw or qcow2 - C(qemu-img) accepts both). The source
        must then never change or move while clones exist; a source that a domain uses read-write is refused.
      - With O(clone=linked) and O(backend=lvm), O(source) is a thin logical volume of O(vg) (C(/dev/VG/LV))
        and the disk is a thin snapshot of it.
    type: path
  clone:
    description:
      - How the disk is made from O(source) - V(full) (an independent copy) or V(linked) (copy-on-write, see
        O(source)).
    type: str
    choices: [full, linked]
    default: full
  copy_timeout:
    description:
      - Upper bound in seconds for copying O(source) (C(qemu-img convert)); other commands use
        O(command_timeout).
    type: int
    default: 3600
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Needs C(qemu-img) (Debian package C(qemu-utils)) for image files and for copying images, and the LVM
    tools (C(lvm2)) for O(backend=lvm); the module says which package is missing.
  - New image files are created with mode C(0600).
  - Removing an image that linked clones use as backing file breaks them; the module does not look for
    clones of the disk it removes. A thin snapshot does not depend on its origin that way.
seealso:
  - module: xenfleet.xen.xen_domain
  - name: qemu-img
    description: The qemu-img manual (create, convert, resize, backing files).
    link: https://www.qemu.org/docs/master/tools/qemu-img.html
  - name: lvmthin
    description: LVM thin provisioning, thin snapshots.
    link: https://man7.org/linux/man-pages/man7/lvmthin.7.html
'''

EXAMPLES = r'''
- name: An empty 10 GiB raw (sparse) disk
  xenfleet.xen.xen_disk:
    path: /var/lib/xen/images/web1-data.raw
    size: 10G

- name: Fetch Debian's cloud image once (the qcow2 one, no unpacking needed)
  ansible.builtin.get_url:
    url: https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2
    dest: /var/lib/xen/images/debian-12-genericcloud-amd64.qcow2
    mode: "0644"

- name: A 20 GiB linked clone of it for web1 (qcow2 over the image; seconds, a few hundred KiB)
  xenfleet.xen.xen_disk:
    path: /var/lib/xen/images/web1.qcow2
    source: /var/lib/xen/images/debian-12-genericcloud-amd64.qcow2
    clone: linked
    size: 20G

- name: A 20 GiB logical volume in volume group vg0 with a full copy of the image
  xenfleet.xen.xen_disk:
    backend: lvm
    vg: vg0
    name: web2-root
    source: /var/lib/xen/images/debian-12-genericcloud-amd64.qcow2
    size: 20G

- name: The golden image in a thin LV once, then thin snapshots of it for each guest
  block:
    - name: Golden thin volume
      xenfleet.xen.xen_disk:
        backend: lvm
        vg: vg0
        thin_pool: pool0
        name: debian12-golden
        source: /var/lib/xen/images/debian-12-genericcloud-amd64.qcow2
    - name: A thin snapshot per guest, grown to 20 GiB
      xenfleet.xen.xen_disk:
        backend: lvm
        vg: vg0
        name: "{{ item }}-root"
        source: /dev/vg0/debian12-golden
        clone: linked
        size: 20G
      loop: [web3, web4, web5]

- name: Grow web2's disk to 40 GiB (never shrinks); see what the guest still has to do
  xenfleet.xen.xen_disk:
    backend: lvm
    vg: vg0
    name: web2-root
    size: 40G
  register: grown

- name: Say what is pending
  ansible.builtin.debug:
    msg: "{{ grown.pending }}"
  when: grown.pending

- name: Remove web1's disk (fails while a domain uses it)
  xenfleet.xen.xen_disk:
    path: /var/lib/xen/images/web1.qcow2
    state: absent
'''

RETURN = r'''
disk:
  description:
    - The disk after the module ran (in check mode, as it would be); V(null) after O(state=absent).
  returned: success
  type: dict
  contains:
    path:
      description: The disk's path on the dom0 (C(/dev/VG/NAME) for a logical volume).
      type: str
      sample: /var/lib/xen/images/web1.qcow2
    backend:
      description: V(file) or V(lvm).
      type: str
      sample: file
    format:
      description: V(raw) or V(qcow2) (always V(raw) for a logical volume).
      type: str
      sample: qcow2
    size_bytes:
      description: The size the guest sees, in bytes (compared with O(size)).
      type: int
      sample: 21474836480
    virtual_size_bytes:
      description: The same value, under C(qemu-img)'s name for it.
      type: int
      sample: 21474836480
    actual_size_bytes:
      description:
        - Space the disk takes on the host - allocated blocks of the file, the whole of a thick volume, the
          thin pool's share of a thin volume. V(null) when not measured (check mode before a change).
      type: int
      sample: 200704
    backing_file:
      description: The backing file of a qcow2 linked clone, else V(null).
      type: str
      sample: /var/lib/xen/images/debian-12-genericcloud-amd64.qcow2
    used_by:
      description: Names of the domains (known to C(xl)) that use the disk.
      type: list
      elements: str
      sample: [web1]
    vg:
      description: Volume group (O(backend=lvm) only).
      type: str
      sample: vg0
    name:
      description: Logical volume name (O(backend=lvm) only).
      type: str
      sample: web2-root
    thin_pool:
      description: The thin pool of a thin volume, V(null) for a thick one (O(backend=lvm) only).
      type: str
      sample: pool0
pending:
  description:
    - When a disk that a domain uses was grown, what remains before the guest sees the new size; else V(null).
  returned: success
  type: str
  sample: "/dev/vg0/web2-root grew to 40 GiB on the host while in use by web2 (PVH, running). ..."
applied:
  description: The commands run (in check mode, that would run) and file operations, in order.
  returned: success
  type: list
  elements: str
  sample:
    - qemu-img create -f qcow2 -b /var/lib/xen/images/debian-12-genericcloud-amd64.qcow2 -F qcow2 /var/lib/xen/images/.web1.qcow2.xenfleet-tmp 21474836480
    - rename /var/lib/xen/images/.web1.qcow2.xenfleet-tmp to /var/lib/xen/images/web1.qcow2
xl_calls:
  description: Number of commands (C(xl), C(qemu-img), LVM) the module ran.
  returned: always
  type: int
  sample: 4
error:
  description:
    - On failure, what went wrong, as a word - V(invalid_parameter) (bad input, nothing changed), V(disk_in_use)
      (a domain or another process uses the disk, nothing changed), V(tool_not_found) (C(qemu-img) or LVM
      missing), V(command_failed) (a tool failed; C(cmd), C(rc), C(stdout), C(stderr) say how; a half-made
      disk was removed), V(disk_error), V(timeout).
  returned: failure
  type: str
  sample: disk_in_use
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_disk
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            locking=True,
            state=dict(type='str', default='present', choices=['present', 'absent']),
            backend=dict(type='str', default='file', choices=['file', 'lvm']),
            path=dict(type='path'),
            format=dict(type='str', choices=['raw', 'qcow2']),
            vg=dict(type='str'),
            name=dict(type='str'),
            thin_pool=dict(type='str'),
            size=dict(type='raw'),
            source=dict(type='path'),
            clone=dict(type='str', default='full', choices=['full', 'linked']),
            copy_timeout=dict(type='int', default=3600),
        ),
        supports_check_mode=True,
    )
    run_module(module, _converge_disk.run, critical='path' if module.params['backend'] == 'file' else 'name')


if __name__ == '__main__':
    main()
