# SPDX-License-Identifier: GPL-2.0
"""kecho over TLS: the engine's tls_port= works for any protocol on it.
The agent (build/khttpd-tlsd) does the handshake, kTLS the records, and
kecho echoes through kTLS what it decrypts. Needs a kernel with the
handshake upcall (6.12); skipped on 6.1, where khttpd's suite tests the
refusal."""

import importlib.util
import os
import shutil
import socket
import ssl
import tempfile
import time

import pytest

from conftest import REPO, recv_exact

pytestmark = pytest.mark.module_only("TLS is the engine's (the upcall)")


def _tls_agent():
    path = os.path.join(REPO, "tests", "integration", "tls_agent.py")
    spec = importlib.util.spec_from_file_location("khttpd_tls_agent", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ta = _tls_agent()


@pytest.fixture(scope="module")
def tls_echo(echo_server):
    if not ta.kernel_has_upcall():
        pytest.skip("this kernel has no TLS handshake upcall")
    ta.load_ktls()
    if not os.access(ta.agent_path(), os.X_OK):
        pytest.fail("khttpd-tlsd not built at %s" % ta.agent_path())
    d = tempfile.mkdtemp(prefix="kecho-tls-", dir="/tmp")
    os.chmod(d, 0o755)
    ca, cert, key = ta.make_certs(d)
    agent = ta.Agent(cert, key, d)
    agent.start()
    port = echo_server.port + 1
    try:
        if echo_server.running:
            echo_server.stop()
        echo_server.start(tls_port=port)
        ctx = ssl.create_default_context(cafile=ca)
        yield port, ctx
    finally:
        agent.stop()
        if echo_server.running:
            echo_server.stop()
        echo_server.start()
        shutil.rmtree(d, ignore_errors=True)


def test_echo_over_tls(tls_echo):
    port, ctx = tls_echo
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            data = os.urandom(300 * 1024)
            for i in range(0, len(data), 16384):
                s.sendall(data[i:i + 16384])
                assert recv_exact(s, len(data[i:i + 16384]), 60) == \
                    data[i:i + 16384]


def test_counters_over_tls(tls_echo, echo_server):
    port, ctx = tls_echo
    before = echo_server.stats()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"hello over kTLS")
            assert recv_exact(s, 15, 60) == b"hello over kTLS"
    end = time.monotonic() + 10
    while time.monotonic() < end:
        after = echo_server.stats()
        if after["connections_open"] == before["connections_open"]:
            break
        time.sleep(0.1)
    assert after["tls_handshakes_ok"] == before["tls_handshakes_ok"] + 1
    assert after["tls_bytes_received"] - before["tls_bytes_received"] == 15
