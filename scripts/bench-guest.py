#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# The measuring half of `make bench`, run inside the QEMU guest by
#     scripts/vm.sh run -- scripts/bench-guest.py [--smoke] [options]
# as root, chrooted into the host's root filesystem (read-only), cwd = the
# repo, /tmp a tmpfs. See docs/design.md ("Measuring") and scripts/bench.sh.
#
# Creates the files on tmpfs, starts khttpd (the module), the userspace twin
# (build/twin, skipped with a note when it has not been built) and nginx
# (full run only), checks that each serves the same bytes, pre-warms each
# once, then runs every workload against every server and file size,
# interleaved: for each repetition, for each workload and size, the servers
# in turn. A run with any error or non-2xx response is invalid and left out
# of the medians. Writes results.json (environment, every run, medians) and
# the raw tool outputs to $VM_RESULTS (or --out); the host renders the table
# and the chart (scripts/bench-report.py, scripts/plot-bench.gp).
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
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = "/tmp/bench"
ROOT = BENCH + "/root"
NGINX_PREFIX = BENCH + "/nginx"

# name -> size in bytes; named without an extension so that every server
# answers application/octet-stream.
SIZES = {"0": 0, "1k": 1024, "16k": 16 << 10, "256k": 256 << 10, "1m": 1 << 20}

PORTS = {"khttpd": 8081, "twin": 8082, "nginx": 8083}

# Kernel log lines that must not appear while the servers run (as in
# scripts/guest-integration.sh).
BAD_KMSG = re.compile(
    r"WARNING:|BUG:|Oops|general protection|kernel BUG|Call Trace:|KASAN|"
    r"UBSAN|KFENCE|refcount_t|list_add corruption|list_del corruption|"
    r"lockdep|possible circular locking|INFO: |blocked for more than")


def log(msg):
    print("bench: " + msg, flush=True)


