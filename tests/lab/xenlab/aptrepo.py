"""A local APT repository for offline lab hosts, and the tiny HTTP server that serves it.

build(suite) downloads (on the lab host, which may reach Debian's mirror) the packages the
hypervisor role installs -- Xen, its HVM device model and the guest provisioning tools (PACKAGES) -- together with
their whole dependency closure, resolved against an EMPTY dpkg status so the repository is
complete whatever the guest image already holds. The .debs go to a pool, dpkg-scanpackages
writes the index and a Release file with checksums is written here, so the guest sees an
ordinary mirror:

    deb [trusted=yes] http://10.0.2.100/debian <suite> main

The nested VMs cannot reach any outside address (QEMU user networking with restrict=on).
QEMU's `guestfwd=tcp:10.0.2.100:80-cmd:...` runs a command per TCP connection the guest opens
to 10.0.2.100:80, with the connection on its stdin/stdout; this file, run as a script with
`serve-stdio DIR`, is that command: a minimal HTTP/1.1 file server (GET/HEAD, keep-alive) on
stdin/stdout that never writes to stderr (stderr is the guest's socket too).

Cached under <cache>/aptrepo/<suite>-<key>/ where key hashes the suite, package list and this
file; .debs are kept in <cache>/debs/<suite>-aptrepo/ so a rebuild does not download again.
This file is stdlib only and valid for Python 3.9+ (it is also executed directly by QEMU).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import unquote

REPO_ADDR = "10.0.2.100"
REPO_PORT = 80
REPO_PREFIX = "/debian"
IMAGES_PREFIX = "/images"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# what the hypervisor role installs: Xen, the HVM device model, the guest provisioning tools, and on an ifupdown host
# (image plain-ifupdown) bridge-utils and ifenslave for the bridges and bonds
PACKAGES = ["xen-system-amd64", "qemu-system-xen",
            "qemu-utils", "lvm2", "xorriso", "dosfstools", "mtools", "grub-xen-host",
            "bridge-utils", "ifenslave"]
# package sets served only when asked for (`xenlab up --apt-repo --apt-extra NAME`): the peer a Xen user would otherwise
# pick, libvirt's libxl driver and what community.libvirt's modules need on the host (benchmarks/peer_libvirt)
EXTRAS = {"libvirt": ["libvirt-daemon-driver-xen", "libvirt-daemon-system", "libvirt-clients", "python3-libvirt",
                      "python3-lxml"]}
BUILD_VERSION = "1"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def packages_for(extras=()):
    """PACKAGES plus the named EXTRAS sets (unknown names raise KeyError before anything is built)."""
    pkgs = list(PACKAGES)
    for name in extras or ():
        pkgs += [p for p in EXTRAS[name] if p not in pkgs]
    return pkgs


def _cache_root():
    root = os.environ.get("XENLAB_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "xenfleet-lab")
    return os.path.abspath(root)


def _log(msg):
    sys.stderr.write("[xenlab aptrepo] %s\n" % msg)
    sys.stderr.flush()


def repo_key(suite, packages=None):
    with open(os.path.abspath(__file__), "rb") as f:
        src = hashlib.sha256(f.read()).hexdigest()
    blob = json.dumps({"suite": suite, "packages": sorted(packages or PACKAGES),
                       "version": BUILD_VERSION, "source": src}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def repo_dir(suite, packages=None):
    return os.path.join(_cache_root(), "aptrepo", "%s-%s" % (suite, repo_key(suite, packages)))


def find_repo(suite, packages=None):
    d = repo_dir(suite, packages)
    return d if os.path.isfile(os.path.join(d, "manifest.json")) else None


def source_line(suite):
    """The APT source line a lab host's inventory hands to the role."""
    return "deb [trusted=yes] http://%s%s %s main" % (REPO_ADDR, REPO_PREFIX, suite)


