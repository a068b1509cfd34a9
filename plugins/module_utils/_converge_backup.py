# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_backup: export a guest (its config file, its disks as qcow2 images, its memory image when
# it is saved or the exported snapshot has one) to a backup directory, remove a backup, and import a backup
# as a guest of this host. Layout and plans: _backup.
#
# Consistency: a guest is exported while it does not run (shut off, or saved: its disks are quiet), or from
# one of its snapshots (xen_snapshot) while it runs on. An export is written under a hidden partial name and
# renamed into place when complete; an import verifies every file against the manifest's checksums before it
# writes anything, builds each disk, the memory image and the config file under temporary names, and renames
# them into place only when all of them are complete: a failure leaves nothing of the guest behind.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import hashlib
import os
import shutil
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _backup as bk
from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _files as files
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as life
from ansible_collections.xenfleet.xen.plugins.module_utils import _snapshot as snap
from ansible_collections.xenfleet.xen.plugins.module_utils import _storage as storage
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    BackupCorruptError,
    BackupError,
    DomainNotFoundError,
    GuestRunningError,
    InvalidSpec,
    XenError,
)

CHUNK = 1024 * 1024
NEW_FILE_MODE = 0o600     # an imported disk or memory image holds the guest's data
GZIP_LEVEL = 1            # a memory image: most of the gain, a fraction of the time of the default level


def run(module, client):
    """xen_backup: run(module, client) -> result dict (run_module's worker)."""
    spec = bk.validate(module.params)
    if module.params.get('copy_timeout') is not None and module.params['copy_timeout'] <= 0:
        raise InvalidSpec('copy_timeout', 'must be a positive number of seconds, got %r' % module.params['copy_timeout'])
    client.ensure_xen_host()
    return _Converge(module, client, spec).run()


def _now():
    return time.time()


def hash_file(path):
    """(bytes, SHA-256 hex) of a file's content."""
    digest = hashlib.sha256()
    size = 0
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
    return size, digest.hexdigest()


class _HashingWriter(object):
    """A file object that counts and hashes (SHA-256) what is written through it."""

    def __init__(self, raw):
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self):
        self.raw.flush()


def copy_file(src, dst, compress=False):
    """Copy src to dst (gzip-compressed with compress), on disk (fsync); returns (bytes, SHA-256) of dst, hashed as
    it is written (not read back)."""
    with open(src, 'rb') as source:
        with open(dst, 'wb') as raw:
            hashed = _HashingWriter(raw)
            target = gzip.GzipFile(filename='', mode='wb', compresslevel=GZIP_LEVEL, fileobj=hashed, mtime=0) \
                if compress else hashed
            try:
                shutil.copyfileobj(source, target, CHUNK)
            finally:
                if compress:
                    target.close()
            raw.flush()
            os.fsync(raw.fileno())
    return hashed.size, hashed.digest.hexdigest()


def gunzip_file(src, dst):
    """Decompress a gzip file to dst, on disk (fsync)."""
    with gzip.open(src, 'rb') as source:
        with open(dst, 'wb') as target:
            shutil.copyfileobj(source, target, CHUNK)
            target.flush()
            os.fsync(target.fileno())


