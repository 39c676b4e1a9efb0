#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Summaries for scripts/trace.sh (make trace, make profile); see
# docs/profiling.md for how to read them. Standard library only.
#
#   trace-cmd report -i events.dat | trace-summary.py events
#       khttpd tracepoints: requests by status, body source, method and
#       path; connections and requests per connection.
#   trace-cmd report -i trace.dat | trace-summary.py graph [--top N]
#       function_graph: per function calls, total (inclusive), self and
#       average duration; the request phases under khttpd_conn_io_work; the
#       call tree by time; requests per work item run.
#   trace-summary.py perf DIR
#       perf report tables that scripts/trace-guest.sh left in DIR (comm.txt,
#       self.txt, children.txt, callers.txt): time by command class, top
#       symbols by self time, khttpd/TCP/VFS/scheduling entries by
#       children time, callers of the hottest kernel symbols.

import argparse
import collections
import os
import re
import sys

# "  comm-pid  [cpu]  ts: event:  rest"; comm may contain spaces and dashes.
LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+"
                  r"(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s+(?P<rest>.*)$")
# function_graph: "[marker] 1.234 us   |   name() {" / "name();" / "}"
GRAPH = re.compile(r"^(?:[-+!#*@$]?\s*(?P<dur>\d+\.\d+) us\s*)?\|\s*"
                   r"(?P<what>.*?)\s*$")
SUFFIX = re.compile(r"\.(?:isra|constprop|part|cold|llvm)\.\d+")

ROOT_WORK = "khttpd_conn_io_work"


def clean(name):
    return SUFFIX.sub("", name)


def ms(us):
    return us / 1000.0


def table(rows, header, fmt):
    print(header)
    for r in rows:
        print(fmt % r)


# ---------------------------------------------------------------- events

REQ = re.compile(r"conn=(?P<conn>\S+) (?:client=(?P<client>\S+) )?(?P<method>\S+) (?P<path>\S*) -> "
                 r"(?P<status>-?\d+) body=(?P<body>\d+) from=(?P<src>\w+)")
CLOSE = re.compile(r"conn=\S+ requests=(?P<n>\d+)")


def events(lines):
    count = collections.Counter()
    status = collections.Counter()
    source = collections.Counter()
    method = collections.Counter()
    path = collections.Counter()
    by_status_src = collections.Counter()
    body = 0
    per_conn = []
    first = last = None
    for line in lines:
        m = LINE.match(line)
        if not m or not m.group("event").startswith("khttpd_"):
            continue
        ts = float(m.group("ts"))
        first = ts if first is None else first
        last = ts
        ev = m.group("event")
        count[ev] += 1
        if ev == "khttpd_request":
            r = REQ.search(m.group("rest"))
            if not r:
                continue
            status[r.group("status")] += 1
            source[r.group("src")] += 1
            method[r.group("method")] += 1
            path[r.group("path")] += 1
            by_status_src[(r.group("status"), r.group("src"))] += 1
            body += int(r.group("body"))
        elif ev == "khttpd_conn_close":
            r = CLOSE.search(m.group("rest"))
            if r:
                per_conn.append(int(r.group("n")))

    print("== tracepoints (events.dat: events pass, no function tracer)")
    if not count:
        print("no khttpd events in the trace")
        return
    span = (last - first) if first is not None else 0
    for ev in ("khttpd_conn_open", "khttpd_conn_close", "khttpd_request"):
        print("  %-20s %8d" % (ev, count[ev]))
    nreq = count["khttpd_request"]
    print("  %d requests in %.1f s of trace (%.0f/s overall, including gaps "
          "between the runs); %.1f MiB of bodies" % (
              nreq, span, nreq / span if span else 0, body / 1048576.0))
    print()
    print("  requests by status and body source (splice = do_splice_direct "
          "from the page cache, cache = the response cache, none = no body)")
    print("    %-6s %-8s %8s %7s" % ("status", "source", "requests", "share"))
    for (st, src), n in sorted(by_status_src.items(),
                               key=lambda kv: (-kv[1], kv[0])):
        print("    %-6s %-8s %8d %6.2f%%" % (st, src, n, 100.0 * n / nreq))
    print("  by method: " + ", ".join("%s %d" % kv for kv in method.most_common()))
    print("  top paths: " + ", ".join("%s %d" % kv for kv in path.most_common(6)))
    if per_conn:
        buckets = collections.Counter()
        for n in per_conn:
            b = ("0" if n == 0 else "1" if n == 1 else "2-10" if n <= 10 else
                 "11-100" if n <= 100 else "101-1000" if n <= 1000 else ">1000")
            buckets[b] += 1
        order = ["0", "1", "2-10", "11-100", "101-1000", ">1000"]
        print("  connections closed: %d, requests per connection: mean %.1f, "
              "max %d; %s" % (len(per_conn), sum(per_conn) / len(per_conn),
                              max(per_conn), ", ".join(
                                  "%s: %d" % (b, buckets[b]) for b in order
                                  if buckets[b])))


