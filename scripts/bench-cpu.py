#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Where the CPU goes per request, server by server, inside the QEMU guest:
#     scripts/vm.sh run -- /usr/bin/python3 scripts/bench-cpu.py \
#         [--reps N] [--workloads a,b] [--servers x,y] [--wakeups] [--tcp]
#
# Throughput on this host moves by tens of percent between runs; CPU time
# per request splits it into parts that say why. For each run: the client
# tool's own CPU (getrusage of the child: user, system, and the softirqs
# its sends run, which on loopback include the server side's TCP receive),
# the server's (its processes; for khttpd every kernel thread, i.e. the
# workers and the accept thread, the guest being otherwise idle), all CPUs
# busy and idle (/proc/stat), each divided by the requests. A
# single-threaded client whose CPU is saturated runs at 1 / (its CPU per
# request), so that figure bounds what any server can get out of it; and
# the client's time runnable but waiting for a CPU (its schedstat), which
# is what server tasks placed on its CPU take from it; and the TCP segments
# sent per request, by both sides (/proc/net/snmp's OutSegs); and the
# client's context switches per request (its rusage): voluntary, when it
# slept for want of work, and involuntary, when a task woken on its CPU
# (a worker its own send queued) took the CPU from it. --wakeups also
# counts the scheduler's wake-ups per request (sched_wakeup events, all
# tasks), which unlike throughput barely move with the host's load.
# --blame traces the scheduler (sched_switch, sched_wakeup,
# sched_migrate_task) and names what ran on the CPU the client was queued
# on while it waited, in ms per request, by task name (digits dropped).
# --tcp prints, per run and in the medians, every TCP counter of
# /proc/net/snmp and /proc/net/netstat that moved, per request (delayed
# ACKs, listen queue overflows, retransmissions, TIME-WAIT sockets...).
#
# tls-ab-close-c16 is the HTTPS handshake per request (ab -l) on the TLS
# port: khttpd with tls_port= and its agent build/khttpd-tlsd (or
# build/cpu/khttpd-tlsd-NAME with "+tlsd=NAME"), against "nginx-tls"
# (bench-guest.py's nginx with OpenSSL). Plain workloads skip nginx-tls,
# TLS ones the plain peers. tls-ab-close-c16-1200 is the same with four
# times the count: longer runs, for pairs a few percent apart.
#
# Servers: nginx, lighttpd, h2o (bench-guest.py's configurations, started
# once), and khttpd variants loaded for each of their runs:
# "khttpd" is ./khttpd.ko (make module); "khttpd+defer_accept=0" adds
# module parameters; "khttpd+ko=NAME" loads build/cpu/khttpd-NAME.ko
# instead (a module saved from another build, to compare). Runs are
# interleaved: for each repetition, for each workload, the servers in turn,
# each repetition starting one server further along.
# Prints every run, then the medians. Standard library only.

import argparse
import collections
import importlib.util
import os
import re
import resource
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "bench_guest", os.path.join(REPO, "scripts", "bench-guest.py"))
bg = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bg)

HZ = os.sysconf("SC_CLK_TCK")
HT = os.path.join(REPO, "build", "htstress")
URL = "http://127.0.0.1:%d%s"

