# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Every error the collection reports, in one place: the base XenError (message, error kind,
# cmd/rc/stdout/stderr), bad input (InvalidSpec), what xl's failures mean (classify_failure maps
# xl's messages to typed errors), and the guest and migration errors of the verbs.
# Pure: no I/O, no imports from the rest of the collection.

from __future__ import absolute_import, division, print_function
__metaclass__ = type


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

class XenError(Exception):
    """Base of every error this collection reports. `kind` names it for users and tests."""

    kind = 'xl_error'

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None):
        super(XenError, self).__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        # More of the failed task's result (a converge of many guests: what it did before it failed).
        self.result = {}

    def fail_kwargs(self):
        kwargs = dict(self.result)
        kwargs.update(msg=self.msg, error=self.kind)
        if self.cmd is not None:
            kwargs.update(cmd=self.cmd, rc=self.rc, stdout=self.stdout or '', stderr=self.stderr or '')
        return kwargs


class InvalidSpec(XenError):
    """Bad input, found before anything changed. `param` names the offending option."""
    kind = 'invalid_parameter'

    def __init__(self, param, msg):
        super(InvalidSpec, self).__init__('%s: %s' % (param, msg))
        self.param = param


class NotXenHostError(XenError):
    kind = 'not_xen_host'


class XlNotFoundError(XenError):
    kind = 'xl_not_found'


class XlCommandError(XenError):
    kind = 'xl_failed'


class DomainNotFoundError(XlCommandError):
    kind = 'domain_not_found'


class DomainExistsError(XlCommandError):
    kind = 'domain_exists'


class ConfigRejectedError(XlCommandError):
    kind = 'config_rejected'


class NotEnoughMemoryError(XlCommandError):
    kind = 'not_enough_memory'


class ToolstackUnavailableError(XlCommandError):
    kind = 'toolstack_unavailable'


class XlCrashedError(XlCommandError):
    kind = 'xl_crashed'


class XlTimeoutError(XlCommandError):
    kind = 'timeout'


class XlOutputError(XlCommandError):
    kind = 'unparsable_output'


class LockTimeoutError(XenError):
    kind = 'lock_timeout'


class FileWriteError(XenError):
    """A file on the dom0 (a domain's config file) could not be written; nothing was changed."""
    kind = 'config_unwritable'


class HotplugTimeoutError(XlCommandError):
    kind = 'hotplug_timeout'


class ToolMissingError(XenError):
    """A dom0 tool other than xl (qemu-img, LVM, ...) is not installed."""
    kind = 'tool_not_found'


class ToolCommandError(XenError):
    """A dom0 tool other than xl failed; cmd/rc/stdout/stderr say how."""
    kind = 'command_failed'


# (substring of stderr/stdout, error class, hint) -- first match wins.
_CLASSIFIERS = (
    ("Can't find hypervisor information in sysfs", NotXenHostError,
     'This host is not running under the Xen hypervisor.'),
    ('Hypervisor is not xen', NotXenHostError, 'This host runs under another hypervisor, not Xen.'),
    ('cannot open libxc handle', NotXenHostError,
     'xl cannot open the hypervisor interface (/dev/xen/privcmd): not dom0 of a Xen host, or not root.'),
    ('cannot connect to xenstore', ToolstackUnavailableError,
     'xenstored is not running: start the Xen services (systemctl start xen or xencommons).'),
    ('cannot init xl context', ToolstackUnavailableError,
     'xl could not initialise: are the Xen services (xencommons/xenstored) running?'),
    ('is an invalid domain identifier', DomainNotFoundError, 'No such domain.'),
    ("Error: Domain '", DomainNotFoundError, 'No such domain.'),
    ("Can't get domid of domain name", DomainNotFoundError, 'No such domain.'),
    ('already exists', DomainExistsError, 'A domain with that name already exists.'),
    ('config parsing error', ConfigRejectedError, 'xl rejected the configuration.'),
    ('Failed to parse config', ConfigRejectedError, 'xl rejected the configuration.'),
    ('Domain name must be specified', ConfigRejectedError, 'xl rejected the configuration.'),
    ('Failed to read config file', ConfigRejectedError, 'xl could not read the configuration file.'),
    ('xc_dom_chk_alloc_pages', ConfigRejectedError,
     "The guest's memory is too small to load its kernel and ramdisk (Xen's domain builder ran out of room "
     'while placing them): raise memory.'),
    ('because of timeout', HotplugTimeoutError,
     'A device hotplug script (run by libxl in dom0) did not finish within libxl\'s timeout, so xl gave up '
     'on the device and on the domain. dom0 may be overloaded, or the script hangs: for vif-bridge check that '
     'the bridge exists; see /var/log/xen/xl-<domain>.log and /var/log/xen/xen-hotplug.log.'),
    ('failed to free memory for the domain', NotEnoughMemoryError,
     'The host does not have enough free memory for this domain.'),
    ('not enough memory', NotEnoughMemoryError, 'The host does not have enough free memory.'),
)


