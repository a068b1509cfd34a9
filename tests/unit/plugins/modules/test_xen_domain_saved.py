# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""xen_domain state=saved and the restore of a saved guest, fed with `xl save`/`xl restore` output captured from
real Xen (tests/unit/fixtures/xen-4.17.5-lab-save: guest sv1) and the lab's three-guest captures (pv1)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _files
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_parse as parse
from ansible_collections.xenfleet.xen.plugins.modules import xen_domain
from ansible_collections.xenfleet.xen.tests.unit.plugins.modules.test_xen_domain import write_rendered
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import FIXTURES, Capture

SAVE_SET = 'xen-4.17.5-lab-save'
# pv1 as it runs in the lab's three-guest capture
PV1 = {
    'name': 'pv1', 'type': 'pv', 'memory': 96, 'maxmem': 256, 'vcpus': 2, 'maxvcpus': 4,
    'kernel': '/vmlinuz', 'ramdisk': '/root/guests/guest-initrd.img', 'cmdline': 'console=hvc0 quiet',
}
READ_PV1 = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_three_guests')]
READ_NONE = [(['list', '-l'], 'xl_list_l_dom0_only'), (['list'], 'xl_list_dom0_only')]
# sv1 as it ran in the save capture (PV, 128 MiB, 1 vCPU, the lab's payload)
SV1 = {
    'name': 'sv1', 'type': 'pv', 'memory': 128, 'vcpus': 1,
    'kernel': '/var/lib/xenlab/guest/vmlinuz', 'ramdisk': '/var/lib/xenlab/guest/initrd.img',
    'cmdline': 'console=hvc0 quiet xenlab.name=sv1',
}


def saved(name):
    cap = Capture(name, SAVE_SET)
    return (cap.rc, cap.stdout, cap.stderr)


def image_head():
    with open(os.path.join(FIXTURES, SAVE_SET, 'sv1.save.head'), 'rb') as handle:
        return handle.read()


def put_image(env, name, data=None):
    env.save.mkdir(exist_ok=True)
    path = env.save / name
    path.write_bytes(image_head() + b'\0' * 4096 if data is None else data)
    return str(path)


def snapshot(root):
    found = {}
    for base, dirs, names in os.walk(str(root)):
        for name in names:
            path = os.path.join(base, name)
            with open(path, 'rb') as handle:
                found[path] = handle.read()
    return found


# -- the image's header, as xl wrote it ----------------------------------------------------

def test_the_configuration_in_a_real_save_image_is_read():
    head = image_head()
    header = parse.save_image_header(head)
    assert header['byteorder'] == 'little' and header['mandatory_flags'] & parse.SAVE_FLAG_JSON
    assert len(head) == header['header_len'] + header['optional_data_len']
    config = parse.save_image_config(head)
    summary = parse.domain_summary(None, config)
    assert summary['name'] == 'sv1' and summary['type'] == 'pv'
    assert summary['memory_mb']['target'] == 128 and summary['kernel'] == SV1['kernel']


@pytest.mark.parametrize('cut, message', [
    (lambda h: h[:20], 'not an xl save image'),
    (lambda h: b'Y' + h[1:], 'not an xl save image'),
    (lambda h: h[:60], 'cut short'),
    (lambda h: h[:32] + b'\0\0\0\0' + h[36:], 'unknown byte order'),
])
def test_what_is_not_a_whole_save_image_header_is_refused(cut, message):
    with pytest.raises(parse.XlParseError) as exc:
        parse.save_image_config(cut(image_head()))
    assert message in str(exc.value)


# -- refused before anything changes -------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    ({'save_dir': 'save'}, "save_dir: 'save' is not an absolute path"),
    ({'save_timeout': 0}, 'save_timeout: must be a positive number of seconds, got 0'),
])
def test_bad_save_options_fail_before_xl_runs(env, args, message):
    result, failed, script = env(dict(PV1, state='saved', **args), [])
    assert failed and result['msg'] == message and result['error'] == 'invalid_parameter'
    assert script.seen == []


def test_a_guest_that_does_not_run_cannot_be_saved(env):
    write_rendered(env, PV1)
    result, failed, script = env(dict(PV1, name='pvnew', state='saved'), READ_NONE)
    assert failed and result['error'] == 'not_running'
    assert 'pvnew cannot be saved: it is not running (undefined)' in result['msg']
    assert 'Nothing was changed' in result['msg']
    assert not os.path.exists(str(env.etc / 'pvnew.cfg'))


def test_a_save_dir_without_room_is_refused_before_the_guest_is_touched(env, monkeypatch):
    write_rendered(env, PV1)

    class Full(object):
        f_frsize = 4096
        f_bavail = 10 * 256   # 10 MiB

    monkeypatch.setattr(_files.os, 'statvfs', lambda path: Full())
    before = snapshot(env.etc)
    result, failed, script = env(dict(PV1, state='saved'), READ_PV1)
    assert failed and result['error'] == 'save_dir_unusable'
    # pv1's current allocation in the capture is 108 MiB
    assert 'has 10 MiB free; the memory image of pv1 (108 MiB of memory) needs about %d MiB' \
        % _files.save_room_mib(108) in result['msg']
    assert snapshot(env.etc) == before


