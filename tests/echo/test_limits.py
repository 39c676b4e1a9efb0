# SPDX-License-Identifier: GPL-2.0
"""Limits: the idle timeout, the connection limit, and settings that
cannot work (the user server's options here; insmod's parameters are in
test_module.py)."""

import select
import socket
import subprocess
import time

import pytest

from conftest import free_port, recv_exact, user_server_path, wait_closed


def closed_now(sock):
    """Whether the server has closed sock (EOF or reset waiting)."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def test_idle_timeout(srv):
    """timeout=2: an idle connection is closed about 2 s after its last
    byte (not before 1.5 s; the sweepers run once a second, so by 5 s at
    the latest), while one that talks every 0.3 s, and so keeps pushing
    its deadline back, is still served after the idle one is gone."""
    srv.restart(timeout=2)
    idle = srv.connect()
    busy = srv.connect()
    try:
        idle.sendall(b"ping\n")
        assert recv_exact(idle, 5) == b"ping\n"
        t0 = time.monotonic()
        while not closed_now(idle):
            took = time.monotonic() - t0
            assert took < 5, "idle connection still open %.1f s after " \
                "its last byte (timeout=2)" % took
            busy.sendall(b"x")
            assert recv_exact(busy, 1, 5) == b"x", "busy connection"
            time.sleep(0.3)
        took = time.monotonic() - t0
        assert took >= 1.5, "idle connection closed after %.1f s with " \
            "timeout=2" % took
        busy.sendall(b"still here")
        assert recv_exact(busy, 10, 5) == b"still here"
    finally:
        idle.close()
        busy.close()


def conn_works(sock, msg):
    try:
        sock.sendall(msg)
        sock.settimeout(3)
        return recv_exact(sock, len(msg), 3) == msg
    except (OSError, AssertionError):
        return False


def test_max_conns(srv):
    """max_conns=5: five clients are echoed; a sixth is closed (it, or an
    older one to make room), so never more than five are served; once one
    leaves, a new client is served again."""
    srv.restart(max_conns=5)
    conns = []
    try:
        for i in range(5):
            c = srv.connect()
            assert conn_works(c, b"conn %d\n" % i), "connection %d" % i
            conns.append(c)
        extra = srv.connect()
        conns.append(extra)
        time.sleep(0.5)
        working = [conn_works(c, b"again\n") for c in conns]
        assert sum(working) <= 5, "all 6 connections served with " \
            "max_conns=5"
        closed = [c for c, ok in zip(conns, working) if not ok]
        for c in closed:
            assert wait_closed(c, 5)[0] in ("eof", "reset"), \
                "a connection over the limit is neither served nor closed"
        for c in conns:
            c.close()
        conns = []
        time.sleep(0.5)
        with srv.connect() as c:
            assert conn_works(c, b"room again\n")
    finally:
        for c in conns:
            c.close()


BAD_OPTIONS = [
    (["-p", "0"], "-p"), (["-p", "70000"], "-p"), (["-p", "abc"], "-p"),
    (["-p", ""], "-p"), (["-c", "0"], "-c"), (["-T", "-1"], "-T"),
    (["-T", "3601"], "-T"), (["-t", "0"], "-t"), (["-b", "localhost"], "-b"),
    (["--no-such-option"], "usage"), (["extra-argument"], "extra-argument"),
]


@pytest.mark.user_only("the user server's command line")
@pytest.mark.parametrize("args,what", BAD_OPTIONS,
                         ids=[" ".join(a) or "empty" for a, _ in BAD_OPTIONS])
def test_bad_option_rejected(args, what):
    r = subprocess.run([user_server_path()] + args, capture_output=True,
                       timeout=10)
    err = r.stderr.decode()
    assert r.returncode != 0, "started with %s" % args
    assert r.stdout == b"", "printed a banner with %s" % args
    assert what in err and "user-echo-server" in err, err


@pytest.mark.user_only("the user server's start-up error")
def test_port_in_use_rejected():
    with socket.socket() as s:
        port = free_port()
        s.bind(("127.0.0.1", port))
        s.listen()
        r = subprocess.run([user_server_path(), "-b", "127.0.0.1", "-p",
                            str(port)], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert ("port %d: Address already in use" % port) in r.stderr.decode()


@pytest.mark.user_only("the user server's exit status on signals")
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_clean_exit_on_signal(sig):
    import signal
    port = free_port()
    p = subprocess.Popen([user_server_path(), "-b", "127.0.0.1", "-p",
                          str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline().startswith(b"user-echo-server: echoing")
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"hi")
        assert recv_exact(c, 2) == b"hi"
        p.send_signal(getattr(signal, sig))
        assert p.wait(10) == 0
        assert wait_closed(c, 5)[0] in ("eof", "reset")
        c.close()
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()
