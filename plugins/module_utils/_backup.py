# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Backups of a guest (xen_backup), the pure part: the declaration, where a backup lives, what is exported
# of each disk, the manifest with its checksums, and the plan of an import (targets, the config file
# rewritten for a new name or new disk paths). No I/O: _converge_backup reads the host and runs the steps.
#
# A backup B of guest G is the directory <backup_dir>/G/B holding manifest.json, the guest's config file
# (config.cfg), each disk as a qcow2 image (disk-<vdev>.qcow2: holes skipped, zlib-compressed clusters
# with compress, backing files flattened - an export stands alone), and, when the guest was saved or the
# exported snapshot has it, its memory image (memory, gzip-compressed as memory.gz with compress). It is
# written under <backup_dir>/G/.B.partial and renamed into place once complete; the manifest records the
# size and SHA-256 of every file, so an import refuses a backup that is incomplete or damaged before it
# writes anything.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import posixpath
import re

from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _snapshot as snap
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec

STATES = ('present', 'absent', 'imported')
MANIFEST = 'manifest.json'
CONFIG = 'config.cfg'
MEMORY = 'memory'
MEMORY_GZ = 'memory.gz'
FORMAT = 'xenfleet.xen backup'
MANIFEST_VERSION = 1
DISK_FORMAT = 'qcow2'          # how every disk is stored in a backup
IMPORT_FORMATS = ('raw', 'qcow2')
LV_PATH_RE = re.compile(r'^/dev/([^/]+)/([^/]+)$')
# Where a guest's disk may be exported from: what it is on the host (_storage.HostStorage.describe).
KIND_FILE = 'file'
KIND_LV = 'lv'


def validate(p):
    """The declaration from the module's parameters, or InvalidSpec naming the parameter: name, backup,
    backup_dir, state, snapshot, snapshot_dir, compress, new_name, disks ({vdev: dict(target, thin_pool)}),
    memory."""
    problem = xlcfg.name_problem(p['name'])
    if problem:
        raise InvalidSpec('name', '%r %s' % (p['name'], problem))
    problem = snap.name_problem(p.get('backup'))
    if problem:
        raise InvalidSpec('backup', '%r %s' % (p.get('backup'), problem))
    directory = p.get('backup_dir')
    if not directory or not directory.startswith('/'):
        raise InvalidSpec('backup_dir', '%r is not an absolute path' % (directory,))
    state = p['state']
    spec = dict(name=p['name'], backup=p['backup'], backup_dir=posixpath.normpath(directory), state=state,
                snapshot=p.get('snapshot'), compress=p.get('compress', True), new_name=p.get('new_name'),
                disks={}, memory=p.get('memory', True))
    snapshot_dir = p.get('snapshot_dir') or snap.DEFAULT_SNAPSHOT_DIR
    if not snapshot_dir.startswith('/'):
        raise InvalidSpec('snapshot_dir', '%r is not an absolute path' % snapshot_dir)
    spec['snapshot_dir'] = posixpath.normpath(snapshot_dir)
    if spec['snapshot'] is not None:
        if state != 'present':
            raise InvalidSpec('snapshot', 'applies to state present (exporting a snapshot), got state %s' % state)
        problem = snap.name_problem(spec['snapshot'])
        if problem:
            raise InvalidSpec('snapshot', '%r %s' % (spec['snapshot'], problem))
    if spec['new_name'] is not None:
        if state != 'imported':
            raise InvalidSpec('new_name', 'applies to state imported, got state %s' % state)
        problem = xlcfg.name_problem(spec['new_name'])
        if problem:
            raise InvalidSpec('new_name', '%r %s' % (spec['new_name'], problem))
    raw = p.get('disks') or []
    if raw and state != 'imported':
        raise InvalidSpec('disks', 'applies to state imported, got state %s' % state)
    for index, entry in enumerate(raw):
        where = 'disks[%d]' % index
        vdev, target = entry.get('vdev'), entry.get('target')
        if not vdev or not xlcfg.VDEV_RE.match(str(vdev)):
            raise InvalidSpec(where, 'vdev %r is not a virtual device name such as xvda' % (vdev,))
        if vdev in spec['disks']:
            raise InvalidSpec(where, 'vdev %s is given twice' % vdev)
        if not target or not str(target).startswith('/') or '\n' in target:
            raise InvalidSpec(where, 'target %r is not an absolute path (an image file, or /dev/VG/LV for a '
                                     'logical volume)' % (target,))
        target = posixpath.normpath(target)
        thin_pool = entry.get('thin_pool')
        if thin_pool is not None:
            if not LV_PATH_RE.match(target):
                raise InvalidSpec(where, 'thin_pool applies to a logical volume target (/dev/VG/LV), not %s' % target)
            problem = disk.lvm_name_problem(thin_pool)
            if problem:
                raise InvalidSpec(where, 'thin_pool %r %s' % (thin_pool, problem))
        if LV_PATH_RE.match(target):
            for part in LV_PATH_RE.match(target).groups():
                problem = disk.lvm_name_problem(part)
                if problem:
                    raise InvalidSpec(where, 'target %s: %r %s' % (target, part, problem))
        spec['disks'][vdev] = dict(target=target, thin_pool=thin_pool)
    return spec


