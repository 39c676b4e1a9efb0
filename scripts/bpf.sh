#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The modules' bpftrace programs (scripts/bpf/*.bt: khttpd-*, kecho-*)
# during a short load in a
# QEMU guest: what `make bpf` runs. README, "Watching with BPF", shows the
# output.
#
#   scripts/bpf.sh [--duration S] [--timeout S] [SCRIPT...]
#       Boots $KVER (default: the kernel `make` builds for) with
#       build/kernels/$KVER/khttpd.ko (scripts/build-module.sh makes it),
#       starts the programs (default: all of scripts/bpf/; SCRIPT names
#       some, e.g. khttpd-latency), waits until each has attached, then
#       loads khttpd for S seconds (default 3) with wrk (keep-alive) and
#       ab (one connection per request) on three files plus a few 404s,
#       and kecho (build/kernels/$KVER/kecho.ko, port 12345) with
#       echo-bench --check (20 clients, 256 KiB each),
#       stops the programs with SIGINT and prints what each printed,
#       with the client's own counts to compare. Results in build/bpf/.
#   scripts/bpf.sh guest
#       The part that runs inside the guest (scripts/vm.sh run).
#
# bpftrace comes from the host's root (the guest chroots into it): Debian's
# bpftrace package (scripts/deps.sh). Under TCG each program takes several
# seconds to compile and attach; they start in parallel.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { echo "bpf.sh: $*" >&2; }
die() {
	say "FAIL: $*"
	exit 1
}

PORT=8081

# ------------------------------------------------------------------ guest

# The programs named in $KHTTPD_BPF_SCRIPTS, each in the background,
# output in $OUT/<name>.txt; waits until every one has printed its banner
# (BEGIN runs once all probes are attached).
start_programs() {
	local name t0=$SECONDS
	PIDS=()
	for name in $KHTTPD_BPF_SCRIPTS; do
		bpftrace "scripts/bpf/$name.bt" >"$OUT/$name.txt" 2>&1 &
		PIDS+=($!)
	done
	for name in $KHTTPD_BPF_SCRIPTS; do
		until grep -q '^k[a-z]*-.*: tracing' "$OUT/$name.txt"; do
			[ $((SECONDS - t0)) -lt 240 ] || die "$name did not start in 240 s: $(cat "$OUT/$name.txt")"
			sleep 0.2
		done
	done
	echo "bpftrace: $(echo "$KHTTPD_BPF_SCRIPTS" | wc -w) programs attached" \
		"$((SECONDS - t0)) s after they were started" | tee -a "$OUT/load.txt"
}

stop_programs() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -INT "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" || true
	done
}

load() {
	local d=$KHTTPD_BPF_DURATION url=http://127.0.0.1:$PORT i
	{
		echo "\$ wrk -t1 -c4 -d${d}s $url/f1k"
		wrk -t1 -c4 -d"${d}s" "$url/f1k" | grep -E 'requests in|Socket errors|Non-2xx'
		echo "\$ ab -q -n 200 -c 4 $url/f16k"
		ab -q -n 200 -c 4 "$url/f16k" | grep -E '^(Complete|Failed) requests'
		echo "\$ ab -q -n 20 -c 2 $url/f1m"
		ab -q -n 20 -c 2 "$url/f1m" | grep -E '^(Complete|Failed) requests'
		echo "\$ curl $url/missing (5 times)"
		for i in 1 2 3 4 5; do
			curl -s -o /dev/null -w '%{http_code} ' "$url/missing-$i"
		done
		echo
		echo "\$ echo-bench --check -q -n 20 --bytes 262144 -p 12345"
		build/echo-bench --check -q -n 20 --bytes 262144 -p 12345
	} 2>&1 | tee -a "$OUT/load.txt"
}

