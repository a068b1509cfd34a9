# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The one place that builds the command lines of the dom0's tools other than xl (xl's are in
# _xl_cmd): a named verb per tool subcommand, each returning a full argv whose first word is the
# tool's name (XlClient.run_tool finds its path). Pure: no I/O.

from __future__ import absolute_import, division, print_function
__metaclass__ = type


def _s(value):
    return str(value)


# Debian packages that bring each tool (for the error when one is missing); each section adds its own.
PACKAGES = {}


def missing_hint(tool):
    """What to install when `tool` is missing (None for a tool not listed in PACKAGES)."""
    package = PACKAGES.get(tool)
    return 'Install it with: apt-get install %s (Debian package %s).' % (package, package) if package else None


# -- network (xen_domain_info's guest addresses) ------------------------------------------------
# Captured on a lab dom0 (Debian 12, iproute2 6.1): tests/unit/fixtures/xen-4.17.5-lab-neigh.

PACKAGES.update({'ip': 'iproute2'})


def ip_neigh():
    """dom0's neighbour table (ARP and NDP entries of every interface), as JSON."""
    return ['ip', '-json', 'neigh', 'show']


# -- storage ----------------------------------------------------------------------------------
# (qemu-img, LVM)
# Captured on Debian 12 (qemu-img 7.2, LVM 2.03.16): tests/unit/fixtures/debian12-storage.

PACKAGES.update({
    'qemu-img': 'qemu-utils',
    'vgs': 'lvm2', 'lvs': 'lvm2', 'lvcreate': 'lvm2', 'lvextend': 'lvm2', 'lvrename': 'lvm2', 'lvremove': 'lvm2',
    'lvconvert': 'lvm2', 'cp': 'coreutils',
})

# The columns xen_disk reads (JSON, sizes in bytes without a unit suffix).
VGS_FIELDS = 'vg_name,vg_size,vg_free,vg_extent_size'
LVS_FIELDS = 'lv_name,lv_path,lv_dm_path,lv_size,lv_attr,segtype,pool_lv,origin,data_percent'
_LVM_REPORT = ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o']


def _lv_size(size):
    """LVM's spelling of a size in bytes (-L/-V take a unit suffix; b = bytes)."""
    return '%db' % size


def qemu_img_info(path):
    """What an image is (format, virtual size, backing file), as JSON. -U (force-share): also readable while
    QEMU (Xen's qdisk backend) holds the image open, where a plain `info` fails to get its lock."""
    return ['qemu-img', 'info', '-U', '--output=json', _s(path)]


def qemu_img_create(path, fmt, size=None, backing=None, backing_format=None):
    """A new image; with `backing`, a qcow2 over that image (-F: QEMU 7.2 requires the backing format).
    Without size, an image with a backing file takes the backing file's size."""
    argv = ['qemu-img', 'create', '-f', fmt]
    if backing is not None:
        argv += ['-b', _s(backing), '-F', backing_format]
    argv.append(_s(path))
    if size is not None:
        argv.append(_s(size))
    return argv


def qemu_img_convert(src, src_format, dst, dst_format, existing_target=False, target_is_zero=False):
    """Copy `src` into `dst` in `dst_format` (zeroes are skipped: a raw file target stays sparse). With
    existing_target (-n) into a device that exists (an LV); --target-is-zero when it reads as zeroes
    (a new thin LV), so zeroes are not written at all."""
    argv = ['qemu-img', 'convert']
    if existing_target:
        argv.append('-n')
        if target_is_zero:
            argv.append('--target-is-zero')
    return argv + ['-f', src_format, '-O', dst_format, _s(src), _s(dst)]


def qemu_img_export(src, src_format, dst, compress=True):
    """A standalone qcow2 copy of `src` for a backup: zeroes and holes skipped, a backing chain flattened into it,
    with compress (-c) its clusters zlib-compressed (the image stays readable by any qemu-img and by QEMU)."""
    flags = ['-c'] if compress else []
    return ['qemu-img', 'convert'] + flags + ['-f', src_format, '-O', 'qcow2', _s(src), _s(dst)]


def qemu_img_resize(path, fmt, size):
    """Grow an image to `size` bytes (qemu-img refuses to shrink without --shrink, which is never passed)."""
    return ['qemu-img', 'resize', '-f', fmt, _s(path), _s(size)]


def vgs_report():
    """Every volume group of the host (an unknown name is then told from the list, without a failing command)."""
    return ['vgs'] + _LVM_REPORT + [VGS_FIELDS]


def lvs_report(vg):
    return ['lvs'] + _LVM_REPORT + [LVS_FIELDS, vg]


def lvcreate(vg, name, size, thin_pool=None):
    """A new LV of `size` bytes (rounded up to whole extents by LVM): thick, or thin in `thin_pool`."""
    if thin_pool is None:
        return ['lvcreate', '--yes', '-n', name, '-L', _lv_size(size), vg]
    return ['lvcreate', '--yes', '-n', name, '-V', _lv_size(size), '--thinpool', thin_pool, vg]


