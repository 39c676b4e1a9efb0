# SPDX-License-Identifier: GPL-2.0
"""The twin reads files as -u/-g (default 65534) like the module's
user=/group=, and its cache never serves stale bytes or bytes its user has
lost access to. Runs as root (make check does), so that dropping to the
user is what happens."""

import os
import shutil
import time

import pytest

from test_twin import Twin, get, public_dir

NOBODY = 65534
OTHER_GID = 4242
BODY = b"twin access body\n"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to drop privileges")


def make(path, mode, data=BODY, uid=0, gid=0):
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


@pytest.fixture(scope="module")
def tree():
    base = public_dir()
    root = os.path.join(base, "root")
    os.mkdir(root, 0o755)
    yield root
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def twin(tree):
    t = Twin(tree, "-t", "1")
    yield t
    t.stop()


def status(t, path):
    return get(t.port, path).status


@pytest.mark.parametrize("mode,file_st,list_st", [
    (0o700, 403, 403), (0o711, 200, 403), (0o755, 200, 200)])
def test_directory_modes(twin, tree, mode, file_st, list_st):
    d = os.path.join(tree, "d%o" % mode)
    make(os.path.join(d, "f.txt"), 0o644)
    os.chmod(d, mode)
    assert status(twin, "/d%o/f.txt" % mode) == file_st
    assert status(twin, "/d%o/" % mode) == list_st


@pytest.mark.parametrize("mode,want", [
    (0o600, 403), (0o640, 403), (0o644, 200), (0o000, 403)])
def test_file_modes(twin, tree, mode, want):
    make(os.path.join(tree, "f%o.txt" % mode), mode)
    assert status(twin, "/f%o.txt" % mode) == want


def test_owned_by_the_serving_user(twin, tree):
    make(os.path.join(tree, "mine.txt"), 0o600, uid=NOBODY, gid=NOBODY)
    assert status(twin, "/mine.txt") == 200


def test_chmod_of_a_cached_file(twin, tree):
    p = make(os.path.join(tree, "cached.txt"), 0o644, b"c" * 3000)
    os.utime(p, (1_600_000_000, 1_600_000_000))
    assert get(twin.port, "/cached.txt").body == b"c" * 3000
    assert get(twin.port, "/cached.txt").body == b"c" * 3000
    os.chmod(p, 0o600)
    assert status(twin, "/cached.txt") == 403
    os.chmod(p, 0o644)
    assert status(twin, "/cached.txt") == 200


def test_same_size_rewrites_never_stale(twin, tree):
    p = make(os.path.join(tree, "race.bin"), 0o644, b"A" * 2000)
    time.sleep(0.05)
    stale = 0
    for i in range(300):
        for tag in (b"A", b"B"):
            data = (tag + b"%03d" % i) * 500
            with open(p, "r+b") as f:
                f.write(data)
            if get(twin.port, "/race.bin").body != data:
                stale += 1
    assert stale == 0, "%d stale answers" % stale


def test_rewrite_with_mtime_restored(twin, tree):
    p = make(os.path.join(tree, "touch.bin"), 0o644, b"old!" * 300)
    st = os.stat(p)
    time.sleep(0.05)
    assert get(twin.port, "/touch.bin").body == b"old!" * 300
    with open(p, "r+b") as f:
        f.write(b"new!" * 300)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    time.sleep(0.05)
    assert get(twin.port, "/touch.bin").body == b"new!" * 300


def test_group_option(tree):
    d = os.path.join(tree, "grp")
    make(os.path.join(d, "g.txt"), 0o640, gid=OTHER_GID)
    os.chown(d, 0, OTHER_GID)
    os.chmod(d, 0o750)
    t = Twin(tree, "-t", "1")
    try:
        assert status(t, "/grp/g.txt") == 403
    finally:
        t.stop()
    t = Twin(tree, "-t", "1", "-g", str(OTHER_GID))
    try:
        assert status(t, "/grp/g.txt") == 200
        assert status(t, "/f600.txt") in (403, 404)
    finally:
        t.stop()


def test_listing_title_too_long_is_500(twin, tree):
    name = '"' * 250
    os.makedirs(os.path.join(tree, name, name, name), exist_ok=True)
    url = "/" + "/".join(["%22" * 250] * 3) + "/"
    for version in ("1.1", "1.0"):
        assert get(twin.port, url, version=version).status == 500
    assert status(twin, "/f644.txt") == 200


def test_cache_memory_bounded_with_pinned_entries(tree):
    """100 slow clients, 100 names of one 16 MiB file: entries pinned by
    responses count against --cache-size, so the twin's peak RSS stays near
    the bound instead of 100 x 16 MiB."""
    import socket
    d = os.path.join(tree, "mem")
    os.makedirs(d, exist_ok=True)
    big = os.path.join(d, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(16 << 20))
    os.chmod(big, 0o644)
    os.utime(big, (1_600_000_000, 1_600_000_000))
    for i in range(100):
        os.link(big, os.path.join(d, "l%03d.bin" % i))
    t = Twin(tree, "-t", "1", "--cache-file-max", "16384",
             "--cache-size", "64")
    socks = []
    try:
        for i in range(100):
            s = socket.create_connection(("127.0.0.1", t.port), timeout=30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /mem/l%03d.bin HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            socks.append(s)
        for _ in range(10):
            for s in socks:
                s.recv(4096)
            time.sleep(0.1)
        with open("/proc/%d/status" % t.proc.pid) as f:
            hwm = [int(ln.split()[1]) for ln in f
                   if ln.startswith("VmHWM:")][0] * 1024
        assert hwm < 200 << 20, "peak RSS %d MiB" % (hwm >> 20)
    finally:
        for s in socks:
            s.close()
        t.stop()
        shutil.rmtree(d, ignore_errors=True)
