"""Lazy guest RAM and asynchronous page faults with KVM's guest ABI (issue 9), through the test
guest tests/guests/apf_test.c.

Issue: "An in-tree test guest with the guest side of the ABI and a tiny scheduler: one task touches
slow pages, another keeps computing during the stalls; it prints the work done during stalls with
async PF on and off. Edge cases: paging ... switched off and on while faults are in flight (no lost
"ready"); async PF disabled and re-enabled with faults in flight; ack ordering with several
completions queued; interrupts disabled (synchronous stall); several vCPUs faulting at once; a page
evicted and touched again; two VMs with lazy memory at once."

The guest prints `ok`/`FAIL` per check and exits with the failure count. QEMU runs with -icount
(RDTSC counts instructions: ratios do not depend on the host's load). Latency: 200 us on QEMU
(its TSC is real time); 20 ms under Bochs, whose TSC counts emulated instructions at 4 MHz, so
200 us would be 800 instructions, less than one exit. Platforms: qemu-svm (QEMU TCG, AMD SVM+NPT),
bochs-vmx (Bochs corei7_skylake_x, Intel VMX+EPT), bochs-svm (Bochs ryzen: the single-VM boot)."""
import re

import pytest

from rig import assert_line, assert_no_line, fail, guest, run_bochs, run_qemu

QEMU_SVM = pytest.param("qemu-svm", marks=pytest.mark.qemu)
BOCHS_VMX = pytest.param("bochs-vmx", marks=[pytest.mark.bochs, pytest.mark.slow])
BOCHS_SVM = pytest.param("bochs-svm", marks=[pytest.mark.bochs, pytest.mark.slow])
APPEND = "poweroff noshell"


def args(platform, name, extra=""):
    lat = "200us" if platform == "qemu-svm" else "20ms"
    us = 200 if platform == "qemu-svm" else 20000
    faults = 20 if platform == "qemu-svm" else 4
    return ("name=%s lazy=slow:%s mem=32M expect_mem=32M expect_name=%s lat_us=%d faults=%d %s"
            % (name, lat, name, us, faults, extra)).strip()


# group: (modules as (name, extra module words), machine CPUs)
GROUPS = {
    "one": ([("apf_test", "")], 1),
    # two VMs with lazy RAM at once; the second keeps only 96 pages resident (evictions). They
    # share the emulator's clock, so the first does not judge its work ratio.
    # several vCPUs faulting at once, then TLB shootdowns under the AP's feet (real time: QEMU's
    # icount mode stalls this two-CPU run)
    "smp": ([("apf_smp", "cpus=2 lazy_budget=384K budget=96 smp")], 2),
    "two": ([("apf_a", "no_ratio"), ("apf_b", "lazy_budget=384K budget=96 evict_only")], 2),
}

_cache = {}


def boot(platform, group):
    key = (platform, group)
    if key not in _cache:
        modules, cpus = GROUPS[group]
        mods = [(guest("apf_test.elf"), args(platform, n, extra)) for n, extra in modules]
        if platform == "qemu-svm":
            r = run_qemu(append=APPEND, modules=mods, smp=cpus, timeout=300,
                         icount=group != "smp")
        else:
            model = "corei7_skylake_x" if platform == "bochs-vmx" else "ryzen"
            r = run_bochs(model=model, cpus=cpus, append=APPEND, modules=mods, timeout=900)
        _cache[key] = r
    return _cache[key]


def assert_passed(r, name):
    __tracebackhide__ = True
    assert_no_line(r, r"^\[%s\] FAIL" % name)
    assert_line(r, r"^\[%s\] done: 0 failure\(s\)" % name, count=1)
    assert_line(r, r"^vm %s exited status=0\s*$" % name, count=1)
    assert_no_line(r, r"EXCEPTION|PANIC")


EDGES = [r"ok paging off and on with a fault in flight: one ready",
         r"ok async PF disabled and re-enabled with a fault in flight: one",
         r"ok local APIC software-disabled and enabled in flight: one read",
         r"ok interrupts off for 3 latencies in flight: one ready"]


