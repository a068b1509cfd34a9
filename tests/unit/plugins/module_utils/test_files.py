# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A domain's files on the dom0 (_files): paths, autostart entries, secrets, staged writes; check mode
predicts exactly what a real run does and changes nothing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import shutil

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _files as files
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import FileWriteError


class FakeModule(object):
    """What DomainFiles uses of AnsibleModule: atomic_move and backup_local."""

    def __init__(self):
        self.backups = []

    def atomic_move(self, src, dest):
        os.rename(src, dest)

    def backup_local(self, path):
        backup = path + '.bak'
        shutil.copy2(path, backup)
        self.backups.append(backup)
        return backup


@pytest.fixture
def etc(tmp_path):
    (tmp_path / 'auto').mkdir()
    return tmp_path


def domain_files(etc, check=False, name='web1'):
    return files.DomainFiles(FakeModule(), name, str(etc), str(etc / 'auto'), check=check)


def snapshot(etc):
    result = {}
    for root, dirs, names in os.walk(str(etc)):
        for name in dirs + names:
            path = os.path.join(root, name)
            result[path] = (os.readlink(path) if os.path.islink(path) else
                            None if os.path.isdir(path) else open(path).read(), os.lstat(path).st_mode)
    return result


def test_config_path_is_the_one_notion_of_where_a_guest_file_lives():
    assert files.config_path('/etc/xen', 'web1') == '/etc/xen/web1.cfg'
    assert files.config_path('/etc/xen/auto', 'web1') == '/etc/xen/auto/web1.cfg'


@pytest.mark.parametrize('text, secret', [
    ('name = "a"\nvnc = 1\nvncpasswd = "s3cret"\n', True),
    ('name = "a"\nvnc = 1\n', False),
    ('name = "a"\nvncpasswd = ""\n', False),
    (None, False),
    ('vncpasswd = "x" this is not xl.cfg syntax\n', True),   # unparsable: the key alone makes it 0600
])
def test_secret_is_read_from_the_text(text, secret):
    assert files.text_has_secret(text) is secret
    assert files.mode_for(text) == (0o600 if secret else 0o644)


def test_write_stages_then_commits_with_the_mode_of_the_text(etc):
    f = domain_files(etc)
    f.write('name = "web1"\nvnc = 1\nvncpasswd = "pw"\n')
    assert oct(os.stat(f.path).st_mode & 0o777) == '0o600'
    f.write('name = "web1"\n')
    assert oct(os.stat(f.path).st_mode & 0o777) == '0o644'
    assert f.read() == 'name = "web1"\n'
    assert sorted(os.listdir(str(etc))) == ['auto', 'web1.cfg']   # no staged file left behind


def test_a_staged_file_is_discarded_and_the_old_one_kept(etc):
    f = domain_files(etc)
    f.write('old\n')
    f.stage('new\n')
    assert f.read() == 'old\n' and len(os.listdir(str(etc))) == 3
    f.discard()
    assert f.read() == 'old\n' and sorted(os.listdir(str(etc))) == ['auto', 'web1.cfg']


def test_a_directory_that_cannot_take_the_file_fails_before_anything_changed(etc, monkeypatch):
    f = domain_files(etc)
    f.write('old\n')

    def full(*args, **kwargs):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(files.tempfile, 'mkstemp', full)
    with pytest.raises(FileWriteError) as exc:
        f.stage('new\n')
    assert 'No space left on device' in exc.value.msg and 'Nothing was changed' in exc.value.msg
    assert f.read() == 'old\n'


def test_write_durable_needs_no_module_and_leaves_nothing_half_written(etc, monkeypatch):
    target = etc / 'net' / 'xenfleet-bridge-xenbr0'
    files.write_durable(str(target), 'auto xenbr0\n', 0o644)   # makes the directory
    assert target.read_text() == 'auto xenbr0\n' and oct(target.stat().st_mode & 0o777) == '0o644'

    def full(fd):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(files.os, 'fsync', full)
    with pytest.raises(OSError):
        files.write_durable(str(target), 'auto xenbr1\n', 0o644)
    assert target.read_text() == 'auto xenbr0\n'
    assert os.listdir(str(etc / 'net')) == ['xenfleet-bridge-xenbr0']   # the temp file is gone too


def test_restore_puts_back_the_text_or_removes_a_new_file(etc):
    f = domain_files(etc)
    f.write('new\n')
    f.restore(None)
    assert not f.exists()
    f.restore('old\n')
    assert f.read() == 'old\n'


def test_autostart_link_created_then_found_then_removed(etc):
    f = domain_files(etc)
    f.write('name = "web1"\n')
    assert f.autostart() is False
    assert f.set_autostart(True) == 'autostart link created'
    assert os.readlink(f.link) == f.path and f.autostart() is True
    assert f.set_autostart(True) is None
    assert f.set_autostart(None) is None
    assert f.set_autostart(False) == 'autostart link removed'
    assert not os.path.lexists(f.link) and f.set_autostart(False) is None


