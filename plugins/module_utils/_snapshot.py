# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# Snapshots of a guest (xen_snapshot), the pure part: the declaration, where a snapshot lives, how each
# of the guest's disks is snapshotted and put back (by its backend), the manifest that records it, and
# which snapshots `retain` drops. No I/O: _converge_snapshot reads the host and runs the steps.
#
# A snapshot of guest G named S is the directory <snapshot_dir>/G/S holding manifest.json, the guest's
# config file as it was (config.cfg), its memory image when taken with memory (memory, an `xl save` image),
# and a copy of each image-file disk (disk-<vdev>); an LVM disk's snapshot is an LV beside it
# (<lv>_snap_<S>: a thin snapshot for a thin LV, a thick copy-on-write snapshot otherwise). It is built
# under <snapshot_dir>/G/.S.partial and renamed into place once complete.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import posixpath
import re

from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec
from ansible_collections.xenfleet.xen.plugins.module_utils._options import DEFAULT_SNAPSHOT_DIR

STATES = ('present', 'absent', 'reverted')
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.+-]*$')
NAME_MAX = 64
MANIFEST = 'manifest.json'
CONFIG = 'config.cfg'
MEMORY = 'memory'
LV_INFIX = '_snap_'
MANIFEST_VERSION = 1
# A thick LVM snapshot's copy-on-write space: this share of its origin's size unless lvm_snapshot_size says.
# 100 %: the snapshot can never overflow (and become invalid), whatever the guest writes after it.
DEFAULT_LVM_PERCENT = 100
PERCENT_RE = re.compile(r'^\s*(\d{1,3})\s*%\s*$')

# How a disk is snapshotted, by what it is: the result's `method` of each disk.
METHOD_COPY = 'copy'                 # an image file: copied (sparse; a reflink where the file system has them)
METHOD_THIN = 'lvm-thin-snapshot'    # a thin LV: a thin snapshot in its pool (instant, shares blocks)
METHOD_THICK = 'lvm-snapshot'        # a thick LV: a copy-on-write snapshot (instant; space reserved in the VG)


def name_problem(name):
    """Why `name` cannot name a snapshot, or None."""
    if not name:
        return 'must not be empty'
    if len(name) > NAME_MAX:
        return 'must be at most %d characters' % NAME_MAX
    if not NAME_RE.match(name):
        return ('may only contain letters, digits, "_", ".", "+" and "-", and must start with a letter or digit '
                '(it names a directory and LVM volumes)')
    return None


def validate(p):
    """The declaration from the module's parameters, or InvalidSpec naming the parameter. A dict: name,
    snapshot, state, memory, snapshot_dir, retain, lvm_percent / lvm_size (one of them)."""
    problem = xlcfg.name_problem(p['name'])
    if problem:
        raise InvalidSpec('name', '%r %s' % (p['name'], problem))
    spec = dict(name=p['name'], state=p['state'], memory=bool(p.get('memory')), snapshot=p.get('snapshot'),
                retain=p.get('retain'), lvm_percent=DEFAULT_LVM_PERCENT, lvm_size=None)
    if spec['snapshot'] is None:
        if not (spec['state'] == 'present' and spec['retain'] is not None):
            raise InvalidSpec('snapshot', 'is required with state %s (only state present with retain may leave it '
                                          'out, to drop old snapshots)' % spec['state'])
    else:
        problem = name_problem(spec['snapshot'])
        if problem:
            raise InvalidSpec('snapshot', '%r %s' % (spec['snapshot'], problem))
    directory = p.get('snapshot_dir') or DEFAULT_SNAPSHOT_DIR
    if not directory.startswith('/'):
        raise InvalidSpec('snapshot_dir', '%r is not an absolute path' % directory)
    spec['snapshot_dir'] = posixpath.normpath(directory)
    if spec['retain'] is not None:
        if spec['state'] != 'present':
            raise InvalidSpec('retain', 'applies to state present only (got state %s)' % spec['state'])
        if spec['retain'] < 1:
            raise InvalidSpec('retain', 'must be 1 or more (the number of snapshots of %s to keep), got %d'
                              % (spec['name'], spec['retain']))
    if spec['memory'] and spec['state'] != 'present':
        raise InvalidSpec('memory', 'applies to state present (taking a snapshot); a revert uses the memory image '
                                    'when the snapshot has one')
    size = p.get('lvm_snapshot_size')
    if size is not None:
        match = PERCENT_RE.match(str(size))
        if match:
            percent = int(match.group(1))
            if not 1 <= percent <= 100:
                raise InvalidSpec('lvm_snapshot_size', 'a share of the origin must be 1%% to 100%%, got %s' % size)
            spec['lvm_percent'] = percent
        else:
            try:
                spec['lvm_size'] = disk.parse_size(size)
            except ValueError as exc:
                raise InvalidSpec('lvm_snapshot_size', '%s (a size like 2G, or a share of the origin like 20%%)'
                                  % exc)
            spec['lvm_percent'] = None
    return spec


