# SPDX-License-Identifier: GPL-2.0
"""Starting and stopping: bad parameters, port in use, reload cycles, rmmod
(the twin: SIGTERM) under load, serving the sample site, the timeout, and a
clean kernel log at the end.

Every test here is marked `lifecycle` (conftest runs them after all the
others) and leaves the server running on the test root when it passes; if
one fails, the `srv` fixture restarts it for the next. The parameter
checks at insmod are the module's; the twin's are in test_twin.py."""

import os
import shutil
import socket
import subprocess
import time

import pytest

from khttp_client import build_request

from conftest import module_loaded

pytestmark = pytest.mark.lifecycle

NOT_A_REASON = ("taints kernel", "module verification failed", "pytest:")


def reason_lines(lines):
    return [ln for ln in lines
            if "khttpd" in ln and not any(x in ln for x in NOT_A_REASON)]


def expect_insmod_fails(srv, args, what):
    srv.kmsg.read_new()                     # forget older messages
    srv.kmsg.note("expecting insmod to fail: %s" % what)
    rc, out, err = srv.insmod_raw(args)
    if rc == 0:
        srv.rmmod()
        pytest.fail("insmod succeeded with %s" % what)
    assert not module_loaded(), "module left loaded after failed insmod"
    srv.loaded = False
    # The kernel log should have the reason; give printk a moment.
    reasons = []
    for _ in range(20):
        reasons = reason_lines(srv.kmsg.read_new())
        if reasons:
            break
        time.sleep(0.1)
    assert reasons, "no kernel log line mentioning khttpd after insmod " \
        "with %s (insmod said: %s)" % (what, (out + err).strip())


def bad_param_cases():
    # (id, function of srv -> (port, root, extra))
    return [
        ("port=0", lambda s: (0, s.root, [])),
        ("port=70000", lambda s: (70000, s.root, [])),
        ("port=-1", lambda s: (-1, s.root, [])),
        ("port=abc", lambda s: ("abc", s.root, [])),
        ("root=/nonexistent", lambda s: (s.port, "/nonexistent", [])),
        ("root=regular-file", lambda s: (s.port, s.path("/hello.txt"), [])),
        ("root=empty", lambda s: (s.port, "", [])),
    ]


@pytest.mark.module_only("insmod's parameter checks, reasons in the kernel "
                         "log")
@pytest.mark.parametrize("case", bad_param_cases(), ids=lambda c: c[0])
def test_bad_module_parameter(srv, case):
    what, make = case
    srv.rmmod()
    port, root, extra = make(srv)
    expect_insmod_fails(srv, srv.insmod_args(port, root, extra), what)
    # A good insmod right after works.
    srv.insmod()
    srv.assert_alive()


