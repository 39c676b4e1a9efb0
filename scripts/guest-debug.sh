#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The guest side of `make check-debug`, run inside the QEMU guest booted with
# the sanitizer kernel (scripts/debug-kernel.sh) by scripts/check-debug.sh:
#     scripts/vm.sh run -- scripts/guest-debug.sh
# as root, chrooted into the host's root filesystem, cwd = the repo.
#
#   1. checks that the kernel really has KASAN, kmemleak and lockdep on, and
#      sets kmemleak's baseline (what boot left behind is not ours);
#   2. the whole integration suite: scripts/guest-integration.sh (which
#      includes the hostile-client barrage and the parity check);
#   3. a load/unload soak: KHTTPD_DEBUG_SOAK_CYCLES (20) times insmod with varied
#      parameters, a mixed load (htstress with and without keep-alive, curl
#      ranges/listings/gzip/conditionals over IPv4 and IPv6, idle, half-sent
#      and unread connections, a slow large download), then rmmod while all
#      of it is still connected;
#   4. after the last rmmod, two kmemleak scans a few seconds apart, then the
#      report;
#   5. the kernel log since the start: any KASAN, lockdep, UBSAN, BUG,
#      WARNING, debug-objects or kmemleak line fails the run and is printed.
#
# KHTTPD_DEBUG_SUITE=0 skips step 2 (to try the soak alone).
# Exit status 0 only when every step passed and the kernel reported nothing.
# The kmemleak report, the kernel log and khttpd's symbol addresses of each
# load go to $VM_RESULTS (build/vm/out on the host).

set -uo pipefail

KO=${KHTTPD_KO:-$PWD/khttpd.ko}
CYCLES=${KHTTPD_DEBUG_SOAK_CYCLES:-20}
PORT=${KHTTPD_DEBUG_SOAK_PORT:-8085}
HTSTRESS=$PWD/build/htstress
OUT=${VM_RESULTS:-/tmp}
KMEMLEAK=/sys/kernel/debug/kmemleak

# What the kernel must never say while we run (kernel log lines).
BAD='BUG:|WARNING:|Oops|general protection|kernel BUG|Call Trace:|KASAN|UBSAN|KFENCE|kmemleak: .*(leak|suspect)|ODEBUG|refcount_t|list_add corruption|list_del corruption|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|scheduling while atomic|INFO: |blocked for more than|stack-protector|lockdep|DEBUG_LOCKS_WARN_ON'

status=0
log() { echo "guest-debug: $*"; }
fail() {
	echo "guest-debug: FAIL: $*"
	status=1
}

[ "$(id -u)" -eq 0 ] || {
	log "must run as root (inside scripts/vm.sh run)" >&2
	exit 1
}
[ -n "${KHTTPD_DEBUG_TOKEN:-}" ] && echo "$KHTTPD_DEBUG_TOKEN" >"$OUT/debug-token"

# --- 1. the kernel ------------------------------------------------------
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
[ -r /proc/config.gz ] || {
	log "this kernel ($(uname -r)) has no /proc/config.gz: not the debug kernel (scripts/check-debug.sh boots that)"
	exit 1
}
# Read once: with pipefail, "zcat | grep -q" fails whenever grep stops
# early and zcat dies of SIGPIPE (an option near the top of the config).
kconfig=$(zcat /proc/config.gz)
config() { grep -qx "CONFIG_$1=y" <<<"$kconfig"; }
missing=
for opt in KASAN DEBUG_KMEMLEAK PROVE_LOCKING PROVE_RCU DEBUG_ATOMIC_SLEEP \
	DEBUG_OBJECTS_WORK DEBUG_OBJECTS_TIMERS SLUB_DEBUG TRACEPOINTS; do
	config "$opt" || missing="$missing $opt"
done
if [ -n "$missing" ]; then
	log "this kernel ($(uname -r)) lacks:$missing; boot the debug kernel (scripts/check-debug.sh)"
	exit 1
fi
[ -w "$KMEMLEAK" ] || {
	log "no $KMEMLEAK: kmemleak is off (kmemleak=off, or it disabled itself at boot; see dmesg)"
	dmesg | grep -i kmemleak | sed 's/^/  kmsg| /'
	exit 1
}
# lockdep turns itself off after its first report: if boot already did
# that, nothing below could be found.
debug_locks() { sed -n 's/^ *debug_locks: *//p' /proc/lockdep_stats; }
if [ "$(debug_locks)" != 1 ]; then
	log "lockdep is already off (debug_locks=$(debug_locks)): the kernel reported something at boot:"
	dmesg | grep -E "$BAD" | sed 's/^/  kmsg| /'
	exit 1
