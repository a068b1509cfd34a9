# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's main() in-process with xl mocked at the argv level."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import posixpath
import tempfile

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture, XEN_DOM0_FILES


class ModuleExit(Exception):
    def __init__(self, result, failed):
        super(ModuleExit, self).__init__(result)
        self.result = result
        self.failed = failed


# Where the tests' fake get_bin_path finds the dom0's other tools (XlClient.run_tool); their calls are
# recorded as [tool name, args...].
TOOL_PATHS = {
    'qemu-img': '/usr/bin/qemu-img',
    'vgs': '/sbin/vgs', 'lvs': '/sbin/lvs', 'lvcreate': '/sbin/lvcreate', 'lvextend': '/sbin/lvextend',
    'lvrename': '/sbin/lvrename', 'lvremove': '/sbin/lvremove', 'lvconvert': '/sbin/lvconvert',
    'cp': '/bin/cp', 'ip': '/usr/bin/ip',
}
_TOOL_NAMES = dict((path, name) for name, path in TOOL_PATHS.items())


class XlScript(object):
    """The exact xl argv sequence a module must run, each with a captured answer (a Capture name, an
    (rc, out, err) tuple, or a callable(call) returning one: it may do what the tool does to files)."""

    def __init__(self, steps):
        # steps: list of (xl args list, Capture name or (rc, out, err))
        self.steps = list(steps)
        self.seen = []

    def run_command(self, args, **kwargs):
        assert kwargs.get('environ_update', {}).get('LC_ALL') == 'C'
        assert isinstance(args, list)
        # strip the timeout prefix: /usr/bin/timeout --kill-after=10 N
        if args[0].endswith('/timeout'):
            args = args[3:]
        assert args[0] in ('/usr/sbin/xl', 'ssh') or args[0] in _TOOL_NAMES, args
        # xl calls are recorded without the xl path; ssh calls whole, starting with 'ssh'; other tools by name
        if args[0] in _TOOL_NAMES:
            call = [_TOOL_NAMES[args[0]]] + list(args[1:])
        else:
            call = args[1:] if args[0] == '/usr/sbin/xl' else args
        self.seen.append(call)
        assert self.steps, 'unexpected extra call: %r' % (args,)
        want, reply = self.steps.pop(0)
        if callable(want):
            assert want(call), 'call %r does not match' % (call,)
        else:
            assert call == want
        if callable(reply):
            reply = reply(call)
        if isinstance(reply, tuple):
            return reply
        cap = Capture(reply)
        return cap.rc, cap.stdout, cap.stderr


def captured_reply(name, capture_set, relocate=None, effect=None):
    """An XlScript answer: the capture `name` of `capture_set`, its paths moved by relocate(text) (the capture's
    directories to the test's tmp_path); effect(call), when given, first does to files what the command did."""
    found = Capture(name, capture_set)
    move = relocate or (lambda text: text)
    answer = (found.rc, move(found.stdout), move(found.stderr))

    def reply(call):
        if effect:
            effect(call)
        return answer
    return reply


def patch_ansible_module(monkeypatch, run_command, files=None):
    """AnsibleModule with exit_json/fail_json raising ModuleExit, xl and timeout at fixed paths, commands
    answered by run_command(args, **kwargs), a per-process host lock and `files` as the dom0's files."""
    def exit_json(self, **kwargs):
        raise ModuleExit(kwargs, False)

    def fail_json(self, **kwargs):
        raise ModuleExit(kwargs, True)

    def get_bin_path(self, arg, required=False, opt_dirs=None):
        return {'xl': '/usr/sbin/xl', 'timeout': '/usr/bin/timeout'}.get(arg) or TOOL_PATHS.get(arg)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', lambda self, args, **kwargs: run_command(args, **kwargs))
    # the host lock of this test process, not the machine's /run/lock (test workers run in parallel)
    monkeypatch.setattr(_xl, 'DEFAULT_LOCK_PATH', os.path.join(tempfile.gettempdir(), 'xenfleet-xen-unit-%d.lock'
                                                               % os.getpid()))
    file_map = XEN_DOM0_FILES if files is None else files
    monkeypatch.setattr(_xl, '_read_file', file_map.get)
    monkeypatch.setattr(_xl, '_list_dir', lambda d: sorted(
        posixpath.basename(p) for p in file_map if posixpath.dirname(p) == d))


def run_module(monkeypatch, module_main, args, script, files=None):
    """Run module_main with `args`; returns (result dict, failed bool)."""
    patch_ansible_module(monkeypatch, script.run_command, files)
    with patch_module_args(args):
        try:
            module_main()
        except ModuleExit as exc:
            assert not script.steps, 'xl calls expected but not made: %r' % (script.steps,)
            return exc.result, exc.failed
    raise AssertionError('module returned without exit_json/fail_json')
