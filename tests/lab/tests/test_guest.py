import gzip

from xenlab import guest, images

DEP = """kernel/drivers/net/xen-netfront.ko.xz:
kernel/drivers/block/xen-blkfront.ko: kernel/lib/foo.ko kernel/lib/bar.ko
kernel/lib/foo.ko: kernel/lib/bar.ko
kernel/lib/bar.ko:
"""


def test_module_load_order_dependencies_first_once():
    deps = guest.parse_modules_dep(DEP)
    order = guest.module_load_order(deps, ["xen-netfront", "xen_blkfront", "not-a-module"])
    assert order == ["kernel/drivers/net/xen-netfront.ko.xz", "kernel/lib/bar.ko",
                     "kernel/lib/foo.ko", "kernel/drivers/block/xen-blkfront.ko"]


def test_cpio_newc_layout():
    w = guest.CpioWriter()
    w.add_dir("bin")
    w.add_file("bin/hello", b"hi\n", 0o755)
    w.add_symlink("bin/sh", "/bin/busybox")
    data = w.finish()
    assert data.startswith(b"070701")
    assert data.count(b"070701") == 4
    assert b"TRAILER!!!\0" in data
    assert len(data) % 4 == 0
    # file mode of bin/hello: regular file 0755
    hdr = data[data.index(b"bin/hello") - 110:]
    assert hdr[14:22] == b"%08X" % (0o100755)


def test_configs_point_at_payload():
    for text in guest.CONFIGS.values():
        cfg = text.format(d=guest.GUEST_DIR)
        assert 'kernel   = "/var/lib/xenlab/guest/vmlinuz"' in cfg
        assert 'ramdisk  = "/var/lib/xenlab/guest/initrd.img"' in cfg


def test_image_key_changes_with_inputs():
    a = images.image_key("xen", "bookworm", source_digest="s1")
    assert a == images.image_key("xen", "bookworm", source_digest="s1")
    assert a != images.image_key("xen", "trixie", source_digest="s1")
    assert a != images.image_key("xen", "bookworm", source_digest="s2")


def test_gzip_roundtrip_of_small_archive():
    w = guest.CpioWriter()
    w.add_file("x", b"y")
    assert gzip.decompress(gzip.compress(w.finish())).startswith(b"070701")
