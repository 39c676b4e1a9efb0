#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Where a connection's time goes, for a client that makes one connection
# at a time, inside the QEMU guest:
#     scripts/vm.sh run -- /usr/bin/python3 scripts/conn-timeline.py \
#         [--conns N] [--servers khttpd,khttpd+defer_accept=0,...]
#
# For each khttpd variant (named as in scripts/bench-cpu.py: parameters
# after "+", "ko=NAME" for build/cpu/khttpd-NAME.ko), httperf makes N
# connections of one 1 KiB request each while the sock, sched and khttpd
# events are traced. Every connection's events are found by its client
# port and timed from the moment its connect() completed; the medians
# show the order of things and what waits for what: the server side's
# ESTABLISHED (the handshake's last ACK, or with TCP_DEFER_ACCEPT the
# request), the accept thread's sched_wakeup (logged on the CPU that
# runs it: after the IPI when that CPU was idle), the accept, the reply,
# the client's close, the server's FIN, and the next connect.
# Standard library only.

import argparse
import collections
import importlib.util
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    "bench_cpu", os.path.join(REPO, "scripts", "bench-cpu.py"))
bc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bc)

TRACEFS = "/sys/kernel/tracing"
EVENTS = ["sock/inet_sock_set_state", "sched/sched_wakeup",
          "khttpd/khttpd_conn_open", "khttpd/khttpd_request"]
LINE = re.compile(r"^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+): (.*)$")
# (side, old state, new state) -> phase; the client side is dport=PORT.
STATES = {
    ("server", "TCP_SYN_RECV", "TCP_ESTABLISHED"): "server established",
    ("client", "TCP_ESTABLISHED", "TCP_FIN_WAIT1"): "client closes",
    ("server", "TCP_CLOSE_WAIT", "TCP_LAST_ACK"): "server closes",
}
ORDER = ["server established", "accept thread woken", "accepted",
         "replied", "client closes", "server closes", "next connect"]


def tracefs(name, value):
    with open(os.path.join(TRACEFS, name), "w") as f:
        f.write(value)


def record(server, conns):
    server.load()
    tracefs("tracing_on", "0")
    tracefs("buffer_size_kb", "20000")
    tracefs("trace", "")
    for e in EVENTS:
        tracefs("events/%s/enable" % e, "1")
    tracefs("tracing_on", "1")
    p = subprocess.run(["httperf", "--server", "127.0.0.1", "--port",
                        str(server.port), "--uri", "/f1k", "--num-conns",
                        str(conns), "--num-calls", "1", "--timeout", "10"],
                       capture_output=True, text=True)
    tracefs("tracing_on", "0")
    for e in EVENTS:
        tracefs("events/%s/enable" % e, "0")
    with open(os.path.join(TRACEFS, "trace")) as f:
        trace = f.read()
    tracefs("trace", "")
    tracefs("tracing_on", "1")
    server.stop()
    rate = re.search(r"Request rate: ([\d.]+)", p.stdout)
    if p.returncode or not rate:
        sys.exit("conn-timeline: httperf failed: " + p.stdout[-300:] +
                 p.stderr[-300:])
    return trace, float(rate.group(1))


def phases(trace, port):
    """Per client port: phase -> seconds; in order of connect."""
    conns = collections.defaultdict(dict)
    established = None          # the last server-side ESTABLISHED's port
    for line in trace.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        ts, ev, rest = float(m.group(4)), m.group(5), m.group(6)
        if ev == "inet_sock_set_state":
            kv = dict(x.split("=", 1) for x in rest.split())
            sport, dport = int(kv["sport"]), int(kv["dport"])
            side, peer = (("client", sport) if dport == port else
                          ("server", dport) if sport == port else
                          (None, None))
            if side == "client" and kv["newstate"] == "TCP_ESTABLISHED":
                conns[peer].setdefault("connected", ts)
            phase = STATES.get((side, kv["oldstate"], kv["newstate"]))
            if phase:
                conns[peer].setdefault(phase, ts)
                if phase == "server established":
                    established = peer
        elif ev == "sched_wakeup" and "comm=khttpd-accept" in rest:
            if established is not None:
                conns[established].setdefault("accept thread woken", ts)
        elif ev in ("khttpd_conn_open", "khttpd_request"):
            m = re.search(r"client=\S+:(\d+)", rest)
            conns[int(m.group(1))].setdefault(
                "accepted" if ev == "khttpd_conn_open" else "replied", ts)
    seq = sorted((v["connected"], v) for v in conns.values()
                 if "connected" in v)
    for (t, v), (t_next, _) in zip(seq, seq[1:]):
        v["next connect"] = t_next
    return [v for _, v in seq[:-1]]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--conns", type=int, default=1500)
    ap.add_argument("--servers", default="khttpd,khttpd+defer_accept=0")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(TRACEFS, "events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS],
                       check=True)
    bc.bg.make_files(["1k"])
    names = args.servers.split(",")
    table = {}
    for name in names:
        server = bc.KhttpdVariant(name)
        trace, rate = record(server, args.conns)
        conns = phases(trace, server.port)
        med = {}
        for ph in ORDER:
            us = [(c[ph] - c["connected"]) * 1e6 for c in conns if ph in c]
            med[ph] = (statistics.median(us), len(us)) if us else None
        table[name] = (rate, len(conns), med)
    print("microseconds from the client's connect() completing, medians")
    print("%-22s" % "" + "".join("%24s" % n[:23] for n in names))
    print("%-22s" % "httperf req/s" +
          "".join("%24.0f" % table[n][0] for n in names))
    print("%-22s" % "connections traced" +
          "".join("%24d" % table[n][1] for n in names))
    for ph in ORDER:
        cells = []
        for n in names:
            m = table[n][2][ph]
            cells.append("%24s" % ("-" if not m else
                                   "%.0f (n=%d)" % m))
        print("%-22s" % ph + "".join(cells))


if __name__ == "__main__":
    main()
