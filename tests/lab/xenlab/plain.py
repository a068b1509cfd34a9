"""Image kind "plain": a Debian server WITHOUT Xen that boots through its own GRUB.

This is what the hypervisor role starts from: Debian (bookworm or trixie) with a kernel,
GRUB 2 (grub-pc) installed inside an MBR-partitioned disk, SSH and python3, the lab's seed
service (hostname, keys, DHCP on the user-net NIC through systemd-networkd) and NO apt
sources -- like an offline server whose operator points it at their own mirror. QEMU boots
it from the disk (SeaBIOS -> GRUB -> kernel); after the role installs Xen and reboots, the
same GRUB boots Xen.

Building a bootable disk here: loop devices exist but partition nodes do not, so
grub-install cannot run at build time. Instead (see ../shared/docs/nested-xen.md):
  - the ext4 file system is made directly inside the raw file at a 1 MiB offset
    (mkfs.ext4 -E offset=1048576 -d rootfs), no mount needed;
  - the MBR is written here: GRUB's boot.img code plus one partition entry (start 2048);
  - core.img is made by the image's own grub-mkimage (in the chroot, so versions match the
    modules copied to /boot/grub/i386-pc) and written at sector 1 (diskboot's default
    blocklist starts at sector 2, grub-mkimage fills in the length);
  - /boot/grub/grub.cfg is written by hand for the first boot: update-grub inside a chroot
    on a file-backed disk writes no entries. Inside the booted VM update-grub works normally
    (it is what the role runs) and replaces it with UUID-based entries.

Cached under <cache>/images/plain-<suite>-<key>/ (disk.qcow2, manifest.json, dpkg.txt).
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import time

from xenlab import images, paths

BUILD_VERSION = "1"
DISK_SIZE_MB = 6144
PART_START = 2048  # sectors
SECTOR = 512
ROOT_LABEL = "xenlab-root"
PLAIN_PACKAGES = ["grub-pc"]

FILES_PLAIN = {
    "etc/fstab": "LABEL=%s / ext4 rw,discard,errors=remount-ro 0 1\n" % ROOT_LABEL,
    # The server's own GRUB settings (a serial console, like a real headless server); the
    # hypervisor role only touches /etc/default/grub.d/xen.cfg.
    "etc/default/grub.d/00-xenlab-console.cfg": (
        "GRUB_TIMEOUT=1\n"
        'GRUB_TERMINAL="serial console"\n'
        'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
        'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"\n'
        'GRUB_CMDLINE_LINUX_DEFAULT=""\n'
        "GRUB_DISABLE_OS_PROBER=true\n"
    ),
}

GRUB_CFG = """\
# First-boot configuration written by the xenlab image builder; update-grub replaces it.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
insmod part_msdos
insmod ext2
set root=(hd0,msdos1)
menuentry 'Debian GNU/Linux (xenlab first boot)' {
    linux /boot/vmlinuz-%(kver)s root=LABEL=%(label)s ro console=tty0 console=ttyS0,115200n8
    initrd /boot/initrd.img-%(kver)s
}
"""


def packages():
    return list(images.BASE_PACKAGES) + PLAIN_PACKAGES


def _source_digest():
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("plain.py", "images.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def image_key(suite):
    blob = json.dumps({"kind": "plain", "suite": suite, "version": BUILD_VERSION,
                       "packages": sorted(packages()), "source": _source_digest()},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def image_dir(suite):
    return os.path.join(paths.images_dir(), "plain-%s-%s" % (suite, image_key(suite)))


def find_image(suite):
    d = image_dir(suite)
    return d if os.path.isfile(os.path.join(d, "manifest.json")) else None


def mbr(boot_img, start, sectors):
    """A 512-byte MBR: GRUB boot.img code (first 440 bytes) + one bootable Linux partition."""
    if len(boot_img) != SECTOR:
        raise ValueError("boot.img must be 512 bytes")
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", start,
                        sectors)
    out = bytearray(boot_img[:440]) + b"\0" * 6 + entry + b"\0" * 48 + b"\x55\xaa"
    assert len(out) == SECTOR
    return bytes(out)


def _write_disk(raw, rootfs, boot_img, core_img):
    total = DISK_SIZE_MB * 1024 * 1024
    with open(raw, "wb") as f:
        f.truncate(total)
    fs_sectors = total // SECTOR - PART_START
    images._run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL,
                 "-E", "offset=%d" % (PART_START * SECTOR), "-d", rootfs,
                 raw, "%dk" % (fs_sectors * SECTOR // 1024)])
    if len(core_img) > (PART_START - 1) * SECTOR:
        raise RuntimeError("core.img (%d bytes) does not fit before the partition"
                           % len(core_img))
    with open(raw, "r+b") as f:
        f.write(mbr(boot_img, PART_START, fs_sectors))
        f.seek(SECTOR)
        f.write(core_img)


def build(suite=images.DEFAULT_SUITE, force=False, mirror=None):
    """Build (or reuse) the plain image; return its directory."""
    existing = find_image(suite)
    if existing and not force:
        images._log("cached: %s" % existing)
        return existing
    if os.geteuid() != 0:
        raise SystemExit("building images needs root (debootstrap, chroot)")
    mirror = mirror or os.environ.get("XENLAB_MIRROR") or images.DEFAULT_MIRROR
    final = image_dir(suite)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    rootfs = os.path.join(work, "rootfs")
    os.makedirs(rootfs)
    debs = os.path.join(paths.cache_root(), "debs", "%s-plain" % suite)
    os.makedirs(debs, exist_ok=True)
    t0 = time.time()
    timings = {}
    images._run(["debootstrap", "--variant=minbase", "--components=main",
                 "--include=" + ",".join(packages()), "--exclude=busybox",
                 "--cache-dir=" + debs, suite, rootfs, mirror])
    timings["debootstrap_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    files = dict(images.FILES_COMMON)
    files.update(FILES_PLAIN)
    images._write_files(rootfs, files)
    kver = images._kernel_version(rootfs)
    mounted = images._mount_pseudo(rootfs)
    try:
        script = [
            "rm -f /etc/ssh/ssh_host_*",
            "systemctl mask %s" % " ".join(images.MASK_UNITS),
            "systemctl enable %s" % " ".join(images.ENABLE_UNITS),
            "update-initramfs -u -k %s" % kver,
            "passwd -l root",
            # later grub-pc upgrades inside the VM reinstall to the right disk
            "echo 'grub-pc grub-pc/install_devices multiselect /dev/vda'"
            " | debconf-set-selections",
            "mkdir -p /boot/grub/i386-pc",
            "cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst /boot/grub/i386-pc/",
            "grub-mkimage -O i386-pc -o /boot/grub/core.img -p '(hd0,msdos1)/boot/grub'"
            " biosdisk part_msdos ext2",
            "apt-get clean",
            # an offline server: no apt sources until its operator configures a mirror
            "rm -f /etc/apt/sources.list",
            "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*",
        ]
        images._chroot(rootfs, "\n".join(script))
        versions = subprocess.run(
            ["chroot", rootfs, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
            check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    finally:
        images._umount(mounted)
    with open(os.path.join(rootfs, "boot/grub/grub.cfg"), "w") as f:
        f.write(GRUB_CFG % {"kver": kver, "label": ROOT_LABEL})
    with open(os.path.join(rootfs, "usr/lib/grub/i386-pc/boot.img"), "rb") as f:
        boot_img = f.read()
    core = os.path.join(rootfs, "boot/grub/core.img")
    with open(core, "rb") as f:
        core_img = f.read()
    timings["configure_s"] = round(time.time() - t1, 1)
    t2 = time.time()
    out = os.path.join(work, "out")
    os.makedirs(out)
    raw = os.path.join(work, "disk.raw")
    _write_disk(raw, rootfs, boot_img, core_img)
    images._run(["qemu-img", "convert", "-O", "qcow2", raw, os.path.join(out, "disk.qcow2")])
    os.unlink(raw)
    timings["pack_s"] = round(time.time() - t2, 1)
    manifest = {
        "kind": "plain",
        "suite": suite,
        "key": image_key(suite),
        "boot": "disk",
        "kernel_version": kver,
        "xen_version": None,
        "packages": packages(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timings": timings,
        "build_seconds": round(time.time() - t0, 1),
        "rootfs_mb": int(subprocess.run(["du", "-sm", rootfs], stdout=subprocess.PIPE,
                                        universal_newlines=True, check=False).stdout.split()[0]),
    }
    with open(os.path.join(out, "dpkg.txt"), "w") as f:
        f.write(versions)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(out, final)
    shutil.rmtree(work, ignore_errors=True)
    images._log("built %s in %.0f s" % (final, time.time() - t0))
    return final
