#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_vcpu
short_description: Add and remove vCPUs of a running Xen guest live, pin them, weight them
version_added: 1.0.0
description:
  - Sets the number of online vCPUs of a running guest (C(xl vcpu-set)), their hard and soft CPU
    affinity (C(xl vcpu-pin)) and the guest's scheduler weight and cap (C(xl sched-credit2) or
    C(xl sched-credit)), and by default writes the same settings into the guest's config file so
    they survive a restart (pins are otherwise lost when the guest reboots).
  - Reads C(xl list -l) (and C(xl vcpu-list) when O(pin) is set) first and changes only what differs;
    after acting it reads again and fails if Xen or the guest did not apply the change.
  - B(What the guest must support - PV and PVH.) Xen only makes added vCPUs I(available) (xl writes
    C(cpu/N/availability) in xenstore); the guest kernel makes them present but leaves them offline until
    user space onlines them. Linux needs CPU hotplug (C(CONFIG_HOTPLUG_CPU), standard in distribution kernels)
    and something that onlines new CPUs - a udev rule such as
    C(SUBSYSTEM=="cpu", ACTION=="add", TEST=="online", ATTR{online}=="0", ATTR{online}="1") or an agent that
    writes C(1) to C(/sys/devices/system/cpu/cpuN/online). Removal needs no agent - the kernel offlines the
    vCPU itself. The module waits (O(vcpu_timeout)) until Xen runs exactly O(online) vCPUs and otherwise fails
    with V(timeout) and this explanation. In the nested test lab (TCG, busy machine) 2 to 4 vCPUs took 13 s
    and 4 to 1 took 10 s.
  - A Linux PV guest brings up all C(maxvcpus) vCPUs while it boots and offlines the unavailable ones a few
    seconds later; run the module on a guest that has finished booting.
  - B(HVM guests, Xen 4.17, measured.) Adding works only up to the C(maxvcpus) the guest was created with
    (set C(maxvcpus) above C(vcpus)); C(xl vcpu-set) asks the device model (QEMU) to hot-plug a CPU and the
    guest OS must handle ACPI CPU hotplug and online the CPU (the same udev rule on Linux).
    B(Removing vCPUs from a running HVM guest is not possible.) C(xl vcpu-set) exits 0 without a message
    but only writes C(offline) into xenstore - QEMU keeps the vCPU (C(avail_vcpus) unchanged), and Linux
    watches that xenstore key only in PV and PVH guests, so nothing asks the HVM guest to let go. The
    module therefore refuses to lower O(online) of an HVM guest, before changing anything; lower C(vcpus)
    with M(xenfleet.xen.xen_domain) and restart the guest instead. In the lab (Molecule scenario C(vcpu)) an
    HVM Linux guest created with 1 of 2 vCPUs onlined the hot-plugged vCPU itself a few seconds after the
    module added it; an HVM guest that has not finished booting may not.
  - C(maxvcpus) is fixed when the domain is created. To go beyond it, raise C(maxvcpus) with
    M(xenfleet.xen.xen_domain) and restart the guest (O(xenfleet.xen.xen_domain#module:apply=restart)).
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
  - xenfleet.xen.xl.files
  - xenfleet.xen.xl.attributes
options:
  name:
    description: Name of a running domain.
    type: str
    required: true
  online:
    description:
      - Number of online vCPUs, from 1 to the domain's C(maxvcpus).
      - More than the host's physical CPUs is refused unless O(allow_overcommit=true).
      - Compared with the vCPUs Xen runs now (the C(VCPUs) column of C(xl list)), not with what was last
        requested; a vCPU the guest has not onlined counts as missing, and the module asks again.
      - Fewer than now is refused for HVM guests (see the description).
    type: int
  allow_overcommit:
    description:
      - Allow more online vCPUs than the host has physical CPUs (xl's C(--ignore-host)). The vCPUs then
        share physical CPUs, which costs performance.
    type: bool
    default: false
  pin:
    description:
      - CPU affinity. Each item applies to one vCPU index or to V(all) of them (items for one index
        override an V(all) item). Affinities use xl's cpulist syntax - V(all), V(2), V(0-3,5),
        V(^1) (all but 1), V(nodes:0) (the CPUs of NUMA node 0) - and are validated against the host's CPUs.
      - An affinity that is not in that syntax (V(abc), V(1-), V(3-1), V(0,,1)), or a O(pin[].vcpu) that is neither
        V(all) nor a number, is refused before any C(xl) command runs.
      - Compared as CPU sets, so V(0-1) and V(all) on a 2-CPU host are the same.
      - A soft affinity with no CPU in the hard affinity (hard V(1), soft V(0)) is applied as asked, but Xen
        then ignores it and schedules on the hard affinity only; the module warns about it.
    type: list
    elements: dict
    suboptions:
      vcpu:
        description: vCPU index (V(0), V(1), ...) or V(all).
        type: str
        default: all
      hard:
        description: Hard affinity - the vCPU runs only on these CPUs.
        type: str
      soft:
        description: Soft affinity - the scheduler prefers these CPUs.
        type: str
  weight:
    description: Scheduler weight, 1 to 65535 (default for new domains 256). Twice the weight, twice the CPU under contention.
    type: int
  cap:
    description: Scheduler cap in percent of one physical CPU (V(0) = no cap; V(150) = one and a half CPUs).
    type: int
  persist:
    description:
      - Also write the settings into the domain's config file (C(vcpus), C(cpus), C(cpus_soft), C(cpu_weight),
        C(cap)) so they survive a restart. Other lines of the file are kept as they are.
      - M(xenfleet.xen.xen_domain) keeps these keys when its own options leave them unset.
    type: bool
    default: true
  vcpu_timeout:
    description: Seconds to wait for the guest kernel to online or offline vCPUs.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: xenfleet.xen.xen_domain
  - name: xl vcpu-pin
    description: The xl manual, on vcpu-set, vcpu-pin and the cpulist syntax.
    link: https://xenbits.xen.org/docs/unstable/man/xl.1.html
'''

EXAMPLES = r'''
- name: Two more vCPUs for web1, live (maxvcpus must allow it)
  xenfleet.xen.xen_vcpu:
    name: web1
    online: 4

- name: Pin vCPU 0 to CPU 1, prefer CPU 0 for all of them, and double the weight
  xenfleet.xen.xen_vcpu:
    name: db1
    pin:
      - vcpu: all
        soft: "0"
      - vcpu: "0"
        hard: "1"
    weight: 512

- name: Keep a noisy guest off CPU 0 and cap it at one CPU, only until it restarts
  xenfleet.xen.xen_vcpu:
    name: batch1
    pin:
      - hard: "^0"
    cap: 100
    persist: false
'''

RETURN = r'''
vcpus:
  description: Online and maximum vCPUs after the module ran (in check mode, as they are now).
  returned: success
  type: dict
  sample: {online: 4, max: 4}
pins:
  description: Hard and soft affinity of each vCPU after the module ran, from C(xl vcpu-list); only when O(pin) was set.
  returned: when O(pin) is set
  type: list
  elements: dict
  sample: [{vcpu: 0, hard: '1', soft: '0'}, {vcpu: 1, hard: all, soft: '0'}]
scheduler:
  description: The domain's scheduler parameters after the module ran.
  returned: success
  type: dict
  sample: {sched: credit2, weight: 512, cap: 0}
applied:
  description: The xl commands run (in check mode, that would run), and the config file update.
  returned: success
  type: list
  elements: str
  sample: ["vcpu-set pv1 4", "vcpu-pin pv1 0 1 -", "config file updated"]
config_file:
  description: The config file the settings were persisted to, or V(null) when there is none.
  returned: success
  type: str
  sample: /etc/xen/web1.cfg
xl_calls:
  description: Number of C(xl) commands the module ran.
  returned: always
  type: int
  sample: 3
error:
  description:
    - On failure, what went wrong, as a word (V(invalid_parameter), V(domain_not_found), V(timeout), ...).
    - V(guest_restarted) when the guest rebooted or crashed while its vCPUs changed (Xen then restarted or removed
      it under a new domid); nothing was written to its config file.
  returned: failure
  type: str
  sample: invalid_parameter
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_vcpu
from ansible_collections.xenfleet.xen.plugins.module_utils import _options
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            _options.CONFIG_DIR,
            _options.VCPU_TIMEOUT,
            locking=True,
            name=dict(type='str', required=True),
            online=dict(type='int'),
            allow_overcommit=dict(type='bool', default=False),
            pin=dict(type='list', elements='dict', options=dict(
                vcpu=dict(type='str', default='all'),
                hard=dict(type='str'),
                soft=dict(type='str'),
            )),
            weight=dict(type='int'),
            cap=dict(type='int'),
            persist=dict(type='bool', default=True),
        ),
        required_one_of=[('online', 'pin', 'weight', 'cap')],
        supports_check_mode=True,
    )
    run_module(module, _converge_vcpu.run, critical='name')


if __name__ == '__main__':
    main()
