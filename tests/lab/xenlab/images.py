"""Image builder: Debian (debootstrap) root filesystems as qcow2 base images.

Images are cached under <cache>/images/<kind>-<suite>-<key>/ where key is a hash of every
input (package list, suite, the configuration files written below and the source of this
module and of guest.py). Downloaded .debs are kept in <cache>/debs/<suite>/ (debootstrap's
--cache-dir) so a rebuild does not download again.

kind "xen":   Xen + dom0 configured; booted by direct multiboot (xen, vmlinuz, initrd.img
              are extracted next to the disk); contains the test-guest payload.
kinds "plain" and "xengrub" boot through the GRUB inside their disk: see plain.py.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from xenlab import guest, paths

BUILD_VERSION = "1"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DISK_SIZE = "6G"

BASE_PACKAGES = [
    "systemd-sysv", "udev", "kmod", "dbus", "iproute2", "iputils-ping", "netbase", "procps",
    "ca-certificates", "openssh-server", "openssh-client", "python3", "python3-apt", "sudo",
    "linux-image-amd64", "initramfs-tools", "busybox-static", "less",
]
XEN_PACKAGES = [
    "xen-system-amd64", "xen-utils-4.17", "xen-hypervisor-4.17-amd64", "qemu-system-xen",
    "seabios", "bridge-utils",
    # shared storage for live migration between lab hosts (molecule/migrate): an NFS export
    # over the private link; the services stay disabled until a scenario starts them
    "nfs-kernel-server",
]

FILES_COMMON = {
    "etc/fstab": "/dev/vda / ext4 rw,discard,errors=remount-ro 0 1\n",
    "etc/hostname": "xenlab\n",
    "etc/hosts": "127.0.0.1 localhost\n",
    "etc/ssh/sshd_config.d/xenlab.conf": (
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UseDNS no\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
    ),
    "usr/local/sbin/xenlab-seed": """\
#!/bin/sh
# Apply the per-host seed disk (a tar on a virtio disk with serial xenlab-seed) written
# by the lab runner: hostname, root's authorized_keys, SSH host key, networkd files.
dev=""
i=0
while [ -z "$dev" ] && [ $i -lt 100 ]; do
    for s in /sys/block/vd*/serial; do
        [ -f "$s" ] && [ "$(cat "$s")" = xenlab-seed ] && dev="/dev/$(basename "$(dirname "$s")")"
    done
    [ -n "$dev" ] || sleep 0.1
    i=$((i+1))
done
if [ -z "$dev" ]; then echo "xenlab-seed: no seed disk found"; exit 0; fi
d=/run/xenlab-seed
rm -rf $d && mkdir -p $d && tar -x -f "$dev" -C $d || exit 1
if [ -f $d/hostname ]; then
    cp $d/hostname /etc/hostname
    hostname "$(cat $d/hostname)"
fi
[ -f $d/hosts ] && cp $d/hosts /etc/hosts
install -d -m 700 /root/.ssh
# add the lab's key, keep the keys added on the host since (another dom0's, for live migration):
# this runs at every boot, and a server's authorized_keys survives a reboot
if [ -f $d/authorized_keys ]; then
    touch /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
    while read -r key; do
        [ -z "$key" ] || grep -qxF "$key" /root/.ssh/authorized_keys || echo "$key" >> /root/.ssh/authorized_keys
    done < $d/authorized_keys
fi
if [ -f $d/ssh_host_ed25519_key ]; then
    install -m 600 $d/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
    install -m 644 $d/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
