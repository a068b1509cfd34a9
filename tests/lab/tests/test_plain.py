import os
import subprocess

import pytest

from xenlab import lab, plain, qemu, render


def test_plain_grub_cfg_boots_linux_only():
    cfg = plain.grub_cfg("plain", "6.1.0-41-amd64")
    assert "multiboot2" not in cfg
    assert "linux /boot/vmlinuz-6.1.0-41-amd64 root=LABEL=xenlab-root ro" in cfg
    assert "initrd /boot/initrd.img-6.1.0-41-amd64" in cfg


def test_xengrub_grub_cfg_boots_xen_first_with_the_lab_arguments():
    cfg = plain.grub_cfg("xengrub", "6.1.0-41-amd64", "xen-4.17-amd64.gz")
    entries = cfg.split("menuentry ")[1:]
    assert len(entries) == 2
    xen, linux = entries
    assert "with Xen hypervisor" in xen and "set default=0" in cfg
    assert "multiboot2 /boot/xen-4.17-amd64.gz placeholder dom0_mem=1024M,max:1024M" in xen
    assert "spec-ctrl=eager-fpu" in xen and "dom0_max_vcpus=2" in xen
    # dom0's kernel finds its root by label (the disk is partitioned) and keeps the lab console
    assert "module2 /boot/vmlinuz-6.1.0-41-amd64 placeholder root=LABEL=xenlab-root ro console=hvc0" in xen
    assert "root=/dev/vda" not in xen
    assert "module2 --nounzip /boot/initrd.img-6.1.0-41-amd64" in xen
    assert "multiboot2" not in linux


def test_grub_cfg_refuses_unknown_kind_and_missing_xen():
    with pytest.raises(ValueError):
        plain.grub_cfg("xen", "6.1")
    with pytest.raises(ValueError):
        plain.grub_cfg("xengrub", "6.1")


def test_image_keys_differ_per_kind_and_xengrub_carries_xen():
    assert plain.image_key("bookworm", "plain") != plain.image_key("bookworm", "xengrub")
    assert "xen-system-amd64" in plain.packages("xengrub")
    assert "xen-system-amd64" not in plain.packages("plain")
    assert "grub-pc" in plain.packages("xengrub")


def _state(kind, guestfwd=()):
    return {"kind": kind, "hosts": [{"boot": "disk" if kind != "xen" else "kernel",
                                     "guestfwd": list(guestfwd)}]}


def test_warm_start_only_for_xen_hosts_never_for_hosts_that_reboot_or_use_the_apt_repo(monkeypatch):
    monkeypatch.setenv("XENLAB_WARM", "1")
    assert lab._warm_wanted(_state("xen"))
    assert not lab._warm_wanted(_state("xengrub"))
    assert not lab._warm_wanted(_state("plain"))
    assert not lab._warm_wanted(_state("xen", [("10.0.2.100", 80, "cmd")]))


def test_disk_boot_argv_has_no_kernel():
    h = {"lab": "l", "name": "n", "accel": "tcg", "cpu": qemu.TCG_CPU, "smp": 2, "mem": 4096,
         "boot": "disk", "ssh_port": 2222, "mac_user": qemu.mac(0, 1), "overlay": "o.qcow2",
         "seed": "s.tar", "serial": "c.log", "monitor": "m.sock", "pidfile": "p.pid"}
    argv = qemu.host_argv(h)
    assert "-kernel" not in argv
    assert any("bootindex=0" in a for a in argv)


def test_image_build_holds_a_machine_wide_lock_per_kind_and_suite(tmp_path, monkeypatch):
    import fcntl
    import os

    from xenlab import images
    monkeypatch.setenv("XENLAB_CACHE", str(tmp_path))
    seen = []

    def fake_build(kind, suite, force, mirror):
        with open(os.path.join(str(tmp_path), "build-%s-%s.lock" % (kind, suite)), "a") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        seen.append((kind, suite))
        return "/img"

    monkeypatch.setattr(images, "_build", fake_build)
    assert images.build("xengrub", "bookworm") == "/img"
    assert seen == [("xengrub", "bookworm")]


