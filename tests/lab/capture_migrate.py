#!/usr/bin/env python
"""Capture real `xl migrate` output between two nested Xen lab hosts into tests/unit/fixtures/.

    tests/lab/capture_migrate.py --name LAB [--label lab-migrate] [--steps a,b] [--force]

LAB is a running two-host lab (`xenlab up --name LAB --hosts 2`, or the lab of `molecule create -s
migrate`). The script sets up what migration needs, the way molecule/migrate's prepare does it
(root SSH keys and known_hosts between the dom0s, an NFS export of xen1's /srv/xenshared mounted at
the same path on xen2, a second sshd on xen2 port 2222 in a mount namespace without the Xen tools),
then runs each migration once and records NAME.{cmd,stdout,stderr,rc} in
tests/unit/fixtures/xen-<version>-<label>/ with a README.md. The xl command line is the one
xenfleet.xen.xen_migrate runs. Output is kept as it came: a failure is data, never retried.
An existing directory is never overwritten without --force.
"""

import argparse
import datetime
import os
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capture_fixtures  # noqa: E402
from xenlab import lab as xlab  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
G = "/var/lib/xenlab/guest"
SHARED = "/srv/xenshared"
A, B = "xen1", "xen2"
ADDR = {A: "192.168.77.11", B: "192.168.77.12"}
# exactly what xen_migrate passes to `xl migrate -s` (SshTarget.xl_sshcmd with the defaults)
SSHCMD = "ssh -o BatchMode=yes -o ConnectTimeout=60 -l root"
NOXEN_PORT = 2222


def cfg(name, disk, extra=""):
    return ('name = "%s"\ntype = "pv"\nkernel = "%s/vmlinuz"\nramdisk = "%s/initrd.img"\n'
            'extra = "console=hvc0 quiet xenlab.name=%s"\nmemory = 128\nvcpus = 1\n%s%s'
            % (name, G, G, name, 'disk = [ "format=raw,vdev=xvda,access=rw,target=%s" ]\n' % disk if disk else "",
               extra))


def remote(state, host, cmd, timeout=900):
    """(rc, stdout, stderr) of cmd in host's dom0; an SSH transport failure raises."""
    return capture_fixtures.remote(state, host, cmd, timeout=timeout)


def must(state, host, cmd):
    return capture_fixtures.must(state, host, cmd, timeout=900)


def write_file(state, host, path, text):
    must(state, host, "printf '%%s' %s > %s" % (shlex.quote(text), shlex.quote(path)))


def wait_report(state, host, guest, after=0, timeout=240):
    log = "/var/log/xen/console/guest-%s.log" % guest
    t0 = time.time()
    while time.time() - t0 < timeout:
        _rc, out, _err = remote(state, host, "tail -c +%d %s 2>/dev/null | grep -a 'XENLAB-REPORT name=%s ' | tail -n 1"
                                % (after + 1, log, guest))
        if out.strip():
            return out.strip()
        time.sleep(3)
    raise RuntimeError("%s on %s: no console report within %d s" % (guest, host, timeout))


