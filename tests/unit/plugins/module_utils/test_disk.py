# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_disk (pure) and the storage verbs of _host_cmd, against the debian12-storage captures."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _disk as disk
from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import DiskInUseError, InvalidSpec
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import FIXTURES, Capture

SET = 'debian12-storage'
CAP = '/tmp/xenfleet-disk-cap'
HAVE_LVM = os.path.exists(os.path.join(FIXTURES, SET, 'lvs_all.stdout'))


def cap(name):
    return Capture(name, SET)


def words(name):
    """The captured command as an argv (paths have no spaces)."""
    return cap(name).cmd.split()


# -- sizes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('text, size', [
    ('10G', 10 << 30), ('10g', 10 << 30), ('10GiB', 10 << 30), ('10GB', 10 << 30), ('512M', 512 << 20),
    ('1.5G', 3 << 29), ('4096', 4096), (4096, 4096), ('2T', 2 << 40), ('4096b', 4096), (' 1 G ', 1 << 30),
    ('64k', 65536),
])
def test_parse_size_binary_units(text, size):
    assert disk.parse_size(text) == size


@pytest.mark.parametrize('text, words_', [
    ('10X', 'is not a size'), ('G', 'is not a size'), ('-1G', 'is not a size'), ('0', 'above 0'),
    ('1000', 'multiple of 512'), ('1.0000001K', 'whole number of bytes'), (True, 'is not a size'),
])
def test_parse_size_refuses(text, words_):
    with pytest.raises(ValueError) as exc:
        disk.parse_size(text)
    assert words_ in str(exc.value)


def test_format_size():
    assert disk.format_size(10 << 30) == '10 GiB'
    assert disk.format_size(3 << 29) == '1.5 GiB (1610612736 bytes)'
    assert disk.format_size(512) == '512 B'


def test_round_up_to_extents():
    assert disk.round_up(10000000, 4 << 20) == 12582912
    assert disk.round_up(8 << 20, 4 << 20) == 8 << 20


# -- tool argv: the verbs build the captured commands ------------------------------------------------

def test_qemu_img_verbs_build_the_captured_commands():
    tmp = CAP + '/.web1.raw.xenfleet-tmp'
    assert hostcmd.qemu_img_info(CAP + '/web1.raw') == words('info_web1_raw')
    assert hostcmd.qemu_img_create(tmp, 'raw', 1073741824) == words('create_raw')
    assert hostcmd.qemu_img_resize(CAP + '/web1.raw', 'raw', 2147483648) == words('resize_web1_raw')
    assert hostcmd.qemu_img_convert(CAP + '/images/golden.qcow2', 'qcow2', CAP + '/.web3.qcow2.xenfleet-tmp',
                                    'qcow2') == words('convert_golden_to_qcow2')
    assert hostcmd.qemu_img_create(CAP + '/.web5.qcow2.xenfleet-tmp', 'qcow2', 134217728,
                                   backing=CAP + '/images/golden.qcow2', backing_format='qcow2') == \
        words('create_linked_qcow2')
    assert hostcmd.qemu_img_create(CAP + '/.web6.qcow2.xenfleet-tmp', 'qcow2', None, backing=CAP + '/images/golden.raw',
                                   backing_format='raw') == words('create_linked_over_raw')


@pytest.mark.skipif(not HAVE_LVM, reason='LVM captures not present')
def test_lvm_verbs_build_the_captured_commands():
    vg = 'xenfleetcap'
    assert hostcmd.vgs_report() == words('vgs_all')
    assert hostcmd.lvs_report(vg) == words('lvs_all')
    assert hostcmd.lvcreate(vg, 'web1', 268435456) == words('lvcreate_thick')
    assert hostcmd.lvcreate(vg, 'web3', 1073741824, thin_pool='pool') == words('lvcreate_thin')
    assert hostcmd.lvextend(vg, 'web1', 402653184) == words('lvextend_web1')
    assert hostcmd.lvcreate_thin_snapshot(vg, 'golden', 'web4.xenfleet-tmp') == words('lvcreate_snapshot')
    assert hostcmd.lvrename(vg, 'golden.xenfleet-tmp', 'golden') == words('lvrename_golden')
    assert hostcmd.lvremove(vg, 'web1') == words('lvremove_web1')
    assert hostcmd.qemu_img_convert(CAP + '/images/golden.qcow2', 'qcow2', '/dev/%s/golden.xenfleet-tmp' % vg, 'raw',
                                    existing_target=True, target_is_zero=True) == words('convert_golden_to_lv')


def test_packages_for_the_missing_tool_hint():
    assert hostcmd.PACKAGES['qemu-img'] == 'qemu-utils' and hostcmd.PACKAGES['lvcreate'] == 'lvm2'


# -- parsers ---------------------------------------------------------------------------------------

def test_parse_qemu_img_info_qcow2_and_raw():
    info = disk.parse_qemu_img_info(cap('info_golden_qcow2').stdout)
    assert info == dict(format='qcow2', virtual_size=67108864, actual_size=1314816, backing_file=None,
                        backing_format=None, dirty=False, corrupt=False)
    raw = disk.parse_qemu_img_info(cap('info_web1_raw').stdout)
    assert (raw['format'], raw['virtual_size']) == ('raw', 1073741824)


