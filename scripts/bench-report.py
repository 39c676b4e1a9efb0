#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# The reporting half of `make bench`, run on the host by scripts/bench.sh:
#     scripts/bench-report.py RESULTS.json OUTDIR
# Reads the guest's results.json and writes OUTDIR/results.md (environment,
# command, servers and workloads, tables of median requests/s with ratios,
# p50/p99 latencies, memory per idle connection, targets, problems), the
# charts' data (OUTDIR/bench*.dat) and OUTDIR/bench.plots, a line per chart
# for scripts/plot-bench.gp (tab-separated: png, data file, panel titles,
# servers, y label, log scale 0/1, title), and prints the tables. Ratios
# are khttpd against the best userspace peer of each row (nginx, lighttpd,
# h2o; the twin, the same core in userspace, is not a peer but has its own
# column). The targets are read from the numbers and reported as PASS or
# SHORT; they do not change the exit status (0, or 2 for bad input).
# Standard library only; /usr/bin/python3.

import json
import math
import os
import sys

SIZE_LABEL = {"0": "0 B", "1k": "1 KiB", "16k": "16 KiB", "256k": "256 KiB",
              "1m": "1 MiB", "index": "/ (1 KiB index.html)"}
SMALL = ("0", "1k", "16k")
KEEPALIVE = ("wrk-ka-c32", "hs-ka-c8", "hs-ka-c64")
CLOSE = ("hs-close-c64",)
ORDER = ("khttpd", "twin", "nginx", "lighttpd", "h2o")
PEERS = ("nginx", "lighttpd", "h2o")


def fmt_rps(v):
    return "-" if v is None else "%.0f" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else "%.2f" % r


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "%.0f" % v


def geomean(xs):
    xs = [x for x in xs if x]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def best_peer(m, peers):
    """(name, requests/s) of the fastest peer in a medians cell."""
    vals = [(p, m.get(p, {}).get("rps")) for p in peers]
    vals = [(p, v) for p, v in vals if v]
    return max(vals, key=lambda pv: pv[1]) if vals else (None, None)


def targets(res, peers):
    """[(description, baseline, threshold, geomean ratio, min ratio, min
    cell, cells)], against nginx and against the best peer of each cell."""
    med = res["medians"]
    out = []
    defs = [
        ("small files (%s), keep-alive (%s): khttpd >= 2x %%s"
         % (", ".join(SIZE_LABEL[s] for s in SMALL), ", ".join(KEEPALIVE)),
         2.0, KEEPALIVE, SMALL),
        ("small files (%s), one connection per request (%s): khttpd >= 1.5x "
         "%%s" % (", ".join(SIZE_LABEL[s] for s in SMALL), ", ".join(CLOSE)),
         1.5, CLOSE, SMALL),
        ("1 MiB, every workload: khttpd >= 1x %s (not slower)", 1.0,
         tuple(med), ("1m",)),
    ]
    baselines = []
    if "nginx" in peers:
        baselines.append(("nginx", ("nginx",)))
    if len(peers) > 1:
        baselines.append(("the best peer of each cell", peers))
    for base, group in baselines:
        for desc, thr, wls, sizes in defs:
            cells = []
            for w in wls:
                for s in sizes:
                    m = med.get(w, {}).get(s, {})
                    r = ratio(m.get("khttpd", {}).get("rps"),
                              best_peer(m, group)[1])
                    if r is not None:
                        cells.append(("%s/%s" % (w, SIZE_LABEL[s]), r))
            g = geomean([r for _, r in cells])
            worst = min(cells, key=lambda c: c[1]) if cells else (None, None)
            out.append((desc % base, thr, g, worst[1], worst[0], len(cells)))
    return out


