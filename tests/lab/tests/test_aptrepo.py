"""The lab's HTTP server over stdin/stdout (QEMU guestfwd): the APT repository and the served images."""

import io
import os

import pytest

from xenlab import aptrepo


def _serve(tmp_path, request, images=None):
    repo = tmp_path / "repo"
    (repo / "dists" / "bookworm").mkdir(parents=True, exist_ok=True)
    (repo / "dists" / "bookworm" / "Release").write_bytes(b"Suite: bookworm\n")
    out = io.BytesIO()
    aptrepo.serve_stdio(str(repo), rfile=io.BytesIO(request), wfile=out, images=images)
    return out.getvalue()


def test_repository_files_are_served_under_the_debian_prefix(tmp_path):
    got = _serve(tmp_path, b"GET /debian/dists/bookworm/Release HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, body = got.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Length: 16" in head
    assert body == b"Suite: bookworm\n"


def test_images_are_served_under_their_prefix_only_when_a_directory_is_given(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    (images / "debian-12-genericcloud-amd64.qcow2").write_bytes(b"QFI\xfb" + b"\0" * 60)
    req = b"GET /images/debian-12-genericcloud-amd64.qcow2 HTTP/1.1\r\nConnection: close\r\n\r\n"
    served = _serve(tmp_path, req, images=str(images))
    assert served.startswith(b"HTTP/1.1 200 OK")
    assert served.endswith(b"QFI\xfb" + b"\0" * 60)
    assert _serve(tmp_path, req).startswith(b"HTTP/1.1 404 Not Found")


def test_no_path_leaves_the_served_directories(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    (tmp_path / "secret").write_text("x")
    for target in ("/images/../secret", "/debian/../secret", "/debian/%2e%2e/secret", "/secret", "/images/"):
        req = ("GET %s HTTP/1.1\r\nConnection: close\r\n\r\n" % target).encode()
        assert _serve(tmp_path, req, images=str(images)).startswith(b"HTTP/1.1 404"), target


def test_guestfwd_command_passes_the_images_directory_and_the_url_matches(tmp_path):
    addr, port, cmd = aptrepo.guestfwd("/r/repo", "/r/img")
    assert (addr, port) == ("10.0.2.100", 80)
    assert cmd.split()[-3:] == ["serve-stdio", "/r/repo", "/r/img"]
    assert aptrepo.guestfwd("/r/repo")[2].split()[-2:] == ["serve-stdio", "/r/repo"]
    assert aptrepo.image_url("a.qcow2") == "http://10.0.2.100/images/a.qcow2"


def test_the_package_list_holds_what_the_hypervisor_role_installs():
    here = os.path.dirname(os.path.abspath(__file__))
    role_vars = os.path.join(here, "..", "..", "..", "roles", "hypervisor", "vars", "Debian-12.yml")
    with open(role_vars) as f:
        text = f.read()
    for line in text.splitlines():
        if line.strip().startswith(("packages:", "hvm_packages:", "provisioning_packages:")):
            names = line.split("[", 1)[1].rstrip("]").split(",")
            for name in (n.strip() for n in names):
                assert name in aptrepo.PACKAGES, name


def test_a_package_set_asked_for_is_added_and_makes_a_repository_of_its_own():
    with_libvirt = aptrepo.packages_for(['libvirt'])
    assert with_libvirt[:len(aptrepo.PACKAGES)] == aptrepo.PACKAGES
    assert set(with_libvirt) - set(aptrepo.PACKAGES) == set(aptrepo.EXTRAS['libvirt'])
    assert aptrepo.packages_for([]) == aptrepo.PACKAGES
    assert aptrepo.repo_key('bookworm', with_libvirt) != aptrepo.repo_key('bookworm')
    with pytest.raises(KeyError):
        aptrepo.packages_for(['nosuch'])
