#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build khttpd.ko for one kernel into a directory of its own, so that
# modules for several kernels can exist side by side (kbuild's M= builds in
# the source tree, and one tree holds objects for one kernel at a time).
#
#   scripts/build-module.sh KVER [OUT]
#       copies Kbuild, src/ and include/ into OUT/tree (default
#       build/kernels/KVER), builds there against /lib/modules/KVER/build
#       with the matching g++, and leaves OUT/khttpd.ko. Unchanged sources
#       are not copied again, so kbuild rebuilds only what changed.
#   scripts/build-module.sh --kdir KDIR [OUT]
#       the same against the kernel build tree KDIR, wherever it is (a
#       kernel built from source, such as scripts/debug-kernel.sh's); KVER
#       is read from KDIR/include/config/kernel.release. An option rather
#       than a KDIR variable: `make KDIR=...` exports KDIR to every command
#       it runs, and module-matrix must still build for each kernel.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: build-module.sh KVER [OUT] | --kdir KDIR [OUT]"
if [ "${1:-}" = --kdir ]; then
	KDIR=$(cd "${2:?$usage}" && pwd)
	KVER=$(cat "$KDIR/include/config/kernel.release" 2>/dev/null) || {
		echo "build-module.sh: $KDIR/include/config/kernel.release missing: is $KDIR a built kernel tree?" >&2
		exit 1
	}
	shift 2
	OUT=${1:-$REPO/build/kernels/$KVER}
else
	KVER=${1:?$usage}
	OUT=${2:-$REPO/build/kernels/$KVER}
	KDIR=/lib/modules/$KVER/build
fi

# kbuild resolves M= from the kernel tree: the output must be absolute.
OUT=$(realpath -m "$OUT")

[ -d "$KDIR" ] || { echo "build-module.sh: no build tree at $KDIR" >&2; exit 1; }
cxx=$("$REPO/scripts/kernel.sh" cxx "$KDIR")

mkdir -p "$OUT/tree"
# Sources a earlier copy left that the repo no longer has (a header that
# moved) would still be found by #include "..." first: start from none.
# cpio keeps the copies' times, so kbuild rebuilds only what changed.
(cd "$OUT/tree" && find src include -type f \
	\( -name '*.[ch]' -o -name '*.cpp' \) ! -name '*.mod.c' -delete \
	2>/dev/null || true)
# Only sources: objects and .cmd files of an in-tree build belong to
# whatever kernel that was built for.
(cd "$REPO" && find Kbuild include src -type f \
	\( -name Kbuild -o -name '*.[ch]' -o -name '*.cpp' \) -print0) |
	(cd "$REPO" && cpio --null -pdmu --quiet "$OUT/tree")
make -C "$KDIR" M="$OUT/tree" KHTTPD_CXX="$cxx" modules
# Every module the Kbuild makes (khttpd.ko and its siblings) lands in OUT.
(cd "$OUT/tree" && find . -name '*.ko' -print0) |
	while IFS= read -r -d '' ko; do
		cp -f "$OUT/tree/$ko" "$OUT/$(basename "$ko")"
		echo "build-module.sh: $OUT/$(basename "$ko") (kernel $KVER, $cxx)"
	done
[ -e "$OUT/khttpd.ko" ]