def guestfwd(repo, images=None):
    """(address, port, command) for qemu.host_argv: serve repo to the guest at REPO_ADDR:80, and the
    files of the directory IMAGES (if given) under IMAGES_PREFIX, as a user downloads an image."""
    return (REPO_ADDR, REPO_PORT, "%s %s serve-stdio %s%s" % (
        sys.executable, os.path.abspath(__file__), repo, " " + images if images else ""))


def image_url(name):
    """Where a lab host downloads the image file NAME served with guestfwd(repo, images)."""
    return "http://%s%s/%s" % (REPO_ADDR, IMAGES_PREFIX, name)


def deb_names(simulation):
    """File names of the .debs in `apt-get -s install` output ("Inst NAME (VERSION ... [ARCH])")."""
    names = []
    for line in simulation.splitlines():
        m = re.match(r"Inst (\S+) (?:\[\S+\] )?\((\S+) .*?\[([a-z0-9]+)\]\)", line)
        if m:
            name, version, arch = m.groups()
            names.append("%s_%s_%s.deb" % (name, version.replace(":", "%3a"), arch))
    return names


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def release_text(suite, dist_dir, files):
    """Release file for dists/<suite>; files are paths relative to dist_dir."""
    lines = [
        "Origin: xenlab",
        "Label: xenlab local repository",
        "Suite: %s" % suite,
        "Codename: %s" % suite,
        "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
        "Architectures: amd64",
        "Components: main",
        "Description: Offline Xen packages for the nested lab",
        "SHA256:",
    ]
    for rel in files:
        p = os.path.join(dist_dir, rel)
        lines.append(" %s %16d %s" % (_sha256(p), os.path.getsize(p), rel))
    return "\n".join(lines) + "\n"


