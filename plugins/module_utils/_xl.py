# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The one place that runs `xl`. Every call is an argv list through module.run_command, with
# LC_ALL=C, under a timeout; mutating calls are serialised per host by a lock file; failures
# become typed exceptions that carry cmd, rc, stdout and stderr.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import shlex
import stat
import time

try:
    import fcntl
    HAS_FCNTL = True
except ImportError:  # pragma: no cover - non-POSIX controllers never run modules
    HAS_FCNTL = False

from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_cmd as xlcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    InvalidSpec,
    LockTimeoutError,
    NotXenHostError,
    ToolCommandError,
    ToolMissingError,
    XlCommandError,
    XlNotFoundError,
    XlOutputError,
    XlTimeoutError,
    classify_failure,
    last_line,
)

DEFAULT_TIMEOUT = 120
DEFAULT_LOCK_PATH = '/run/lock/xenfleet-xen.lock'
# How long a module waits for another xenfleet.xen task's critical section on the same host (a
# converge can take its shutdown and start timeouts; a live migration minutes).
DEFAULT_LOCK_TIMEOUT = 900
# Where libxl keeps the configuration it stored for each domain at creation (and updates on
# device hot-plug): userdata-d.<domid>.<uuid>.libxl-json. `xl list -l` starts from this file.
LIBXL_USERDATA_DIR = '/var/lib/xen'
TIMEOUT_KILL_AFTER = 10
# SSH to another dom0 gives up after this many seconds without an answer (interval x count).
SSH_ALIVE_INTERVAL = 15
SSH_ALIVE_COUNT = 4
# A task that waited this many seconds for the host lock says so (a warning), so a slow task is explained.
LOCK_WAIT_WARNING = 10

# Options every module that talks to xl accepts (documented in doc_fragments/xl.py).
XL_COMMON_ARGUMENT_SPEC = dict(
    xl_path=dict(type='path'),
    command_timeout=dict(type='int', default=DEFAULT_TIMEOUT),
)
# Options of the modules that change a host: their read-decide-act runs in the host's critical section
# (documented in doc_fragments/xl.py, LOCK).
XL_LOCK_ARGUMENT_SPEC = dict(
    lock_timeout=dict(type='int', default=DEFAULT_LOCK_TIMEOUT),
)


def validate_common(params):
    """Refuse bad values of the options every xl module shares, before the host is looked at."""
    xl_path = params.get('xl_path')
    if xl_path is not None and not os.path.isabs(xl_path):
        raise InvalidSpec('xl_path', '%r is not an absolute path: give the full path of the xl command on the Xen '
                          'host, e.g. /usr/sbin/xl' % (xl_path,))
    for option in ('command_timeout', 'lock_timeout'):
        value = params.get(option)
        if value is not None and value <= 0:
            raise InvalidSpec(option, 'must be a positive number of seconds, got %r' % (value,))


# --------------------------------------------------------------------------------------------
# Host detection (before xl is ever called)
# --------------------------------------------------------------------------------------------

NEXT_STEP = ('Make it a Xen host first: install Xen and reboot into it (the xenfleet.xen.hypervisor '
             'role does both), then run this module on its dom0.')


def describe_host(read_file):
    """Decide whether this is a usable Xen dom0, from file contents only.

    `read_file(path)` returns the file's text, or None when it does not exist / cannot be read.
    Returns None when the host is a Xen dom0, else a message saying what the host is and what
    to do. Pure, so it is tested with fake file contents.
    """
    hv_type = read_file('/sys/hypervisor/type')
    hv_type = hv_type.strip() if hv_type is not None else None
    if hv_type != 'xen':
        if hv_type:
            what = "it runs under the '%s' hypervisor, not Xen (/sys/hypervisor/type is '%s')" % (hv_type, hv_type)
        else:
            cpuinfo = read_file('/proc/cpuinfo') or ''
            if _cpu_flag(cpuinfo, 'hypervisor'):
                what = ('it is a virtual machine under a hypervisor that is not Xen '
                        '(/sys/hypervisor/type does not exist)')
            else:
                what = 'the kernel is not running under the Xen hypervisor (/sys/hypervisor/type does not exist)'
        return 'This is not a Xen host: %s. %s' % (what, NEXT_STEP)
    caps = read_file('/proc/xen/capabilities')
    if caps is None:
        return ('This is not a Xen host usable by xl: the kernel runs under Xen but /proc/xen/capabilities '
                'is missing (xenfs is not mounted). Start the Xen services (systemctl start xen, which '
                'mounts xenfs) or mount it with `mount -t xenfs xenfs /proc/xen`.')
    if 'control_d' not in caps:
        return ('This is not a Xen host: it is a Xen guest (domU), not dom0 (/proc/xen/capabilities lacks '
                'control_d). Run this module on the dom0 of the Xen host instead, e.g. with delegate_to.')
    return None


