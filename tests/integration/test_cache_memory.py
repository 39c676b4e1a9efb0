# SPDX-License-Identifier: GPL-2.0
"""The response cache stays within cache_size: entries being filled and
entries a response still sends from count too, a fill that does not fit is
sent by splice instead, reclaim can take the cache's memory (a shrinker),
and cache_size is clamped to a share of the machine's memory.

Marked `lifecycle`: the module is reloaded with other cache parameters.
Module only: they read the kernel's memory figures and the module's
counters; the twin's own bound (its peak RSS) is in test_twin.py."""

import os
import socket
import time

import pytest

from conftest import module_loaded
from khttp_client import abort

pytestmark = pytest.mark.lifecycle

MiB = 1 << 20


def stats():
    with open("/proc/khttpd") as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemAvailable")


def reload(srv, *extra):
    if module_loaded():
        srv.rmmod()
    srv.insmod(extra=list(extra))


def restore(srv):
    if module_loaded():
        srv.rmmod()
    srv.insmod()
    srv.assert_alive()


@pytest.mark.module_only("/proc/khttpd's cache counters and MemAvailable")
def test_concurrent_big_fills_stay_within_cache_size(srv):
    """100 clients each ask for a different name of one 16 MiB file and
    read slowly: every response would pin a 16 MiB entry if fills and
    pinned entries were not counted."""
    big = srv.path("/memcache/big.bin")
    os.makedirs(os.path.dirname(big), exist_ok=True)
    with open(big, "wb") as f:
        f.write(os.urandom(16 * MiB))
    os.utime(big, (1_600_000_000, 1_600_000_000))
    names = []
    for i in range(100):
        n = srv.path("/memcache/l%03d.bin" % i)
        os.link(big, n)
        names.append("/memcache/l%03d.bin" % i)
    socks = []
    try:
        reload(srv, "cache_size=64", "cache_file_max=16384")
        assert stats()["cache_limit"] == 64 * MiB
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        before = mem_available()
        worst = 0
        peak_cache = 0
        for name in names:
            s = socket.create_connection((srv.host, srv.port), timeout=30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode())
            socks.append(s)
        # Read a little from each, slowly, sampling memory as it goes.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for s in socks:
                s.recv(4096)
            peak_cache = max(peak_cache, stats()["cache_bytes"])
            worst = max(worst, before - mem_available())
            time.sleep(0.2)
        st = stats()
        assert peak_cache <= 64 * MiB, peak_cache
        # Each response may hold its socket buffers and a few pages in
        # flight; the cache itself at most 64 MiB.
        assert worst < 400 * MiB, "MemAvailable fell by %d MiB" % (worst // MiB)
        assert st["cache_bytes"] <= st["cache_limit"]
    finally:
        # They stopped reading mid-download: reset, or the server's ends
        # stay orphans with megabytes unsent and TCP in memory pressure.
        for s in socks:
            abort(s)
        restore(srv)
        import shutil
        shutil.rmtree(srv.path("/memcache"), ignore_errors=True)


@pytest.mark.module_only("the kernel's shrinker")
def test_shrinker_gives_memory_back(srv):
    d = srv.path("/shrink")
    os.makedirs(d, exist_ok=True)
    for i in range(40):
        p = os.path.join(d, "s%02d.bin" % i)
        with open(p, "wb") as f:
            f.write(os.urandom(60000))
        os.utime(p, (1_600_000_000, 1_600_000_000))
    try:
        for i in range(40):
            assert srv.get("/shrink/s%02d.bin" % i).status == 200
        before = stats()
        assert before["cache_entries"] >= 30, before
        assert before["cache_bytes"] > 30 * 60000
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")          # reclaim slab objects: shrinkers run
        after = stats()
        assert after["cache_bytes_reclaimed"] > before["cache_bytes_reclaimed"]
        assert after["cache_bytes"] < before["cache_bytes"]
        # Still correct afterwards.
        r = srv.get("/shrink/s07.bin")
        assert r.status == 200 and len(r.body) == 60000
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.module_only("cache_size= clamped, with a kernel log line")
def test_cache_size_clamped_to_a_share_of_memory(srv):
    try:
        srv.kmsg.read_new()
        reload(srv, "cache_size=65536")
        with open("/proc/meminfo") as f:
            total = int(f.readline().split()[1]) * 1024
        limit = stats()["cache_limit"]
        assert 0 < limit <= total // 4 + 4096
        assert any("cache_size=65536" in ln and "quarter" in ln
                   for ln in srv.kmsg.read_new())
        srv.assert_alive()
    finally:
        restore(srv)
