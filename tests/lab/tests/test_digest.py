import os

from xenlab import digest

# Excerpt of a real serial log kept by the lab (CI, 2026-12-02, scenario guests, host xen1): a guest's
# triple fault with Xen's register dump, the next HVM domain's save records, and the power-off at `down`.
SERIAL = """\
[  307.054930] memmap_init_zone_device initialised 32768 pages in 0ms\r
(XEN) HVM d14v0 save: CPU\r
(XEN) HVM14 restore: CPU 0\r
(XEN) d14v0: upcall vector f3\r
(XEN) d15v0 Triple fault - invoking HVM shutdown action 1\r
(XEN) *** Dumping Dom15 vcpu#0 state: ***\r
(XEN) ----[ Xen-4.17.5  x86_64  debug=n  Not tainted ]----\r
(XEN) CPU:    0\r
(XEN) RIP:    e008:[<ffff82d040204505>]\r
(XEN) RFLAGS: 0000000000000246   CONTEXT: hvm guest (d15v0)\r
(XEN) rax: 000000013815e000   rbx: 000000000000000a   rcx: 0000000000000010\r
(XEN) r15: 0000000000000000   cr0: 0000000000000011   cr4: 0000000000000000\r
(XEN) cr3: 0000000138174000   cr2: 0000000000000000\r
(XEN) ds: 0000   es: 0000   fs: 0010   gs: 0010   ss: 0000   cs: e008\r
(XEN) HVM d16v0 save: CPU\r
(XEN) HVM d16 save: PIC\r
(XEN) HVM16 restore: CPU 0\r
(XEN) d16v0: upcall vector f3\r
[ 1831.443554] reboot: Power down\r
(XEN) Preparing system for ACPI S5 state.\r
(XEN) Disabling non-boot CPUs ...\r
(XEN) Broke affinity for IRQ6, new: 3\r
(XEN) Entering ACPI S5 state.\r
"""


def test_serial_digest_counts_triple_faults_and_keeps_xens_own_lines():
    out = digest.serial_digest(SERIAL, tail=3)
    assert out[0].startswith("1 guest triple fault(s) under TCG (d15v0)")
    assert out[1:] == [
        "(XEN) d14v0: upcall vector f3",
        "(XEN) d15v0 Triple fault - invoking HVM shutdown action 1",
        "(XEN) d16v0: upcall vector f3",
    ]


def test_serial_digest_of_a_quiet_log_has_no_fault_line():
    assert digest.serial_digest("(XEN) HVM d2v0 save: CPU\n(XEN) Entering ACPI S5 state.\n") == []


def test_digest_reads_only_the_named_labs_logs_written_since(tmp_path):
    for lab_name, mtime in (("molecule-guests-aaaa", 2000), ("molecule-guests-bbbb", 1000),
                            ("molecule-vcpu-cccc", 2000)):
        d = tmp_path / lab_name
        d.mkdir()
        p = d / "xen1-serial.log"
        p.write_text(SERIAL)
        os.utime(str(p), (mtime, mtime))
        (d / "state.json").write_text("{}")
    out = digest.digest("molecule-guests-", 1500, root=str(tmp_path), tail=1)
    assert out[0].startswith("molecule-guests-aaaa xen1 (")
    assert out[1:] == ["  1 guest triple fault(s) under TCG (d15v0); docs/lab.md, \"Guest triple faults under TCG\"",
                       "  (XEN) d16v0: upcall vector f3"]
    assert digest.digest("molecule-none-", 0, root=str(tmp_path)) == []
    assert digest.digest("x", 0, root=str(tmp_path / "missing")) == []
