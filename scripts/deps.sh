#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing khttpd needs on Debian (12 or newer).
# Idempotent and quick when everything is there: apt runs only when
# dpkg-query reports a package missing. Works as root, or through sudo.
#
#   scripts/deps.sh          the base set (build, unit tests, fuzzing, QEMU)
#   scripts/deps.sh bench    also what `make bench`, `make trace` and
#                            `make profile` need: nginx to compare against,
#                            gnuplot for the chart, wrk, trace-cmd, perf

set -euo pipefail

PACKAGES=(
	build-essential g++ make
	# The generic kernel the QEMU guest boots, and its headers to build
	# the module against (the cloud kernel lacks 9p).
	linux-image-amd64 linux-headers-amd64
	qemu-system-x86 busybox-static cpio kmod xz-utils zstd
	python3 python3-pytest curl wget apache2-utils wrk
	libgtest-dev clang iproute2 procps
)

# Optional package groups, named on the command line.
BENCH_PACKAGES=(nginx gnuplot-nox wrk trace-cmd linux-perf)

for group in "$@"; do
	case $group in
	bench) PACKAGES+=("${BENCH_PACKAGES[@]}") ;;
	*)
		echo "deps.sh: unknown package group '$group' (known: bench)" >&2
		exit 2
		;;
	esac
done

say() { echo "deps.sh: $*" >&2; }

command -v dpkg-query >/dev/null || {
	say "not a Debian system; install the equivalents of: ${PACKAGES[*]}"
	exit 1
}

installed() { # PKG
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing() {
	local p
	for p in "$@"; do
		installed "$p" || echo "$p"
	done
}

if [ "$(id -u)" -eq 0 ]; then
	SUDO=()
elif command -v sudo >/dev/null; then
	SUDO=(sudo)
else
	SUDO=(false)
fi

apt_install() {
	say "installing: $*"
	if [ "${SUDO[0]:-}" = false ]; then
		say "not root and no sudo: install them by hand"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# --no-install-recommends: qemu-system-x86 would otherwise pull in a
	# desktop's worth of GUI libraries. What we do need from the
	# recommends (clang's libFuzzer runtime) is named explicitly below.
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "$@"
}

mapfile -t todo < <(missing "${PACKAGES[@]}")
[ ${#todo[@]} -eq 0 ] || apt_install "${todo[@]}"

# libFuzzer (-fsanitize=fuzzer) lives in libclang-rt-<N>-dev, which clang
# only recommends; N is the version the clang meta package points at.
clang_ver=$(dpkg-query -W -f='${Depends}' clang | grep -oE 'clang-[0-9]+' | head -n 1)
if [ -n "$clang_ver" ]; then
	rt=libclang-rt-${clang_ver#clang-}-dev
	# Older Debian releases shipped the runtime in libclang-common-N-dev.
	if ! installed "$rt" && apt-cache show "$rt" >/dev/null 2>&1; then
		apt_install "$rt"
	fi
fi

# The VM runner boots the newest -amd64 kernel that has both an image and a
# build tree; make sure there is one (the meta packages pull in the same
# version of each, but a half-finished upgrade can leave them apart).
for d in $(printf '%s\n' /lib/modules/*-amd64 | sort -rV); do
	v=${d##*/}
	if [ -e "/boot/vmlinuz-$v" ] && [ -d "$d/build" ]; then
		say "ok (guest kernel $v)"
		exit 0
	fi
done
say "no kernel version has both /boot/vmlinuz-<ver> and /lib/modules/<ver>/build;" \
	"install matching linux-image-<ver> and linux-headers-<ver>"
exit 1
