"""Image kinds booted by their own GRUB: "plain" (a Debian server WITHOUT Xen), "plain-ifupdown" (the same server
with ifupdown instead of systemd-networkd, as Debian's installer leaves one) and "xengrub" (the plain server with
Xen installed, whose GRUB boots Xen).

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

Both carry the test-guest payload (xenlab/guest.py) at the same path as the xen image.
"xengrub" adds the Xen packages of rootfs.XEN_PACKAGES and dom0's settings of the xen image
(rootfs.FILES_XEN: xl toolstack, a host-only bridge xenbr0), and its
first-boot grub.cfg boots Xen (the lab's usual Xen and dom0 arguments) with plain Linux as the
second entry. It is what a host looks like after the hypervisor role ran -- but a reboot goes
through GRUB, so a changed Xen command line (hypervisor role, rolling upgrade) really takes
effect, which the QEMU -kernel boot of the xen image cannot show.

Cached under <cache>/images/<kind>-<suite>-<key>/ (disk.qcow2, manifest.json, dpkg.txt).
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import time

from xenlab import guest, paths, qemu, rootfs

BUILD_VERSION = "1"
KINDS = ("plain", "xengrub", "plain-ifupdown")
DISK_SIZE_MB = 6144
PART_START = 2048  # sectors
SECTOR = 512
ROOT_LABEL = "xenlab-root"
PLAIN_PACKAGES = ["grub-pc"]
# plain-ifupdown: the plain server with ifupdown instead of systemd-networkd, as Debian's installer leaves a
# server: ifupdown and a DHCP client (bookworm's installer installs isc-dhcp-client; for trixie dhcpcd-base -
# not yet checked against a trixie installation).
IFUPDOWN_PACKAGES = {"bookworm": ["ifupdown", "isc-dhcp-client"], "trixie": ["ifupdown", "dhcpcd-base"]}

# The installer writes /etc/network/interfaces with the NIC names it saw. The lab's NIC names are not known
# when the image is built (they come from udev under QEMU, and nothing in the lab recorded them), so the first
# boot writes the file the installer would have written, for the NICs with the MACs the lab gave the host.
FILES_IFUPDOWN = {
    "usr/local/sbin/xenlab-ifupdown-firstboot": """\
