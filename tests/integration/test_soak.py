# SPDX-License-Identifier: GPL-2.0
"""Load and unload soak: many times over, insmod, a mixed load (keep-alive
and a connection per request, small and 1 MiB files, listings, clients
that vanish mid-response), rmmod while the load runs. After each cycle the
module's slab cache must be gone; at the end the kernel's memory
(available memory, Slab, and the TCP, sock_inode_cache, filp and dentry
slabs, after dropping caches) must be back at its baseline.

KHTTPD_SOAK_CYCLES sets the number of cycles (make check: 3; make soak:
100). Marked `lifecycle`."""

import ctypes
import os
import random
import socket
import struct
import threading
import time

import pytest

from conftest import MODULE, blocked_stacks, module_loaded

pytestmark = [pytest.mark.lifecycle,
              pytest.mark.module_only("insmod/rmmod cycles; the kernel's "
                                      "slabs and memory")]

CYCLES = int(os.environ.get("KHTTPD_SOAK_CYCLES", "3"))
MiB = 1 << 20
SLABS = ("TCP", "TCPv6", "sock_inode_cache", "filp", "dentry")


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            out[k] = int(v.split()[0]) * 1024
    return out


def slabs():
    out = {}
    with open("/proc/slabinfo") as f:
        for line in f.readlines()[2:]:
            fields = line.split()
            out[fields[0]] = int(fields[1])         # active objects
    return out


def settle():
    """Let deferred frees (RCU, work) happen, drop the caches, and have
    SLUB give back its per-CPU and partial slabs, so that the counts are
    of objects really in use rather than of slabs a CPU happens to hold."""
    for _ in range(3):
        time.sleep(1)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        for name in SLABS:
            try:
                with open("/sys/kernel/slab/%s/shrink" % name, "w") as f:
                    f.write("1")
            except OSError:
                pass            # merged into another cache, or no SLUB


