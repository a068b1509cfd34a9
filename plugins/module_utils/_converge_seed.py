# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_cloud_init: a guest's cloud-init NoCloud seed image on the dom0. In named steps:
# validate and render the seed (nothing runs before; _seed); read what the image on disk says about
# itself (its recorded content id, read in pure Python: no tool, no timestamps); decide; build the image
# in a private directory and a temporary file beside the path with xorriso (ISO 9660) or mkfs.vfat and
# mcopy (VFAT), check that the result reads back as this seed, and rename it into place; or remove it,
# refusing while a running domain uses it. Check mode takes the same path and builds nothing.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat
import tempfile

from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disklib
from ansible_collections.xenfleet.xen.plugins.module_utils import _seed as seedlib
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    DiskInUseError,
    FileWriteError,
    InvalidSpec,
    ToolCommandError,
)
from ansible_collections.xenfleet.xen.plugins.module_utils._files import commit_staged, discard_staged

# The seed can carry secrets (password hashes, keys): only root reads it (libxl and QEMU run as root).
SEED_MODE = 0o600


def run(module, client):
    """xen_cloud_init: run(module, client) -> result dict (run_module's worker)."""
    seed = validate(module.params)
    client.ensure_xen_host()
    return _Converge(module, client, seed).run()


def validate(p):
    """Refuse bad input before any command runs; returns the rendered seed (None for state=absent)."""
    problem = seedlib.path_problem(p['path'])
    if problem:
        raise InvalidSpec('path', problem)
    if p['state'] == 'absent':
        return None
    return seedlib.render(p['user_data'], p['meta_data'], p['network_config'], p['format'])


def file_reader(path):
    """A read(offset, length) function over a file, for _seed's image readers."""
    def read(offset, length):
        with open(path, 'rb') as handle:
            handle.seek(offset)
            return handle.read(length)
    return read


