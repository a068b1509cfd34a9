# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# What every module of the collection does the same way: the shared argument spec, building
# the xl client, and turning our typed errors into fail_json (never a traceback).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile
import traceback

from ansible_collections.xenfleet.xen.plugins.module_utils._xl import (
    XL_COMMON_ARGUMENT_SPEC,
    XL_LOCK_ARGUMENT_SPEC,
    FileWriteError,
    XenError,
    XlClient,
    _read_file,
    validate_common,
)


def xl_argument_spec(locking=False, **options):
    """The module's own options plus xl_path and command_timeout (and lock_timeout with locking)."""
    spec = dict(XL_COMMON_ARGUMENT_SPEC)
    if locking:
        spec.update(XL_LOCK_ARGUMENT_SPEC)
    spec.update(options)
    return spec


def run_module(module, worker, critical=None):
    """Run `worker(module, client)` -> dict of results, then exit_json / fail_json.

    With `critical` (the parameter naming the object, e.g. 'name'), everything the worker does from
    its first xl or ssh command on runs in the host's critical section (XlClient.critical_section):
    a second task on the same host waits until this one has read, decided and acted.
    Typed errors become fail_json with cmd/rc/stdout/stderr and an `error` kind; anything
    unexpected is reported with its message and the traceback in the `exception` field
    (shown only with -vvv), never as a raw module crash.
    """
    client = XlClient(module)
    if critical:
        client.critical_section('%s %s' % (module._name.split('.')[-1], module.params.get(critical)))
    try:
        try:
            validate_common(module.params)
            result = worker(module, client)
        finally:
            client.close()
    except XenError as exc:
        _warn(module, client)
        module.fail_json(xl_calls=len(client.calls), **exc.fail_kwargs())
    except Exception as exc:  # pylint: disable=broad-except
        _warn(module, client)
        module.fail_json(msg='Unexpected error in %s: %s: %s' % (module._name, type(exc).__name__, exc),
                         error='internal', exception=traceback.format_exc())
    _warn(module, client)
    result.setdefault('changed', False)
    result['xl_calls'] = len(client.calls)
    module.exit_json(**result)


def _warn(module, client):
    # a module that reads the domains twice (before and after acting) would repeat a warning
    for index, warning in enumerate(client.warnings):
        if warning not in client.warnings[:index]:
            module.warn(warning)
    del client.warnings[:]


def stage_file(module, path, text, mode):
    """Write `text` to a temp file beside `path`, on disk (fsync), ready to replace it; returns its path.

    This is the step that can fail (a full or read-only file system, a missing permission), so modules
    stage the new file BEFORE they change the domain and only rename it into place (commit_staged)
    afterwards: a host whose config directory cannot take the file is refused before anything changed.
    """
    directory = os.path.dirname(path) or '.'
    tmp = None
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except (IOError, OSError) as exc:
        discard_staged(tmp)
        raise FileWriteError('Cannot write %s: %s. Nothing was changed: the domain and the current file are as they '
                             'were.' % (path, exc.strerror or exc))
    return tmp


def commit_staged(module, tmp, path):
    """Rename a staged file over `path` (atomic) and make the rename itself durable (fsync the directory)."""
    mode = os.stat(tmp).st_mode & 0o777  # stage_file set it
    try:
        module.atomic_move(tmp, path)
    finally:
        discard_staged(tmp)
    # atomic_move may keep the replaced file's mode: set the one we want
    os.chmod(path, mode)
    _fsync_dir(os.path.dirname(path) or '.')


def discard_staged(tmp):
    if tmp and os.path.exists(tmp):
        os.unlink(tmp)


def _fsync_dir(directory):
    # a file renamed into place survives a crash or power loss only once its directory is on disk too
    try:
        fd = os.open(directory, os.O_RDONLY)
    except (IOError, OSError):
        return
    try:
        os.fsync(fd)
    except (IOError, OSError):
        pass
    finally:
        os.close(fd)


def write_atomic(module, path, text, mode):
    """Write `text` to `path` through a temp file in the same directory (on disk) and an atomic rename."""
    commit_staged(module, stage_file(module, path, text, mode), path)


def read_text(path):
    """A file's text, or None when it does not exist or cannot be read (the client's reader)."""
    return _read_file(path)
