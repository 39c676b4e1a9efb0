#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what building and testing khttpd needs on Debian (12 or newer).
# Idempotent and quick when everything is there: apt runs only when
# dpkg-query reports a package missing. Works as root, or through sudo.
#
#   scripts/deps.sh          the base set (build, unit tests, fuzzing, QEMU)
#   scripts/deps.sh bench    also what `make bench`, `make trace` and
#                            `make profile` need: nginx, lighttpd and h2o to
#                            compare against, wrk and httperf, gnuplot for
#                            the chart, trace-cmd, perf

set -euo pipefail

PACKAGES=(
	build-essential g++ make
	# pahole: kbuild encodes a module's BTF with it on kernels built with
	# CONFIG_DEBUG_INFO_BTF_MODULES (6.12); bpftool shows that BTF.
	dwarves bpftool
	# bpftrace: scripts/bpf/*.bt, `make bpf` and the integration test that
	# runs one in the guest (which sees the host's root).
	bpftrace
	# DKMS, to build and install the module the way users do (tests/host).
	dkms
	qemu-system-x86 busybox-static cpio kmod xz-utils zstd
	python3 python3-pytest curl wget apache2-utils wrk
	libgtest-dev clang iproute2 procps
	# GnuTLS: build/khttpd-tlsd, the TLS handshake agent for tls_port;
	# openssl makes the test certificates and is a client in tests/tlsd.
	libgnutls28-dev pkg-config openssl
)
# The kernels of the tested matrix, images for the QEMU guest and headers
# to build against (6.1, 6.12 and 6.12 PREEMPT_RT, all from Debian 12's own
# suites; the cloud flavour lacks 9p). scripts/kernel.sh lists them.
mapfile -t KERNEL_PACKAGES < <("$(dirname "${BASH_SOURCE[0]}")/kernel.sh" packages)
PACKAGES+=("${KERNEL_PACKAGES[@]}")

# Optional package groups, named on the command line.
# lighttpd and h2o: the other userspace peers of `make bench`; httperf and
# ab (apache2-utils, in the base set) are workloads of it.
BENCH_PACKAGES=(nginx lighttpd h2o httperf gnuplot-nox wrk trace-cmd linux-perf)

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

# Every kernel of the matrix needs an image to boot and a build tree (the
# meta packages pull in the same version of each, but a half-finished
# upgrade can leave them apart).
mapfile -t matrix < <("$(dirname "${BASH_SOURCE[0]}")/kernel.sh" matrix)
if [ ${#matrix[@]} -lt 3 ]; then
	say "only ${#matrix[@]} of the 3 kernels of the matrix have both" \
		"/boot/vmlinuz-<ver> and /lib/modules/<ver>/build: ${matrix[*]:-none};" \
		"install matching linux-image-<ver> and linux-headers-<ver>"
	exit 1
fi
say "ok (kernels: ${matrix[*]})"
