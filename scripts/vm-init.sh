#!/bin/busybox sh
# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the QEMU guest that scripts/vm.sh boots. It runs from a busybox
# initramfs: it loads the virtio/9p modules that vm.sh copied into /modules
# (in dependency order, listed in /modules/order), mounts the host's root
# filesystem read-only at /mnt and the writable results share at /out, and
# runs the command that vm.sh wrote to /out/cmd.sh chrooted into /mnt.
#
# Protocol with vm.sh (all files live in the results share):
#   config     sourced here: MODE (run|serve), RESULTS (host path of the
#              share, bind-mounted at the same path inside the chroot), PORT,
#              REPO (host path of the repository, its own share),
#              MODDIR (host path of the booted kernel's modules directory,
#              when it is not /lib/modules/<release>: a kernel built
#              elsewhere, scripts/vm.sh's KHTTPD_VM_MODDIR)
#   cmd.sh     POSIX sh script run in the chroot (cd + exec of the command)
#   cmd.log    written here: the command's stdout+stderr
#   status     written here: the command's exit status
#   ready      written here (serve): something listens on PORT
#   error      written here: why the guest gave up before running the command

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The kernel's built-in initramfs normally provides /dev/console; make sure
# our output reaches the serial console even if it did not.
exec </dev/null >/dev/console 2>&1

# Prefixed with the uptime, to see where boot time goes.
log() { echo "vm-init: [$(cut -d' ' -f1 /proc/uptime)] $*"; }

die() {
	log "$*"
	if [ -d /out ] && mountpoint -q /out; then
		echo "$*" >/out/error
		sync
	fi
	poweroff -f
	sleep 10
}

load_modules() { # list file
	while read -r m; do
		[ -n "$m" ] || continue
		insmod "/modules/$m.ko" || die "insmod $m failed"
	done <"$1"
}

load_modules /modules/order

# The results share first: from here on errors can be reported to the host.
mkdir -p /out /mnt
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /out ||
	die "cannot mount the results share"
[ -r /out/config ] || die "no /out/config from the host"
MODE=run PORT=8081 RESULTS= REPO= MODDIR=
# shellcheck disable=SC1091
. /out/config

# cache=loose: the host root does not change under a test run, and caching
# makes python/pytest start several times faster over 9p.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose \
	hostroot /mnt || die "cannot mount the host root over 9p"

# A kernel that is not installed on the host: show its modules directory at
# /lib/modules/<release>, where modprobe and depmod look (before /tmp gets
# a tmpfs, in case the directory lies under the host's /tmp).
if [ -n "$MODDIR" ]; then
	kmods=/mnt/lib/modules/$(uname -r)
	if ! [ -d "$kmods" ]; then
		# The host root is read-only: a tmpfs over /lib/modules to
		# create the mount point in (other kernels' modules are of no use
		# to this one).
		mount -t tmpfs -o mode=0755 tmpfs /mnt/lib/modules &&
			mkdir -p "$kmods" || die "cannot make $kmods"
	fi
	mount --bind "/mnt$MODDIR" "$kmods" || die "cannot bind $MODDIR at /lib/modules/$(uname -r)"
fi

mount -t proc proc /mnt/proc
mount -t sysfs sysfs /mnt/sys
mount -t devtmpfs devtmpfs /mnt/dev
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /mnt/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /mnt/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp
mount -t tmpfs -o mode=0755 tmpfs /mnt/run
# For the trace scripts (ftrace, tracepoints).
mount -t debugfs debugfs /mnt/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /mnt/sys/kernel/tracing 2>/dev/null
# The repository has a share of its own, mounted at its host path: that
# path may lie under the tmpfs just mounted (a clone in /tmp).
mkdir -p "/mnt$REPO" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose \
	repo "/mnt$REPO" || die "cannot mount the repository at $REPO"
# The results share also appears at its host path, so commands can leave
# artifacts there.
if [ -n "$RESULTS" ]; then
	mount --bind /out "/mnt$RESULTS" || die "cannot bind the results share at $RESULTS"
fi

ip link set lo up
hostname khttpd-vm
if [ "$MODE" = serve ]; then
	log "loading the network stack"
	load_modules /modules/order-net
	ip link set eth0 up || die "no eth0"
	ip addr add 10.0.2.15/24 dev eth0
	ip route add default via 10.0.2.2
fi

# The command, with a clean environment (vm.sh puts the variables it passes
# through into cmd.sh). HOME is /tmp because the host root is read-only.
run_cmd() {
	chroot /mnt /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/tmp TERM=dumb LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 \
		/bin/sh "$RESULTS/cmd.sh"
}

# Something listening on TCP port $1 (kernel sockets show up here too)?
listening() {
	hex=$(printf ':%04X ' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		awk -v p="$hex" 'index($2 " ", p) && $4 == "0A" { f = 1 } END { exit !f }'
}

log "running the command in $MODE mode"
if [ "$MODE" = run ]; then
	# Status goes to a file from inside the group: the pipe into tee would
	# otherwise hide it.
	{
		run_cmd
		echo $? >/out/status.tmp
	} 2>&1 | tee /out/cmd.log
	mv /out/status.tmp /out/status
	sync
	poweroff -f
	sleep 10
fi

# serve: the command either returns (insmod) or keeps running (a userspace
# server). A non-zero exit ends the guest; otherwise wait until something
# listens on PORT, tell the host, and stay up until it stops us.
{
	run_cmd
	echo $? >/out/cmd-status
} 2>&1 | tee /out/cmd.log &
i=0
while :; do
	if [ -s /out/cmd-status ] && [ "$(cat /out/cmd-status)" != 0 ]; then
		mv /out/cmd-status /out/status
		sync
		poweroff -f
	fi
	if listening "$PORT"; then
		echo ready >/out/ready
		log "listening on port $PORT"
		break
	fi
	i=$((i + 1))
	[ $i -eq 600 ] && log "still nothing listening on port $PORT"
	sleep 0.1
done
# Stay up; report a later failure of a long-running server command.
while :; do
	if [ -s /out/cmd-status ] && [ "$(cat /out/cmd-status)" != 0 ]; then
		mv /out/cmd-status /out/status
		sync
		poweroff -f
	fi
	sleep 1
done
