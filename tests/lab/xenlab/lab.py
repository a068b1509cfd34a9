"""Lab runner: boot N nested Xen hosts one after another, tear them down by PID."""

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time

from xenlab import aptrepo, images, net, paths, qemu, render, warm

STATE = "state.json"
DEFAULT_BOOT_TIMEOUT = 600


class LabError(Exception):
    pass


def say(msg):
    sys.stdout.write("[xenlab] %s\n" % msg)
    sys.stdout.flush()


@contextlib.contextmanager
def _flock(name):
    os.makedirs(paths.cache_root(), exist_ok=True)
    with open(os.path.join(paths.cache_root(), name), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def lab_lock(name):
    """Exclusive lock on one lab name: a second up/down of the same lab fails at once."""
    d = os.path.join(paths.cache_root(), "locks")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "lab-%s.lock" % name), "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LabError("lab %r is being started or stopped by another process" % name)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load_state(name):
    p = os.path.join(paths.lab_dir(name), STATE)
    if not os.path.isfile(p):
        return None
    with open(p) as f:
        return json.load(f)


def save_state(state):
    d = state["dir"]
    tmp = os.path.join(d, STATE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(d, STATE))


def all_labs():
    d = paths.labs_dir()
    if not os.path.isdir(d):
        return []
    return sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n, STATE)))


def reserved_ports(exclude=None):
    ports = set()
    for n in all_labs():
        if n == exclude:
            continue
        st = load_state(n) or {}
        ports.update(st.get("ports", []))
    return ports


def pid_alive(pid, marker):
    """True if pid runs and its command line mentions marker (guards against PID reuse)."""
    if not pid:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        return False
    return marker in cmd


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def serial_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            data = f.read().decode(errors="replace")
    except OSError:
        return "(no serial log at %s)" % path
    data = data.replace("\r", "")
    return "\n".join(data.splitlines()[-lines:])


_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")


def _last_serial_line(path):
    for line in reversed(serial_tail(path, 5).splitlines()):
        line = _ANSI.sub("", line).strip()
        if line:
            return line[:110]
    return ""


