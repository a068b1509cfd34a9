# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_snapshot: the declaration, the per-disk plan, the manifest, retain and the revert's disk check (pure)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _snapshot as snap
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec

GIB = 1 << 30


def params(**kw):
    p = dict(name='web1', snapshot='s1', state='present', memory=False, retain=None, snapshot_dir='/var/lib/xen/snap',
             lvm_snapshot_size='100%')
    p.update(kw)
    return p


def refused(param, **kw):
    with pytest.raises(InvalidSpec) as err:
        snap.validate(params(**kw))
    assert err.value.param == param
    return str(err.value)


def test_validate_defaults():
    spec = snap.validate(params())
    assert spec == dict(name='web1', snapshot='s1', state='present', memory=False, retain=None,
                        snapshot_dir='/var/lib/xen/snap', lvm_percent=100, lvm_size=None)


@pytest.mark.parametrize('size, percent, nbytes', [('20%', 20, None), (' 5 % ', 5, None), ('2G', None, 2 * GIB),
                                                   ('512M', None, 512 << 20)])
def test_validate_lvm_snapshot_size(size, percent, nbytes):
    spec = snap.validate(params(lvm_snapshot_size=size))
    assert (spec['lvm_percent'], spec['lvm_size']) == (percent, nbytes)


@pytest.mark.parametrize('kw, param, words', [
    (dict(snapshot=None), 'snapshot', 'required with state present'),
    (dict(snapshot=None, state='reverted'), 'snapshot', 'required with state reverted'),
    (dict(snapshot='a/b'), 'snapshot', 'may only contain'),
    (dict(snapshot='-x'), 'snapshot', 'start with a letter or digit'),
    (dict(snapshot='x' * 65), 'snapshot', 'at most 64'),
    (dict(name='bad name'), 'name', ''),
    (dict(snapshot_dir='relative/dir'), 'snapshot_dir', 'not an absolute path'),
    (dict(retain=0), 'retain', 'must be 1 or more'),
    (dict(retain=2, state='absent'), 'retain', 'state present only'),
    (dict(memory=True, state='reverted'), 'memory', 'applies to state present'),
    (dict(lvm_snapshot_size='0%'), 'lvm_snapshot_size', '1% to 100%'),
    (dict(lvm_snapshot_size='150%'), 'lvm_snapshot_size', '1% to 100%'),
    (dict(lvm_snapshot_size='lots'), 'lvm_snapshot_size', 'a share of the origin like 20%'),
    (dict(lvm_snapshot_size='0'), 'lvm_snapshot_size', 'above 0'),
])
def test_validate_refuses(kw, param, words):
    assert words in refused(param, **kw)


def test_retain_without_snapshot_only_prunes():
    assert snap.validate(params(snapshot=None, retain=3))['snapshot'] is None


def lv(name, size=4 * GIB, thin=False, origin=None, thin_pool=False):
    return dict(name=name, size=size, thin=thin, origin=origin, thin_pool=thin_pool)


DISKS = [
    dict(vdev='xvda', target='/var/lib/xen/images/web1.qcow2', format='qcow2', access='rw', kind='file',
         allocated=300 << 20),
    dict(vdev='xvdb', target='/dev/vg0/web1-data', format='raw', access='rw', kind='lv', vg='vg0',
         lv=lv('web1-data')),
    dict(vdev='xvdc', target='/dev/vg0/web1-thin', format='raw', access='rw', kind='lv', vg='vg0',
         lv=lv('web1-thin', thin=True)),
    dict(vdev='xvdd', target='/var/lib/xen/seeds/web1.iso', format='raw', access='ro', kind='file'),
    dict(vdev='hdc', target='/srv/install.iso', format='raw', access='ro', cdrom=True),
]


def test_plan_disks_by_backend():
    entries, skipped = snap.plan_disks(DISKS, 's1', lvm_percent=25)
    assert [(e['vdev'], e['method']) for e in entries] == [('xvda', 'copy'), ('xvdb', 'lvm-snapshot'),
                                                           ('xvdc', 'lvm-thin-snapshot')]
    assert entries[0]['copy'] == 'disk-xvda' and entries[0]['allocated'] == 300 << 20
    assert entries[1]['snapshot_lv'] == 'web1-data_snap_s1' and entries[1]['cow_bytes'] == GIB
    assert entries[2]['cow_bytes'] == 0
    assert skipped == [dict(vdev='xvdd', source='/var/lib/xen/seeds/web1.iso', reason='read-only'),
                       dict(vdev='hdc', source='/srv/install.iso', reason='cdrom')]


def test_plan_disks_fixed_cow_size_is_capped_at_the_origin():
    entries, _skipped = snap.plan_disks(DISKS[1:2], 's1', lvm_percent=None, lvm_size=16 * GIB)
    assert entries[0]['cow_bytes'] == 4 * GIB


