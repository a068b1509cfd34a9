# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# A domain's files on the dom0, in one home: where its config file lives (<config_dir>/<name>.cfg),
# which autostart entries start it with the host, whether its file holds a secret (mode 0600), and
# how a file is replaced safely (staged and fsynced before the domain changes, renamed into place
# after), and where its memory image lies while it is saved (<save_dir>/<name>, as Debian's xendomains
# names the images it saves at host shutdown). DomainFiles bundles them for one guest; the module verbs
# use nothing else.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import FileWriteError, SaveDirError
from ansible_collections.xenfleet.xen.plugins.module_utils._xl import _read_file

CONFIG_SUFFIX = '.cfg'
# Room a memory image needs beyond the guest's memory: xl writes page tables, device state and its
# header too (the lab: 210 MB for a 200 MB guest), so 10 % and 64 MiB more are asked for.
SAVE_OVERHEAD = 0.10
SAVE_SLACK_MIB = 64
# xl.cfg keys whose values are secrets: their file is mode 0600 and diffs show them redacted.
SECRET_KEYS = xlcfg.SECRET_KEYS


def config_path(config_dir, name):
    """The guest's config file: <config_dir>/<name>.cfg (also the name of its autostart link)."""
    return os.path.join(config_dir, name + CONFIG_SUFFIX)


def text_has_secret(text):
    """Whether config file text sets a secret key (to a non-empty value)."""
    if not text:
        return False
    try:
        values = xlcfg.parse(text)
    except xlcfg.XlConfigError:
        # unparsable (hand-edited) text: look at the keys of its lines, err on the side of 0600
        return any(line.split('=', 1)[0].strip() in SECRET_KEYS for line in text.splitlines() if '=' in line)
    return any(values.get(key) for key in SECRET_KEYS)


def mode_for(text):
    return 0o600 if text_has_secret(text) else 0o644


def autostart_entries(name, config_path, autostart_dir):
    """The entries of autostart_dir that start NAME with the host: `<name>.cfg` (a link or a copy)
    and any other link that resolves to config_path. xendomains creates a domain from every file
    there, so each of them counts. Dangling links are left out."""
    if not os.path.isdir(autostart_dir):
        return []
    real = os.path.realpath(config_path)
    found = []
    for entry in sorted(os.listdir(autostart_dir)):
        path = os.path.join(autostart_dir, entry)
        if (entry == '%s.cfg' % name or (os.path.islink(path) and os.path.realpath(path) == real)) \
                and os.path.exists(path):
            found.append(path)
    return found


def autostart_links_to(config_path, entries):
    """Whether one of `entries` is a link to config_path (the guest starts from its managed file)."""
    real = os.path.realpath(config_path)
    return any(os.path.islink(e) and os.path.realpath(e) == real for e in entries)


def stage_file(module, path, text, mode):
    """Write `text` to a temp file beside `path`, on disk (fsync), ready to replace it; returns its path.

    This is the step that can fail (a full or read-only file system, a missing permission), so modules
    stage the new file BEFORE they change the domain and only rename it into place (commit_staged)
    afterwards: a host whose config directory cannot take the file is refused before anything changed.
    """
    try:
        return stage_text(path, text, mode)
    except (IOError, OSError) as exc:
        raise FileWriteError('Cannot write %s: %s. Nothing was changed: the domain and the current file are as they '
                             'were.' % (path, exc.strerror or exc))


def stage_text(path, text, mode):
    """stage_file without a module (for code that runs detached from its module): the temp file's path, or
    IOError/OSError (and no temp file left)."""
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
    except (IOError, OSError):
        discard_staged(tmp)
        raise
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
    fsync_dir(os.path.dirname(path) or '.')


def discard_staged(tmp):
    if tmp and os.path.exists(tmp):
        os.unlink(tmp)


def fsync_dir(directory):
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


def write_durable(path, text, mode):
    """Write `text` to `path` atomically and durably without an AnsibleModule (code that runs detached from its
    module, like the host network's confirm-or-roll-back): a temp file on disk renamed over `path`, then the
    directory synced. Raises IOError/OSError; a failed write leaves `path` as it was and no temp file behind."""
    replace_staged(stage_text(path, text, mode), path)


def replace_staged(tmp, path):
    """commit_staged without a module: rename the staged file over `path` and sync the directory (the temp file is
    gone either way)."""
    try:
        os.rename(tmp, path)
    finally:
        discard_staged(tmp)
    fsync_dir(os.path.dirname(path) or '.')


def read_text(path):
    """A file's text, or None when it does not exist or cannot be read (the client's reader)."""
    return _read_file(path)


