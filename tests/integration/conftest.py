# SPDX-License-Identifier: GPL-2.0
"""Fixtures for the khttpd integration suite, run against either server:
the module (in a guest, as root) or the userspace twin, build/twin (on the
host). From the repository root:

    KHTTPD_KO=./khttpd.ko /usr/bin/python3 -m pytest -v tests/integration
    make build/twin && KHTTPD_SERVER=twin \\
        /usr/bin/python3 -m pytest -v tests/integration

Environment:
    KHTTPD_SERVER         module (default) or twin: the server under test
    KHTTPD_KO             path of the module (default ./khttpd.ko)
    TWIN                  path of the twin (default build/twin)
    KHTTPD_PORT           port to serve on (default 8081, or the next free
                          one up to 8099 when 8081 is taken)
    KHTTPD_REQUIRE=1      a missing server (or, for the module, not being
                          root) is a failure, not a skip (the QEMU guest
                          runner and make check set this)
    KHTTPD_RMMOD_TIMEOUT  seconds rmmod may take under load (default 10)

The session fixture builds a document root on tmpfs and starts the server
on it: insmod for the module; for the twin, a process on the same root
with the equivalent flags, listening on 127.0.0.1 only (a test that wants
every address, the module's default, asks for bind= explicitly). Both run
as user and group 65534 when the suite runs as root. A test may restart
the server with module parameters (srv.restart(listing=0), ...), which the
twin gets as its flags; tests that unload/reload (marked `lifecycle`) run
after all others. Markers also say which tests apply to one server only
(`module_only`, `twin_only`, each with its reason) and which need root
under the twin (`needs_root`: the twin reads files as 65534 only when
started as root). For the module, the kernel log is checked for warnings,
BUGs and oopses at the very end; the twin must exit with status 0 on
SIGTERM every time it is stopped.
"""

import contextlib
import errno
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from khttp_client import Conn, get  # noqa: E402

MODULE = "khttpd"
HOST = "127.0.0.1"
MiB = 1 << 20
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

SERVER = os.environ.get("KHTTPD_SERVER", "") or "module"
SERVERS = ("module", "twin")

# Kernel log lines that must never appear while the suite runs.
BAD_KMSG = ("WARNING:", "BUG:", "Oops", "general protection fault",
            "kernel BUG", "UBSAN:", "KASAN:", "KFENCE:", "Call Trace:",
            "blocked for more than", "rcu: INFO:", "stack-protector",
            "refcount_t:", "list_add corruption", "list_del corruption")


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "no", "false")


def ko_path():
    return os.path.abspath(os.environ.get("KHTTPD_KO", "./khttpd.ko"))


def twin_path():
    return os.path.abspath(os.environ.get("TWIN", os.path.join(REPO, "build",
                                                               "twin")))


def suite_precondition_problem():
    """Why the suite cannot run here, or None."""
    if SERVER == "twin":
        twin = twin_path()
        if not os.access(twin, os.X_OK):
            return ("the twin not found at %s (build it with 'make "
                    "build/twin' or set TWIN)" % twin)
        return None
    if os.geteuid() != 0:
        return "khttpd integration tests need root (insmod/rmmod)"
    ko = ko_path()
    if not os.path.isfile(ko):
        return ("khttpd module not found at %s (build it with 'make module' "
                "or set KHTTPD_KO)" % ko)
    return None


# --------------------------------------------------------------------------
# pytest hooks: markers, ordering, skip-or-fail policy

MARKERS = (
    "lifecycle: unloads/reloads the server; runs after the ordinary tests",
    "final: runs last of all (kernel log check)",
    "module_only(reason): about the kernel module itself; skipped under "
    "the twin",
    "twin_only(reason): about the twin itself; skipped under the module",
    "needs_root(reason): under the twin, needs the suite to run as root "
    "(the twin then reads files as 65534, as the module does)",
)


def pytest_configure(config):
    if SERVER not in SERVERS:
        raise pytest.UsageError("KHTTPD_SERVER=%s: want one of %s"
                                % (SERVER, ", ".join(SERVERS)))
    for m in MARKERS:
        config.addinivalue_line("markers", m)


def pytest_report_header(config):
    return "khttpd server under test: %s (%s)" % (
        SERVER, twin_path() if SERVER == "twin" else ko_path())


def marker_reason(item, name):
    m = item.get_closest_marker(name)
    if m is None:
        return None
    return (m.args[0] if m.args else m.kwargs.get("reason", "")) or name


