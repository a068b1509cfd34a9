"""Image kind "cloud": a guest image of the same shape as Debian's official `genericcloud` image.

Scenario `provision` (issue 17) needs what a user downloads from cloud.debian.org
(debian-12-genericcloud-amd64.qcow2), and the lab cannot download it. So this builds one from
Debian packages: a partitioned disk (MBR, one ext4 partition labelled ROOT_LABEL), GRUB 2 in the
MBR for BIOS (HVM) boots and /boot/grub/grub.cfg that pvgrub2 (Debian's grub-xen-host) also reads
for PV/PVH boots, the cloud kernel (linux-image-cloud-amd64, Xen front ends built in or in its
initramfs), cloud-init (NoCloud finds a seed labelled `cidata`), cloud-guest-utils (growpart),
ifupdown (the renderer of Debian 12's cloud images) and openssh-server. Like the official image it
has no SSH host keys, no machine-id, no users with passwords: first boot makes them.

What differs from the official image, and why it does not matter to the collection: MBR instead of
GPT with an EFI partition (the lab's HVM guests boot SeaBIOS), a 2 GiB virtual disk, and no
unattended-upgrades or apt sources (the guests reach no mirror).

The lab serves it to its hosts the way a user fetches the official image: over HTTP from the lab's
local server (aptrepo.py, http://10.0.2.100/images/IMAGE_NAME), see lab.up(serve_images=...).

Cached under <cache>/images/cloud-<suite>-<key>/IMAGE_NAME with manifest.json and dpkg.txt.
images.build("cloud") builds it under the machine-wide build lock; its key hashes this file, plain.py
and rootfs.py, and no host image's key hashes this file.
"""

import hashlib
import json
import os
import shutil
import time

from xenlab import paths, plain, rootfs

BUILD_VERSION = "1"
DISK_SIZE_MB = 2048
ROOT_LABEL = "debian-cloud"
SUITE_NUMBER = {"bookworm": "12", "trixie": "13"}

PACKAGES = [
    "systemd-sysv", "udev", "kmod", "dbus", "iproute2", "iputils-ping", "netbase", "procps",
    "ca-certificates", "openssh-server", "python3", "sudo", "less",
    "linux-image-cloud-amd64", "initramfs-tools", "grub-pc",
    "cloud-init", "cloud-guest-utils", "ifupdown", "isc-dhcp-client", "fdisk",
    # debootstrap resolves no virtual packages: python3-cryptography (cloud-init's) needs the
    # python3-cffi-backend-api-* that this one provides
    "python3-cffi-backend",
]

FILES = {
    "etc/fstab": "LABEL=%s / ext4 rw,discard,errors=remount-ro 0 1\n" % ROOT_LABEL,
    "etc/hostname": "localhost\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    # Debian's cloud images source interfaces.d, where cloud-init writes 50-cloud-init
    "etc/network/interfaces": "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n",
    # GRUB of the image (BIOS boots); the first-boot grub.cfg below is what both loaders read
    "etc/default/grub.d/00-cloud-console.cfg": (
        "GRUB_TIMEOUT=0\n"
        'GRUB_TERMINAL="serial console"\n'
        'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
        'GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"\n'
        'GRUB_CMDLINE_LINUX_DEFAULT=""\n'
        "GRUB_DISABLE_OS_PROBER=true\n"
    ),
    # cloud-init: the official image's datasource order, NoCloud first (the lab has no metadata
    # service; ds-identify would find the cidata seed anyway, this spares the probe of the others)
    "etc/cloud/cloud.cfg.d/01-datasources.cfg": "datasource_list: [NoCloud, ConfigDrive, None]\n",
}

# One grub.cfg for SeaBIOS -> grub-pc (HVM) and pvgrub2 (PV/PVH, which names the disk (xen/xvda)
# instead of (hd0)): the root is found by its label, never by a device name. /dev/console is the last
# console= that exists: on HVM the emulated UART ttyS0 (which xl logs); a PV/PVH guest has no UART, and
# with ttyS0 last its /dev/console would be the invisible tty0 - cloud-init's messages (the SSH host
# keys) would reach no log. So the console follows GRUB's platform (pc under SeaBIOS, xen or xen_pvh
# under pvgrub2). Debian's official image says console=ttyS0 only: booted through pvgrub2, its
# userspace console output is lost the same way (docs/provision.md).
GRUB_CFG = """\
# First-boot configuration written by the xenlab cloud image builder; update-grub replaces it.
if [ "$grub_platform" = pc ]; then
    serial --unit=0 --speed=115200
    terminal_input serial console
    terminal_output serial console
    set cloud_console="console=tty0 console=ttyS0,115200n8"
else
    set cloud_console="console=tty0 console=hvc0"
fi
export cloud_console
set timeout=0
set default=0
insmod part_msdos
insmod ext2
search --no-floppy --label --set=root %(label)s
menuentry 'Debian GNU/Linux (cloud)' {
    linux /boot/vmlinuz-%(kver)s root=LABEL=%(label)s ro $cloud_console
    initrd /boot/initrd.img-%(kver)s
}
"""


