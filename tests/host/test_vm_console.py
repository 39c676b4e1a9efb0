# SPDX-License-Identifier: GPL-2.0
"""scripts/vm.sh judge: how a guest's console log is judged, and which
failures are QEMU's rather than the kernel's (those the runner answers by
booting the guest once more). The consoles under consoles/ are from real
runs: a 6.1 guest whose CPU kept trapping on an int3 that was no longer
in memory while the other waited for it (a CI run that then timed out
after 1200 s), the same caught at the trapping RIP itself (a guest
switching a trace event in a loop, panicking on the RCU stall), and a
debug-kernel guest that oopsed on one."""

import os
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
VM_SH = os.path.join(REPO, "scripts", "vm.sh")
CONSOLES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "consoles")


def judge(path):
    p = subprocess.run([VM_SH, "judge", str(path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def console(name):
    with open(os.path.join(CONSOLES, name)) as f:
        return f.read()


def judge_text(text):
    with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
        f.write(text)
        f.flush()
        return judge(f.name)


def test_lockup_on_a_stale_int3_is_qemus():
    verdict = judge(os.path.join(CONSOLES, "stale-int3-lockup.log"))
    assert verdict.startswith("qemu stale int3: rcu: INFO: rcu_preempt "
                              "self-detected stall"), verdict


def test_lockup_at_a_stale_int3_is_qemus():
    """The CPU is caught at the RIP it traps at, a 5-byte NOP in memory,
    while the other waits in text_poke_bp for it."""
    verdict = judge(os.path.join(CONSOLES, "stale-int3-nop.log"))
    assert verdict == ("qemu stale int3: rcu: INFO: rcu_preempt detected "
                       "stalls on CPUs/tasks:"), verdict


def test_a_cpu_at_a_nop_is_not_enough():
    """A CPU that happens to sit at a 5-byte NOP in a lockup where no CPU
    is patching text is the kernel's own failure."""
    text = console("stale-int3-nop.log")
    assert "text_poke_bp" in text
    text = "\n".join(ln for ln in text.splitlines()
                     if "text_poke_bp" not in ln)
    assert judge_text(text).startswith("kernel failure: rcu: INFO:")


def test_oops_on_a_stale_int3_is_qemus():
    verdict = judge(os.path.join(CONSOLES, "stale-int3-oops.log"))
    assert verdict == ("qemu stale int3: Oops: int3: 0000 [#1] PREEMPT SMP "
                       "KASAN NOPTI"), verdict


def test_lockup_on_a_stale_int3_is_qemus_when_caught_entering_it():
    """The second stall report of that run found the CPU at the int3
    handler's first instruction: RIP is one past the int3."""
    text = console("stale-int3-lockup.log")
    caught = text[text.index("[  220.039340] rcu: INFO:"):]
    assert "RIP: 0010:asm_exc_int3+0x0/0x40" in caught
    assert judge_text(caught).startswith("qemu stale int3: rcu: INFO:")


def test_lockup_on_an_int3_still_in_memory_is_the_kernels():
    """The same lockup, but the byte the CPU trapped at is an int3 in
    memory (a kprobe, say, or a stray one): a real failure."""
    text = console("stale-int3-lockup.log")
    for stale, real in (("00 00 <0f> 1f 44 00 00", "00 00 <cc> 1f 44 00 00"),
                        ("00 00 0f <1f> 44 00 00", "00 00 cc <1f> 44 00 00")):
        assert stale in text
        text = text.replace(stale, real)
    assert judge_text(text).startswith("kernel failure: rcu: INFO:")
    caught = text[text.index("[  220.039340] rcu: INFO:"):]
    assert judge_text(caught).startswith("kernel failure: rcu: INFO:")


def test_oops_on_an_int3_still_in_memory_is_the_kernels():
    text = console("stale-int3-oops.log")
    stale = "41 54 55 53 66 <90>"
    assert stale in text
    verdict = judge_text(text.replace(stale, "41 54 55 53 cc <90>"))
    assert verdict == ("kernel failure: Oops: int3: 0000 [#1] PREEMPT SMP "
                       "KASAN NOPTI"), verdict


def test_soft_lockup_is_a_failure():
    """A soft lockup without an int3 in sight: the lines the lockup
    console has from the watchdog on, with no RCU report before them."""
    text = console("stale-int3-lockup.log")
    lockup = text[text.index("[  184.500085] watchdog: BUG: soft lockup"):
                  text.index("[  220.039340] rcu: INFO:")]
    assert "exc_int3" not in lockup
    assert judge_text(lockup) == (
        "kernel failure: watchdog: BUG: soft lockup - CPU#0 stuck for 48s! "
        "[python3:126]")


def test_a_clean_console_and_test_output_naming_failures():
    """Test output that names kernel failures without a kernel timestamp
    (pytest printing a test's name, a log the test prints) is not one."""
    text = ("[    0.000000] Linux version 6.1.0-57-amd64\n"
            "[    1.234567] Run /init as init process\n"
            "tests/integration/test_x.py::test_no_WARNING:_or_BUG:_or_Oops "
            "PASSED\n"
            "guest-integration: rcu: INFO: self-detected stall (a string)\n")
    assert judge_text(text) == "clean"
