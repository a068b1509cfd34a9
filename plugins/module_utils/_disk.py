# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# A guest disk on the dom0 (xen_disk), as data: sizes with units, the declaration's validation, the
# parsers of `qemu-img info --output=json` and of LVM's JSON reports, which domains use a disk, and the
# plan - the steps that bring what exists to what is declared, each a tool argv (built by _host_cmd) or
# a file operation, with the clean-up steps of a failure and the state after. Pure: no I/O (the verb in
# _converge_disk reads and acts).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import posixpath
import re

from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import DiskInUseError, InvalidSpec

BACKENDS = ('file', 'lvm')
FORMATS = ('raw', 'qcow2')
CLONES = ('full', 'linked')
# Suffix of the temporary name a disk is built under (beside the target) before it is renamed.
TMP_SUFFIX = '.xenfleet-tmp'
SECTOR = 512
# LVM names: letters, digits, + _ . - (lvm(8) "VALID NAMES"); 127 characters at most, our suffix included.
LVM_NAME_RE = re.compile(r'^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$')
LVM_NAME_MAX = 127 - len(TMP_SUFFIX)
# Suffixes LVM gives its hidden sub-volumes (lvm(8): reserved in LV names).
RESERVED_LV_RE = re.compile(r'_(cdata|cmeta|corig|mimage|mlog|pmspare|rimage|rmeta|tdata|tmeta|vorigin|vdata)')
# Binary units, as qemu-img and LVM read them: K = 1024, G = 1024^3 (upper or lower case).
UNITS = {'': 1, 'b': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40, 'p': 1 << 50}
SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([bkmgtp]?)(?:i?b)?\s*$', re.IGNORECASE)
# What a downloaded file may be instead of an image: magic bytes at offset 0 (and tar's at 257).
ARCHIVE_MAGIC = (
    (b'\xfd7zXZ\x00', 'an xz-compressed file (unpack it first, e.g. with unxz or tar -xJf)'),
    (b'\x1f\x8b', 'a gzip-compressed file (unpack it first, e.g. with gunzip or tar -xzf)'),
    (b'BZh', 'a bzip2-compressed file (unpack it first, e.g. with bunzip2)'),
    (b'\x28\xb5\x2f\xfd', 'a zstd-compressed file (unpack it first, e.g. with unzstd)'),
    (b'PK\x03\x04', 'a zip archive (unpack it first)'),
)


class DiskParseError(ValueError):
    """Tool output that is not what this module expects (the verb turns it into an error with the output)."""


# --------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------

def parse_size(value):
    """Bytes from `value`: an integer (bytes) or a number with a binary unit - '10G', '512M', '1.5G',
    '10GiB', '4096b'. Raises ValueError with what is allowed."""
    if isinstance(value, bool):
        raise ValueError('%r is not a size' % (value,))
    if isinstance(value, int):
        number, unit = str(value), ''
    else:
        match = SIZE_RE.match(str(value))
        if not match:
            raise ValueError('%r is not a size: give bytes or a number with a binary unit K, M, G, T or P '
                             '(1G = 1024 MiB, as qemu-img and LVM count), e.g. 10G or 512M' % (value,))
        number, unit = match.group(1), match.group(2).lower()
    scale = UNITS[unit]
    if '.' in number:
        whole, frac = number.split('.')
        numerator = int(whole + frac) * scale
        denominator = 10 ** len(frac)
        if numerator % denominator:
            raise ValueError('%r is not a whole number of bytes' % (value,))
        size = numerator // denominator
    else:
        size = int(number) * scale
    if size <= 0:
        raise ValueError('%r: a disk needs a size above 0' % (value,))
    if size % SECTOR:
        raise ValueError('%r (%d bytes) is not a multiple of %d bytes (one sector)' % (value, size, SECTOR))
    return size


