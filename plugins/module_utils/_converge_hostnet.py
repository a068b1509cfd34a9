# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_host_network: a Xen host's bridges, bonds and VLANs with ifupdown or systemd-networkd, changed
# the way `netplan try` changes a network. In named steps:
#
#   read     the links, addresses and default route (ip -j), which stacks run (systemctl, networkctl), the ifupdown
#            configuration (/etc/network/interfaces and what it sources) and our networkd units
#   decide   (pure, _hostnet) validate, choose the stack, render the files, compare (comments do not count), what
#            "healthy" means; check mode stops here with the diff
#   apply    after `settle` seconds (so that the reply of an async start reaches the controller first): back the
#            files up, take the affected interfaces down with the OLD configuration (ifupdown), install the files
#            (each renamed into place), bring the interfaces up (ifupdown) or reload and reconfigure (networkd)
#   confirm  wait until the network is healthy AND - with confirm_token - the controller has written the token to
#            confirm_path after it reached the host again; at the deadline restore the files and the interfaces
#            and fail saying what happened
#
# With confirm_token the task must run with `async` (poll: 0): the controller cannot confirm while it waits for
# the module. The role does that (roles/hypervisor/tasks/network.yml).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import glob
import json
import os
import posixpath
import shutil
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _files as fileio
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _hostnet as net
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import ToolMissingError, XenError, XlTimeoutError
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import XlClient

# every path the module reads or writes, relative to ROOT ('' on a host; a directory in the unit tests)
ROOT = ''
LOCK_PATH = '/run/xenfleet-xen/network.lock'
BRIDGE_HOOK = '/etc/network/if-pre-up.d/bridge'  # bridge-utils
BOND_HOOK = '/etc/network/if-pre-up.d/ifenslave'  # ifenslave
MAX_SOURCE_DEPTH = 8
PROBE_TIMEOUT = 60  # seconds for a read or a networkctl/ip call
STATE_NAME = 'network-state'  # beside confirm_path: applying / waiting / done, with the token


class ApplyError(XenError):
    kind = 'network_apply'


class RolledBack(XenError):
    kind = 'rolled_back'


def real(path):
    return ROOT + path if ROOT else path


def read_text(path):
    try:
        with open(real(path)) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


class Host(object):
    """The host's commands, through XlClient.run_tool (argv from _host_cmd, LC_ALL=C, bounded, recorded), and a log
    of what the change ran. Runs on a host without Xen too: nothing here needs xl."""

    def __init__(self, module):
        self.module = module
        self.client = XlClient(module, timeout=PROBE_TIMEOUT)
        self.log = []

    def probe(self, argv):
        """A read-only command: its XlResult (not logged)."""
        return self.client.run_tool(argv, check=False)

    def run(self, argv, limit=None):
        """A command of the change: (rc, stdout, stderr), logged; a timeout is rc 124 with a message."""
        try:
            res = self.client.run_tool(argv, check=False, timeout=limit or PROBE_TIMEOUT)
            rc, out, err = res.rc, res.stdout, res.stderr
        except XlTimeoutError as exc:
            rc, out, err = 124, exc.stdout or '', ' '.join(t for t in ((exc.stderr or '').strip(), exc.msg) if t)
        except ToolMissingError as exc:
            rc, out, err = 127, '', exc.msg
        self.log.append({'cmd': list(argv), 'rc': rc, 'stdout': (out or '')[-2000:], 'stderr': (err or '')[-2000:]})
        return rc, out or '', err or ''

    def _json(self, argv):
        res = self.probe(argv)
        if res.rc != 0:
            raise ApplyError('`%s` failed (rc %d): %s' % (' '.join(res.cmd), res.rc, res.said), cmd=res.cmd,
                             rc=res.rc, stdout=res.stdout, stderr=res.stderr)
        return res.stdout

    def links(self):
        """{'links', 'addresses', 'default_route'} as the kernel has them now."""
        return {'links': net.parse_links(self._json(hostcmd.ip_links())),
                'addresses': net.parse_addresses(self._json(hostcmd.ip_addresses())),
                'default_route': net.parse_default_route(self._json(hostcmd.ip_default_route()))}

    def has(self, tool):
        return self.module.get_bin_path(tool, opt_dirs=['/usr/sbin', '/sbin']) is not None

    def active(self, unit):
        return self.has('systemctl') and self.probe(hostcmd.systemctl_is_active(unit)).rc == 0

    def read(self):
        host = self.links()
        host['networkmanager'] = self.active('NetworkManager.service')
        host['networkd'] = self.active('systemd-networkd.service')
        host['networkd_links'] = {}
        if host['networkd'] and self.has('networkctl'):
            res = self.probe(hostcmd.networkctl_list())
            if res.rc == 0:
                host['networkd_links'] = net.parse_networkctl_list(res.stdout)
        host['ifup'] = self.has('ifup')
        return host