def pytest_collection_modifyitems(session, config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    mine = [it for it in items if str(it.fspath).startswith(here)]

    def rank(item):
        if item.get_closest_marker("final"):
            return 2
        if item.get_closest_marker("lifecycle"):
            return 1
        return 0
    # Stable sort: file/definition order is kept within each rank.
    items.sort(key=rank)

    for it in mine:
        why = marker_reason(it, "module_only")
        if SERVER == "twin" and why:
            it.add_marker(pytest.mark.skip(reason="module only: " + why))
        why = marker_reason(it, "twin_only")
        if SERVER == "module" and why:
            it.add_marker(pytest.mark.skip(reason="twin only: " + why))
        why = marker_reason(it, "needs_root")
        if SERVER == "twin" and why and os.geteuid() != 0:
            it.add_marker(pytest.mark.skip(
                reason="needs root (the twin reads files as 65534 only "
                "when started as root): " + why))

    problem = suite_precondition_problem()
    if problem and not env_flag("KHTTPD_REQUIRE"):
        mark = pytest.mark.skip(reason=problem)
        for it in mine:
            it.add_marker(mark)
    # With KHTTPD_REQUIRE=1 the tests are left alone and the session fixture
    # fails each of them with the reason instead.


# --------------------------------------------------------------------------
# helpers

class CommandTimeout(AssertionError):
    pass


def task_stacks(wanted):
    """(pid, comm, state, kernel stack frames) of each task for which
    wanted(pid, comm, state) holds."""
    for task in sorted(os.listdir("/proc"), key=lambda t: (len(t), t)):
        if not task.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % task) as f:
                stat = f.read()
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat[stat.rindex(")") + 2]
            if not wanted(int(task), comm, state):
                continue
            with open("/proc/%s/stack" % task) as f:
                stack = f.read().split()
        except (OSError, ValueError):
            continue            # gone meanwhile
        yield task, comm, state, [w for w in stack if "+0x" in w]


def blocked_stacks(pid):
    """The kernel stacks of task pid (a thread's id will do) and of every
    task in D state: what a slow system call waits for, and on whom."""
    return "\n".join("%s %s (%s): %s" % (task, comm, state,
                                         " < ".join(frames))
                     for task, comm, state, frames in task_stacks(
                         lambda t, c, s: t == pid or s == "D"))