@pytest.mark.parametrize("platform", [QEMU_SVM, BOCHS_VMX, BOCHS_SVM])
def test_apf_abi_and_edges(guests, platform):
    """CPUID 0x40000100 (KVMKVMKVM; async PF and kvmclock only), the MSRs' #GP cases, async
    "page not present" for every slow fault, none with async PF off or interrupts off, several
    completions queued with a delayed ACK, and the four in-flight edge cases."""
    r = boot(platform, "one")
    for line in [r"ok cpuid 0x40000100 says KVMKVMKVM",
                 r"ok cpuid 0x40000101 eax: ASYNC_PF, ASYNC_PF_INT and kvmclock only",
                 r"ok enable before the INT vector: #GP", r"ok EN reserved bit 4: #GP",
                 r"ok EN delivery as #PF vmexit \(not offered\): #GP",
                 r"ok EN with the area outside RAM: #GP", r"ok INT bits 63:8: #GP",
                 r"ok async: one not-present per fault",
                 r"ok sync \(async PF off\): no not-present",
                 r"ok interrupts off: the fault is synchronous \(no not-present\)",
                 r"ok queued: exactly one ready per not-present",
                 r"ok np == ready over the whole run"] + EDGES:
        assert_line(r, r"^\[apf_test\] " + line, count=1)
    assert_line(r, r"^vm apf_test: lazy RAM, slow tier", count=1)
    assert_passed(r, "apf_test")
    if r.status != 0:
        fail(r, "expected `keel: power off status=0`, got %r" % (r.status,))


@pytest.mark.parametrize("platform", [QEMU_SVM, BOCHS_VMX, BOCHS_SVM])
def test_apf_work_during_stalls(guests, platform):
    """The scheduler's idle task computes while the toucher waits: with async PF on, most of the
    stall time becomes work; with it off, none does (the vCPU waits in root mode)."""
    r = boot(platform, "one")
    m = re.search(r"APF async: (\d+) faults, (\d+) not-present, .* useful work ratio 0\.(\d+)",
                  r.output)
    s = re.search(r"APF sync: (\d+) faults, 0 not-present, .* work 0, useful work ratio 0\.000",
                  r.output)
    if not m or not s:
        fail(r, "no APF async/sync lines")
    assert int(m.group(1)) == int(m.group(2))
    assert int(m.group(3)) >= 500, "useful work ratio 0.%s" % m.group(3)


@pytest.mark.parametrize("platform", [QEMU_SVM, BOCHS_VMX])
def test_apf_two_vms_and_eviction(guests, platform):
    """Two VMs with lazy RAM at once on two CPUs; the second under lazy_budget= evicts pages
    (each eviction shot down first) and reads every page it wrote back intact."""
    r = boot(platform, "two")
    for line in EDGES:
        assert_line(r, r"^\[apf_a\] " + line, count=1)
    for name in ("apf_a", "apf_b"):
        assert_passed(r, name)
    assert_line(r, r"^\[apf_b\] ok evicted pages read back intact", count=1)
    if r.status != 0:
        fail(r, "expected `keel: power off status=0`, got %r" % (r.status,))


@pytest.mark.parametrize("platform", [QEMU_SVM, BOCHS_VMX])
def test_apf_smp_and_shootdown(guests, platform):
    """Both vCPUs of a VM take async faults at once; then the AP reads one page in a loop while
    the BSP's writes make Keel evict pages under lazy_budget=, that page among them. Each
    eviction is shot down on both CPUs before the frame is reused (poison): the AP never reads
    poison or an old value, and it faulted on the page again at least once. (Without the
    shootdown the AP executes the poison: checked by hand.)"""
    r = boot(platform, "smp")
    for line in [r"ok smp: BSP not-present per fault", r"ok smp: AP not-present for its faults",
                 r"ok smp: AP exactly one ready per not-present",
                 r"ok smp: the sentinel was evicted under the AP \(it faulted on it again\)",
                 r"ok smp: the AP never saw a reused frame or a lost write"]:
        assert_line(r, r"^\[apf_smp\] " + line, count=1)
    assert_no_line(r, r"did not acknowledge a TLB shootdown")
    assert_passed(r, "apf_smp")
