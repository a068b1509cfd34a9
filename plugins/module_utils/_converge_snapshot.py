# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the xenfleet.xen collection: not a public API, may change without notice.
#
# The verb of xen_snapshot: take, drop and revert to named snapshots of a guest (layout and plans:
# _snapshot). In steps: validate; read the guest (live domain or config file), its disks and what they
# are on the host, the snapshots it has; refuse what cannot work before anything changes; act; report.
#
# Consistency: a snapshot with memory saves the guest (`xl save`: the domain is gone and its disks are
# quiet), snapshots the disks, and restores it from the image (kept in the snapshot); without memory a
# running guest is paused for the instant of the disk snapshots. `xl save -c` (checkpoint, the guest keeps
# running) is not used: in the lab the guest's xl monitor was gone afterwards, so its next shutdown or
# reboot left a zombie domain (../docs/snapshots.md).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil
import stat
import time

from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _files as files
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle as life
from ansible_collections.xenfleet.xen.plugins.module_utils import _snapshot as snap
from ansible_collections.xenfleet.xen.plugins.module_utils import _storage as storage
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import (
    DomainNotFoundError,
    InvalidSpec,
    NotRunningError,
    SavedImageError,
    SnapshotError,
    XenError,
)

# Seconds to wait for a disk's LV to be closed by the block backend after the domain is destroyed.
LV_CLOSE_WAIT = 30


def run(module, client):
    """xen_snapshot: run(module, client) -> result dict (run_module's worker)."""
    spec = snap.validate(module.params)
    for option in ('save_timeout', 'copy_timeout'):
        if module.params.get(option) is not None and module.params[option] <= 0:
            raise InvalidSpec(option, 'must be a positive number of seconds, got %r' % module.params[option])
    client.ensure_xen_host()
    return _Converge(module, client, spec).run()


def _now():
    return time.time()


