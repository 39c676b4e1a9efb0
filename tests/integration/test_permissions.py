# SPDX-License-Identifier: GPL-2.0
"""khttpd reads files as user=/group= (default 65534, nobody/nogroup), so
it serves exactly what a userspace server running as that user would:
search permission on every directory, read permission on the file, ACLs
and LSMs, all applied by the VFS itself. The twin, started as root,
becomes -u/-g (the same default) and must serve exactly the same.

The test tree is made by root (the suite runs as root) under the served
root; each case sets modes and owners and checks the status."""

import os
import shutil

import pytest

from conftest import module_loaded
from test_lifecycle import expect_insmod_fails

pytestmark = pytest.mark.needs_root("files owned by other users")

NOBODY = 65534
OTHER_GID = 4242          # a group the default credential is not in
BODY = b"permission test body\n"


@pytest.fixture(scope="module")
def perm(khttpd):
    """/perm/ under the served root, removed afterwards."""
    base = khttpd.path("/perm")
    os.mkdir(base, 0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def make(base, rel, mode, data=BODY, uid=0, gid=0):
    p = os.path.join(base, rel)
    os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chown(p, uid, gid)
    os.chmod(p, mode)
    return p


def mkdir(base, rel, mode, uid=0, gid=0):
    p = os.path.join(base, rel)
    os.makedirs(p, exist_ok=True)
    os.chown(p, uid, gid)
    os.chmod(p, mode)
    return p


def status(srv, url):
    return srv.get(url).status


@pytest.mark.parametrize("mode,file_st,list_st", [
    (0o700, 403, 403),      # no search, no read for others
    (0o711, 200, 403),      # search only: files by name, no listing
    (0o755, 200, 200),
])
def test_directory_modes(srv, perm, mode, file_st, list_st):
    d = "d%o" % mode
    make(perm, d + "/f.txt", 0o644)
    mkdir(perm, d, mode)
    assert status(srv, "/perm/%s/f.txt" % d) == file_st
    assert status(srv, "/perm/%s/" % d) == list_st
    r = srv.get("/perm/%s/f.txt" % d)
    if file_st == 200:
        assert r.body == BODY
    else:
        assert BODY not in r.body


@pytest.mark.parametrize("mode,want", [
    (0o600, 403), (0o640, 403), (0o644, 200), (0o604, 200), (0o000, 403),
])
def test_file_modes_root_owned(srv, perm, mode, want):
    make(perm, "f%o.txt" % mode, mode)
    r = srv.get("/perm/f%o.txt" % mode)
    assert r.status == want
    assert (BODY in r.body) == (want == 200)


def test_files_owned_by_the_serving_user(srv, perm):
    make(perm, "mine.txt", 0o600, uid=NOBODY, gid=NOBODY)
    assert status(srv, "/perm/mine.txt") == 200
    make(perm, "mine-wo.txt", 0o200, uid=NOBODY, gid=NOBODY)
    assert status(srv, "/perm/mine-wo.txt") == 403
    # Owner permissions win over others', as in any VFS check.
    make(perm, "mine-no.txt", 0o044, uid=NOBODY, gid=0)
    assert status(srv, "/perm/mine-no.txt") == 403


def test_readable_directory_without_search_refused(srv, perm):
    make(perm, "rnox/index.html", 0o644, b"<p>index</p>\n")
    make(perm, "rnox/f.txt", 0o644)
    mkdir(perm, "rnox", 0o744)
    assert status(srv, "/perm/rnox/") == 403
    assert status(srv, "/perm/rnox/f.txt") == 403
    assert status(srv, "/perm/rnox/index.html") == 403


def test_private_directory_anywhere_on_the_path(srv, perm):
    make(perm, "outer/inner/deep.txt", 0o644)
    mkdir(perm, "outer", 0o700)
    try:
        assert status(srv, "/perm/outer/inner/deep.txt") == 403
        assert status(srv, "/perm/outer/inner/") == 403
    finally:
        os.chmod(os.path.join(perm, "outer"), 0o755)
    assert status(srv, "/perm/outer/inner/deep.txt") == 200


def test_chmod_of_a_cached_file_between_requests(srv, perm):
    p = make(perm, "cached.txt", 0o644, b"c" * 3000)
    os.utime(p, (1_600_000_000, 1_600_000_000))     # out of the racy window
    assert srv.get("/perm/cached.txt").body == b"c" * 3000
    assert srv.get("/perm/cached.txt").body == b"c" * 3000   # from the cache
    os.chmod(p, 0o600)
    assert status(srv, "/perm/cached.txt") == 403
    os.chmod(p, 0o644)
    assert status(srv, "/perm/cached.txt") == 200
    # Losing search permission on the directory is seen as well.
    os.chmod(perm, 0o700)
    try:
        assert status(srv, "/perm/cached.txt") == 403
    finally:
        os.chmod(perm, 0o755)


def test_gzip_variant_not_readable_falls_back(srv, perm):
    make(perm, "g/app.js", 0o644, b"plain();\n" * 50)
    make(perm, "g/app.js.gz", 0o600, b"\x1f\x8b not really gzip")
    r = srv.get("/perm/g/app.js", headers={"Accept-Encoding": "gzip"})
    assert r.status == 200
    assert r.header("Content-Encoding") is None
    assert r.body == b"plain();\n" * 50


def test_root_not_searchable_gives_403(srv):
    os.chmod(srv.root, 0o700)
    try:
        assert status(srv, "/hello.txt") == 403
        assert status(srv, "/") == 403
    finally:
        os.chmod(srv.root, 0o755)
    srv.assert_alive()


@pytest.mark.lifecycle
def test_group_parameter_grants_group_readable_files(srv, perm):
    make(perm, "grp/g.txt", 0o640, gid=OTHER_GID)
    mkdir(perm, "grp", 0o750, gid=OTHER_GID)
    assert status(srv, "/perm/grp/g.txt") == 403
    try:
        srv.restart(group=OTHER_GID)
        if srv.kind == "module":
            with open("/sys/module/khttpd/parameters/group") as f:
                assert int(f.read()) == OTHER_GID
        assert status(srv, "/perm/grp/g.txt") == 200
        assert status(srv, "/perm/grp/") == 200
        # Other users' private files stay private.
        assert status(srv, "/secret.txt") == 403
    finally:
        srv.restore()
    assert status(srv, "/perm/grp/g.txt") == 403


@pytest.mark.lifecycle
def test_user_parameter(srv, perm):
    make(perm, "u/u.txt", 0o600, uid=1234)
    assert status(srv, "/perm/u/u.txt") == 403
    try:
        srv.restart(user=1234)
        assert status(srv, "/perm/u/u.txt") == 200
        assert status(srv, "/secret.txt") == 403
    finally:
        srv.restore()


@pytest.mark.lifecycle
@pytest.mark.module_only("insmod's parameter checks")
@pytest.mark.parametrize("param", ["user=4294967295", "group=4294967295",
                                   "user=abc", "group=-5"])
def test_bad_user_or_group_fails_insmod(srv, param):
    srv.rmmod()
    try:
        expect_insmod_fails(srv, srv.insmod_args(extra=[param]), param)
    finally:
        if not module_loaded():
            srv.insmod()


@pytest.mark.lifecycle
@pytest.mark.module_only("insmod's parameter checks")
def test_root_the_user_cannot_search_fails_insmod(srv, tmp_path):
    private = tmp_path / "private-root"
    private.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(private, 0o700)
    srv.rmmod()
    try:
        expect_insmod_fails(srv, srv.insmod_args(root=str(private)),
                            "a root user 65534 may not search")
        assert any("may not search" in ln or "cannot open as user" in ln
                   for ln in srv.kmsg.lines)
    finally:
        if not module_loaded():
            srv.insmod()


@pytest.mark.lifecycle
@pytest.mark.module_only("insmod's parameter checks")
def test_relative_root_fails_insmod(srv):
    srv.rmmod()
    try:
        expect_insmod_fails(srv, srv.insmod_args(root="tmp/www"),
                            "a relative root")
        assert any("not an absolute path" in ln for ln in srv.kmsg.lines)
    finally:
        if not module_loaded():
            srv.insmod()


@pytest.mark.lifecycle
def test_root_slash_serves_only_what_nobody_may_read(srv):
    """The attacker's view with root=/: private places stay private."""
    try:
        srv.restart(root="/")
        assert status(srv, "/etc/hostname") in (200, 404)
        assert status(srv, "/etc/shadow") == 403
        if os.path.isdir("/root") and os.stat("/root").st_mode & 0o005 == 0:
            assert status(srv, "/root/") == 403
        # tracefs (0700); where it is not mounted (a container) the
        # directory is sysfs's empty, world-readable mount point.
        if os.path.isdir("/sys/kernel/tracing") and \
                os.stat("/sys/kernel/tracing").st_mode & 0o005 == 0:
            assert status(srv, "/sys/kernel/tracing/") == 403
        # A private directory of the test tree, reached from /.
        assert status(srv, srv.root + "/secret.txt") == 403
    finally:
        srv.restore()


@pytest.mark.lifecycle
def test_root_slash_pseudo_filesystems_never_served(srv):
    """Pseudo filesystems' sizes are not real: their files are never
    served, even where the user may read them."""
    try:
        srv.restart(root="/")
        for url in ("/proc/version", "/proc/cpuinfo",
                    "/sys/kernel/mm/transparent_hugepage/enabled",
                    "/sys/kernel/uevent_seqnum"):
            if os.path.exists(url):
                assert status(srv, url) == 403, url
        import glob
        for cfg in glob.glob("/sys/bus/pci/devices/*/config")[:1]:
            r = srv.get(cfg)
            assert r.status == 403 and len(r.body) < 1000, cfg
    finally:
        srv.restore()


@pytest.mark.lifecycle
@pytest.mark.module_only("max_conns= and /proc/khttpd's counters")
def test_max_conns_full_of_idle_keepalive_makes_room(srv):
    """nginx's behaviour when it runs out of connections: the oldest idle
    keep-alive connection is closed so a new client is served at once."""
    import socket
    import time

    def counters():
        with open("/proc/khttpd") as f:
            return {k: int(v) for k, v in (ln.split() for ln in f)}

    srv.rmmod()
    idle = []
    try:
        srv.insmod(extra=["max_conns=20", "timeout=60"])
        for _ in range(20):
            c = srv.conn()
            c.request("GET", "/hello.txt")
            assert c.read_response().status == 200
            idle.append(c)
        time.sleep(0.3)
        before = counters()
        t0 = time.monotonic()
        r = srv.get("/hello.txt", timeout=10)
        assert r.status == 200
        assert time.monotonic() - t0 < 5
        after = counters()
        assert after["connections_idle_closed"] > before["connections_idle_closed"]
        assert after["connections_refused"] == before["connections_refused"]
        # The oldest one was the one closed.
        state, _ = idle[0].wait_closed(10)
        assert state in ("eof", "reset")

        # Connections that have not sent a request yet are not idle
        # keep-alive ones: with max_conns of them, a newcomer is refused.
        for c in idle:
            c.close()
        idle = []
        time.sleep(0.5)
        fresh = [socket.create_connection((srv.host, srv.port), timeout=10)
                 for _ in range(20)]
        idle = fresh
        time.sleep(0.5)
        before = counters()
        s = socket.create_connection((srv.host, srv.port), timeout=10)
        s.settimeout(10)
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        s.close()
        assert counters()["connections_refused"] == before["connections_refused"] + 1
    finally:
        for c in idle:
            try:
                c.close()
            except OSError:
                pass
        if module_loaded():
            srv.rmmod()
        srv.insmod()
