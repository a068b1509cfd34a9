# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_backup: the declaration, the export plan, the manifest, the import plan and the rewritten config file."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _backup as bk
from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as xlcfg
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

# the lab's LVs (tests/unit/fixtures/xen-4.17.5-lab-snapshot/lvs): snap1-thick, snap1-thin in pool `pool`
LVS = disk.parse_lvs(Capture('lvs', 'xen-4.17.5-lab-snapshot').stdout)


def params(**kw):
    p = dict(name='web1', backup='b1', backup_dir='/srv/backup', state='present', snapshot=None,
             snapshot_dir=None, compress=True, new_name=None, disks=None, memory=True)
    p.update(kw)
    return p


def invalid(param, **kw):
    with pytest.raises(InvalidSpec) as err:
        bk.validate(params(**kw))
    assert err.value.param == param, err.value.msg
    return err.value.msg


def test_validate_defaults():
    spec = bk.validate(params(backup_dir='/srv//backup/'))
    assert spec['backup_dir'] == '/srv/backup' and spec['snapshot_dir'] == '/var/lib/xen/snapshots'
    assert spec['disks'] == {} and spec['compress'] and spec['memory']


@pytest.mark.parametrize('kw,param', [
    (dict(name='bad name'), 'name'),
    (dict(backup='../x'), 'backup'),
    (dict(backup=''), 'backup'),
    (dict(backup_dir='relative/dir'), 'backup_dir'),
    (dict(backup_dir=None), 'backup_dir'),
    (dict(snapshot_dir='snaps'), 'snapshot_dir'),
    (dict(snapshot='s1', state='imported'), 'snapshot'),
    (dict(snapshot='bad/name'), 'snapshot'),
    (dict(new_name='web2'), 'new_name'),
    (dict(new_name='bad name', state='imported'), 'new_name'),
    (dict(disks=[dict(vdev='xvda', target='/x')]), 'disks'),
    (dict(state='imported', disks=[dict(vdev='vda', target='/x')]), 'disks[0]'),
    (dict(state='imported', disks=[dict(vdev='xvda', target='x.img')]), 'disks[0]'),
    (dict(state='imported', disks=[dict(vdev='xvda', target='/a'), dict(vdev='xvda', target='/b')]), 'disks[1]'),
    (dict(state='imported', disks=[dict(vdev='xvda', target='/srv/a.img', thin_pool='pool')]), 'disks[0]'),
    (dict(state='imported', disks=[dict(vdev='xvda', target='/dev/vg0/-bad')]), 'disks[0]'),
])
def test_validate_refuses_naming_the_parameter(kw, param):
    assert invalid(param, **kw)


def test_validate_disk_mapping():
    spec = bk.validate(params(state='imported', new_name='web2', disks=[
        dict(vdev='xvda', target='/dev/vg0/web2', thin_pool='pool0'), dict(vdev='xvdb', target='/srv//img/b.img')]))
    assert spec['disks'] == {'xvda': dict(target='/dev/vg0/web2', thin_pool='pool0'),
                             'xvdb': dict(target='/srv/img/b.img', thin_pool=None)}


def test_layout():
    assert bk.backup_path('/b', 'web1', 'n1') == '/b/web1/n1'
    assert bk.partial_path('/b', 'web1', 'n1') == '/b/web1/.n1.partial'
    assert bk.disk_file('xvda') == 'disk-xvda.qcow2'
    assert bk.memory_file(True) == 'memory.gz' and bk.memory_file(False) == 'memory'


def described():
    return [
        dict(vdev='xvda', target='/img/web1.qcow2', format='qcow2', access='rw', cdrom=False, kind='file',
             allocated=1000),
        dict(vdev='xvdb', target='/dev/vgsnap/snap1-thick', format='raw', access='rw', cdrom=False, kind='lv',
             vg='vgsnap', lv=LVS['snap1-thick']),
        dict(vdev='xvdc', target='/dev/vgsnap/snap1-thin', format='raw', access='rw', cdrom=False, kind='lv',
             vg='vgsnap', lv=LVS['snap1-thin'], read='/dev/vgsnap/snap1-thin_snap_s1'),
        dict(vdev='xvdd', target='/seeds/web1.iso', format='raw', access='ro', cdrom=True, kind='file',
             allocated=4096),
        dict(vdev='hdc', target=None, format='raw', access='ro', cdrom=True),
    ]


