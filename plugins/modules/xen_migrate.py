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
version_added: 0.1.0
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
    on the target; the guest's storage at the same paths on both hosts (shared storage such as NFS or
    iSCSI - xl never copies disks); the same bridge names; compatible CPUs; a target Xen of the same or a
    newer version.
author:
  - xenfleet.xen maintainers (@xenfleet)
extends_documentation_fragment:
  - xenfleet.xen.xl
  - xenfleet.xen.xl.lock
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
      - Address of the destination dom0 as this host reaches it over SSH (name or IP address).
    type: str
    required: true
  ssh_user:
    description: SSH user on the target; it must be able to run C(xl) (root).
    type: str
    default: root
  ssh_port:
    description: SSH port on the target.
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
      - Each SSH login costs a key exchange on both dom0s; without this the module logs in four times.
      - A C(ControlMaster), C(ControlPath) or C(ControlPersist) in O(ssh_options) takes precedence.
    type: bool
    default: true
    version_added: 0.1.0
  timeout:
    description: Seconds the whole C(xl migrate) may take before it is stopped (xl then resumes the guest on the source).
    type: int
    default: 900
  persist:
    description: Move the guest's config file and autostart link to the target with it.
    type: bool
    default: true
  config_dir:
    description: Directory of the config files, the same on both hosts.
    type: path
    default: /etc/xen
  autostart_dir:
    description: Directory of the autostart links, the same on both hosts.
    type: path
    default: /etc/xen/auto
attributes:
  check_mode:
    support: full
    details: Runs the pre-flight checks only and reports whether the guest would move.
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

import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.xenfleet.xen.plugins.module_utils import _domain as dom
from ansible_collections.xenfleet.xen.plugins.module_utils import _migrate as mig
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._module import read_text, run_module, xl_argument_spec
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import SshTarget, XenError, XlTimeoutError
from ansible_collections.xenfleet.xen.plugins.module_utils._xl_config import name_problem


class MigrationError(XenError):
    kind = 'migration_failed'


class PreflightError(XenError):
    kind = 'preflight_failed'


def remote_rows(client, target):
    """`xl list` on the target: its rows, or None when it cannot be read."""
    res = client.run_ssh(target, ['xl', 'list'], check=False)
    if res.rc != 0:
        return None
    try:
        return parse.parse_list(res.stdout)
    except parse.XlParseError:
        return None


def remote_domain(client, target, name, rows=None):
    """The target's `xl list` row of NAME, or None."""
    for row in (rows if rows is not None else remote_rows(client, target)) or []:
        if row['name'] == name:
            return row
    return None


def clean_incoming(client, target, name, rows):
    """After a failed migration with the guest still running here: destroy the half-received,
    never-started copy NAME--incoming that a receiver which died (killed, crashed, lost its
    connection) leaves paused on the target, holding memory and the guest's disks.

    Returns a sentence for the failure message ('' when there was nothing to clean).
    """
    incoming = name + '--incoming'
    if not any(row['name'] == incoming for row in rows or []):
        return ''
    res = client.run_ssh(target, ['xl', 'destroy', incoming], check=False)
    if res.rc == 0:
        return ' The half-received copy %s that the receiver left on %s was destroyed.' % (incoming, target.host)
    return (' The receiver left a half-received copy %s on %s, and `xl destroy %s` there failed (%s): destroy it '
            'by hand before migrating again.' % (incoming, target.host, incoming,
                                                 ((res.stderr or res.stdout or '').strip().splitlines() or ['no message'])[-1]))


