"""QEMU command lines and accelerator detection (pure functions plus one probe)."""

import os
import subprocess
import tempfile
import time

QEMU = os.environ.get("XENLAB_QEMU", "qemu-system-x86_64")
# XENLAB_TCG_CPU overrides the model for experiments; the default is the one that works (docs/lab.md).
# -avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq: no AVX at all in the emulated CPU. Xen's cpuid=no-avx (below) hides it
# from the kernels, but a PV dom0's user space reads CPUID itself (TCG's AMD model has no CPUID faulting for Xen
# to trap it): coreutils' `wc -l` saw AVX2, ran its AVX2 loop and died of SIGILL (`vzeroupper`) on every call, which
# failed scenario faults (docs/lab.md "AVX in guests under TCG").
TCG_CPU = os.environ.get("XENLAB_TCG_CPU") or "max,-smap,-rdtscp,-avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq"
KVM_CPU = "host"

# spec-ctrl=eager-fpu: QEMU's TCG (7.2) CPU reports AMD, where Xen switches FPU state lazily
# (CR0.TS); under TCG that corrupts dom0 processes as soon as a guest runs (segfaults of xl,
# python3 and sshd, corrupted module payloads, bad SSH MACs). Eager switching avoids it; the
# experiments and numbers are in docs/lab.md ("FPU switching under TCG").
#
# hap=0: guests use Xen's shadow paging instead of QEMU's emulation of AMD nested paging. With nested
# paging, an HVM or PVH guest booting beside another one triple-faulted in about 4 of 10 boots (the other
# guest or the booting one, often with Xen's own RIP in the guest's saved state); with hap=0, 0 of 6
# (tests/lab/stress_triple_fault.py, docs/lab.md "Guest triple faults under TCG"). Real hardware keeps HAP.
#
# cpuid=no-avx: Xen hides AVX (and AVX2, which depends on it) from dom0 and the guests. A PVH guest's AVX
# instructions raised #UD under QEMU's TCG although CPUID offered AVX: Debian's cloud kernel oopsed in aesni_intel's
# self-test at every boot and the hung module load held udev (and growpart's `udevadm settle`) for udev's 180 s
# event timeout (docs/lab.md "AVX in guests under TCG"). Real hardware keeps AVX.
XEN_ARGS = ("dom0_mem={dom0}M,max:{dom0}M dom0_max_vcpus={smp} bootscrub=0 spec-ctrl=eager-fpu hap=0 cpuid=no-avx "
            "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all noreboot")
DOM0_ARGS = "root=/dev/vda rw console=hvc0 earlyprintk=xen net.ifnames=1"


def tcg_accel_options():
    """XENLAB_TCG_OPTIONS: opt-in TCG accelerator options for experiments (e.g. `thread=single`;
    default none). Part of the QEMU argv, so the warm-start key changes with them."""
    return os.environ.get("XENLAB_TCG_OPTIONS", "").strip().strip(",")


def accel_arg(accel):
    """The -accel value: tcg plus XENLAB_TCG_OPTIONS, if any; kvm as is."""
    if accel == "tcg" and tcg_accel_options():
        return "tcg," + tcg_accel_options()
    return accel


def xen_extra_args():
    """XENLAB_XEN_EXTRA_ARGS: opt-in extra Xen boot arguments for experiments (default none).
    They are part of the QEMU argv, so the warm-start key (warm.shape_key) changes with them."""
    return os.environ.get("XENLAB_XEN_EXTRA_ARGS", "").strip()


def cpu_flags(cpuinfo_text):
    flags = set()
    for line in cpuinfo_text.splitlines():
        if line.startswith("flags") and ":" in line:
            flags.update(line.split(":", 1)[1].split())
    return flags


def has_hw_virt(cpuinfo_text):
    return bool(cpu_flags(cpuinfo_text) & {"vmx", "svm"})


