#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# The measuring half of `make bench`, run inside the QEMU guest by
#     scripts/vm.sh run -- scripts/bench-guest.py [--smoke] [options]
# as root, chrooted into the host's root filesystem (read-only), cwd = the
# repo, /tmp a tmpfs. See docs/design.md ("Measuring") and scripts/bench.sh.
#
# Creates the files on tmpfs (f0 .. f1m and an index.html for /), starts
# khttpd (the module), the userspace twin (build/twin, skipped with a note
# when it has not been built) and, full run only, the userspace peers nginx,
# lighttpd and h2o (each a foreground process with its config from
# scripts/*-bench.conf), checks that each serves the same bytes with the
# same Content-Type, measures the memory an idle keep-alive connection costs
# on each (--memory-conns), pre-warms each once, then runs every workload
# against every server and file, interleaved: for each repetition, for each
# workload and file, the servers in turn, each repetition starting one
# server further along the list. Two groups of workloads: the size
# sweep (wrk, htstress; every size, fixed duration) and the 1 KiB set (ab,
# httperf, wrk -t1, and the course's two commands on /; fixed request
# counts, scaled by --count-scale). A third group, tls, measures HTTPS:
# khttpd's tls_port= (handshakes by build/khttpd-tlsd through the kernel's
# handshake upcall, records by kTLS) against nginx with OpenSSL and nginx
# with OpenSSL's kTLS ("nginx-ktls", scripts/nginx-tls-bench.conf), one
# self-signed ECDSA P-256 certificate made here for all, TLS 1.3 with one
# cipher suite (TLS_CIPHER) on the clients' side; each server's bytes and
# negotiated suite are checked over TLS first, and every run records the
# /proc/net/tls_stat deltas that show who used kTLS. Only on a kernel with
# the handshake upcall (6.5+, tls_server_hello_x509), else skipped with a
# note. Each run also records the client tool's CPU time (its rusage),
# which bounds what any server can get out of it. A run with any error or
# non-2xx response is invalid and left out of the medians. Writes results.json
# (environment, every run, medians, memory) and the raw tool outputs to
# $VM_RESULTS (or --out); the host renders the tables and the charts
# (scripts/bench-report.py, scripts/plot-bench.gp).
#
# Exit status: 0 when every run was valid, 1 when a run was invalid or a
# server did not answer (results are still written), 2 for usage errors.
# Standard library only; /usr/bin/python3.

import argparse
import http.client
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = "/tmp/bench"
ROOT = BENCH + "/root"

# name -> size in bytes; named without an extension so that every server
# answers application/octet-stream.
# Seconds every server keeps an idle connection (the peers' configuration
# files say the same): opening the memory measurement's 50,000 connections
# takes minutes under emulation, and none may time out meanwhile.
IDLE_TIMEOUT = 1200

SIZES = {"0": 0, "1k": 1024, "16k": 16 << 10, "256k": 256 << 10, "1m": 1 << 20}
# "/": what the course's two commands request, the root's index.html (1 KiB
# of HTML, text/html; charset=utf-8 from every server). A "size" of its own
# in the tables; never part of the size sweep.
INDEX = "index"
INDEX_BYTES = 1024

PORTS = {"khttpd": 8081, "twin": 8082, "nginx": 8083, "lighttpd": 8084,
         "h2o": 8085}
# The tls group's servers and their HTTPS ports: khttpd's tls_port=, and
# two more nginx processes of their own (scripts/nginx-tls-bench.conf),
# without and with kTLS. nginx-ktls serves only HTTPS.
TLS_PORTS = {"khttpd": 8443, "nginx": 8444, "nginx-ktls": 8445}
TLS_DIR = BENCH + "/tls"
# One suite for everyone (TLS 1.3's mandatory one, which kTLS carries):
# the clients (wrk, ab, curl, openssl s_client; OpenSSL all) offer only it
# through TLS_CLIENT_CONF, so khttpd-tlsd, which takes what the client
# offers within its default priority, negotiates it as nginx does.
TLS_CIPHER = "TLS_AES_128_GCM_SHA256"
TLS_CLIENT_CONF = TLS_DIR + "/client-openssl.cnf"
# The userspace servers the ratios compare khttpd with (the twin, the same
# core in userspace, is reported beside them but is not a peer).
PEERS = ("nginx", "lighttpd", "h2o")

# Kernel log lines that must not appear while the servers run (as in
# scripts/guest-integration.sh).
BAD_KMSG = re.compile(
    r"WARNING:|BUG:|Oops|general protection|kernel BUG|Call Trace:|KASAN|"
    r"UBSAN|KFENCE|refcount_t|list_add corruption|list_del corruption|"
    r"lockdep|possible circular locking|INFO: |blocked for more than")


def log(msg):
    print("bench: " + msg, flush=True)


def repo_relative(argv):
    """argv as results.json keeps it: the project's own tools by their
    path in the repository, not on this machine."""
    return [os.path.relpath(a, REPO) if a.startswith(REPO + os.sep) else a
            for a in argv]


def path_of(size):
    return "/" if size == INDEX else "/f" + size


class Workload:
    """One load generator command line; sizes None: every --sizes (the
    sweep), else only these files. est_s: the expected seconds of a run
    (for the plan printed at the start)."""

    def __init__(self, tool, desc, group, sizes, argv_of, est_s):
        self.tool, self.desc, self.group = tool, desc, group
        self.sizes, self.argv_of, self.est_s = sizes, argv_of, est_s


