#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Run commands in a QEMU (TCG) guest booted with Debian's generic kernel, for
# machines whose own kernel cannot load modules. The guest sees the host's
# root filesystem read-only over 9p and chroots into it, so the repo, python3,
# curl, wrk, ... are all there at the same paths (docs/design.md, "Testing").
#
#   scripts/vm.sh run [--timeout SECS] [--smp N] [--mem MB] -- CMD ARGS...
#       Boot, run CMD in the current directory, power off. Exits with CMD's
#       status; non-zero with a one-line reason if the guest panics (WARN,
#       BUG, oops), times out or never reports a status. The console log
#       ends up in build/vm/console.log, CMD's output in build/vm/out/cmd.log.
#       Variables KHTTPD_*, KECHO_* and ECHO_* (and those named in VM_ENV)
#       are passed to CMD;
#       files CMD writes to $VM_RESULTS end up in build/vm/out.
#   scripts/vm.sh serve [--smp N] [--mem MB] [-- CMD ARGS...]
#       Boot with host 127.0.0.1:$PORT (default 8081) forwarded to the guest
#       and run CMD (default: insmod ./khttpd.ko port=$PORT on a copy of
#       <repo>/www in the guest's /tmp)
#       from the repo root; stay up until Ctrl-C or 'scripts/vm.sh stop'.
#   scripts/vm.sh stop
#       Stop the guest started by 'serve'.
#   scripts/vm.sh judge CONSOLE-LOG
#       How run judges a guest's console log: "clean", "kernel failure:
#       LINE", or "qemu stale int3: LINE" (a failure that run answers by
#       booting the guest once more).
#
# Environment: KVER (kernel version to boot), PORT (serve), VM_ENV (extra
# variable names to pass through), VM_APPEND (extra kernel command line).
# A kernel that is not installed under /boot and /lib/modules (the debug
# kernel of scripts/check-debug.sh): KHTTPD_VM_KERNEL=<bzImage> with
# KHTTPD_VM_MODDIR=<its modules directory, .../lib/modules/<release>>. The
# guest then sees that directory at /lib/modules/<release>; virtio and 9p
# listed in its modules.builtin are not loaded.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VMDIR=$REPO/build/vm
SERVE_DIR=$VMDIR/serve
PIDFILE=$VMDIR/serve.pid

# Load order matters: busybox insmod does not resolve dependencies.
BASE_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
	virtio_pci netfs fscache 9pnet 9pnet_virtio 9p)
NET_MODULES=(failover net_failover virtio_net)
# Modules that some kernels of the matrix do not have at all.
OPTIONAL_MODULES=(fscache)

# Exit codes for failures of the VM itself (CMD's own status passes through).
EX_TIMEOUT=124
EX_VM=125

say() { echo "vm.sh: $*" >&2; }
die() {
	say "$*"
	exit $EX_VM
}