# -- where things are -------------------------------------------------------------------------

def guest_dir(snapshot_dir, name):
    return posixpath.join(snapshot_dir, name)


def snapshot_path(snapshot_dir, name, snapshot):
    return posixpath.join(snapshot_dir, name, snapshot)


def partial_path(snapshot_dir, name, snapshot):
    return posixpath.join(snapshot_dir, name, '.%s.partial' % snapshot)


def disk_copy_name(vdev):
    return 'disk-%s' % vdev


def lv_snapshot_name(lv, snapshot):
    return '%s%s%s' % (lv, LV_INFIX, snapshot)


# -- what each disk is and how it is snapshotted ------------------------------------------------

def plan_disks(disks, snapshot, lvm_percent=DEFAULT_LVM_PERCENT, lvm_size=None):
    """How to snapshot each disk. `disks`: the guest's disks as read on the host, each a dict with vdev,
    target, format, access, cdrom, kind ('file', 'lv', 'block', 'missing', or another description), and
    for kind 'lv' vg and lv (the parse_lvs entry). Read-only disks and CD-ROMs are not snapshotted (a seed or
    an installer image does not change). Returns (entries, skipped): entries are dicts vdev, source, format,
    method, and (copy) copy = the file name in the snapshot directory, allocated = bytes to copy; (LVM) vg,
    lv, snapshot_lv, cow_bytes (thick: the space it reserves). InvalidSpec('name') for a disk that cannot be
    snapshotted, naming it."""
    entries, skipped = [], []
    for d in disks:
        what = '%s (%s)' % (d['vdev'], d.get('target'))
        if d.get('cdrom') or d.get('access') == 'ro':
            skipped.append(dict(vdev=d['vdev'], source=d.get('target'), reason='read-only' if not d.get('cdrom')
                                else 'cdrom'))
            continue
        kind = d.get('kind')
        if kind == 'file':
            entries.append(dict(vdev=d['vdev'], source=d['target'], format=d.get('format') or 'raw',
                                method=METHOD_COPY, copy=disk_copy_name(d['vdev']),
                                allocated=d.get('allocated') or 0))
        elif kind == 'lv':
            lv = d['lv']
            # a thin snapshot (a linked clone, a reverted thin disk) is a volume like any other; a thick
            # snapshot is not (LVM cannot snapshot it)
            if (lv.get('origin') and not lv.get('thin')) or lv.get('thin_pool'):
                raise InvalidSpec('name', 'disk %s is %s, not a disk volume that can be snapshotted'
                                  % (what, 'a thick snapshot (of %s)' % lv['origin'] if lv.get('origin')
                                     else 'a thin pool'))
            snap_lv = lv_snapshot_name(lv['name'], snapshot)
            problem = disk.lvm_name_problem(snap_lv)
            if problem:
                raise InvalidSpec('snapshot', 'the LVM snapshot of disk %s would be named %s, which %s'
                                  % (what, snap_lv, problem))
            entry = dict(vdev=d['vdev'], source=d['target'], format='raw', vg=d['vg'], lv=lv['name'],
                         snapshot_lv=snap_lv, method=METHOD_THIN if lv.get('thin') else METHOD_THICK, cow_bytes=0)
            if not lv.get('thin'):
                entry['cow_bytes'] = lvm_cow_bytes(lv['size'], lvm_percent, lvm_size)
            entries.append(entry)
        elif kind == 'block':
            raise InvalidSpec('name', 'disk %s is a block device that is not a logical volume: xen_snapshot can '
                                      'snapshot image files and LVM volumes only' % what)
        elif kind == 'missing':
            raise InvalidSpec('name', 'disk %s does not exist on this host' % what)
        else:
            raise InvalidSpec('name', 'disk %s is %s: xen_snapshot can snapshot image files and LVM volumes only'
                              % (what, kind))
    return entries, skipped


