#!/usr/bin/env python
"""Stress nested HVM-container guests in a running 1-host lab and count triple faults.

Usage (lab already up, e.g. `PYTHONPATH=tests/lab python3 -m xenlab up --name tf1 --hosts 1`):

    PYTHONPATH=tests/lab python3 tests/lab/stress_triple_fault.py --name tf1 [-n 20]
        [--type pvh|hvm] [--budget SECONDS] [--cfg-extra 'hap=0'] [--label TEXT] [--json FILE]

Each iteration, in dom0 of xen1: write a guest config (type pvh or hvm, memory 128, vcpus 1,
maxvcpus 2 (--maxvcpus; memory 256 for hvm), the lab's payload kernel/initrd, on_reboot/on_crash = "destroy" so a triple fault
shows as the guest disappearing), `xl create`, wait for XENLAB-REPORT in its console log
(180 s), `xl vcpu-set NAME 2`, wait for XENLAB-HOTPLUG (120 s), `xl destroy`. Between
iterations the host's serial log (written by QEMU on this machine) is read from the offset
it had at the start of the iteration; its "Triple fault" lines are attributed to the phase in
which the guest disappeared. Results: ok / boot_fault / hotplug_fault / boot_timeout /
hotplug_timeout / create_failed / other (per iteration, plus the serial-log lines).

--type hvm (with --maxvcpus 1: the vcpu-set step then fails at once, "vcpuset_failed" means the
guest booted) boots an HVM guest per iteration in 70-110 s on an otherwise idle machine.
--companion-pvh keeps a PVH guest running beside: the two-guest triple fault of docs/lab.md
(2026-12-02) was measured with `--type hvm --maxvcpus 1 -n 6 --boot-timeout 400` and the same PVH guest
started by hand; the option does that in one command.
--dom0-load N keeps N busy loops running in dom0. Xen boot arguments for an experiment:
XENLAB_XEN_EXTRA_ARGS="..." on `xenlab up`, accelerator options XENLAB_TCG_OPTIONS="thread=single"
(tests/lab/xenlab/qemu.py).
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xenlab import lab  # noqa: E402

PAYLOAD = "/var/lib/xenlab/guest"
CONSOLE_DIR = "/var/log/xen/console"

# One iteration, run by bash in dom0. Prints "PHASE ..." progress lines and one "RESULT ..." line.
ITERATION = r"""
set -u
name=%(name)s; type=%(type)s; boot_to=%(boot_to)d; hot_to=%(hot_to)d
log=%(console_dir)s/guest-$name.log
cfg=/tmp/$name.cfg
rm -f "$log"
if [ "$type" = hvm ]; then
cat > "$cfg" <<EOF
name = "$name"
type = "hvm"
kernel = "%(payload)s/vmlinuz"
ramdisk = "%(payload)s/initrd.img"
cmdline = "console=ttyS0 %(kernel_args)s xenlab.name=$name"
serial = "file:$log"
vnc = 0
sdl = 0
EOF
else
cat > "$cfg" <<EOF
name = "$name"
type = "pvh"
kernel = "%(payload)s/vmlinuz"
ramdisk = "%(payload)s/initrd.img"
extra = "console=hvc0 %(kernel_args)s xenlab.name=$name"
EOF
fi
cat >> "$cfg" <<EOF
memory = %(memory)d
vcpus = 1
maxvcpus = %(maxvcpus)d
on_reboot = "destroy"
on_crash = "destroy"
on_poweroff = "destroy"
%(cfg_extra)s
EOF
t0=$(date +%%s.%%N)
el() { awk -v a="$(date +%%s.%%N)" -v b="$t0" 'BEGIN{printf "%%.1f", a-b}'; }
if ! xl create "$cfg" >/tmp/$name.create 2>&1; then
    echo "RESULT status=create_failed t=$(el)"; tail -5 /tmp/$name.create | sed 's/^/CREATE: /'
    xl destroy "$name" >/dev/null 2>&1; exit 0