fi
[ -f "$KO" ] || {
	log "no module at $KO"
	exit 1
}
log "kernel $(uname -r): KASAN, kmemleak, lockdep, debug objects on; module $KO"

# kmemleak's baseline: whatever boot leaked (or seems to) is not ours.
echo scan >"$KMEMLEAK"
echo clear >"$KMEMLEAK"
dmesg >"$OUT/dmesg-boot.txt"
t0=$SECONDS

# --- 2. the integration suite --------------------------------------------
if [ "${KHTTPD_DEBUG_SUITE:-1}" = 0 ]; then
	log "=== integration suite skipped (KHTTPD_DEBUG_SUITE=0) ==="
else
	log "=== integration suite (scripts/guest-integration.sh) ==="
	# Under KASAN and TCG everything is several times slower: the race
	# test made 629 connections in its 30 s (21/s, against 300/s and
	# more on the other kernels).
	export KHTTPD_RMMOD_TIMEOUT=${KHTTPD_RMMOD_TIMEOUT:-60}
	export KHTTPD_RACE_MIN_RATE=${KHTTPD_RACE_MIN_RATE:-10}
	KHTTPD_KO=$KO scripts/guest-integration.sh
	rc=$?
	[ $rc -eq 0 ] || fail "the integration suite failed (exit status $rc)"
	log "integration suite done in $((SECONDS - t0)) s"
fi

# --- 3. load/unload soak -------------------------------------------------
root=$(mktemp -d /tmp/khttpd-soak.XXXXXX)
mkroot() {
	local i
	mkdir -p "$root/dir" "$root/big" "$root/sub/deeper"
	printf '<!doctype html><title>soak</title>\n' >"$root/index.html"
	: >"$root/empty.txt"
	head -c 1024 /dev/urandom >"$root/1k.bin"
	head -c 16384 /dev/urandom >"$root/16k.bin"
	head -c 100000 /dev/urandom >"$root/100k.bin"  # cached; spliced with cache_file_max=16
	head -c 4000000 /dev/urandom >"$root/big/4m.bin"
	seq 1 20000 >"$root/text.txt"
	gzip -c "$root/text.txt" >"$root/text.txt.gz"
	for i in $(seq 1 300); do : >"$root/dir/file-$i.txt"; done
	mkdir "$root/dir/sub-dir"
	ln -s ../index.html "$root/sub/link.html"
	ln -s /etc/passwd "$root/sub/escape"
	printf 'x\n' >"$root/sub/deeper/private.txt"
	chmod 0600 "$root/sub/deeper/private.txt"
	chmod -R a+rX "$root"
	chmod 0600 "$root/sub/deeper/private.txt"
	printf '%s\n' / /index.html /empty.txt /1k.bin /16k.bin /100k.bin /text.txt \
		/dir/ /dir /sub/link.html /sub/escape /missing /sub/deeper/private.txt \
		/../etc/passwd '/%2e%2e/x' /dir/sub-dir/ >"$root/.paths"
}
mkroot