# name -> (requests, argv for a port); 1 KiB file unless the path says.
WORKLOADS = {
    "ab-close-c1": (1000, lambda p: ["ab", "-q", "-n", "1000", "-c", "1",
                                     URL % (p, "/f1k")]),
    "ab-close-c16": (3000, lambda p: ["ab", "-q", "-n", "3000", "-c", "16",
                                      URL % (p, "/f1k")]),
    "ab-close-c500": (3000, lambda p: ["ab", "-q", "-n", "3000", "-c",
                                       "500", URL % (p, "/f1k")]),
    "hs-close-c64": (6000, lambda p: [HT, "-n", "6000", "-c", "32", "-t",
                                      "2", "--json", URL % (p, "/f1k")]),
    "hs-close-c64-0": (6000, lambda p: [HT, "-n", "6000", "-c", "32", "-t",
                                        "2", "--json", URL % (p, "/f0")]),
    "httperf-close": (1500, lambda p: ["httperf", "--server", "127.0.0.1",
                                       "--port", str(p), "--uri", "/f1k",
                                       "--num-conns", "1500",
                                       "--num-calls", "1",
                                       "--timeout", "10"]),
    "httperf-ka": (10000, lambda p: ["httperf", "--server", "127.0.0.1",
                                     "--port", str(p), "--uri", "/f1k",
                                     "--num-conns", "100",
                                     "--num-calls", "100",
                                     "--timeout", "10"]),
    "course-htstress": (4000, lambda p: [HT, "-n", "4000", "-c", "1", "-t",
                                         "4", "--json", URL % (p, "/")]),
    "ab-ka-c1": (10000, lambda p: ["ab", "-q", "-k", "-n", "10000", "-c",
                                   "1", URL % (p, "/f1k")]),
    "ab-ka-c1-1m": (400, lambda p: ["ab", "-q", "-k", "-n", "400", "-c",
                                    "1", URL % (p, "/f1m")]),
    "ab-ka-c16": (20000, lambda p: ["ab", "-q", "-k", "-n", "20000", "-c",
                                    "16", URL % (p, "/f1k")]),
    "course-ab": (10000, lambda p: ["ab", "-q", "-k", "-n", "10000", "-c",
                                    "500", URL % (p, "/")]),
    "hs-close-t1c8": (6000, lambda p: [HT, "-n", "6000", "-c", "8", "-t",
                                       "1", "--json", URL % (p, "/f1k")]),
    "hs-ka-t1c16": (40000, lambda p: [HT, "-k", "-n", "40000", "-c", "16",
                                      "-t", "1", "--json", URL % (p, "/f1k")]),
    "hs-ka-c8-0": (60000, lambda p: [HT, "-k", "-n", "60000", "-c", "4",
                                     "-t", "2", "--json", URL % (p, "/f0")]),
    "hs-ka-c64-0": (60000, lambda p: [HT, "-k", "-n", "60000", "-c", "32",
                                      "-t", "2", "--json", URL % (p, "/f0")]),
    "hs-ka-c64": (60000, lambda p: [HT, "-k", "-n", "60000", "-c", "32",
                                    "-t", "2", "--json", URL % (p, "/f1k")]),
    "hs-ka-c8-16k": (40000, lambda p: [HT, "-k", "-n", "40000", "-c", "4",
                                       "-t", "2", "--json",
                                       URL % (p, "/f16k")]),
    "hs-ka-c64-16k": (40000, lambda p: [HT, "-k", "-n", "40000", "-c", "32",
                                        "-t", "2", "--json",
                                        URL % (p, "/f16k")]),
    "hs-close-c64-256k": (3000, lambda p: [HT, "-n", "3000", "-c", "32",
                                           "-t", "2", "--json",
                                           URL % (p, "/f256k")]),
    "hs-close-c64-1m": (1500, lambda p: [HT, "-n", "1500", "-c", "32",
                                         "-t", "2", "--json",
                                         URL % (p, "/f1m")]),
    "hs-ka-c64-1m": (3000, lambda p: [HT, "-k", "-n", "3000", "-c", "32",
                                      "-t", "2", "--json", URL % (p, "/f1m")]),
    # wrk runs for a time; None: the count is read from what it prints.
    "wrk-ka-c32-16k": (None, lambda p: ["wrk", "-t", "2", "-c", "32", "-d",
                                        "3s", URL % (p, "/f16k")]),
    "wrk-ka-c32": (None, lambda p: ["wrk", "-t", "2", "-c", "32", "-d", "3s",
                                    URL % (p, "/f1k")]),
    "tls-ab-close-c1": (100, lambda p: ["ab", "-l", "-q", "-n", "100", "-c",
                                        "1", "https://127.0.0.1:%d/f1k" % p]),
    "tls-ab-close-c16": (300, lambda p: ["ab", "-l", "-q", "-n", "300", "-c",
                                         "16", "https://127.0.0.1:%d/f1k" % p]),
    "tls-ab-close-c16-1200": (1200, lambda p: ["ab", "-l", "-q", "-n", "1200",
                                               "-c", "16",
                                               "https://127.0.0.1:%d/f1k" % p]),
}
PEERS = {"nginx": bg.Nginx, "lighttpd": bg.Lighttpd, "h2o": bg.H2o,
         "nginx-tls": lambda name: bg.NginxTls("nginx")}