def test_plain_ifupdown_kind_has_ifupdown_and_no_networkd():
    assert "ifupdown" in plain.packages("plain-ifupdown", "bookworm")
    assert "isc-dhcp-client" in plain.packages("plain-ifupdown", "bookworm")
    assert "ifupdown" not in plain.packages("plain")
    enable, disable = plain.units("plain-ifupdown")
    assert "systemd-networkd.service" not in enable and "systemd-networkd.service" in disable
    assert "xenlab-ifupdown-firstboot.service" in enable and "xenlab-seed.service" in enable
    assert plain.units("plain") == (list(plain.rootfs.ENABLE_UNITS), [])
    assert plain.image_key("bookworm", "plain-ifupdown") != plain.image_key("bookworm", "plain")
    assert "multiboot2" not in plain.grub_cfg("plain-ifupdown", "6.1.0-41-amd64")


def _firstboot_tree(tmp_path, nics, env):
    """A tree under tmp_path (XENLAB_ROOT) with the NICs' addresses and the seed's ifupdown.env, udevadm and
    systemctl stubbed (they log their arguments to tmp_path/calls)."""
    for name, mac in nics.items():
        d = tmp_path / "sys" / "class" / "net" / name
        d.mkdir(parents=True)
        (d / "address").write_text(mac + "\n")
    seed = tmp_path / "run" / "xenlab-seed"
    seed.mkdir(parents=True)
    (seed / "ifupdown.env").write_text(env)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("udevadm", "systemctl"):
        stub = bin_dir / tool
        stub.write_text('#!/bin/sh\necho "%s $*" >> "%s/calls"\n' % (tool, tmp_path))
        stub.chmod(0o755)
    (tmp_path / "firstboot").write_text(plain.FILES_IFUPDOWN["usr/local/sbin/xenlab-ifupdown-firstboot"])


def _firstboot_run(tmp_path):
    return subprocess.run(["sh", str(tmp_path / "firstboot")],
                          env=dict(os.environ, XENLAB_ROOT=str(tmp_path),
                                   PATH="%s:%s" % (tmp_path / "bin", os.environ["PATH"])),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def test_first_boot_writes_the_installers_interfaces_file_once(tmp_path):
    env = render.ifupdown_env("52:54:00:77:00:01", "52:54:00:77:01:02", "192.168.77.12")
    _firstboot_tree(tmp_path, {"lo": "00:00:00:00:00:00", "ens3": "52:54:00:77:00:01", "ens6": "52:54:00:77:01:02"},
                    env)
    proc = _firstboot_run(tmp_path)
    assert proc.returncode == 0, proc.stdout
    interfaces = tmp_path / "etc" / "network" / "interfaces"
    text = interfaces.read_text()
    assert text.startswith("# This file describes the network interfaces available on your system\n")
    assert "source /etc/network/interfaces.d/*\n" in text
    assert "auto lo\niface lo inet loopback\n" in text
    assert "# The primary network interface\nallow-hotplug ens3\niface ens3 inet dhcp\n" in text
    assert "allow-hotplug ens6\niface ens6 inet static\n\taddress 192.168.77.12/24\n" in text
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[-2:] == ["systemctl --no-block start ifup@ens3.service",
                          "systemctl --no-block start ifup@ens6.service"]
    # later boots leave the file (and the hypervisor role's edits) alone
    interfaces.write_text("edited\n")
    assert _firstboot_run(tmp_path).returncode == 0
    assert interfaces.read_text() == "edited\n"


def test_first_boot_without_the_nic_fails_loudly(tmp_path):
    _firstboot_tree(tmp_path, {"ens3": "52:54:00:00:00:99"},
                    render.ifupdown_env("52:54:00:77:00:01", "52:54:00:77:01:02", "192.168.77.12"))
    proc = _firstboot_run(tmp_path)
    assert proc.returncode == 1
    assert "no NIC with MAC 52:54:00:77:00:01" in proc.stdout
