"""Hostile clients: random and mutated requests, abrupt disconnects.

A bounded randomized barrage (fixed seed, so a failure reproduces) of
requests built by mutating valid ones, truncating them, splitting them at
random points, pipelining them and hanging up at random moments, several
connections at a time. The server must keep answering and never leave a
connection behind once its client is gone; the module must also log no
WARN/BUG/oops (the suite's final kernel-log check), and its counters must
show that the barrage reached it.
"""
import random
import socket
import threading
import time

from conftest import stats_once

SEED = 20261126
ROUNDS = 1500
THREADS = 6

BASE = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n",
    b"HEAD /sub/ HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\", *\r\n\r\n",
    b"GET /sub HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://x/noindex/ HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /b20m.bin HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /b1m.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-100\r\n\r\n",
]
JUNK = [b"\r\n", b"\n", b"\x00", b" ", b":", b"%", b"%00", b"..", b"/",
        b"\xff", b"Transfer-Encoding: chunked\r\n", b"Content-Length: 9\r\n",
        b"\r\n\r\n", b"HTTP/1.1", b"GET ", b"\t"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            del data[pos:pos + rng.randrange(1, 8)]
        elif op == 1:
            data[pos:pos] = rng.choice(JUNK)
        elif op == 2 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 3:
            data[pos:pos] = bytes(rng.randrange(256)
                                  for _ in range(rng.randrange(1, 32)))
        else:
            data = data[:pos]
    return bytes(data)


def barrage(srv, seed, errors, handed):
    """ROUNDS // THREADS connections of mutated requests; `handed` gets
    one entry per connection the server must accept: all but those that
    reset before sending a byte or a FIN, which TCP_DEFER_ACCEPT (on in
    khttpd while it is busy, as it is here) never hands over, as a
    deferring userspace server would never see them (2 of the 1500 with
    this seed)."""
    rng = random.Random(seed)
    for _ in range(ROUNDS // THREADS):
        sent_any = half_closed = False
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=10)
        except OSError as e:
            errors.append("connect: %s" % e)
            return
        try:
            # A mutated request may never be answered: do not wait long.
            s.settimeout(0.3)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            reqs = [rng.choice(BASE) if rng.random() < 0.3
                    else mutate(rng, rng.choice(BASE))
                    for _ in range(rng.randrange(1, 4))]
            blob = b"".join(reqs)
            sent_any = bool(blob)
            # Split at random points, sometimes pausing between pieces.
            while blob:
                n = rng.randrange(1, len(blob) + 1)
                s.sendall(blob[:n])
                blob = blob[n:]
                if rng.random() < 0.1:
                    time.sleep(0.002)
            how = rng.randrange(3)
            if how == 0:
                pass                            # hang up at once
            elif how == 1:
                s.shutdown(socket.SHUT_WR)      # half-close, read a little
                half_closed = True
                s.recv(rng.randrange(1, 65536))
            else:
                s.recv(rng.randrange(1, 4096))  # read a bit, then vanish
        except OSError:
            pass                                # resets are fair play here
        finally:
            abortive = rng.random() < 0.5
            if abortive:
                # Abortive close: RST instead of FIN.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.close()
            if sent_any or half_closed or not abortive:
                handed.append(1)


def test_random_hostile_barrage(srv):
    errors, handed = [], []
    before = srv.stats() if srv.has_stats else None
    threads = [threading.Thread(target=barrage,
                                args=(srv, SEED + i, errors, handed))
               for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "barrage hung"
    assert not errors, errors[:5]
    if before is not None:
        # The barrage reached the server: every connection it had to be
        # handed, most requests. A client that sent and reset at once
        # may still wait in the accept queue when its thread ends.
        assert len(handed) >= ROUNDS * 0.9, len(handed)
        after = stats_once(srv, before, "connections_accepted", len(handed),
                           timeout=30)
        assert after["connections_accepted"] - \
            before["connections_accepted"] >= len(handed)
        assert after["requests"] - before["requests"] >= ROUNDS // 2
    srv.assert_alive()
    # Every client is gone: after lingering closes (5 s at most) and the
    # sweeper, no connection may remain.
    deadline = time.monotonic() + 30
    while srv.open_connections() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert srv.open_connections() == 0
