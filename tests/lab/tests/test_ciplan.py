"""The CI scenario plan: which Molecule scenarios fit one run, in which order."""

import io
import sys

from xenlab import ciplan, cli

EXPECTED = {"default": 300, "privlink": 300, "guests": 1500, "vcpu": 1200, "hypervisor": 1800,
            "migrate": 2700, "fleet": 3000, "faults": 1800, "provision": 1800, "snapshot": 1500,
            "balance": 1200, "backup": 900, "networks": 1500}

GIT_LOG = """\
@1000000

roles/evacuate/tasks/main.yml
plugins/modules/xen_migrate.py
@999000

docs/lab.md
@900000

roles/guests/tasks/main.yml
"""


def test_changed_paths_keeps_only_the_window_before_the_newest_commit():
    assert ciplan.changed_paths(GIT_LOG, window=8 * 3600) == [
        "roles/evacuate/tasks/main.yml", "plugins/modules/xen_migrate.py", "docs/lab.md"]
    assert ciplan.changed_paths(GIT_LOG, window=10 ** 6) == [
        "roles/evacuate/tasks/main.yml", "plugins/modules/xen_migrate.py", "docs/lab.md",
        "roles/guests/tasks/main.yml"]
    assert ciplan.changed_paths("") == []


def test_touched_maps_paths_to_scenarios():
    assert ciplan.touched(["plugins/modules/xen_migrate.py"]) == ({"migrate", "fleet", "faults"}, set())
    assert ciplan.touched(["docs/lab.md", "README.md"]) == (set(), set())
    assert ciplan.touched(["roles/hypervisor/tasks/main.yml"]) == ({"hypervisor", "fleet"}, set())
    assert ciplan.touched(["plugins/module_utils/_xl.py"]) == (set(), set(ciplan.TRIGGERS))
    assert ciplan.touched(["roles/hypervisor/tasks/tools.yml", "plugins/modules/xen_disk.py"]) == (
        {"hypervisor", "fleet", "provision", "snapshot"}, set())
    assert ciplan.touched(["molecule/vcpu/converge.yml", "tests/lab/xenlab/lab.py"]) == (
        {"vcpu"}, set(ciplan.TRIGGERS))
    # the host network: its module and the role's network tasks are the networks scenario's own files
    assert ciplan.touched(["roles/hypervisor/tasks/network_confirm.yml"]) == ({"hypervisor", "fleet", "networks"}, set())
    assert ciplan.touched(["plugins/modules/xen_host_network.py"]) == ({"hypervisor", "networks"}, set())
    assert ciplan.touched(["tests/lab/xenlab/plain.py"]) == ({"networks"}, set(ciplan.TRIGGERS))


def test_every_pool_scenario_has_triggers_and_images():
    for s in ciplan.POOL:
        assert ("molecule/%s/" % s) in ciplan.TRIGGERS[s]
    for s in ciplan.POOL + ciplan.ALWAYS + ciplan.NOT_YET:
        assert ciplan.IMAGES[s]
    for s in ciplan.NOT_YET:
        assert ("molecule/%s/" % s) in ciplan.TRIGGERS[s] and s not in ciplan.POOL


def test_order_puts_touched_first_and_rotates():
    pool = ["a", "b", "c", "d"]
    assert ciplan.order(pool, set(), 0) == ["a", "b", "c", "d"]
    assert ciplan.order(pool, set(), 5) == ["b", "c", "d", "a"]
    assert ciplan.order(pool, {"a", "d"}, 2) == ["d", "a", "c", "b"]
    # own files before shared code before the rest
    assert ciplan.order(pool, {"b"}, 2, shared={"a", "b", "c"}) == ["b", "c", "a", "d"]
    # scenarios new to CI lead, whatever changed
    assert ciplan.order(pool, {"b"}, 2, shared={"a", "b", "c"}, first=["d"]) == ["d", "b", "c", "a"]
    # every scenario leads once in len(pool) consecutive runs
    assert sorted(ciplan.order(pool, set(), r)[0] for r in range(4)) == pool


