#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_cloud_init
short_description: Build a guest's cloud-init NoCloud seed image on the Xen host
version_added: 1.0.0
description:
  - Writes, on the dom0, the image file that cloud-init's NoCloud datasource reads on a guest's first boot
    - an ISO 9660 (or VFAT) file system labelled C(cidata) holding C(user-data), C(meta-data) and, when
    O(network_config) is set, C(network-config). Attach it to the guest as a read-only disk with
    M(xenfleet.xen.xen_domain) (see the examples).
  - The content is deterministic - the same options give the same files, and the same image bytes. The module
    records a content id (a SHA-256 of the files and the format) in the image - the ISO's volume set identifier,
    or the file C(xenfleet.id) on VFAT - reads it back in Python and rebuilds the image only when the content
    changes. It never depends on dates.
  - The image is built from a private temporary directory into a temporary file beside O(path), checked (it must
    read back as this seed) and renamed into place, so O(path) is never half-written. A running guest that has the
    image attached keeps reading the image it was started with until it next starts.
  - B(cloud-init acts on a new instance-id only.) A guest runs the per-instance part of its user-data (users, keys,
    packages, C(runcmd)) once per instance-id. Without O(meta_data) C(instance-id) the module derives one from the
    content, so a changed seed has a new instance-id and the guest applies it at its next boot; with a fixed
    C(instance-id) a guest that already booted with it ignores most of a changed seed.
  - The image is mode 0600 (root only), as the user-data can hold password hashes and keys.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
  - xenfleet.xen.xl.attributes
options:
  path:
    description:
      - The seed image file on the Xen host, an absolute path such as C(/var/lib/xen/seed/web1.iso). Its
        directory is created (mode 0755) when missing.
      - Also the key of the task's critical section on the host.
    type: path
    required: true
  state:
    description:
      - V(present) builds the image when it is missing or its content differs.
      - V(absent) removes it; refused while a running domain has it as a disk (the domains are read with
        C(xl list -l); a defined guest that is not running is not seen). The other options are then ignored.
    type: str
    choices: [present, absent]
    default: present
  user_data:
    description:
      - The user-data. A mapping is written as cloud-config YAML under a C(#cloud-config) line (keys sorted, text
        always quoted, so no YAML 1.1 surprises such as V(no) or C(0644) changing type).
      - Text is written as given. It must start with a header cloud-init recognises - C(#cloud-config),
        C(#!) (a script), C(#include), C(#include-once), C(#cloud-boothook), C(#part-handler),
        C(#cloud-config-archive), C(#cloud-config-jsonp), a Jinja template header (C(## template) and C(jinja) joined by a colon) - or be a MIME multi-part
        message; anything else cloud-init would ignore, so it is refused.
      - Unset, the seed has an empty cloud-config.
      - B(Secret.) The option is C(no_log); results and diffs show the user-data only as its size and a digest.
        Ansible then hides every value of a mapping wherever it appears in the task's output (a value C(web1) in
        user_data also masks C(web1) in the path shown). Pass the user-data as one text (for example
        C("#cloud-config\n{{ config | to_nice_yaml }}")) to have only that text hidden.
    type: raw
  meta_data:
    description:
      - The meta-data. Keys are cloud-init's - C(instance-id) and C(local-hostname) (the guest's host name);
        other keys are written as given.
      - Without C(instance-id), it is C(iid-) and 20 hex digits of a SHA-256 of the other files, so it changes
        whenever the seed's content changes (see the description).
      - C(instance-id) - 1 to 128 letters, digits, C(.), C(_), C(:) or C(-). C(local-hostname) - a host name
        (labels of letters, digits and hyphens).
    type: dict
    default: {}
  network_config:
    description:
      - The guest's network configuration, cloud-init network config version 2 (the netplan format) - C(version)
        V(2) and C(ethernets) (or C(bonds), C(bridges), C(vlans)); a top-level C(network) key is unwrapped.
      - Checked before anything runs - addresses as address/prefix, C(gateway4)/C(gateway6) and C(routes[].via)
        as IP addresses of their family, C(nameservers.addresses) as IP addresses, MAC addresses.
      - Unset, the seed has no C(network-config) and cloud-init configures the first interface with DHCP.
      - On Xen, guest interfaces are C(eth0), C(eth1), ... in the order of the domain's C(vifs) (Debian's cloud
        images keep those names); match by C(macaddress) to be independent of the order.
    type: dict
  format:
    description:
      - V(iso) - ISO 9660 with Joliet and Rock Ridge names, built with C(xorriso) (Debian package C(xorriso)).
      - V(vfat) - a FAT file system, built with C(mkfs.vfat) (C(dosfstools)) and C(mcopy) (C(mtools)); its label
        is C(CIDATA) (FAT keeps labels in capitals; cloud-init looks for both spellings).
    type: str
    choices: [iso, vfat]
    default: iso
