#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Where does khttpd's time go? Records in a QEMU guest (scripts/vm.sh, TSC
# clock), summarises on the host. What `make trace` and `make profile` run;
# docs/profiling.md explains the output.
#
#   scripts/trace.sh [trace]    ftrace: khttpd tracepoints during a short
#                               wrk keep-alive load on 1 KiB, 16 KiB and
#                               1 MiB files (plus a few other requests), then
#                               function_graph on the module's functions and
#                               the kernel entry points they call. Report and
#                               raw trace.dat/events.dat in build/trace/.
#                               About 1-2 minutes.
#   scripts/trace.sh profile    perf record -a -g -e cpu-clock during one wrk
#                               run (or htstress, --client close); perf
#                               report summaries (by command, top symbols,
#                               call chains) in build/profile/
#                               (build/profile/<server>-<file>[-close]/).
#
# Options:
#   --duration S    trace: seconds of wrk per file in the events pass
#                   (default 3; the function_graph pass takes 2, --graph-duration)
#                   profile: seconds of the recorded run (default 5)
#   --depth N       trace: function_graph everything under
#                   khttpd_conn_io_work down to depth N instead of khttpd_*
#                   plus the kernel entry point list (bigger, slower trace)
#   --file F        profile: 1k (default), 16k, 256k or 1m
#   --server S      profile: khttpd (default), twin or nginx
#   --conns N       profile: the client's connections (default 32)
#   --client C      profile: wrk (default; keep-alive) or close (htstress,
#                   a connection per request, as many threads as CPUs)
#   --smp N         guest CPUs (default 2)
#   --timeout S     for the guest (default 600)
#   --ko PATH       the module to load (default khttpd.ko; a path inside
#                   the repository, e.g. another build to compare with)
#   --no-tsc        do not put tsc=reliable on the guest kernel command line
#   --report        no guest: summarise what is already in build/trace/
#                   (trace) or the --out directory (profile) again
#   --out DIR       where results go
#
# Exit status: non-zero when the guest or a recording failed.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { echo "trace.sh: $*" >&2; }
die() {
	say "FAIL: $*"
	exit 1
}

MODE=trace
case ${1:-} in
trace | profile) MODE=$1; shift ;;
esac

DURATION='' GRAPH_DURATION=2 DEPTH='' FILE=1k SERVER=khttpd CONNS=32 SMP=2
CLIENT=wrk
TIMEOUT=600 TSC=1 REPORT_ONLY='' OUT='' KO=khttpd.ko
while [ $# -gt 0 ]; do
	case $1 in
	--duration) DURATION=${2:?}; shift 2 ;;
	--graph-duration) GRAPH_DURATION=${2:?}; shift 2 ;;
	--depth) DEPTH=${2:?}; shift 2 ;;
	--file) FILE=${2:?}; shift 2 ;;
	--server) SERVER=${2:?}; shift 2 ;;
	--conns) CONNS=${2:?}; shift 2 ;;
	--client) CLIENT=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--ko) KO=${2:?}; shift 2 ;;
	--no-tsc) TSC=; shift ;;
	--report) REPORT_ONLY=1; shift ;;
	--out) OUT=${2:?}; shift 2 ;;
	-h | --help) sed -n '3,41p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) say "unknown option $1 (see --help)"; exit 2 ;;
	esac
done
case $FILE in 1k | 16k | 256k | 1m) ;; *) die "--file: 1k, 16k, 256k or 1m" ;; esac
case $SERVER in khttpd | twin | nginx) ;; *) die "--server: khttpd, twin or nginx" ;; esac
case $CLIENT in wrk | close) ;; *) die "--client: wrk or close" ;; esac

if [ "$MODE" = trace ]; then
	OUT=${OUT:-build/trace}
else
	OUT=${OUT:-build/profile/$SERVER-$FILE$([ "$CLIENT" = wrk ] || echo "-$CLIENT")}
fi

# What was measured: the commit and whether the tree differs from it.
build_id() {
	echo "commit: $(git log -1 --oneline 2>/dev/null || echo unknown)"
	echo "tree:   $(git status --porcelain 2>/dev/null | grep -vc '^??') modified tracked files" \
		"($(git status --porcelain 2>/dev/null | grep -v '^??' | awk '{print $2}' | tr '\n' ' '))"
	if [ -e "$KO" ]; then
		echo "module: $KO built $(date -u -r "$KO" '+%Y-%m-%d %H:%M:%S UTC')," \
			"sha256 $(sha256sum "$KO" | cut -c1-16)"
	fi
}

# ------------------------------------------------------------------ reports

