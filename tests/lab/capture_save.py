#!/usr/bin/env python
"""Capture real `xl save` / `xl restore` output and a save image's header, into tests/unit/fixtures/.

    tests/lab/capture_save.py --name LAB [--label lab-save] [--force]

LAB is a running lab (`xenlab up --name LAB --hosts 1`). A PV payload guest sv1 (128 MiB) and a PVH one
svh1 are saved and restored the way xen_domain does it (`xl save NAME <save_dir>/.NAME.saving`, renamed
to `<save_dir>/NAME`, `xl restore <save_dir>/NAME`), and then in the ways it must survive: a paused guest,
a save directory too small for the image (a 16 MiB tmpfs), a missing directory, a restore while a domain of
that name runs, a restore of a truncated image. The first bytes of the image (its xl header and the domain
configuration in it, as many as the header says) are kept as a binary file, `sv1.save.head`. The guest's
console reports (uptime, boot id) before and after are kept too: a restored guest must continue, not boot.
Output is kept as it came (NAME.cmd, NAME.stdout, NAME.stderr, NAME.rc); a failure is data, never retried.
An existing directory is never overwritten without --force.
"""

import base64
import os
import shlex
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capture_fixtures  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
G = "/var/lib/xenlab/guest"
HOST = "xen1"
SAVE = "/var/lib/xen/save"
TINY = "/mnt/xenfleet-tiny"


def cfg(name, dtype):
    return ('name = "%s"\ntype = "%s"\nkernel = "%s/vmlinuz"\nramdisk = "%s/initrd.img"\n'
            'extra = "console=hvc0 quiet xenlab.name=%s"\nmemory = 128\nvcpus = 1\n' % (name, dtype, G, G, name))


