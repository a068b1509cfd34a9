"""`xenlab status`'s line for a lab (issue 23: plain hosts showed `Xen None`)."""

from xenlab import cli


def lab(**kw):
    st = {"name": "demo", "status": "up", "accel": "tcg", "inventory": "/x/inventory.yml", "kind": "xen",
          "xen_version": "4.17.5+72-g01140da4e8-1"}
    st.update(kw)
    return st


def test_a_xen_image_names_its_xen():
    assert cli.status_line(lab()) == "demo: up (tcg, Xen 4.17.5+72-g01140da4e8-1) inventory /x/inventory.yml"


def test_plain_hosts_say_they_have_no_xen_yet_instead_of_none():
    line = cli.status_line(lab(kind="plain", xen_version=None))
    assert line == "demo: up (tcg, plain Debian, no Xen in the image) inventory /x/inventory.yml"
    assert "None" not in line


def test_a_lab_recorded_before_kind_was_reported_still_prints():
    st = lab(xen_version=None)
    del st["kind"]
    assert "None" not in cli.status_line(st)


def test_status_reports_the_image_kind(monkeypatch):
    from xenlab import lab as labmod
    state = {"name": "demo", "status": "up", "accel": "tcg", "dir": "/x", "inventory": "/x/inventory.yml",
             "ssh_config": "/x/ssh_config", "key": "/x/id", "known_hosts": "/x/kh", "kind": "plain",
             "xen_version": None, "hosts": []}
    monkeypatch.setattr(labmod, "load_state", lambda name: state)
    [st] = labmod.status("demo")
    assert cli.status_line(st) == "demo: up (tcg, plain Debian, no Xen in the image) inventory /x/inventory.yml"