def ssh_banner(port, timeout=5.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def ssh_argv(state, host, command=None):
    argv = ["ssh", "-F", state["ssh_config"], host]
    if command:
        argv += list(command)
    return argv


def run_ssh(state, host, command, timeout=60, input=None):
    return subprocess.run(ssh_argv(state, host, command), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False, timeout=timeout,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


def _keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
                   check=True, stdout=subprocess.DEVNULL)
    with open(path + ".pub") as f:
        return f.read().strip()


def _seed_tar(path, files):
    """files: name -> (bytes, mode). A tar read by xenlab-seed from a raw virtio disk."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))


def _wait_ssh(state, h, timeout):
    t0 = time.time()
    last = t0
    marker = state["dir"]
    while True:
        elapsed = time.time() - t0
        if not pid_alive(h["pid"], marker):
            raise LabError("%s: QEMU (pid %s) exited during boot after %.0f s" % (
                h["name"], h["pid"], elapsed))
        fatal = qemu.fatal_boot_line(serial_tail(h["serial"], 400))
        if fatal:
            raise LabError("%s: boot failed after %.0f s: %s" % (h["name"], elapsed, fatal))
        if ssh_banner(h["ssh_port"]):
            r = run_ssh(state, h["name"], ["true"], timeout=60)
            if r.returncode == 0:
                return time.time() - t0
            if time.time() - last >= 15:
                say("%s: sshd answers but login failed: %s" % (h["name"], r.stderr.strip()[-200:]))
        if elapsed > timeout:
            raise LabError("%s: no SSH login within %d s" % (h["name"], timeout))
        if time.time() - last >= 15:
            last = time.time()
            say("%s: waiting for SSH on 127.0.0.1:%d, %3.0f s | %s" % (
                h["name"], h["ssh_port"], elapsed, _last_serial_line(h["serial"])))
        time.sleep(2)


def _start_hub(state, port):
    pidfile = os.path.join(state["dir"], "hub.pid")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    log = open(os.path.join(state["dir"], "hub.log"), "w")
    subprocess.Popen([sys.executable, "-m", "xenlab", "hub", "--port", str(port),
                      "--pidfile", pidfile], env=env, stdout=log, stderr=log,
                     stdin=subprocess.DEVNULL, start_new_session=True)
    for _attempt in range(100):
        pid = read_pidfile(pidfile)
        if pid and not net.port_is_free(port):
            return pid
        time.sleep(0.1)
    raise LabError("private-link hub did not start (see %s)" % log.name)


def host_names(count, names=None):
    if names:
        if len(names) != count:
            raise LabError("%d host names given for %d hosts" % (len(names), count))
        return list(names)
    return ["xen%d" % (i + 1) for i in range(count)]


def _up(name, hosts=1, kind="xen", suite=images.DEFAULT_SUITE, mem=4096, smp=2, dom0_mem=1024,
        names=None, boot_timeout=None, keep_on_failure=False, accel=None, apt_repo=None,
        serve_images=None):
    """apt_repo: directory of a local APT repository (xenlab.aptrepo) served to every host
    at http://10.0.2.100/debian through QEMU guestfwd (the hosts reach nothing else);
    serve_images: a directory whose files the same server offers at http://10.0.2.100/images/
    (the cloud image, xenlab/cloudimg.py), only together with apt_repo."""
    if serve_images and not apt_repo:
        raise LabError("serving images needs the APT repository's server (apt_repo)")
    boot_timeout = int(boot_timeout or os.environ.get("XENLAB_BOOT_TIMEOUT") or DEFAULT_BOOT_TIMEOUT)
    if kind not in ("xen", "plain", "xengrub"):
        raise LabError("unknown image kind %r (xen, plain, xengrub)" % kind)
    old = load_state(name)
    if old:
        if any(pid_alive(h.get("pid"), old["dir"]) for h in old["hosts"]):
            raise LabError("lab %r is already up (run: down --name %s)" % (name, name))
        say("removing stale state of lab %r" % name)
        shutil.rmtree(old["dir"], ignore_errors=True)
    img = images.find_image(kind, suite)
    if not img:
        say("no cached %s/%s image for the current inputs: building it" % (kind, suite))
        img = images.build(kind, suite)
    manifest = images.load_manifest(img)
    if manifest.get("dom0_mem") and dom0_mem != manifest["dom0_mem"]:
        # a GRUB-booted Xen image carries dom0's memory in its grub.cfg, not on QEMU's argv
        say("dom0 memory: %d MiB, set by the %s image's GRUB (not %d)" % (
            manifest["dom0_mem"], kind, dom0_mem))
        dom0_mem = manifest["dom0_mem"]
    acc, cpu, why = qemu.detect_accel(accel)
    say("accelerator: %s, -cpu %s (%s)" % (acc, cpu, why))
    d = paths.lab_dir(name)
    os.makedirs(d)
    key = os.path.join(d, "id_ed25519")
    pub = _keygen(key, "xenlab-%s" % name)
    hn = host_names(hosts, names)
    with _flock("ports.lock"):
        ports = net.allocate_ports(hosts + 1, reserved_ports(exclude=name))
        state = {
            "name": name, "dir": d, "kind": kind, "suite": suite, "image": img,
            "image_key": manifest["key"], "xen_version": manifest.get("xen_version"),
            "accel": acc, "cpu": cpu, "accel_reason": why, "mem": mem, "smp": smp,
            "dom0_mem": dom0_mem, "key": key, "ports": ports,
            "ssh_config": os.path.join(d, "ssh_config"),
            "known_hosts": os.path.join(d, "known_hosts"),
            "inventory": os.path.join(d, "inventory.yml"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "status": "starting", "hub_pid": None, "hosts": [],
            "apt_repo": apt_repo,
            "apt_source": aptrepo.source_line(suite) if apt_repo else None,
            "images_dir": serve_images,
        }
        priv_port = ports[-1]
        for i, hname in enumerate(hn, start=1):
            hd = os.path.join(d, hname)
            os.makedirs(hd)
            # two hosts: host 1 listens, host 2 connects; three or more: all connect to the hub
            priv = ("listen" if hosts <= 2 and i == 1 else "connect", priv_port)
            state["hosts"].append({
                "name": hname, "index": i, "lab": name, "ssh_port": ports[i - 1],
                "priv_addr": net.private_address(i), "priv": list(priv),
                # user-net NICs are alone on their own slirp network: one MAC for all (so a
                # host resumed from the warm template keeps a matching networkd unit)
                "mac_user": qemu.mac(0, 1), "mac_priv": qemu.mac(1, i),
                "accel": acc, "cpu": cpu, "mem": mem, "smp": smp, "dom0_mem": dom0_mem,
                "xen": os.path.join(img, "xen"), "vmlinuz": os.path.join(img, "vmlinuz"),
                "initrd": os.path.join(img, "initrd.img"),
                "boot": manifest.get("boot", "kernel"),
                "guestfwd": [list(aptrepo.guestfwd(apt_repo, serve_images))] if apt_repo else [],
                "overlay": os.path.join(hd, "disk.qcow2"), "seed": os.path.join(hd, "seed.tar"),
                "serial": os.path.join(hd, "serial.log"), "monitor": os.path.join(hd, "monitor.sock"),
                "pidfile": os.path.join(hd, "qemu.pid"), "pid": None, "boot_seconds": None,
            })
        save_state(state)
    try:
        for h in state["hosts"]:
            h["host_pubkey"] = _keygen(os.path.join(d, h["name"], "ssh_host_ed25519_key"),
                                       "root@%s" % h["name"])
        with open(state["known_hosts"], "w") as f:
            f.write(render.known_hosts(state["hosts"]))
        with open(state["ssh_config"], "w") as f:
            f.write(render.ssh_config(state["hosts"], key, state["known_hosts"]))
        with open(state["inventory"], "w") as f:
            f.write(render.inventory_yaml(name, state["hosts"], key, state["known_hosts"]))
        if hosts > 2:
            state["hub_pid"] = _start_hub(state, priv_port)
            save_state(state)
        wdir = _warm_template(state, boot_timeout) if _warm_wanted(state) else None
        for h in state["hosts"]:
            _prepare_host(state, h, pub, backing=warm.template_files(wdir)["overlay"] if wdir
                          else None)
        for h in state["hosts"]:
            if wdir:
                _resume_host(state, h, wdir, boot_timeout)
            else:
                _boot_host(state, h, boot_timeout)
        state["status"] = "up"
        save_state(state)
    except (LabError, subprocess.SubprocessError, OSError) as e:
        state["status"] = "failed"
        save_state(state)
        say("FAILED: %s" % e)
        if not keep_on_failure:
            say("tearing the lab down (use --keep-on-failure to keep it)")
            _down(name, graceful=False, keep_logs=True)
        raise LabError(str(e))
    return state


def up(name, **kw):
    """Boot lab name (see _up for the keyword arguments) under the lab's lock."""
    with lab_lock(name):
        return _up(name, **kw)


def down(name, **kw):
    """Power off and remove lab name (see _down) under the lab's lock."""
    with lab_lock(name):
        return _down(name, **kw)


def _prepare_host(state, h, authorized_pub, backing=None):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b",
                    backing or os.path.join(state["image"], "disk.qcow2"), "-F", "qcow2",
                    h["overlay"]], check=True)
    hd = os.path.dirname(h["overlay"])
    with open(os.path.join(hd, "ssh_host_ed25519_key"), "rb") as f:
        hostkey = f.read()
    files = {
        "hostname": (h["name"].encode() + b"\n", 0o644),
        "hosts": (render.etc_hosts(state["hosts"]).encode(), 0o644),
        "authorized_keys": (authorized_pub.encode() + b"\n", 0o600),
        "ssh_host_ed25519_key": (hostkey, 0o600),
        "ssh_host_ed25519_key.pub": (h["host_pubkey"].encode() + b"\n", 0o644),
    }
    for fname, text in render.network_units(h["index"], h["mac_user"], h["mac_priv"],
                                            h["priv_addr"]).items():
        files["network/" + fname] = (text.encode(), 0o644)
    _seed_tar(h["seed"], files)


