# SPDX-License-Identifier: GPL-2.0
"""Addresses: the dual-stack default (IPv6 and IPv4 on one socket), bind=
for one address, bad bind= values, and the client address in the
tracepoints.

Marked `lifecycle`: these tests restart the server with other parameters
and leave it running on the test root as they found it."""

import os
import re
import socket
import time

import pytest

from khttp_client import Conn

from conftest import TRACEFS, run_cmd, tcp_sockets, tracefs_write
from test_lifecycle import expect_insmod_fails

pytestmark = pytest.mark.lifecycle



def fetch(family, addr, port, path="/hello.txt", timeout=10.0):
    """GET path over a fresh connection; (status line, body, local port).
    Raises OSError (ECONNREFUSED, ...) when the connection fails."""
    with Conn(addr, port, timeout=timeout) as c:
        assert c.sock.family == family
        local_port = c.sock.getsockname()[1]
        c.request("GET", path, headers=[("Connection", "close")])
        r = c.read_response()
    return "%s %d %s" % (r.version, r.status, r.reason), r.body, local_port


def refused(family, addr, port):
    try:
        fetch(family, addr, port, timeout=5)
    except ConnectionRefusedError:
        return True
    return False


def curl(srv, *args):
    rc, out, err = run_cmd(["curl", "-sS", "--max-time", "20"] + list(args),
                           60)
    return rc, out, err


@pytest.fixture
def every_address(srv):
    """The server on every address, IPv6 and IPv4: the module's default.
    The suite's twin listens on 127.0.0.1 only (see conftest), so it is
    restarted with bind= empty (its -b ::) for the test."""
    if srv.kind == "module":
        yield srv
        return
    srv.restart(bind="")
    try:
        yield srv
    finally:
        srv.restore()


def test_dual_stack_by_default(every_address):
    srv = every_address
    want = srv.files["/hello.txt"]
    for family, addr in ((socket.AF_INET, "127.0.0.1"),
                         (socket.AF_INET6, "::1")):
        status, body, _ = fetch(family, addr, srv.port)
        assert status == "HTTP/1.1 200 OK", (addr, status)
        assert body == want, addr
    # The real clients, each forced to one family.
    rc, out, err = curl(srv, "-4", "http://127.0.0.1:%d/hello.txt" % srv.port)
    assert rc == 0 and out.encode() == want, (rc, err)
    rc, out, err = curl(srv, "-6", "http://[::1]:%d/hello.txt" % srv.port)
    assert rc == 0 and out.encode() == want, (rc, err)
    # One listening socket, in /proc/net/tcp6, taking both families.
    listeners = [s for s in tcp_sockets(("/proc/net/tcp6",))
                 if s[0] == srv.port and s[2] == 0x0A]
    assert listeners, "no IPv6 listener on port %d" % srv.port


def test_big_file_over_ipv6(every_address):
    srv = every_address
    status, body, _ = fetch(socket.AF_INET6, "::1", srv.port, "/b1m.bin")
    assert status == "HTTP/1.1 200 OK"
    assert body == srv.files["/b1m.bin"]


def test_bind_ipv4_loopback_only(srv):
    try:
        srv.restart(bind="127.0.0.1", wait=False)
        srv.wait_ready()
        status, body, _ = fetch(socket.AF_INET, "127.0.0.1", srv.port)
        assert status == "HTTP/1.1 200 OK"
        assert body == srv.files["/hello.txt"]
        # Another address of the same machine (all of 127/8 is local) and
        # IPv6 loopback: nothing listens there.
        assert refused(socket.AF_INET, "127.0.0.2", srv.port)
        assert refused(socket.AF_INET6, "::1", srv.port)
        rc, _, _ = curl(srv, "-6", "http://[::1]:%d/" % srv.port)
        assert rc != 0, "curl -6 reached a server bound to 127.0.0.1"
    finally:
        srv.restore()


def test_bind_ipv6_loopback_only(srv):
    try:
        srv.restart(bind="::1", wait=False)
        end = time.monotonic() + 30
        while True:
            try:
                status, body, _ = fetch(socket.AF_INET6, "::1", srv.port)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < end, "nothing on [::1]"
                time.sleep(0.1)
        assert status == "HTTP/1.1 200 OK"
        assert body == srv.files["/hello.txt"]
        rc, out, err = curl(srv, "-g", "http://[::1]:%d/hello.txt" % srv.port)
        assert rc == 0 and out.encode() == srv.files["/hello.txt"], err
        assert refused(socket.AF_INET, "127.0.0.1", srv.port)
    finally:
        srv.restore()


@pytest.mark.module_only("insmod's check of bind=, reason in the kernel log")
@pytest.mark.parametrize("value", [
    "localhost", "127.0.0.256", "1.2.3", "::g", "[::1]",
    "127.0.0.1:80", "fe80::1%eth0",
])
def test_bind_malformed_fails(srv, value):
    srv.rmmod()
    try:
        expect_insmod_fails(srv, srv.insmod_args(extra=["bind=" + value]),
                            "bind=%s" % value)
        msgs = [ln for ln in srv.kmsg.lines if "bind=" in ln]
        assert msgs, "no dmesg line naming bind="
    finally:
        srv.restore()


@pytest.mark.module_only("insmod's check of bind=, reason in the kernel log")
@pytest.mark.parametrize("value", ["192.0.2.1", "2001:db8::1"])
def test_bind_address_not_on_machine_fails(srv, value):
    srv.rmmod()
    try:
        expect_insmod_fails(srv, srv.insmod_args(extra=["bind=" + value]),
                            "bind=%s (not an address of this machine)"
                            % value)
        assert any("no interface has that address" in ln
                   for ln in srv.kmsg.lines), srv.kmsg.lines[-5:]
    finally:
        srv.restore()


@pytest.mark.module_only("the module's tracepoints")
def test_tracepoints_carry_client_address(srv):
    if not os.path.isdir(os.path.join(TRACEFS, "events", "khttpd")):
        pytest.skip("no tracefs with khttpd's events at " + TRACEFS)
    tracefs_write("tracing_on", "0")
    tracefs_write("trace", "")
    tracefs_write("events/khttpd/khttpd_request/enable", "1")
    tracefs_write("events/khttpd/khttpd_conn_open/enable", "1")
    tracefs_write("tracing_on", "1")
    try:
        _, _, p4 = fetch(socket.AF_INET, "127.0.0.1", srv.port, "/sub/page.txt")
        _, _, p6 = fetch(socket.AF_INET6, "::1", srv.port, "/sub/page.txt")
        time.sleep(0.2)
        with open(os.path.join(TRACEFS, "trace")) as f:
            trace = f.read()
    finally:
        tracefs_write("tracing_on", "0")
        tracefs_write("events/khttpd/khttpd_request/enable", "0")
        tracefs_write("events/khttpd/khttpd_conn_open/enable", "0")
        tracefs_write("trace", "")
        tracefs_write("tracing_on", "1")
    req = [ln for ln in trace.splitlines() if "khttpd_request:" in ln]
    opened = [ln for ln in trace.splitlines() if "khttpd_conn_open:" in ln]
    # An IPv4 client of the dual-stack socket shows as IPv4, not ::ffff:.
    v4 = "client=127.0.0.1:%d " % p4
    v6 = "client=[::1]:%d " % p6
    for want in (v4, v6):
        assert any(want in ln and re.search(r"GET /sub/page.txt -> 200", ln)
                   for ln in req), "no request event with %r in:\n%s" % (
                       want, "\n".join(req))
        assert any(want in ln for ln in opened), \
            "no conn_open event with %r in:\n%s" % (want, "\n".join(opened))
