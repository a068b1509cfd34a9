#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_host_info
short_description: Facts about a Xen host from C(xl info)
version_added: 1.0.0
description:
  - Reads C(xl info), dom0's own row of C(xl list) and C(/proc/cmdline) on a Xen dom0 and returns
    the hypervisor version, virtualization capabilities, memory, CPUs, scheduler, and the Xen
    and dom0 command lines.
  - Fails with a clear message, before running C(xl), when the host is not a Xen dom0.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.attributes
  - xenfleet.xen.xl.info_module
options: {}
seealso:
  - module: xenfleet.xen.xen_domain_info
  - name: xl(1)
    description: The xl toolstack manual page.
    link: https://xenbits.xen.org/docs/unstable/man/xl.1.html
'''

EXAMPLES = r'''
- name: Read the Xen host facts
  xenfleet.xen.xen_host_info:
  register: xen

- name: Require HVM support
  ansible.builtin.assert:
    that:
      - xen.host.hvm
      - xen.host.xen_major == 4
    fail_msg: "{{ inventory_hostname }} cannot run HVM guests (virt_caps: {{ xen.host.virt_caps | join(' ') }})"

- name: Use a non-standard xl for every module of the collection
  module_defaults:
    group/xenfleet.xen.xen:
      xl_path: /usr/local/sbin/xl
  block:
    - name: Read host facts
      xenfleet.xen.xen_host_info:
      register: xen
'''

RETURN = r'''
host:
  description: Facts about the Xen host.
  returned: success
  type: dict
  contains:
    hostname:
      description: The dom0 host name as Xen reports it.
      type: str
      sample: xendom0
    xen_version:
      description: Full Xen version.
      type: str
      sample: 4.17.5
    xen_major:
      description: Xen major version.
      type: int
      sample: 4
    xen_minor:
      description: Xen minor version.
      type: int
      sample: 17
    xen_extra:
      description: Xen extra version string.
      type: str
      sample: .5
    virt_caps:
      description: Virtualization capabilities reported by Xen.
      type: list
      elements: str
      sample: [pv, hvm, hap, shadow, gnttab-v1, gnttab-v2]
    pv:
      description: Whether PV guests can run.
      type: bool
      sample: true
    hvm:
      description: Whether HVM guests can run (hardware virtualization, Intel VT-x or AMD-V, available to Xen).
      type: bool
      sample: true
    hap:
      description: Whether hardware-assisted paging (EPT/NPT) is available for HVM and PVH guests.
      type: bool
      sample: true
    shadow:
      description: Whether shadow paging is available.
      type: bool
      sample: true
    hvm_directio:
      description: Whether HVM guests can use passthrough I/O.
      type: bool
      sample: false
    pv_directio:
      description: Whether PV guests can use passthrough I/O.
      type: bool
      sample: false
    iommu_hap_pt_share:
      description: Whether the IOMMU shares the HAP page tables.
      type: bool
      sample: false
    xen_caps:
      description: Guest ABIs the hypervisor supports.
      type: list
      elements: str
      sample: [xen-3.0-x86_64, hvm-3.0-x86_32, hvm-3.0-x86_32p, hvm-3.0-x86_64]
    scheduler:
      description: Default scheduler of the hypervisor.
      type: str
      sample: credit2
    nr_cpus:
      description: Number of physical CPUs.
      type: int
      sample: 2
    nr_nodes:
      description: Number of NUMA nodes.
      type: int
      sample: 1
    cores_per_socket:
      description: Cores per socket.
      type: int
      sample: 2
    threads_per_core:
      description: Threads per core.
      type: int
      sample: 1
    cpu_mhz:
      description: CPU frequency as Xen reports it.
      type: str
      sample: '2596.095'
    total_memory_mb:
      description: Host memory in MiB.
      type: int
      sample: 4095
    free_memory_mb:
      description: Memory in MiB that no domain holds (net of outstanding claims).
      type: int
      sample: 3028
    outstanding_claims_mb:
      description: Memory in MiB claimed by domains being built.
      type: int
      sample: 0
    xen_commandline:
      description: The command line the hypervisor was booted with.
      type: str
      sample: dom0_mem=1024M,max:1024M dom0_max_vcpus=2 console=com1
    xen_commandline_options:
      description: The Xen command line as a dict; bare flags have the value V(true).
      type: dict
      sample: {dom0_mem: '1024M,max:1024M', dom0_max_vcpus: '2', noreboot: true}
    dom0_commandline:
      description: The dom0 kernel command line (C(/proc/cmdline)).
      type: str
      sample: root=/dev/vda rw console=hvc0
    dom0_commandline_options:
      description: The dom0 kernel command line as a dict.
      type: dict
      sample: {root: /dev/vda, rw: true, console: hvc0}
    dom0_kernel_release:
      description: The dom0 kernel release.
      type: str
      sample: 6.1.0-50-amd64
    dom0_memory_mb:
      description: Memory in MiB currently held by dom0.
      type: int
      sample: 1024
    dom0_vcpus:
      description: Online vCPUs of dom0.
      type: int
      sample: 2
    machine:
      description: Machine architecture.
      type: str
      sample: x86_64
xl_calls:
  description: Number of C(xl) commands the module ran.
  returned: always
  type: int
  sample: 2
error:
  description:
    - On failure, what went wrong, as a word, for example V(not_xen_host), V(xl_not_found),
      V(timeout), V(toolstack_unavailable), V(xl_failed).
  returned: failure
  type: str
  sample: not_xen_host
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _info
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(argument_spec=xl_argument_spec(), supports_check_mode=True)
    run_module(module, _info.host)


if __name__ == '__main__':
    main()
