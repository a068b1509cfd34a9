import struct

import pytest

from xenlab import net


def test_allocate_skips_reserved_and_busy():
    busy = {20001, 20003}
    ports = net.allocate_ports(3, reserved={20000}, is_free=lambda p: p not in busy,
                               start=20000, port_range=(20000, 20010))
    assert ports == [20002, 20004, 20005]


def test_allocate_wraps_around():
    ports = net.allocate_ports(2, is_free=lambda p: True, start=20009, port_range=(20000, 20010))
    assert ports == [20009, 20000]


def test_allocate_exhausted():
    with pytest.raises(RuntimeError):
        net.allocate_ports(2, reserved={20000}, is_free=lambda p: True, start=20000,
                           port_range=(20000, 20002))


def test_allocate_real_ports_are_bindable_and_distinct():
    ports = net.allocate_ports(3)
    assert len(set(ports)) == 3
    assert all(net.PORT_RANGE[0] <= p < net.PORT_RANGE[1] for p in ports)


def test_private_addresses():
    assert net.private_address(1) == "192.168.77.11"
    assert net.private_address(2) == "192.168.77.12"
    with pytest.raises(ValueError):
        net.private_address(0)


def test_split_frames():
    stream = struct.pack(">I", 3) + b"abc" + struct.pack(">I", 2) + b"de" + struct.pack(">I", 5) + b"fg"
    frames, rest = net.split_frames(stream)
    assert frames == [b"abc", b"de"]
    assert rest == struct.pack(">I", 5) + b"fg"
