"""Testinfra checks of a nested Xen lab host (run by Molecule's testinfra verifier)."""

DOM0_MEM_MB = 1024


def _xl_info(host):
    out = host.check_output("xl info")
    info = {}
    for line in out.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def test_xl_info_works(host):
    info = _xl_info(host)
    assert info["xen_major"] == "4"
    assert "pv" in info["virt_caps"].split()
    assert "hvm" in info["virt_caps"].split()


def test_xenstored_runs(host):
    procs = host.process.filter(comm="oxenstored") + host.process.filter(comm="xenstored")
    assert procs, "no xenstored process"
    assert host.file("/run/xenstore.pid").exists


def test_xen_service_active(host):
    assert host.service("xen").is_running


def test_dom0_memory_as_configured(host):
    rows = host.check_output("xl list Domain-0").splitlines()
    assert rows[0].split()[:3] == ["Name", "ID", "Mem"]
    name, domid, mem = rows[1].split()[:3]
    assert (name, domid) == ("Domain-0", "0")
    assert int(mem) == DOM0_MEM_MB
    assert "dom0_mem=%dM" % DOM0_MEM_MB in host.check_output("xl info | grep xen_commandline")


def test_guest_payload_present(host):
    for name in ("vmlinuz", "initrd.img", "pv.cfg", "pvh.cfg", "hvm.cfg"):
        assert host.file("/var/lib/xenlab/guest/" + name).is_file


def test_guest_console_logging_configured(host):
    assert host.file("/var/log/xen/console").is_directory
    assert "--log=guest" in host.file("/etc/default/xen").content_string
