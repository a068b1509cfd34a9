# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# What a guest's disks are on this dom0 - image files, logical volumes (thin or thick), other block
# devices - read with LVM's JSON reports once per run. Shared by the verbs that act on a guest's storage
# as a whole (xen_snapshot, xen_backup); xen_disk reads its one disk with the same lvm_report.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import DiskError


def _stat(path):
    """os.stat of a disk's target (one place, so the tests can give /dev/VG/LV paths a block device's stat)."""
    return os.stat(path)


def lvm_report(client, argv, parser):
    """Run an LVM report (vgs/lvs, _host_cmd) and parse it; DiskError with the command when it cannot be read."""
    res = client.run_tool(argv, mutating=False)
    try:
        return parser(res.stdout)
    except disk.DiskParseError as exc:
        raise DiskError(str(exc), cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)


class HostStorage(object):
    """The host's volume groups and logical volumes (read when first needed, kept for the run) and what each
    disk of a guest is. `long_timeout`: the seconds a long tool call (a copy, a conversion, a merge) may take."""

    def __init__(self, client, long_timeout=None):
        self.client = client
        self.long_timeout = long_timeout
        self._vgs = None
        self._lvs = {}

    def tool(self, argv, long=False, check=True, mutating=True):
        return self.client.run_tool(argv, mutating=mutating, timeout=self.long_timeout if long else None,
                                    check=check)

    def vgs(self):
        if self._vgs is None:
            self._vgs = lvm_report(self.client, hostcmd.vgs_report(), disk.parse_vgs)
        return self._vgs

    def lvs(self, vg, fresh=False):
        if fresh or vg not in self._lvs:
            self._lvs[vg] = lvm_report(self.client, hostcmd.lvs_report(vg), disk.parse_lvs)
        return self._lvs[vg]

    def find_lv(self, target):
        """(vg, lv) of the logical volume at `target` (a block device), or None: by its path or device-mapper
        path first, then by the device they lead to."""
        for vg in sorted(self.vgs()):
            found = disk.find_lv(self.lvs(vg), target)
            if found:
                return vg, found
        real = os.path.realpath(target)
        for vg in sorted(self.vgs()):
            for lv in self.lvs(vg).values():
                if lv['path'] and os.path.realpath(lv['path']) == real:
                    return vg, lv
        return None

    def describe(self, d, writable_only=True):
        """A guest's disk (parse_disk_spec / xl list -l dict) as it is on the host: vdev, target, format,
        access, cdrom, and kind - 'file' (with allocated: bytes in use), 'lv' (with vg and lv: the parse_lvs
        entry), 'block' (another block device), 'missing', or what else the path is. With writable_only,
        read-only disks and CD-ROMs are not looked at (no kind)."""
        out = dict(vdev=d.get('vdev'), target=d.get('target'), format=d.get('format') or 'raw',
                   access=d.get('access'), cdrom=bool(d.get('cdrom')))
        target = out['target']
        if writable_only and (out['cdrom'] or out['access'] == 'ro'):
            return out
        if not target:
            out['kind'] = 'empty'
            return out
        try:
            mode = _stat(target)
        except (IOError, OSError):
            mode = None
        if mode is None:
            out['kind'] = 'missing'
        elif stat.S_ISREG(mode.st_mode):
            out['kind'] = 'file'
            out['allocated'] = mode.st_blocks * 512
        elif stat.S_ISBLK(mode.st_mode):
            found = self.find_lv(target)
            if found:
                out.update(kind='lv', vg=found[0], lv=found[1])
            else:
                out['kind'] = 'block'
        else:
            out['kind'] = 'not a file or block device'
        return out
