"""Warm starts: resume lab hosts from a saved, already-booted Xen host instead of booting.

The first `up` for an image + machine shape boots a *template* host (generic identity: a
template SSH key, host key, hostname), stops it once SSH answers and saves its whole machine
state with QEMU's migration to a file; its disk overlay is frozen as the backing file of every
later host. A warm host is QEMU started with the same devices plus `-incoming "exec:cat
state"`; it runs on from the saved moment in a few seconds. The lab then logs in with the
template key and re-seeds it: re-reads its own seed disk (hostname, the lab's keys, networkd
units), gives the private-link NIC the host's MAC, sets the clock, restarts sshd.

Stored in <image dir>/warm-<key>/ where key hashes everything the saved state depends on
(image, QEMU version, accelerator, CPU model, memory, vCPUs, dom0 memory, device layout).
XENLAB_WARM=0 turns warm starts off (every host then boots).
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time

from xenlab import qemu, render

WARM_VERSION = "1"
TEMPLATE_NAME = "xenlab-warm"


def enabled():
    return os.environ.get("XENLAB_WARM", "1") not in ("0", "no", "false", "")


def _qemu_version():
    try:
        return subprocess.run([qemu.QEMU, "--version"], stdout=subprocess.PIPE,
                              universal_newlines=True, check=False).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "?"


def shape_key(h, image_key):
    """Hash of what a saved state depends on: the argv of a canonical host (paths and ports
    replaced) plus the image and the QEMU version."""
    canon = dict(h)
    canon.update({"lab": "L", "name": "N", "xen": "X", "vmlinuz": "K", "initrd": "I",
                  "overlay": "O", "seed": "S", "serial": "C", "monitor": "M", "pidfile": "P",
                  "ssh_port": 1, "priv": ["listen", 2], "guestfwd": []})
    argv = qemu.host_argv(canon)
    blob = json.dumps({"argv": argv, "image": image_key, "qemu": _qemu_version(),
                       "v": WARM_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def warm_dir(image_dir, key):
    return os.path.join(image_dir, "warm-" + key)


def find(image_dir, key):
    d = warm_dir(image_dir, key)
    return d if os.path.isfile(os.path.join(d, "manifest.json")) else None


def hmp(sock_path, command, timeout=30.0):
    """Send one HMP command to a QEMU monitor socket; return its output."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        buf = b""
        while not buf.rstrip().endswith(b"(qemu)"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.sendall(command.encode() + b"\n")
        out = b""
        while not out.rstrip().endswith(b"(qemu)"):
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")
    finally:
        s.close()


def _set_priv_mac(old, new):
    """sh: find the NIC that has the template's private-link MAC `old` ($priv, empty if none) and give it `new`."""
    return """priv=""
for i in /sys/class/net/*; do
    [ "$(cat $i/address)" = "%(old)s" ] && priv=$(basename $i)
done
if [ -n "$priv" ] && [ "%(old)s" != "%(new)s" ]; then
    ip link set dev $priv down
    ip link set dev $priv address %(new)s
    ip link set dev $priv up
fi
""" % {"old": old, "new": new}


def reseed_script(h, template_macs, now):
    """Shell run in a resumed host (as root, over SSH with the template key)."""
    return """set -e
date -s @%(now)d >/dev/null
%(mac)sfor d in /sys/block/vd*; do
    [ "$(cat $d/serial 2>/dev/null)" = xenlab-seed ] && blockdev --flushbufs /dev/$(basename $d)
done
rm -f /run/systemd/network/*xenlab*
# the template's key goes; xenlab-seed adds the lab's (it keeps keys added on the host, for reboots)
: > /root/.ssh/authorized_keys
/usr/local/sbin/xenlab-seed
networkctl reload
[ -z "$priv" ] || networkctl reconfigure $priv
systemctl restart ssh
echo reseeded
""" % {"now": int(now), "mac": _set_priv_mac(template_macs[1], h["mac_priv"])}


def remac_script(h, template_macs):
    """Shell run in a resumed host after a hard reset (as root, over SSH with the lab key): under QEMU its
    private-link NIC has the template's MAC again, so give it the host's own (which its network unit, applied
    at boot from the seed disk, matches). Unlike reseed_script it keeps root's authorized_keys: keys added
    on the host (another dom0's, for migrations) survive a reset as they survive a reboot."""
    return """set -e
%(mac)sif [ -n "$priv" ]; then
    networkctl reload
    networkctl reconfigure $priv
fi
echo remac-done
""" % {"mac": _set_priv_mac(template_macs[1], h["mac_priv"])}


def save_template(state_file, monitor, timeout=600, log=None):
    """Stop the VM behind monitor and write its state to state_file (via a .tmp name)."""
    tmp = state_file + ".tmp"
    hmp(monitor, "stop")
    hmp(monitor, 'migrate -d "exec:cat > %s"' % tmp)
    t0 = time.time()
    while True:
        info = hmp(monitor, "info migrate")
        if "Migration status: completed" in info:
            break
        if "Migration status: failed" in info or "Migration status: cancelled" in info:
            raise RuntimeError("saving the warm state failed: %s" % info.strip()[-400:])
        if time.time() - t0 > timeout:
            raise RuntimeError("saving the warm state took more than %d s" % timeout)
        time.sleep(1)
    os.replace(tmp, state_file)
    try:
        hmp(monitor, "quit", timeout=5)
    except OSError:
        pass
    return time.time() - t0


def run_incoming(monitor, timeout=300):
    """Wait until QEMU has loaded the saved state, then start the VM (the template was saved
    stopped, so the loaded VM stays paused until told to continue). Returns seconds taken."""
    t0 = time.time()
    while True:
        try:
            status = hmp(monitor, "info status")
        except OSError:
            status = ""
        if "VM status: running" in status:
            return time.time() - t0
        if "VM status: paused" in status and "inmigrate" not in status:
            hmp(monitor, "cont")
            return time.time() - t0
        if time.time() - t0 > timeout:
            raise RuntimeError("saved state not loaded within %d s (%s)" % (
                timeout, status.strip()[-200:]))
        time.sleep(0.2)


def template_files(d):
    """Paths of a warm directory."""
    return {
        "state": os.path.join(d, "state"),
        "overlay": os.path.join(d, "overlay.qcow2"),
        "key": os.path.join(d, "id_ed25519"),
        "hostkey": os.path.join(d, "ssh_host_ed25519_key"),
        "manifest": os.path.join(d, "manifest.json"),
        "serial": os.path.join(d, "serial.log"),
    }


def template_known_hosts(port, host_pubkey):
    return render.known_hosts([{"ssh_port": port, "host_pubkey": host_pubkey}])


def remove(d):
    shutil.rmtree(d, ignore_errors=True)