class _Converge(object):

    def __init__(self, module, client, spec):
        self.module = module
        self.client = client
        self.spec = spec
        self.check = module.check_mode
        self.name = spec['name']
        self.params = module.params
        self.storage = storage.HostStorage(client, module.params.get('copy_timeout'))
        self.final = bk.backup_path(spec['backup_dir'], self.name, spec['backup'])
        self.partial = bk.partial_path(spec['backup_dir'], self.name, spec['backup'])
        self.applied = []

    def step(self, text):
        self.applied.append(text)

    def tool(self, argv, long=False, check=True, mutating=True):
        return self.storage.tool(argv, long=long, check=check, mutating=mutating)

    def read_backup(self):
        """The backup's manifest (None when there is no backup directory); BackupError for one we cannot read."""
        if not os.path.lexists(self.final):
            return None
        where = os.path.join(self.final, bk.MANIFEST)
        try:
            return bk.parse_manifest(files.read_text(where) or '', where)
        except ValueError as exc:
            raise BackupError('%s exists but is not a readable backup: %s' % (self.final, exc))

    def run(self):
        data = self.read_backup()
        before = bk.summary(data, self.final) if data else None
        state = self.spec['state']
        result = {}
        if state == 'present':
            if data is None:
                data, result = self.export()
        elif state == 'absent':
            if data is not None or os.path.lexists(self.final):
                self.remove()
            data = None
        else:
            if data is None:
                raise InvalidSpec('backup', 'there is no backup %s of %s in %s (its backups there: %s)'
                                  % (self.spec['backup'], self.name, self.spec['backup_dir'],
                                     ', '.join(self.list_backups()) or 'none'))
            result = self.import_(data)
        after = bk.summary(data, self.final) if data else None
        result.update(changed=bool(self.applied), applied=self.applied, backup=after)
        if self.module._diff:
            header = 'backup %s of %s' % (self.spec['backup'], self.name)
            result['diff'] = {'before': {'backup': before and self.diff_view(before)},
                              'after': {'backup': after and self.diff_view(after)},
                              'before_header': header, 'after_header': header}
            if state == 'imported':
                result['diff']['before']['guest'] = None if self.applied else result.get('name')
                result['diff']['after']['guest'] = result.get('name')
        return result

    @staticmethod
    def diff_view(found):
        return dict(path=found['path'], memory=found['memory'], disks=[d['vdev'] for d in found['disks']])

    def list_backups(self):
        gdir = bk.guest_dir(self.spec['backup_dir'], self.name)
        if not os.path.isdir(gdir):
            return []
        return sorted(e for e in os.listdir(gdir) if not e.startswith('.')
                      and os.path.isfile(os.path.join(gdir, e, bk.MANIFEST)))

    # -- export ----------------------------------------------------------------------------------

    def export(self):
        spec = self.spec
        if spec['snapshot'] is not None:
            source, config, memory, disks = self.from_snapshot()
        else:
            source, config, memory, disks = self.from_guest()
        entries, skipped = bk.plan_export(disks)
        memory_bytes = os.path.getsize(memory) if memory else 0
        self.check_room(entries, memory_bytes)
        if os.path.lexists(self.final):
            raise BackupError('%s exists but holds no readable backup: remove it (or use another backup name); '
                              'nothing was changed' % self.final)
        compress = spec['compress']
        what = {'snapshot': 'snapshot %s of %s' % (spec['snapshot'], self.name),
                'saved': '%s (saved: with its memory image)' % self.name,
                'shutoff': '%s (shut off)' % self.name}[source['kind']]
        self.step('export %s to %s' % (what, self.final))
        self.step('copy %s' % config)
        for e in entries:
            self.step(' '.join(hostcmd.qemu_img_export(e['read'], e['format'], os.path.join(self.partial, e['file']),
                                                       compress)))
        if memory:
            self.step('copy %s%s' % (memory, ' (gzip)' if compress else ''))
        created = int(_now())
        if self.check:
            planned = [dict(e, bytes=None, sha256=None) for e in entries]
            data = bk.manifest(self.name, spec['backup'], created, source, planned, skipped,
                               dict(file=bk.CONFIG, bytes=None, sha256=None),
                               dict(file=bk.memory_file(compress), bytes=None, sha256=None) if memory else None,
                               compress)
            return data, {'seconds': None}
        started = _now()
        data = self.export_now(created, source, config, memory, entries, skipped)
        return data, {'seconds': round(_now() - started, 2)}

    def from_guest(self):
        """The guest on this host, shut off or saved: (source, config file, memory image or None, disks)."""
        dom = life.find_domain(self.client, self.name, need_config=False)
        if dom is not None:
            raise GuestRunningError('%s runs (domain id %s): its disks change while it runs, so it is exported shut '
                                    'off, saved (xen_domain state saved: its memory comes along), or from one of '
                                    'its snapshots (option snapshot). Nothing was changed.' % (self.name, dom['domid']))
        config = files.config_path(self.params['config_dir'], self.name)
        if not os.path.isfile(config):
            raise DomainNotFoundError('%s is neither a domain on this host nor defined in %s' % (self.name, config))
        image = files.SaveImage(self.params['save_dir'], self.name)
        memory = image.path if image.exists() else None
        disks = [self.storage.describe(d, writable_only=False) for d in self.config_disks(config)]
        return dict(kind='saved' if memory else 'shutoff', snapshot=None), config, memory, disks

    def config_disks(self, path):
        try:
            settings = xlcfg.parse(files.read_text(path) or '')
            return [xlcfg.parse_disk_spec(s) for s in settings.get('disk') or []]
        except xlcfg.XlConfigError as exc:
            raise InvalidSpec('name', 'cannot read the disks of %s from %s: %s' % (self.name, path, exc))

    def from_snapshot(self):
        """Snapshot `snapshot` of the guest (xen_snapshot): its config file, memory image and disks (read from
        the snapshot's copies and volumes; the read-only disks from where they are)."""
        spec = self.spec
        path = snap.snapshot_path(spec['snapshot_dir'], self.name, spec['snapshot'])
        where = os.path.join(path, snap.MANIFEST)
        text = files.read_text(where)
        if text is None:
            raise InvalidSpec('snapshot', '%s has no snapshot %s in %s'
                              % (self.name, spec['snapshot'], spec['snapshot_dir']))
        try:
            data = snap.parse_manifest(text, where)
        except ValueError as exc:
            raise InvalidSpec('snapshot', str(exc))
        config = os.path.join(path, snap.CONFIG)
        if not os.path.isfile(config):
            raise InvalidSpec('snapshot', 'snapshot %s of %s has no config file (%s): it was taken of a guest without '
                                          'one, and a backup needs it' % (spec['snapshot'], self.name, config))
        memory = os.path.join(path, snap.MEMORY) if data.get('memory') else None
        if memory and not os.path.isfile(memory):
            raise InvalidSpec('snapshot', 'snapshot %s records memory but %s is missing' % (spec['snapshot'], memory))
        taken = dict((d['vdev'], d) for d in data['disks'])
        disks = []
        for d in self.config_disks(config):
            described = self.storage.describe(d, writable_only=False)
            record = taken.get(d.get('vdev'))
            if record is not None:
                if record['method'] == snap.METHOD_COPY:
                    described['read'] = os.path.join(path, record['copy'])
                    if described.get('kind') == 'missing':     # the disk itself is gone: the copy is the disk
                        described.update(kind='file', allocated=os.stat(described['read']).st_blocks * 512)
                else:
                    described['read'] = disk.lv_path(record['vg'], record['snapshot_lv'])
                    lv = self.storage.lvs(record['vg']).get(record['snapshot_lv'])
                    if lv is None:
                        raise InvalidSpec('snapshot', 'snapshot %s lacks its LV %s/%s' % (
                            spec['snapshot'], record['vg'], record['snapshot_lv']))
                    if record['method'] == snap.METHOD_THICK and lv['attr'][4:5] == 'I':
                        raise InvalidSpec('snapshot', 'the LVM snapshot %s/%s is invalid (it ran out of copy-on-'
                                                      'write space)' % (record['vg'], record['snapshot_lv']))
            elif not (described.get('cdrom') or described.get('access') == 'ro'):
                raise InvalidSpec('snapshot', 'disk %s of %s is not in snapshot %s'
                                  % (d.get('vdev'), self.name, spec['snapshot']))
            disks.append(described)
        return dict(kind='snapshot', snapshot=spec['snapshot']), config, memory, disks

    def check_room(self, entries, memory_bytes):
        need = bk.export_bytes(entries, memory_bytes)
        free, probe = files.free_bytes(self.spec['backup_dir'])
        if free is None:
            raise InvalidSpec('backup_dir', '%s cannot hold backups: %s is not a writable directory; nothing was '
                                            'changed' % (self.spec['backup_dir'], probe))
        if free < need:
            raise InvalidSpec('backup_dir', '%s has %s free; the backup of %s needs up to %s (the data its disks hold%s, '
                                            'before compression); nothing was changed'
                              % (self.spec['backup_dir'], disk.format_size(free), self.name, disk.format_size(need),
                                 ' and its memory image' if memory_bytes else ''))

    def export_now(self, created, source, config, memory, entries, skipped):
        compress = self.spec['compress']
        gdir = bk.guest_dir(self.spec['backup_dir'], self.name)
        try:
            for directory in (self.spec['backup_dir'], gdir):
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o700)   # disks and memory images hold the guest's secrets
            if os.path.lexists(self.partial):
                shutil.rmtree(self.partial)
            os.mkdir(self.partial, 0o700)
            size, digest = copy_file(config, os.path.join(self.partial, bk.CONFIG))
            config_piece = dict(file=bk.CONFIG, bytes=size, sha256=digest)
            for e in entries:
                out = os.path.join(self.partial, e['file'])
                self.tool(hostcmd.qemu_img_export(e['read'], e['format'], out, compress), long=True)
                res = self.tool(hostcmd.qemu_img_info(out), mutating=False)
                try:
                    e['virtual_size'] = disk.parse_qemu_img_info(res.stdout)['virtual_size']
                except disk.DiskParseError as exc:
                    raise BackupError(str(exc), cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
                e['bytes'], e['sha256'] = hash_file(out)
            memory_piece = None
            if memory:
                name = bk.memory_file(compress)
                size, digest = copy_file(memory, os.path.join(self.partial, name), compress=compress)
                memory_piece = dict(file=name, bytes=size, sha256=digest, image_bytes=os.path.getsize(memory))
            data = bk.manifest(self.name, self.spec['backup'], created, source, entries, skipped, config_piece,
                               memory_piece, compress)
            with open(os.path.join(self.partial, bk.MANIFEST), 'w') as handle:
                handle.write(bk.render_manifest(data))
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(self.partial, self.final)
            files.fsync_dir(gdir)
            return data
        except (XenError, IOError, OSError) as exc:
            shutil.rmtree(self.partial, ignore_errors=True)
            raise BackupError('backup %s of %s not written (nothing of it is left): %s'
                              % (self.spec['backup'], self.name, getattr(exc, 'msg', None) or exc),
                              cmd=getattr(exc, 'cmd', None), rc=getattr(exc, 'rc', None),
                              stdout=getattr(exc, 'stdout', None), stderr=getattr(exc, 'stderr', None))

    # -- absent ----------------------------------------------------------------------------------

    def remove(self):
        self.step('remove %s' % self.final)
        if self.check:
            return
        doomed = os.path.join(bk.guest_dir(self.spec['backup_dir'], self.name), '.%s.removing' % self.spec['backup'])
        try:
            if os.path.lexists(doomed):
                shutil.rmtree(doomed)
            os.rename(self.final, doomed)   # gone at once: a half-removed backup is never taken for a whole one
        except (IOError, OSError) as exc:
            raise BackupError('cannot remove %s: %s' % (self.final, exc))
        shutil.rmtree(doomed, ignore_errors=True)

    # -- import ----------------------------------------------------------------------------------

    def import_(self, data):
        name, targets, memory = bk.plan_import(data, self.spec)
        config_path = files.config_path(self.params['config_dir'], name)
        image = files.SaveImage(self.params['save_dir'], name)
        dom = life.find_domain(self.client, name, need_config=False)
        if dom is not None or os.path.lexists(config_path) or image.exists():
            # imported once already (or a guest of that name lives here): the import is not repeated
            return {'name': name, 'imported': False, 'config': config_path, 'memory': image.exists(),
                    'seconds': None}
        self.verify(data)
        text = files.read_text(os.path.join(self.final, data['config']['file'])) or ''
        try:
            new_text = bk.rewrite_config(text, name, targets)
            macs = bk.fixed_macs(text) if name != data['guest'] else []
        except xlcfg.XlConfigError as exc:
            raise BackupCorruptError('the config file of backup %s cannot be read: %s; nothing was imported'
                                     % (data['backup'], exc))
        self.check_targets(targets, memory and data['memory'])
        self.step('verified %d files of %s against its manifest' % (len(bk.pieces(data)), self.final))
        for t in targets:
            self.step(self.describe_import(t))
        if memory:
            self.step('memory image to %s (%s starts from it: xen_domain state running restores it)'
                      % (image.path, name))
        self.step('write %s' % config_path)
        if macs:
            self.client.warnings.append('%s is a copy of %s with the same MAC addresses (%s): change them before both '
                                        'run on one network' % (name, data['guest'], ', '.join(macs)))
        result = {'name': name, 'imported': True, 'config': config_path, 'memory': memory, 'seconds': None}
        if not self.check:
            started = _now()
            self.import_now(data, targets, memory, image, config_path, new_text)
            result['seconds'] = round(_now() - started, 2)
        return result

    def verify(self, data):
        """Every file the manifest records is there, of its size and checksum (BackupCorruptError otherwise)."""
        for what, name, size, digest in bk.pieces(data):
            path = os.path.join(self.final, name)
            try:
                found_size = os.path.getsize(path)
                if found_size != size:
                    raise BackupCorruptError('backup %s is damaged: %s (%s) has %d bytes, the manifest records %d; '
                                             'nothing was imported' % (data['backup'], what, path, found_size, size))
                found = hash_file(path)[1]
            except (IOError, OSError) as exc:
                raise BackupCorruptError('backup %s is incomplete: %s (%s) cannot be read: %s; nothing was imported'
                                         % (data['backup'], what, path, getattr(exc, 'strerror', None) or exc))
            if found != digest:
                raise BackupCorruptError('backup %s is damaged: %s (%s) has SHA-256 %s, the manifest records %s; '
                                         'nothing was imported' % (data['backup'], what, path, found, digest))

    def check_targets(self, targets, memory_piece):
        """Refuse before any change: a target that exists, a volume group or thin pool that does not, too little
        room."""
        need_files = {}
        need_vg = {}
        for t in targets:
            if t['kind'] == bk.KIND_FILE:
                if os.path.lexists(t['target']):
                    raise InvalidSpec('disks', '%s exists already: an import never overwrites a disk (remove it, or '
                                               'map disk %s to another target)' % (t['target'], t['vdev']))
                free, probe = files.free_bytes(os.path.dirname(t['target']))
                if free is None:
                    raise InvalidSpec('disks', 'disk %s cannot be written to %s: %s is not a writable directory'
                                      % (t['vdev'], t['target'], probe))
                key = os.stat(probe).st_dev
                need_files.setdefault(key, [probe, free, 0])[2] += t['allocated'] or t['bytes']
                continue
            vgs = self.storage.vgs()
            if t['vg'] not in vgs:
                raise InvalidSpec('disks', 'disk %s goes to %s, but this host has no volume group %s (it has: %s)'
                                  % (t['vdev'], t['target'], t['vg'], ', '.join(sorted(vgs)) or 'none'))
            lvs = self.storage.lvs(t['vg'])
            if t['lv'] in lvs:
                raise InvalidSpec('disks', '%s exists already: an import never overwrites a disk (remove it, or map '
                                           'disk %s to another target)' % (t['target'], t['vdev']))
            if t.get('thin_pool'):
                pool = lvs.get(t['thin_pool'])
                if pool is None or not pool['thin_pool']:
                    raise InvalidSpec('disks', 'disk %s was a thin volume of pool %s, which volume group %s does not '
                                               'have: map it (disks: thin_pool, or a thick target without it)'
                                      % (t['vdev'], t['thin_pool'], t['vg']))
            else:
                extent = vgs[t['vg']]['extent'] or 1
                need_vg[t['vg']] = need_vg.get(t['vg'], 0) + disk.round_up(t['size'], extent)
        for vg, need in sorted(need_vg.items()):
            free = self.storage.vgs()[vg]['free']
            if free < need:
                raise InvalidSpec('disks', 'volume group %s has %s free; the disks imported into it need %s'
                                  % (vg, disk.format_size(free), disk.format_size(need)))
        for probe, free, need in need_files.values():
            if free < need:
                raise InvalidSpec('disks', '%s has %s free; the disks imported there need up to %s'
                                  % (probe, disk.format_size(free), disk.format_size(need)))
        if memory_piece:
            need = memory_piece.get('image_bytes') or memory_piece['bytes']
            free, probe = files.free_bytes(self.params['save_dir'])
            if free is None or free < need:
                raise InvalidSpec('save_dir', '%s cannot take the memory image (%s): %s' % (
                    self.params['save_dir'], disk.format_size(need),
                    '%s is not a writable directory' % probe if free is None else 'it has %s free'
                    % disk.format_size(free)))

    def describe_import(self, t):
        src = os.path.join(self.final, t['file'])
        if t['kind'] == bk.KIND_FILE:
            return '%s: %s, renamed to %s' % (t['vdev'], ' '.join(hostcmd.qemu_img_convert(
                src, bk.DISK_FORMAT, disk.tmp_path(t['target']), t['format'])), t['target'])
        tmp = disk.tmp_lv(t['lv'])
        return '%s: %s; %s; lvrename to %s' % (
            t['vdev'], ' '.join(hostcmd.lvcreate(t['vg'], tmp, t['size'], thin_pool=t.get('thin_pool'))),
            ' '.join(hostcmd.qemu_img_convert(src, bk.DISK_FORMAT, disk.lv_path(t['vg'], tmp), 'raw',
                                              existing_target=True, target_is_zero=bool(t.get('thin_pool')))),
            t['target'])

    def import_now(self, data, targets, memory, image, config_path, text):
        staged = []       # (kind, target dict or None, temporary path or LV)
        committed = []
        staged_config = None
        try:
            for t in targets:
                src = os.path.join(self.final, t['file'])
                if t['kind'] == bk.KIND_FILE:
                    tmp = disk.tmp_path(t['target'])
                    if not os.path.isdir(os.path.dirname(t['target'])):
                        os.makedirs(os.path.dirname(t['target']), 0o755)
                    if os.path.lexists(tmp):
                        os.unlink(tmp)
                    staged.append(('file', t, tmp))
                    self.tool(hostcmd.qemu_img_convert(src, bk.DISK_FORMAT, tmp, t['format']), long=True)
                    os.chmod(tmp, NEW_FILE_MODE)
                else:
                    tmp = disk.tmp_lv(t['lv'])
                    if tmp in self.storage.lvs(t['vg']):       # left by an interrupted import
                        self.tool(hostcmd.lvremove(t['vg'], tmp))
                    self.tool(hostcmd.lvcreate(t['vg'], tmp, t['size'], thin_pool=t.get('thin_pool')))
                    staged.append(('lv', t, tmp))
                    self.tool(hostcmd.qemu_img_convert(src, bk.DISK_FORMAT, disk.lv_path(t['vg'], tmp), 'raw',
                                                       existing_target=True, target_is_zero=bool(t.get('thin_pool'))),
                              long=True)
            if memory:
                image.prepare()
                staged.append(('image', None, image.tmp))
                src = os.path.join(self.final, data['memory']['file'])
                if data['memory']['file'] == bk.MEMORY_GZ:
                    gunzip_file(src, image.tmp)
                else:
                    copy_file(src, image.tmp)
                os.chmod(image.tmp, NEW_FILE_MODE)
            staged_config = files.stage_file(self.module, config_path, text, files.mode_for(text))
            for kind, t, tmp in staged:
                if kind == 'file':
                    os.rename(tmp, t['target'])
                elif kind == 'lv':
                    self.tool(hostcmd.lvrename(t['vg'], tmp, t['lv']))
                else:
                    image.commit()
                committed.append((kind, t))
            files.commit_staged(self.module, staged_config, config_path)
        except (XenError, IOError, OSError) as exc:
            left = self.undo(staged, committed, image)
            files.discard_staged(staged_config)
            raise BackupError('importing backup %s as %s failed: %s. %s'
                              % (data['backup'], data['guest'] if not self.spec['new_name'] else self.spec['new_name'],
                                 getattr(exc, 'msg', None) or exc,
                                 'Nothing of it is left.' if not left else 'Could not remove: %s.' % ', '.join(left)),
                              cmd=getattr(exc, 'cmd', None), rc=getattr(exc, 'rc', None),
                              stdout=getattr(exc, 'stdout', None), stderr=getattr(exc, 'stderr', None))

    def undo(self, staged, committed, image):
        """Remove what an interrupted import made (temporary and renamed alike); returns what could not be."""
        left = []
        done = set(id(t) for _kind, t in committed if t is not None)
        for kind, t, tmp in staged:
            try:
                if kind == 'file':
                    for path in (tmp, t['target'] if id(t) in done else None):
                        if path and os.path.lexists(path):
                            os.unlink(path)
                elif kind == 'lv':
                    lv = t['lv'] if id(t) in done else tmp
                    res = self.tool(hostcmd.lvremove(t['vg'], lv), check=False)
                    if res.rc != 0:
                        left.append(disk.lv_path(t['vg'], lv))
                else:
                    image.discard_tmp()
                    if any(k == 'image' for k, _t in committed):
                        image.remove()
            except (XenError, IOError, OSError):
                left.append(tmp if kind != 'lv' else disk.lv_path(t['vg'], tmp))
        return left
