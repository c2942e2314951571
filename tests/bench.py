"""Exit-cost benchmark: `make bench`. Boots Keel with the bench guest and prints emulated
instructions per 4-instruction loop iteration around each exiting instruction; a second boot
(2 CPUs) runs the ipi guest in bench_ipi mode: an IPI round trip vCPU 0 -> vCPU 1 -> vCPU 0
(the AP's handler sends the IPI back), in emulated instructions per round trip.
The bench guest's local APIC cases (apic_read, x2apic_eoi, self_ipi, timer_irq) follow its
exit cases in the first boot (module option `apic`); timer_irq is the delay from the programmed
expiry to the handler's first instruction. The PC platform cases (module option `platform`,
issue 8) follow: rtc_read (IN from port 0x71), ioapic_irq (the 16550 asserts IRQ 4 when its
THRE interrupt is enabled; IOAPIC pin 4 to the handler, which reads IIR and EOIs; per trip) and
pit_irq0 (PIT channel 0 expiry to the handler's first instruction, through the 8259 and LINT0
as ExtINT).

QEMU runs with -icount shift=0,sleep=off, so the guest's RDTSC counts emulated instructions
(host and guest alike) and the figures are identical from run to run. Under Bochs the TSC
advances with emulated instructions too (clock: sync=none), so its figures are comparable.
A third boot per platform runs the async page fault guest (tests/guests/apf_test.c, issue 9) with
lazy RAM on the slow tier: apf_notpresent is the faulting access to the guest's #PF handler ("page
not present"), apf_ready the fetch's due time (access + latency) to the guest's "page ready"
handler; both per fault. Below the table: the share of the stall time the guest's idle task turned
into work with async PF on (and 0 with it off). Latency 200 us on QEMU; 20 ms under Bochs, whose
4 MHz TSC makes 200 us less than one exit.
This prints figures; it asserts nothing about speed."""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rig  # noqa: E402
import bench_linux  # noqa: E402

ITERS = 2000
IPI_ITERS = 1000
CASES = ["empty", "cpuid", "hypercall", "rdmsr", "out", "apic_read", "x2apic_eoi", "self_ipi",
         "timer_irq", "ipi_roundtrip", "rtc_read", "ioapic_irq", "pit_irq0", "apf_notpresent",
         "apf_ready"]
LABELS = {"empty": "empty loop (no exit)", "cpuid": "CPUID leaf 0",
          "hypercall": "hypercall (VMCALL/VMMCALL)", "rdmsr": "RDMSR 0x3a (emulated)",
          "out": "OUT to vUART scratch 0x3ff",
          "apic_read": "xAPIC MMIO read of TPR (target <= 300)",
          "x2apic_eoi": "x2APIC EOI write, WRMSR 0x80B (target <= 150)",
          "self_ipi": "self IPI via xAPIC ICR, handled + EOI (per trip, target <= 400)",
          "timer_irq": "timer expiry (TSC deadline) to handler entry",
          "ipi_roundtrip": "IPI round trip vCPU 0 -> 1 -> 0 (per trip)",
          "rtc_read": "RTC read, IN from 0x71",
          "ioapic_irq": "UART IRQ 4 via IOAPIC: assert to handler + EOI (per trip)",
          "pit_irq0": "PIT IRQ0 via 8259 + LINT0 ExtINT: expiry to handler entry",
          "apf_notpresent": "async PF: faulting access to the \"not present\" #PF handler",
          "apf_ready": "async PF: fetch complete to the \"page ready\" handler"}
APF_ARGS = "name=apf_test lazy=slow:%s mem=32M expect_mem=32M expect_name=apf_test lat_us=%d faults=20"


def figures(r):
    out = {}
    for m in re.finditer(r"BENCH (\w+) iters=(\d+) ticks=(\d+) per_iter=([\d.]+)", r.output):
        out[m.group(1)] = float(m.group(3)) / float(m.group(2))
    return out


def main():
    b = rig.build()
    problem = rig.keel_problem(b) or rig.guests_problem(b)
    if problem:
        sys.exit("bench: cannot build: " + problem)
    mods = [(rig.guest("bench.elf"), "name=bench n=%d apic platform" % ITERS)]
    ipi = [(rig.guest("ipi.elf"), "name=ipi cpus=2 bench_ipi n=%d" % IPI_ITERS)]
    apf_q = [(rig.guest("apf_test.elf"), APF_ARGS % ("200us", 200))]
    apf_b = [(rig.guest("apf_test.elf"), APF_ARGS % ("20ms", 20000))]
    runs = {}
    for label, mm, cpus in (("", mods, 1), (" ipi", ipi, 2), (" apf", None, 1)):
        runs["QEMU TCG SVM (icount)" + label] = rig.run_qemu(
            append="poweroff noshell", modules=mm or apf_q, smp=cpus, icount=True, timeout=120)
        runs["Bochs VMX (skylake-x)" + label] = rig.run_bochs(
            model="corei7_skylake_x", cpus=cpus, modules=mm or apf_b, timeout=300)
        runs["Bochs SVM (ryzen)" + label] = rig.run_bochs(model="ryzen", cpus=cpus,
                                                          modules=mm or apf_b, timeout=300)
    cols = {}
    for name, r in runs.items():    # the ipi and apf boots' figures join their platform's column
        cols.setdefault(name.replace(" ipi", "").replace(" apf", ""), {}).update(figures(r))
    print("\nEmulated instructions per loop iteration (%d iterations, counters on):\n" % ITERS)
    print("| exit | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for case in CASES:
        cells = ["%.1f" % c[case] if case in c else "n/a" for c in cols.values()]
        print("| %s | %s |" % (LABELS[case], " | ".join(cells)))
    print("\nAsync page faults, useful work during stalls (idle task's work / its rate x stall "
          "time):\n")
    for name, r in runs.items():
        if name.endswith(" apf"):
            for m in re.finditer(r"APF (async|sync): .*", r.output):
                print("- %s: %s" % (name[:-4], m.group(0)))
    missing = [n for n, c in cols.items() if len(c) != len(CASES)]
    for n in missing:
        for run in (n, n + " ipi", n + " apf"):
            print("\n%s did not report every case:\n%s" % (run, runs[run].describe(30)))
    linux = bench_linux.main()     # Linux boot to its shell, Keel against bare QEMU
    return 1 if missing or linux else 0


if __name__ == "__main__":
    sys.exit(main())
