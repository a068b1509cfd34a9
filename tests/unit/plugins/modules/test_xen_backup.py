# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_backup through main(): the exact xl and tool argv sequence, answered with what the lab's dom0 answered
(tests/unit/fixtures/xen-4.17.5-lab-backup, captured by tests/lab/capture_backup.py: a raw file, a qcow2 file, a
thick and a thin LV of volume group vgbak exported and imported; `xl list` of the lab's snapshot guest snap1,
saved and running, from xen-4.17.5-lab-snapshot). The disks' files live in the test's tmp_path (the capture's
/var/lib/xen/capbak is relocated there); the LVs are /dev/vgbak/... paths that the test gives a block device's
stat. What qemu-img writes is written by the scripted answers (a few bytes: the checksums are the module's, of
what is there); the module's own copies, checksums, renames and removals really happen in tmp_path."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import hashlib
import json
import os
import stat as statmod

import pytest
from ansible.module_utils import basic

from ansible_collections.xenfleet.xen.plugins.module_utils import _storage
from ansible_collections.xenfleet.xen.plugins.modules import xen_backup
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, captured_reply, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

SET = 'xen-4.17.5-lab-backup'
GUEST_SET = 'xen-4.17.5-lab-snapshot'
CAPBAK = '/var/lib/xen/capbak'
VGS = ['vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free,vg_extent_size']
LVS = ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o',
       'lv_name,lv_path,lv_dm_path,lv_size,lv_attr,segtype,pool_lv,origin,data_percent', 'vgbak']
MEMORY = b'xl save image of snap1 ' * 4096


class BlockStat(object):
    st_mode = statmod.S_IFBLK | 0o660
    st_blocks = 0


@pytest.fixture
def env(monkeypatch, tmp_path):
    base = tmp_path / 'capbak'
    src = base / 'src'
    src.mkdir(parents=True)
    (src / 'src-raw.img').write_bytes(b'R' * 8192)
    (src / 'src.qcow2').write_bytes(b'QFI\xfb' + b'\0' * 1020)
    etc = tmp_path / 'etc'
    etc.mkdir()
    # the config's disks in this order: the LVs first, so that a failing file conversion has LVs to undo
    (etc / 'snap1.cfg').write_text(
        u'name = "snap1"\nuuid = "6e3a1b7c-0000-4000-8000-000000000001"\nmemory = 128\n'
        u'disk = [ "format=raw, vdev=xvdd, access=rw, target=/dev/vgbak/src-thick",\n'
        u'         "format=raw, vdev=xvde, access=rw, target=/dev/vgbak/src-thin",\n'
        u'         "format=raw, vdev=xvdb, access=rw, target=%s/src-raw.img",\n'
        u'         "format=qcow2, vdev=xvdc, access=rw, target=%s/src.qcow2" ]\n'
        u'vif = [ "mac=00:16:3e:5e:00:01, bridge=xenbr0" ]\n' % (src, src))
    save = tmp_path / 'save'
    save.mkdir()
    real_stat = os.stat
    monkeypatch.setattr(_storage, '_stat', lambda path: BlockStat() if path.startswith('/dev/') else real_stat(path))

    def run(args, steps):
        full = dict(name='snap1', backup='b1', backup_dir=str(tmp_path / 'backups'), config_dir=str(etc),
                    save_dir=str(save))
        full.update(args)
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_backup.main, full, script)
        return result, failed, script

    run.dir = tmp_path
    run.src = str(src)
    run.etc = str(etc)
    run.save = str(save)
    run.backup = str(tmp_path / 'backups' / 'snap1' / 'b1')
    run.partial = str(tmp_path / 'backups' / 'snap1' / '.b1.partial')
    run.relocate = lambda text: text.replace(CAPBAK, str(base))
    return run


def cap(env, name, effect=None, capture_set=SET):
    """The captured answer of `name` (relocated); `effect(call)` first does what the command did to files."""
    return captured_reply(name, capture_set, env.relocate, effect)


def writes(data):
    def effect(call):
        with open(call[-1], 'wb') as handle:
            handle.write(data)
    return effect


def saved(env):
    with open(os.path.join(env.save, 'snap1'), 'wb') as handle:
        handle.write(MEMORY)


