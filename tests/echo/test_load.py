# SPDX-License-Identifier: GPL-2.0
"""Under load: a client that writes without reading (backpressure, and no
byte lost once it does read), and 1000 clients at once."""

import os
import random
import select
import socket
import time

import pytest

from conftest import raise_nofile, recv_exact, stuck_report

MiB = 1 << 20

# What a client may get into the server before the server stops reading:
# the client's send buffer, the server's receive and send buffers and its
# own bounded buffer, and the client's receive buffer, each a few MiB at
# most with Linux's autotuning (tcp_rmem/tcp_wmem maxima).
STALL_LIMIT = 32 * MiB


def write_until_stalled(sock, data, quiet_s=1.0):
    """Writes data without reading until no byte goes out for quiet_s
    seconds (or all is written). Returns the bytes written."""
    sock.setblocking(False)
    off = 0
    last = time.monotonic()
    while off < len(data) and time.monotonic() - last < quiet_s:
        _, w, _ = select.select([], [sock], [], 0.1)
        if not w:
            continue
        try:
            n = sock.send(data[off:off + 256 * 1024])
        except BlockingIOError:
            continue
        if n:
            off += n
            last = time.monotonic()
    return off


def test_slow_reader_backpressure(srv):
    """The client writes without reading. The server must stop taking its
    bytes (it would otherwise hold them all, or drop some) and keep every
    one: once the client reads, all come back, in order."""
    data = random.Random(6).randbytes(STALL_LIMIT + 8 * MiB)
    with srv.connect() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        rss0 = srv.server.rss_kib() if srv.kind == "user" else None
        stalled = write_until_stalled(s, data)
        assert stalled < STALL_LIMIT, \
            "the server took %d MiB from a client that reads nothing: " \
            "no backpressure" % (stalled // MiB)
        if rss0 is not None:
            grown = srv.server.rss_kib() - rss0
            assert grown < 8 * 1024, \
                "user-echo-server grew by %d KiB holding a slow reader's " \
                "bytes" % grown
        # Now read, while writing a few MiB more: every byte, in order.
        total = stalled + 4 * MiB
        s.setblocking(True)
        s.settimeout(60)
        got = bytearray()
        off = stalled
        s.setblocking(False)
        end = time.monotonic() + 120
        moved = time.monotonic()
        while len(got) < total:
            assert time.monotonic() < end, \
                "only %d of %d bytes back" % (len(got), total)
            # Nothing moves for 10 s with bytes owed both ways: stuck, and
            # where is worth more than the idle timeout's EOF later.
            assert time.monotonic() - moved < 10, \
                "nothing moved for 10 s: %d of %d bytes sent, %d back\n%s" \
                % (off, total, len(got),
                   stuck_report(srv.port, s.getsockname()[1]))
            want_w = [s] if off < total else []
            r, w, _ = select.select([s], want_w, [], 1.0)
            if w:
                try:
                    off += s.send(data[off:min(total, off + 65536)])
                    moved = time.monotonic()
                except BlockingIOError:
                    pass
            if r:
                try:
                    chunk = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                assert chunk, "EOF after %d of %d bytes" % (len(got), total)
                got += chunk
                moved = time.monotonic()
        assert bytes(got) == data[:total], "the echo differs from what " \
            "was sent (bytes lost or reordered under backpressure)"


def test_1000_concurrent_clients(srv):
    """1000 clients connected at once, each echoing its own message twice:
    once as it connects, once when all are connected."""
    raise_nofile(4096)
    n = 1000
    conns = []
    try:
        for i in range(n):
            c = srv.connect(timeout=30)
            msg = b"client %d hello\n" % i
            c.sendall(msg)
            conns.append(c)
        for i, c in enumerate(conns):
            assert recv_exact(c, len(b"client %d hello\n" % i)) == \
                b"client %d hello\n" % i
        msgs = [os.urandom(100) + b"%d" % i for i in range(n)]
        for c, m in zip(conns, msgs):
            c.sendall(m)
        for i, (c, m) in enumerate(zip(conns, msgs)):
            assert recv_exact(c, len(m)) == m, "client %d" % i
    finally:
        for c in conns:
            c.close()


@pytest.mark.user_only("the echo-bench checker is run against the module "
                       "by make echo-bench")
def test_echo_bench_check(srv):
    """build/echo-bench --check passes (the checker make echo-check runs):
    50 clients, 1 MiB each."""
    import subprocess
    from conftest import REPO
    tool = os.path.join(REPO, "build", "echo-bench")
    if not os.access(tool, os.X_OK):
        pytest.skip("build/echo-bench is not built")
    r = subprocess.run([tool, "--check", "-p", str(srv.port), "-n", "50",
                        "--bytes", str(MiB)], capture_output=True,
                       timeout=120)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    assert "check: OK: 50 clients, 52428800 bytes" in out


class ManglingServer:
    """An echo server that gets one byte wrong (the n-th it echoes), or
    closes after n bytes: what echo-bench must catch."""

    def __init__(self, n, close=False):
        self.n, self.close_after = n, close
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.seen = 0
        import threading
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import threading
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self.echo, args=(c,), daemon=True).start()

    def echo(self, c):
        with c:
            while True:
                try:
                    data = bytearray(c.recv(65536))
                except OSError:
                    return
                if not data:
                    return
                with self.lock:
                    start, self.seen = self.seen, self.seen + len(data)
                if start <= self.n < self.seen:
                    if self.close_after:
                        return
                    data[self.n - start] ^= 0x01
                try:
                    c.sendall(data)
                except OSError:     # the client gave up: as it should
                    return


@pytest.mark.user_only("the tool's own checks need no particular server")
@pytest.mark.parametrize("mode", ["bench", "check"])
@pytest.mark.parametrize("fault", ["wrong-byte", "early-close"])
def test_echo_bench_catches_bad_echo(mode, fault):
    """echo-bench fails (status 1, saying what) when a byte comes back
    wrong or the server closes early, in both modes."""
    import subprocess
    from conftest import REPO
    tool = os.path.join(REPO, "build", "echo-bench")
    if not os.access(tool, os.X_OK):
        pytest.skip("build/echo-bench is not built")
    bad = ManglingServer(5000, close=(fault == "early-close"))
    args = ([tool, "--check", "-n", "4", "--bytes", "100000"]
            if mode == "check" else
            [tool, "--levels", "1,4", "-r", "50", "-o", "", "-q"])
    r = subprocess.run(args + ["-p", str(bad.port), "--timeout", "5"],
                       capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 1, (r.returncode, r.stdout, err)
    if fault == "wrong-byte":
        assert ("came back as" in err) or ("wrong echo" in err), err
    else:
        # How the early close shows depends on where the client is: a
        # read sees EOF, a send a reset or, once the reset has come, EPIPE
        # (CI: "client 0: send: Broken pipe").
        assert ("EOF" in err) or ("closed" in err) or \
            ("reset" in err.lower()) or ("broken pipe" in err.lower()), err
    bad.ls.close()