def workloads(duration, threads, scale):
    """name -> Workload. The sweep runs for `duration` seconds; the 1 KiB
    set sends fixed request counts (the tools' own way: ab and httperf have
    no duration for a count), sized to take 2-4 s under TCG and multiplied
    by `scale`. Not less: the host's speed moves within a second or two,
    and runs of 0.3-1.5 s (the counts before) put one server's run in a
    fast moment and the next one's in a slow one."""
    d = str(duration)
    t = str(threads)
    ht = os.path.join(REPO, "build", "htstress")

    def n(count, least=1):
        return str(max(least, int(count * scale)))

    def ab(count, conc, keepalive):
        return lambda url: (["ab"] + (["-k"] if keepalive else []) +
                            ["-n", n(count, conc), "-c", str(conc), url])

    def httperf(conns, calls):
        def argv(url):
            host, port, path = re.match(r"http://([^:/]+):([^/]+)(/.*)",
                                        url).groups()
            # No --rate: the next connection starts when the last one ends
            # (one at a time); --timeout makes a lost reply an error.
            return ["httperf", "--server", host, "--port", port,
                    "--uri", path, "--num-conns", n(conns),
                    "--num-calls", str(calls), "--timeout", "10"]
        return argv

    def hs(conns_per_thread, nthreads, keepalive):
        # For `duration` seconds, as wrk: -n only has to be out of reach.
        return lambda url: ([ht] + (["-k"] if keepalive else []) +
                            ["-n", "100000000", "-D", d,
                             "-c", str(conns_per_thread), "-t", str(nthreads),
                             "--json", url])

    one_k = ("1k",)
    one_m = ("1m",)
    # htstress -c is per thread; the names give the total connections.
    return {
        # The size sweep.
        "wrk-ka-c32": Workload(
            "wrk", "keep-alive, wrk, 32 connections", "sweep", None,
            lambda url: ["wrk", "-t", t, "-c", "32", "-d", d + "s",
                         "--latency", url], duration),
        "hs-ka-c8": Workload(
            "htstress", "keep-alive, htstress, 8 connections", "sweep", None,
            hs(4, threads, True), duration),
        "hs-ka-c64": Workload(
            "htstress", "keep-alive, htstress, 64 connections", "sweep", None,
            hs(32, threads, True), duration),
        "hs-close-c64": Workload(
            "htstress", "one connection per request, htstress, 64 connections",
            "sweep", None,
            hs(32, threads, False), duration),
        # 1 KiB: ab (HTTP/1.0; -k asks for keep-alive), one connection per
        # request and keep-alive, at 1, 16 and 500 connections.
        "ab-close-c1": Workload(
            "ab", "one connection per request, ab, 1 connection", "1k",
            one_k, ab(3000, 1, False), 4),
        "ab-close-c16": Workload(
            "ab", "one connection per request, ab, 16 connections", "1k",
            one_k, ab(6000, 16, False), 3),
        "ab-close-c500": Workload(
            "ab", "one connection per request, ab, 500 connections", "1k",
            one_k, ab(6000, 500, False), 3),
        "ab-ka-c1": Workload(
            "ab", "keep-alive, ab -k, 1 connection", "1k",
            one_k, ab(10000, 1, True), 3),
        "ab-ka-c16": Workload(
            "ab", "keep-alive, ab -k, 16 connections", "1k",
            one_k, ab(30000, 16, True), 3),
        "ab-ka-c500": Workload(
            "ab", "keep-alive, ab -k, 500 connections", "1k",
            one_k, ab(30000, 500, True), 3),
        # httperf: one connection at a time, a call per connection, and 100
        # calls (keep-alive, one after the other) per connection.
        "httperf-close": Workload(
            "httperf", "one connection per request, httperf, 1 at a time",
            "1k", one_k, httperf(3000, 1), 3),
        "httperf-ka": Workload(
            "httperf", "keep-alive, httperf, 100 calls per connection, "
            "1 at a time", "1k", one_k, httperf(100, 100), 3),
        "wrk-ka-t1c16": Workload(
            "wrk", "keep-alive, wrk, 1 thread, 16 connections", "1k", one_k,
            lambda url: ["wrk", "-t", "1", "-c", "16", "-d", d + "s",
                         "--latency", url], duration),
        # htstress with one thread: like ab and wrk -t1, a client that
        # leaves a CPU to the server.
        "hs-close-t1c8": Workload(
            "htstress", "one connection per request, htstress, 1 thread, "
            "8 connections", "1k", one_k, hs(8, 1, False), duration),
        "hs-ka-t1c16": Workload(
            "htstress", "keep-alive, htstress, 1 thread, 16 connections",
            "1k", one_k, hs(16, 1, True), duration),
        # The course's two commands, on / (index.html). Its counts, 100000
        # and 10000, would take minutes under TCG: same shape, fewer
        # requests (results.md gives the counts used).
        "course-htstress": Workload(
            "htstress", "the course's htstress -n 100000 -c 1 -t 4 (one "
            "connection per request, 4 connections), on /", "1k", (INDEX,),
            lambda url: [ht, "-n", n(8000), "-c", "1", "-t", "4", "--json",
                         url], 4),
        "course-ab": Workload(
            "ab", "the course's ab -n 10000 -c 500 -k (keep-alive, 500 "
            "connections), on /", "1k", (INDEX,),
            lambda url: ["ab", "-n", n(10000, 500), "-c", "500", "-k", url],
            3),
        # HTTPS (the tls group; URLs are https://): keep-alive with wrk
        # (handshakes only at the start, then records), and a connection
        # per request with ab, whose every connection is a full handshake
        # (a new SSL object each, no session offered; wrk -H "Connection:
        # close" would offer the last session on reconnecting). ab -l:
        # khttpd closes after an HTTP/1.0 response without a TLS
        # close_notify, which OpenSSL 3 calls an unexpected EOF and ab a
        # length failure; -l lets ab count the response and the run loop
        # checks the bytes instead (HTML transferred = requests x size),
        # and counts those closes. 1 MiB runs twice the duration with 4
        # connections and wrk's timeout at 30 s: under TCG the records'
        # AES-GCM moves only a few MB/s, a request takes seconds, and 16
        # connections would finish a handful of requests each.
        "tls-wrk-ka-c16": Workload(
            "wrk", "HTTPS keep-alive, wrk, 2 threads, 16 connections", "tls",
            one_k, lambda url: ["wrk", "-t", "2", "-c", "16", "-d", d + "s",
                                "--latency", url], duration),
        "tls-wrk-ka-t1c16": Workload(
            "wrk", "HTTPS keep-alive, wrk, 1 thread, 16 connections", "tls",
            one_k, lambda url: ["wrk", "-t", "1", "-c", "16", "-d", d + "s",
                                "--latency", url], duration),
        "tls-wrk-ka-1m": Workload(
            "wrk", "HTTPS keep-alive, wrk, 2 threads, 4 connections", "tls",
            one_m, lambda url: ["wrk", "-t", "2", "-c", "4",
                                "-d", str(2 * duration) + "s", "--timeout",
                                "30s", "--latency", url], 2 * duration),
        "tls-ab-close-c16": Workload(
            "ab", "HTTPS, one connection (a full handshake) per request, ab, "
            "16 connections", "tls", one_k,
            lambda url: ["ab", "-l"] + ab(400, 16, False)(url)[1:], 8),
        # One handshake at a time: what a client waits for per connection
        # (ab writes its request without TCP_NODELAY, so an ACK the server
        # holds back holds the request).
        "tls-ab-close-c1": Workload(
            "ab", "HTTPS, one connection (a full handshake) per request, ab, "
            "1 at a time", "tls", one_k,
            lambda url: ["ab", "-l"] + ab(200, 1, False)(url)[1:], 6),
    }


# ---------------------------------------------------------------- parsing

def wrk_number(s):
    """'1.23k' -> 1230.0 (wrk scales some counts)."""
    m = re.fullmatch(r"([0-9.]+)([kMG]?)", s)
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}[m.group(2)]


def parse_wrk(out, rc):
    r = {"tool_status": rc}
    problems = []
    m = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+)(\w+),", out, re.M)
    r["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non_2xx_3xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    r["socket_errors"] = ({k: int(v) for k, v in zip(
        ("connect", "read", "write", "timeout"), m.groups())} if m else
        {"connect": 0, "read": 0, "write": 0, "timeout": 0})
    lat = {}
    for p in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+([0-9.]+)(us|ms|s)\b" % p, out, re.M)
        if m:
            lat["p" + p] = float(m.group(1)) * {"us": 1e-3, "ms": 1,
                                                "s": 1e3}[m.group(2)]
    r["latency_ms"] = lat
    if rc != 0:
        problems.append("wrk exited with status %d" % rc)
    if r["rps"] is None or not r["requests"]:
        problems.append("no requests completed")
    if r["non_2xx_3xx"]:
        problems.append("%d non-2xx/3xx responses" % r["non_2xx_3xx"])
    if any(r["socket_errors"].values()):
        problems.append("socket errors %s" % r["socket_errors"])
    return r, problems


def parse_htstress(out, rc):
    problems = []
    try:
        j = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"tool_status": rc, "rps": None}, [
            "htstress printed no JSON (status %d)" % rc]
    r = {"tool_status": rc, "rps": j.get("rps"), "requests": j.get("requests"),
         "good": j.get("good"), "bad": j.get("bad"),
         "socket_errors": j.get("socket_errors"), "errors": j.get("errors"),
         "connections": j.get("connections"),
         "bytes_received": j.get("bytes_received"),
         "latency_ms": j.get("latency_ms")}
    if j.get("bad"):
        problems.append("%d bad responses" % j["bad"])
    if j.get("socket_errors"):
        problems.append("%d socket errors %s" % (j["socket_errors"],
                                                  j.get("errors")))
    if not j.get("good"):
        problems.append("no good responses")
    if rc != 0 and not problems:
        problems.append("htstress exited with status %d" % rc)
    return r, problems


def parse_ab(out, rc):
    """ab: "Failed requests" (connect, receive, length, exceptions) and
    "Non-2xx responses" must be 0; ab exits non-zero on a socket error."""
    problems = []

    def num(label, conv=int):
        m = re.search(r"^%s:\s+([0-9.]+)" % re.escape(label), out, re.M)
        return conv(m.group(1)) if m else None
    r = {"tool_status": rc, "rps": num("Requests per second", float),
         "requests": num("Complete requests"),
         "failed": num("Failed requests"),
         "non_2xx": num("Non-2xx responses") or 0,
         "keepalive_requests": num("Keep-Alive requests"),
         "write_errors": num("Write errors") or 0,
         "html_bytes": num("HTML transferred"),
         # A TLS connection the server closed without close_notify.
         "ssl_read_failed": out.count("SSL read failed")}
    lat = {}
    for q in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\d+)" % q, out, re.M)
        if m:
            lat["p" + q] = float(m.group(1))
    r["latency_ms"] = lat
    if rc != 0:
        tail = out.strip().splitlines()[-1:] or [""]
        problems.append("ab exited with status %d %s" % (rc, tail[0]))
    if r["rps"] is None or not r["requests"]:
        problems.append("no requests completed")
    if r["failed"]:
        m = re.search(r"^\s+\((Connect: .*)\)", out, re.M)
        problems.append("%d failed requests%s" % (
            r["failed"], " (%s)" % m.group(1) if m else ""))
    if r["non_2xx"]:
        problems.append("%d non-2xx responses" % r["non_2xx"])
    if r["write_errors"]:
        problems.append("%d write errors" % r["write_errors"])
    return r, problems


