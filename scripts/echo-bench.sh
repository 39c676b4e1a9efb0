#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The course's echo benchmark in a QEMU guest: kecho.ko and
# user-echo-server side by side, interleaved (scripts/echo-bench-guest.py).
# What `make echo-bench` and `make echo-bench-quick` run.
#
#   scripts/echo-bench.sh           1 to 1000 clients (12 levels), 5 round
#                                   trips of 64 bytes per client (at least
#                                   1000 per level), 3 repetitions; about
#                                   5-10 minutes under TCG.
#                                   Results in docs/echo/: bench-kecho.txt and
#                                   bench-user.txt (the course's bench.txt:
#                                   "<threads> <microseconds>", the mean),
#                                   results.json (every run, mean/p50/p99),
#                                   bench.png (both curves).
#   scripts/echo-bench.sh --quick   1, 10, 100 and 300 clients, one
#                                   repetition, results in
#                                   build/echo-bench-quick/; about a minute.
#   scripts/echo-bench.sh --report  no guest: redraw the table, bench-*.txt
#                                   and bench.png from --out's results.json.
#
# Options: --levels N,N,... --rounds N --min-samples N --reps N, --timeout
# S, --out DIR.
# Environment: KVER, the guest's kernel (default: the generic 6.12 of the
# matrix, as make bench); KECHO_KO, the module (default
# build/kernels/$KVER/kecho.ko, which scripts/build-module.sh makes). When
# it is missing, this says so and measures user-echo-server alone.
#
# Exit status: non-zero when the guest failed or any run had a connection
# error, a timeout or a wrong byte (results are still written).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { echo "echo-bench.sh: $*" >&2; }

QUICK=
REPORT_ONLY=
OUT=
TIMEOUT=
GUEST_ARGS=()
ORIG_ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1; shift ;;
	--report) REPORT_ONLY=1; shift ;;
	--levels | --rounds | --min-samples | --reps) GUEST_ARGS+=("$1" "${2:?}"); shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	-h | --help) sed -n '3,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) say "unknown option $1 (see --help)"; exit 2 ;;
	esac
done

if [ -n "$QUICK" ]; then
	GUEST_ARGS=(--levels 1,10,100,300 --reps 1 "${GUEST_ARGS[@]}")
	OUT=${OUT:-build/echo-bench-quick}
	TIMEOUT=${TIMEOUT:-600}
else
	OUT=${OUT:-docs/echo}
	TIMEOUT=${TIMEOUT:-1800}
fi

# render DIR: the course's bench-*.txt, the table and bench.png from
# DIR/results.json.
render() {
	local out=$1 rc=0 servers sub
	/usr/bin/python3 scripts/echo-bench-guest.py --report "$out/results.json" --out "$out" || rc=1
	servers=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))["servers"]))' "$out/results.json")
	# Two lines (gnuplot reads the \n in a double-quoted string).
	sub=$(/usr/bin/python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["environment"]
print("guest %s, %s vCPUs, QEMU TCG (no KVM), %s\\n%s-byte messages, %s round trips a client (%s a level at least), median of %s runs" % (
      e["guest_kernel"], e["guest_nproc"], e["date_utc"][:10], e["size"], e["rounds"], e["min_samples"], e["reps"]))' "$out/results.json")
	gnuplot -e "datafile='$out/echo.dat'; outfile='$out/bench.png'; servers='$servers'; subtitle=\"$sub\"" \
		scripts/plot-echo.gp || rc=1
	mkdir -p build/echo-bench-raw
	mv -f "$out/echo.dat" build/echo-bench-raw/
	return $rc
}

if [ -n "$REPORT_ONLY" ]; then
	OUT=${OUT:-docs/echo}
	[ -s "$OUT/results.json" ] || { say "no $OUT/results.json to report on"; exit 1; }
	render "$OUT"
	exit
fi

for t in build/echo-bench build/user-echo-server; do
	[ -x "$t" ] || { say "no $t; build it first (make $t)"; exit 1; }
done
command -v gnuplot >/dev/null || { say "gnuplot is missing; run scripts/deps.sh bench"; exit 1; }

if [ -z "${KVER:-}" ]; then
	KVER=$(scripts/kernel.sh matrix | grep -E '^6\.12\.' | grep -v -- '-rt-' | head -n 1 || true)
	KVER=${KVER:-$(scripts/kernel.sh default)}
fi
export KVER
KECHO_KO=${KECHO_KO:-$REPO/build/kernels/$KVER/kecho.ko}
if [ -e "$KECHO_KO" ]; then
	say "kecho: $KECHO_KO"
	export KECHO_KO	# scripts/vm.sh passes KECHO_* into the guest
else
	say "NOTE: no kecho.ko at $KECHO_KO (scripts/build-module.sh $KVER makes it):"
	say "      benchmarking user-echo-server alone"
	unset KECHO_KO
fi

KHTTPD_BENCH_HOST_CPU=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
KHTTPD_BENCH_HOST_NPROC=$(nproc)
KHTTPD_BENCH_GIT=$(git describe --always --dirty 2>/dev/null || echo unknown)
KHTTPD_BENCH_CMD=${KHTTPD_BENCH_CMD:-scripts/echo-bench.sh${ORIG_ARGS[*]:+ ${ORIG_ARGS[*]}}}
export KHTTPD_BENCH_HOST_CPU KHTTPD_BENCH_HOST_NPROC KHTTPD_BENCH_GIT KHTTPD_BENCH_CMD

say "booting the guest ($KVER, timeout ${TIMEOUT}s): echo-bench-guest.py ${GUEST_ARGS[*]}"
status=0
scripts/vm.sh run --smp 2 --mem 2048 --timeout "$TIMEOUT" -- \
	/usr/bin/python3 scripts/echo-bench-guest.py "${GUEST_ARGS[@]}" || status=$?

res=build/vm/out/results.json
if [ ! -s "$res" ]; then
	say "FAIL: the guest wrote no results (exit status $status); see build/vm/out/cmd.log and build/vm/console.log"
	exit $((status ? status : 1))
fi
mkdir -p "$OUT" build/echo-bench-raw
cp "$res" "$OUT/results.json"
cp build/vm/out/raw.txt build/echo-bench-raw/ 2>/dev/null || true
render "$OUT" || status=1
say "results: $OUT/bench-*.txt, $OUT/results.json, $OUT/bench.png; raw output: build/echo-bench-raw/"
[ "$status" -eq 0 ] || say "FAIL: exit status $status (see above)"
exit "$status"
