#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# The measuring half of `make echo-bench`, run inside the QEMU guest by
#     scripts/vm.sh run -- /usr/bin/python3 scripts/echo-bench-guest.py ...
# as root, chrooted into the host's root filesystem, cwd = the repo; and,
# with --report on the host, the tables and the course's bench.txt files
# from what it wrote (scripts/echo-bench.sh runs both).
#
# In the guest: loads kecho.ko ($KECHO_KO, when set) on port 12345 and
# starts build/user-echo-server on 12346, then for each concurrency level
# runs build/echo-bench against each server in turn, the order alternating
# from level to level (interleaved, so that a drift of the host's load
# does not favour one server), --reps times. The figure per level is the
# median over the repetitions of each run's mean, p50 and p99. Writes
# results.json to $VM_RESULTS. Any failed run (connection error, timeout,
# wrong byte) or kernel log warning makes the exit status 1; the results
# are still written.
#
# Standard library only; /usr/bin/python3.

import argparse
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "build", "echo-bench")
USER_SERVER = os.path.join(REPO, "build", "user-echo-server")
PORTS = {"kecho": 12345, "user": 12346}
# Both servers get the same limits, named so their defaults do not matter:
# room for the 1000 clients of the top level, and no idle timeout within a
# level.
MAX_CONNS = 4096
BACKLOG = 1024
TIMEOUT_S = 600
FIGURES = ("mean_us", "p50_us", "p99_us")

BAD_KMSG = re.compile(r"WARNING:|BUG:|Oops|general protection|kernel BUG|"
                      r"Call Trace:|KASAN|UBSAN|refcount_t|"
                      r"blocked for more than")


def log(msg):
    print("echo-bench: " + msg, flush=True)


def levels_arg(s):
    out = sorted({int(x) for x in s.split(",") if x})
    if not out or out[0] < 1 or out[-1] > 10000:
        raise argparse.ArgumentTypeError("levels are 1-10000")
    return out