guest() {
	OUT=${VM_RESULTS:-/tmp/bpf-out}
	local work=/tmp/bpf ko=${KHTTPD_BPF_KO:?}
	mkdir -p "$OUT" "$work/root"
	echo "${KHTTPD_BPF_ID:-}" >"$OUT/run-id"
	: >"$OUT/load.txt"
	command -v bpftrace >/dev/null || die "bpftrace missing on the host; run scripts/deps.sh"
	head -c 1024 /dev/urandom >"$work/root/f1k"
	head -c 16384 /dev/urandom >"$work/root/f16k"
	head -c 1048576 /dev/urandom >"$work/root/f1m"
	chmod -R a+rX "$work"
	echo "kernel: $(uname -r), $(bpftrace --version)" | tee -a "$OUT/load.txt"
	insmod "$ko" port=$PORT root="$work/root"
	insmod "${KHTTPD_BPF_KECHO_KO:?}" port=12345
	start_programs
	local before after
	before=$(awk '$1 == "requests" { print $2 }' /proc/khttpd)
	load
	after=$(awk '$1 == "requests" { print $2 }' /proc/khttpd)
	echo "khttpd: $((after - before)) requests answered during the load (/proc/khttpd)" |
		tee -a "$OUT/load.txt"
	echo "kecho: $(awk '$1 == "bytes_echoed" { print $2 }' /proc/kecho) bytes echoed (/proc/kecho)" |
		tee -a "$OUT/load.txt"
	stop_programs
	rmmod khttpd kecho
}

# ------------------------------------------------------------------ host

host() {
	local duration=3 timeout=600 names=() n
	while [ $# -gt 0 ]; do
		case $1 in
		--duration) duration=${2:?}; shift 2 ;;
		--timeout) timeout=${2:?}; shift 2 ;;
		-h | --help) sed -n '3,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) say "unknown option $1 (see --help)"; exit 2 ;;
		*) names+=("${1%.bt}"); shift ;;
		esac
	done
	[ ${#names[@]} -gt 0 ] || for n in scripts/bpf/*.bt; do n=${n##*/}; names+=("${n%.bt}"); done
	for n in "${names[@]}"; do
		[ -e "scripts/bpf/$n.bt" ] || die "no scripts/bpf/$n.bt"
	done
	command -v bpftrace >/dev/null || die "bpftrace is missing; run scripts/deps.sh"
	KVER=${KVER:-$(scripts/kernel.sh bootable)}
	local ko=build/kernels/$KVER/khttpd.ko
	[ -e "$ko" ] || die "no $ko; run scripts/build-module.sh $KVER"
	[ -e "build/kernels/$KVER/kecho.ko" ] || die "no build/kernels/$KVER/kecho.ko; run scripts/build-module.sh $KVER"
	[ -x build/echo-bench ] || die "no build/echo-bench; run make build/echo-bench"
	export KHTTPD_BPF_KO=$REPO/$ko KHTTPD_BPF_DURATION=$duration
	export KHTTPD_BPF_KECHO_KO=$REPO/build/kernels/$KVER/kecho.ko
	export KHTTPD_BPF_SCRIPTS="${names[*]}"
	# build/vm/out is shared by every vm.sh run: check the results are ours.
	KHTTPD_BPF_ID=$$-$(date +%s%N)
	export KHTTPD_BPF_ID KVER
	say "booting $KVER: ${names[*]} during ${duration}s of load"
	local status=0 start=$SECONDS
	scripts/vm.sh run --timeout "$timeout" -- scripts/bpf.sh guest >/dev/null || status=$?
	local res=build/vm/out out=build/bpf
	[ "$(cat "$res/run-id" 2>/dev/null)" = "$KHTTPD_BPF_ID" ] ||
		die "build/vm/out is not this run's (another vm.sh run finished at the same time?); exit status $status"
	rm -rf "$out"
	mkdir -p "$out"
	cp "$res"/*.txt "$out/"
	[ "$status" -eq 0 ] || die "the guest run failed (status $status); see build/vm/out/cmd.log and build/vm/console.log"
	{
		cat "$out/load.txt"
		for n in "${names[@]}"; do
			echo
			echo "== $n.bt"
			grep -v '^Attaching' "$out/$n.txt" | cat -s
		done
	} | tee "$out/report.txt"
	say "guest run took $((SECONDS - start)) s; output in $out/"
}

case ${1:-} in
guest) guest ;;
*) host "$@" ;;
esac
