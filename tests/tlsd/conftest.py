# SPDX-License-Identifier: GPL-2.0
"""Fixtures for tests/tlsd: khttpd-tlsd, the TLS handshake agent, in its
development mode (--listen PORT), which runs the same GnuTLS handshake and
kTLS set-up as for the kernel's upcall on connections it accepts itself,
then reads the request through kTLS and answers through kTLS. Needs root
and a kernel with kTLS (the tls module): in the QEMU guest, from the
repository root,

    KVER=6.12.117+deb12-amd64 scripts/vm.sh run -- /usr/bin/python3 -m pytest \\
        -v -p no:cacheprovider tests/tlsd

The config-file tests need neither and run anywhere.

Environment:
    KHTTPD_TLSD      the agent to test (default build/khttpd-tlsd;
                     build/khttpd-tlsd-san is its ASan/UBSan build)
    KHTTPD_REQUIRE=1 a missing agent, not being root or a kernel without
                     kTLS is a failure, not a skip
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
REQUIRE = os.environ.get("KHTTPD_REQUIRE", "") == "1"
# The kTLS module and the AEADs its ciphers use. The kernel loads them on
# demand on a normal system; in the guest its modprobe helper runs outside
# the chroot and cannot find them, so they are loaded here.
KTLS_MODULES = ("tls", "gcm", "ghash-generic", "chacha_generic",
                "poly1305_generic", "chacha20poly1305")


def agent_path():
    return os.path.abspath(os.environ.get("KHTTPD_TLSD") or os.path.join(
        REPO, "build", "khttpd-tlsd"))


def unmet(reason):
    if REQUIRE:
        pytest.fail(reason + " (KHTTPD_REQUIRE=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def agent_bin():
    path = agent_path()
    if not os.access(path, os.X_OK):
        unmet(f"{path} is not built (make build/khttpd-tlsd)")
    return path


def load_module(name):
    if subprocess.run(["modprobe", name], capture_output=True).returncode == 0:
        return True
    # busybox-style environments: insmod the compressed module by hand.
    path = f"/lib/modules/{os.uname().release}/kernel/net/tls/{name}.ko.xz"
    if not os.path.exists(path):
        return False
    ko = f"/tmp/{name}.ko"
    with open(ko, "wb") as out:
        subprocess.run(["xz", "-dc", path], stdout=out, check=True)
    return subprocess.run(["insmod", ko], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def ktls():
    """kTLS usable here: root, the tls module loaded, its ciphers too."""
    if os.geteuid() != 0:
        unmet("needs root (kTLS module loading; run in the QEMU guest: "
              "scripts/vm.sh run -- ... pytest tests/tlsd)")
    if not os.path.exists("/proc/net/tls_stat"):
        load_module("tls")
    if not os.path.exists("/proc/net/tls_stat"):
        unmet(f"kernel {os.uname().release} has no kTLS (the tls module "
              "could not be loaded)")
    for m in KTLS_MODULES[1:]:
        subprocess.run(["modprobe", m], capture_output=True)


def tls_stat():
    with open("/proc/net/tls_stat") as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, check=True, **kw)


@pytest.fixture(scope="session")
def certs():
    """A test CA and a server certificate it signed (ECDSA P-256, SAN
    DNS:localhost, IP:127.0.0.1), plus an RSA one; world-readable, so that
    an agent run as nobody can read them too."""
    d = tempfile.mkdtemp(prefix="khttpd-tlsd-", dir="/tmp")
    os.chmod(d, 0o755)
    p = {n: os.path.join(d, n) for n in (
        "ca.pem", "ca.key", "cert.pem", "key.pem", "csr.pem", "ext.cnf",
        "chain.pem", "rsa-cert.pem", "rsa-key.pem")}
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
         "/CN=khttpd-tlsd test CA", "-keyout", p["ca.key"], "-out", p["ca.pem"]])
    with open(p["ext.cnf"], "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for key, cert, alg in ((p["key.pem"], p["cert.pem"], ["ec", "-pkeyopt",
                                                           "ec_paramgen_curve:P-256"]),
                           (p["rsa-key.pem"], p["rsa-cert.pem"], ["rsa:2048"])):
        run(["openssl", "req", "-newkey", *alg, "-nodes", "-subj", "/CN=localhost",
             "-keyout", key, "-out", p["csr.pem"]])
        run(["openssl", "x509", "-req", "-in", p["csr.pem"], "-CA", p["ca.pem"],
             "-CAkey", p["ca.key"], "-CAcreateserial", "-days", "2", "-extfile",
             p["ext.cnf"], "-out", cert])
    with open(p["chain.pem"], "w") as out:
        for n in ("cert.pem", "ca.pem"):
            with open(p[n]) as f:
                out.write(f.read())
    for n in p.values():
        if os.path.exists(n):
            os.chmod(n, 0o644)
    yield p
    shutil.rmtree(d, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """khttpd-tlsd running in the background, its stderr in a file."""

    def __init__(self, binary, args, preexec_fn=None):
        self.log_file = tempfile.NamedTemporaryFile(
            prefix="khttpd-tlsd-log-", dir="/tmp", delete=False)
        self.proc = subprocess.Popen([binary, *args], stdout=self.log_file,
                                     stderr=self.log_file,
                                     preexec_fn=preexec_fn)
        self.rc = None

    def log(self):
        with open(self.log_file.name, errors="replace") as f:
            return f.read()

    def wait_for(self, text, timeout=20.0, start=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log[start:]:
                return log
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"khttpd-tlsd never said {text!r}; it said:\n"
                             + self.log())

    def counters(self):
        """The line SIGUSR1 prints, as a dict (ok, resumed, failed, ...)."""
        mark = len(self.log())
        self.proc.send_signal(signal.SIGUSR1)
        log = self.wait_for("counters: handshakes", start=mark)
        return parse_counters(log[mark:].split("counters: ", 1)[1])

    def counters_when(self, done, timeout=20.0):
        """The counters once done(counters) holds, or the last ones read at
        the deadline. A client sees a failed handshake's alert before the
        agent's thread has counted it, so a test that reads the counters as
        soon as its client gives up must wait for them."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.counters()
            if done(c) or time.monotonic() >= deadline:
                return c
            time.sleep(0.05)

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.rc = self.proc.wait(timeout)
        return self.rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.log_file.name)


def parse_counters(line):
    # "handshakes 3 ok (1 resumed), 0 failed, 0 timed out, 0 kTLS set-up
    # failed, 0 DONE refused by the kernel"
    words = line.split()
    return {"ok": int(words[1]), "resumed": int(words[3].lstrip("(")),
            "failed": int(words[5]), "timed_out": int(words[7]),
            "ktls_failed": int(words[10])}


@pytest.fixture(scope="session")
def start_agent(agent_bin):
    """start_agent(args...) -> a started Agent (in --listen mode when
    args name a port); stopped and removed at the end of the session."""
    started = []

    def start(*args, ready="khttpd-tlsd: serving", preexec_fn=None):
        a = Agent(agent_bin, list(args), preexec_fn)
        started.append(a)
        if ready:
            a.wait_for(ready)
        return a

    yield start
    for a in started:
        a.stop() if a.proc.poll() is None else None
        a.close()


@pytest.fixture(scope="module")
def listener(ktls, certs, start_agent):
    """The agent in --listen mode with the ECDSA certificate, verbose, a
    3 s handshake deadline; (agent, port)."""
    port = free_port()
    a = start_agent("--listen", str(port), "--cert", certs["chain.pem"],
                    "--key", certs["key.pem"], "-v", "--handshake-timeout", "3000")
    yield a, port
    assert a.stop() == 0, a.log()
