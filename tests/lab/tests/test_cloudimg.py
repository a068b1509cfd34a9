"""The cloud guest image (xenlab/cloudimg.py): its boot configuration, names and disk layout."""

import struct
import subprocess

import pytest

from xenlab import cloudimg, images, plain


def test_grub_cfg_finds_the_root_by_label_for_both_loaders():
    cfg = cloudimg.grub_cfg("6.1.0-28-cloud-amd64")
    # pvgrub2 names the disk (xen/xvda), SeaBIOS' GRUB (hd0): no device name may appear
    assert "(hd0" not in cfg and "xvda" not in cfg
    assert "search --no-floppy --label --set=root debian-cloud" in cfg
    linux = [line.split() for line in cfg.splitlines() if line.strip().startswith("linux ")][0]
    assert linux[1] == "/boot/vmlinuz-6.1.0-28-cloud-amd64"
    assert "root=LABEL=debian-cloud" in linux and linux[-1] == "$cloud_console"
    # /dev/console is the last console= that exists: the UART under SeaBIOS (HVM), hvc0 under pvgrub2
    pc, other = cfg.split('if [ "$grub_platform" = pc ]; then', 1)[1].split("else", 1)
    assert 'set cloud_console="console=tty0 console=ttyS0,115200n8"' in pc
    assert 'set cloud_console="console=tty0 console=hvc0"' in other.split("fi", 1)[0]
    assert "initrd /boot/initrd.img-6.1.0-28-cloud-amd64" in cfg


def test_image_name_is_the_official_one():
    assert cloudimg.image_name("bookworm") == "debian-12-genericcloud-amd64.qcow2"
    assert cloudimg.image_name("trixie") == "debian-13-genericcloud-amd64.qcow2"


def test_the_packages_make_a_cloud_image_without_the_lab_seed():
    for pkg in ("cloud-init", "linux-image-cloud-amd64", "openssh-server", "grub-pc", "cloud-guest-utils"):
        assert pkg in cloudimg.PACKAGES
    assert "linux-image-amd64" not in cloudimg.PACKAGES
    assert not any("xenlab" in path for path in cloudimg.FILES)
    assert cloudimg.FILES["etc/fstab"].startswith("LABEL=debian-cloud ")


def test_keys_per_suite_and_the_host_images_do_not_depend_on_this_file(monkeypatch):
    assert cloudimg.image_key("bookworm") != cloudimg.image_key("trixie")
    before = (images.image_key("xen", "bookworm"), plain.image_key("bookworm", "xengrub"))
    cloud_before = cloudimg.image_key("bookworm")
    monkeypatch.setattr(cloudimg, "_source_digest", lambda: "changed")
    assert cloudimg.image_key("bookworm") != cloud_before
    assert (images.image_key("xen", "bookworm"), plain.image_key("bookworm", "xengrub")) == before


def test_write_disk_puts_grub_and_one_labelled_partition(tmp_path):
    tree = tmp_path / "tree"
    (tree / "boot" / "grub").mkdir(parents=True)
    (tree / "usr" / "lib" / "grub" / "i386-pc").mkdir(parents=True)
    (tree / "boot" / "hello").write_text("hi\n")
    raw = tmp_path / "disk.raw"
    boot_img = bytes(range(256)) * 2
    core_img = b"CORE" * 100
    (tree / "usr" / "lib" / "grub" / "i386-pc" / "boot.img").write_bytes(boot_img)
    (tree / "boot" / "grub" / "core.img").write_bytes(core_img)
    try:
        plain.write_disk(str(raw), str(tree), size_mb=16, label=cloudimg.ROOT_LABEL)
    except FileNotFoundError:
        pytest.skip("mkfs.ext4 is not installed here")
    data = raw.read_bytes()
    assert len(data) == 16 * 1024 * 1024
    assert data[:440] == boot_img[:440] and data[510:512] == b"\x55\xaa"
    status, ptype, start, sectors = struct.unpack("<B3xB3xII", data[446:462])
    assert (status, ptype, start) == (0x80, 0x83, 2048)
    assert start + sectors == 16 * 2048
    assert data[512:512 + len(core_img)] == core_img
    label = subprocess.run(["blkid", "-o", "value", "-s", "LABEL", "-p", "-O", str(2048 * 512), str(raw)],
                           stdout=subprocess.PIPE, universal_newlines=True, check=False).stdout.strip()
    assert label == "debian-cloud"


def test_images_builds_and_finds_the_cloud_kind_under_the_machine_wide_lock(tmp_path, monkeypatch):
    import fcntl
    import os

    monkeypatch.setenv("XENLAB_CACHE", str(tmp_path))
    calls = []

    def fake_build(suite, force=False, mirror=None):
        with open(os.path.join(str(tmp_path), "build-cloud-%s.lock" % suite), "a") as other:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        calls.append((suite, force))
        return "/cloud"

    monkeypatch.setattr(cloudimg, "build", fake_build)
    assert images.build("cloud", "trixie", force=True) == "/cloud"
    assert calls == [("trixie", True)]
    assert images.find_image("cloud", "bookworm") is None
    d = cloudimg.image_dir("bookworm")
    os.makedirs(d)
    open(os.path.join(d, "manifest.json"), "w").close()
    assert images.find_image("cloud", "bookworm") == d
