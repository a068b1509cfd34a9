# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _errors as errors
from ansible_collections.xenfleet.xen.plugins.module_utils import _xl as xl
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import Capture, XEN_DOM0_FILES, fake_files, fixture_text


class FakeModule(object):
    """Records run_command calls; answers from a queue of (rc, out, err)."""

    def __init__(self, answers=(), params=None, bins=None):
        self.answers = list(answers)
        self.params = params or {}
        self.bins = bins if bins is not None else {'xl': '/usr/sbin/xl', 'timeout': '/usr/bin/timeout'}
        self.calls = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        return self.bins.get(name)

    def run_command(self, args, **kwargs):
        self.calls.append((args, kwargs))
        return self.answers.pop(0)


def client(module, tmp_path=None, files=None):
    lock = str(tmp_path / 'xl.lock') if tmp_path is not None else None
    return xl.XlClient(module, lock_path=lock, read_file=fake_files(files or XEN_DOM0_FILES))


def answer(name):
    cap = Capture(name)
    return (cap.rc, cap.stdout, cap.stderr)


# -- classification of real failures --------------------------------------------------------

@pytest.mark.parametrize('name,cls,said', [
    ('err_destroy_unknown', errors.DomainNotFoundError,
     'No such domain. xl said: nosuchdomain is an invalid domain identifier (rc=-6)'),
    ('err_domid_unknown', errors.DomainNotFoundError,
     "No such domain. xl said: Can't get domid of domain name 'nosuchdomain'"),
    ('err_list_unknown_domid', errors.DomainNotFoundError, "No such domain. xl said: Error: Domain '77' does not exist."),
    ('err_list_unknown_name', errors.DomainNotFoundError,
     'No such domain. xl said: nosuchdomain is an invalid domain identifier (rc=-6)'),
    ('err_create_same_name', errors.DomainExistsError,
     'A domain with that name already exists. xl said: libxl: error: libxl_domain.c:81:libxl__domain_rename: '
     'Domain 4:Domain with name "pv1" already exists.'),
    ('err_create_syntax', errors.ConfigRejectedError,
     "xl rejected the configuration. xl said: /tmp/bad.cfg:2: config parsing error near `=': syntax error"),
    ('err_create_no_name', errors.ConfigRejectedError,
     'xl rejected the configuration. xl said: Domain name must be specified.'),
    ('err_create_missing_file', errors.ConfigRejectedError,
     'xl could not read the configuration file. xl said: Failed to read config file: /tmp/does-not-exist.cfg: '
     'No such file or directory'),
    ('err_vcpu_set_overcommit', errors.XlCommandError,
     '`/usr/sbin/xl vcpu-set pv1 3` failed with exit code 1: You are overcommmitting! You have 2 physical CPUs and '
     'want 3 vCPUs!'),
    ('err_mem_set_over_max', errors.XlCommandError, '`/usr/sbin/xl mem-set pv1 1024m` failed with exit code 1: '),
    ('err_cd_insert_pv', errors.XlCommandError,
     '`/usr/sbin/xl cd-insert pv1 hdc /tmp/bad.cfg` failed with exit code 1: libxl: error: '
     'libxl_disk.c:838:libxl_cdrom_insert: Domain 1:cdrom-insert requires an HVM domain'),
    ('xl_create_hvm', errors.XlCommandError, '`/usr/sbin/xl create /root/guests/hvm-busybox.cfg` failed with exit code 3: '),
])
def test_classify_real_failures(name, cls, said):
    cap = Capture(name)
    assert cap.rc != 0
    err = errors.classify_failure(['/usr/sbin/xl'] + cap.xl_args, cap.rc, cap.stdout, cap.stderr)
    assert err.__class__ is cls
    kwargs = err.fail_kwargs()
    assert kwargs['rc'] == cap.rc and kwargs['stderr'] == cap.stderr and kwargs['cmd'][0] == '/usr/sbin/xl'
    assert kwargs['error'] == cls.kind
    assert kwargs['msg'] == err.msg and err.msg.startswith(said), err.msg


def test_classify_hotplug_script_timeout():
    cap = Capture('err_create_vif_hotplug_timeout', 'xen-4.17.5-lab-guests')
    err = errors.classify_failure(['/usr/sbin/xl'] + cap.xl_args, cap.rc, cap.stdout, cap.stderr)
    assert err.__class__ is errors.HotplugTimeoutError and err.fail_kwargs()['error'] == 'hotplug_timeout'
    assert 'vif-bridge online because of timeout' in err.msg and 'bridge exists' in err.msg


