#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark khttpd against its userspace twin and the userspace peers nginx,
# lighttpd and h2o in a QEMU guest (docs/design.md, "Measuring"). What
# `make bench` and `make bench-smoke` run.
#
#   scripts/bench.sh            full run, 3 interleaved repetitions, khttpd,
#                               twin, nginx, lighttpd and h2o: the size sweep
#                               (0 B .. 1 MiB; wrk and htstress -k at 8 and
#                               64 connections, htstress with a connection
#                               per request; 4 s per run), the 1 KiB set
#                               (ab and ab -k at 1, 16 and 500 connections,
#                               httperf with and without keep-alive, wrk -t1
#                               -c16, htstress -t 1 with and without -k,
#                               the course's htstress and ab commands
#                               on /; fixed request counts) and the memory
#                               of 10,000 idle keep-alive connections, then
#                               the tls group (HTTPS: khttpd's tls_port=
#                               with build/khttpd-tlsd against nginx with
#                               OpenSSL and nginx-ktls; wrk keep-alive on
#                               1 KiB and 1 MiB, ab with a full handshake
#                               per request; about 5 more minutes; only on
#                               a kernel with the TLS handshake upcall, the
#                               default 6.12); about 35-40 minutes under
#                               TCG. Results go to docs/bench/ (results.md,
#                               results.json, bench.png, bench-1k.png,
#                               bench-memory.png, bench-tls.png), raw tool
#                               output to build/bench-raw/.
#   scripts/bench.sh --smoke    khttpd and twin, one 1 KiB file, one
#                               repetition, 2 s per run, the size sweep's
#                               workloads and one ab -k run; results in
#                               build/bench-smoke/. About 1-2 minutes.
#   scripts/bench.sh --report   no guest: redraw results.md and the charts
#                               from the results.json already in --out.
#
# Options: --reps N, --duration S (seconds per run of the size sweep and
# wrk -t1), --smp N, --timeout S (for the guest), --out DIR; anything after
# -- goes to bench-guest.py, e.g.
#     -- --sizes 1k,1m --servers khttpd,nginx
#     -- --servers lighttpd --workloads ab-ka-c16,course-ab --memory-conns 0
#     -- --workloads 1k --count-scale 0.2     (the 1 KiB set, fewer requests)
#     -- --workloads tls --servers khttpd,nginx,nginx-ktls --reps 1   (HTTPS)
# (--workloads takes names or the groups sweep, 1k and tls; see
# bench-guest.py --help). The guest boots KVER's kernel (scripts/vm.sh;
# default the 6.12 `make module` builds for); on one without the handshake
# upcall the tls group is skipped with a note.
#
# Exit status: non-zero when the guest failed, a server did not answer or
# any run had an error or a non-2xx response (the results are still
# written). The PASS/SHORT targets in the report never fail the run.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { echo "bench.sh: $*" >&2; }

SMOKE=
REPORT_ONLY=
REPS=3
DURATION=4
SMP=2
TIMEOUT=
OUT=
EXTRA=()
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--smoke) SMOKE=1; shift ;;
	--report) REPORT_ONLY=1; shift ;;
	--reps) REPS=${2:?}; shift 2 ;;
	--duration) DURATION=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--) shift; EXTRA=("$@"); break ;;
	-h | --help) sed -n '3,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) say "unknown option $1 (see --help)"; exit 2 ;;
	esac
done