def lvm_cow_bytes(origin_size, percent, size):
    """The copy-on-write space of a thick snapshot: `size` bytes, or `percent` of the origin."""
    if size is not None:
        return min(size, origin_size)
    return origin_size * percent // 100


def vg_shortfall(entries, vgs):
    """[(vg, needed, free)] for each volume group whose free space cannot take the thick snapshots planned
    (their COW space rounded up to whole extents); vgs: parse_vgs."""
    need = {}
    for e in entries:
        if e['method'] == METHOD_THICK:
            extent = vgs[e['vg']]['extent'] or 1
            need[e['vg']] = need.get(e['vg'], 0) + disk.round_up(e['cow_bytes'], extent)
    return [(vg, n, vgs[vg]['free']) for vg, n in sorted(need.items()) if n > vgs[vg]['free']]


def file_bytes(entries):
    """Bytes the snapshot directory needs for the disk copies (what the files hold, not their apparent size)."""
    return sum(e.get('allocated') or 0 for e in entries if e['method'] == METHOD_COPY)


# -- the manifest -----------------------------------------------------------------------------

def manifest(name, snapshot, created, entries, skipped, memory, state_before, pause_seconds, memory_mb=None):
    """The record of a snapshot (written last, as manifest.json, in the partial directory before its rename)."""
    return {
        'version': MANIFEST_VERSION,
        'guest': name,
        'snapshot': snapshot,
        'created': created,
        'memory': bool(memory),
        'memory_mb': memory_mb,
        'guest_state': state_before,
        'pause_seconds': pause_seconds,
        'disks': [dict((k, v) for k, v in e.items() if k != 'allocated') for e in entries],
        'skipped': skipped,
    }


def render_manifest(data):
    return json.dumps(data, indent=2, sort_keys=True) + '\n'


def parse_manifest(text, where):
    """manifest.json -> dict; ValueError naming `where` when it is not one of ours."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError('%s is not a readable snapshot manifest: %s' % (where, exc))
    if not isinstance(data, dict) or data.get('version') != MANIFEST_VERSION or \
            not isinstance(data.get('disks'), list):
        raise ValueError('%s is not a snapshot manifest of version %d' % (where, MANIFEST_VERSION))
    for key in ('guest', 'snapshot', 'created'):
        if key not in data:
            raise ValueError('%s has no %r' % (where, key))
    return data


def summary(data, path):
    """A snapshot as the module reports it."""
    return {
        'name': data['snapshot'],
        'path': path,
        'created': data['created'],
        'memory': data.get('memory', False),
        'guest_state': data.get('guest_state'),
        'pause_seconds': data.get('pause_seconds'),
        'disks': [dict(vdev=d['vdev'], source=d['source'], method=d['method'],
                       snapshot=posixpath.join(path, d['copy']) if d['method'] == METHOD_COPY
                       else disk.lv_path(d['vg'], d['snapshot_lv'])) for d in data['disks']],
        'skipped': data.get('skipped') or [],
    }


def to_prune(snapshots, retain, keep=None):
    """The snapshots (summary dicts, any order) `retain` drops: all but the newest `retain`, oldest first;
    `keep` (a name) is never dropped."""
    ordered = sorted(snapshots, key=lambda s: (s['created'], s['name']))
    extra = len(ordered) - retain
    dropped = []
    for snap in ordered:
        if extra <= 0:
            break
        if snap['name'] == keep:
            continue
        dropped.append(snap['name'])
        extra -= 1
    return dropped


def mismatch(recorded, current):
    """Why the guest's disks now differ from those a snapshot recorded (None when they match): a revert
    puts back the disks it recorded, so a disk added, removed or moved since is refused."""
    want = dict((d['vdev'], d['source']) for d in recorded)
    have = dict((d['vdev'], d['target']) for d in current if not (d.get('cdrom') or d.get('access') == 'ro'))
    problems = []
    for vdev in sorted(set(want) | set(have)):
        if vdev not in have:
            problems.append('%s (%s) is no longer a writable disk of the guest' % (vdev, want[vdev]))
        elif vdev not in want:
            problems.append('%s (%s) was added after the snapshot' % (vdev, have[vdev]))
        elif want[vdev] != have[vdev]:
            problems.append('%s is now %s, the snapshot has %s' % (vdev, have[vdev], want[vdev]))
    return '; '.join(problems) or None