def run_cmd(args, timeout=60.0):
    """Run a command with a hard bound. Returns (rc, stdout, stderr)."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass    # stuck in the kernel (D state); nothing more to do
        raise CommandTimeout("%r did not finish within %.0f s"
                             % (args, timeout)) from None
    return (p.returncode, out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"))


class Kmsg:
    """Reads the kernel log from /dev/kmsg, starting at the moment it was
    opened, so only messages from this session are ever seen."""

    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)
        self.lines = []         # everything read this session
        self.stamps = []        # (seconds since boot, line) for each

    def note(self, text):
        """Write a marker line into the kernel log (helps humans reading
        dmesg of a failed run). Never mentions the module name."""
        try:
            with open("/dev/kmsg", "w") as f:
                f.write("pytest: %s\n" % text)
        except OSError:
            pass

    def read_new(self):
        new = []
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:      # ring buffer overran us
                    new.append("<kmsg: some messages were lost>")
                    continue
                raise
            if not rec:
                break
            text = rec.decode("utf-8", "replace")
            head, _, msg = text.partition(";")
            new.append(msg.split("\n", 1)[0])
            try:
                usec = int(head.split(",")[2])
            except (IndexError, ValueError):
                usec = 0
            self.stamps.append((usec / 1e6, new[-1]))
        self.lines.extend(new)
        return new

    def bad_lines(self):
        self.read_new()
        return [ln for ln in self.lines if any(b in ln for b in BAD_KMSG)]

    def close(self):
        os.close(self.fd)


def stats_once(srv, before, key, delta, timeout=5.0):
    """The module's counters once `key` has grown by `delta` since
    `before` (or the timeout passed). The server counts some things after
    the client has seen them: a body's bytes when the send that took them
    returns, a connection when the accept thread takes it off the queue."""
    deadline = time.monotonic() + timeout
    while True:
        s = srv.stats()
        if s[key] - before[key] >= delta or time.monotonic() > deadline:
            return s
        time.sleep(0.02)


def port_is_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


TRACEFS = "/sys/kernel/tracing"


def tracefs_write(name, value, append=False):
    """One write(2) to a tracefs file; appending (kprobe_events, to leave
    others' probes) without Python's "a" mode, whose seek to the end
    tracefs refuses."""
    flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(os.path.join(TRACEFS, name), flags)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


@contextlib.contextmanager
def kprobe_event(name, probe):
    """The kprobe event name ("group/event") at probe (a function and
    what to fetch) for the body, removed after it; yields the event's
    directory under TRACEFS. OSError when the kernel refuses the probe."""
    tracefs_write("kprobe_events", "p:%s %s\n" % (name, probe), True)
    try:
        yield "events/" + name
    finally:
        tracefs_write("kprobe_events", "-:%s\n" % name, True)


def traced_stacks(triggers, action):
    """The kernel stacks that a stacktrace trigger on each event of
    triggers ({"events/...": condition}) recorded while action() ran, one
    string per stack. Leaves tracing on, with no trigger and an empty
    trace."""
    try:
        tracefs_write("tracing_on", "0")
        tracefs_write("trace", "")
        for event, cond in triggers.items():
            tracefs_write(event + "/trigger", "stacktrace if " + cond)
        tracefs_write("tracing_on", "1")
        action()
        tracefs_write("tracing_on", "0")
        with open(os.path.join(TRACEFS, "trace")) as f:
            trace = f.read()
    finally:
        tracefs_write("tracing_on", "0")
        for event in triggers:
            tracefs_write(event + "/trigger", "!stacktrace")
        tracefs_write("trace", "")
        tracefs_write("tracing_on", "1")
    return trace.split("<stack trace>")[1:]


def tcp_sockets(tables=("/proc/net/tcp", "/proc/net/tcp6")):
    """The machine's TCP sockets, from /proc/net/tcp*: for each, (local
    port, remote port, state as TCP numbers it (0x0A: LISTEN), inode).
    The inode is 0 for a socket nothing has open: one TCP is finishing
    after its owner closed it (orphaned, or in TIME_WAIT)."""
    for table in tables:
        try:
            with open(table) as f:
                rows = f.readlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            f = row.split()
            yield (int(f[1].rsplit(":", 1)[1], 16),
                   int(f[2].rsplit(":", 1)[1], 16), int(f[3], 16), int(f[9]))


def task_pid(name):
    """The pid of the one task called `name` (a kernel thread of the
    module, say); fails if there is none or more than one."""
    pids = subprocess.run(["pgrep", "-x", name], capture_output=True,
                          text=True).stdout.split()
    assert len(pids) == 1, "%s tasks: %r" % (name, pids)
    return int(pids[0])


def server_end_held(srv_port, client_port):
    """Whether the server still holds its end of the connection from
    client_port as an open socket (one with an inode)."""
    return any(inode for local, remote, _, inode in tcp_sockets()
               if (local, remote) == (srv_port, client_port))


TCP_FIN = 0x01


class LoSniffer:
    """A packet socket on lo (root only; skips the test otherwise): the
    TCP segments a server sent on one connection, to check how its bytes
    and FIN were cut into segments."""

    def __enter__(self):
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.htons(0x0003))   # ETH_P_ALL
        except PermissionError:
            pytest.skip("a packet socket needs CAP_NET_RAW")
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("lo", 0))
        self.sock.setblocking(False)
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def segments(self, src_port, dst_port):
        """(TCP flags, payload bytes) of each IPv4 segment from src_port
        to dst_port taken since the last call, in order; the rest of what
        was taken is dropped."""
        out = []
        while True:
            try:
                pkt, addr = self.sock.recvfrom(1 << 17)
            except BlockingIOError:
                return out
            # lo shows each packet going out and coming in: count it once.
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            ip = pkt[14:]       # lo's link header: an Ethernet one, zeroed
            if len(ip) < 20 or ip[0] >> 4 != 4 or \
                    ip[9] != socket.IPPROTO_TCP:
                continue
            ihl = (ip[0] & 15) * 4
            tcp = ip[ihl:]
            if struct.unpack(">HH", tcp[:4]) != (src_port, dst_port):
                continue
            size = struct.unpack(">H", ip[2:4])[0] - ihl - (tcp[12] >> 4) * 4
            out.append((tcp[13], size))


def tcp_memory_pressure():
    """Whether TCP is in memory pressure (/proc/net/protocols' "press"),
    and the pages TCP holds (/proc/net/sockstat)."""
    press = False
    with open("/proc/net/protocols") as f:
        for row in f:
            cols = row.split()
            if cols and cols[0] == "TCP":
                press = cols[4] == "yes"
    with open("/proc/net/sockstat") as f:
        tcp = next(r for r in f if r.startswith("TCP:")).split()
    return press, int(tcp[tcp.index("mem") + 1])


@pytest.fixture(autouse=True)
def tcp_memory_given_back():
    """No test may leave TCP in memory pressure for the next. Once TCP's
    memory passes tcp_mem's middle value it stays in pressure until it is
    back under the low one, and in pressure TCP changes what every later
    test sees: a FIN rides on an already sent segment, to go out only on a
    retransmission (seen as a FIN that never came, in LAST-ACK or
    FIN-WAIT-1 with no timer armed), and sends fail with nothing in
    flight to bring a write-space callback. One test's orphans holding
    92 MB did that to the rest of a guest's run (CI: test_races and the
    echo suite's slow reader, 60 s waits)."""
    yield
    # TCP's memory is the whole machine's: judged only in the guest that
    # runs the module's suite, where the suite is all there is.
    if os.environ.get("KHTTPD_SERVER") != "module":
        return
    try:
        with open("/proc/sys/net/ipv4/tcp_mem") as f:
            low = int(f.read().split()[0])
    except OSError:
        return
    # Closed connections give their buffers back at once; what is still
    # held 30 s on is orphans that will hold it for minutes. An eighth of
    # the low mark (11 MB on the 2 GiB guest) leaves room for the sockets
    # a session keeps.
    end = time.monotonic() + 30
    press, pages = tcp_memory_pressure()
    while (press or pages > low // 8) and time.monotonic() < end:
        time.sleep(0.5)
        press, pages = tcp_memory_pressure()
    if press or pages > low // 8:
        with open("/proc/net/sockstat") as f:
            stat_ = " ".join(f.read().split())
        pytest.fail("30 s after this test TCP still holds %d pages%s (%s): "
                    "it left sockets holding buffers (close clients that "
                    "stopped reading with khttp_client.abort())"
                    % (pages, ", in memory pressure" if press else "", stat_))


def stuck_report(port, client_port=None):
    """What a test that finds a connection stuck prints: both ends of every
    TCP socket on port (ss: states, queues, timers, TCP's counters) and the
    kernel stacks of the workers and server threads that are not sleeping
    idle, so that a failure seen once in CI says where it stopped."""
    lines = []
    try:
        _, out, err = run_cmd(["ss", "-tanoie", "( sport = :%d or dport = :%d )"
                               % (port, port)], timeout=10)
        # TIME-WAIT sockets are done with, but for the stuck one's.
        mine = ":%d " % client_port if client_port else None
        rows = [r for r in out.splitlines()
                if not r.startswith("TIME-WAIT") or (mine and mine in r)]
        lines += ["ss (TIME-WAIT left out):"] + rows[:60] + \
            err.splitlines()[:5]
    except (OSError, CommandTimeout) as e:
        lines.append("ss: %r" % e)
    for name in ("/proc/khttpd", "/proc/kecho", "/proc/net/sockstat"):
        try:
            with open(name) as f:
                lines.append("%s: %s" % (name, " ".join(f.read().split())))
        except OSError:
            pass
    # TCP's nonzero counters: drops, prunes, memory pressure, aborts.
    try:
        for group, counters in netstat_counters().items():
            lines.append(group + ": " + " ".join(
                "%s=%d" % nv for nv in counters.items() if nv[1]))
    except (OSError, IndexError, ValueError):
        pass
    for pid, comm, state, frames in task_stacks(
            lambda t, c, s: c.startswith(("kworker", "khttpd", "kecho",
                                          "ksoftirq"))):
        if state == "I" or (frames and frames[0].startswith(
                ("worker_thread", "smpboot_thread_fn", "kthread"))):
            continue
        lines.append("%s %s %s: %s" % (pid, comm, state,
                                       " < ".join(frames[:12])))
    return "\n".join(lines)


def netstat_counters():
    """/proc/net/netstat as {group: {counter: value}} ("TcpExt",
    "IpExt", ...): each group is a row of names over a row of values."""
    with open("/proc/net/netstat") as f:
        rows = [line.split() for line in f]
    return {names[0].rstrip(":"): dict(zip(names[1:], map(int, values[1:])))
            for names, values in zip(rows[::2], rows[1::2])}


def module_loaded(name=MODULE):
    try:
        with open("/proc/modules") as f:
            return any(line.split(" ", 1)[0] == name for line in f)
    except OSError:
        return os.path.isdir("/sys/module/%s/sections" % name)


def make_png(width=32, height=32):
    """A small valid RGB PNG (a 'k' on a dark square), built by hand."""
    rows = []
    for y in range(height):
        row = bytearray([0])            # filter type 0
        for x in range(width):
            on = (x in (8, 9) and 6 <= y <= 25) or \
                 (abs((x - 10) - abs(y - 16)) <= 1 and 10 <= x <= 22)
            row += bytes((240, 240, 240) if on else (30, 50, 90))
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0,
                                       0, 0)) +
            chunk(b"IDAT", raw) + chunk(b"IEND", b""))