def main(argv=None):
    args, state, fields, version, dest, started = capture_fixtures.begin(__doc__, "lab-save", HOST, argv)
    order = []

    def must(cmd, timeout=300):
        return capture_fixtures.must(state, HOST, cmd, timeout=timeout)

    def rec(name, cmd, timeout=300):
        t0 = time.time()
        rc, out, err = capture_fixtures.remote(state, HOST, cmd, timeout=timeout)
        took = time.time() - t0
        capture_fixtures.write_capture(dest, name, cmd, rc, out, err)
        order.append("- `%s`, rc %d, %.1f s: `%s`" % (name, rc, took, cmd))
        print("[capture] %-32s rc=%d %5.1f s  %s" % (name, rc, took, cmd), flush=True)
        return rc, out

    def reports(guest):
        return "grep XENLAB-REPORT /var/log/xen/console/guest-%s.log | tail -n 2" % guest

    # setup, not recorded: the guests booted to their first report, an empty save directory
    must("mkdir -p -m 0700 %s && rm -f %s/.sv* %s/sv*" % (SAVE, SAVE, SAVE))
    for name, dtype in (("sv1", "pv"), ("svh1", "pvh")):
        must("printf '%%s' %s > /etc/xen/%s.cfg && (xl destroy %s >/dev/null 2>&1; xl create /etc/xen/%s.cfg)"
             % (shlex.quote(cfg(name, dtype)), name, name, name))
    for name in ("sv1", "svh1"):
        if capture_fixtures.wait_boot(state, HOST, name, timeout=240) is None:
            raise RuntimeError("%s did not report within 240 s" % name)
    time.sleep(5)
    image = "%s/sv1" % SAVE
    tmp = "%s/.sv1.saving" % SAVE

    # PV: save, the image, restore; the guest's reports before and after
    rec("xl_list_running", "xl list")
    rec("xl_list_l_running", "xl list -l")
    rec("xl_list_sv1_running", "xl list sv1")
    rec("console_sv1_before_save", reports("sv1"))
    rec("xl_save_sv1", "xl save sv1 %s" % tmp)
    rec("xl_list_after_save", "xl list")
    rec("xl_list_l_after_save", "xl list -l")
    rec("xl_list_sv1_after_save", "xl list sv1")
    rec("stat_sv1_image", "stat -c %%s %s" % tmp)
    words = must("head -c 48 %s | od -An -tu4 -j32 -w16" % tmp).split()
    optlen = int(words[3])
    head_cmd = "head -c %d %s | base64 -w0" % (48 + optlen, tmp)
    head = base64.b64decode(must(head_cmd))
    assert len(head) == 48 + optlen and struct.unpack("<I", head[32:36])[0] == 0x01020304
    with open(os.path.join(dest, "sv1.save.head"), "wb") as f:
        f.write(head)
    order.append("- `sv1.save.head`: the first %d bytes of the image (48 bytes of header, %d of optional data), "
                 "binary: `head -c %d %s`" % (len(head), optlen, len(head), tmp))
    must("mv %s %s && cp %s %s/sv1.copy" % (tmp, image, image, SAVE))
    time.sleep(20)
    rec("xl_restore_sv1", "xl restore %s" % image)
    rec("xl_list_after_restore", "xl list")
    rec("xl_list_l_after_restore", "xl list -l")
    rec("xl_list_sv1_after_restore", "xl list sv1")
    time.sleep(35)
    rec("console_sv1_after_restore", reports("sv1"))
    # a restore while a domain of that name runs (the copy of the image)
    rec("xl_restore_same_name", "xl restore %s/sv1.copy" % SAVE)
    rec("xl_list_after_restore_same_name", "xl list")
    # a paused guest
    must("xl pause sv1")
    rec("xl_list_sv1_paused", "xl list sv1")
    rec("xl_save_paused", "xl save sv1 %s" % tmp, timeout=200)
    rec("xl_list_after_save_paused", "xl list")
    if must("test -f %s && echo yes || echo no" % tmp).strip() == "yes" and \
            "sv1" not in must("xl list | awk 'NR>1 {print $1}'").split():
        must("mv %s %s" % (tmp, image))
        rec("xl_restore_paused", "xl restore -p %s" % image)
        rec("xl_list_after_restore_paused", "xl list")
        rec("xl_list_sv1_after_restore_paused", "xl list sv1")
    else:
        must("rm -f %s; xl unpause sv1 || true" % tmp)
    must("xl list sv1 >/dev/null 2>&1 && (xl list sv1 | awk 'NR==2 {print $5}' | grep -q p && xl unpause sv1); true")
    # a save directory too small, a missing one
    must("mkdir -p %s && (mountpoint -q %s || mount -t tmpfs -o size=16m tmpfs %s)" % (TINY, TINY, TINY))
    rec("xl_save_no_space", "xl save sv1 %s/.sv1.saving" % TINY, timeout=200)
    rec("xl_list_after_save_no_space", "xl list")
    rec("ls_tiny_after_save_no_space", "ls -l %s" % TINY)
    rec("xl_save_missing_dir", "xl save sv1 /nonexistent/dir/.sv1.saving")
    rec("xl_list_after_save_missing_dir", "xl list")
    must("rm -f %s/.sv1.saving; umount %s; rmdir %s" % (TINY, TINY, TINY))
    # a truncated image: 4 MiB of it
    must("xl save sv1 %s && head -c 4194304 %s > %s/trunc" % (tmp, tmp, SAVE))
    rec("xl_restore_truncated", "xl restore %s/trunc" % SAVE)
    rec("xl_list_after_restore_truncated", "xl list")
    must("xl destroy sv1 >/dev/null 2>&1; true")
    must("xl restore %s && rm -f %s" % (tmp, tmp))
    # PVH
    rec("console_svh1_before_save", reports("svh1"))
    rec("xl_save_svh1", "xl save svh1 %s/.svh1.saving" % SAVE)
    rec("stat_svh1_image", "stat -c %%s %s/.svh1.saving" % SAVE)
    must("mv %s/.svh1.saving %s/svh1" % (SAVE, SAVE))
    time.sleep(20)
    rec("xl_restore_svh1", "xl restore %s/svh1" % SAVE)
    rec("xl_list_after_restore_svh1", "xl list")
    time.sleep(35)
    rec("console_svh1_after_restore", reports("svh1"))
    must("xl destroy sv1; xl destroy svh1; rm -f /etc/xen/sv1.cfg /etc/xen/svh1.cfg %s/sv1* %s/svh1 %s/trunc"
         % (SAVE, SAVE, SAVE))
    lines = [
        "# xl save / xl restore on nested Xen %s, captured by tests/lab/capture_save.py" % version,
        "",
        "Captured %s on lab `%s` (QEMU TCG `-cpu %s -smp %s -m %s`, dom0_mem=%sM, Debian 12's Xen %s)."
        % (started, args.name, state["cpu"], state["smp"], state["mem"], state["dom0_mem"], fields.get("xen_version")),
        "Guests: sv1 (PV) and svh1 (PVH), 128 MiB, 1 vCPU, dom0's kernel and the lab's busybox initramfs, whose",
        "reporter prints `XENLAB-REPORT ... uptime=S boot=<boot id>` to the console every 30 s (and on changes).",
        "Setup commands (guest creation, moving the image into place, mounting a 16 MiB tmpfs) are not recorded.",
        "Each recorded command ran once; output as it came:",
        "",
    ] + order + [""]
    with open(os.path.join(dest, "README.md"), "w") as f:
        f.write("\n".join(lines))
    print("[capture] wrote %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
