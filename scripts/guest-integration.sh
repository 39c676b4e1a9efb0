#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The integration stage, run inside the QEMU guest by
#     scripts/vm.sh run -- scripts/guest-integration.sh
# as root, chrooted into the host's root filesystem, cwd = the repo.
#
# Runs the pytest suite against the module, unloads the module if the suite
# left it loaded, then the echo suite against kecho.ko when KECHO_KO names
# it, then the TLS agent's suite when KHTTPD_TLSD_SUITE is set, then fails
# if the kernel logged anything alarming while they ran,
# even if every test passed. Exit status: pytest's, or 1 when pytest
# collected nothing (status 5), the module would not unload, or the kernel
# log has findings.

set -uo pipefail

# Kernel log lines that must never appear. The guest boots with
# panic_on_warn=1 oops=panic, so WARN/BUG/oops normally end the run before
# we get here; these catch what does not panic (hung tasks, RCU stalls,
# refcount/list debug checks, lockdep and sanitizers on debug kernels).
BAD='WARNING:|BUG:|Oops|general protection|kernel BUG|Call Trace:|KASAN|UBSAN|KFENCE|refcount_t|list_add corruption|list_del corruption|lockdep|possible circular locking|possible recursive locking|INFO: |blocked for more than|stack-protector'

[ "$(id -u)" -eq 0 ] || {
	echo "guest-integration: must run as root (inside scripts/vm.sh run)" >&2
	exit 1
}

# Switching a trace event on or off (several tests do) also switches the
# recording of task names (the record-cmd option), which patches the
# scheduler's own tracepoints, the hottest code there is (__schedule,
# try_to_wake_up). Under QEMU's TCG a vCPU can run a stale translation of
# such a patch and lock up or oops (scripts/vm.sh, tcg_stale_int3: once
# in twenty CI runs, each time at those tracepoints). The tests read
# pids and event fields, never the recorded names.
if [ -w /sys/kernel/tracing/options/record-cmd ]; then
	echo 0 >/sys/kernel/tracing/options/record-cmd
fi

baseline=$(mktemp)
trap 'rm -f "$baseline"' EXIT
dmesg >"$baseline"

# KHTTPD_KO: the module to test (default ./khttpd.ko; make check passes
# build/kernels/<ver>/khttpd.ko for each kernel of the matrix).
# KHTTPD_REQUIRE=1: a missing module is a failure here, not a skip.
# KHTTPD_SERVER=module: the module, whatever the host's environment says.
export KHTTPD_KO=${KHTTPD_KO:-$PWD/khttpd.ko} KHTTPD_REQUIRE=1 KHTTPD_SERVER=module
junit=()
[ -n "${VM_RESULTS:-}" ] && junit=(--junitxml="$VM_RESULTS/integration.xml")
# no:cacheprovider: the repo is read-only in the guest.
# KHTTPD_TESTS: what of the suite to run (default all of it; make check
# runs test_placement.py alone again in a 4-CPU guest).
# shellcheck disable=SC2086 # a list of paths
/usr/bin/python3 -m pytest -v -p no:cacheprovider "${junit[@]}" ${KHTTPD_TESTS:-tests/integration}
status=$?
if [ $status -eq 5 ]; then
	echo "guest-integration: FAIL: pytest collected no tests (exit status 5)"
	status=1
fi

# The suite unloads the module itself; if it did not (a crash or a failed
# test), unloading must still work.
if [ -d /sys/module/khttpd ]; then
	echo "guest-integration: khttpd still loaded after the suite; unloading it"
	if ! timeout 60 rmmod khttpd; then
		echo "guest-integration: FAIL: rmmod khttpd failed"
		status=1
	fi
fi

# The echo suite against kecho.ko, when the caller names it (make check
# passes build/kernels/<ver>/kecho.ko): named but missing is a failure.
if [ -n "${KECHO_KO:-}" ]; then
	if [ ! -f "$KECHO_KO" ]; then
		echo "guest-integration: FAIL: KECHO_KO=$KECHO_KO does not exist"
		status=1
	else
		junit=()
		[ -n "${VM_RESULTS:-}" ] && junit=(--junitxml="$VM_RESULTS/echo.xml")
		ECHO_SERVER=module KHTTPD_REQUIRE=1 /usr/bin/python3 -m pytest -v \
			-p no:cacheprovider "${junit[@]}" tests/echo
		echo_status=$?
		if [ $echo_status -eq 5 ]; then
			echo "guest-integration: FAIL: the echo suite collected no tests"
		fi
		[ $echo_status -eq 0 ] || status=1
		if [ -d /sys/module/kecho ]; then
			echo "guest-integration: kecho still loaded after the echo suite; unloading it"
			if ! timeout 60 rmmod kecho; then
				echo "guest-integration: FAIL: rmmod kecho failed"
				status=1
			fi
		fi
	fi
fi

# The TLS agent's own suite (its --listen mode, and the netlink path with
# the NFS server as the upcall's consumer), on one kernel with the upcall:
# make check asks for it with KHTTPD_TLSD_SUITE=1. Its 1000 concurrent
# handshakes (90 s under TCG) are left to `make check-tlsd`: the same
# agent takes 1000 at once through the kernel in test_tls.py above.
if [ -n "${KHTTPD_TLSD_SUITE:-}" ]; then
	junit=()
	[ -n "${VM_RESULTS:-}" ] && junit=(--junitxml="$VM_RESULTS/tlsd.xml")
	KHTTPD_REQUIRE=1 /usr/bin/python3 -m pytest -v -p no:cacheprovider \
		"${junit[@]}" tests/tlsd \
		--deselect tests/tlsd/test_tlsd.py::test_1000_concurrent_handshakes
	tlsd_status=$?
	if [ $tlsd_status -eq 5 ]; then
		echo "guest-integration: FAIL: the tlsd suite collected no tests"
	fi
	[ $tlsd_status -eq 0 ] || status=1
fi

# New kernel log lines since the baseline (timestamps make lines unique;
# comparing contents rather than counting survives a wrapped ring buffer).
findings=$(dmesg | grep -vxF -f "$baseline" | grep -E "$BAD")
if [ -n "$findings" ]; then
	echo "guest-integration: FAIL: the kernel log has findings:"
	printf '%s\n' "$findings" | sed 's/^/  kmsg| /'
	echo "guest-integration: full kernel log since the suite started:"
	dmesg | grep -vxF -f "$baseline" | tail -n 200 | sed 's/^/  kmsg| /'
	[ $status -ne 0 ] || status=1
fi

echo "guest-integration: exit status $status"
exit $status
