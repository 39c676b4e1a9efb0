#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Which kernel to build for, which C++ compiler goes with it, and which
# kernels make up the test matrix. The Makefile, scripts/vm.sh and
# scripts/check.sh all ask this script, so the module that is built and the
# kernel the guest boots can never disagree.
#
#   scripts/kernel.sh default     the kernel `make` builds for:
#       1. the running kernel, when /lib/modules/$(uname -r)/build exists;
#       2. otherwise the newest installed kernel that has a build tree,
#          preferring the generic flavour (-amd64) to -rt-amd64, and both
#          to -cloud-amd64 and anything else ("newest" is sort -V order).
#   scripts/kernel.sh bootable    like default, but only kernels that also
#       have /boot/vmlinuz-<ver> (what the QEMU guest can boot)
#   scripts/kernel.sh cxx KDIR    the g++ whose major version matches the
#       gcc the kernel in KDIR was built with (CONFIG_CC_VERSION_TEXT); exits
#       non-zero naming the Debian package when it is not installed
#   scripts/kernel.sh matrix      the tested kernels that are installed, one
#       per line: the newest of each series and flavour in MATRIX below that
#       has both an image and a build tree
#   scripts/kernel.sh packages    the Debian packages of the whole matrix
#
# KVER in the environment wins over every rule (KDIR too, in the Makefile).

set -euo pipefail

# Overridable so tests/host can try the rules on made-up trees.
MODDIR=${KHTTPD_MODDIR:-/lib/modules}
BOOTDIR=${KHTTPD_BOOTDIR:-/boot}
RUNNING=${KHTTPD_RUNNING:-$(uname -r)}

# The tested matrix: "<series> <flavour suffix> <image pkg> <headers pkg>".
# Debian 12's own suites carry all three (6.1 is its default kernel).
MATRIX=(
	"6.1 -amd64 linux-image-amd64 linux-headers-amd64"
	"6.12 -amd64 linux-image-6.12-amd64 linux-headers-6.12-amd64"
	"6.12 -rt-amd64 linux-image-6.12-rt-amd64 linux-headers-6.12-rt-amd64"
)

say() { echo "kernel.sh: $*" >&2; }

# Rank of a kernel's flavour: generic first, then rt, then cloud, then the rest.
flavour_rank() {
	case $1 in
	*-rt-amd64) echo 1 ;;
	*-cloud-amd64) echo 2 ;;
	*-amd64) echo 0 ;;
	*) echo 3 ;;
	esac
}

# Installed kernel versions with a build tree (and, with $1 = boot, an image).
installed() {
	local d v
	for d in "$MODDIR"/*/; do
		[ -d "$d" ] || continue
		v=$(basename "$d")
		[ -d "$d/build" ] || continue
		if [ "${1:-}" = boot ] && ! [ -e "$BOOTDIR/vmlinuz-$v" ]; then
			continue
		fi
		echo "$v"
	done
}

# Newest first within the best flavour.
pick() {
	local v
	if [ -n "${KVER:-}" ]; then
		echo "$KVER"
		return
	fi
	v=$RUNNING
	if [ -d "$MODDIR/$v/build" ] && { [ "${1:-}" != boot ] || [ -e "$BOOTDIR/vmlinuz-$v" ]; }; then
		echo "$v"
		return
	fi
	v=$(installed "${1:-}" | while read -r k; do
		printf '%s %s\n' "$(flavour_rank "$k")" "$k"
	done | sort -k1,1n -k2,2Vr | head -n 1 | cut -d' ' -f2)
	if [ -z "$v" ]; then
		say "no installed kernel has a build tree under $MODDIR; run 'make deps'" \
			"or install linux-headers-\$(uname -r)"
		exit 1
	fi
	echo "$v"
}

cxx() {
	local kdir=$1 text major
	[ -r "$kdir/.config" ] || { say "no $kdir/.config: is $kdir a kernel build tree?"; exit 1; }
	text=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\(.*\)"$/\1/p' "$kdir/.config")
	case $text in
	*gcc*) ;;
	*)
		say "the kernel in $kdir was built with '$text', not gcc; the C++ core needs g++"
		exit 1
		;;
	esac
	# "gcc-12 (Debian 12.2.0-14) 12.2.0", "x86_64-linux-gnu-gcc-13 (Ubuntu ...) 13.2.0"
	major=$(echo "$text" | sed -n 's/.*) \([0-9][0-9]*\)\..*/\1/p')
	[ -n "$major" ] || { say "cannot read gcc's version from '$text'"; exit 1; }
	for c in "g++-$major" "x86_64-linux-gnu-g++-$major"; do
		if command -v "$c" >/dev/null; then
			echo "$c"
			return
		fi
	done
	if command -v g++ >/dev/null &&
		[ "$(g++ -dumpversion | cut -d. -f1)" = "$major" ]; then
		echo g++
		return
	fi
	say "the kernel in $kdir was built with gcc $major; its C++ objects need g++ $major:" \
		"apt-get install g++-$major"
	exit 1
}

matrix() {
	local entry series flavour v best
	for entry in "${MATRIX[@]}"; do
		read -r series flavour _ _ <<<"$entry"
		best=$(installed boot | grep -E "^${series//./\\.}\.[0-9]+" |
			while read -r v; do
				# -amd64 must not also match -rt-amd64 or -cloud-amd64.
				if [ "$(flavour_rank "$v")" = "$(flavour_rank "x$flavour")" ]; then
					echo "$v"
				fi
			done | sort -Vr | head -n 1)
		[ -n "$best" ] && echo "$best"
	done
	return 0
}

packages() {
	local entry
	for entry in "${MATRIX[@]}"; do
		read -r _ _ image headers <<<"$entry"
		echo "$image"
		echo "$headers"
	done
}

case ${1:-} in
default) pick ;;
bootable) pick boot ;;
cxx) cxx "${2:?usage: kernel.sh cxx KDIR}" ;;
matrix) matrix ;;
packages) packages ;;
*)
	sed -n '/^#   scripts\/kernel.sh default/,/^# KVER/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
