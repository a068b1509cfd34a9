#!/usr/bin/env python
"""Capture what xen_snapshot runs on a real dom0 (xl and LVM), into tests/unit/fixtures/.

    tests/lab/capture_snapshot.py --name LAB [--label lab-snapshot] [--force]

LAB is a running lab whose host went through scenario `snapshot`'s prepare (volume group vgsnap with a thin
pool, the guest snap1's four data disks) and has /etc/xen/snap1.cfg (its converge). The guest is started, then
every command xen_snapshot runs is run once, in the module's order, and recorded: the reads (`xl list -l`,
`xl list`, `vgs`, `lvs`), a thick and a thin LVM snapshot, a file copy, pause/unpause, `xl save` and
`xl restore` of the guest, the revert's steps after `xl destroy` (`lvconvert --merge`, a thin snapshot of the
snapshot, renames, removals) and a thick snapshot asked larger than its origin (LVM caps it). A merge while
the origin is open is not run: LVM would delay it to the volume's next activation, and the module waits until
the origin is closed. Output is kept as it came (NAME.cmd, .stdout, .stderr, .rc); a failure is data, never
retried. An existing directory is never overwritten without --force.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import capture_fixtures  # noqa: E402

HOST = "xen1"
VG = "vgsnap"
TMP = "/var/lib/xen/capsnap"
VGS = "vgs --reportformat json --units b --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size"
LVS = ("lvs --reportformat json --units b --nosuffix -o "
       "lv_name,lv_path,lv_dm_path,lv_size,lv_attr,segtype,pool_lv,origin,data_percent " + VG)


def main(argv=None):
    args, state, fields, version, dest, started = capture_fixtures.begin(__doc__, "lab-snapshot", HOST, argv)
    r = capture_fixtures.Recorder(state, HOST, dest)

    # setup, not recorded: snap1 running, no snapshot LVs of an earlier run, an empty work directory
    r.must("xl destroy snap1 >/dev/null 2>&1; for lv in $(lvs --noheadings -o lv_name %s | grep -E '_snap_|xenfleet');"
           " do lvremove --yes %s/$lv; done; rm -rf %s; mkdir -m 0700 %s; xl create /etc/xen/snap1.cfg"
           % (VG, VG, TMP, TMP))
    if capture_fixtures.wait_boot(state, HOST, "snap1", timeout=240) is None:
        raise RuntimeError("snap1 did not report within 240 s")

    # the reads of a run
    r.rec("xl_list_l_running", "xl list -l")
    r.rec("xl_list_running", "xl list")
    r.rec("vgs", VGS)
    r.rec("lvs", LVS)
    # a snapshot without memory: pause, the disks, unpause
    r.rec("xl_pause", "xl pause snap1")
    r.rec("xl_list_snap1_paused", "xl list snap1")
    r.rec("cp_raw", "cp --sparse=always --reflink=auto /var/lib/xen/images/snap1-raw.img %s/disk-xvdb" % TMP)
    r.rec("cp_qcow2", "cp --sparse=always --reflink=auto /var/lib/xen/images/snap1.qcow2 %s/disk-xvdc" % TMP)
    r.rec("lvcreate_thick", "lvcreate --yes -s -n snap1-thick_snap_cap -L 67108864b %s/snap1-thick" % VG)
    r.rec("lvcreate_thin", "lvcreate --yes -s -kn -n snap1-thin_snap_cap %s/snap1-thin" % VG)
    r.rec("xl_unpause", "xl unpause snap1")
    r.rec("xl_list_snap1_unpaused", "xl list snap1")
    r.rec("lvs_with_snapshots", LVS)
    # failures met before anything changes, or after
    r.rec("lvcreate_thick_too_big", "lvcreate --yes -s -n snap1-thick_snap_big -L 8589934592b %s/snap1-thick" % VG)
    # with memory: save, (the disks), restore
    r.rec("xl_save", "xl save snap1 %s/.memory.saving" % TMP)
    r.must("mv %s/.memory.saving %s/memory" % (TMP, TMP))
    r.rec("xl_list_l_saved", "xl list -l")
    r.rec("xl_list_saved", "xl list")
    r.rec("xl_restore", "xl restore %s/memory" % TMP)
    r.rec("xl_list_l_restored", "xl list -l")
    r.rec("xl_list_restored", "xl list")
    # a revert: destroy, the disks put back, the guest back
    r.rec("xl_destroy", "xl destroy snap1")
    r.rec("xl_list_after_destroy", "xl list")
    r.rec("lvs_after_destroy", LVS)
    r.rec("cp_back", "cp --sparse=always --reflink=auto %s/disk-xvdb /var/lib/xen/images/snap1-raw.img.xenfleet-tmp"
          % TMP)
    r.rec("lvcreate_thin_of_snapshot", "lvcreate --yes -s -kn -n snap1-thin.xenfleet-tmp %s/snap1-thin_snap_cap" % VG)
    r.rec("lvrename_old", "lvrename %s snap1-thin snap1-thin.xenfleet-old" % VG)
    r.rec("lvrename_new", "lvrename %s snap1-thin.xenfleet-tmp snap1-thin" % VG)
    r.rec("lvremove_old", "lvremove --yes %s/snap1-thin.xenfleet-old" % VG)
    r.rec("lvconvert_merge", "lvconvert --merge %s/snap1-thick_snap_cap" % VG, timeout=600)
    r.rec("lvcreate_thick_again", "lvcreate --yes -s -n snap1-thick_snap_cap -L 67108864b %s/snap1-thick" % VG)
    r.must("mv /var/lib/xen/images/snap1-raw.img.xenfleet-tmp /var/lib/xen/images/snap1-raw.img")
    r.rec("lvs_after_revert", LVS)
    r.rec("xl_restore_again", "xl restore %s/memory" % TMP)
    r.rec("xl_list_after_revert", "xl list")
    # removal
    r.rec("xl_destroy_end", "xl destroy snap1")
    r.rec("lvremove_thick_snapshot", "lvremove --yes %s/snap1-thick_snap_cap" % VG)
    r.rec("lvremove_thin_snapshot", "lvremove --yes %s/snap1-thin_snap_cap" % VG)
    r.must("rm -rf %s" % TMP)
    r.readme("xen_snapshot's commands on nested Xen %s, captured by tests/lab/capture_snapshot.py" % version, [
        "Captured %s on lab `%s` (QEMU TCG `-cpu %s -smp %s -m %s`, dom0_mem=%sM, Debian 12's Xen %s, "
        "LVM of Debian 12)." % (started, args.name, state["cpu"], state["smp"], state["mem"], state["dom0_mem"], fields.get("xen_version")),
        "Guest snap1: PV, 128 MiB, the lab's payload, with scenario `snapshot`'s four data disks (xvdb raw file, xvdc",
        "qcow2 file, xvdd thick LV vgsnap/snap1-thick, xvde thin LV vgsnap/snap1-thin in pool vgsnap/pool, 64 MiB each).",
        "Setup commands (starting the guest, moving the memory image into place) are not recorded.",
        "Each recorded command ran once; output as it came:",
    ])
    print("[capture] wrote %s" % dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
