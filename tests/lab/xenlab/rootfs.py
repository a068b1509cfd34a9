"""The Debian root file system every lab image starts from, and the steps that build one.

Shared by the image kinds: "xen" (images.py: booted by direct multiboot) and "plain" / "xengrub"
(plain.py: booted by the GRUB inside their disk). The package lists, the files written into the
tree, the systemd units masked, enabled and disabled, and the debootstrap / chroot helpers live
here, so that neither builder imports the other for them (images.py dispatches to plain.py; plain.py
needs nothing of images.py). Every image key hashes this file.
"""

import json
import os
import shutil
import subprocess
import sys
import time

DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

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


def log(msg):
    sys.stderr.write("[xenlab build] %s\n" % msg)
    sys.stderr.flush()


def run(argv, **kw):
    log("$ " + " ".join(argv))
    subprocess.run(argv, check=True, **kw)


def chroot(rootfs, script):
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive",
           "HOME": "/root"}
    run(["chroot", rootfs, "/bin/sh", "-ec", script], env=env)


def write_files(rootfs, files):
    for rel, text in files.items():
        p = os.path.join(rootfs, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        if "/sbin/" in "/" + rel or rel.startswith("usr/local/sbin/"):
            os.chmod(p, 0o755)


def kernel_version(rootfs):
    vers = sorted(n[len("vmlinuz-"):] for n in os.listdir(os.path.join(rootfs, "boot"))
                  if n.startswith("vmlinuz-"))
    if not vers:
        raise RuntimeError("no kernel in image's /boot")
    return vers[-1]


def mount_pseudo(rootfs):
    mounted = []
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        t = os.path.join(rootfs, target)
        subprocess.run(["mount", "-t", fs, fs, t], check=True)
        mounted.append(t)
    return mounted


def umount(mounted):
    for t in reversed(mounted):
        subprocess.run(["umount", "-l", t], check=False)


def debootstrap(suite, rootfs, packages, debs, mirror=None):
    """A minbase tree of SUITE with PACKAGES in ROOTFS; .debs cached in DEBS (debootstrap's
    --cache-dir). The mirror: MIRROR, else $XENLAB_MIRROR, else Debian's."""
    mirror = mirror or os.environ.get("XENLAB_MIRROR") or DEFAULT_MIRROR
    run(["debootstrap", "--variant=minbase", "--components=main",
         "--include=" + ",".join(packages), "--exclude=busybox",
         "--cache-dir=" + debs, suite, rootfs, mirror])


def dpkg_versions(rootfs):
    """`dpkg-query` of the tree: "<package> <version>" per line (an image's dpkg.txt)."""
    return subprocess.run(["chroot", rootfs, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
                          check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout


def publish(work, out, final, manifest, versions, t0):
    """Finish a build: manifest.json (with built_at and build_seconds since T0) and dpkg.txt into OUT,
    OUT renamed to FINAL (readers look for FINAL/manifest.json, so they never see half an image), WORK
    removed. Returns FINAL."""
    manifest = dict(manifest, built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    build_seconds=round(time.time() - t0, 1))
    with open(os.path.join(out, "dpkg.txt"), "w") as f:
        f.write(versions)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(out, final)
    shutil.rmtree(work, ignore_errors=True)
    log("built %s in %.0f s" % (final, time.time() - t0))
    return final