def setup(state, steps):
    """Everything in as few SSH round trips as possible (a TCG dom0 on a busy machine takes seconds per login)."""
    keys = {}
    for h in (A, B):
        out = must(state, h, "test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519; "
                   "cat /root/.ssh/id_ed25519.pub /etc/ssh/ssh_host_ed25519_key.pub")
        keys[h] = [line.strip() for line in out.splitlines() if line.strip()]
    # mcap and mkill have no disk: under load the block hotplug script of a file-backed disk timed out in
    # `xl create` (libxl async_exec_timeout), and no failure step needs one (the success step uses it)
    guests = [("mcap", "%s/mcap.img" % SHARED if "ok" in steps else None)]
    if "receiver_killed" in steps:
        guests.append(("mkill", None))
    if "missing_disk" in steps:
        guests.append(("mcaploc", "/var/lib/xen/images/mcaploc.img"))
    for h, other in ((A, B), (B, A)):
        hostkey = " ".join(keys[other][1].split()[:2])
        lines = [keys[other][0]]
        script = ["grep -qxF %s /root/.ssh/authorized_keys || echo %s >> /root/.ssh/authorized_keys"
                  % (shlex.quote(keys[other][0]), shlex.quote(keys[other][0])), "touch /root/.ssh/known_hosts"]
        for name in (ADDR[other], "[%s]:%d" % (ADDR[other], NOXEN_PORT)):
            line = "%s %s" % (name, hostkey)
            script.append("grep -qxF %s /root/.ssh/known_hosts || echo %s >> /root/.ssh/known_hosts"
                          % (shlex.quote(line), shlex.quote(line)))
        if h == A:
            script += [
                "mkdir -p %s /etc/exports.d" % SHARED,
                "echo '%s 192.168.77.0/24(rw,sync,no_subtree_check,no_root_squash)' > /etc/exports.d/xenshared.exports"
                % SHARED,
                "systemctl start nfs-server && exportfs -ra",
                "for g in mcap mkill; do test -f %s/$g.img || truncate -s 32M %s/$g.img; done" % (SHARED, SHARED),
                "mkdir -p /var/lib/xen/images; truncate -s 16M /var/lib/xen/images/mcaploc.img",
            ]
            for g, disk in guests:
                script.append("printf '%%s' %s > /etc/xen/%s.cfg" % (shlex.quote(cfg(g, disk)), g))
        else:
            script += [
                "mkdir -p %s && (mountpoint -q %s || mount -t nfs4 -o hard,timeo=600 %s:%s %s)"
                % (SHARED, SHARED, ADDR[A], SHARED, SHARED),
                """if ! { [ -f /run/sshd-noxen.pid ] && kill -0 "$(cat /run/sshd-noxen.pid)" 2>/dev/null; }; then
  mkdir -p /var/lib/noxen/sbin /var/lib/noxen/empty
  for f in /usr/sbin/*; do case "${f##*/}" in xl|xen*) ;; *) ln -sf "$f" "/var/lib/noxen/sbin/${f##*/}" ;; esac; done
  rm -f /var/lib/noxen/sbin/sshd && cp /usr/sbin/sshd /var/lib/noxen/sbin/sshd
  unshare --mount --propagation private sh -c '
    for d in /usr/lib/xen-*; do mount --bind /var/lib/noxen/empty "$d"; done
    umount -l /proc/xen
    mount --bind /var/lib/noxen/sbin /usr/sbin
    exec /usr/sbin/sshd -p %d -o PidFile=/run/sshd-noxen.pid'
fi""" % NOXEN_PORT,
            ]
        del lines
        must(state, h, "set -e\n" + "\n".join(script))
    # one at a time: a guest create is a mutating xl call; a failure stops the capture (setup, not data)
    # a create that failed earlier can leave the domain behind paused: start from scratch
    must(state, A, " && ".join("(xl destroy %s >/dev/null 2>&1; xl create /etc/xen/%s.cfg)" % (g, g) for g, _d in guests))
    for g, _disk in guests:
        print("[capture] %s: %s" % (g, wait_report(state, A, g)), flush=True)


def migrate_cmd(guest, target, sshcmd=SSHCMD):
    return "xl migrate -s %s %s %s" % (shlex.quote(sshcmd), guest, target)


STEPS = ("ok", "same_name", "missing_disk", "no_xl", "unknown_host_key", "banner", "receiver_killed")