def _boot_host(state, h, timeout):
    argv = qemu.host_argv(h)
    with open(os.path.join(os.path.dirname(h["overlay"]), "qemu.argv"), "w") as f:
        f.write(" ".join(argv) + "\n")
    with _flock("boot.lock"):
        say("%s: starting QEMU (%s, %d MiB, %d vCPUs), SSH on 127.0.0.1:%d, serial log %s" % (
            h["name"], h["accel"], h["mem"], h["smp"], h["ssh_port"], h["serial"]))
        t0 = time.time()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, check=False)
        h["pid"] = read_pidfile(h["pidfile"])
        save_state(state)
        if r.returncode != 0:
            raise LabError("%s: QEMU failed to start (rc %d): %s" % (h["name"], r.returncode, r.stdout.strip()))
        try:
            secs = _wait_ssh(state, h, timeout)
        except LabError:
            say("%s: last lines of the serial log %s:" % (h["name"], h["serial"]))
            sys.stdout.write(serial_tail(h["serial"], 60) + "\n")
            sys.stdout.flush()
            raise
        h["boot_seconds"] = round(time.time() - t0, 1)
        save_state(state)
        say("%s: SSH up after %.0f s (boot-to-SSH %.1f s)" % (h["name"], secs, h["boot_seconds"]))