# -- where things are -------------------------------------------------------------------------

# the layout of xen_snapshot's directory: <dir>/<guest>/<name>, built under <dir>/<guest>/.<name>.partial
guest_dir = snap.guest_dir
backup_path = snap.snapshot_path
partial_path = snap.partial_path


def disk_file(vdev):
    return 'disk-%s.%s' % (vdev, DISK_FORMAT)


def memory_file(compress):
    return MEMORY_GZ if compress else MEMORY


# -- export -----------------------------------------------------------------------------------

def plan_export(disks):
    """What is exported of each disk. `disks`: the guest's disks as _storage.HostStorage.describe gives them
    (writable_only=False), each possibly with `read` (the path to read instead of the target: a snapshot's
    copy or volume). A CD-ROM without media is skipped. Returns (entries, skipped): entries are dicts vdev,
    target, format (of the disk), access, cdrom, kind (file or lv; with vg, lv, size, thin_pool for an LV),
    read (the path qemu-img reads), file (its name in the backup) and allocated (bytes the disk holds: an
    upper bound of its export). InvalidSpec('name') names a disk that cannot be exported."""
    entries, skipped = [], []
    for d in disks:
        what = '%s (%s)' % (d['vdev'], d.get('target'))
        if not d.get('target'):
            skipped.append(dict(vdev=d['vdev'], reason='cdrom without media'))
            continue
        entry = dict(vdev=d['vdev'], target=d['target'], format=d.get('format') or 'raw',
                     access=d.get('access') or 'rw', cdrom=bool(d.get('cdrom')), read=d.get('read') or d['target'],
                     file=disk_file(d['vdev']))
        kind = d.get('kind')
        if kind == KIND_FILE:
            entry.update(kind=KIND_FILE, allocated=d.get('allocated') or 0)
        elif kind == KIND_LV:
            lv = d['lv']
            entry.update(kind=KIND_LV, format='raw', vg=d['vg'], lv=lv['name'], size=lv['size'],
                         thin_pool=lv.get('pool') if lv.get('thin') else None,
                         allocated=disk.lv_actual_size(lv))
        elif kind == 'missing':
            raise InvalidSpec('name', 'disk %s does not exist on this host' % what)
        else:
            raise InvalidSpec('name', 'disk %s is %s: xen_backup exports image files and LVM volumes only'
                              % (what, 'a block device that is not a logical volume' if kind == 'block' else kind))
        entries.append(entry)
    return entries, skipped


def export_bytes(entries, memory_bytes=0):
    """Bytes the backup directory needs at most (the disks' data uncompressed, and the memory image)."""
    return sum(e['allocated'] for e in entries) + (memory_bytes or 0)


