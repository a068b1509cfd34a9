# -*- coding: utf-8 -*-
# Copyright (c) xenfleet.xen contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.xenfleet.xen.plugins.module_utils import _xl_config as cfg
from ansible_collections.xenfleet.xen.tests.unit.plugins.xl_capture import fixture_text


@pytest.mark.parametrize('name', ['pv-busybox.cfg', 'pvh-busybox.cfg', 'hvm-busybox.cfg', 'pv-busybox-net.cfg'])
def test_parse_configs_that_ran_on_real_xen(name):
    data = cfg.parse(fixture_text(name))
    assert data['type'] in ('pv', 'pvh', 'hvm') and data['kernel'] == '/vmlinuz'
    assert isinstance(data['memory'], int)


def test_parse_values():
    data = cfg.parse(fixture_text('pv-busybox-net.cfg'))
    assert data['vif'] == ['mac=00:16:3e:00:00:10,bridge=xenbr0']
    assert data['maxvcpus'] == 2 and data['extra'] == 'console=hvc0 quiet guestip=192.168.100.10/24'


def test_parse_syntax():
    text = 'a = 1; b = "x\\"y"\nc = [ "1",\n  "2", ]\nc += [ "3" ]\n# comment\nd = 0x10\ne=\'s\'\n'
    assert cfg.parse(text) == {'a': 1, 'b': 'x"y', 'c': ['1', '2', '3'], 'd': 16, 'e': 's'}


@pytest.mark.parametrize('text,line', [
    ('name = \n', 1),
    ('a = 1\nname == "x"\n', 2),
    ('a = [ "x" "y" ]\n', 1),
    ('a = 1 2\n', 1),
    ('a += "x"\n', 1),
    ('= 3\n', 1),
])
def test_parse_errors_name_the_line(text, line):
    with pytest.raises(cfg.XlConfigError) as exc:
        cfg.parse(text)
    assert str(exc.value).startswith('line %d:' % line)


def test_render_roundtrip_and_determinism():
    settings = [('name', 'web1'), ('type', 'pvh'), ('memory', 512), ('vcpus', 2), ('cpus', None),
                ('disk', ['format=raw, vdev=xvda, access=rw, target=/srv/web1.img']),
                ('vif', ['mac=00:16:3e:00:00:01,bridge=xenbr0', 'bridge=xenbr1']),
                ('cmdline', 'root=/dev/xvda "quoted" back\\slash'), ('acpi', True)]
    text = cfg.render(settings, header='Managed by Ansible')
    assert text == cfg.render(settings, header='Managed by Ansible')
    assert text.startswith('# Managed by Ansible\nname = "web1"\n')
    assert '\ncpus' not in text
    assert 'vif = [\n    "mac=00:16:3e:00:00:01,bridge=xenbr0",\n    "bridge=xenbr1",\n]\n' in text
    back = cfg.parse(text)
    assert back['cmdline'] == 'root=/dev/xvda "quoted" back\\slash'
    assert back['disk'] == ['format=raw, vdev=xvda, access=rw, target=/srv/web1.img']
    assert back['acpi'] == 1 and back['memory'] == 512


@pytest.mark.parametrize('bad', ['a\nb', 'x\x00'])
def test_quote_refuses_line_breaks(bad):
    with pytest.raises(cfg.XlConfigError) as exc:
        cfg.quote(bad)
    assert str(exc.value) == 'value %r contains a line break or NUL, which xl.cfg cannot hold' % bad


def test_render_refuses_bad_keys():
    with pytest.raises(cfg.XlConfigError) as exc:
        cfg.render([('bad key', 1)])
    assert str(exc.value) == "'bad key' is not a valid xl.cfg key"


@pytest.mark.parametrize('name,ok,said', [
    ('web1', True, None), ('db_2.prod-x', True, None), ('123', False, 'must not be all digits'),
    ('Domain-0', False, 'is reserved by Xen'), ('a b', False, 'may only contain letters, digits, "_", "." and "-"'),
    ('x;rm', False, 'may only contain letters, digits, "_", "." and "-"'), ('', False, 'must not be empty'),
    ('g--incoming', False, 'must not end in "--incoming"'), ('g-dm', False, 'or "-dm" (names xl uses for its own domains)'),
    ('-x', False, 'or start with "-"'), ('a' * 65, False, 'must be at most 64 characters'),
])
def test_name_problem(name, ok, said):
    assert (cfg.name_problem(name) is None) == ok
    if not ok:
        assert said in cfg.name_problem(name)


def test_disk_spec_target_last():
    spec = cfg.disk_spec({'target': '/srv/a,b.img', 'vdev': 'xvda'})
    assert spec == 'format=raw, vdev=xvda, access=rw, target=/srv/a,b.img'
    assert cfg.parse_disk_spec(spec) == {'format': 'raw', 'vdev': 'xvda', 'access': 'rw', 'cdrom': False,
                                         'target': '/srv/a,b.img'}
    cd = cfg.disk_spec({'target': '/iso/d.iso', 'vdev': 'hdc', 'cdrom': True})
    assert cd == 'format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/iso/d.iso'
    assert cfg.parse_disk_spec(cd)['cdrom'] is True


