# SPDX-License-Identifier: GPL-2.0
"""scripts/bpf/khttpd-latency.bt under load: its histogram counts the
requests made. The program uses the khttpd_request tracepoint and kprobes
on the module's noinline functions (no BTF), so it must work on every
kernel of the matrix; it is skipped only where bpftrace is not installed
or the kernel has no BPF kprobes. bpftrace takes a while to start under
TCG (README, "Watching with BPF"): one program, started once."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import REPO

pytestmark = pytest.mark.module_only("bpftrace on the module's tracepoints "
                                     "and functions")

SCRIPT = os.path.join(REPO, "scripts", "bpf", "khttpd-latency.bt")
START_TIMEOUT = 180         # bpftrace compiles and attaches slowly under TCG
# On SIGINT it prints its maps and detaches its probes: once in CI that
# took more than 60 s under TCG with both CPUs busy.
STOP_TIMEOUT = 180

HIST_LINE = re.compile(r"^\[[^\]]*[\])]\s+(\d+) \|")


def unavailable():
    """Why bpftrace cannot run here, or None."""
    if not shutil.which("bpftrace"):
        return "bpftrace is not installed (scripts/deps.sh installs it)"
    if not os.path.exists("/sys/kernel/tracing/events/khttpd"):
        return "no tracefs at /sys/kernel/tracing (or no khttpd events)"
    if not os.path.exists("/sys/kernel/tracing/kprobe_events"):
        return "this kernel has no kprobe events"
    # Present only with CONFIG_BPF_SYSCALL (check-debug's kernel has none).
    if not os.path.exists("/proc/sys/kernel/unprivileged_bpf_disabled"):
        return "this kernel has no bpf() system call (CONFIG_BPF_SYSCALL)"
    return None


def rcu_threads():
    """The pids of the kernel's RCU grace-period threads."""
    pids = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % d) as f:
                comm = f.read().strip()
        except (OSError, ValueError):
            continue
        if comm.startswith(("rcu_tasks", "rcu_preempt", "rcu_sched", "rcub/")):
            pids.append(int(d))
    return pids


def stacks(pids):
    """Each thread of each pid: its name, state, and kernel stack."""
    out = ["at %.1f s since boot" % time.clock_gettime(time.CLOCK_BOOTTIME)]
    for pid in pids:
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            base = "/proc/%d/task/%s/" % (pid, tid)
            try:
                with open(base + "comm") as f:
                    comm = f.read().strip()
                with open(base + "stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(base + "stack") as f:
                    stack = f.read()
            except OSError:
                continue
            out.append("%s %s %s\n%s" % (tid, comm, state, stack.rstrip()))
    return "\n".join(out)


def histogram_total(text, name):
    """The sum of the buckets of histogram @name in bpftrace's output."""
    lines = text.splitlines()
    try:
        i = lines.index("@%s: " % name)
    except ValueError:
        i = lines.index("@%s:" % name)
    total = 0
    for line in lines[i + 1:]:
        m = HIST_LINE.match(line)
        if not m:
            break
        total += int(m.group(1))
    return total


class Bpftrace:
    """bpftrace running a program, its output in a file; stop() sends
    SIGINT (the program then prints its maps) and returns the output."""

    def __init__(self, script):
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["bpftrace", script], stdout=self.out,
                                     stderr=subprocess.STDOUT)

    def text(self):
        self.out.seek(0)
        return self.out.read().decode("utf-8", "replace")

    def wait_attached(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ": tracing;" in self.text():
                return
            if self.proc.poll() is not None:
                raise AssertionError("bpftrace exited with %d: %s"
                                     % (self.proc.returncode, self.text()))
            time.sleep(0.2)
        raise AssertionError("bpftrace did not attach within %d s: %s"
                             % (timeout, self.text()))

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        seen = []
        end = time.monotonic() + STOP_TIMEOUT
        while True:
            try:
                self.proc.wait(min(15, max(0.1, end - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                # Where it waits, and the grace-period threads detaching
                # its probes waits for: what a slow stop is made of.
                seen = seen[:1] + [stacks([self.proc.pid] + rcu_threads())]
                if time.monotonic() >= end:
                    raise AssertionError(
                        "bpftrace still running %d s after SIGINT: %s\n"
                        "where it and RCU's threads were:\n%s"
                        % (STOP_TIMEOUT, self.text(), "\n".join(seen))
                    ) from None
        return self.text()

    def kill(self):
        # Its probes hold a reference on the module: rmmod needs it gone.
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


def test_latency_histogram_counts_requests(srv):
    why = unavailable()
    if why:
        pytest.skip(why)
    bt = Bpftrace(SCRIPT)
    try:
        bt.wait_attached(START_TIMEOUT)
        made = 0
        # Keep-alive requests on one connection, a few files ...
        with srv.conn() as c:
            for path in ["/hello.txt", "/b4k.bin", "/b65537.bin"] * 20:
                c.request("GET", path)
                assert c.read_response().status == 200
                made += 1
        # ... one connection per request, and answers that are not 200.
        for path in ["/index.html", "/nonexistent"] * 20:
            r = srv.get(path, version="HTTP/1.0")
            assert r.status in (200, 404), r
            made += 1
        # A client has its answer before khttpd_tx_release() runs; a
        # connection is gone from the count only after it has.
        deadline = time.monotonic() + 30
        while srv.open_connections() and time.monotonic() < deadline:
            time.sleep(0.1)
        out = bt.stop()
    finally:
        bt.kill()
    assert bt.proc.returncode == 0, out
    total = histogram_total(out, "request_usecs")
    count = re.search(r"^@requests: (\d+)$", out, re.M)
    assert count, out
    # Every request was answered before SIGINT and nothing else was
    # served while the program ran: the counts are exact.
    assert total == made, (made, out)
    assert int(count.group(1)) == total, out
