#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What `make check-debug` runs once scripts/deps.sh has: the module's whole
# integration suite, a load/unload soak and a kmemleak scan in a QEMU guest
# booted with a sanitizer kernel (KASAN, kmemleak, lockdep, debug objects).
#
#   1. scripts/debug-kernel.sh build: the kernel, built once from Debian's
#      linux-source-6.12 and cached outside the repository (the first build
#      takes about an hour on 2 cores; later runs reuse it);
#   2. build/htstress (the soak uses it);
#   3. khttpd.ko for that kernel (scripts/build-module.sh --kdir) into
#      build/kernels/<release>/; any compiler or modpost warning fails;
#   4. scripts/vm.sh run -- scripts/guest-debug.sh with that kernel and module;
#   5. the guest's console is searched for kernel reports (KASAN, lockdep,
#      BUG, WARNING, debug objects, kmemleak): any fails the run, and each is
#      printed.
#
# Environment: KHTTPD_DEBUG_TIMEOUT (guest time limit, s, default 5400),
# KHTTPD_DEBUG_MEM (guest memory, MiB, default 4096),
# KHTTPD_DEBUG_SOAK_CYCLES (default 20), KHTTPD_DEBUG_SUITE=0 (skip the
# integration suite: the soak and kmemleak alone), KHTTPD_DEBUG_CACHE
# (scripts/debug-kernel.sh). Logs and the guest's files (kmemleak report,
# kernel log) end up in build/debug/.

set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

TIMEOUT=${KHTTPD_DEBUG_TIMEOUT:-5400}
MEM=${KHTTPD_DEBUG_MEM:-4096}
LOGDIR=build/debug
JOBS=$(nproc 2>/dev/null || echo 2)

# Kernel log lines (they carry a "[ seconds]" timestamp on the console) that
# mean the kernel found a problem.
REPORT='\[ *[0-9]+\.[0-9]+\] (\[ *[CT][0-9]+\] )?.*(BUG:|WARNING:|Oops|general protection fault|kernel BUG at|Kernel panic|KASAN:|UBSAN:|KFENCE:|ODEBUG:|kmemleak: [0-9]+ new suspected|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|scheduling while atomic|blocked for more than|rcu: INFO:|refcount_t:|list_(add|del) corruption)'

say() { echo "check-debug: $*"; }
since() { echo $((SECONDS - $1)); }

mkdir -p "$LOGDIR"
summary=()
t_all=$SECONDS

# --- 1. the kernel
t0=$SECONDS
say "=== the debug kernel (scripts/debug-kernel.sh build) ==="
if ! kenv=$(scripts/debug-kernel.sh build); then
	say "FAIL: no debug kernel"
	exit 1
fi
eval "$kenv"
if [ "$(since $t0)" -lt 60 ]; then
	summary+=("$(printf '%-28s cached   (first build took %s s)' "kernel $DEBUG_KVER" "$DEBUG_BUILD_SECONDS")")
else
	summary+=("$(printf '%-28s built    %6s s' "kernel $DEBUG_KVER" "$(since $t0)")")
fi

# --- 2. userspace tools the guest uses
t0=$SECONDS
say "=== build/htstress ==="
if ! make -j"$JOBS" build/htstress >"$LOGDIR/tools.log" 2>&1; then
	tail -n 30 "$LOGDIR/tools.log"
	say "FAIL: building the tools failed (log: $LOGDIR/tools.log)"
	exit 1
fi

# --- 3. the module
say "=== khttpd.ko for $DEBUG_KVER ==="
modlog=$LOGDIR/module-build.log
# KCFLAGS=-g: the kernel has no debug info, but the module's C should, so
# that faddr2line turns a report's khttpd_fn+0x1a/0x200 into a line (the
# C++ objects keep their own -g1, which comes after it).
if ! KCFLAGS=-g scripts/build-module.sh --kdir "$DEBUG_KDIR" >"$modlog" 2>&1; then
	tail -n 40 "$modlog"
	say "FAIL: building the module failed (log: $modlog)"
	exit 1
fi
KO=$PWD/build/kernels/$DEBUG_KVER/khttpd.ko
# The C++ flags derived from this kernel's (KASAN, lockdep) must be as
# clean as on Debian's kernels.
if grep -Ei 'warning' "$modlog"; then
	say "FAIL: the module build warns (log: $modlog)"
	exit 1
fi
summary+=("$(printf '%-28s PASS     %6s s' "tools + module" "$(since $t0)")")