def start_servers(ko):
    """{name: how to stop it}; kecho only when ko is given."""
    servers = {}
    if ko:
        subprocess.run(["rmmod", "kecho"], capture_output=True)
        r = subprocess.run(["insmod", ko, "port=%d" % PORTS["kecho"],
                            "backlog=%d" % BACKLOG, "max_conns=%d" % MAX_CONNS,
                            "timeout=%d" % TIMEOUT_S],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("echo-bench: insmod %s failed: %s" % (
                ko, (r.stdout + r.stderr).strip()))
        servers["kecho"] = None
    p = subprocess.Popen([USER_SERVER, "-b", "127.0.0.1",
                          "-p", str(PORTS["user"]), "-c", str(MAX_CONNS),
                          "--backlog", str(BACKLOG), "-T", str(TIMEOUT_S)],
                         stdout=subprocess.PIPE, text=True)
    banner = p.stdout.readline().strip()
    if not banner.startswith("user-echo-server: echoing"):
        raise SystemExit("echo-bench: user-echo-server did not start: %r"
                         % banner)
    log(banner)
    servers["user"] = p
    return servers


def stop_servers(servers):
    ok = True
    for name, p in servers.items():
        if p is None:
            r = subprocess.run(["rmmod", "kecho"], capture_output=True,
                               text=True, timeout=60)
            if r.returncode != 0:
                log("FAIL: rmmod kecho: %s" % r.stderr.strip())
                ok = False
        else:
            p.send_signal(signal.SIGTERM)
            if p.wait(30) != 0:
                log("FAIL: user-echo-server exited with %d" % p.returncode)
                ok = False
    return ok


def run_one(name, clients, args, out):
    """One echo-bench run of one level; its JSON level entry, or None."""
    js = os.path.join(out, "run.json")
    argv = [BENCH, "-p", str(PORTS[name]), "--levels", str(clients),
            "-r", str(args.rounds), "--min-samples", str(args.min_samples),
            "-s", str(args.size), "-o", "",
            "--json", js, "--label", name, "-q"]
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    with open(os.path.join(out, "raw.txt"), "a") as f:
        f.write("$ %s\n# exit %d, %.1f s\n%s%s\n" % (
            " ".join(argv), r.returncode, took, r.stdout, r.stderr))
    if r.returncode != 0:
        log("FAIL: %s, %d clients: %s" % (name, clients, r.stderr.strip()))
        return None
    with open(js) as f:
        return json.load(f)["levels"][0]


def environment(args):
    def cpu():
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return {
        "guest_kernel": platform.release(),
        "guest_nproc": os.cpu_count(),
        "guest_cpu_model": cpu(),
        "accelerator": "QEMU TCG (software emulation, no KVM)",
        "host_cpu_model": os.environ.get("KHTTPD_BENCH_HOST_CPU"),
        "host_nproc": os.environ.get("KHTTPD_BENCH_HOST_NPROC"),
        "git": os.environ.get("KHTTPD_BENCH_GIT"),
        "command": os.environ.get("KHTTPD_BENCH_CMD"),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": args.rounds, "min_samples": args.min_samples,
        "size": args.size, "reps": args.reps,
        "levels": args.levels,
    }


def measure(args):
    out = os.environ.get("VM_RESULTS") or args.out
    os.makedirs(out, exist_ok=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    ko = os.environ.get("KECHO_KO") or None
    if ko and not os.path.isfile(ko):
        raise SystemExit("echo-bench: KECHO_KO=%s does not exist" % ko)
    kmsg0 = set(subprocess.run(["dmesg"], capture_output=True,
                               text=True).stdout.splitlines())
    servers = start_servers(ko)
    names = list(servers)
    if not ko:
        log("no kecho.ko: measuring user-echo-server alone")
    log("plan: %d levels x %d servers x %d reps, %d round trips of %d "
        "bytes per client" % (len(args.levels), len(names), args.reps,
                              args.rounds, args.size))
    runs = {n: {c: [] for c in args.levels} for n in names}
    ok = True
    t0 = time.monotonic()
    for rep in range(args.reps):
        for i, clients in enumerate(args.levels):
            order = names if (i + rep) % 2 == 0 else names[::-1]
            for n in order:
                lv = run_one(n, clients, args, out)
                if lv is None:
                    ok = False
                else:
                    runs[n][clients].append(lv)
            log("rep %d, %4d clients: %s  (%.0f s so far)" % (
                rep + 1, clients, "  ".join(
                    "%s %.0f us" % (n, runs[n][clients][-1]["mean_us"])
                    for n in names if len(runs[n][clients]) > rep),
                time.monotonic() - t0))
    ok = stop_servers(servers) and ok
    new = [ln for ln in subprocess.run(["dmesg"], capture_output=True,
                                       text=True).stdout.splitlines()
           if ln not in kmsg0]
    bad = [ln for ln in new if BAD_KMSG.search(ln)]
    if bad:
        log("FAIL: the kernel log has findings:\n  " + "\n  ".join(bad))
        ok = False

    results = {"environment": environment(args), "servers": {},
               "kecho_missing": not ko, "ok": ok}
    for n in names:
        levels = []
        for c in args.levels:
            rs = runs[n][c]
            if not rs:
                continue
            e = {"clients": c, "runs": rs}
            for k in FIGURES:
                e[k] = statistics.median(r[k] for r in rs)
            levels.append(e)
        results["servers"][n] = levels
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    log("took %.0f s; %s" % (time.monotonic() - t0,
                             "all runs valid" if ok else "FAILED"))
    return 0 if ok else 1


def report(res_path, out):
    """On the host: the course's bench.txt per server, the plot's data
    and a table on stdout."""
    with open(res_path) as f:
        res = json.load(f)
    servers = res["servers"]
    for n, levels in servers.items():
        with open(os.path.join(out, "bench-%s.txt" % n), "w") as f:
            for e in levels:
                f.write("%d %.0f\n" % (e["clients"], e["mean_us"]))
    by = {n: {e["clients"]: e for e in lv} for n, lv in servers.items()}
    clients = sorted({c for lv in by.values() for c in lv})
    names = [n for n in ("kecho", "user") if n in servers]
    with open(os.path.join(out, "echo.dat"), "w") as f:
        f.write("# clients" + "".join(" %s_mean %s_p50 %s_p99" % (n, n, n)
                                      for n in ("kecho", "user")) + "\n")
        for c in clients:
            row = [str(c)]
            for n in ("kecho", "user"):
                e = by.get(n, {}).get(c)
                row += ["%.2f" % e[k] if e else "NaN" for k in FIGURES]
            f.write(" ".join(row) + "\n")
    head = "%8s" % "clients"
    for n in names:
        head += "  %9s %9s %9s" % (n + " mean", "p50", "p99")
    if len(names) == 2:
        head += "  %12s" % "kecho/user"
    print(head)
    for c in clients:
        line = "%8d" % c
        for n in names:
            e = by[n].get(c)
            line += "  %9.1f %9.1f %9.1f" % tuple(e[k] for k in FIGURES) \
                if e else "  %29s" % "-"
        if len(names) == 2 and c in by["kecho"] and c in by["user"]:
            line += "  %12.2f" % (by["kecho"][c]["mean_us"] /
                                  by["user"][c]["mean_us"])
        print(line)
    print("(microseconds per round trip; median over %s repetitions; "
          "kecho/user < 1: kecho answers sooner)"
          % res["environment"]["reps"])
    if res.get("kecho_missing"):
        print("kecho.ko was not available: user-echo-server alone")
    return 0 if res.get("ok") else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--levels", type=levels_arg,
                    default=levels_arg("1,50,100,200,300,400,500,600,700,"
                                       "800,900,1000"))
    # Where one round trip costs a client N times the server's time (N
    # clients on 2 vCPUs), a level costs rounds x N of them: 5 rounds keep
    # the 1000-client level to seconds; --min-samples gives the small
    # levels more rounds, so that their percentiles mean something.
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-samples", type=int, default=1000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="/tmp/echo-bench")
    ap.add_argument("--report", metavar="RESULTS_JSON",
                    help="on the host: write bench-*.txt and echo.dat "
                    "into --out and print the table")
    args = ap.parse_args()
    if args.report:
        return report(args.report, args.out)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