def parse_httperf(out, rc):
    """httperf: every error counter 0, every reply 2xx."""
    problems = []
    r = {"tool_status": rc}
    m = re.search(r"^Request rate: ([0-9.]+) req/s", out, re.M)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"^Total: connections (\d+) requests (\d+) replies (\d+)",
                  out, re.M)
    conns, reqs, replies = (int(x) for x in m.groups()) if m else (0, 0, 0)
    r.update(connections=conns, requests=reqs, replies=replies)
    m = re.search(r"^Reply status: 1xx=(\d+) 2xx=(\d+) 3xx=(\d+) 4xx=(\d+) "
                  r"5xx=(\d+)", out, re.M)
    r["status"] = dict(zip(("1xx", "2xx", "3xx", "4xx", "5xx"),
                           (int(x) for x in m.groups()))) if m else {}
    errs = {}
    for line in re.findall(r"^Errors: (.*)$", out, re.M):
        for k, v in re.findall(r"([a-z-]+) (\d+)", line):
            errs[k] = int(v)
    r["errors"] = errs
    m = re.search(r"^Reply time \[ms\]: response ([0-9.]+) transfer ([0-9.]+)",
                  out, re.M)
    if m:
        r["reply_ms"] = {"response": float(m.group(1)),
                         "transfer": float(m.group(2))}
    if rc != 0:
        problems.append("httperf exited with status %d" % rc)
    if r["rps"] is None or not replies:
        problems.append("no replies")
    if not m or not errs:
        problems.append("httperf printed no error counts")
    if errs.get("total"):
        problems.append("errors %s" % {k: v for k, v in errs.items() if v})
    if replies != reqs:
        problems.append("%d requests, %d replies" % (reqs, replies))
    non2xx = sum(v for k, v in r["status"].items() if k != "2xx")
    if non2xx or r["status"].get("2xx") != replies:
        problems.append("non-2xx replies %s" % r["status"])
    return r, problems


PARSERS = {"wrk": parse_wrk, "htstress": parse_htstress, "ab": parse_ab,
           "httperf": parse_httperf}


# ---------------------------------------------------------------- servers

def http_get(port, path, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        resp = c.getresponse()
        body = resp.read()
        return resp.status, resp.reason, resp.getheaders(), body
    finally:
        c.close()


def wait_answer(port, path, deadline_s=60):
    """None once the server answers at all (check_content judges the answer)."""
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            http_get(port, path, timeout=5)
            return None
        except (OSError, http.client.HTTPException) as e:
            last = str(e)
        time.sleep(0.3)
    return last or "no answer"


class Server:
    def __init__(self, name, port=None):
        self.name = name
        self.port = port or PORTS[name]
        self.proc = None
        self.logf = None
        self.error = None

    def start(self, ncpu, out):
        raise NotImplementedError

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            # Whatever it left behind in its own process group (h2o's
            # crash-handler helper).
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.logf:
            self.logf.close()

    def popen(self, argv):
        # A session of its own: lighttpd's master ends its workers with
        # kill(0, SIGTERM), which would otherwise hit us and the guest's
        # init script too.
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self):
        return self.proc is None or self.proc.poll() is None


class Khttpd(Server):
    def start(self, ncpu, out):
        ko = os.path.join(REPO, "khttpd.ko")
        if not os.path.exists(ko):
            return "no %s (make module)" % ko
        if os.path.isdir("/sys/module/khttpd"):
            subprocess.run(["rmmod", "khttpd"], check=False)
        # max_conns: the default is exactly the 10,000 connections of the
        # memory measurement; it and the others' limits are raised to
        # 65536, room for the 50,000 of a --memory-conns 50000 run.
        # tls_port: only when the tls group runs (main sets it), so that
        # the other groups measure the module as before.
        # bind: the address every peer listens on (their configurations
        # name 127.0.0.1), so each has an IPv4 listener. Without it khttpd
        # listens dual-stack, and each IPv4 connection gets an IPv6 socket
        # that is 192 bytes larger (docs/bench/changes.md, "One address
        # for every server").
        p = subprocess.run(["insmod", ko, "port=%d" % self.port,
                            "bind=127.0.0.1",
                            "root=" + ROOT, "max_conns=65536",
                            "timeout=%d" % IDLE_TIMEOUT] +
                           (["tls_port=%d" % self.tls_port]
                            if getattr(self, "tls_port", None) else []),
                           capture_output=True, text=True)
        if p.returncode:
            return "insmod failed: " + (p.stderr or p.stdout).strip()
        return None

    def stop(self):
        if os.path.isdir("/sys/module/khttpd"):
            p = subprocess.run(["timeout", "60", "rmmod", "khttpd"],
                               capture_output=True, text=True)
            if p.returncode:
                self.error = "rmmod khttpd failed: " + p.stderr.strip()

    def alive(self):
        return os.path.isdir("/sys/module/khttpd")


class Twin(Server):
    def start(self, ncpu, out):
        exe = self.exe
        if not os.access(exe, os.X_OK):
            return "SKIP"
        self.logf = open(os.path.join(out, "twin.log"), "w")
        self.popen([exe, "-p", str(self.port), "-r", ROOT, "-t", str(ncpu),
                    "-b", "127.0.0.1", "--timeout", str(IDLE_TIMEOUT)])
        return None


def config_from(template, dest, subst, out):
    """scripts/TEMPLATE with @KEY@ replaced, written to dest (and a copy
    to out for the record)."""
    with open(os.path.join(REPO, "scripts", template)) as f:
        conf = f.read()
    for k, v in subst.items():
        conf = conf.replace("@%s@" % k, v)
    with open(dest, "w") as f:
        f.write(conf)
    shutil.copy(dest, os.path.join(out, os.path.basename(dest)))


def find_exe(name):
    exe = shutil.which(name) or "/usr/sbin/" + name
    return exe if os.access(exe, os.X_OK) else None


class Peer(Server):
    """A userspace peer: started in the foreground from its config
    template scripts/<template>-bench.conf, its state under BENCH/<tag>,
    its logs <tag>.log and <tag>-error.log (tag and template: its name,
    unless a subclass says otherwise)."""
    dirs = ("",)               # made under the prefix before it starts
    error_log = "error.log"    # where the config sends it, under the prefix

    def argv(self, exe, conf, prefix):
        raise NotImplementedError

    @property
    def tag(self):
        return self.name

    @property
    def template(self):
        return self.name

    def subst(self):
        """The template's @KEY@s beyond the common ones."""
        return {}

    @property
    def prefix(self):
        return BENCH + "/" + self.tag

    def start(self, ncpu, out):
        exe = find_exe(self.name)
        if not exe:
            return "%s is not installed (scripts/deps.sh bench)" % self.name
        for d in self.dirs:
            os.makedirs(self.prefix + d, exist_ok=True)
        conf = BENCH + "/%s.conf" % self.tag
        config_from("%s-bench.conf" % self.template, conf,
                    dict({"WORKERS": str(ncpu), "PORT": str(self.port),
                          "ROOT": ROOT, "PREFIX": self.prefix},
                         **self.subst()), out)
        self.logf = open(os.path.join(out, self.tag + ".log"), "w")
        self.popen(self.argv(exe, conf, self.prefix))
        return None

    def stop(self):
        super().stop()
        try:
            shutil.copy(os.path.join(self.prefix, self.error_log),
                        os.path.join(self.out, self.tag + "-error.log"))
        except OSError:
            pass


class Nginx(Peer):
    dirs = ("", "/logs", "/tmp")
    error_log = "logs/error.log"

    def argv(self, exe, conf, prefix):
        # -e: the compiled-in error log under /var/log is read-only here.
        return [exe, "-c", conf, "-p", prefix, "-e", prefix + "/logs/error.log"]


