"""The response cache never serves stale bytes.

Small files are served from memory after their first request; these tests
change a file between requests in every way the cache validates (content
with a new mtime, size, inode by rename) and in a way it must not be fooled
by (same size, mtime moved back to the old second but a different
nanosecond), and check that the next response has the new bytes and a new
ETag. Ranges and HEAD are answered from cached entries too, and with the
cache off every answer is the same.

The module's /proc/khttpd counters also show whether an answer came from
memory; the twin has no such counters, so there only the bytes are
checked.
"""
import os
import time

import pytest

from conftest import TRACEFS, kprobe_event, stats_once, tracefs_write
from khttp_client import Conn
from tls_agent import kernel_has


def put(srv, name, data, mtime_ns=None):
    path = srv.path(name)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    if mtime_ns is not None:
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
    os.replace(tmp, path)          # a new inode at the same path
    return path


def rewrite_in_place(path, data, mtime_ns):
    with open(path, "r+b") as f:   # same inode
        f.truncate(0)
        f.write(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def fetch(srv, name, headers=None):
    r = srv.get("/" + name, headers=headers)
    assert r.status in (200, 206), r
    return r


def stats(srv):
    """The module's counters from /proc/khttpd; None for the twin."""
    return srv.stats() if srv.has_stats else None


def settle():
    """Let a just-written file's timestamps fall out of the cache's racy
    window (one clock tick), so its next read is kept."""
    time.sleep(0.05)


def test_cached_file_served_repeatedly(srv):
    data = os.urandom(3000)
    put(srv, "cache-a.bin", data)
    settle()
    first = fetch(srv, "cache-a.bin")
    before = stats(srv)
    for _ in range(5):
        r = fetch(srv, "cache-a.bin")
        assert r.body == data
        assert r.header("ETag") == first.header("ETag")
    if before is None:
        return
    after = stats_once(srv, before, "body_bytes_from_memory", 5 * len(data))
    # Served from memory: five hits, no file body spliced.
    assert after["cache_hits"] - before["cache_hits"] == 5
    assert after["body_bytes_spliced"] == before["body_bytes_spliced"]
    assert after["body_bytes_from_memory"] - \
        before["body_bytes_from_memory"] == 5 * len(data)


def test_file_over_cache_file_max_is_spliced_not_cached(srv):
    data = os.urandom(1024 * 1024 + 1)     # the default cache_file_max + 1
    put(srv, "cache-big.bin", data)
    settle()
    for _ in range(2):
        before = stats(srv)
        assert fetch(srv, "cache-big.bin").body == data
        if before is None:
            continue
        after = stats_once(srv, before, "body_bytes_spliced", len(data))
        assert after["body_bytes_spliced"] - before["body_bytes_spliced"] \
            == len(data)
        assert after["cache_hits"] == before["cache_hits"]


def test_large_file_cached_by_default(srv):
    """Files up to 1 MiB (the default cache_file_max) are cached: the
    first request fills, the next is a hit with nothing spliced."""
    data = os.urandom(300000)
    put(srv, "cache-large.bin", data)
    settle()
    assert fetch(srv, "cache-large.bin").body == data           # fill
    before = stats(srv)
    assert fetch(srv, "cache-large.bin").body == data
    if before is None:
        return
    after = stats_once(srv, before, "body_bytes_from_memory", len(data))
    assert after["cache_hits"] - before["cache_hits"] == 1
    assert after["body_bytes_spliced"] == before["body_bytes_spliced"]


SENDMSG_PROBE = "khttpd_test/tcp_sendmsg"


@pytest.mark.module_only("counts the module's own sends")
def test_cached_response_leaves_in_one_sendmsg(srv):
    """Where TCP takes a send's pages in one sendmsg (6.5+), a cached file
    of several pages leaves with its head in one tcp_sendmsg: the head is
    copied into a page fragment and goes by reference with the pages.
    Before, the head had a copying send of its own, two calls per
    response, and for larger files the head often took a segment of its
    own (6.12 guest, 256 KiB files, a connection per request: 18.7
    segments per response, 18.0 with one call; khttpd's CPU per request
    0.22 -> 0.18-0.19 ms)."""
    if kernel_has("tcp_sendpage"):
        pytest.skip("each page is a ->sendpage call of its own here")
    if not os.path.isdir(os.path.join(TRACEFS, "events")):
        pytest.skip("no tracefs at " + TRACEFS)
    data = os.urandom(8 * 4096 + 100)      # 9 pages, the head in front
    put(srv, "cache-onesend.bin", data)
    settle()
    requests = 40
    with Conn("127.0.0.1", srv.port, timeout=20) as c, \
            kprobe_event(SENDMSG_PROBE, "tcp_sendmsg") as event:
        c.request("GET", "/cache-onesend.bin")           # fills
        assert c.read_response().body == data
        try:
            # Not the suite's own sends (its requests).
            tracefs_write(event + "/filter", "common_pid != %d" % os.getpid())
            tracefs_write("tracing_on", "0")
            tracefs_write("trace", "")
            tracefs_write(event + "/enable", "1")
            tracefs_write("tracing_on", "1")
            before = stats(srv)
            for _ in range(requests):
                c.request("GET", "/cache-onesend.bin")
                assert c.read_response().body == data
            stats_once(srv, before, "body_bytes_from_memory",
                       requests * len(data))
            tracefs_write("tracing_on", "0")
            with open(os.path.join(TRACEFS, "trace")) as f:
                sends = [ln for ln in f if ": tcp_sendmsg:" in ln]
        finally:
            tracefs_write(event + "/enable", "0")
            tracefs_write("trace", "")
            tracefs_write("tracing_on", "1")
    after = stats(srv)
    assert after["cache_hits"] - before["cache_hits"] == requests
    assert len(sends) == requests, (len(sends), sends[-6:])


def hit_or_spliced(srv, name, data):
    """Fetch name (whose bytes are data): 'hit', 'fill' (a miss answered
    from the entry it filled) or 'spliced' (a miss, not cached). Both
    lookup counters move before the response is sent; the byte counters
    when the sends return, which may be just after the client has read
    the last byte."""
    before = stats(srv)
    assert fetch(srv, name).body == data
    after = stats(srv)
    if after["cache_hits"] - before["cache_hits"] == 1:
        return "hit"
    assert after["cache_misses"] - before["cache_misses"] == 1, after
    deadline = time.monotonic() + 5
    while True:
        grew = {k: after[k] - before[k]
                for k in ("body_bytes_spliced", "body_bytes_from_memory")}
        if grew["body_bytes_spliced"] == len(data):
            return "spliced"
        if grew["body_bytes_from_memory"] == len(data):
            return "fill"
        assert time.monotonic() < deadline, grew
        time.sleep(0.02)
        after = stats(srv)


@pytest.mark.module_only("/proc/khttpd's counters")
def test_large_files_take_only_free_room(srv):
    """A file over 64 KiB is cached only into free room: large files that
    do not all fit must not evict each other and be read again on every
    request. With a 2 MiB cache, two 900 KiB files fill it; a third is
    spliced, again and again, and the first two stay hits. A changed file
    gives its room back before its new bytes are read, so it is cached
    again."""
    size = 900 * 1024
    files = {n: os.urandom(size) for n in ("a", "b", "c")}
    srv.restart(cache_size=2)
    try:
        for n, data in files.items():
            put(srv, "cache-room-%s.bin" % n, data)
        settle()
        seen = [hit_or_spliced(srv, "cache-room-%s.bin" % n, files[n])
                for n in ("a", "b", "c", "c", "a", "b", "c")]
        assert seen == ["fill", "fill", "spliced", "spliced", "hit", "hit",
                        "spliced"], seen
        files["a"] = os.urandom(size)
        put(srv, "cache-room-a.bin", files["a"])
        settle()
        seen = [hit_or_spliced(srv, "cache-room-a.bin", files["a"])
                for _ in range(2)]
        assert seen == ["fill", "hit"], seen
    finally:
        srv.restore()


@pytest.mark.module_only("/proc/khttpd's counters")
def test_stats_table_counts_requests_and_statuses(srv):
    before = stats(srv)
    srv.get("/hello.txt")
    srv.get("/no-such-file")
    after = stats(srv)
    assert after["requests"] - before["requests"] == 2
    assert after["responses_2xx"] - before["responses_2xx"] == 1
    assert after["responses_4xx"] - before["responses_4xx"] == 1
    assert after["connections_open"] >= 0


def test_new_content_same_inode_new_mtime(srv):
    path = put(srv, "cache-b.bin", b"x" * 1000, mtime_ns=1_600_000_000 * 10**9)
    old = fetch(srv, "cache-b.bin")
    assert old.body == b"x" * 1000
    rewrite_in_place(path, b"y" * 1000, 1_600_000_001 * 10**9)
    new = fetch(srv, "cache-b.bin")
    assert new.body == b"y" * 1000
    assert new.header("ETag") != old.header("ETag")


def test_same_second_different_nanoseconds(srv):
    base = 1_650_000_000 * 10**9
    path = put(srv, "cache-c.bin", b"1" * 500, mtime_ns=base + 100)
    assert fetch(srv, "cache-c.bin").body == b"1" * 500
    rewrite_in_place(path, b"2" * 500, base + 200)
    assert fetch(srv, "cache-c.bin").body == b"2" * 500


def test_size_change_and_replaced_inode(srv):
    mtime = 1_700_000_000 * 10**9
    put(srv, "cache-d.bin", b"short", mtime_ns=mtime)
    assert fetch(srv, "cache-d.bin").body == b"short"
    # Same mtime, different inode and size.
    put(srv, "cache-d.bin", b"much longer now", mtime_ns=mtime)
    assert fetch(srv, "cache-d.bin").body == b"much longer now"
    # Same mtime and size, different inode.
    put(srv, "cache-d.bin", b"MUCH LONGER NOW", mtime_ns=mtime)
    assert fetch(srv, "cache-d.bin").body == b"MUCH LONGER NOW"


def test_range_and_head_from_cache(srv):
    data = bytes(range(256)) * 20
    put(srv, "cache-e.bin", data)
    fetch(srv, "cache-e.bin")                       # fill
    r = fetch(srv, "cache-e.bin", headers={"Range": "bytes=100-199"})
    assert r.status == 206
    assert r.body == data[100:200]
    r = srv.get("/cache-e.bin", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert int(r.header("Content-Length")) == len(data)
    srv.assert_alive()


def test_deleted_file_is_404_not_cached(srv):
    path = put(srv, "cache-f.bin", b"here")
    assert fetch(srv, "cache-f.bin").body == b"here"
    os.unlink(path)
    assert srv.get("/cache-f.bin").status == 404


@pytest.mark.needs_root("the file is the suite's own")
def test_chmod_unreadable_is_403_not_cached(srv):
    path = put(srv, "cache-g.bin", b"public")
    assert fetch(srv, "cache-g.bin").body == b"public"
    os.chmod(path, 0o600)
    try:
        assert srv.get("/cache-g.bin").status == 403
    finally:
        os.chmod(path, 0o644)


@pytest.mark.parametrize("size", [65536, 65537, 200000])
def test_threshold_boundary_sizes_exact(srv, size):
    data = os.urandom(size)
    put(srv, "cache-h-%d.bin" % size, data)
    for _ in range(2):
        assert fetch(srv, "cache-h-%d.bin" % size).body == data


@pytest.mark.parametrize("first,last", [(0, 16383), (4000, 9000), (4095, 4096),
                                        (8192, 12287), (16000, 16383)])
def test_cached_pages_ranges_cross_page_boundaries(srv, first, last):
    """Files over a page are sent from the cache's pages without a copy,
    page by page: every slice, across page boundaries, must be exact."""
    data = os.urandom(16384)
    put(srv, "cache-pages-%d.bin" % first, data)
    fetch(srv, "cache-pages-%d.bin" % first)          # fill
    before = stats(srv)
    r = fetch(srv, "cache-pages-%d.bin" % first,
              headers={"Range": "bytes=%d-%d" % (first, last)})
    after = stats(srv)
    assert r.status == 206
    assert r.body == data[first:last + 1]
    if after is None:
        return
    assert after["cache_hits"] - before["cache_hits"] == 1
    assert after["body_bytes_spliced"] == before["body_bytes_spliced"]


def test_cached_file_through_a_small_window_is_exact(srv):
    """A cached file's pages go to TCP 16 at a time in one call (from 6.5
    one sendmsg for all of them). A 6 MiB file, cached with
    cache_file_max raised, takes hundreds of those calls, and through a
    4 KiB window it outgrows the socket's send buffer (4 MiB at most), so
    TCP takes part of a call and the rest waits for room: every send must
    resume exactly where the last one stopped."""
    data = os.urandom(6 * 1024 * 1024 + 1000)
    srv.restart(cache_file_max=16384)
    try:
        put(srv, "cache-window.bin", data)
        settle()
        fetch(srv, "cache-window.bin")                    # fill
        before = stats(srv)
        with Conn(srv.host, srv.port, rcvbuf=4096) as c:
            c.request("GET", "/cache-window.bin")
            r = c.read_response()
        assert r.status == 200
        assert r.body == data
        after = stats(srv)
        if after is not None:
            assert after["cache_hits"] - before["cache_hits"] == 1
            assert after["body_bytes_spliced"] == \
                before["body_bytes_spliced"]
    finally:
        srv.restore()


def write_same_size_in_place(path, data):
    with open(path, "r+b") as f:   # same inode, same size, no truncate
        f.write(data)


def test_same_size_rewrites_in_one_tick_never_stale(srv):
    """Two writes within one timestamp tick leave size and mtime equal;
    the cache must still never answer with the older bytes."""
    path = put(srv, "cache-race.bin", b"A" * 2000)
    settle()
    stale = 0
    for i in range(300):
        a = (b"A%03d" % i) * 500
        b = (b"B%03d" % i) * 500
        write_same_size_in_place(path, a)
        got_a = fetch(srv, "cache-race.bin").body
        write_same_size_in_place(path, b)
        got_b = fetch(srv, "cache-race.bin").body
        assert got_a == a, "round %d: first GET not the bytes just written" % i
        if got_b != b:
            stale += 1
    assert stale == 0, "%d of 300 GETs after a rewrite got the old bytes" % stale


def test_rewrite_with_mtime_restored_never_stale(srv):
    """touch -r / touch -d put the mtime back; the change time still moves."""
    path = put(srv, "cache-touch.bin", b"old!" * 300)
    st = os.stat(path)
    settle()
    assert fetch(srv, "cache-touch.bin").body == b"old!" * 300
    assert fetch(srv, "cache-touch.bin").body == b"old!" * 300    # cached
    write_same_size_in_place(path, b"new!" * 300)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))            # touch -r
    assert os.stat(path).st_mtime_ns == st.st_mtime_ns
    settle()
    assert fetch(srv, "cache-touch.bin").body == b"new!" * 300
    time.sleep(1.1)
    assert fetch(srv, "cache-touch.bin").body == b"new!" * 300