def read_ifupdown(main=net.IFUPDOWN_MAIN, directory=net.IFUPDOWN_DIR):
    """{path: text} of the ifupdown configuration in the order ifupdown reads it: the main file, what it sources
    (source: glob patterns, sorted; source-directory: run-parts names, sorted; recursively), then our own files in
    `directory` that nothing sources. Paths are the host's (without ROOT)."""
    files = {}

    def visit(path, depth):
        if path in files or depth > MAX_SOURCE_DEPTH:
            return
        text = read_text(path)
        if text is None:
            return
        files[path] = text
        for kind, pattern in net.sources(text, path):
            if kind == 'source':
                found = sorted(p[len(ROOT):] if ROOT else p for p in glob.glob(real(pattern)))
            else:
                try:
                    names = sorted(os.listdir(real(pattern)))
                except OSError:
                    names = []
                found = [posixpath.join(pattern, n) for n in names if net.RUN_PARTS_NAME.match(n)]
            for child in found:
                if os.path.isfile(real(child)):
                    visit(child, depth + 1)
    visit(main, 0)
    for path in sorted(glob.glob(real(posixpath.join(directory, net.IFUPDOWN_PREFIX + '*')))):
        path = path[len(ROOT):] if ROOT else path
        if path not in files and os.path.isfile(real(path)):
            files[path] = read_text(path)
    return files


def read_networkd(directory=net.NETWORKD_DIR):
    out = {}
    for path in sorted(glob.glob(real(posixpath.join(directory, net.NETWORKD_PREFIX + '*')))):
        if os.path.isfile(path):
            path = path[len(ROOT):] if ROOT else path
            out[path] = read_text(path)
    return out


def run(module):
    """xen_host_network: run(module) -> result dict; raises XenError subclasses (see _Converge)."""
    return _Converge(module).run()


