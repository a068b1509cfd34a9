#!/usr/bin/env python
"""Capture real `xl list` output of guests that reboot, into tests/unit/fixtures/.

    tests/lab/capture_reboot.py --name LAB [--label lab-reboot] [--force]

LAB is a running lab (`xenlab up --name LAB --hosts 1`). Two PV payload guests are rebooted from
dom0 with `xl reboot`: rb1 has on_reboot = "preserve" (xl's monitor leaves it shut down), rb2 the
default on_reboot = "restart" (the monitor destroys it and creates it again under a new domid). rb2's
monitor (the `xl create` process that stays) is stopped with SIGSTOP before the reboot, as on a slow
host, so the shut-down domain can be listed; then it continues, and a loop in dom0 runs `xl list rb2`
every 0.1 s until the new domain runs and keeps every distinct answer: what a module sees while xl's
monitor restarts a guest. Output is
kept as it came (NAME.cmd, NAME.stdout, NAME.stderr, NAME.rc); a failure is data, never retried.
An existing directory is never overwritten without --force.
"""

import os
import shlex
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capture_fixtures  # noqa: E402

G = "/var/lib/xenlab/guest"
HOST = "xen1"
# every distinct `xl list rb2` answer from the reboot request until a new rb2 runs (or 120 s)
WATCH = r"""
old=$(cat /tmp/rbw/old)
kill -CONT "$(cat /tmp/rbw/monitor)"
i=0; last=""; n=0
while [ $i -lt 1200 ]; do
    out=$(xl list rb2 2>/tmp/rbw/err); rc=$?; err=$(cat /tmp/rbw/err)
    key="$rc|$(printf '%s' "$out" | awk 'NR==2 {print $2, $5}')|$err"
    if [ "$key" != "$last" ]; then
        n=$((n+1)); printf '%s\n' "$out" > /tmp/rbw/$n.stdout; printf '%s\n' "$err" | sed '/^$/d' > /tmp/rbw/$n.stderr
        echo $rc > /tmp/rbw/$n.rc; last="$key"
        printf '%s\n' "$out" | awk -v old="$old" 'NR==2 && $2 != old && $5 ~ /^[rb-]+$/ && $5 !~ /[psc]/ {exit 1}' || break
    fi
    i=$((i+1)); sleep 0.1
done
echo $n
"""


def cfg(name, extra=""):
    return ('name = "%s"\ntype = "pv"\nkernel = "%s/vmlinuz"\nramdisk = "%s/initrd.img"\n'
            'extra = "console=hvc0 quiet xenlab.name=%s"\nmemory = 128\nvcpus = 1\n%s' % (name, G, G, name, extra))


def must(state, cmd):
    return capture_fixtures.must(state, HOST, cmd)


def main(argv=None):
    args, state, fields, version, dest, started = capture_fixtures.begin(__doc__, "lab-reboot", HOST, argv)
    order = []

    def rec(name, cmd):
        rc, out, err = capture_fixtures.remote(state, HOST, cmd)
        capture_fixtures.write_capture(dest, name, cmd, rc, out, err)
        order.append("- `%s`, rc %d: `%s`" % (name, rc, cmd))
        print("[capture] %-30s rc=%d  %s" % (name, rc, cmd), flush=True)
        return rc, out

    # setup, not recorded: the two guests, booted to their first report
    for name, extra in (("rb1", 'on_reboot = "preserve"\n'), ("rb2", "")):
        must(state, "printf '%%s' %s > /etc/xen/%s.cfg && (xl destroy %s >/dev/null 2>&1; xl create /etc/xen/%s.cfg)"
             % (shlex.quote(cfg(name, extra)), name, name, name))
    for name in ("rb1", "rb2"):
        if capture_fixtures.wait_boot(state, HOST, name, timeout=240) is None:
            raise RuntimeError("%s did not report within 240 s" % name)
    rec("xl_list_rb_running", "xl list")
    # rb1: on_reboot = preserve, so the domain stays, shut down
    must(state, "xl reboot rb1")
    t0 = time.time()
    while "s" not in must(state, "xl list rb1 | awk 'NR==2 {print $5}'") and time.time() - t0 < 120:
        time.sleep(1)
    rec("xl_list_rb1_rebooted_preserved", "xl list")
    rec("xl_list_l_rb1_rebooted_preserved", "xl list -l rb1")
    rec("xl_list_rb1_one_rebooted_preserved", "xl list rb1")
    # rb2: its monitor held (SIGSTOP) while the guest reboots, so the shut-down domain stays listed
    must(state, "rm -rf /tmp/rbw && mkdir /tmp/rbw && xl list rb2 | awk 'NR==2 {print $2}' > /tmp/rbw/old && "
         "pgrep -f -x '/usr/lib/xen-[0-9.]*/bin/xl create /etc/xen/rb2.cfg' > /tmp/rbw/monitor && kill -STOP \"$(cat /tmp/rbw/monitor)\"")
    reboot_rc = str(rec("xl_reboot_rb2", "xl reboot rb2")[0])
    t0 = time.time()
    while "s" not in must(state, "xl list rb2 | awk 'NR==2 {print $5}'") and time.time() - t0 < 120:
        time.sleep(1)
    rec("xl_list_l_rb2_rebooting_monitor_stopped", "xl list -l")
    rec("xl_list_rb2_rebooting_monitor_stopped", "xl list")
    # every distinct answer of `xl list rb2` once the monitor continues
    n = int(must(state, "sh -c %s" % shlex.quote(WATCH)).strip())
    for i in range(1, n + 1):
        name = "xl_list_rb2_restart_%d" % i
        out = must(state, "cat /tmp/rbw/%d.stdout" % i)
        err = must(state, "cat /tmp/rbw/%d.stderr" % i)
        rc = int(must(state, "cat /tmp/rbw/%d.rc" % i).strip())
        capture_fixtures.write_capture(dest, name, "xl list rb2", rc, out, err)
        order.append("- `%s`, rc %d: `xl list rb2` (distinct answer %d of the watch loop after the monitor continued;"
                     " `xl reboot rb2` had rc %s)" % (name, rc, i, reboot_rc))
        print("[capture] %s rc=%d %s" % (name, rc, out.strip().splitlines()[-1:] or err.strip()), flush=True)
    rec("xl_list_l_rb2_restarted", "xl list -l")
    rec("xl_list_rb2_restarted", "xl list")
    must(state, "xl destroy rb1; xl destroy rb2; rm -f /etc/xen/rb1.cfg /etc/xen/rb2.cfg")
    lines = [
        "# Guests that reboot, on nested Xen %s, captured by tests/lab/capture_reboot.py" % version,
        "",
        "Captured %s on lab `%s` (QEMU TCG `-cpu %s -smp %s -m %s`, dom0_mem=%sM, Debian 12's Xen %s)."
        % (started, args.name, state["cpu"], state["smp"], state["mem"], state["dom0_mem"], fields.get("xen_version")),
        "Guests: PV, 128 MiB, dom0's kernel and the lab's busybox initramfs; rb1 with",
        '`on_reboot = "preserve"`, rb2 with the default (restart). Both were rebooted with `xl reboot`.',
        "rb2's xl monitor was stopped (SIGSTOP) before its reboot and continued (SIGCONT) after the",
        "`*_rebooting_monitor_stopped` captures; the `xl_list_rb2_restart_N` captures are the distinct",
        "answers of a loop in dom0 that then ran `xl list rb2` every 0.1 s until a new rb2 domain ran.",
        "Each command ran once; output as it came:",
        "",
    ] + order + [""]
    with open(os.path.join(dest, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print("[capture] wrote %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
