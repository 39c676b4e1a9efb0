#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Is a slow run the server or the machine? Inside the QEMU guest:
#     scripts/vm.sh run -- /usr/bin/python3 scripts/bench-drift.py \
#         [--rounds N] [--reload-every K] [module parameters...]
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
# Standard library only; the files and port are bench-guest.py's, the
# CPU accounting bench-cpu.py's.

import argparse
import importlib.util
import os
import subprocess
import sys

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


def htstress(conns_per_thread, path):
    b0, i0 = bc.cpu_ticks()
    p = subprocess.run([bc.HT, "-k", "-n", "100000000", "-D", "4", "-c",
                        str(conns_per_thread), "-t", "2", "--json",
                        bc.URL % (PORT, path)], capture_output=True, text=True)
    b1, i1 = bc.cpu_ticks()
    r, problems = bg.parse_htstress(p.stdout, p.returncode)
    if problems:
        sys.exit("bench-drift: htstress: " + "; ".join(problems))
    ms_per_req = 1000.0 / bc.HZ / max(r["requests"], 1)
    return r["rps"], (b1 - b0) * ms_per_req, (i1 - i0) * ms_per_req


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
    ap.add_argument("params", nargs="*", help="module parameters")
    args = ap.parse_args()
    bg.make_files(["0", "1k"])
    load(args.params)
    rows = []
    try:
        for rnd in range(args.rounds):
            for c, path in ((4, "/f0"), (4, "/f1k"), (32, "/f0"),
                            (32, "/f1k")):
                rps, busy, idle = htstress(c, path)
                rows.append((rps, busy, idle))
                print("%d  htstress -k -c %-2d -t 2 %-5s %7.0f req/s  busy "
                      "%.4f  idle %.4f ms/request" %
                      (rnd, c, path, rps, busy, idle), flush=True)
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
    # The runs sorted by throughput: how busy time per request follows it.
    rows.sort()
    print("slowest to fastest (req/s: busy / idle ms per request):")
    for rps, busy, idle in rows:
        print("  %7.0f: %.4f / %.4f" % (rps, busy, idle))
    fast = rows[len(rows) // 2:]
    slow = rows[:max(len(rows) // 5, 1)]
    avg = lambda xs, k: sum(x[k] for x in xs) / len(xs)
    print("slowest fifth: %.0f req/s, busy %.4f ms/request; upper half: %.0f "
          "req/s, busy %.4f ms/request" %
          (avg(slow, 0), avg(slow, 1), avg(fast, 0), avg(fast, 1)))


if __name__ == "__main__":
    sys.exit(main())