def test_shutdown_of_a_saved_guest_is_refused_without_discard_saved(env):
    write_rendered(env, PV1)
    image = put_image(env, 'pv1')
    result, failed, script = env(dict(PV1, state='shutdown'), READ_NONE)
    assert failed and result['error'] == 'saved_image'
    assert 'discard_saved=true' in result['msg'] and os.path.exists(image)


def test_shutdown_with_discard_saved_deletes_the_image(env):
    write_rendered(env, PV1)
    image = put_image(env, 'pv1')
    result, failed, script = env(dict(PV1, state='shutdown', discard_saved=True, _ansible_diff=True), READ_NONE)
    assert not failed, result
    assert result['applied'] == ['save image %s discarded' % image] and not os.path.exists(image)
    assert result['diff'][1]['before'] == {'state': 'saved'} and result['diff'][1]['after'] == {'state': 'defined'}
    assert result['save_image'] is None


def test_a_saved_guest_stays_saved_and_present_keeps_it(env):
    write_rendered(env, PV1)
    image = put_image(env, 'pv1')
    for state in ('saved', 'present'):
        result, failed, script = env(dict(PV1, state=state, _ansible_diff=True), READ_NONE)
        assert not failed, result
        assert result['changed'] is False and result['applied'] == []
        assert result['save_image'] == image and result['domain'] is None
        assert result['diff'][1] == dict(result['diff'][1], before={'state': 'saved'}, after={'state': 'saved'})


def test_absent_removes_the_image_with_the_definition(env):
    write_rendered(env, PV1)
    image = put_image(env, 'pv1')
    result, failed, script = env(dict(name='pv1', state='absent'), READ_NONE)
    assert not failed, result
    assert result['applied'] == ['save image %s removed' % image, 'config file removed']
    assert not os.path.exists(image) and not os.path.exists(str(env.etc / 'pv1.cfg'))


def test_a_stale_image_beside_a_running_guest_is_named_in_a_warning(env, monkeypatch):
    warnings = []
    monkeypatch.setattr(xen_domain.AnsibleModule, 'warn', lambda self, msg: warnings.append(msg), raising=False)
    write_rendered(env, PV1)
    image = put_image(env, 'pv1')
    result, failed, script = env(dict(PV1, state='running'), READ_PV1)
    assert not failed and result['changed'] is False
    assert any('that image is stale' in w and image in w for w in warnings + result.get('warnings', []))
    assert os.path.exists(image)


# -- saving (sv1, as captured) -------------------------------------------------------------

READ_SV1 = [(['list', '-l'], saved('xl_list_l_running')), (['list'], saved('xl_list_running'))]
READ_SV1_GONE = [(['list', '-l'], saved('xl_list_l_after_save')), (['list'], saved('xl_list_after_save'))]


def is_save_to_tmp(env, name='sv1'):
    tmp = str(env.save / ('.%s.saving' % name))
    return lambda call: call == ['save', name, tmp]


def writes_image(reply, data=None):
    """`xl save` as it went in the lab: the file it wrote (the captured head, then page data), its output."""
    def run(call):
        with open(call[2], 'wb') as handle:
            handle.write(image_head() + b'\1' * 65536 if data is None else data)
        return saved(reply)
    return run


def test_save_checks_the_host_then_writes_the_image_through_a_temp_name(env):
    write_rendered(env, SV1)
    steps = READ_SV1 + [
        (['info'], 'xl_info'),
        (is_save_to_tmp(env), writes_image('xl_save_sv1')),
        (['list', 'sv1'], saved('xl_list_sv1_after_save')),
    ] + READ_SV1_GONE
    result, failed, script = env(dict(SV1, state='saved', _ansible_diff=True), steps)
    assert not failed, result
    image = str(env.save / 'sv1')
    assert result['changed'] is True and result['applied'] == ['save to %s' % image]
    assert result['save_image'] == image and result['domain'] is None and result['pending'] == []
    assert open(image, 'rb').read().startswith(image_head())
    assert sorted(os.listdir(str(env.save))) == ['sv1']  # the temp name is gone
    assert os.stat(str(env.save)).st_mode & 0o777 == 0o700
    assert result['diff'][1]['before'] == {'state': 'running'} and result['diff'][1]['after'] == {'state': 'saved'}


def test_save_in_check_mode_predicts_and_writes_nothing(env):
    write_rendered(env, SV1)
    result, failed, script = env(dict(SV1, state='saved', _ansible_check_mode=True, _ansible_diff=True),
                                 READ_SV1 + [(['info'], 'xl_info')])
    assert not failed, result
    assert result['applied'] == ['save to %s' % (env.save / 'sv1')] and result['changed'] is True
    assert result['save_image'] == str(env.save / 'sv1') and not os.path.exists(str(env.save))
    assert result['diff'][1]['after'] == {'state': 'saved'}