def test_classify_memory_too_small_for_kernel():
    cap = Capture('err_create_memory_too_small_for_kernel', 'xen-4.17.5-lab-guests')
    err = errors.classify_failure(['/usr/sbin/xl'] + cap.xl_args, cap.rc, cap.stdout, cap.stderr)
    assert err.__class__ is errors.ConfigRejectedError
    assert 'raise memory' in err.msg and 'segment kernel too large' in err.msg


def test_classify_message_quotes_xl():
    cap = Capture('err_create_same_name')
    err = errors.classify_failure(['xl', 'create', 'x.cfg'], cap.rc, cap.stdout, cap.stderr)
    assert 'Domain with name "pv1" already exists.' in err.msg


def test_classify_device_model_crash_quotes_last_line():
    cap = Capture('xl_create_hvm')
    err = errors.classify_failure(['xl', 'create', 'hvm.cfg'], cap.rc, cap.stdout, cap.stderr)
    assert 'exit code 3' in err.msg and 'assuming HVM' in err.msg


@pytest.mark.parametrize('stderr,cls,said', [
    ("ERROR:  Can't find hypervisor information in sysfs!", errors.NotXenHostError,
     "This host is not running under the Xen hypervisor. xl said: ERROR:  Can't find hypervisor information in sysfs!"),
    ("cannot connect to xenstore\ncannot init xl context", errors.ToolstackUnavailableError,
     'xenstored is not running: start the Xen services (systemctl start xen or xencommons). '
     'xl said: cannot connect to xenstore'),
])
def test_classify_wrapper_errors(stderr, cls, said):
    assert errors.classify_failure(['xl', 'info'], 1, '', stderr).__class__ is cls
    assert errors.classify_failure(['xl', 'info'], 1, '', stderr).msg == said


# -- host detection -------------------------------------------------------------------------

def test_describe_host_dom0():
    assert xl.describe_host(fake_files(XEN_DOM0_FILES)) is None


def test_describe_host_bare_metal():
    msg = xl.describe_host(fake_files({'/proc/cpuinfo': 'flags\t\t: fpu vme sse2\n'}))
    assert msg.startswith('This is not a Xen host: the kernel is not running under the Xen hypervisor')
    assert 'xenfleet.xen.hypervisor' in msg


def test_describe_host_other_vm():
    msg = xl.describe_host(fake_files({'/proc/cpuinfo': 'flags\t\t: fpu hypervisor sse2\n'}))
    assert 'virtual machine under a hypervisor that is not Xen' in msg


def test_describe_host_kvm_sysfs():
    msg = xl.describe_host(fake_files({'/sys/hypervisor/type': 'kvm\n'}))
    assert "'kvm' hypervisor" in msg


def test_describe_host_domu():
    msg = xl.describe_host(fake_files({'/sys/hypervisor/type': 'xen\n', '/proc/xen/capabilities': '\n'}))
    assert 'domU' in msg and 'not dom0' in msg


def test_describe_host_no_xenfs():
    msg = xl.describe_host(fake_files({'/sys/hypervisor/type': 'xen\n'}))
    assert 'xenfs' in msg


def test_not_xen_host_raises_before_any_xl_call():
    module = FakeModule()
    c = xl.XlClient(module, read_file=fake_files({}))
    with pytest.raises(errors.NotXenHostError) as exc:
        c.info()
    assert 'not a Xen host' in exc.value.msg
    assert module.calls == []


# -- running xl -----------------------------------------------------------------------------

def test_run_argv_env_and_timeout_prefix():
    module = FakeModule([answer('xl_info')], params={'command_timeout': 30})
    info = client(module).info()
    assert info['xen_major'] == '4'
    args, kwargs = module.calls[0]
    assert args == ['/usr/bin/timeout', '--kill-after=10', '30', '/usr/sbin/xl', 'info']
    assert kwargs['environ_update']['LC_ALL'] == 'C'
    assert kwargs['check_rc'] is False and kwargs['expand_user_and_vars'] is False