# ---------------------------------------------------------------- graph

class Frame:
    __slots__ = ("name", "child", "path", "requests", "off")

    def __init__(self, name, path):
        self.name = name
        self.child = 0.0      # on-CPU time of traced callees
        self.path = path
        self.requests = 0     # khttpd_request events inside (roots only)
        self.off = 0.0        # time switched out while this frame was open


class Seg:
    """Statistics of one stretch of the trace (one file's load)."""

    def __init__(self):
        self.calls = collections.Counter()
        self.total = collections.Counter()   # outermost instance only
        self.self_t = collections.Counter()
        self.tree = collections.defaultdict(lambda: [0, 0.0])  # path -> n, us
        self.roots = collections.defaultdict(lambda: [0, 0.0, 0.0])  # n, us, off
        self.per_run = collections.Counter()
        self.nreq = 0
        self.off_where = collections.Counter()   # leaf at switch-out -> us
        self.off_state = collections.Counter()   # prev_state -> switches


SWITCH = re.compile(r"(?:prev_state=|\] )(?P<state>[A-Z+|]+)?\s*==> "
                    r"(?:next_comm=)?.*?(?::|next_pid=)(?P<next>\d+)"
                    r"(?: \[| next_prio)")


def graph(lines, top):
    segs = collections.OrderedDict()
    seg_key = "(before the first request)"
    stacks = collections.defaultdict(list)   # pid -> [Frame]
    out = {}                                 # pid -> (ts, leaf, seg)
    orphans = lost = 0

    def seg():
        if seg_key not in segs:
            segs[seg_key] = Seg()
        return segs[seg_key]

    def done(g, st, f, dur):
        """Frame f (already popped from st) took dur us of CPU."""
        g.calls[f.name] += 1
        if all(p.name != f.name for p in st):
            g.total[f.name] += dur
        g.self_t[f.name] += max(0.0, dur - f.child)
        t = g.tree[f.path]
        t[0] += 1
        t[1] += dur
        if st:
            st[-1].child += dur
        else:
            r = g.roots[f.name]
            r[0] += 1
            r[1] += dur
            r[2] += f.off
            if f.name == ROOT_WORK:
                g.per_run[min(f.requests, 4)] += 1

    for line in lines:
        if "LOST" in line and "EVENTS" in line:
            lost += 1
            continue
        m = LINE.match(line)
        if not m:
            continue
        ev = m.group("event")
        pid = m.group("pid")
        st = stacks[pid]
        if ev == "khttpd_request":
            r = REQ.search(m.group("rest"))
            seg_key = r.group("path") if r else "?"
            seg().nreq += 1
            if st:
                st[0].requests += 1
            continue
        if ev == "sched_switch":
            ts = float(m.group("ts")) * 1e6
            sw = SWITCH.search(m.group("rest"))
            if st:
                out[pid] = (ts, st[-1].name)
                seg().off_state[(sw.group("state") or "?") if sw else "?"] += 1
            if sw and sw.group("next") in out:
                nxt = sw.group("next")
                t0, leaf = out.pop(nxt)
                off = ts - t0
                for f in stacks[nxt]:
                    f.off += off
                seg().off_where[leaf] += off
            continue
        if ev not in ("funcgraph_entry", "funcgraph_exit"):
            continue
        gm = GRAPH.match(m.group("rest"))
        if not gm:
            continue
        what = gm.group("what")
        dur = float(gm.group("dur")) if gm.group("dur") else None
        if ev == "funcgraph_entry" and what.endswith("{"):
            name = clean(what[:-1].strip().rstrip("()"))
            st.append(Frame(name, (st[-1].path if st else ()) + (name,)))
        elif ev == "funcgraph_entry" and what.endswith(";") and dur is not None:
            name = clean(what[:-1].strip().rstrip("()"))
            done(seg(), st, Frame(name, (st[-1].path if st else ()) + (name,)),
                 dur)
        elif ev == "funcgraph_exit" and dur is not None:
            if not st:
                orphans += 1     # its entry predates the trace
                continue
            f = st.pop()
            done(seg(), st, f, max(0.0, dur - f.off))

    print("== function_graph (trace.dat): where the time goes")
    if not any(g.calls for g in segs.values()):
        print("no function_graph records in the trace")
        return
    print("""\
  Times are on-CPU time (function_graph's duration minus the time the task
  was switched out inside the call, from sched_switch) and include the
  tracer's own overhead, a few us per traced call under TCG: compare shares
  and counts, not absolute times. 'self' is a function's time minus that of
  its traced callees; 'total' counts only the outermost call of a recursive
  function. The trace is split by the file being requested (the path of the
  latest khttpd_request event).""")

    # Everything together, for the per-function table.
    allg = Seg()
    for g in segs.values():
        allg.nreq += g.nreq
        for k in ("calls", "total", "self_t", "off_where", "off_state",
                  "per_run"):
            getattr(allg, k).update(getattr(g, k))
        for k, v in g.roots.items():
            r = allg.roots[k]
            for i in range(3):
                r[i] += v[i]

    for key, g in segs.items():
        work = g.roots.get(ROOT_WORK)
        if not work or not g.nreq:
            continue
        print()
        print("  --- %s: %d requests" % (key, g.nreq))
        for name, (n, us, off) in sorted(g.roots.items(),
                                         key=lambda kv: -kv[1][1]):
            print("    %-28s %7d calls %9.1f ms on CPU, %8.2f us/call, "
                  "%7.2f us/request%s" % (
                      name, n, ms(us), us / n, us / g.nreq,
                      ", %.1f ms switched out" % ms(off) if off >= 1 else ""))
        runs = sum(g.per_run.values())
        print("    %s runs per request: %.2f; requests per run: %s" % (
            ROOT_WORK, runs / g.nreq, ", ".join(
                "%s%s: %.0f%%" % (k, "+" if k == 4 else "",
                                  100.0 * g.per_run[k] / runs)
                for k in sorted(g.per_run))))
        rows = []
        child_sum = 0.0
        for path, (n, us) in g.tree.items():
            if len(path) == 2 and path[0] == ROOT_WORK:
                rows.append((path[1], n, us))
                child_sum += us
        rows.append(("(%s itself)" % ROOT_WORK, work[0],
                     max(0.0, work[1] - child_sum)))
        print("    phases (direct callees of %s):" % ROOT_WORK)
        print("      %-32s %8s %7s %11s" % ("", "calls", "share", "us/request"))
        for name, n, us in sorted(rows, key=lambda r: -r[2]):
            if us >= 0.001 * work[1]:
                print("      %-32s %8d %6.1f%% %11.2f" % (
                    name, n, 100.0 * us / work[1], us / g.nreq))
        print("    call tree (>= 2%% of %s; share, calls, avg us):" % ROOT_WORK)

        def walk(path, depth, g=g, work=work):
            kids = [(p, v) for p, v in g.tree.items()
                    if len(p) == len(path) + 1 and p[:len(path)] == path]
            for p, (n, us) in sorted(kids, key=lambda kv: -kv[1][1]):
                if us >= 0.02 * work[1]:
                    print("      %5.1f%% %7d x %8.2f  %s%s" % (
                        100.0 * us / work[1], n, us / n, "  " * depth, p[-1]))
                    walk(p, depth + 1)
        walk((ROOT_WORK,), 0)

    print()
    print("  --- all files: per function, by total on-CPU time (top %d)" % top)
    print("    %-30s %8s %10s %9s %10s %7s" % (
        "function", "calls", "total ms", "avg us", "self ms", "self%"))
    all_self = sum(allg.self_t.values())
    for name, us in allg.total.most_common(top):
        print("    %-30s %8d %10.1f %9.2f %10.1f %6.1f%%" % (
            name, allg.calls[name], ms(us), us / allg.calls[name],
            ms(allg.self_t[name]),
            100.0 * allg.self_t[name] / all_self if all_self else 0))
    off = sum(allg.off_where.values())
    if off:
        print()
        print("  switched out inside traced functions: %.1f ms in %d switches "
              "(prev_state %s); where:" % (
                  ms(off), sum(allg.off_state.values()), ", ".join(
                      "%s %d" % kv for kv in allg.off_state.most_common())))
        for name, us in allg.off_where.most_common(6):
            print("    %6.1f%%  %s" % (100.0 * us / off, name))
    if orphans or lost:
        print()
        print("  (%d exits without their entry at the trace start; %d "
              "'LOST EVENTS' markers: raise -b or shorten the load)" % (
                  orphans, lost))