def pcp_free():
    """Bytes of free pages on the per-CPU lists. MemAvailable leaves them
    out, and how many a CPU holds swings by 20 MiB from one moment to the
    next in a 2 GiB guest: measured beside MemAvailable over 8 cycles,
    the two moved in opposite directions by the same amount."""
    pages = 0
    with open("/proc/zoneinfo") as f:
        for line in f:
            fields = line.split()
            if fields[:1] == ["count:"]:
                pages += int(fields[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def own_anon():
    """This process's anonymous memory: the load's threads leave malloc
    arenas behind (about 0.5 MiB a cycle), which is not the kernel's."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc/self/status")


def snapshot():
    settle()
    m, s = meminfo(), slabs()
    available = m["MemAvailable"] + pcp_free() - own_anon()
    return {"Available": available, "Slab": m["Slab"],
            **{n: s.get(n, 0) for n in SLABS}}


def client(srv, kind, stop, errors):
    rnd = random.Random(kind)
    while not stop.is_set():
        try:
            s = socket.create_connection((srv.host, srv.port), timeout=5)
        except OSError:
            time.sleep(0.05)        # between rmmod and insmod
            continue
        try:
            if kind == "keepalive":
                for _ in range(20):
                    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                    s.recv(65536)
            elif kind == "close":
                s.sendall(b"GET /sub/page.txt HTTP/1.0\r\n\r\n")
                while s.recv(65536):
                    pass
            elif kind == "big":
                s.sendall(b"GET /b1m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                got = 0
                while got < MiB:
                    n = len(s.recv(65536))
                    if not n:
                        break
                    got += n
            elif kind == "listing":
                s.sendall(b"GET /noindex/ HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
                while s.recv(65536):
                    pass
            elif kind == "vanish":
                s.sendall(b"GET /b20m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                s.recv(rnd.randrange(1, 65536))
                # Linger 0: the close is a reset, as when a client dies.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        except OSError:
            pass                    # the module went away mid-request
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            s.close()


SYS_DELETE_MODULE = 176                         # x86-64
LIBC = ctypes.CDLL(None, use_errno=True)


def unload(srv, timeout, stacks):
    """rmmod's system call, made from here: rmmod itself would first be
    read over the guest's 9p share, which under this load is part of
    what is timed. Returns the seconds it took; the kernel stacks of a
    call still running after 2 s (and of tasks in D state), once a
    second, are appended to stacks."""
    started = threading.Event()
    done = {}

    def call():
        done["tid"] = threading.get_native_id()
        started.set()
        rc = LIBC.syscall(SYS_DELETE_MODULE, MODULE.encode(), os.O_NONBLOCK)
        done["errno"] = ctypes.get_errno() if rc else 0

    srv.kmsg.note("rmmod")
    t0 = time.monotonic()
    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    started.wait()
    caller.join(2.0)
    while caller.is_alive() and time.monotonic() - t0 < timeout:
        stacks.append(blocked_stacks(done["tid"]))
        caller.join(1.0)
    took = time.monotonic() - t0
    assert not caller.is_alive(), \
        "delete_module() still running after %.0f s:\n%s" \
        % (took, "\n----\n".join(stacks))
    assert done["errno"] == 0, os.strerror(done["errno"])
    srv.loaded = False
    return took


def exit_seconds(kmsg):
    """Seconds from the last rmmod's marker in the kernel log to the
    module's "stopped", the last line its exit prints."""
    kmsg.read_new()
    start = None
    for stamp, line in kmsg.stamps:
        if line == "pytest: rmmod":
            start, end = stamp, None
        elif start is not None and line.endswith(": stopped"):
            end = stamp
    assert start is not None and end is not None, \
        "no rmmod marker and stop line in the kernel log"
    return end - start


def test_insmod_load_rmmod_soak(srv):
    srv.rmmod()
    # One warm-up cycle: first use allocates things the kernel keeps.
    srv.insmod()
    srv.assert_alive()
    srv.rmmod()
    base = snapshot()
    kinds = ["keepalive", "close", "big", "listing", "vanish"]
    for cycle in range(CYCLES):
        stop = threading.Event()
        errors = []
        threads = [threading.Thread(target=client, args=(srv, k, stop, errors))
                   for k in kinds * 2]
        srv.insmod()
        for t in threads:
            t.start()
        time.sleep(1.5)
        stacks = []
        try:
            # While the load runs.
            took = unload(srv, max(30.0, srv.rmmod_timeout), stacks)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert not errors, errors
        exiting = exit_seconds(srv.kmsg)
        print("soak cycle %d: rmmod under load took %.1f s, %.1f s of it "
              "until the module's exit returned" % (cycle, took, exiting))
        if stacks:
            print("what delete_module() waited for:\n" +
                  "\n----\n".join(stacks))
        # Bounded like every rmmod of the suite (KHTTPD_RMMOD_TIMEOUT:
        # 10 s, 60 s on the sanitizer kernel) up to the end of the
        # module's exit, which is all the module's doing; the kernel's
        # unload after it (free_module() waits for RCU grace periods,
        # which the clients' load can hold) by the 30 s that catches a
        # hang. Twice in CI, on 6.1, the whole took 11 s.
        assert exiting < srv.rmmod_timeout, \
            "cycle %d: the module's exit took %.1f s; what it waited " \
            "for:\n%s" % (cycle, exiting,
                           "\n----\n".join(stacks))
        assert not module_loaded()
        assert not os.path.exists("/sys/kernel/slab/khttpd_conn"), \
            "cycle %d: the connection slab outlived the module" % cycle
        with open("/proc/slabinfo") as f:
            assert "khttpd" not in f.read()
    after = snapshot()
    report = {k: (base[k], after[k]) for k in base}
    print("soak: available memory %+d KiB, Slab %+d KiB over %d cycles"
          % ((after["Available"] - base["Available"]) // 1024,
             (after["Slab"] - base["Slab"]) // 1024, CYCLES))
    # Bounds: what one TCP socket, file or dentry is; a few stragglers
    # (TIME_WAIT, lazily freed dentries) are not a leak, hundreds are.
    # Available memory moved by 3-8 MiB over 3 cycles on 6.1 and 6.12
    # once the per-CPU lists were counted; MemAvailable alone, by up to
    # 37 MiB (a CI failure with no leak behind it).
    assert after["Available"] > base["Available"] - 24 * MiB, report
    assert after["Slab"] < base["Slab"] + 16 * MiB, report
    for name, slack in (("TCP", 20), ("TCPv6", 20),
                        ("sock_inode_cache", 50), ("filp", 300),
                        ("dentry", 2000)):
        assert after[name] <= base[name] + slack, (name, report)
    srv.insmod()
    srv.assert_alive()