def test_a_save_that_runs_out_of_room_keeps_the_guest_running_and_no_image(env):
    write_rendered(env, SV1)
    steps = READ_SV1 + [
        (['info'], 'xl_info'),
        (is_save_to_tmp(env), writes_image('xl_save_no_space', data=b'half')),
        # xl resumed the guest (captured: xl_list_after_save_no_space shows it running again)
        (['list', 'sv1'], saved('xl_list_sv1_running')),
    ]
    result, failed, script = env(dict(SV1, state='saved'), steps)
    assert failed and result['error'] == 'save_failed'
    assert 'No space left on device' in result['msg'] and 'it runs again as before' in result['msg']
    assert 'No image was kept' in result['msg'] and os.listdir(str(env.save)) == []
    assert result['rc'] == 1 and 'Failed to save domain, resuming domain' in result['stderr']


def test_a_paused_guest_is_unpaused_before_it_is_saved(env):
    # captured: `xl save` of a paused guest waits a minute for a suspend acknowledgement and fails
    write_rendered(env, PV1)
    paused_reads = [(['list', '-l'], 'xl_list_l_three_guests'), (['list'], 'xl_list_paused')]
    result, failed, script = env(dict(PV1, state='saved', _ansible_check_mode=True), paused_reads + [(['info'], 'xl_info')])
    assert not failed, result
    assert result['applied'] == ['unpause', 'save to %s' % (env.save / 'pv1')]


# -- restoring -----------------------------------------------------------------------------

def test_running_restores_a_saved_guest_and_deletes_its_image(env):
    write_rendered(env, SV1)
    image = put_image(env, 'sv1')
    steps = READ_SV1_GONE + [
        (['info'], 'xl_info'),
        (['restore', image], saved('xl_restore_sv1')),
        (['list', 'sv1'], saved('xl_list_sv1_after_restore')),
        (['list', '-l'], saved('xl_list_l_after_restore')), (['list'], saved('xl_list_after_restore')),
        (['list', '-l'], saved('xl_list_l_after_restore')), (['list'], saved('xl_list_after_restore')),
    ]
    result, failed, script = env(dict(SV1, state='running', _ansible_diff=True), steps)
    assert not failed, result
    assert result['applied'] == ['restore from %s' % image] and result['pending'] == []
    assert not os.path.exists(image) and result['save_image'] is None
    assert result['domain']['name'] == 'sv1' and result['domain']['state'] == 'blocked'
    assert result['diff'][1]['before'] == {'state': 'saved'} and result['diff'][1]['after'] == {'state': 'running'}
    assert not any(call[0] == 'create' for call in script.seen)


def test_check_mode_predicts_the_restore_and_the_live_changes_from_the_image(env):
    write_rendered(env, SV1)
    image = put_image(env, 'sv1')
    # the image holds sv1 with 128 MiB (target) and 1 vCPU; the declaration wants 112 MiB: a live mem-set
    spec = dict(SV1, memory=112, maxmem=128, state='running', _ansible_check_mode=True)
    dry_run = (lambda c: c[:2] == ['-N', 'create'], 'create_dryrun_pv')
    result, failed, script = env(spec, READ_SV1_GONE + [(['info'], 'xl_info'), dry_run])
    assert not failed, result
    assert result['applied'] == ['config file updated', 'restore from %s' % image, 'mem-set sv1 112m']
    assert os.path.exists(image)


def test_discard_saved_boots_afresh_and_deletes_the_image(env):
    write_rendered(env, SV1)
    image = put_image(env, 'sv1')
    result, failed, script = env(dict(SV1, state='running', discard_saved=True, _ansible_check_mode=True),
                                 READ_SV1_GONE + [(['info'], 'xl_info')])
    assert not failed, result
    assert result['applied'] == ['save image %s discarded' % image, 'create']
    assert os.path.exists(image)  # check mode


def test_a_failed_restore_keeps_the_image_and_the_previous_file(env):
    write_rendered(env, SV1)
    before = open(str(env.etc / 'sv1.cfg')).read()
    image = put_image(env, 'sv1')
    steps = READ_SV1_GONE + [
        (['info'], 'xl_info'),
        (lambda c: c[:2] == ['-N', 'create'], 'create_dryrun_pv'),
        (['restore', image], saved('xl_restore_truncated')),
        # captured after the failed restore: no sv1 left
        (['list', 'sv1'], saved('xl_list_sv1_after_save')),
    ]
    result, failed, script = env(dict(SV1, memory=112, maxmem=128, state='running'), steps)
    assert failed, result
    assert 'Failed to read' in result['stderr'] and 'The image %s was kept' % image in result['msg']
    assert os.path.exists(image) and open(str(env.etc / 'sv1.cfg')).read() == before


def test_a_restore_beside_a_same_named_domain_leaves_that_domain_alone(env):
    write_rendered(env, SV1)
    image = put_image(env, 'sv1')
    steps = READ_SV1_GONE + [
        (['info'], 'xl_info'),
        (['restore', image], saved('xl_restore_same_name')),
        (['list', 'sv1'], saved('xl_list_sv1_after_restore')),
    ]
    result, failed, script = env(dict(SV1, state='running'), steps)
    assert failed and result['error'] == 'domain_exists', result
    assert 'it was left alone' in result['msg'] and os.path.exists(image)
    assert not any(call[0] == 'destroy' for call in script.seen)
