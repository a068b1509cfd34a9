# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The xen_migrate verb: live-migrate a running guest to another dom0 and move its definition with
# it. run(module, client) checks the input, opens the SSH connection to the target and runs the
# steps of a Migration: locate the guest, pre-flight on the target, predict (check mode) or
# transfer, read where the guest is, then move the definition or explain the failure.
# What is pure (the probe script, its parser, the checks, the reading of xl's output) is in _migrate.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import tempfile
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as life
from ansible_collections.xenfleet.xen.plugins.module_utils import _migrate as mig
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    GuestError,
    InvalidSpec,
    MigrationError,
    PreflightError,
    XenError,
    XlCommandError,
    XlTimeoutError,
    last_line,
)
from ansible_collections.xenfleet.xen.plugins.module_utils._files import DomainFiles
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import SshTarget
from ansible_collections.xenfleet.xen.plugins.module_utils._xl_config import name_problem


# --------------------------------------------------------------------------------------------
# On the target
# --------------------------------------------------------------------------------------------

def remote_rows(client, target):
    """`xl list` on the target: its rows, or None when it cannot be read."""
    res = client.run_remote_xl(target, xlcmd.list_rows(), check=False)
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
    res = client.run_remote_xl(target, xlcmd.destroy(incoming), check=False)
    if res.rc == 0:
        return ' The half-received copy %s that the receiver left on %s was destroyed.' % (incoming, target.host)
    return (' The receiver left a half-received copy %s on %s, and `xl destroy %s` there failed (%s): destroy it '
            'by hand before migrating again.' % (incoming, target.host, incoming,
                                                 ((res.stderr or res.stdout or '').strip().splitlines() or ['no message'])[-1]))


# --------------------------------------------------------------------------------------------
# The definition (config file and autostart entries)
# --------------------------------------------------------------------------------------------

def definition_files(module, name, check):
    p = module.params
    return DomainFiles(module, name, p['config_dir'], p['autostart_dir'], check=check)


class Definition(object):
    """The guest's definition on this host (config file, autostart entries) and what moving it means: computed once,
    the same way in check mode and in a real run; only a real run acts on it."""

    def __init__(self, module, name, check):
        self.name = name
        self.persist = module.params['persist']
        self.files = definition_files(module, name, check)
        self.text = self.files.read() if self.persist else None
        # every entry that would start the guest with this host (a link or copy at <name>.cfg, any other link
        # to its config file) and a dangling <name>.cfg link: the one notion of autostart, _files'
        self.entries = self.files.doomed_autostart_entries() if self.persist else []
        self.moved = {'config_file': self.text is not None, 'autostart': bool(self.entries)}

    @property
    def link(self):
        return self.files.link if self.entries else None

    def not_written(self, target, exc):
        return MigrationError('%s now runs on %s, but its config file could not be written there (%s); it is still in '
                              '%s on this host. Copy it by hand, or run the task again.'
                              % (self.name, target.host, exc.msg, self.files.path),
                              cmd=exc.cmd, rc=exc.rc, stdout=exc.stdout, stderr=exc.stderr)

    def remove_here(self):
        """Written on the target: away from this host."""
        if self.persist:
            self.files.remove_autostart(self.entries)
            self.files.remove()
        return self.moved


def move_definition(module, client, target, name, check):
    """Config file and autostart entries: to the target, then away from the source (a guest that runs on the target
    already). Returns {'config_file': bool, 'autostart': bool}."""
    definition = Definition(module, name, check)
    if check or not definition.persist:
        return definition.moved
    if definition.text is not None:
        script = mig.move_config_script(definition.files.path, definition.files.mode(), definition.link)
        try:
            client.run_ssh(target, script, script=True, data=definition.text)
        except XenError as exc:
            raise definition.not_written(target, exc)
    return definition.remove_here()


