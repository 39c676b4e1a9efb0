#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# The reporting half of `make bench`, run on the host by scripts/bench.sh:
#     scripts/bench-report.py RESULTS.json OUTDIR
# Reads the guest's results.json and writes OUTDIR/results.md (environment,
# command, table of median requests/s with ratios, targets, problems) and
# OUTDIR/bench.dat (the chart's data for scripts/plot-bench.gp), and prints
# the table. The targets are read from the numbers and reported as PASS or
# SHORT; they do not change the exit status (0, or 2 for bad input).
# Standard library only; /usr/bin/python3.

import json
import math
import os
import sys

SIZE_LABEL = {"0": "0 B", "1k": "1 KiB", "16k": "16 KiB", "256k": "256 KiB",
              "1m": "1 MiB"}
SMALL = ("0", "1k", "16k")
KEEPALIVE = ("wrk-ka-c32", "hs-ka-c8", "hs-ka-c64")
CLOSE = ("hs-close-c64",)


def fmt_rps(v):
    return "-" if v is None else "%.0f" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else "%.2f" % r


def geomean(xs):
    xs = [x for x in xs if x]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def targets(res):
    """[(description, threshold, geomean ratio, min ratio, min cell, cells)]"""
    med = res["medians"]
    out = []
    defs = [
        ("small files (%s), keep-alive (%s): khttpd >= 2x nginx"
         % (", ".join(SIZE_LABEL[s] for s in SMALL), ", ".join(KEEPALIVE)),
         2.0, KEEPALIVE, SMALL),
        ("small files (%s), one connection per request (%s): khttpd >= 1.5x "
         "nginx" % (", ".join(SIZE_LABEL[s] for s in SMALL), ", ".join(CLOSE)),
         1.5, CLOSE, SMALL),
        ("1 MiB, every workload: khttpd >= 1x nginx (not slower)", 1.0,
         tuple(med), ("1m",)),
    ]
    for desc, thr, wls, sizes in defs:
        cells = []
        for w in wls:
            for s in sizes:
                m = med.get(w, {}).get(s, {})
                r = ratio(m.get("khttpd", {}).get("rps"),
                          m.get("nginx", {}).get("rps"))
                if r is not None:
                    cells.append(("%s/%s" % (w, SIZE_LABEL[s]), r))
        g = geomean([r for _, r in cells])
        worst = min(cells, key=lambda c: c[1]) if cells else (None, None)
        out.append((desc, thr, g, worst[1], worst[0], len(cells)))
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: bench-report.py RESULTS.json OUTDIR", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        res = json.load(f)
    outdir = sys.argv[2]
    cfg, env, med = res["config"], res["environment"], res["medians"]
    servers = [s for s in ("khttpd", "twin", "nginx")
               if s in res["servers"] and "skipped" not in res["servers"][s]
               and "error" not in res["servers"][s]]
    L = []
    L.append("# khttpd benchmark%s" % (" (smoke)" if res.get("smoke") else ""))
    L.append("")
    L.append("Requests per second, median of %d interleaved repetitions of "
             "%d s per run, every server serving the same files from tmpfs in "
             "one QEMU guest. Absolute numbers under TCG mean little; the "
             "ratios are what to read (docs/design.md, \"Measuring\")."
             % (cfg["reps"], cfg["duration_s"]))
    L.append("")
    L.append("## Environment")
    L.append("")
    rows = [
        ("command", "`%s`" % env.get("command") if env.get("command") else "-"),
        ("date (UTC)", env.get("date_utc")),
        ("git", env.get("git")),
        ("guest kernel (`uname -r`)", env.get("guest_kernel")),
        ("guest CPUs (`nproc`)", env.get("guest_nproc")),
        ("guest CPU model", env.get("guest_cpu_model")),
        ("virtualisation", env.get("accelerator")),
        ("host CPU model", env.get("host_cpu_model")),
        ("host CPUs", env.get("host_nproc")),
        ("host kernel", env.get("host_kernel")),
        ("nginx", env.get("nginx")),
        ("wrk", env.get("wrk")),
    ]
    L.append("| | |")
    L.append("|---|---|")
    for k, v in rows:
        L.append("| %s | %s |" % (k, "-" if v is None else v))
    L.append("")
    L.append("## Servers and workloads")
    L.append("")
    for s, info in res["servers"].items():
        if "skipped" in info:
            L.append("- **%s**: skipped (%s)" % (s, info["skipped"]))
        elif "error" in info:
            L.append("- **%s**: FAILED (%s)" % (s, info["error"]))
        else:
            L.append("- **%s**: port %d" % (s, info["port"]))
    L.append("")
    for w, d in cfg["workloads"].items():
        L.append("- `%s`: %s: `%s`" % (w, d["description"], " ".join(
            os.path.basename(a) if a.endswith("/htstress") else a
            for a in d["argv"])))
    L.append("")

    L.append("## Requests per second (median)")
    L.append("")
    head = ["workload", "size"] + servers
    if "nginx" in servers:
        head.append("khttpd/nginx")
    if "twin" in servers:
        head.append("khttpd/twin")
    head.append("valid runs (%s)" % ", ".join(servers))
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    for w in cfg["workloads"]:
        for s in cfg["sizes"]:
            m = med.get(w, {}).get(s, {})
            row = [w, SIZE_LABEL[s]]
            row += [fmt_rps(m.get(sv, {}).get("rps")) for sv in servers]
            k = m.get("khttpd", {}).get("rps")
            if "nginx" in servers:
                row.append(fmt_ratio(ratio(k, m.get("nginx", {}).get("rps"))))
            if "twin" in servers:
                row.append(fmt_ratio(ratio(k, m.get("twin", {}).get("rps"))))
            row.append(", ".join("%d/%d" % (m.get(sv, {}).get("valid", 0),
                                           m.get(sv, {}).get("runs", 0))
                                for sv in servers))
            L.append("| " + " | ".join(row) + " |")
    L.append("")
    if "nginx" in servers and "khttpd" in servers:
        L.append("## Targets")
        L.append("")
        L.append("Read from the medians above, not asserted; the ratio is the "
                 "geometric mean over the cells named, with the worst cell "
                 "beside it.")
        L.append("")
        for desc, thr, g, worst, cell, n in targets(res):
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
    L.append("All runs (every repetition, with latencies and error counts) "
             "are in results.json; the chart is bench.png.")
    md = "\n".join(L) + "\n"
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md)

    # Chart data: one block per workload (gnuplot index), a row per size,
    # a column per server in a fixed order (NaN when absent).
    with open(os.path.join(outdir, "bench.dat"), "w") as f:
        f.write("# size khttpd twin nginx (median requests/s)\n")
        for i, w in enumerate(cfg["workloads"]):
            if i:
                f.write("\n\n")
            f.write("# %s: %s\n" % (w, cfg["workloads"][w]["description"]))
            for s in cfg["sizes"]:
                m = med.get(w, {}).get(s, {})
                vals = []
                for sv in ("khttpd", "twin", "nginx"):
                    v = m.get(sv, {}).get("rps")
                    vals.append("NaN" if not v else "%.1f" % v)
                f.write('"%s" %s\n' % (SIZE_LABEL[s], " ".join(vals)))
    # Panel titles and the measured servers, for plot-bench.gp.
    with open(os.path.join(outdir, "bench.titles"), "w") as f:
        f.write(" ".join('"%s: %s"' % (w, d["description"])
                         for w, d in cfg["workloads"].items()) + "\n")
        f.write(" ".join(servers) + "\n")

    # The table and the targets on the terminal.
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