# Regular files served from the test root: URL path -> content.
def build_files():
    files = {
        "/b0.bin": b"",
        "/b1.bin": random.Random(1).randbytes(1),
        "/b4k.bin": random.Random(4096).randbytes(4096),
        "/b1m.bin": random.Random(MiB).randbytes(MiB),
        "/b20m.bin": random.Random(20 * MiB).randbytes(20 * MiB),
        # Either side of a page and of 64 KiB (the largest file a fill may
        # evict for), and a large file whose last piece is not a whole page.
        "/b100.bin": random.Random(100).randbytes(100),
        "/b4095.bin": random.Random(4095).randbytes(4095),
        "/b65535.bin": random.Random(65535).randbytes(65535),
        "/b65536.bin": random.Random(65536).randbytes(65536),
        "/b65537.bin": random.Random(65537).randbytes(65537),
        "/b20m7.bin": random.Random(20 * MiB + 7).randbytes(20 * MiB + 7),
        "/index.html": (b"<!DOCTYPE html>\n<html lang=\"en\"><head>"
                        b"<meta charset=\"utf-8\"><title>root</title></head>"
                        b"<body><h1>khttpd test root</h1>"
                        b"<a href=\"/sub/\">sub</a></body></html>\n"),
        "/hello.txt": b"Hello, khttpd!\n",
        "/noext": b"a file without an extension\n" * 3,
        "/blob.qqq": b"unknown extension \x00\x01\x02\xff\n",
        "/style.css": b"body { font-family: sans-serif; }\n",
        "/image.png": make_png(),
        "/with space.txt": b"a name with a space\n",
        "/sub/index.html": (b"<!DOCTYPE html>\n<html lang=\"en\"><head>"
                            b"<meta charset=\"utf-8\"><title>sub</title>"
                            b"</head><body><p>sub index</p></body></html>\n"),
        "/sub/page.txt": b"sub/page.txt contents\n" * 10,
        "/noindex/file.txt": b"in a directory without index.html\n",
    }
    return files


OUTSIDE_CONTENT = b"OUTSIDE-ROOT-SECRET 7f3a9c: must never be served\n"
SECRET_CONTENT = b"mode 0600: must never be served\n"