TRACING = "/sys/kernel/tracing"


def is_tls(work):
    return work.startswith("tls-")


def busy_idle(fields):
    """(busy, idle) ticks of one /proc/stat cpu line's numbers."""
    v = [int(x) for x in fields]
    # user nice system idle iowait irq softirq steal
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[3] + v[4]


def cpu_ticks():
    """(busy, idle) ticks over all CPUs."""
    with open("/proc/stat") as f:
        return busy_idle(f.readline().split()[1:])


def tcp_counters(paths=("/proc/net/snmp", "/proc/net/netstat")):
    """Every Tcp: and TcpExt: counter of the guest, by "Group.Name"."""
    out = {}
    for path in paths:
        with open(path) as f:
            lines = [l.split() for l in f]
        for names, values in zip(lines[::2], lines[1::2]):
            if names[0] in ("Tcp:", "TcpExt:"):
                for k, v in zip(names[1:], values[1:]):
                    out[names[0][:-1] + "." + k] = int(v)
    return out


def tcp_segments():
    """TCP segments sent so far by every socket of the guest: on loopback
    each is also one received, so per request this counts both sides'."""
    return tcp_counters(("/proc/net/snmp",))["Tcp.OutSegs"]


# Counters that are not events (Tcp.CurrEstab is a gauge, the RTO ones
# are settings) or that every request moves (the segments, reported
# already).
TCP_SKIP = {"Tcp.RtoAlgorithm", "Tcp.RtoMin", "Tcp.RtoMax", "Tcp.MaxConn",
            "Tcp.CurrEstab", "Tcp.InSegs", "Tcp.OutSegs"}


def thread_ticks(pids):
    """utime + stime of pids, each with all its threads, the exited ones
    included (a process's stat counts them; its task/ entries do not)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError):
            pass
    return total


def kernel_threads():
    """Children of kthreadd: the workers and khttpd's accept thread."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                s = f.read()
            if int(s[s.rindex(")") + 2:].split()[1]) == 2:
                out.append(int(p))
        except (OSError, ValueError):
            pass
    return out


class KhttpdVariant:
    """khttpd.ko (or a saved build) with parameters, loaded per run."""

    serves = ("plain", "tls")

    def __init__(self, name):
        self.name, self.port = name, bg.PORTS["khttpd"]
        self.tls_port = bg.TLS_PORTS["khttpd"]
        self.ko = os.path.join(REPO, "khttpd.ko")
        self.tlsd = os.path.join(REPO, "build", "khttpd-tlsd")
        self.params = []
        self.agent = None
        for p in name.split("+")[1:]:
            if p.startswith("ko="):
                self.ko = os.path.join(REPO, "build", "cpu",
                                       "khttpd-%s.ko" % p[3:])
            elif p.startswith("tlsd="):
                self.tlsd = os.path.join(REPO, "build", "cpu",
                                         "khttpd-tlsd-%s" % p[5:])
            else:
                self.params.append(p)

    # The variant loaded last. Each brings its own agent, and an agent left
    # running beside the next variant's would take a share of its
    # handshakes: every variant's agent is stopped before another loads.
    loaded = None

    def load(self, tls=False):
        (KhttpdVariant.loaded or self).stop()
        KhttpdVariant.loaded = self
        # bind= as bench-guest.py's Khttpd (the peers' address); a
        # variant's own bind= comes later and wins ("khttpd+bind=" is the
        # module's dual-stack default).
        subprocess.run(["insmod", self.ko, "port=%d" % self.port,
                        "bind=127.0.0.1", "root=" + bg.ROOT] + self.params +
                       (["tls_port=%d" % self.tls_port] if tls else []),
                       check=True)
        bg.wait_answer(self.port, "/f1k")
        if tls:
            self.agent = bg.KhttpdTls("khttpd")
            self.agent.exe = self.tlsd
            err = self.agent.start(os.cpu_count(), "/tmp/bench-cpu")
            if err:
                sys.exit("bench-cpu: %s: %s" % (self.tlsd, err))

    def stop(self):
        if self.agent:
            self.agent.stop()
            self.agent = None
        if os.path.isdir("/sys/module/khttpd"):
            subprocess.run(["rmmod", "khttpd"], check=True)

    def pids(self):
        return kernel_threads() + ([self.agent.proc.pid] if self.agent
                                   else [])