def guest_reads(env, which='saved'):
    return [(['list', '-l'], cap(env, 'xl_list_l_' + which, capture_set=GUEST_SET)),
            (['list'], cap(env, 'xl_list_' + which, capture_set=GUEST_SET))]


def export_reads(env):
    return guest_reads(env) + [(VGS, cap(env, 'vgs')), (LVS, cap(env, 'lvs'))]


def convert_c(src, fmt, out, compress=True):
    return ['qemu-img', 'convert'] + (['-c'] if compress else []) + ['-f', fmt, '-O', 'qcow2', src, out]


def info(path):
    return ['qemu-img', 'info', '-U', '--output=json', path]


def export_steps(env):
    p = env.partial
    return [
        (convert_c('/dev/vgbak/src-thick', 'raw', p + '/disk-xvdd.qcow2'), cap(env, 'export_thick', writes(b'D' * 300))),
        (info(p + '/disk-xvdd.qcow2'), cap(env, 'info_export_thick')),
        (convert_c('/dev/vgbak/src-thin', 'raw', p + '/disk-xvde.qcow2'), cap(env, 'export_thin', writes(b'E' * 300))),
        (info(p + '/disk-xvde.qcow2'), cap(env, 'info_export_thin')),
        (convert_c(env.src + '/src-raw.img', 'raw', p + '/disk-xvdb.qcow2'), cap(env, 'export_raw', writes(b'B' * 200))),
        (info(p + '/disk-xvdb.qcow2'), cap(env, 'info_export_raw')),
        (convert_c(env.src + '/src.qcow2', 'qcow2', p + '/disk-xvdc.qcow2'), cap(env, 'export_qcow2', writes(b'C' * 100))),
        (info(p + '/disk-xvdc.qcow2'), cap(env, 'info_export_qcow2')),
    ]