def arrive(module, client, target, name):
    """After `xl migrate` reported success and the guest left this host: in one ssh round trip, the target's `xl list`
    and, when the guest is listed there, its definition written there. Returns (rows, row there, moved): rows None
    when the target could not be read; moved None unless the definition moved (then removed here)."""
    definition = Definition(module, name, False)
    write = definition.text is not None
    script = mig.arrive_script(name, client.remote_xl, definition.files.path if write else None,
                               definition.files.mode() if write else None, definition.link)
    res = client.run_ssh(target, script, script=True, data=definition.text if write else None, check=False)
    rows, written = mig.parse_arrival(res.stdout)
    there = remote_domain(client, target, name, rows) if rows is not None else None
    if there is None:
        return rows, None, None
    if write and not written:
        raise definition.not_written(target, XlCommandError(
            last_line(res.stderr, 'the script stopped (exit code %d)' % res.rc), res.cmd, res.rc, res.stdout,
            res.stderr))
    return rows, there, definition.remove_here()


# --------------------------------------------------------------------------------------------
# The verb
# --------------------------------------------------------------------------------------------

def ssh_target(params):
    return SshTarget(params['target'], user=params['ssh_user'], port=params['ssh_port'],
                     identity=params['ssh_identity'], options=params['ssh_options'],
                     connect_timeout=params['ssh_connect_timeout'])


def run(module, client):
    p = module.params
    started = time.time()
    problem = name_problem(p['name'])
    if problem:
        raise InvalidSpec('name', '%r %s' % (p['name'], problem))
    mig.validate(p)
    target = ssh_target(p)
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
    """The steps, in order; check mode stops after the pre-flight with a prediction."""
    move = Migration(module, client, target, started)
    live = move.locate()
    if live is None:
        return move.finish_elsewhere()
    move.preflight(live)
    if module.check_mode:
        return move.predict()
    outcome = move.transfer()
    # xl's word is not trusted: where the guest is now is read on both hosts; when it left here after a success, the
    # read there and the definition's move are one ssh round trip
    here = life.row_of(client, move.name)
    if outcome['status'] == 'ok' and here is None:
        rows, there, moved = arrive(module, client, target, move.name)
        if there is not None:
            return move.finish(outcome, moved)
    else:
        rows, there = move.on_target()
    raise move.failure(outcome, here, rows, there)


