from xenlab import qemu, warm
from test_qemu import _host


def test_shape_key_ignores_paths_ports_and_names():
    a = _host()
    b = _host(name="xen2", lab="other", overlay="/x/disk.qcow2", seed="/x/seed", ssh_port=1234,
              priv=["connect", 999], serial="/x/s", monitor="/x/m", pidfile="/x/p")
    assert warm.shape_key(a, "img1") == warm.shape_key(b, "img1")


def test_shape_key_changes_with_machine_and_image():
    base = warm.shape_key(_host(), "img1")
    assert warm.shape_key(_host(), "img2") != base
    assert warm.shape_key(_host(mem=2048), "img1") != base
    assert warm.shape_key(_host(smp=1), "img1") != base
    assert warm.shape_key(_host(dom0_mem=512), "img1") != base
    assert warm.shape_key(_host(cpu="qemu64"), "img1") != base


def test_reseed_script_moves_the_private_mac_and_reapplies_the_seed():
    h = _host(mac_priv=qemu.mac(1, 2))
    text = warm.reseed_script(h, (qemu.mac(0, 1), qemu.mac(1, 1)), 1700000000)
    assert "date -s @1700000000" in text
    assert '"52:54:00:77:01:01"' in text and "address 52:54:00:77:01:02" in text
    assert "/usr/local/sbin/xenlab-seed" in text and "systemctl restart ssh" in text
    assert text.rstrip().endswith("echo reseeded")


def test_disabled_by_env(monkeypatch):
    monkeypatch.setenv("XENLAB_WARM", "0")
    assert not warm.enabled()
    monkeypatch.setenv("XENLAB_WARM", "1")
    assert warm.enabled()


def test_reseed_drops_the_template_key_before_the_seed_adds_the_lab_key():
    text = warm.reseed_script(_host(), (qemu.mac(0, 1), qemu.mac(1, 1)), 1700000000)
    assert text.index(": > /root/.ssh/authorized_keys") < text.index("/usr/local/sbin/xenlab-seed")


def test_seed_adds_the_lab_key_and_keeps_keys_added_on_the_host(tmp_path):
    import subprocess

    from xenlab import rootfs
    seed = rootfs.FILES_COMMON["usr/local/sbin/xenlab-seed"]
    start = seed.index("if [ -f $d/authorized_keys ]")
    block = seed[start:seed.index("\nfi\n", start) + 4].replace("/root/.ssh", str(tmp_path / "ssh"))
    (tmp_path / "seed").mkdir()
    (tmp_path / "ssh").mkdir()
    (tmp_path / "seed" / "authorized_keys").write_text("ssh-ed25519 LAB lab\n")
    (tmp_path / "ssh" / "authorized_keys").write_text("ssh-ed25519 OTHER migrate@xen2\n")
    for _boot in range(2):
        subprocess.run(["sh", "-ec", "d=%s\n%s" % (tmp_path / "seed", block)], check=True)
    assert (tmp_path / "ssh" / "authorized_keys").read_text().splitlines() == [
        "ssh-ed25519 OTHER migrate@xen2", "ssh-ed25519 LAB lab"]


def test_remac_after_a_reset_gives_back_the_own_mac_and_keeps_the_keys():
    h = _host(mac_priv=qemu.mac(1, 2))
    text = warm.remac_script(h, (qemu.mac(0, 1), qemu.mac(1, 1)))
    assert '"52:54:00:77:01:01"' in text and "address 52:54:00:77:01:02" in text
    assert "networkctl reconfigure" in text and text.rstrip().endswith("echo remac-done")
    # keys another dom0 added (migration trust) survive a reset as they survive a reboot
    assert "authorized_keys" not in text and "xenlab-seed" not in text
    # run as `sh -s` under set -e: it must be valid sh
    import subprocess
    assert subprocess.run(["sh", "-n"], input=text, universal_newlines=True, check=False).returncode == 0