class _Converge(object):

    def __init__(self, module, client, seed):
        self.module = module
        self.client = client
        self.seed = seed
        self.p = module.params
        self.path = self.p['path']
        self.check = module.check_mode
        self.image = None
        self.exists = False
        self.used_by = []
        self.changed = False
        self.last = None

    def run(self):
        self.read_image()
        if self.seed is None:
            self.remove()
        elif not seedlib.up_to_date(self.image, self.seed):
            self.changed = True
            self.read_users()
            self.warn_users()
            if not self.check:
                self.build()
        return self.result()

    # -- read ----------------------------------------------------------------------------------

    def read_image(self):
        try:
            mode = os.stat(self.path).st_mode
        except OSError:
            return
        if stat.S_ISDIR(mode):
            raise InvalidSpec('path', '%s is a directory: give the seed image file, e.g. %s/web1.iso'
                              % (self.path, self.path.rstrip('/')))
        if not stat.S_ISREG(mode):
            raise InvalidSpec('path', '%s exists and is not a regular file (a device?); a seed is an image file'
                              % self.path)
        self.exists = True
        try:
            self.image = seedlib.read_image(file_reader(self.path))
        except (IOError, OSError) as exc:
            raise FileWriteError('Cannot read %s: %s' % (self.path, exc.strerror or exc))

    def read_users(self):
        """The running domains that have the image as a disk (`xl list -l`)."""
        found = disklib.attachments(self.client.domains(), [self.path], os.path.realpath)
        self.used_by = [{'name': dom.get('name'), 'vdev': disk.get('vdev')} for dom, disk in found]

    def warn_users(self):
        for user in self.used_by:
            self.module.warn('Domain %s uses %s (%s): it keeps the seed it was started with; it reads the new one '
                             'when it next starts (a reboot, or a shutdown and create).'
                             % (user['name'], self.path, user['vdev']))
        if self.exists and (self.p['meta_data'] or {}).get('instance-id') is not None:
            self.module.warn('meta_data sets instance-id %s: cloud-init acts on a seed only when its instance-id is '
                             'new to the guest, so a guest that booted with this instance-id ignores the changed '
                             'seed. Leave instance-id unset to have it derived from the content.'
                             % self.seed.instance_id)

    # -- act -----------------------------------------------------------------------------------

    def remove(self):
        if not self.exists:
            return
        self.read_users()
        if self.used_by:
            raise DiskInUseError('state=absent refused: %s is a disk of %s; remove the disk from the domain '
                                 '(xenfleet.xen.xen_domain disks) or stop the domain first. Nothing was changed.'
                                 % (self.path, ', '.join('domain %s (%s)' % (u['name'], u['vdev'])
                                                         for u in self.used_by)))
        self.changed = True
        if not self.check:
            try:
                os.unlink(self.path)
            except OSError as exc:
                raise FileWriteError('Cannot remove %s: %s' % (self.path, exc.strerror or exc))

    def build(self):
        """Render the files into a private directory, build the image in a temporary file beside the path,
        check it reads back as this seed, and rename it into place."""
        workdir = tempfile.mkdtemp(prefix='seed.', dir=self.module.tmpdir)
        names = []
        for name, data in self.seed.files.items():
            names.append(self._write(workdir, name, data))
        tmp = self._temp_image()
        try:
            if self.seed.format == 'iso':
                self._tool(hostcmd.iso_seed(tmp, workdir, seedlib.LABEL, self.seed.id_line))
            else:
                names.append(self._write(workdir, seedlib.ID_FILE, (self.seed.id_line + '\n').encode('ascii')))
                os.truncate(tmp, seedlib.vfat_size_kib(self.seed) * 1024)
                serial = self.seed.content_id.split(':')[1][:8]
                self._tool(hostcmd.vfat_format(tmp, seedlib.VFAT_LABEL, serial))
                self._tool(hostcmd.vfat_copy(tmp, names))
            self._verify(tmp)
            _fsync(tmp)
            commit_staged(self.module, tmp, self.path)
        finally:
            discard_staged(tmp)

    def _write(self, workdir, name, data):
        path = os.path.join(workdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SEED_MODE)
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        os.utime(path, (hostcmd.SEED_MTIME, hostcmd.SEED_MTIME))
        return path

    def _temp_image(self):
        directory = os.path.dirname(self.path)
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o755)
            fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(self.path), suffix='.tmp', dir=directory)
            os.close(fd)
            os.chmod(tmp, SEED_MODE)
        except (IOError, OSError) as exc:
            raise FileWriteError('Cannot write a seed image in %s: %s. Nothing was changed.'
                                 % (directory, exc.strerror or exc))
        return tmp

    def _tool(self, argv):
        self.last = self.client.run_tool(argv)
        return self.last

    def _verify(self, tmp):
        """The tool's exit code is not trusted: the image must read back as this seed."""
        image = seedlib.read_image(file_reader(tmp))
        if not seedlib.up_to_date(image, self.seed):
            last = self.last
            raise ToolCommandError('`%s` exited 0 but the image it wrote does not read back as the seed (found %s); '
                                   '%s was left as it was.' % (' '.join(last.cmd), image, self.path),
                                   cmd=last.cmd, rc=last.rc, stdout=last.stdout, stderr=last.stderr)

    # -- result --------------------------------------------------------------------------------

    def result(self):
        p = self.p
        result = {'changed': self.changed, 'path': self.path, 'state': p['state'], 'used_by': self.used_by}
        if self.seed is not None:
            result.update(format=self.seed.format, instance_id=self.seed.instance_id,
                          content_id=self.seed.content_id)
        if self.module._diff:
            result['diff'] = {'before': self.before(), 'after': self.after(),
                              'before_header': self.path, 'after_header': self.path}
        return result

    def before(self):
        if not self.exists:
            return {'state': 'absent'}
        image = self.image or {}
        return {'state': 'present', 'format': image.get('format'), 'content_id': seedlib.content_id_of(self.image)}

    def after(self):
        if self.seed is None:
            return {'state': 'absent'}
        if not self.changed:
            return self.before()
        return dict(state='present', **self.seed.redacted())


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
