import pytest

from xenlab import lab


def test_lab_lock_refuses_a_second_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("XENLAB_CACHE", str(tmp_path))
    with lab.lab_lock("one"):
        with pytest.raises(lab.LabError, match="another process"):
            with lab.lab_lock("one"):
                pass
        with lab.lab_lock("two"):
            pass
    with lab.lab_lock("one"):
        pass


def test_host_names():
    assert lab.host_names(2) == ["xen1", "xen2"]
    assert lab.host_names(1, ["a"]) == ["a"]
    with pytest.raises(lab.LabError):
        lab.host_names(2, ["a"])


def test_pid_alive_checks_the_command_line(tmp_path):
    import os
    me = os.getpid()
    assert lab.pid_alive(me, "python") or lab.pid_alive(me, "pytest")
    assert not lab.pid_alive(me, "/no/such/lab/dir")
    assert not lab.pid_alive(None, "x")


def test_serial_tail(tmp_path):
    p = tmp_path / "serial.log"
    p.write_bytes(b"".join(b"line %d\r\n" % i for i in range(100)))
    assert lab.serial_tail(str(p), 3).splitlines() == ["line 97", "line 98", "line 99"]
    assert "no serial log" in lab.serial_tail(str(tmp_path / "missing"))


def test_reserved_ports_come_from_other_labs(tmp_path, monkeypatch):
    import json
    monkeypatch.setenv("XENLAB_CACHE", str(tmp_path))
    for name, ports in (("a", [20001, 20002]), ("b", [20003])):
        d = tmp_path / "labs" / name
        d.mkdir(parents=True)
        (d / "state.json").write_text(json.dumps({"ports": ports, "dir": str(d)}))
    assert lab.reserved_ports() == {20001, 20002, 20003}
    assert lab.reserved_ports(exclude="a") == {20003}