def _warm_wanted(state):
    # Only xen hosts resume from a saved booted host. plain hosts always boot, as a fresh server
    # does; xengrub hosts too, because they reboot (that is their point): a resumed host runs with
    # the template's NIC MACs under QEMU (the re-seed changes them inside the running system only),
    # so after a real reboot its private-link NIC no longer matches its network unit and the link is
    # gone - seen in the fleet scenario: "No route to host" to the host the rolling upgrade rebooted.
    return warm.enabled() and state["kind"] == "xen" and all(
        not h.get("guestfwd") for h in state["hosts"])


def _template_host(state, wd, port, priv_port):
    """The host dict of the template: host 1's shape with the template's files and ports."""
    h = dict(state["hosts"][0])
    h.update({
        "name": warm.TEMPLATE_NAME, "lab": "warm", "index": 1, "ssh_port": port,
        "priv": ["listen", priv_port], "mac_user": qemu.mac(0, 1), "mac_priv": qemu.mac(1, 1),
        "priv_addr": net.private_address(1), "guestfwd": [],
        "overlay": os.path.join(wd, "overlay.qcow2"), "seed": os.path.join(wd, "seed.tar"),
        "serial": os.path.join(wd, "serial.log"), "monitor": os.path.join(wd, "monitor.sock"),
        "pidfile": os.path.join(wd, "qemu.pid"), "pid": None, "boot_seconds": None,
    })
    return h


