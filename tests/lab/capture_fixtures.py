#!/usr/bin/env python
"""Capture real xl output from a nested Xen lab host into tests/unit/fixtures/.

    tests/lab/capture_fixtures.py [--name LAB] [--host xen1] [--label lab-tcg] [--force]

Without --name it boots a one-host lab (`capture-<pid>`) and tears it down afterwards. Writes
tests/unit/fixtures/xen-<version>-<label>/NAME.{cmd,stdout,stderr,rc} in the order the
commands ran, plus the guest configs, a few /proc and dpkg files and a README.md with the
provenance (date, machine, QEMU, accelerator, image). Output is recorded as it comes: a
command that fails or crashes is kept with its stderr and exit status, never retried.
An existing directory is never overwritten without --force.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from xenlab import lab as xlab  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
G = "/var/lib/xenlab/guest"
BAD_CFG = 'name = "bad1"\nmemory = 128\nkernel = "/vmlinuz"\nvcpus = "two\n'
NONAME_CFG = 'type = "pv"\nmemory = 128\nkernel = "%s/vmlinuz"\n' % G

# (capture name or None for an unrecorded setup step, shell command, seconds to wait after)
STEPS = [
    ("xl_info", "xl info", 0),
    ("xl_list_dom0_only", "xl list", 0),
    ("xl_list_l_dom0_only", "xl list -l", 0),
    ("xl_vcpu_list_dom0_only", "xl vcpu-list", 0),
    ("create_dryrun_pv", "xl -N create %s/pv.cfg" % G, 0),
    ("xl_create_pv", "xl create %s/pv.cfg" % G, 0),
    (None, "WAITBOOT pv1", 0),
    ("xl_create_pvh", "xl create %s/pvh.cfg" % G, 0),
    (None, "WAITBOOT pvh1", 0),
    ("xl_create_hvm", "xl create %s/hvm.cfg" % G, 0),
    (None, "WAITBOOT hvm1", 0),
    ("xl_vcpu_set_pv_2", "xl vcpu-set pv1 2", 3),
    ("xl_vcpu_pin_pv", "xl vcpu-pin pv1 0 1", 0),
    ("xl_mem_set_pv", "xl mem-set pv1 96m", 3),
    ("xl_list_three_guests", "xl list", 0),
    ("xl_list_l_three_guests", "xl list -l", 0),
    ("xl_list_l_pv1", "xl list -l pv1", 0),
    ("xl_vcpu_list", "xl vcpu-list", 0),
    ("xl_vm_list", "xl vm-list", 0),
    ("guest_pv1_console", "cat /var/log/xen/console/guest-pv1.log", 0),
    # A device model that does not answer QMP (hung or starved QEMU): `xl list -l` waits for
    # libxl's QMP timeout, then leaves the HVM guest out, exit 0, nothing on stderr.
    (None, "pkill -STOP -f -- \"-xen-domid $(xl domid hvm1) \"", 0),
    ("xl_list_l_hvm_qemu_stopped", "xl list -l", 0),
    ("xl_list_hvm_qemu_stopped", "xl list", 0),
    ("userdata_hvm1", "cat /var/lib/xen/userdata-d.$(xl domid hvm1).*.libxl-json", 0),
    (None, "pkill -CONT -f -- \"-xen-domid $(xl domid hvm1) \"", 2),
    ("xl_pause_pv", "xl pause pv1", 0),
    ("xl_list_paused", "xl list pv1", 0),
    ("xl_unpause_pv", "xl unpause pv1", 0),
    ("err_vcpu_set_overcommit", "xl vcpu-set pv1 3", 0),
    ("err_vcpu_set_over_max", "xl vcpu-set --ignore-host pv1 5", 0),
    ("err_mem_set_over_max", "xl mem-set pv1 512m", 0),
    ("err_list_unknown_name", "xl list nosuch", 0),
    ("err_list_unknown_domid", "xl list 77", 0),
    ("err_domid_unknown", "xl domid nosuch", 0),
    ("err_destroy_unknown", "xl destroy nosuch", 0),
    ("err_pause_unknown_domid", "xl pause 77", 0),
    ("err_create_same_name", "xl create %s/pv.cfg" % G, 0),
    ("err_create_missing_file", "xl create /nonexistent/guest.cfg", 0),
    (None, "printf '%%s' %s > /tmp/bad.cfg" % shlex.quote(BAD_CFG), 0),
    ("err_create_syntax", "xl create /tmp/bad.cfg", 0),
    (None, "printf '%%s' %s > /tmp/noname.cfg" % shlex.quote(NONAME_CFG), 0),
    ("err_create_no_name", "xl create /tmp/noname.cfg", 0),
    ("err_cd_insert_pv", "xl cd-insert pv1 hdc /tmp/none.iso", 0),
    ("xl_shutdown_pv", "xl shutdown -w pv1", 0),
    ("xl_shutdown_pvh", "xl shutdown -w pvh1", 0),
    ("xl_destroy_hvm", "xl destroy hvm1", 0),
    ("xl_list_after", "xl list", 0),
]

FILES = [
    ("dpkg-xen.txt", "dpkg-query -W -f '${Package}\\t${Version}\\n' 'xen*' | sort"),
    ("proc_xen_capabilities.txt", "cat /proc/xen/capabilities"),
    ("sys_hypervisor_type.txt", "cat /sys/hypervisor/type"),
    ("pv.cfg", "cat %s/pv.cfg" % G),
    ("pvh.cfg", "cat %s/pvh.cfg" % G),
    ("hvm.cfg", "cat %s/hvm.cfg" % G),
]


MARK = "XENLAB-CAPTURE-RC="


def remote(state, host, cmd, timeout=300):
    """Run cmd in dom0; return (rc, stdout, stderr) of cmd itself. A failure of the SSH
    transport (no exit marker) raises instead of being recorded as xl output."""
    wrapped = "LC_ALL=C sh -c %s; echo %s$? >&2" % (shlex.quote(cmd), MARK)
    r = xlab.run_ssh(state, host, [wrapped], timeout=timeout)
    lines = r.stderr.splitlines(True)
    if not lines or not lines[-1].startswith(MARK):
        raise RuntimeError("ssh to %s failed (rc %d) running %r: %s" % (
            host, r.returncode, cmd, r.stderr.strip()[-300:]))
    return int(lines[-1][len(MARK):]), r.stdout, "".join(lines[:-1])


def must(state, host, cmd, timeout=300):
    """stdout of a setup command in host's dom0 (not recorded); a non-zero exit raises."""
    rc, out, err = remote(state, host, cmd, timeout=timeout)
    if rc != 0:
        raise RuntimeError("%s: %r failed (rc %d): %s %s" % (host, cmd, rc, out, err))
    return out