def capture(state, dest, steps=STEPS):
    order = []
    notes = []

    def rec(name, host, cmd, timeout=900):
        t0 = time.time()
        rc, out, err = remote(state, host, cmd, timeout=timeout)
        secs = time.time() - t0
        capture_fixtures.write_capture(dest, name, cmd, rc, out, err)
        order.append((name, host, cmd, rc, secs))
        print("[capture] %-34s %s rc=%d %5.1f s  %s" % (name, host, rc, secs, cmd), flush=True)
        return rc, out, err

    # success both ways
    if "ok" in steps:
        rec("migrate_ok_pv", A, migrate_cmd("mcap", ADDR[B]))
        rec("xl_list_target_after_ok", B, "xl list")
        rec("xl_list_source_after_ok", A, "xl list")
        notes.append("mcap after A->B: " + wait_report(state, B, "mcap"))
        rec("migrate_ok_pv_back", B, migrate_cmd("mcap", ADDR[A]))
    # a domain of the same name on the target (xl's own reaction, without any pre-flight)
    if "same_name" in steps:
        write_file(state, B, "/tmp/mcap-twin.cfg", cfg("mcap", None))
        must(state, B, "xl create /tmp/mcap-twin.cfg")
        rec("err_migrate_same_name", A, migrate_cmd("mcap", ADDR[B]))
        rec("xl_list_source_after_same_name", A, "xl list")
        must(state, B, "xl destroy mcap")
    # a disk that exists on the source only
    if "missing_disk" in steps:
        rec("err_migrate_missing_disk", A, migrate_cmd("mcaploc", ADDR[B]))
        rec("xl_list_source_after_missing_disk", A, "xl list")
        rec("xl_list_target_after_missing_disk", B, "xl list")
    # a target that is not a Xen host (no xl in PATH, no /proc/xen)
    if "no_xl" in steps:
        rec("err_migrate_no_xl", A, migrate_cmd("mcap", ADDR[B], SSHCMD + " -p %d" % NOXEN_PORT))
    # a host key that is not known (strict checking, batch mode; an empty known_hosts: the target's name
    # is in root's known_hosts after molecule/migrate's prepare, and a first run here migrated the guest)
    if "unknown_host_key" in steps:
        rec("err_migrate_unknown_host_key", A, migrate_cmd("mcap", ADDR[B], SSHCMD + " -o UserKnownHostsFile=/dev/null"))
    # a shell startup file on the target that prints (bash reads ~/.bashrc for ssh commands)
    if "banner" in steps:
        must(state, B, "cp /root/.bashrc /root/.bashrc.capture && echo 'echo Welcome to xen2' >> /root/.bashrc")
        try:
            rec("err_migrate_banner", A, migrate_cmd("mcap", ADDR[B]))
        finally:
            must(state, B, "mv /root/.bashrc.capture /root/.bashrc")
        rec("xl_list_source_after_banner", A, "xl list")
    # the receiver killed mid-transfer
    if "receiver_killed" in steps:
        must(state, A, "rm -f /tmp/mkill.out /tmp/mkill.err /tmp/mkill.rc; (%s > /tmp/mkill.out 2> /tmp/mkill.err; "
             "echo $? > /tmp/mkill.rc) > /dev/null 2>&1 &" % migrate_cmd("mkill", ADDR[B]))
        kill = must(state, B, "i=0; until xl list mkill--incoming >/dev/null 2>&1; do i=$((i+1)); "
                    "[ $i -lt 1200 ] || exit 3; sleep 0.2; done; sleep 2; pid=$(pgrep -n -f 'xl migrate-receive'); "
                    "ps -o pid,etime,args -p $pid; kill -9 $pid; echo killed $pid")
        notes.append("receiver kill: " + " | ".join(kill.strip().splitlines()))
        t0 = time.time()
        while remote(state, A, "test -s /tmp/mkill.rc")[0] != 0 and time.time() - t0 < 900:
            time.sleep(2)
        cmd = migrate_cmd("mkill", ADDR[B])
        rc = int(must(state, A, "cat /tmp/mkill.rc").strip())
        out = must(state, A, "cat /tmp/mkill.out")
        err = must(state, A, "cat /tmp/mkill.err")
        capture_fixtures.write_capture(dest, "err_migrate_receiver_killed", cmd, rc, out, err)
        order.append(("err_migrate_receiver_killed", A, cmd + "  (receiver killed on xen2)", rc, time.time() - t0))
        print("[capture] err_migrate_receiver_killed rc=%d" % rc)
        rec("xl_list_source_after_receiver_killed", A, "xl list")
        rec("xl_list_target_after_receiver_killed", B, "xl list")
    return order, notes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--name", required=True, help="a running two-host lab")
    ap.add_argument("--label", default="lab-migrate")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "unit", "fixtures"))
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset of: " + ", ".join(STEPS))
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    state = xlab.load_state(args.name)
    if not state:
        sys.exit("no lab %r" % args.name)
    fields, version, dest = capture_fixtures.capture_dir(state, A, args.out, args.label, args.force)
    setup(state, args.steps.split(","))
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    order, notes = capture(state, dest, args.steps.split(","))
    lines = [
        "# `xl migrate` between two nested Xen %s hosts, captured by tests/lab/capture_migrate.py" % version,
        "",
        "Captured %s on lab `%s` (two hosts booted by tests/lab, QEMU TCG `-cpu %s -smp %s -m %s`," % (
            started, args.name, state["cpu"], state["smp"], state["mem"]),
        "dom0_mem=%sM, Xen command line with spec-ctrl=eager-fpu; Debian 12's Xen %s), joined by the" % (
            state["dom0_mem"], fields.get("xen_version")),
        "lab's private link (xen1 = 192.168.77.11, xen2 = 192.168.77.12). Setup as in molecule/migrate's",
        "prepare: root SSH keys and known_hosts between the dom0s (strict host-key checking), an NFS",
        "export of xen1's /srv/xenshared mounted at the same path on xen2 (the guests' disks), and a",
        "second sshd on xen2 port 2222 in a mount namespace without the Xen tools and /proc/xen (a",
        "target that is not a Xen host). Guests: PV, 128 MiB, dom0's kernel and the lab's busybox",
        "initramfs; mcap has its disk on the NFS share only when the success step runs, mkill has none,",
        "mcaploc's disk is on xen1's local /var/lib/xen/images only.",
        "`-s` is exactly the ssh command xenfleet.xen.xen_migrate passes. Every command ran once, in",
        "this order; its output is kept as it came (NAME.cmd, NAME.stdout, NAME.stderr, NAME.rc):",
        "",
    ]
    for name, host, cmd, rc, secs in order:
        lines.append("- `%s` on %s, rc %d, %.1f s: `%s`" % (name, host, rc, secs, cmd))
    lines += ["", "Notes: " + "; ".join(notes), ""]
    with open(os.path.join(dest, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print("[capture] wrote %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