def rps_table(L, cfg, med, servers, peers, rows):
    head = ["workload", "file"] + servers
    if peers:
        head += ["best peer", "khttpd/best peer"]
    if "twin" in servers:
        head.append("khttpd/twin")
    head.append("valid runs (%s)" % ", ".join(servers))
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    for w, s in rows:
        m = med.get(w, {}).get(s, {})
        row = [w, SIZE_LABEL[s]]
        row += [fmt_rps(m.get(sv, {}).get("rps")) for sv in servers]
        k = m.get("khttpd", {}).get("rps")
        if peers:
            name, v = best_peer(m, peers)
            row += [name or "-", fmt_ratio(ratio(k, v))]
        if "twin" in servers:
            row.append(fmt_ratio(ratio(k, m.get("twin", {}).get("rps"))))
        row.append(", ".join("%d/%d" % (m.get(sv, {}).get("valid", 0),
                                       m.get(sv, {}).get("runs", 0))
                            for sv in servers))
        L.append("| " + " | ".join(row) + " |")
    L.append("")


def main():
    if len(sys.argv) != 3:
        print("usage: bench-report.py RESULTS.json OUTDIR", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        res = json.load(f)
    outdir = sys.argv[2]
    cfg, env, med = res["config"], res["environment"], res["medians"]
    servers = [s for s in ORDER
               if s in res["servers"] and "skipped" not in res["servers"][s]
               and "error" not in res["servers"][s]]
    peers = tuple(s for s in PEERS if s in servers)
    wls = cfg["workloads"]
    sweep = [(w, s) for w, d in wls.items() if d.get("group", "sweep") == "sweep"
             for s in d.get("sizes", cfg["sizes"])]
    onek = [(w, s) for w, d in wls.items() if d.get("group") == "1k"
            for s in d["sizes"]]
    L = []
    L.append("# khttpd benchmark%s" % (" (smoke)" if res.get("smoke") else ""))
    L.append("")
    L.append("Requests per second, median of %d interleaved repetitions, every "
             "server serving the same files from tmpfs in one QEMU guest: "
             "the size sweep runs %d s per run; the 1 KiB set sends the fixed "
             "request counts shown with each command. Absolute numbers under "
             "TCG mean little; the ratios are what to read (docs/design.md, "
             "\"Measuring\"). khttpd is compared with the best userspace peer "
             "of each row (the fastest of %s); the twin, the same C++ core "
             "in userspace, is not counted as a peer: khttpd/twin is what "
             "being in the kernel changes."
             % (cfg["reps"], cfg["duration_s"],
                ", ".join(peers) if peers else "nginx, lighttpd and h2o"))
    L.append("")
    L.append("## Environment")
    L.append("")
    mem = env.get("guest_mem_total_kb")
    rows = [
        ("command", "`%s`" % env.get("command") if env.get("command") else "-"),
        ("date (UTC)", env.get("date_utc")),
        ("git", env.get("git")),
        ("guest kernel (`uname -r`)", env.get("guest_kernel")),
        ("guest CPUs (`nproc`)", env.get("guest_nproc")),
        ("guest memory (MemTotal)", "%d MiB" % (mem // 1024) if mem else None),
        ("guest CPU model", env.get("guest_cpu_model")),
        ("virtualisation", env.get("accelerator")),
        ("host CPU model", env.get("host_cpu_model")),
        ("host CPUs", env.get("host_nproc")),
        ("host kernel", env.get("host_kernel")),
        ("nginx", env.get("nginx")),
        ("lighttpd", env.get("lighttpd")),
        ("h2o", env.get("h2o")),
        ("wrk", env.get("wrk")),
        ("ab", env.get("ab")),
        ("httperf", env.get("httperf")),
    ]
    L.append("| | |")
    L.append("|---|---|")
    for k, v in rows:
        L.append("| %s | %s |" % (k, "-" if v is None else v))
    L.append("")
    L.append("## Servers and workloads")
    L.append("")
    conf = {"nginx": "scripts/nginx-bench.conf",
            "lighttpd": "scripts/lighttpd-bench.conf",
            "h2o": "scripts/h2o-bench.conf", "twin": "build/twin",
            "khttpd": "khttpd.ko"}
    for s, info in res["servers"].items():
        if "skipped" in info:
            L.append("- **%s**: skipped (%s)" % (s, info["skipped"]))
        elif "error" in info:
            L.append("- **%s**: FAILED (%s)" % (s, info["error"]))
        else:
            L.append("- **%s**: port %d (%s)" % (s, info["port"],
                                                 conf.get(s, "-")))
    L.append("")
    for title, group in (("Size sweep (every size, %d s per run)"
                          % cfg["duration_s"], "sweep"),
                         ("1 KiB set (fixed request counts%s)" % (
                             ", scaled by %g" % cfg["count_scale"]
                             if cfg.get("count_scale", 1) != 1 else ""), "1k")):
        ws = [(w, d) for w, d in wls.items() if d.get("group", "sweep") == group]
        if not ws:
            continue
        L.append("%s:" % title)
        L.append("")
        for w, d in ws:
            L.append("- `%s`: %s: `%s`" % (w, d["description"], " ".join(
                os.path.basename(a) if a.endswith("/htstress") else a
                for a in d["argv"])))
        L.append("")
    if any(w.startswith("course-") for w in wls):
        L.append("The course's two commands are `htstress -n 100000 -c 1 -t 4 "
                 "http://127.0.0.1:PORT/` and `ab -n 10000 -c 500 -k "
                 "http://127.0.0.1:PORT/`; they ran with the counts shown "
                 "above (the full counts take minutes per run under TCG), "
                 "htstress with `--json` added so that its results can be "
                 "read.")
        L.append("")

    L.append("## Requests per second (median)")
    L.append("")
    if sweep:
        L.append("### Size sweep")
        L.append("")
        rps_table(L, cfg, med, servers, peers, sweep)
    if onek:
        L.append("### 1 KiB set")
        L.append("")
        rps_table(L, cfg, med, servers, peers, onek)

    # Latency: the 1 KiB rows (and /) of every tool that gives percentiles.
    lat_rows = [(w, s) for w, s in sweep + onek if s in ("1k", "index")
                and any("latency_ms" in med.get(w, {}).get(s, {}).get(sv, {})
                        for sv in servers)]
    if lat_rows:
        L.append("## Latency under load (ms, p50 / p99, median)")
        L.append("")
        L.append("The 1 KiB rows of the workloads whose tool reports "
                 "percentiles (wrk --latency, htstress, ab; httperf gives only "
                 "means, in results.json). Each percentile is the median of "
                 "its value over the valid repetitions. ab counts whole "
                 "milliseconds and includes connecting; wrk and htstress "
                 "measure each request on its connection.")
        L.append("")
        head = ["workload", "file"] + servers
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "|".join(["---"] * 2 + ["---:"] * len(servers)) + "|")
        for w, s in lat_rows:
            m = med.get(w, {}).get(s, {})
            row = [w, SIZE_LABEL[s]]
            for sv in servers:
                lat = m.get(sv, {}).get("latency_ms") or {}
                row.append("%s / %s" % (fmt_ms(lat.get("p50")),
                                        fmt_ms(lat.get("p99")))
                           if lat else "-")
            L.append("| " + " | ".join(row) + " |")
        L.append("")

    memres = res.get("memory") or {}
    if memres:
        n = cfg.get("memory_conns")
        L.append("## Memory per idle keep-alive connection")
        L.append("")
        L.append("%s connections opened to each server in turn, on fresh "
                 "servers before any load; each sent one GET /f1k, read the "
                 "whole response and stayed open, idle. KB (1024 bytes) per "
                 "connection = the drop of MemAvailable (/proc/meminfo, "
                 "median of 3 readings, before and 3 s after the last "
                 "connection was set up) divided by the connections. Both "
                 "sockets of each connection are counted (client and server "
                 "share the guest), and so is the Python client's own growth, "
                 "which the next column takes off. The server's RSS growth "
                 "(userspace servers) and the kernel's Slab growth show roughly "
                 "where it goes (MemAvailable counts part of the reclaimable "
                 "slab as available, so they need not add up). One "
                 "measurement per server; "
                 "nginx allocates its connection slots (worker_connections) "
                 "at start, so they do not show here." % (
                     "{:,}".format(n) if n else "The"))
        L.append("")
        head = ["server", "connections", "KB/conn", "KB/conn without the "
                "client", "server RSS KB/conn", "Slab KB/conn",
                "opened in (s)"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|---|" + "|".join(["---:"] * (len(head) - 1)) + "|")

        def f2(v):
            return "-" if v is None else "%.2f" % v
        for sv in ORDER:
            r = memres.get(sv)
            if not r:
                continue
            if not r.get("valid"):
                L.append("| %s | %d | INVALID: %s | | | | |" % (
                    sv, r.get("connections", 0), "; ".join(r["problems"])))
                continue
            L.append("| %s | %d | %s | %s | %s | %s | %.1f |" % (
                sv, r["connections"], f2(r.get("kb_per_conn")),
                f2(r.get("kb_per_conn_without_client")),
                f2(r.get("server_rss_kb_per_conn")),
                f2(r.get("slab_kb_per_conn")), r["open_s"]))
        k = (memres.get("khttpd") or {}).get("kb_per_conn_without_client")
        pm = [(p, (memres.get(p) or {}).get("kb_per_conn_without_client"))
              for p in peers]
        pm = [(p, v) for p, v in pm if v]
        if k and pm:
            p, v = min(pm, key=lambda pv: pv[1])
            L.append("")
            L.append("khttpd/%s (the leanest peer), without the client: %s "
                     "(below 1: khttpd uses less memory per connection)."
                     % (p, fmt_ratio(ratio(k, v))))
        L.append("")

    if "khttpd" in servers and peers and sweep:
        L.append("## Targets")
        L.append("")
        L.append("Read from the size sweep's medians above, not asserted; the "
                 "ratio is the geometric mean over the cells named, with the "
                 "worst cell beside it; against nginx (the targets' original "
                 "baseline) and against the best peer of each cell.")
        L.append("")
        for desc, thr, g, worst, cell, n in targets(res, peers):
            verdict = "-" if g is None else ("PASS" if g >= thr else "SHORT")
            L.append("- **%s** %s: %s (worst %s: %s; %d cells)" % (
                verdict, desc, fmt_ratio(g), cell or "-", fmt_ratio(worst), n))
        L.append("")
    L.append("## Problems")
    L.append("")
    if res.get("problems"):
        for p in res["problems"]:
            L.append("- %s" % p)
    else:
        L.append("None: every run completed with no errors and only 2xx "
                 "responses.")
    L.append("")
    cts = res.get("content_types") or {}
    if cts:
        L.append("## Content-Type per file")
        L.append("")
        L.append("Checked before measuring: a file whose servers disagree "
                 "fails the run.")
        L.append("")
        L.append("| file | " + " | ".join(servers) + " |")
        L.append("|---|" + "|".join(["---"] * len(servers)) + "|")
        for path, by in cts.items():
            L.append("| `%s` | %s |" % (path, " | ".join(
                by.get(sv) or "-" for sv in servers)))
        L.append("")
    L.append("## Response heads (GET of the first file)")
    L.append("")
    for s, info in res["servers"].items():
        h = info.get("response_head")
        if not h:
            continue
        L.append("%s:" % s)
        L.append("")
        L.append("```")
        L.append(("HTTP/1.1 %d %s" % (h["status"], h.get("reason", ""))).rstrip())
        for k, v in h["headers"]:
            L.append("%s: %s" % (k, v))
        L.append("```")
        L.append("")
    charts = ["bench.png (size sweep)"]
    if onek:
        charts.append("bench-1k.png (1 KiB set)")
    if memres:
        charts.append("bench-memory.png (memory per idle connection)")
    L.append("All runs (every repetition, with latencies and error counts) "
             "are in results.json; the charts are %s." % ", ".join(charts))
    md = "\n".join(L) + "\n"
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md)

    # Chart data: a block per panel (gnuplot index), a row per x label, a
    # column per server in ORDER (NaN when absent).
    def block(f, title, rows):
        f.write("# %s\n" % title)
        for label, m in rows:
            vals = []
            for sv in ORDER:
                v = m.get(sv)
                vals.append("NaN" if not v else "%.2f" % v)
            f.write('"%s" %s\n' % (label, " ".join(vals)))

    plots = []
    sweep_w = [w for w, d in wls.items() if d.get("group", "sweep") == "sweep"]
    if sweep_w:
        with open(os.path.join(outdir, "bench.dat"), "w") as f:
            f.write("# label %s (median requests/s)\n" % " ".join(ORDER))
            for i, w in enumerate(sweep_w):
                if i:
                    f.write("\n\n")
                block(f, "%s: %s" % (w, wls[w]["description"]), [
                    (SIZE_LABEL[s], {sv: med.get(w, {}).get(s, {}).get(sv, {})
                                     .get("rps") for sv in ORDER})
                    for s in wls[w].get("sizes", cfg["sizes"])])
        plots.append(("bench.png", "bench.dat",
                      " ".join('"%s: %s"' % (w, wls[w]["description"])
                               for w in sweep_w),
                      "requests/s (median)", 1,
                      "size sweep: requests/s by file size"))
    if onek:
        with open(os.path.join(outdir, "bench-1k.dat"), "w") as f:
            f.write("# label %s (median requests/s)\n" % " ".join(ORDER))
            block(f, "1 KiB set", [
                (w if s != "index" else w + " (/)",
                 {sv: med.get(w, {}).get(s, {}).get(sv, {}).get("rps")
                  for sv in ORDER}) for w, s in onek])
        plots.append(("bench-1k.png", "bench-1k.dat",
                      '"1 KiB set: ab, httperf, wrk -t1 and the course commands '
                      '(on /)"', "requests/s (median)", 1,
                      "1 KiB set: requests/s by workload"))
    if memres:
        with open(os.path.join(outdir, "bench-memory.dat"), "w") as f:
            f.write("# label %s (KB per idle connection)\n" % " ".join(ORDER))
            block(f, "memory", [
                (label, {sv: (memres.get(sv) or {}).get(key) for sv in ORDER})
                for label, key in (
                    ("MemAvailable drop (client included)", "kb_per_conn"),
                    ("Slab growth (kernel objects)", "slab_kb_per_conn"),
                    ("server RSS growth (userspace)",
                     "server_rss_kb_per_conn"))])
        plots.append(("bench-memory.png", "bench-memory.dat",
                      '"%s idle keep-alive connections: MemAvailable drop per '
                      'connection"' % ("{:,}".format(cfg.get("memory_conns"))),
                      "KB per connection (lower is better)", 0,
                      "memory per idle keep-alive connection"))
    vs = "%s vs %s" % (servers[0], ", ".join(servers[1:])) if servers else ""
    # A server without a valid memory measurement gets no empty slot there.
    mem_servers = [sv for sv in servers if (memres.get(sv) or {}).get("valid")]
    with open(os.path.join(outdir, "bench.plots"), "w") as f:
        for png, dat, titles, ylabel, logy, title in plots:
            svs = mem_servers if png == "bench-memory.png" else servers
            f.write("\t".join([png, dat, titles, " ".join(svs), ylabel,
                               str(logy), "%s: %s" % (vs, title)]) + "\n")

    # The tables and the targets on the terminal.
    start = L.index("## Requests per second (median)")
    end = L.index("## Problems")
    print("\n".join(L[start:end]))
    if res.get("problems"):
        print("Problems:")
        for p in res["problems"]:
            print("  - " + p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