class Server:
    """The server under test, serving `root`. Tests use host/port/root,
    files (URL path -> expected bytes) and the helper methods; the two
    flavours below differ in how they are started and stopped.

    start(**params)/restart(**params) take the module's parameter names
    (port, root, bind, timeout, listing, cache_size, cache_file_max, user,
    group, ...); port and root default to the suite's. restore() goes back
    to the suite's settings."""

    host = HOST
    kind = None
    has_stats = False           # /proc/khttpd's counters (the module's)

    def __init__(self, port, base):
        self.port = port
        self.base = base                        # tmp dir holding root
        self.root = os.path.join(base, "www")
        self.outside = os.path.join(base, "outside.txt")
        self.files = build_files()
        self.params = {}        # what the running server was started with

    # -- document root ----------------------------------------------------
    def build_root(self):
        os.chmod(self.base, 0o755)
        os.mkdir(self.root, 0o755)
        for d in ("sub", "noindex", "emptydir"):
            os.mkdir(os.path.join(self.root, d), 0o755)
        for url, data in self.files.items():
            p = self.path(url)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, 0o644)
        with open(self.outside, "wb") as f:
            f.write(OUTSIDE_CONTENT)
        os.chmod(self.outside, 0o644)
        secret = self.path("/secret.txt")
        with open(secret, "wb") as f:
            f.write(SECRET_CONTENT)
        os.chmod(secret, 0o600)
        r = self.root
        # Symlinks that stay inside the root: served.
        os.symlink("b4k.bin", os.path.join(r, "link-inside.bin"))
        os.symlink("../hello.txt", os.path.join(r, "sub", "up-link.txt"))
        # Symlinks leaving the root: never served.
        os.symlink("/etc/passwd", os.path.join(r, "passwd-link"))
        os.symlink("../outside.txt", os.path.join(r, "escape-link.txt"))
        os.symlink("/etc", os.path.join(r, "etc-link"))
        os.symlink("..", os.path.join(r, "up"))
        os.symlink(self.outside, os.path.join(r, "abs-outside-link.txt"))
        # Not regular files: a FIFO (opening it for read would block) and,
        # when the filesystem allows device nodes, /dev/zero's twin (an
        # endless body if it were ever served).
        os.mkfifo(os.path.join(r, "fifo"), 0o644)
        try:
            os.mknod(os.path.join(r, "zero"), 0o644 | stat.S_IFCHR,
                     os.makedev(1, 5))
            self.have_zero_dev = True
        except OSError:
            self.have_zero_dev = False

    def path(self, url):
        return os.path.join(self.root, url.lstrip("/"))

    def expected(self, url):
        return self.files[url]

    # -- control ------------------------------------------------------------
    @property
    def running(self):
        raise NotImplementedError

    def check_params(self, params):
        """Skips the test when a parameter has no equivalent here."""

    def start(self, wait=True, **params):
        raise NotImplementedError

    def stop(self):
        """Stop serving; returns the seconds it took."""
        raise NotImplementedError

    def restart(self, wait=True, **params):
        """Stop (if running) and start with these parameters."""
        self.check_params(params)
        if self.running:
            self.stop()
        self.start(wait=wait, **params)

    def restore(self):
        """Serve as the suite set up, and check that it does."""
        if not self.running or self.params:
            self.restart()
        self.assert_alive()

    def open_connections(self):
        """Client connections the server holds right now."""
        raise NotImplementedError

    def stats(self):
        """The module's /proc/khttpd counters (only if has_stats)."""
        raise NotImplementedError

    def check_crash(self):
        """Raise if the server stopped by itself (after each test)."""

    def wait_ready(self, port=None, timeout=30.0):
        port = self.port if port is None else port
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect((self.host, port))
                return
            except OSError as e:
                last = e
                time.sleep(0.1)
            finally:
                s.close()
        raise AssertionError("khttpd not accepting on port %d after %.0f s: "
                             "%s" % (port, timeout, last))

    # -- HTTP helpers ---------------------------------------------------------
    def conn(self, **kw):
        return Conn(self.host, self.port, **kw)

    def get(self, path, method="GET", version="HTTP/1.1", headers=None,
            timeout=30.0):
        return get(self.host, self.port, path, method, version, headers,
                   timeout)

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def assert_alive(self):
        """A fresh connection gets a correct answer."""
        r = self.get("/hello.txt")
        assert r.status == 200, r
        assert r.body == self.files["/hello.txt"]


class ModuleServer(Server):
    """The module, loaded on the test root with insmod."""

    kind = "module"
    has_stats = True

    def __init__(self, ko, port, base, kmsg):
        super().__init__(port, base)
        self.ko = ko
        self.kmsg = kmsg
        self.loaded = False
        self.rmmod_timeout = float(os.environ.get("KHTTPD_RMMOD_TIMEOUT",
                                                  "10"))
        self.stop_timeout = self.rmmod_timeout

    @property
    def running(self):
        return self.loaded

    def start(self, wait=True, **params):
        port = params.pop("port", None)
        root = params.pop("root", None)
        self.insmod(port, root, ["%s=%s" % kv for kv in params.items()],
                    wait)

    def stop(self):
        return self.rmmod()

    def stats(self):
        with open("/proc/khttpd") as f:
            return {k: int(v) for k, v in (line.split() for line in f)}

    def open_connections(self):
        return self.stats()["connections_open"]

    # -- module control -------------------------------------------------------
    def insmod_args(self, port=None, root=None, extra=()):
        port = self.port if port is None else port
        root = self.root if root is None else root
        return ["insmod", self.ko, "port=%s" % port, "root=%s" % root] + \
            list(extra)

    def insmod_raw(self, args, timeout=60.0):
        """Run insmod with exactly these arguments; (rc, stdout, stderr)."""
        rc, out, err = run_cmd(args, timeout)
        if rc == 0:
            self.loaded = True
            self.params = {"args": args[2:]}
        return rc, out, err

    def insmod(self, port=None, root=None, extra=(), wait=True):
        """Load the module (default: test port and root); asserts success
        and that it accepts connections."""
        args = self.insmod_args(port, root, extra)
        self.kmsg.note("insmod %s" % " ".join(args[2:]))
        rc, out, err = self.insmod_raw(args)
        if rc != 0:
            raise AssertionError(
                "insmod failed (rc %d): %s%s\nkernel log:\n%s"
                % (rc, out, err, "\n".join(self.kmsg.read_new()[-20:])))
        if args == self.insmod_args():
            self.params = {}
        if wait:
            self.wait_ready(self.port if port is None else port)

    def rmmod(self, timeout=None):
        """Unload; returns the seconds it took. Asserts success."""
        timeout = self.rmmod_timeout if timeout is None else timeout
        self.kmsg.note("rmmod")
        t0 = time.monotonic()
        rc, out, err = run_cmd(["rmmod", MODULE], timeout)
        took = time.monotonic() - t0
        if rc != 0:
            raise AssertionError("rmmod failed (rc %d): %s%s" % (rc, out,
                                                                 err))
        self.loaded = False
        return took


