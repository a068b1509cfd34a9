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

import traceback

from ansible_collections.xenfleet.xen.plugins.module_utils._errors import XenError
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import (
    XL_COMMON_ARGUMENT_SPEC,
    XL_LOCK_ARGUMENT_SPEC,
    XlClient,
    validate_common,
)


def xl_argument_spec(*shared, **options):
    """xl_path and command_timeout (and lock_timeout with locking=True), the shared option declarations
    given (from _options, e.g. CONFIG_DIR), then the module's own options."""
    locking = options.pop('locking', False)
    spec = dict(XL_COMMON_ARGUMENT_SPEC)
    if locking:
        spec.update(XL_LOCK_ARGUMENT_SPEC)
    for piece in shared:
        spec.update(piece)
    spec.update(options)
    return spec


def run_module(module, worker, critical=None, holder=None):
    """Run `worker(module, client)` -> dict of results, then exit_json / fail_json.

    With `critical` (the parameter naming the object, e.g. 'name'), everything the worker does from
    its first xl or ssh command on runs in the host's critical section (XlClient.critical_section):
    a second task on the same host waits until this one has read, decided and acted. `holder` names the
    task there instead (when no single parameter names what it works on).
    Typed errors become fail_json with cmd/rc/stdout/stderr and an `error` kind; anything
    unexpected is reported with its message and the traceback in the `exception` field
    (shown only with -vvv), never as a raw module crash.
    """
    client = XlClient(module)
    if critical or holder:
        client.critical_section('%s %s' % (module._name.split('.')[-1], holder or module.params.get(critical)))
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
