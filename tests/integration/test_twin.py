# SPDX-License-Identifier: GPL-2.0
"""What only the userspace twin (build/twin) has: its banner and flags, its
start-up errors (the module's are insmod's, in test_lifecycle.py), the exit
status 0 on SIGTERM and SIGINT, the user and group it becomes when started
as root, and its memory bound (its peak RSS; the module's bound is in
test_cache_memory.py). Everything the two servers share runs against both
in the rest of the suite."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from khttp_client import get

from conftest import TwinProcess, twin_path

pytestmark = pytest.mark.twin_only("the twin's process, flags and memory")

NOBODY = 65534


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def twin(srv, *args):
    """Another twin on the suite's root, on a port of its own."""
    return TwinProcess(["-b", "127.0.0.1", "-p", free_port(), "-r", srv.root]
                       + list(args))


def test_banner_and_threads(srv):
    cpus = os.sysconf("SC_NPROCESSORS_ONLN")
    assert srv.proc.banner == "twin: serving %s on port %d with %d threads" \
        % (srv.root, srv.port, cpus)
    t = twin(srv, "-t", "3")
    try:
        assert t.banner == "twin: serving %s on port %d with 3 threads" % (
            srv.root, t.port)
        assert get("127.0.0.1", t.port, "/hello.txt").status == 200
    finally:
        t.stop()


def bad_start_cases(srv):
    return [
        (["-p", "0"], "-p"), (["-p", "70000"], "-p"), (["-p", "-1"], "-p"),
        (["-p", "abc"], "-p"), (["-t", "0"], "-t"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "3601"], "--timeout"),
        (["--cache-size", "65537"], "--cache-size"),
        (["--cache-file-max", "16385"], "--cache-file-max"),
        (["-u", "4294967295"], "-u"), (["-g", "abc"], "-g"),
        (["-r", "/nonexistent"], "/nonexistent"),
        (["-r", srv.path("/hello.txt")], srv.path("/hello.txt")),
        (["-r", ""], "root"),
        (["-b", "localhost"], "-b localhost"),
        (["-b", "127.0.0.256"], "-b 127.0.0.256"),
        (["-b", "[::1]"], "-b [::1]"), (["-b", "fe80::1%eth0"], "-b fe80"),
        (["-b", "192.0.2.1"], "cannot listen on 192.0.2.1"),
        (["-b", "2001:db8::1"], "cannot listen on 2001:db8::1"),
        (["--no-such-flag"], "usage:"), (["extra-argument"], "usage:"),
    ]


def test_start_errors(srv):
    """A value that cannot work: exit status 1 and one line naming it,
    before anything is served."""
    for args, says in bad_start_cases(srv):
        full = [twin_path(), "-b", "127.0.0.1", "-p", str(free_port()),
                "-r", srv.root] + args
        p = subprocess.run(full, capture_output=True, text=True, timeout=10)
        assert p.returncode == 1 and says in p.stderr, (args, p.returncode,
                                                        p.stderr)
        assert p.stdout == "", (args, p.stdout)


@pytest.mark.needs_root("only root can change user")
def test_root_the_user_cannot_search(srv):
    """A root the serving user may reach but not search is named as
    such, not blamed on the kernel's openat2."""
    top = tempfile.mkdtemp(prefix="khttpd-twin-")
    root = os.path.join(top, "www")
    try:
        os.mkdir(root)
        os.chmod(top, 0o755)
        os.chmod(root, 0o600)
        p = subprocess.run([twin_path(), "-b", "127.0.0.1", "-p",
                            str(free_port()), "-r", root],
                           capture_output=True, text=True, timeout=10)
    finally:
        shutil.rmtree(top)
    assert p.returncode == 1, p
    assert "root %s: Permission denied (as uid %d)" % (root, NOBODY) \
        in p.stderr, p.stderr
    assert "unavailable" not in p.stderr