def test_plan_export():
    entries, skipped = bk.plan_export(described())
    assert [e['vdev'] for e in entries] == ['xvda', 'xvdb', 'xvdc', 'xvdd']
    assert skipped == [dict(vdev='hdc', reason='cdrom without media')]
    a, b, c, d = entries
    assert (a['kind'], a['format'], a['read'], a['file'], a['allocated']) == \
        ('file', 'qcow2', '/img/web1.qcow2', 'disk-xvda.qcow2', 1000)
    # a thick LV is counted whole; a thin one by the pool data it uses (0.10 % of 64 MiB)
    assert (b['kind'], b['vg'], b['lv'], b['size'], b['thin_pool'], b['allocated']) == \
        ('lv', 'vgsnap', 'snap1-thick', 67108864, None, 67108864)
    assert (c['thin_pool'], c['read'], c['allocated']) == ('pool', '/dev/vgsnap/snap1-thin_snap_s1',
                                                           disk.lv_actual_size(LVS['snap1-thin']))
    assert d['cdrom'] and d['access'] == 'ro'
    assert bk.export_bytes(entries, 500) == 1000 + 67108864 + c['allocated'] + 4096 + 500


@pytest.mark.parametrize('kind,said', [('missing', 'does not exist'), ('block', 'not a logical volume'),
                                       ('not a file or block device', 'image files and LVM volumes only')])
def test_plan_export_refuses(kind, said):
    with pytest.raises(InvalidSpec) as err:
        bk.plan_export([dict(vdev='xvda', target='/x', kind=kind)])
    assert said in err.value.msg and 'xvda (/x)' in err.value.msg


def finished_manifest(memory=True):
    entries, skipped = bk.plan_export(described())
    for i, e in enumerate(entries):
        e.update(bytes=100 + i, sha256='%064x' % i, virtual_size=e.get('size') or 1073741824)
    return bk.manifest('web1', 'b1', 1764770000, dict(kind='saved', snapshot=None), entries, skipped,
                       dict(file='config.cfg', bytes=50, sha256='c' * 64),
                       dict(file='memory.gz', bytes=70, sha256='d' * 64, image_bytes=140) if memory else None, True)


def test_manifest_round_trip_and_summary():
    data = finished_manifest()
    text = bk.render_manifest(data)
    again = bk.parse_manifest(text, '/b/web1/b1/manifest.json')
    assert again == json.loads(text) and 'read' not in again['disks'][2]
    assert [p[0] for p in bk.pieces(again)] == ['config', 'disk xvda', 'disk xvdb', 'disk xvdc', 'disk xvdd',
                                                'memory image']
    found = bk.summary(again, '/b/web1/b1')
    assert found['bytes'] == 50 + 100 + 101 + 102 + 103 + 70 and found['memory']
    assert found['disks'][0] == dict(vdev='xvda', target='/img/web1.qcow2', kind='file',
                                     file='/b/web1/b1/disk-xvda.qcow2', bytes=100)


@pytest.mark.parametrize('change,said', [
    (lambda d: d.update(format='other'), 'is not a xenfleet.xen backup manifest'),
    (lambda d: d.update(version=2), 'of version 1'),
    (lambda d: d.pop('config'), "has no 'config'"),
    (lambda d: d['disks'][0].pop('sha256'), 'does not describe fully'),
    (lambda d: d['disks'][0].update(file='../etc/passwd'), 'does not describe fully'),
    (lambda d: d['memory'].update(file='.hidden'), 'does not describe fully'),
    (lambda d: d['disks'][1].pop('vg'), 'without vg, lv and size'),
    (lambda d: d['disks'][0].update(kind='block'), 'disk it does not describe fully'),
])
def test_parse_manifest_refuses(change, said):
    data = finished_manifest()
    change(data)
    with pytest.raises(ValueError) as err:
        bk.parse_manifest(json.dumps(data), '/b/m.json')
    assert said in str(err.value) and '/b/m.json' in str(err.value)


def test_parse_manifest_refuses_garbage():
    with pytest.raises(ValueError) as err:
        bk.parse_manifest('{"format": ', '/b/m.json')
    assert 'not a readable backup manifest' in str(err.value)


def import_spec(**kw):
    return bk.validate(params(state='imported', **kw))