def start_peer(name, out):
    s = PEERS[name](name)
    s.out = out
    err = s.start(os.cpu_count(), out)
    if err:
        sys.exit("bench-cpu: %s: %s" % (name, err))
    s.name = name     # NginxTls calls itself nginx
    s.serves = ("tls",) if name == "nginx-tls" else ("plain",)
    if "plain" in s.serves:
        bg.wait_answer(s.port, "/f1k")
    else:
        time.sleep(1)
    s.tls_port = s.port
    s.pids = lambda: bg.descendants(s.proc.pid)
    s.load = lambda tls=False: None
    return s


def waited_ns(pid):
    """Time the threads of pid spent runnable but not running."""
    total = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return total


BLAME_EVENTS = ("sched_switch", "sched_wakeup", "sched_migrate_task")


def tracing(on, events=("sched_wakeup",)):
    """Scheduler events into an emptied ring buffer, or stop them."""
    if on:
        if not os.path.exists(TRACING + "/trace"):
            subprocess.run(["mount", "-t", "tracefs", "none", TRACING],
                           check=False)
        with open(TRACING + "/buffer_size_kb", "w") as f:
            f.write("32768")
        for e in BLAME_EVENTS:
            with open(TRACING + "/events/sched/%s/enable" % e, "w") as f:
                f.write("1" if e in events else "0")
        with open(TRACING + "/trace", "w") as f:
            f.write("")
    with open(TRACING + "/tracing_on", "w") as f:
        f.write("1" if on else "0")


def wakeups_traced():
    with open(TRACING + "/trace") as f:
        return sum(1 for line in f if "sched_wakeup:" in line)


TRACE_LINE = re.compile(r"\[(\d+)\]\S*\s+\S+\s+([\d.]+): (\w+): (.*)")
TRACE_FIELD = re.compile(r"(\w+)=(\S+)")


def blame_traced(client_pid):
    """Seconds each task name ran on the client's CPU while it waited."""
    blame = collections.Counter()
    since = {}            # cpu -> (name, when it began running there)
    wait = None           # (cpu, start) while the client is runnable

    def charge(cpu, now):
        name, t = since.get(cpu, ("?", now))
        if wait and wait[0] == cpu:
            blame[name] += now - max(t, wait[1])

    with open(TRACING + "/trace") as f:
        for line in f:
            m = TRACE_LINE.search(line)
            if not m:
                continue
            cpu, now, event = int(m.group(1)), float(m.group(2)), m.group(3)
            v = dict(TRACE_FIELD.findall(m.group(4).replace(" ==> ", " ")))
            if event == "sched_switch":
                prev, nxt = int(v["prev_pid"]), int(v["next_pid"])
                charge(cpu, now)
                if nxt == client_pid:
                    wait = None
                elif prev == client_pid and v["prev_state"].startswith("R"):
                    wait = (cpu, now)
                name = re.sub(r"\d+", "", v["next_comm"])
                since[cpu] = ("idle" if nxt == 0 else name, now)
            elif event == "sched_wakeup" and int(v["pid"]) == client_pid:
                wait = (int(v["target_cpu"]), now)
            elif (event == "sched_migrate_task" and wait and
                  int(v["pid"]) == client_pid):
                charge(wait[0], now)
                wait = (int(v["dest_cpu"]), now)
    return blame


