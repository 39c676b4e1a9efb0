# SPDX-License-Identifier: GPL-2.0
"""`modprobe khttpd` the way an administrator sets it up: the module under
/lib/modules/<ver>/updates (what `make install` and DKMS do), depmod, and
the options from a file in /etc/modprobe.d (the shipped example, with this
suite's port and root).

The guest's root is the host's, read-only; the test lays writable copies
over /lib/modules/<ver> and /etc/modprobe.d with bind mounts and removes
them afterwards. Marked `lifecycle`: it unloads the suite's module first
and loads it again at the end."""

import os
import re
import shutil
import tempfile

import pytest

from conftest import module_loaded, run_cmd

pytestmark = [pytest.mark.lifecycle,
              pytest.mark.module_only("modprobe and /etc/modprobe.d")]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, "scripts", "etc", "modprobe.d", "khttpd.conf")


def must(args, timeout=300):
    rc, out, err = run_cmd(args, timeout)
    assert rc == 0, "%s failed (%d): %s%s" % (" ".join(args), rc, out, err)
    return out


def example_options(port, root):
    """The shipped example's options line, pointed at this suite's root."""
    with open(EXAMPLE) as f:
        lines = [ln for ln in f if ln.startswith("options khttpd ")]
    assert len(lines) == 1, "the example has no single 'options khttpd' line"
    line = lines[0].strip()
    line = re.sub(r"\bport=\S+", "port=%d" % port, line)
    line = re.sub(r"\broot=\S+", "root=%s" % root, line)
    return line + " timeout=7\n"


def test_modprobe_takes_options_from_modprobe_d(srv):
    kver = os.uname().release
    moddir = "/lib/modules/" + kver
    work = tempfile.mkdtemp(prefix="khttpd-modprobe-", dir="/tmp")
    mounts = []
    srv.rmmod()
    try:
        # A writable /lib/modules/<ver>: its files copied, kernel/ bound.
        shadow = os.path.join(work, "modules")
        os.mkdir(shadow)
        for name in os.listdir(moddir):
            p = os.path.join(moddir, name)
            if os.path.isfile(p) and name.startswith("modules."):
                shutil.copy(p, shadow)
        os.mkdir(os.path.join(shadow, "kernel"))
        must(["mount", "--bind", os.path.join(moddir, "kernel"),
              os.path.join(shadow, "kernel")])
        mounts.append(os.path.join(shadow, "kernel"))
        os.mkdir(os.path.join(shadow, "updates"))
        shutil.copy(srv.ko, os.path.join(shadow, "updates", "khttpd.ko"))
        must(["mount", "--rbind", shadow, moddir])
        mounts.append(moddir)
        # depmod over every module of the kernel reads them all over 9p
        # (two minutes under TCG); khttpd depends on no other module, so
        # indexing it alone gives modprobe the same answer. The full depmod
        # of `make install` is tested on the host (tests/host).
        must(["depmod", kver, os.path.join(moddir, "updates", "khttpd.ko")])

        # /etc/modprobe.d with the example added.
        conf = os.path.join(work, "modprobe.d")
        if os.path.isdir("/etc/modprobe.d"):
            shutil.copytree("/etc/modprobe.d", conf)
        else:
            os.mkdir(conf)
        with open(os.path.join(conf, "khttpd.conf"), "w") as f:
            f.write(example_options(srv.port, srv.root))
        must(["mount", "--bind", conf, "/etc/modprobe.d"])
        mounts.append("/etc/modprobe.d")

        out = must(["modprobe", "--show-depends", "khttpd"])
        assert "/updates/khttpd.ko" in out, out
        must(["modprobe", "khttpd"])
        srv.loaded = True
        params = "/sys/module/khttpd/parameters/"
        with open(params + "port") as f:
            assert f.read().strip() == str(srv.port)
        with open(params + "root") as f:
            assert f.read().strip() == srv.root
        with open(params + "timeout") as f:
            assert f.read().strip() == "7"
        srv.wait_ready()
        srv.assert_alive()
        must(["modprobe", "-r", "khttpd"])
        srv.loaded = False
        assert not module_loaded()
    finally:
        for m in reversed(mounts):
            run_cmd(["umount", "-l", m], 60)
        shutil.rmtree(work, ignore_errors=True)
        if module_loaded():
            srv.rmmod()
        srv.insmod()
        srv.assert_alive()