def test_parse_qemu_img_info_linked_clone():
    info = disk.parse_qemu_img_info(cap('info_web5_linked').stdout)
    assert info['backing_file'] == CAP + '/images/golden.qcow2' and info['backing_format'] == 'qcow2'
    assert info['virtual_size'] == 134217728
    over_raw = disk.parse_qemu_img_info(cap('info_web6_linked_over_raw').stdout)
    assert over_raw['backing_format'] == 'raw' and over_raw['virtual_size'] == 67108864


def test_parse_qemu_img_info_refuses_other_text():
    with pytest.raises(disk.DiskParseError):
        disk.parse_qemu_img_info(cap('info_missing').stderr)


def test_open_image_needs_force_share():
    # what -U is for: a plain info of an image QEMU holds open fails to get its lock; -U reads it
    assert cap('info_web2_open_locked').rc == 1 and 'Failed to get shared "write" lock' in cap('info_web2_open_locked').stderr
    assert disk.parse_qemu_img_info(cap('info_web2_open_shared').stdout)['format'] == 'qcow2'


@pytest.mark.skipif(not HAVE_LVM, reason='LVM captures not present')
def test_parse_vgs_and_lvs():
    vgs = disk.parse_vgs(cap('vgs_all').stdout)
    vg = vgs['xenfleetcap']
    assert vg['extent'] == 4 << 20 and vg['free'] < vg['size']
    lvs = disk.parse_lvs(cap('lvs_all').stdout)
    assert lvs['pool']['thin_pool'] and not lvs['pool']['thin']
    assert lvs['web3']['thin'] and lvs['web3']['pool'] == 'pool' and lvs['web3']['size'] == 1073741824
    assert lvs['web1']['size'] == 402653184 and not lvs['web1']['thin'] and lvs['web1']['path'] == '/dev/xenfleetcap/web1'
    assert lvs['web4']['origin'] == 'golden' and lvs['web4']['size'] == 134217728 and lvs['web4']['active']
    assert lvs['web2']['size'] == 12582912     # 10000000 bytes rounded up to 3 extents of 4 MiB
    assert disk.find_lv(lvs, '/dev/mapper/xenfleetcap-golden')['name'] == 'golden'
    assert disk.parse_lvs(cap('lvs_web1_open').stdout)['web1']['open']


def test_lvm_reports_refuse_other_text():
    with pytest.raises(disk.DiskParseError):
        disk.parse_lvs('  Volume group "nosuchvg" not found\n')


# -- archives, names, validation -------------------------------------------------------------------

def test_archive_kinds():
    assert disk.archive_kind(b'\xfd7zXZ\x00\x00').startswith('an xz-compressed file')
    assert disk.archive_kind(b'\x1f\x8b\x08').startswith('a gzip')
    assert disk.archive_kind(b'\0' * 257 + b'ustar\x0000').startswith('a tar archive')
    assert disk.archive_kind(b'QFI\xfb') is None and disk.archive_kind(b'') is None


def test_lvm_names():
    assert disk.lvm_name_problem('web1-root') is None
    assert 'without "/"' in disk.lvm_name_problem('a/b')
    assert 'reserves' in disk.lvm_name_problem('x_tmeta')
    assert disk.lv_mapper_path('vg-0', 'web-1') == '/dev/mapper/vg--0-web--1'


def params(**kw):
    base = dict(state='present', backend='file', path=None, format=None, vg=None, name=None, thin_pool=None,
                size=None, source=None, clone='full')
    base.update(kw)
    return base


def test_validate_defaults_format_by_clone():
    assert disk.validate(params(path='/srv/a', size='1G'))['format'] == 'raw'
    assert disk.validate(params(path='/srv/a', source='/srv/g', clone='linked'))['format'] == 'qcow2'
    spec = disk.validate(params(backend='lvm', vg='vg0', name='web1', size='1G'))
    assert spec['path'] == '/dev/vg0/web1' and spec['format'] == 'raw' and spec['size'] == 1 << 30


def test_validate_normalises_the_path():
    assert disk.validate(params(path='/srv//x/../a.raw', size='1G'))['path'] == '/srv/a.raw'


# -- plans -------------------------------------------------------------------------------------------

def info(name):
    return disk.parse_qemu_img_info(cap(name).stdout)


def test_plan_file_new_disk_from_source_at_its_size():
    spec = disk.validate(params(path='/srv/web4.raw', source='/img/golden.qcow2'))
    plan = disk.plan_file(spec, None, info('info_golden_qcow2'), [], False)
    assert [s.describe() for s in plan.steps] == [
        'qemu-img convert -f qcow2 -O raw /img/golden.qcow2 /srv/.web4.raw.xenfleet-tmp',
        'rename /srv/.web4.raw.xenfleet-tmp to /srv/web4.raw']
    assert plan.steps[0].long and [s.describe() for s in plan.cleanup] == ['remove /srv/.web4.raw.xenfleet-tmp']
    assert plan.after['size_bytes'] == 67108864


