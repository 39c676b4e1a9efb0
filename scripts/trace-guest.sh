#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The recording half of `make trace` and `make profile`, run inside the QEMU
# guest by scripts/trace.sh through
#     scripts/vm.sh run -- scripts/trace-guest.sh trace|profile
# as root, chrooted into the host's root filesystem (read-only), cwd = the
# repo, /tmp a tmpfs, tracefs at /sys/kernel/tracing. See docs/profiling.md.
#
#   trace    khttpd serves /tmp/trace/root (f1k, f16k, f1m) on port 8081.
#            1. events.dat: the khttpd tracepoints during a wrk keep-alive
#               run per file, a burst of one-connection-per-request
#               requests (htstress) and a few curl requests for other
#               statuses (404, 206, 304, HEAD).
#            2. trace.dat: function_graph under the module's work function
#               and socket callbacks, restricted to khttpd_* and a list of
#               kernel entry points (socket, TCP, VFS, slab, workqueue), plus
#               the tracepoints, during a shorter wrk run per file.
#   profile  perf record -a -g -e cpu-clock during one wrk run (or, with
#            KHTTPD_PROF_CLIENT=close, htstress: a connection per request)
#            against $KHTTPD_PROF_SERVER (khttpd, twin or nginx) for file
#            $KHTTPD_PROF_FILE (1k, 16k, 256k, 1m), then perf report
#            summaries (by command, self, children, callers of the hottest
#            symbols) into text files.
#
# Everything goes to $VM_RESULTS (build/vm/out on the host); scripts/trace.sh
# summarises and moves it. Variables (set by scripts/trace.sh):
#   KHTTPD_TRACE_ID        echoed to $VM_RESULTS/run-id (the host checks it)
#   KHTTPD_TRACE_KO        the module to load (default khttpd.ko)
#   KHTTPD_TRACE_DURATION  seconds of wrk per file, events pass (default 3)
#   KHTTPD_TRACE_GRAPH_DURATION  ... function_graph pass (default 2)
#   KHTTPD_TRACE_BUF_KB    trace buffer per CPU in KiB (default 20000)
#   KHTTPD_TRACE_DEPTH     if set: trace everything under the work function
#                          to this depth instead of the function list
#   KHTTPD_PROF_FILE, KHTTPD_PROF_SERVER, KHTTPD_PROF_DURATION (default 5),
#   KHTTPD_PROF_CONNS (default 32), KHTTPD_PROF_THREADS (default: CPUs),
#   KHTTPD_PROF_CLIENT (wrk or close)

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
OUT=${VM_RESULTS:-/tmp/trace-out}
WORK=/tmp/trace
ROOT=$WORK/root
PORT=8081
NCPU=$(nproc)
mkdir -p "$OUT" "$WORK"
: >"$OUT/guest.txt"
echo "${KHTTPD_TRACE_ID:-}" >"$OUT/run-id"

say() { echo "trace-guest: $*"; }
die() {
	say "FAIL: $*"
	exit 1
}