usage() {
	sed -n '/^#   scripts\/vm.sh run/,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# The kernel to boot: the one `make` builds for (scripts/kernel.sh), unless
# KVER says otherwise, or the one KHTTPD_VM_KERNEL names (its release is the
# name of KHTTPD_VM_MODDIR).
pick_kver() {
	if [ -n "${KHTTPD_VM_KERNEL:-}" ]; then
		[ -n "${KHTTPD_VM_MODDIR:-}" ] || die "KHTTPD_VM_KERNEL needs KHTTPD_VM_MODDIR (its modules directory)"
		[ -r "$KHTTPD_VM_MODDIR/modules.builtin" ] ||
			die "KHTTPD_VM_MODDIR=$KHTTPD_VM_MODDIR has no modules.builtin (make modules_install output?)"
		basename "$(cd "$KHTTPD_VM_MODDIR" && pwd -P)"
		return
	fi
	"$REPO/scripts/kernel.sh" bootable || die "no kernel to boot; run scripts/deps.sh"
}

# Where the modules of kernel $KVER are on the host.
pick_moddir() {
	if [ -n "${KHTTPD_VM_KERNEL:-}" ]; then
		(cd "$KHTTPD_VM_MODDIR" && pwd -P)
	else
		echo "/lib/modules/$KVER"
	fi
}

# Copy module $1 of kernel $KVER into directory $2 as an uncompressed .ko
# (busybox insmod cannot load compressed modules). Prints nothing and
# succeeds for built-in modules, so the name is left out of the load order.
copy_module() {
	local m=$1 dst=$2 moddir=$MODDIR f=
	if [ -d "$moddir/kernel" ]; then
		f=$(find "$moddir/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" \
			-o -name "$m.ko.zst" -o -name "$m.ko.gz" \) -print -quit)
	fi
	if [ -z "$f" ]; then
		grep -q "/$m\.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
		# fscache became part of netfs (6.12): no module of its own.
		case " ${OPTIONAL_MODULES[*]} " in *" $m "*) return 0 ;; esac
		die "module $m not found under $moddir"
	fi
	case $f in
	*.xz) xz -dc "$f" >"$dst/$m.ko" ;;
	*.zst) zstd -qdc "$f" >"$dst/$m.ko" ;;
	*.gz) gzip -dc "$f" >"$dst/$m.ko" ;;
	*) cp "$f" "$dst/$m.ko" ;;
	esac
	echo "$m"
}

