#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_host_network
short_description: Bridges, bonds and VLANs of a Xen host with ifupdown or systemd-networkd, changed safely
version_added: 1.0.0
description:
  - Declares the bridges a Xen host's guests attach to - C(uplink) bridges that enslave an interface or a bond and
    take over its address, C(internal) bridges without uplink, C(vlan) bridges on a tagged VLAN of an interface or
    bond - and the bonds they use, with static or DHCP addresses and MTUs.
  - Works with the two network stacks of a Debian server. B(ifupdown) (what Debian's installer sets up) - a file per
    bridge, bond and trunk in C(/etc/network/interfaces.d/xenfleet-*), using the hooks of the Debian packages
    C(bridge-utils) and C(ifenslave); the stanzas of the interfaces a bridge or bond takes over are removed from the
    file that had them (C(/etc/network/interfaces)), which gets a comment saying where they went. B(systemd-networkd)
    - units C(/etc/systemd/network/05-xenfleet-*) (they sort before other units, so they win for the interfaces
    they match). O(stack=auto) finds the stack that configures the interfaces taken over. A host on which
    NetworkManager runs is refused with the choice to make.
  - The declaration is the whole truth for the files it owns - files of bridges no longer declared are removed.
    Bad input (an unknown interface, a VLAN id outside 1-4094, two bridges on one uplink without VLANs, a name
    longer than 15 characters, ...) fails before anything changes, naming the
    option (or the variable given in O(variable_names)) and why.
  - Check mode and diff show every file before and after. Files are compared without their comments, so a file
    that says the same with other comments is left alone. The task is idempotent.
  - B(A change never cuts the controller off for good.) The files are staged first (a full file system fails with
    nothing changed); after O(settle) seconds the current files are backed up, the affected interfaces are taken
    down with the old configuration (ifupdown) and the new files installed, the interfaces are brought up
    (C(ifup)) or networkd reloads and reconfigures them. Then the module waits up to O(confirm_timeout) seconds
    for the network to be healthy (every bridge there, its port enslaved, its address, the default route where it
    was) and - with O(confirm_token) - for the controller to write the token to O(confirm_path) after it logged in
    again. Otherwise it restores the previous files and interfaces by itself, as C(netplan try) does, and fails
    with what happened (RV(reason), RV(log)).
  - With O(confirm_token) the task B(must) run with C(async) and C(poll=0); the controller then waits for the
    connection, writes the token and collects the result with M(ansible.builtin.async_status); see the examples.
    The role C(xenfleet.xen.hypervisor) does this.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl.attributes
options:
  bridges:
    description:
      - The bridges. Unset, the deprecated O(legacy_bridge) settings are used if given, else one C(uplink) bridge
        C(xenbr0) on the interface of the default route.
      - An empty list removes the bridges this module made (the role C(xenfleet.xen.hypervisor) does not call the
        module at all for an empty list).
    type: list
    elements: dict
    suboptions:
      name:
        description: The bridge's name, at most 15 letters, digits, C(_), C(.) and C(-).
        type: str
        required: true
      type:
        description:
          - V(uplink) enslaves O(bridges[].uplink) (an interface or a bond of O(bonds)); the bridge takes the uplink's
            MAC address. V(internal) has no uplink (host-only guest networks). V(vlan) enslaves VLAN
            O(bridges[].vlan) of O(bridges[].uplink) (the VLAN interface C(UPLINK.VLAN)).
          - Default V(vlan) when O(bridges[].vlan) is set, else V(uplink).
        type: str
        choices: [uplink, internal, vlan]
      uplink:
        description:
          - The interface or bond to enslave (V(uplink)) or whose VLAN to enslave (V(vlan)).
          - For V(uplink) it defaults to the interface of the default IPv4 route (once bridged, the bridge's port).
          - Two V(uplink) bridges on one uplink are refused (they would share one network); VLAN bridges on an uplink
            that an V(uplink) bridge enslaves are fine. The parent of a VLAN that no V(uplink) bridge and no bond
            configures becomes a trunk without an address; it must not carry one now.
        type: str
      vlan:
        description: The VLAN id (1-4094) of a V(vlan) bridge.
        type: int
      ipv4:
        description:
          - V(inherit) (the default of V(uplink) bridges) takes over the uplink's configuration - with ifupdown its
            C(inet) stanza (method and options) and its C(inet6) stanza, with networkd its addresses as they are now
            (a dynamic one as DHCP; static ones with the default gateway through the uplink). Once bridged, the
            bridge keeps what it has.
          - V(dhcp), V(none) (the default of V(internal) and V(vlan) bridges), or a static C(ADDRESS/PREFIX).
        type: str
      gateway:
        description: The default gateway of a static O(bridges[].ipv4), inside its network. One per host.
        type: str
      dns:
        description:
          - DNS servers of a static O(bridges[].ipv4) (networkd C(DNS=); ifupdown C(dns-nameservers), which takes
            effect with the C(resolvconf) package).
        type: list
        elements: str
      mtu:
        description:
          - The MTU of the bridge and its port (with ifupdown bridge-utils sets it on the ports). A VLAN's MTU cannot
            be larger than its parent's.
        type: int
  bonds:
    description:
      - Bonds the bridges use as uplink (each bond must carry a bridge). Its members get no configuration of their
        own (their stanzas, if any, are taken over).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The bond's name (at most 15 characters).
        type: str
        required: true
      interfaces:
        description: The member interfaces.
        type: list
        elements: str
        required: true
      mode:
        description:
          - The bonding mode. Bridges over modes other than V(active-backup), V(balance-tlb) and V(802.3ad) get a
            warning (Debian's bridge-utils names those as tested).
        type: str
        default: active-backup
        choices: [balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb]
      miimon:
        description: Link monitoring interval in milliseconds.
        type: int
        default: 100
      lacp_rate:
        description: LACP rate of an V(802.3ad) bond.
        type: str
        choices: [slow, fast]
      xmit_hash_policy:
        description: Transmit hash policy.
        type: str
        choices: [layer2, layer2+3, layer3+4, encap2+3, encap3+4, vlan+srcmac]
      mtu:
        description: MTU of the bond (and its members).
        type: int
  legacy_bridge:
    description:
      - B(Deprecated), removed in 2.0.0 - the single-bridge settings of the role C(xenfleet.xen.hypervisor) before
        O(bridges) existed, given only when the user set them - C(mode) (uplink, internal, none), C(name), C(uplink),
        C(ipv4) (C(dhcp) by default in uplink mode), C(gateway), C(dns). They become one entry of O(bridges), with a
        deprecation warning. Refused together with O(bridges).
    type: dict
    default: {}
  stack:
    description:
      - V(auto) uses the stack that configures the interfaces the bridges take over - ifupdown when one of them has
        a stanza, systemd-networkd when networkd manages one of them - else ifupdown when
        C(/etc/network/interfaces) configures any interface besides C(lo), else systemd-networkd if it runs.
        NetworkManager running is refused.
      - V(ifupdown) or V(networkd) choose; refused when the other stack configures an interface taken over.
    type: str
    choices: [auto, ifupdown, networkd]
    default: auto
  variable_names:
    description:
      - "How messages name the options, for a role that passes its own variables - keys C(bridges), C(bonds),
        C(stack) and C(legacy) (a prefix), e.g. C({bridges: xen_hypervisor_bridges})."
    type: dict
    default: {}
  confirm_token:
    description:
      - When set, the change is kept only if this token appears in O(confirm_path) within O(confirm_timeout)
        seconds (the controller writes it once it reached the host again); run the task with C(async).
      - Unset, the change is kept when the network is healthy within O(confirm_timeout) seconds.
    type: str
  confirm_path:
    description: Where the controller writes O(confirm_token).
    type: path
    default: /run/xenfleet-xen/network-confirm
  confirm_timeout:
    description:
      - Seconds after the new configuration is up for the network to be healthy and the confirmation to arrive;
        then the previous configuration is restored. C(ifup) of each interface may take this long too (a DHCP
        client waiting for a lease).
    type: int
    default: 90
  settle:
    description: Seconds to wait before the network changes (so that the reply of an async start reaches the controller).
    type: int
    default: 3
  backup_dir:
    description: Where the previous files are kept (C(files.json)) while the change is tried, for the record.
    type: path
    default: /var/lib/xenfleet-xen/network-backup
notes:
  - Runs on any Debian host (it needs no Xen). ifupdown needs the packages C(bridge-utils) (bridges) and
    C(ifenslave) (bonds); RV(packages) names them, and the module refuses to apply without them.
  - With ifupdown the affected interfaces are taken down and up one by one (C(ifdown)/C(ifup)), never with
    C(systemctl restart networking), which would take every interface down.
  - networkd does not change an existing netdev on reload; the module deletes a bridge, VLAN or bond whose
    C(.netdev) changed before the reload, so networkd makes it again.
  - A bridge no longer declared is removed. Its uplink is then left without configuration unless another file
    configures it - if that cuts the controller off, the rollback brings the bridge back and the task fails.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: One entry per file, its whole text before and after.
  idempotent:
    support: full
seealso:
  - name: netplan try
    description: The apply-then-confirm pattern this module follows.
    link: https://netplan.readthedocs.io/en/stable/netplan-try/
  - name: bridge-utils-interfaces(5)
    description: The bridge options of ifupdown.
    link: https://manpages.debian.org/bookworm/bridge-utils/bridge-utils-interfaces.5.en.html
  - name: systemd.netdev(5)
    description: The bridge, bond and VLAN units of systemd-networkd.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.netdev.html
'''

EXAMPLES = r'''
- name: The management network on xenbr0 (the installer's uplink taken over), guests of VLAN 20 on xenbr20
  xenfleet.xen.xen_host_network:
    bridges:
      - name: xenbr0
        uplink: eno1
      - name: xenbr20
        type: vlan
        uplink: eno1
        vlan: 20
      - name: xenint
        type: internal
        ipv4: 192.168.100.1/24
  check_mode: true
  diff: true

# The confirmed change, as the hypervisor role runs it: the host undoes the change by itself unless the controller,
# logged in again, writes the token within confirm_timeout seconds.
- name: Make a token for this change
  ansible.builtin.set_fact:
    network_token: "{{ lookup('ansible.builtin.password', '/dev/null', chars=['ascii_letters', 'digits'], length=24) }}"

- name: Apply the bridges (detached)
  xenfleet.xen.xen_host_network:
    bonds:
      - name: bond0
        interfaces: [eno1, eno2]
        mode: 802.3ad
        lacp_rate: fast
    bridges:
      - name: xenbr0
        uplink: bond0
        ipv4: 192.0.2.10/24
        gateway: 192.0.2.1
        dns: [192.0.2.53]
      - name: xenbr30
        uplink: bond0
        vlan: 30
        mtu: 1500
    confirm_token: "{{ network_token }}"
    confirm_timeout: 90
  async: 600
  poll: 0
  register: network_job

- name: Log in again (a fresh connection)
  ansible.builtin.wait_for_connection:
    delay: 5
    timeout: 400

- name: Confirm that the controller reaches the host
  ansible.builtin.copy:
    content: "{{ network_token }}"
    dest: /run/xenfleet-xen/network-confirm
    mode: "0600"

- name: Collect the outcome
  ansible.builtin.async_status:
    jid: "{{ network_job.ansible_job_id }}"
  register: network
  until: network.finished
  retries: 100
  delay: 3
'''

RETURN = r'''
stack:
  description: The network stack used (V(null) when O(bridges) is empty).
  returned: success
  type: str
  sample: ifupdown
bridges:
  description: The bridges as declared and resolved (uplink found, type, MAC, VLAN interface).
  returned: success
  type: list
  elements: dict
  sample: [{name: xenbr0, type: uplink, uplink: eno1, ipv4: inherit, mac: "52:54:00:12:34:01", vlan: null,
            vlan_dev: null, address: null, gateway: null, dns: [], mtu: null}]
bonds:
  description: The bonds as declared.
  returned: success
  type: list
  elements: dict
  sample: []
files:
  description: The files that change (or would, in check mode).
  returned: success
  type: list
  elements: dict
  sample: [{path: /etc/network/interfaces.d/xenfleet-bridge-xenbr0, action: create},
           {path: /etc/network/interfaces, action: update}]
packages:
  description: Debian packages the stack needs for the declaration (C(bridge-utils), C(ifenslave) with ifupdown).
  returned: success
  type: list
  elements: str
  sample: [bridge-utils]
problems:
  description: What was not healthy before the change (a missing bridge, a port not enslaved, no address ...).
  returned: success
  type: list
  elements: str
  sample: ["bridge xenbr0 does not exist"]
down:
  description: Interfaces taken down with the previous configuration (ifupdown).
  returned: success
  type: list
  elements: str
  sample: [eno1]
up:
  description: Interfaces brought up with the new configuration (ifupdown).
  returned: success
  type: list
  elements: str
  sample: [xenbr0]
applied:
  description: Whether a change was applied and kept.
  returned: success
  type: bool
  sample: true
rolled_back:
  description: Whether a change was applied and then undone (the task fails then).
  returned: always
  type: bool
  sample: false
reason:
  description: Why the change was rolled back.
  returned: when rolled back
  type: str
  sample: the controller did not confirm within 90 s that it reaches the host
log:
  description: The commands run to apply (and roll back) the change, with their exit codes and output.
  returned: always
  type: list
  elements: dict
  sample: [{cmd: [/usr/sbin/ifdown, eno1], rc: 0, stdout: "", stderr: ""}]
error:
  description: On failure, what went wrong - V(invalid_parameter), V(network_stack), V(network_apply), V(rolled_back).
  returned: failure
  type: str
  sample: rolled_back
'''

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_hostnet
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import XenError

BRIDGE_SPEC = dict(
    name=dict(type='str', required=True),
    type=dict(type='str', choices=['uplink', 'internal', 'vlan']),
    uplink=dict(type='str'),
    vlan=dict(type='int'),
    ipv4=dict(type='str'),
    gateway=dict(type='str'),
    dns=dict(type='list', elements='str'),
    mtu=dict(type='int'),
)
BOND_SPEC = dict(
    name=dict(type='str', required=True),
    interfaces=dict(type='list', elements='str', required=True),
    mode=dict(type='str', default='active-backup',
              choices=['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb',
                       'balance-alb']),
    miimon=dict(type='int', default=100),
    lacp_rate=dict(type='str', choices=['slow', 'fast']),
    xmit_hash_policy=dict(type='str', choices=['layer2', 'layer2+3', 'layer3+4', 'encap2+3', 'encap3+4', 'vlan+srcmac']),
    mtu=dict(type='int'),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bridges=dict(type='list', elements='dict', options=BRIDGE_SPEC),
            bonds=dict(type='list', elements='dict', options=BOND_SPEC, default=[]),
            legacy_bridge=dict(type='dict', default={}),
            stack=dict(type='str', default='auto', choices=['auto', 'ifupdown', 'networkd']),
            variable_names=dict(type='dict', default={}),
            confirm_token=dict(type='str', no_log=False),
            confirm_path=dict(type='path', default='/run/xenfleet-xen/network-confirm'),
            confirm_timeout=dict(type='int', default=90),
            settle=dict(type='int', default=3),
            backup_dir=dict(type='path', default='/var/lib/xenfleet-xen/network-backup'),
        ),
        supports_check_mode=True,
    )
    try:
        result = _converge_hostnet.run(module)
    except XenError as exc:
        # what was read and done so far (files, log, rolled_back, reason) with the error's message and kind
        failure = dict(getattr(exc, 'result', None) or {'rolled_back': False})
        failure.update(exc.fail_kwargs())
        module.fail_json(**failure)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='Unexpected error in xen_host_network: %s: %s' % (type(exc).__name__, exc),
                         error='internal', exception=traceback.format_exc(), rolled_back=False)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