# ---------------------------------------------------------------- perf

PCT = re.compile(r"^\s*(\d+\.\d+)%\s+(.*)$")
PCT2 = re.compile(r"^\s*(\d+\.\d+)%\s+(\d+\.\d+)%\s+(.*)$")


def read(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def comm_class(comm):
    if comm.startswith("swapper"):
        return "idle (swapper)"
    # A kworker the workqueue starts during the recording keeps its
    # parent's name in perf's samples: kthreadd itself only forks.
    if comm.startswith(("kworker", "khttpd")) or comm == "kthreadd":
        return "server: kworkers + khttpd threads"
    if comm.startswith("nginx"):
        return "server: nginx"
    if comm.startswith("twin"):
        return "server: twin"
    if comm.startswith("wrk"):
        return "client: wrk"
    if comm.startswith("htstress"):
        return "client: htstress"
    if comm.startswith("ksoftirqd"):
        return "ksoftirqd"
    if comm.startswith("perf"):
        return "perf itself"
    return "other"


# Children entries worth a line: the module, sockets/TCP, VFS, memory,
# scheduling and workqueue.
INTERESTING = re.compile(
    r"khttpd|tcp_|sock_|sendmsg|recvmsg|sendpage|splice|_skb|net_rx|"
    r"__dev_queue|ip_|loopback|softirq|vfs_|path|lookup|getname|filp_|"
    r"do_dentry|getattr|memset|memcpy|clear_page|copy_|alloc|kmem_cache|"
    r"kfree|worker_thread|process_one_work|queue_work|__queue_work|"
    r"schedule|finish_task_switch|try_to_wake_up|wake_up|epoll|ep_poll|"
    r"do_sendfile|__x64_sys|entry_SYSCALL")

# The module's own functions, by name: its C is khttpd_* and kengine_*, and
# the C++ core's are those names or, in unnamed namespaces, mangled (_Z).
OWN = re.compile(r"khttpd_|kengine_|_Z")


def perf(d, top):
    print("== perf: cpu-clock samples, all CPUs (%s)" % d)
    for line in read(os.path.join(d, "guest.txt")):
        print("  " + line)
    for line in read(os.path.join(d, "client.txt")):
        if line.startswith("$") or re.search(
                r"Requests/sec|requests/sec|Latency |latency p|errors|"
                r"Non-2xx|requests in|requests:", line):
            print("  " + line.strip())
    print()
    classes = collections.Counter()
    comms = []
    for line in read(os.path.join(d, "comm.txt")):
        m = PCT.match(line)
        if m:
            pct, comm = float(m.group(1)), m.group(2).strip()
            classes[comm_class(comm)] += pct
            comms.append((pct, comm))
    print("  CPU time by command class (all CPUs = 100%):")
    for c, pct in classes.most_common():
        print("    %6.2f%%  %s" % (pct, c))
    print("  by command: " + ", ".join("%s %.1f%%" % (c, p)
                                       for p, c in comms[:8]))
    print()
    print("  all commands: top symbols by self time (--no-children):")
    n = 0
    for line in read(os.path.join(d, "self.txt")):
        m = PCT.match(line)
        if m:
            print("    " + line.strip())
            n += 1
            if n >= top:
                break
    print()
    print("  all commands: khttpd / net / VFS / memory / scheduling entries "
          "by children time (callees included):")
    print("    %8s %8s  %s" % ("children", "self", "symbol"))
    n = 0
    for line in read(os.path.join(d, "children.txt")):
        m = PCT2.match(line)
        if m and INTERESTING.search(m.group(3)):
            print("    %7s%% %7s%%  %s" % (m.group(1), m.group(2),
                                          m.group(3).strip()))
            n += 1
            if n >= 2 * top:
                break
    server = sum(p for c, p in classes.items() if c.startswith("server"))
    if server > 0:
        print()
        print("  server side only (%s = %.1f%% of all CPU): top symbols by "
              "self time" % (" + ".join(c for c in classes
                                        if c.startswith("server")), server))
        print("    %8s %9s  %s" % ("% all", "% server", "symbol"))
        agg = collections.Counter()
        for line in read(os.path.join(d, "self-comm.txt")):
            m = PCT.match(line)
            if m:
                parts = m.group(2).split(None, 1)
                if len(parts) == 2 and comm_class(parts[0]).startswith("server"):
                    agg[parts[1].strip()] += float(m.group(1))
        for sym, pct in agg.most_common(top):
            print("    %7.2f%% %8.1f%%  %s" % (pct, 100.0 * pct / server, sym))
        own = sum(pct for sym, pct in agg.items()
                  if OWN.match(sym.split()[-1]))
        if own:
            print("  the module's own code (khttpd_*, kengine_*, the C++ "
                  "core): %.2f%% of all, %.1f%% of the server side; the rest "
                  "is the kernel's (TCP/IP, sockets, slab, scheduler)"
                  % (own, 100.0 * own / server))
        print("  server side only: khttpd / net / VFS / memory / scheduling "
              "entries by children time")
        print("    %8s %9s  %s" % ("% all", "% server", "symbol"))
        agg = collections.Counter()
        for line in read(os.path.join(d, "children-comm.txt")):
            m = PCT2.match(line)
            if m:
                parts = m.group(3).split(None, 1)
                if len(parts) == 2 and comm_class(parts[0]).startswith("server"):
                    agg[parts[1].strip()] += float(m.group(1))
        n = 0
        for sym, pct in agg.most_common():
            if INTERESTING.search(sym):
                print("    %7.2f%% %8.1f%%  %s" % (pct, 100.0 * pct / server,
                                                  sym))
                n += 1
                if n >= top:
                    break
    callers = read(os.path.join(d, "callers.txt"))
    if callers:
        print()
        print("  how the hottest kernel symbols are reached (the symbol, then "
              "its callers; all commands; full text in callers.txt):")
        shown = 0
        for line in callers:
            if PCT.match(line):
                shown = 0
            if shown < 18 and line.strip():
                print("    " + line.rstrip())
                shown += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=("events", "graph", "perf"))
    ap.add_argument("dir", nargs="?", help="perf: the results directory")
    ap.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    if a.mode == "events":
        events(sys.stdin)
    elif a.mode == "graph":
        graph(sys.stdin, a.top)
    else:
        if not a.dir:
            ap.error("perf needs the results directory")
        perf(a.dir, a.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
