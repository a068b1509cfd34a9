#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_domain_info
short_description: Facts about the domains (guests) of a Xen host
version_added: 1.0.0
description:
  - Lists the domains of a Xen host, or only the named ones, from one C(xl list -l) (the
    domains' configuration as JSON) and one C(xl list) (their live state).
  - Domain-0, stub domains (C(NAME-dm)), dying domains and the transient copies that exist
    during a live migration (C(NAME--incoming), C(NAME--migratedaway)) are left out unless asked for.
  - When the collection's configuration file of a domain exists (C(<config_dir>/<name>.cfg)), its
    path is returned, with whether the domain starts with the host (a link in O(autostart_dir)).
  - A name that matches no domain is not an error; it is simply absent from RV(domains).
  - Each guest's IP addresses are those declared on its network interfaces (C(ip=) in its vif) and
    those dom0's neighbour table (C(ip neigh), ARP and NDP) maps to one of its MAC addresses. No agent
    in the guest is needed, so an address appears only once the guest has talked to dom0 (for example
    answered a ping from it) on a bridge where dom0 has an address of its own.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.files
  - xenfleet.xen.xl.autostart
  - xenfleet.xen.xl.attributes
  - xenfleet.xen.xl.info_module
options:
  name:
    description:
      - Only return the domains with these names. All domains when omitted.
    type: list
    elements: str
    aliases: [names]
  include_dom0:
    description: Also return Domain-0.
    type: bool
    default: false
  include_stub_domains:
    description: Also return device-model stub domains (named C(NAME-dm)).
    type: bool
    default: false
  include_dying:
    description:
      - Also return dying domains. Xen shows them as C((null)) with state C(--p--d) while their
        memory is being released, for example after a failed C(xl create).
    type: bool
    default: false
  include_migrating:
    description: Also return the transient C(NAME--incoming) and C(NAME--migratedaway) domains of a live migration in progress.
    type: bool
    default: false
  addresses:
    description:
      - Report each domain's IP addresses (RV(domains[].addresses)), reading dom0's neighbour table with
        C(ip -json neigh show) (package C(iproute2)). When the table cannot be read, only the declared
        addresses are returned, with a warning.
      - V(false) skips the C(ip) call; RV(domains[].addresses) is then not returned.
    type: bool
    default: true
  save_dir:
    description:
      - Where the saved guests' memory images are (see O(xenfleet.xen.xen_domain#module:save_dir)); they are listed
        in RV(saved). A missing directory has none.
    type: path
    default: /var/lib/xen/save
  cpu_sample:
    description:
      - Measure each domain's CPU use over this many seconds (two C(xl list) readings that far apart; the growth
        of its CPU time) and return it as RV(domains[].cpu_percent). V(0) measures nothing.
      - The module takes that long to run. What it measures is one window; load that comes and goes needs a
        window long enough to see it.
    type: int
    default: 0
seealso:
  - module: xenfleet.xen.xen_host_info