def test_racy_fill_is_served_then_refilled(srv):
    """A file read within a tick of its change is served but not kept
    (unless its filesystem has a change counter); either way, once it has
    settled the cache holds it."""
    put(srv, "cache-racy.bin", b"r" * 3000)
    assert fetch(srv, "cache-racy.bin").body == b"r" * 3000
    settle()
    assert fetch(srv, "cache-racy.bin").body == b"r" * 3000
    before = stats(srv)
    assert fetch(srv, "cache-racy.bin").body == b"r" * 3000
    if before is not None:
        assert stats(srv)["cache_hits"] - before["cache_hits"] == 1


# (path, request header fields): files under and over the cache's limit,
# a range, a gzip variant, errors, a redirect, a listing, an index.
SAME_WITHOUT_CACHE = [
    ("/hello.txt", {}), ("/b0.bin", {}), ("/b65536.bin", {}),
    ("/b65537.bin", {}), ("/hello.txt", {"Range": "bytes=5-9"}),
    ("/b4k.bin", {"Range": "bytes=500-"}),
    ("/gz/style.css", {"Accept-Encoding": "gzip"}), ("/missing", {}),
    ("/sub", {}), ("/sub/", {}), ("/ls/", {}),
    ("/hello.txt", {"Range": "bytes=500-"}),
]


def answers_of(srv):
    out = []
    for path, headers in SAME_WITHOUT_CACHE:
        srv.get(path, headers=headers)      # the first one may fill
        r = srv.get(path, headers=headers)
        out.append((path, r.status, [(n, v) for n, v in r.headers
                                     if n != "Date"], r.body))
    return out


@pytest.mark.lifecycle
def test_cache_off_answers_the_same(srv, http_tree):
    """Whether a body comes from memory or from the file shows nothing on
    the wire: with cache_file_max=0 every answer is the same (Date
    aside)."""
    cached = answers_of(srv)
    try:
        srv.restart(cache_file_max=0)
        uncached = answers_of(srv)
    finally:
        srv.restore()
    for a, b in zip(cached, uncached):
        assert a == b