def image_name(suite):
    """The official image's file name for SUITE (debian-12-genericcloud-amd64.qcow2)."""
    return "debian-%s-genericcloud-amd64.qcow2" % SUITE_NUMBER.get(suite, suite)


def grub_cfg(kver):
    return GRUB_CFG % {"kver": kver, "label": ROOT_LABEL}


def _source_digest():
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("cloudimg.py", "plain.py", "rootfs.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def image_key(suite):
    blob = json.dumps({"kind": "cloud", "suite": suite, "version": BUILD_VERSION,
                       "packages": sorted(PACKAGES), "source": _source_digest()},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def image_dir(suite):
    return os.path.join(paths.images_dir(), "cloud-%s-%s" % (suite, image_key(suite)))


def find_image(suite):
    d = image_dir(suite)
    return d if os.path.isfile(os.path.join(d, "manifest.json")) else None


def build(suite=rootfs.DEFAULT_SUITE, force=False, mirror=None):
    """Build (or reuse) the cloud image of SUITE; return its directory."""
    existing = find_image(suite)
    if existing and not force:
        rootfs.log("cached: %s" % existing)
        return existing
    if os.geteuid() != 0:
        raise SystemExit("building images needs root (debootstrap, chroot)")
    final = image_dir(suite)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    tree = os.path.join(work, "rootfs")
    os.makedirs(tree)
    debs = os.path.join(paths.cache_root(), "debs", "%s-cloud" % suite)
    os.makedirs(debs, exist_ok=True)
    t0 = time.time()
    timings = {}
    rootfs.debootstrap(suite, tree, PACKAGES, debs, mirror)
    timings["debootstrap_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    rootfs.write_files(tree, FILES)
    kver = rootfs.kernel_version(tree)
    mounted = rootfs.mount_pseudo(tree)
    try:
        script = [
            # first boot makes them, per guest
            "rm -f /etc/ssh/ssh_host_*",
            ": > /etc/machine-id",
            "rm -f /var/lib/dbus/machine-id",
            "passwd -l root",
            "systemctl enable cloud-init-local.service cloud-init.service cloud-config.service"
            " cloud-final.service ssh.service",
            "systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer",
            "update-initramfs -u -k %s" % kver,
            "echo 'grub-pc grub-pc/install_devices multiselect /dev/xvda' | debconf-set-selections",
        ] + plain.GRUB_PC_SCRIPT + [
            "apt-get clean",
            "rm -f /etc/apt/sources.list",
            "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*",
            "rm -rf /var/lib/cloud/* /var/log/cloud-init*",
        ]
        rootfs.chroot(tree, "\n".join(script))
        versions = rootfs.dpkg_versions(tree)
    finally:
        rootfs.umount(mounted)
    with open(os.path.join(tree, "boot/grub/grub.cfg"), "w") as f:
        f.write(grub_cfg(kver))
    timings["configure_s"] = round(time.time() - t1, 1)
    t2 = time.time()
    out = os.path.join(work, "out")
    os.makedirs(out)
    raw = os.path.join(work, "disk.raw")
    plain.write_disk(raw, tree, size_mb=DISK_SIZE_MB, label=ROOT_LABEL)
    # compressed, like the official image (a user's download)
    rootfs.run(["qemu-img", "convert", "-c", "-O", "qcow2", raw, os.path.join(out, image_name(suite))])
    os.unlink(raw)
    timings["pack_s"] = round(time.time() - t2, 1)
    manifest = {
        "kind": "cloud",
        "suite": suite,
        "key": image_key(suite),
        "image": image_name(suite),
        "virtual_size_mb": DISK_SIZE_MB,
        "root_label": ROOT_LABEL,
        "kernel_version": kver,
        "packages": PACKAGES,
        "timings": timings,
        "size_mb": round(os.path.getsize(os.path.join(out, image_name(suite))) / 1048576.0, 1),
    }
    return rootfs.publish(work, out, final, manifest, versions, t0)