# The twin's flags for the module's parameters (listing= and bind= below).
TWIN_FLAGS = {"port": "-p", "root": "-r", "timeout": "--timeout",
              "cache_size": "--cache-size",
              "cache_file_max": "--cache-file-max", "user": "-u",
              "group": "-g"}
# Where the suite's twin listens: loopback only, because it runs on the
# host (the module's every-address default is exposed only inside the
# guest). bind= (empty) asks for every address, as the module does.
TWIN_DEFAULT_BIND = "127.0.0.1"


class TwinProcess:
    """One build/twin process, ready once it printed its banner (which it
    does after listen()). stop() sends SIGTERM, which must end it with
    status 0."""

    def __init__(self, args, twin=None, timeout=30.0):
        self.args = [twin or twin_path()] + [str(a) for a in args]
        self.log = tempfile.TemporaryFile()         # its stderr
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                     stderr=self.log)
        self.pid = self.proc.pid
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        self.banner = line.decode("utf-8", "replace").strip()
        m = re.match(r"twin: serving .* on port (\d+) with (\d+) threads$",
                     self.banner)
        if not m:
            if self.proc.poll() is None:
                self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("%s did not start (exit status %d, "
                                 "banner %r): %s" % (" ".join(self.args), rc,
                                                     self.banner,
                                                     self.stderr()))
        self.port, self.threads = int(m.group(1)), int(m.group(2))

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def exited(self):
        return self.proc.poll() is not None

    def stop(self, timeout=10.0):
        """SIGTERM; asserts exit status 0. Returns the seconds it took."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the twin did not exit within %.0f s of "
                                 "SIGTERM" % timeout) from None
        finally:
            self.proc.stdout.close()
        took = time.monotonic() - t0
        assert rc == 0, "the twin exited with status %d on SIGTERM:\n%s" % (
            rc, self.stderr())
        self.log.close()
        return took

    def sockets(self):
        """Number of sockets the process has open."""
        n = 0
        fd_dir = "/proc/%d/fd" % self.pid
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)).startswith(
                        "socket:"):
                    n += 1
            except FileNotFoundError:
                pass                # closed while we looked
        return n


class TwinServer(Server):
    """build/twin serving the test root, started with the flags that match
    the module's parameters."""

    kind = "twin"

    def __init__(self, twin, port, base):
        super().__init__(port, base)
        self.twin = twin
        self.proc = None
        self.stop_timeout = 10.0

    @property
    def running(self):
        return self.proc is not None and not self.proc.exited()

    def twin_args(self, params):
        p = dict(params)
        args = ["-p", p.pop("port", self.port), "-r", p.pop("root", self.root)]
        bind = p.pop("bind", None)
        args += ["-b", TWIN_DEFAULT_BIND if bind is None else bind or "::"]
        listing = p.pop("listing", None)
        if listing is not None and str(listing) in ("0", "N", "n"):
            args.append("--no-listing")
        for k, v in p.items():
            if k not in TWIN_FLAGS:
                pytest.skip("the twin has no equivalent of the module's "
                            "%s= parameter" % k)
            args += [TWIN_FLAGS[k], v]
        return args

    def check_params(self, params):
        self.twin_args(params)

    def start(self, wait=True, **params):
        # Ready when it returns: the twin prints its banner after listen().
        self.proc = TwinProcess(self.twin_args(params), self.twin)
        self.params = params

    def stop(self):
        proc, self.proc = self.proc, None
        return proc.stop(self.stop_timeout)

    def open_connections(self):
        # Every socket but the listeners (one per thread).
        return self.proc.sockets() - self.proc.threads

    def check_crash(self):
        if self.proc is not None and self.proc.exited():
            proc, self.proc = self.proc, None
            raise AssertionError("the twin exited by itself (status %d):\n%s"
                                 % (proc.proc.returncode, proc.stderr()))