'''

EXAMPLES = r'''
- name: The guests and the CPU each used over 10 seconds (for xenfleet.xen.xen_balance's cpu metric)
  xenfleet.xen.xen_domain_info:
    cpu_sample: 10
  register: xen_guests_load

- name: All guests of the host
  xenfleet.xen.xen_domain_info:
  register: guests

- name: Print each guest's state
  ansible.builtin.debug:
    msg: "{{ item.name }} ({{ item.type }}): {{ item.state }}, {{ item.vcpus.online }}/{{ item.vcpus.max }} vCPUs, {{ item.memory_mb.current }} MiB"
  loop: "{{ guests.domains }}"
  loop_control:
    label: "{{ item.name }}"

- name: One guest; an empty list when it does not exist
  xenfleet.xen.xen_domain_info:
    name: web1
  register: web1

- name: Fail when web1 is not running
  ansible.builtin.assert:
    that: web1.domains | length == 1 and web1.domains[0].state in ['running', 'blocked']

- name: Include Domain-0, e.g. to see dom0's memory
  xenfleet.xen.xen_domain_info:
    name: Domain-0
    include_dom0: true
  register: dom0
'''

RETURN = r'''
domains:
  description: The domains, ordered by domain id.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Domain name.
      type: str
      sample: web1
    domid:
      description: Current domain id (changes on every start).
      type: int
      sample: 3
    uuid:
      description: Domain UUID.
      type: str
      sample: 7201e40a-aa64-469f-9b39-f65aeded2c0b
    type:
      description: Guest type, V(pv), V(pvh) or V(hvm). V(null) for a domain that xl has no stored configuration for.
      type: str
      sample: pv
    state:
      description:
        - Live state. V(running) (on a CPU or runnable), V(blocked) (idle, waiting for an event),
          V(paused), V(shutdown) (shut down but not yet destroyed), V(crashed), V(dying).
      type: str
      sample: blocked
    shutdown_reason:
      description: When shut down, why (V(poweroff), V(reboot), V(suspend), V(crash), V(watchdog), V(soft_reset)).
      type: str
      sample: null
    flags:
      description: The six state characters of C(xl list).
      type: str
      sample: -b----
    vcpus:
      description: vCPUs.
      type: dict
      contains:
        online:
          description: vCPUs currently online.
          type: int
          sample: 2
        max:
          description: Highest number of vCPUs the domain can have (fixed at creation).
          type: int
          sample: 4
    memory_mb:
      description: Memory in MiB.
      type: dict
      contains:
        current:
          description: Memory the domain holds now.
          type: int
          sample: 96
        target:
          description: Balloon target.
          type: int
          sample: 96
        max:
          description: Static maximum (C(maxmem)).
          type: int
          sample: 256
    kernel:
      description: Kernel the domain was booted with (direct boot).
      type: str
      sample: /var/lib/xen/images/vmlinuz
    ramdisk:
      description: Initial ramdisk.
      type: str
      sample: /var/lib/xen/images/initrd.img
    cmdline:
      description: Kernel command line.
      type: str
      sample: console=hvc0 root=/dev/xvda
    bootloader:
      description: Bootloader (for example C(pygrub)), when used instead of a kernel.
      type: str
      sample: null
    scheduler:
      description: Scheduler parameters (C(sched), C(weight), C(cap)).
      type: dict
      sample: {sched: credit2, weight: 256, cap: 0}
    disks:
      description: Virtual disks.
      type: list
      elements: dict
      sample: [{target: /var/lib/xen/images/web1.img, vdev: xvda, format: raw, backend: qdisk, access: rw, cdrom: false}]
    nics:
      description: Virtual network interfaces.
      type: list
      elements: dict
      sample: [{devid: 0, mac: '00:16:3e:5a:01:02', bridge: xenbr0, ip: null, script: vif-bridge, ifname: null, model: null, type: vif}]
    addresses:
      description:
        - The domain's IP addresses known to dom0, declared ones first. RV(domains[].addresses[].source) is
          V(declared) (C(ip=) of a vif) or V(neighbour) (dom0's neighbour table, matched by the vif's MAC);
          RV(domains[].addresses[].state) is the neighbour entry's state (for example V(REACHABLE) or
          V(STALE)), V(null) when dom0 has no entry for it.
        - An address from the neighbour table is what dom0 saw recently, not a promise that the guest still uses it.
      returned: when O(addresses=true)
      type: list
      elements: dict
      sample: [{address: 192.168.100.10, mac: '00:16:3e:5a:01:02', bridge: xenbr0, source: neighbour, state: REACHABLE}]
      contains:
        address:
          description: The IPv4 or IPv6 address.
          type: str
        mac:
          description: MAC address of the domain's network interface it belongs to.
          type: str
        bridge:
          description: Bridge of that interface.
          type: str
        source:
          description: Where the address comes from, V(declared) or V(neighbour).
          type: str
        state:
          description: State of dom0's neighbour entry for the address, or V(null).
          type: str
    pci_devices:
      description: Number of PCI devices passed through to the domain (such a domain cannot be live-migrated).
      type: int
      sample: 0
    on_poweroff:
      description: Action when the guest powers off.
      type: str
      sample: destroy
    on_reboot:
      description: Action when the guest reboots.
      type: str
      sample: restart
    on_crash:
      description: Action when the guest crashes.
      type: str
      sample: destroy
    config_source:
      description:
        - Where the configuration facts come from. V(live) is C(xl list -l).
        - V(stored) is the configuration libxl stored for the domain (C(/var/lib/xen/userdata-d.*.libxl-json)),
          used when C(xl list -l) left the domain out. C(xl list -l) does that, with exit status 0 and no
          message, when an HVM guest's device model (QEMU) does not answer libxl's QMP query in time (hung,
          stopped or starved of CPU); the module then also returns a warning. State, current memory and online
          vCPUs still come from C(xl list).
        - V(null) when neither was readable; type, devices and limits are then V(null) or empty, and
          M(xenfleet.xen.xen_domain) refuses to change such a domain.
      type: str
      choices: [live, stored]
      sample: live
    cpu_percent:
      description:
        - CPU the domain used over the sample window, in percent of one CPU (V(150) is one and a half busy CPUs),
          all its vCPUs together. V(null) for a domain that was not there for the whole window.
        - The figure M(xenfleet.xen.xen_balance) reads for its C(cpu) metric.
      returned: when O(cpu_sample) is not V(0)
      type: float
      sample: 37.5
    config_file:
      description: Path of the domain's configuration file when it exists in O(config_dir), else V(null).
      type: str
      sample: /etc/xen/web1.cfg
    autostart:
      description: Whether a link in O(autostart_dir) starts the domain with the host.
      type: bool
      sample: false
