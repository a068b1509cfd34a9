import json

from xenlab import render

HOSTS = [
    {"name": "xen1", "ssh_port": 23001, "priv_addr": "192.168.77.11",
     "host_pubkey": "ssh-ed25519 AAAAC3Nza1 root@xen1"},
    {"name": "xen2", "ssh_port": 23002, "priv_addr": "192.168.77.12",
     "host_pubkey": "ssh-ed25519 AAAAC3Nza2 root@xen2"},
]


def test_inventory_yaml():
    text = render.inventory_yaml("lab1", HOSTS, "/s/id_ed25519", "/s/known_hosts")
    lines = text.splitlines()
    assert "    xen_hosts:" in lines
    assert "        xen1:" in lines and "        xen2:" in lines
    assert "          ansible_port: 23002" in lines
    assert '          ansible_host: "127.0.0.1"' in lines
    assert "          ansible_python_interpreter: /usr/bin/python3" in lines
    assert '          xenlab_private_address: "192.168.77.11"' in lines
    assert '          ansible_ssh_private_key_file: "/s/id_ed25519"' in lines
    assert "StrictHostKeyChecking=yes" in text and "UserKnownHostsFile=/s/known_hosts" in text
    # keepalives: QEMU user networking never resets a connection across a guest's reboot
    assert "ServerAliveInterval=10 -o ServerAliveCountMax=3" in text
    assert not any(line != line.rstrip() for line in lines)


def test_inventory_is_valid_yaml_if_pyyaml_present():
    yaml = __import__("pytest").importorskip("yaml")
    data = yaml.safe_load(render.inventory_yaml("lab1", HOSTS, "/k", "/kh"))
    hosts = data["all"]["children"]["xen_hosts"]["hosts"]
    assert hosts["xen2"]["ansible_port"] == 23002
    assert hosts["xen1"]["ansible_ssh_pipelining"] is True


def test_quoting():
    assert render._q('a"b') == json.dumps('a"b')
    assert render._q(True) == "true"
    assert render._q(5) == "5"


def test_known_hosts_and_ssh_config():
    kh = render.known_hosts(HOSTS)
    assert kh.splitlines() == ["[127.0.0.1]:23001 ssh-ed25519 AAAAC3Nza1",
                               "[127.0.0.1]:23002 ssh-ed25519 AAAAC3Nza2"]
    cfg = render.ssh_config(HOSTS, "/k", "/kh")
    assert "Host xen2\n  HostName 127.0.0.1\n  Port 23002\n" in cfg
    assert "StrictHostKeyChecking yes" in cfg
    assert "ServerAliveInterval 10" in cfg


def test_network_units_and_hosts():
    units = render.network_units(1, "52:54:00:77:00:01", "52:54:00:77:01:01", "192.168.77.11")
    assert "MACAddress=52:54:00:77:00:01" in units["10-xenlab-user.network"]
    assert "DHCP=ipv4" in units["10-xenlab-user.network"]
    assert "Address=192.168.77.11/24" in units["20-xenlab-private.network"]
    assert render.etc_hosts(HOSTS).splitlines()[1:] == ["192.168.77.11 xen1", "192.168.77.12 xen2"]
