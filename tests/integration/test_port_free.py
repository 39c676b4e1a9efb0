# SPDX-License-Identifier: GPL-2.0
"""The port after rmmod, and drop_tcp_socket.ko.

khttpd must never leave its port unusable: connections it closed first
leave server-side TIME_WAIT sockets on the port, and clients may still be
attached when it is unloaded; insmod on the same port right after must
work all the same (its listener sets SO_REUSEADDR). drop_tcp_socket.ko
(src/drop-tcp-socket/, built next to khttpd.ko) drops what a server left
behind on a port: /proc/net/drop_tcp_socket takes ADDR:PORT,
[ADDR6]:PORT or :PORT. See README, "Freeing a stuck port"."""

import contextlib
import errno
import os
import re
import socket
import time

import pytest

from khttp_client import build_request

from conftest import (TRACEFS, env_flag, kprobe_event, ko_path,
                      module_loaded, run_cmd, tcp_sockets, tracefs_write)

PROC = "/proc/net/drop_tcp_socket"

# /proc/net/tcp's st column.
STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1",
          5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT",
          9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def local_states(port):
    """{state name: count} of the TCP sockets whose local port is port."""
    counts = {}
    for local, _, state, _ in tcp_sockets():
        if local == port:
            st = STATES.get(state, "%02X" % state)
            counts[st] = counts.get(st, 0) + 1
    return counts


def wait_states(port, want, timeout=10.0):
    """Polls until want(counts) is true; returns the last counts."""
    end = time.monotonic() + timeout
    while True:
        counts = local_states(port)
        if want(counts) or time.monotonic() > end:
            return counts
        time.sleep(0.1)


def closed_by_server(srv, n):
    """n HTTP/1.0 requests: the server closes each connection first, so
    nearly each leaves a TIME_WAIT socket on the server's port (not quite
    every one: a client's FIN can cross the server's)."""
    for _ in range(n):
        r = srv.get("/hello.txt", version="HTTP/1.0")
        assert r.status == 200, r


def plain_bind(port, reuse):
    """bind() to every address on port; returns the errno or 0."""
    s = socket.socket(socket.AF_INET6)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("::", port))
        return 0
    except OSError as e:
        return e.errno
    finally:
        s.close()


@pytest.mark.lifecycle
@pytest.mark.module_only("the module's listener and rmmod")
def test_insmod_again_over_server_time_wait(srv):
    closed_by_server(srv, 50)
    counts = wait_states(srv.port, lambda c: c.get("TIME_WAIT", 0) >= 40)
    assert counts.get("TIME_WAIT", 0) >= 40, counts
    srv.rmmod()
    counts = local_states(srv.port)
    assert "LISTEN" not in counts and counts.get("TIME_WAIT", 0) >= 40, \
        counts
    # What the TIME_WAIT sockets do to a socket without SO_REUSEADDR, and
    # so to a server that forgot it; the module must not be one.
    assert plain_bind(srv.port, reuse=False) == errno.EADDRINUSE, \
        "TIME_WAIT sockets did not block a bind without SO_REUSEADDR"
    assert plain_bind(srv.port, reuse=True) == 0
    srv.insmod()
    srv.assert_alive()