def write_capture(dest, name, cmd, rc, out, err):
    """Store one command's output as NAME.cmd, NAME.stdout, NAME.stderr and NAME.rc in dest."""
    for ext, data in (("cmd", cmd + "\n"), ("stdout", out), ("stderr", err), ("rc", "%d\n" % rc)):
        with open(os.path.join(dest, "%s.%s" % (name, ext)), "w") as f:
            f.write(data)


def capture_dir(state, host, out, label, force):
    """(xl info fields, Xen version, directory xen-<version>-<label> under out), the directory created;
    exits when it already has a README.md and force is not set."""
    rc, info, err = remote(state, host, "xl info")
    if rc != 0:
        raise RuntimeError("xl info failed on %s (rc %d): %s" % (host, rc, err))
    fields = dict((k.strip(), v.strip()) for k, v in (l.split(":", 1) for l in info.splitlines() if ":" in l))
    version = "%s.%s%s" % (fields["xen_major"], fields["xen_minor"], fields["xen_extra"])
    dest = os.path.join(out, "xen-%s-%s" % (version, label))
    if os.path.exists(os.path.join(dest, "README.md")) and not force:
        sys.exit("%s exists; use --force or another --label" % dest)
    os.makedirs(dest, exist_ok=True)
    return fields, version, dest


def begin(doc, label, host, argv=None):
    """The common start of a capture script: its command line (--name LAB, --label, --out, --force; `doc` is the
    script's help), the lab's state and the capture directory. Returns (args, state, fields, version, dest,
    started): xl info fields, the Xen version, the directory (capture_dir) and the start time for the README."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name", required=True, help="a running lab")
    ap.add_argument("--label", default=label)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "unit", "fixtures"))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    state = xlab.load_state(args.name)
    if not state:
        sys.exit("no lab %r" % args.name)
    fields, version, dest = capture_dir(state, host, args.out, args.label, args.force)
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    return args, state, fields, version, dest, started


class Recorder(object):
    """Records commands run in a dom0 into a capture directory (NAME.cmd/.stdout/.stderr/.rc, via write_capture)
    and keeps the README's list of what ran: rec() records, must() runs setup that is not recorded."""

    def __init__(self, state, host, dest):
        self.state, self.host, self.dest = state, host, dest
        self.order = []

    def rec(self, name, cmd, timeout=300):
        t0 = time.time()
        rc, out, err = remote(self.state, self.host, cmd, timeout=timeout)
        took = time.time() - t0
        write_capture(self.dest, name, cmd, rc, out, err)
        self.order.append("- `%s`, rc %d, %.1f s: `%s`" % (name, rc, took, cmd))
        print("[capture] %-36s rc=%d %5.1f s  %s" % (name, rc, took, cmd), flush=True)
        return rc, out

    def must(self, cmd, timeout=300):
        return must(self.state, self.host, cmd, timeout=timeout)

    def readme(self, title, intro):
        with open(os.path.join(self.dest, "README.md"), "w") as f:
            f.write("\n".join(["# " + title, ""] + intro + [""] + self.order + [""]))