def format_size(size):
    """'10 GiB', '1.5 GiB', '512 MiB', '4097 B' (for messages)."""
    if size is None:
        return 'unknown'
    for unit, scale in (('PiB', 1 << 50), ('TiB', 1 << 40), ('GiB', 1 << 30), ('MiB', 1 << 20), ('KiB', 1 << 10)):
        if size >= scale:
            value = size / float(scale)
            text = ('%.2f' % value).rstrip('0').rstrip('.')
            return '%s %s (%d bytes)' % (text, unit, size) if size % scale else '%d %s' % (size // scale, unit)
    return '%d B' % size


def round_up(size, unit):
    return -(-size // unit) * unit if unit else size


# --------------------------------------------------------------------------------------------
# The declaration
# --------------------------------------------------------------------------------------------

def lvm_name_problem(name):
    """Why `name` cannot be an LV or VG name for this module, or None when it can."""
    if not name:
        return 'must not be empty'
    if '/' in name:
        return 'must be a plain name without "/"'
    if len(name) > LVM_NAME_MAX:
        return 'must be at most %d characters' % LVM_NAME_MAX
    if name in ('.', '..') or not LVM_NAME_RE.match(name):
        return 'may only contain letters, digits, "+", "_", "." and "-" and must not start with "-"'
    if name.endswith(TMP_SUFFIX):
        return 'must not end in %r (the temporary names of this module)' % TMP_SUFFIX
    if name.startswith(('snapshot', 'pvmove')) or RESERVED_LV_RE.search(name):
        return 'uses a name LVM reserves for its own volumes'
    return None


def _absolute(param, path):
    if not path.startswith('/'):
        raise InvalidSpec(param, '%r is not an absolute path: give the full path on the dom0' % (path,))
    normal = posixpath.normpath(path)
    if path.endswith('/') or normal == '/':
        raise InvalidSpec(param, '%r names a directory: give the path of the image file itself' % (path,))
    return normal


def validate(p):
    """The declaration from the module's parameters, or InvalidSpec naming the parameter (before any command).

    Returns a dict: state, backend, path, vg, name, thin_pool, format, size (bytes or None), source, clone.
    """
    spec = dict(state=p['state'], backend=p['backend'], vg=None, name=None, thin_pool=None, size=None,
                source=None, clone=p.get('clone') or 'full')
    if spec['backend'] == 'file':
        for option in ('vg', 'name', 'thin_pool'):
            if p.get(option) is not None:
                raise InvalidSpec(option, 'applies to backend lvm only; a file disk is named by path')
        if not p.get('path'):
            raise InvalidSpec('path', 'is required with backend file: the absolute path of the image file')
        spec['path'] = _absolute('path', p['path'])
        if posixpath.basename(spec['path']).endswith(TMP_SUFFIX):
            raise InvalidSpec('path', 'must not end in %r (the temporary names of this module)' % TMP_SUFFIX)
        default_format = 'qcow2' if spec['clone'] == 'linked' else 'raw'
        spec['format'] = p.get('format') or default_format
    else:
        if p.get('path') is not None:
            raise InvalidSpec('path', 'applies to backend file only; a logical volume is named by vg and name '
                                      '(its path is then /dev/VG/NAME)')
        for option in ('vg', 'name'):
            if not p.get(option):
                raise InvalidSpec(option, 'is required with backend lvm')
            problem = lvm_name_problem(p[option])
            if problem:
                raise InvalidSpec(option, '%r %s' % (p[option], problem))
        if p.get('thin_pool') is not None:
            problem = lvm_name_problem(p['thin_pool'])
            if problem:
                raise InvalidSpec('thin_pool', '%r %s' % (p['thin_pool'], problem))
        if p.get('format') not in (None, 'raw'):
            raise InvalidSpec('format', 'a logical volume holds the raw disk; format %s applies to backend file '
                                        'only' % p['format'])
        spec.update(vg=p['vg'], name=p['name'], thin_pool=p.get('thin_pool'), format='raw',
                    path=lv_path(p['vg'], p['name']))
    if p.get('size') is not None:
        try:
            spec['size'] = parse_size(p['size'])
        except ValueError as exc:
            raise InvalidSpec('size', str(exc))
    if p.get('source') is not None:
        spec['source'] = _absolute('source', p['source'])
        if spec['source'] == spec['path']:
            raise InvalidSpec('source', 'is the disk itself (%s)' % spec['path'])
    if spec['clone'] == 'linked':
        if spec['source'] is None:
            raise InvalidSpec('clone', 'linked needs source: the image the clone is linked to')
        if spec['backend'] == 'file' and spec['format'] != 'qcow2':
            raise InvalidSpec('format', 'a linked clone on backend file is a qcow2 image over its source; '
                                        'set format: qcow2 (or leave it out)')
    return spec


def lv_path(vg, name):
    return '/dev/%s/%s' % (vg, name)


def lv_mapper_path(vg, name):
    """/dev/mapper/VG-NAME, dashes in each name doubled (device-mapper's name of the LV)."""
    return '/dev/mapper/%s-%s' % (vg.replace('-', '--'), name.replace('-', '--'))


def tmp_path(path):
    """The temporary file a disk is built as: hidden, beside the target (same file system, so a rename)."""
    return posixpath.join(posixpath.dirname(path), '.%s%s' % (posixpath.basename(path), TMP_SUFFIX))


def tmp_lv(name):
    return name + TMP_SUFFIX


def archive_kind(head):
    """What the first bytes of a file say it is when it is an archive, not a disk image (else None)."""
    for magic, what in ARCHIVE_MAGIC:
        if head.startswith(magic):
            return what
    if len(head) >= 262 and head[257:262] == b'ustar':
        return 'a tar archive (unpack the image from it first, e.g. with tar -xf)'
    return None


# --------------------------------------------------------------------------------------------
# Tool output
# --------------------------------------------------------------------------------------------

def parse_qemu_img_info(text):
    """`qemu-img info --output=json PATH` -> dict(format, virtual_size, actual_size, backing_file,
    backing_format, dirty, corrupt)."""
    try:
        data = json.loads(text)
        info = dict(format=data['format'], virtual_size=int(data['virtual-size']))
    except (ValueError, TypeError, KeyError) as exc:
        raise DiskParseError('cannot read the output of qemu-img info (%s: %s)' % (type(exc).__name__, exc))
    specific = (data.get('format-specific') or {}).get('data') or {}
    info.update(actual_size=data.get('actual-size'),
                backing_file=data.get('full-backing-filename') or data.get('backing-filename'),
                backing_format=data.get('backing-filename-format'),
                dirty=bool(data.get('dirty-flag')), corrupt=bool(specific.get('corrupt')))
    return info


def _report(text, key):
    try:
        rows = json.loads(text)['report'][0][key]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise DiskParseError('cannot read the LVM report (%s: %s)' % (type(exc).__name__, exc))
    if not isinstance(rows, list):
        raise DiskParseError('cannot read the LVM report: %r is not a list' % key)
    return rows


def _bytes(value):
    try:
        return int(float(value)) if value not in (None, '') else None
    except (TypeError, ValueError):
        raise DiskParseError('cannot read %r as a number of bytes' % (value,))


def parse_vgs(text):
    """`vgs --reportformat json --units b --nosuffix -o <VGS_FIELDS>` -> {vg name: dict(size, free, extent)}."""
    result = {}
    for row in _report(text, 'vg'):
        result[row['vg_name']] = dict(size=_bytes(row.get('vg_size')), free=_bytes(row.get('vg_free')),
                                      extent=_bytes(row.get('vg_extent_size')))
    return result


def parse_lvs(text):
    """`lvs --reportformat json --units b --nosuffix -o <LVS_FIELDS> VG` -> {lv name: dict(...)}."""
    result = {}
    for row in _report(text, 'lv'):
        attr = row.get('lv_attr') or ''
        try:
            percent = float(row.get('data_percent')) if row.get('data_percent') not in (None, '') else None
        except ValueError:
            raise DiskParseError('cannot read data_percent %r' % (row.get('data_percent'),))
        result[row['lv_name']] = dict(
            name=row['lv_name'], path=row.get('lv_path') or None, dm_path=row.get('lv_dm_path') or None,
            size=_bytes(row.get('lv_size')), attr=attr, segtype=row.get('segtype') or None,
            pool=row.get('pool_lv') or None, origin=row.get('origin') or None, data_percent=percent,
            thin=attr[:1] == 'V', thin_pool=attr[:1] == 't', open=attr[5:6] == 'o',
            thick_origin=attr[:1] == 'o', active=attr[4:5] == 'a')
    return result


def lv_actual_size(lv):
    """Host space an LV takes: all of it (thick), or its share of the thin pool's data (thin)."""
    if lv['thin'] and lv['data_percent'] is not None:
        return int(lv['size'] * lv['data_percent'] / 100.0)
    return lv['size']


# --------------------------------------------------------------------------------------------
# Who uses a disk
# --------------------------------------------------------------------------------------------

def attachments(domains, names, resolve, writable=False):
    """[(domain, disk)] for each domain (dicts from XlClient.domains) with a disk whose target is one of
    `names` (its first such disk), compared as real paths (`resolve(path)` -> the path with symlinks
    resolved; /dev/VG/LV and /dev/mapper/VG-LV both lead to /dev/dm-N). With writable, only the disks the
    domain may write to (not read-only, not a CD-ROM). The one notion of "a domain uses this file"."""
    wanted = set(names) | set(resolve(n) for n in names)
    found = []
    for dom in domains:
        for disk in dom.get('disks') or []:
            target = disk.get('target')
            if writable and (disk.get('access') == 'ro' or disk.get('cdrom')):
                continue
            if target and (target in wanted or resolve(target) in wanted):
                found.append((dom, disk))
                break
    return found


def users(domains, names, resolve, writable=False):
    """The domains of attachments(): those that use one of `names`."""
    return [dom for dom, _disk in attachments(domains, names, resolve, writable)]


def describe_users(doms):
    return ', '.join('%s (%s, %s)' % (d['name'], (d.get('type') or 'unknown type').upper(), d.get('state') or 'unknown')
                     for d in doms)


def pending_after_grow(disk, size, doms):
    """What remains to be done before the guests using a grown disk see its new size (None when no
    domain uses it). Only what was observed is claimed: the host side grew; the guest side is not verified."""
    if not doms:
        return None
    pv = [d['name'] for d in doms if d.get('type') in ('pv', 'pvh')]
    other = [d['name'] for d in doms if d.get('type') not in ('pv', 'pvh')]
    parts = ['%s grew to %s on the host while in use by %s.' % (disk, format_size(size), describe_users(doms))]
    if pv:
        parts.append('The PV/PVH guest%s %s see%s the new size when %s block frontend picks up the capacity the '
                     'backend announces; this module does not verify that (look at /sys/block/xvdX/size in the '
                     'guest, then grow the partition and file system there).'
                     % ('s' if len(pv) > 1 else '', ', '.join(pv), '' if len(pv) > 1 else 's',
                        'their' if len(pv) > 1 else 'its'))
    if other:
        parts.append('%s: an emulated (HVM) disk keeps the size it had at boot; restart the domain to be sure '
                     'the guest sees the new size.' % ', '.join(other))
    return ' '.join(parts)


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------

class Step(object):
    """One thing the verb does: run a tool (argv from _host_cmd), rename or remove a file."""

    def __init__(self, kind, argv=None, src=None, dst=None, timeout=None):
        self.kind = kind          # 'run', 'rename', 'unlink'
        self.argv = argv
        self.src = src
        self.dst = dst
        self.long = timeout == 'copy'   # runs under copy_timeout, not command_timeout

    def describe(self):
        if self.kind == 'run':
            return ' '.join(str(a) for a in self.argv)
        if self.kind == 'rename':
            return 'rename %s to %s' % (self.src, self.dst)
        return 'remove %s' % self.src

    def __repr__(self):
        return 'Step(%s)' % self.describe()


class Plan(object):
    """What to do: `steps` in order; `cleanup` undoes a half-done creation when a step fails; `after` is
    the disk as it will be (the diff's after); `pending` what the guests still have to do; `warnings`."""

    def __init__(self):
        self.steps = []
        self.cleanup = []
        self.after = None
        self.pending = None
        self.warnings = []

    def run(self, argv, long=False):
        self.steps.append(Step('run', argv=argv, timeout='copy' if long else None))


def snapshot(backend, path, fmt, size, backing=None, **extra):
    """The disk as the diff shows it."""
    state = dict(backend=backend, path=path, format=fmt, size_bytes=size, backing_file=backing)
    state.update(extra)
    return state


def _grow_problem(what, current, wanted):
    return ('%s is %s; the declared size %s is smaller. xen_disk only grows disks (shrinking loses the data '
            'at the end of the disk): declare at least %s, or shrink the file system in the guest and the disk '
            'by hand.' % (what, format_size(current), format_size(wanted), format_size(current)))


def _below_source(source, source_size, wanted):
    least = format_size(source_size)
    return ('%s is below the virtual size of the source image %s (%s): the copy would not hold the image; '
            'declare at least %s or leave size out' % (format_size(wanted), source, least, least))


def check_source(spec, info, head):
    """Refuse a source that cannot be the disk's origin (info: parsed qemu-img info; head: its first bytes)."""
    source = spec['source']
    if info['format'] not in FORMATS:
        raise InvalidSpec('source', '%s is a %s image; xen_disk copies raw and qcow2 images: convert it first '
                                    '(qemu-img convert -O qcow2)' % (source, info['format']))
    if info['format'] == 'raw':
        what = archive_kind(head or b'')
        if what:
            raise InvalidSpec('source', '%s is %s, not a disk image' % (source, what))
    if not info['virtual_size']:
        raise InvalidSpec('source', '%s is empty (virtual size 0), not a disk image' % source)
    if info['corrupt']:
        raise InvalidSpec('source', '%s is marked corrupt by qemu-img; check it with qemu-img check' % source)
    if spec['size'] is not None and spec['size'] < info['virtual_size']:
        raise InvalidSpec('size', _below_source(source, info['virtual_size'], spec['size']))


def plan_file(spec, current, source, doms, tmp_exists):
    """The plan for a file disk. current: parsed qemu-img info of the target (None when it does not exist);
    source: parsed qemu-img info of the source (when one is needed); doms: the domains using the target;
    tmp_exists: a temporary file of an interrupted run is there."""
    plan = Plan()
    path, fmt = spec['path'], spec['format']
    tmp = tmp_path(path)
    if spec['state'] == 'absent':
        if current is None:
            return plan
        if doms:
            raise DiskInUseError('%s is in use by %s: not removed. Shut the domain down (or detach the disk) '
                                 'first.' % (path, describe_users(doms)))
        plan.steps.append(Step('unlink', src=path))
        return plan
    if tmp_exists:
        plan.steps.append(Step('unlink', src=tmp))
    if current is not None:
        if current['format'] != fmt:
            raise InvalidSpec('format', '%s is a %s image, not %s; declare format: %s (xen_disk never converts an '
                                        'existing disk)' % (path, current['format'], fmt, current['format']))
        size = current['virtual_size']
        if spec['clone'] == 'linked' and current.get('backing_file') != spec['source']:
            backing = current.get('backing_file') or '(none)'
            plan.warnings.append('%s exists with backing file %s, not %s: left as it is (the source is used only '
                                 'when the disk is created)' % (path, backing, spec['source']))
        if spec['size'] is not None and spec['size'] < size:
            raise InvalidSpec('size', _grow_problem(path, size, spec['size']))
        if spec['size'] is not None and spec['size'] > size:
            if fmt == 'qcow2' and doms:
                raise DiskInUseError('%s is a qcow2 image in use by %s: not resized. qemu-img must not change a '
                                     'qcow2 image that QEMU (the qdisk backend) has open - that corrupts it. Shut '
                                     'the domain down, run this task, start it again.' % (path, describe_users(doms)))
            plan.run(hostcmd.qemu_img_resize(path, fmt, spec['size']))
            size = spec['size']
            plan.pending = pending_after_grow(path, size, doms)
        plan.after = snapshot('file', path, fmt, size, current.get('backing_file'))
        return plan
    # a new disk, built under the temporary name and renamed when complete
    plan.cleanup.append(Step('unlink', src=tmp))
    if spec['source'] is None:
        if spec['size'] is None:
            raise InvalidSpec('size', 'is required to create %s (it does not exist) without a source image' % path)
        plan.run(hostcmd.qemu_img_create(tmp, fmt, spec['size']))
        size, backing = spec['size'], None
    elif spec['clone'] == 'linked':
        size = max(spec['size'] or 0, source['virtual_size'])
        plan.run(hostcmd.qemu_img_create(tmp, 'qcow2', size if size > source['virtual_size'] else None,
                                         backing=spec['source'], backing_format=source['format']))
        backing = spec['source']
    else:
        plan.run(hostcmd.qemu_img_convert(spec['source'], source['format'], tmp, fmt), long=True)
        size, backing = source['virtual_size'], None
        if spec['size'] is not None and spec['size'] > size:
            plan.run(hostcmd.qemu_img_resize(tmp, fmt, spec['size']))
            size = spec['size']
    plan.steps.append(Step('rename', src=tmp, dst=path))
    plan.after = snapshot('file', path, fmt, size, backing)
    return plan


def find_lv(lvs, path):
    """The LV (from parse_lvs) that `path` names (/dev/VG/LV or /dev/mapper/VG-LV), or None."""
    for lv in lvs.values():
        if path in (lv['path'], lv['dm_path']):
            return lv
    return None


def plan_lvm(spec, vg, lvs, source, doms):
    """The plan for a logical volume. vg: parse_vgs entry of spec['vg']; lvs: parse_lvs of the VG; source:
    parsed qemu-img info of a source image (full copies); doms: the domains using the LV."""
    plan = Plan()
    vgname, name = spec['vg'], spec['name']
    full, path = '%s/%s' % (vgname, name), spec['path']
    lv = lvs.get(name)
    tmp = tmp_lv(name)
    if lv is not None and (lv['thin_pool'] or lv['path'] is None):
        raise InvalidSpec('name', '%s is a %s volume of LVM (%s), not a disk' % (full, lv['segtype'], lv['attr']))
    if spec['state'] == 'absent':
        if lv is None:
            return plan
        if doms:
            raise DiskInUseError('%s is in use by %s: not removed. Shut the domain down (or detach the disk) '
                                 'first.' % (path, describe_users(doms)))
        if lv['open']:
            raise DiskInUseError('%s is open (lvs shows it in use - a running guest\'s block backend, a mount or '
                                 'another process): not removed.' % path)
        if lv['thick_origin']:
            raise DiskInUseError('%s has (thick) snapshots that lvremove would remove with it: not removed. Remove '
                                 'its snapshots first.' % path)
        plan.run(hostcmd.lvremove(vgname, name))
        return plan
    if tmp in lvs:
        plan.run(hostcmd.lvremove(vgname, tmp))
    extent = vg['extent']
    if lv is not None:
        size = lv['size']
        if spec['thin_pool'] is not None and lv['pool'] != spec['thin_pool']:
            plan.warnings.append('%s exists %s, not in thin pool %s: left as it is' % (
                full, 'in thin pool %s' % lv['pool'] if lv['pool'] else 'as a thick volume', spec['thin_pool']))
        if spec['size'] is not None and spec['size'] < size:
            raise InvalidSpec('size', _grow_problem(path, size, spec['size']))
        if spec['size'] is not None and spec['size'] > size:
            new = round_up(spec['size'], extent)
            if not lv['thin'] and new - size > vg['free']:
                raise InvalidSpec('size', 'growing %s to %s needs %s more; volume group %s has %s free'
                                  % (path, format_size(new), format_size(new - size), vgname, format_size(vg['free'])))
            plan.run(hostcmd.lvextend(vgname, name, spec['size']))
            size = new
            plan.pending = pending_after_grow(path, size, doms)
        plan.after = snapshot('lvm', path, 'raw', size, None, vg=vgname, name=name, thin_pool=lv['pool'])
        return plan
    pool = spec['thin_pool']
    if pool is not None:
        found = lvs.get(pool)
        if found is None or not found['thin_pool']:
            pools = sorted(n for n, x in lvs.items() if x['thin_pool'])
            raise InvalidSpec('thin_pool', '%s is not a thin pool of volume group %s (thin pools there: %s)'
                              % (pool, vgname, ', '.join(pools) or 'none'))
    if spec['source'] is None:
        if spec['size'] is None:
            raise InvalidSpec('size', 'is required to create %s (it does not exist) without a source image' % path)
        size = round_up(spec['size'], extent)
        _check_free(vgname, vg, pool, size)
        plan.run(hostcmd.lvcreate(vgname, name, spec['size'], thin_pool=pool))
        plan.after = snapshot('lvm', path, 'raw', size, None, vg=vgname, name=name, thin_pool=pool)
        return plan
    plan.cleanup.append(Step('run', argv=hostcmd.lvremove(vgname, tmp)))
    if spec['clone'] == 'linked':
        origin = find_lv(lvs, spec['source'])
        if origin is None or not origin['thin']:
            raise InvalidSpec('source', 'a linked clone on backend lvm is a thin snapshot: source must be a thin '
                                        'volume of volume group %s (/dev/%s/NAME), got %s'
                              % (vgname, vgname, spec['source']))
        if pool is not None and origin['pool'] != pool:
            raise InvalidSpec('thin_pool', 'a thin snapshot lives in its origin\'s pool (%s), not in %s'
                              % (origin['pool'], pool))
        if spec['size'] is not None and spec['size'] < origin['size']:
            raise InvalidSpec('size', _below_source(spec['source'], origin['size'], spec['size']))
        plan.run(hostcmd.lvcreate_thin_snapshot(vgname, origin['name'], tmp))
        size = origin['size']
        if spec['size'] is not None and spec['size'] > size:
            plan.run(hostcmd.lvextend(vgname, tmp, spec['size']))
            size = round_up(spec['size'], extent)
        plan.run(hostcmd.lvrename(vgname, tmp, name))
        plan.after = snapshot('lvm', path, 'raw', size, None, vg=vgname, name=name, thin_pool=origin['pool'])
        return plan
    wanted = max(spec['size'] or 0, source['virtual_size'])
    size = round_up(wanted, extent)
    _check_free(vgname, vg, pool, size)
    plan.run(hostcmd.lvcreate(vgname, tmp, wanted, thin_pool=pool))
    plan.run(hostcmd.qemu_img_convert(spec['source'], source['format'], lv_path(vgname, tmp), 'raw',
                                      existing_target=True, target_is_zero=pool is not None), long=True)
    plan.run(hostcmd.lvrename(vgname, tmp, name))
    plan.after = snapshot('lvm', path, 'raw', size, None, vg=vgname, name=name, thin_pool=pool)
    return plan


def _check_free(vgname, vg, pool, size):
    if pool is None and size > vg['free']:
        raise InvalidSpec('size', '%s does not fit: volume group %s has %s free'
                          % (format_size(size), vgname, format_size(vg['free'])))
