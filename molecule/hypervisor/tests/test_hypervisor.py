"""The host converged by xenfleet.xen.hypervisor booted Xen as dom0, as configured.

Values come from molecule.yml (group_vars of xen_hosts): dom0 1024 MiB, 2 vCPUs, credit2.
"""

import re

DOM0_MB = 1024
DOM0_VCPUS = 2
SLACK_MB = 16


def _xl_info(host):
    out = host.check_output("xl info")
    info = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return info


def test_booted_under_xen_as_dom0(host):
    assert host.file("/sys/hypervisor/type").content_string.strip() == "xen"
    assert "control_d" in host.file("/proc/xen/capabilities").content_string


def test_xl_info_answers_with_the_configured_command_line(host):
    info = _xl_info(host)
    assert info["xen_major"] == "4"
    opts = info["xen_commandline"].split()
    assert "dom0_mem=%dM,max:%dM" % (DOM0_MB, DOM0_MB) in opts
    assert "dom0_max_vcpus=%d" % DOM0_VCPUS in opts
    assert "sched=credit2" in opts
    assert info["xen_scheduler"] == "credit2"


def test_dom0_memory_and_vcpus(host):
    row = host.check_output("xl list Domain-0").splitlines()[-1]
    name, domid, mem, vcpus, _state, _time = row.rsplit(None, 5)
    assert (name, domid) == ("Domain-0", "0")
    assert abs(int(mem) - DOM0_MB) <= SLACK_MB
    assert int(vcpus) == DOM0_VCPUS
    assert int(host.check_output("nproc")) == DOM0_VCPUS


def test_dom0_kernel_command_line(host):
    cmdline = host.file("/proc/cmdline").content_string.split()
    assert "console=hvc0" in cmdline


def test_services_active_and_enabled(host):
    for name in ("xen", "xendomains"):
        svc = host.service(name)
        assert svc.is_running, name
        assert svc.is_enabled, name


def test_bridge_up_with_the_uplink_address(host):
    link = host.check_output("ip -o link show dev xenbr0")
    assert "state UP" in link or ",UP" in link
    addr = host.check_output("ip -4 -o addr show dev xenbr0")
    assert " inet 10.0.2.15/" in addr
    ports = host.check_output("ls /sys/class/net/xenbr0/brif").split()
    assert len(ports) == 1
    uplink = ports[0]
    assert host.run("ip -4 -o addr show dev %s" % uplink).stdout.strip() == ""


def test_grub_default_entry_is_xen(host):
    cfg = host.file("/boot/grub/grub.cfg").content_string
    # grub.cfg's header sets default="${next_entry}" for a one-shot grub-reboot, and the
    # configured GRUB_DEFAULT otherwise: the latter is the entry the host boots
    defaults = [d for d in re.findall(r'^\s*set default="([^"]*)"', cfg, re.M) if not d.startswith("${")]
    assert len(defaults) == 1, defaults
    default = defaults[0]
    titles = re.findall(r"^\s*menuentry '([^']*)'", cfg, re.M)
    # GRUB_DEFAULT is a title (set by Debian's xen.cfg) or an index: either way it is a Xen entry
    title = titles[int(default)] if default.isdigit() else default
    assert title in titles
    assert "Xen" in title
    entry = cfg[cfg.index("menuentry '%s'" % title):]
    entry = entry[:entry.index("\n}")]
    assert "dom0_mem=%dM,max:%dM" % (DOM0_MB, DOM0_MB) in entry


def test_xl_conf_and_xendomains(host):
    xl = host.file("/etc/xen/xl.conf").content_string
    assert re.search(r'^autoballoon="off"$', xl, re.M)  # fixed dom0_mem: no ballooning
    assert re.search(r'^vif.default.bridge="xenbr0"$', xl, re.M)
    xd = host.file("/etc/default/xendomains").content_string
    assert re.search(r"^XENDOMAINS_SAVE=$", xd, re.M)  # shut guests down, do not save them
    assert re.search(r"^XENDOMAINS_AUTO=/etc/xen/auto$", xd, re.M)
    assert host.file("/etc/xen/auto").is_directory


def test_xen_cfg_settings_replace_the_commented_lines(host):
    lines = host.file("/etc/default/grub.d/xen.cfg").content_string.splitlines()
    i_if = next(i for i, line in enumerate(lines) if line.startswith("if ["))
    i_cmd = next(i for i, line in enumerate(lines) if line.startswith("GRUB_CMDLINE_XEN_DEFAULT="))
    assert i_cmd < i_if
    assert not any(line.startswith("#GRUB_CMDLINE_XEN_DEFAULT=") for line in lines)


def test_packages_came_from_the_configured_mirror(host):
    src = host.file("/etc/apt/sources.list.d/xenfleet-xen.list").content_string
    assert "http://10.0.2.100/debian" in src
    assert host.package("xen-system-amd64").is_installed
    assert host.package("qemu-system-xen").is_installed