def _warm_template(state, timeout):
    """Directory of the saved template for this lab's shape; boots and saves it if missing."""
    key = warm.shape_key(_template_host(state, "W", 1, 2), state["image_key"])
    state["warm_key"] = key
    final = warm.warm_dir(state["image"], key)
    with _flock("warm-%s.lock" % key):
        if warm.find(state["image"], key):
            return final
        say("no saved warm state for this image and machine shape: booting a template host once")
        wd = final + ".tmp"
        shutil.rmtree(wd, ignore_errors=True)
        os.makedirs(wd)
        f = warm.template_files(wd)
        with _flock("ports.lock"):
            port, priv_port = net.allocate_ports(2, reserved_ports())
        h = _template_host(state, wd, port, priv_port)
        pub = _keygen(f["key"], "xenlab-warm-template")
        h["host_pubkey"] = _keygen(f["hostkey"], "root@" + warm.TEMPLATE_NAME)
        tstate = {"dir": wd, "image": state["image"], "hosts": [h],
                  "ssh_config": os.path.join(wd, "ssh_config"),
                  "known_hosts": os.path.join(wd, "known_hosts")}
        with open(tstate["known_hosts"], "w") as fh:
            fh.write(render.known_hosts([h]))
        with open(tstate["ssh_config"], "w") as fh:
            fh.write(render.ssh_config([h], f["key"], tstate["known_hosts"]))
        t0 = time.time()
        try:
            _prepare_host(tstate, h, pub)
            _boot_host(tstate, h, timeout)
            # settle: let the boot's last services finish before freezing the machine
            run_ssh(tstate, h["name"], ["systemctl is-system-running --wait >/dev/null; sync"],
                    timeout=300)
            secs = warm.save_template(f["state"], h["monitor"])
            deadline = time.time() + 30
            while pid_alive(h["pid"], wd) and time.time() < deadline:
                time.sleep(0.2)
            if pid_alive(h["pid"], wd):
                os.kill(h["pid"], signal.SIGKILL)
        except BaseException:
            if pid_alive(h.get("pid"), wd):
                os.kill(h["pid"], signal.SIGKILL)
            raise
        manifest = {"key": key, "image_key": state["image_key"], "template_port": port,
                    "template_host_pubkey": h["host_pubkey"], "boot_seconds": h["boot_seconds"],
                    "save_seconds": round(secs, 1), "total_seconds": round(time.time() - t0, 1),
                    "state_bytes": os.path.getsize(f["state"]),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(os.path.join(wd, "manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=2)
        for junk in ("seed.tar", "monitor.sock", "qemu.pid", STATE):
            try:
                os.unlink(os.path.join(wd, junk))
            except OSError:
                pass
        os.rename(wd, final)
        say("warm state saved: %s (%.0f MB, boot %.0f s + save %.0f s)" % (
            final, manifest["state_bytes"] / 1e6, h["boot_seconds"], secs))
        return final


def _resume_host(state, h, wdir, timeout):
    """Start h from the saved template state, then give it its own identity (reseed)."""
    f = warm.template_files(wdir)
    with open(f["manifest"]) as fh:
        manifest = json.load(fh)
    hd = os.path.dirname(h["overlay"])
    run = dict(h)
    run.update({"mac_user": qemu.mac(0, 1), "mac_priv": qemu.mac(1, 1)})
    argv = qemu.host_argv(run) + ["-incoming", "exec:cat %s" % f["state"]]
    with open(os.path.join(hd, "qemu.argv"), "w") as fh:
        fh.write(" ".join(argv) + "\n")
    tmpl = {"name": "template", "ssh_port": h["ssh_port"],
            "host_pubkey": manifest["template_host_pubkey"]}
    tstate = {"dir": state["dir"], "ssh_config": os.path.join(hd, "ssh_config.template")}
    kh = os.path.join(hd, "known_hosts.template")
    with open(kh, "w") as fh:
        fh.write(render.known_hosts([tmpl]))
    with open(tstate["ssh_config"], "w") as fh:
        fh.write(render.ssh_config([tmpl], f["key"], kh))
    with _flock("boot.lock"):
        say("%s: resuming the saved Xen host (%s), SSH on 127.0.0.1:%d, serial log %s" % (
            h["name"], wdir, h["ssh_port"], h["serial"]))
        t0 = time.time()
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, check=False)
        h["pid"] = read_pidfile(h["pidfile"])
        save_state(state)
        if r.returncode != 0:
            raise LabError("%s: QEMU failed to resume (rc %d): %s" % (h["name"], r.returncode, r.stdout.strip()))
        try:
            try:
                loaded = warm.run_incoming(h["monitor"])
            except (RuntimeError, OSError) as e:
                raise LabError("%s: %s" % (h["name"], e))
            say("%s: saved state loaded in %.1f s, VM running" % (h["name"], loaded))
            twait = dict(h, name="template")
            _wait_ssh(tstate, twait, timeout)
            r = run_ssh(tstate, "template", ["sh", "-s"], timeout=120,
                        input=warm.reseed_script(h, (qemu.mac(0, 1), qemu.mac(1, 1)),
                                                 time.time()))
            if r.returncode != 0 or "reseeded" not in r.stdout:
                raise LabError("%s: re-seeding the resumed host failed (rc %d): %s" % (
                    h["name"], r.returncode, (r.stdout + r.stderr).strip()[-500:]))
            _wait_ssh(state, h, 120)
        except LabError:
            say("%s: last lines of the serial log %s:" % (h["name"], h["serial"]))
            sys.stdout.write(serial_tail(h["serial"], 60) + "\n")
            sys.stdout.flush()
            raise
        h["boot_seconds"] = round(time.time() - t0, 1)
        h["warm"] = True
        save_state(state)
        say("%s: resumed and re-seeded, SSH up after %.1f s" % (h["name"], h["boot_seconds"]))


def _down(name, graceful=True, keep_logs=True, wait=25):
    state = load_state(name)
    if not state:
        say("no lab %r" % name)
        return True
    marker = state["dir"]
    live = [h for h in state["hosts"] if pid_alive(h.get("pid") or read_pidfile(h["pidfile"]), marker)]
    for h in live:
        h["pid"] = h.get("pid") or read_pidfile(h["pidfile"])
    if graceful and live:
        for h in live:
            try:
                run_ssh(state, h["name"], ["systemctl", "--no-block", "poweroff"], timeout=15)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.time() + wait
        while time.time() < deadline and any(pid_alive(h["pid"], marker) for h in live):
            time.sleep(0.5)
    pids = [h["pid"] for h in live if pid_alive(h["pid"], marker)]
    hub = state.get("hub_pid")
    if hub and pid_alive(hub, marker):
        pids.append(hub)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            if pid_alive(pid, marker):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.time() + 10
        while time.time() < deadline and any(pid_alive(p, marker) for p in pids):
            time.sleep(0.2)
    left = [p for p in pids if pid_alive(p, marker)]
    if left:
        raise LabError("lab %r: processes still alive after SIGKILL: %s" % (name, left))
    if keep_logs:
        ld = paths.logs_dir(name)
        shutil.rmtree(ld, ignore_errors=True)
        os.makedirs(ld)
        for h in state["hosts"]:
            if os.path.exists(h["serial"]):
                shutil.copy(h["serial"], os.path.join(ld, "%s-serial.log" % h["name"]))
        shutil.copy(os.path.join(state["dir"], STATE), os.path.join(ld, STATE))
    shutil.rmtree(state["dir"], ignore_errors=True)
    say("lab %r is down (%d QEMU stopped%s)" % (
        name, len(live), ", serial logs kept in %s" % paths.logs_dir(name) if keep_logs else ""))
    return True


def status(name=None):
    out = []
    for n in ([name] if name else all_labs()):
        st = load_state(n)
        if not st:
            continue
        hosts = []
        for h in st["hosts"]:
            hosts.append({"name": h["name"], "ssh_port": h["ssh_port"], "pid": h.get("pid"),
                          "running": pid_alive(h.get("pid"), st["dir"]),
                          "private_address": h["priv_addr"], "boot_seconds": h.get("boot_seconds"),
                          "serial": h["serial"]})
        out.append({"name": n, "status": st["status"], "accel": st["accel"], "dir": st["dir"], "kind": st.get("kind"),
                    "inventory": st["inventory"], "ssh_config": st["ssh_config"],
                    "key": st["key"], "known_hosts": st["known_hosts"],
                    "xen_version": st.get("xen_version"), "hosts": hosts})
    return out


def reset(name, host, timeout=None):
    """Hard-reset one host of a lab, as a power cut or a hardware reset would (QEMU `system_reset`: no
    shutdown, nothing flushed from the dom0's page cache), and wait until it answers SSH again.

    A host resumed from the warm template runs under QEMU with the template's private-link MAC (the
    re-seed changed it inside the running system only), so after the reset its private-link NIC gets
    the host's own MAC back (warm.remac_script). Returns the seconds from the reset to SSH.
    """
    timeout = int(timeout or os.environ.get("XENLAB_BOOT_TIMEOUT") or DEFAULT_BOOT_TIMEOUT)
    with lab_lock(name):
        state = load_state(name)
        if not state:
            raise LabError("no lab %r" % name)
        hosts = [h for h in state["hosts"] if h["name"] == host]
        if not hosts:
            raise LabError("lab %r has no host %r (hosts: %s)" % (
                name, host, ", ".join(h["name"] for h in state["hosts"])))
        h = hosts[0]
        if not pid_alive(h.get("pid"), state["dir"]):
            raise LabError("%s: QEMU is not running" % host)
        say("%s: hard reset (QEMU system_reset)" % host)
        t0 = time.time()
        warm.hmp(h["monitor"], "system_reset")
        # sshd of the old boot is gone at once; wait until the reset host's banner is gone too
        while ssh_banner(h["ssh_port"], timeout=1.0) and time.time() - t0 < 10:
            time.sleep(0.5)
        _wait_ssh(state, h, timeout)
        if h.get("warm"):
            r = run_ssh(state, h["name"], ["sh", "-s"], timeout=120,
                        input=warm.remac_script(h, (qemu.mac(0, 1), qemu.mac(1, 1))))
            if r.returncode != 0 or "remac-done" not in r.stdout:
                raise LabError("%s: restoring the private-link MAC after the reset failed (rc %d): %s" % (
                    host, r.returncode, (r.stdout + r.stderr).strip()[-500:]))
        secs = round(time.time() - t0, 1)
        say("%s: back after the reset, SSH up after %.1f s" % (host, secs))
        return secs


def selftest(name):
    """Check each host (xl info, xenstored) and the private link between every pair."""
    state = load_state(name)
    if not state:
        raise LabError("no lab %r" % name)
    failures = []
    for h in state["hosts"]:
        r = run_ssh(state, h["name"], ["xl", "info"], timeout=60)
        ok = r.returncode == 0 and "xen_major" in r.stdout
        say("%s: xl info %s" % (h["name"], "ok" if ok else "FAILED: %s" % r.stderr.strip()))
        if not ok:
            failures.append("%s xl info" % h["name"])
        for other in state["hosts"]:
            if other is h:
                continue
            r = run_ssh(state, h["name"], ["ping", "-c", "3", "-W", "5", other["priv_addr"]],
                        timeout=60)
            ok = r.returncode == 0
            say("%s -> %s (%s) over the private link: %s" % (
                h["name"], other["name"], other["priv_addr"],
                "ok" if ok else "FAILED: %s" % (r.stdout + r.stderr).strip()[-300:]))
            if not ok:
                failures.append("%s->%s" % (h["name"], other["name"]))
    return failures