# --- 4. the guest
say "=== the suite, the soak and kmemleak in the guest (up to $TIMEOUT s) ==="
t0=$SECONDS
token=$(date +%s%N)-$$
# slub_debug for the module's own caches only: consistency checks, red
# zones, poisoning and owner tracking (KASAN covers every other cache).
# acpi=noirq: under KASAN and TCG the ACPI interpreter runs so slowly that
# each evaluation of the PCI bus's _PRT hits ACPICA's 30 s loop limit
# (three of them: 90 s of boot and "ACPI Error" lines); virtio uses MSI-X.
# no5lvl: with -cpu max the guest would use 5-level paging, and an interrupt
# during identify_cpu(), which clears boot_cpu_data's feature bits (LA57
# among them) and refills them, makes KASAN take a lock in the direct map
# for a wild access ("BUG: KASAN: wild-memory-access in do_raw_spin_lock"
# from handle_edge_irq, at boot, now and then). 4-level paging avoids it.
# kecho.ko, built beside khttpd.ko, runs its suite after khttpd's.
KHTTPD_VM_KERNEL=$DEBUG_KERNEL KHTTPD_VM_MODDIR=$DEBUG_MODDIR KHTTPD_KO=$KO \
	KECHO_KO=$(dirname "$KO")/kecho.ko KHTTPD_DEBUG_TOKEN=$token \
	VM_APPEND="${VM_APPEND:-} acpi=noirq no5lvl slub_debug=FZPU,khttpd*,kecho*" \
	scripts/vm.sh run --mem "$MEM" --timeout "$TIMEOUT" -- scripts/guest-debug.sh 2>&1 |
	tee "$LOGDIR/console.log"
status=${PIPESTATUS[0]}
run_s=$(since $t0)

# Keep this run's guest files (build/vm/out is shared by every vm.sh run).
rm -rf "$LOGDIR/out"
if [ "$(cat build/vm/out/debug-token 2>/dev/null)" = "$token" ]; then
	cp -r build/vm/out "$LOGDIR/out"
elif [ -e build/vm/out/debug-token ]; then
	say "build/vm/out is another run's; this run's files are lost"
fi

# --- 5. kernel reports on the console (covers a guest that panicked)
sed -i 's/\r$//' "$LOGDIR/console.log"
# When QEMU ran a stale translation of patched kernel text (a false int3,
# README), vm.sh boots the guest once more and the run is the second
# attempt's: judge the console from where vm.sh said so. The first
# attempt's console stays in build/vm/console-tcg-int3.log.
judged=$LOGDIR/console-judged.log
again=$(grep -an 'running the guest once more$' "$LOGDIR/console.log" |
	tail -n 1 | cut -d: -f1)
tail -n +$((${again:-0} + 1)) "$LOGDIR/console.log" >"$judged"
[ -z "$again" ] ||
	say "the guest ran twice (QEMU's false int3 in the first;" \
		"build/vm/console-tcg-int3.log): judging the second"
if grep -qaE "$REPORT" "$judged"; then
	say "FAIL: the kernel reported problems:"
	grep -aE "$REPORT" "$judged" | sed 's/^/  /'
	echo
	say "the reports in full (kernel lines; whole console: $LOGDIR/console.log):"
	# Each report from its first line to the end of its stack dump (150
	# lines past the last matching line at most).
	grep -aE '^\[ *[0-9]+\.[0-9]+\]' "$judged" |
		REPORT=$REPORT awk '
			BEGIN { re = ENVIRON["REPORT"] }
			$0 ~ re { if (left <= 0) print "  ----"; left = 150 }
			left > 0 { print "  " $0; left-- }
			/---\[ end (trace|Kernel panic)/ && left > 0 { left = 0 }' |
		head -n 1200
	[ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
	say "a frame such as khttpd_conn_io_work+0x100/0x10c0 [khttpd] to a source line:"
	say "  $DEBUG_KDIR/scripts/faddr2line $KO khttpd_conn_io_work+0x100/0x10c0"
fi

if [ "$status" -eq 0 ]; then
	summary+=("$(printf '%-28s PASS     %6s s' "suite + soak + kmemleak" "$run_s")")
else
	summary+=("$(printf '%-28s FAIL     %6s s  (exit status %d)' "suite + soak + kmemleak" "$run_s" "$status")")
fi
echo
say "=== summary ==="
printf '  %s\n' "${summary[@]}"
printf '  %-28s %s   %6s s\n' total "$([ "$status" -eq 0 ] && echo PASS || echo FAIL)" "$(since $t_all)"
[ "$status" -eq 0 ]
