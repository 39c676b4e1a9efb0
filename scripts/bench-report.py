#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# The reporting half of `make bench`, run on the host by scripts/bench.sh:
#     scripts/bench-report.py RESULTS.json OUTDIR
# Reads the guest's results.json and writes OUTDIR/results.md (environment,
# command, servers and workloads, tables of median requests/s with ratios,
# p50/p99 latencies, the bound each client's own CPU puts on any server,
# memory per idle connection, targets, problems), the
# charts' data (OUTDIR/bench*.dat) and OUTDIR/bench.plots, a line per chart
# for scripts/plot-bench.gp (tab-separated: png, data file, panel titles,
# servers, y label, log scale 0/1, title), and prints the tables. Ratios
# are khttpd against the best userspace peer of each row (nginx, lighttpd,
# h2o; the twin, the same core in userspace, is not a peer but has its own
# column); the HTTPS rows (the tls group) have khttpd against nginx and
# nginx-ktls each, MB/s for 1 MiB, and the /proc/net/tls_stat deltas that
# show kTLS carried khttpd's records. The targets are read from the numbers and reported as PASS or
# SHORT; they do not change the exit status (0, or 2 for bad input).
# Standard library only; /usr/bin/python3.

import json
import math
import os
import statistics
import sys

SIZE_LABEL = {"0": "0 B", "1k": "1 KiB", "16k": "16 KiB", "256k": "256 KiB",
              "1m": "1 MiB", "index": "/ (1 KiB index.html)"}
SMALL = ("0", "1k", "16k")
KEEPALIVE = ("wrk-ka-c32", "hs-ka-c8", "hs-ka-c64")
CLOSE = ("hs-close-c64",)
ORDER = ("khttpd", "twin", "nginx", "lighttpd", "h2o")
PEERS = ("nginx", "lighttpd", "h2o")
# The tls group's servers; the charts' data has nginx-ktls as a sixth
# column after ORDER's (scripts/plot-bench.gp).
TLS_ORDER = ("khttpd", "nginx", "nginx-ktls")
CHART_ORDER = ORDER + ("nginx-ktls",)


def fmt_rps(v):
    return "-" if v is None else "%.0f" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def slab_and_rss(r):
    """A valid memory measurement's Slab growth plus the server's RSS
    growth (none for the module), KB per connection; None without one."""
    if not r.get("valid") or r.get("slab_kb_per_conn") is None:
        return None
    return r["slab_kb_per_conn"] + (r.get("server_rss_kb_per_conn") or 0)


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


CHANGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                       "docs", "bench", "changes.md")


def change_headings():
    """The sections of docs/bench/changes.md, the record that outlives
    each run's results.md; none if it is not there."""
    try:
        with open(CHANGES) as f:
            return [ln[3:].strip() for ln in f if ln.startswith("## ")]
    except OSError:
        return []


def per_rep_ratios(runs, peers, w, s):
    """khttpd over the best valid peer of each repetition of one cell,
    sorted: a repetition runs every server back to back, so a host that
    changes speed between repetitions moves both sides of its ratio."""
    reps = {}
    for r in runs:
        if (r.get("workload"), r.get("size")) == (w, s) and r.get("valid") \
                and r.get("rps"):
            reps.setdefault(r["rep"], {})[r["server"]] = r["rps"]
    out = []
    for by in reps.values():
        best = max((by[p] for p in peers if p in by), default=None)
        x = ratio(by.get("khttpd"), best)
        if x is not None:
            out.append(x)
    return sorted(out)