class DomainFiles(object):
    """The files of guest NAME on this dom0: its config file and its autostart entries.

    `module` gives atomic_move and backup_local; `check` makes every change a prediction only
    (the methods return what they did or would do, so check mode and a real run agree).
    """

    def __init__(self, module, name, config_dir, autostart_dir=None, check=False, save_dir=None):
        self.module = module
        self.name = name
        self.config_dir = config_dir
        self.autostart_dir = autostart_dir
        self.check = check
        self.path = config_path(config_dir, name)
        self.link = config_path(autostart_dir, name) if autostart_dir else None
        self.staged = None
        self.image = SaveImage(save_dir, name, check=check) if save_dir else None

    # -- the config file -------------------------------------------------------------------

    def read(self):
        return read_text(self.path)

    def exists(self):
        return os.path.exists(self.path)

    def mode(self):
        return os.stat(self.path).st_mode & 0o777

    def backup(self):
        """A timestamped copy of the current file (module.backup_local), or None when there is none."""
        if self.check or not os.path.exists(self.path):
            return None
        return self.module.backup_local(self.path)

    def stage(self, text, mode=None):
        """Write the new text beside the file, on disk, before the domain changes (see stage_file).
        `mode` defaults to 0600 for text with a secret, else 0644. Nothing is written in check mode."""
        self.discard()
        if not self.check:
            self.staged = stage_file(self.module, self.path, text, mode_for(text) if mode is None else mode)

    def commit(self):
        """Rename the staged text into place (stage() first; a no-op in check mode)."""
        staged, self.staged = self.staged, None
        if staged:
            commit_staged(self.module, staged, self.path)

    def write(self, text, mode=None):
        self.stage(text, mode)
        self.commit()

    def discard(self):
        staged, self.staged = self.staged, None
        discard_staged(staged)

    def restore(self, text):
        """Put back the text read before the run (None: there was no file)."""
        if self.check:
            return
        if text is None:
            if os.path.exists(self.path):
                os.unlink(self.path)
        else:
            self.write(text)

    def remove(self):
        """Remove the config file; True when there was one."""
        if not os.path.exists(self.path):
            return False
        if not self.check:
            os.unlink(self.path)
        return True

    def secure(self, secret):
        """Make a file holding a secret mode 0600; True when its mode changed (or would)."""
        if not secret or not os.path.exists(self.path) or not os.stat(self.path).st_mode & 0o077:
            return False
        if not self.check:
            os.chmod(self.path, 0o600)
        return True

    # -- autostart -------------------------------------------------------------------------

    def autostart_entries(self):
        return autostart_entries(self.name, self.path, self.autostart_dir) if self.autostart_dir else []

    def doomed_autostart_entries(self):
        """Every entry that starts the guest with the host, plus a dangling <name>.cfg link."""
        entries = self.autostart_entries()
        if self.link and os.path.lexists(self.link) and self.link not in entries:
            entries.append(self.link)
        return entries

    def autostart(self):
        """Whether the guest starts with the host from its managed file."""
        return autostart_links_to(self.path, self.autostart_entries())

    def set_autostart(self, wanted):
        """Link or unlink the guest's autostart entry; returns 'autostart link created', '... removed'
        or None (nothing to do). wanted=None leaves autostart alone."""
        if wanted is None:
            return None
        if not wanted:
            return 'autostart link removed' if self.remove_autostart() else None
        if self.autostart():
            return None
        # none of the entries links to the managed file (or a stale copy sits at <name>.cfg): link it
        if not self.check:
            if not os.path.isdir(self.autostart_dir):
                os.makedirs(self.autostart_dir, 0o755)
            if os.path.lexists(self.link):
                os.unlink(self.link)
            os.symlink(self.path, self.link)
        return 'autostart link created'

    def remove_autostart(self, entries=None):
        """Remove every entry that would start this guest with the host; True when there was one."""
        doomed = self.doomed_autostart_entries() if entries is None else entries
        if not self.check:
            for path in doomed:
                os.unlink(path)
        return bool(doomed)