def move_definition(module, client, target, name, check):
    """Config file and autostart link: to the target, then away from the source."""
    p = module.params
    moved = {'config_file': False, 'autostart': False}
    if not p['persist']:
        return moved
    path = os.path.join(p['config_dir'], '%s.cfg' % name)
    link = os.path.join(p['autostart_dir'], '%s.cfg' % name)
    text = read_text(path)
    # every entry that would start the guest with this host (the same notion as xen_domain's),
    # plus a dangling <name>.cfg link
    entries = dom.autostart_entries(name, path, p['autostart_dir'])
    if os.path.lexists(link) and link not in entries:
        entries.append(link)
    autostart = bool(entries)
    if text is None:
        if not check:
            for entry in entries:
                os.unlink(entry)
        moved['autostart'] = autostart
        return moved
    moved['config_file'] = True
    moved['autostart'] = autostart
    if check:
        return moved
    mode = os.stat(path).st_mode & 0o777
    script = mig.move_config_script(p['config_dir'], name, mode, p['autostart_dir'], autostart)
    try:
        client.run_ssh(target, script, script=True, data=text)
    except XenError as exc:
        raise MigrationError('%s now runs on %s, but its config file could not be written there (%s); it is still in '
                             '%s on this host. Copy it by hand, or run the task again.' % (name, target.host, exc.msg, path),
                             cmd=exc.cmd, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)
    for entry in entries:
        os.unlink(entry)
    os.unlink(path)
    return moved


def converge(module, client):
    p = module.params
    name = p['name']
    started = time.time()
    problem = name_problem(name)
    if problem:
        raise dom.InvalidSpec('name', '%r %s' % (name, problem))
    for option in p['ssh_options']:
        if '=' not in option or '\n' in option:
            raise dom.InvalidSpec('ssh_options', '%r is not an ssh -o option of the form Key=value' % option)
    target = SshTarget(p['target'], user=p['ssh_user'], port=p['ssh_port'], identity=p['ssh_identity'],
                       options=p['ssh_options'], connect_timeout=p['ssh_connect_timeout'])
    client.ensure_xen_host()
    control_dir = None
    if p['ssh_multiplex']:
        # a private directory (0700) for the master connection's socket, short enough for a unix socket path
        control_dir = tempfile.mkdtemp(prefix='xenfleet-ssh-')
        target.control_path = os.path.join(control_dir, 'master')
    try:
        return migrate(module, client, target, started)
    finally:
        if control_dir:
            if os.path.exists(target.control_path):
                try:
                    client.close_ssh(target)
                except XenError:
                    pass  # the master exits by itself after ControlPersist seconds without a client
            shutil.rmtree(control_dir, ignore_errors=True)


