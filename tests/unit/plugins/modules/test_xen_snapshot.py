# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_snapshot through main(): the exact xl and tool argv sequence, answered with what the lab's dom0 answered
(tests/unit/fixtures/xen-4.17.5-lab-snapshot, captured by tests/lab/capture_snapshot.py with snapshot name `cap`:
guest snap1 with a raw file, a qcow2 file, a thick LV and a thin LV). The guest's image files live in the test's
tmp_path (the capture's /var/lib/xen/images is relocated there); its LVs are /dev/vgsnap/... paths that the test
gives a block device's stat. What the tools do to files (xl save writes the image, cp copies) is done by the
scripted answers; the module's own renames and removals really happen in tmp_path."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import shutil
import stat as statmod

import pytest
from ansible.module_utils import basic

from ansible_collections.xenfleet.xen.plugins.module_utils import _converge_snapshot
from ansible_collections.xenfleet.xen.plugins.module_utils import _lifecycle
from ansible_collections.xenfleet.xen.plugins.module_utils import _storage
from ansible_collections.xenfleet.xen.plugins.modules import xen_snapshot
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, captured_reply, run_module

SET = 'xen-4.17.5-lab-snapshot'
IMAGES = '/var/lib/xen/images'
VGS = ['vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free,vg_extent_size']
LVS = ['lvs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o',
       'lv_name,lv_path,lv_dm_path,lv_size,lv_attr,segtype,pool_lv,origin,data_percent', 'vgsnap']
GONE = ('xen-4.17.5-lab-save', 'xl_list_sv1_after_save')   # `xl list NAME` of a domain that is gone (rc 1)


class BlockStat(object):
    st_mode = statmod.S_IFBLK | 0o660
    st_blocks = 0


@pytest.fixture
def env(monkeypatch, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    (images / 'snap1-raw.img').write_bytes(b'A' * 4096)
    (images / 'snap1.qcow2').write_bytes(b'QFI\xfb' + b'\0' * 1020)
    os.chmod(str(images / 'snap1-raw.img'), 0o600)
    etc = tmp_path / 'etc'
    etc.mkdir()
    (etc / 'snap1.cfg').write_text(u'name = "snap1"\n')
    real_stat = os.stat
    monkeypatch.setattr(_storage, '_stat',
                        lambda path: BlockStat() if path.startswith('/dev/') else real_stat(path))
    monkeypatch.setattr(_lifecycle.time, 'sleep', lambda s: None)
    monkeypatch.setattr(_converge_snapshot.time, 'sleep', lambda s: None)

    def run(args, steps):
        full = dict(name='snap1', snapshot='cap', snapshot_dir=str(tmp_path / 'snapshots'), config_dir=str(etc),
                    save_dir=str(tmp_path / 'save'))
        full.update(args)
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_snapshot.main, full, script)
        return result, failed, script

    run.dir = tmp_path
    run.images = str(images)
    run.snapshots = str(tmp_path / 'snapshots')
    run.relocate = lambda text: text.replace(IMAGES, str(images))
    return run


def cap(env, name, effect=None, capture_set=SET):
    """The captured answer of `name` (relocated); `effect(call)` first does what the command did to files."""
    return captured_reply(name, capture_set, env.relocate, effect)


def copy_effect(call):
    shutil.copyfile(call[-2], call[-1])


def save_effect(call):
    with open(call[-1], 'wb') as handle:
        handle.write(b'xl save image')


def reads(env, lvs='lvs'):
    return [(['list', '-l'], cap(env, 'xl_list_l_running')), (['list'], cap(env, 'xl_list_running')),
            (VGS, cap(env, 'vgs')), (LVS, cap(env, lvs))]


def cp(env, src, dst, name='cp_raw'):
    return (['cp', '--sparse=always', '--reflink=auto', src, dst], cap(env, name, copy_effect))


def take_disks(env, partial):
    return [
        cp(env, env.images + '/snap1-raw.img', partial + '/disk-xvdb'),
        cp(env, env.images + '/snap1.qcow2', partial + '/disk-xvdc', 'cp_qcow2'),
        (['lvcreate', '--yes', '-s', '-n', 'snap1-thick_snap_cap', '-L', '67108864b', 'vgsnap/snap1-thick'],
         cap(env, 'lvcreate_thick')),
        (['lvcreate', '--yes', '-s', '-kn', '-n', 'snap1-thin_snap_cap', 'vgsnap/snap1-thin'], cap(env, 'lvcreate_thin')),
    ]


def take_with_memory(env):
    partial = env.snapshots + '/snap1/.cap.partial'
    return reads(env) + [
        (['save', 'snap1', partial + '/.memory.saving'], cap(env, 'xl_save', save_effect)),
        (['list', 'snap1'], cap(env, GONE[1], capture_set=GONE[0])),
    ] + take_disks(env, partial) + [
        (['restore', partial + '/memory'], cap(env, 'xl_restore')),
        (['list', 'snap1'], cap(env, 'xl_list_snap1_unpaused')),
    ]


PREDICTED = [
    'cap: save snap1 (memory to {s}/snap1/cap/memory), snapshot its disks, restore it',
    'cap: cp --sparse=always --reflink=auto {i}/snap1-raw.img {s}/snap1/.cap.partial/disk-xvdb',
    'cap: cp --sparse=always --reflink=auto {i}/snap1.qcow2 {s}/snap1/.cap.partial/disk-xvdc',
    'cap: lvcreate --yes -s -n snap1-thick_snap_cap -L 67108864b vgsnap/snap1-thick',
    'cap: lvcreate --yes -s -kn -n snap1-thin_snap_cap vgsnap/snap1-thin',
]


def test_take_with_memory_four_calls(env):
    predicted = [line.format(s=env.snapshots, i=env.images) for line in PREDICTED]
    # check mode: the reads only, the exact plan, nothing on disk
    result, failed, _script = env(dict(memory=True, _ansible_check_mode=True, _ansible_diff=True), reads(env))
    assert not failed, result
    assert result['changed'] and result['applied'] == predicted
    assert result['pause_seconds'] is None and not os.path.exists(env.snapshots)
    assert result['diff']['before'] == {'snapshots': []} and result['diff']['after'] == {'snapshots': ['cap']}
    # for real: save, the four disks, restore; the snapshot renamed into place
    result, failed, script = env(dict(memory=True, _ansible_diff=True), take_with_memory(env))
    assert not failed, result
    assert result['changed'] and result['applied'] == predicted
    assert result['pause_seconds'] >= 0
    final = os.path.join(env.snapshots, 'snap1', 'cap')
    assert sorted(os.listdir(final)) == ['config.cfg', 'disk-xvdb', 'disk-xvdc', 'manifest.json', 'memory']
    assert not os.path.exists(os.path.join(env.snapshots, 'snap1', '.cap.partial'))
    assert statmod.S_IMODE(os.stat(os.path.join(env.snapshots, 'snap1')).st_mode) == 0o700
    with open(os.path.join(final, 'manifest.json')) as handle:
        manifest = json.load(handle)
    assert manifest['memory'] and manifest['memory_mb'] == 128 and manifest['guest_state'] == 'blocked'
    assert [(d['vdev'], d['method']) for d in manifest['disks']] == [
        ('xvdb', 'copy'), ('xvdc', 'copy'), ('xvdd', 'lvm-snapshot'), ('xvde', 'lvm-thin-snapshot')]
    snap = result['snapshot']
    assert snap['disks'][2]['snapshot'] == '/dev/vgsnap/snap1-thick_snap_cap' and snap['path'] == final
    # again, check and real: it exists, nothing to do - and nothing is read of the guest or LVM to know it
    for check in (True, False):
        result, failed, _script = env(dict(memory=True, _ansible_check_mode=check, _ansible_diff=True), [])
        assert not failed and not result['changed'] and result['applied'] == []
        assert result['diff']['before'] == result['diff']['after'] == {'snapshots': ['cap']}
        assert result['snapshot']['created'] == manifest['created']


def test_take_without_memory_pauses_the_running_guest(env):
    partial = env.snapshots + '/snap1/.cap.partial'
    steps = reads(env) + [
        (['pause', 'snap1'], cap(env, 'xl_pause')), (['list', 'snap1'], cap(env, 'xl_list_snap1_paused')),
    ] + take_disks(env, partial) + [
        (['unpause', 'snap1'], cap(env, 'xl_unpause')), (['list', 'snap1'], cap(env, 'xl_list_snap1_unpaused')),
    ]
    result, failed, _script = env({}, steps)
    assert not failed, result
    assert result['applied'][0] == 'cap: pause snap1, snapshot its disks, unpause it'
    assert not result['snapshot']['memory'] and result['pause_seconds'] >= 0
    assert not os.path.exists(os.path.join(env.snapshots, 'snap1', 'cap', 'memory'))


def test_a_failed_disk_snapshot_brings_the_guest_back_and_leaves_nothing(env):
    partial = env.snapshots + '/snap1/.cap.partial'
    disks = take_disks(env, partial)
    disks[2] = (disks[2][0], cap(env, 'err_lvcreate_no_space', capture_set='debian12-storage'))
    steps = reads(env) + [
        (['save', 'snap1', partial + '/.memory.saving'], cap(env, 'xl_save', save_effect)),
        (['list', 'snap1'], cap(env, GONE[1], capture_set=GONE[0])),
    ] + disks[:3] + [
        (['restore', partial + '/memory'], cap(env, 'xl_restore')),
        (['list', 'snap1'], cap(env, 'xl_list_snap1_unpaused')),
    ]
    result, failed, _script = env(dict(memory=True), steps)
    assert failed and result['error'] == 'command_failed'
    assert result['msg'].startswith('snapshot cap of snap1 not taken (snap1 is back as it was): ')
    assert os.listdir(os.path.join(env.snapshots, 'snap1')) == []


def test_refusals_change_nothing(env):
    # memory of a guest that does not run (the config file only)
    none = [(['list', '-l'], cap(env, 'xl_list_l_saved')), (['list'], cap(env, 'xl_list_saved'))]
    result, failed, _script = env(dict(memory=True), none)
    assert failed and result['error'] == 'not_running', result
    assert 'snap1 is shutoff: a snapshot with memory needs a running guest' in result['msg']
    # a guest neither running nor defined
    result, failed, _script = env(dict(name='ghost'), none)
    assert failed and result['error'] == 'domain_not_found' and 'ghost' in result['msg']
    # a revert to a snapshot the guest does not have names the ones it has
    result, failed, _script = env(dict(snapshot='nothere', state='reverted'), [])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == 'snapshot: snap1 has no snapshot nothere (its snapshots: none)'
    assert not os.path.exists(env.snapshots)


def test_revert_with_memory(env):
    env(dict(memory=True), take_with_memory(env))
    path = env.snapshots + '/snap1/cap'
    raw = env.images + '/snap1-raw.img'
    with open(raw, 'wb') as handle:
        handle.write(b'B' * 4096)   # the disk changed after the snapshot
    predicted = [
        'destroy snap1 (id 8, blocked): its current state is replaced by snapshot cap',
        'put back %s from %s/disk-xvdb' % (raw, path),
        'put back %s/snap1.qcow2 from %s/disk-xvdc' % (env.images, path),
        'put back /dev/vgsnap/snap1-thick from vgsnap/snap1-thick_snap_cap (lvconvert --merge, then the snapshot is '
        'taken again)',
        'put back /dev/vgsnap/snap1-thin from the thin snapshot vgsnap/snap1-thin_snap_cap (a new thin snapshot of '
        'it replaces the LV)',
        'restore snap1 from %s/memory (it continues where the snapshot was taken)' % path,
    ]
    result, failed, _script = env(dict(state='reverted', _ansible_check_mode=True), reads(env, 'lvs_with_snapshots'))
    assert not failed and result['changed'] and result['applied'] == predicted
    with open(raw, 'rb') as handle:
        assert handle.read(1) == b'B'
    steps = reads(env, 'lvs_with_snapshots') + [
        cp(env, path + '/disk-xvdb', env.images + '/.snap1-raw.img.xenfleet-tmp', 'cp_back'),
        cp(env, path + '/disk-xvdc', env.images + '/.snap1.qcow2.xenfleet-tmp', 'cp_back'),
        (['lvcreate', '--yes', '-s', '-kn', '-n', 'snap1-thin.xenfleet-tmp', 'vgsnap/snap1-thin_snap_cap'],
         cap(env, 'lvcreate_thin_of_snapshot')),
        (['destroy', 'snap1'], cap(env, 'xl_destroy')),
        (['list', 'snap1'], cap(env, GONE[1], capture_set=GONE[0])),
        (LVS, cap(env, 'lvs_after_destroy')),
        (['lvrename', 'vgsnap', 'snap1-thin', 'snap1-thin.xenfleet-old'], cap(env, 'lvrename_old')),
        (['lvrename', 'vgsnap', 'snap1-thin.xenfleet-tmp', 'snap1-thin'], cap(env, 'lvrename_new')),
        (['lvremove', '--yes', 'vgsnap/snap1-thin.xenfleet-old'], cap(env, 'lvremove_old')),
        (LVS, cap(env, 'lvs_after_destroy')),
        (['lvconvert', '--merge', 'vgsnap/snap1-thick_snap_cap'], cap(env, 'lvconvert_merge')),
        (['lvcreate', '--yes', '-s', '-n', 'snap1-thick_snap_cap', '-L', '67108864b', 'vgsnap/snap1-thick'],
         cap(env, 'lvcreate_thick_again')),
        (['restore', path + '/memory'], cap(env, 'xl_restore_again')),
        (['list', 'snap1'], cap(env, 'xl_list_snap1_unpaused')),
    ]
    result, failed, _script = env(dict(state='reverted', _ansible_diff=True), steps)
    assert not failed, result
    assert result['changed'] and result['applied'] == predicted
    assert result['downtime_seconds'] >= 0 and result['domid'] == 8
    assert result['diff']['after']['reverted_to'] == 'cap'
    with open(raw, 'rb') as handle:
        assert handle.read(1) == b'A'   # the disk is the snapshot's again
    assert statmod.S_IMODE(os.stat(raw).st_mode) == 0o600
    assert os.path.isfile(path + '/memory')   # kept: the snapshot can be reverted to again


def test_absent_removes_directory_and_lvs(env):
    env(dict(memory=True), take_with_memory(env))
    steps = [
        (LVS, cap(env, 'lvs_with_snapshots')),
        (['lvremove', '--yes', 'vgsnap/snap1-thick_snap_cap'], cap(env, 'lvremove_thick_snapshot')),
        (['lvremove', '--yes', 'vgsnap/snap1-thin_snap_cap'], cap(env, 'lvremove_thin_snapshot')),
    ]
    result, failed, _script = env(dict(state='absent', _ansible_diff=True), steps)
    assert not failed, result
    assert result['applied'] == ['cap: remove %s/snap1/cap' % env.snapshots,
                                 'cap: lvremove --yes vgsnap/snap1-thick_snap_cap',
                                 'cap: lvremove --yes vgsnap/snap1-thin_snap_cap']
    assert result['snapshot'] is None and result['snapshots'] == []
    assert os.listdir(os.path.join(env.snapshots, 'snap1')) == []


def test_a_restore_whose_hotplug_scripts_timed_out_is_tried_once_more(env, monkeypatch):
    # seen in the lab (benchmarks/snapshot beside a CPU-bound job): libxl killed the block hotplug scripts of the
    # restored domain at its timeout and gave up on it; the image is intact, a second restore succeeded
    partial = env.snapshots + '/snap1/.cap.partial'
    steps = reads(env) + [
        (['save', 'snap1', partial + '/.memory.saving'], cap(env, 'xl_save', save_effect)),
        (['list', 'snap1'], cap(env, GONE[1], capture_set=GONE[0])),
    ] + take_disks(env, partial) + [
        (['restore', partial + '/memory'], cap(env, 'xl_restore_hotplug_timeout')),
        (['list', 'snap1'], cap(env, GONE[1], capture_set=GONE[0])),   # nothing of the domain is left
        (['restore', partial + '/memory'], cap(env, 'xl_restore')),
        (['list', 'snap1'], cap(env, 'xl_list_snap1_unpaused')),
    ]
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg))
    result, failed, _script = env(dict(memory=True), steps)
    assert not failed, result
    assert result['changed'] and result['snapshot']['memory']
    assert len(warnings) == 1 and 'restored it again after 5 s (attempt 2)' in warnings[0], warnings
    assert 'block add because of timeout' in warnings[0]
    assert os.path.isfile(os.path.join(env.snapshots, 'snap1', 'cap', 'memory'))


