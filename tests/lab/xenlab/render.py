"""Text files a lab writes: Ansible inventory, ssh_config, known_hosts, networkd units."""

import json


def _q(value):
    """YAML scalar: JSON strings are valid YAML double-quoted scalars."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


# QEMU's user networking keeps the host side of a forwarded TCP connection open when the guest
# reboots (no reset ever comes back): without keepalives an SSH session that was open across a reboot
# - ansible.builtin.reboot's own - waits forever (seen in the demo, 2026-11-26). Three missed
# keepalives 10 s apart end it, as a real network's reset would.
KEEPALIVE = "-o ServerAliveInterval=10 -o ServerAliveCountMax=3"


def ssh_common_args(known_hosts):
    return "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes %s" % (
        known_hosts, KEEPALIVE)


def inventory_yaml(lab, hosts, key, known_hosts, group="xen_hosts"):
    """hosts: list of dicts with name, ssh_port, priv_addr."""
    lines = [
        "# Ansible inventory of xenlab lab %s (written by xenlab; do not edit)" % lab,
        "all:",
        "  vars:",
        "    xenlab_name: %s" % _q(lab),
        "  children:",
        "    %s:" % group,
        "      hosts:",
    ]
    for h in hosts:
        lines += [
            "        %s:" % h["name"],
            "          ansible_host: \"127.0.0.1\"",
            "          ansible_port: %d" % h["ssh_port"],
            "          ansible_user: root",
            "          ansible_ssh_private_key_file: %s" % _q(key),
            "          ansible_ssh_common_args: %s" % _q(ssh_common_args(known_hosts)),
            "          ansible_ssh_pipelining: true",
            "          ansible_python_interpreter: /usr/bin/python3",
            "          xenlab_private_address: %s" % _q(h["priv_addr"]),
        ]
    return "\n".join(lines) + "\n"


def ssh_config(hosts, key, known_hosts):
    out = []
    for h in hosts:
        out += [
            "Host %s" % h["name"],
            "  HostName 127.0.0.1",
            "  Port %d" % h["ssh_port"],
            "  User root",
            "  IdentityFile %s" % key,
            "  IdentitiesOnly yes",
            "  UserKnownHostsFile %s" % known_hosts,
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            # sshd in a TCG dom0 under load can take well over 10 s to send its banner
            "  ConnectTimeout 60",
            "  ServerAliveInterval 10",
            "  ServerAliveCountMax 3",
            "  LogLevel ERROR",
            "",
        ]
    return "\n".join(out)


def known_hosts(hosts):
    """hosts: dicts with ssh_port and host_pubkey ('ssh-ed25519 AAAA... comment')."""
    lines = []
    for h in hosts:
        ktype, blob = h["host_pubkey"].split()[:2]
        lines.append("[127.0.0.1]:%d %s %s" % (h["ssh_port"], ktype, blob))
    return "\n".join(lines) + "\n"


def network_units(index, mac_user, mac_priv, priv_addr):
    """networkd files (name -> text) for a host: DHCP on the user-net NIC, static private."""
    return {
        "10-xenlab-user.network": (
            "[Match]\nMACAddress=%s\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\n"
            "IPv6AcceptRA=no\n" % mac_user),
        "20-xenlab-private.network": (
            "[Match]\nMACAddress=%s\n\n[Network]\nAddress=%s/24\nConfigureWithoutCarrier=yes\n"
            "LinkLocalAddressing=no\nIPv6AcceptRA=no\n" % (mac_priv, priv_addr)),
    }


def ifupdown_env(mac_user, mac_priv, priv_addr):
    """Shell assignments read by the plain-ifupdown image's first boot (xenlab-ifupdown-firstboot): the NICs'
    MACs and the private address, from which it writes /etc/network/interfaces as the installer would."""
    return "MAC_USER=%s\nMAC_PRIV=%s\nPRIV_ADDR=%s\n" % (mac_user, mac_priv, priv_addr)


def etc_hosts(hosts):
    lines = ["127.0.0.1 localhost"]
    for h in hosts:
        lines.append("%s %s" % (h["priv_addr"], h["name"]))
    return "\n".join(lines) + "\n"