def sha(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def export(env):
    saved(env)
    result, failed, _script = env({}, export_reads(env) + export_steps(env))
    assert not failed, result
    return result


def test_export_of_a_saved_guest_four_calls(env):
    saved(env)
    # check mode: the reads, the exact plan, nothing written
    result, failed, _script = env(dict(_ansible_check_mode=True, _ansible_diff=True), export_reads(env))
    assert not failed, result
    assert result['changed'] and result['applied'] == [
        'export snap1 (saved: with its memory image) to %s' % env.backup,
        'copy %s/snap1.cfg' % env.etc,
        'qemu-img convert -c -f raw -O qcow2 /dev/vgbak/src-thick %s/disk-xvdd.qcow2' % env.partial,
        'qemu-img convert -c -f raw -O qcow2 /dev/vgbak/src-thin %s/disk-xvde.qcow2' % env.partial,
        'qemu-img convert -c -f raw -O qcow2 %s/src-raw.img %s/disk-xvdb.qcow2' % (env.src, env.partial),
        'qemu-img convert -c -f qcow2 -O qcow2 %s/src.qcow2 %s/disk-xvdc.qcow2' % (env.src, env.partial),
        'copy %s/snap1 (gzip)' % env.save]
    assert not os.path.exists(os.path.join(str(env.dir), 'backups'))
    assert result['diff']['before'] == {'backup': None} and result['diff']['after']['backup']['memory']
    # the run: every file written, recorded with its size and checksum
    result, failed, _script = env({}, export_reads(env) + export_steps(env))
    assert not failed, result
    assert result['changed'] and result['seconds'] is not None and not os.path.exists(env.partial)
    with open(os.path.join(env.backup, 'manifest.json')) as handle:
        data = json.load(handle)
    assert data['source'] == {'kind': 'saved', 'snapshot': None} and data['compress'] is True
    assert [d['vdev'] for d in data['disks']] == ['xvdd', 'xvde', 'xvdb', 'xvdc']
    thick, thin, raw, qcow = data['disks']
    assert (thick['kind'], thick['vg'], thick['lv'], thick['size'], thick['thin_pool']) == \
        ('lv', 'vgbak', 'src-thick', 67108864, None)
    assert (thin['thin_pool'], raw['kind'], qcow['format']) == ('pool', 'file', 'qcow2')
    # the virtual size is qemu-img's, of the export
    assert thick['virtual_size'] == json.loads(Capture('info_export_thick', SET).stdout)['virtual-size']
    for d in data['disks']:
        path = os.path.join(env.backup, d['file'])
        assert d['bytes'] == os.path.getsize(path) and d['sha256'] == sha(path)
    with gzip.open(os.path.join(env.backup, 'memory.gz')) as handle:
        assert handle.read() == MEMORY
    assert data['memory']['image_bytes'] == len(MEMORY) and data['memory']['sha256'] == sha(
        os.path.join(env.backup, 'memory.gz'))
    assert data['config']['sha256'] == sha(os.path.join(env.etc, 'snap1.cfg'))
    assert oct(os.stat(os.path.dirname(env.backup)).st_mode & 0o777) == oct(0o700)
    assert result['backup']['bytes'] == sum(p['bytes'] for p in data['disks']) + data['memory']['bytes'] + \
        data['config']['bytes']
    # again, and in check mode: nothing to do, nothing read of the guest
    for extra in ({}, dict(_ansible_check_mode=True)):
        result, failed, script = env(extra, [])
        assert not failed and not result['changed'] and result['applied'] == [] and script.seen == []
        assert result['backup']['name'] == 'b1'


def test_export_refuses_a_running_guest_and_writes_nothing(env):
    result, failed, _script = env({}, guest_reads(env, 'running'))
    assert failed and result['error'] == 'guest_running' and 'option snapshot' in result['msg']
    assert not os.path.exists(os.path.join(str(env.dir), 'backups'))


def test_a_failed_export_leaves_nothing(env):
    saved(env)
    steps = export_reads(env) + export_steps(env)[:2] + [
        (convert_c('/dev/vgbak/src-thin', 'raw', env.partial + '/disk-xvde.qcow2'),
         cap(env, 'err_import_no_space', writes(b'half'))),
    ]
    result, failed, _script = env({}, steps)
    assert failed and result['error'] == 'backup_failed' and 'nothing of it is left' in result['msg']
    assert 'No space left on device' in result['stderr']
    assert os.listdir(os.path.join(str(env.dir), 'backups', 'snap1')) == []


def import_args(env, **kw):
    args = dict(state='imported', new_name='snap2', memory=False, config_dir=str(env.dir / 'etc2'),
                disks=[dict(vdev='xvdd', target='/dev/vgbak/b-thick'),
                       dict(vdev='xvde', target='/dev/vgbak/b-thin', thin_pool='pool'),
                       dict(vdev='xvdb', target=str(env.dir / 'in' / 'b-raw.img')),
                       dict(vdev='xvdc', target=str(env.dir / 'in' / 'b.qcow2'))])
    args.update(kw)
    return args


def import_reads(env):
    return guest_reads(env) + [(VGS, cap(env, 'vgs')), (LVS, cap(env, 'lvs'))]


def import_steps(env):
    b, i = env.backup, str(env.dir / 'in')
    return [
        (['lvcreate', '--yes', '-n', 'b-thick.xenfleet-tmp', '-L', '67108864b', 'vgbak'], cap(env, 'lvcreate_thick_tmp')),
        (['qemu-img', 'convert', '-n', '-f', 'qcow2', '-O', 'raw', b + '/disk-xvdd.qcow2', '/dev/vgbak/b-thick.xenfleet-tmp'],
         cap(env, 'import_lv_thick')),
        (['lvcreate', '--yes', '-n', 'b-thin.xenfleet-tmp', '-V', '67108864b', '--thinpool', 'pool', 'vgbak'],
         cap(env, 'lvcreate_thin_tmp')),
        (['qemu-img', 'convert', '-n', '--target-is-zero', '-f', 'qcow2', '-O', 'raw', b + '/disk-xvde.qcow2',
          '/dev/vgbak/b-thin.xenfleet-tmp'], cap(env, 'import_lv_thin')),
        (['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', b + '/disk-xvdb.qcow2', i + '/.b-raw.img.xenfleet-tmp'],
         cap(env, 'import_file_raw', writes(b'raw disk'))),
        (['qemu-img', 'convert', '-f', 'qcow2', '-O', 'qcow2', b + '/disk-xvdc.qcow2', i + '/.b.qcow2.xenfleet-tmp'],
         cap(env, 'import_file_qcow2', writes(b'qcow2 disk'))),
    ]


def test_import_under_a_new_name_four_calls(env, monkeypatch):
    export(env)
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    config = str(env.dir / 'etc2' / 'snap2.cfg')
    i = str(env.dir / 'in')
    # check mode: every file verified, the targets checked, the plan; nothing written
    result, failed, _script = env(import_args(env, _ansible_check_mode=True), import_reads(env))
    assert not failed, result
    assert result['changed'] and result['imported'] and result['name'] == 'snap2' and not result['memory']
    assert result['applied'][0] == 'verified 6 files of %s against its manifest' % env.backup
    assert result['applied'][-1] == 'write %s' % config and not os.path.exists(config) and not os.path.exists(i)
    assert len(warnings) == 1 and 'same MAC addresses (00:16:3e:5e:00:01)' in warnings[0], warnings
    # the run
    result, failed, _script = env(import_args(env), import_reads(env) + import_steps(env) + [
        (['lvrename', 'vgbak', 'b-thick.xenfleet-tmp', 'b-thick'], cap(env, 'lvrename_thick')),
        (['lvrename', 'vgbak', 'b-thin.xenfleet-tmp', 'b-thin'], cap(env, 'lvrename_thin')),
    ])
    assert not failed, result
    assert result['changed'] and result['imported'] and result['seconds'] is not None
    with open(os.path.join(i, 'b-raw.img'), 'rb') as handle:
        assert handle.read() == b'raw disk'
    assert os.stat(os.path.join(i, 'b.qcow2')).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(i)) == ['b-raw.img', 'b.qcow2']
    with open(config) as handle:
        text = handle.read()
    assert 'name = "snap2"' in text and 'uuid' not in text
    assert 'target=/dev/vgbak/b-thick' in text and 'target=%s/b.qcow2' % i in text and '/src-' not in text
    # again, and in check mode: the guest is defined here - nothing more is done
    for extra in ({}, dict(_ansible_check_mode=True)):
        result, failed, _script = env(import_args(env, **extra), guest_reads(env))
        assert not failed and not result['changed'] and result['imported'] is False and result['applied'] == []