@pytest.mark.lifecycle
@pytest.mark.module_only("the module's listener and rmmod")
def test_insmod_again_with_clients_attached(srv):
    """Idle keep-alive clients, half-sent requests and stalled downloads
    are still connected when the module goes; it loads again at once."""
    closed_by_server(srv, 20)
    idle, half, slow = [], [], []
    try:
        for _ in range(10):
            c = srv.conn()
            c.request("GET", "/hello.txt")
            assert c.read_response().status == 200
            idle.append(c)
        for _ in range(5):
            c = srv.conn()
            c.send(b"GET /b4k.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            half.append(c)
        for _ in range(5):
            c = srv.conn(rcvbuf=4096, timeout=60)
            c.send(build_request("GET", "/b20m.bin"))
            assert c.sock.recv(4096).startswith(b"HTTP/1.1 200")
            slow.append(c)
        srv.rmmod()
        srv.insmod()
        srv.assert_alive()
        # The old connections are gone: each sees EOF or a reset.
        for c in idle + half:
            state, _ = c.wait_closed(30)
            assert state in ("eof", "reset"), state
    finally:
        for c in idle + half + slow:
            c.close()


# --------------------------------------------------------------------------
# drop_tcp_socket.ko

def drop_ko():
    return os.path.join(os.path.dirname(ko_path()), "drop_tcp_socket.ko")


@pytest.fixture
def dropper(khttpd):
    """drop_tcp_socket.ko loaded; yields a function writing to its file."""
    if khttpd.kind != "module":
        pytest.skip("a kernel module")
    ko = drop_ko()
    if not os.path.isfile(ko):
        if env_flag("KHTTPD_REQUIRE"):
            pytest.fail("%s missing (scripts/build-module.sh builds it "
                        "next to khttpd.ko)" % ko)
        pytest.skip("%s missing" % ko)
    loaded_here = not module_loaded("drop_tcp_socket")
    if loaded_here:
        rc, out, err = run_cmd(["insmod", ko])
        assert rc == 0, "insmod %s: %s%s" % (ko, out, err)

    def write(text):
        fd = os.open(PROC, os.O_WRONLY)
        try:
            return os.write(fd, text.encode())
        finally:
            os.close(fd)
    yield write
    if loaded_here:
        rc, out, err = run_cmd(["rmmod", "drop_tcp_socket"])
        assert rc == 0, "rmmod drop_tcp_socket: %s%s" % (out, err)


def free_port(family, addr):
    s = socket.socket(family)
    s.bind((addr, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Pairs:
    """A userspace listener on addr:port with connections in chosen
    states on its side: established (both ends open), time-wait (the
    server side closed first) and orphaned (the server closed with data
    the client does not read: FIN_WAIT1)."""

    def __init__(self, family, addr):
        self.family, self.addr = family, addr
        self.lsock = socket.socket(family)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((addr, 0))
        self.port = self.lsock.getsockname()[1]
        self.lsock.listen(64)
        self.clients, self.servers = [], []

    def pair(self, rcvbuf=None):
        c = socket.socket(self.family)
        if rcvbuf:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        c.connect((self.addr, self.port))
        s, _ = self.lsock.accept()
        self.clients.append(c)
        return c, s

    def make(self, established=5, time_wait=5, orphans=1):
        for _ in range(established):
            self.servers.append(self.pair()[1])
        for _ in range(time_wait):
            c, s = self.pair()
            s.close()
            assert c.recv(1) == b""
            c.close()
        for _ in range(orphans):
            c, s = self.pair(rcvbuf=4096)
            s.setblocking(False)
            try:
                while True:
                    s.send(b"x" * 65536)
            except BlockingIOError:
                pass
            s.close()

    def close(self):
        for x in self.clients + self.servers + [self.lsock]:
            x.close()


@pytest.mark.module_only("drop_tcp_socket.ko is a kernel module")
@pytest.mark.parametrize("family,addr,spec", [
    (socket.AF_INET, "127.0.0.1", "127.0.0.1:%d"),
    (socket.AF_INET6, "::1", "[::1]:%d"),
    (socket.AF_INET, "127.0.0.1", ":%d"),
], ids=["ipv4", "ipv6", "any-address"])
def test_drop_tcp_socket_drops_each_state(dropper, family, addr, spec):
    p = Pairs(family, addr)
    try:
        p.make()
        before = wait_states(p.port, lambda c: c.get("TIME_WAIT", 0) >= 5
                             and c.get("FIN_WAIT1", 0) >= 1)
        assert before.get("ESTABLISHED", 0) >= 5 and \
            before.get("TIME_WAIT", 0) >= 5 and \
            before.get("FIN_WAIT1", 0) >= 1, before
        assert dropper(spec % p.port) > 0
        after = local_states(p.port)
        # The listener is not the module's business; everything else goes.
        assert after == {"LISTEN": 1}, (before, after)
        # An owner of an aborted connection learns of it.
        with pytest.raises(OSError) as e:
            p.servers[0].recv(1)
        assert e.value.errno == errno.ECONNABORTED, e.value
    finally:
        p.close()


@pytest.mark.module_only("drop_tcp_socket.ko is a kernel module")
def test_drop_tcp_socket_leaves_other_ports_and_addresses(dropper):
    p = Pairs(socket.AF_INET, "127.0.0.1")
    try:
        p.make(established=3, time_wait=3, orphans=0)
        before = wait_states(p.port, lambda c: c.get("TIME_WAIT", 0) >= 3)
        dropper("127.0.0.1:%d" % (p.port ^ 1))     # another port
        dropper("127.0.0.2:%d" % p.port)            # another address
        dropper("[::1]:%d" % p.port)                # another family
        assert local_states(p.port) == before
    finally:
        p.close()


@pytest.mark.module_only("drop_tcp_socket.ko is a kernel module")
def test_drop_tcp_socket_frees_khttpds_time_wait(srv, dropper):
    """khttpd's IPv4 clients come in on its dual-stack IPv6 socket
    ([::ffff:127.0.0.1]); an IPv4 address matches them. The listener stays,
    and khttpd keeps serving."""
    closed_by_server(srv, 20)
    before = wait_states(srv.port, lambda c: c.get("TIME_WAIT", 0) >= 15)
    assert before.get("TIME_WAIT", 0) >= 15, before
    dropper("127.0.0.1:%d\n" % srv.port)
    assert local_states(srv.port) == {"LISTEN": 1}, before
    srv.assert_alive()


BAD_INPUT = ["", "\n", "8081", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
             "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x", "1.2.3:80",
             "1.2.3.4.5:80", "localhost:80", "::1:80", "[::1:80", "[::1]80",
             "[]:80", "[::1]:", "[1.2.3.4]:80", "x" * 100 + ":80"]


@pytest.mark.module_only("drop_tcp_socket.ko is a kernel module")
def test_drop_tcp_socket_refuses_bad_input(srv, dropper):
    srv.kmsg.read_new()
    for text in BAD_INPUT:
        with pytest.raises(OSError) as e:
            dropper(text)
        assert e.value.errno == errno.EINVAL, (text, e.value)
    lines = [ln for ln in srv.kmsg.read_new() if "drop_tcp_socket" in ln]
    assert lines and "refused" in lines[0], lines
    # Rate-limited: a burst of bad writes does not flood the log.
    assert len(lines) <= 10 + 1, lines


CLOSE_PROBE = "khttpd_test/tcp_close"


@pytest.mark.module_only("the module's sockets")
def test_released_sockets_keep_no_pointer_into_the_module(srv):
    """An accepted socket starts as a copy of the listener, khttpd's
    sk_data_ready included (sk_clone_lock()), and release restored what
    the connection had saved, which was that. A socket that TCP is still
    closing after its release (orphaned: every connection the server
    closes first) could then outlive rmmod holding a pointer into the
    unloaded module. Read at tcp_close() by a kprobe event that fetches
    sk->sk_data_ready through BTF (6.12; skipped where probe events cannot
    read struct fields). The module before: kengine_listener_data_ready
    [khttpd] on every server socket."""
    probe = contextlib.ExitStack()
    try:
        event = probe.enter_context(kprobe_event(
            CLOSE_PROBE, "tcp_close dr=sk->sk_data_ready:symbol"))
    except OSError as e:
        pytest.skip("probe events cannot read sk->sk_data_ready here: %s"
                    % e)
    with probe:
        try:
            tracefs_write("trace", "")
            tracefs_write(event + "/enable", "1")
            # Closed by the server at once, and by the client first.
            with srv.conn() as c:
                c.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
                assert c.read_response().status == 200
                assert c.wait_closed(10) == ("eof", b"")
            with srv.conn() as c:
                c.request("GET", "/hello.txt")
                assert c.read_response().status == 200
            # A worker's fput() is deferred: wait for the server's two closes
            # (the ones not made by this process). A trace line names the
            # task as "comm-pid", comm "<...>" when task names are not
            # recorded (guest-integration.sh turns that off).
            me = re.compile(r"-%d\s+\[" % os.getpid())
            deadline = time.monotonic() + 10
            while True:
                with open(os.path.join(TRACEFS, "trace")) as f:
                    closes = [ln for ln in f if "dr=" in ln]
                if len([ln for ln in closes if not me.search(ln)]) >= 2 or \
                        time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            tracefs_write(event + "/enable", "0")
        finally:
            tracefs_write(event + "/enable", "0")
            tracefs_write("trace", "")
    # Two client sockets and two server sockets.
    assert len(closes) >= 4, closes
    assert not [ln for ln in closes if "[khttpd]" in ln], closes
