#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What `make check` runs once the dependencies are installed: build, unit
# tests, fuzz smoke test, the integration suite against the userspace twin
# on the host, the echo suite against user-echo-server on the host, the
# host's packaging tests (kernel choice, DKMS for every
# kernel, make install), the integration suite against the module in a
# QEMU guest on each kernel of the tested matrix (scripts/kernel.sh matrix:
# 6.1, 6.12, 6.12 PREEMPT_RT), the placement tests again in a 4-CPU guest,
# and a benchmark smoke run. Every stage runs
# even when an earlier one failed, except those in the guest, which need
# the build; a summary with PASS/FAIL and durations, one line per kernel,
# comes at the end, and the exit status is non-zero if any stage failed.

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

# Each stage's output is also kept in build/check/<n>.log, so that the
# lines saying why a stage failed can be repeated after the summary: a CI
# log is often read from its end.
LOGS=build/check
rm -rf "$LOGS"
mkdir -p "$LOGS"
why=()
# Python flushes each line, so the output still comes as it is made.
export PYTHONUNBUFFERED=1

# stage NAME CMD...: run CMD, record PASS/FAIL and its duration.
stage() {
	local name=$1 t0 rc log=$LOGS/${#summary[@]}.log
	shift
	echo
	echo "==> $name: $*"
	t0=$(date +%s%N)
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -eq 0 ]; then
		summary+=("$(printf '%-36s PASS  %7ss' "$name" "$(since "$t0")")")
	else
		summary+=("$(printf '%-36s FAIL  %7ss  (exit status %d)' "$name" "$(since "$t0")" "$rc")")
		failed=1
		# vm.sh's verdict, pytest's failed tests, the guest's findings.
		mapfile -t -O "${#why[@]}" why < <(tr -d '\r' <"$log" |
			grep -aE '^(vm\.sh: FAIL|FAILED |ERROR |guest-integration: FAIL|make(\[[0-9]+\])?: \*\*\*)' |
			tail -n 8 | cut -c1-200 | sed "s|^|$name: |")
	fi
	return "$rc"
}

skip() { # NAME REASON
	summary+=("$(printf '%-36s SKIP            (%s)' "$1" "$2")")
}

build_ok=1
stage build make -j"$JOBS" all || build_ok=0
stage unit make unit

stage fuzz-smoke make fuzz-smoke
# The integration suite against the userspace twin, on the host (the
# module's run is in the guest, below). KHTTPD_REQUIRE: a missing
# build/twin fails the stage instead of skipping every test.
stage twin env KHTTPD_SERVER=twin KHTTPD_REQUIRE=1 \
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

# The echo suite against user-echo-server, on the host (kecho.ko's run is
# in the guest, after the khttpd suite: scripts/guest-integration.sh).
stage echo env ECHO_SERVER=user KHTTPD_REQUIRE=1 \
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/echo

# Kernel selection, DKMS builds for each kernel, make install.
stage host /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/host

# integration_on KVER: the modules built for KVER, their suites (khttpd's,
# then kecho's) in a guest booted with KVER.
integration_on() {
	local kver=$1
	scripts/build-module.sh "$kver" >"build/kernels/build-$kver.log" 2>&1 || {
		echo "building for $kver failed:"
		tail -n 30 "build/kernels/build-$kver.log"
		return 1
	}
	KVER=$kver KHTTPD_KO=$PWD/build/kernels/$kver/khttpd.ko \
		KECHO_KO=$PWD/build/kernels/$kver/kecho.ko \
		KHTTPD_TLSD_SUITE=$([ "$kver" = "$tlsd_kernel" ] && echo 1) \
		scripts/vm.sh run -- scripts/guest-integration.sh
}

# test_placement.py again with 4 vCPUs, on the newest generic kernel of the
# matrix: where steering sends work when some CPUs have no client (the
# matrix's guests have 2 CPUs, a client can be on each).
placement_4cpus() {
	local kver
	kver=$(scripts/kernel.sh matrix | grep -v -- -rt | tail -n 1)
	KVER=$kver KHTTPD_KO=$PWD/build/kernels/$kver/khttpd.ko \
		KHTTPD_TESTS=tests/integration/test_placement.py \
		scripts/vm.sh run --smp 4 -- scripts/guest-integration.sh
}

mapfile -t kernels < <(scripts/kernel.sh matrix)
mkdir -p build/kernels
# The agent's suite runs once, in the first kernel with the TLS handshake
# upcall (khttpd's own TLS tests run in every such kernel).
tlsd_kernel=
for k in "${kernels[@]}"; do
	if grep -qx CONFIG_NET_HANDSHAKE=y "/boot/config-$k" 2>/dev/null; then
		tlsd_kernel=$k
		break
	fi
done
if [ $build_ok -eq 1 ]; then
	if [ ${#kernels[@]} -eq 0 ]; then
		skip integration "no kernel of the matrix installed (make deps)"
		failed=1
	fi
	for k in "${kernels[@]}"; do
		stage "integration $k" integration_on "$k"
	done
	[ ${#kernels[@]} -eq 0 ] || stage "placement, 4 CPUs" placement_4cpus
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
printf '  %-36s %s  %7ss\n' total "$([ $failed -eq 0 ] && echo PASS || echo FAIL)" "$(since "$t_start")"
if [ ${#why[@]} -gt 0 ]; then
	echo "==> why (each stage's whole output: $LOGS/)"
	printf '  %s\n' "${why[@]}"
fi
exit $failed