def last_line(text, default='(no output)'):
    """The last non-blank line of a command's output, stripped (what a message quotes), else `default`."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    return lines[-1] if lines else default


def classify_failure(cmd, rc, stdout, stderr):
    """Return the typed error for a failed xl call (pure: used by the client and by tests)."""
    if rc is not None and (rc < 0 or 128 < rc < 160):
        signal_number = -rc if rc < 0 else rc - 128
        return XlCrashedError(
            '`%s` crashed (killed by signal %d). xl and its helper processes do crash now and then; the command '
            'may or may not have taken effect. Run the task again: the module re-reads the state before acting. '
            'If it recurs, look at `dmesg` and /var/log/xen on the host.' % (' '.join(cmd), signal_number),
            cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
    text = '%s\n%s' % (stderr or '', stdout or '')
    last = last_line(stderr or stdout, '')
    for needle, cls, hint in _CLASSIFIERS:
        if needle in text:
            detail = _first_line_with(text, needle) or last
            return cls('%s xl said: %s' % (hint, detail), cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
    return XlCommandError('`%s` failed with exit code %s: %s' % (' '.join(cmd), rc, last or '(no output)'),
                          cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)


def _first_line_with(text, needle):
    for line in text.splitlines():
        if needle in line:
            return line.strip()
    return None


# --------------------------------------------------------------------------------------------
# Guests and migrations (raised by the verbs, not by xl's output)
# --------------------------------------------------------------------------------------------

class GuestError(XenError):
    kind = 'guest_error'


class ConfigUnreadableError(XenError):
    kind = 'config_unreadable'


class GuestTimeout(XenError):
    kind = 'timeout'


class GuestRestarted(GuestError):
    """The domain went away or came back under another domid while we changed it."""
    kind = 'guest_restarted'


class NotRunningError(GuestError):
    """The state asked needs a running guest (e.g. `saved`) and there is none: nothing was changed."""
    kind = 'not_running'


class SaveError(XenError):
    """`xl save` or `xl restore` did not leave the guest saved, or running again from its image."""
    kind = 'save_failed'


class SaveDirError(SaveError):
    """The save directory cannot take the guest's memory image (missing rights, not enough room)."""
    kind = 'save_dir_unusable'


class SavedImageError(GuestError):
    """A save image exists and the state asked would throw it away without being told to."""
    kind = 'saved_image'


class MigrationError(XenError):
    kind = 'migration_failed'


class PreflightError(XenError):
    kind = 'preflight_failed'


# --------------------------------------------------------------------------------------------
# Guest storage (xen_disk)
# --------------------------------------------------------------------------------------------

class DiskError(XenError):
    """A disk on the dom0 is not what the tools said they made (found by reading it again)."""
    kind = 'disk_error'


class DiskInUseError(DiskError):
    """A disk a domain (or another process) uses cannot be changed that way: nothing was changed."""
    kind = 'disk_in_use'


class SnapshotError(XenError):
    """A snapshot could not be taken, removed or reverted to (the message says where the guest is)."""
    kind = 'snapshot_failed'


class BackupError(XenError):
    """A backup could not be written, removed or imported (the message says what is left where)."""
    kind = 'backup_failed'


class BackupCorruptError(BackupError):
    """A backup's files are not those its manifest records (missing, truncated, another checksum): refused before
    anything is imported."""
    kind = 'backup_corrupt'


class GuestRunningError(GuestError):
    """The guest runs and the action needs it stopped (or saved): nothing was changed."""
    kind = 'guest_running'
