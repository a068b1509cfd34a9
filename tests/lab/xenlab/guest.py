"""The test-guest payload: dom0's kernel plus a tiny busybox initramfs.

The initramfs is written here as a gzip'd cpio "newc" archive (no cpio tool needed):
busybox-static with its applet links, busybox init, the Xen front-end drivers, a CPU
hotplug handler, and a reporter that prints what tests observe:

    XENLAB-REPORT name=pv1 vcpus_online=2 cpus=0-1 mem_total_kb=123456 uptime=12.34 boot=<boot_id>

to the guest console (hvc0 for PV/PVH, ttyS0 for HVM), when something changes and every
30 s. With xenconsoled's --log=guest these lines land in
/var/log/xen/console/guest-NAME.log in dom0. A guest given `guestip=ADDR/PREFIX` on its
kernel command line configures eth0 and answers ping and HTTP (busybox httpd serving
/www/status, the last report).

vCPU hotplug: the kernel makes a vCPU that Xen adds *present* (PV/PVH: the xenstore
cpu/N/availability watch; HVM: ACPI CPU hotplug) and sends a uevent `add` for its cpu
device, but leaves it offline: onlining is user space's job (a udev rule on a normal
distribution). `busybox uevent` runs /sbin/xenlab-hotplug for every uevent; it onlines
a CPU only on that `add` event and prints

    XENLAB-HOTPLUG name=pv1 action=add cpu=cpu1 online=1

A vCPU Xen removes is offlined by the kernel itself (PV/PVH) and stays offline: nothing
here re-onlines CPUs, so tests see exactly what Xen and the guest kernel did.
"""

import gzip
import io
import lzma
import os
import stat

GUEST_DIR = "/var/lib/xenlab/guest"
WANTED_MODULES = ("xen-netfront", "xen-blkfront")

INITTAB = """\
::sysinit:/etc/init.d/rcS
::respawn:-/bin/sh
::respawn:/sbin/uevent /sbin/xenlab-hotplug
::respawn:/sbin/xenlab-report
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
"""

RCS = """\
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /run /www
mount -t devpts devpts /dev/pts
for m in $(cat /lib/modules/load-order 2>/dev/null); do
    insmod "/lib/modules/$m" 2>/dev/null
done
name=guest
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        xenlab.name=*) name="${arg#xenlab.name=}" ;;
        guestip=*) guestip="${arg#guestip=}" ;;
    esac
done
echo "$name" > /etc/hostname
hostname "$name"
ip link set lo up
if [ -n "$guestip" ]; then
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
    ip link set eth0 up && ip addr add "$guestip" dev eth0
    httpd -p 80 -h /www
fi
echo "XENLAB-BOOT name=$name guestip=${guestip:-none}" > /dev/console
"""

HOTPLUG = """\
#!/bin/sh
# Run by `busybox uevent` for every kernel uevent (environment: ACTION, SUBSYSTEM, DEVPATH).
# Online a CPU the hypervisor has just added (what udev's usual CPU rule does); never touch
# CPUs that were offlined.
[ "$SUBSYSTEM" = cpu ] && [ "$ACTION" = add ] || exit 0
f="/sys$DEVPATH/online"
[ -f "$f" ] || exit 0
[ "$(cat "$f")" = 0 ] && echo 1 > "$f" 2>/dev/null
echo "XENLAB-HOTPLUG name=$(cat /etc/hostname) action=add cpu=${DEVPATH##*/} online=$(cat "$f")" > /dev/console
"""

REPORT = """\
#!/bin/sh
# Report vCPUs / memory / uptime when they change (and every 30 s). Only reports.
# Values are read with the shell's own `read`, no command per value: under TCG every fork+exec is
# costly, and the first version (cat/awk/cut every second) kept each idle guest about 30 % busy,
# which slowed dom0 and every test beside it (docs/lab.md, 2026-11-26).
read name < /etc/hostname
# the kernel's random id of this boot: the same id in a later report proves the guest never rebooted
read boot < /proc/sys/kernel/random/boot_id
last=""
n=0
while true; do
    read cpus < /sys/devices/system/cpu/online
    count=0
    for c in /sys/devices/system/cpu/cpu[0-9]*; do
        on=1
        if [ -f "$c/online" ]; then read on < "$c/online"; fi
        if [ "$on" = 1 ]; then count=$((count+1)); fi
    done
    mem=""
    while read key value unit; do
        if [ "$key" = "MemTotal:" ]; then mem=$value; break; fi
    done < /proc/meminfo
    state="vcpus_online=$count cpus=$cpus mem_total_kb=$mem"
    if [ "$state" != "$last" ] || [ $n -ge 15 ]; then
        read up idle < /proc/uptime
        line="XENLAB-REPORT name=$name $state uptime=$up boot=$boot"
        echo "$line" > /dev/console
        echo "$line" > /www/status
        last="$state"
        n=0
    fi
    n=$((n+1))
    sleep 2
done
"""

