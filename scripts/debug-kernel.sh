#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The sanitizer kernel `make check-debug` boots: Debian's linux-source-6.12
# configured from x86_64_defconfig + kvm_guest.config + scripts/debug-kernel.config
# (KASAN, kmemleak, lockdep, debug objects; virtio and 9p built in), built
# once and cached outside the repository.
#
#   scripts/debug-kernel.sh build   build it unless the cache has it; print
#                                   the variables below (shell syntax)
#   scripts/debug-kernel.sh env     print them for an existing build; fail
#                                   when there is none
#   scripts/debug-kernel.sh dir     print the cache directory it would use
#
# Printed variables:
#   DEBUG_KVER    kernel release (uname -r in the guest)
#   DEBUG_KDIR    the built source tree (KDIR for the module's build)
#   DEBUG_KERNEL  its bzImage
#   DEBUG_MODDIR  its modules directory (modules.builtin, modules.dep, ...)
#   DEBUG_BUILD_SECONDS  how long the build took
#
# Cache: $KHTTPD_DEBUG_CACHE (default /var/cache/khttpd/debug-kernel, or
# ~/.cache/khttpd/debug-kernel when that is not writable), one directory per
# <linux-source-6.12 version>-<sha256 of debug-kernel.config, 12 digits>.
# A directory without its `complete` stamp is an interrupted build; `build`
# resumes it (make is incremental). Delete a directory to force a rebuild.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRAGMENT=$REPO/scripts/debug-kernel.config
SRC_PKG=linux-source-6.12
SRC_TAR=/usr/src/linux-source-6.12.tar.xz

say() { echo "debug-kernel.sh: $*" >&2; }
die() {
	say "$*"
	exit 1
}

cache_root() {
	local d=${KHTTPD_DEBUG_CACHE:-/var/cache/khttpd/debug-kernel}
	if [ -z "${KHTTPD_DEBUG_CACHE:-}" ] && ! { mkdir -p "$d" 2>/dev/null && [ -w "$d" ]; }; then
		d=${XDG_CACHE_HOME:-$HOME/.cache}/khttpd/debug-kernel
	fi
	echo "$d"
}

# What building the kernel takes beyond scripts/deps.sh's base set.
PACKAGES=("$SRC_PKG" flex bison bc libelf-dev libssl-dev kmod xz-utils)

# Install what is missing, like scripts/deps.sh (root, or through sudo).
ensure_packages() {
	local p todo=() sudo=()
	for p in "${PACKAGES[@]}"; do
		[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || todo+=("$p")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "not root and no sudo: apt-get install ${todo[*]}"
		sudo=(sudo)
	fi
	say "installing: ${todo[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${todo[@]}" >&2
}

# <source package version>-<fragment hash>: a new Debian source upload or
# any change to the fragment gets a directory of its own.
cache_dir() {
	local ver hash
	ver=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) ||
		die "$SRC_PKG is not installed (apt-get install $SRC_PKG)"
	[ -r "$SRC_TAR" ] || die "$SRC_PKG is installed but $SRC_TAR is missing"
	hash=$(sha256sum "$FRAGMENT" | cut -c1-12)
	echo "$(cache_root)/${ver//[~:]/_}-$hash"
}

print_env() { # DIR
	local dir=$1 kver
	kver=$(cat "$dir/linux/include/config/kernel.release")
	echo "DEBUG_KVER=$kver"
	echo "DEBUG_KDIR=$dir/linux"
	echo "DEBUG_KERNEL=$dir/linux/arch/x86/boot/bzImage"
	echo "DEBUG_MODDIR=$dir/modules/lib/modules/$kver"
	echo "DEBUG_BUILD_SECONDS=$(cat "$dir/build-seconds" 2>/dev/null || echo 0)"
}