def test_run_without_timeout_binary():
    module = FakeModule([answer('xl_list_dom0_only')], bins={'xl': '/usr/sbin/xl'})
    rows = client(module).list_rows()
    assert rows[0]['name'] == 'Domain-0'
    assert module.calls[0][0] == ['/usr/sbin/xl', 'list']


def test_run_timeout_is_typed():
    module = FakeModule([(124, '', '')], params={'command_timeout': 5})
    with pytest.raises(errors.XlTimeoutError) as exc:
        client(module).run(['shutdown', '-w', 'pv1'])
    assert 'within 5 seconds' in exc.value.msg and exc.value.cmd == ['/usr/sbin/xl', 'shutdown', '-w', 'pv1']


def test_run_failure_is_classified():
    module = FakeModule([answer('err_list_unknown_name')])
    with pytest.raises(errors.DomainNotFoundError) as exc:
        client(module).list_rows('nosuchdomain')
    assert exc.value.msg == 'No such domain. xl said: nosuchdomain is an invalid domain identifier (rc=-6)'
    assert module.calls[0][0][-3:] == ['/usr/sbin/xl', 'list', 'nosuchdomain']


def test_xl_missing():
    module = FakeModule(bins={'timeout': '/usr/bin/timeout'})
    with pytest.raises(errors.XlNotFoundError) as exc:
        client(module).info()
    assert 'xl_path' in exc.value.msg


def test_xl_path_option_must_exist():
    module = FakeModule(params={'xl_path': '/nonexistent/xl'})
    with pytest.raises(errors.XlNotFoundError) as exc:
        client(module).info()
    assert exc.value.msg == 'xl_path /nonexistent/xl does not exist on this host.'


def test_unparsable_output_is_typed():
    module = FakeModule([(0, '(domain (domid 0))', '')])
    with pytest.raises(errors.XlOutputError) as exc:
        client(module).list_long()
    assert exc.value.stdout == '(domain (domid 0))'
    assert exc.value.msg == '`xl list -l` did not print JSON (is output_format="sxp" set in /etc/xen/xl.conf?)'


def test_domains_uses_one_list_l_and_one_list():
    module = FakeModule([answer('xl_list_l_three_guests'), answer('xl_list_three_guests')])
    doms = client(module).domains(names=['pvh1', 'nosuch'])
    assert [d['name'] for d in doms] == ['pvh1']
    assert [c[0][3:] for c in module.calls] == [['/usr/sbin/xl', 'list', '-l'], ['/usr/sbin/xl', 'list']]


# -- the per-host lock ----------------------------------------------------------------------

def test_mutating_call_holds_lock(tmp_path):
    module = FakeModule([(0, '', '')])
    c = client(module, tmp_path)
    seen = {}

    def run_command(args, **kwargs):
        other = xl.XlClient(module, lock_path=c.lock_path, read_file=fake_files(XEN_DOM0_FILES))
        with pytest.raises(errors.LockTimeoutError) as exc:
            other.acquire_lock(timeout=0.3)
        assert 'has held %s for longer than this task waited' % c.lock_path in exc.value.msg, exc.value.msg
        assert 'xl, pid %d, for ' % os.getpid() in exc.value.msg and 'lock_timeout' in exc.value.msg
        seen['checked'] = True
        return (0, '', '')

    module.run_command = run_command
    c.run(['pause', 'pv1'], mutating=True)
    assert seen['checked']
    # released afterwards: another client can take it at once
    other = xl.XlClient(module, lock_path=c.lock_path, read_file=fake_files(XEN_DOM0_FILES))
    other.acquire_lock(timeout=0)
    other.release_lock()


def test_lock_is_reentrant(tmp_path):
    c = client(FakeModule(), tmp_path)
    with c:
        with c:
            assert c._lock_depth == 2
        assert c._lock_depth == 1
    assert c._lock_depth == 0 and c._lock_fd is None
    assert os.path.exists(c.lock_path)


@pytest.mark.parametrize('rc,signal_number', [(139, 11), (-11, 11), (134, 6)])
def test_crashed_xl_is_reported_as_crash(rc, signal_number):
    err = errors.classify_failure(['/usr/sbin/xl', 'list', '-l'], rc, '', '')
    assert err.__class__ is errors.XlCrashedError and err.kind == 'xl_crashed'
    assert 'killed by signal %d' % signal_number in err.msg and 'Run the task again' in err.msg


