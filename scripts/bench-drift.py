#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Is a slow run the server or the machine? Inside the QEMU guest:
#     scripts/vm.sh run -- /usr/bin/python3 scripts/bench-drift.py \
#         [--rounds N] [--reload-every K] [--peer lighttpd] \
#         [module parameters...]
#
# make bench loads khttpd once and runs every workload against it; some of
# its htstress keep-alive runs came out at half the others. This loads
# ./khttpd.ko once, then runs the sweep's htstress keep-alive commands
# (-c 4 and -c 32, two threads, 4 s, 0 B and 1 KiB) back to back, with a
# wrk run between rounds as make bench has, and prints for each run the
# requests/s and the guest's CPU time per request, busy and idle
# (/proc/stat, both CPUs). The requests are the same in every run, so when
# a slow run's busy time per request grows with it, the same work cost
# more CPU: the emulated machine slowed down. If instead the server waited
# (idle time per request up, busy flat), or state piled up in the module
# (the slow runs getting more frequent, and gone after a reload), the
# server is the cause. After each round, /proc/khttpd's connection
# counts: every connection closed, none left over.
#
# With --peer, every run against khttpd is followed by the same run against
# that userspace server, so a slow episode of the machine shows on both
# sides. Each run also prints what the two CPUs did per request: the busy
# time of each CPU, the context switches, and the interrupts sent between
# CPUs (/proc/interrupts' RES and CAL lines), since work that ping-pongs
# between the CPUs costs both more switches and more of these.
#
# Standard library only; the files and port are bench-guest.py's, the
# CPU accounting bench-cpu.py's.

import argparse
import importlib.util
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "bench_cpu", os.path.join(REPO, "scripts", "bench-cpu.py"))
bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bc)
bg = bc.bg

PORT = bg.PORTS["khttpd"]


def load(params):
    subprocess.run(["insmod", os.path.join(REPO, "khttpd.ko"),
                    "port=%d" % PORT, "root=" + bg.ROOT] + params, check=True)
    bg.wait_answer(PORT, "/f1k")


def cpu_stat():
    """Busy and idle ticks over all CPUs, busy ticks of each CPU, and the
    context switches since boot: one read of /proc/stat."""
    total, busy, ctxt = (0, 0), [], 0
    with open("/proc/stat") as f:
        for line in f:
            k, *v = line.split()
            if k == "cpu":
                total = bc.busy_idle(v)
            elif k.startswith("cpu"):
                busy.append(bc.busy_idle(v)[0])
            elif k == "ctxt":
                ctxt = int(v[0])
    return total, busy, ctxt


def ipis():
    """Rescheduling and function-call interrupts, all CPUs."""
    n = 0
    with open("/proc/interrupts") as f:
        for line in f:
            k, *v = line.split()
            if k in ("RES:", "CAL:"):
                n += sum(int(x) for x in v if x.isdigit())
    return n


def ksoftirqd_ticks():
    """utime + stime of the ksoftirqd threads: the softirqs not run in
    the context that raised them."""
    pids = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().startswith("ksoftirqd/"):
                    pids.append(int(pid))
        except (OSError, ValueError):
            pass
    return bc.thread_ticks(pids)


def thread_cpus(pid):
    """The CPU each thread of pid but its main one last ran on."""
    cpus = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            if tid == str(pid):
                continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
            cpus.append(int(s[s.rindex(")") + 2:].split()[36]))
    except (OSError, ValueError, IndexError):
        pass
    return cpus