def test_plan_fills_the_budget_in_order_and_names_what_is_left_out():
    run, not_run = ciplan.plan(["default", "privlink"], ["fleet", "migrate", "guests", "vcpu"],
                               EXPECTED, available=5000)
    # 600 + fleet 3000 = 3600; migrate (2700) does not fit; guests 1500 does not (1400 left); vcpu does
    assert run == ["default", "privlink", "fleet", "vcpu"]
    assert [item[0] for item in not_run] == ["migrate", "guests"]
    assert "needs ~2700s, 1400s left" in not_run[0][1]


def test_plan_counts_a_missing_image_once_with_its_first_scenario():
    cost = {"xengrub": 500, "xen": 400}
    run, not_run = ciplan.plan(["default"], ["fleet", "guests"], EXPECTED, available=4300,
                               image_cost=cost)
    # default 300 + xen 400 = 700; fleet 3000 + xengrub 500 = 3500 -> 4200; guests 1500 (xen built) no
    assert run == ["default", "fleet"]
    assert not_run[0][0] == "guests"
    run = ciplan.plan(["default"], ["guests", "vcpu"], EXPECTED, available=3400, image_cost=cost)[0]
    assert run == ["default", "guests", "vcpu"]   # 700 + 1500 + 1200: xen counted once


def test_plan_keeps_the_always_scenarios_even_without_time():
    run, not_run = ciplan.plan(["default", "privlink"], ["guests"], EXPECTED, available=0)
    assert run == ["default", "privlink"]
    assert not_run == [("guests", "needs ~1500s, 0s left of the time budget")]


def test_parse_pairs_refuses_bad_items():
    assert ciplan.parse_pairs(" a=1  b=20 ") == {"a": 1, "b": 20}
    for bad in ("a", "a=", "=3", "a=x"):
        try:
            ciplan.parse_pairs(bad)
        except ValueError as e:
            assert bad in str(e)
        else:
            raise AssertionError("accepted %r" % bad)