def saved_images(save_dir, names=None):
    """The guests saved in save_dir: one dict per xl save image there (name, image, size_mb, saved_at as epoch
    seconds, and the type and memory stored in its header), by name. Temp files (dot files), other files and
    unreadable ones are left out; a missing directory has none."""
    if not save_dir or not os.path.isdir(save_dir):
        return []
    found = []
    for entry in sorted(os.listdir(save_dir)):
        if entry.startswith('.') or (names and entry not in names):
            continue
        image = SaveImage(save_dir, entry)
        if not image.exists():
            continue
        try:
            config = image.config()
        except (IOError, OSError, parse.XlParseError):
            continue
        summary = parse.domain_summary(None, config or {})
        stat = os.stat(image.path)
        found.append({'name': entry, 'image': image.path, 'size_mb': stat.st_size // (1024 * 1024),
                      'saved_at': int(stat.st_mtime), 'type': summary['type'] if config else None,
                      'memory_mb': summary['memory_mb']['target'] if config else None,
                      'vcpus': summary['vcpus']['online'] if config else None})
    return found


def nearest_existing(path):
    """`path`, or its nearest parent that exists (where a directory to be made would be made)."""
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return probe


def free_bytes(path):
    """(free bytes, probe): the space left on the file system that holds `path` or would hold it (probe: its
    nearest existing parent); (None, probe) when probe is not a directory this user can write in."""
    probe = nearest_existing(path)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        return None, probe
    stats = os.statvfs(probe)
    return stats.f_bavail * stats.f_frsize, probe


def save_room_mib(memory_mib):
    """MiB a save directory must have free for a guest of `memory_mib` MiB (see SAVE_OVERHEAD)."""
    return int(memory_mib * (1 + SAVE_OVERHEAD)) + SAVE_SLACK_MIB


class SaveImage(object):
    """The memory image of guest NAME while it is saved: <save_dir>/<name>.

    That is the name Debian's xendomains gives the images it writes when the host shuts down (and
    restores from, then deletes, when it boots), so a guest saved either way is found here. `xl save`
    writes to a hidden temp name in the same directory (xendomains' glob skips it), renamed into place
    once the guest is gone: a save that fails half-way never leaves an image that looks whole.
    """

    def __init__(self, save_dir, name, check=False):
        self.save_dir = save_dir
        self.name = name
        self.check = check
        self.path = os.path.join(save_dir, name)
        self.tmp = os.path.join(save_dir, '.%s.saving' % name)

    def exists(self):
        return os.path.isfile(self.path)

    def size(self):
        return os.path.getsize(self.path) if self.exists() else None

    def config(self):
        """The domain configuration stored in the image (dict, see _xl_parse.save_image_config), or
        None when the image has none; XlParseError when the file is not an xl save image."""
        with open(self.path, 'rb') as handle:
            head = handle.read(parse.SAVE_HEADER_LEN)
            header = parse.save_image_header(head)
            head += handle.read(header['optional_data_len'])
        return parse.save_image_config(head)

    def check_room(self, memory_mib):
        """Refuse (SaveDirError) before anything changes when the directory cannot take the image of a
        guest with `memory_mib` MiB: missing and not creatable, not a directory, not writable, too full."""
        directory = self.save_dir
        probe = nearest_existing(directory)
        if not os.path.isdir(probe):
            raise SaveDirError('save_dir %s cannot hold the memory image of %s: %s is not a directory. Nothing was '
                               'changed.' % (directory, self.name, probe))
        if not os.access(probe, os.W_OK | os.X_OK):
            raise SaveDirError('save_dir %s cannot hold the memory image of %s: %s is not writable for this user. '
                               'Nothing was changed.' % (directory, self.name, probe))
        stats = os.statvfs(probe)
        free_mib = stats.f_bavail * stats.f_frsize // (1024 * 1024)
        need = save_room_mib(memory_mib)
        if free_mib < need:
            raise SaveDirError('save_dir %s has %d MiB free; the memory image of %s (%d MiB of memory) needs about %d '
                               'MiB. Nothing was changed: the guest still runs.'
                               % (directory, free_mib, self.name, memory_mib, need))
        return free_mib

    def prepare(self):
        """The directory exists (mode 0700, as xendomains makes it) and no stale temp file is left."""
        if self.check:
            return
        try:
            if not os.path.isdir(self.save_dir):
                os.makedirs(self.save_dir, 0o700)
            discard_staged(self.tmp)
        except (IOError, OSError) as exc:
            raise SaveDirError('Cannot prepare save_dir %s: %s. Nothing was changed.'
                               % (self.save_dir, exc.strerror or exc))

    def commit(self):
        """The image written by `xl save` to the temp name becomes the guest's image (atomic rename)."""
        os.rename(self.tmp, self.path)
        fsync_dir(self.save_dir)

    def discard_tmp(self):
        if not self.check:
            discard_staged(self.tmp)

    def remove(self):
        """Delete the image; True when there was one."""
        if not self.exists():
            return False
        if not self.check:
            os.unlink(self.path)
            fsync_dir(self.save_dir)
        return True