def test_a_restore_that_meets_every_hotplug_timeout_leaves_no_partial_snapshot_and_says_where_the_guest_is(env):
    partial = env.snapshots + '/snap1/.cap.partial'
    timeout = (['restore', partial + '/memory'], cap(env, 'xl_restore_hotplug_timeout'))
    gone = (['list', 'snap1'], cap(env, GONE[1], capture_set=GONE[0]))
    steps = reads(env) + [
        (['save', 'snap1', partial + '/.memory.saving'], cap(env, 'xl_save', save_effect)), gone,
    ] + take_disks(env, partial) + [timeout, gone, timeout, gone, timeout, gone,
                                    # the module's own second try (take_now brings the guest back), which works
                                    (['restore', partial + '/memory'], cap(env, 'xl_restore')),
                                    (['list', 'snap1'], cap(env, 'xl_list_snap1_unpaused')),
                                    (['lvremove', '--yes', 'vgsnap/snap1-thick_snap_cap'],
                                     cap(env, 'lvremove_thick_snapshot')),
                                    (['lvremove', '--yes', 'vgsnap/snap1-thin_snap_cap'],
                                     cap(env, 'lvremove_thin_snapshot'))]
    result, failed, _script = env(dict(memory=True), steps)
    assert failed and result['error'] == 'hotplug_timeout'
    assert result['msg'].startswith('snapshot cap of snap1 not taken (snap1 is back as it was): ')
    assert 'was kept' not in result['msg']
    assert os.listdir(os.path.join(env.snapshots, 'snap1')) == []


