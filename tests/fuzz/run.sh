#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Run one libFuzzer target (what `make fuzz` and `make fuzz-smoke` call):
#
#   tests/fuzz/run.sh BUILD TARGET SECONDS fresh|keep
#
# First every file in tests/fuzz/crashers/TARGET/ is run once (past
# crashers are a regression corpus), then the target fuzzes for SECONDS
# on a copy of tests/fuzz/corpus/TARGET/ under BUILD/fuzz/run/TARGET/ (the
# source tree may be read-only): "fresh" starts from the seeds alone,
# "keep" also keeps what earlier runs found. A crash, leak, timeout or
# OOM exits non-zero and leaves the input in BUILD/fuzz/run/TARGET/artifacts/.

set -uo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 BUILD TARGET SECONDS fresh|keep" >&2
	exit 2
fi
build=$1 target=$2 seconds=$3 mode=$4
here=tests/fuzz
bin=$build/fuzz/$target
work=$build/fuzz/run/$target
seeds=$here/corpus/$target
crashers=$here/crashers/$target

# Per-target libFuzzer options.
opts=(-timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
case $target in
fuzz_parser | fuzz_serve) opts+=(-max_len=16384) ;;
fuzz_path) opts+=(-max_len=8192) ;;
*) opts+=(-max_len=4096) ;;
esac
[ -f "$here/$target.dict" ] && opts+=(-dict="$here/$target.dict")

mkdir -p "$work/artifacts"
corpus=$work/corpus
[ "$mode" = fresh ] && { corpus=$work/smoke-corpus; rm -rf "$corpus"; }
mkdir -p "$corpus"
[ -d "$seeds" ] && cp -f "$seeds"/* "$corpus"/ 2>/dev/null

# 1. Past crashers, each run once.
mapfile -t old < <(find "$crashers" -type f ! -name 'README*' \
	! -name .gitkeep 2>/dev/null | sort)
if [ ${#old[@]} -gt 0 ]; then
	if ! "$bin" "${opts[@]}" "${old[@]}" >"$work/regress.log" 2>&1; then
		tail -n 40 "$work/regress.log" >&2
		echo "FAIL $target: a past crasher in $crashers fails again" \
			"(log: $work/regress.log)" >&2
		exit 1
	fi
	echo "$target: ${#old[@]} past crasher(s) pass"
fi

# 2. Fuzz. Earlier artifacts stay; only the ones this run writes count.
touch "$work/started"
"$bin" "${opts[@]}" -max_total_time="$seconds" \
	-artifact_prefix="$work/artifacts/" "$corpus" >"$work/fuzz.log" 2>&1
rc=$?
execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/fuzz.log" |
	grep -oE '[0-9]+$' | tail -n 1)
cov=$(grep -oE '(cov|ft): [0-9]+' "$work/fuzz.log" | tail -n 2 | tr '\n' ' ')
if [ $rc -ne 0 ]; then
	tail -n 60 "$work/fuzz.log" >&2
	echo >&2
	echo "FAIL $target (exit $rc) after ${execs:-?} executions; log: $work/fuzz.log" >&2
	find "$work/artifacts" -type f -newer "$work/started" |
		sed 's/^/  input: /' >&2
	echo "  reproduce: $bin <input>; once fixed, copy the input into" \
		"$crashers/ so it stays a regression test" >&2
	exit 1
fi
echo "$target: ${execs:-?} executions in ${seconds}s, ${cov}corpus $(ls "$corpus" | wc -l) files, no crash"
