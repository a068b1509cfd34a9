# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import random
import shutil
import string
import subprocess

import pytest
import yaml

from ansible_collections.xenfleet.xen.plugins.module_utils import _host_cmd as hostcmd
from ansible_collections.xenfleet.xen.plugins.module_utils import _seed
from ansible_collections.xenfleet.xen.plugins.module_utils._errors import InvalidSpec

NET = {'version': 2, 'ethernets': {'eth0': {'addresses': ['192.0.2.11/24'], 'gateway4': '192.0.2.1'}}}
USER = {'users': [{'name': 'admin', 'ssh_authorized_keys': ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@example.org']}]}


def load(data):
    # cloud-init reads the files with yaml.load and a SafeLoader (cloudinit/safeyaml.py)
    return yaml.safe_load(data.decode('utf-8') if isinstance(data, bytes) else data)


# -- the YAML emitter -------------------------------------------------------------------------

def test_emitter_quotes_what_yaml_1_1_would_change():
    data = {'no': 'no', 'on': True, 'mode': '0644', 'n': None, 'x': 1.0e-5, 'list': [[], {}, [1, [2]]],
            'text': u'a\nb: "c" \\ \u2028 \x85 \x7f \U0001f600', 'users': [{'name': 'a', 'groups': ['x']}], 7: 'seven'}
    text = _seed.to_yaml(data)
    assert load(text) == data
    assert '"mode": "0644"' not in text and 'mode: "0644"' in text
    assert text == _seed.to_yaml(dict(reversed(list(data.items()))))  # key order does not matter


def test_emitter_round_trips_random_data():
    rnd = random.Random(17)
    chars = [chr(c) for c in list(range(0, 0x180)) + [0x85, 0x2028, 0x2029, 0xfeff, 0x1f600]]
    words = ['yes', 'no', 'on', 'off', '~', 'null', '0644', '1e3', '.inf', '- a', 'a: b', '#x', '&a', '*a', '!t',
             '', ' lead', 'trail ', '2001-01-01', '0x1f', '1_000', '=', '<<']

    def value(depth):
        r = rnd.random()
        if depth > 3 or r < 0.5:
            return rnd.choice([None, True, False, rnd.randint(-10 ** 12, 10 ** 12), rnd.random() * 10 ** rnd.randint(-8, 25),
                               ''.join(rnd.choice(chars) for _i in range(rnd.randint(0, 12))), rnd.choice(words)])
        if r < 0.75:
            return [value(depth + 1) for _i in range(rnd.randint(0, 4))]
        return dict((rnd.choice([''.join(rnd.choice(string.ascii_letters + '-_ .:') for _i in range(rnd.randint(1, 6))),
                                 rnd.choice(words + ['y', 'n', 'True'])]), value(depth + 1))
                    for _i in range(rnd.randint(0, 4)))

    for _i in range(500):
        data = {'k': value(0), 'm': value(0)}
        assert load(_seed.to_yaml(data)) == data


def test_emitter_refuses_what_it_cannot_write():
    with pytest.raises(_seed.RenderError, match=r'user_data.a\[0\]: a set cannot'):
        _seed.to_yaml({'a': [set([1])]}, 'user_data')


# -- user-data ---------------------------------------------------------------------------------

def test_user_data_mapping_is_cloud_config():
    text = _seed.render_user_data(USER)
    assert text.startswith('#cloud-config\n') and load(text) == USER
    assert _seed.render_user_data(None) == '#cloud-config\n{}\n'


@pytest.mark.parametrize('text,header', [
    ('#cloud-config\nhostname: a\n', '#cloud-config'),
    ('  #Cloud-Config\n', '#cloud-config'),
    ('#!/bin/sh\necho hi\n', '#!'),
    ('#include https://example.org/x\n', '#include'),
    ('## template: jinja\n#cloud-config\n', '## template: jinja'),
    ('#cloud-config-archive\n- type: x\n', '#cloud-config-archive'),
    ('Content-Type: multipart/mixed; boundary="b"\nMIME-Version: 1.0\n', 'mime'),
])
def test_user_data_text_headers(text, header):
    assert _seed.user_data_header(text) == header
    assert _seed.render_user_data(text).startswith(text.rstrip('\n'))


def test_user_data_text_without_header_is_refused():
    with pytest.raises(InvalidSpec) as exc:
        _seed.render_user_data('hostname: web1\n')
    assert exc.value.param == 'user_data' and '#cloud-config' in exc.value.msg and 'give a mapping' in exc.value.msg


# -- meta-data and network config ----------------------------------------------------------------

@pytest.mark.parametrize('meta,fragment', [
    ({'instance_id': 'x'}, "key 'instance_id': cloud-init reads 'instance-id'"),
    ({'hostname': 'x'}, "cloud-init reads 'local-hostname'"),
    ({'instance-id': 'a/b'}, "instance-id 'a/b'"),
    ({'instance-id': ''}, "instance-id ''"),
    ({'local-hostname': 'web_1'}, "local-hostname 'web_1' is not a host name"),
    ({'local-hostname': '-web'}, 'is not a host name'),
    ({'local-hostname': 'a' * 64}, 'is not a host name'),
])
def test_bad_meta_data(meta, fragment):
    with pytest.raises(InvalidSpec) as exc:
        _seed.render(None, meta, None, 'iso')
    assert exc.value.param == 'meta_data' and fragment in exc.value.msg


@pytest.mark.parametrize('net,fragment', [
    ({'ethernets': {'eth0': {'dhcp4': True}}}, 'version must be 2'),
    ({'version': 1, 'config': []}, 'version must be 2'),
    ({'version': 2}, 'declares no interface'),
    ({'version': 2, 'ethernet': {'eth0': {}}}, 'unknown key ethernet'),
    ({'version': 2, 'ethernets': {'eth0': {'addresses': ['192.0.2.11']}}}, "'192.0.2.11' has no prefix length"),
    ({'version': 2, 'ethernets': {'eth0': {'addresses': ['192.0.2.300/24']}}}, 'is not an IP address with a prefix'),
    ({'version': 2, 'ethernets': {'eth0': {'gateway4': '2001:db8::1'}}}, "gateway4: '2001:db8::1' is not an IPv4"),
    ({'version': 2, 'ethernets': {'eth0': {'gateway6': 'fe80::1%eth0x/3'}}}, 'gateway6'),
    ({'version': 2, 'ethernets': {'eth0': {'routes': [{'to': 'default'}]}}}, 'each route needs to and via'),
    ({'version': 2, 'ethernets': {'eth0': {'routes': [{'to': 'default', 'via': 'gw'}]}}}, "via 'gw' is not an IP"),
    ({'version': 2, 'ethernets': {'eth0': {'nameservers': {'addresses': ['dns1']}}}}, 'nameservers.addresses'),
    ({'version': 2, 'ethernets': {'eth0': {'match': {'macaddress': '00:16:3e'}}}}, 'is not a MAC address'),
    ({'version': 2, 'ethernets': {'eth0': {'dhcp4': 'yes'}}}, 'dhcp4 must be true or false'),
    ({'version': 2, 'ethernets': {'eth0': 'dhcp'}}, 'ethernets.eth0 must be a mapping'),
])
def test_bad_network_config(net, fragment):
    with pytest.raises(InvalidSpec) as exc:
        _seed.render(None, {}, net, 'iso')
    assert exc.value.param == 'network_config' and fragment in exc.value.msg


def test_network_key_is_unwrapped_and_written_as_version_2():
    seed = _seed.render(None, {}, {'network': NET}, 'iso')
    assert load(seed.files['network-config']) == NET
    assert seed.content_id == _seed.render(None, {}, NET, 'iso').content_id


def test_dhcp_and_static_routes_are_accepted():
    net = {'version': 2, 'ethernets': {'eth0': {'dhcp4': True, 'dhcp6': False, 'mtu': 1500,
                                                'match': {'macaddress': '00:16:3e:00:00:11'}, 'set-name': 'eth0',
                                                'routes': [{'to': '198.51.100.0/24', 'via': '192.0.2.254'},
                                                           {'to': 'default', 'via': '2001:db8::1'}]}}}
    assert load(_seed.render(None, {}, net, 'vfat').files['network-config']) == net


# -- instance-id and content id -----------------------------------------------------------------

def test_instance_id_is_derived_from_the_content():
    one = _seed.render(USER, {'local-hostname': 'web1'}, NET, 'iso')
    again = _seed.render(USER, {'local-hostname': 'web1'}, NET, 'iso')
    other = _seed.render(USER, {'local-hostname': 'web2'}, NET, 'iso')
    assert one.files == again.files and one.content_id == again.content_id
    assert one.instance_id.startswith('iid-') and len(one.instance_id) == 24
    assert other.instance_id != one.instance_id
    assert load(one.files['meta-data']) == {'instance-id': one.instance_id, 'local-hostname': 'web1'}
    assert list(one.files) == ['meta-data', 'user-data', 'network-config']


def test_instance_id_given_is_kept_and_format_changes_only_the_content_id():
    iso = _seed.render(USER, {'instance-id': 'web1-1'}, None, 'iso')
    vfat = _seed.render(USER, {'instance-id': 'web1-1'}, None, 'vfat')
    assert iso.instance_id == vfat.instance_id == 'web1-1' and 'network-config' not in iso.files
    assert iso.files == vfat.files and iso.content_id != vfat.content_id


def test_redacted_form_hides_user_data():
    seed = _seed.render({'chpasswd': {'users': [{'name': 'root', 'password': '$6$secret'}]}}, {}, NET, 'iso')
    shown = seed.redacted()
    assert '$6$secret' not in repr(shown)
    assert shown['user-data'].startswith('(hidden: ') and shown['network-config'] == seed.files['network-config'].decode()


def test_path_problem():
    assert _seed.path_problem('seed.iso').startswith("'seed.iso' is not an absolute path")
    assert 'names a directory' in _seed.path_problem('/var/lib/xen/seed/')
    assert _seed.path_problem('/var/lib/xen/seed/web1.iso') is None


# -- reading images --------------------------------------------------------------------------

def reader(data):
    return lambda offset, length: data[offset:offset + length]


def test_reader_of_something_else():
    assert _seed.read_image(reader(b'\0' * 40000)) is None
    assert _seed.content_id_of(None) is None
    assert _seed.content_id_of({'format': 'iso', 'label': 'cidata', 'id_line': 'something else'}) is None


needs_xorriso = pytest.mark.skipif(not shutil.which('xorriso'), reason='xorriso is not installed (apt-get install xorriso)')
needs_vfat = pytest.mark.skipif(not (shutil.which('mkfs.vfat') or os.path.exists('/sbin/mkfs.vfat')) or not shutil.which('mcopy'),
                                reason='dosfstools and mtools are not installed')


def write_files(tmp_path, seed):
    src = tmp_path / 'files'
    src.mkdir()
    for name, data in seed.files.items():
        (src / name).write_bytes(data)
        os.utime(str(src / name), (hostcmd.SEED_MTIME, hostcmd.SEED_MTIME))
    return src


@needs_xorriso
def test_iso_built_by_xorriso_reads_back(tmp_path):
    seed = _seed.render(USER, {'local-hostname': 'web1'}, NET, 'iso')
    src = write_files(tmp_path, seed)
    images = []
    for number in (1, 2):
        out = tmp_path / ('seed%d.iso' % number)
        subprocess.check_call(hostcmd.iso_seed(str(out), str(src), _seed.LABEL, seed.id_line), stderr=subprocess.DEVNULL)
        images.append(out.read_bytes())
        os.utime(str(src / 'user-data'), None)  # a later mtime does not change the image
    assert images[0] == images[1]  # byte-for-byte reproducible
    image = _seed.read_image(reader(images[0]))
    assert image == {'format': 'iso', 'label': 'cidata', 'id_line': seed.id_line}
    assert _seed.up_to_date(image, seed)
    assert not _seed.up_to_date(image, _seed.render(USER, {'local-hostname': 'web2'}, NET, 'iso'))
    assert not _seed.up_to_date(image, _seed.render(USER, {'local-hostname': 'web1'}, NET, 'vfat'))
    # the files as a guest mounting it sees them (Rock Ridge names)
    subprocess.check_call(['xorriso', '-osirrox', 'on', '-indev', str(tmp_path / 'seed1.iso'), '-extract', '/',
                           str(tmp_path / 'out')], stderr=subprocess.DEVNULL)
    assert sorted(os.listdir(str(tmp_path / 'out'))) == ['meta-data', 'network-config', 'user-data']
    for name, data in seed.files.items():
        assert (tmp_path / 'out' / name).read_bytes() == data


@needs_vfat
def test_vfat_built_by_mkfs_and_mcopy_reads_back(tmp_path):
    seed = _seed.render(USER, {'local-hostname': 'web1'}, None, 'vfat')
    src = write_files(tmp_path, seed)
    (src / _seed.ID_FILE).write_text(seed.id_line + '\n')
    images = []
    for number in (1, 2):
        out = tmp_path / ('seed%d.img' % number)
        with open(str(out), 'wb') as handle:
            handle.truncate(_seed.vfat_size_kib(seed) * 1024)
        env = dict(os.environ, PATH=os.environ.get('PATH', '') + ':/sbin:/usr/sbin')
        subprocess.check_call(hostcmd.vfat_format(str(out), _seed.VFAT_LABEL, '0f220e4e'), env=env, stdout=subprocess.DEVNULL)
        subprocess.check_call(hostcmd.vfat_copy(str(out), [str(src / n) for n in sorted(os.listdir(str(src)))]), env=env)
        images.append(out.read_bytes())
    assert images[0] == images[1]
    image = _seed.read_image(reader(images[0]))
    assert image == {'format': 'vfat', 'label': 'CIDATA', 'id_line': seed.id_line}
    assert _seed.up_to_date(image, seed)