def workloads(duration, threads):
    """name -> (tool, description, argv builder(url))."""
    d = str(duration)
    t = str(threads)
    ht = os.path.join(REPO, "build", "htstress")
    # htstress -c is per thread; the names give the total connections.
    return {
        "wrk-ka-c32": ("wrk", "keep-alive, wrk, 32 connections",
                       lambda url: ["wrk", "-t", t, "-c", "32", "-d", d + "s",
                                    "--latency", url]),
        "hs-ka-c8": ("htstress", "keep-alive, htstress, 8 connections",
                     lambda url: [ht, "-k", "-n", "100000000", "-D", d,
                                  "-c", "4", "-t", t, "--json", url]),
        "hs-ka-c64": ("htstress", "keep-alive, htstress, 64 connections",
                      lambda url: [ht, "-k", "-n", "100000000", "-D", d,
                                   "-c", "32", "-t", t, "--json", url]),
        "hs-close-c64": ("htstress",
                         "one connection per request, htstress, 64 connections",
                         lambda url: [ht, "-n", "100000000", "-D", d,
                                      "-c", "32", "-t", t, "--json", url]),
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
    def __init__(self, name):
        self.name = name
        self.port = PORTS[name]
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
        if self.logf:
            self.logf.close()

    def alive(self):
        return self.proc is None or self.proc.poll() is None


class Khttpd(Server):
    def start(self, ncpu, out):
        ko = os.path.join(REPO, "khttpd.ko")
        if not os.path.exists(ko):
            return "no %s (make module)" % ko
        if os.path.isdir("/sys/module/khttpd"):
            subprocess.run(["rmmod", "khttpd"], check=False)
        p = subprocess.run(["insmod", ko, "port=%d" % self.port,
                            "root=" + ROOT], capture_output=True, text=True)
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
        self.proc = subprocess.Popen(
            [exe, "-p", str(self.port), "-r", ROOT, "-t", str(ncpu),
             "-b", "127.0.0.1"], stdout=self.logf, stderr=subprocess.STDOUT)
        return None


class Nginx(Server):
    def start(self, ncpu, out):
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(exe, os.X_OK):
            return "nginx is not installed (scripts/deps.sh bench)"
        for d in ("", "/logs", "/tmp"):
            os.makedirs(NGINX_PREFIX + d, exist_ok=True)
        with open(os.path.join(REPO, "scripts", "nginx-bench.conf")) as f:
            conf = f.read()
        for k, v in {"WORKERS": str(ncpu), "PORT": str(self.port),
                     "ROOT": ROOT, "PREFIX": NGINX_PREFIX}.items():
            conf = conf.replace("@%s@" % k, v)
        with open(BENCH + "/nginx.conf", "w") as f:
            f.write(conf)
        shutil.copy(BENCH + "/nginx.conf", os.path.join(out, "nginx.conf"))
        self.logf = open(os.path.join(out, "nginx.log"), "w")
        # -e: the compiled-in error log under /var/log is read-only here.
        self.proc = subprocess.Popen(
            [exe, "-c", BENCH + "/nginx.conf", "-p", NGINX_PREFIX,
             "-e", NGINX_PREFIX + "/logs/error.log"],
            stdout=self.logf, stderr=subprocess.STDOUT)
        return None

    def stop(self):
        super().stop()
        try:
            shutil.copy(NGINX_PREFIX + "/logs/error.log",
                        os.path.join(self.out, "nginx-error.log"))
        except OSError:
            pass


# ---------------------------------------------------------------- running

def run_one(argv, tool, timeout, rawf):
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "timed out after %d s" % timeout, 124
    secs = time.monotonic() - t0
    rawf.write("$ %s\n%s%s\n" % (" ".join(argv), out,
                                 ("stderr: " + err.strip() + "\n")
                                 if err.strip() and tool == "wrk" else ""))
    rawf.flush()
    if tool == "wrk":
        r, problems = parse_wrk(out, rc)
    else:
        r, problems = parse_htstress(out, rc)
        if rc == 124:
            problems.append(err)
    r["wall_s"] = round(secs, 3)
    return r, problems


def environment(ncpu):
    def cmd(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
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
        "accelerator": "QEMU TCG (software emulation, no KVM)",
        "host_cpu_model": os.environ.get("KHTTPD_BENCH_HOST_CPU"),
        "host_nproc": os.environ.get("KHTTPD_BENCH_HOST_NPROC"),
        "host_kernel": os.environ.get("KHTTPD_BENCH_HOST_KERNEL"),
        "git": os.environ.get("KHTTPD_BENCH_GIT"),
        "command": os.environ.get("KHTTPD_BENCH_CMD"),
        "nginx": cmd(["nginx", "-v"]),
        "wrk": cmd(["wrk", "-v"]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def make_files(sizes):
    shutil.rmtree(BENCH, ignore_errors=True)
    os.makedirs(ROOT)
    for name in sizes:
        with open(os.path.join(ROOT, "f" + name), "wb") as f:
            # Deterministic, incompressible-enough content.
            n = SIZES[name]
            block = bytes((i * 131 + 7) & 0xFF for i in range(4096))
            while n > 0:
                f.write(block[:min(n, len(block))])
                n -= len(block)


def check_content(server, sizes):
    """Every file comes back 200 with the right bytes; returns (error, heads)."""
    heads = {}
    for name in sizes:
        path = "/f" + name
        try:
            st, reason, hdrs, body = http_get(server.port, path)
        except (OSError, http.client.HTTPException) as e:
            return "%s %s: %s" % (server.name, path, e), heads
        with open(ROOT + path, "rb") as f:
            want = f.read()
        if st != 200 or body != want:
            return "%s %s: status %d, %d bytes (want 200, %d bytes)" % (
                server.name, path, st, len(body), len(want)), heads
        if name == sizes[0]:
            heads = {"status": st, "reason": reason, "headers": hdrs}
    return None, heads


def kmsg():
    p = subprocess.run(["dmesg"], capture_output=True, text=True)
    return p.stdout.splitlines()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true",
                    help="khttpd + twin, one 1 KiB file, one repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5,
                    help="seconds per measured run")
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--servers", default="khttpd,twin,nginx")
    ap.add_argument("--twin", default=os.path.join(REPO, "build", "twin"),
                    help="the twin's executable (skipped when missing)")
    ap.add_argument("--workloads", default=None,
                    help="comma-separated subset of the workload names")
    ap.add_argument("--out", default=os.environ.get("VM_RESULTS") or "/tmp/bench-out")
    a = ap.parse_args()
    if a.smoke:
        a.reps, a.duration, a.sizes, a.servers = 1, 2, "1k", "khttpd,twin"
    sizes = a.sizes.split(",")
    servers = a.servers.split(",")
    if any(s not in SIZES for s in sizes) or any(s not in PORTS for s in servers):
        ap.error("sizes are %s, servers %s" % (list(SIZES), list(PORTS)))
    os.makedirs(a.out, exist_ok=True)
    if os.geteuid() != 0:
        log("must run as root in the guest (scripts/vm.sh run)")
        return 2

    ncpu = os.cpu_count() or 1
    threads = 2  # client threads, as in `wrk -t 2` / `htstress -t 2`
    wl = workloads(a.duration, threads)
    if a.workloads:
        wl = {k: v for k, v in wl.items() if k in a.workloads.split(",")}
    # Many short connections: let the client reuse ports in TIME_WAIT and
    # give it a wide port range; plenty of descriptors for everyone.
    for k, v in (("net/ipv4/tcp_tw_reuse", "1"),
                 ("net/ipv4/ip_local_port_range", "1024 65000"),
                 ("net/core/somaxconn", "4096"),
                 ("net/ipv4/tcp_max_syn_backlog", "4096")):
        try:
            with open("/proc/sys/" + k, "w") as f:
                f.write(v)
        except OSError as e:
            log("cannot set %s: %s" % (k, e))
    resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))

    env = environment(ncpu)
    env["threads"] = threads
    log("guest %s, %d CPUs (%s); host CPU %s" % (
        env["guest_kernel"], ncpu, env["accelerator"], env["host_cpu_model"]))
    make_files(sizes)
    kmsg_base = set(kmsg())

    results = {
        "schema": 1, "smoke": a.smoke, "environment": env,
        "config": {"reps": a.reps, "duration_s": a.duration, "sizes": sizes,
                   "size_bytes": {s: SIZES[s] for s in sizes},
                   "servers": servers, "ports": {s: PORTS[s] for s in servers},
                   "workloads": {k: {"tool": v[0], "description": v[1],
                                     "argv": v[2]("http://127.0.0.1:PORT/fSIZE")}
                                 for k, v in wl.items()}},
        "servers": {}, "runs": [], "medians": {}, "problems": [],
    }
    failed = False
    live = []
    objs = {"khttpd": Khttpd, "twin": Twin, "nginx": Nginx}
    try:
        for name in servers:
            s = objs[name](name)
            s.out = a.out
            s.exe = a.twin
            err = s.start(ncpu, a.out)
            info = {"port": s.port}
            if err == "SKIP":
                log("SKIP twin: %s does not exist (tools/twin/ not built "
                    "yet); benchmarking without it" % a.twin)
                info["skipped"] = "%s does not exist" % os.path.relpath(a.twin, REPO)
                results["servers"][name] = info
                continue
            if err is None:
                err = wait_answer(s.port, "/f" + sizes[0])
                if err:
                    err = "did not answer on port %d: %s" % (s.port, err)
            if err is None:
                err, heads = check_content(s, sizes)
                info["response_head"] = heads
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

        rawf = open(os.path.join(a.out, "raw.txt"), "w")
        # Pre-warm: a short wrk run on every file, once per server.
        for s in live:
            for size in sizes:
                subprocess.run(["wrk", "-t", "1", "-c", "8", "-d", "1s",
                                "http://127.0.0.1:%d/f%s" % (s.port, size)],
                               capture_output=True, timeout=60)
        log("pre-warmed %s" % ", ".join(s.name for s in live))

        total = a.reps * len(wl) * len(sizes) * len(live)
        n = 0
        t_start = time.monotonic()
        for rep in range(a.reps):
            for wname, (tool, _, argv_of) in wl.items():
                for size in sizes:
                    for s in live:
                        n += 1
                        url = "http://127.0.0.1:%d/f%s" % (s.port, size)
                        if not s.alive():
                            r, problems = {"rps": None}, ["server is gone"]
                        else:
                            r, problems = run_one(argv_of(url), tool,
                                                  a.duration + 60, rawf)
                        run = {"rep": rep, "workload": wname, "size": size,
                               "server": s.name, "valid": not problems,
                               "problems": problems}
                        run.update(r)
                        results["runs"].append(run)
                        eta = (time.monotonic() - t_start) / n * (total - n)
                        log("[%d/%d] rep %d %-13s %-5s %-6s %10s req/s%s  "
                            "(eta %dm%02ds)" % (
                                n, total, rep + 1, wname, size, s.name,
                                "%.0f" % r["rps"] if r.get("rps") else "-",
                                "  INVALID: " + "; ".join(problems)
                                if problems else "", eta // 60, eta % 60))
                        if problems:
                            failed = True
        rawf.close()
    finally:
        for s in live:
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

    for wname in wl:
        for size in sizes:
            for s in live:
                rs = [r["rps"] for r in results["runs"]
                      if r["workload"] == wname and r["size"] == size
                      and r["server"] == s.name and r["valid"]]
                ntot = sum(1 for r in results["runs"]
                           if r["workload"] == wname and r["size"] == size
                           and r["server"] == s.name)
                results["medians"].setdefault(wname, {}).setdefault(size, {})[
                    s.name] = {"rps": statistics.median(rs) if rs else None,
                               "valid": len(rs), "runs": ntot}
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
    if not live:
        log("FAIL: no server could be measured")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