class _Converge(object):

    def __init__(self, module, client, spec):
        self.module = module
        self.client = client
        self.spec = spec
        self.check = module.check_mode
        self.name = spec['name']
        self.gdir = snap.guest_dir(spec['snapshot_dir'], self.name)
        self.config_path = files.config_path(module.params['config_dir'], self.name)
        self.dom = None
        self.disks = []
        self.snapshots = {}
        self.broken = []
        self.applied = []
        self.storage = storage.HostStorage(client, module.params.get('copy_timeout'))

    # -- tools -----------------------------------------------------------------------------------

    def tool(self, argv, long=False, check=True):
        return self.storage.tool(argv, long=long, check=check)

    def step(self, text):
        self.applied.append(text)

    # -- read ------------------------------------------------------------------------------------

    def read_guest(self):
        """The live domain (or None) and the guest's disks, from the domain or else its config file."""
        self.dom = life.find_domain(self.client, self.name)
        if self.dom is not None:
            raw = self.dom.get('disks') or []
        elif os.path.isfile(self.config_path):
            try:
                settings = xlcfg.parse(files.read_text(self.config_path))
                raw = [xlcfg.parse_disk_spec(s) for s in settings.get('disk') or []]
            except (IOError, OSError, xlcfg.XlConfigError) as exc:
                raise InvalidSpec('name', 'cannot read the disks of %s from %s: %s' % (self.name, self.config_path,
                                                                                       exc))
        else:
            raise DomainNotFoundError('%s is neither a domain on this host nor defined in %s'
                                      % (self.name, self.config_path))
        self.disks = [self.storage.describe(d) for d in raw]

    def state(self):
        if self.dom is None:
            return 'shutoff'
        if self.dom.get('state'):
            return self.dom['state']
        return parse.state_from_flags(self.dom['flags']) if self.dom.get('flags') else 'running'

    def memory_mb(self):
        memory = (self.dom or {}).get('memory_mb') or {}
        return memory.get('current') or memory.get('target')

    def read_snapshots(self):
        """The guest's snapshots by name (summaries, with the manifest under 'manifest'); unreadable ones are
        listed in self.broken."""
        if not os.path.isdir(self.gdir):
            return
        for entry in sorted(os.listdir(self.gdir)):
            path = os.path.join(self.gdir, entry)
            if entry.startswith('.') or not os.path.isdir(path):
                continue
            try:
                data = snap.parse_manifest(files.read_text(os.path.join(path, snap.MANIFEST)), path)
            except (IOError, OSError, ValueError) as exc:
                self.broken.append('%s: %s' % (path, getattr(exc, 'strerror', None) or exc))
                continue
            found = snap.summary(data, path)
            found['manifest'] = data
            self.snapshots[data['snapshot']] = found

    # -- run ---------------------------------------------------------------------------------------

    def run(self):
        self.read_snapshots()
        for problem in self.broken:
            self.module.warn('not a readable snapshot, left alone: %s' % problem)
        before = sorted(self.snapshots)
        state = self.spec['state']
        result = {}
        if state == 'present':
            result = self.present()
        elif state == 'absent':
            if self.spec['snapshot'] in self.snapshots:
                self.remove(self.spec['snapshot'])
        else:
            result = self.revert()
        after = sorted(self.snapshots)
        result.update(changed=bool(self.applied), applied=self.applied,
                      snapshots=[self.public(self.snapshots[n]) for n in after])
        chosen = self.spec['snapshot']
        result['snapshot'] = self.public(self.snapshots[chosen]) if chosen in self.snapshots else None
        if self.module._diff:
            result['diff'] = {'before': {'snapshots': before}, 'after': {'snapshots': after},
                              'before_header': '%s snapshots' % self.name, 'after_header': '%s snapshots' % self.name}
            if state == 'reverted' and self.applied:
                result['diff']['after']['reverted_to'] = chosen
        return result

    @staticmethod
    def public(found):
        return dict((k, v) for k, v in found.items() if k != 'manifest')

    # -- present ---------------------------------------------------------------------------------

    def present(self):
        result = {}
        name = self.spec['snapshot']
        if name is not None and name not in self.snapshots:
            self.read_guest()
            result = self.take(name)
        if self.spec['retain'] is not None:
            dropped = snap.to_prune(list(self.snapshots.values()), self.spec['retain'], keep=name)
            for old in dropped:
                self.remove(old)
            result['pruned'] = dropped
        return result

    def take(self, name):
        spec = self.spec
        entries, skipped = snap.plan_disks(self.disks, name, spec['lvm_percent'], spec['lvm_size'])
        state = self.state()
        if spec['memory'] and state not in ('running', 'blocked', 'paused'):
            raise NotRunningError('%s is %s: a snapshot with memory needs a running guest (a stopped guest has '
                                  'no memory to keep; take it without memory)' % (self.name, state))
        self.check_room(entries, spec['memory'])
        final = snap.snapshot_path(spec['snapshot_dir'], self.name, name)
        partial = snap.partial_path(spec['snapshot_dir'], self.name, name)
        if os.path.lexists(final):
            raise SnapshotError('%s exists but holds no readable manifest: remove it (or use another snapshot '
                                'name); nothing was changed' % final)
        for e in entries:
            if e['method'] != snap.METHOD_COPY and e['snapshot_lv'] in self.storage.lvs(e['vg']):
                raise SnapshotError('the LV %s/%s exists already but no snapshot %s of %s records it: remove it or '
                                    'use another snapshot name; nothing was changed'
                                    % (e['vg'], e['snapshot_lv'], name, self.name))
        paused_before = state == 'paused'
        if spec['memory']:
            memory_path = os.path.join(final, snap.MEMORY)
            how = 'save %s (memory to %s), snapshot its disks, restore it' % (self.name, memory_path)
            if paused_before:
                how = 'unpause, ' + how + ', pause it'
        elif state in ('running', 'blocked'):
            how = 'pause %s, snapshot its disks, unpause it' % self.name
        else:
            how = 'snapshot the disks of %s (%s)' % (self.name, state)
        self.step('%s: %s' % (name, how))
        for e in entries:
            self.step('%s: %s' % (name, self.describe_take(e, partial)))
        created = int(_now())
        pause = None
        if not self.check:
            pause = self.take_now(name, entries, skipped, partial, final, state, created)
        data = snap.manifest(self.name, name, created, entries, skipped, spec['memory'], state, pause,
                             memory_mb=self.memory_mb() if spec['memory'] else None)
        found = snap.summary(data, final)
        found['manifest'] = data
        self.snapshots[name] = found
        return {'pause_seconds': pause}

    def describe_take(self, e, partial):
        if e['method'] == snap.METHOD_COPY:
            return ' '.join(hostcmd.copy_sparse(e['source'], os.path.join(partial, e['copy'])))
        if e['method'] == snap.METHOD_THIN:
            return ' '.join(hostcmd.lvcreate_thin_snapshot(e['vg'], e['lv'], e['snapshot_lv']))
        return ' '.join(hostcmd.lvcreate_snapshot(e['vg'], e['lv'], e['snapshot_lv'], e['cow_bytes']))

    def check_room(self, entries, memory):
        """Refuse before any change when the snapshot cannot fit: the VGs' free space for thick snapshots, the
        snapshot directory's file system for disk copies and the memory image."""
        spec = self.spec
        short = snap.vg_shortfall(entries, self.storage.vgs()) if any(
            e['method'] == snap.METHOD_THICK for e in entries) else []
        if short:
            said = ['the snapshots in volume group %s need %s, it has %s free'
                    % (vg, disk.format_size(n), disk.format_size(free)) for vg, n, free in short]
            raise InvalidSpec('lvm_snapshot_size', '; '.join(said) + ' (a smaller lvm_snapshot_size reserves less; '
                                                                     'nothing was changed)')
        need = snap.file_bytes(entries)
        if memory:
            need += files.save_room_mib(self.memory_mb() or 0) * 1024 * 1024
        if not need:
            return
        free, probe = files.free_bytes(spec['snapshot_dir'])
        if free is None:
            raise InvalidSpec('snapshot_dir', '%s cannot hold snapshots: %s is not a writable directory; nothing '
                                              'was changed' % (spec['snapshot_dir'], probe))
        if free < need:
            raise InvalidSpec('snapshot_dir', '%s has %s free; the snapshot needs about %s (disk copies%s); nothing '
                                              'was changed' % (spec['snapshot_dir'], disk.format_size(free),
                                                               disk.format_size(need),
                                                               ' and the memory image' if memory else ''))

    def take_now(self, name, entries, skipped, partial, final, state, created):
        """Build the snapshot in `partial`, then rename it to `final`; the guest is back as it was whatever
        happens. Returns the seconds the guest did not run (paused, or saved and restored)."""
        made_lvs = []
        try:
            if os.path.lexists(partial):
                shutil.rmtree(partial)
            for directory in (self.spec['snapshot_dir'], self.gdir):
                if not os.path.isdir(directory):
                    os.makedirs(directory, 0o700)   # memory images and disk copies hold the guest's secrets
            os.mkdir(partial, 0o700)
            if os.path.isfile(self.config_path):
                shutil.copy2(self.config_path, os.path.join(partial, snap.CONFIG))
        except (IOError, OSError) as exc:
            raise SnapshotError('cannot prepare %s: %s; nothing was changed' % (partial, exc))
        image = files.SaveImage(partial, snap.MEMORY)
        memory = self.spec['memory']
        stopped_at = None
        resumed = False
        try:
            if memory:
                if state == 'paused':
                    life.set_paused(self.client, self.name, False)
                stopped_at = _now()
                life.save(self.client, self.name, image, self.module.params['save_timeout'], self.dom['domid'])
            elif state in ('running', 'blocked'):
                stopped_at = _now()
                life.set_paused(self.client, self.name, True)
            for e in entries:
                self.snapshot_disk(e, partial)
                if e['method'] != snap.METHOD_COPY:
                    made_lvs.append(e)
            pause = self.resume(memory, state, image, stopped_at)
            resumed = True
            with open(os.path.join(partial, snap.MANIFEST), 'w') as handle:
                handle.write(snap.render_manifest(snap.manifest(
                    self.name, name, created, entries, skipped, memory, state, pause,
                    memory_mb=self.memory_mb() if memory else None)))
            os.rename(partial, final)
            return pause
        except Exception as exc:
            if not resumed and stopped_at is not None:
                try:
                    self.resume(memory, state, image, stopped_at)
                except XenError as again:
                    raise SnapshotError('taking snapshot %s of %s failed (%s), and bringing the guest back failed '
                                        'too: %s. Its memory image is kept in %s.'
                                        % (name, self.name, exc, again, partial))
            self.clean_partial(partial, made_lvs)
            if isinstance(exc, XenError):
                # the guest runs again and the partial snapshot (its memory image too) is gone: say so
                exc.msg = exc.msg.replace(' The image %s was kept.' % image.path, '')
                exc.msg = 'snapshot %s of %s not taken (%s is back as it was): %s' % (name, self.name, self.name,
                                                                                      exc.msg)
                raise
            if isinstance(exc, (IOError, OSError)):
                raise SnapshotError('snapshot %s of %s not taken (the guest is back as it was): %s'
                                    % (name, self.name, exc))
            raise

    def resume(self, memory, state, image, stopped_at):
        if memory:
            life.restore(self.client, self.name, image, paused=state == 'paused',
                         timeout=self.module.params['save_timeout'], keep=True)
        elif state in ('running', 'blocked'):
            life.set_paused(self.client, self.name, False)
        return round(_now() - stopped_at, 2) if stopped_at is not None else None

    def snapshot_disk(self, e, partial):
        if e['method'] == snap.METHOD_COPY:
            self.tool(hostcmd.copy_sparse(e['source'], os.path.join(partial, e['copy'])), long=True)
        elif e['method'] == snap.METHOD_THIN:
            self.tool(hostcmd.lvcreate_thin_snapshot(e['vg'], e['lv'], e['snapshot_lv']))
        else:
            self.tool(hostcmd.lvcreate_snapshot(e['vg'], e['lv'], e['snapshot_lv'], e['cow_bytes']))

    def clean_partial(self, partial, made_lvs):
        for e in made_lvs:
            res = self.tool(hostcmd.lvremove(e['vg'], e['snapshot_lv']), check=False)
            if res.rc != 0:
                self.module.warn('could not remove %s/%s after the failure: %s'
                                 % (e['vg'], e['snapshot_lv'], res.said))
        try:
            shutil.rmtree(partial)
        except (IOError, OSError) as exc:
            self.module.warn('could not remove %s after the failure: %s' % (partial, exc))

    # -- absent ----------------------------------------------------------------------------------

    def remove(self, name):
        found = self.snapshots[name]
        data = found['manifest']
        self.step('%s: remove %s' % (name, found['path']))
        lvs = [d for d in data['disks'] if d['method'] != snap.METHOD_COPY]
        for d in lvs:
            if d['snapshot_lv'] in self.storage.lvs(d['vg']):
                self.step('%s: %s' % (name, ' '.join(hostcmd.lvremove(d['vg'], d['snapshot_lv']))))
        if not self.check:
            # the directory goes first (renamed away): a half-removed snapshot is never listed as whole
            doomed = os.path.join(self.gdir, '.%s.removing' % name)
            try:
                if os.path.lexists(doomed):
                    shutil.rmtree(doomed)
                os.rename(found['path'], doomed)
            except (IOError, OSError) as exc:
                raise SnapshotError('cannot remove snapshot %s of %s: %s' % (name, self.name, exc))
            for d in lvs:
                if d['snapshot_lv'] in self.storage.lvs(d['vg']):
                    self.tool(hostcmd.lvremove(d['vg'], d['snapshot_lv']))
            shutil.rmtree(doomed, ignore_errors=True)
        del self.snapshots[name]

    # -- reverted --------------------------------------------------------------------------------

    def revert(self):
        name = self.spec['snapshot']
        if name not in self.snapshots:
            raise InvalidSpec('snapshot', '%s has no snapshot %s (its snapshots: %s)'
                              % (self.name, name, ', '.join(sorted(self.snapshots)) or 'none'))
        found = self.snapshots[name]
        data = found['manifest']
        self.read_guest()
        state = self.state()
        domid = self.dom['domid'] if self.dom else None
        problem = snap.mismatch(data['disks'], self.disks)
        if problem:
            raise InvalidSpec('snapshot', 'the disks of %s are not those snapshot %s recorded: %s. Nothing was '
                                          'changed.' % (self.name, name, problem))
        saved = files.SaveImage(self.module.params['save_dir'], self.name)
        if self.dom is None and saved.exists():
            raise SavedImageError('%s is saved (%s): its memory belongs to its current disks, and a revert would '
                                  'put other disks under it. Restore it or discard the image first (xen_domain '
                                  'state running, or discard_saved). Nothing was changed.' % (self.name, saved.path))
        for d in data['disks']:
            self.check_revertable(name, d, found['path'])
        if data.get('memory') and not os.path.isfile(os.path.join(found['path'], snap.MEMORY)):
            raise SnapshotError('snapshot %s records memory but %s is missing; nothing was changed'
                                % (name, os.path.join(found['path'], snap.MEMORY)))
        start = data.get('memory') or state in ('running', 'blocked', 'paused')
        if self.dom is not None:
            self.step('destroy %s (id %s, %s): its current state is replaced by snapshot %s'
                      % (self.name, domid, state, name))
        for d in data['disks']:
            self.step(self.describe_revert(d, found['path']))
        if data.get('memory'):
            self.step('restore %s from %s (it continues where the snapshot was taken)'
                      % (self.name, os.path.join(found['path'], snap.MEMORY)))
        elif start:
            self.step('start %s from %s (a fresh boot on the reverted disks)' % (self.name, self.config_path))
        if self.check:
            return {'downtime_seconds': None, 'domid': None}
        downtime, new_id = self.revert_now(name, data, found['path'], state)
        return {'downtime_seconds': downtime, 'domid': new_id}

    def check_revertable(self, name, d, path):
        if d['method'] == snap.METHOD_COPY:
            copy = os.path.join(path, d['copy'])
            if not os.path.isfile(copy):
                raise SnapshotError('snapshot %s lacks its copy of %s (%s); nothing was changed'
                                    % (name, d['vdev'], copy))
            need = os.stat(copy).st_blocks * 512
            stats = os.statvfs(os.path.dirname(d['source']))
            if stats.f_bavail * stats.f_frsize < need:
                raise SnapshotError('reverting %s needs %s free beside %s (the copy is staged there before it '
                                    'replaces the disk); nothing was changed' % (d['vdev'], disk.format_size(need),
                                                                                 d['source']))
            return
        lvs = self.storage.lvs(d['vg'])
        lv = lvs.get(d['snapshot_lv'])
        if lv is None:
            raise SnapshotError('snapshot %s lacks its LV %s/%s; nothing was changed'
                                % (name, d['vg'], d['snapshot_lv']))
        if d['method'] == snap.METHOD_THICK and lv['attr'][4:5] == 'I':
            raise SnapshotError('the LVM snapshot %s/%s is invalid (it ran out of copy-on-write space): snapshot %s '
                                'cannot be reverted to; nothing was changed' % (d['vg'], d['snapshot_lv'], name))

    def describe_revert(self, d, path):
        if d['method'] == snap.METHOD_COPY:
            return 'put back %s from %s' % (d['source'], os.path.join(path, d['copy']))
        if d['method'] == snap.METHOD_THIN:
            return 'put back %s from the thin snapshot %s/%s (a new thin snapshot of it replaces the LV)' % (
                d['source'], d['vg'], d['snapshot_lv'])
        return 'put back %s from %s/%s (lvconvert --merge, then the snapshot is taken again)' % (
            d['source'], d['vg'], d['snapshot_lv'])

    def revert_now(self, name, data, path, state):
        params = self.module.params
        staged = []
        try:
            for d in data['disks']:
                if d['method'] == snap.METHOD_COPY:
                    tmp = disk.tmp_path(d['source'])
                    self.tool(hostcmd.copy_sparse(os.path.join(path, d['copy']), tmp), long=True)
                    staged.append(('file', d, tmp))
                elif d['method'] == snap.METHOD_THIN:
                    tmp = disk.tmp_lv(d['lv'])
                    if tmp in self.storage.lvs(d['vg']):   # left by an interrupted revert
                        self.tool(hostcmd.lvremove(d['vg'], tmp))
                    self.tool(hostcmd.lvcreate_thin_snapshot(d['vg'], d['snapshot_lv'], tmp))
                    staged.append(('thin', d, tmp))
        except Exception:
            self.unstage(staged)
            raise
        stopped_at = _now()
        if self.dom is not None:
            try:
                life.destroy(self.client, self.name)
            except Exception:
                self.unstage(staged)
                raise
        done = []
        try:
            for kind, d, tmp in staged:
                if kind == 'file':
                    os.chmod(tmp, stat.S_IMODE(os.stat(d['source']).st_mode))
                    os.rename(tmp, d['source'])
                else:
                    self.wait_closed(d['vg'], d['lv'])
                    old = d['lv'] + '.xenfleet-old'
                    self.tool(hostcmd.lvrename(d['vg'], d['lv'], old))
                    self.tool(hostcmd.lvrename(d['vg'], tmp, d['lv']))
                    self.tool(hostcmd.lvremove(d['vg'], old))
                done.append(d['vdev'])
            for d in data['disks']:
                if d['method'] == snap.METHOD_THICK:
                    self.wait_closed(d['vg'], d['lv'])
                    self.tool(hostcmd.lvconvert_merge(d['vg'], d['snapshot_lv']), long=True)
                    done.append(d['vdev'])
                    self.tool(hostcmd.lvcreate_snapshot(d['vg'], d['lv'], d['snapshot_lv'], d['cow_bytes']))
            row = None
            if data.get('memory'):
                row = life.restore(self.client, self.name, files.SaveImage(path, snap.MEMORY),
                                   timeout=params['save_timeout'], keep=True)
            elif state in ('running', 'blocked', 'paused'):
                row = life.create(self.client, self.name, self.config_path, paused=state == 'paused',
                                  timeout=params['start_timeout'])
        except (XenError, IOError, OSError) as exc:
            raise SnapshotError('reverting %s to snapshot %s failed after %s: %s. Disks put back: %s of %s. The '
                                'guest is not running; fix the cause and run the revert again.'
                                % (self.name, name, 'the guest was destroyed' if self.dom is not None else
                                   'it started', getattr(exc, 'msg', None) or exc, ', '.join(done) or 'none',
                                   ', '.join(d['vdev'] for d in data['disks'])),
                                cmd=getattr(exc, 'cmd', None), rc=getattr(exc, 'rc', None),
                                stdout=getattr(exc, 'stdout', None), stderr=getattr(exc, 'stderr', None))
        return round(_now() - stopped_at, 2), row['domid'] if row else None

    def unstage(self, staged):
        for kind, d, tmp in staged:
            if kind == 'file':
                if os.path.lexists(tmp):
                    os.unlink(tmp)
            else:
                self.tool(hostcmd.lvremove(d['vg'], tmp), check=False)

    def wait_closed(self, vg, lv):
        """Wait (up to LV_CLOSE_WAIT s) until the destroyed domain's block backend has closed the LV."""
        deadline = _now() + LV_CLOSE_WAIT
        while True:
            found = self.storage.lvs(vg, fresh=True).get(lv)
            if found is None or not found['open'] or _now() > deadline:
                break
            time.sleep(1)
        if found is not None and found['open']:
            raise SnapshotError('%s/%s is still open %d s after %s was destroyed (another user of the volume?); '
                                'its snapshot was not put back' % (vg, lv, LV_CLOSE_WAIT, self.name))
