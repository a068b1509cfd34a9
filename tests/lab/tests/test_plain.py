import pytest

from xenlab import lab, plain, qemu


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
