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
    XenError,
    XlClient,
    _read_file,
)


def xl_argument_spec(**options):
    """The module's own options plus xl_path and command_timeout."""
    spec = dict(XL_COMMON_ARGUMENT_SPEC)
    spec.update(options)
    return spec


def run_module(module, worker):
    """Run `worker(module, client)` -> dict of results, then exit_json / fail_json.

    Typed errors become fail_json with cmd/rc/stdout/stderr and an `error` kind; anything
    unexpected is reported with its message and the traceback in the `exception` field
    (shown only with -vvv), never as a raw module crash.
    """
    client = XlClient(module)
    try:
        result = worker(module, client)
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


def write_atomic(module, path, text, mode):
    """Write `text` to `path` through a temp file in the same directory and an atomic rename."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    # atomic_move may keep the replaced file's mode: set the one we want
    os.chmod(path, mode)


def read_text(path):
    """A file's text, or None when it does not exist or cannot be read (the client's reader)."""
    return _read_file(path)