def _cpu_flag(cpuinfo, flag):
    for line in cpuinfo.splitlines():
        if line.startswith('flags'):
            return flag in line.split(':', 1)[-1].split()
    return False


def _read_file(path):
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _list_dir(path):
    try:
        return os.listdir(path)
    except (IOError, OSError):
        return []


def xl_path_problem(path, stat_path=os.stat, access=os.access):
    """Why `path` cannot be the xl command (None when it can)."""
    try:
        mode = stat_path(path).st_mode
    except (IOError, OSError):
        return 'does not exist on this host'
    if stat.S_ISDIR(mode):
        return 'is a directory, not the xl command: set xl_path to the xl executable itself, e.g. /usr/sbin/xl'
    if not stat.S_ISREG(mode) or not access(path, os.X_OK):
        return 'is not an executable file: set xl_path to the xl command, e.g. /usr/sbin/xl'
    return None


def describe_lock_holder(text, now):
    """'xen_domain web1, pid 42, for 95 s' from the lock file's record (pure; tolerant of any content).

    `since` in the record and `now` are readings of the system's monotonic clock (the same for every
    process on the host, and immune to clock changes).
    """
    try:
        record = json.loads(text or '')
        what = '%s, pid %d' % (record['task'], int(record['pid']))
        since = float(record['since'])
    except (ValueError, TypeError, KeyError):
        return 'holder unknown'
    return '%s, for %.0f s' % (what, max(0.0, now - since))


def _read_fd(fd):
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 4096).decode('utf-8', 'replace')
    except (IOError, OSError):
        return ''


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------

def timed_out(rc, elapsed, timeout):
    """Whether coreutils `timeout` stopped the command: it exits 124 (TERM) or 137 (KILL after the grace
    period) then. A command killed by someone else (kill -9 of xl) also makes it exit 137, but before
    the time was up: that is a crash, not a timeout."""
    return rc == 124 or (rc == 137 and elapsed >= timeout - 1)


class XlResult(object):
    def __init__(self, cmd, rc, stdout, stderr):
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    @property
    def said(self):
        """What the command said last (the last non-blank line of stderr, else stdout): what a message quotes."""
        return last_line(self.stderr or self.stdout)