def migrate(module, client, target, started):
    p = module.params
    name = p['name']
    check = module.check_mode
    local_info = client.info()
    result = {'source': local_info.get('host'), 'target': p['target'], 'changed': False}
    live = dom.find_domain(client, name)

    if live is None:
        there = remote_domain(client, target, name)
        if there is None:
            raise dom.GuestError('%s runs neither on this host nor on %s' % (name, p['target']))
        moved = move_definition(module, client, target, name, check)
        result.update(location='target', moved=moved, changed=moved['config_file'] or moved['autostart'],
                      duration=round(time.time() - started, 3))
        return result
    if live['state'] == 'paused':
        raise PreflightError(
            '%s is paused on this host: a paused guest cannot be live-migrated (xl suspends the guest through its '
            'kernel at the end of the transfer, which a paused guest cannot answer; Xen fails with "failed to '
            'suspend at sender"). Nothing was changed. Unpause it first (xen_domain state=running), then migrate.'
            % name)
    if live['state'] not in ('running', 'blocked'):
        raise dom.GuestError('%s is %s on this host; only a running guest can be live-migrated'
                             % (name, live['state']))

    paths, bridges = mig.guest_requirements(live)
    res = client.run_ssh(target, mig.probe_script(name, paths, bridges, p['config_dir']), script=True, check=False)
    if res.rc == 255:
        raise PreflightError('cannot reach %s over ssh as %s (xl migrate uses the same transport): %s'
                             % (p['target'], p['ssh_user'], (res.stderr or '').strip().splitlines()[-1:] or ['no message']),
                             cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
    probe = mig.parse_probe(res.stdout)
    problems = mig.preflight_problems(name, live, local_info, probe, p['target'])
    preflight = {'paths': probe['paths'], 'bridges': probe['bridges'], 'banner': probe['banner']}
    try:
        preflight['target_free_memory_mb'] = int(parse.parse_info(probe['info_text']).get('free_memory'))
        preflight['target_xen_version'] = parse.parse_info(probe['info_text']).get('xen_version')
    except (parse.XlParseError, TypeError, ValueError):
        pass
    result['preflight'] = preflight
    if problems:
        raise PreflightError('%s cannot be migrated to %s: %s. Nothing was changed; the guest still runs here.'
                             % (name, p['target'], '; '.join(problems)), cmd=res.cmd, rc=res.rc,
                             stdout=res.stdout, stderr=res.stderr)
    if module._diff:
        result['diff'] = {'before': {'host': result['source']}, 'after': {'host': p['target']}}
    if check:
        result.update(changed=True, location='source',
                      moved={'config_file': os.path.exists(os.path.join(p['config_dir'], '%s.cfg' % name)) and p['persist'],
                             'autostart': os.path.islink(os.path.join(p['autostart_dir'], '%s.cfg' % name)) and p['persist']},
                      duration=round(time.time() - started, 3))
        return result

    t0 = time.time()
    preflight_duration = round(t0 - started, 3)
    try:
        mres = client.run(['migrate', '-s', target.xl_sshcmd(), name, p['target']], mutating=True,
                          timeout=p['timeout'], check=False)
        status, message = mig.migrate_outcome(mres.rc, mres.stdout, mres.stderr)
    except XlTimeoutError as exc:
        # xl was stopped by the timeout: where the guest is now is read below, as after any failure
        mres = exc
        status, message = 'failed', ('xl migrate did not finish within %d seconds (timeout) and was stopped'
                                     % p['timeout'])
    migrate_duration = round(time.time() - t0, 3)
    here = dom.row_of(client, name)
    rows = remote_rows(client, target)
    there = remote_domain(client, target, name, rows)
    where = {'source': here is not None, 'target': there is not None}
    if status == 'ok' and there is not None and here is None:
        moved = move_definition(module, client, target, name, False)
        result.update(changed=True, location='target', moved=moved, migrate_duration=migrate_duration,
                      preflight_duration=preflight_duration, transfer=mig.transfer_facts(mres.stdout, mres.stderr), duration=round(time.time() - started, 3))
        return result
    details = dict(cmd=mres.cmd, rc=mres.rc, stdout=mres.stdout, stderr=mres.stderr)
    if status == 'undefined' or (where['source'] == where['target']):
        err = MigrationError(
            'Migration of %s to %s ended in an undefined state (%s). On this host the guest is %s; on %s it is %s. '
            'Look at `xl list` on both hosts and /var/log/xen/xl-%s.log; if it runs on both, destroy the paused copy; '
            'if on neither, start it from its config file.'
            % (name, p['target'], message, parse.state_from_flags(here['flags']) if here else 'absent', p['target'],
               parse.state_from_flags(there['flags']) if there else 'absent', name), **details)
        err.kind = 'migration_undefined'
        raise err
    if where['source']:
        cleaned = clean_incoming(client, target, name, rows)
        raise MigrationError('Migration of %s to %s failed (%s); the guest still runs on this host (%s). Its definition '
                             'was not moved.%s' % (name, p['target'], message, parse.state_from_flags(here['flags']), cleaned),
                             **details)
    raise MigrationError('Migration of %s to %s reported "%s", and the guest now runs on %s only; its definition was '
                         'not moved. Run the task again to move it.' % (name, p['target'], message, p['target']), **details)


def main():
    module = AnsibleModule(
        argument_spec=xl_argument_spec(
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
            config_dir=dict(type='path', default='/etc/xen'),
            autostart_dir=dict(type='path', default='/etc/xen/auto'),
        ),
        supports_check_mode=True,
    )
    run_module(module, converge, critical='name')


if __name__ == '__main__':
    main()