def choose_accel(cpuinfo_text, kvm_dev_ok, kvm_test_boot, override=None):
    """Return (accel, cpu model, reason).

    KVM is used only when the CPU advertises vmx/svm (needed for nested HVM), /dev/kvm is
    usable AND a real test boot under `-accel kvm -cpu host` printed its marker; a
    /dev/kvm that opens but cannot run a guest (e.g. a PVM variant) must not fool us.
    kvm_test_boot is a zero-argument callable, only called when the cheap checks pass.
    """
    if override == "tcg":
        return "tcg", TCG_CPU, "forced by XENLAB_ACCEL=tcg"
    if not has_hw_virt(cpuinfo_text):
        return "tcg", TCG_CPU, "no vmx/svm in /proc/cpuinfo"
    if not kvm_dev_ok:
        return "tcg", TCG_CPU, "/dev/kvm missing or not accessible"
    ok, detail = kvm_test_boot()
    if not ok:
        return "tcg", TCG_CPU, "KVM test boot failed: %s" % detail
    return "kvm", KVM_CPU, "vmx/svm present and KVM test boot worked"


def boot_sector(marker=b"XENLAB-ACCEL-OK\n"):
    """A 512-byte BIOS boot sector that writes marker to COM1 and halts."""
    code = bytearray()
    code += b"\xfa"                      # cli
    code += b"\xfc"                      # cld
    code += b"\x31\xc0\x8e\xd8"          # xor ax,ax ; mov ds,ax
    code += b"\xba\xf8\x03"              # mov dx,0x3f8
    msg_at_patch = len(code) + 1
    code += b"\xbe\x00\x00"              # mov si,msg (patched below)
    loop = len(code)
    code += b"\xac"                      # lodsb
    code += b"\x84\xc0"                  # test al,al
    code += b"\x74\x03"                  # jz +3 (to halt)
    code += b"\xee"                      # out dx,al
    code += bytes([0xEB, (loop - (len(code) + 2)) & 0xFF])  # jmp loop
    code += b"\xf4"                      # hlt
    code += b"\xeb\xfd"                  # jmp hlt
    msg_addr = 0x7C00 + len(code)
    code[msg_at_patch:msg_at_patch + 2] = msg_addr.to_bytes(2, "little")
    code += marker + b"\0"
    if len(code) > 510:
        raise ValueError("marker too long")
    return bytes(code) + b"\0" * (510 - len(code)) + b"\x55\xaa"


def test_boot(accel="kvm", cpu=KVM_CPU, timeout=20.0, qemu=QEMU):
    """Boot the tiny boot sector; return (ok, detail)."""
    marker = b"XENLAB-ACCEL-OK"
    with tempfile.TemporaryDirectory(prefix="xenlab-accel-") as tmp:
        disk = os.path.join(tmp, "boot.img")
        out = os.path.join(tmp, "serial.log")
        with open(disk, "wb") as f:
            f.write(boot_sector(marker + b"\n"))
        argv = [qemu, "-machine", "pc", "-accel", accel, "-cpu", cpu, "-m", "32", "-nodefaults",
                "-display", "none", "-no-reboot", "-serial", "file:" + out,
                "-drive", "file=%s,format=raw,if=ide" % disk]
        try:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            return False, str(e)
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                if os.path.exists(out):
                    with open(out, "rb") as f:
                        if marker in f.read():
                            return True, "marker seen"
                if proc.poll() is not None:
                    err = proc.stderr.read().decode(errors="replace").strip()
                    return False, "qemu exited %s: %s" % (proc.returncode, err[-300:])
                time.sleep(0.2)
            return False, "no marker within %.0f s" % timeout
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def detect_accel(override=None):
    override = override if override is not None else os.environ.get("XENLAB_ACCEL")
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    except OSError:
        cpuinfo = ""
    kvm_ok = os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
    return choose_accel(cpuinfo, kvm_ok, test_boot, override=override)