class SshTarget(object):
    """How xl (and our pre-flight) reach another dom0: the ssh argv, host-key checking left ON.

    `ssh_argv()` is a list for module.run_command; `xl_sshcmd()` is the same command as the one
    string xl's `migrate -s` expects (xl runs `sh -c "exec SSHCMD HOST xl migrate-receive"`),
    every word shell-quoted.
    """

    def __init__(self, host, user='root', port=None, identity=None, options=None, connect_timeout=15,
                 ssh_path='ssh', control_path=None, control_persist=60):
        self.host = host
        self.user = user
        self.port = port
        self.identity = identity
        self.options = list(options or [])
        self.connect_timeout = connect_timeout
        self.ssh_path = ssh_path
        # With a control_path, the first ssh becomes a master connection (OpenSSH ControlMaster) that
        # later ssh commands - xl's transport included - reuse: one login instead of one per command.
        # The user's own options come first, so a ControlMaster=no among them wins (ssh takes the
        # first value it gets for an option).
        self.control_path = control_path
        self.control_persist = control_persist

    def base_argv(self):
        argv = [self.ssh_path, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=%d' % self.connect_timeout]
        if self.user:
            argv += ['-l', self.user]
        if self.port:
            argv += ['-p', str(self.port)]
        if self.identity:
            argv += ['-i', self.identity]
        for option in self.options:
            argv += ['-o', option]
        # a target that dies (power cut, hard reset) answers nothing, not even a TCP reset: without these
        # xl migrate would wait for TCP to give up (many minutes) while the guest runs on here, suspended
        # at the end. The user's own values, given above, win (ssh keeps the first value of an option).
        argv += ['-o', 'ServerAliveInterval=%d' % SSH_ALIVE_INTERVAL, '-o', 'ServerAliveCountMax=%d' % SSH_ALIVE_COUNT]
        if self.control_path:
            argv += ['-o', 'ControlMaster=auto', '-o', 'ControlPath=%s' % self.control_path,
                     '-o', 'ControlPersist=%d' % self.control_persist]
        return argv

    def close_argv(self):
        """argv that stops the master connection (`ssh -O exit`), or None without multiplexing."""
        if not self.control_path:
            return None
        return self.base_argv() + ['-O', 'exit', '--', self.host]

    def ssh_argv(self, remote_command):
        """argv that runs `remote_command` (a list, quoted here for the remote shell) on the target."""
        return self.base_argv() + ['--', self.host, ' '.join(shlex.quote(str(a)) for a in remote_command)]

    def ssh_script_argv(self, script):
        """argv that runs a POSIX sh `script` on the target (values in it must be shlex-quoted)."""
        return self.base_argv() + ['--', self.host, 'sh -c %s' % shlex.quote(script)]

    def xl_sshcmd(self):
        return ' '.join(shlex.quote(a) for a in self.base_argv())


def _ssh_failure(target, result):
    return XlCommandError('ssh to %s failed (exit code %d): %s' % (target.host, result.rc, result.said),
                          cmd=result.cmd, rc=result.rc, stdout=result.stdout, stderr=result.stderr)


class XlClient(object):
    """Runs xl for one module invocation.

    `module` is an AnsibleModule (only run_command, get_bin_path and params are used).
    `calls` records every argv run, so modules can report (and benchmarks count) xl calls.
    """

    def __init__(self, module, xl_path=None, timeout=None, lock_path=None, read_file=None, list_dir=None,
                 lock_timeout=None):
        self.module = module
        self.timeout = timeout or module.params.get('command_timeout') or DEFAULT_TIMEOUT
        self.lock_path = lock_path or DEFAULT_LOCK_PATH
        self.lock_timeout = lock_timeout or module.params.get('lock_timeout') or DEFAULT_LOCK_TIMEOUT
        # Set by modules that change the host (see critical_section): before this client's first xl or ssh
        # command it takes the host's lock, and holds it until close(), so the module's whole
        # read-decide-act runs alone among this collection's tasks on the host.
        self.critical_holder = None
        self._in_critical = False
        self.read_file = read_file or _read_file
        self.list_dir = list_dir or _list_dir
        self.calls = []
        # Things the user should know that did not stop the run (modules pass them to module.warn).
        self.warnings = []
        self._xl = xl_path if xl_path is not None else module.params.get('xl_path')
        self._xl_checked = False
        self._timeout_bin = None
        self._checked_host = False
        self._lock_fd = None
        self._lock_depth = 0

    # -- setup -------------------------------------------------------------------------------

    def ensure_xen_host(self):
        """Fail with NotXenHostError before any xl call when this host cannot run xl."""
        if self._checked_host:
            return
        problem = describe_host(self.read_file)
        if problem:
            raise NotXenHostError(problem)
        self._checked_host = True

    @property
    def xl(self):
        if self._xl_checked:
            return self._xl
        if self._xl is None:
            path = self.module.get_bin_path('xl', opt_dirs=['/usr/sbin', '/usr/local/sbin', '/sbin'])
            if not path:
                raise XlNotFoundError(
                    'The xl command was not found (looked in PATH, /usr/sbin, /usr/local/sbin). '
                    'Install the Xen tools (Debian: xen-utils-common and xen-utils-<version>, '
                    'pulled in by xen-system-amd64) or set xl_path.')
            self._xl = path
        else:
            problem = xl_path_problem(self._xl)
            if problem:
                raise XlNotFoundError('xl_path %s %s.' % (self._xl, problem))
        self._xl_checked = True
        return self._xl

    def _timeout_prefix(self, timeout):
        if self._timeout_bin is None:
            self._timeout_bin = self.module.get_bin_path('timeout') or ''
        if not self._timeout_bin or not timeout:
            return []
        return [self._timeout_bin, '--kill-after=%d' % TIMEOUT_KILL_AFTER, '%d' % timeout]

    # -- running -----------------------------------------------------------------------------

    def run(self, args, mutating=False, timeout=None, check=True, data=None):
        """Run `xl ARGS...`. Returns XlResult; raises a typed XenError when check and rc != 0.

        The argv is always a list (no shell); LC_ALL=C; the whole call is bounded by
        `timeout` seconds (coreutils timeout, then KILL after a grace period).
        """
        self.ensure_xen_host()
        self._enter_critical()
        timeout = timeout or self.timeout
        cmd = [self.xl] + [str(a) for a in args]
        result = self._execute(cmd, timeout, mutating=mutating, data=data, timeout_message=(
            '`%s` did not finish within %d seconds and was stopped. Raise command_timeout if the host is just slow; '
            'otherwise check `xl list` and /var/log/xen on the host.' % (' '.join(cmd), timeout)))
        if check and result.rc != 0:
            raise classify_failure(cmd, result.rc, result.stdout, result.stderr)
        return result

    def run_ssh(self, target, argv_tail, timeout=None, data=None, check=True, script=False):
        """Run a command on another dom0 over ssh (pre-flight reads, moving config files).

        `argv_tail` is a list (quoted for the remote shell) or, with script=True, a POSIX sh
        script whose interpolated values the caller has shlex-quoted. Failures raise
        XlCommandError with the ssh argv, rc, stdout and stderr.
        """
        self.ensure_xen_host()
        self._enter_critical()
        cmd = target.ssh_script_argv(argv_tail) if script else target.ssh_argv(argv_tail)
        return self._ssh(target, cmd, timeout or self.timeout, data, check)

    @property
    def remote_xl(self):
        """The xl command on another dom0: xl_path when the module has one (a fleet's dom0s share their
        layout), else `xl` from the ssh user's PATH."""
        return self.module.params.get('xl_path') or xlcmd.REMOTE_XL

    def run_remote_xl(self, target, args, timeout=None, check=True):
        """Run `xl ARGS...` (argv from _xl_cmd) on another dom0 over ssh, with remote_xl.
        A failure of xl there is classified like a local one; a failed ssh (exit code 255) is reported as
        the ssh failure it is."""
        res = self.run_ssh(target, [self.remote_xl] + list(args), timeout=timeout, check=False)
        if check and res.rc == 255:
            raise _ssh_failure(target, res)
        if check and res.rc != 0:
            raise classify_failure(res.cmd, res.rc, res.stdout, res.stderr)
        return res

    def run_tool(self, argv, mutating=False, timeout=None, check=True, data=None):
        """Run another dom0 tool (qemu-img, LVM, ...): argv[0] is its name, looked up with get_bin_path
        (PATH, /usr/sbin, /sbin), the rest built by _host_cmd. Same rules as xl: an argv list, LC_ALL=C,
        bounded by `timeout`, recorded in `calls`; mutating calls hold the host lock. A missing tool is
        ToolMissingError naming the Debian package that brings it (_host_cmd.PACKAGES); a failure ToolCommandError with
        cmd/rc/stdout/stderr; a timeout XlTimeoutError."""
        self._enter_critical()
        name = argv[0]
        path = self.module.get_bin_path(name, opt_dirs=['/usr/sbin', '/sbin', '/usr/local/sbin'])
        if not path:
            hint = hostcmd.missing_hint(name)
            raise ToolMissingError('%s was not found on this host (looked in PATH, /usr/sbin, /sbin).%s'
                                   % (name, ' ' + hint if hint else ''))
        timeout = timeout or self.timeout
        cmd = [path] + [str(a) for a in argv[1:]]
        result = self._execute(cmd, timeout, mutating=mutating, data=data, timeout_message=(
            '`%s` did not finish within %d seconds and was stopped; raise command_timeout if the host is just slow.'
            % (' '.join(cmd), timeout)))
        if check and result.rc != 0:
            raise ToolCommandError('`%s` failed with exit code %d: %s' % (' '.join(cmd), result.rc, result.said),
                                   cmd=cmd, rc=result.rc, stdout=result.stdout, stderr=result.stderr)
        return result

    def close_ssh(self, target):
        """Stop the target's SSH master connection, if the target multiplexes (best effort)."""
        argv = target.close_argv()
        return None if argv is None else self._ssh(target, argv, 30, None, False)

    def _ssh(self, target, cmd, timeout, data, check):
        result = self._execute(cmd, timeout, data=data, binary_data=data is not None, timeout_message=(
            'ssh to %s did not finish within %d seconds' % (target.host, timeout)))
        if check and result.rc != 0:
            raise _ssh_failure(target, result)
        return result

    def _execute(self, cmd, timeout, mutating=False, data=None, binary_data=False, timeout_message=''):
        """Run `cmd` (an argv list) as every command of the client runs: bounded by `timeout` (coreutils
        timeout, then KILL), LC_ALL=C, no shell and no expansion, the host lock held for a mutating call,
        recorded in `calls`. XlTimeoutError(timeout_message) when the timeout stopped it."""
        argv = self._timeout_prefix(timeout) + cmd
        if mutating:
            self.acquire_lock()
        started = time.monotonic()
        try:
            rc, out, err = self.module.run_command(
                argv, check_rc=False, data=data, binary_data=binary_data,
                environ_update={'LC_ALL': 'C', 'LANG': 'C', 'LANGUAGE': 'C'}, expand_user_and_vars=False)
        finally:
            if mutating:
                self.release_lock()
        self.calls.append(cmd)
        if argv[0] != cmd[0] and timed_out(rc, time.monotonic() - started, timeout):
            raise XlTimeoutError(timeout_message, cmd=cmd, rc=rc, stdout=out, stderr=err)
        return XlResult(cmd, rc, out, err)

    # -- reads -------------------------------------------------------------------------------

    def info(self):
        res = self.run(xlcmd.info())
        try:
            return parse.parse_info(res.stdout)
        except parse.XlParseError as exc:
            raise XlOutputError(str(exc), cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)

    def list_rows(self, domain=None):
        res = self.run(xlcmd.list_rows(domain))
        try:
            return parse.parse_list(res.stdout)
        except parse.XlParseError as exc:
            raise XlOutputError(str(exc), cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)

    def list_long(self):
        res = self.run(xlcmd.list_long())
        try:
            return parse.parse_list_long(res.stdout)
        except parse.XlParseError as exc:
            raise XlOutputError(str(exc), cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)

    def domains(self, names=None, include_dom0=False, include_stubs=False, include_dying=False,
                include_transient=False):
        """All domains (or only `names`, silently skipping missing ones) from one `xl list -l`
        plus one `xl list` for live state."""
        long_entries = self.list_long()
        rows = self.list_rows()
        long_entries.extend(self._stored_configs_for_missing(long_entries, rows, names))
        doms = parse.merge_domains(long_entries, rows, include_dom0=include_dom0,
                                   include_stubs=include_stubs, include_dying=include_dying,
                                   include_transient=include_transient)
        if names:
            wanted = set(names)
            doms = [d for d in doms if d['name'] in wanted]
        return doms

    def _stored_configs_for_missing(self, long_entries, rows, names=None):
        """Entries for domains that `xl list` shows but `xl list -l` left out.

        For an HVM guest `xl list -l` asks the domain's device model (QEMU, over QMP) which
        vCPUs are online; when QEMU does not answer within libxl's QMP timeout (hung, stopped or
        starved of CPU) xl silently drops that domain from the JSON, exit status 0 and nothing on
        stderr. The configuration libxl stored for the domain is still on disk: use it (the row
        from `xl list` supplies the live state, memory and online vCPUs) and warn.
        """
        have = set(e['domid'] for e in long_entries)
        missing = [r for r in rows if r['domid'] not in have and not parse.is_dom0(r['name'], r['domid'])
                   and not parse.is_dying_placeholder(r['name'])
                   and parse.state_from_flags(r['flags']) != 'dying'
                   and (not names or r['name'] in names)]
        if not missing:
            return []
        files = self.list_dir(LIBXL_USERDATA_DIR)
        extra = []
        for row in missing:
            config = parse.pick_stored_config(row['domid'], files, self._read_userdata)
            if config is None:
                self.warnings.append(
                    '`xl list -l` left out domain %s (id %d) and libxl has no readable stored '
                    'configuration for it in %s; its type, devices and limits are unknown. Either it is '
                    'still being created (libxl stores the configuration once the domain is built), or, for '
                    'an HVM guest, its device model '
                    '(qemu-system-i386 -xen-domid %d) is not alive and responsive.'
                    % (row['name'], row['domid'], LIBXL_USERDATA_DIR, row['domid']))
                continue
            self.warnings.append(
                '`xl list -l` left out domain %s (id %d): for an HVM guest that means its device model '
                '(qemu-system-i386 -xen-domid %d) did not answer libxl within its QMP timeout. Used the '
                'configuration libxl stored for the domain instead; the device model may be hung or the '
                'host overloaded.' % (row['name'], row['domid'], row['domid']))
            extra.append({'domid': row['domid'], 'config': config, 'source': 'stored'})
        return extra

    def _read_userdata(self, filename):
        return self.read_file(os.path.join(LIBXL_USERDATA_DIR, filename))

    # -- locking -----------------------------------------------------------------------------

    def critical_section(self, holder):
        """Run everything from the next xl/ssh command to close() under the host's lock.

        `holder` says who holds it (e.g. 'xen_domain web1'); a task that times out waiting names it.
        Bad input is refused before the first command, so it never waits for the lock.
        """
        self.critical_holder = holder

    def _enter_critical(self):
        if self.critical_holder and not self._in_critical:
            self.acquire_lock(timeout=self.lock_timeout, holder=self.critical_holder)
            self._in_critical = True

    def close(self):
        """Leave the critical section, if this client entered it."""
        if self._in_critical:
            self._in_critical = False
            self.release_lock()

    def acquire_lock(self, timeout=None, holder=None):
        """Take the per-host lock that serialises this collection's changes on the host.

        Re-entrant within one client. Waits up to `timeout` (default: command_timeout) seconds; the
        holder (pid, task, since when) is written into the lock file so a waiter that gives up can
        name it. The kernel releases the lock when its holder exits, however it exits.
        """
        if self._lock_depth:
            self._lock_depth += 1
            return
        if not HAS_FCNTL:
            self._lock_depth = 1
            return
        timeout = self.timeout if timeout is None else timeout
        lock_dir = os.path.dirname(self.lock_path)
        if lock_dir and not os.path.isdir(lock_dir):
            os.makedirs(lock_dir)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        started = time.monotonic()
        deadline = started + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    other = describe_lock_holder(_read_fd(fd), time.monotonic())
                    os.close(fd)
                    raise LockTimeoutError(
                        'Another xenfleet.xen task on this host (%s) has held %s for longer than this task waited '
                        '(%d seconds); nothing was changed. Run again when it has finished, or raise lock_timeout.'
                        % (other, self.lock_path, timeout))
                time.sleep(0.2)
        waited = time.monotonic() - started
        if waited >= LOCK_WAIT_WARNING:
            self.warnings.append('waited %.0f s for another xenfleet.xen task on this host to finish (it holds %s).'
                                 % (waited, self.lock_path))
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({'pid': os.getpid(), 'task': holder or 'xl', 'since': round(time.monotonic(), 1)},
                                    sort_keys=True).encode('utf-8'))
        except (IOError, OSError):
            pass  # the record is informative only
        self._lock_fd = fd
        self._lock_depth = 1

    def release_lock(self):
        if not self._lock_depth:
            return
        self._lock_depth -= 1
        if self._lock_depth == 0 and self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self):
        self.acquire_lock()
        return self

    def __exit__(self, *exc_info):
        self.release_lock()
        return False