fi
domid=$(xl domid "$name" 2>/dev/null || echo '?')
echo "PHASE created domid=$domid t=$(el)"
# wait: $1 = pattern, $2 = timeout; 0 seen, 1 guest gone, 2 timeout
wait_for() {
    local end=$(( $(date +%%s) + $2 ))
    while :; do
        grep -q "$1" "$log" 2>/dev/null && return 0
        xl domid "$name" >/dev/null 2>&1 || { grep -q "$1" "$log" 2>/dev/null && return 0; return 1; }
        [ "$(date +%%s)" -ge "$end" ] && return 2
        sleep 1
    done
}
wait_for XENLAB-REPORT "$boot_to"; rc=$?
tb=$(el)
if [ $rc -ne 0 ]; then
    [ $rc -eq 1 ] && st=boot_fault || st=boot_timeout
    echo "RESULT status=$st domid=$domid t_boot=$tb t=$(el)"
    tail -3 "$log" 2>/dev/null | sed 's/^/CONSOLE: /'
    xl destroy "$name" >/dev/null 2>&1; exit 0
fi
echo "PHASE booted t=$tb"
if ! xl vcpu-set "$name" 2 >/tmp/$name.vcpuset 2>&1; then
    echo "RESULT status=vcpuset_failed domid=$domid t_boot=$tb t=$(el)"
    tail -3 /tmp/$name.vcpuset | sed 's/^/VCPUSET: /'
    xl destroy "$name" >/dev/null 2>&1; exit 0