CONFIGS = {
    "pv.cfg": """\
# PV test guest: dom0's kernel + the xenlab busybox initramfs (no disk).
name     = "pv1"
type     = "pv"
kernel   = "{d}/vmlinuz"
ramdisk  = "{d}/initrd.img"
extra    = "console=hvc0 quiet xenlab.name=pv1"
memory   = 128
maxmem   = 256
vcpus    = 1
maxvcpus = 4
""",
    "pvh.cfg": """\
# PVH test guest.
name     = "pvh1"
type     = "pvh"
kernel   = "{d}/vmlinuz"
ramdisk  = "{d}/initrd.img"
extra    = "console=hvc0 quiet xenlab.name=pvh1"
memory   = 128
vcpus    = 1
maxvcpus = 2
""",
    "hvm.cfg": """\
# HVM test guest: direct kernel boot through the device model, serial console to a file.
name     = "hvm1"
type     = "hvm"
kernel   = "{d}/vmlinuz"
ramdisk  = "{d}/initrd.img"
cmdline  = "console=ttyS0 quiet xenlab.name=hvm1"
memory   = 256
vcpus    = 1
serial   = "file:/var/log/xen/console/guest-hvm1.log"
vnc      = 0
sdl      = 0
""",
    "pv-net.cfg": """\
# PV test guest on dom0's internal bridge xenbr0 (dom0 is 192.168.100.1/24).
name     = "pvnet1"
type     = "pv"
kernel   = "{d}/vmlinuz"
ramdisk  = "{d}/initrd.img"
extra    = "console=hvc0 quiet xenlab.name=pvnet1 guestip=192.168.100.10/24"
memory   = 128
vcpus    = 1
maxvcpus = 2
vif      = [ "mac=00:16:3e:00:00:10,bridge=xenbr0" ]
""",
}


class CpioWriter:
    """Minimal writer for the cpio 'newc' format the Linux kernel unpacks."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.ino = 1

    def _entry(self, name, mode, data=b"", nlink=1):
        name_b = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name_b), 0))
        self.ino += 1
        self.buf.write(hdr.encode() + name_b)
        self._pad()
        self.buf.write(data)
        self._pad()

    def _pad(self):
        rem = self.buf.tell() % 4
        if rem:
            self.buf.write(b"\0" * (4 - rem))

    def add_dir(self, name, mode=0o755):
        self._entry(name, stat.S_IFDIR | mode, nlink=2)

    def add_file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def add_symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def parse_modules_dep(text):
    """modules.dep text -> {module name: (path, [dependency paths])}."""
    deps = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, rest = line.split(":", 1)
        base = os.path.basename(path)
        name = base.split(".ko")[0].replace("_", "-")
        deps[name] = (path, rest.split())
    return deps


def module_load_order(deps, wanted):
    """Paths to insmod, dependencies first, each once. Unknown (built-in) modules are skipped."""
    by_path = {v[0]: v for v in deps.values()}
    order = []

    def visit(path):
        if path in order:
            return
        for dep in reversed(by_path.get(path, (path, []))[1]):
            visit(dep)
        order.append(path)

    for name in wanted:
        entry = deps.get(name.replace("_", "-"))
        if entry:
            visit(entry[0])
    return order


def build_initramfs(rootfs, kver, applets):
    """Return the gzip'd initramfs bytes built from files of the image's rootfs."""
    cpio = CpioWriter()
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "etc/init.d", "proc",
              "sys", "dev", "tmp", "run", "www", "lib", "lib/modules", "root"):
        cpio.add_dir(d)
    with open(os.path.join(rootfs, "bin/busybox"), "rb") as f:
        cpio.add_file("bin/busybox", f.read(), 0o755)
    for applet in sorted(set(applets)):
        rel = applet.lstrip("/")
        if rel in ("bin/busybox", "init") or not rel:
            continue
        if os.path.dirname(rel) not in ("bin", "sbin", "usr/bin", "usr/sbin"):
            continue
        cpio.add_symlink(rel, "/bin/busybox")
    cpio.add_symlink("init", "/bin/busybox")
    cpio.add_symlink("sbin/init", "/bin/busybox")
    cpio.add_file("etc/inittab", INITTAB.encode())
    cpio.add_file("etc/init.d/rcS", RCS.encode(), 0o755)
    cpio.add_file("sbin/xenlab-report", REPORT.encode(), 0o755)
    cpio.add_file("sbin/xenlab-hotplug", HOTPLUG.encode(), 0o755)
    moddir = os.path.join(rootfs, "lib/modules", kver)
    with open(os.path.join(moddir, "modules.dep")) as f:
        deps = parse_modules_dep(f.read())
    names = []
    for path in module_load_order(deps, WANTED_MODULES):
        with open(os.path.join(moddir, path), "rb") as f:
            data = f.read()
        if path.endswith(".xz"):
            data = lzma.decompress(data)
        name = os.path.basename(path).split(".ko")[0] + ".ko"
        cpio.add_file("lib/modules/" + name, data)
        names.append(name)
    cpio.add_file("lib/modules/load-order", ("\n".join(names) + "\n").encode())
    return gzip.compress(cpio.finish(), 9)


def write_payload(rootfs, kver, applets):
    """Install kernel, initramfs and example xl configs at GUEST_DIR inside rootfs."""
    dest = os.path.join(rootfs, GUEST_DIR.lstrip("/"))
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(rootfs, "boot", "vmlinuz-" + kver), "rb") as f:
        kernel = f.read()
    with open(os.path.join(dest, "vmlinuz"), "wb") as f:
        f.write(kernel)
    initrd = build_initramfs(rootfs, kver, applets)
    with open(os.path.join(dest, "initrd.img"), "wb") as f:
        f.write(initrd)
    for name, text in CONFIGS.items():
        with open(os.path.join(dest, name), "w") as f:
            f.write(text.format(d=GUEST_DIR))
    return len(initrd)