def escape_multiboot_arg(text):
    """QEMU's -initrd splits multiboot modules on ','; a literal comma is ',,'."""
    return text.replace(",", ",,")


def user_netdev(h):
    """-netdev user: restricted, SSH forwarded from 127.0.0.1 only, plus optional guestfwd
    entries h["guestfwd"] = [(address, port, command), ...] (a command per connection)."""
    spec = "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % h["ssh_port"]
    for addr, port, cmd in h.get("guestfwd") or ():
        spec += ",guestfwd=tcp:%s:%d-cmd:%s" % (addr, port, cmd.replace(",", ",,"))
    return spec


def host_argv(h, qemu=QEMU):
    """QEMU argv for one lab host. h is a dict (see lab.py for the keys).

    h["boot"] == "disk": no -kernel; SeaBIOS boots the GRUB inside the disk (plain image)."""
    argv = [
        qemu, "-name", "xenlab-%s-%s" % (h["lab"], h["name"]),
        "-machine", "pc", "-accel", accel_arg(h["accel"]), "-cpu", h["cpu"],
        "-smp", str(h["smp"]), "-m", str(h["mem"]),
        "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
    ]
    if h.get("boot") != "disk":
        xen_args = XEN_ARGS.format(dom0=h["dom0_mem"], smp=h["smp"])
        if xen_extra_args():
            xen_args += " " + xen_extra_args()
        dom0_args = DOM0_ARGS + (" " + h["dom0_extra"] if h.get("dom0_extra") else "")
        modules = "%s %s,%s" % (escape_multiboot_arg(h["vmlinuz"]),
                                escape_multiboot_arg(dom0_args),
                                escape_multiboot_arg(h["initrd"]))
        argv += ["-kernel", h["xen"], "-append", xen_args, "-initrd", modules]
    # Fixed PCI slots: the root disk (0x4) enumerates before the seed disk (0x5), so the
    # root disk is /dev/vda whatever the order of the options.
    argv += [
        "-netdev", user_netdev(h),
        "-device", "virtio-net-pci,netdev=n0,mac=%s,addr=0x3" % h["mac_user"],
        "-drive", "file=%s,if=none,id=disk0,format=qcow2,cache=unsafe,discard=unmap"
        % h["overlay"],
        # bootindex: SeaBIOS must boot this disk (GRUB's hd0), not the seed disk
        "-device", "virtio-blk-pci,drive=disk0,addr=0x4"
        + (",bootindex=0" if h.get("boot") == "disk" else ""),
        "-drive", "file=%s,if=none,id=seed,format=raw,readonly=on" % h["seed"],
        "-device", "virtio-blk-pci,drive=seed,serial=xenlab-seed,addr=0x5",
    ]
    priv = h.get("priv")
    if priv:
        mode, port = priv
        argv += ["-netdev", "socket,id=n1,%s=127.0.0.1:%d" % (mode, port),
                 "-device", "virtio-net-pci,netdev=n1,mac=%s,addr=0x6" % h["mac_priv"]]
    argv += [
        "-serial", "file:%s" % h["serial"],
        "-monitor", "unix:%s,server=on,wait=off" % h["monitor"],
        "-pidfile", h["pidfile"], "-daemonize",
    ]
    return argv


# Serial-log lines after which a boot cannot succeed: fail at once instead of timing out.
FATAL_PATTERNS = (
    "Kernel panic", "Gave up waiting for root", "ALERT!  ", "Panic on CPU",
    "(XEN) Reboot in five seconds", "(XEN) Manual reset required",
)


def fatal_boot_line(text):
    """The first serial-log line that shows a boot has failed for good, or None."""
    for line in text.splitlines():
        for pat in FATAL_PATTERNS:
            if pat in line:
                return line.strip()
    return None


def mac(kind, index):
    """Stable MACs: 52:54:00:77:<0 user, 1 private>:<host index>."""
    return "52:54:00:77:%02x:%02x" % (kind, index)
