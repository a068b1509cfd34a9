#!/usr/bin/env python
"""Capture what xen_backup runs on a real dom0 (qemu-img and LVM), into tests/unit/fixtures/.

    tests/lab/capture_backup.py --name LAB [--label lab-backup] [--force]

LAB is a running lab whose host has qemu-img and LVM (the hypervisor role's `tools`, e.g. after scenario
`provision`'s or `snapshot`'s prepare, or the lab's --apt-repo host with them installed). The setup, not
recorded, makes a volume group vgbak on a loop file with a thin pool, and four source disks of 64 MiB with a
few MiB of data each: a raw file, a qcow2 file, a thick LV and a thin LV (xen_backup reads the guest's disks
from its config file; no guest runs). Then every command of an export and of an import runs once, in the
module's order, and is recorded: the reads (`vgs`, `lvs`), `qemu-img convert -c` of each disk into a qcow2
(and once without -c), `qemu-img info` of each export, the import's conversions into a raw and a qcow2 file and
into a thick and a thin LV created under temporary names, the renames, and the failures an import meets (a
file system without room, the removal of a half-imported LV). Output is kept as it came (NAME.cmd, .stdout,
.stderr, .rc); a failure is data, never retried. An existing directory is never overwritten without --force.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capture_fixtures  # noqa: E402

HOST = "xen1"
VG = "vgbak"
VG_FILE = "/var/lib/xen/capbak-vg.img"
DIR = "/var/lib/xen/capbak"
SRC = DIR + "/src"
OUT = DIR + "/out"
IN = DIR + "/in"
SMALL = DIR + "/small"
MIB64 = 67108864
VGS = "vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size"
LVS = ("lvs --reportformat json --units b --nosuffix -o "
       "lv_name,lv_path,lv_dm_path,lv_size,lv_attr,segtype,pool_lv,origin,data_percent " + VG)
INFO = "qemu-img info -U --output=json "


def main(argv=None):
    args, state, fields, version, dest, started = capture_fixtures.begin(__doc__, "lab-backup", HOST, argv)
    r = capture_fixtures.Recorder(state, HOST, dest)

    # setup, not recorded: the volume group with its pool, four source disks with data, empty directories, and a
    # 1 MiB file system for the failure
    r.must("set -e; umount %s 2>/dev/null || true; vgremove -f %s >/dev/null 2>&1 || true; "
           "for d in $(losetup -j %s -O NAME --noheadings); do losetup -d $d; done; rm -rf %s %s; "
           "truncate -s 512M %s; dev=$(losetup --find --show %s); vgcreate %s $dev; "
           "lvcreate --yes -L 192M -T %s/pool; lvcreate --yes -n src-thick -L 64M %s; "
           "lvcreate --yes -n src-thin -V 64M --thinpool pool %s; mkdir -p %s %s %s %s; "
           "truncate -s 64M %s/src-raw.img; qemu-img create -q -f qcow2 %s/src.qcow2 64M; "
           "for t in %s/src-raw.img /dev/%s/src-thick /dev/%s/src-thin; do "
           "dd if=/dev/urandom of=$t bs=1M count=4 seek=8 conv=notrunc status=none; done; "
           "mount -t tmpfs -o size=1M tmpfs %s"
           % (SMALL, VG, VG_FILE, DIR, VG_FILE, VG_FILE, VG_FILE, VG, VG, VG, VG, SRC, OUT, IN, SMALL,
              SRC, SRC, SRC, VG, VG, SMALL))

    # the export: the reads, each disk into a (compressed) qcow2, what qemu-img says of each
    r.rec("vgs", VGS)
    r.rec("lvs", LVS)
    r.rec("export_raw", "qemu-img convert -c -f raw -O qcow2 %s/src-raw.img %s/disk-xvdb.qcow2" % (SRC, OUT))
    r.rec("info_export_raw", INFO + OUT + "/disk-xvdb.qcow2")
    r.rec("export_qcow2", "qemu-img convert -c -f qcow2 -O qcow2 %s/src.qcow2 %s/disk-xvdc.qcow2" % (SRC, OUT))
    r.rec("info_export_qcow2", INFO + OUT + "/disk-xvdc.qcow2")
    r.rec("export_thick", "qemu-img convert -c -f raw -O qcow2 /dev/%s/src-thick %s/disk-xvdd.qcow2" % (VG, OUT))
    r.rec("info_export_thick", INFO + OUT + "/disk-xvdd.qcow2")
    r.rec("export_thin", "qemu-img convert -c -f raw -O qcow2 /dev/%s/src-thin %s/disk-xvde.qcow2" % (VG, OUT))
    r.rec("info_export_thin", INFO + OUT + "/disk-xvde.qcow2")
    r.rec("export_raw_uncompressed", "qemu-img convert -f raw -O qcow2 %s/src-raw.img %s/plain-xvdb.qcow2"
          % (SRC, OUT))
    r.rec("info_export_raw_uncompressed", INFO + OUT + "/plain-xvdb.qcow2")
    r.rec("sizes", "stat -c '%%n %%s %%b' %s/*.qcow2" % OUT)

    # the import: files under their temporary names, LVs created under theirs, then the renames
    r.rec("import_file_raw", "qemu-img convert -f qcow2 -O raw %s/disk-xvdb.qcow2 %s/.b-raw.img.xenfleet-tmp"
          % (OUT, IN))
    r.rec("import_file_qcow2", "qemu-img convert -f qcow2 -O qcow2 %s/disk-xvdc.qcow2 %s/.b.qcow2.xenfleet-tmp"
          % (OUT, IN))
    r.rec("lvcreate_thick_tmp", "lvcreate --yes -n b-thick.xenfleet-tmp -L %db %s" % (MIB64, VG))
    r.rec("import_lv_thick", "qemu-img convert -n -f qcow2 -O raw %s/disk-xvdd.qcow2 /dev/%s/b-thick.xenfleet-tmp"
          % (OUT, VG))
    r.rec("lvcreate_thin_tmp", "lvcreate --yes -n b-thin.xenfleet-tmp -V %db --thinpool pool %s" % (MIB64, VG))
    r.rec("import_lv_thin", "qemu-img convert -n --target-is-zero -f qcow2 -O raw %s/disk-xvde.qcow2 "
          "/dev/%s/b-thin.xenfleet-tmp" % (OUT, VG))
    r.rec("lvrename_thick", "lvrename %s b-thick.xenfleet-tmp b-thick" % VG)
    r.rec("lvrename_thin", "lvrename %s b-thin.xenfleet-tmp b-thin" % VG)
    r.rec("lvs_after_import", LVS)
    r.rec("cmp_imported", "cmp %s/src-raw.img %s/.b-raw.img.xenfleet-tmp && cmp /dev/%s/src-thick /dev/%s/b-thick "
          "&& cmp /dev/%s/src-thin /dev/%s/b-thin && echo same" % (SRC, IN, VG, VG, VG, VG))
    # failures: no room for a file, an LV made and then removed again (the undo)
    r.rec("err_import_no_space", "qemu-img convert -f qcow2 -O raw %s/disk-xvdb.qcow2 %s/.c-raw.img.xenfleet-tmp"
          % (OUT, SMALL))
    r.rec("lvcreate_undo_tmp", "lvcreate --yes -n c-thick.xenfleet-tmp -L %db %s" % (MIB64, VG))
    r.rec("lvremove_undo_tmp", "lvremove --yes %s/c-thick.xenfleet-tmp" % VG)
    r.rec("lvcreate_too_big", "lvcreate --yes -n d-thick.xenfleet-tmp -L 1073741824b %s" % VG)

    r.must("umount %s; vgremove -f %s >/dev/null; for d in $(losetup -j %s -O NAME --noheadings); do losetup -d $d; "
           "done; rm -rf %s %s" % (SMALL, VG, VG_FILE, DIR, VG_FILE))
    r.readme("xen_backup's commands on nested Xen %s, captured by tests/lab/capture_backup.py" % version, [
        "Captured %s on lab `%s` (QEMU TCG `-cpu %s -smp %s -m %s`, dom0_mem=%sM, Debian 12's Xen %s, "
        "qemu-img and LVM of Debian 12)." % (started, args.name, state["cpu"], state["smp"], state["mem"],
                                             state["dom0_mem"], fields.get("xen_version")),
        "Sources: %s/src-raw.img (raw), %s/src.qcow2 (qcow2, empty), /dev/%s/src-thick (thick LV) and /dev/%s/src-thin"
        % (SRC, SRC, VG, VG),
        "(thin LV in pool %s/pool), 64 MiB each, 4 MiB of random data at 8 MiB in the raw file and the LVs; the" % VG,
        "export to %s, the import to %s and to LVs b-thick/b-thin; %s is a 1 MiB tmpfs." % (OUT, IN, SMALL),
        "Setup and cleanup commands are not recorded.",
        "Each recorded command ran once; output as it came:",
    ])
    print("[capture] wrote %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
