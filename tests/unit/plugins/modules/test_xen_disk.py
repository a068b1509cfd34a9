# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_disk through main(): the exact tool argv sequence, answered with the debian12-storage captures.

The captures were made under /tmp/xenfleet-disk-cap; a test works in its own tmp_path, so the capture
directory in each captured command and output is replaced by tmp_path (relocate). The file operations
the tools do (qemu-img create/convert make a file) are done by the scripted answer (touch), the module's own
(rename, remove) really happen in tmp_path."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl
from ansible_collections.xenfleet.xen.plugins.module_utils._xl_parse import merge_domains, parse_list, parse_list_long
from ansible_collections.xenfleet.xen.plugins.modules import xen_disk
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.module_harness import XlScript, run_module
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture

SET = 'debian12-storage'
CAP_DIR = '/tmp/xenfleet-disk-cap'
# no domain uses a disk in these captures (xl list -l of the nested lab: pv1 and pvh1, without disks)
DOMAINS = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]


@pytest.fixture
def env(monkeypatch, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('golden.qcow2', 'golden.raw'):
        (images / name).write_bytes(b'\0' * 1024)   # what the module itself reads of a source: its first bytes

    def run(args, steps):
        script = XlScript(steps)
        result, failed = run_module(monkeypatch, xen_disk.main, args, script)
        return result, failed, script

    run.dir = tmp_path
    run.path = lambda name: str(tmp_path / name)
    run.relocate = lambda text: text.replace(CAP_DIR, str(tmp_path))
    return run


def step(env, name, effect=None):
    """(the captured argv, relocated; its captured answer), `effect(call)` doing what the tool did to files."""
    cap = Capture(name, SET)
    want = env.relocate(cap.cmd).split()
    answer = (cap.rc, env.relocate(cap.stdout), env.relocate(cap.stderr))

    def reply(call):
        if effect:
            effect(call)
        return answer
    return want, reply


def touch_tmp(call):
    """What qemu-img create/convert did: the file at the temporary name (the argument ending in -tmp)."""
    target = [a for a in call if a.endswith('.xenfleet-tmp')][-1]
    with open(target, 'wb') as handle:
        handle.write(b'\0' * 512)


def four_calls(env, args, steps_per_call):
    """check, real, check again, real again: the changed flags and the results."""
    results = []
    for check, steps in zip((True, False, True, False), steps_per_call):
        full = dict(args, _ansible_check_mode=check, _ansible_diff=True)
        result, failed, script = env(full, steps)
        assert not failed, result
        results.append(result)
    return [r['changed'] for r in results], results


# -- create, convert, clone, grow, remove: the four-call pattern ---------------------------------

def test_create_raw_four_calls(env):
    path = env.path('web1.raw')
    args = dict(path=path, size='1G')
    info = step(env, 'info_web1_raw')
    changed, results = four_calls(env, args, [
        [],
        [step(env, 'create_raw', touch_tmp), info],
        [info] + DOMAINS,
        [info] + DOMAINS,
    ])
    assert changed == [True, True, False, False]
    tmp = env.path('.web1.raw.xenfleet-tmp')
    assert results[0]['applied'] == ['qemu-img create -f raw %s 1073741824' % tmp, 'rename %s to %s' % (tmp, path)]
    assert results[1]['applied'] == results[0]['applied']
    after = {'state': 'present', 'backend': 'file', 'path': path, 'format': 'raw', 'size_bytes': 1073741824,
             'backing_file': None}
    for result in results:
        assert result['diff']['after'] == after
    assert results[0]['diff']['before'] == {'state': 'absent', 'path': path}
    assert results[2]['diff']['before'] == after and results[3]['applied'] == []
    disk = results[1]['disk']
    assert (disk['size_bytes'], disk['virtual_size_bytes'], disk['actual_size_bytes']) == (1073741824, 1073741824, 4096)
    assert disk['used_by'] == [] and disk['format'] == 'raw' and results[1]['pending'] is None
    assert os.path.exists(path) and not os.path.exists(tmp)
    assert oct(os.stat(path).st_mode & 0o777) == '0o600'


def test_full_copy_converted_to_qcow2_and_grown_four_calls(env):
    path = env.path('web3.qcow2')
    args = dict(path=path, format='qcow2', source=env.path('images/golden.qcow2'), size='128M')
    src = step(env, 'info_golden_qcow2')
    info = step(env, 'info_web3_qcow2')
    changed, results = four_calls(env, args, [
        [src] + DOMAINS,
        [src] + DOMAINS + [step(env, 'convert_golden_to_qcow2', touch_tmp), step(env, 'resize_web3_tmp'), info],
        [info] + DOMAINS,
        [info] + DOMAINS,
    ])
    assert changed == [True, True, False, False]
    tmp = env.path('.web3.qcow2.xenfleet-tmp')
    assert results[1]['applied'] == [
        'qemu-img convert -f qcow2 -O qcow2 %s %s' % (env.path('images/golden.qcow2'), tmp),
        'qemu-img resize -f qcow2 %s 134217728' % tmp,
        'rename %s to %s' % (tmp, path)]
    assert results[0]['diff']['after'] == results[1]['diff']['after'] == results[2]['diff']['before']
    assert results[1]['disk']['size_bytes'] == 134217728 and results[1]['disk']['backing_file'] is None


def test_linked_clone_four_calls(env):
    path = env.path('web5.qcow2')
    golden = env.path('images/golden.qcow2')
    args = dict(path=path, source=golden, clone='linked', size='128M')
    src = step(env, 'info_golden_qcow2')
    info = step(env, 'info_web5_linked')
    changed, results = four_calls(env, args, [
        [src] + DOMAINS,
        [src] + DOMAINS + [step(env, 'create_linked_qcow2', touch_tmp), info],
        [info] + DOMAINS,
        [info] + DOMAINS,
    ])
    assert changed == [True, True, False, False]
    tmp = env.path('.web5.qcow2.xenfleet-tmp')
    assert results[1]['applied'][0] == 'qemu-img create -f qcow2 -b %s -F qcow2 %s 134217728' % (golden, tmp)
    after = results[0]['diff']['after']
    assert after == {'state': 'present', 'backend': 'file', 'path': path, 'format': 'qcow2',
                     'size_bytes': 134217728, 'backing_file': golden}
    assert results[1]['diff']['after'] == after and results[3]['diff']['before'] == after
    assert results[1]['disk']['actual_size_bytes'] == 200704


def test_linked_clone_over_a_raw_image_at_its_size(env):
    # qemu-img accepts a raw backing file with -F raw (captured); no size: the clone has the image's size
    path = env.path('web6.qcow2')
    golden = env.path('images/golden.raw')
    result, failed, script = env(dict(path=path, source=golden, clone='linked'),
                                 [step(env, 'info_golden_raw')] + DOMAINS +
                                 [step(env, 'create_linked_over_raw', touch_tmp), step(env, 'info_web6_linked_over_raw')])
    assert not failed, result
    assert result['applied'][0] == 'qemu-img create -f qcow2 -b %s -F raw %s' % (golden, env.path('.web6.qcow2.xenfleet-tmp'))
    assert result['disk']['backing_file'] == golden and result['disk']['size_bytes'] == 67108864


def test_grow_four_calls(env):
    path = env.path('web1.raw')
    open(path, 'wb').close()
    args = dict(path=path, size='2G')
    small, grown = step(env, 'info_web1_raw'), step(env, 'info_web1_raw_grown')
    changed, results = four_calls(env, args, [
        [small] + DOMAINS,
        [small] + DOMAINS + [step(env, 'resize_web1_raw'), grown],
        [grown] + DOMAINS,
        [grown] + DOMAINS,
    ])
    assert changed == [True, True, False, False]
    assert results[0]['applied'] == ['qemu-img resize -f raw %s 2147483648' % path]
    assert results[0]['diff']['before']['size_bytes'] == 1073741824
    assert results[0]['diff']['after']['size_bytes'] == results[1]['disk']['size_bytes'] == 2147483648
    assert results[1]['pending'] is None


def test_absent_four_calls(env):
    path = env.path('web1.raw')
    open(path, 'wb').close()
    args = dict(path=path, state='absent')
    info = step(env, 'info_web1_raw')
    changed, results = four_calls(env, args, [[info] + DOMAINS, [info] + DOMAINS, [], []])
    assert changed == [True, True, False, False]
    assert results[0]['applied'] == ['remove %s' % path]
    assert results[0]['diff'] == {'before': {'state': 'present', 'backend': 'file', 'path': path, 'format': 'raw',
                                             'size_bytes': 1073741824, 'backing_file': None},
                                  'after': {'state': 'absent', 'path': path},
                                  'before_header': path, 'after_header': path}
    assert results[1]['disk'] is None and not os.path.exists(path)


# -- failures half-way --------------------------------------------------------------------------

def test_failed_conversion_leaves_neither_target_nor_temporary(env):
    small = env.dir / 'small'
    small.mkdir()
    path = str(small / 'web9.raw')
    source = env.path('images/golden.qcow2')
    result, failed, script = env(dict(path=path, source=source),
                                 [step(env, 'info_golden_qcow2')] + DOMAINS +
                                 [step(env, 'err_convert_no_space', touch_tmp)])
    assert failed and result['error'] == 'command_failed'
    assert 'No space left on device' in result['msg'] and result['rc'] == 1
    assert result['cmd'][1:3] == ['convert', '-f']
    # what the captured failure left (ls_after_err_convert: the temporary file) is gone, and no disk appeared
    assert Capture('ls_after_err_convert', SET).stdout.split() == ['.', '..', '.web9.raw.xenfleet-tmp']
    assert sorted(os.listdir(str(small))) == []


def test_leftover_temporary_of_an_interrupted_run_is_removed_first(env):
    path = env.path('web1.raw')
    tmp = env.path('.web1.raw.xenfleet-tmp')
    open(tmp, 'wb').close()
    result, failed, script = env(dict(path=path, size='1G'),
                                 [step(env, 'create_raw', touch_tmp), step(env, 'info_web1_raw')])
    assert not failed, result
    assert result['applied'][0] == 'remove %s' % tmp and result['changed'] is True
    assert os.path.exists(path) and not os.path.exists(tmp)


def test_qemu_img_missing_names_the_package(env, monkeypatch):
    from ansible.module_utils import basic
    path = env.path('web1.raw')
    open(path, 'wb').close()
    orig = basic.AnsibleModule.get_bin_path

    def no_qemu_img(self, arg, required=False, opt_dirs=None):
        return None if arg == 'qemu-img' else orig(self, arg, required, opt_dirs)
    script = XlScript([])
    from ansible_collections.xenfleet.xen.tests.unit.plugins.modules import module_harness
    module_harness.patch_ansible_module(monkeypatch, script.run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', no_qemu_img)
    from ansible.module_utils.testing import patch_module_args
    with patch_module_args(dict(path=path, size='1G')):
        with pytest.raises(module_harness.ModuleExit) as exc:
            xen_disk.main()
    assert exc.value.failed and exc.value.result['error'] == 'tool_not_found'
    assert 'qemu-img was not found' in exc.value.result['msg'] and 'apt-get install qemu-utils' in exc.value.result['msg']


# -- refusals: the message, and no command ran ---------------------------------------------------

@pytest.mark.parametrize('args, param, words', [
    (dict(path='images/web1.raw', size='1G'), 'path', 'not an absolute path'),
    (dict(path='/srv/', size='1G'), 'path', 'names a directory'),
    (dict(size='1G'), 'path', 'is required with backend file'),
    (dict(path='/srv/a.raw', size='10X'), 'size', 'is not a size'),
    (dict(path='/srv/a.raw', size='1000'), 'size', 'not a multiple of 512'),
    (dict(path='/srv/a.raw', size='0'), 'size', 'above 0'),
    (dict(path='/srv/a.raw', source='golden.qcow2'), 'source', 'not an absolute path'),
    (dict(path='/srv/a.raw', source='/srv/a.raw'), 'source', 'is the disk itself'),
    (dict(path='/srv/a.qcow2', clone='linked'), 'clone', 'linked needs source'),
    (dict(path='/srv/a.raw', format='raw', source='/srv/g.raw', clone='linked'), 'format', 'set format: qcow2'),
    (dict(path='/srv/a.raw', vg='vg0'), 'vg', 'backend lvm only'),
    (dict(backend='lvm', vg='vg0', name='a/b', size='1G'), 'name', 'without "/"'),
    (dict(backend='lvm', vg='vg/0', name='a', size='1G'), 'vg', 'without "/"'),
    (dict(backend='lvm', name='a', size='1G'), 'vg', 'is required with backend lvm'),
    (dict(backend='lvm', vg='vg0', name='a', format='qcow2'), 'format', 'holds the raw disk'),
    (dict(backend='lvm', vg='vg0', name='a', path='/dev/vg0/a'), 'path', 'named by vg and name'),
    (dict(backend='lvm', vg='vg0', name='a.xenfleet-tmp', size='1G'), 'name', 'temporary names'),
    (dict(backend='lvm', vg='vg0', name='-a', size='1G'), 'name', 'must not start with "-"'),
    (dict(path='/srv/a.raw', size='1G', copy_timeout=0), 'copy_timeout', 'positive number'),
])
def test_bad_input_refused_before_any_command(env, args, param, words):
    result, failed, script = env(args, [])
    assert failed and result['error'] == 'invalid_parameter', result
    assert result['msg'].startswith(param + ': ') and words in result['msg'], result['msg']
    assert script.seen == [] and result['xl_calls'] == 0


def test_missing_directory_refused(env):
    result, failed, script = env(dict(path=env.path('nodir/web1.raw'), size='1G'), [])
    assert failed and result['msg'].startswith('path: the directory %s does not exist' % env.path('nodir'))
    assert script.seen == []


def test_size_missing_for_a_new_disk_without_source(env):
    result, failed, script = env(dict(path=env.path('web1.raw')), [])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == 'size: is required to create %s (it does not exist) without a source image' % env.path('web1.raw')


def test_source_missing(env):
    result, failed, script = env(dict(path=env.path('web1.raw'), source=env.path('images/nothere.qcow2')), [])
    assert failed and result['msg'] == 'source: %s does not exist on this host' % env.path('images/nothere.qcow2')
    assert script.seen == []


def test_source_a_directory(env):
    result, failed, script = env(dict(path=env.path('web1.raw'), source=env.path('images')), [])
    assert failed and result['msg'] == 'source: %s is a directory, not a disk image' % env.path('images')


def test_source_a_compressed_download_is_not_an_image(env):
    # qemu-img takes any file for a raw image (captured: an .xz file is "raw"); its first bytes tell
    archive = env.dir / 'images' / 'archive.xz'
    archive.write_bytes(b'\xfd7zXZ\x00\x00\x04' + b'\0' * 100)
    result, failed, script = env(dict(path=env.path('web1.raw'), source=str(archive)),
                                 [step(env, 'info_archive_xz')])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith('source: %s is an xz-compressed file' % archive) and 'unxz' in result['msg']
    assert len(script.seen) == 1   # only the read


def test_size_below_the_source_virtual_size(env):
    result, failed, script = env(dict(path=env.path('web3.qcow2'), format='qcow2', size='32M',
                                      source=env.path('images/golden.qcow2')), [step(env, 'info_golden_qcow2')])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith('size: 32 MiB is below the virtual size of the source image')
    assert '(64 MiB)' in result['msg'] and [c[1] for c in script.seen] == ['info']


def test_existing_file_of_another_format(env):
    path = env.path('web2.qcow2')
    open(path, 'wb').close()
    result, failed, script = env(dict(path=path, size='1G'), [step(env, 'info_web2_qcow2')] + DOMAINS)
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == ('format: %s is a qcow2 image, not raw; declare format: qcow2 (xen_disk never converts '
                             'an existing disk)' % path)
    assert [c[:2] for c in script.seen] == [['qemu-img', 'info'], ['list', '-l'], ['list']]


def test_shrink_refused_with_the_reason(env):
    path = env.path('web1.raw')
    open(path, 'wb').close()
    result, failed, script = env(dict(path=path, size='512M'), [step(env, 'info_web1_raw')] + DOMAINS)
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'].startswith('size: %s is 1 GiB; the declared size 512 MiB is smaller. xen_disk only grows' % path)
    assert all('resize' not in c for c in script.seen)


def test_a_block_device_is_not_a_file_disk(env):
    result, failed, script = env(dict(path='/dev/null', size='1G'), [])
    assert failed and result['msg'] == ('path: /dev/null is not a regular file; backend file manages image files '
                                        '(a logical volume: backend lvm)')


# -- disks in use ---------------------------------------------------------------------------------

def domains_using(monkeypatch, target, type_='pvh'):
    """The captured domains (nested lab: pv1, pvh1), with `target` as a disk of pvh1 (or of the domain
    of `type_`). No capture of `xl list -l` with a disk exists yet (the lab's guests boot without one): this
    adds the disk to the PARSED domain, in the shape _xl_parse gives a libxl disk."""
    doms = merge_domains(parse_list_long(Capture('xl_list_l_three_guests').stdout),
                         parse_list(Capture('xl_list_three_guests').stdout))
    for dom in doms:
        if dom['type'] == type_:
            dom['disks'] = [{'target': target, 'vdev': 'xvda', 'format': 'raw', 'backend': 'phy', 'access': 'rw',
                             'cdrom': False}]
    monkeypatch.setattr(_xl.XlClient, 'domains', lambda self, *a, **k: doms)
    return doms


def test_absent_refused_while_a_domain_uses_the_disk_through_a_symlink(env, monkeypatch):
    path = env.path('web1.raw')
    open(path, 'wb').close()
    link = env.path('link.raw')
    os.symlink(path, link)
    domains_using(monkeypatch, link)
    result, failed, script = env(dict(path=path, state='absent'), [step(env, 'info_web1_raw')])
    assert failed and result['error'] == 'disk_in_use'
    assert result['msg'] == '%s is in use by pvh1 (PVH, blocked): not removed. Shut the domain down (or detach the ' \
                            'disk) first.' % path
    assert os.path.exists(path)


def test_grow_in_use_raw_is_done_and_pending_is_honest(env, monkeypatch):
    path = env.path('web1.raw')
    open(path, 'wb').close()
    domains_using(monkeypatch, path)
    result, failed, script = env(dict(path=path, size='2G'), [step(env, 'info_web1_raw'), step(env, 'resize_web1_raw'),
                                                              step(env, 'info_web1_raw_grown')])
    assert not failed, result
    assert result['disk']['used_by'] == ['pvh1']
    assert result['pending'].startswith('%s grew to 2 GiB on the host while in use by pvh1 (PVH, blocked).' % path)
    assert 'block frontend' in result['pending'] and 'does not verify' in result['pending']


def test_grow_in_use_qcow2_refused(env, monkeypatch):
    path = env.path('web2.qcow2')
    open(path, 'wb').close()
    domains_using(monkeypatch, path, type_='pv')
    result, failed, script = env(dict(path=path, format='qcow2', size='2G'), [step(env, 'info_web2_qcow2')])
    assert failed and result['error'] == 'disk_in_use'
    assert result['msg'].startswith('%s is a qcow2 image in use by pv1 (PV, running): not resized.' % path)
    assert 'corrupts it' in result['msg'] and [c[1] for c in script.seen] == ['info']


def test_linked_clone_of_a_source_a_domain_writes_is_refused(env, monkeypatch):
    golden = env.path('images/golden.qcow2')
    domains_using(monkeypatch, golden)
    result, failed, script = env(dict(path=env.path('web5.qcow2'), source=golden, clone='linked'),
                                 [step(env, 'info_golden_qcow2')])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == ('source: %s is in use read-write by pvh1 (PVH, blocked): a linked clone needs a source '
                             'that never changes' % golden)


# -- LVM (captured on a lab dom0 with device-mapper: VG xenfleetcap on a loop device, thin pool "pool") ------

VGS = ['vgs', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'vg_name,vg_size,vg_free,vg_extent_size']


def lvm_read(env, lvs_capture):
    return [step(env, 'vgs_all'), step(env, lvs_capture)]


def test_lvm_thin_volume_four_calls(env):
    args = dict(backend='lvm', vg='xenfleetcap', name='web3', thin_pool='pool', size='1G')
    changed, results = four_calls(env, args, [
        lvm_read(env, 'lvs_empty'),
        lvm_read(env, 'lvs_empty') + [step(env, 'lvcreate_thin'), step(env, 'lvs_all')],
        lvm_read(env, 'lvs_all') + DOMAINS,
        lvm_read(env, 'lvs_all') + DOMAINS,
    ])
    assert changed == [True, True, False, False]
    assert results[0]['applied'] == ['lvcreate --yes -n web3 -V 1073741824b --thinpool pool xenfleetcap']
    after = {'state': 'present', 'backend': 'lvm', 'path': '/dev/xenfleetcap/web3', 'format': 'raw',
             'size_bytes': 1073741824, 'backing_file': None, 'vg': 'xenfleetcap', 'name': 'web3', 'thin_pool': 'pool'}
    assert [r['diff']['after'] for r in results] == [after] * 4
    assert results[1]['disk']['actual_size_bytes'] == 0 and results[3]['disk']['used_by'] == []


def test_lvm_linked_clone_is_a_thin_snapshot_four_calls(env):
    args = dict(backend='lvm', vg='xenfleetcap', name='web4', source='/dev/xenfleetcap/golden', clone='linked',
                size='128M')
    changed, results = four_calls(env, args, [
        lvm_read(env, 'lvs_after_remove') + DOMAINS,
        lvm_read(env, 'lvs_after_remove') + DOMAINS + [
            step(env, 'lvcreate_snapshot'), step(env, 'lvextend_snapshot'), step(env, 'lvrename_web4'),
            step(env, 'lvs_all')],
        lvm_read(env, 'lvs_all') + DOMAINS,
        lvm_read(env, 'lvs_all') + DOMAINS,
    ])
    assert changed == [True, True, False, False]
    assert results[1]['applied'] == ['lvcreate --yes -s -kn -n web4.xenfleet-tmp xenfleetcap/golden',
                                     'lvextend -L 134217728b xenfleetcap/web4.xenfleet-tmp',
                                     'lvrename xenfleetcap web4.xenfleet-tmp web4']
    assert results[0]['diff']['after']['size_bytes'] == results[1]['disk']['size_bytes'] == 134217728


def test_lvm_absent_four_calls(env):
    args = dict(backend='lvm', vg='xenfleetcap', name='web1', state='absent')
    changed, results = four_calls(env, args, [
        lvm_read(env, 'lvs_all') + DOMAINS,
        lvm_read(env, 'lvs_all') + DOMAINS + [step(env, 'lvremove_web1'), step(env, 'lvs_after_remove')],
        lvm_read(env, 'lvs_after_remove'),
        lvm_read(env, 'lvs_after_remove'),
    ])
    assert changed == [True, True, False, False]
    assert results[1]['applied'] == ['lvremove --yes xenfleetcap/web1']
    assert results[0]['diff']['before']['size_bytes'] == 402653184


def test_lvm_unknown_vg_refused_after_one_read(env):
    result, failed, script = env(dict(backend='lvm', vg='nosuchvg', name='web1', size='1G'), [step(env, 'vgs_all')])
    assert failed and result['error'] == 'invalid_parameter'
    assert result['msg'] == 'vg: volume group nosuchvg does not exist on this host (volume groups: xenfleetcap)'
    assert script.seen == [VGS]


def test_lvm_unknown_thin_pool_refused(env):
    result, failed, script = env(dict(backend='lvm', vg='xenfleetcap', name='web9', thin_pool='nopool', size='1G'),
                                 lvm_read(env, 'lvs_empty'))
    assert failed and result['msg'] == ('thin_pool: nopool is not a thin pool of volume group xenfleetcap (thin pools '
                                        'there: pool)')


def test_lvm_shrink_refused(env):
    result, failed, script = env(dict(backend='lvm', vg='xenfleetcap', name='web1', size='256M'),
                                 lvm_read(env, 'lvs_all') + DOMAINS)
    assert failed and result['msg'].startswith('size: /dev/xenfleetcap/web1 is 384 MiB; the declared size 256 MiB is '
                                               'smaller. xen_disk only grows')


def test_lvm_too_big_for_the_vg_refused_before_lvcreate(env):
    result, failed, script = env(dict(backend='lvm', vg='xenfleetcap', name='big', size='4G'), lvm_read(env, 'lvs_empty'))
    assert failed and result['msg'].startswith('size: 4 GiB does not fit: volume group xenfleetcap has')
    # what lvcreate itself would have said (captured): err_lvcreate_no_space
    assert 'insufficient free space' in Capture('err_lvcreate_no_space', SET).stderr


def test_lvm_open_volume_not_removed(env):
    result, failed, script = env(dict(backend='lvm', vg='xenfleetcap', name='web1', state='absent'),
                                 lvm_read(env, 'lvs_web1_open') + DOMAINS)
    assert failed and result['error'] == 'disk_in_use'
    assert result['msg'].startswith('/dev/xenfleetcap/web1 is open (lvs shows it in use')
    assert 'in use' in Capture('err_lvremove_open', SET).stderr   # lvremove's own refusal, captured


def test_lvm_linked_clone_needs_a_thin_origin(env):
    result, failed, script = env(dict(backend='lvm', vg='xenfleetcap', name='web9', source='/dev/xenfleetcap/web1',
                                      clone='linked'), lvm_read(env, 'lvs_all') + DOMAINS)
    assert failed and result['msg'].startswith('source: a linked clone on backend lvm is a thin snapshot')


def test_lvm_in_use_by_mapper_alias(env, monkeypatch):
    domains_using(monkeypatch, '/dev/mapper/xenfleetcap-web1')
    result, failed, script = env(dict(backend='lvm', vg='xenfleetcap', name='web1', state='absent'),
                                 lvm_read(env, 'lvs_all'))
    assert failed and result['error'] == 'disk_in_use' and 'pvh1 (PVH, blocked)' in result['msg']