def build(suite="bookworm", packages=None, force=False, mirror=None):
    """Build (or reuse) the repository; return its directory."""
    packages = list(packages or PACKAGES)
    existing = find_repo(suite, packages)
    if existing and not force:
        _log("cached: %s" % existing)
        return existing
    mirror = mirror or os.environ.get("XENLAB_MIRROR") or DEFAULT_MIRROR
    final = repo_dir(suite, packages)
    work = final + ".tmp"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.time()
    root = os.path.join(work, "aptroot")
    for d in ("etc/apt/sources.list.d", "etc/apt/preferences.d", "etc/apt/apt.conf.d",
              "var/lib/apt/lists/partial", "var/lib/dpkg", "var/cache/apt"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
    with open(os.path.join(root, "etc/apt/sources.list"), "w") as f:
        f.write("deb [signed-by=%s] %s %s main\n" % (KEYRING, mirror, suite))
    debs = os.path.join(_cache_root(), "debs", "%s-aptrepo" % suite)
    os.makedirs(os.path.join(debs, "partial"), exist_ok=True)
    opts = [
        "-o", "Dir=%s" % root,
        "-o", "Dir::State::status=%s" % os.path.join(root, "var/lib/dpkg/status"),
        "-o", "Dir::Cache::archives=%s" % debs,
        "-o", "Dir::Etc::Parts=%s" % os.path.join(root, "etc/apt/apt.conf.d"),
        "-o", "APT::Architecture=amd64",
        "-o", "APT::Architectures::=amd64",
        "-o", "APT::Install-Recommends=false",
        "-o", "Debug::NoLocking=true",
        "-o", "APT::Sandbox::User=root",
    ]
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    _log("$ apt-get update (%s %s)" % (suite, mirror))
    subprocess.run(["apt-get", "-q"] + opts + ["update"], check=True, env=env,
                   stdout=sys.stderr)
    _log("$ apt-get install --download-only %s" % " ".join(packages))
    subprocess.run(["apt-get", "-q", "-y", "--download-only"] + opts + ["install"] + packages,
                   check=True, env=env, stdout=sys.stderr)
    out = os.path.join(work, "out")
    pool = os.path.join(out, "pool", "main")
    os.makedirs(pool)
    # the closure apt resolved against the empty status: every package it would install
    plan = subprocess.run(["apt-get", "-q", "-s"] + opts + ["install"] + packages, check=True,
                          env=env, stdout=subprocess.PIPE, universal_newlines=True).stdout
    names = deb_names(plan)
    if not names:
        raise RuntimeError("apt-get planned no packages for %s" % packages)
    for n in names:
        shutil.copy(os.path.join(debs, n), os.path.join(pool, n))
    dist = os.path.join(out, "dists", suite)
    bindir = os.path.join(dist, "main", "binary-amd64")
    os.makedirs(bindir)
    scan = subprocess.run(["dpkg-scanpackages", "-m", "pool/main", "/dev/null"], cwd=out,
                          check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    with open(os.path.join(bindir, "Packages"), "wb") as f:
        f.write(scan)
    import gzip
    with gzip.open(os.path.join(bindir, "Packages.gz"), "wb") as f:
        f.write(scan)
    with open(os.path.join(dist, "Release"), "w") as f:
        f.write(release_text(suite, dist, ["main/binary-amd64/Packages",
                                           "main/binary-amd64/Packages.gz"]))
    manifest = {
        "suite": suite, "packages": packages, "key": repo_key(suite, packages),
        "debs": len(names), "size_mb": round(sum(
            os.path.getsize(os.path.join(pool, n)) for n in names) / 1048576.0, 1),
        "source_line": source_line(suite), "build_seconds": round(time.time() - t0, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(final, ignore_errors=True)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    os.rename(out, final)
    shutil.rmtree(work, ignore_errors=True)
    _log("built %s: %d packages, %.1f MB, %.0f s" % (final, len(names), manifest["size_mb"],
                                                     time.time() - t0))
    return final


# --- serving over stdin/stdout (one process per guest TCP connection) ---------------

def _resolve(root, url_path, images=None):
    path = unquote(url_path.split("?", 1)[0])
    if images and path.startswith(IMAGES_PREFIX + "/"):
        root, rel = images, path[len(IMAGES_PREFIX) + 1:]
    elif path.startswith(REPO_PREFIX + "/"):
        rel = path[len(REPO_PREFIX) + 1:]
    else:
        return None
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        return None
    full = os.path.join(root, *parts) if parts else root
    return full if os.path.isfile(full) else None


def serve_stdio(root, rfile=None, wfile=None, images=None):
    """Answer HTTP/1.x GET/HEAD requests from rfile on wfile until EOF or Connection: close: files of
    the repository ROOT under REPO_PREFIX, and of the directory IMAGES under IMAGES_PREFIX."""
    rfile = rfile or sys.stdin.buffer
    wfile = wfile or sys.stdout.buffer
    while True:
        line = rfile.readline(8192)
        if not line:
            return
        if not line.strip():
            continue
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            return
        headers = {}
        while True:
            h = rfile.readline(8192)
            if not h or not h.strip():
                break
            k, _sep, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        full = _resolve(root, target, images)
        if full is None or method not in ("GET", "HEAD"):
            body = b"not found\n"
            wfile.write(("%s 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         "\r\n" % (version, len(body))).encode("latin-1"))
            if method != "HEAD":
                wfile.write(body)
        else:
            size = os.path.getsize(full)
            mtime = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                  time.gmtime(os.path.getmtime(full)))
            wfile.write(("%s 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "Content-Length: %d\r\nLast-Modified: %s\r\n\r\n"
                         % (version, size, mtime)).encode("latin-1"))
            if method == "GET":
                with open(full, "rb") as f:
                    shutil.copyfileobj(f, wfile, 1 << 16)
        wfile.flush()
        if close:
            return


def main(argv):
    if len(argv) in (2, 3) and argv[0] == "serve-stdio":
        # stderr is the guest's socket as well: never write diagnostics there
        sys.stderr = open(os.devnull, "w")
        try:
            serve_stdio(argv[1], images=argv[2] if len(argv) == 3 else None)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return 0
    if len(argv) >= 1 and argv[0] == "build":
        suite = argv[1] if len(argv) > 1 else "bookworm"
        print(build(suite, force="--force" in argv))
        return 0
    sys.stderr.write("usage: aptrepo.py build [SUITE] [--force] | serve-stdio DIR [IMAGES_DIR]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
