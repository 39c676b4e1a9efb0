#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What `make check` runs once the dependencies are installed: build, unit
# tests, fuzz smoke test, the twin's suite, the integration suite in a QEMU
# guest and a benchmark smoke run there. Every stage runs even when an
# earlier one failed, except those in the guest, which need the build; a
# summary with PASS/FAIL and durations comes at the end, and the exit status
# is non-zero if any stage failed.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

JOBS=$(nproc 2>/dev/null || echo 2)
summary=()
failed=0
t_start=$(date +%s%N)

# Seconds, with a tenth, since the nanosecond timestamp $1.
since() {
	local ms=$((($(date +%s%N) - $1) / 1000000))
	printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# stage NAME CMD...: run CMD, record PASS/FAIL and its duration.
stage() {
	local name=$1 t0 rc
	shift
	echo
	echo "==> $name: $*"
	t0=$(date +%s%N)
	"$@"
	rc=$?
	if [ $rc -eq 0 ]; then
		summary+=("$(printf '%-12s PASS  %7ss' "$name" "$(since "$t0")")")
	else
		summary+=("$(printf '%-12s FAIL  %7ss  (exit status %d)' "$name" "$(since "$t0")" $rc)")
		failed=1
	fi
	return $rc
}

skip() { # NAME REASON
	summary+=("$(printf '%-12s SKIP            (%s)' "$1" "$2")")
}

build_ok=1
stage build make -j"$JOBS" all || build_ok=0
stage unit make unit

stage fuzz-smoke make fuzz-smoke
# The userspace twin on the host, driven by its own suite.
stage twin /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/twin

if [ $build_ok -eq 1 ]; then
	stage integration scripts/vm.sh run -- scripts/guest-integration.sh
	# htstress and wrk against the module and the twin in the guest: any
	# error, non-2xx or wrong byte fails it (figures come from make bench).
	stage bench-smoke make bench-smoke
else
	skip integration "the build failed"
	skip bench-smoke "the build failed"
	failed=1
fi

echo
echo "==> summary"
printf '  %s\n' "${summary[@]}"
printf '  %-12s %s  %7ss\n' total "$([ $failed -eq 0 ] && echo PASS || echo FAIL)" "$(since "$t_start")"
exit $failed
