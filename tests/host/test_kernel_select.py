# SPDX-License-Identifier: GPL-2.0
"""scripts/kernel.sh: which kernel `make` builds for, which g++ it uses,
and which kernels make up the matrix, tried on made-up /lib/modules and
/boot trees so every rule is exercised whatever this machine has."""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
KERNEL_SH = os.path.join(REPO, "scripts", "kernel.sh")


def run(args, moddir, bootdir, running="9.9.9-none", env=None):
    e = dict(os.environ)
    e.pop("KVER", None)
    e.update(KHTTPD_MODDIR=str(moddir), KHTTPD_BOOTDIR=str(bootdir),
             KHTTPD_RUNNING=running)
    e.update(env or {})
    p = subprocess.run([KERNEL_SH] + args, env=e, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def tree(tmp_path, kernels, images=None, cc="gcc-12 (Debian 12.2.0-14) 12.2.0"):
    """kernels: versions with a build tree; images: those with a vmlinuz
    (default: all)."""
    mod, boot = tmp_path / "modules", tmp_path / "boot"
    mod.mkdir()
    boot.mkdir()
    for v in kernels:
        b = mod / v / "build"
        b.mkdir(parents=True)
        (b / ".config").write_text('CONFIG_CC_VERSION_TEXT="%s"\n' % cc)
    for v in kernels if images is None else images:
        (boot / ("vmlinuz-" + v)).write_text("")
    return mod, boot


DEBIAN = ["6.1.0-57-amd64", "6.1.0-56-amd64", "6.12.117+deb12-amd64",
          "6.12.117+deb12-rt-amd64", "6.12.117+deb12-cloud-amd64",
          "6.12.9+deb12-amd64"]


def test_generic_newest_before_rt_and_cloud(tmp_path):
    mod, boot = tree(tmp_path, DEBIAN)
    assert run(["default"], mod, boot)[1] == "6.12.117+deb12-amd64"


def test_rt_before_cloud(tmp_path):
    mod, boot = tree(tmp_path, ["6.12.117+deb12-rt-amd64",
                                "6.12.200+deb12-cloud-amd64"])
    assert run(["default"], mod, boot)[1] == "6.12.117+deb12-rt-amd64"


def test_version_order_is_numeric(tmp_path):
    mod, boot = tree(tmp_path, ["6.1.0-9-amd64", "6.1.0-10-amd64"])
    assert run(["default"], mod, boot)[1] == "6.1.0-10-amd64"


def test_running_kernel_wins_when_it_has_a_build_tree(tmp_path):
    mod, boot = tree(tmp_path, DEBIAN)
    rc, out, _ = run(["default"], mod, boot, running="6.1.0-56-amd64")
    assert (rc, out) == (0, "6.1.0-56-amd64")
    # Without a build tree the running kernel is passed over.
    rc, out, _ = run(["default"], mod, boot, running="6.1.0-99-amd64")
    assert out == "6.12.117+deb12-amd64"


def test_bootable_needs_an_image(tmp_path):
    mod, boot = tree(tmp_path, DEBIAN, images=["6.1.0-57-amd64"])
    assert run(["bootable"], mod, boot)[1] == "6.1.0-57-amd64"
    assert run(["default"], mod, boot)[1] == "6.12.117+deb12-amd64"


def test_kver_overrides(tmp_path):
    mod, boot = tree(tmp_path, DEBIAN)
    assert run(["default"], mod, boot,
               env={"KVER": "6.1.0-56-amd64"})[1] == "6.1.0-56-amd64"


def test_no_kernel_is_a_clear_error(tmp_path):
    mod, boot = tree(tmp_path, [])
    rc, out, err = run(["default"], mod, boot)
    assert rc != 0 and out == ""
    assert "make deps" in err


def test_matrix_is_newest_of_each_series_and_flavour(tmp_path):
    mod, boot = tree(tmp_path, DEBIAN)
    rc, out, _ = run(["matrix"], mod, boot)
    assert rc == 0
    assert out.split("\n") == ["6.1.0-57-amd64", "6.12.117+deb12-amd64",
                               "6.12.117+deb12-rt-amd64"]


def test_matrix_lists_only_what_is_installed(tmp_path):
    mod, boot = tree(tmp_path, ["6.1.0-57-amd64"])
    assert run(["matrix"], mod, boot)[1] == "6.1.0-57-amd64"


@pytest.mark.parametrize("text,major", [
    ("gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", "12"),
    ("x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", "12"),
    ("x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0", "13"),
    ("gcc (GCC) 99.1.0", "99"),
])
def test_cxx_matches_the_kernels_gcc(tmp_path, text, major):
    mod, boot = tree(tmp_path, ["1.0-amd64"], cc=text)
    rc, out, err = run(["cxx", str(mod / "1.0-amd64" / "build")], mod, boot)
    have = subprocess.run(["sh", "-c", "command -v g++-%s || "
                           "command -v x86_64-linux-gnu-g++-%s" % (major, major)],
                          capture_output=True).returncode == 0
    if have:
        assert rc == 0 and out.endswith(major), (out, err)
    else:
        # Missing: stop, naming the Debian package that provides it.
        assert rc != 0 and out == ""
        assert "apt-get install g++-%s" % major in err, err


def test_cxx_refuses_a_clang_kernel(tmp_path):
    mod, boot = tree(tmp_path, ["1.0-amd64"],
                     cc="Debian clang version 16.0.6 (15)")
    rc, _, err = run(["cxx", str(mod / "1.0-amd64" / "build")], mod, boot)
    assert rc != 0 and "not gcc" in err


def test_packages_name_the_whole_matrix(tmp_path):
    mod, boot = tree(tmp_path, [])
    rc, out, _ = run(["packages"], mod, boot)
    pkgs = out.split()
    for p in ("linux-image-amd64", "linux-headers-amd64",
              "linux-image-6.12-amd64", "linux-headers-6.12-amd64",
              "linux-image-6.12-rt-amd64", "linux-headers-6.12-rt-amd64"):
        assert p in pkgs
