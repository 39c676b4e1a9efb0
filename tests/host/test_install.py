# SPDX-License-Identifier: GPL-2.0
"""Installing the module the ways kernel modules are installed: DKMS for
every kernel of the matrix (in a private DKMS tree, so the machine's own is
left alone), and `make install` into a staging directory. The modules
built here are checked for the kernel they claim (vermagic), the version
DKMS knows them by, and BTF where the kernel's build tree allows it."""

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def sh(args, timeout=600, **kw):
    p = subprocess.run(args, capture_output=True, text=True,
                       timeout=timeout, **kw)
    return p.returncode, p.stdout + p.stderr


def matrix():
    rc, out = sh([os.path.join(REPO, "scripts", "kernel.sh"), "matrix"])
    return out.split() if rc == 0 else []


def dkms_version():
    with open(os.path.join(REPO, "dkms.conf")) as f:
        return re.search(r'^PACKAGE_VERSION="([^"]+)"', f.read(), re.M).group(1)


def modinfo(ko, field):
    rc, out = sh(["modinfo", "-F", field, ko])
    assert rc == 0, out
    return out.strip()


def copy_sources(dst):
    """What DKMS needs of a checkout: no build output, no tests."""
    skip = shutil.ignore_patterns(".git", "build", "tests", "tools", "docs",
                                  "www", "*.o", "*.ko", "*.mod*", ".*.cmd",
                                  "Module.symvers", "modules.order")
    shutil.copytree(REPO, dst, ignore=skip)


def test_module_version_matches_dkms_conf():
    with open(os.path.join(REPO, "src", "kernel", "main.c")) as f:
        m = re.search(r'MODULE_VERSION\("([^"]+)"\)', f.read())
    assert m and m.group(1) == dkms_version()


@pytest.fixture(scope="module")
def dkms_tree(tmp_path_factory):
    if shutil.which("dkms") is None:
        pytest.fail("dkms is not installed (make deps installs it)")
    base = tmp_path_factory.mktemp("dkms")
    ver = dkms_version()
    copy_sources(str(base / "src" / ("khttpd-" + ver)))
    (base / "tree").mkdir()
    rc, out = sh(["dkms", "add", "-m", "khttpd", "-v", ver,
                  "--sourcetree", str(base / "src"),
                  "--dkmstree", str(base / "tree")])
    assert rc == 0, out
    return base, ver


@pytest.mark.parametrize("kver", matrix() or ["<no kernel of the matrix>"])
def test_dkms_build(dkms_tree, kver):
    base, ver = dkms_tree
    assert os.path.isdir("/lib/modules/%s/build" % kver), \
        "no kernel of the matrix is installed; run make deps"
    common = ["-m", "khttpd", "-v", ver, "--sourcetree", str(base / "src"),
              "--dkmstree", str(base / "tree")]
    rc, out = sh(["dkms", "build", "-k", kver, "--force"] + common)
    log = base / "tree" / "khttpd" / ver / "build" / "make.log"
    assert rc == 0, out + (log.read_text() if log.exists() else "")
    # The module builds without a warning, C++ objects included (DKMS
    # keeps the log of a successful build beside the module).
    log = base / "tree" / "khttpd" / ver / kver / "x86_64" / "log" / "make.log"
    warnings = [ln for ln in log.read_text().split("\n") if "warning" in ln]
    assert not warnings, "\n".join(warnings)
    ko = base / "tree" / "khttpd" / ver / kver / "x86_64" / "module" / "khttpd.ko"
    if not ko.exists():
        ko = ko.with_suffix(".ko.xz")
        assert ko.exists(), "dkms built no khttpd.ko: " + out
        plain = base / ("khttpd-%s.ko" % kver)
        with open(plain, "wb") as f:
            subprocess.run(["xz", "-dc", str(ko)], stdout=f, check=True)
        ko = plain
    assert modinfo(str(ko), "vermagic").split()[0] == kver
    assert modinfo(str(ko), "version") == ver
    check_btf(str(ko), kver)
    # kecho.ko comes from the same Kbuild and the same DKMS package.
    kecho = list(ko.parent.glob("kecho.ko*")) + list(
        (base / "tree" / "khttpd" / ver / kver / "x86_64" / "module").glob(
            "kecho.ko*"))
    assert kecho, "dkms built no kecho.ko: " + out


def check_btf(ko, kver):
    """The module's BTF describes the C side's types. Debian's 6.1 headers
    ship no vmlinux to base it on, and kbuild then skips BTF for every
    module, so there is nothing to check there."""
    vmlinux = "/lib/modules/%s/build/vmlinux" % kver
    rc, sections = sh(["readelf", "-S", "-W", ko])
    has_btf = ".BTF" in sections
    if not os.path.exists(vmlinux):
        assert not has_btf
        return
    assert has_btf, "no .BTF section in the module built for " + kver
    rc, out = sh(["bpftool", "btf", "dump", "file", ko, "--base-btf",
                  vmlinux])
    if rc != 0:     # older bpftool spells it -B
        rc, out = sh(["bpftool", "btf", "dump", "file", ko, "-B", vmlinux])
    assert rc == 0, out
    for want in ("STRUCT 'khttpd_conn'", "STRUCT 'khttpd_server'",
                 "FUNC 'kengine_conn_io_work'", "FUNC 'khttpd_fs_lookup'"):
        assert want in out, "%s missing from the BTF of %s" % (want, kver)


def test_make_install_into_staging(tmp_path):
    """make install puts the module under updates/ and runs depmod, so that
    modprobe finds it; INSTALL_MOD_PATH stages it elsewhere."""
    src = tmp_path / "src"
    copy_sources(str(src))
    stage = tmp_path / "stage"
    rc, out = sh(["make", "-C", str(src), "install",
                  "INSTALL_MOD_PATH=" + str(stage)])
    assert rc == 0, out
    kver = re.search(r"building khttpd.ko and kecho.ko for (\S+)", out).group(1)
    mdir = stage / "lib" / "modules" / kver
    kos = list((mdir / "updates").glob("khttpd.ko*"))
    assert kos, "nothing under %s/updates: %s" % (mdir, out)
    assert list((mdir / "updates").glob("kecho.ko*")), out
    with open(mdir / "modules.dep") as f:
        assert re.search(r"^updates/khttpd\.ko(\.[a-z]+)?:", f.read(), re.M)
