"""Command line: python3 -m xenlab {build,up,down,status,ssh,selftest,inventory,...}."""

import argparse
import json
import os
import sys

from xenlab import aptrepo, ciplan, digest, images, lab, net

HOST_KINDS = ("xen", "plain", "plain-ifupdown", "xengrub")
ALL_KINDS = HOST_KINDS + ("cloud",)


def _add_image_args(p, kinds=HOST_KINDS):
    p.add_argument("--image", default="xen", choices=kinds,
                   help="image kind (default: xen; plain: Debian without Xen, booted by its GRUB;"
                        " plain-ifupdown: the same with ifupdown, as Debian's installer leaves a server;"
                        " xengrub: Xen installed, booted by its GRUB, so a changed Xen command"
                        " line takes effect on reboot%s)" % (
                            "; cloud: a guest image shaped like Debian's genericcloud image, see"
                            " xenlab/cloudimg.py" if "cloud" in kinds else ""))
    p.add_argument("--suite", default=images.DEFAULT_SUITE, help="Debian suite (default: bookworm)")


def parser():
    ap = argparse.ArgumentParser(prog="xenlab", description="Nested Xen hosts under QEMU.")
    sub = ap.add_subparsers(dest="cmd")
    sub.required = True

    p = sub.add_parser("build", help="build (or reuse) a cached image")
    _add_image_args(p, ALL_KINDS)
    p.add_argument("--force", action="store_true", help="rebuild even if cached")

    p = sub.add_parser("image-path", help="print the cached image directory (empty if missing)")
    _add_image_args(p, ALL_KINDS)

    p = sub.add_parser("up", help="boot a lab of N Xen hosts, one after another")
    p.add_argument("--name", required=True)
    p.add_argument("--hosts", type=int, default=1)
    p.add_argument("--host-names", help="comma-separated host names (default xen1,xen2,...)")
    _add_image_args(p)
    p.add_argument("--mem", type=int, default=4096, help="MiB of RAM per host (default 4096)")
    p.add_argument("--smp", type=int, default=2, help="vCPUs per host (default 2)")
    p.add_argument("--dom0-mem", type=int, default=1024, help="dom0 memory in MiB (default 1024)")
    p.add_argument("--boot-timeout", type=int, help="seconds to wait for SSH per host (default 600, or $XENLAB_BOOT_TIMEOUT)")
    p.add_argument("--accel", choices=["auto", "tcg", "kvm"], default=None,
                   help="default: auto-detect (or $XENLAB_ACCEL)")
    p.add_argument("--keep-on-failure", action="store_true")
    p.add_argument("--apt-repo", action="store_true",
                   help="build (or reuse) the local APT repository with the Xen packages for "
                        "--suite and serve it to the hosts at http://10.0.2.100/debian")
    p.add_argument("--apt-extra", action="append", default=[], choices=sorted(aptrepo.EXTRAS),
                   help="with --apt-repo: serve this package set too (repeatable)")
    p.add_argument("--cloud-image", action="store_true",
                   help="with --apt-repo: build (or reuse) the cloud image of --suite (xenlab/cloudimg.py) and"
                        " serve it at http://10.0.2.100/images/debian-<N>-genericcloud-amd64.qcow2")
    p.add_argument("--json", action="store_true", help="print the lab state as JSON at the end")

    p = sub.add_parser("aptrepo", help="build (or reuse) the local APT repository; print its dir")
    p.add_argument("--suite", default=images.DEFAULT_SUITE, help="Debian suite (default: bookworm)")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--apt-extra", action="append", default=[], choices=sorted(aptrepo.EXTRAS),
                   help="add this package set (repeatable)")

    p = sub.add_parser("down", help="power off and remove a lab")
    p.add_argument("--name", required=True)
    p.add_argument("--kill", action="store_true", help="skip the graceful poweroff")

    p = sub.add_parser("status", help="show labs")
    p.add_argument("--name")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("inventory", help="print the path of a lab's Ansible inventory")
    p.add_argument("--name", required=True)

    p = sub.add_parser("ssh", help="ssh into a lab host: ssh --name LAB HOST [-- cmd...]")
    p.add_argument("--name", required=True)
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER)

    p = sub.add_parser("reset", help="hard-reset a lab host (QEMU system_reset) and wait for SSH")
    p.add_argument("--name", required=True)
    p.add_argument("host")
    p.add_argument("--timeout", type=int, help="seconds to wait for SSH (default 600, or $XENLAB_BOOT_TIMEOUT)")

    p = sub.add_parser("selftest", help="xl info on every host and ping over the private link")
    p.add_argument("--name", required=True)

    p = sub.add_parser("ci-plan", help="which Molecule scenarios a CI run starts (reads `git log"
                       " --format=@%%ct --name-only` on stdin; see xenlab/ciplan.py)")
    p.add_argument("--available", type=int, required=True,
                   help="seconds left for the Molecule stages")
    p.add_argument("--expected", required=True, help="NAME=SECONDS ... per scenario")
    p.add_argument("--image-cost", default="", help="IMAGE=SECONDS ... to build a missing image")
    p.add_argument("--rotation", type=int, default=0, help="rotation index (the commit count)")
    p.add_argument("--always", default=" ".join(ciplan.ALWAYS))
    p.add_argument("--pool", default=" ".join(ciplan.POOL))
    p.add_argument("--first", default="", help="scenarios new to CI: they lead the order")

    p = sub.add_parser("ci-images", help="the images (and APT repository) the named scenarios boot, IMAGE or"
                       " IMAGE@SUITE (a scenario run on another Debian suite this run: ciplan.SUITES)")
    p.add_argument("--rotation", type=int, default=0, help="rotation index (the commit count)")
    p.add_argument("--pool-size", type=int, default=len(ciplan.POOL), help="scenarios in the CI pool")
    p.add_argument("scenarios", nargs="*")

    p = sub.add_parser("ci-suite", help="the Debian suite a scenario runs on in the run with this rotation index")
    p.add_argument("--rotation", type=int, default=0, help="rotation index (the commit count)")
    p.add_argument("--pool-size", type=int, default=len(ciplan.POOL), help="scenarios in the CI pool")
    p.add_argument("scenario")

    p = sub.add_parser("serial-digest", help="triple faults and Xen's last lines in the serial logs kept "
                       "for labs named PREFIX* since a time (CI's failure digest)")
    p.add_argument("--prefix", required=True)
    p.add_argument("--since", type=float, default=0.0, help="epoch seconds")

    p = sub.add_parser("hub", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pidfile")
    return ap


def status_line(st):
    """One lab's line of `xenlab status`: its state, accelerator and the Xen its image carries. Plain Debian
    hosts carry none (the hypervisor role installs it), which said `Xen None` before."""
    if st.get("xen_version"):
        xen = "Xen %s" % st["xen_version"]
    elif st.get("kind") in ("plain", "plain-ifupdown"):
        xen = "plain Debian, no Xen in the image"
    else:
        xen = "Xen version not recorded"
    return "%s: %s (%s, %s) inventory %s" % (st["name"], st["status"], st["accel"], xen, st["inventory"])


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return _dispatch(args)
    except lab.LabError as e:
        sys.stderr.write("xenlab: error: %s\n" % e)
        return 1


def _dispatch(args):
    if args.cmd == "build":
        print(images.build(args.image, args.suite, force=args.force))
        return 0
    if args.cmd == "aptrepo":
        print(aptrepo.build(args.suite, packages=aptrepo.packages_for(args.apt_extra), force=args.force))
        return 0
    if args.cmd == "image-path":
        print(images.find_image(args.image, args.suite) or "")
        return 0
    if args.cmd == "up":
        names = args.host_names.split(",") if args.host_names else None
        accel = None if args.accel in (None, "auto") else args.accel
        if args.apt_extra and not args.apt_repo:
            raise lab.LabError("--apt-extra is served by the APT repository: add --apt-repo")
        repo = aptrepo.build(args.suite, packages=aptrepo.packages_for(args.apt_extra)) if args.apt_repo else None
        if args.cloud_image and not repo:
            raise lab.LabError("--cloud-image is served by the APT repository's server: add --apt-repo")
        served = images.build("cloud", args.suite) if args.cloud_image else None
        if served:
            lab.say("cloud image for the hosts: %s" % aptrepo.image_url(images.load_manifest(served)["image"]))
        st = lab.up(args.name, hosts=args.hosts, kind=args.image, suite=args.suite, mem=args.mem,
                    smp=args.smp, dom0_mem=args.dom0_mem, names=names,
                    boot_timeout=args.boot_timeout, keep_on_failure=args.keep_on_failure,
                    accel=accel, apt_repo=repo, serve_images=served)
        for h in st["hosts"]:
            lab.say("%s: ssh -F %s %s   (boot-to-SSH %.1f s)" % (
                h["name"], st["ssh_config"], h["name"], h["boot_seconds"]))
        lab.say("inventory: %s" % st["inventory"])
        if args.json:
            print(json.dumps(st, indent=2, sort_keys=True))
        else:
            print(st["inventory"])
        return 0
    if args.cmd == "down":
        lab.down(args.name, graceful=not args.kill)
        return 0
    if args.cmd == "status":
        labs = lab.status(args.name)
        if args.json:
            print(json.dumps(labs, indent=2, sort_keys=True))
            return 0
        if not labs:
            print("no labs")
        for st in labs:
            print(status_line(st))
            for h in st["hosts"]:
                print("  %-8s %-8s ssh 127.0.0.1:%d pid %s private %s boot %ss" % (
                    h["name"], "running" if h["running"] else "stopped", h["ssh_port"],
                    h["pid"], h["private_address"], h["boot_seconds"]))
        return 0
    if args.cmd == "inventory":
        st = lab.load_state(args.name)
        if not st:
            raise lab.LabError("no lab %r" % args.name)
        print(st["inventory"])
        return 0
    if args.cmd == "ssh":
        st = lab.load_state(args.name)
        if not st:
            raise lab.LabError("no lab %r" % args.name)
        cmd = args.command
        if cmd and cmd[0] == "--":
            cmd = cmd[1:]
        argv = lab.ssh_argv(st, args.host, cmd)
        os.execvp(argv[0], argv)
    if args.cmd == "reset":
        print(lab.reset(args.name, args.host, timeout=args.timeout))
        return 0
    if args.cmd == "selftest":
        failures = lab.selftest(args.name)
        if failures:
            sys.stderr.write("xenlab: selftest FAILED: %s\n" % ", ".join(failures))
            return 1
        lab.say("selftest passed")
        return 0
    if args.cmd == "ci-plan":
        return _ci_plan(args)
    if args.cmd == "ci-images":
        print(" ".join(ciplan.images_for(args.scenarios, ciplan.images_this_run(args.rotation, args.pool_size))))
        return 0
    if args.cmd == "ci-suite":
        print(ciplan.scenario_suite(args.scenario, args.rotation, args.pool_size))
        return 0
    if args.cmd == "serial-digest":
        for line in digest.digest(args.prefix, args.since):
            print(line)
        return 0
    if args.cmd == "hub":
        net.run_hub(args.port, args.pidfile)
        return 0
    return 2


def _missing_images(names):
    """The names (IMAGE or IMAGE@SUITE, as ciplan gives them) with no cached image or APT repository."""
    missing = set()
    for name in names:
        kind, suite = ciplan.split_image(name)
        if not (aptrepo.find_repo(suite) if kind == "aptrepo" else images.find_image(kind, suite)):
            missing.add(name)
    return missing


def _ci_plan(args):
    """Print "RUN <scenarios>" and then one line per reason (to stdout, for the CI log)."""
    try:
        expected = ciplan.parse_pairs(args.expected)
        cost = ciplan.parse_pairs(args.image_cost)
    except ValueError as e:
        raise lab.LabError(str(e))
    always, pool = args.always.split(), args.pool.split()
    unknown = [s for s in always + pool if s not in expected]
    if unknown:
        raise lab.LabError("no expected time for %s (--expected)" % " ".join(unknown))
    paths = ciplan.changed_paths(sys.stdin.read())
    own, shared = ciplan.touched(paths)
    first = args.first.split()
    stray = [s for s in first if s not in pool]
    if stray:
        raise lab.LabError("--first names scenarios outside the pool: %s" % " ".join(stray))
    ordered = ciplan.order(pool, own, args.rotation, shared, first)
    this_run = ciplan.images_this_run(args.rotation, len(pool))
    missing = _missing_images(ciplan.images_for(always + ordered, this_run))
    # the cost of building an image is its kind's, whatever the suite
    image_cost = {name: cost.get(ciplan.split_image(name)[0], 0) for name in missing}
    run, not_run = ciplan.plan(always, ordered, expected, args.available, image_cost, this_run)
    print("RUN " + " ".join(run))
    print("changed by the last commits (%d paths): own files of %s; shared code of %s" % (
        len(paths), " ".join(s for s in ordered if s in own) or "none",
        " ".join(s for s in ordered if s in shared and s not in own) or "none"))
    print("order: %s (rotation %d%s)" % (" ".join(ordered), args.rotation,
                                         "; new to CI, first: " + " ".join(first) if first else ""))
    build = [i for i in ciplan.images_for(run, this_run) if i in missing]
    print("images to build: %s" % (" ".join(build) or "none (all cached)"))
    suites = ["%s on %s" % (s, ciplan.scenario_suite(s, args.rotation, len(pool))) for s in ciplan.SUITES if s in pool]
    if suites:
        print("suites this run: %s (the others on %s)" % (", ".join(suites), ciplan.DEFAULT_SUITE))
    for s, why in not_run:
        print("not this run: %s (%s)" % (s, why))
    return 0