def test_cli_prints_the_plan(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(GIT_LOG))
    monkeypatch.setattr(cli, "_missing_images", lambda suite: set())
    pairs = " ".join("%s=%d" % kv for kv in EXPECTED.items())
    rc = cli.main(["ci-plan", "--available", "4000", "--expected", pairs, "--rotation", "0"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    # migrate, fleet and faults were touched (xen_migrate); rotation 0 keeps pool order: migrate first
    assert out[0] == "RUN default privlink migrate"
    assert out[1] == "changed by the last commits (3 paths): own files of migrate fleet faults; shared code of none"
    assert "not this run: fleet (needs ~3000s, 700s left of the time budget)" in out
    assert "not this run: guests (needs ~1500s, 700s left of the time budget)" in out


def test_cli_refuses_a_scenario_without_expected_time(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    rc = cli.main(["ci-plan", "--available", "4000", "--expected", "default=300"])
    assert rc == 1
    assert "no expected time for" in capsys.readouterr().err


def test_cli_puts_new_scenarios_first_and_refuses_unknown_ones(monkeypatch, capsys):
    pairs = " ".join("%s=%d" % kv for kv in EXPECTED.items())
    monkeypatch.setattr(cli, "_missing_images", lambda suite: set())
    monkeypatch.setattr(sys, "stdin", io.StringIO(GIT_LOG))
    assert cli.main(["ci-plan", "--available", "4000", "--expected", pairs, "--first", "fleet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "RUN default privlink fleet"
    assert out[2].endswith("(rotation 0; new to CI, first: fleet)")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(["ci-plan", "--available", "4000", "--expected", pairs, "--first", "nosuch"]) == 1
    assert "outside the pool: nosuch" in capsys.readouterr().err


def test_images_for_lists_each_image_once_in_first_use_order():
    assert ciplan.images_for(["default", "privlink", "fleet"]) == ["xen", "xengrub"]
    assert ciplan.images_for(["hypervisor", "guests"]) == ["plain", "aptrepo", "xen"]
    assert ciplan.images_for(["newscenario"]) == ["xen"]
    assert ciplan.images_for(["provision", "hypervisor"]) == ["xen", "aptrepo", "cloud", "plain"]
    assert ciplan.images_for([]) == []


def test_cli_names_only_the_missing_images_the_run_needs(monkeypatch, capsys):
    pairs = " ".join("%s=%d" % kv for kv in EXPECTED.items())
    monkeypatch.setattr(cli, "_missing_images", lambda suite: {"plain", "aptrepo", "xengrub"})
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(["ci-plan", "--available", "4000", "--expected", pairs, "--first", "fleet",
                     "--image-cost", "xengrub=300 plain=300"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "RUN default privlink fleet"
    assert "images to build: xengrub" in out
    assert cli.main(["ci-images", "default", "hypervisor"]) == 0
    assert capsys.readouterr().out.strip() == "xen plain aptrepo"


def test_hypervisor_alternates_its_debian_suite_once_per_round_of_the_pool():
    size = len(ciplan.POOL)
    assert [ciplan.scenario_suite("hypervisor", r) for r in (0, size - 1, size, 2 * size - 1, 2 * size)] == [
        "bookworm", "bookworm", "trixie", "trixie", "bookworm"]
    # the round, not the parity: the rotation that makes hypervisor lead (same index in the pool) alternates too
    lead = ciplan.POOL.index("hypervisor")
    assert [ciplan.scenario_suite("hypervisor", lead + k * size) for k in range(4)] == [
        "bookworm", "trixie", "bookworm", "trixie"]
    assert ciplan.scenario_suite("guests", size) == "bookworm"
    assert ciplan.scenario_suite("x", 3, pool_size=2, suites={"x": ("a", "b", "c")}) == "b"


def test_a_scenario_on_another_suite_boots_that_suites_images():
    size = len(ciplan.POOL)
    assert ciplan.images_this_run(0) == ciplan.IMAGES
    this_run = ciplan.images_this_run(size)
    assert this_run["hypervisor"] == ("plain@trixie", "aptrepo@trixie")
    assert {s: i for s, i in this_run.items() if s != "hypervisor"} == {
        s: i for s, i in ciplan.IMAGES.items() if s != "hypervisor"}
    assert ciplan.images_for(["default", "hypervisor", "provision"], this_run) == [
        "xen", "plain@trixie", "aptrepo@trixie", "aptrepo", "cloud"]
    assert ciplan.split_image("plain@trixie") == ("plain", "trixie")
    assert ciplan.split_image("aptrepo") == ("aptrepo", "bookworm")


def test_cli_plans_and_prepares_the_suite_of_the_run(monkeypatch, capsys):
    size = len(ciplan.POOL)
    pairs = " ".join("%s=%d" % kv for kv in EXPECTED.items())
    asked = []
    monkeypatch.setattr(cli, "_missing_images", lambda names: asked.extend(names) or {"plain@trixie"})
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert cli.main(["ci-plan", "--available", "2200", "--expected", pairs, "--first", "hypervisor",
                     "--rotation", str(size), "--image-cost", "plain=300"]) == 0
    out = capsys.readouterr().out.splitlines()
    # hypervisor (1800) + default + privlink (600) + building its trixie image (300) do not fit 2200 s; guests does
    assert out[0] == "RUN default privlink guests"
    assert "not this run: hypervisor (needs ~2100s, 1600s left of the time budget)" in out
    assert "suites this run: hypervisor on trixie (the others on bookworm)" in out
    assert "plain@trixie" in asked and "plain" not in asked
    assert cli.main(["ci-images", "--rotation", str(size), "default", "hypervisor"]) == 0
    assert capsys.readouterr().out.strip() == "xen plain@trixie aptrepo@trixie"
    assert cli.main(["ci-suite", "--rotation", str(size), "hypervisor"]) == 0
    assert capsys.readouterr().out.strip() == "trixie"
    assert cli.main(["ci-suite", "--rotation", "0", "hypervisor"]) == 0
    assert capsys.readouterr().out.strip() == "bookworm"


def test_missing_images_looks_up_each_image_in_its_suite(monkeypatch):
    cached = {("xen", "bookworm"), ("plain", "bookworm")}
    monkeypatch.setattr(cli.images, "find_image", lambda kind, suite: "/img" if (kind, suite) in cached else None)
    monkeypatch.setattr(cli.aptrepo, "find_repo", lambda suite: "/repo" if suite == "trixie" else None)
    assert cli._missing_images(["xen", "plain@trixie", "aptrepo", "aptrepo@trixie", "plain"]) == {
        "plain@trixie", "aptrepo"}