#!/bin/sh
# xenlab (plain-ifupdown image): write /etc/network/interfaces once, as Debian's installer does, for the NICs with
# the MACs the lab gave this host (the seed's ifupdown.env); later boots leave the file alone.
# XENLAB_ROOT (unset on a host) prefixes every path, for tests/lab/tests/test_plain.py.
R=${XENLAB_ROOT:-}
marker=$R/etc/network/.xenlab-interfaces-written
[ -e "$marker" ] && exit 0
env=$R/run/xenlab-seed/ifupdown.env
if [ ! -f "$env" ]; then echo "xenlab-ifupdown-firstboot: no $env (seed disk without it)"; exit 0; fi
. "$env"
udevadm settle -t 60 || true
name_of() {
    for d in "$R"/sys/class/net/*; do
        [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && { basename "$d"; return 0; }
    done
    return 1
}
user=$(name_of "$MAC_USER") || { echo "xenlab-ifupdown-firstboot: no NIC with MAC $MAC_USER"; exit 1; }
priv=$(name_of "$MAC_PRIV") || priv=""
mkdir -p "$R/etc/network/interfaces.d"
{
    echo "# This file describes the network interfaces available on your system"
    echo "# and how to activate them. For more information, see interfaces(5)."
    echo
    echo "source /etc/network/interfaces.d/*"
    echo
    echo "# The loopback network interface"
    echo "auto lo"
    echo "iface lo inet loopback"
    echo
    echo "# The primary network interface"
    echo "allow-hotplug $user"
    echo "iface $user inet dhcp"
    if [ -n "$priv" ]; then
        echo
        echo "# The lab's private link (added by xenlab, as an administrator adds a second network)"
        echo "allow-hotplug $priv"
        echo "iface $priv inet static"
        printf '\\taddress %s/24\\n' "$PRIV_ADDR"
    fi
} > "$R/etc/network/interfaces.tmp"
mv "$R/etc/network/interfaces.tmp" "$R/etc/network/interfaces"
touch "$marker"
echo "xenlab-ifupdown-firstboot: wrote /etc/network/interfaces for $user${priv:+ and $priv}"
# a real installation boots with this file in place and udev brings its allow-hotplug NICs up; here the file came
# after udev's coldplug, so ask for them once
systemctl --no-block start "ifup@$user.service"
[ -z "$priv" ] || systemctl --no-block start "ifup@$priv.service"
""",
    "etc/systemd/system/xenlab-ifupdown-firstboot.service": """\
[Unit]
Description=xenlab: /etc/network/interfaces as Debian's installer writes it (first boot only)
DefaultDependencies=no
After=xenlab-seed.service systemd-udev-trigger.service local-fs.target
Wants=systemd-udev-trigger.service
Before=ifupdown-pre.service networking.service network-pre.target
ConditionPathExists=!/etc/network/.xenlab-interfaces-written

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/xenlab-ifupdown-firstboot

[Install]
WantedBy=sysinit.target
""",
}

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

GRUB_HEAD = """\
# First-boot configuration written by the xenlab image builder; update-grub replaces it.
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
insmod part_msdos
insmod ext2
set root=(hd0,msdos1)
"""
GRUB_LINUX = """\
menuentry 'Debian GNU/Linux (xenlab first boot)' {
    linux /boot/vmlinuz-%(kver)s root=LABEL=%(label)s ro console=tty0 console=ttyS0,115200n8
    initrd /boot/initrd.img-%(kver)s
}
"""
GRUB_XEN = """\
menuentry 'Debian GNU/Linux, with Xen hypervisor (xenlab first boot)' {
    insmod multiboot2
    multiboot2 /boot/%(xen_gz)s placeholder %(xen_args)s
    module2 /boot/vmlinuz-%(kver)s placeholder root=LABEL=%(label)s ro %(dom0_args)s
    module2 --nounzip /boot/initrd.img-%(kver)s
}
"""
# The xengrub image's first boot: the Xen and dom0 arguments of the lab's -kernel boot
# (qemu.XEN_ARGS) for the lab's default machine shape (2 vCPUs, dom0 1024 MiB).
XENGRUB_DOM0_MB = 1024
XENGRUB_SMP = 2


def grub_cfg(kind, kver, xen_gz=None):
    """The first-boot /boot/grub/grub.cfg of an image kind (pure)."""
    if kind not in KINDS:
        raise ValueError("unknown GRUB-booted image kind %r" % kind)
    v = {"kver": kver, "label": ROOT_LABEL}
    if kind in ("plain", "plain-ifupdown"):
        return GRUB_HEAD + GRUB_LINUX % v
    if not xen_gz:
        raise ValueError("xengrub needs the name of the Xen binary in /boot")
    v.update({"xen_gz": xen_gz,
              "xen_args": qemu.XEN_ARGS.format(dom0=XENGRUB_DOM0_MB, smp=XENGRUB_SMP),
              "dom0_args": qemu.DOM0_ARGS.replace("root=/dev/vda rw", "").strip()})
    return GRUB_HEAD + GRUB_XEN % v + GRUB_LINUX % v


def packages(kind="plain", suite=rootfs.DEFAULT_SUITE):
    pkgs = list(rootfs.BASE_PACKAGES) + PLAIN_PACKAGES
    if kind == "xengrub":
        pkgs += rootfs.XEN_PACKAGES
    if kind == "plain-ifupdown":
        pkgs += IFUPDOWN_PACKAGES.get(suite, IFUPDOWN_PACKAGES["trixie"])
    return pkgs


def units(kind="plain"):
    """(enable, disable): the systemd units an image kind enables and disables at build time. plain-ifupdown has
    ifupdown's networking.service (its package enables it) instead of systemd-networkd, and the first-boot
    writer of /etc/network/interfaces."""
    enable = list(rootfs.ENABLE_UNITS)
    disable = []
    if kind == "plain-ifupdown":
        enable = [u for u in enable if u != "systemd-networkd.service"] + ["xenlab-ifupdown-firstboot.service"]
        disable = ["systemd-networkd.service", "systemd-networkd.socket"]
    return enable, disable


def _source_digest(kind):
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    names = ("plain.py", "rootfs.py", "guest.py") + (("qemu.py",) if kind == "xengrub" else ())
    for name in names:
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def image_key(suite, kind="plain"):
    blob = json.dumps({"kind": kind, "suite": suite, "version": BUILD_VERSION,
                       "packages": sorted(packages(kind, suite)), "source": _source_digest(kind)},
                      sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def image_dir(suite, kind="plain"):
    return os.path.join(paths.images_dir(), "%s-%s-%s" % (kind, suite, image_key(suite, kind)))


def find_image(suite, kind="plain"):
    d = image_dir(suite, kind)
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


# GRUB for BIOS boots, prepared inside the chroot: the modules where core.img's prefix points, and
# core.img made by the image's own grub-mkimage (versions match); write_disk puts both on the disk.
GRUB_PC_SCRIPT = [
    "mkdir -p /boot/grub/i386-pc",
    "cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst /boot/grub/i386-pc/",
    "grub-mkimage -O i386-pc -o /boot/grub/core.img -p '(hd0,msdos1)/boot/grub'"
    " biosdisk part_msdos ext2",
]


def write_disk(raw, tree, size_mb=DISK_SIZE_MB, label=ROOT_LABEL):
    """A raw disk of SIZE_MB: MBR with the tree's GRUB boot.img, its core.img in the gap before the
    partition, and the tree as ext4 (labelled LABEL) in partition 1 - no loop device, no mount."""
    with open(os.path.join(tree, "usr/lib/grub/i386-pc/boot.img"), "rb") as f:
        boot_img = f.read()
    with open(os.path.join(tree, "boot/grub/core.img"), "rb") as f:
        core_img = f.read()
    total = size_mb * 1024 * 1024
    with open(raw, "wb") as f:
        f.truncate(total)
    fs_sectors = total // SECTOR - PART_START
    rootfs.run(["mkfs.ext4", "-q", "-F", "-L", label,
                "-E", "offset=%d" % (PART_START * SECTOR), "-d", tree,
                raw, "%dk" % (fs_sectors * SECTOR // 1024)])
    if len(core_img) > (PART_START - 1) * SECTOR:
        raise RuntimeError("core.img (%d bytes) does not fit before the partition"
                           % len(core_img))
    with open(raw, "r+b") as f:
        f.write(mbr(boot_img, PART_START, fs_sectors))
        f.seek(SECTOR)
        f.write(core_img)


def build(suite=rootfs.DEFAULT_SUITE, force=False, mirror=None, kind="plain"):
    """Build (or reuse) the plain or xengrub image; return its directory."""
    if kind not in KINDS:
        raise SystemExit("unknown GRUB-booted image kind %r" % kind)
    existing = find_image(suite, kind)
    if existing and not force:
        rootfs.log("cached: %s" % existing)
        return existing
    if os.geteuid() != 0:
        raise SystemExit("building images needs root (debootstrap, chroot)")
    final = image_dir(suite, kind)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    tree = os.path.join(work, "rootfs")
    os.makedirs(tree)
    # the xengrub packages include the xen image's: share its .deb cache
    debs = (paths.debs_dir(suite) if kind == "xengrub"
            else os.path.join(paths.cache_root(), "debs", "%s-plain" % suite))
    os.makedirs(debs, exist_ok=True)
    t0 = time.time()
    timings = {}
    rootfs.debootstrap(suite, tree, packages(kind, suite), debs, mirror)
    timings["debootstrap_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    files = dict(rootfs.FILES_COMMON)
    files.update(FILES_PLAIN)
    if kind == "plain-ifupdown":
        files.update(FILES_IFUPDOWN)
    if kind == "xengrub":
        files.update(rootfs.FILES_XEN)
        os.makedirs(os.path.join(tree, "var/log/xen/console"), exist_ok=True)
    rootfs.write_files(tree, files)
    kver = rootfs.kernel_version(tree)
    mounted = rootfs.mount_pseudo(tree)
    try:
        script = [
            "rm -f /etc/ssh/ssh_host_*",
            "systemctl mask %s" % " ".join(rootfs.MASK_UNITS),
            "systemctl enable %s" % " ".join(units(kind)[0]),
            "update-initramfs -u -k %s" % kver,
            "passwd -l root",
            # later grub-pc upgrades inside the VM reinstall to the right disk
            "echo 'grub-pc grub-pc/install_devices multiselect /dev/vda'"
            " | debconf-set-selections",
        ] + GRUB_PC_SCRIPT + [
            "apt-get clean",
            # an offline server: no apt sources until its operator configures a mirror
            "rm -f /etc/apt/sources.list",
            "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*",
        ]
        if kind == "xengrub":
            script.insert(2, "systemctl disable %s || true" % " ".join(rootfs.DISABLE_UNITS_XEN))
        if units(kind)[1]:
            # ifupdown alone configures the network, as on a server from the installer
            script.insert(2, "systemctl disable %s || true" % " ".join(units(kind)[1]))
        rootfs.chroot(tree, "\n".join(script))
        versions = rootfs.dpkg_versions(tree)
    finally:
        rootfs.umount(mounted)
    # the test-guest payload, also in the plain image: once the hypervisor role made it a Xen host
    # (the demo, tests/lab/demo), its guests boot from the same files as on the other images
    applets = subprocess.run([os.path.join(tree, "bin/busybox"), "--list-full"],
                             check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
    rootfs.log("guest initramfs: %d bytes" % guest.write_payload(tree, kver, applets))
    xen_gz = None
    if kind == "xengrub":
        xen_gz = sorted(n for n in os.listdir(os.path.join(tree, "boot"))
                        if n.startswith("xen-") and n.endswith(".gz"))
        if not xen_gz:
            raise RuntimeError("no xen-*.gz in image's /boot")
        xen_gz = xen_gz[-1]
    with open(os.path.join(tree, "boot/grub/grub.cfg"), "w") as f:
        f.write(grub_cfg(kind, kver, xen_gz))
    timings["configure_s"] = round(time.time() - t1, 1)
    t2 = time.time()
    out = os.path.join(work, "out")
    os.makedirs(out)
    raw = os.path.join(work, "disk.raw")
    write_disk(raw, tree)
    rootfs.run(["qemu-img", "convert", "-O", "qcow2", raw, os.path.join(out, "disk.qcow2")])
    os.unlink(raw)
    timings["pack_s"] = round(time.time() - t2, 1)
    pkgver = dict(line.split(" ", 1) for line in versions.splitlines() if " " in line)
    manifest = {
        "kind": kind,
        "suite": suite,
        "key": image_key(suite, kind),
        "boot": "disk",
        "kernel_version": kver,
        "xen_version": (pkgver.get("xen-hypervisor-4.17-amd64") or pkgver.get("xen-utils-common")
                        if kind == "xengrub" else None),
        "packages": packages(kind, suite),
        "timings": timings,
        "rootfs_mb": int(subprocess.run(["du", "-sm", tree], stdout=subprocess.PIPE,
                                        universal_newlines=True, check=False).stdout.split()[0]),
    }
    manifest["guest_dir"] = guest.GUEST_DIR
    if kind == "xengrub":
        manifest["dom0_mem"] = XENGRUB_DOM0_MB
    return rootfs.publish(work, out, final, manifest, versions, t0)
