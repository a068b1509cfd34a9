"""Image builder: Debian (debootstrap) root filesystems as qcow2 base images.

Images are cached under <cache>/images/<kind>-<suite>-<key>/ where key is a hash of every
input (package list, suite, the configuration files of rootfs.py and the source of this
module, rootfs.py and guest.py). Downloaded .debs are kept in <cache>/debs/<suite>/ (debootstrap's
--cache-dir) so a rebuild does not download again.

kind "xen":   Xen + dom0 configured; booted by direct multiboot (xen, vmlinuz, initrd.img
              are extracted next to the disk); contains the test-guest payload.
kinds "plain", "plain-ifupdown" and "xengrub" boot through the GRUB inside their disk: see plain.py. kind "cloud" is
not a lab host but a guest image (cloudimg.py). build() and find_image() take every kind and hand
those three to their modules. What all kinds share (package lists,
files, units, the debootstrap and chroot steps) is in rootfs.py.
"""

import fcntl
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import time

from xenlab import cloudimg, guest, paths, plain, rootfs

BUILD_VERSION = "1"
# the builders' default suite (the lab's command line and lab.py use it)
DEFAULT_SUITE = rootfs.DEFAULT_SUITE
DISK_SIZE = "6G"


def packages(kind):
    pkgs = list(rootfs.BASE_PACKAGES)
    if kind == "xen":
        pkgs += rootfs.XEN_PACKAGES
    return pkgs


def _source_digest():
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("images.py", "rootfs.py", "guest.py"):
        with open(os.path.join(here, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def image_key(kind, suite, source_digest=None):
    """Hash of all inputs of an image; a change of any input gives a new key."""
    inputs = {
        "kind": kind,
        "suite": suite,
        "build_version": BUILD_VERSION,
        "packages": sorted(packages(kind)),
        "source": source_digest if source_digest is not None else _source_digest(),
    }
    blob = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def image_dir(kind, suite):
    return os.path.join(paths.images_dir(), "%s-%s-%s" % (kind, suite, image_key(kind, suite)))


def find_image(kind, suite):
    """Directory of a complete cached image for the current inputs, or None."""
    if kind in plain.KINDS:
        return plain.find_image(suite, kind)
    if kind == "cloud":
        return cloudimg.find_image(suite)
    d = image_dir(kind, suite)
    if os.path.isfile(os.path.join(d, "manifest.json")):
        return d
    return None


def load_manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def build(kind="xen", suite=DEFAULT_SUITE, force=False, mirror=None):
    """Build (or reuse) the image; return its directory. One build of an image at a time on the
    machine (a lock per kind and suite): a second caller waits, then finds it cached."""
    os.makedirs(paths.cache_root(), exist_ok=True)
    with open(os.path.join(paths.cache_root(), "build-%s-%s.lock" % (kind, suite)), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _build(kind, suite, force, mirror)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(kind, suite, force, mirror):
    if kind in plain.KINDS:
        return plain.build(suite, force=force, mirror=mirror, kind=kind)
    if kind == "cloud":
        return cloudimg.build(suite, force=force, mirror=mirror)
    if kind != "xen":
        raise SystemExit("image kind %r is not implemented yet (only 'xen')" % kind)
    existing = find_image(kind, suite)
    if existing and not force:
        rootfs.log("cached: %s" % existing)
        return existing
    if os.geteuid() != 0:
        raise SystemExit("building images needs root (debootstrap, chroot)")
    final = image_dir(kind, suite)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    tree = os.path.join(work, "rootfs")
    os.makedirs(tree)
    debs = paths.debs_dir(suite)
    os.makedirs(debs, exist_ok=True)
    t0 = time.time()
    timings = {}
    rootfs.debootstrap(suite, tree, packages(kind), debs, mirror)
    timings["debootstrap_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    rootfs.write_files(tree, rootfs.FILES_COMMON)
    if kind == "xen":
        rootfs.write_files(tree, rootfs.FILES_XEN)
        os.makedirs(os.path.join(tree, "var/log/xen/console"), exist_ok=True)
    kver = rootfs.kernel_version(tree)
    mounted = rootfs.mount_pseudo(tree)
    try:
        script = [
            "rm -f /etc/ssh/ssh_host_*",
            "systemctl mask %s" % " ".join(rootfs.MASK_UNITS),
            "systemctl enable %s" % " ".join(rootfs.ENABLE_UNITS),
            "update-initramfs -u -k %s" % kver,
            "passwd -l root",
            "apt-get clean",
            "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*",
        ]
        if kind == "xen":
            script.insert(2, "systemctl disable %s || true" % " ".join(rootfs.DISABLE_UNITS_XEN))
        rootfs.chroot(tree, "\n".join(script))
        versions = rootfs.dpkg_versions(tree)
    finally:
        rootfs.umount(mounted)
    applets = subprocess.run([os.path.join(tree, "bin/busybox"), "--list-full"], check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    initrd_size = guest.write_payload(tree, kver, applets)
    rootfs.log("guest initramfs: %d bytes" % initrd_size)
    out = os.path.join(work, "out")
    os.makedirs(out)
    boot = os.path.join(tree, "boot")
    if kind == "xen":
        xen_gz = sorted(n for n in os.listdir(boot) if n.startswith("xen-") and n.endswith(".gz"))
        if not xen_gz:
            raise RuntimeError("no xen-*.gz in image's /boot")
        with gzip.open(os.path.join(boot, xen_gz[-1])) as src, \
                open(os.path.join(out, "xen"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    shutil.copy(os.path.join(boot, "vmlinuz-" + kver), os.path.join(out, "vmlinuz"))
    shutil.copy(os.path.join(boot, "initrd.img-" + kver), os.path.join(out, "initrd.img"))
    timings["configure_s"] = round(time.time() - t1, 1)
    t2 = time.time()
    raw = os.path.join(work, "disk.raw")
    rootfs.run(["truncate", "-s", DISK_SIZE, raw])
    rootfs.run(["mkfs.ext4", "-q", "-F", "-L", "xenlab-root", "-d", tree, raw])
    rootfs.run(["qemu-img", "convert", "-O", "qcow2", raw, os.path.join(out, "disk.qcow2")])
    os.unlink(raw)
    timings["pack_s"] = round(time.time() - t2, 1)
    pkgver = dict(line.split(" ", 1) for line in versions.splitlines() if " " in line)
    manifest = {
        "kind": kind,
        "suite": suite,
        "key": image_key(kind, suite),
        "kernel_version": kver,
        "xen_version": pkgver.get("xen-hypervisor-4.17-amd64") or pkgver.get("xen-utils-common"),
        "packages": packages(kind),
        "timings": timings,
        "rootfs_mb": int(subprocess.run(["du", "-sm", tree], stdout=subprocess.PIPE,
                                        universal_newlines=True, check=False).stdout.split()[0]),
        "guest_dir": guest.GUEST_DIR,
    }
    return rootfs.publish(work, out, final, manifest, versions, t0)