# -- `xl list -l` leaving out an HVM guest whose QEMU does not answer QMP --------------------
# Captured with hvm1's device model stopped (SIGSTOP): xl waited for libxl's QMP timeout, then
# printed only Domain-0, exit 0, empty stderr. `xl list` still shows hvm1.

LAB = 'xen-4.17.5-lab-tcg'


def lab_answer(name):
    cap = Capture(name, LAB)
    return (cap.rc, cap.stdout, cap.stderr)


def hvm1_domid():
    rows = Capture('xl_list_hvm_qemu_stopped', LAB).stdout.splitlines()
    return int([r for r in rows if r.startswith('hvm1 ')][0].split()[1])


def test_list_l_leaving_out_hvm_guest_falls_back_to_stored_config():
    stored = fixture_text('userdata_hvm1.stdout', LAB)
    domid = hvm1_domid()
    path = '/var/lib/xen/userdata-d.%d.%s.libxl-json' % (domid, json.loads(stored.rstrip('\x00'))['c_info']['uuid'])
    files = dict(XEN_DOM0_FILES)
    files[path] = stored
    module = FakeModule([lab_answer('xl_list_l_hvm_qemu_stopped'), lab_answer('xl_list_hvm_qemu_stopped')])
    c = xl.XlClient(module, read_file=fake_files(files), list_dir=lambda d: [os.path.basename(path)] if d == '/var/lib/xen' else [])
    doms = dict((d['name'], d) for d in c.domains())
    hvm1 = doms['hvm1']
    assert hvm1['config_source'] == 'stored' and hvm1['type'] == 'hvm' and hvm1['domid'] == domid
    assert hvm1['kernel'] == '/var/lib/xenlab/guest/vmlinuz' and hvm1['memory_mb']['max'] == 256
    assert hvm1['state'] is not None and hvm1['memory_mb']['current'] is not None
    assert all(d['config_source'] == 'live' for n, d in doms.items() if n != 'hvm1')
    assert len(c.warnings) == 1 and 'hvm1' in c.warnings[0] and 'QMP' in c.warnings[0]
    assert len(module.calls) == 2


def test_list_l_leaving_out_guest_without_stored_config_is_flagged():
    module = FakeModule([lab_answer('xl_list_l_hvm_qemu_stopped'), lab_answer('xl_list_hvm_qemu_stopped')])
    c = xl.XlClient(module, read_file=fake_files(XEN_DOM0_FILES), list_dir=lambda d: [])
    hvm1 = c.domains(names=['hvm1'])[0]
    assert hvm1['config_source'] is None and hvm1['type'] is None and hvm1['disks'] == []
    assert len(c.warnings) == 1 and 'no readable stored configuration' in c.warnings[0]


def test_no_fallback_work_when_list_l_is_complete():
    module = FakeModule([answer('xl_list_l_three_guests'), answer('xl_list_three_guests')])

    def no_listing(path):
        raise AssertionError('listed %s although xl list -l was complete' % path)
    c = xl.XlClient(module, read_file=fake_files(XEN_DOM0_FILES), list_dir=no_listing)
    assert [d['config_source'] for d in c.domains()] == ['live', 'live']
    assert c.warnings == []


# -- the critical section: one read-decide-act per host at a time ---------------------------

def test_critical_section_spans_every_call_until_close(tmp_path):
    module = FakeModule([answer('xl_list_dom0_only'), answer('xl_list_dom0_only')])
    c = client(module, tmp_path)
    c.critical_section('xen_domain web1')
    held = []

    def run_command(args, **kwargs):
        other = xl.XlClient(module, lock_path=c.lock_path, read_file=fake_files(XEN_DOM0_FILES))
        try:
            other.acquire_lock(timeout=0)
            other.release_lock()
            held.append(False)
        except errors.LockTimeoutError as exc:
            held.append(exc.msg)
        return answer('xl_list_dom0_only')

    module.run_command = run_command
    c.list_rows()   # a read: the section starts with the first xl call, read or not
    c.list_rows()
    assert len(held) == 2 and all(held), held
    assert 'xen_domain web1, pid %d' % os.getpid() in held[0]
    c.close()
    other = xl.XlClient(module, lock_path=c.lock_path, read_file=fake_files(XEN_DOM0_FILES))
    other.acquire_lock(timeout=0)
    other.release_lock()