def test_import_in_place_refuses_existing_disks(env):
    export(env)
    result, failed, _script = env(dict(state='imported', config_dir=str(env.dir / 'etc2'),
                                       save_dir=str(env.dir / 'save2')), import_reads(env))
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith('disks: /dev/vgbak/src-thick exists already')
    assert not os.path.exists(str(env.dir / 'etc2')) and not os.path.exists(str(env.dir / 'save2'))


@pytest.mark.parametrize('damage,said', [
    (lambda path: open(path, 'ab').write(b'x'), 'has 301 bytes, the manifest records 300'),
    (lambda path: open(path, 'r+b').write(b'X'), 'has SHA-256'),
    (os.unlink, 'cannot be read'),
])
def test_import_refuses_a_damaged_backup_before_anything(env, damage, said):
    export(env)
    damage(os.path.join(env.backup, 'disk-xvdd.qcow2'))
    result, failed, _script = env(import_args(env), guest_reads(env))
    assert failed and result['error'] == 'backup_corrupt', result
    assert 'disk xvdd' in result['msg'] and said in result['msg'] and 'nothing was imported' in result['msg']
    assert not os.path.exists(str(env.dir / 'etc2')) and not os.path.exists(str(env.dir / 'in'))


def test_a_failed_import_removes_everything_it_made(env):
    export(env)
    b, i = env.backup, str(env.dir / 'in')
    steps = import_reads(env) + import_steps(env)[:4] + [
        (['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', b + '/disk-xvdb.qcow2', i + '/.b-raw.img.xenfleet-tmp'],
         cap(env, 'err_import_no_space', writes(b'half'))),
        (['lvremove', '--yes', 'vgbak/b-thick.xenfleet-tmp'], cap(env, 'lvremove_undo_tmp')),
        (['lvremove', '--yes', 'vgbak/b-thin.xenfleet-tmp'], cap(env, 'lvremove_undo_tmp')),
    ]
    result, failed, _script = env(import_args(env), steps)
    assert failed and result['error'] == 'backup_failed', result
    assert 'No space left on device' in result['msg'] and result['msg'].endswith('Nothing of it is left.')
    assert os.listdir(i) == [] and not os.path.exists(str(env.dir / 'etc2' / 'snap2.cfg'))