def test_parse_positional_disk_spec():
    assert cfg.parse_disk_spec('/dev/vg/g,,xvda') == {'target': '/dev/vg/g', 'vdev': 'xvda', 'format': 'raw',
                                                      'access': 'rw', 'cdrom': False}
    assert cfg.parse_disk_spec('/x.qcow2,qcow2,xvdb,ro')['access'] == 'ro'


@pytest.mark.parametrize('disk,fragment', [
    ({'target': '/a.img'}, 'vdev is required'),
    ({'target': '/a.img', 'vdev': 'eth0'}, 'not a virtual device name'),
    ({'target': '/a.img', 'vdev': 'xvda', 'format': 'iso'}, 'format'),
    ({'target': '/a.img', 'vdev': 'xvda', 'access': 'w'}, 'access'),
    ({'vdev': 'xvda'}, 'target'),
    ({'target': 'rel.img', 'vdev': 'xvda'}, 'absolute'),
])
def test_disk_problem(disk, fragment):
    assert fragment in cfg.disk_problem(disk)


def test_disk_ok():
    assert cfg.disk_problem({'target': '/a.img', 'vdev': 'xvda', 'format': 'qcow2', 'access': 'ro'}) is None
    assert cfg.disk_problem({'vdev': 'hdc', 'cdrom': True}) is None


def test_vif_spec_and_problems():
    vif = {'bridge': 'xenbr0', 'mac': '00:16:3E:00:00:10', 'model': None}
    assert cfg.vif_spec(vif) == 'mac=00:16:3e:00:00:10,bridge=xenbr0'
    assert cfg.parse_vif_spec('mac=00:16:3E:00:00:10, bridge=xenbr0') == {'mac': '00:16:3e:00:00:10', 'bridge': 'xenbr0'}
    assert cfg.vif_problem(vif) is None
    assert 'multicast' in cfg.vif_problem({'mac': '01:16:3e:00:00:10'})
    assert 'MAC address' in cfg.vif_problem({'mac': 'zz'})
    assert 'unknown vif key' in cfg.vif_problem({'colour': 'red'})
    assert 'must not contain' in cfg.vif_problem({'bridge': 'a,b'})


@pytest.mark.parametrize('name', ['xenbr0', 'br-lan_2', 'xenbr0.100', 'a' * 15, 'br@1'])
def test_interface_names_linux_takes(name):
    assert cfg.ifname_problem(name) is None
    assert cfg.vif_problem({'bridge': name}) is None


@pytest.mark.parametrize('name,fragment', [
    ('', 'must not be empty'),
    ('a' * 16, 'longer than 15 characters'),
    ('.', 'must not be "." or ".."'),
    ('..', 'must not be "." or ".."'),
    ('xen br0', "must not contain ' '"),
    ('br\n0', "must not contain '\\n'"),
    ('br/0', "must not contain '/'"),
    ('br:0', "must not contain ':'"),
    ('br,0', "must not contain ','"),
    ('br=0', "must not contain '='"),
])
def test_interface_names_linux_refuses(name, fragment):
    assert fragment in cfg.ifname_problem(name)


def test_vif_bridge_problem_names_the_bridge():
    assert cfg.vif_problem({'bridge': 'xen br0'}).startswith("bridge 'xen br0' must not contain ' '")
    assert cfg.vif_problem({'bridge': ''}) is None  # an empty value is no value (normalize_vifs drops it)


@pytest.mark.parametrize('value', ['127.0.0.1', '0.0.0.0', '0.0.0.0:1', '::1', '::', '2001:db8::1', '[::1]:1',
                                   '[2001:db8::1]:10'])
def test_vnclisten_addresses(value):
    assert cfg.vnclisten_problem(value) is None


@pytest.mark.parametrize('value', ['localhost', 'vnc.example.org', '', '1.2.3', '256.0.0.1', '1.2.3.4:',
                                   '1.2.3.4:x', '[1.2.3.4]:1', '2001:db8::1]:1', '[::1]', '::1 ', '127.0.0.1:1:2',
                                   'fe80::1%eth0', '[fe80::1%eth0]:1'])
def test_vnclisten_refuses_what_is_not_an_address(value):
    assert 'is not an IP address' in cfg.vnclisten_problem(value)


def test_secret_keys_are_one_list():
    from ansible_collections.xenfleet.xen.plugins.module_utils import _domain, _files
    assert _domain.SECRET_KEYS is cfg.SECRET_KEYS and tuple(_files.SECRET_KEYS) == cfg.SECRET_KEYS