class Migration(object):
    """One migration of guest NAME from this dom0 to `target`; `result` collects what the module returns."""

    def __init__(self, module, client, target, started):
        self.module = module
        self.client = client
        self.target = target
        self.started = started
        self.params = module.params
        self.name = module.params['name']
        self.host = module.params['target']
        self.local_info = None
        self.result = {'target': self.host, 'changed': False}

    def _done(self, **values):
        self.result.update(values)
        self.result['duration'] = round(time.time() - self.started, 3)
        return self.result

    # -- locate the guest ----------------------------------------------------------------------

    def locate(self):
        """The guest's live summary when it runs here (None when not here); refuses a guest that cannot move."""
        self.local_info = self.client.info()
        self.result['source'] = self.local_info.get('host')
        live = life.find_domain(self.client, self.name)
        if live is None:
            return None
        if live['state'] == 'paused':
            raise PreflightError(
                '%s is paused on this host: a paused guest cannot be live-migrated (xl suspends the guest through its '
                'kernel at the end of the transfer, which a paused guest cannot answer; Xen fails with "failed to '
                'suspend at sender"). Nothing was changed. Unpause it first (xen_domain state=running), then migrate.'
                % self.name)
        if live['state'] not in ('running', 'blocked'):
            raise GuestError('%s is %s on this host; only a running guest can be live-migrated'
                             % (self.name, live['state']))
        return live

    def finish_elsewhere(self):
        """Not here: fine when it already runs on the target (a definition left here is still moved)."""
        if remote_domain(self.client, self.target, self.name) is None:
            raise GuestError('%s runs neither on this host nor on %s' % (self.name, self.host))
        moved = move_definition(self.module, self.client, self.target, self.name, self.module.check_mode)
        return self._done(location='target', moved=moved, changed=moved['config_file'] or moved['autostart'])

    # -- pre-flight ----------------------------------------------------------------------------

    def preflight(self, live):
        """One ssh round trip to the target; PreflightError with every problem found (nothing moved)."""
        p = self.params
        paths, bridges = mig.guest_requirements(live)
        files = definition_files(self.module, self.name, True)
        remote_xl = self.client.remote_xl
        res = self.client.run_ssh(self.target, mig.probe_script(paths, bridges, files.path, remote_xl),
                                  script=True, check=False)
        if res.rc == 255:
            raise PreflightError('cannot reach %s over ssh as %s (xl migrate uses the same transport): %s'
                                 % (self.host, p['ssh_user'], last_line(res.stderr, 'no message')),
                                 cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
        probe = mig.parse_probe(res.stdout)
        problems = mig.preflight_problems(self.name, live, self.local_info, probe, self.host)
        preflight = {'paths': probe['paths'], 'bridges': probe['bridges'], 'banner': probe['banner']}
        try:
            remote_info = parse.parse_info(probe['info_text'])
            preflight['target_free_memory_mb'] = int(remote_info.get('free_memory'))
            preflight['target_xen_version'] = remote_info.get('xen_version')
        except (parse.XlParseError, TypeError, ValueError):
            pass
        self.result['preflight'] = preflight
        if problems:
            raise PreflightError('%s cannot be migrated to %s: %s. Nothing was changed; the guest still runs here.'
                                 % (self.name, self.host, '; '.join(problems)), cmd=res.cmd, rc=res.rc,
                                 stdout=res.stdout, stderr=res.stderr)
        if self.module._diff:
            self.result['diff'] = {'before': {'host': self.result['source']}, 'after': {'host': self.host}}

    # -- predict (check mode) ------------------------------------------------------------------

    def predict(self):
        """Check mode: the guest would move, and so would what move_definition finds (the same code)."""
        moved = move_definition(self.module, self.client, self.target, self.name, True)
        return self._done(changed=True, location='source', moved=moved)

    # -- transfer ------------------------------------------------------------------------------

    def transfer(self):
        """Run `xl migrate`; returns its status ('ok', 'failed', 'undefined'), message, result and timings."""
        timeout = self.params['timeout']
        t0 = time.time()
        outcome = {'preflight_duration': round(t0 - self.started, 3)}
        try:
            res = self.client.run(xlcmd.migrate(self.name, self.host, self.target.xl_sshcmd()), mutating=True,
                                  timeout=timeout, check=False)
            outcome['status'], outcome['message'] = mig.migrate_outcome(res.rc, res.stdout, res.stderr)
        except XlTimeoutError as exc:
            # xl was stopped by the timeout: where the guest is now is read next, as after any failure
            res = exc
            outcome['status'], outcome['message'] = 'failed', ('xl migrate did not finish within %d seconds '
                                                               '(timeout) and was stopped' % timeout)
        outcome['result'] = res
        outcome['migrate_duration'] = round(time.time() - t0, 3)
        return outcome

    # -- read where the guest is (after a failure) -----------------------------------------------

    def on_target(self):
        """(the target's rows or None, the guest's row there or None)."""
        rows = remote_rows(self.client, self.target)
        return rows, remote_domain(self.client, self.target, self.name, rows)

    # -- the guest moved / explain the failure ---------------------------------------------------

    def finish(self, outcome, moved):
        res = outcome['result']
        return self._done(changed=True, location='target', moved=moved,
                          migrate_duration=outcome['migrate_duration'],
                          preflight_duration=outcome['preflight_duration'],
                          transfer=mig.transfer_facts(res.stdout, res.stderr))

    def failure(self, outcome, here, rows, there):
        """The MigrationError that says where the guest is and what to do (the definition stays here)."""
        name, host, message = self.name, self.host, outcome['message']
        res = outcome['result']
        details = dict(cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
        if outcome['status'] == 'undefined' or (here is not None) == (there is not None):
            err = MigrationError(
                'Migration of %s to %s ended in an undefined state (%s). On this host the guest is %s; on %s it is '
                '%s. Look at `xl list` on both hosts and /var/log/xen/xl-%s.log; if it runs on both, destroy the '
                'paused copy; if on neither, start it from its config file.'
                % (name, host, message, parse.state_from_flags(here['flags']) if here else 'absent', host,
                   parse.state_from_flags(there['flags']) if there else 'absent', name), **details)
            err.kind = 'migration_undefined'
            return err
        if here is not None:
            cleaned = clean_incoming(self.client, self.target, name, rows)
            return MigrationError('Migration of %s to %s failed (%s); the guest still runs on this host (%s). Its '
                                  'definition was not moved.%s'
                                  % (name, host, message, parse.state_from_flags(here['flags']), cleaned), **details)
        return MigrationError('Migration of %s to %s reported "%s", and the guest now runs on %s only; its '
                              'definition was not moved. Run the task again to move it.'
                              % (name, host, message, host), **details)
