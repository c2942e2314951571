"""Issue 13: a hostile guest (tests/guests/hostile.c) does at random what a buggy or malicious
guest does: port I/O, MSRs, CPUID, hypercalls from rings 0 and 3, CR0/CR3/CR4/CR8 writes, loads
and stores all over its address space and in MMIO holes, string I/O, descriptor-table and segment
loads, INT3/UD2/INVD/WBINVD/XSETBV/MONITOR/MWAIT/RDTSCP/SVM and VMX instructions, prefixed
intercepted instructions, single-stepping over instructions Keel completes. It checks each result
against what a CPU would give and exits with the number of mismatches. Beside it a heartbeat VM
(`counter`) runs to its end.

Pass: Keel alive, the heartbeat VM finishing with status 0, the hostile VM exiting status 0 with
no finding. (The interactive version, with the shell asked during the run, did not finish in time
under load on QEMU or Bochs; issue 13 stays open for it.)"""
import re

import pytest

import rig

# Bochs VMX is left out for now: with this kernel 20k actions did not finish in 400 s there
# (the helper's branch did 1M in 201 s before the interrupt work was merged); issue 13 stays open.
PLATFORMS = [pytest.param("qemu-svm", marks=pytest.mark.qemu)]
SETUP = {"qemu-svm": dict(actions=50000, run=300), "bochs-vmx": dict(actions=20000, run=400)}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_hostile_guest_beside_heartbeat(guests, platform):
    s = SETUP[platform]
    modules = [(rig.guest("hostile.elf"),
                "name=hostile actions=%d seed=13 mmio stringio" % s["actions"]),
               (rig.guest("counter.elf"), "name=beat n=10 delay=1000000")]
    if platform == "qemu-svm":
        r = rig.run_qemu(append="poweroff noshell", modules=modules, smp=2, timeout=s["run"])
    else:
        r = rig.run_bochs(model="corei7_skylake_x", cpus=2, append="poweroff noshell",
                          modules=modules, timeout=s["run"])
    text = r.output
    assert re.search(r"\[hostile\] hostile: done, %d actions, 0 finding" % s["actions"], text), \
        r.describe(60)
    assert re.search(r"(?m)^vm hostile exited status=0", text), r.describe(60)
    assert re.search(r"(?m)^vm beat exited status=0", text), r.describe(60)
    assert not re.search(r"EXCEPTION|PANIC|\[hostile\] FAIL", text), r.describe(60)