def test_every_entry_that_starts_the_guest_counts(etc):
    f = domain_files(etc)
    f.write('name = "web1"\n')
    os.symlink(f.path, str(etc / 'auto' / 'other-name'))          # a link under another name
    os.symlink(str(etc / 'gone.cfg'), str(etc / 'auto' / 'x.cfg'))  # dangling, someone else's
    assert f.autostart_entries() == [str(etc / 'auto' / 'other-name')]
    assert f.autostart() is True
    # a stale copy at <name>.cfg starts the guest too, but not from its managed file
    g = domain_files(etc, name='db1')
    g.write('name = "db1"\n')
    shutil.copy(g.path, g.link)
    assert g.autostart_entries() == [g.link] and g.autostart() is False
    assert g.set_autostart(True) == 'autostart link created' and os.readlink(g.link) == g.path


def test_a_dangling_own_link_is_removed_with_the_rest(etc):
    f = domain_files(etc)
    os.symlink(str(etc / 'web1.cfg'), f.link)    # the config file is gone
    assert f.autostart_entries() == [] and f.doomed_autostart_entries() == [f.link]
    assert f.remove_autostart() is True and not os.path.lexists(f.link)


def test_check_mode_predicts_the_same_answers_and_changes_nothing(etc):
    real = domain_files(etc)
    real.write('name = "web1"\nvnc = 1\nvncpasswd = "pw"\n')
    os.chmod(real.path, 0o644)
    os.symlink(real.path, str(etc / 'auto' / 'alias'))
    before = snapshot(etc)
    check = domain_files(etc, check=True)
    answers = (check.secure(True), check.set_autostart(False), check.remove(), check.backup())
    check.stage('other\n')
    check.commit()
    check.restore(None)
    assert snapshot(etc) == before
    assert answers == (True, 'autostart link removed', True, None)
    # the real run does what check mode said
    assert (real.secure(True), real.set_autostart(False), real.remove()) == answers[:3]
    assert sorted(os.listdir(str(etc))) == ['auto'] and os.listdir(str(etc / 'auto')) == []


# -- a saved guest's memory image ----------------------------------------------------------

class StatVfs(object):
    def __init__(self, free_mib):
        self.f_frsize = 4096
        self.f_bavail = free_mib * 256


def test_the_image_of_a_guest_is_named_as_xendomains_names_it(tmp_path):
    image = files.SaveImage(str(tmp_path / 'save'), 'web1')
    assert image.path == str(tmp_path / 'save' / 'web1')
    # xendomains restores every `$XENDOMAINS_SAVE/*` at boot: a shell glob that skips dot files
    assert os.path.basename(image.tmp).startswith('.') and os.path.dirname(image.tmp) == image.save_dir


def test_room_is_the_memory_and_a_margin(tmp_path, monkeypatch):
    image = files.SaveImage(str(tmp_path / 'save'), 'web1')
    need = files.save_room_mib(200)
    assert need > 210  # the lab's image of a 200 MiB guest took 210 MB
    monkeypatch.setattr(files.os, 'statvfs', lambda path: StatVfs(need))
    assert image.check_room(200) == need
    monkeypatch.setattr(files.os, 'statvfs', lambda path: StatVfs(need - 1))
    with pytest.raises(files.SaveDirError) as exc:
        image.check_room(200)
    assert exc.value.kind == 'save_dir_unusable'
    assert '%d MiB free' % (need - 1) in exc.value.msg and 'needs about %d MiB' % need in exc.value.msg
    assert 'Nothing was changed' in exc.value.msg


def test_a_missing_save_dir_is_judged_by_the_directory_it_would_be_made_in(tmp_path, monkeypatch):
    seen = []

    def statvfs(path):
        seen.append(path)
        return StatVfs(100000)
    monkeypatch.setattr(files.os, 'statvfs', statvfs)
    image = files.SaveImage(str(tmp_path / 'a' / 'b'), 'web1')
    image.check_room(128)
    assert seen == [str(tmp_path)]
    assert not os.path.exists(str(tmp_path / 'a'))


def test_a_save_dir_that_is_a_file_or_not_writable_is_refused(tmp_path, monkeypatch):
    (tmp_path / 'plain').write_text(u'x')
    with pytest.raises(files.SaveDirError) as exc:
        files.SaveImage(str(tmp_path / 'plain'), 'web1').check_room(128)
    assert 'is not a directory' in exc.value.msg
    monkeypatch.setattr(files.os, 'access', lambda path, mode: False)
    with pytest.raises(files.SaveDirError) as exc:
        files.SaveImage(str(tmp_path), 'web1').check_room(128)
    assert 'is not writable' in exc.value.msg


def test_prepare_makes_the_directory_private_and_drops_a_stale_temp_file(tmp_path):
    image = files.SaveImage(str(tmp_path / 'save'), 'web1')
    image.prepare()
    assert os.stat(image.save_dir).st_mode & 0o777 == 0o700
    with open(image.tmp, 'w') as handle:
        handle.write('half an image')
    image.prepare()
    assert not os.path.exists(image.tmp)


def test_commit_renames_the_temp_file_and_remove_deletes_the_image(tmp_path):
    image = files.SaveImage(str(tmp_path), 'web1')
    with open(image.tmp, 'w') as handle:
        handle.write('image')
    assert not image.exists()
    image.commit()
    assert image.exists() and image.size() == 5 and not os.path.exists(image.tmp)
    assert files.SaveImage(str(tmp_path), 'web1', check=True).remove() is True
    assert image.exists()
    assert image.remove() is True and not image.exists() and image.remove() is False