def manifest(name, backup, created, source, entries, skipped, config, memory, compress):
    """The record of a backup. `source`: dict(kind=shutoff|saved|snapshot, snapshot=NAME or None);
    entries: plan_export's, each completed with bytes and sha256 of its file; config and memory: dicts
    file, bytes, sha256 (memory None when there is none)."""
    return {
        'format': FORMAT,
        'version': MANIFEST_VERSION,
        'guest': name,
        'backup': backup,
        'created': created,
        'source': source,
        'compress': bool(compress),
        'config': config,
        'memory': memory,
        'disks': [dict((k, v) for k, v in e.items() if k != 'read') for e in entries],
        'skipped': skipped,
    }


def render_manifest(data):
    return json.dumps(data, indent=2, sort_keys=True) + '\n'


_FILE_KEYS = ('file', 'bytes', 'sha256')


def parse_manifest(text, where):
    """manifest.json -> dict; ValueError naming `where` when it is not a backup manifest we can read."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError('%s is not a readable backup manifest: %s' % (where, exc))
    if not isinstance(data, dict) or data.get('format') != FORMAT or data.get('version') != MANIFEST_VERSION:
        raise ValueError('%s is not a %s manifest of version %d' % (where, FORMAT, MANIFEST_VERSION))
    for key in ('guest', 'backup', 'created', 'config', 'disks'):
        if key not in data:
            raise ValueError('%s has no %r' % (where, key))
    pieces = [data['config']] + list(data['disks']) + ([data['memory']] if data.get('memory') else [])
    for piece in pieces:
        if not isinstance(piece, dict) or any(k not in piece for k in _FILE_KEYS) or \
                posixpath.basename(str(piece['file'])) != piece['file'] or piece['file'].startswith('.'):
            raise ValueError('%s records a file it does not describe fully (file, bytes, sha256): %r' % (where, piece))
    for d in data['disks']:
        if d.get('kind') not in (KIND_FILE, KIND_LV) or not d.get('vdev') or not d.get('target'):
            raise ValueError('%s records a disk it does not describe fully: %r' % (where, d))
        if d['kind'] == KIND_LV and not (d.get('vg') and d.get('lv') and d.get('size')):
            raise ValueError('%s records a logical volume without vg, lv and size: %r' % (where, d))
    return data


def pieces(data):
    """Every file of a backup, as (what, file, bytes, sha256), in the order an import verifies them."""
    out = [('config', data['config']['file'], data['config']['bytes'], data['config']['sha256'])]
    for d in data['disks']:
        out.append(('disk %s' % d['vdev'], d['file'], d['bytes'], d['sha256']))
    if data.get('memory'):
        m = data['memory']
        out.append(('memory image', m['file'], m['bytes'], m['sha256']))
    return out


def summary(data, path):
    """A backup as the module reports it (bytes null for a backup not written yet: check mode)."""
    sizes = [p[2] for p in pieces(data)]
    return {
        'name': data['backup'],
        'guest': data['guest'],
        'path': path,
        'created': data['created'],
        'source': data.get('source'),
        'compress': data.get('compress'),
        'memory': bool(data.get('memory')),
        'bytes': None if None in sizes else sum(sizes),
        'disks': [dict(vdev=d['vdev'], target=d['target'], kind=d['kind'], file=posixpath.join(path, d['file']),
                       bytes=d['bytes']) for d in data['disks']],
        'skipped': data.get('skipped') or [],
    }


# -- import -----------------------------------------------------------------------------------

def plan_import(data, spec):
    """Where each disk of backup `data` goes on this host, and whether its memory image comes along.

    Returns (name, targets, memory): the guest's name here (spec new_name or the backup's guest); targets:
    per disk dicts vdev, file, format (raw/qcow2 for a file), kind, target, vg/lv/size/thin_pool (an LV),
    moved (the target differs from the backup's); memory: whether the memory image is imported.
    InvalidSpec names the parameter when a mapping or the memory image cannot be honoured."""
    name = spec['new_name'] or data['guest']
    by_vdev = dict((d['vdev'], d) for d in data['disks'])
    unknown = sorted(set(spec['disks']) - set(by_vdev))
    if unknown:
        raise InvalidSpec('disks', 'backup %s has no disk %s (its disks: %s)'
                          % (data['backup'], ', '.join(unknown), ', '.join(sorted(by_vdev))))
    targets = []
    for d in data['disks']:
        mapped = spec['disks'].get(d['vdev'])
        t = dict(vdev=d['vdev'], file=d['file'], bytes=d['bytes'], allocated=d.get('allocated') or 0,
                 format=d.get('format') or 'raw', moved=False)
        if mapped is None or mapped['target'] == d['target'] and mapped.get('thin_pool') is None:
            t.update(kind=d['kind'], target=d['target'])
            if d['kind'] == KIND_LV:
                t.update(vg=d['vg'], lv=d['lv'], size=d['size'], thin_pool=d.get('thin_pool'))
        else:
            t.update(target=mapped['target'], moved=mapped['target'] != d['target'])
            match = LV_PATH_RE.match(mapped['target'])
            if match:
                size = d.get('size') or d.get('virtual_size')
                if not size:
                    raise InvalidSpec('disks', 'disk %s of backup %s is an image file whose size the backup does not '
                                               'record; import it to a file' % (d['vdev'], data['backup']))
                t.update(kind=KIND_LV, format='raw', vg=match.group(1), lv=match.group(2), size=size,
                         thin_pool=mapped.get('thin_pool'))
            else:
                t.update(kind=KIND_FILE)
        if t['kind'] == KIND_FILE and t['format'] not in IMPORT_FORMATS:
            t['format'] = 'raw'
        targets.append(t)
    seen = {}
    for t in targets:
        if t['target'] in seen:
            raise InvalidSpec('disks', 'disks %s and %s would both be %s' % (seen[t['target']], t['vdev'], t['target']))
        seen[t['target']] = t['vdev']
    memory = bool(data.get('memory')) and spec['memory']
    if memory and (name != data['guest'] or any(t['moved'] for t in targets)):
        raise InvalidSpec('memory' if not spec['new_name'] else 'new_name',
                          'backup %s holds the memory image of %s, which records its name and its disks\' paths: it '
                          'can only be imported as %s with its disks where they were. Set memory: false to import '
                          'the disks and config only (the guest then boots afresh)'
                          % (data['backup'], data['guest'], data['guest']))
    return name, targets, memory


def rewrite_config(text, name, targets):
    """The config file of the imported guest: `name` and each moved disk's target set (and, under a new name,
    no fixed uuid), the rest as it was (a file nothing changes is returned as it is). XlConfigError when the
    text cannot be read."""
    updates = {}
    settings = xlcfg.parse(text)
    if settings.get('name') != name:
        updates['name'] = name
        if settings.get('uuid'):
            updates['uuid'] = None      # a copy under another name is another domain: Xen gives it a new UUID
    moved = dict((t['vdev'], t) for t in targets if t['moved'])
    if moved:
        specs = []
        for raw in settings.get('disk') or []:
            parsed = xlcfg.parse_disk_spec(raw)
            t = moved.get(parsed.get('vdev'))
            if t is None:
                specs.append(raw)
                continue
            parsed['target'] = t['target']
            if t['kind'] == KIND_LV:
                parsed['format'] = 'raw'
            specs.append(xlcfg.disk_spec(parsed))
        updates['disk'] = specs
    return xlcfg.set_keys(text, updates) if updates else text


def fixed_macs(text):
    """The MAC addresses a config file fixes for its vifs (a copy imported under a new name has the same)."""
    macs = []
    for raw in xlcfg.parse(text).get('vif') or []:
        mac = xlcfg.parse_vif_spec(raw).get('mac')
        if mac:
            macs.append(mac)
    return macs