def fmt_rep_ratios(xs):
    if not xs:
        return "-"
    med = xs[len(xs) // 2] if len(xs) % 2 else \
        (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    if len(xs) == 1:
        return fmt_ratio(med)
    return "%s (%s-%s)" % (fmt_ratio(med), fmt_ratio(xs[0]), fmt_ratio(xs[-1]))


def rps_table(L, cfg, med, servers, peers, rows, runs=()):
    head = ["workload", "file"] + servers
    if peers:
        head += ["best peer", "khttpd/best peer",
                 "per repetition (median, range)"]
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
            row += [name or "-", fmt_ratio(ratio(k, v)),
                    fmt_rep_ratios(per_rep_ratios(runs, peers, w, s))]
        if "twin" in servers:
            row.append(fmt_ratio(ratio(k, m.get("twin", {}).get("rps"))))
        row.append(", ".join("%d/%d" % (m.get(sv, {}).get("valid", 0),
                                       m.get(sv, {}).get("runs", 0))
                            for sv in servers))
        L.append("| " + " | ".join(row) + " |")
    L.append("")


def client_threads(d):
    """Threads of a workload's client: wrk's and htstress's -t, else 1."""
    argv = d.get("argv") or []
    if d.get("tool") in ("wrk", "htstress") and "-t" in argv:
        return int(argv[argv.index("-t") + 1])
    return 1


def client_bound(res, w, s, server="khttpd"):
    """(threads, share of the client's CPUs it kept busy, its CPU per
    request in ms, the rate its CPU bounds the server to) over the
    server's valid runs of a row, medians; or None. The share is the
    client's CPU time over the run's wall time and its usable CPUs
    (threads, at most the guest's); the bound is the tool's rate over
    that share, the rate at which the client's CPU would be full (a
    client already at 100% is at its bound). Rate and bound are both the
    tool's own count, so its start-up and wind-down, which rusage sees
    and the tool's rate does not, cancel out."""
    d = res["config"]["workloads"].get(w, {})
    ncpu = res["environment"].get("guest_nproc") or 1
    t = client_threads(d)
    usable = min(t, ncpu)
    shares, ms, bounds = [], [], []
    for r in res["runs"]:
        if (r["workload"], r["size"], r["server"]) != (w, s, server) or \
                not r["valid"] or not r.get("client_cpu_s") or \
                not r.get("wall_s") or not r.get("rps") or \
                not r.get("requests"):
            continue
        u = r["client_cpu_s"] / (r["wall_s"] * usable)
        shares.append(u)
        ms.append(r["client_cpu_s"] * 1000 / r["requests"])
        bounds.append(r["rps"] / min(u, 1.0))
    if not bounds:
        return None
    med = statistics.median
    return t, med(shares), med(ms), med(bounds)


def is_close_row(res, w):
    d = res["config"]["workloads"].get(w, {})
    return "one connection per request" in d.get("description", "")


def client_section(L, res, rows, peers):
    """What the client's own CPU leaves khttpd, row by row."""
    med = res["medians"]
    bounds = [(w, s, client_bound(res, w, s)) for w, s in rows]
    bounds = [(w, s, b) for w, s, b in bounds if b]
    if not bounds or not peers:
        return
    L.append("## What the client leaves")
    L.append("")
    L.append("A client needs CPU for each request: its own code, its system "
             "calls, and the softirqs those calls run, which on loopback "
             "include TCP's receive for the server's sockets (the "
             "handshake, the request, the FIN). Each run records the "
             "tool's CPU time (its rusage); over the run's wall time and "
             "the CPUs its threads can use (at most the guest's) that is "
             "the share of them it kept busy. Where the share is 100% the "
             "client was the limit: khttpd cannot go faster by spending less "
             "itself, only by costing the client less. The client's bound is "
             "khttpd's rate over that share (the rate at which the client's "
             "CPU would be full), and bound/best peer is the most khttpd "
             "could reach over the best peer at this cost to the client. "
             "Medians over khttpd's valid runs.")
    L.append("")
    L.append("| workload | file | client threads | client's CPUs busy | "
             "client CPU per request, ms | client's bound, req/s | khttpd | "
             "best peer | bound/best peer |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for w, s, (t, share, ms, bound) in bounds:
        m = med.get(w, {}).get(s, {})
        name, v = best_peer(m, peers)
        L.append("| %s | %s | %d | %.0f%% | %.3f | %s | %s | %s | %s |" % (
            w, SIZE_LABEL[s], t, share * 100, ms, fmt_rps(bound),
            fmt_rps(m.get("khttpd", {}).get("rps")),
            "%s %s" % (name, fmt_rps(v)) if name else "-",
            fmt_ratio(ratio(bound, v))))
    L.append("")


def tls_section(L, res, rows):
    """The tls group: how each server was set up and what it negotiated,
    requests/s with khttpd's ratios to nginx and nginx-ktls (MB/s for
    1 MiB), p50/p99, and the kTLS counters over the runs."""
    tls = res.get("tls") or {}
    cfg, med = res["config"], res["medians"]
    # A run without the tls group still records an empty "servers".
    if not rows and not (tls.get("servers") or tls.get("skipped")
                         or tls.get("error")):
        return
    L.append("## HTTPS (the tls group)")
    L.append("")
    if tls.get("skipped"):
        L.append("Not run: %s." % tls["skipped"])
        L.append("")
        return
    if tls.get("error"):
        L.append("FAILED: %s." % tls["error"])
        L.append("")
        return
    L.append("khttpd with `tls_port=` (the kernel's handshake upcall hands "
             "each connection to build/khttpd-tlsd, GnuTLS, which installs "
             "the kTLS keys; khttpd then serves through kTLS, files spliced) "
             "against nginx with OpenSSL in userspace "
             "(scripts/nginx-tls-bench.conf) and nginx-ktls, the same "
             "configuration with `ssl_conf_command Options KTLS` (OpenSSL "
             "hands the records to kTLS, files go by SSL_sendfile). One "
             "self-signed ECDSA P-256 certificate (SAN DNS:localhost, "
             "IP:127.0.0.1) made in the guest for all; the clients (wrk, ab, "
             "curl, openssl s_client: OpenSSL) offer TLS 1.3 with %s only "
             "(OPENSSL_CONF), nginx allows only that. Before measuring, "
             "every file came back 200 with the right bytes over TLS from "
             "curl --cacert, and openssl s_client reported what each "
             "server negotiated:" % cfg.get("tls_cipher", "-"))
    if tls.get("kernel_gcm_aes"):
        L[-1] += (" (kTLS's AES-GCM in the kernel: %s, the first the one "
                  "used; OpenSSL uses AES-NI, which QEMU's -cpu max "
                  "emulates)" % ", ".join(tls["kernel_gcm_aes"]))
    L.append("")
    L.append("| server | port | negotiated | key exchange | signature | "
             "certificate | kTLS sockets during the check (TlsTxSw / "
             "TlsRxSw) |")
    L.append("|---|---:|---|---|---|---|---:|")
    for sv in TLS_ORDER:
        info = (tls.get("servers") or {}).get(sv)
        if not info:
            continue
        neg = info.get("negotiated") or {}
        d = info.get("tls_stat_delta") or {}
        state = ""
        if "skipped" in info:
            state = " (skipped: %s)" % info["skipped"]
        elif "error" in info:
            state = " (FAILED: %s)" % info["error"]
        L.append("| %s%s | %d | %s | %s | %s | %s | %d / %d |" % (
            sv, state, info.get("port", 0), neg.get("protocol_cipher", "-"),
            neg.get("key_exchange", "-"), neg.get("signature", "-"),
            neg.get("verify", "-"), d.get("TlsTxSw", 0), d.get("TlsRxSw", 0)))
    L.append("")
    servers = [s for s in TLS_ORDER
               if s in (tls.get("servers") or {})
               and "skipped" not in tls["servers"][s]
               and "error" not in tls["servers"][s]]
    if not rows or not servers:
        return
    others = [s for s in servers if s != "khttpd"]
    L.append("Requests per second (median of %d repetitions); MB/s (10^6 "
             "bytes of body) for 1 MiB:" % cfg["reps"])
    L.append("")
    head = ["workload", "file"] + servers
    if "khttpd" in servers:
        head += ["khttpd/%s" % o for o in others]
    head.append("valid runs (%s)" % ", ".join(servers))
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    size_bytes = cfg.get("size_bytes", {})
    for w, s in rows:
        m = med.get(w, {}).get(s, {})
        row = [w, SIZE_LABEL[s]]
        for sv in servers:
            v = m.get(sv, {}).get("rps")
            cell = fmt_rps(v) if v is None or v >= 10 else "%.2f" % v
            if v is not None and s == "1m":
                cell += " (%.1f MB/s)" % (v * size_bytes.get(s, 1 << 20) / 1e6)
            row.append(cell)
        k = m.get("khttpd", {}).get("rps")
        if "khttpd" in servers:
            row += [fmt_ratio(ratio(k, m.get(o, {}).get("rps")))
                    for o in others]
        row.append(", ".join("%d/%d" % (m.get(sv, {}).get("valid", 0),
                                       m.get(sv, {}).get("runs", 0))
                            for sv in servers))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("Latency (ms, p50 / p99, median over the valid repetitions; "
             "wrk --latency per request on its connection, ab in whole "
             "milliseconds including the connection and its handshake):")
    L.append("")
    L.append("| workload | file | " + " | ".join(servers) + " |")
    L.append("|---|---|" + "|".join(["---:"] * len(servers)) + "|")
    for w, s in rows:
        m = med.get(w, {}).get(s, {})
        cells = []
        for sv in servers:
            lat = m.get(sv, {}).get("latency_ms") or {}
            cells.append("%s / %s" % (fmt_ms(lat.get("p50")),
                                      fmt_ms(lat.get("p99")))
                         if lat else "-")
        L.append("| %s | %s | %s |" % (w, SIZE_LABEL[s], " | ".join(cells)))
    L.append("")
    L.append("Who used kTLS: /proc/net/tls_stat's deltas over each server's "
             "runs (only that server had clients meanwhile), summed over "
             "every repetition, valid or not: TlsTxSw and TlsRxSw count the sockets that "
             "got kTLS keys for sending and receiving (one each per "
             "connection when kTLS carries the records both ways). For "
             "khttpd, its own counters from /proc/khttpd beside them: "
             "handshakes done by the agent and the bytes it sent and "
             "received through kTLS. Unclean closes: connections ab saw "
             "end without a TLS close_notify alert (OpenSSL: \"unexpected "
             "eof while reading\"); ab runs with -l so that they count, and "
             "the bench checks the bodies' bytes instead.")
    L.append("")
    L.append("| workload | file | server | requests | TlsTxSw | TlsRxSw | "
             "TlsDecryptError | khttpd tls_handshakes_ok | khttpd "
             "tls_bytes_sent | khttpd tls_bytes_received | unclean closes |")
    L.append("|---|---|---|" + "|".join(["---:"] * 8) + "|")
    for w, s in rows:
        m = med.get(w, {}).get(s, {})
        for sv in servers:
            c = m.get(sv, {})
            d = c.get("tls_stat_delta") or {}
            h = c.get("khttpd_tls_delta") or {}
            L.append("| %s | %s | %s | %d | %d | %d | %d | %s | %s | %s | "
                     "%s |" % (
                w, SIZE_LABEL[s], sv, c.get("requests_all_runs", 0),
                d.get("TlsTxSw", 0),
                d.get("TlsRxSw", 0), d.get("TlsDecryptError", 0),
                h.get("tls_handshakes_ok", "-") if sv == "khttpd" else "-",
                "{:,}".format(h["tls_bytes_sent"]) if sv == "khttpd"
                and "tls_bytes_sent" in h else "-",
                "{:,}".format(h["tls_bytes_received"]) if sv == "khttpd"
                and "tls_bytes_received" in h else "-",
                c.get("unclean_closes", "-")
                if w.startswith("tls-ab") else "-"))
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
    tls_rows = [(w, s) for w, d in wls.items() if d.get("group") == "tls"
                for s in d["sizes"]]
    tls = res.get("tls") or {}
    tls_servers = [s for s in TLS_ORDER
                   if s in (tls.get("servers") or {})
                   and "skipped" not in tls["servers"][s]
                   and "error" not in tls["servers"][s]]
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
        ("openssl", env.get("openssl")),
        ("curl", env.get("curl")),
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
                             if cfg.get("count_scale", 1) != 1 else ""), "1k"),
                         ("HTTPS, the tls group (https://; wrk for %d s, "
                          "1 MiB for %d s; ab a fixed count%s)" % (
                              cfg["duration_s"], 2 * cfg["duration_s"],
                              ", scaled by %g" % cfg["count_scale"]
                              if cfg.get("count_scale", 1) != 1 else ""),
                          "tls")):
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
    if peers and cfg["reps"] > 1:
        L.append("khttpd/best peer divides the medians. Beside it, the same "
                 "ratio taken within each repetition (khttpd over the best "
                 "peer of that repetition) and then its median and range: "
                 "a repetition runs every server back to back, so when the "
                 "host changes speed between repetitions (under TCG it "
                 "does, by up to half) both sides of a repetition's ratio "
                 "move together, and the range shows how far one run can "
                 "be trusted.")
        L.append("")
    if sweep:
        L.append("### Size sweep")
        L.append("")
        rps_table(L, cfg, med, servers, peers, sweep, res["runs"])
    if onek:
        L.append("### 1 KiB set")
        L.append("")
        rps_table(L, cfg, med, servers, peers, onek, res["runs"])

    client_section(L, res, sweep + onek, peers)
    tls_section(L, res, tls_rows)

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
                 "slab as available, so they need not add up). Their sum, "
                 "Slab + server RSS, leaves out what is neither (page tables, "
                 "pages outside the slab) but is the steadier figure: "
                 "MemAvailable moves with everything else in the guest (the "
                 "same peers have read 5.5 and 9.9 KB in one run), the Slab "
                 "growth by a few percent. One measurement per server; "
                 "nginx allocates its connection slots (worker_connections) "
                 "at start, so they do not show here." % (
                     "{:,}".format(n) if n else "The"))
        L.append("")
        head = ["server", "connections", "KB/conn", "KB/conn without the "
                "client", "server RSS KB/conn", "Slab KB/conn",
                "Slab + server RSS KB/conn", "opened in (s)"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|---|" + "|".join(["---:"] * (len(head) - 1)) + "|")

        def f2(v):
            return "-" if v is None else "%.2f" % v
        for sv in ORDER:
            r = memres.get(sv)
            if not r:
                continue
            if not r.get("valid"):
                L.append("| %s | %d | INVALID: %s | | | | | |" % (
                    sv, r.get("connections", 0), "; ".join(r["problems"])))
                continue
            L.append("| %s | %d | %s | %s | %s | %s | %s | %.1f |" % (
                sv, r["connections"], f2(r.get("kb_per_conn")),
                f2(r.get("kb_per_conn_without_client")),
                f2(r.get("server_rss_kb_per_conn")),
                f2(r.get("slab_kb_per_conn")), f2(slab_and_rss(r)),
                r["open_s"]))
        for what, of in (("without the client", lambda r: r.get(
                "kb_per_conn_without_client")), ("Slab + server RSS",
                                                 slab_and_rss)):
            k = of(memres.get("khttpd") or {})
            pm = [(p, of(memres.get(p) or {})) for p in peers]
            pm = [(p, v) for p, v in pm if v]
            if k and pm:
                p, v = min(pm, key=lambda pv: pv[1])
                L.append("")
                L.append("khttpd/%s (the leanest peer), %s: %s (below 1: "
                         "khttpd uses less memory per connection)."
                         % (p, what, fmt_ratio(ratio(k, v))))
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
        # Every connection-per-request row, 1 KiB set included, against
        # 1.5x the best peer, beside what its client allows.
        close = [(w, s) for w, s in sweep + onek
                 if is_close_row(res, w) and s in SMALL + ("index",)]
        lines = []
        for w, s in close:
            m = med.get(w, {}).get(s, {})
            r = ratio(m.get("khttpd", {}).get("rps"), best_peer(m, peers)[1])
            b = client_bound(res, w, s)
            cap = ratio(b[3], best_peer(m, peers)[1]) if b else None
            if r is None:
                continue
            lines.append("- %s, %s: %s%s" % (
                w, SIZE_LABEL[s], fmt_ratio(r),
                "; the client's CPU allows %s" % fmt_ratio(cap)
                if cap is not None else ""))
        if lines:
            L.append("Every row of one connection per request on a small "
                     "file, khttpd/best peer against 1.5x, beside the most "
                     "the client's CPU lets khttpd reach over that peer "
                     "([What the client leaves](#what-the-client-leaves)):")
            L.append("")
            L.extend(lines)
            L.append("")
    changes = change_headings()
    if changes and not res.get("smoke"):
        L.append("## What each change bought")
        L.append("")
        L.append("This file is rewritten by every run. What each change to "
                 "the server made for speed or memory bought, measured side "
                 "by side with the version before it, with the commands, and "
                 "what was tried and not kept, is kept in "
                 "[docs/bench/changes.md](%s):"
                 % os.path.relpath(CHANGES, outdir))
        L.append("")
        for h in changes:
            L.append("- %s" % h)
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
    if tls_rows and tls_servers:
        charts.append("bench-tls.png (HTTPS)")
    L.append("All runs (every repetition, with latencies and error counts) "
             "are in results.json; the charts are %s." % ", ".join(charts))
    md = "\n".join(L) + "\n"
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(md)

    # Chart data: a block per panel (gnuplot index), a row per x label, a
    # column per server in CHART_ORDER (NaN when absent).
    def block(f, title, rows):
        f.write("# %s\n" % title)
        for label, m in rows:
            vals = []
            for sv in CHART_ORDER:
                v = m.get(sv)
                vals.append("NaN" if not v else "%.2f" % v)
            f.write('"%s" %s\n' % (label, " ".join(vals)))

    plots = []
    sweep_w = [w for w, d in wls.items() if d.get("group", "sweep") == "sweep"]
    if sweep_w:
        with open(os.path.join(outdir, "bench.dat"), "w") as f:
            f.write("# label %s (median requests/s)\n" % " ".join(CHART_ORDER))
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
            f.write("# label %s (median requests/s)\n" % " ".join(CHART_ORDER))
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
            f.write("# label %s (KB per idle connection)\n"
                    % " ".join(CHART_ORDER))
            block(f, "memory", [
                (label, {sv: of(memres.get(sv) or {}) for sv in ORDER})
                for label, of in (
                    ("MemAvailable drop (client included)",
                     lambda r: r.get("kb_per_conn")),
                    ("Slab growth (kernel objects)",
                     lambda r: r.get("slab_kb_per_conn")),
                    ("server RSS growth (userspace)",
                     lambda r: r.get("server_rss_kb_per_conn")),
                    ("Slab + server RSS", slab_and_rss))])
        plots.append(("bench-memory.png", "bench-memory.dat",
                      '"%s idle keep-alive connections: MemAvailable drop per '
                      'connection"' % ("{:,}".format(cfg.get("memory_conns"))),
                      "KB per connection (lower is better)", 0,
                      "memory per idle keep-alive connection"))
    if tls_rows and tls_servers:
        with open(os.path.join(outdir, "bench-tls.dat"), "w") as f:
            f.write("# label %s (median requests/s)\n" % " ".join(CHART_ORDER))
            block(f, "HTTPS", [
                ("%s (%s)" % (w, SIZE_LABEL[s]),
                 {sv: med.get(w, {}).get(s, {}).get(sv, {}).get("rps")
                  for sv in TLS_ORDER}) for w, s in tls_rows])
        plots.append(("bench-tls.png", "bench-tls.dat",
                      '"HTTPS (TLS 1.3, %s): wrk keep-alive, ab with a '
                      'handshake per request"' % cfg.get("tls_cipher", ""),
                      "requests/s (median)", 1,
                      "HTTPS: requests/s by workload"))

    def vs_of(svs):
        return "%s vs %s" % (svs[0], ", ".join(svs[1:])) if svs else ""
    # A server without a valid memory measurement gets no empty slot there.
    mem_servers = [sv for sv in servers if (memres.get(sv) or {}).get("valid")]
    with open(os.path.join(outdir, "bench.plots"), "w") as f:
        for png, dat, titles, ylabel, logy, title in plots:
            svs = (mem_servers if png == "bench-memory.png" else
                   tls_servers if png == "bench-tls.png" else servers)
            f.write("\t".join([png, dat, titles, " ".join(svs), ylabel,
                               str(logy), "%s: %s" % (vs_of(svs), title)])
                    + "\n")

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