fi
wait_for XENLAB-HOTPLUG "$hot_to"; rc=$?
th=$(el)
if [ $rc -eq 0 ]; then st=ok; elif [ $rc -eq 1 ]; then st=hotplug_fault; else st=hotplug_timeout; fi
[ $rc -eq 0 ] && sleep %(settle)d && ! xl domid "$name" >/dev/null 2>&1 && st=hotplug_fault
echo "RESULT status=$st domid=$domid t_boot=$tb t_hotplug=$th t=$(el)"
[ $st = ok ] || tail -3 "$log" 2>/dev/null | sed 's/^/CONSOLE: /'
xl destroy "$name" >/dev/null 2>&1
rm -f "$cfg" /tmp/$name.create /tmp/$name.vcpuset
exit 0
"""


# The PVH guest kept running beside the tested ones with --companion-pvh (on_crash/on_reboot: restart).
COMPANION = r"""cat > /tmp/companion1.cfg <<EOF
name = "companion1"
type = "pvh"
memory = 128
vcpus = 1
maxvcpus = 2
kernel = "%(payload)s/vmlinuz"
ramdisk = "%(payload)s/initrd.img"
extra = "console=hvc0 quiet xenlab.name=companion1"
EOF
xl create /tmp/companion1.cfg"""


def serial_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def serial_since(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def run_iteration(state, host, name, args):
    script = ITERATION % {
        "name": name, "type": args.type, "boot_to": args.boot_timeout, "hot_to": args.hotplug_timeout,
        "console_dir": CONSOLE_DIR, "payload": PAYLOAD, "cfg_extra": "\n".join(args.cfg_extra),
        "settle": args.settle, "memory": args.memory or (256 if args.type == "hvm" else 128),
        "maxvcpus": args.maxvcpus, "kernel_args": args.kernel_args}
    argv = lab.ssh_argv(state, host, ["bash", "-s"])
    try:
        p = subprocess.run(argv, input=script, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False,
                           universal_newlines=True,
                           timeout=args.boot_timeout + args.hotplug_timeout + 240)
        return p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        return out + "\nRESULT status=ssh_timeout\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="lab name (1-host lab, already up)")
    ap.add_argument("--host", default="xen1")
    ap.add_argument("-n", "--iterations", type=int, default=20)
    ap.add_argument("--budget", type=float, default=720,
                    help="start no new iteration after this many seconds (default 720)")
    ap.add_argument("--type", choices=["pvh", "hvm"], default="pvh")
    ap.add_argument("--memory", type=int, help="MiB (default 128 for pvh, 256 for hvm as in molecule/guests)")
    ap.add_argument("--cfg-extra", action="append", default=[],
                    help="extra xl.cfg line, e.g. 'hap=0' (repeatable)")
    ap.add_argument("--maxvcpus", type=int, default=2,
                    help="maxvcpus of the guest (1: no hot-add possible; the hot-add phase then fails)")
    ap.add_argument("--kernel-args", default="quiet",
                    help="guest kernel arguments besides console= and xenlab.name= (default: quiet)")
    ap.add_argument("--boot-timeout", type=int, default=180)
    ap.add_argument("--hotplug-timeout", type=int, default=120)
    ap.add_argument("--settle", type=int, default=3,
                    help="seconds the guest must survive after XENLAB-HOTPLUG (default 3)")
    ap.add_argument("--dom0-load", type=int, default=0,
                    help="run this many busy loops in dom0 during the run (both pCPUs busy, as when "
                         "other guests and device models run beside the tested one)")
    ap.add_argument("--companion-pvh", action="store_true",
                    help="keep a PVH guest (companion1, restarted by Xen when it crashes) running beside the "
                         "tested ones: the two-guest case that triple-faulted (docs/lab.md, 2026-12-02)")
    ap.add_argument("--prefix", default="stress")
    ap.add_argument("--label", default="", help="variant label for the summary")
    ap.add_argument("--json", help="write per-iteration results to this file")
    args = ap.parse_args()

    state = lab.load_state(args.name)
    if not state:
        sys.exit("no lab %r" % args.name)
    h = [x for x in state["hosts"] if x["name"] == args.host][0]
    serial = h["serial"]
    info = {"label": args.label, "type": args.type, "cfg_extra": args.cfg_extra, "dom0_load": args.dom0_load,
            "cpu": h.get("cpu"), "qemu_argv_file": h.get("argv_file"), "results": []}
    print("lab %s host %s cpu=%s serial=%s label=%r type=%s cfg_extra=%s" % (
        args.name, args.host, h.get("cpu"), serial, args.label, args.type, args.cfg_extra), flush=True)

    if args.dom0_load:
        start = ("for i in $(seq %d); do setsid nohup sh -c 'while :; do :; done' >/dev/null 2>&1 "
                 "</dev/null & echo $! >> /run/stress-load.pids; done" % args.dom0_load)
        lab.run_ssh(state, args.host, [start])
    if args.companion_pvh:
        lab.run_ssh(state, args.host, [COMPANION % {"payload": PAYLOAD}])
    t_start = time.time()
    try:
        loop(state, args, serial, info, t_start)
    finally:
        if args.companion_pvh:
            lab.run_ssh(state, args.host, ["xl destroy companion1 || true"])
        if args.dom0_load:
            lab.run_ssh(state, args.host, ["kill $(cat /run/stress-load.pids); rm -f /run/stress-load.pids"])
    summarize(args, info, t_start)
    return 0


def loop(state, args, serial, info, t_start):
    for i in range(1, args.iterations + 1):
        if time.time() - t_start > args.budget:
            print("budget of %.0f s used up after %d iterations" % (args.budget, i - 1))
            break
        name = "%s%d" % (args.prefix, i)
        off = serial_size(serial)
        t0 = time.time()
        out = run_iteration(state, args.host, name, args)
        wall = time.time() - t0
        time.sleep(1)  # let QEMU flush the last serial lines
        new = serial_since(serial, off)
        tf = [ln.strip() for ln in new.splitlines() if "Triple fault" in ln]
        m = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        res = dict(kv.split("=", 1) for kv in m[-1].split()[1:]) if m else {"status": "no_result"}
        status = res.get("status", "no_result")
        if tf and status == "ok":
            status = "ok_but_triple_fault_logged"
        rec = {"i": i, "name": name, "status": status, "wall": round(wall, 1), "triple_fault_lines": tf,
               "dom0": res, "extra": [ln for ln in out.splitlines()
                                      if not ln.startswith(("RESULT ", "PHASE "))][-8:]}
        if tf or status != "ok":
            # the register dump that follows a triple fault, for the record
            idx = new.find("Triple fault")
            rec["serial_excerpt"] = new[max(0, idx - 200): idx + 1600] if idx >= 0 else ""
        info["results"].append(rec)
        print("%3d %-10s %-26s wall %6.1f s  boot %s s  hotplug %s s %s" % (
            i, name, status, wall, res.get("t_boot", "-"), res.get("t_hotplug", "-"),
            " | ".join(tf)), flush=True)
        for ln in rec["extra"]:
            print("      " + ln, flush=True)


def summarize(args, info, t_start):
    rs = info["results"]
    count = {}
    for r in rs:
        count[r["status"]] = count.get(r["status"], 0) + 1
    mean = sum(r["wall"] for r in rs) / len(rs) if rs else 0.0
    boots = [float(r["dom0"]["t_boot"]) for r in rs if r["status"] == "ok"]
    info["summary"] = {"iterations": len(rs), "counts": count, "mean_wall_s": round(mean, 1),
                       "mean_boot_s_ok": round(sum(boots) / len(boots), 1) if boots else None,
                       "total_s": round(time.time() - t_start, 1)}
    print("SUMMARY %s: %s" % (args.label or args.type, json.dumps(info["summary"], sort_keys=True)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(info, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