trace_report() {
	local r=$OUT/report.txt
	[ -s "$OUT/trace.dat" ] || die "no $OUT/trace.dat"
	command -v trace-cmd >/dev/null || die "trace-cmd is missing; run scripts/deps.sh bench"
	{
		echo "khttpd: where the time goes (make trace)"
		cat "$OUT/build.txt" 2>/dev/null || true
		cat "$OUT/guest.txt" 2>/dev/null || true
		echo
		trace-cmd report -i "$OUT/events.dat" 2>/dev/null |
			/usr/bin/python3 scripts/trace-summary.py events
		echo
		trace-cmd report -t -i "$OUT/trace.dat" 2>/dev/null |
			/usr/bin/python3 scripts/trace-summary.py graph
		echo
		echo "== load (wrk/htstress/curl output in the guest)"
		grep -E '^\$|^###|Requests/sec|Socket errors|Non-2xx|^[0-9]{3} ' "$OUT/load.txt" || true
		echo
		echo "== ring buffer statistics (overruns mean lost events)"
		for f in events trace; do
			trace-cmd report -i "$OUT/$f.dat" --stat 2>/dev/null | awk -v f="$f.dat" '
				/^overrun:/ { o += $2 } /^dropped events:/ { d += $3 }
				END { printf "%s: overrun %d, dropped %d (all CPUs)\n", f, o, d }' || true
		done
	} >"$r"
	cat "$r"
	say "report: $r; raw: $OUT/trace.dat (function_graph), $OUT/events.dat (tracepoints)"
}

profile_report() {
	local r=$OUT/report.txt
	[ -s "$OUT/self.txt" ] || die "no perf report output in $OUT"
	/usr/bin/python3 scripts/trace-summary.py perf "$OUT" >"$r"
	cat "$r"
	say "report: $r; full perf report tables: $OUT/{comm,self,children,callers}.txt;" \
		"perf.data + kallsyms: $OUT/"
}

if [ -n "$REPORT_ONLY" ]; then
	if [ "$MODE" = trace ]; then trace_report; else profile_report; fi
	exit 0
fi

# ------------------------------------------------------------------ record

case $KO in
/*) KO=$(realpath -m --relative-to="$REPO" "$KO") ;;
esac
case $KO in ../*) die "--ko: the module must be inside the repository (the guest sees only that)" ;; esac
[ -e "$KO" ] || [ "$MODE$SERVER" = profilenginx ] || [ "$MODE$SERVER" = profiletwin ] ||
	die "no $KO; build it first (make module)"
export KHTTPD_TRACE_KO=$KO
command -v wrk >/dev/null || die "wrk is missing; run scripts/deps.sh bench"
if [ "$MODE" = trace ]; then
	command -v trace-cmd >/dev/null || die "trace-cmd is missing; run scripts/deps.sh bench"
	export KHTTPD_TRACE_DURATION=${DURATION:-3}
	export KHTTPD_TRACE_GRAPH_DURATION=$GRAPH_DURATION
	[ -z "$DEPTH" ] || export KHTTPD_TRACE_DEPTH=$DEPTH
else
	command -v perf >/dev/null || die "perf is missing; run scripts/deps.sh bench"
	export KHTTPD_PROF_FILE=$FILE KHTTPD_PROF_SERVER=$SERVER
	export KHTTPD_PROF_DURATION=${DURATION:-5} KHTTPD_PROF_CONNS=$CONNS
	export KHTTPD_PROF_CLIENT=$CLIENT
	[ "$CLIENT" = wrk ] || [ -x build/htstress ] || die "no build/htstress (make build/htstress)"
fi
# A token the guest echoes back: build/vm/out is shared by all vm.sh runs,
# so make sure the results copied below are this run's.
KHTTPD_TRACE_ID=$$-$(date +%s%N)
export KHTTPD_TRACE_ID
if [ -n "$TSC" ]; then
	# TSC as clocksource: cheap, precise timestamps in the guest.
	export VM_APPEND="tsc=reliable ${VM_APPEND:-}"
fi

BUILD_ID=$(build_id)
say "booting the guest (-smp $SMP, timeout ${TIMEOUT}s): trace-guest.sh $MODE"
status=0
scripts/vm.sh run --smp "$SMP" --mem 2048 --timeout "$TIMEOUT" -- \
	scripts/trace-guest.sh "$MODE" || status=$?

res=build/vm/out
if [ "$(cat "$res/run-id" 2>/dev/null)" != "$KHTTPD_TRACE_ID" ]; then
	die "build/vm/out is not this run's (another vm.sh run finished at the same time?); exit status $status"
fi
rm -rf "$OUT"
mkdir -p "$OUT"
for f in "$res"/*; do
	case ${f##*/} in
	cmd.sh | config | status | run-id) ;;
	*) cp -r "$f" "$OUT/" ;;
	esac
done
echo "$BUILD_ID" >"$OUT/build.txt"
[ "$status" -eq 0 ] || die "the guest run failed (status $status); see $OUT/cmd.log and build/vm/console.log"

if [ "$MODE" = trace ]; then trace_report; else profile_report; fi
