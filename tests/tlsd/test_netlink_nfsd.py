# SPDX-License-Identifier: GPL-2.0
"""khttpd-tlsd's netlink path end to end, before khttpd's tls_port exists:
the kernel's NFS server is another consumer of the same upcall. A client
that sends an RPC NULL call with AUTH_TLS gets "STARTTLS" back, and nfsd
then calls tls_server_hello_x509() with TLS_NO_CERT, exactly as khttpd
does; the agent accepts the socket over netlink, shakes hands, installs
kTLS and reports DONE; nfsd's next reply comes back through kTLS. Runs on
a kernel with CONFIG_NET_HANDSHAKE and nfsd as a module (6.12 in the
guest); nfsd is started NFSv4-only (no rpcbind needed) on port 2049 and
stopped afterwards."""

import os
import socket
import ssl
import struct
import subprocess
import threading

import pytest

from conftest import tls_stat

NFSD = "/proc/fs/nfsd"
NFS_PORT = 2049
AUTH_NONE, AUTH_TLS = 0, 7


@pytest.fixture(scope="module")
def nfsd(ktls):
    try:
        with open(f"/boot/config-{os.uname().release}") as f:
            if "CONFIG_NET_HANDSHAKE=y" not in f.read():
                pytest.skip("this kernel has no TLS handshake upcall")
    except OSError:
        pytest.skip("no /boot/config for this kernel")
    if subprocess.run(["modprobe", "nfsd"], capture_output=True).returncode:
        pytest.skip("no nfsd module")
    mounted = False
    if not os.path.exists(f"{NFSD}/threads"):
        if subprocess.run(["mount", "-t", "nfsd", "nfsd", NFSD],
                          capture_output=True).returncode:
            pytest.skip("cannot mount the nfsd file system")
        mounted = True

    def write(name, value):
        try:
            with open(f"{NFSD}/{name}", "w") as f:
                f.write(value + "\n")  # as echo does: nfsd parses lines
        except OSError as e:
            raise OSError(e.errno, f"{name} = {value!r}: {e.strerror}") from e

    try:
        # NFSv4 only (v3 would need rpcbind to register with).
        write("versions", "-3 +4")
        write("portlist", f"tcp {NFS_PORT}")
        write("threads", "4")
    except OSError as e:
        pytest.skip(f"cannot start nfsd: {e}")
    yield
    write("threads", "0")
    if mounted:
        subprocess.run(["umount", NFSD])


@pytest.fixture(scope="module")
def netlink_agent(nfsd, certs, start_agent):
    """The agent as the kernel's handshake agent, switched to nobody."""
    agent = start_agent("--cert", certs["cert.pem"], "--key", certs["key.pem"],
                        "--user", "nobody", "-v",
                        ready="taking handshakes from the kernel")
    yield agent
    assert agent.stop() == 0, agent.log()


def rpc_null(sock, xid, flavor):
    """An RPC NULL call to NFSv4 over record marking; the reply's body."""
    body = struct.pack(">10I", xid, 0, 2, 100003, 4, 0, flavor, 0, AUTH_NONE, 0)
    sock.sendall(struct.pack(">I", 0x80000000 | len(body)) + body)

    def recv_exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    n = struct.unpack(">I", recv_exact(4))[0] & 0x7fffffff
    return recv_exact(n)


def starttls(certs, alpn=None):
    """Connects, asks nfsd for TLS, and shakes hands; the TLS socket."""
    sock = socket.create_connection(("127.0.0.1", NFS_PORT), timeout=60)
    reply = rpc_null(sock, 1, AUTH_TLS)
    assert b"STARTTLS" in reply, reply
    ctx = ssl.create_default_context(cafile=certs["ca.pem"])
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(sock, server_hostname="localhost")


def test_kernel_consumer_gets_a_ktls_socket(netlink_agent, certs):
    before = tls_stat()
    with starttls(certs) as tls:
        assert tls.version() in ("TLSv1.3", "TLSv1.2")
        # nfsd's reply to this call is encrypted by kTLS TX in the kernel,
        # and the call decrypted by kTLS RX.
        reply = rpc_null(tls, 2, AUTH_NONE)
        assert struct.unpack(">I", reply[:4])[0] == 2, reply
    after = tls_stat()
    assert after["TlsTxSw"] > before["TlsTxSw"] and after["TlsRxSw"] > before["TlsRxSw"]
    c = netlink_agent.counters()
    assert c["ok"] >= 1 and c["failed"] == 0, c
    assert "DONE:" not in netlink_agent.log(), netlink_agent.log()


def test_failed_handshake_is_reported_and_the_agent_goes_on(netlink_agent, certs):
    before = netlink_agent.counters()
    with pytest.raises((ssl.SSLError, OSError)):
        with starttls(certs, alpn=["h2"]) as tls:
            rpc_null(tls, 2, AUTH_NONE)
    after = netlink_agent.counters_when(lambda c: c["failed"] > before["failed"])
    assert after["failed"] == before["failed"] + 1, (before, after)
    with starttls(certs) as tls:
        rpc_null(tls, 3, AUTH_NONE)


def test_many_at_once(netlink_agent, certs):
    """More handshakes at once than the kernel keeps pending (3-5 here):
    the agent must empty its queue as fast as nfsd fills it."""
    n = 40
    failures = []
    barrier = threading.Barrier(n, timeout=120)

    def client(i):
        try:
            barrier.wait()
            with starttls(certs) as tls:
                rpc_null(tls, 10 + i, AUTH_NONE)
        except (OSError, ssl.SSLError, threading.BrokenBarrierError) as e:
            failures.append(repr(e))

    before = netlink_agent.counters()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    after = netlink_agent.counters_when(lambda c: c["ok"] - before["ok"] >= n)
    assert not failures, (len(failures), failures[:3], netlink_agent.log()[-2000:])
    assert after["ok"] - before["ok"] == n, (before, after)