# Every line of the fragment must hold in the final .config: CONFIG_X=v
# exactly, "# CONFIG_X is not set" as neither =y nor =m.
verify_config() { # .config
	local config=$1 line sym bad=0
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*)
			if ! grep -qxF "$line" "$config"; then
				sym=${line%%=*}
				say "wanted $line, got: $(grep -E "^(# )?$sym[= ]" "$config" || echo "$sym absent")"
				bad=1
			fi
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			if grep -qE "^$sym=[ym]" "$config"; then
				say "wanted $sym off, got: $(grep -E "^$sym=" "$config")"
				bad=1
			fi
			;;
		esac
	done <"$FRAGMENT"
	[ $bad -eq 0 ] || die "the kernel configuration lacks options of $FRAGMENT (dependencies unmet?); see above"
	say "all $(grep -cE '^(CONFIG_|# CONFIG_.* is not set)' "$FRAGMENT") options of debug-kernel.config hold"
}

build() {
	local dir=$1 src=$1/linux t0 jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	mkdir -p "$dir"
	if ! [ -e "$src/Makefile" ]; then
		say "unpacking $SRC_TAR into $dir"
		rm -rf "$src" "$dir/linux-source-6.12"
		tar -C "$dir" -xf "$SRC_TAR"
		mv "$dir/linux-source-6.12" "$src"
	fi
	say "configuring: x86_64_defconfig + kvm_guest.config + $(basename "$FRAGMENT")"
	cp "$FRAGMENT" "$src/kernel/configs/khttpd_debug.config"
	{
		make -C "$src" x86_64_defconfig &&
			make -C "$src" kvm_guest.config &&
			make -C "$src" khttpd_debug.config &&
			make -C "$src" olddefconfig
	} >"$dir/config.log" 2>&1 || { cat "$dir/config.log" >&2; die "configuring failed"; }
	verify_config "$src/.config"

	say "building bzImage and modules with $jobs jobs at nice 19 (log: $dir/build.log)"
	t0=$SECONDS
	if ! nice -n 19 make -C "$src" -j"$jobs" bzImage modules >"$dir/build.log" 2>&1; then
		tail -n 40 "$dir/build.log" >&2
		die "the kernel build failed (log: $dir/build.log)"
	fi
	rm -rf "$dir/modules"
	make -C "$src" -s INSTALL_MOD_PATH="$dir/modules" modules_install >>"$dir/build.log" 2>&1 ||
		{ tail -n 20 "$dir/build.log" >&2; die "modules_install failed"; }
	# vm.sh looks for loadable modules under kernel/; there may be none.
	mkdir -p "$dir/modules/lib/modules/$(cat "$src/include/config/kernel.release")/kernel"
	# Add to the time an interrupted earlier attempt spent.
	echo $(($(cat "$dir/build-seconds" 2>/dev/null || echo 0) + SECONDS - t0)) >"$dir/build-seconds"
	date -u +%FT%TZ >"$dir/complete"
	say "built $(cat "$src/include/config/kernel.release") in $(cat "$dir/build-seconds") s"
}

cmd_build() {
	local dir lock
	ensure_packages
	dir=$(cache_dir)
	mkdir -p "$(dirname "$dir")"
	lock=$dir.lock
	exec 9>"$lock"
	if ! flock -n 9; then
		say "another build of $dir is running; waiting for it"
		flock 9
	fi
	if [ -e "$dir/complete" ]; then
		say "cached: $dir (built $(cat "$dir/complete") in $(cat "$dir/build-seconds") s)"
	else
		build "$dir"
	fi
	print_env "$dir"
}

cmd_env() {
	local dir
	dir=$(cache_dir)
	[ -e "$dir/complete" ] || die "no finished debug kernel in $dir; run '$0 build'"
	print_env "$dir"
}

case ${1:-} in
build) cmd_build ;;
env) cmd_env ;;
dir) cache_dir ;;
*)
	sed -n '/^#   scripts\/debug-kernel.sh build/,/^# Printed/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