def one_run(server, work, wakeups=False, blame=False, tcp=False):
    n, argv_of = WORKLOADS[work]
    tls = is_tls(work)
    server.load(tls)
    port = server.tls_port if tls else server.port
    if tls:
        # The agent's handshake threads and both sides' first sessions:
        # not what is measured.
        subprocess.run(argv_of(port)[:3] + ["-n", "32", "-c", "16",
                                            argv_of(port)[-1]],
                       capture_output=True, env=bg.tls_env())
    pids = server.pids()
    if wakeups or blame:
        tracing(True, BLAME_EVENTS if blame else ("sched_wakeup",))
    busy0, idle0 = cpu_ticks()
    segs0 = tcp_segments()
    tcp0 = tcp_counters() if tcp else {}
    srv0 = thread_ticks(pids)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.Popen(argv_of(port), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=bg.tls_env() if tls else None)
    # The client's schedstat, read until it exits (its last reading).
    waited = 0
    while p.poll() is None:
        waited = waited_ns(p.pid) or waited
        time.sleep(0.02)
    p.stdout_text, p.stderr_text = p.communicate()
    wall = time.monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # khttpd's workers may have come and gone: count them again.
    srv1 = thread_ticks(server.pids() if isinstance(server, KhttpdVariant)
                        else pids)
    busy1, idle1 = cpu_ticks()
    segs1 = tcp_segments()
    tcp1 = tcp_counters() if tcp else {}
    if wakeups or blame:
        tracing(False)
    failed = [l for l in p.stdout_text.splitlines()
              if l.startswith("Failed requests") and l.split()[-1] != "0"]
    if n is None:
        got, problems = bg.parse_wrk(p.stdout_text, p.returncode)
        failed += problems
        n = got["requests"] or 1
    if p.returncode or failed:
        print("bench-cpu: %s on %s failed (%d): %s" %
              (work, server.name, p.returncode,
               (p.stderr_text.strip() or " ".join(failed))[-300:]),
              flush=True)
        return None
    ms = 1000.0 / n
    r = {"rps": n / wall,
         "busy": (busy1 - busy0) * ms / HZ,
         "idle": (idle1 - idle0) * ms / HZ,
         "client": ((ru1.ru_utime - ru0.ru_utime) +
                    (ru1.ru_stime - ru0.ru_stime)) * ms,
         "server": (srv1 - srv0) * ms / HZ,
         "waiting": waited / 1e6 / n,
         "segs": (segs1 - segs0) / n,
         # The client's context switches: it slept (voluntary) or a task
         # woken on its CPU took it (involuntary).
         "vcsw": (ru1.ru_nvcsw - ru0.ru_nvcsw) / n,
         "ivcsw": (ru1.ru_nivcsw - ru0.ru_nivcsw) / n}
    if wakeups:
        r["wakeups"] = wakeups_traced() / n
    if blame:
        r["blame"] = {k: v * 1000 / n for k, v in
                      blame_traced(p.pid).most_common(6)}
    if tcp:
        r["tcp"] = {k: (v - tcp0.get(k, 0)) / n for k, v in tcp1.items()
                    if k not in TCP_SKIP and v != tcp0.get(k, 0)}
    return r


