"""Issue 13 item 4: no guest sees state that Keel or an earlier run put in a register. The
`initstate` guest checks x87/SSE (XMM0-7, MXCSR, FCW, FSW), the SYSCALL MSRs and
KERNEL_GS_BASE, DR0-3/DR6/DR7 and PAT against their INIT/RESET values, then (`dirty`) fills them
all with other values and spins. `reset` from the shell starts it again: the fresh run must
find the INIT values again."""
import re

import pytest

import rig

PLATFORMS = [pytest.param("qemu-svm", marks=pytest.mark.qemu),
             pytest.param("bochs-vmx", marks=pytest.mark.bochs),
             pytest.param("bochs-svm", marks=pytest.mark.bochs)]
TIMEOUT = {"qemu-svm": 30, "bochs-vmx": 240, "bochs-svm": 240}
CHECKS = r"\[initstate\] checks: (\d+) failure"


def spawn(platform, modules, timeout):
    if platform == "qemu-svm":
        return rig.spawn_qemu(append="", modules=modules, smp=1, timeout=timeout)
    model = "corei7_skylake_x" if platform == "bochs-vmx" else "ryzen"
    return rig.spawn_bochs(model=model, cpus=1, append="", modules=modules, timeout=timeout)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_reset_gives_init_state(guests, platform):
    t = TIMEOUT[platform] * rig.timeout_scale()
    with spawn(platform, [(rig.guest("initstate.elf"), "name=initstate dirty")], t) as con:
        con.expect(CHECKS, timeout=t)
        first = int(con.match.group(1))
        con.expect(r"\[initstate\] dirtied", timeout=t)
        con.expect("keel> ", timeout=t)
        con.sendline("reset initstate")
        con.expect(r"vm initstate started", timeout=t)
        con.expect(CHECKS, timeout=t)
        second = int(con.match.group(1))
        text = con.text
        assert first == 0, "first boot: %d failure(s)\n%s" % (first, con.describe())
        assert second == 0, "after reset: %d failure(s)\n%s" % (second, con.describe(60))
        assert not re.search(r"EXCEPTION|PANIC", text), con.describe()
