from xenlab import qemu

CPUINFO_NO_VIRT = """processor\t: 0
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep hypervisor lahf_lm
"""
CPUINFO_VMX = CPUINFO_NO_VIRT.replace("lahf_lm", "lahf_lm vmx ept")
CPUINFO_SVM = CPUINFO_NO_VIRT.replace("lahf_lm", "lahf_lm svm npt")


def _boot_ok():
    return True, "marker seen"


def _boot_fails():
    return False, "qemu exited -6: failed to set MSR 0x10a"


def _boot_must_not_run():
    raise AssertionError("test boot must not run when the cheap checks fail")


def test_flags_parsed():
    assert "vmx" in qemu.cpu_flags(CPUINFO_VMX)
    assert not qemu.has_hw_virt(CPUINFO_NO_VIRT)
    assert qemu.has_hw_virt(CPUINFO_SVM)


def test_no_virt_flags_means_tcg_without_test_boot():
    accel, cpu, why = qemu.choose_accel(CPUINFO_NO_VIRT, True, _boot_must_not_run)
    assert (accel, cpu) == ("tcg", "max,-smap,-rdtscp,-avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq")
    assert "vmx/svm" in why


def test_missing_dev_kvm_means_tcg():
    accel, _cpu, why = qemu.choose_accel(CPUINFO_VMX, False, _boot_must_not_run)
    assert accel == "tcg" and "/dev/kvm" in why


def test_pvm_like_kvm_that_fails_test_boot_is_not_used():
    accel, cpu, why = qemu.choose_accel(CPUINFO_VMX, True, _boot_fails)
    assert (accel, cpu) == ("tcg", qemu.TCG_CPU)
    assert "MSR 0x10a" in why


def test_working_kvm_uses_host_cpu():
    assert qemu.choose_accel(CPUINFO_SVM, True, _boot_ok)[:2] == ("kvm", "host")


def test_forced_tcg():
    assert qemu.choose_accel(CPUINFO_VMX, True, _boot_must_not_run, override="tcg")[0] == "tcg"


def test_boot_sector_shape():
    sector = qemu.boot_sector(b"HI\n")
    assert len(sector) == 512 and sector[-2:] == b"\x55\xaa"
    assert b"HI\n\0" in sector


def _host(**kw):
    h = {
        "lab": "t", "name": "xen1", "accel": "tcg", "cpu": qemu.TCG_CPU, "smp": 2, "mem": 4096,
        "dom0_mem": 1024, "xen": "/img/xen", "vmlinuz": "/img/vmlinuz", "initrd": "/img/initrd.img",
        "overlay": "/lab/xen1/disk.qcow2", "seed": "/lab/xen1/seed.tar", "ssh_port": 23456,
        "mac_user": qemu.mac(0, 1), "mac_priv": qemu.mac(1, 1), "priv": ["listen", 23999],
        "serial": "/lab/xen1/serial.log", "monitor": "/lab/xen1/monitor.sock",
        "pidfile": "/lab/xen1/qemu.pid",
    }
    h.update(kw)
    return h


def _opt(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_argv_networking_is_restricted_and_loopback_only():
    argv = qemu.host_argv(_host())
    netdevs = _opt(argv, "-netdev")
    user = [n for n in netdevs if n.startswith("user,")]
    assert user == ["user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:23456-:22"]
    assert "socket,id=n1,listen=127.0.0.1:23999" in netdevs
    for n in netdevs:
        assert "restrict=on" in n or "127.0.0.1:" in n


def test_argv_connect_side_and_no_private_link():
    argv = qemu.host_argv(_host(priv=["connect", 23999], mac_priv=qemu.mac(1, 2)))
    assert "socket,id=n1,connect=127.0.0.1:23999" in _opt(argv, "-netdev")
    argv = qemu.host_argv(_host(priv=None))
    assert len(_opt(argv, "-netdev")) == 1


def test_tcg_options_are_opt_in(monkeypatch):
    monkeypatch.delenv("XENLAB_TCG_OPTIONS", raising=False)
    assert qemu.accel_arg("tcg") == "tcg"
    monkeypatch.setenv("XENLAB_TCG_OPTIONS", "thread=single")
    assert qemu.accel_arg("tcg") == "tcg,thread=single"
    assert qemu.accel_arg("kvm") == "kvm"
    assert _opt(qemu.host_argv(_host()), "-accel") == ["tcg,thread=single"]


def test_argv_cpu_accel_and_multiboot():
    argv = qemu.host_argv(_host())
    assert _opt(argv, "-cpu") == ["max,-smap,-rdtscp,-avx,-avx2,-fma,-f16c,-vaes,-vpclmulqdq"]
    assert _opt(argv, "-accel") == ["tcg"]
    assert _opt(argv, "-kernel") == ["/img/xen"]
    (append,) = _opt(argv, "-append")
    assert "dom0_mem=1024M,max:1024M" in append and "bootscrub=0" in append
    assert "spec-ctrl=eager-fpu" in append  # lazy FPU switching corrupts dom0 under TCG
    assert " hap=0 " in append  # guests triple-fault under QEMU's emulated nested paging
    assert " cpuid=no-avx " in append  # a guest's AVX instructions fault under TCG
    (mods,) = _opt(argv, "-initrd")
    kernel_part, initrd_part = mods.split(",", 1)[0], mods.rsplit(",", 1)[1]
    assert kernel_part.startswith("/img/vmlinuz root=/dev/vda")
    assert initrd_part == "/img/initrd.img"
    assert "-daemonize" in argv and _opt(argv, "-pidfile") == ["/lab/xen1/qemu.pid"]


def test_multiboot_commas_are_doubled():
    argv = qemu.host_argv(_host(dom0_extra="foo=a,b"))
    (mods,) = _opt(argv, "-initrd")
    assert "foo=a,,b" in mods


def test_macs():
    assert qemu.mac(0, 1) == "52:54:00:77:00:01"
    assert qemu.mac(1, 12) == "52:54:00:77:01:0c"


def test_root_disk_enumerates_before_seed_disk():
    argv = qemu.host_argv(_host())
    devs = _opt(argv, "-device")
    root = [d for d in devs if "drive=disk0" in d][0]
    seed = [d for d in devs if "drive=seed" in d][0]
    assert root.endswith("addr=0x4") and seed.endswith("addr=0x5")


def test_fatal_boot_lines():
    assert qemu.fatal_boot_line("ok\nGave up waiting for root file system device.\n")
    assert qemu.fatal_boot_line("[ 1.0] Kernel panic - not syncing: VFS") .startswith("[ 1.0]")
    assert qemu.fatal_boot_line("Begin: Running /scripts/local-block ... done.\n") is None