def raise_nofile(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return
    try:
        if hard < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pick_port():
    if os.environ.get("KHTTPD_PORT"):
        port = int(os.environ["KHTTPD_PORT"])
        if not port_is_free(port):
            pytest.fail("KHTTPD_PORT=%d is already in use" % port)
        return port
    for port in range(8081, 8100):
        if port_is_free(port):
            return port
    pytest.fail("no free port in 8081..8099 (set KHTTPD_PORT)")


@pytest.fixture(scope="session")
def khttpd():
    """The server under test, serving the test document root."""
    problem = suite_precondition_problem()
    if problem:
        if env_flag("KHTTPD_REQUIRE"):
            # One clear failure (exit status 1) instead of an error per test.
            pytest.exit("KHTTPD_REQUIRE=1 but: " + problem, returncode=1)
        pytest.skip(problem)

    raise_nofile()
    kmsg = None
    if SERVER == "module":
        kmsg = Kmsg()
        kmsg.note("integration session start")
        if module_loaded():
            rc, out, err = run_cmd(["rmmod", MODULE], 30)
            if rc != 0:
                pytest.fail("module already loaded and rmmod failed: %s%s"
                            % (out, err), pytrace=False)

    base = tempfile.mkdtemp(prefix="khttpd-itest-", dir="/tmp")
    if SERVER == "module":
        srv = ModuleServer(ko_path(), pick_port(), base, kmsg)
    else:
        srv = TwinServer(twin_path(), pick_port(), base)
    try:
        srv.build_root()
        srv.start()
        srv.assert_alive()
    except BaseException as e:
        if SERVER == "module" and (srv.loaded or module_loaded()):
            run_cmd(["rmmod", MODULE], 30)
        elif SERVER == "twin" and srv.running:
            srv.proc.proc.kill()
        shutil.rmtree(base, ignore_errors=True)
        if isinstance(e, Exception):
            # Nothing can run without the server: stop with one failure.
            pytest.exit("could not start khttpd for the suite: %s" % e,
                        returncode=1)
        raise

    yield srv

    problems = []
    if SERVER == "module":
        if srv.loaded or module_loaded():
            try:
                srv.rmmod(timeout=max(30.0, srv.rmmod_timeout))
            except AssertionError as e:
                problems.append("teardown: %s" % e)
    else:
        try:
            srv.check_crash()
            if srv.running:
                srv.stop()
        except AssertionError as e:
            problems.append("teardown: %s" % e)
    shutil.rmtree(base, ignore_errors=True)
    if kmsg is not None:
        bad = kmsg.bad_lines()
        kmsg.close()
        if bad:
            problems.append("kernel log has warnings/oopses:\n"
                            + "\n".join(bad))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def srv(khttpd):
    """Per-test handle; makes sure the server runs as the suite set it up
    (a failed lifecycle test must not take every later test down with
    it), and after the test that the twin did not die on its own."""
    if not khttpd.running or khttpd.params:
        khttpd.restart()
    yield khttpd
    khttpd.check_crash()


# --------------------------------------------------------------------------
# Extra trees for the test_http_*.py files (listings, MIME, validators,
# precompressed variants, mirroring). Built on demand, once per session,
# inside the already served root (the module looks files up per request).

LISTING_MTIME = 981173106           # 2001-02-03 04:05:06 UTC
RFC_EXAMPLE_MTIME = 784111777       # Sun, 06 Nov 1994 08:49:37 GMT
EVIL_NAME = '<script>&"x y.txt'
ODD_NAMES = ["a:b.txt", "\u00fcber.txt", "100%.txt", "#hash.txt", "q?.txt",
             "semi;colon.txt", "plus+.txt", "it's.txt", "back\\slash.txt",
             "tab\there.txt", "new\nline.txt", "~tilde.txt", "\u65e5.txt"]

# extension -> acceptable media types (without parameters); text/* must
# carry charset=utf-8.
MIME_EXPECTED = {
    "html": ("text/html",),
    "css": ("text/css",),
    "js": ("text/javascript", "application/javascript"),
    "json": ("application/json",),
    "txt": ("text/plain",),
    "svg": ("image/svg+xml",),
    "png": ("image/png",),
    "jpg": ("image/jpeg",),
    "gif": ("image/gif",),
    "webp": ("image/webp",),
    "ico": ("image/vnd.microsoft.icon", "image/x-icon"),
    "mp3": ("audio/mpeg",),
    "mp4": ("video/mp4",),
    "webm": ("video/webm",),
    "woff2": ("font/woff2",),
    "pdf": ("application/pdf",),
    "zip": ("application/zip",),
    "gz": ("application/gzip", "application/x-gzip"),
    "wasm": ("application/wasm",),
    "xml": ("application/xml", "text/xml"),
    "csv": ("text/csv",),
    "md": ("text/markdown",),
}


class HttpTree:
    """Paths (URL -> bytes) of the extra trees; see http_tree()."""

    def __init__(self, srv):
        self.srv = srv
        self.files = {}                 # URL path -> content
        # /ls/: the listing test directory, its expected visible entries
        # (in listing order: directories first, then files, by name).
        self.ls_entries = []
        self.big_names = None           # names in /big/ (10,000)

    def put(self, url, data, mtime=None, mode=0o644):
        p = self.srv.path(url)
        os.makedirs(os.path.dirname(p), 0o755, exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        self.files[url] = data
        return p

    def mkdir(self, url, mtime=None):
        p = self.srv.path(url)
        os.makedirs(p, 0o755, exist_ok=True)
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        return p


def build_http_tree(srv):
    import gzip
    t = HttpTree(srv)
    rnd = random.Random(20240601)

    # /ls/ -- a directory without index.html, listed.
    t.put("/ls/a.txt", b"file a\n", LISTING_MTIME)
    t.put("/ls/b.bin", rnd.randbytes(12345), LISTING_MTIME)
    t.put("/ls/m.txt", b"file m\n", LISTING_MTIME)
    t.put("/ls/" + EVIL_NAME, b"evil name content\n", LISTING_MTIME)
    t.put("/ls/.hidden", b"hidden file\n")
    t.put("/ls/.hdir/x.txt", b"in a hidden dir\n")
    t.put("/ls/adir/inner.txt", b"inner\n")
    t.mkdir("/ls/adir", LISTING_MTIME)
    t.mkdir("/ls/zdir", LISTING_MTIME)
    t.mkdir("/ls/empty", LISTING_MTIME)
    ls = srv.path("/ls")
    os.symlink("/etc/passwd", os.path.join(ls, "out-abs"))
    os.symlink("../../outside.txt", os.path.join(ls, "out-rel"))
    os.symlink("/etc", os.path.join(ls, "out-dir"))
    os.utime(ls, (LISTING_MTIME, LISTING_MTIME))
    t.ls_entries = ["adir/", "empty/", "zdir/", EVIL_NAME, "a.txt", "b.bin",
                    "m.txt"]

    # /withindex/ -- index.html next to other files: the index is served.
    t.put("/withindex/index.html",
          b"<!DOCTYPE html>\n<title>withindex</title><p>the index</p>\n")
    t.put("/withindex/other.txt", b"other\n")

    # /mime/ -- one small file per extension, plus upper/mixed case.
    for ext in MIME_EXPECTED:
        t.put("/mime/f.%s" % ext, ("content of f.%s\n" % ext).encode())
    for name in ("F.PNG", "photo.JPG", "Page.Html", "x.Css", "y.JSON",
                 "a.tar.gz", "unknown.qqqz", "noext", "dots.v1.2"):
        t.put("/mime/" + name, ("content of %s\n" % name).encode())

    # /gz/ -- precompressed variants beside their originals.
    for name, data in (("style.css", b"body { color: #123456; }\n" * 40),
                       ("app.js", b"console.log('khttpd');\n" * 50),
                       ("data.json", b'{"k": [1, 2, 3]}\n' * 30)):
        t.put("/gz/" + name, data)
        t.put("/gz/%s.gz" % name, gzip.compress(data, 9, mtime=0))
    t.put("/gz/plain-only.txt", b"no .gz beside me\n" * 20)
    # Over the default cache_file_max (1 MiB), so spliced; its variant
    # is small and cached.
    t.put("/gz/big.txt", b"x" * 1100000)
    t.put("/gz/big.txt.gz", gzip.compress(b"x" * 1100000, 9, mtime=0))

    # /cond/ -- files for validator tests (old mtimes, one mutable).
    t.put("/cond/rfc.txt", b"mtime is the RFC 9110 example date\n",
          RFC_EXAMPLE_MTIME)
    t.put("/cond/mutable.txt", b"version 1\n", LISTING_MTIME)

    # /ls2/ -- names that need care in URLs and HTML.
    for i, name in enumerate(ODD_NAMES):
        t.put("/ls2/" + name, ("odd name %d\n" % i).encode())

    # A file with an old mtime for If-Range by date.
    t.put("/cond/range.bin", rnd.randbytes(65536), LISTING_MTIME)

    # /mirror/ -- a small www-like tree without index.html files.
    t.put("/mirror/readme.txt", b"mirror me\n" * 5)
    t.put("/mirror/data.bin", rnd.randbytes(150000))
    t.put("/mirror/empty.bin", b"")
    t.put("/mirror/with space.txt", b"spaced name\n")
    t.put("/mirror/docs/guide.md", b"# Guide\n\nText.\n" * 20)
    t.put("/mirror/docs/style.css", b"p { margin: 0; }\n")
    t.put("/mirror/docs/img/pic.png", make_png(16, 16))
    t.put("/mirror/docs/img/raw.bin", rnd.randbytes(70000))
    t.put("/mirror/src/main.c", b"int main(void) { return 0; }\n")
    t.mkdir("/mirror/emptydir")

    # The literal name "%68ello.txt" (what "/%2568ello.txt" decodes to).
    t.put("/%68ello.txt", b"literal percent-68 file, not hello.txt\n")
    return t


@pytest.fixture(scope="session")
def http_tree(khttpd):
    """The extra trees used by test_http_*.py, built once."""
    return build_http_tree(khttpd)


@pytest.fixture(scope="session")
def big_dir(khttpd):
    """/big/: 10,000 empty files, created in a shuffled order so the
    directory's own order is not the sorted one. Returns the names."""
    d = khttpd.path("/big")
    os.mkdir(d, 0o755)
    rnd = random.Random(10000)
    names = ["e%05d-%s.txt" % (i, "x" * rnd.randrange(1, 12))
             for i in range(10000)]
    order = names[:]
    rnd.shuffle(order)
    for n in order:
        fd = os.open(os.path.join(d, n), os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
    return sorted(names)