def test_import_with_memory_puts_the_image_where_xen_domain_restores_it(env):
    # a guest with image files only, exported saved, imported with its memory where its files were (as on
    # another host: the files are moved away first)
    with open(os.path.join(env.etc, 'snap1.cfg'), 'w') as handle:
        handle.write(u'name = "snap1"\nmemory = 128\n'
                     u'disk = [ "format=raw, vdev=xvdb, access=rw, target=%s/src-raw.img",\n'
                     u'         "format=qcow2, vdev=xvdc, access=rw, target=%s/src.qcow2" ]\n' % (env.src, env.src))
    saved(env)
    result, failed, _script = env({}, guest_reads(env) + export_steps(env)[4:])
    assert not failed, result
    moved = str(env.dir / 'moved')
    os.rename(env.src, moved)
    save2 = str(env.dir / 'save2')
    steps = guest_reads(env) + [
        (['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw', env.backup + '/disk-xvdb.qcow2',
          env.src + '/.src-raw.img.xenfleet-tmp'], cap(env, 'import_file_raw', writes(b'raw disk'))),
        (['qemu-img', 'convert', '-f', 'qcow2', '-O', 'qcow2', env.backup + '/disk-xvdc.qcow2',
          env.src + '/.src.qcow2.xenfleet-tmp'], cap(env, 'import_file_qcow2', writes(b'qcow2 disk'))),
    ]
    result, failed, _script = env(dict(state='imported', config_dir=str(env.dir / 'etc2'), save_dir=save2), steps)
    assert not failed, result
    assert result['imported'] and result['memory'] and result['name'] == 'snap1'
    assert 'xen_domain state running restores it' in result['applied'][-2]
    with open(os.path.join(save2, 'snap1'), 'rb') as handle:
        assert handle.read() == MEMORY
    assert sorted(os.listdir(save2)) == ['snap1'] and sorted(os.listdir(env.src)) == ['src-raw.img', 'src.qcow2']
    with open(str(env.dir / 'etc2' / 'snap1.cfg')) as handle, open(os.path.join(env.etc, 'snap1.cfg')) as orig:
        assert handle.read() == orig.read()
    # under a new name the memory image cannot come along
    result, failed, _script = env(dict(state='imported', new_name='snap3', config_dir=str(env.dir / 'etc2'),
                                       save_dir=save2), [])
    assert failed and result['msg'].startswith('new_name: backup b1 holds the memory image of snap1')


def test_absent_removes_the_backup(env):
    export(env)
    result, failed, _script = env(dict(state='absent', _ansible_check_mode=True), [])
    assert not failed and result['changed'] and os.path.isdir(env.backup)
    result, failed, _script = env(dict(state='absent'), [])
    assert not failed and result['changed'] and result['backup'] is None and not os.path.exists(env.backup)
    assert os.listdir(os.path.dirname(env.backup)) == []
    result, failed, _script = env(dict(state='absent'), [])
    assert not failed and not result['changed']


def test_import_of_an_unknown_backup_names_the_ones_there(env):
    export(env)
    result, failed, _script = env(dict(state='imported', backup='nope'), [])
    assert failed and result['msg'] == 'backup: there is no backup nope of snap1 in %s (its backups there: b1)' % (
        os.path.dirname(os.path.dirname(env.backup)))