class NginxTls(Nginx):
    """nginx behind TLS, the tls group's peer (scripts/nginx-tls-bench.conf):
    "nginx" encrypts in userspace with OpenSSL; "nginx-ktls" has OpenSSL
    hand the records to kTLS after the handshake (Options KTLS). Processes
    of their own, beside the plain nginx: tags nginx-tls and nginx-ktls."""

    def __init__(self, name):
        super().__init__(name, TLS_PORTS[name])
        self.ktls = name == "nginx-ktls"

    @property
    def tag(self):
        return "nginx-ktls" if self.ktls else "nginx-tls"

    @property
    def template(self):
        return "nginx-tls"

    def start(self, ncpu, out):
        # find_exe(self.name) would look for "nginx-ktls".
        self.name, name = "nginx", self.name
        try:
            return super().start(ncpu, out)
        finally:
            self.name = name

    def subst(self):
        return {"CERT": TLS_DIR + "/cert.pem", "KEY": TLS_DIR + "/key.pem",
                "CIPHERS": TLS_CIPHER,
                "KTLS": "ssl_conf_command Options KTLS;" if self.ktls else
                "# no kTLS: OpenSSL encrypts in userspace"}


class KhttpdTls(Server):
    """khttpd's HTTPS side: the module (loaded by Khttpd with tls_port=)
    and its handshake agent, build/khttpd-tlsd, started here on the
    bench's certificate (skipped with a note when it has not been built)."""

    def __init__(self, name):
        super().__init__(name, TLS_PORTS[name])

    def start(self, ncpu, out):
        if not os.access(self.exe, os.X_OK):
            return "SKIP"
        if not os.path.isdir("/sys/module/khttpd"):
            return "khttpd.ko is not loaded"
        self.logf = open(os.path.join(out, "tlsd.log"), "w")
        self.popen([self.exe, "--cert", TLS_DIR + "/cert.pem",
                    "--key", TLS_DIR + "/key.pem"])
        # Ready once it has joined the handshake family's group: it says
        # what it serves on start-up (as tests/integration/test_tls.py
        # waits for it).
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return "khttpd-tlsd exited (%d): %s" % (
                    self.proc.returncode, read_text(self.logf.name)[-500:])
            if "khttpd-tlsd" in read_text(self.logf.name):
                time.sleep(0.2)
                return None
            time.sleep(0.1)
        return "khttpd-tlsd said nothing in 30 s"

    def alive(self):
        return (os.path.isdir("/sys/module/khttpd") and
                self.proc is not None and self.proc.poll() is None)


class Lighttpd(Peer):
    def argv(self, exe, conf, prefix):
        # -D: in the foreground, as nginx's "daemon off".
        return [exe, "-D", "-f", conf]


class H2o(Peer):
    def argv(self, exe, conf, prefix):
        # -m worker: one process in the foreground (the default "master"
        # mode wraps it in a perl supervisor, start_server).
        return [exe, "-m", "worker", "-c", conf]


SERVERS = {"khttpd": Khttpd, "twin": Twin, "nginx": Nginx,
           "lighttpd": Lighttpd, "h2o": H2o}
TLS_SERVERS = {"khttpd": KhttpdTls, "nginx": NginxTls, "nginx-ktls": NginxTls}


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# ---------------------------------------------------------------- HTTPS

def tls_unavailable():
    """None when this kernel can run the tls group, else why not: khttpd's
    tls_port= needs the handshake upcall (net/handshake, Linux 6.5+)."""
    try:
        with open("/proc/kallsyms") as f:
            if re.search(r" tls_server_hello_x509$", f.read(), re.M):
                return None
    except OSError as e:
        return "cannot read /proc/kallsyms: %s" % e
    return ("kernel %s has no TLS handshake upcall (no tls_server_hello_x509 "
            "in /proc/kallsyms; Linux 6.5+ with CONFIG_NET_HANDSHAKE)"
            % platform.release())


# kTLS and the AES-GCM it needs, in load order: busybox insmod does not
# resolve dependencies, and without modprobe the kernel cannot load
# "gcm(aes)" on demand (setting TLS_TX then fails with ENOENT, for OpenSSL
# and for khttpd-tlsd alike). aesni-intel is what a machine with AES-NI
# loads at boot; gcm and ghash-generic are the fallback.
KTLS_MODULES = ("lib/crypto/gf128mul", "crypto/cryptd", "crypto/crypto_simd",
                "arch/x86/crypto/aesni-intel", "crypto/crypto_null",
                "crypto/ghash-generic", "crypto/gcm", "net/tls/tls")


def load_ktls_modules():
    """None, or why kTLS cannot work. A module that is built in or not
    there at all is passed over: /proc/net/tls_stat and the checks of
    check_tls() judge the outcome."""
    moddir = "/lib/modules/" + platform.release()
    builtin = read_text(moddir + "/modules.builtin")
    for rel in KTLS_MODULES:
        name = os.path.basename(rel)
        if (os.path.isdir("/sys/module/" + name.replace("-", "_")) or
                "kernel/%s.ko" % rel in builtin):
            continue
        path = "%s/kernel/%s.ko" % (moddir, rel)
        if not os.path.exists(path):
            path += ".xz"
            if not os.path.exists(path):
                continue
            tmp = "/tmp/bench-%s.ko" % name
            with open(tmp, "wb") as f:
                subprocess.run(["xz", "-dc", path], stdout=f, check=True)
            path = tmp
        p = subprocess.run(["insmod", path], capture_output=True, text=True)
        if p.returncode and not os.path.isdir(
                "/sys/module/" + name.replace("-", "_")):
            log("insmod %s: %s" % (name, (p.stderr or p.stdout).strip()))
    if not os.path.exists("/proc/net/tls_stat"):
        return "no kTLS: tls.ko did not load (no /proc/net/tls_stat)"
    return None


def kernel_gcm_aes():
    """The kernel's gcm(aes) implementations, highest priority (the one
    kTLS gets) first: "driver (priority)" from /proc/crypto."""
    found = []
    for block in read_text("/proc/crypto").split("\n\n"):
        f = dict(re.findall(r"^(\w+)\s*:\s*(.*)$", block, re.M))
        if f.get("name") == "gcm(aes)" and f.get("type") == "aead":
            found.append((int(f.get("priority", 0)), f.get("driver")))
    return ["%s (%d)" % (d, p) for p, d in sorted(found, reverse=True)]


def make_tls_files():
    """The certificate every server presents (self-signed ECDSA P-256 for
    localhost and 127.0.0.1, curl's --cacert too) and the clients' OpenSSL
    configuration: TLS 1.3 with TLS_CIPHER only."""
    os.makedirs(TLS_DIR, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                    TLS_DIR + "/key.pem", "-out", TLS_DIR + "/cert.pem",
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    # The system-wide defaults (Debian's openssl.cnf: ssl_conf ->
    # system_default) are what wrk, ab and curl pick up through
    # OPENSSL_CONF without options of their own.
    with open(TLS_CLIENT_CONF, "w") as f:
        f.write("openssl_conf = bench_conf\n\n[bench_conf]\n"
                "ssl_conf = bench_ssl\n\n[bench_ssl]\n"
                "system_default = bench_tls\n\n[bench_tls]\n"
                "MinProtocol = TLSv1.3\nCiphersuites = %s\n" % TLS_CIPHER)


def tls_env():
    return dict(os.environ, OPENSSL_CONF=TLS_CLIENT_CONF)


def tls_stat():
    """/proc/net/tls_stat: TlsTxSw and TlsRxSw count the sockets that got
    kTLS keys for sending and receiving."""
    try:
        with open("/proc/net/tls_stat") as f:
            return {k: int(v) for k, v in (l.split() for l in f if l.strip())}
    except (OSError, ValueError):
        return {}


def khttpd_tls():
    """khttpd's tls_* counters in /proc/khttpd."""
    out = {}
    for line in read_text("/proc/khttpd").splitlines():
        f = line.split()
        if len(f) == 2 and f[0].startswith("tls_") and f[1].isdigit():
            out[f[0]] = int(f[1])
    return out


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items()
            if v != before.get(k, 0)}