# Same deterministic content as scripts/bench-guest.py, named without an
# extension (application/octet-stream from every server).
make_files() {
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	/usr/bin/python3 - "$ROOT" <<-'EOF'
		import os, sys
		block = bytes((i * 131 + 7) & 0xFF for i in range(4096))
		for name, size in (("1k", 1 << 10), ("16k", 16 << 10),
		                   ("256k", 256 << 10), ("1m", 1 << 20)):
		    with open(os.path.join(sys.argv[1], "f" + name), "wb") as f:
		        f.write((block * (size // 4096 + 1))[:size])
	EOF
	chmod -R a+rX "$WORK"
}

start_khttpd() {
	local ko=${KHTTPD_TRACE_KO:-khttpd.ko}
	[ -e "$ko" ] || die "no $ko (make module)"
	[ -d /sys/module/khttpd ] && rmmod khttpd
	insmod "$ko" port=$PORT root=$ROOT
	echo "module loaded in the guest: $ko, sha256 $(sha256sum "$ko" | cut -c1-16)" >>"$OUT/guest.txt"
	wait_answer "$PORT"
}

stop_khttpd() {
	if [ -d /sys/module/khttpd ]; then
		cat /proc/khttpd >"$OUT/khttpd-stats.txt" 2>/dev/null || true
		timeout 60 rmmod khttpd || say "rmmod khttpd failed"
	fi
}

wait_answer() { # PORT
	local _
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$1/f1k" && return 0
		sleep 0.2
	done
	die "nothing answers on port $1"
}

# Fetch every file twice (fills khttpd's response cache; checks content).
warm() { # PORT
	local f
	for f in 1k 16k 1m; do
		curl -s -o /dev/null "http://127.0.0.1:$1/f$f"
		curl -s --max-time 30 "http://127.0.0.1:$1/f$f" | cmp -s - "$ROOT/f$f" ||
			die "port $1 /f$f: wrong content"
	done
}

# wrk keep-alive on each file for $1 seconds; output appended to $2.
wrk_files() { # SECONDS LOG
	local f
	for f in 1k 16k 1m; do
		echo "\$ wrk -t1 -c8 -d$1s http://127.0.0.1:$PORT/f$f" >>"$2"
		timeout $(($1 + 60)) wrk -t1 -c8 -d"$1"s "http://127.0.0.1:$PORT/f$f" >>"$2" 2>&1 ||
			echo "wrk exited with status $?" >>"$2"
	done
}

# Other statuses and connection-per-request traffic, for the tracepoints.
mixed_requests() { # LOG
	local u=http://127.0.0.1:$PORT etag
	{
		echo "\$ curl: 404, HEAD, 206, 304"
		curl -s -o /dev/null -w '%{http_code} /missing\n' "$u/missing"
		curl -s -o /dev/null -w '%{http_code} HEAD /f1k\n' -I "$u/f1k"
		curl -s -o /dev/null -w '%{http_code} Range /f16k\n' -r 0-99 "$u/f16k"
		etag=$(curl -s -I "$u/f1k" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
		curl -s -o /dev/null -w '%{http_code} If-None-Match /f1k\n' \
			-H "If-None-Match: $etag" "$u/f1k"
		if [ -x build/htstress ]; then
			echo "\$ htstress -n 2000 -c 4 -t 1 $u/f1k (one connection per request)"
			timeout 120 build/htstress -n 2000 -c 4 -t 1 "$u/f1k" 2>&1 | tail -n 12 ||
				echo "htstress exited with status $?"
		fi
	} >>"$1" 2>&1
}

# Kernel functions timed next to khttpd_* in the function_graph pass: the
# boundaries where the module hands over to sockets/TCP, the VFS, the slab
# allocator and the workqueue. Names the kernel cannot trace are dropped.
KERNEL_FUNCS=(
	kernel_recvmsg sock_recvmsg tcp_recvmsg tcp_cleanup_rbuf
	kernel_sendmsg sock_sendmsg tcp_sendmsg tcp_sendmsg_locked kernel_sendpage
	tcp_sendpage do_tcp_sendpages sendpage_ok do_splice_direct
	__tcp_push_pending_frames tcp_push release_sock lock_sock_nested
	ip_queue_xmit __dev_queue_xmit net_rx_action tcp_v4_rcv
	kernel_sock_shutdown
	vfs_path_lookup getname_kernel putname filp_open dentry_open vfs_open
	vfs_getattr fput path_put touch_atime
	__kmalloc kmalloc_trace kmem_cache_alloc kfree kmem_cache_free
	queue_work_on
)

# The module's functions that start a traced call graph: its work function
# and socket callbacks (whichever of these names this build has).
GRAPH_ROOTS=(
	khttpd_conn_io_work khttpd_conn_data_ready khttpd_conn_write_space
	khttpd_conn_state_change khttpd_conn_sk_callback khttpd_listener_thread
)

traceable() { # NAME
	grep -qE "^$1( |\$)" /sys/kernel/tracing/available_filter_functions
}

graph_filters() {
	local f
	for f in "${GRAPH_ROOTS[@]}"; do
		traceable "$f" && echo "-g $f"
	done
	echo "-l khttpd_*"
	for f in "${KERNEL_FUNCS[@]}"; do
		traceable "$f" && echo "-l $f"
	done
	return 0
}

cmd_trace() {
	local dur=${KHTTPD_TRACE_DURATION:-3} gdur=${KHTTPD_TRACE_GRAPH_DURATION:-2}
	local buf=${KHTTPD_TRACE_BUF_KB:-20000} log=$OUT/load.txt
	local -a graph
	command -v trace-cmd >/dev/null || die "trace-cmd is missing (scripts/deps.sh bench)"
	command -v wrk >/dev/null || die "wrk is missing (scripts/deps.sh bench)"
	[ -d /sys/kernel/tracing/events ] || die "no tracefs at /sys/kernel/tracing"
	make_files
	start_khttpd
	warm $PORT
	: >"$log"

	say "events pass: khttpd tracepoints, wrk ${dur}s per file + mixed requests"
	echo "### events pass" >>"$log"
	trace-cmd record -q -b "$buf" -e khttpd -o "$WORK/events.dat" -- \
		bash -c "$(declare -f wrk_files mixed_requests); PORT=$PORT; \
			wrk_files $dur $log; mixed_requests $log" >/dev/null

	if [ -n "${KHTTPD_TRACE_DEPTH:-}" ]; then
		graph=(-g khttpd_conn_io_work --max-graph-depth "$KHTTPD_TRACE_DEPTH")
		say "function_graph pass: everything under khttpd_conn_io_work to depth $KHTTPD_TRACE_DEPTH"
	else
		# shellcheck disable=SC2207 # one word per option and name
		graph=($(graph_filters))
		say "function_graph pass: khttpd_* and ${#KERNEL_FUNCS[@]} kernel entry points"
	fi
	echo "### function_graph pass: trace-cmd record -p function_graph ${graph[*]}" >>"$log"
	# sched_switch: lets the summary tell time on the CPU from time the
	# worker spent switched out inside a traced function.
	trace-cmd record -q -b "$buf" -p function_graph "${graph[@]}" -e khttpd \
		-e sched:sched_switch \
		-o "$WORK/trace.dat" -- \
		bash -c "$(declare -f wrk_files); PORT=$PORT; wrk_files $gdur $log" >/dev/null
	stop_khttpd
	cp "$WORK/events.dat" "$WORK/trace.dat" "$OUT/"
	{
		echo "guest kernel: $(uname -r), $NCPU CPUs"
		echo "clock: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
		echo "cmdline: $(cat /proc/cmdline)"
	} >>"$OUT/guest.txt"
	say "done"
}

# ------------------------------------------------------------------ profile

start_nginx() {
	local exe prefix=$WORK/nginx
	exe=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$exe" ] || die "nginx is not installed (scripts/deps.sh bench)"
	mkdir -p "$prefix/logs" "$prefix/tmp"
	sed -e "s|@WORKERS@|$NCPU|g; s|@PORT@|$PORT|g; s|@ROOT@|$ROOT|g; s|@PREFIX@|$prefix|g" \
		scripts/nginx-bench.conf >"$WORK/nginx.conf"
	"$exe" -c "$WORK/nginx.conf" -p "$prefix" -e "$prefix/logs/error.log" \
		>"$OUT/nginx.log" 2>&1 &
	SERVER_PID=$!
	wait_answer $PORT
}

start_twin() {
	[ -x build/twin ] || die "no build/twin (make build/twin)"
	build/twin -p $PORT -r "$ROOT" -t "$NCPU" -b 127.0.0.1 >"$OUT/twin.log" 2>&1 &
	SERVER_PID=$!
	wait_answer $PORT
}

# perf report into $OUT/NAME.txt, without the comment header lines.
report() { # NAME perf-report-args...
	local name=$1
	shift
	perf report -i "$WORK/perf.data" --stdio "$@" 2>/dev/null |
		grep -v '^#' | grep -v '^$' >"$OUT/$name.txt" || true
}

cmd_profile() {
	local file=${KHTTPD_PROF_FILE:-1k} server=${KHTTPD_PROF_SERVER:-khttpd}
	local dur=${KHTTPD_PROF_DURATION:-5} conns=${KHTTPD_PROF_CONNS:-32}
	local threads=${KHTTPD_PROF_THREADS:-$NCPU} url sym
	local client=${KHTTPD_PROF_CLIENT:-wrk} load
	SERVER_PID=
	command -v perf >/dev/null || die "perf is missing (scripts/deps.sh bench)"
	if [ "$client" = close ]; then
		[ -x "$REPO/build/htstress" ] || die "build/htstress is missing (make bench-tools)"
	else
		command -v wrk >/dev/null || die "wrk is missing (scripts/deps.sh bench)"
	fi
	make_files
	[ -e "$ROOT/f$file" ] || die "no file f$file (1k, 16k, 256k or 1m)"
	case $server in
	khttpd) start_khttpd ;;
	nginx) start_nginx ;;
	twin) start_twin ;;
	*) die "unknown server $server (khttpd, twin or nginx)" ;;
	esac
	warm $PORT
	url=http://127.0.0.1:$PORT/f$file
	load_for() { # SECONDS: the client's command line, into load
		if [ "$client" = close ]; then
			# htstress's -c counts per thread; --conns is the total.
			load=("$REPO/build/htstress" -n 100000000 -D "$1"
				-c $(((conns + threads - 1) / threads)) -t "$threads" "$url")
		else
			load=(wrk -t"$threads" -c"$conns" -d"$1s" --latency "$url")
		fi
	}
	# Pre-warm the path (caches, TCP) with the same client, not recorded.
	load_for 1
	timeout 60 "${load[@]}" >/dev/null 2>&1 || true

	# Kernel symbols for perf report, also outside the guest.
	echo 0 >/proc/sys/kernel/kptr_restrict
	echo -1 >/proc/sys/kernel/perf_event_paranoid
	load_for "$dur"
	say "perf record -a -g -e cpu-clock: ${load[*]} ($server)"
	echo "\$ ${load[*]}   # server: $server" >"$OUT/client.txt"
	(cd "$WORK" && timeout $((dur + 120)) perf record -q -a -g -e cpu-clock \
		-o "$WORK/perf.data" -- "${load[@]}") \
		>>"$OUT/client.txt" 2>&1 || say "perf record/${load[0]##*/} exited with status $?"
	cat /proc/kallsyms >"$OUT/kallsyms"

	# perf report resolves the module's symbols from /proc/kallsyms, so
	# the server stays loaded until the reports are written.
	say "perf report (this takes a while under TCG)"
	report comm --no-children --sort comm -g none --percent-limit 0
	report self --no-children --sort dso,sym -g none --percent-limit 0.3
	report children --children --sort sym -g none --percent-limit 0.5
	# The same per command, so the summary can show the server side alone.
	report self-comm --no-children --sort comm,sym -g none --percent-limit 0.02
	report children-comm --children --sort comm,sym -g none --percent-limit 0.1
	# How the hottest kernel symbols are reached: callers first, the 10
	# innermost frames, branches under 0.5% left out.
	for sym in $(awk '$2 == "[kernel.kallsyms]" && $3 == "[k]" { print $4 }' \
		"$OUT/self.txt" | sed -n 1,6p); do
		perf report -i "$WORK/perf.data" --stdio --no-children --sort sym \
			-S "$sym" -g graph,0.5,callee,function,percent --max-stack 10 \
			2>/dev/null |
			grep -v '^#' | grep -v '^$' | sed -n 1,80p
		echo
	done >"$OUT/callers.txt"
	if [ "$server" = khttpd ]; then
		stop_khttpd
	elif [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	cp "$WORK/perf.data" "$OUT/perf.data"
	{
		echo "guest kernel: $(uname -r), $NCPU CPUs"
		echo "clock: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
		echo "cmdline: $(cat /proc/cmdline)"
		echo "server: $server, file: f$file"
	} >>"$OUT/guest.txt"
	say "done"
}

case ${1:-} in
trace) cmd_trace ;;
profile) cmd_profile ;;
*)
	echo "usage: $0 trace|profile (run in the guest by scripts/trace.sh)" >&2
	exit 2
	;;
esac
