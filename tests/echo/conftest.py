# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the echo suite, run against either echo server: the
userspace one, build/user-echo-server (on the host), or the kernel's,
kecho.ko (in the QEMU guest, as root). From the repository root:

    make build/user-echo-server && \\
        /usr/bin/python3 -m pytest -v tests/echo
    ECHO_SERVER=module KECHO_KO=$PWD/kecho.ko \\
        /usr/bin/python3 -m pytest -v tests/echo          # as root

Environment:
    ECHO_SERVER      user (default) or module: the server under test
    USER_ECHO_SERVER path of the user server (default build/user-echo-server)
    KECHO_KO         path of the module (default ./kecho.ko)
    ECHO_PORT        port (default: a free one for the user server, 12345
                     for the module)
    KHTTPD_REQUIRE=1 a missing server (or, for the module, not being root)
                     is a failure, not a skip (the guest runner and make
                     check set it)

The session fixture starts the server with the suite's settings (DEFAULTS:
max_conns, backlog, timeout, named so that no test depends on a server's
own defaults): the user server on 127.0.0.1 (it runs on the host), the
module with insmod port=... max_conns=...; a test that needs other
settings (a short timeout, a connection limit) restarts it with the
module's parameter names, srv.restart(timeout=2), and the next test gets
the suite's settings back. Tests about one server only are
marked module_only or user_only. For the module, the kernel log must gain
no WARNING, BUG or oops line during the session, and it is unloaded at
the end; the user server must exit with status 0 on every SIGTERM.
"""

import importlib.util
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HOST = "127.0.0.1"
MODULE = "kecho"
SERVERS = ("user", "module")
SERVER = os.environ.get("ECHO_SERVER", "") or "user"


def _integration_helpers():
    """The khttpd suite's helpers (Kmsg, run_cmd, raise_nofile, ...),
    loaded under a name of their own: both suites' conftest modules are
    called conftest, so a plain import would find this one."""
    path = os.path.join(REPO, "tests", "integration", "conftest.py")
    spec = importlib.util.spec_from_file_location("khttpd_itest_helpers",
                                                  path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_h = _integration_helpers()
Kmsg, run_cmd, raise_nofile, env_flag, module_loaded, stuck_report = (
    _h.Kmsg, _h.run_cmd, _h.raise_nofile, _h.env_flag, _h.module_loaded,
    _h.stuck_report)


def user_server_path():
    return os.path.abspath(os.environ.get("USER_ECHO_SERVER") or os.path.join(
        REPO, "build", "user-echo-server"))


def ko_path():
    return os.path.abspath(os.environ.get("KECHO_KO", "./kecho.ko"))


def precondition_problem():
    """Why the suite cannot run here, or None."""
    if SERVER == "user":
        if not os.access(user_server_path(), os.X_OK):
            return ("user-echo-server not found at %s (make "
                    "build/user-echo-server, or set USER_ECHO_SERVER)"
                    % user_server_path())
        return None
    if os.geteuid() != 0:
        return "the kecho tests need root (insmod/rmmod)"
    if not os.path.isfile(ko_path()):
        return "kecho.ko not found at %s (set KECHO_KO)" % ko_path()
    return None


def pytest_configure(config):
    if SERVER not in SERVERS:
        raise pytest.UsageError("ECHO_SERVER=%s: want one of %s"
                                % (SERVER, ", ".join(SERVERS)))


def pytest_report_header(config):
    return "echo server under test: %s (%s)" % (
        SERVER, user_server_path() if SERVER == "user" else ko_path())


def pytest_collection_modifyitems(session, config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    mine = [it for it in items if str(it.fspath).startswith(here)]
    other = {"user": "module_only", "module": "user_only"}[SERVER]
    for it in mine:
        m = it.get_closest_marker(other)
        if m is not None:
            why = (m.args[0] if m.args else "") or other
            it.add_marker(pytest.mark.skip(
                reason="%s: %s" % (other.replace("_", " "), why)))
    problem = precondition_problem()
    if problem and not env_flag("KHTTPD_REQUIRE"):
        for it in mine:
            it.add_marker(pytest.mark.skip(reason=problem))


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# The two servers. Parameters take the module's names; the user server gets
# the equivalent flags.

USER_FLAGS = {"port": "-p", "timeout": "-T", "max_conns": "-c",
              "backlog": "--backlog"}

# What both servers are started with unless a test says otherwise, so that
# no test depends on a server's own defaults: room for the 1000-client
# test (and its connections still closing), a timeout no test reaches by
# accident.
DEFAULTS = {"max_conns": 2048, "backlog": 1024, "timeout": 60}


class UserServer:
    kind = "user"

    def __init__(self, port):
        self.port = port
        self.proc = None
        self.params = {}

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def args(self, params):
        p = dict(DEFAULTS, **params)
        args = [user_server_path(), "-b", HOST,
                "-p", str(p.pop("port", self.port))]
        for k, v in p.items():
            args += [USER_FLAGS[k], str(v)]
        return args

    def start(self, **params):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args(params), stdout=subprocess.PIPE,
                                     stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        banner = self.proc.stdout.readline().decode() if ready else ""
        if not re.match(r"user-echo-server: echoing on \S+ port \d+ with "
                        r"\d+ threads$", banner.strip()):
            if self.proc.poll() is None:
                self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("user-echo-server did not start (status "
                                 "%s, banner %r): %s"
                                 % (rc, banner, self.stderr()))
        self.params = params

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self, timeout=10.0):
        """SIGTERM; asserts exit status 0. Returns the seconds it took."""
        proc, self.proc = self.proc, None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("user-echo-server did not exit within "
                                 "%.0f s of SIGTERM" % timeout) from None
        finally:
            proc.stdout.close()
        assert rc == 0, "user-echo-server exited with status %d on " \
            "SIGTERM:\n%s" % (rc, self.stderr())
        return time.monotonic() - t0

    def check_crash(self):
        if self.proc is not None and self.proc.poll() is not None:
            proc, self.proc = self.proc, None
            raise AssertionError("user-echo-server exited by itself "
                                 "(status %d):\n%s"
                                 % (proc.returncode, self.stderr()))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for user-echo-server")


class ModuleServer:
    kind = "module"

    def __init__(self, ko, port, kmsg):
        self.ko = ko
        self.port = port
        self.kmsg = kmsg
        self.loaded = False
        self.params = {}

    @property
    def running(self):
        return self.loaded

    def insmod_args(self, params):
        p = dict(DEFAULTS, **params)
        p.setdefault("port", self.port)
        return ["insmod", self.ko] + ["%s=%s" % kv for kv in p.items()]

    def insmod_raw(self, params):
        """insmod with these parameters; (rc, output). Loaded on success."""
        args = self.insmod_args(params)
        self.kmsg.note("insmod %s" % " ".join(args[2:]))
        rc, out, err = run_cmd(args, 60)
        if rc == 0:
            self.loaded = True
            self.params = params
        return rc, (out + err).strip()

    def start(self, **params):
        rc, out = self.insmod_raw(params)
        if rc != 0:
            raise AssertionError("insmod %s failed (rc %d): %s\nkernel "
                                 "log:\n%s" % (self.ko, rc, out, "\n".join(
                                     self.kmsg.read_new()[-20:])))
        wait_ready(params.get("port", self.port))

    def stop(self, timeout=10.0):
        """rmmod; asserts success. Returns the seconds it took."""
        self.kmsg.note("rmmod %s" % MODULE)
        t0 = time.monotonic()
        rc, out, err = run_cmd(["rmmod", MODULE], timeout)
        took = time.monotonic() - t0
        assert rc == 0, "rmmod %s failed (rc %d): %s%s" % (MODULE, rc, out,
                                                          err)
        self.loaded = False
        return took

    def check_crash(self):
        pass

    def stats(self):
        if not os.path.exists("/proc/kecho"):
            raise AssertionError("kecho.ko is loaded but there is no "
                                 "/proc/kecho")
        with open("/proc/kecho") as f:
            return {k: int(v) for k, v in (ln.split() for ln in f
                                           if ln.strip())}


def wait_ready(port, timeout=30.0):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            socket.create_connection((HOST, port), timeout=5).close()
            return
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise AssertionError("nothing accepts on port %d after %.0f s: %s"
                         % (port, timeout, last))


@pytest.fixture(scope="session")
def echo_server():
    problem = precondition_problem()
    if problem:
        if env_flag("KHTTPD_REQUIRE"):
            pytest.exit("KHTTPD_REQUIRE=1 but: " + problem, returncode=1)
        pytest.skip(problem)
    raise_nofile(8192)
    kmsg = None
    if SERVER == "module":
        kmsg = Kmsg()
        kmsg.note("echo session start")
        if module_loaded(MODULE):
            run_cmd(["rmmod", MODULE], 30)
        srv = ModuleServer(ko_path(), int(os.environ.get("ECHO_PORT") or
                                          12345), kmsg)
    else:
        srv = UserServer(int(os.environ.get("ECHO_PORT") or free_port()))
    try:
        srv.start()
    except AssertionError as e:
        pytest.exit("could not start the echo server: %s" % e, returncode=1)

    yield srv

    problems = []
    try:
        srv.check_crash()
        if srv.running:
            srv.stop(30)
    except AssertionError as e:
        problems.append("teardown: %s" % e)
    if kmsg is not None:
        bad = kmsg.bad_lines()
        kmsg.close()
        if bad:
            problems.append("kernel log has warnings/oopses:\n" +
                            "\n".join(bad))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


class Handle:
    """What a test gets: the server, and restart() with other settings."""

    def __init__(self, server):
        self.server = server
        self.kind = server.kind
        self.host = HOST

    @property
    def port(self):
        return int(self.server.params.get("port", self.server.port))

    def restart(self, **params):
        if self.server.running:
            self.server.stop()
        self.server.start(**params)

    def connect(self, timeout=30.0):
        s = socket.create_connection((HOST, self.port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s


@pytest.fixture
def srv(echo_server):
    """The server with its default settings (restored if a test changed
    them or stopped it); after the test, the user server must still run."""
    if not echo_server.running or echo_server.params:
        if echo_server.running:
            echo_server.stop()
        echo_server.start()
    yield Handle(echo_server)
    echo_server.check_crash()


# ---------------------------------------------------------------------------
# Client helpers

def recv_exact(sock, n, timeout=30.0):
    """Exactly n bytes; raises AssertionError on EOF or timeout first."""
    sock.settimeout(timeout)
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
        except socket.timeout:
            raise AssertionError("only %d of %d bytes echoed within %.0f s"
                                 % (len(buf), n, timeout)) from None
        if not chunk:
            raise AssertionError("EOF after %d of %d echoed bytes"
                                 % (len(buf), n))
        buf += chunk
    return bytes(buf)


def exchange(sock, data, timeout=60.0):
    """Send data from a thread while reading its echo here (so that
    neither side's buffers can deadlock); returns the echo."""
    err = []

    def sender():
        try:
            sock.sendall(data)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=sender)
    t.start()
    try:
        got = recv_exact(sock, len(data), timeout)
    finally:
        t.join(timeout)
    assert not err, "send failed: %s" % err[0]
    return got


def wait_closed(sock, timeout):
    """'eof' or 'reset' once the server closed sock, with what was still
    read before; 'open' if it did not within timeout."""
    sock.settimeout(0.2)
    extra = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return "reset", extra
        if not chunk:
            return "eof", extra
        extra += chunk
    return "open", extra