# render DIR: results.md and (unless smoke) the charts, one per line of
# DIR/bench.plots, from DIR/results.json; the charts' data files go to $raw.
render() {
	local out=$1 sub png dat titles servers ylabel logy title
	/usr/bin/python3 scripts/bench-report.py "$out/results.json" "$out" || return 1
	if [ -z "$SMOKE" ]; then
		command -v gnuplot >/dev/null || { say "gnuplot is missing; run scripts/deps.sh bench"; return 1; }
		sub=$(/usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["environment"]
print("guest %s, %s vCPUs, QEMU TCG on %s, %s" % (e["guest_kernel"],
      e["guest_nproc"], e["host_cpu_model"], e["date_utc"][:10]))' "$out/results.json")
		while IFS=$'\t' read -r png dat titles servers ylabel logy title; do
			gnuplot -e "datafile='$out/$dat'; outfile='$out/$png'; titles='$titles'; servers='$servers'; ylabel='$ylabel'; logy=$logy; maintitle='$title'; subtitle='$sub'" \
				scripts/plot-bench.gp || return 1
			say "chart: $out/$png"
		done <"$out/bench.plots"
	fi
	mkdir -p "$raw"
	mv -f "$out"/bench*.dat "$out/bench.plots" "$raw/"
}

raw=build/bench${SMOKE:+-smoke}-raw
if [ -n "$REPORT_ONLY" ]; then
	OUT=${OUT:-$([ -n "$SMOKE" ] && echo build/bench-smoke || echo docs/bench)}
	[ -s "$OUT/results.json" ] || { say "no $OUT/results.json to report on"; exit 1; }
	render "$OUT"
	exit
fi

[ -e khttpd.ko ] || { say "no khttpd.ko; build it first (make module)"; exit 1; }
[ -x build/htstress ] || { say "no build/htstress; build it first (make build/htstress)"; exit 1; }
command -v wrk >/dev/null || { say "wrk is missing; run scripts/deps.sh bench"; exit 1; }
if [ ! -x build/twin ]; then
	say "build/twin does not exist (tools/twin/ not built yet): the twin is skipped"
fi

GUEST_ARGS=(--reps "$REPS" --duration "$DURATION")
if [ -n "$SMOKE" ]; then
	GUEST_ARGS=(--smoke)
	OUT=${OUT:-build/bench-smoke}
	TIMEOUT=${TIMEOUT:-600}
else
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] ||
		{ say "nginx is missing; run scripts/deps.sh bench"; exit 1; }
	command -v gnuplot >/dev/null || { say "gnuplot is missing; run scripts/deps.sh bench"; exit 1; }
	for t in lighttpd h2o httperf ab; do
		command -v $t >/dev/null || [ -x /usr/sbin/$t ] ||
			{ say "$t is missing; run scripts/deps.sh bench"; exit 1; }
	done
	OUT=${OUT:-docs/bench}
	# Per repetition and server: the size sweep, 4 workloads x 5 sizes of
	# DURATION s (and about 0.2 s of overhead each), and the 1 KiB set, 11
	# runs of about 3 s each on a quiet host (fixed counts: slower servers
	# take longer); then the memory phase, set-up and pre-warming, about
	# 4 minutes in all; the tls group, per repetition and each of its 3
	# servers, 4 runs (DURATION s, DURATION s, 2 x DURATION s and about
	# 12 s of handshakes) and a minute of set-up. The guest prints its own
	# plan when it starts; the timeout doubles this.
	est=$((REPS * 5 * (20 * DURATION + 4 + 11 * 4) + 240 +
		REPS * 3 * (4 * DURATION + 14) + 60))
	if [ ${#EXTRA[@]} -eq 0 ]; then
		say "planned: $((REPS * (5 * 31 + 3 * 4))) runs ($REPS repetitions x 31 workload/file pairs x 5 servers, and 4 HTTPS workloads x 3 servers) and 10,000 idle connections per server, about $((est / 60)) minutes"
	else
		say "planned: a subset (${EXTRA[*]}); the guest prints its plan"
	fi
	TIMEOUT=${TIMEOUT:-$((est * 2 + 600))}
fi
GUEST_ARGS+=("${EXTRA[@]}")

# What the guest cannot see for itself: the host, and how it was started.
KHTTPD_BENCH_HOST_CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
KHTTPD_BENCH_HOST_NPROC=$(nproc)
KHTTPD_BENCH_HOST_KERNEL=$(uname -r)
KHTTPD_BENCH_GIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
export KHTTPD_BENCH_HOST_CPU KHTTPD_BENCH_HOST_NPROC KHTTPD_BENCH_HOST_KERNEL KHTTPD_BENCH_GIT
if [ -n "${KHTTPD_BENCH_CMD:-}" ]; then
	export KHTTPD_BENCH_CMD
else
	export KHTTPD_BENCH_CMD="scripts/bench.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}"
fi

t0=$SECONDS
say "booting the guest (-smp $SMP, timeout ${TIMEOUT}s): bench-guest.py ${GUEST_ARGS[*]}"
status=0
scripts/vm.sh run --smp "$SMP" --mem 2048 --timeout "$TIMEOUT" -- \
	/usr/bin/python3 scripts/bench-guest.py "${GUEST_ARGS[@]}" || status=$?
elapsed=$((SECONDS - t0))

res=build/vm/out/results.json
if [ ! -s "$res" ]; then
	say "FAIL: the guest wrote no results (exit status $status); see build/vm/out/cmd.log and build/vm/console.log"
	exit $((status ? status : 1))
fi

mkdir -p "$OUT"
rm -rf "$raw"
mkdir -p "$raw"
for f in raw.txt cmd.log twin.log nginx.conf nginx.log nginx-error.log \
	lighttpd.conf lighttpd.log lighttpd-error.log h2o.conf h2o.log h2o-error.log \
	tlsd.log nginx-tls.conf nginx-tls.log nginx-tls-error.log \
	nginx-ktls.conf nginx-ktls.log nginx-ktls-error.log; do
	[ -e "build/vm/out/$f" ] && cp "build/vm/out/$f" "$raw/"
done
cp "$res" "$OUT/results.json"
if ! render "$OUT"; then
	say "FAIL: drawing the report failed"
	[ "$status" -ne 0 ] || status=1
fi

say "results: $OUT/results.md, $OUT/results.json; raw output: $raw/"
say "took $((elapsed / 60))m$((elapsed % 60))s in the guest, exit status $status"
if [ "$status" -ne 0 ]; then
	say "FAIL: see the problems listed above and in $OUT/results.md"
fi
exit "$status"