def test_default_bind_takes_ipv6_and_ipv4(srv):
    """Without -b, as the module without bind=: IPv4 and IPv6 clients."""
    port = free_port()
    t = TwinProcess(["-p", port, "-r", srv.root, "-t", "1"])
    try:
        assert get("127.0.0.1", t.port, "/hello.txt").status == 200
        if socket.has_ipv6:
            assert get("::1", t.port, "/hello.txt").status == 200
    finally:
        t.stop()


def test_port_in_use(srv):
    """SO_REUSEPORT must not let a second twin share the port."""
    p = subprocess.run([twin_path(), "-b", "127.0.0.1", "-p", str(srv.port),
                        "-r", srv.root], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 1, p
    assert "cannot listen on 127.0.0.1 port %d" % srv.port in p.stderr
    srv.assert_alive()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_signal_exits_0_with_connections_open(srv, sig):
    t = twin(srv, "-t", "2")
    idle = socket.create_connection(("127.0.0.1", t.port), timeout=10)
    half = socket.create_connection(("127.0.0.1", t.port), timeout=10)
    half.sendall(b"GET /b20m.bin HTTP/1.1\r\nHo")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(10)
    slow.connect(("127.0.0.1", t.port))
    slow.sendall(b"GET /b20m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        assert slow.recv(100).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.3)
        t.proc.send_signal(sig)
        assert t.proc.wait(10) == 0, t.stderr()
        for s in (idle, half):
            assert s.recv(100) == b""
    finally:
        for s in (idle, half, slow):
            s.close()
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.wait()


def ids_of(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(ln.rstrip("\n").split(":\t", 1) for ln in f
                      if ":\t" in ln)
    return ([int(x) for x in fields["Uid"].split()],
            [int(x) for x in fields["Gid"].split()], fields["Groups"].split())


@pytest.mark.needs_root("only root can change user")
def test_becomes_user_and_group(srv):
    """Started as root: 65534:65534 by default, -u/-g otherwise, with no
    supplementary groups (root's would grant access the module never
    has)."""
    uids, gids, groups = ids_of(srv.proc.pid)
    assert uids == [NOBODY] * 4 and gids == [NOBODY] * 4 and groups == []
    t = twin(srv, "-t", "1", "-u", "1234", "-g", "4321")
    try:
        uids, gids, groups = ids_of(t.pid)
        assert uids == [1234] * 4 and gids == [4321] * 4 and groups == []
    finally:
        t.stop()


def test_cache_memory_bounded_with_pinned_entries(srv):
    """100 slow clients, 100 names of one 16 MiB file: entries pinned by
    responses count against --cache-size, so the twin's peak RSS stays near
    the bound instead of 100 x 16 MiB."""
    d = srv.path("/twinmem")
    os.makedirs(d, 0o755, exist_ok=True)
    big = os.path.join(d, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(16 << 20))
    os.chmod(big, 0o644)
    os.utime(big, (1_600_000_000, 1_600_000_000))
    for i in range(100):
        os.link(big, os.path.join(d, "l%03d.bin" % i))
    t = twin(srv, "-t", "1", "--cache-file-max", "16384", "--cache-size",
             "64")
    socks = []
    try:
        for i in range(100):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(30)
            s.connect(("127.0.0.1", t.port))
            s.sendall(b"GET /twinmem/l%03d.bin HTTP/1.1\r\nHost: x\r\n\r\n"
                      % i)
            socks.append(s)
        for _ in range(10):
            for s in socks:
                s.recv(4096)
            time.sleep(0.1)
        with open("/proc/%d/status" % t.pid) as f:
            hwm = [int(ln.split()[1]) for ln in f
                   if ln.startswith("VmHWM:")][0] * 1024
        assert hwm < 200 << 20, "peak RSS %d MiB" % (hwm >> 20)
    finally:
        for s in socks:
            s.close()
        t.stop()
        shutil.rmtree(d, ignore_errors=True)