def test_a_revert_is_refused_while_the_guest_is_saved_or_its_disks_changed(env):
    env(dict(memory=True), take_with_memory(env))
    stopped = [(['list', '-l'], cap(env, 'xl_list_l_saved')), (['list'], cap(env, 'xl_list_saved'))]
    # the guest is saved by xen_domain (no domain, an image in save_dir): its memory belongs to its current disks
    os.makedirs(str(env.dir / 'save'))
    (env.dir / 'save' / 'snap1').write_bytes(b'xl save image')
    with open(str(env.dir / 'etc' / 'snap1.cfg'), 'w') as handle:
        handle.write('name = "snap1"\ndisk = [ "%s/snap1-raw.img,raw,xvdb,rw", "%s/snap1.qcow2,qcow2,xvdc,rw", '
                     '"/dev/vgsnap/snap1-thick,raw,xvdd,rw", "/dev/vgsnap/snap1-thin,raw,xvde,rw" ]\n'
                     % (env.images, env.images))
    result, failed, _script = env(dict(state='reverted'), stopped + [(VGS, cap(env, 'vgs')),
                                                                     (LVS, cap(env, 'lvs_with_snapshots'))])
    assert failed and result['error'] == 'saved_image' and 'Nothing was changed' in result['msg'], result
    # a disk moved since the snapshot
    os.unlink(str(env.dir / 'save' / 'snap1'))
    with open(str(env.dir / 'etc' / 'snap1.cfg'), 'w') as handle:
        handle.write('name = "snap1"\ndisk = [ "%s/snap1.qcow2,qcow2,xvdb,rw" ]\n' % env.images)
    result, failed, _script = env(dict(state='reverted'), stopped)
    assert failed and result['error'] == 'invalid_parameter'
    assert 'xvdb is now %s/snap1.qcow2, the snapshot has %s/snap1-raw.img' % (env.images, env.images) in result['msg']
    assert 'xvdc (%s/snap1.qcow2) is no longer a writable disk' % env.images in result['msg']
