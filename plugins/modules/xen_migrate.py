#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: xen_migrate
short_description: Live-migrate a running Xen guest to another Xen host, with its definition
version_added: 1.0.0
description:
  - Runs on the B(source) dom0 and moves the running guest O(name) to the dom0 O(target) with C(xl migrate),
    which copies its memory while it runs and switches over with a pause of a fraction of a second.
  - Before anything moves, checks in one SSH round trip that the target is reachable over xl's SSH transport
    and prints nothing on a non-interactive command (a banner breaks xl's protocol), is a Xen dom0 with the
    same or a newer Xen, has enough free memory, has every disk, kernel and ramdisk at the same path and
    every bridge the guest's interfaces use, and has no domain of that name; and that the guest has no
    PCI passthrough devices. Each failed check is reported; nothing moves.
  - Moves the definition with the guest (O(persist=true)) - the config file lands on the target and
    leaves the source, and so does the autostart link, so a host reboot neither starts the guest twice
    nor loses it.
  - Idempotent - when the guest already runs on the target and not on the source, nothing changes
    (a definition left behind on the source by an earlier run is still moved).
  - If the migration fails, xl resumes the guest on the source; the module verifies where the guest
    runs and reports it with xl's message. The rare "undefined state" after a failed final handshake is
    detected and reported with what to look at on both hosts.
  - B(Requirements) - passwordless, non-interactive SSH as O(ssh_user) from the source dom0 to the target
    dom0 with the target's host key already known (host-key checking stays on); C(xl) in that user's PATH
    on the target (C(xl migrate) starts its receiver there as C(xl migrate-receive)); the guest's storage at
    the same paths on both hosts (shared storage such as NFS or iSCSI - xl never copies disks; without it,
    move the guest cold with M(xenfleet.xen.xen_backup)); the same bridge names; compatible CPUs; a target Xen
    of the same or a newer version.
  - The module's own C(xl) commands on the target (the pre-flight's C(xl info) and C(xl list), the check of
    where the guest runs, the removal of a half-received copy) run O(xl_path) there when it is set (the dom0s
    of a fleet share their layout), else C(xl) from the SSH user's PATH.
  - O(config_dir) and O(autostart_dir) must be the same on both hosts - the config file and the autostart
    link land on the target at the paths they had on the source.
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
      - The guest to move. It must be running on this host, or already on the target.
      - A paused guest is refused before anything happens, with RV(error=preflight_failed). C(xl migrate)
        suspends a guest through its own kernel at the end of the transfer, which a paused guest cannot
        answer (Xen 4.17 fails with C(failed to suspend at sender)). Unpause it first
        (M(xenfleet.xen.xen_domain) with O(xenfleet.xen.xen_domain#module:state=running)), or move it cold.
    type: str
    required: true
  target:
    description:
      - Address of the destination dom0 as this host reaches it over SSH - a host name (letters, digits and
        hyphens in dot-separated labels) or an IPv4 or IPv6 address; anything else is refused before anything
        runs (xl hands it to a shell).
    type: str
    required: true
  ssh_user:
    description:
      - SSH user on the target; it must be able to run C(xl) (root).
      - Letters, digits and C(. _ @ -), not starting with C(-).
    type: str
    default: root
  ssh_port:
    description: SSH port on the target (1-65535); when not set, ssh's own choice (its configuration, else 22).
    type: int
  ssh_identity:
    description: Private key file on the source dom0 for SSH to the target.
    type: path
  ssh_connect_timeout:
    description:
      - Seconds SSH may take to connect and exchange banners with the target (C(ConnectTimeout)), for the
        pre-flight and for xl's transport.
      - A busy dom0 can take longer than SSH's usual few seconds; in the nested lab under load a 15 s limit
        failed a migration with C(Connection timed out during banner exchange).
    type: int
    default: 60
  ssh_options:
    description:
      - Extra SSH options (C(-o) values), for example V(UserKnownHostsFile=/etc/xen/migration_known_hosts).
      - Host-key checking is never turned off by this module; do not pass V(StrictHostKeyChecking=no)
        unless you accept the risk.
    type: list
    elements: str
    default: []
  ssh_multiplex:
    description:
      - Log in to the target once and run the pre-flight, xl's transport, the checks after the migration and
        the definition move over that one SSH connection (OpenSSH C(ControlMaster), socket in a private
        temporary directory, closed when the module ends).
      - Each SSH login costs a key exchange on both dom0s; without this the module logs in three times (after a
        success the read of the target and the definition move are one round trip).
      - A C(ControlMaster), C(ControlPath) or C(ControlPersist) in O(ssh_options) takes precedence.
    type: bool
    default: true
  timeout:
    description:
      - Seconds the whole C(xl migrate) may take before it is stopped (xl then resumes the guest on the source).
      - Like O(ssh_connect_timeout), a positive number.
    type: int
    default: 900
  persist:
    description:
      - Move the guest's config file and autostart link to the target with it.
      - Every entry of O(autostart_dir) that would start the guest with this host leaves it (the link or a copy
        at C(<name>.cfg), any other link to its config file); the target gets the link C(<name>.cfg).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details:
      - Runs the pre-flight checks only and reports whether the guest would move, and RV(moved) as a real run
        would move the definition.
  diff_mode:
    support: full
    details: Shows the guest's host before and after.
  idempotent:
    support: full
notes:
  - When a host dies in the middle of a migration (power cut, reset) - measured in the lab, scenario C(faults)
    - if it is the target, the migration fails within about a minute (SSH gives up on a silent target after
    60 s, O(ssh_options) can change that) and the guest keeps running on the source with its definition; if it is the
    source, the guest dies with it, its definition stays there (start it again there), and the half-received copy
    C(NAME--incoming) on the target is destroyed when the target's sshd drops the dead session. Without
    C(ClientAliveInterval) in the target's sshd (the role C(xenfleet.xen.hypervisor) sets it) that takes hours
    and the copy holds its memory meanwhile; the pre-flight of a later migration names it.
seealso:
  - module: xenfleet.xen.xen_domain
  - module: xenfleet.xen.xen_backup
  - name: xl migrate
    description: The xl manual on live migration.
    link: https://xenbits.xen.org/docs/unstable/man/xl.1.html
'''

EXAMPLES = r'''
- name: Move web1 from xen1 to xen2 over the migration network
  xenfleet.xen.xen_migrate:
    name: web1
    target: 10.0.99.2
  delegate_to: xen1

- name: With a dedicated key and known_hosts file
  xenfleet.xen.xen_migrate:
    name: web1
    target: xen2.migration.example.net
    ssh_identity: /root/.ssh/migration_ed25519
    ssh_options:
      - UserKnownHostsFile=/etc/xen/migration_known_hosts
    timeout: 1800
  delegate_to: xen1

- name: Only check whether db1 could move (pre-flight)
  xenfleet.xen.xen_migrate:
    name: db1
    target: 10.0.99.3
  check_mode: true
  register: could
'''

RETURN = r'''
source:
  description: This host's name as Xen reports it.
  returned: success
  type: str
  sample: xen1
target:
  description: The target as given.
  returned: success
  type: str
  sample: 10.0.99.2
location:
  description: Where the guest runs after the module ran (V(target), V(source); in check mode, where it runs now).
  returned: success
  type: str
  sample: target
duration:
  description: Seconds the module took, pre-flight and definition move included.
  returned: success
  type: float
  sample: 36.4
migrate_duration:
  description: Seconds C(xl migrate) took.
  returned: when the guest moved
  type: float
  sample: 34.9
preflight_duration:
  description:
    - Seconds from the start of the module's work to the start of C(xl migrate) - the local reads and the
      pre-flight on the target, including the SSH login that C(xl migrate) then reuses. What remains of
      RV(duration) after it and RV(migrate_duration) is the check of both hosts and the definition move.
  returned: when the guest moved
  type: float
  sample: 2.1
transfer:
  description:
    - What xl printed about the transfer (its C(migration sender/target) and libxc progress lines). xl does
      not report bytes or downtime, so neither does this module.
  returned: when the guest moved
  type: list
  elements: str
  sample: ["migration target: Ready to receive domain.", "Migration successful."]
preflight:
  description: The pre-flight checks and their results.
  returned: when the guest runs on the source
  type: dict
  sample: {paths: {/var/lib/xen/images/web1.img: true}, bridges: {xenbr0: true}, target_free_memory_mb: 2900}
moved:
  description: What was moved besides the guest.
  returned: success
  type: dict
  sample: {config_file: true, autostart: false}
xl_calls:
  description: Number of C(xl) and C(ssh) commands the module ran.
  returned: always
  type: int
  sample: 6
error:
  description: On failure, what went wrong as a word (V(preflight_failed), V(migration_failed), V(migration_undefined), ...).
  returned: failure
  type: str
  sample: preflight_failed
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_migrate
from ansible_collections.xenfleet.xen.plugins.module_utils import _options
from ansible_collections.xenfleet.xen.plugins.module_utils._module import run_module, xl_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
            _options.CONFIG_DIR,
            _options.AUTOSTART_DIR,
            locking=True,
            name=dict(type='str', required=True),
            target=dict(type='str', required=True),
            ssh_user=dict(type='str', default='root'),
            ssh_port=dict(type='int'),
            ssh_identity=dict(type='path'),
            ssh_options=dict(type='list', elements='str', default=[]),
            ssh_connect_timeout=dict(type='int', default=60),
            ssh_multiplex=dict(type='bool', default=True),
            timeout=dict(type='int', default=900),
            persist=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    run_module(module, _converge_migrate.run, critical='name')


if __name__ == '__main__':
    main()