def test_plan_import_in_place():
    data = finished_manifest()
    name, targets, memory = bk.plan_import(data, import_spec())
    assert name == 'web1' and memory
    assert [(t['vdev'], t['kind'], t['target'], t['moved']) for t in targets] == [
        ('xvda', 'file', '/img/web1.qcow2', False), ('xvdb', 'lv', '/dev/vgsnap/snap1-thick', False),
        ('xvdc', 'lv', '/dev/vgsnap/snap1-thin', False), ('xvdd', 'file', '/seeds/web1.iso', False)]
    assert (targets[1]['vg'], targets[1]['lv'], targets[1]['size'], targets[1]['thin_pool']) == \
        ('vgsnap', 'snap1-thick', 67108864, None)
    assert targets[2]['thin_pool'] == 'pool' and targets[0]['format'] == 'qcow2'


def test_plan_import_moved_and_renamed_without_memory():
    data = finished_manifest()
    spec = import_spec(new_name='web2', memory=False, disks=[
        dict(vdev='xvda', target='/dev/vg0/web2', thin_pool='pool0'), dict(vdev='xvdb', target='/img/web2-b.img')])
    name, targets, memory = bk.plan_import(data, spec)
    assert name == 'web2' and not memory
    a, b = targets[0], targets[1]
    # an image file into a volume: its virtual size, raw
    assert (a['kind'], a['vg'], a['lv'], a['size'], a['thin_pool'], a['format'], a['moved']) == \
        ('lv', 'vg0', 'web2', 1073741824, 'pool0', 'raw', True)
    # a volume into an image file: raw
    assert (b['kind'], b['target'], b['format'], b['moved']) == ('file', '/img/web2-b.img', 'raw', True)


@pytest.mark.parametrize('kw,param,said', [
    (dict(disks=[dict(vdev='xvdz', target='/x.img')]), 'disks', 'has no disk xvdz'),
    (dict(disks=[dict(vdev='xvda', target='/seeds/web1.iso')]), 'disks', 'would both be /seeds/web1.iso'),
    (dict(new_name='web2'), 'new_name', 'holds the memory image of web1'),
    (dict(disks=[dict(vdev='xvda', target='/img/elsewhere.qcow2')]), 'memory', "disks' paths"),
])
def test_plan_import_refuses(kw, param, said):
    with pytest.raises(InvalidSpec) as err:
        bk.plan_import(finished_manifest(), import_spec(**kw))
    assert err.value.param == param and said in err.value.msg


def test_plan_import_memory_false_or_absent_allows_moves():
    spec = import_spec(new_name='web2')
    assert bk.plan_import(finished_manifest(memory=False), spec)[2] is False
    spec = import_spec(disks=[dict(vdev='xvda', target='/img/elsewhere.qcow2')], memory=False)
    assert bk.plan_import(finished_manifest(), spec)[1][0]['target'] == '/img/elsewhere.qcow2'


CONFIG = '''# web1, written by xen_domain
name = "web1"
uuid = "0b2f7e5a-1111-2222-3333-444455556666"
memory = 256
disk = [ "format=qcow2, vdev=xvda, access=rw, target=/img/web1.qcow2",
         "format=raw, vdev=xvdb, access=rw, target=/dev/vgsnap/snap1-thick" ]
vif = [ "mac=00:16:3e:aa:bb:cc, bridge=xenbr0" ]
'''


def test_rewrite_config_unchanged_is_the_same_text():
    _name, targets, _memory = bk.plan_import(finished_manifest(), import_spec())
    assert bk.rewrite_config(CONFIG, 'web1', targets) == CONFIG


def test_rewrite_config_new_name_and_moved_disk():
    spec = import_spec(new_name='web2', memory=False, disks=[dict(vdev='xvda', target='/dev/vg0/web2')])
    name, targets, _memory = bk.plan_import(finished_manifest(), spec)
    text = bk.rewrite_config(CONFIG, name, targets)
    settings = xlcfg.parse(text)
    assert settings['name'] == 'web2' and 'uuid' not in settings and settings['memory'] == 256
    assert settings['disk'] == ['format=raw, vdev=xvda, access=rw, target=/dev/vg0/web2',
                                'format=raw, vdev=xvdb, access=rw, target=/dev/vgsnap/snap1-thick']
    assert text.startswith('# web1, written by xen_domain\n')
    assert bk.fixed_macs(text) == ['00:16:3e:aa:bb:cc']
