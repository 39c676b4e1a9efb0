#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make echo-check`: the course's `make check` of its user-echo-server.
# Starts build/user-echo-server on the host (127.0.0.1, port ECHO_PORT,
# default 12345, or the next free one up to 12364 when that is taken and
# ECHO_PORT is not set), runs `build/echo-bench --check` against it (a
# progress bar on a terminal; ECHO_CHECK_CLIENTS clients, default 100,
# ECHO_CHECK_BYTES each, default 1 MiB), then stops the server with
# SIGTERM. Exit status 0 only when every byte came back right and the
# server exited with status 0.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

say() { echo "echo-check: $*" >&2; }

CLIENTS=${ECHO_CHECK_CLIENTS:-100}
BYTES=${ECHO_CHECK_BYTES:-1048576}
if [ -n "${ECHO_PORT:-}" ]; then
	ports=("$ECHO_PORT")
else
	mapfile -t ports < <(seq 12345 12364)
fi

log=$(mktemp)
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null
	rm -f "$log"
}
trap cleanup EXIT

# The server prints its banner once it listens, or exits (port in use).
for port in "${ports[@]}"; do
	build/user-echo-server -b 127.0.0.1 -p "$port" >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && ! grep -q echoing "$log"; do
		sleep 0.05
	done
	grep -q echoing "$log" && break
	wait "$pid"
	pid=
done
if [ -z "$pid" ]; then
	say "could not start user-echo-server:"
	cat "$log" >&2
	exit 1
fi
head -n 1 "$log"

build/echo-bench --check -p "$port" -n "$CLIENTS" --bytes "$BYTES"
status=$?

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
tail -n 1 "$log"
if [ $rc -ne 0 ]; then
	say "FAIL: user-echo-server exited with status $rc on SIGTERM"
	status=1
fi
exit $status