def htstress(conns_per_thread, port, path):
    (b0, i0), c0, x0 = cpu_stat()
    n0 = ipis()
    k0 = ksoftirqd_ticks()
    p = subprocess.Popen([bc.HT, "-k", "-n", "100000000", "-D", "4", "-c",
                          str(conns_per_thread), "-t", "2", "--json",
                          bc.URL % (port, path)], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    # Where htstress's two load threads are, ten times a second: on one
    # CPU together, or one on each.
    same = samples = 0
    while p.poll() is None:
        time.sleep(0.1)
        cpus = thread_cpus(p.pid)
        if len(cpus) == 2:
            samples += 1
            same += cpus[0] == cpus[1]
    out = p.stdout.read()
    (b1, i1), c1, x1 = cpu_stat()
    n1 = ipis()
    k1 = ksoftirqd_ticks()
    r, problems = bg.parse_htstress(out, p.returncode)
    if problems:
        sys.exit("bench-drift: htstress: " + "; ".join(problems))
    reqs = max(r["requests"], 1)
    ms_per_req = 1000.0 / bc.HZ / reqs
    return {"rps": r["rps"], "busy": (b1 - b0) * ms_per_req,
            "idle": (i1 - i0) * ms_per_req,
            "per_cpu": [(b - a) * ms_per_req for a, b in zip(c0, c1)],
            "ctxt": (x1 - x0) / reqs, "ipi": (n1 - n0) / reqs,
            "ksoftirqd": (k1 - k0) * ms_per_req,
            "together": same / max(samples, 1)}


def show(rnd, name, c, path, r):
    print("%d  %-8s htstress -k -c %-2d -t 2 %-5s %7.0f req/s  busy %.4f "
          "(%s)  idle %.4f ms/request  %.2f switches, %.2f IPIs/request  "
          "ksoftirqd %.4f ms/request  threads together %.0f%%" %
          (rnd, name, c, path, r["rps"], r["busy"],
           " + ".join("%.4f" % x for x in r["per_cpu"]), r["idle"],
           r["ctxt"], r["ipi"], r["ksoftirqd"], 100 * r["together"]),
          flush=True)


def counts():
    with open("/proc/khttpd") as f:
        st = dict(line.split() for line in f)
    return ", ".join("%s %s" % (k, st[k]) for k in
                     ("connections_accepted", "connections_closed",
                      "connections_open"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--reload-every", type=int, default=0,
                    help="rmmod and insmod after every K rounds")
    ap.add_argument("--peer", choices=sorted(bc.PEERS),
                    help="run each command against this server too")
    ap.add_argument("params", nargs="*", help="module parameters")
    args = ap.parse_args()
    bg.make_files(["0", "1k"])
    if args.peer:
        os.makedirs("/tmp/bench-drift", exist_ok=True)
    peer = (bc.start_peer(args.peer, "/tmp/bench-drift")
            if args.peer else None)
    load(args.params)
    rows, peer_rows = [], []
    try:
        for rnd in range(args.rounds):
            for c, path in ((4, "/f0"), (4, "/f1k"), (32, "/f0"),
                            (32, "/f1k")):
                r = htstress(c, PORT, path)
                rows.append((r["rps"], r["busy"], r["idle"]))
                show(rnd, "khttpd", c, path, r)
                if peer:
                    r = htstress(c, peer.port, path)
                    peer_rows.append((r["rps"], r["busy"], r["idle"]))
                    show(rnd, args.peer, c, path, r)
            subprocess.run(["wrk", "-t", "2", "-c", "32", "-d", "4s",
                            bc.URL % (PORT, "/f1k")],
                           stdout=subprocess.DEVNULL, check=True)
            print("   after wrk: " + counts(), flush=True)
            if args.reload_every and (rnd + 1) % args.reload_every == 0:
                subprocess.run(["rmmod", "khttpd"], check=True)
                load(args.params)
                print("   reloaded", flush=True)
    finally:
        subprocess.run(["rmmod", "khttpd"])
        if peer:
            peer.stop()
    summary("khttpd", rows)
    if peer:
        summary(args.peer, peer_rows)


def summary(name, rows):
    # The runs sorted by throughput: how busy time per request follows it.
    rows.sort()
    print("%s, slowest to fastest (req/s: busy / idle ms per request):" %
          name)
    for rps, busy, idle in rows:
        print("  %7.0f: %.4f / %.4f" % (rps, busy, idle))
    fast = rows[len(rows) // 2:]
    slow = rows[:max(len(rows) // 5, 1)]
    avg = lambda xs, k: sum(x[k] for x in xs) / len(xs)
    print("%s: slowest fifth: %.0f req/s, busy %.4f ms/request; upper half: "
          "%.0f req/s, busy %.4f ms/request" %
          (name, avg(slow, 0), avg(slow, 1), avg(fast, 0), avg(fast, 1)))


if __name__ == "__main__":
    sys.exit(main())
