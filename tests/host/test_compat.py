# SPDX-License-Identifier: GPL-2.0
"""The compat rule: kernel-version tests live in src/engine/compat.h (shared by the modules) only,
which states the minimum it supports, and everything else tests the
capabilities compat.h names."""

import glob
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
COMPAT = os.path.join(REPO, "src", "engine", "compat.h")
VERSION_TEST = re.compile(r"LINUX_VERSION_CODE|KERNEL_VERSION\s*\(")


def sources():
    for pat in ("src/**/*.[ch]", "src/**/*.cpp", "include/**/*.h"):
        yield from glob.glob(os.path.join(REPO, pat), recursive=True)


def test_no_version_test_outside_compat_h():
    offenders = []
    for path in sources():
        if os.path.samefile(path, COMPAT):
            continue
        with open(path, errors="replace") as f:
            for n, line in enumerate(f, 1):
                if VERSION_TEST.search(line):
                    offenders.append("%s:%d: %s" % (
                        os.path.relpath(path, REPO), n, line.strip()))
    assert not offenders, "\n".join(offenders)


def test_compat_refuses_kernels_below_the_minimum():
    with open(COMPAT) as f:
        text = f.read()
    m = re.search(r"#if LINUX_VERSION_CODE < KERNEL_VERSION\((\d+), (\d+), 0\)"
                  r"\s*\n#error", text)
    assert m and (int(m.group(1)), int(m.group(2))) == (6, 1)


def test_version_tests_only_define_capabilities():
    """Each version comparison in compat.h defines KHTTPD_HAVE_* and
    nothing else; shims are chosen by those names."""
    with open(COMPAT) as f:
        lines = f.read().split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#if LINUX_VERSION_CODE >="):
            body = lines[i + 1]
            assert body.startswith("#define KHTTPD_HAVE_"), (i + 1, body)
            assert lines[i + 2] == "#endif", (i + 1, lines[i + 2])