def test_plan_file_same_size_is_no_change():
    spec = disk.validate(params(path='/srv/web1.raw', size='1G'))
    plan = disk.plan_file(spec, info('info_web1_raw'), None, [], False)
    assert plan.steps == [] and plan.pending is None and plan.after['size_bytes'] == 1 << 30


def test_check_source_refusals():
    spec = disk.validate(params(path='/srv/a.raw', source='/img/archive.xz'))
    with pytest.raises(InvalidSpec) as exc:
        disk.check_source(spec, info('info_archive_xz'), b'\xfd7zXZ\x00')
    assert exc.value.param == 'source' and 'xz-compressed' in exc.value.msg
    vmdk = dict(info('info_golden_qcow2'), format='vmdk')
    with pytest.raises(InvalidSpec) as exc:
        disk.check_source(spec, vmdk, b'')
    assert 'is a vmdk image' in exc.value.msg


def test_absent_in_use_lists_the_domains():
    spec = disk.validate(params(path='/srv/web1.raw', state='absent'))
    doms = [{'name': 'web1', 'type': 'pvh', 'state': 'running'}, {'name': 'web2', 'type': 'hvm', 'state': 'paused'}]
    with pytest.raises(DiskInUseError) as exc:
        disk.plan_file(spec, info('info_web1_raw'), None, doms, False)
    assert 'in use by web1 (PVH, running), web2 (HVM, paused)' in exc.value.msg


def test_users_compare_real_paths_and_skip_read_only_for_writers():
    doms = [{'name': 'a', 'disks': [{'target': '/dev/vg0/web1', 'access': 'rw'}]},
            {'name': 'b', 'disks': [{'target': '/img/golden.raw', 'access': 'ro'}]}]
    real = {'/dev/vg0/web1': '/dev/dm-3', '/dev/mapper/vg0-web1': '/dev/dm-3'}

    def resolve(path):
        return real.get(path, path)
    assert [d['name'] for d in disk.users(doms, ['/dev/mapper/vg0-web1'], resolve)] == ['a']
    assert [d['name'] for d in disk.users(doms, ['/img/golden.raw'], resolve)] == ['b']
    assert disk.users(doms, ['/img/golden.raw'], resolve, writable=True) == []


def test_pending_names_pv_and_hvm_guests_differently():
    text = disk.pending_after_grow('/dev/vg0/web1', 2 << 30, [{'name': 'a', 'type': 'pvh', 'state': 'running'},
                                                              {'name': 'b', 'type': 'hvm', 'state': 'running'}])
    assert 'The PV/PVH guest a sees the new size when its block frontend' in text
    assert 'b: an emulated (HVM) disk keeps the size it had at boot' in text
    assert disk.pending_after_grow('/x', 1, []) is None


@pytest.mark.skipif(not HAVE_LVM, reason='LVM captures not present')
def test_plan_lvm_copy_into_a_thin_volume_is_the_captured_sequence():
    spec = disk.validate(params(backend='lvm', vg='xenfleetcap', name='golden', thin_pool='pool',
                                source=CAP + '/images/golden.qcow2'))
    vg = disk.parse_vgs(cap('vgs_all').stdout)['xenfleetcap']
    plan = disk.plan_lvm(spec, vg, disk.parse_lvs(cap('lvs_empty').stdout), info('info_golden_qcow2'), [])
    assert [s.argv for s in plan.steps] == [words('lvcreate_golden_tmp'), words('convert_golden_to_lv'),
                                            words('lvrename_golden')]
    assert plan.steps[1].long
    # a failed step removes the temporary LV (captured after a failed conversion: lvremove_web6_tmp)
    assert plan.cleanup[0].argv == ['lvremove', '--yes', 'xenfleetcap/golden.xenfleet-tmp']
    assert words('lvremove_web6_tmp') == hostcmd.lvremove('xenfleetcap', 'web6.xenfleet-tmp')
    assert cap('err_convert_to_small_lv').rc == 1
    assert plan.after == disk.snapshot('lvm', '/dev/xenfleetcap/golden', 'raw', 67108864, None, vg='xenfleetcap',
                                       name='golden', thin_pool='pool')


def test_attachments_name_the_disk_a_domain_uses():
    # (moved from test_seed: xen_cloud_init asks the same question as xen_disk, through _disk.attachments)
    domains = [{'name': 'web1', 'disks': [{'target': '/srv/web1.qcow2', 'vdev': 'xvda'},
                                          {'target': '/var/lib/xen/seed/web1.iso', 'vdev': 'xvdz'}]},
               {'name': 'db1', 'disks': []}, {'name': 'pv1'}]
    found = disk.attachments(domains, ['/var/lib/xen/seed/web1.iso'], lambda p: p)
    assert [(d['name'], dk['vdev']) for d, dk in found] == [('web1', 'xvdz')]
    assert disk.attachments(domains, ['/var/lib/xen/seed/db1.iso'], lambda p: p) == []
