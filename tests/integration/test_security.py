# SPDX-License-Identifier: GPL-2.0
"""Nothing outside the document root is ever served; files that are not
world-readable or not regular files are refused."""

import os
import socket
import subprocess

import pytest

from khttp_client import ConnectionClosed, exchange

from conftest import (OUTSIDE_CONTENT, SECRET_CONTENT, TRACEFS,
                      kprobe_event, traced_stacks)


def passwd_needle():
    with open("/etc/passwd", "rb") as f:
        first = f.readline().strip()
    return first or b"root:x:0:0"


def assert_not_leaked(srv, r):
    assert passwd_needle() not in r.body, "served /etc/passwd!"
    assert b"OUTSIDE-ROOT-SECRET" not in r.body, "served a file outside root!"
    assert OUTSIDE_CONTENT not in r.body
    assert SECRET_CONTENT not in r.body


TRAVERSALS = [
    "/../etc/passwd",
    "/../../../../../../etc/passwd",
    "/..%2f..%2fetc/passwd",
    "/..%2F..%2Fetc%2Fpasswd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
    "/.%2e/.%2e/etc/passwd",
    "/%252e%252e/%252e%252e/etc/passwd",    # double-encoded: decoded once
    "/a/../../etc/passwd",
    "/sub/../../etc/passwd",
    "/sub/%2e%2e/%2e%2e/outside.txt",
    "/../outside.txt",
    "/%2e%2e/outside.txt",
    "/..\\..\\etc\\passwd",
    "//etc/passwd",
    "//../outside.txt",
    "/..%2foutside.txt",
    "/etc/passwd",
    "/.../etc/passwd",
    "/passwd-link",             # symlink to /etc/passwd (absolute)
    "/etc-link/passwd",         # symlink to /etc (absolute, directory)
    "/escape-link.txt",         # ../outside.txt (relative, escapes)
    "/abs-outside-link.txt",    # absolute symlink to the outside file
    "/up/outside.txt",          # symlink '..' then a file beside the root
    "/up%2foutside.txt",
    "http://127.0.0.1/../etc/passwd",       # absolute-form
    "http://127.0.0.1/../outside.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_traversal_refused(srv, target, method):
    raw = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
           % (method, target)).encode()
    r, c = exchange(srv.host, srv.port, raw, method)
    c.close()
    assert r.status in (400, 403, 404), r
    assert_not_leaked(srv, r)


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_traversal_refused_then_connection_sane(srv, version):
    """A refused traversal on a keep-alive connection does not desync it."""
    with srv.conn() as c:
        c.request("GET", "/../outside.txt", version,
                  headers=[("Connection", "keep-alive")])
        r = c.read_response()
        assert r.status in (400, 403, 404)
        assert_not_leaked(srv, r)
        if r.has_token("Connection", "close") or r.status == 400:
            return
        c.request("GET", "/hello.txt", version,
                  headers=[("Connection", "keep-alive")])
        r = c.read_response()
        assert r.status == 200 and r.body == srv.expected("/hello.txt")


@pytest.mark.parametrize("target,path", [
    ("/link-inside.bin", "/b4k.bin"),
    ("/sub/up-link.txt", "/hello.txt"),     # ../hello.txt, stays inside
])
def test_symlink_inside_root_served(srv, target, path):
    r = srv.get(target)
    assert r.status == 200, r
    assert r.body == srv.expected(path)


@pytest.mark.needs_root("the mode 0600 file is the suite's own")
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_not_world_readable_is_403(srv, method):
    r = srv.get("/secret.txt", method=method)
    assert r.status == 403, r
    assert SECRET_CONTENT not in r.body


def test_fifo_not_served_and_does_not_hang(srv):
    """Opening a FIFO for reading blocks until a writer appears; the server
    must refuse non-regular files without opening them that way."""
    r = srv.get("/fifo", timeout=30)
    assert r.status in (403, 404), r
    srv.assert_alive()


def test_char_device_not_served(srv):
    """A node like /dev/zero inside the root would be an endless body."""
    if not srv.have_zero_dev:
        pytest.skip("cannot create a device node in the test root")
    try:
        r = srv.get("/zero", timeout=30)
    except (ConnectionClosed, socket.timeout) as e:
        pytest.fail("no proper answer for a device node: %s" % e)
    assert r.status in (403, 404), r
    assert r.body.count(b"\0") < 4096
    srv.assert_alive()


@pytest.mark.needs_root("mounting a file system in the root")
def test_a_mount_inside_the_root_is_served_from_the_mount(srv):
    """A file system mounted on a directory beneath the root is served
    from the mount, not from the directory it covers: the lookup that skips
    the VFS walk for plain names must hand mount points to the walk. The
    covered directory holds a file of the same name, so a lookup that
    stopped at the mount point would serve the wrong bytes, not a 404."""
    d = srv.path("/mounted")
    os.mkdir(d, 0o755)
    try:
        with open(os.path.join(d, "which.txt"), "wb") as f:
            f.write(b"the covered directory\n")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755",
                            "khttpd-test", d], capture_output=True, text=True)
        if r.returncode:
            pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())
        try:
            with open(os.path.join(d, "which.txt"), "wb") as f:
                f.write(b"the mounted tmpfs\n")
            os.chmod(os.path.join(d, "which.txt"), 0o644)
            for _ in range(2):                  # the fill, then a hit
                r = srv.get("/mounted/which.txt")
                assert r.status == 200, r
                assert r.body == b"the mounted tmpfs\n"
        finally:
            subprocess.run(["umount", d], check=True)
        # The mount gone, the same name is the covered file again.
        r = srv.get("/mounted/which.txt")
        assert r.status == 200 and r.body == b"the covered directory\n", r
    finally:
        if os.path.exists(os.path.join(d, "which.txt")):
            os.unlink(os.path.join(d, "which.txt"))
        os.rmdir(d)


GETNAME_PROBE = "khttpd_test/getname"


@pytest.mark.module_only("a kprobe on the module's lookups")
def test_plain_paths_skip_the_walk_and_symlinks_take_it(srv):
    """vfs_path_lookup() copies the path into a 4 KiB struct filename from
    getname_kernel(), zeroed on init_on_alloc kernels, on every request:
    10% of the server's CPU on small keep-alive requests. A path of plain
    names through plain directories is now looked up name by name in the
    dcache and takes none; one through a symlink still takes the walk,
    which alone confines symlinks to the root, and is served. Counted with
    a kprobe on getname_kernel() whose stacks pass through the module's
    lookup. Before: one per request."""
    if not os.path.exists(os.path.join(TRACEFS, "kprobe_events")):
        pytest.skip("this kernel has no kprobe events")
    n = 20

    def get_all(urls):
        """urls: each with the file whose bytes it serves."""
        def run():
            for _ in range(n):
                for url, path in urls:
                    r = srv.get(url)
                    assert r.status == 200, (url, r)
                    assert r.body == srv.expected(path)
        return run

    def ours(stacks):
        return [st for st in stacks if "khttpd_vfs_lookup" in st]

    with kprobe_event(GETNAME_PROBE, "getname_kernel") as probe:
        event = {probe: "common_pid >= 0"}
        plain = ours(traced_stacks(event, get_all([
            ("/hello.txt", "/hello.txt"),
            ("/sub/page.txt", "/sub/page.txt")])))
        linked = ours(traced_stacks(event, get_all([
            ("/link-inside.bin", "/b4k.bin")])))
    assert not plain, "a plain path walked by the VFS:" + plain[0]
    assert len(linked) >= n, len(linked)