def tcp_line(counters):
    """The counters, largest first, those under 0.005 per request left out."""
    return ", ".join("%s %.2f" % (k, v) for k, v in
                     sorted(counters.items(), key=lambda kv: -kv[1])
                     if v >= 0.005) or "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workloads", default="ab-close-c1,ab-close-c16,"
                    "ab-close-c500,hs-close-c64,httperf-close")
    ap.add_argument("--servers", default="khttpd,nginx,lighttpd,h2o")
    ap.add_argument("--wakeups", action="store_true",
                    help="count sched_wakeup events per request")
    ap.add_argument("--blame", action="store_true",
                    help="name what ran on the client's CPU while it waited")
    ap.add_argument("--tcp", action="store_true",
                    help="print the TCP counters that moved, per request")
    args = ap.parse_args()
    works = args.workloads.split(",")
    for w in works:
        if w not in WORKLOADS:
            ap.error("unknown workload %s (%s)" % (w, ", ".join(WORKLOADS)))
    out = "/tmp/bench-cpu"
    os.makedirs(out, exist_ok=True)
    bg.make_files(["0", "1k", "16k", "256k", "1m"])
    if any(is_tls(w) for w in works):
        err = bg.tls_unavailable()
        if err:
            sys.exit("bench-cpu: " + err)
        bg.load_ktls_modules()
        bg.make_tls_files()
    servers = []
    for name in args.servers.split(","):
        servers.append(KhttpdVariant(name) if name.startswith("khttpd")
                       else start_peer(name, out))
    rows = {}
    try:
        for rep in range(args.reps):
            # make bench's order: a variant always run second came out
            # 10% ahead in 10 of 10 repetitions, and last when run first
            # (docs/bench/changes.md).
            for w in works:
                for s in bg.in_turn(servers, rep):
                    if ("tls" if is_tls(w) else "plain") not in s.serves:
                        continue
                    r = one_run(s, w, args.wakeups, args.blame, args.tcp)
                    if not r:
                        continue
                    rows.setdefault((w, s.name), []).append(r)
                    print("%d %-15s %-28s %7.0f req/s  client %.3f  server "
                          "%.3f  busy %.3f  idle %.3f  client waiting %.3f "
                          "ms/request  %.1f segments/request  client "
                          "switches %.2f + %.2f involuntary/request%s" %
                          (rep, w, s.name, r["rps"], r["client"],
                           r["server"], r["busy"], r["idle"], r["waiting"],
                           r["segs"], r["vcsw"], r["ivcsw"],
                           "  %.2f wake-ups/request" % r["wakeups"]
                           if "wakeups" in r else ""), flush=True)
                    if "blame" in r:
                        print("    while the client waited, ms/request: " +
                              ", ".join("%s %.3f" % kv
                                        for kv in r["blame"].items()),
                              flush=True)
                    if "tcp" in r:
                        print("    TCP per request: " + tcp_line(r["tcp"]),
                              flush=True)
    finally:
        for s in servers:
            s.stop()
    print("\nmedians of %d repetitions, ms of CPU per request (busy, idle:"
          " all CPUs)" % args.reps)
    print("%-15s %-28s %8s %7s %7s %7s %7s %7s %5s %5s %5s%s" %
          ("workload", "server", "req/s", "client", "server", "busy",
           "idle", "waiting", "segs", "vcsw", "ivcsw",
           " wakeups" if args.wakeups else ""))
    for w in works:
        for s in servers:
            rs = rows.get((w, s.name))
            if not rs:
                continue
            m = {k: statistics.median(r[k] for r in rs) for k in rs[0]
                 if k not in ("blame", "tcp")}
            print("%-15s %-28s %8.0f %7.3f %7.3f %7.3f %7.3f %7.3f %5.1f "
                  "%5.2f %5.2f%s" %
                  (w, s.name, m["rps"], m["client"], m["server"], m["busy"],
                   m["idle"], m["waiting"], m["segs"], m["vcsw"], m["ivcsw"],
                   " %7.2f" % m["wakeups"] if "wakeups" in m else ""))
    if args.tcp:
        print("\nTCP counters that moved, per request (medians; a run "
              "where one did not move counts 0)")
        for w in works:
            for s in servers:
                rs = rows.get((w, s.name))
                if rs:
                    names = set().union(*(r["tcp"] for r in rs))
                    print("%-15s %-28s %s" % (w, s.name, tcp_line(
                        {k: statistics.median(r["tcp"].get(k, 0) for r in rs)
                         for k in names})))


if __name__ == "__main__":
    main()