saved:
  description:
    - The guests saved in O(save_dir) (M(xenfleet.xen.xen_domain) with O(xenfleet.xen.xen_domain#module:state=saved),
      or Debian's C(xendomains) at host shutdown), by name; with O(name), only those. A saved guest has no domain,
      so it is not in RV(domains) (unless a domain of that name runs, see RV(saved[].stale)).
  returned: success
  type: list
  elements: dict
  sample:
    - {name: web1, image: /var/lib/xen/save/web1, size_mb: 1090, saved_at: 1764758400, type: pvh, memory_mb: 1024,
       vcpus: 2, config_file: /etc/xen/web1.cfg, autostart: true, stale: false}
  contains:
    name:
      description: The guest's name (the image's file name).
      type: str
    image:
      description: Path of the memory image.
      type: str
    size_mb:
      description: Size of the image in MiB.
      type: int
    saved_at:
      description: When the image was written, in seconds since the epoch.
      type: int
    type:
      description: The guest's type, from the configuration stored in the image.
      type: str
    memory_mb:
      description: The guest's memory target in MiB when it was saved.
      type: int
    vcpus:
      description: The guest's online vCPUs when it was saved.
      type: int
    config_file:
      description: Path of its configuration file in O(config_dir), or V(null).
      type: str
    autostart:
      description: Whether a link in O(autostart_dir) starts the guest with the host.
      type: bool
    stale:
      description:
        - V(true) when a domain of that name runs as well; restoring that image would run the guest from the past
          against disks that moved on (M(xenfleet.xen.xen_domain) warns, and deletes it with
          O(xenfleet.xen.xen_domain#module:discard_saved=true)).
      type: bool
cpu_sample_seconds:
  description: The window measured between the two C(xl list) readings of O(cpu_sample), in seconds.
  returned: when O(cpu_sample) is not V(0)
  type: float
  sample: 10.02
xl_calls:
  description: Number of C(xl) commands the module ran (2 on success, 4 with O(cpu_sample)).
  returned: always
  type: int
  sample: 2
error:
  description: On failure, what went wrong, as a word (see M(xenfleet.xen.xen_host_info)).
  returned: failure
  type: str
  sample: not_xen_host
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _info
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec
from ansible_collections.xenfleet.xen.plugins.module_utils._options import AUTOSTART_DIR, CONFIG_DIR


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            CONFIG_DIR, AUTOSTART_DIR,
            name=dict(type='list', elements='str', aliases=['names']),
            include_dom0=dict(type='bool', default=False),
            include_stub_domains=dict(type='bool', default=False),
            include_dying=dict(type='bool', default=False),
            include_migrating=dict(type='bool', default=False),
            addresses=dict(type='bool', default=True),
            save_dir=dict(type='path', default='/var/lib/xen/save'),
            cpu_sample=dict(type='int', default=0),
        ),
        supports_check_mode=True,
    )
    run_module(module, _info.domains)


if __name__ == '__main__':
    main()