def test_no_critical_section_before_the_first_call(tmp_path):
    c = client(FakeModule(), tmp_path)
    c.critical_section('xen_domain web1')
    assert not os.path.exists(c.lock_path)  # validation failures never wait for the lock
    c.close()


def test_lock_timeout_names_the_holder_and_the_option(tmp_path):
    holder = client(FakeModule(), tmp_path)
    holder.acquire_lock(timeout=0, holder='xen_migrate db1')
    try:
        waiter = xl.XlClient(FakeModule(params={'lock_timeout': 1}), lock_path=holder.lock_path,
                             read_file=fake_files(XEN_DOM0_FILES))
        with pytest.raises(errors.LockTimeoutError) as exc:
            waiter.acquire_lock(timeout=0.2)
    finally:
        holder.release_lock()
    assert 'xen_migrate db1, pid %d, for ' % os.getpid() in exc.value.msg
    assert 'nothing was changed' in exc.value.msg and 'lock_timeout' in exc.value.msg
    assert exc.value.fail_kwargs()['error'] == 'lock_timeout'


@pytest.mark.parametrize('text', ['', 'garbage', '{"pid": "x"}', '[]'])
def test_describe_lock_holder_tolerates_any_content(text):
    assert xl.describe_lock_holder(text, 10.0) == 'holder unknown'


def test_describe_lock_holder():
    record = json.dumps({'pid': 42, 'task': 'xen_domain web1', 'since': 100.0})
    assert xl.describe_lock_holder(record, 195.4) == 'xen_domain web1, pid 42, for 95 s'


# -- kill -9 of xl is a crash, the timeout a timeout -----------------------------------------

def test_xl_killed_before_the_timeout_is_a_crash_not_a_timeout():
    # coreutils timeout exits 137 both when it killed xl and when xl was killed by someone else
    module = FakeModule([(137, '', 'Parsing config from /etc/xen/pv1.cfg\n')], params={'command_timeout': 60})
    with pytest.raises(errors.XlCrashedError) as exc:
        client(module).run(['create', '/etc/xen/pv1.cfg'])
    assert 'killed by signal 9' in exc.value.msg


@pytest.mark.parametrize('rc,elapsed,timeout,expected', [
    (124, 0.1, 60, True), (137, 70, 60, True), (137, 2, 60, False), (1, 70, 60, False), (0, 70, 60, False)])
def test_timed_out(rc, elapsed, timeout, expected):
    assert xl.timed_out(rc, elapsed, timeout) is expected


# -- xl_path and the common options ------------------------------------------------------------

def test_xl_path_directory_is_named_as_such(tmp_path):
    module = FakeModule(params={'xl_path': str(tmp_path)})
    with pytest.raises(errors.XlNotFoundError) as exc:
        client(module).info()
    assert 'is a directory, not the xl command' in exc.value.msg and module.calls == []


def test_xl_path_not_executable(tmp_path):
    path = tmp_path / 'xl'
    path.write_text(u'#!/bin/sh\n')
    module = FakeModule(params={'xl_path': str(path)})
    with pytest.raises(errors.XlNotFoundError) as exc:
        client(module).info()
    assert 'is not an executable file' in exc.value.msg and module.calls == []


@pytest.mark.parametrize('params,param,said', [
    ({'xl_path': 'sbin/xl'}, 'xl_path', "xl_path: 'sbin/xl' is not an absolute path"),
    ({'command_timeout': -5}, 'command_timeout', 'command_timeout: must be a positive number of seconds, got -5'),
    ({'command_timeout': 0}, 'command_timeout', 'command_timeout: must be a positive number of seconds, got 0'),
    ({'lock_timeout': -1}, 'lock_timeout', 'lock_timeout: must be a positive number of seconds, got -1')])
def test_common_options_are_validated(params, param, said):
    with pytest.raises(errors.InvalidSpec) as exc:
        xl.validate_common(params)
    assert exc.value.param == param and exc.value.msg.startswith(param + ':')
    assert exc.value.msg.startswith(said), exc.value.msg


def test_common_options_defaults_pass():
    xl.validate_common({'xl_path': None, 'command_timeout': 120, 'lock_timeout': 900})