notes:
  - The tools run on the Xen host - C(xorriso), or C(mkfs.vfat) and C(mcopy); a missing tool fails with
    RV(error=tool_not_found) naming its Debian package.
  - The guest must have cloud-init with the NoCloud datasource (Debian's C(genericcloud) and C(generic) images
    do) and a kernel that reads ISO 9660 (or VFAT) and Xen's block front end (C(xen-blkfront)), which every
    Debian kernel has. cloud-init finds the seed by its label, whatever the disk's name in the guest.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The user-data is shown only as its size and a digest.
  idempotent:
    support: full
seealso:
  - module: xenfleet.xen.xen_domain
  - name: cloud-init NoCloud datasource
    description: How cloud-init finds and reads the seed.
    link: https://docs.cloud-init.io/en/latest/reference/datasources/nocloud.html
  - name: cloud-init network config version 2
    description: The format of O(network_config).
    link: https://docs.cloud-init.io/en/latest/reference/network-config-format-v2.html
'''

EXAMPLES = r'''
- name: Seed for web1 - an admin user with an SSH key, host name, static address on xenbr0's network
  xenfleet.xen.xen_cloud_init:
    path: /var/lib/xen/seed/web1.iso
    meta_data:
      local-hostname: web1
    user_data:
      users:
        - name: admin
          groups: [sudo]
          shell: /bin/bash
          sudo: "ALL=(ALL) NOPASSWD:ALL"
          ssh_authorized_keys:
            - "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
      ssh_pwauth: false
      package_update: true
      packages: [qemu-guest-agent]
    network_config:
      version: 2
      ethernets:
        eth0:
          match:
            macaddress: "00:16:3e:00:00:11"
          set-name: eth0
          addresses: [192.0.2.11/24]
          routes:
            - to: default
              via: 192.0.2.1
          nameservers:
            addresses: [192.0.2.1]

- name: Seed for web2 - DHCP on its first interface, user-data given as text
  xenfleet.xen.xen_cloud_init:
    path: /var/lib/xen/seed/web2.iso
    meta_data:
      local-hostname: web2
    user_data: |
      #cloud-config
      ssh_authorized_keys:
        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@example.org
    network_config:
      version: 2
      ethernets:
        eth0:
          dhcp4: true

# Attach the seed read-only. A PV or PVH guest (Linux with xen-blkfront) sees it as /dev/xvdz; an HVM Linux guest
# sees the same PV disk through its PV drivers. For an HVM guest without PV drivers attach it as an emulated
# CD-ROM instead - {target: /var/lib/xen/seed/web1.iso, vdev: hdc, cdrom: true}.
- name: web1 boots its own kernel (pvgrub2) and finds the seed by its label
  xenfleet.xen.xen_domain:
    name: web1
    type: pvh
    memory: 512
    vcpus: 1
    kernel: /usr/lib/grub-xen/grub-i386-xen_pvh.bin
    disks:
      - target: /var/lib/xen/images/web1.qcow2
        vdev: xvda
        format: qcow2
      - target: /var/lib/xen/seed/web1.iso
        vdev: xvdz
        cdrom: false
        access: ro
        format: raw
    vifs:
      - bridge: xenbr0
        mac: "00:16:3e:00:00:11"

- name: Remove the seed once web1 no longer has it as a disk
  xenfleet.xen.xen_cloud_init:
    path: /var/lib/xen/seed/web1.iso
    state: absent
'''

RETURN = r'''
path:
  description: The seed image file.
  returned: success
  type: str
  sample: /var/lib/xen/seed/web1.iso
state:
  description: O(state).
  returned: success
  type: str
  sample: present
format:
  description: The image's format.
  returned: when O(state=present)
  type: str
  sample: iso
instance_id:
  description: The instance-id in the seed's meta-data (derived from the content unless O(meta_data) sets it).
  returned: when O(state=present)
  type: str
  sample: iid-6474cb47be00a8a819d8
content_id:
  description:
    - The seed's content id, recorded in the image; the image is rebuilt when it differs. Changes with any
      option that changes the files, and with O(format).
  returned: when O(state=present)
  type: str
  sample: sha256:0f220e4e7d73b84b0ac341a124c179c552325f35e41db6556fc3491c56949275
used_by:
  description:
    - The running domains that have the image as a disk (read only when the image changes or is removed).
      They keep the seed they were started with until they next start.
  returned: success
  type: list
  elements: dict
  sample: [{name: web1, vdev: xvdz}]
xl_calls:
  description: Number of commands (C(xl) and the image tools) the module ran.
  returned: always
  type: int
  sample: 3
error:
  description:
    - On failure, what went wrong, as a word - V(invalid_parameter) (bad input), V(disk_in_use) (O(state=absent)
      while a running domain has the image as a disk), V(tool_not_found), V(command_failed), V(config_unwritable), ...
  returned: failure
  type: str
  sample: invalid_parameter
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_seed
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            locking=True,
            path=dict(type='path', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            user_data=dict(type='raw', no_log=True),
            meta_data=dict(type='dict', default={}),
            network_config=dict(type='dict'),
            format=dict(type='str', default='iso', choices=['iso', 'vfat']),
        ),
        supports_check_mode=True,
    )
    run_module(module, _converge_seed.run, critical='path')


if __name__ == '__main__':
    main()
