#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_domains
short_description: Converge many Xen guests of one host in one run, idempotently
version_added: 1.0.0
description:
  - Converges every guest of O(domains) exactly as M(xenfleet.xen.xen_domain) converges one guest (the same options
    per guest, the same checks, the same changes, the same result per guest), in one module run on the host - so a
    host's many guests cost one task and one read of the domains (C(xl list -l) and C(xl list)) instead of one task
    and one read per guest.
  - "How one run goes, under the host's lock (see O(lock_timeout)) from its first C(xl) command to its end: first
    every entry's input is checked, and bad input fails naming the entry (for example C(domains[3].memory)) before the
    host is looked at. Then the domains are read once, and every guest is compared with its config file and its live
    domain and checked against the host (C(xl info) at most once) and by xl's dry run (C(xl -N create)) - a guest that
    fails here fails the task with nothing changed on any guest. Then the guests are changed, one after the other in
    the order of O(domains), each re-read after it was changed. Other tasks of this collection on the host wait for
    the whole run (theirs wait up to their own O(lock_timeout))."
  - B(A failure stops the run.) The guests before the failed one are converged (RV(domains) has their results), the
    failed guest is left as M(xenfleet.xen.xen_domain) leaves a guest whose run failed (for example its previous
    config file put back after a failed C(xl create)), the guests after it are not touched. The task fails with
    RV(failed_domain), RV(converged) and RV(not_converged); run it again once the cause is fixed.
  - A guest whose input is the same as in a M(xenfleet.xen.xen_domain) task gets the same RV(domains[].changed),
    RV(domains[].applied), RV(domains[].pending) and diff as in that task; only RV(domains[].xl_calls) differs (the
    read of the domains is the run's, counted once in RV(xl_calls)).
  - O(command_timeout) bounds each C(xl) command of the run; an entry's own O(domains[].command_timeout) bounds those
    run for that guest.
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
  domains:
    description:
      - The guests, each with the options of M(xenfleet.xen.xen_domain) (their defaults are the module's) except
        O(config_dir), O(autostart_dir), O(xl_path) and O(lock_timeout), which are the run's.
      - Converged in this order. An empty list changes nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The guest's O(xenfleet.xen.xen_domain#module:name), once in O(domains).
        type: str
        required: true
      type:
        description: The guest's O(xenfleet.xen.xen_domain#module:type).
        type: str
        choices: [pv, pvh, hvm]
        default: pv
      memory:
        description: The guest's O(xenfleet.xen.xen_domain#module:memory).
        type: int
      maxmem:
        description: The guest's O(xenfleet.xen.xen_domain#module:maxmem).
        type: int
      vcpus:
        description: The guest's O(xenfleet.xen.xen_domain#module:vcpus).
        type: int
      maxvcpus:
        description: The guest's O(xenfleet.xen.xen_domain#module:maxvcpus).
        type: int
      cpus:
        description: The guest's O(xenfleet.xen.xen_domain#module:cpus).
        type: str
      cpus_soft:
        description: The guest's O(xenfleet.xen.xen_domain#module:cpus_soft).
        type: str
      kernel:
        description: The guest's O(xenfleet.xen.xen_domain#module:kernel).
        type: path
      ramdisk:
        description: The guest's O(xenfleet.xen.xen_domain#module:ramdisk).
        type: path
      cmdline:
        description: The guest's O(xenfleet.xen.xen_domain#module:cmdline).
        type: str
      bootloader:
        description: The guest's O(xenfleet.xen.xen_domain#module:bootloader).
        type: str
      bootloader_args:
        description: The guest's O(xenfleet.xen.xen_domain#module:bootloader_args).
        type: list
        elements: str
      disks:
        description: The guest's O(xenfleet.xen.xen_domain#module:disks).
        type: list
        elements: dict
        suboptions:
          target:
            description: The guest's O(xenfleet.xen.xen_domain#module:disks[].target).
            type: path
          vdev:
            description: The guest's O(xenfleet.xen.xen_domain#module:disks[].vdev).
            type: str
            required: true
          format:
            description: The guest's O(xenfleet.xen.xen_domain#module:disks[].format).
            type: str
            choices: [raw, qcow, qcow2, vhd, qed]
            default: raw
          access:
            description: The guest's O(xenfleet.xen.xen_domain#module:disks[].access).
            type: str
            choices: [rw, ro]
          cdrom:
            description: The guest's O(xenfleet.xen.xen_domain#module:disks[].cdrom).
            type: bool
            default: false
          backendtype:
            description: The guest's O(xenfleet.xen.xen_domain#module:disks[].backendtype).
            type: str
            choices: [phy, qdisk, tap, standalone]
      vifs:
        description: The guest's O(xenfleet.xen.xen_domain#module:vifs).
        type: list
        elements: dict
        suboptions:
          mac:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].mac).
            type: str
          bridge:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].bridge).
            type: str
          type:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].type).
            type: str
            choices: [vif, ioemu]
          model:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].model).
            type: str
          vifname:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].vifname).
            type: str
          script:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].script).
            type: str
          ip:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].ip).
            type: str
          rate:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].rate).
            type: str
          mtu:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].mtu).
            type: int
          backend:
            description: The guest's O(xenfleet.xen.xen_domain#module:vifs[].backend).
            type: str
      firmware:
        description: The guest's O(xenfleet.xen.xen_domain#module:firmware).
        type: str
      boot:
        description: The guest's O(xenfleet.xen.xen_domain#module:boot).
        type: str
      vnc:
        description: The guest's O(xenfleet.xen.xen_domain#module:vnc).
        type: bool
      vnclisten:
        description: The guest's O(xenfleet.xen.xen_domain#module:vnclisten).
        type: str
      vncdisplay:
        description: The guest's O(xenfleet.xen.xen_domain#module:vncdisplay).
        type: int
      vncpasswd:
        description: The guest's O(xenfleet.xen.xen_domain#module:vncpasswd).
        type: str
      serial:
        description: The guest's O(xenfleet.xen.xen_domain#module:serial).
        type: str
      on_poweroff:
        description: The guest's O(xenfleet.xen.xen_domain#module:on_poweroff).
        type: str
        choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset]
      on_reboot:
        description: The guest's O(xenfleet.xen.xen_domain#module:on_reboot).
        type: str
        choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset]
      on_crash:
        description: The guest's O(xenfleet.xen.xen_domain#module:on_crash).
        type: str
        choices: [destroy, restart, rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset]
      uuid:
        description: The guest's O(xenfleet.xen.xen_domain#module:uuid).
        type: str
      extra:
        description: The guest's O(xenfleet.xen.xen_domain#module:extra).
        type: dict
        default: {}
      state:
        description: The guest's O(xenfleet.xen.xen_domain#module:state).
        type: str
        choices: [present, running, paused, saved, shutdown, absent]
        default: present
      autostart:
        description: The guest's O(xenfleet.xen.xen_domain#module:autostart).
        type: bool
      apply:
        description: The guest's O(xenfleet.xen.xen_domain#module:apply).
        type: str
        choices: [live, restart, next_boot]
        default: live
      force:
        description: The guest's O(xenfleet.xen.xen_domain#module:force).
        type: bool
        default: false
      shutdown_timeout:
        description: The guest's O(xenfleet.xen.xen_domain#module:shutdown_timeout).
        type: int
        default: 120
      validate:
        description: The guest's O(xenfleet.xen.xen_domain#module:validate).
        type: bool
        default: true
      backup:
        description: The guest's O(xenfleet.xen.xen_domain#module:backup).
        type: bool
        default: false
      discard_saved:
        description: The guest's O(xenfleet.xen.xen_domain#module:discard_saved).
        type: bool
        default: false
      save_dir:
        description: The guest's O(xenfleet.xen.xen_domain#module:save_dir).
        type: path
        default: /var/lib/xen/save
      save_timeout:
        description: The guest's O(xenfleet.xen.xen_domain#module:save_timeout).
        type: int
        default: 300
      start_timeout:
        description: The guest's O(xenfleet.xen.xen_domain#module:start_timeout).
        type: int
        default: 60
      vcpu_timeout:
        description: The guest's O(xenfleet.xen.xen_domain#module:vcpu_timeout).
        type: int
        default: 30
      command_timeout:
        description:
          - Seconds each C(xl) command run for this guest may take (O(xenfleet.xen.xen_domain#module:command_timeout)); defaults to O(command_timeout).
        type: int

attributes:
  check_mode:
    support: full
    details: Predicts, per guest, exactly what a real run would change (as M(xenfleet.xen.xen_domain)) and changes nothing.
  diff_mode:
    support: full
    details:
      - Per guest, its config file before and after and its live state and settings before and after (two parts each, in
        the order of O(domains); also in RV(domains[].diff)).
  idempotent:
    support: full
seealso:
  - module: xenfleet.xen.xen_domain
    description: One guest per task; what each entry of O(domains) means.
  - module: xenfleet.xen.xen_domain_info
  - name: xl.cfg(5)
    description: The xl domain configuration file format.
    link: https://xenbits.xen.org/docs/unstable/man/xl.cfg.5.html
'''

EXAMPLES = r'''
- name: The web tier of a host, converged in one run (one read of the domains for all three)
  xenfleet.xen.xen_domains:
    domains:
      - name: web1
        state: running
        type: pvh
        memory: 1024
        vcpus: 2
        kernel: /usr/lib/grub-xen/grub-i386-xen_pvh.bin
        disks: [{target: /dev/vg0/web1, vdev: xvda}]
        vifs: [{bridge: xenbr0, mac: "00:16:3e:00:01:01"}]
        autostart: true
      - name: web2
        state: running
        type: pvh
        memory: 1024
        vcpus: 2
        kernel: /usr/lib/grub-xen/grub-i386-xen_pvh.bin
        disks: [{target: /dev/vg0/web2, vdev: xvda}]
        vifs: [{bridge: xenbr0, mac: "00:16:3e:00:01:02"}]
        autostart: true
      - name: old-web
        state: absent
        force: true
  register: tier

- name: What changed, per guest
  ansible.builtin.debug:
    msg: "{{ tier.domains | selectattr('changed') | map(attribute='name') | list }}"

- name: Guests from a variable, each with apply=restart (a guest's own key would lose to it)
  xenfleet.xen.xen_domains:
    domains: "{{ my_guests | map('ansible.builtin.combine', {'apply': 'restart'}) | list }}"
    command_timeout: 300
'''

RETURN = r'''
domains:
  description:
    - One result per guest converged, in the order of O(domains), each with the keys of M(xenfleet.xen.xen_domain)'s
      result and the guest's RV(domains[].name).
    - When the task fails, the guests converged before the failure, then the failed guest (with RV(domains[].failed),
      RV(domains[].msg) and RV(domains[].error)). Empty when it failed before it changed anything.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The guest's name.
      type: str
      sample: web1
    changed:
      description: Whether the guest was changed (or, in check mode, would be).
      type: bool
      sample: false
    domain:
      description: As RV(xenfleet.xen.xen_domain#module:domain).
      type: dict
      returned: success
    config_file:
      description: As RV(xenfleet.xen.xen_domain#module:config_file).
      type: str
      returned: success
      sample: /etc/xen/web1.cfg
    applied:
      description: As RV(xenfleet.xen.xen_domain#module:applied) (for the failed guest, what was done before it failed).
      type: list
      elements: str
      sample: ["config file updated", "mem-set web1 1536m"]
    pending:
      description: As RV(xenfleet.xen.xen_domain#module:pending).
      type: list
      elements: dict
      returned: success
      sample: [{key: maxvcpus, before: 4, after: 8, how: restart}]
    save_image:
      description: As RV(xenfleet.xen.xen_domain#module:save_image).
      type: str
      returned: success
    backup_file:
      description: As RV(xenfleet.xen.xen_domain#module:backup_file).
      type: str
      returned: changed and backup requested
    diff:
      description: The guest's part of the diff (its config file, its live domain), with diff mode.
      type: list
      elements: dict
      returned: success, with diff mode
    xl_calls:
      description: Number of C(xl) commands run for this guest alone (V(0) for a guest that already matches).
      type: int
      sample: 0
    failed:
      description: V(true) for the guest whose failure stopped the run.
      type: bool
      returned: failure
    msg:
      description: Why the failed guest failed.
      type: str
      returned: failure
    error:
      description: As RV(xenfleet.xen.xen_domain#module:error), for the failed guest.
      type: str
      returned: failure
failed_domain:
  description: The guest whose failure stopped the run.
  returned: failure
  type: str
  sample: web3
converged:
  description: The guests converged before the failure (empty when the run failed before it changed anything).
  returned: failure
  type: list
  elements: str
  sample: [web1, web2]
not_converged:
  description: The failed guest and the guests after it, not converged.
  returned: failure
  type: list
  elements: str
  sample: [web3, web4]
xl_calls:
  description: Number of C(xl) commands the module ran (V(2) for guests that all match already - one C(xl list -l), one C(xl list)).
  returned: always
  type: int
  sample: 2
error:
  description:
    - On failure, what went wrong, as a word - V(invalid_parameter) (the message names the entry, for example
      C(domains[3].memory)), else the failed guest's RV(xenfleet.xen.xen_domain#module:error).
  returned: failure
  type: str
  sample: invalid_parameter
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_domains
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec
from ansible_collections.xenfleet.xen.plugins.module_utils._options import XEN_DOMAINS


def main():
    module = AnsibleModule(argument_spec=xl_argument_spec(locking=True, **XEN_DOMAINS), supports_check_mode=True)
    run_module(module, _converge_domains.run, holder=_converge_domains.holder(module.params))


if __name__ == '__main__':
    main()
