#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Inside the guest (run by guest-integration.sh): the module and the
# userspace twin must answer the same requests with the same status, header
# fields (Date values aside), bodies and connection handling. Serves a copy
# of www/ from both and compares them with tests/twin/header_diff.py.
set -uo pipefail

KO=${KHTTPD_KO:-$PWD/khttpd.ko}
TWIN=${TWIN:-$PWD/build/twin}
root=$(mktemp -d /tmp/parity.XXXXXX)
cp -r www/. "$root" && chmod -R a+rX "$root" || exit 1
/usr/bin/python3 tests/twin/header_diff.py --setup "$root" || exit 1

insmod "$KO" port=8091 root="$root" || exit 1
"$TWIN" -p 8092 -r "$root" -t 1 -b 127.0.0.1 >/dev/null &
twin=$!
for _ in $(seq 50); do
	/usr/bin/python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8092), 1)' 2>/dev/null && break
	sleep 0.1
done
/usr/bin/python3 tests/twin/header_diff.py 8091 8092
status=$?
# The guest's init waits for every writer of our output: stop the twin.
kill "$twin"
wait "$twin"
rmmod khttpd || status=1
rm -rf "$root"
exit $status