@pytest.mark.parametrize('disk, words', [
    (dict(vdev='xvda', target='/dev/sdb', access='rw', kind='block'), 'not a logical volume'),
    (dict(vdev='xvda', target='/gone.img', access='rw', kind='missing'), 'does not exist'),
    (dict(vdev='xvda', target='/dev/vg0/s', access='rw', kind='lv', vg='vg0', lv=lv('s', origin='web1')),
     'a thick snapshot (of web1)'),
    (dict(vdev='xvda', target='/dev/vg0/pool', access='rw', kind='lv', vg='vg0', lv=lv('pool', thin_pool=True)),
     'a thin pool'),
    (dict(vdev='xvda', target='/dev/ttyS0', access='rw', kind='not a file or block device'), 'not a file'),
])
def test_plan_disks_refuses(disk, words):
    with pytest.raises(InvalidSpec) as err:
        snap.plan_disks([disk], 's1')
    assert err.value.param == 'name' and words in str(err.value) and 'xvda' in str(err.value)


def test_plan_disks_takes_a_thin_snapshot_like_any_thin_volume():
    # a linked clone (xen_disk clone=linked on LVM) and a disk a revert replaced are thin snapshots
    clone = dict(DISKS[2], lv=lv('web1-thin', thin=True, origin='golden'))
    entries, _skipped = snap.plan_disks([clone], 's1')
    assert entries[0]['method'] == 'lvm-thin-snapshot'


def test_plan_disks_refuses_a_snapshot_lv_name_lvm_cannot_take():
    long_lv = dict(DISKS[1], lv=lv('x' * 70))
    with pytest.raises(InvalidSpec) as err:
        snap.plan_disks([long_lv], 'y' * 60)
    assert err.value.param == 'snapshot' and 'at most' in str(err.value)


def test_vg_shortfall_rounds_to_extents_and_sums_per_vg():
    entries, _skipped = snap.plan_disks(DISKS, 's1', lvm_percent=None, lvm_size=(1 << 20) + 1)
    vgs = {'vg0': dict(free=4 << 20, extent=4 << 20)}
    assert snap.vg_shortfall(entries, vgs) == []
    vgs = {'vg0': dict(free=4 << 20, extent=8 << 20)}
    assert snap.vg_shortfall(entries, vgs) == [('vg0', 8 << 20, 4 << 20)]


def test_file_bytes_counts_copies_only():
    entries, _skipped = snap.plan_disks(DISKS, 's1')
    assert snap.file_bytes(entries) == 300 << 20


def test_manifest_round_trip_and_summary():
    entries, skipped = snap.plan_disks(DISKS, 's1')
    data = snap.manifest('web1', 's1', 1764770000, entries, skipped, True, 'running', 3.25, memory_mb=256)
    text = snap.render_manifest(data)
    back = snap.parse_manifest(text, '/x/web1/s1')
    assert back == data and 'allocated' not in back['disks'][0]
    found = snap.summary(back, '/x/web1/s1')
    assert found['disks'] == [
        dict(vdev='xvda', source='/var/lib/xen/images/web1.qcow2', method='copy', snapshot='/x/web1/s1/disk-xvda'),
        dict(vdev='xvdb', source='/dev/vg0/web1-data', method='lvm-snapshot', snapshot='/dev/vg0/web1-data_snap_s1'),
        dict(vdev='xvdc', source='/dev/vg0/web1-thin', method='lvm-thin-snapshot',
             snapshot='/dev/vg0/web1-thin_snap_s1')]
    assert (found['memory'], found['pause_seconds'], found['guest_state']) == (True, 3.25, 'running')


@pytest.mark.parametrize('text, words', [
    ('not json', 'not a readable snapshot manifest'),
    ('[]', 'not a snapshot manifest of version 1'),
    ('{"version": 2, "disks": []}', 'version 1'),
    ('{"version": 1, "disks": [], "guest": "g", "snapshot": "s"}', "has no 'created'"),
])
def test_parse_manifest_refuses(text, words):
    with pytest.raises(ValueError) as err:
        snap.parse_manifest(text, '/x/g/s')
    assert words in str(err.value) and '/x/g/s' in str(err.value)


def test_to_prune_keeps_the_newest_and_the_named_one():
    snaps = [dict(name=n, created=c) for n, c in (('a', 1), ('b', 2), ('c', 3), ('d', 4))]
    assert snap.to_prune(snaps, 2) == ['a', 'b']
    assert snap.to_prune(snaps, 2, keep='a') == ['b', 'c']
    assert snap.to_prune(snaps, 4) == []
    assert snap.to_prune(snaps[::-1], 3) == ['a']


def test_mismatch():
    recorded = [dict(vdev='xvda', source='/a.img'), dict(vdev='xvdb', source='/dev/vg0/b')]
    same = [dict(vdev='xvda', target='/a.img', access='rw'), dict(vdev='xvdb', target='/dev/vg0/b', access='rw'),
            dict(vdev='xvdd', target='/seed.iso', access='ro')]
    assert snap.mismatch(recorded, same) is None
    changed = [dict(vdev='xvda', target='/other.img', access='rw'), dict(vdev='xvdc', target='/c.img', access='rw')]
    problem = snap.mismatch(recorded, changed)
    assert problem == ('xvda is now /other.img, the snapshot has /a.img; xvdb (/dev/vg0/b) is no longer a writable '
                       'disk of the guest; xvdc (/c.img) was added after the snapshot')
