# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_disk: bring a guest disk on the dom0 (an image file or a logical volume) to what the
# task declares. In named steps: validate the declaration (nothing runs before); read what exists (the
# file or LV, the volume group, the source image, the domains that use them) - bad input found by these
# reads still fails before any change; plan (_disk); act through the dom0's tools (argv from _host_cmd,
# run by XlClient.run_tool), a new disk built under a temporary name and renamed when complete, undone
# when a step fails; read again to verify; report the disk and the diff. Check mode takes the same path
# and skips the acts.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _storage as storage
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    DiskError,
    InvalidSpec,
    ToolCommandError,
    XenError,
)

# New image files are readable by root only: a guest's disk holds its data (and, after first boot, its keys).
NEW_FILE_MODE = 0o600
HEAD_BYTES = 512


def run(module, client):
    """xen_disk: run(module, client) -> result dict (run_module's worker)."""
    spec = disk.validate(module.params)
    if module.params.get('copy_timeout') is not None and module.params['copy_timeout'] <= 0:
        raise InvalidSpec('copy_timeout', 'must be a positive number of seconds, got %r' % module.params['copy_timeout'])
    client.ensure_xen_host()
    return _Converge(module, client, spec).run()


class _Converge(object):
    """One run: read into these attributes, plan, act, verify, report."""

    def __init__(self, module, client, spec):
        self.module = module
        self.client = client
        self.spec = spec
        self.check = module.check_mode
        self.path = spec['path']
        self.current = None      # qemu-img info of the file / the LV from lvs
        self.vg = None
        self.lvs = None
        self.source = None
        self.doms = []
        self.tmp_exists = False
        self.plan = None
        self.applied = []
        self.final = None

    def run(self):
        if self.spec['backend'] == 'file':
            self.read_file()
        else:
            self.read_lvm()
        self.read_source()
        self.read_users()
        if self.spec['backend'] == 'file':
            self.plan = disk.plan_file(self.spec, self.current, self.source, self.doms, self.tmp_exists)
        else:
            self.plan = disk.plan_lvm(self.spec, self.vg, self.lvs, self.source, self.doms)
        for warning in self.plan.warnings:
            self.module.warn(warning)
        self.applied = [step.describe() for step in self.plan.steps]
        if not self.check and self.plan.steps:
            self.act()
            self.verify()
        return self.result()

    # -- tools -----------------------------------------------------------------------------------

    def tool(self, argv, mutating=False, long=False, check=True):
        timeout = self.module.params.get('copy_timeout') if long else None
        return self.client.run_tool(argv, mutating=mutating, timeout=timeout, check=check)

    def info(self, path):
        """qemu-img info of an existing path -> (parsed, None), or (None, the failed result)."""
        res = self.tool(hostcmd.qemu_img_info(path), check=False)
        if res.rc != 0:
            return None, res
        try:
            return disk.parse_qemu_img_info(res.stdout), res
        except disk.DiskParseError as exc:
            raise DiskError(str(exc), cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)

    def lvm_report(self, argv, parser):
        return storage.lvm_report(self.client, argv, parser)

    # -- read ------------------------------------------------------------------------------------

    def read_file(self):
        path = self.path
        parent = os.path.dirname(path)
        if self.spec['state'] == 'present' and not os.path.isdir(parent):
            raise InvalidSpec('path', 'the directory %s does not exist on this host: create it first (xen_disk '
                                      'does not create directories)' % parent)
        self.tmp_exists = os.path.lexists(disk.tmp_path(path))
        if not os.path.lexists(path):
            return
        kind = _kind(path)
        if kind != 'file':
            raise InvalidSpec('path', '%s is %s; backend file manages image files (a logical volume: backend lvm)'
                              % (path, kind))
        self.current, res = self.info(path)
        if self.current is None:
            raise ToolCommandError('qemu-img cannot read %s: %s' % (path, res.said),
                                   cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)

    def read_lvm(self):
        spec = self.spec
        vgs = self.lvm_report(hostcmd.vgs_report(), disk.parse_vgs)
        if spec['vg'] not in vgs:
            raise InvalidSpec('vg', 'volume group %s does not exist on this host (volume groups: %s)'
                              % (spec['vg'], ', '.join(sorted(vgs)) or 'none'))
        self.vg = vgs[spec['vg']]
        self.lvs = self.lvm_report(hostcmd.lvs_report(spec['vg']), disk.parse_lvs)
        self.current = self.lvs.get(spec['name'])

    def read_source(self):
        """The source image, when the disk is to be made from it (a full copy; a linked clone on backend file)."""
        spec = self.spec
        if spec['state'] != 'present' or spec['source'] is None or self.current is not None:
            return
        if spec['backend'] == 'lvm' and spec['clone'] == 'linked':
            return  # the origin is an LV, read with the VG's report
        source = spec['source']
        if not os.path.exists(source):
            raise InvalidSpec('source', '%s does not exist on this host' % source)
        kind = _kind(source)
        if kind not in ('file', 'a block device'):
            raise InvalidSpec('source', '%s is %s, not a disk image' % (source, kind))
        info, res = self.info(source)
        if info is None:
            raise InvalidSpec('source', 'qemu-img cannot read %s as a disk image: %s' % (source, res.said))
        disk.check_source(spec, info, _head(source))
        self.source = info

    def read_users(self):
        """The domains that use the disk (when it exists) and the source (when one is copied or linked)."""
        spec = self.spec
        exists = self.current is not None
        creating = spec['state'] == 'present' and not exists and spec['source'] is not None
        if not exists and not creating:
            return
        domains = self.client.domains()
        if exists:
            names = [self.path]
            if spec['backend'] == 'lvm':
                names += [disk.lv_mapper_path(spec['vg'], spec['name'])] + \
                    [n for n in (self.current['dm_path'],) if n]
            self.doms = disk.users(domains, names, os.path.realpath)
        if creating:
            writers = disk.users(domains, [spec['source']], os.path.realpath, writable=True)
            if writers and spec['clone'] == 'linked':
                raise InvalidSpec('source', '%s is in use read-write by %s: a linked clone needs a source that '
                                            'never changes' % (spec['source'], disk.describe_users(writers)))
            if writers:
                self.module.warn('%s is in use read-write by %s: the copy is taken while the guest may write to it'
                                 % (spec['source'], disk.describe_users(writers)))

    # -- act -------------------------------------------------------------------------------------

    def act(self):
        try:
            for step in self.plan.steps:
                self.do(step)
        except Exception:
            self.undo()
            raise

    def do(self, step):
        if step.kind == 'run':
            self.tool(step.argv, mutating=True, long=step.long)
        elif step.kind == 'rename':
            try:
                os.chmod(step.src, NEW_FILE_MODE)
                os.rename(step.src, step.dst)
            except (IOError, OSError) as exc:
                raise DiskError('cannot rename %s to %s: %s' % (step.src, step.dst, exc))
        else:
            try:
                os.unlink(step.src)
            except (IOError, OSError) as exc:
                raise DiskError('cannot remove %s: %s' % (step.src, exc))

    def undo(self):
        """Remove what a failed creation left at its temporary name (best effort: the failure is reported)."""
        for step in self.plan.cleanup:
            try:
                if step.kind == 'unlink':
                    if os.path.lexists(step.src):
                        os.unlink(step.src)
                else:
                    res = self.tool(step.argv, mutating=True, check=False)
                    if res.rc != 0:
                        self.module.warn('could not clean up after the failure: `%s` failed: %s'
                                         % (' '.join(res.cmd), res.said))
            except (IOError, OSError, XenError) as exc:
                self.module.warn('could not clean up after the failure (%s): %s' % (step.describe(), exc))

    # -- verify ----------------------------------------------------------------------------------

    def verify(self):
        """Read the disk again: the result reports what is there, and a disk that is not what the plan made
        fails the task (the tools' exit codes are not the only witness)."""
        spec, after = self.spec, self.plan.after
        if spec['backend'] == 'file':
            if after is None:
                if os.path.lexists(self.path):
                    raise DiskError('%s is still there after it was removed' % self.path)
                return
            got, res = self.info(self.path)
            if got is None:
                raise DiskError('%s cannot be read after it was made: %s' % (self.path, res.said),
                                cmd=res.cmd, rc=res.rc, stdout=res.stdout, stderr=res.stderr)
            self.final = got
            seen = disk.snapshot('file', self.path, got['format'], got['virtual_size'], got['backing_file'])
        else:
            lvs = self.lvm_report(hostcmd.lvs_report(spec['vg']), disk.parse_lvs)
            got = lvs.get(spec['name'])
            if after is None:
                if got is not None:
                    raise DiskError('%s is still there after lvremove' % self.path)
                return
            if got is None:
                raise DiskError('%s does not exist after it was made' % self.path)
            self.final = got
            seen = disk.snapshot('lvm', self.path, 'raw', got['size'], None, vg=spec['vg'], name=spec['name'],
                                 thin_pool=got['pool'])
        if seen != after:
            raise DiskError('%s is not what was planned after the change: expected %s, found %s'
                            % (self.path, after, seen))

    # -- result ----------------------------------------------------------------------------------

    def before(self):
        spec, cur = self.spec, self.current
        if cur is None:
            return None
        if spec['backend'] == 'file':
            return disk.snapshot('file', self.path, cur['format'], cur['virtual_size'], cur['backing_file'])
        return disk.snapshot('lvm', self.path, 'raw', cur['size'], None, vg=spec['vg'], name=spec['name'],
                             thin_pool=cur['pool'])

    def described(self, state):
        """The `disk` return value: the state after (verified, or predicted in check mode) with sizes."""
        if state is None:
            return None
        spec = self.spec
        measured = self.final if self.final is not None else (self.current if not self.plan.steps else None)
        result = dict(state, size_bytes=state['size_bytes'], virtual_size_bytes=state['size_bytes'],
                      actual_size_bytes=None, used_by=[d['name'] for d in self.doms])
        if measured is not None:
            if spec['backend'] == 'file':
                result['actual_size_bytes'] = measured.get('actual_size')
            else:
                result['actual_size_bytes'] = disk.lv_actual_size(measured)
        return result

    def result(self):
        before = self.before()
        after = None if self.spec['state'] == 'absent' else (self.plan.after or before)
        result = {'changed': bool(self.applied), 'applied': self.applied, 'disk': self.described(after),
                  'pending': self.plan.pending}
        if self.module._diff:
            result['diff'] = {'before': _diff_side(before, self.path), 'after': _diff_side(after, self.path),
                              'before_header': self.path, 'after_header': self.path}
        return result


def _diff_side(state, path):
    if state is None:
        return {'state': 'absent', 'path': path}
    return dict(state, state='present')


def _kind(path):
    """'file', 'a directory', 'a block device', ... (what is at `path`, symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except (IOError, OSError) as exc:
        return 'unreadable (%s)' % exc
    if stat.S_ISREG(mode):
        return 'file'
    if stat.S_ISDIR(mode):
        return 'a directory'
    if stat.S_ISBLK(mode):
        return 'a block device'
    return 'not a regular file'


def _head(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read(HEAD_BYTES)
    except (IOError, OSError):
        return b''