fi
mkdir -p /run/systemd/network
for f in $d/network/*; do [ -f "$f" ] && cp "$f" /run/systemd/network/; done
echo "xenlab-seed: applied from $dev"
""",
    "etc/systemd/system/xenlab-seed.service": """\
[Unit]
Description=xenlab per-host seed (hostname, SSH keys, network)
DefaultDependencies=no
After=local-fs.target
Before=systemd-networkd.service ssh.service network-pre.target sysinit.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/xenlab-seed

[Install]
WantedBy=sysinit.target
""",
    "etc/initramfs-tools/conf.d/xenlab.conf": "MODULES=list\nCOMPRESS=gzip\n",
    "etc/initramfs-tools/modules": "virtio_pci\nvirtio_blk\nvirtio_net\next4\n",
}

FILES_XEN = {
    "etc/default/xen": (
        "TOOLSTACK=xl\n"
        'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"\n'
    ),
    "etc/systemd/network/30-xenbr0.netdev": "[NetDev]\nName=xenbr0\nKind=bridge\n",
    "etc/systemd/network/30-xenbr0.network": (
        "[Match]\nName=xenbr0\n\n[Network]\nAddress=192.168.100.1/24\n"
        "ConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    ),
}

MASK_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "man-db.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "fstrim.timer", "systemd-networkd-wait-online.service",
    "getty@tty1.service", "systemd-timesyncd.service", "remote-fs.target",
]
ENABLE_UNITS = ["systemd-networkd.service", "xenlab-seed.service", "ssh.service"]
DISABLE_UNITS_XEN = ["xendomains.service", "nfs-server.service", "rpcbind.service", "rpcbind.socket"]


def packages(kind):
    pkgs = list(BASE_PACKAGES)
    if kind == "xen":
        pkgs += XEN_PACKAGES
    return pkgs


def _source_digest():
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("images.py", "guest.py"):
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
    if kind in ("plain", "xengrub"):
        from xenlab import plain
        return plain.find_image(suite, kind)
    d = image_dir(kind, suite)
    if os.path.isfile(os.path.join(d, "manifest.json")):
        return d
    return None


def load_manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def _log(msg):
    sys.stderr.write("[xenlab build] %s\n" % msg)
    sys.stderr.flush()


def _run(argv, **kw):
    _log("$ " + " ".join(argv))
    subprocess.run(argv, check=True, **kw)


def _chroot(rootfs, script):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
           "HOME": "/root"}
    _run(["chroot", rootfs, "/bin/sh", "-ec", script], env=env)


def _write_files(rootfs, files):
    for rel, text in files.items():
        p = os.path.join(rootfs, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        if "/sbin/" in "/" + rel or rel.startswith("usr/local/sbin/"):
            os.chmod(p, 0o755)


def _kernel_version(rootfs):
    vers = sorted(n[len("vmlinuz-"):] for n in os.listdir(os.path.join(rootfs, "boot"))
                  if n.startswith("vmlinuz-"))
    if not vers:
        raise RuntimeError("no kernel in image's /boot")
    return vers[-1]


def _mount_pseudo(rootfs):
    mounted = []
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        t = os.path.join(rootfs, target)
        subprocess.run(["mount", "-t", fs, fs, t], check=True)
        mounted.append(t)
    return mounted


def _umount(mounted):
    for t in reversed(mounted):
        subprocess.run(["umount", "-l", t], check=False)


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
    if kind in ("plain", "xengrub"):
        from xenlab import plain
        return plain.build(suite, force=force, mirror=mirror, kind=kind)
    if kind != "xen":
        raise SystemExit("image kind %r is not implemented yet (only 'xen')" % kind)
    existing = find_image(kind, suite)
    if existing and not force:
        _log("cached: %s" % existing)
        return existing
    if os.geteuid() != 0:
        raise SystemExit("building images needs root (debootstrap, chroot)")
    mirror = mirror or os.environ.get("XENLAB_MIRROR") or DEFAULT_MIRROR
    final = image_dir(kind, suite)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    rootfs = os.path.join(work, "rootfs")
    os.makedirs(rootfs)
    debs = paths.debs_dir(suite)
    os.makedirs(debs, exist_ok=True)
    t0 = time.time()
    timings = {}
    _run(["debootstrap", "--variant=minbase", "--components=main",
          "--include=" + ",".join(packages(kind)), "--exclude=busybox",
          "--cache-dir=" + debs, suite, rootfs, mirror])
    timings["debootstrap_s"] = round(time.time() - t0, 1)
    t1 = time.time()
    _write_files(rootfs, FILES_COMMON)
    if kind == "xen":
        _write_files(rootfs, FILES_XEN)
        os.makedirs(os.path.join(rootfs, "var/log/xen/console"), exist_ok=True)
    kver = _kernel_version(rootfs)
    mounted = _mount_pseudo(rootfs)
    try:
        script = [
            "rm -f /etc/ssh/ssh_host_*",
            "systemctl mask %s" % " ".join(MASK_UNITS),
            "systemctl enable %s" % " ".join(ENABLE_UNITS),
            "update-initramfs -u -k %s" % kver,
            "passwd -l root",
            "apt-get clean",
            "rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*",
        ]
        if kind == "xen":
            script.insert(2, "systemctl disable %s || true" % " ".join(DISABLE_UNITS_XEN))
        _chroot(rootfs, "\n".join(script))
        versions = subprocess.run(
            ["chroot", rootfs, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
            check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    finally:
        _umount(mounted)
    applets = subprocess.run([os.path.join(rootfs, "bin/busybox"), "--list-full"], check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    initrd_size = guest.write_payload(rootfs, kver, applets)
    _log("guest initramfs: %d bytes" % initrd_size)
    out = os.path.join(work, "out")
    os.makedirs(out)
    boot = os.path.join(rootfs, "boot")
    if kind == "xen":
        xen_gz = sorted(n for n in os.listdir(boot) if n.startswith("xen-") and n.endswith(".gz"))
        if not xen_gz:
            raise RuntimeError("no xen-*.gz in image's /boot")
        import gzip
        with gzip.open(os.path.join(boot, xen_gz[-1])) as src, \
                open(os.path.join(out, "xen"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    shutil.copy(os.path.join(boot, "vmlinuz-" + kver), os.path.join(out, "vmlinuz"))
    shutil.copy(os.path.join(boot, "initrd.img-" + kver), os.path.join(out, "initrd.img"))
    timings["configure_s"] = round(time.time() - t1, 1)
    t2 = time.time()
    raw = os.path.join(work, "disk.raw")
    _run(["truncate", "-s", DISK_SIZE, raw])
    _run(["mkfs.ext4", "-q", "-F", "-L", "xenlab-root", "-d", rootfs, raw])
    _run(["qemu-img", "convert", "-O", "qcow2", raw, os.path.join(out, "disk.qcow2")])
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
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "timings": timings,
        "build_seconds": round(time.time() - t0, 1),
        "rootfs_mb": int(subprocess.run(["du", "-sm", rootfs], stdout=subprocess.PIPE,
                                        universal_newlines=True, check=False).stdout.split()[0]),
        "guest_dir": guest.GUEST_DIR,
    }
    with open(os.path.join(out, "dpkg.txt"), "w") as f:
        f.write(versions)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(out, final)
    shutil.rmtree(work, ignore_errors=True)
    _log("built %s in %.0f s" % (final, time.time() - t0))
    return final