def test_export_of_a_snapshot_while_the_guest_runs(env, tmp_path):
    """Snapshot `cap` of snap1 (as xen_snapshot wrote it in the lab: a raw and a qcow2 copy, a thick and a thin LV
    snapshot; lvs as captured with them) is exported while snap1 runs: its copies and volumes are read, the guest's
    own disks are not; its memory image comes along."""
    from ansible_collections.xenfleet.xen.plugins.module_utils import _snapshot as snap
    images = str(tmp_path / 'images')
    os.mkdir(images)
    for name in ('snap1-raw.img', 'snap1.qcow2'):
        with open(os.path.join(images, name), 'wb') as handle:
            handle.write(b'live data')
    sdir = tmp_path / 'snapshots' / 'snap1' / 'cap'
    sdir.mkdir(parents=True)
    (sdir / 'config.cfg').write_text(
        u'name = "snap1"\nmemory = 128\n'
        u'disk = [ "format=raw, vdev=xvdb, access=rw, target=%s/snap1-raw.img",\n'
        u'         "format=qcow2, vdev=xvdc, access=rw, target=%s/snap1.qcow2",\n'
        u'         "format=raw, vdev=xvdd, access=rw, target=/dev/vgsnap/snap1-thick",\n'
        u'         "format=raw, vdev=xvde, access=rw, target=/dev/vgsnap/snap1-thin" ]\n' % (images, images))
    (sdir / 'disk-xvdb').write_bytes(b'snapshot raw')
    (sdir / 'disk-xvdc').write_bytes(b'snapshot qcow2')
    (sdir / 'memory').write_bytes(MEMORY)
    entries = [
        dict(vdev='xvdb', source=images + '/snap1-raw.img', format='raw', method='copy', copy='disk-xvdb'),
        dict(vdev='xvdc', source=images + '/snap1.qcow2', format='qcow2', method='copy', copy='disk-xvdc'),
        dict(vdev='xvdd', source='/dev/vgsnap/snap1-thick', format='raw', vg='vgsnap', lv='snap1-thick',
             snapshot_lv='snap1-thick_snap_cap', method='lvm-snapshot', cow_bytes=67108864),
        dict(vdev='xvde', source='/dev/vgsnap/snap1-thin', format='raw', vg='vgsnap', lv='snap1-thin',
             snapshot_lv='snap1-thin_snap_cap', method='lvm-thin-snapshot', cow_bytes=0)]
    (sdir / 'manifest.json').write_text(snap.render_manifest(snap.manifest(
        'snap1', 'cap', 1764770000, entries, [], True, 'running', 5.1, memory_mb=128)))
    p = env.partial
    vgs = (VGS, cap(env, 'vgs', capture_set=GUEST_SET))
    lvs = (LVS[:-1] + ['vgsnap'], cap(env, 'lvs_with_snapshots', capture_set=GUEST_SET))
    steps = [vgs, lvs] + [
        (convert_c(str(sdir / 'disk-xvdb'), 'raw', p + '/disk-xvdb.qcow2', False),
         cap(env, 'export_raw_uncompressed', writes(b'B'))),
        (info(p + '/disk-xvdb.qcow2'), cap(env, 'info_export_raw_uncompressed')),
        (convert_c(str(sdir / 'disk-xvdc'), 'qcow2', p + '/disk-xvdc.qcow2', False), cap(env, 'export_qcow2', writes(b'C'))),
        (info(p + '/disk-xvdc.qcow2'), cap(env, 'info_export_qcow2')),
        (convert_c('/dev/vgsnap/snap1-thick_snap_cap', 'raw', p + '/disk-xvdd.qcow2', False),
         cap(env, 'export_thick', writes(b'D'))),
        (info(p + '/disk-xvdd.qcow2'), cap(env, 'info_export_thick')),
        (convert_c('/dev/vgsnap/snap1-thin_snap_cap', 'raw', p + '/disk-xvde.qcow2', False),
         cap(env, 'export_thin', writes(b'E'))),
        (info(p + '/disk-xvde.qcow2'), cap(env, 'info_export_thin')),
    ]
    result, failed, _script = env(dict(snapshot='cap', snapshot_dir=str(tmp_path / 'snapshots'),
                                       compress=False), steps)
    assert not failed, result
    assert result['applied'][0] == 'export snapshot cap of snap1 to %s' % env.backup
    assert result['backup']['source'] == {'kind': 'snapshot', 'snapshot': 'cap'} and result['backup']['memory']
    assert [d['target'] for d in result['backup']['disks']] == [
        images + '/snap1-raw.img', images + '/snap1.qcow2', '/dev/vgsnap/snap1-thick', '/dev/vgsnap/snap1-thin']
    # without compress the memory image is a plain copy
    with open(os.path.join(env.backup, 'memory'), 'rb') as handle:
        assert handle.read() == MEMORY
    with open(os.path.join(env.backup, 'manifest.json')) as handle:
        data = json.load(handle)
    assert data['disks'][3]['thin_pool'] == 'pool' and data['memory']['file'] == 'memory'