def test_a_long_wait_for_the_lock_is_a_warning(tmp_path, monkeypatch):
    c = client(FakeModule(), tmp_path)
    clock = iter([0.0, 12.0, 12.0])  # start, after the lock was taken, the holder record
    monkeypatch.setattr(xl.time, 'monotonic', lambda: next(clock))
    c.acquire_lock(timeout=60, holder='xen_domain web1')
    c.release_lock()
    assert c.warnings == ['waited 12 s for another xenfleet.xen task on this host to finish (it holds %s).'
                          % c.lock_path]


def remote_target():
    return xl.SshTarget('xen2', user='root', connect_timeout=15)


def test_remote_xl_honours_xl_path_and_classifies_failures():
    cap = Capture('err_destroy_unknown', 'xen-4.17.5-lab-tcg')
    module = FakeModule([(cap.rc, cap.stdout, cap.stderr)], params={'xl_path': '/usr/lib/xen-4.17/bin/xl'})
    with pytest.raises(errors.DomainNotFoundError) as exc:
        client(module).run_remote_xl(remote_target(), ['destroy', 'nosuch'])
    argv = module.calls[0][0]
    assert argv[-3:] == ['--', 'xen2', '/usr/lib/xen-4.17/bin/xl destroy nosuch']
    assert exc.value.cmd == argv[3:]          # the ssh argv, without the timeout prefix
    assert exc.value.msg == 'No such domain. xl said: nosuch is an invalid domain identifier (rc=-6)'


def test_remote_xl_defaults_to_xl_in_the_ssh_users_path():
    cap = Capture('xl_list_target_after_receiver_killed', 'xen-4.17.5-lab-migrate')
    module = FakeModule([(cap.rc, cap.stdout, cap.stderr)])
    res = client(module).run_remote_xl(remote_target(), ['list'])
    assert module.calls[0][0][-1] == 'xl list' and res.stdout == cap.stdout


def test_remote_xl_reports_a_failed_ssh_as_ssh():
    module = FakeModule([(255, '', 'ssh: connect to host xen2 port 22: Connection refused\n')])
    with pytest.raises(errors.XlCommandError) as exc:
        client(module).run_remote_xl(remote_target(), ['list'])
    assert exc.value.msg == 'ssh to xen2 failed (exit code 255): ssh: connect to host xen2 port 22: Connection refused'
    module = FakeModule([(255, '', 'ssh: connect to host xen2 port 22: Connection refused\n')])
    assert client(module).run_remote_xl(remote_target(), ['list'], check=False).rc == 255


def test_run_tool_uses_the_tools_path_c_locale_and_timeout():
    module = FakeModule([(0, '{"format": "raw"}\n', '')], params={'command_timeout': 30},
                        bins={'xl': '/usr/sbin/xl', 'timeout': '/usr/bin/timeout', 'qemu-img': '/usr/bin/qemu-img'})
    c = client(module)
    res = c.run_tool(['qemu-img', 'info', '--output=json', '/srv/a.img'])
    argv, kwargs = module.calls[0]
    assert argv == ['/usr/bin/timeout', '--kill-after=10', '30', '/usr/bin/qemu-img', 'info', '--output=json', '/srv/a.img']
    assert kwargs['environ_update']['LC_ALL'] == 'C' and kwargs['expand_user_and_vars'] is False
    assert res.stdout == '{"format": "raw"}\n' and c.calls == [argv[3:]]


def test_run_tool_missing_names_the_tool_and_the_package():
    module = FakeModule([])
    with pytest.raises(errors.ToolMissingError) as exc:
        client(module).run_tool(['lvcreate', '-n', 'x'])
    assert exc.value.msg == ('lvcreate was not found on this host (looked in PATH, /usr/sbin, /sbin). '
                             'Install it with: apt-get install lvm2 (Debian package lvm2).')
    assert module.calls == []


def test_run_tool_failure_carries_cmd_rc_and_output():
    module = FakeModule([(1, '', "qemu-img: Could not open '/nope': Could not open '/nope': No such file or directory\n")],
                        bins={'timeout': '/usr/bin/timeout', 'qemu-img': '/usr/bin/qemu-img'})
    with pytest.raises(errors.ToolCommandError) as exc:
        client(module).run_tool(['qemu-img', 'info', '/nope'])
    assert exc.value.msg.startswith('`/usr/bin/qemu-img info /nope` failed with exit code 1: qemu-img: Could not open')
    assert exc.value.cmd == ['/usr/bin/qemu-img', 'info', '/nope'] and exc.value.rc == 1