# Build (or reuse) the initramfs: static busybox, scripts/vm-init.sh as
# /init and the virtio/9p modules. Rebuilt when any input changes.
build_initramfs() {
	INITRAMFS=$VMDIR/initramfs-$KVER.cpio.gz
	local stamp_file=$INITRAMFS.stamp stamp m stage
	stamp=$(stat -L -c '%n %s %Y' /bin/busybox "$REPO/scripts/vm-init.sh" \
		"$REPO/scripts/vm.sh" "$MODDIR/modules.dep" 2>/dev/null | sha256sum)
	if [ -e "$INITRAMFS" ] && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
		return
	fi
	[ -x /bin/busybox ] || die "no /bin/busybox; install busybox-static"
	# A dynamically linked busybox cannot run in an initramfs without libc.
	if ldd /bin/busybox >/dev/null 2>&1; then
		die "/bin/busybox is dynamically linked; install busybox-static"
	fi
	say "building $INITRAMFS"
	mkdir -p "$VMDIR"
	stage=$(mktemp -d "$VMDIR/initramfs.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $stage is local
	trap "rm -rf '$stage'" RETURN
	mkdir -p "$stage"/{bin,dev,proc,sys,mnt,out,tmp,modules}
	cp /bin/busybox "$stage/bin/busybox"
	install -m 0755 "$REPO/scripts/vm-init.sh" "$stage/init"
	for m in "${BASE_MODULES[@]}"; do
		copy_module "$m" "$stage/modules"
	done >"$stage/modules/order"
	for m in "${NET_MODULES[@]}"; do
		copy_module "$m" "$stage/modules"
	done >"$stage/modules/order-net"
	# Write to a temporary name and rename: concurrent runs may build too.
	(cd "$stage" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) |
		gzip -1 >"$INITRAMFS.tmp.$$"
	mv -f "$INITRAMFS.tmp.$$" "$INITRAMFS"
	echo "$stamp" >"$stamp_file"
}

# POSIX-sh single quoting, for the script the guest runs.
shquote() {
	local s=$1
	printf "'%s'" "${s//\'/\'\\\'\'}"
}

# Write the guest's config and cmd.sh into results directory $1.
# $2 = mode, $3 = working directory, rest = command.
write_guest_files() {
	local out=$1 mode=$2 cwd=$3 name a
	shift 3
	{
		echo "MODE=$mode"
		echo "PORT=${PORT:-8081}"
		echo "RESULTS=$(shquote "$out")"
		echo "REPO=$(shquote "$REPO")"
		# Only for KHTTPD_VM_KERNEL: where /lib/modules/<release> really is.
		[ -z "${KHTTPD_VM_KERNEL:-}" ] || echo "MODDIR=$(shquote "$MODDIR")"
	} >"$out/config"
	{
		echo "# generated by scripts/vm.sh"
		# Where the command can leave files for the host (build/vm/out after the run).
		echo "export VM_RESULTS=$(shquote "$out")"
		for name in $(compgen -e | grep -E '^(KHTTPD|KECHO|ECHO)_' || true) ${VM_ENV:-}; do
			[ -n "${!name+set}" ] && echo "export $name=$(shquote "${!name}")"
		done
		echo "cd $(shquote "$cwd") || exit 125"
		printf 'exec'
		for a in "$@"; do
			printf ' %s' "$(shquote "$a")"
		done
		echo
	} >"$out/cmd.sh"
}

# Lines in console log $1 that mean the guest kernel warned, oopsed,
# locked up or panicked. Kernel lines carry a "[ seconds]" timestamp;
# requiring it keeps CMD output that merely mentions "WARNING:" from
# counting.
kernel_trouble() {
	grep -aE '\[ *[0-9]+\.[0-9]+\] (\[ *[CT][0-9]+\] )?(Kernel panic|(watchdog: )?BUG:|WARNING:|Oops|general protection fault|kernel BUG at|rcu: INFO: )' "$1" |
		tr -d '\r' || true
}

# Whether the guest whose console log is $1 died of QEMU's TCG rather than
# of its own code. The kernel patches its text (a static branch or call
# when a trace event is switched, say) int3 first, then the rest, then the
# int3 away, and waits for every CPU to answer an IPI between the steps.
# A vCPU still running its stale translation of the int3 traps after the
# patch is finished, at a byte that is no longer an int3. Two endings are
# seen, at the scheduler's tracepoints (in __schedule and
# trace_sched_wakeup, while a test switched an event, and at boot):
# - the int3 handler, finding no patch in progress, oopses ("Oops: int3"),
#   and the code bytes show no int3 before RIP;
# - the vCPU traps over and over with interrupts off and never answers
#   the patching CPU's IPI: a lockup (RCU stall or soft lockup, which the
#   guest's command line turns into a panic) with a CPU waiting in
#   text_poke_bp and another one caught in the int3 handler with no int3
#   at or before the RIP it trapped at, or caught at that RIP itself, a
#   5-byte NOP (what a switched-off static branch is).
# A real stray int3 (or a kprobe) would still be in memory.
tcg_stale_int3() {
	tr -d '\r' <"$1" | awk '
		# A "Code:" line gives the bytes around RIP, the one at RIP in <>;
		# at_rip(line, 0) is that byte, at_rip(line, -1) the one before, and
		# at_rip(line, 1) the four after it.
		function at_rip(line, off,   f, n, i) {
			n = split(line, f, " ")
			for (i = 2; i <= n; i++)
				if (f[i] ~ /^<[0-9a-f][0-9a-f]>$/) {
					if (off < 0) return f[i - 1]
					if (off == 0) return substr(f[i], 2, 2)
					return f[i + 1] " " f[i + 2] " " f[i + 3] " " f[i + 4]
				}
			return "cc"
		}
		/Oops: int3/ { oops = 1; next }
		oops && /Code: / {
			if (at_rip($0, -1) != "cc") found = 1
			oops = 0
		}
		/text_poke_bp/ { patching = 1 }
		# In the int3 handler: the next RIP outside it is where it trapped.
		/exc_int3/ { trapped = 1; rip = 0; next }
		trapped && /RIP: / { rip = 1; next }
		trapped && rip && /Code: / {
			if (at_rip($0, -1) != "cc" && at_rip($0, 0) != "cc")
				stuck = 1
			trapped = rip = 0
			next
		}
		/RIP: 0010:/ { kernel_rip = 1; next }
		kernel_rip && /Code: / {
			if (at_rip($0, 0) == "0f" && at_rip($0, 1) == "1f 44 00 00")
				stuck = 1
			kernel_rip = 0
		}
		END { exit !(found || (patching && stuck)) }'
}

QEMU_PID=
INTERRUPTED=

on_signal() {
	INTERRUPTED=1
	if [ -n "$QEMU_PID" ]; then kill "$QEMU_PID" 2>/dev/null || true; fi
	return 0
}

# boot MODE DIR TIMEOUT: boot the guest with results share DIR/out and
# console log DIR/console.log, stream the console, wait for the guest to end
# (or TIMEOUT seconds, 0 = none) and set VM_STATUS/VM_REASON.
boot() {
	local mode=$1 dir=$2 timeout=$3 kernel tail_pid deadline announced=
	local -a qemu_args
	kernel=${KHTTPD_VM_KERNEL:-/boot/vmlinuz-$KVER}
	[ -r "$kernel" ] || die "cannot read $kernel (Debian installs it mode 0600: run as root or chmod 0644 it)"
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing; run scripts/deps.sh"

	# no_timer_check: under emulation on a loaded host, the boot-time check
	# that the IO-APIC timer ticks can miss its window and panic ("IO-APIC
	# + timer doesn't work"; seen with three guests on 2 host cores).
	# softlockup_panic, panic_on_rcu_stall: a CPU that stops scheduling
	# ends the run within half a minute, with every CPU's backtrace,
	# instead of at the timeout; a lockup fails the run either way
	# (guest-integration.sh's kernel log check).
	# shellcheck disable=SC2054 # the commas are qemu's option syntax
	qemu_args=(
		-accel tcg,thread=multi -cpu max -smp "$SMP" -m "$MEM"
		-nodefaults -no-user-config -display none -monitor none -no-reboot
		-serial "file:$dir/console.log"
		-kernel "$kernel" -initrd "$INITRAMFS"
		-append "console=ttyS0 loglevel=5 printk.time=1 panic_on_warn=1 oops=panic panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 sysctl.kernel.panic_on_rcu_stall=1 no_timer_check rdinit=/init ${VM_APPEND:-}"
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
		-virtfs "local,path=$dir/out,mount_tag=results,security_model=none,multidevs=remap"
		# The repository again on its own, so it is reachable in the guest
		# even where the guest mounts a tmpfs over it (a clone in /tmp).
		-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on,multidevs=remap"
	)
	if [ "$mode" = serve ]; then
		# shellcheck disable=SC2054
		qemu_args+=(
			-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:$PORT"
			-device virtio-net-pci,netdev=n0
		)
	fi

	: >"$dir/console.log"
	trap on_signal INT TERM HUP
	local start=$SECONDS
	qemu-system-x86_64 "${qemu_args[@]}" </dev/null &
	QEMU_PID=$!
	if [ "$mode" = serve ]; then echo "$QEMU_PID" >"$PIDFILE"; fi
	# Stream the console; sed drops the serial line's carriage returns.
	tail -n +1 -s 0.2 -f --pid="$QEMU_PID" "$dir/console.log" | sed -u 's/\r$//' &
	tail_pid=$!

	deadline=$((SECONDS + timeout))
	local timed_out=
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ "$timeout" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then
			timed_out=1
			kill "$QEMU_PID" 2>/dev/null || true
			break
		fi
		if [ "$mode" = serve ] && [ -z "$announced" ] && [ -e "$dir/out/ready" ]; then
			announced=1
			say "guest up after $((SECONDS - start)) s"
			echo "khttpd is serving (a copy of) $REPO/www at http://localhost:$PORT/ — Ctrl-C or 'make stop' stops the guest"
		fi
		# A signal kills the sleep too; on_signal has dealt with it.
		sleep 0.2 || true
	done
	local qemu_status=0
	wait "$QEMU_PID" 2>/dev/null || qemu_status=$?
	wait "$tail_pid" 2>/dev/null || true
	trap - INT TERM HUP
	VM_ELAPSED=$((SECONDS - start))

	# Decide what happened; a kernel problem beats everything else.
	local trouble
	trouble=$(kernel_trouble "$dir/console.log" | head -n 1)
	VM_STATUS=$EX_VM
	VM_REASON=
	if [ -n "$trouble" ]; then
		VM_REASON="guest kernel failure: ${trouble#*] }"
	elif [ -n "$timed_out" ]; then
		VM_STATUS=$EX_TIMEOUT
		VM_REASON="timed out after $timeout s, killed qemu"
	elif [ -n "$INTERRUPTED" ]; then
		if [ "$mode" = serve ]; then
			VM_STATUS=0
			VM_REASON="stopped"
		else
			VM_STATUS=130
			VM_REASON="interrupted"
		fi
	elif [ "$mode" = serve ] && [ -e "$dir/stopped" ]; then
		VM_STATUS=0
		VM_REASON="stopped"
	elif [ -s "$dir/out/status" ] && grep -qxE '[0-9]+' "$dir/out/status"; then
		VM_STATUS=$(cat "$dir/out/status")
		if [ "$mode" = serve ]; then
			VM_REASON="serve command failed with status $VM_STATUS"
		fi
	elif [ "$qemu_status" -ne 0 ] && ! [ -s "$dir/console.log" ]; then
		VM_REASON="qemu failed to start (exit status $qemu_status; its message is above)"
	elif [ -s "$dir/out/error" ]; then
		VM_REASON="guest setup failed: $(head -n 1 "$dir/out/error")"
	else
		VM_REASON="no exit status came back from the guest (qemu exited with $qemu_status)"
	fi
}

parse_vm_opts() { # sets TIMEOUT SMP MEM CMD
	TIMEOUT=${VM_TIMEOUT:-1200} SMP=2 MEM=2048
	CMD=()
	while [ $# -gt 0 ]; do
		case $1 in
		--timeout) TIMEOUT=${2:?}; shift 2 ;;
		--smp) SMP=${2:?}; shift 2 ;;
		--mem) MEM=${2:?}; shift 2 ;;
		--) shift; CMD=("$@"); break ;;
		-h | --help) usage ;;
		-*) say "unknown option $1"; usage ;;
		*) CMD=("$@"); break ;;
		esac
	done
	[[ $TIMEOUT =~ ^[0-9]+$ && $SMP =~ ^[0-9]+$ && $MEM =~ ^[0-9]+$ ]] ||
		die "--timeout, --smp and --mem take numbers"
}