def wait_boot(state, host, guest, timeout=150):
    """Wait for the guest's XENLAB-BOOT console line (the payload's init has run)."""
    log = "/var/log/xen/console/guest-%s.log" % guest
    t0 = time.time()
    while time.time() - t0 < timeout:
        rc, out, _err = remote(state, host, "grep -c XENLAB-REPORT %s 2>/dev/null || true" % log)
        if out.strip() not in ("", "0"):
            return time.time() - t0
        time.sleep(3)
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name", help="use this running lab instead of booting one")
    ap.add_argument("--host", default="xen1")
    ap.add_argument("--label", default="lab-tcg", help="directory suffix (default lab-tcg)")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "unit", "fixtures"))
    ap.add_argument("--force", action="store_true", help="overwrite an existing capture directory")
    args = ap.parse_args(argv)

    own = None
    if args.name:
        state = xlab.load_state(args.name)
        if not state:
            sys.exit("no lab %r" % args.name)
    else:
        own = "capture-%d" % os.getpid()
        state = xlab.up(own, hosts=1)
    try:
        return capture(state, args)
    finally:
        if own:
            xlab.down(own)


def capture(state, args):
    host = args.host
    rc, info, err = remote(state, host, "xl info")
    if rc != 0:
        sys.exit("xl info failed on %s: %s" % (host, err))
    fields = dict((k.strip(), v.strip()) for k, v in
                  (line.split(":", 1) for line in info.splitlines() if ":" in line))
    version = "%s.%s%s" % (fields["xen_major"], fields["xen_minor"], fields["xen_extra"])
    dest = os.path.join(args.out, "xen-%s-%s" % (version, args.label))
    if os.path.exists(dest) and not args.force:
        sys.exit("%s exists; use --force or another --label" % dest)
    os.makedirs(dest, exist_ok=True)
    order = []
    notes = []
    for name, cmd, pause in STEPS:
        if cmd.startswith("WAITBOOT "):
            guest = cmd.split()[1]
            secs = wait_boot(state, host, guest)
            notes.append("%s: %s" % (guest, "console report after %.0f s" % secs if secs is not None
                                     else "NO console report within 150 s"))
            print("[capture] %s booted: %s" % (guest, notes[-1]))
            continue
        rc, out, err = remote(state, host, cmd)
        if name:
            for ext, data in (("cmd", cmd + "\n"), ("stdout", out), ("stderr", err),
                              ("rc", "%d\n" % rc)):
                with open(os.path.join(dest, "%s.%s" % (name, ext)), "w") as f:
                    f.write(data)
            order.append((name, cmd, rc))
            print("[capture] %-28s rc=%d  %s" % (name, rc, cmd))
        else:
            order.append((None, cmd, rc))
        if pause:
            time.sleep(pause)
    for fname, cmd in FILES:
        rc, out, err = remote(state, host, cmd)
        with open(os.path.join(dest, fname), "w") as f:
            f.write(out if rc == 0 else "rc=%d\n%s" % (rc, err))
    write_readme(state, host, dest, version, fields, order, notes)
    print("[capture] wrote %s" % dest)
    return 0


def write_readme(state, host, dest, version, fields, order, notes):
    qemu_v = subprocess.run([state.get("qemu", "qemu-system-x86_64"), "--version"],
                            stdout=subprocess.PIPE, universal_newlines=True, check=False).stdout.splitlines()[0]
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    manifest = {}
    try:
        with open(os.path.join(state["image"], "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, KeyError, ValueError):
        pass
    lines = [
        "# xl output captured from real Xen %s by tests/lab/capture_fixtures.py" % version,
        "",
        "Captured %s from Debian's Xen %s (packages in dpkg-xen.txt; dom0 kernel %s), booted by"
        % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
           manifest.get("xen_version", version), manifest.get("kernel_version", "?")),
        "the project's nested Xen lab as a QEMU guest (`-accel %s -cpu %s -smp %s -m %s`," % (
            state["accel"], state["cpu"], state["smp"], state["mem"]),
        "dom0_mem=%sM) on a %d-CPU %s machine (%s, %s, %s)." % (
            state["dom0_mem"], os.cpu_count(), platform.machine(), cpu, qemu_v,
            platform.platform()),
        "xl info: nr_cpus %s, virt_caps `%s`, scheduler %s." % (
            fields.get("nr_cpus"), fields.get("virt_caps"), fields.get("xen_scheduler")),
        "",
        "Guests: dom0's kernel with the lab's busybox initramfs (/var/lib/xenlab/guest, see",
        "tests/lab/xenlab/guest.py); their configs are the *.cfg files here (pv1 = PV with maxvcpus 4",
        "/ maxmem 256, pvh1 = PVH, hvm1 = HVM direct kernel boot). Each capture NAME has NAME.cmd,",
        "NAME.stdout, NAME.stderr and NAME.rc; every command ran once, in this order, and its output",
        "is kept as it came (a failure is data, not retried):",
        "",
    ]
    for name, cmd, rc in order:
        if name is None:
            lines.append("- setup, not recorded: `%s`" % cmd)
        else:
            lines.append("- `%s` (%s): `%s`" % (name, "rc %d" % rc, cmd))
    lines += ["", "Guest boots: " + "; ".join(notes), ""]
    with open(os.path.join(dest, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