def lvcreate_thin_snapshot(vg, origin, name):
    """A thin snapshot of the thin LV `origin` (no size: it shares the origin's pool); -kn: activated like any
    LV (thin snapshots are otherwise skipped on activation)."""
    return ['lvcreate', '--yes', '-s', '-kn', '-n', name, '%s/%s' % (vg, origin)]


def lvcreate_snapshot(vg, origin, name, cow_size):
    """A thick (copy-on-write) snapshot of `origin` with `cow_size` bytes of space for the blocks that change."""
    return ['lvcreate', '--yes', '-s', '-n', name, '-L', _lv_size(cow_size), '%s/%s' % (vg, origin)]


def lvconvert_merge(vg, name):
    """Merge the thick snapshot `name` back into its origin (the origin must not be open: the merge then runs at
    once and lvconvert waits until it ends); the snapshot is gone afterwards."""
    return ['lvconvert', '--merge', '%s/%s' % (vg, name)]


def copy_sparse(src, dst):
    """Copy an image file: holes stay holes, and a reflink (no data copied) where the file system has them."""
    return ['cp', '--sparse=always', '--reflink=auto', _s(src), _s(dst)]


def lvextend(vg, name, size):
    return ['lvextend', '-L', _lv_size(size), '%s/%s' % (vg, name)]


def lvrename(vg, old, new):
    return ['lvrename', vg, old, new]


def lvremove(vg, name):
    return ['lvremove', '--yes', '%s/%s' % (vg, name)]


# -- first-boot seeds -------------------------------------------------------------------------
# (cloud-init NoCloud seed images)
# Fixed dates make the images byte-for-byte reproducible (checked with xorriso 1.5.4, dosfstools 4.2,
# mtools 4.0.32); whether a seed is up to date is decided by the content id recorded in it, not by the bytes.
SEED_DATE = '2000010100000000'  # xorriso's YYYYMMDDhhmmsscc
SEED_MTIME = 946684800  # 2000-01-01 00:00:00 UTC: the files' mtime, which mcopy -m keeps

PACKAGES.update({'xorriso': 'xorriso', 'mkfs.vfat': 'dosfstools', 'mcopy': 'mtools'})


def iso_seed(output, source_dir, label, volset):
    """xorriso's mkisofs emulation: an ISO 9660 image of source_dir's files (Joliet and Rock Ridge names),
    volume label `label`, the content id in the volume set identifier, every date fixed."""
    return ['xorriso', '-as', 'mkisofs', '-quiet', '-output', _s(output), '-volid', _s(label), '-volset', _s(volset),
            '-joliet', '-rational-rock', '--modification-date=' + SEED_DATE, '--set_all_file_dates', SEED_DATE,
            _s(source_dir)]


def vfat_format(image, label, serial):
    """mkfs.vfat on an existing image file (its size is the file system's): label, a fixed volume serial
    (--invariant fixes the other time-based fields; -i must follow it to win)."""
    return ['mkfs.vfat', '-n', _s(label), '--invariant', '-i', _s(serial), _s(image)]


def vfat_copy(image, files):
    """mcopy the files into the root of a FAT image, keeping their modification time."""
    return ['mcopy', '-i', _s(image), '-m'] + [_s(f) for f in files] + ['::']


# -- host network (xen_host_network) --------------------------------------------------------------
# ip's JSON captured in a private network namespace (iproute2 6.1): tests/unit/fixtures/iproute2-6.1-netns.

PACKAGES.update({'ifup': 'ifupdown', 'ifdown': 'ifupdown', 'networkctl': 'systemd', 'systemctl': 'systemd'})


def ip_links():
    """Every link with its kind, master and (for a VLAN) parent and id, as JSON."""
    return ['ip', '-j', '-d', 'link', 'show']


def ip_addresses():
    return ['ip', '-j', 'addr', 'show']


def ip_default_route():
    return ['ip', '-j', 'route', 'show', 'default']


def ip_link_delete(name):
    return ['ip', 'link', 'delete', 'dev', _s(name)]


def ip_link_nomaster(name):
    """Take a port out of its bridge or bond."""
    return ['ip', 'link', 'set', 'dev', _s(name), 'nomaster']


def ifup(name):
    return ['ifup', _s(name)]


def ifdown(name):
    return ['ifdown', _s(name)]


def networkctl_list():
    return ['networkctl', 'list', '--no-pager', '--no-legend']


def networkctl_reload():
    return ['networkctl', 'reload']


def networkctl_reconfigure(name):
    return ['networkctl', 'reconfigure', _s(name)]


def systemctl_is_active(unit):
    return ['systemctl', 'is-active', '--quiet', _s(unit)]