@pytest.mark.module_only("insmod's checks, reasons in the kernel log")
def test_insmod_port_in_use_fails(srv):
    blocker = socket.socket()
    blocker.bind(("0.0.0.0", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    try:
        srv.rmmod()
        expect_insmod_fails(srv, srv.insmod_args(busy),
                            "port %d already in use" % busy)
    finally:
        blocker.close()
    srv.insmod()
    srv.assert_alive()


@pytest.mark.module_only("backlog=: the twin has no such flag (it listens "
                         "with the module's default, 1024)")
def test_backlog_parameter(srv):
    srv.rmmod()
    srv.insmod(extra=["backlog=16"])
    srv.assert_alive()
    srv.rmmod()
    srv.insmod()
    srv.assert_alive()


def test_quick_reload_cycles(srv):
    for i in range(3):
        with srv.conn() as keep:        # an open keep-alive connection
            keep.request("GET", "/hello.txt")
            assert keep.read_response().status == 200
            srv.stop()
            state, _ = keep.wait_closed(30)
            assert state in ("eof", "reset"), "cycle %d: still open" % i
        srv.start()
        srv.assert_alive()


def test_rmmod_with_open_connections(srv):
    """rmmod (the twin: SIGTERM) must not wait for clients: idle ones, ones
    stuck mid-request and ones whose 20 MiB download is stalled because
    they do not read."""
    idle = [srv.conn() for _ in range(20)]
    half = []
    for _ in range(15):
        c = srv.conn()
        c.send(b"GET /b4k.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Ag")
        half.append(c)
    slow = []
    for _ in range(15):
        c = srv.conn(rcvbuf=4096, timeout=60)
        c.send(build_request("GET", "/b20m.bin"))
        slow.append(c)
    conns = idle + half + slow
    try:
        # Each download has started (and then stalls on the tiny window).
        first = {}
        for c in slow:
            data = c.sock.recv(4096)
            assert data.startswith(b"HTTP/1.1 200") or \
                data.startswith(b"HTTP/1.0 200"), data[:100]
            first[c] = data
        time.sleep(1.0)

        took = srv.stop()       # bounded by KHTTPD_RMMOD_TIMEOUT
        assert took <= srv.stop_timeout

        for c in idle + half:
            state, extra = c.wait_closed(30)
            assert state in ("eof", "reset"), "client not disconnected"
            # A mid-request client may get an error response (e.g. 503)
            # before the close, nothing else.
            assert extra == b"" or extra.startswith(b"HTTP/1."), extra[:100]
        body = srv.expected("/b20m.bin")
        for c in slow:
            state, extra = c.wait_closed(120)
            assert state in ("eof", "reset"), "download not cut off"
            data = first[c] + extra
            i = data.find(b"\r\n\r\n")
            if i >= 0:
                got = data[i + 4:]
                assert got == body[:len(got)], "corrupt body before EOF"
    finally:
        for c in conns:
            c.close()
    # Immediately load again on the same port.
    srv.start()
    srv.assert_alive()


def www_dir():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        os.pardir, os.pardir, "www")


def public_copy_of_www(srv):
    """As make run does: a copy of www/ the serving user (65534) can
    reach, since a checkout may sit in a private home directory."""
    www = os.path.join(srv.base, "sample-www")
    shutil.rmtree(www, ignore_errors=True)
    shutil.copytree(os.path.realpath(www_dir()), www, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", www], check=True)
    return www


def test_serves_sample_site(srv):
    """`make run` serves (a copy of) www/: every file comes back
    byte-exact."""
    if not os.path.isfile(os.path.join(www_dir(), "index.html")):
        pytest.skip("no www/index.html")
    www = public_copy_of_www(srv)
    files = []
    for d, _, names in os.walk(www):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append("/" + os.path.relpath(p, www))
    srv.restart(root=www)
    try:
        with srv.conn(timeout=60) as c:
            for url in sorted(files):
                with open(os.path.join(www, url.lstrip("/")), "rb") as f:
                    want = f.read()
                c.request("GET", url.replace(" ", "%20"))
                r = c.read_response()
                assert r.status == 200, (url, r)
                assert r.body == want, url
            c.request("GET", "/")
            r = c.read_response()
            assert r.status == 200
            with open(os.path.join(www, "index.html"), "rb") as f:
                assert r.body == f.read()
            if os.path.isfile(os.path.join(www, "docs", "index.html")):
                c.request("GET", "/docs")
                r = c.read_response()
                assert r.status == 301
                assert r.header("Location", "").endswith("/docs/")
    finally:
        srv.restore()


@pytest.mark.final
@pytest.mark.module_only("the kernel log")
def test_kernel_log_clean(khttpd):
    """No WARNING/BUG/Oops (or similar) in the kernel log since the session
    began. (Session teardown checks again after the final rmmod.)"""
    bad = khttpd.kmsg.bad_lines()
    assert not bad, "kernel log:\n" + "\n".join(bad)



def test_wget_mirrors_sample_site(srv, tmp_path):
    """`wget -r` of the sample site, crawled from / through its links,
    reproduces every file of www/ byte for byte."""
    import shutil
    import subprocess
    if not shutil.which("wget"):
        pytest.skip("wget not installed")
    www = public_copy_of_www(srv)
    want = {}
    for d, _, names in os.walk(www):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    want[os.path.relpath(p, www)] = f.read()
    srv.restart(root=www)
    try:
        dest = tmp_path / "mirror"
        proc = subprocess.run(
            ["wget", "-r", "-nH", "--no-verbose", "-e", "robots=off",
             # /docs answers 301 to /docs/: name the file after the target.
             "--trust-server-names",
             "-T", "60", "-t", "1", "-P", str(dest), srv.url("/")],
            capture_output=True, text=True, timeout=180)
        # 8: the site links to a page that does not exist on purpose (404).
        assert proc.returncode in (0, 8), proc.stderr[-3000:]
        got = {}
        for d, _, names in os.walk(dest):
            for n in names:
                p = os.path.join(d, n)
                with open(p, "rb") as f:
                    got[os.path.relpath(p, dest)] = f.read()
        assert sorted(got) == sorted(want), proc.stderr[-3000:]
        for name, data in want.items():
            assert got[name] == data, name
    finally:
        srv.restore()


def test_timeout_idle_and_slowloris(srv):
    """With timeout=2: an idle keep-alive connection is closed after about
    2 s, and so is a client dribbling a request head a byte at a time, whose
    deadline runs from the head's first byte, not from its last."""
    srv.restart(timeout=2)
    try:
        idle = socket.create_connection((srv.host, srv.port), timeout=10)
        slow = socket.create_connection((srv.host, srv.port), timeout=10)
        head = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + \
            b"a" * 200
        t0 = time.monotonic()
        closed = None
        for i in range(len(head)):
            try:
                slow.sendall(head[i:i + 1])
            except OSError:
                closed = time.monotonic() - t0
                break
            time.sleep(0.05)
            if time.monotonic() - t0 > 8:
                break
        if closed is None:
            # The server may have closed without the send failing yet.
            slow.settimeout(3)
            try:
                data = slow.recv(100)
            except OSError:
                data = b""
            assert data == b"", "slow head answered: %r" % data[:100]
            closed = time.monotonic() - t0
        assert closed < 7, "dribbled head kept the connection %.1f s" % closed
        idle.settimeout(6)
        t1 = time.monotonic()
        assert idle.recv(1) == b""
        assert time.monotonic() - t1 < 6
        idle.close()
        slow.close()
        srv.assert_alive()
    finally:
        srv.restore()
