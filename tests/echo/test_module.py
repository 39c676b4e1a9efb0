# SPDX-License-Identifier: GPL-2.0
"""What only kecho.ko has: /proc/kecho's counters, rmmod with clients
attached, insmod right after rmmod, and insmod's parameter checks."""

import time

import pytest

from conftest import MODULE, module_loaded, recv_exact, wait_closed

pytestmark = pytest.mark.module_only("kecho.ko itself")


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_proc_counters(srv):
    st = srv.server.stats
    # The previous test's connections may still be closing: each count
    # below is read against a server with none open.
    assert wait_for(lambda: st()["connections_open"] == 0, 30), \
        "connections still open before the test: %r" % st()
    before = st()
    for name in ("connections_accepted", "connections_closed",
                 "connections_open", "bytes_echoed"):
        assert name in before, "/proc/kecho has no %s" % name
    with srv.connect() as s:
        assert wait_for(lambda: st()["connections_open"] ==
                        before["connections_open"] + 1)
        s.sendall(b"x" * 1000)
        assert recv_exact(s, 1000) == b"x" * 1000
        # The worker counts the bytes after its send returns, and on
        # loopback the client can have them first (6.12-rt: it did).
        assert wait_for(lambda: st()["bytes_echoed"] ==
                        before["bytes_echoed"] + 1000), \
            "bytes_echoed %d, want %d" % (st()["bytes_echoed"],
                                          before["bytes_echoed"] + 1000)
        assert st()["connections_accepted"] == \
            before["connections_accepted"] + 1
    assert wait_for(lambda: st()["connections_open"] ==
                    before["connections_open"])
    after = st()
    assert after["connections_closed"] == before["connections_closed"] + 1


def test_rmmod_with_100_clients(srv):
    """rmmod returns within 10 s with 100 clients attached (some idle, some
    with unread echo), and every one of them sees EOF or a reset."""
    conns = [srv.connect() for _ in range(100)]
    try:
        for i, c in enumerate(conns):
            c.sendall(b"client %d\n" % i)
            if i % 2 == 0:      # half read their echo, half leave it
                assert recv_exact(c, len(b"client %d\n" % i)) == \
                    b"client %d\n" % i
        took = srv.server.stop(timeout=10)
        assert took <= 10
        assert not module_loaded(MODULE)
        for i, c in enumerate(conns):
            state, _ = wait_closed(c, 10)
            assert state in ("eof", "reset"), "client %d still open" % i
    finally:
        for c in conns:
            c.close()


def test_insmod_right_after_rmmod(srv):
    with srv.connect() as s:
        s.sendall(b"before")
        assert recv_exact(s, 6) == b"before"
    srv.server.stop()
    srv.server.start()          # at once, same port
    with srv.connect() as s:
        s.sendall(b"after")
        assert recv_exact(s, 5) == b"after"


NOT_A_REASON = ("taints kernel", "module verification failed", "pytest:")


@pytest.mark.parametrize("param", ["port=0", "port=70000", "max_conns=0"])
def test_bad_parameter_fails_insmod(srv, param):
    server = srv.server
    server.stop()
    server.kmsg.read_new()
    name, value = param.split("=")
    rc, out = server.insmod_raw({name: value})
    if rc == 0:
        server.stop()
        pytest.fail("insmod %s succeeded" % param)
    assert not module_loaded(MODULE)
    lines = []
    assert wait_for(lambda: lines.extend(
        ln for ln in server.kmsg.read_new()
        if MODULE in ln and not any(x in ln for x in NOT_A_REASON)) or
        lines, 2), "no kernel log line from kecho after insmod %s " \
        "(insmod said: %s)" % (param, out)
    assert any(name in ln for ln in lines), \
        "the kernel log does not name %s: %s" % (name, lines)
    server.start()              # a good insmod right after works
    with srv.connect() as s:
        s.sendall(b"ok")
        assert recv_exact(s, 2) == b"ok"

