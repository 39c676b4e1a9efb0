# SPDX-License-Identifier: GPL-2.0
"""What the TLS tests of both suites (khttpd's test_tls.py, kecho's) need:
the agent (build/khttpd-tlsd) as a process, a throwaway CA and server
certificate, kTLS loaded, and whether this kernel has the handshake
upcall at all. Standard library and the openssl command only."""

import os
import signal
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def run_cmd(args, timeout=60.0):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def agent_path():
    return os.path.abspath(os.environ.get(
        "KHTTPD_TLSD", os.path.join(REPO, "build", "khttpd-tlsd")))


def kernel_has(symbol):
    """Whether the running kernel has symbol (/proc/kallsyms). Also for
    the suite's other tests: this file must stay importable on its own
    (tests/echo loads it by path), so the helper lives here."""
    try:
        with open("/proc/kallsyms") as f:
            return any(line.split()[2:3] == [symbol] for line in f)
    except OSError:
        return False


def kernel_has_upcall():
    """Whether this kernel has net/handshake's server hello."""
    return kernel_has("tls_server_hello_x509")


# What kTLS needs for the ciphers the agent offers (AES-GCM, ChaCha20-
# Poly1305). The kernel loads them on demand through modprobe, but the
# guest's kernel cannot reach the chroot's modprobe; the suite can.
KTLS_MODULES = ("tls", "gcm", "ghash_generic", "aesni_intel",
                "ghash_clmulni_intel", "chacha_generic", "poly1305_generic",
                "chacha20poly1305")


def kernel_has_ktls():
    """Built in, or a tls module for this kernel (a debug kernel built
    from defconfig has the upcall but no kTLS)."""
    rel = os.uname().release
    if os.path.isdir("/sys/module/tls"):
        return True
    try:
        with open("/lib/modules/%s/modules.builtin" % rel) as f:
            if any(line.strip().endswith("/tls.ko") for line in f):
                return True
    except OSError:
        pass
    base = "/lib/modules/%s/kernel/net/tls/tls.ko" % rel
    return any(os.path.exists(base + ext) for ext in ("", ".xz", ".zst"))


def load_ktls():
    """kTLS and its ciphers, loaded the way an administrator would."""
    if not kernel_has_ktls():
        pytest.skip("this kernel has no kTLS (CONFIG_TLS)")
    for name in KTLS_MODULES:
        rc, out, err = run_cmd(["modprobe", name])
        # The accelerated ones need CPU features (AES-NI, PCLMULQDQ).
        if rc and name in ("tls", "gcm", "chacha20poly1305"):
            pytest.fail("modprobe %s failed: %s%s" % (name, out, err))
    assert os.path.isdir("/sys/module/tls")


def tls_stat():
    with open("/proc/net/tls_stat") as f:
        return {k: int(v) for k, v in (line.split() for line in f)}


def make_certs(d):
    """A CA and a server certificate signed by it; returns their paths."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out",
         "ca.pem", "-days", "2", "-subj", "/CN=khttpd test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
         "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                "extendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
         "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
         "-extfile", "ext.cnf")
    # The agent may drop to an unprivileged user after reading them.
    for name in ("server.pem", "server.key", "ca.pem"):
        os.chmod(os.path.join(d, name), 0o644)
    return (os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"),
            os.path.join(d, "server.key"))


class Agent:
    """build/khttpd-tlsd, started on the test certificate."""

    def __init__(self, cert, key, logdir):
        self.cert, self.key = cert, key
        self.log = os.path.join(logdir, "tlsd.log")
        self.proc = None

    def start(self):
        start = len(self.output())
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [agent_path(), "--cert", self.cert, "--key", self.key],
            stdout=logf, stderr=logf)
        logf.close()
        # Ready once it has joined the handshake family's group: it says
        # what it serves on start-up.
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("khttpd-tlsd exited (%d):\n%s"
                                     % (self.proc.returncode, self.output()))
            if "khttpd-tlsd" in self.output()[start:]:
                time.sleep(0.2)
                return
            time.sleep(0.1)
        raise AssertionError("khttpd-tlsd said nothing in 30 s")

    def output(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