listening() { # port
	local hex
	hex=$(printf ':%04X ' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p="$hex" 'index($2 " ", p) && $4 == "0A" { f = 1 } END { exit !f }'
}

# Connections that stay open across rmmod: idle ones, half-sent request
# heads, pipelined requests for a large file that are never read, a body
# announced and never sent. Holds them until killed.
hold_connections() {
	/usr/bin/python3 - "$PORT" "$root/.held" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
socks = []
def conn(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((host, port))
    socks.append(s)
    return s
try:
    for i in range(10):
        conn()
    for i in range(5):
        conn().sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    for i in range(5):
        conn().sendall(b"GET /big/4m.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
    for i in range(3):
        conn(socket.AF_INET6, "::1").sendall(b"GET /100k.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    for i in range(3):
        conn().sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\nabc")
    for i in range(3):
        conn().sendall(b"GET /dir/ HTTP/1.1\r\nHost: x\r\n\r\n")
except OSError as e:
    print("hold_connections: %s" % e, file=sys.stderr)
open(sys.argv[2], "w").write("%d\n" % len(socks))
time.sleep(3600)
EOF
}

# curl, every kind of request, over and over until killed.
curl_loop() {
	local base=http://127.0.0.1:$PORT base6="http://[::1]:$PORT" c=(curl -s -o /dev/null --max-time 20)
	while :; do
		"${c[@]}" "$base/"
		"${c[@]}" -6 "$base6/16k.bin"
		"${c[@]}" -r 100-5000 "$base/100k.bin"
		"${c[@]}" -r -300 "$base/big/4m.bin"
		"${c[@]}" -H 'Range: bytes=0-1,5-9' "$base/1k.bin"
		"${c[@]}" -H 'Accept-Encoding: gzip' "$base/text.txt"
		"${c[@]}" -I "$base/dir/"
		"${c[@]}" "$base/dir/"
		"${c[@]}" "$base/dir"
		"${c[@]}" -H 'If-None-Match: *' "$base/index.html"
		"${c[@]}" -H 'If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT' "$base/1k.bin"
		"${c[@]}" --path-as-is "$base/../../etc/passwd"
		"${c[@]}" "$base/sub/escape"
		"${c[@]}" -X OPTIONS "$base/"
		"${c[@]}" -X DELETE "$base/"
		"${c[@]}" --http1.0 "$base/empty.txt"
		"${c[@]}" -d @"$root/1k.bin" "$base/index.html"
	done
}

soak_cycle() { # n
	local n=$1 params pids=() t rc
	params=(port="$PORT" root="$root")
	# Vary what the module does: the cache off, an unbound workqueue,
	# listings off, a short idle timeout.
	[ $((n % 4)) -eq 0 ] && params+=(cache_size=0)
	[ $((n % 3)) -eq 0 ] && params+=(unbound_wq=1)
	[ $((n % 5)) -eq 0 ] && params+=(listing=0)
	[ $((n % 2)) -eq 0 ] && params+=(timeout=2 cache_file_max=16)
	if ! insmod "$KO" "${params[@]}"; then
		fail "soak cycle $n: insmod ${params[*]} failed"
		dmesg | tail -n 5 | sed 's/^/  kmsg| /'
		return 1
	fi
	# khttpd's symbols at this load, to name raw addresses in a later
	# kmemleak report (after rmmod the kernel cannot).
	grep -E '\[khttpd\]$' /proc/kallsyms >"$OUT/khttpd-syms-$n.txt"
	for _ in $(seq 300); do
		listening "$PORT" && break
		sleep 0.1
	done
	listening "$PORT" || {
		fail "soak cycle $n: nothing listens on port $PORT after insmod"
		rmmod khttpd
		return 1
	}

	# First the held connections (python takes seconds to start under
	# KASAN and TCG), then the load; unload once it is going, with all of
	# it still connected.
	rm -f "$root/.held"
	hold_connections 2>&1 &
	pids+=($!)
	for _ in $(seq 600); do
		[ -s "$root/.held" ] && break
		sleep 0.1
	done
	"$HTSTRESS" -n 0 -D 30 -c 8 -t 2 -k -f "$root/.paths" "http://127.0.0.1:$PORT/" >/dev/null 2>&1 &
	pids+=($!)
	"$HTSTRESS" -n 0 -D 30 -c 4 -t 1 -6 "http://[::1]:$PORT/1k.bin" >/dev/null 2>&1 &
	pids+=($!)
	curl_loop >/dev/null 2>&1 &
	pids+=($!)
	curl -s -o /dev/null --limit-rate 200k --max-time 60 "http://127.0.0.1:$PORT/big/4m.bin" &
	pids+=($!)
	sleep 3
	local open
	open=$(sed -n 's/^connections_open //p' /proc/khttpd 2>/dev/null)
	t=$SECONDS
	timeout 120 rmmod khttpd
	rc=$?
	# (rmmod's time includes starting it over 9p on a loaded guest.)
	log "soak cycle $n: ${params[*]:2}; ${open:-?} connections open; rmmod took $((SECONDS - t)) s"
	[ $rc -eq 0 ] || fail "soak cycle $n: rmmod khttpd failed (exit status $rc)"
	# The load may also end on its own (connection refused): no matter.
	# Stop each job with its children (curl_loop's curl): every background
	# job is a process group of its own (set -m below), and the guest's init
	# waits for everything that still holds our output.
	local p
	for p in "${pids[@]}"; do
		kill -- -"$p" 2>/dev/null
	done
	wait "${pids[@]}" 2>/dev/null
	if [ -d /sys/module/khttpd ]; then
		fail "soak cycle $n: khttpd still loaded"
		return 1
	fi
	if listening "$PORT"; then
		fail "soak cycle $n: port $PORT still listening after rmmod"
		return 1
	fi
	return 0
}

if [ -x "$HTSTRESS" ]; then
	log "=== load/unload soak: $CYCLES cycles on port $PORT ==="
	# Job control: each background job gets a process group, to kill whole.
	set -m
	t0=$SECONDS
	for n in $(seq 1 "$CYCLES"); do
		soak_cycle "$n" || break
	done
	set +m
	log "soak done in $((SECONDS - t0)) s"
else
	fail "no $HTSTRESS: build it first (make build/htstress)"
fi
[ -d /sys/module/khttpd ] && rmmod khttpd

# --- 4. kmemleak -----------------------------------------------------------
# Objects must have been unreferenced for a few seconds (kmemleak's minimum
# age) before they are reported; RCU callbacks and deferred frees first.
log "=== kmemleak: two scans after the last rmmod ==="
sleep 6
echo scan >"$KMEMLEAK"
sleep 6
echo scan >"$KMEMLEAK"
cat "$KMEMLEAK" >"$OUT/kmemleak.txt"
if [ -s "$OUT/kmemleak.txt" ]; then
	fail "kmemleak reports $(grep -c '^unreferenced object' "$OUT/kmemleak.txt") unreferenced object(s):"
	# Name addresses of the unloaded module from the symbols saved at each
	# load: after rmmod, the report shows them as bare addresses.
	/usr/bin/python3 - "$OUT/kmemleak.txt" "$OUT"/khttpd-syms-*.txt >"$OUT/kmemleak-named.txt" <<'EOF'
import bisect, re, sys
# khttpd's symbols at each soak load, sorted by address.
loads = []
for path in sys.argv[2:]:
    syms = sorted((int(p[0], 16), p[2]) for p in
                  (line.split() for line in open(path))
                  if len(p) >= 3 and p[1] in "tT")
    if syms:
        loads.append(syms)
def name(addr):
    """khttpd's function at addr in any load: the symbol at or below addr,
    when a symbol of that load lies above it."""
    hits = set()
    for syms in loads:
        i = bisect.bisect_right(syms, (addr, "\x7f")) - 1
        if 0 <= i < len(syms) - 1:
            hits.add("%s+0x%x" % (syms[i][1], addr - syms[i][0]))
    return " or ".join(sorted(hits)) or None
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    m = re.match(r"\s+(0x[0-9a-f]+)\s*$", line)
    n = name(int(m.group(1), 16)) if m else None
    print(line + ("   <- khttpd's %s? (an unloaded module's code; "
                  "khttpd had it there)" % n if n else ""))
EOF
	sed 's/^/  kmemleak| /' "$OUT/kmemleak-named.txt"
	if grep -q '\[khttpd\]' "$OUT/kmemleak.txt"; then
		log "kmemleak: an allocation backtrace names khttpd"
	elif grep -q "khttpd had it there" "$OUT/kmemleak-named.txt"; then
		log "kmemleak: a backtrace runs through an unloaded module's code at an address where khttpd's was (marked '<-'); unless another module was loaded there since, that is khttpd"
	else
		log "kmemleak: no allocation backtrace involves khttpd"
	fi
else
	log "kmemleak: no leaks"
fi

# --- 5. the kernel log -------------------------------------------------------
dmesg >"$OUT/dmesg.txt"
findings=$(grep -vxF -f "$OUT/dmesg-boot.txt" "$OUT/dmesg.txt" | grep -E "$BAD")
if [ -n "$findings" ]; then
	fail "the kernel log has findings:"
	printf '%s\n' "$findings" | sed 's/^/  kmsg| /'
	echo "guest-debug: kernel log around them (full log: build/vm/out/dmesg.txt):"
	grep -vxF -f "$OUT/dmesg-boot.txt" "$OUT/dmesg.txt" |
		grep -E -B 5 -A 60 "$BAD" | head -n 400 | sed 's/^/  kmsg| /'
fi
if [ "$(debug_locks)" != 1 ]; then
	fail "lockdep turned itself off during the run (it reported something; see the kernel log)"
fi

rm -rf "$root"
log "exit status $status"
exit $status