def https_get(port, path, dest):
    """curl over TLS, checking the certificate against the bench's own:
    (status, content type, error)."""
    p = subprocess.run(["curl", "-sS", "--max-time", "120", "--cacert",
                        TLS_DIR + "/cert.pem", "-o", dest, "-w",
                        "%{http_code} %{content_type}",
                        "https://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, text=True, env=tls_env())
    if p.returncode:
        return None, None, p.stderr.strip() or "curl status %d" % p.returncode
    code, _, ctype = p.stdout.partition(" ")
    return int(code), ctype or None, None


def negotiated(port):
    """What openssl s_client, with the clients' configuration, agrees on."""
    p = subprocess.run(["openssl", "s_client", "-connect",
                        "127.0.0.1:%d" % port, "-servername", "localhost",
                        "-CAfile", TLS_DIR + "/cert.pem"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=tls_env(), timeout=60)
    out = p.stdout + p.stderr
    r = {}
    for key, rx in (("protocol_cipher", r"^New, (\S+), Cipher is (\S+)"),
                    ("key_exchange", r"^Server Temp Key: (.*)$"),
                    ("signature", r"^Peer signature type: (.*)$"),
                    ("verify", r"^Verify return code: (.*)$")):
        m = re.search(rx, out, re.M)
        if m:
            r[key] = " ".join(m.groups())
    return r


def check_tls(server, names):
    """Every file comes back 200 with the right bytes over TLS (curl,
    certificate verified), s_client negotiates TLS 1.3 with TLS_CIPHER,
    and /proc/net/tls_stat's TlsTxSw rises while the server answers when
    it should use kTLS. Returns (error, info); error "SKIP: ..." for
    nginx-ktls when OpenSSL did not set kTLS up."""
    info = {"port": server.port}
    end = time.monotonic() + 60
    while True:
        st, _, err = https_get(server.port, "/f1k", "/dev/null")
        if st is not None or time.monotonic() > end:
            break
        time.sleep(0.5)
    if st is None:
        return "did not answer on port %d over TLS: %s" % (server.port,
                                                            err), info
    k0 = tls_stat()
    types = {}
    for name in names:
        path = path_of(name)
        dest = TLS_DIR + "/check.out"
        st, ctype, err = https_get(server.port, path, dest)
        with open(ROOT + ("/index.html" if name == INDEX else path), "rb") as f:
            want = f.read()
        with open(dest, "rb") as f:
            got = f.read()
        if err or st != 200 or got != want:
            return "%s https %s: %s" % (server.name, path, err or (
                "status %s, %d bytes (want 200, %d bytes)" % (
                    st, len(got), len(want)))), info
        types[path] = ctype
    info["content_types"] = types
    info["negotiated"] = neg = negotiated(server.port)
    info["tls_stat_delta"] = d = delta(tls_stat(), k0)
    want = "TLSv1.3 " + TLS_CIPHER
    if neg.get("protocol_cipher") != want:
        return "negotiated %s, not %s" % (neg.get("protocol_cipher"),
                                          want), info
    if not (neg.get("verify") or "").startswith("0 "):
        return "certificate not verified: %s" % neg.get("verify"), info
    ktls = server.name in ("khttpd", "nginx-ktls")
    if ktls and not d.get("TlsTxSw"):
        why = ("/proc/net/tls_stat's TlsTxSw did not rise over %d "
               "connections: no kTLS" % (len(names) + 1))
        return ("SKIP: OpenSSL did not enable kTLS (%s)" % why
                if server.name == "nginx-ktls" else why), info
    return None, info


# ---------------------------------------------------------------- running

def run_one(argv, tool, timeout, rawf, env=None):
    t0 = time.monotonic()
    # The client's CPU time: user, system, and the softirqs its system
    # calls run, which on loopback include TCP's receive for the server's
    # sockets (these kernels charge softirq time to the task it
    # interrupts; no CONFIG_IRQ_TIME_ACCOUNTING). Only this child is
    # waited for meanwhile.
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, env=env)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "timed out after %d s" % timeout, 124
    secs = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    # htstress's stderr is its progress; the others say what went wrong
    # there (ab: "apr_socket_recv: Connection reset by peer").
    rawf.write("$ %s\n%s%s\n" % (" ".join(argv), out,
                                 ("stderr: " + err.strip() + "\n")
                                 if err.strip() and tool != "htstress" else ""))
    rawf.flush()
    if tool == "ab":
        # ab's progress and its errors go to stderr.
        r, problems = parse_ab(out + "\n" + err, rc)
    else:
        r, problems = PARSERS[tool](out, rc)
    if rc == 124:
        problems.append(err)
    r["wall_s"] = round(secs, 3)
    r["client_cpu_s"] = round(client_s, 4)
    return r, problems


def environment(ncpu):
    def cmd(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None

    def ab_version():
        try:
            p = subprocess.run(["ab", "-V"], capture_output=True, text=True,
                               timeout=10)
            m = re.search(r"This is ApacheBench, (.*)", p.stdout)
            return m.group(1).strip() if m else None
        except (OSError, subprocess.TimeoutExpired):
            return None
    guest_cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    guest_cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "guest_kernel": platform.release(),
        "guest_nproc": ncpu,
        "guest_cpu_model": guest_cpu,
        "guest_mem_total_kb": meminfo().get("MemTotal"),
        "accelerator": "QEMU TCG (software emulation, no KVM)",
        "host_cpu_model": os.environ.get("KHTTPD_BENCH_HOST_CPU"),
        "host_nproc": os.environ.get("KHTTPD_BENCH_HOST_NPROC"),
        "host_kernel": os.environ.get("KHTTPD_BENCH_HOST_KERNEL"),
        "git": os.environ.get("KHTTPD_BENCH_GIT"),
        "command": os.environ.get("KHTTPD_BENCH_CMD"),
        "nginx": cmd(["nginx", "-v"]),
        "lighttpd": cmd(["lighttpd", "-v"]),
        "h2o": cmd(["h2o", "--version"]),
        "wrk": cmd(["wrk", "-v"]),
        "ab": ab_version(),
        "httperf": cmd(["httperf", "--version"]),
        "openssl": cmd(["openssl", "version"]),
        "curl": cmd(["curl", "--version"]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def in_turn(servers, rep):
    """The servers in the order repetition rep runs them: each repetition
    starts one server further along, so what a position in the order
    brings (the TIME_WAIT sockets of the run before, a slow spell of the
    host starting mid-cell) falls on each server in turn, not always on
    the same one. bench-cpu.py runs its repetitions in this order too."""
    k = rep % len(servers) if servers else 0
    return servers[k:] + servers[:k]


def make_files(sizes):
    shutil.rmtree(BENCH, ignore_errors=True)
    os.makedirs(ROOT)
    # The directories are world-readable: khttpd and the twin read as
    # nobody.
    os.chmod(BENCH, 0o755)
    os.chmod(ROOT, 0o755)
    for name in sizes:
        with open(os.path.join(ROOT, "f" + name), "wb") as f:
            # Deterministic, incompressible-enough content.
            n = SIZES[name]
            block = bytes((i * 131 + 7) & 0xFF for i in range(4096))
            while n > 0:
                f.write(block[:min(n, len(block))])
                n -= len(block)
    # The index / serves: INDEX_BYTES of plain HTML.
    head = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            "<title>khttpd bench</title></head>\n<body>\n<h1>khttpd bench</h1>\n")
    tail = "</body>\n</html>\n"
    line = "<p>The same page from every server of the bench.</p>\n"
    body = head
    while len(body) + len(line) + len(tail) + 8 <= INDEX_BYTES:
        body += line
    # The rest: a comment of spaces, "<!--" ... "-->\n" (8 bytes and those).
    body += "<!--" + " " * (INDEX_BYTES - len(body) - len(tail) - 8) + "-->\n"
    body += tail
    assert len(body) == INDEX_BYTES
    with open(os.path.join(ROOT, "index.html"), "w") as f:
        f.write(body)


def check_content(server, names):
    """Every file comes back 200 with the right bytes; returns (error,
    heads, content types by path)."""
    heads, types = {}, {}
    for name in names:
        path = path_of(name)
        try:
            st, reason, hdrs, body = http_get(server.port, path)
        except (OSError, http.client.HTTPException) as e:
            return "%s %s: %s" % (server.name, path, e), heads, types
        with open(ROOT + ("/index.html" if name == INDEX else path), "rb") as f:
            want = f.read()
        if st != 200 or body != want:
            return "%s %s: status %d, %d bytes (want 200, %d bytes)" % (
                server.name, path, st, len(body), len(want)), heads, types
        types[path] = ", ".join(v for k, v in hdrs
                                if k.lower() == "content-type") or None
        if name == names[0]:
            heads = {"status": st, "reason": reason, "headers": hdrs}
    return None, heads, types


# ------------------------------------------------- idle connections' memory

def meminfo():
    """/proc/meminfo in kB."""
    m = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                k, v = line.split(":", 1)
                m[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    return m


def mem_available_kb():
    """MemAvailable, the median of 3 readings 0.2 s apart."""
    xs = []
    for i in range(3):
        if i:
            time.sleep(0.2)
        xs.append(meminfo().get("MemAvailable", 0))
    return statistics.median(xs)


def rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def descendants(pid):
    """pid and every process under it (nginx's and lighttpd's workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return out


IP_BIND_ADDRESS_NO_PORT = 24     # <linux/in.h>; not in Python's socket


def open_idle(port, path, n, window=200, deadline_s=None):
    """n connections to port, each sends one GET of path and reads its
    whole response (Content-Length), then stays open and idle; at most
    `window` at once in progress. Returns (sockets, errors)."""
    sel = selectors.DefaultSelector()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    idle, errors = [], []
    started = 0
    # About 100 connections a second under emulation, on a busy host.
    deadline_s = deadline_s or 120 + n // 50
    end = time.monotonic() + deadline_s

    def fail(st, why):
        sel.unregister(st["sock"])
        st["sock"].close()
        if len(errors) < 20:
            errors.append(why)
        else:
            errors.append(None)

    def start():
        sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sk.setblocking(False)
        # Spread the clients over 127.0.0.1-16: from one source address,
        # connect() must find each of 50,000 connections a free port, and
        # once the even ports it tries first are taken each search walks
        # all of them (opening ran at 45 connections/s near the end).
        # With the port left to connect(), each address has its own.
        sk.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sk.bind(("127.0.0.%d" % (1 + started % 16), 0))
        sk.connect_ex(("127.0.0.1", port))
        sel.register(sk, selectors.EVENT_WRITE,
                     {"sock": sk, "buf": b"", "need": None})

    while len(idle) + len(errors) < n:
        while started < n and started - len(idle) - len(errors) < window:
            start()
            started += 1
        if time.monotonic() > end:
            errors.append("%d connections still in progress after %d s" % (
                started - len(idle) - len(errors), deadline_s))
            break
        for key, ev in sel.select(timeout=1):
            st = key.data
            sk = st["sock"]
            if ev & selectors.EVENT_WRITE:
                err = sk.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(st, "connect: %s" % os.strerror(err))
                    continue
                try:
                    sk.send(req)
                except OSError as e:
                    fail(st, "send: %s" % e)
                    continue
                sel.modify(sk, selectors.EVENT_READ, st)
                continue
            try:
                data = sk.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(st, "recv: %s" % e)
                continue
            if not data:
                fail(st, "closed before the whole response")
                continue
            st["buf"] += data
            if st["need"] is None:
                i = st["buf"].find(b"\r\n\r\n")
                if i < 0:
                    continue
                head = st["buf"][:i].decode("latin-1")
                if not re.match(r"HTTP/1\.1 200 ", head):
                    fail(st, "status line %r" % head.split("\r\n")[0])
                    continue
                m = re.search(r"\r\ncontent-length:\s*(\d+)", head, re.I)
                if not m:
                    fail(st, "no Content-Length")
                    continue
                st["need"] = i + 4 + int(m.group(1))
            if len(st["buf"]) >= st["need"]:
                sel.unregister(sk)
                idle.append(sk)
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
    sel.close()
    return idle, errors


def close_hard(socks):
    """Close with a reset (SO_LINGER 0): no 10,000 client sockets left in
    TIME_WAIT, holding ports and memory, for the next server."""
    for sk in socks:
        try:
            sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        except OSError:
            pass
        sk.close()


def measure_memory(server, n, settle_s=3):
    """MemAvailable before and after n idle keep-alive connections to
    server (GET /f1k each): the drop per connection counts both ends'
    sockets (client and server in this guest), the server's own memory for
    the connection and the client's (its RSS growth, reported beside it
    so that it can be taken off)."""
    pids = descendants(server.proc.pid) if server.proc else []
    me = [os.getpid()]
    time.sleep(1)
    before = mem_available_kb()
    slab0 = meminfo().get("Slab")
    srv0, cli0 = rss_kb(pids), rss_kb(me)
    t0 = time.monotonic()
    socks, errors = open_idle(server.port, "/f1k", n)
    open_s = time.monotonic() - t0
    time.sleep(settle_s)
    after = mem_available_kb()
    slab1 = meminfo().get("Slab")
    srv1, cli1 = rss_kb(pids), rss_kb(me)
    # Still open? An idle connection the server closed reads as EOF.
    closed = 0
    for sk in socks:
        try:
            if sk.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    held_s = time.monotonic() - t0
    close_hard(socks)
    r = {"connections": len(socks), "wanted": n,
         "errors": len(errors), "error_samples": [e for e in errors if e][:5],
         "closed_by_server": closed, "open_s": round(open_s, 1),
         "held_s": round(held_s, 1),
         "mem_available_kb": {"before": before, "after": after},
         "slab_kb": {"before": slab0, "after": slab1},
         "client_rss_kb": {"before": cli0, "after": cli1}}
    if pids:
        r["server_rss_kb"] = {"before": srv0, "after": srv1}
    problems = []
    if errors:
        problems.append("%d of %d connections failed (%s)" % (
            len(errors), n, "; ".join(e for e in errors[:3] if e)))
    if closed:
        problems.append("the server closed %d idle connections during the "
                        "measurement" % closed)
    k = len(socks)
    if k and not problems:
        drop = before - after
        r["kb_per_conn"] = round(drop / k, 2)
        r["kb_per_conn_without_client"] = round(
            (drop - (cli1 - cli0)) / k, 2)
        r["client_rss_kb_per_conn"] = round((cli1 - cli0) / k, 2)
        if pids:
            r["server_rss_kb_per_conn"] = round((srv1 - srv0) / k, 2)
        r["slab_kb_per_conn"] = round(((slab1 or 0) - (slab0 or 0)) / k, 2)
    r["valid"] = not problems
    r["problems"] = problems
    # Let the server see the resets and free what it held.
    time.sleep(2)
    return r


def kmsg():
    p = subprocess.run(["dmesg"], capture_output=True, text=True)
    return p.stdout.splitlines()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true",
                    help="khttpd + twin, one 1 KiB file, one repetition, "
                    "the sweep's workloads and ab-ka-c16, no memory phase")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4,
                    help="seconds per measured run of the duration-based "
                    "workloads (wrk, htstress -D)")
    ap.add_argument("--count-scale", type=float, default=1.0,
                    help="multiply the request counts of the count-based "
                    "workloads (ab, httperf, the course's htstress)")
    ap.add_argument("--sizes", default=",".join(SIZES),
                    help="the size sweep's files (the 1 KiB set always "
                    "uses 1k and /)")
    ap.add_argument("--servers", default=",".join(list(PORTS) +
                                                  ["nginx-ktls"]),
                    help="nginx-ktls serves only the tls group; khttpd and "
                    "nginx serve both")
    ap.add_argument("--twin", default=os.path.join(REPO, "build", "twin"),
                    help="the twin's executable (skipped when missing)")
    ap.add_argument("--tlsd", default=os.path.join(REPO, "build",
                                                   "khttpd-tlsd"),
                    help="khttpd's TLS handshake agent (khttpd's HTTPS rows "
                    "are skipped when it is missing)")
    ap.add_argument("--workloads", default=None,
                    help="comma-separated subset of the workload names, "
                    "or the groups 'sweep', '1k' and 'tls'")
    ap.add_argument("--memory-conns", type=int, default=10000,
                    help="idle keep-alive connections for the memory "
                    "measurement (0: skip it)")
    ap.add_argument("--out", default=os.environ.get("VM_RESULTS") or "/tmp/bench-out")
    a = ap.parse_args()
    if a.smoke:
        a.reps, a.duration, a.sizes, a.servers = 1, 2, "1k", "khttpd,twin"
        a.workloads = "sweep,ab-ka-c16"
        a.count_scale, a.memory_conns = 0.25, 0
    sizes = a.sizes.split(",")
    servers = a.servers.split(",")
    known = list(PORTS) + [s for s in TLS_PORTS if s not in PORTS]
    if any(s not in SIZES for s in sizes) or any(s not in known for s in servers):
        ap.error("sizes are %s, servers %s" % (list(SIZES), known))
    os.makedirs(a.out, exist_ok=True)
    if os.geteuid() != 0:
        log("must run as root in the guest (scripts/vm.sh run)")
        return 2

    ncpu = os.cpu_count() or 1
    threads = 2  # client threads, as in `wrk -t 2` / `htstress -t 2`
    wl = workloads(a.duration, threads, a.count_scale)
    if a.workloads:
        pick = a.workloads.split(",")
        groups = ("sweep", "1k", "tls")
        unknown = [w for w in pick if w not in wl and w not in groups]
        if unknown:
            ap.error("unknown workloads %s; known: %s, or sweep, 1k, tls" % (
                unknown, ", ".join(wl)))
        wl = {k: v for k, v in wl.items() if k in pick or v.group in pick}
    # HTTPS needs the kernel's handshake upcall for khttpd; without it the
    # whole group is left out (nginx alone would compare nothing).
    tls_info = {}
    if any(v.group == "tls" for v in wl.values()):
        why = tls_unavailable()
        if why:
            log("SKIP the tls group: " + why)
            tls_info["skipped"] = why
            wl = {k: v for k, v in wl.items() if v.group != "tls"}
    want_tls = any(v.group == "tls" for v in wl.values())
    # Plain HTTP servers other than khttpd start only when a plain
    # workload runs (khttpd carries tls_port=, so it always starts).
    need_plain = any(v.group != "tls" for v in wl.values())
    tls_servers = [s for s in servers if s in TLS_PORTS] if want_tls else []
    plain_servers = [s for s in servers if s in PORTS and (
        need_plain or s == "khttpd" and "khttpd" in tls_servers)]
    # (workload, file) pairs in run order: the sweep over --sizes, the
    # 1 KiB set and the tls group over their own files.
    plan = [(w, size) for w, v in wl.items() for size in (v.sizes or sizes)]
    # Many short connections: let the client reuse ports in TIME_WAIT and
    # give it a wide port range; plenty of descriptors for everyone (10,000
    # idle connections take 20,000 in the guest, half of them the client's).
    for k, v in (("net/ipv4/tcp_tw_reuse", "1"),
                 ("net/ipv4/ip_local_port_range", "1024 65000"),
                 ("net/core/somaxconn", "4096"),
                 ("net/ipv4/tcp_max_syn_backlog", "4096"),
                 ("fs/file-max", "1000000")):
        try:
            with open("/proc/sys/" + k, "w") as f:
                f.write(v)
        except OSError as e:
            log("cannot set %s: %s" % (k, e))
    resource.setrlimit(resource.RLIMIT_NOFILE, (131072, 131072))

    env = environment(ncpu)
    env["threads"] = threads
    log("guest %s, %d CPUs, %d MiB (%s); host CPU %s" % (
        env["guest_kernel"], ncpu, (env["guest_mem_total_kb"] or 0) // 1024,
        env["accelerator"], env["host_cpu_model"]))
    files = sorted(set(sizes) | {"1k"} | {f for v in wl.values()
                                          if v.group == "tls"
                                          for f in v.sizes},
                   key=list(SIZES).index) + [INDEX]
    make_files([f for f in files if f != INDEX])
    kmsg_base = set(kmsg())

    results = {
        "schema": 2, "smoke": a.smoke, "environment": env,
        "config": {"reps": a.reps, "duration_s": a.duration,
                   "count_scale": a.count_scale, "sizes": sizes,
                   "size_bytes": dict({s: SIZES[s] for s in files
                                       if s != INDEX}, **{INDEX: INDEX_BYTES}),
                   "servers": plain_servers,
                   "ports": {s: PORTS[s] for s in plain_servers},
                   "peers": [s for s in PEERS if s in plain_servers],
                   "tls_servers": tls_servers,
                   "tls_ports": {s: TLS_PORTS[s] for s in tls_servers},
                   "tls_cipher": TLS_CIPHER,
                   "memory_conns": a.memory_conns if need_plain else 0,
                   "workloads": {k: {"tool": v.tool, "description": v.desc,
                                     "group": v.group,
                                     "sizes": list(v.sizes or sizes),
                                     "argv": repo_relative(v.argv_of(
                                         ("https" if v.group == "tls"
                                          else "http") +
                                         "://127.0.0.1:PORT" +
                                         (path_of(v.sizes[0]) if v.sizes
                                          else "/fSIZE")))}
                                 for k, v in wl.items()}},
        "servers": {}, "content_types": {}, "memory": {}, "runs": [],
        "medians": {}, "problems": [], "tls": tls_info,
    }
    if want_tls:
        why = load_ktls_modules()
        if why is None:
            make_tls_files()
        else:
            # khttpd cannot start with tls_port= then: fail rather than
            # report a group of nginx rows only.
            log("FAIL the tls group: " + why)
            results["problems"].append("tls: " + why)
            tls_info["error"] = why
            tls_servers = results["config"]["tls_servers"] = []
            wl = {k: v for k, v in wl.items() if v.group != "tls"}
            plan = [(w, size) for w, size in plan if w in wl]
    failed = bool(tls_info.get("error"))
    live = []
    tls_live = []
    try:
        for name in plain_servers:
            s = SERVERS[name](name)
            s.out = a.out
            s.exe = a.twin
            if name == "khttpd" and "khttpd" in tls_servers:
                s.tls_port = TLS_PORTS["khttpd"]
            err = s.start(ncpu, a.out)
            info = {"port": s.port}
            if err == "SKIP":
                log("SKIP twin: %s does not exist (tools/twin/ not built "
                    "yet); benchmarking without it" % a.twin)
                info["skipped"] = "%s does not exist" % os.path.relpath(a.twin, REPO)
                results["servers"][name] = info
                continue
            if err is None:
                err = wait_answer(s.port, "/f1k")
                if err:
                    err = "did not answer on port %d: %s" % (s.port, err)
            if err is None:
                err, heads, types = check_content(s, files)
                info["response_head"] = heads
                for path, t in types.items():
                    results["content_types"].setdefault(path, {})[name] = t
            if err:
                log("FAIL %s: %s" % (name, err))
                info["error"] = err
                results["problems"].append("%s: %s" % (name, err))
                results["servers"][name] = info
                failed = True
                s.stop()
                continue
            results["servers"][name] = info
            live.append(s)
            log("%s answers on port %d" % (name, s.port))
        # Comparable answers: one Content-Type per file from every server.
        for path, by in results["content_types"].items():
            if len(set(by.values())) > 1:
                msg = "different Content-Types for %s: %s" % (
                    path, ", ".join("%s %s" % kv for kv in by.items()))
                log("FAIL " + msg)
                results["problems"].append(msg)
                failed = True

        # The HTTPS servers, once the plain ones are up (khttpd's module
        # and its tls_port with them), each checked over TLS.
        tls_files = sorted({f for v in wl.values() if v.group == "tls"
                            for f in v.sizes}, key=list(SIZES).index)
        tls_info["servers"] = {}
        for name in tls_servers:
            if name == "khttpd" and not any(s.name == "khttpd"
                                            for s in live):
                info = {"port": TLS_PORTS[name],
                        "error": "khttpd.ko did not start"}
                tls_info["servers"][name] = info
                results["problems"].append("tls %s: %s" % (name,
                                                           info["error"]))
                failed = True
                continue
            s = TLS_SERVERS[name](name)
            s.out = a.out
            s.exe = a.tlsd
            err = s.start(ncpu, a.out)
            info = {"port": s.port}
            if err == "SKIP":
                log("SKIP khttpd over TLS: %s does not exist (make "
                    "build/khttpd-tlsd); the tls group without it" % a.tlsd)
                info["skipped"] = "%s does not exist" % os.path.relpath(
                    a.tlsd, REPO)
                tls_info["servers"][name] = info
                continue
            if err is None:
                err, more = check_tls(s, tls_files + [INDEX])
                info.update(more)
            tls_info["servers"][name] = info
            if err and err.startswith("SKIP: "):
                log("SKIP %s: %s" % (name, err[6:]))
                info["skipped"] = err[6:]
                s.stop()
                continue
            if err:
                log("FAIL %s over TLS: %s" % (name, err))
                info["error"] = err
                results["problems"].append("tls %s: %s" % (name, err))
                failed = True
                s.stop()
                continue
            tls_live.append(s)
            log("%s answers over TLS on port %d: %s, %s; kTLS sockets %s" % (
                name, s.port, info["negotiated"].get("protocol_cipher"),
                info["negotiated"].get("key_exchange"),
                {k: v for k, v in info["tls_stat_delta"].items()
                 if k in ("TlsTxSw", "TlsRxSw")} or "none"))

        if want_tls:
            # Instantiated by now (the checks' connections): which AES-GCM
            # khttpd's records got (OpenSSL's is AES-NI, -cpu max has it).
            tls_info["kernel_gcm_aes"] = kernel_gcm_aes()
            log("kernel gcm(aes): %s" % (
                ", ".join(tls_info["kernel_gcm_aes"]) or "none"))

        def servers_of(w):
            return tls_live if wl[w].group == "tls" else live

        rawf = open(os.path.join(a.out, "raw.txt"), "w")
        total = a.reps * sum(len(servers_of(w)) for w, _ in plan)
        mem_conns = a.memory_conns if need_plain else 0
        est = (a.reps * sum(len(servers_of(w)) * (wl[w].est_s + 0.5)
                            for w, _ in plan) +
               len(live) * len(files) * 1.2 +
               (len(live) * (mem_conns / 400 + 10) if mem_conns else 0))
        log("plan: %d runs (%d repetitions x %d workload/file pairs x %s "
            "servers)%s, about %dm%02ds" % (
                total, a.reps, len(plan), " or ".join(
                    str(n) for n in sorted(
                        ({len(live)} if need_plain else set()) |
                        ({len(tls_live)} if want_tls else set()))),
                " and %d idle connections per server" % mem_conns
                if mem_conns else "", est // 60, est % 60))

        # Memory per idle connection, on fresh servers (before any load
        # has grown their pools), one server at a time; only when a plain
        # workload runs (the tls group alone starts only khttpd).
        if mem_conns:
            for s in live:
                if not s.alive():
                    continue
                r = measure_memory(s, a.memory_conns)
                results["memory"][s.name] = r
                if r["valid"]:
                    log("memory %-8s %d idle connections: %.2f KB each "
                        "(%.2f without the client's own), opened in %.1f s" % (
                            s.name, r["connections"], r["kb_per_conn"],
                            r["kb_per_conn_without_client"], r["open_s"]))
                else:
                    log("memory %-8s INVALID: %s" % (
                        s.name, "; ".join(r["problems"])))
                    results["problems"].append("memory %s: %s" % (
                        s.name, "; ".join(r["problems"])))
                    failed = True

        # Pre-warm: a short wrk run on every file, once per server.
        for s in live if need_plain else []:
            for size in files:
                subprocess.run(["wrk", "-t", "1", "-c", "8", "-d", "1s",
                                "http://127.0.0.1:%d%s" % (s.port,
                                                            path_of(size))],
                               capture_output=True, timeout=60)
        for s in tls_live:
            for size in tls_files:
                subprocess.run(["wrk", "-t", "1", "-c", "4", "-d", "1s",
                                "https://127.0.0.1:%d%s" % (s.port,
                                                             path_of(size))],
                               capture_output=True, timeout=60,
                               env=tls_env())
        log("pre-warmed %s" % ", ".join(
            ["%s" % s.name for s in (live if need_plain else [])] +
            ["%s (TLS)" % s.name for s in tls_live]))

        n = 0
        t_start = time.monotonic()
        for rep in range(a.reps):
            for wname, size in plan:
                w = wl[wname]
                tls = w.group == "tls"
                for s in in_turn(servers_of(wname), rep):
                    n += 1
                    url = "%s://127.0.0.1:%d%s" % (
                        "https" if tls else "http", s.port, path_of(size))
                    k0, h0 = (tls_stat(), khttpd_tls()) if tls else ({}, {})
                    if not s.alive():
                        r, problems = {"rps": None}, ["server is gone"]
                    else:
                        r, problems = run_one(w.argv_of(url), w.tool,
                                              max(a.duration, w.est_s) * 10
                                              + 60, rawf,
                                              tls_env() if tls else None)
                    if tls:
                        # Who used kTLS: only this server had clients.
                        r["tls_stat_delta"] = delta(tls_stat(), k0)
                        if s.name == "khttpd":
                            r["khttpd_tls_delta"] = delta(khttpd_tls(), h0)
                        if (s.name in ("khttpd", "nginx-ktls") and r.get("rps")
                                and not r["tls_stat_delta"].get("TlsTxSw")):
                            problems.append("no kTLS: TlsTxSw did not rise")
                        # ab -l: the bytes, not ab's length check.
                        want = (r.get("requests") or 0) * SIZES[size]
                        if w.tool == "ab" and r.get("html_bytes") != want:
                            problems.append("%s bytes of body, want %d" % (
                                r.get("html_bytes"), want))
                    run = {"rep": rep, "workload": wname, "size": size,
                           "server": s.name, "valid": not problems,
                           "problems": problems}
                    run.update(r)
                    results["runs"].append(run)
                    eta = (time.monotonic() - t_start) / n * (total - n)
                    log("[%d/%d] rep %d %-15s %-5s %-8s %10s req/s%s  "
                        "(eta %dm%02ds)" % (
                            n, total, rep + 1, wname, size, s.name,
                            "%.0f" % r["rps"] if r.get("rps") else "-",
                            "  INVALID: " + "; ".join(problems)
                            if problems else "", eta // 60, eta % 60))
                    if problems:
                        failed = True
        rawf.close()
    finally:
        for s in tls_live + live:
            s.stop()
            if s.error:
                results["problems"].append(s.error)
                log("FAIL " + s.error)
                failed = True

    new = [l for l in kmsg() if l not in kmsg_base and BAD_KMSG.search(l)]
    if new:
        results["problems"].append("kernel log findings: " + " | ".join(new[:20]))
        log("FAIL: the kernel log has findings:\n  " + "\n  ".join(new[:50]))
        failed = True

    for wname, size in plan:
        for s in (tls_live if wl[wname].group == "tls" else live):
            runs = [r for r in results["runs"] if r["workload"] == wname
                    and r["size"] == size and r["server"] == s.name]
            ok = [r for r in runs if r["valid"]]
            rs = [r["rps"] for r in ok]
            m = {"rps": statistics.median(rs) if rs else None,
                 "valid": len(rs), "runs": len(runs)}
            lat = {}
            for q in ("p50", "p90", "p99"):
                xs = [r["latency_ms"][q] for r in ok
                      if (r.get("latency_ms") or {}).get(q) is not None]
                if xs:
                    lat[q] = statistics.median(xs)
            if lat:
                m["latency_ms"] = lat
            # kTLS's counters and khttpd's, summed over all runs (the
            # evidence holds for an invalid run too).
            for key in ("tls_stat_delta", "khttpd_tls_delta"):
                tot = {}
                for r in runs:
                    for k, v in (r.get(key) or {}).items():
                        tot[k] = tot.get(k, 0) + v
                if any(key in r for r in runs):
                    m[key] = tot
            if wl[wname].group == "tls":
                m["requests_all_runs"] = sum(r.get("requests") or 0
                                             for r in runs)
                m["unclean_closes"] = sum(r.get("ssl_read_failed") or 0
                                          for r in runs)
            results["medians"].setdefault(wname, {}).setdefault(size, {})[
                s.name] = m
    bad = [r for r in results["runs"] if not r["valid"]]
    for r in bad:
        results["problems"].append("invalid run: rep %d %s %s %s: %s" % (
            r["rep"], r["workload"], r["size"], r["server"],
            "; ".join(r["problems"])))
    results["ok"] = not failed
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    log("%d runs, %d invalid; wrote results.json" % (len(results["runs"]),
                                                     len(bad)))
    if not live and not tls_live:
        log("FAIL: no server could be measured")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