cmd_run() {
	parse_vm_opts "$@"
	[ ${#CMD[@]} -gt 0 ] || usage
	KVER=$(pick_kver)
	MODDIR=$(pick_moddir)
	mkdir -p "$VMDIR"
	build_initramfs
	# A private directory per run, so concurrent runs do not mix results;
	# the finished run's files then move to build/vm/{console.log,out}.
	local dir
	case $PWD/ in
	"$REPO"/*) ;;
	/tmp/* | /run/* | /dev/* | /proc/* | /sys/*)
		die "cannot run from $PWD: the guest mounts its own /tmp, /run, /dev, /proc and /sys" ;;
	esac
	dir=$(mktemp -d "$VMDIR/run.XXXXXX")
	local attempt
	for attempt in 1 2; do
		rm -rf "$dir/out"
		mkdir "$dir/out"
		write_guest_files "$dir/out" run "$PWD" "${CMD[@]}"
		boot run "$dir" "$TIMEOUT"
		if [ -z "$VM_REASON" ] || [ "$attempt" = 2 ] || [ -n "$INTERRUPTED" ] ||
			! tcg_stale_int3 "$dir/console.log"; then
			break
		fi
		cp "$dir/console.log" "$VMDIR/console-tcg-int3.log"
		say "$VM_REASON: QEMU ran a stale translation of patched kernel text (a CPU trapped on an int3 that is not in memory; build/vm/console-tcg-int3.log); running the guest once more"
	done

	mv -f "$dir/console.log" "$VMDIR/console.log"
	rm -rf "$VMDIR/out.old"
	[ -e "$VMDIR/out" ] && mv "$VMDIR/out" "$VMDIR/out.old"
	mv "$dir/out" "$VMDIR/out"
	rm -rf "$VMDIR/out.old"
	rmdir "$dir"
	if [ -n "$VM_REASON" ]; then
		say "FAIL: $VM_REASON (console log: build/vm/console.log)"
		[ "$VM_STATUS" -ne 0 ] || VM_STATUS=$EX_VM
	else
		say "guest ran '${CMD[*]}' in $VM_ELAPSED s, exit status $VM_STATUS"
	fi
	return "$VM_STATUS"
}

cmd_serve() {
	parse_vm_opts "$@"
	PORT=${PORT:-8081}
	[[ $PORT =~ ^[0-9]+$ ]] || die "PORT must be a number"
	if [ ${#CMD[@]} -eq 0 ]; then
		[ -e "$REPO/khttpd.ko" ] || die "no $REPO/khttpd.ko; build it first (make module)"
		# A copy on the guest's tmpfs: khttpd reads files as user 65534,
		# and a checkout may sit in a directory only its owner can enter.
		CMD=(sh -c 'rm -rf /tmp/khttpd-www && cp -r www /tmp/khttpd-www &&
			chmod -R a+rX /tmp/khttpd-www &&
			exec insmod ./khttpd.ko "port=$1" root=/tmp/khttpd-www' sh "$PORT")
	fi
	if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
		die "a guest is already serving (pid $(cat "$PIDFILE")); run 'scripts/vm.sh stop'"
	fi
	KVER=$(pick_kver)
	MODDIR=$(pick_moddir)
	mkdir -p "$VMDIR"
	build_initramfs
	rm -rf "$SERVE_DIR"
	mkdir -p "$SERVE_DIR/out"
	write_guest_files "$SERVE_DIR/out" serve "$REPO" "${CMD[@]}"
	# shellcheck disable=SC2064
	trap "rm -f '$PIDFILE'" EXIT
	boot serve "$SERVE_DIR" 0
	if [ "$VM_STATUS" -ne 0 ]; then
		say "FAIL: $VM_REASON (console log: build/vm/serve/console.log, command output: build/vm/serve/out/cmd.log)"
	else
		say "guest $VM_REASON after $VM_ELAPSED s"
	fi
	return "$VM_STATUS"
}

cmd_stop() {
	local pid
	if ! [ -s "$PIDFILE" ] || ! pid=$(cat "$PIDFILE") || ! kill -0 "$pid" 2>/dev/null; then
		say "no guest is running"
		rm -f "$PIDFILE"
		return 0
	fi
	# Only ever kill our own qemu, never a recycled pid.
	grep -q qemu-system "/proc/$pid/cmdline" 2>/dev/null ||
		die "pid $pid in $PIDFILE is not qemu; remove the stale pidfile"
	touch "$SERVE_DIR/stopped"
	kill "$pid"
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "qemu $pid ignored SIGTERM; killing it"
		kill -9 "$pid"
	fi
	say "stopped the guest (pid $pid)"
}

cmd_judge() {
	if [ $# -ne 1 ] || ! [ -r "$1" ]; then usage; fi
	local trouble
	trouble=$(kernel_trouble "$1" | head -n 1)
	if [ -z "$trouble" ]; then
		echo clean
	elif tcg_stale_int3 "$1"; then
		echo "qemu stale int3: ${trouble#*] }"
	else
		echo "kernel failure: ${trouble#*] }"
	fi
}

case ${1:-} in
run) shift; cmd_run "$@" ;;
judge) shift; cmd_judge "$@" ;;
serve) shift; cmd_serve "$@" ;;
stop) shift; cmd_stop ;;
*) usage ;;
esac
