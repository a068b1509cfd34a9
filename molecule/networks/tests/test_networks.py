"""Issue 20. The hosts converged by molecule/networks: Xen as dom0, and the bridges, VLANs
and files the hypervisor role made - net1 with ifupdown (as Debian's installer left it), net2 with systemd-networkd."""

import re

BRIDGES = ("xenbr0", "xenbr1", "xenbr20", "xenbr30", "xenint")


def _ports(host, bridge):
    return host.check_output("ls /sys/class/net/%s/brif" % bridge).split()


def test_booted_under_xen_as_dom0(host):
    assert "control_d" in host.file("/proc/xen/capabilities").content_string


def test_every_bridge_exists(host):
    for bridge in BRIDGES:
        assert host.file("/sys/class/net/%s/bridge" % bridge).is_directory, bridge


def test_vlan_bridges_have_their_tagged_port(host):
    vlans = host.file("/proc/net/vlan/config").content_string
    for bridge, vid in (("xenbr20", 20), ("xenbr30", 30)):
        port, = _ports(host, bridge)
        assert port.endswith(".%d" % vid)
        assert re.search(r"^%s\s*\|\s*%d\s*\|" % (re.escape(port), vid), vlans, re.M), vlans


def test_uplink_bridges_carry_the_addresses_their_nics_had(host):
    assert " inet 10.0.2.15/24 " in host.check_output("ip -4 -o addr show dev xenbr0")
    index = 1 if host.backend.get_hostname() == "net1" else 2
    assert " inet 192.168.77.1%d/24 " % index in host.check_output("ip -4 -o addr show dev xenbr1")
    assert " inet 10.20.0.%d/24 " % index in host.check_output("ip -4 -o addr show dev xenbr20")
    assert " inet 192.168.100.1/24 " in host.check_output("ip -4 -o addr show dev xenint")


def test_the_stack_files(host):
    if host.backend.get_hostname() == "net1":
        main = host.file("/etc/network/interfaces").content_string
        assert not re.search(r"^allow-hotplug (?!lo)", main, re.M), main
        assert "moved by xenfleet.xen" in main
        assert "bridge-ports" in host.file("/etc/network/interfaces.d/xenfleet-bridge-xenbr0").content_string
        assert not host.file("/etc/systemd/network/05-xenfleet-xenbr0.netdev").exists
    else:
        assert host.file("/etc/systemd/network/05-xenfleet-xenbr0.netdev").exists
        assert host.file("/etc/systemd/network/05-xenfleet-xenbr20-vlan.netdev").exists
        assert not host.file("/etc/network/interfaces.d/xenfleet-bridge-xenbr0").exists


def test_xl_default_bridge_is_the_first(host):
    assert re.search(r'^vif.default.bridge="xenbr0"$', host.file("/etc/xen/xl.conf").content_string, re.M)