class _Converge(object):

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.check = module.check_mode
        self.host = Host(module)
        self.names = net.names_for(self.p['variable_names'])

    # -- read and decide ------------------------------------------------------------------------

    def run(self):
        p = self.p
        state = self.host.read()
        self.state = state
        desired = net.normalize(p['bridges'], p['bonds'], p['legacy_bridge'], state, self.names)
        for text in desired['deprecations']:
            self.module.deprecate(text, version=net.LEGACY_REMOVED_IN, collection_name='xenfleet.xen')
        for text in desired['warnings']:
            self.module.warn(text)
        ifupdown_files = read_ifupdown()
        networkd_files = read_networkd()
        stanzas = net.index_stanzas(ifupdown_files)
        stack = net.choose_stack(p['stack'], state, stanzas, desired, self.names) if desired['bridges'] else None
        self.stack = stack

        # the chosen stack's files rendered; our files of the other stack removed (a host moved between stacks)
        if stack == 'ifupdown':
            ifupdown_new = net.plan_ifupdown(desired, ifupdown_files)
            networkd_new = dict((path, None) for path in networkd_files)
        elif stack == 'networkd':
            ifupdown_new = net.plan_ifupdown({'bridges': [], 'bonds': []}, ifupdown_files)
            networkd_new = net.plan_networkd(desired, state, networkd_files)
        else:
            ifupdown_new = net.plan_ifupdown({'bridges': [], 'bonds': []}, ifupdown_files)
            networkd_new = dict((path, None) for path in networkd_files)
        current = dict(ifupdown_files)
        current.update(networkd_files)
        wanted = dict(ifupdown_new)
        wanted.update(networkd_new)
        self.current, self.wanted = current, wanted
        self.files = net.changes(current, wanted)
        self.checks = net.checks(desired, state)
        self.problems = net.health(self.checks, state)
        self.desired = desired

        ifupdown_after = dict(ifupdown_files)
        ifupdown_after.update(ifupdown_new)
        self.down, self.up = net.ifupdown_actions(ifupdown_files, ifupdown_after)
        networkd_after = dict(networkd_files)
        networkd_after.update(networkd_new)
        self.networkd = net.networkd_actions(networkd_files, networkd_after, state)
        if not self.files and self.problems and stack:
            # the files are right but the network is not: apply them again (down and up, or reconfigure)
            names = [b['name'] for b in desired['bonds']] + net.trunks(desired) + [b['name'] for b in desired['bridges']]
            if stack == 'ifupdown':
                self.down, self.up = list(reversed(names)), names
            else:
                self.networkd['reconfigure'] = [n for n in names + [c.get('port') for c in self.checks if c.get('port')]
                                                if n in state['links']]

        changed = bool(self.files) or bool(self.problems)
        self.outcome = {'applied': False, 'rolled_back': False, 'reason': None}
        if changed and not self.check:
            try:
                self.apply()
            except XenError as exc:
                exc.result = self.result(changed)
                raise
        return self.result(changed)

    # -- apply ----------------------------------------------------------------------------------

    def apply(self):
        if self.stack == 'ifupdown' and self.desired['bridges'] and not os.path.exists(real(BRIDGE_HOOK)):
            raise ApplyError('ifupdown makes bridges with the hook of bridge-utils (%s), which is not installed: install '
                             'the Debian package bridge-utils first. Nothing was changed.' % BRIDGE_HOOK)
        if self.stack == 'ifupdown' and self.desired['bonds'] and not os.path.exists(real(BOND_HOOK)):
            raise ApplyError('ifupdown makes bonds with the hook of ifenslave (%s), which is not installed: install '
                             'the Debian package ifenslave first. Nothing was changed.' % BOND_HOOK)
        lock = _lock(real(LOCK_PATH))
        try:
            self._apply()
        finally:
            os.close(lock)

    def state_path(self):
        return real(posixpath.join(posixpath.dirname(self.p['confirm_path']), STATE_NAME))

    def tell(self, text):
        """What the controller polls for: `applying TOKEN`, `waiting TOKEN` (confirm now), `done TOKEN ...`."""
        try:
            fileio.write_durable(self.state_path(), '%s %s\n' % (text.split(' ', 1)[0], ' '.join(
                [self.p['confirm_token'] or '-'] + text.split(' ', 1)[1:])), 0o644)
        except (IOError, OSError) as exc:
            self.host.log.append({'state_error': str(exc)})

    def _apply(self):
        p = self.p
        confirm = real(p['confirm_path'])
        _remove(confirm)
        self.tell('applying')
        staged = self.stage()
        if p['settle']:
            time.sleep(p['settle'])
        self.backup()
        try:
            self.take_down()
            self.install(staged)
            failure = self.bring_up()
            if failure is None:
                self.applied_at = time.time()
                self.tell('waiting')
                failure = self.wait(confirm)
        except Exception as exc:  # pylint: disable=broad-except
            failure = 'applying failed: %s' % (getattr(exc, 'msg', None) or exc)
        finally:
            for path in staged.values():
                _remove(path)
        if failure is None:
            self.outcome['applied'] = True
            _remove(confirm)
            self.tell('done kept')
            return
        self.tell('rolling-back')
        self.rollback()
        _remove(confirm)
        self.tell('done rolled-back: %s' % failure)
        self.outcome.update(rolled_back=True, reason=failure)
        raise RolledBack('The network change was rolled back: %s. The previous files are back in place and the '
                         'interfaces were brought up with them again; `log` lists every command run.' % failure)

    def stage(self):
        """Write every new file beside its target (same file system), before anything changes: a full or read-only
        file system fails here, with nothing changed. Returns {path: staged file}."""
        staged = {}
        try:
            for change in self.files:
                if change['action'] == 'remove':
                    continue
                path = change['path']
                staged[path] = fileio.stage_text(real(path), self.wanted[path], 0o644)
        except (IOError, OSError) as exc:
            for tmp in staged.values():
                _remove(tmp)
            raise ApplyError('Cannot write the new network configuration: %s. Nothing was changed.'
                             % (exc.strerror or exc))
        return staged

    def backup(self):
        """The current text of every file that changes, in memory and in backup_dir (for the record)."""
        self.saved = dict((c['path'], self.current.get(c['path'])) for c in self.files)
        directory = real(self.p['backup_dir'])
        try:
            if os.path.isdir(directory):
                shutil.rmtree(directory)
            os.makedirs(directory, 0o700)
            with open(os.path.join(directory, 'files.json'), 'w') as handle:
                json.dump(self.saved, handle, indent=1, sort_keys=True)
        except (IOError, OSError) as exc:
            self.module.warn('Could not keep a copy of the previous network files in %s: %s (the rollback uses the '
                             'copy in memory)' % (directory, exc))

    def take_down(self):
        for name in self.down:
            self.host.run(hostcmd.ifdown(name), limit=120)
        for name in self.networkd['release']:
            self.host.run(hostcmd.ip_link_nomaster(name))
        for name in self.networkd['delete_before']:
            self.host.run(hostcmd.ip_link_delete(name))

    def install(self, staged):
        for change in self.files:
            path = change['path']
            if change['action'] == 'remove':
                _remove(real(path))
                fileio.fsync_dir(posixpath.dirname(real(path)))
            else:
                fileio.replace_staged(staged.pop(path), real(path))

    def bring_up(self):
        """ifup (ifupdown) / reload and reconfigure (networkd); the first failure's text, or None."""
        for name in self.up:
            rc, out, err = self.host.run(hostcmd.ifup(name), limit=self.p['confirm_timeout'])
            if rc != 0:
                return '`ifup %s` failed (rc %d): %s' % (name, rc, (err or out).strip()[-500:])
        if self.networkd_touched():
            rc, out, err = self.host.run(hostcmd.networkctl_reload())
            if rc != 0:
                return '`networkctl reload` failed (rc %d): %s' % (rc, (err or out).strip())
            present = self.host.links()['links']
            for name in self.networkd['reconfigure']:
                if name in present:
                    self.host.run(hostcmd.networkctl_reconfigure(name))
        return None

    def networkd_touched(self):
        return self.stack == 'networkd' or any(c['path'].startswith(net.NETWORKD_DIR + '/') for c in self.files)

    def wait(self, confirm):
        """None once the network is healthy and (with confirm_token) confirmed; else why not, at the deadline."""
        token = self.p['confirm_token']
        deadline = time.time() + self.p['confirm_timeout']
        problems, confirmed = ['not checked yet'], not token
        while True:
            state = self.host.links()
            problems = net.health(self.checks, state)
            if token and not confirmed:
                confirmed = _confirmed(confirm, token, self.applied_at)
            if confirmed and not problems:
                self.host.log.append({'checked': 'healthy%s' % (' and confirmed' if token else '')})
                return None
            if time.time() >= deadline:
                break
            time.sleep(1)
        why = []
        if not confirmed:
            why.append('the controller did not confirm within %d s that it reaches the host (it writes the token to '
                       '%s once it has logged in again)' % (self.p['confirm_timeout'], self.p['confirm_path']))
        if problems:
            why.append('after %d s: %s' % (self.p['confirm_timeout'], '; '.join(problems)))
        return ' and '.join(why)

    # -- rollback -------------------------------------------------------------------------------

    def rollback(self):
        """Put the previous files back and the interfaces as they were; every step is tried, failures logged."""
        self.host.log.append({'rollback': 'restoring %d files' % len(self.saved)})
        for name in reversed(self.up):
            self._try(hostcmd.ifdown(name), limit=120)
        for path, text in self.saved.items():
            try:
                if text is None:
                    _remove(real(path))
                else:
                    fileio.write_durable(real(path), text, 0o644)
            except (IOError, OSError) as exc:
                self.host.log.append({'rollback_error': 'cannot restore %s: %s' % (path, exc)})
        for name in reversed(self.down):
            self._try(hostcmd.ifup(name), limit=self.p['confirm_timeout'])
        if self.networkd_touched():
            for name in self.networkd['created']:
                self._try(hostcmd.ip_link_delete(name))
            for name in self.networkd['rollback_release']:
                self._try(hostcmd.ip_link_nomaster(name))
            self._try(hostcmd.networkctl_reload())
            for name in self.networkd['reconfigure'] + self.networkd['delete_before']:
                self._try(hostcmd.networkctl_reconfigure(name))

    def _try(self, argv, limit=None):
        try:
            self.host.run(argv, limit=limit)
        except Exception as exc:  # pylint: disable=broad-except
            self.host.log.append({'cmd': argv, 'error': str(exc)})

    # -- result ---------------------------------------------------------------------------------

    def result(self, changed):
        result = {
            'changed': changed,
            'stack': self.stack,
            'bridges': [dict((k, v) for k, v in b.items() if k != 'label') for b in self.desired['bridges']],
            'bonds': [dict((k, v) for k, v in b.items() if k != 'label') for b in self.desired['bonds']],
            'files': self.files,
            'packages': net.packages(self.stack, self.desired),
            'problems': self.problems,
            'down': self.down,
            'up': self.up,
            'log': self.host.log,
        }
        result.update(self.outcome)
        if self.module._diff:
            result['diff'] = [{'before_header': c['path'], 'after_header': c['path'],
                               'before': self.current.get(c['path']) or '', 'after': self.wanted.get(c['path']) or ''}
                              for c in self.files]
        return result


def _confirmed(path, token, since):
    """The controller's token in `path`, written once the new configuration was up (an earlier write proves
    nothing about the new network)."""
    try:
        with open(path) as handle:
            text = handle.read()
        written = os.stat(path).st_mtime
    except (IOError, OSError):
        return False
    return text.strip() == token and written >= since - 1


def _lock(path):
    import fcntl
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError):
        os.close(fd)
        raise ApplyError('Another network change runs on this host (%s is locked). Nothing was changed.' % path)
    return fd


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass
