"""Which Molecule scenarios one CI run starts (pure functions; `.ci/pipeline.sh` calls `xenlab ci-plan`).

Why a plan at all: on the CI machine (2 cores, TCG, ~4 s per Ansible task on a nested dom0) the
scenarios together take about two hours measured one at a time, and CI has 90 minutes. Running two
side by side did not help: the CI run of 2026-11-26 in two lanes took as long as the sequential one
before it and the budget left `migrate` out (docs/lab.md, "Why not lanes").

So every run starts the cheap lab checks (ALWAYS) and then as many of the long scenarios (POOL) as
fit the time left, in this order:
0. scenarios new to CI, named by the pipeline (CI_MOLECULE_FIRST) until they have passed there once;
1. scenarios whose own files changed in the submission being tested (the commits of the last WINDOW
   seconds before HEAD);
2. scenarios touched only through shared code (module_utils, the lab, the shared Molecule files);
3. the others;
each group in rotation order.
The rotation starts at a different scenario on each commit count, so over consecutive runs every
scenario leads in turn. A scenario that does not fit is named in the output with the reason; the
pipeline reports it as skipped, never as passed.
"""

ALWAYS = ("default", "privlink")
POOL = ("guests", "vcpu", "hypervisor", "migrate", "fleet", "faults", "provision", "snapshot", "balance", "backup",
        "networks")
# Scenarios with triggers and images but not yet in the pool: they join it once they passed end to end on the lab.
NOT_YET = ()
# A working session lasts at most 3 hours: its commits lie within this window before HEAD, and the
# previous session's (already tested by its own CI run) mostly do not.
WINDOW = int(3.5 * 3600)

# Path prefixes that make a scenario "touched": its own files (TRIGGERS) rank before the shared code
# every scenario uses (COMMON: module_utils, the lab, the shared Molecule playbooks).
COMMON = ("plugins/module_utils/", "molecule/_shared/", "tests/lab/xenlab/")
# A module's verb lives in module_utils/_converge_<concern>.py: it triggers what its module triggers.
TRIGGERS = {
    "guests": ("plugins/modules/xen_domain", "plugins/module_utils/_converge_domain", "roles/guests/",
               "playbooks/guests.yml", "molecule/guests/"),
    "vcpu": ("plugins/modules/xen_vcpu", "plugins/module_utils/_converge_vcpu", "plugins/modules/xen_domain.py",
             "plugins/module_utils/_converge_domain", "molecule/vcpu/"),
    "hypervisor": ("roles/hypervisor/", "playbooks/hypervisor.yml", "plugins/modules/xen_host_network",
                   "plugins/module_utils/_hostnet", "plugins/module_utils/_converge_hostnet", "molecule/hypervisor/"),
    "migrate": ("plugins/modules/xen_migrate", "plugins/module_utils/_converge_migrate", "roles/evacuate/",
                "roles/migrations/", "playbooks/evacuate.yml", "plugins/inventory/", "molecule/migrate/"),
    "fleet": ("plugins/modules/xen_balance", "plugins/modules/xen_migrate", "plugins/module_utils/_converge_migrate",
              "roles/evacuate/", "roles/migrations/", "roles/hypervisor/", "playbooks/", "molecule/fleet/"),
    "faults": ("plugins/modules/xen_domain", "plugins/module_utils/_converge_domain", "plugins/modules/xen_migrate",
               "plugins/module_utils/_converge_migrate", "roles/guests/", "roles/hypervisor/tasks/migration_ssh.yml",
               "molecule/faults/"),
    "provision": ("plugins/modules/xen_disk", "plugins/module_utils/_converge_disk", "plugins/modules/xen_cloud_init",
                  "plugins/module_utils/_converge_seed", "roles/hypervisor/tasks/tools.yml", "roles/guests/",
                  "tests/lab/xenlab/cloudimg.py", "molecule/provision/"),
    "balance": ("plugins/modules/xen_balance", "plugins/module_utils/_balance", "plugins/module_utils/_placement",
                "plugins/modules/xen_domain_info", "plugins/module_utils/_info", "playbooks/balance.yml",
                "roles/migrations/", "molecule/balance/"),
    "backup": ("plugins/modules/xen_backup", "plugins/module_utils/_converge_backup", "plugins/module_utils/_backup",
               "plugins/inventory/", "molecule/backup/"),
    "networks": ("roles/hypervisor/tasks/network", "roles/hypervisor/tasks/validate.yml",
                 "roles/hypervisor/meta/argument_specs.yml", "plugins/modules/xen_host_network",
                 "plugins/module_utils/_hostnet", "plugins/module_utils/_converge_hostnet",
                 "tests/lab/xenlab/plain.py", "molecule/networks/"),
    "snapshot": ("plugins/modules/xen_snapshot", "plugins/module_utils/_converge_snapshot",
                 "plugins/module_utils/_snapshot", "roles/hypervisor/tasks/tools.yml", "molecule/snapshot/"),
}

# Images each scenario boots: the plan counts the missing ones, and lab_prepare in the pipeline builds
# them (`xenlab ci-images SCENARIO...`) before the first scenario.
IMAGES = {
    "default": ("xen",), "privlink": ("xen",), "guests": ("xen",), "vcpu": ("xen",),
    "migrate": ("xen",), "hypervisor": ("plain", "aptrepo"), "fleet": ("xengrub",), "faults": ("xen",),
    "provision": ("xen", "aptrepo", "cloud"), "snapshot": ("xen", "aptrepo"),
    "balance": ("xen",), "backup": ("xen", "aptrepo"), "networks": ("plain-ifupdown", "aptrepo"),
}


# Scenarios that run on more than one Debian release (issue 20: Debian 13 in the CI plan). A run picks one suite per
# such scenario from its rotation index: rotation // pool size, so the suite changes each time the rotation order has
# gone once round the pool (the scenario leads a run once per round: with plain `rotation % 2` it would lead on the
# same suite every time). The images of a suite other than DEFAULT_SUITE are named "<image>@<suite>".
DEFAULT_SUITE = "bookworm"
SUITES = {"hypervisor": ("bookworm", "trixie")}


def scenario_suite(scenario, rotation, pool_size=len(POOL), suites=None):
    """The Debian suite `scenario` runs on in the run with this rotation index."""
    options = (SUITES if suites is None else suites).get(scenario, (DEFAULT_SUITE,))
    return options[(rotation // max(pool_size, 1)) % len(options)]


def images_this_run(rotation, pool_size=len(POOL), images=None, suites=None):
    """IMAGES for the run with this rotation index: a scenario on another suite boots "<image>@<suite>"."""
    images = IMAGES if images is None else images
    suites = SUITES if suites is None else suites
    out = dict(images)
    for s in suites:
        suite = scenario_suite(s, rotation, pool_size, suites)
        if suite != DEFAULT_SUITE:
            out[s] = tuple("%s@%s" % (i, suite) for i in scenario_images(s, images))
    return out


def split_image(name):
    """'plain@trixie' -> ('plain', 'trixie'); 'xen' -> ('xen', DEFAULT_SUITE)."""
    kind, _sep, suite = name.partition("@")
    return kind, suite or DEFAULT_SUITE


def changed_paths(git_log_text, window=WINDOW):
    """Paths changed by the commits of the last `window` seconds before the newest commit.

    git_log_text is the output of `git log --format=@%ct --name-only`: a line "@<epoch>" per
    commit (newest first) followed by the paths it changed."""
    paths, newest, keep = [], None, False
    for line in git_log_text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("@") and line[1:].isdigit():
            t = int(line[1:])
            if newest is None:
                newest = t
            keep = newest - t <= window
            continue
        if keep and line not in paths:
            paths.append(line)
    return paths


def touched(paths, triggers=None, common=COMMON):
    """(own, shared): the scenarios whose own trigger prefixes match any of the paths, and - when a
    shared path changed - every scenario with triggers."""
    triggers = TRIGGERS if triggers is None else triggers
    own = {s for s, prefixes in triggers.items() if any(p.startswith(prefixes) for p in paths)}
    shared = set(triggers) if any(p.startswith(common) for p in paths) else set()
    return own, shared


def rotated(pool, rotation):
    """pool rotated to start at index rotation % len(pool)."""
    pool = list(pool)
    if not pool:
        return pool
    k = rotation % len(pool)
    return pool[k:] + pool[:k]


def order(pool, own, rotation, shared=(), first=()):
    """The scenarios in `first` (new to CI, in their given order), then those whose own files changed,
    then those touched through shared code, then the rest; each of the last three groups in rotation
    order."""
    lead = [s for s in first if s in pool]
    r = [s for s in rotated(pool, rotation) if s not in lead]
    mine = [s for s in r if s in own]
    second = [s for s in r if s in shared and s not in own]
    return lead + mine + second + [s for s in r if s not in own and s not in shared]


def scenario_images(scenario, images=None):
    """The images a scenario boots (a scenario IMAGES does not name boots the xen image)."""
    return (IMAGES if images is None else images).get(scenario, ("xen",))


def plan(always, ordered_pool, expected, available, image_cost=None, images=None):
    """Pick the scenarios to run.

    expected: scenario -> expected seconds (measured alone on the CI machine, with margin).
    available: seconds left for the Molecule stages.
    image_cost: image -> seconds to build it (0 or missing = cached); images: scenario -> images.
    Returns (run, not_run): run is a list of scenario names in the order to run them; not_run a list
    of (scenario, reason). ALWAYS scenarios are always in run (the pipeline's own budget check still
    guards them)."""
    image_cost = image_cost or {}
    built, used, run, not_run = set(), 0, [], []

    def cost(s):
        extra = sum(image_cost.get(i, 0) for i in scenario_images(s, images) if i not in built)
        return expected[s] + extra

    for s in always:
        used += cost(s)
        built.update(scenario_images(s, images))
        run.append(s)
    for s in ordered_pool:
        c = cost(s)
        if used + c <= available:
            used += c
            built.update(scenario_images(s, images))
            run.append(s)
        else:
            not_run.append((s, "needs ~%ds, %ds left of the time budget" % (c, max(available - used, 0))))
    return run, not_run


def images_for(scenarios, images=None):
    """The images the scenarios boot, each once, in first-use order (unknown scenarios: the xen image)."""
    out = []
    for s in scenarios:
        for i in scenario_images(s, images):
            if i not in out:
                out.append(i)
    return out


def parse_pairs(text):
    """'a=1 b=2' -> {'a': 1, 'b': 2}"""
    out = {}
    for item in text.split():
        k, sep, v = item.partition("=")
        if not sep or not k or not v.isdigit():
            raise ValueError("expected NAME=SECONDS, got %r" % item)
        out[k] = int(v)
    return out
