"""The rest of the PC platform (issue 8): IOAPIC, PIC, PIT, PM timer, RTC, UART IRQ, PCI, fw_cfg,
ACPI tables, the empty bus and string I/O, through test guests.

Issue: "A test guest per device: IOAPIC edge and level with EOI and remote IRR, directed EOI
through the EOI register, a never-serviced level storm on one vCPU while another vCPU and another
VM keep their pace; PIC init, masking, EOI and spurious IRQ 7; PIT rates in modes 0, 2 and 3
measured against the TSC; the port-0x61 calibration loop; PM timer rate; RTC time and an update
interrupt; the UART interrupt with typed input; a PCI scan that finds exactly the host bridge and
ISA bridge; fw_cfg signature and CPU count; an ACPI walk that validates every checksum and finds
exactly the VM's vCPUs in the MADT; reads of an empty MMIO hole give all-ones; INS/OUTS with REP."

Every guest (tests/guests/{ioapic_test,pic_test,pit_test,pmtimer_test,rtc_test,uart_irq,
pci_fwcfg_test,acpi_test,mmio_hole_test,irq_storm8}.c) was first run on bare QEMU TCG `pc`
(tests/guests/bare.py): where QEMU differs from the datasheets or from Keel's contract
(/work notes PLATFORM8 "What the guest sees") the guest prints `gap ...` there and checks
strictly under Keel (CPUID 0x40000000 = KeelKeelKeel), so these tests also assert that no `gap`
line appears and that the guest saw Keel.

Platforms as in test_guests.py: qemu-svm (QEMU TCG, AMD SVM+NPT), bochs-vmx (Bochs
corei7_skylake_x). Keel gives every vCPU a physical CPU: a boot has as many CPUs as its VMs have
vCPUs."""
import re
import time

import pexpect
import pytest

import rig
from rig import assert_line, assert_no_line, guest, run_qemu
from rig.guests import GroupCache, assert_clean, send_typed

QEMU_SVM = pytest.param("qemu-svm", marks=pytest.mark.qemu)
BOCHS_VMX = pytest.param("bochs-vmx", marks=pytest.mark.bochs)
PLATFORMS = [QEMU_SVM, BOCHS_VMX]
APPEND = "poweroff noshell"

# group: (modules, machine CPUs). Each boot is shared by the tests that look at it.
GROUPS = {
    # interrupt controllers, the bus and string I/O
    "devices": ([("ioapic_test.elf", "name=ioapic_test"),
                 ("pic_test.elf", "name=pic_test"),
                 ("pci_fwcfg_test.elf", "name=pci_fwcfg_test"),
                 ("mmio_hole_test.elf", "name=mmio_hole_test")], 4),
    # the clocks, and the bench guest's platform cases
    "timers": ([("pit_test.elf", "name=pit_test"),
                ("pmtimer_test.elf", "name=pmtimer_test"),
                ("rtc_test.elf", "name=rtc_test"),
                ("bench.elf", "name=bench n=200 platform")], 4),
    # On QEMU each clock guest boots alone: QEMU runs a TCG thread per vCPU, and four of them on
    # a 2-core machine take turns for tens of milliseconds, longer than the windows the guests
    # poll (the RTC's 244 us UIP, a PIT period). Bochs emulates every CPU on one time line.
    "pit": ([("pit_test.elf", "name=pit_test")], 1),
    "pm": ([("pmtimer_test.elf", "name=pmtimer_test")], 1),
    "rtc": ([("rtc_test.elf", "name=rtc_test")], 1),
    "bench": ([("bench.elf", "name=bench n=200 platform")], 1),
    # ACPI tables of a 2-vCPU VM and of a multiboot2 VM (both end by S5 power-off), fw_cfg's
    # CPU count of a 2-vCPU VM
    "acpi": ([("acpi_test.elf", "name=acpi_test cpus=2"),
              ("acpi_test_mb2.elf", "name=acpi_mb2"),
              ("pci_fwcfg_test.elf", "name=pci2 cpus=2")], 5),
}

boot = GroupCache(GROUPS, append=APPEND, qemu_timeout=240, bochs_timeout=900)


def clocks(platform, group):
    """The boot a clock guest ran in: its own on QEMU, the shared "timers" one on Bochs."""
    return boot(platform, group if platform == "qemu-svm" else "timers")


def assert_exited(r, name, status=0):
    __tracebackhide__ = True
    assert_line(r, r"^vm %s exited status=%d\b" % (name, status), count=1)
    assert_no_line(r, r"^\[%s\] FAIL" % name)


def assert_strict(r, name):
    """The guest knew it ran under Keel: nothing was downgraded to `gap`."""
    __tracebackhide__ = True
    assert_line(r, r"^\[%s\] \w+: under Keel" % name, count=1)
    assert_no_line(r, r"^\[%s\] gap " % name)


def assert_lines(r, name, lines):
    __tracebackhide__ = True
    for line in lines:
        assert_line(r, r"^\[%s\] %s" % (name, line), count=1)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_ioapic(guests, platform):
    """Version 0x20 with 24 pins, RTEs, edge PIT IRQ0 on pin 2, level SCI with remote IRR, EOI
    re-delivery, the EOI register, directed EOI, masking, polarity (ioapic_test.c)."""
    r = boot(platform, "devices")
    assert_strict(r, "ioapic_test")
    assert_lines(r, "ioapic_test", [
        r"ok version 0x20 \(with the EOI register\)",
        r"ok 24 pins \(max redirection entry 23\)",
        r"ok keel: IOAPIC ID 0 \(as QEMU and KVM give it\)",
        r"ok edge: PIT IRQ0 at 100 Hz through pin 2",
        r"ok edge: masked pin delivers nothing",
        r"ok keel: SCI active low per the MADT",
        r"ok level: remote IRR set in the handler",
        r"ok level: no second delivery while remote IRR is set",
        r"ok level: EOI re-delivers a line still asserted",
        r"ok level: IOAPIC EOI register re-delivers \(LAPIC IRR set\)",
        r"ok level: remote IRR clear after the source is gone",
        r"ok directed EOI: the LAPIC EOI does not re-deliver",
        r"ok directed EOI: remote IRR stays set after the LAPIC EOI",
        r"ok directed EOI: the IOAPIC EOI register re-delivers the asserted line",
        r"ok polarity: inverted RTE on the idle line fires"])
    assert_exited(r, "ioapic_test")
    assert_clean(r)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pic(guests, platform):
    """ICW1-4, OCW1-3, IRR/ISR, specific and non-specific EOI, poll, auto-EOI, the cascade,
    ELCR, the mask race (spurious IRQ 7 or nothing), LINT0 ExtINT and APIC-disabled delivery
    (pic_test.c)."""
    r = boot(platform, "devices")
    assert_strict(r, "pic_test")
    assert_lines(r, "pic_test", [
        r"ok ELCR1 0x4d0: IRQ 0-2 edge only",
        r"ok masked IRQ0: IRR bit 0 set",
        r"ok LINT0 masked: IRQ0 not delivered",
        r"ok LINT0 = ExtINT \(0x700\): IRQ0 delivered as vector 0x20 once unmasked",
        r"ok specific EOI \(0x60\) clears ISR bit 0",
        r"ok poll with IRQ0 pending: 0x80 \| level 0",
        r"ok mask race: IRQ0 not delivered",
        r"ok auto-EOI: ISR bit 0 clear in the handler",
        r"ok IRQ 8 \(RTC periodic\) through the slave: vector 0x28, twice",
        r"ok APIC globally disabled: IRQ0 reaches the CPU"])
    assert_exited(r, "pic_test")
    assert_clean(r)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pci_and_fw_cfg(guests, platform):
    """Exactly 00:00.0 8086:1237 and 00:01.0 8086:7000; fw_cfg "QEMU", CPU count, unknown keys
    read 0 (pci_fwcfg_test.c); 1 and 2 vCPUs."""
    r = boot(platform, "devices")
    assert_strict(r, "pci_fwcfg_test")
    assert_line(r, r"^\[pci_fwcfg_test\] pci 00:", count=2)
    assert_lines(r, "pci_fwcfg_test", [
        r"ok pci 00:00.0 8086:1237 host bridge", r"ok pci 00:01.0 8086:7000 ISA bridge",
        r"ok keel: no other PCI function on bus 0", r"ok fw_cfg signature \"QEMU\"",
        r"fw_cfg nb_cpus 1$", r"ok fw_cfg unknown key 0x7abc reads 0"])
    assert_exited(r, "pci_fwcfg_test")
    assert_clean(r)
    r = boot(platform, "acpi")
    assert_line(r, r"^\[pci2\] fw_cfg nb_cpus 2$", count=1)
    assert_exited(r, "pci2")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_mmio_hole_and_string_io(guests, platform):
    """Empty MMIO reads all-ones and drops writes; REP INS/OUTS of every size on 0x3ff and an
    unemulated port (mmio_hole_test.c)."""
    r = boot(platform, "devices")
    assert_strict(r, "mmio_hole_test")
    assert_lines(r, "mmio_hole_test", [
        r"ok empty MMIO 0xfeb00000 reads all-ones", r"ok empty MMIO 0xf0000000 write dropped",
        r"ok empty MMIO 0xf0000000 after the write still all-ones",
        r"ok rep insb x4 from 0x3ff data", r"ok rep insb DF=1 data",
        r"ok rep insd 0x2f0 data all-ones", r"ok rep outsd x4 to 0x2f0",
        r"ok keel: rep insw 0x3ff data", r"ok rep outsw: scratch holds the low byte"])
    assert_exited(r, "mmio_hole_test")
    assert_clean(r)


# Device timer rates: missed PIT periods and RTC periodic interrupts are re-injected (bounded),
# so a guest counting them gets the datasheet rate even when the emulator runs its vCPU late.


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pit(guests, platform):
    """Modes 0, 2, 3 against the TSC, latch, read-back, access modes, port 0x61, Linux's
    channel-2 calibration loops (pit_test.c)."""
    r = clocks(platform, "pit")
    assert_strict(r, "pit_test")
    assert_lines(r, "pit_test", [
        r"ok IRQ0 on IOAPIC pin 2", r"ok port 0x61 bit 4 \(refresh\) toggles",
        r"ok mode 0 channel 2: OUT high after 20 ms", r"ok mode 0 channel 0: exactly one IRQ0",
        r"ok mode 2: IRQ0 per second at 100 Hz", r"ok mode 2 counter rate \(Hz\)",
        r"ok mode 3: IRQ0 per second at 100 Hz",
        r"ok mode 3 channel 2: OUT follows the 50 Hz square wave",
        r"ok counter latch", r"ok read-back status: lobyte/hibyte, mode 2, binary",
        r"ok lobyte only", r"ok hibyte only",
        r"ok Linux pit_calibrate_tsc\(CAL_LATCH, 10 ms\) = TSC kHz",
        r"ok quick_pit_calibrate MSB walk = TSC kHz"])
    assert_exited(r, "pit_test")
    assert_clean(r)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pm_timer(guests, platform):
    """FADT walk, 3.579545 MHz against the TSC, 24 bits, TMR_STS, SCI only when enabled
    (pmtimer_test.c)."""
    r = clocks(platform, "pm")
    assert_strict(r, "pmtimer_test")
    assert_lines(r, "pmtimer_test", [
        r"ok FADT checksum", r"ok keel: PM timer at 0x608", r"ok 24-bit timer: bits 31:24 read 0",
        r"ok 24-bit wrap seen within 6 s",
        r"ok PM timer rate 3579545 Hz", r"ok TMR_STS set by the bit-23 toggle",
        r"ok no SCI with TMR_EN clear", r"ok SCI arrives with TMR_EN set",
        r"ok no SCI after TMR_EN cleared"])
    assert_exited(r, "pmtimer_test")
    assert_clean(r)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rtc(guests, platform):
    """Time and date, formats, UIP, update/periodic/alarm interrupts, CMOS RAM, memory-size
    bytes (rtc_test.c)."""
    r = clocks(platform, "rtc")
    assert_strict(r, "rtc_test")
    assert_lines(r, "rtc_test", [
        r"ok BCD seconds/minutes/hours valid", r"ok century register 0x32 \+ year >= 2020",
        r"ok UIP \(A bit 7\) seen", r"ok binary mode: time written under SET reads back",
        r"ok 12 h mode: 1 PM reads 0x81",
        r"ok update-ended interrupt about once a second",
        r"ok periodic interrupt at 64 Hz", r"ok alarm interrupt within 1-3 s",
        r"ok CMOS 0x17-0x18 extended memory", r"ok CMOS 0x34-0x35 memory above 16 MiB",
        r"ok keel: CMOS 0x5b-0x5d memory above 4 GiB"])
    assert_exited(r, "rtc_test")
    assert_clean(r)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_bench_platform_cases_run(guests, platform):
    """The bench guest's platform cases run to the end (`make bench` prints their figures)."""
    r = clocks(platform, "bench")
    assert_line(r, r"^\[bench\] BENCH rtc_read iters=200 ticks=\d+ per_iter=[\d.]+", count=1)
    assert_line(r, r"^\[bench\] BENCH ioapic_irq iters=200 ticks=\d+ per_iter=[\d.]+", count=1)
    assert_line(r, r"^\[bench\] BENCH pit_irq0 iters=20 ticks=\d+ per_iter=[\d.]+", count=1)
    assert_exited(r, "bench")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_acpi_tables_and_power_off(guests, platform):
    """RSDP in the BIOS area, every checksum, the MADT lists exactly the 2 vCPUs, the IOAPIC
    and the overrides, FADT, DSDT _S5; S5 through PM1a_CNT ends the VM with status 0
    (acpi_test.c)."""
    r = boot(platform, "acpi")
    assert_strict(r, "acpi_test")
    assert_no_line(r, r"^\[acpi_test\] FAIL")
    assert_lines(r, "acpi_test", [
        r"ok RSDP in 0xE0000-0xFFFFF, 16-byte aligned", r"ok RSDP extended checksum",
        r"ok RSDT checksum", r"ok XSDT checksum", r"ok RSDT FACP checksum",
        r"ok RSDT APIC checksum", r"ok RSDT: DSDT checksum", r"ok RSDT: FACS signature",
        r"ok MADT: enabled local APICs = vCPUs", r"ok MADT: no extra \(disabled\) local APICs",
        r"ok MADT: override IRQ0 -> GSI 2", r"ok MADT: IRQ9 active low",
        r"ok MADT: a local APIC NMI entry", r"ok keel: PM_TMR 0x608",
        r"ok DSDT has an _S5_ package", r"ok keel: _S5 SLP_TYP 0",
        r"done: 0 failure\(s\)", r"powering off: PM1a_CNT 0x604 <- 0x2000"])
    assert_line(r, r"^\[acpi_test\] MADT: 2 local APIC\(s\), 1 IOAPIC\(s\)", count=1)
    assert_no_line(r, r"^\[acpi_test\] FAIL power off")
    assert_exited(r, "acpi_test")
    assert_clean(r)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_acpi_multiboot2_tags(guests, platform):
    """A multiboot2 guest gets the ACPI RSDP tags (new RSDP, type 15) holding a valid copy of
    the RSDP in the BIOS area; its MADT has its one vCPU; it powers off through S5."""
    r = boot(platform, "acpi")
    assert_strict(r, "acpi_mb2")
    assert_line(r, r"^\[acpi_mb2\] acpi_test: under Keel, multiboot2$", count=1)
    assert_lines(r, "acpi_mb2", [
        r"ok mb2 ACPI new RSDP tag: valid extended checksum",
        r"ok mb2 ACPI new RSDP tag = the RSDP in memory \(36 bytes\)",
        r"ok mb2: the new RSDP tag \(type 15\) for a revision 2 RSDP",
        r"MADT: 1 local APIC\(s\)", r"powering off: PM1a_CNT 0x604 <- 0x2000"])
    assert_exited(r, "acpi_mb2")


@pytest.mark.qemu
@pytest.mark.parametrize("mem", ["4G", "5G"])
def test_guest_ram_above_4g(guests, mem):
    """A VM with more RAM than fits below the PCI hole (QEMU SVM given 8 GiB): the multiboot map
    has low RAM to 3 GiB, nothing usable from there to 4 GiB and the rest from 4 GiB; the guest
    writes and reads back RAM above 4 GiB every 64 KiB, which is no alias of low RAM, and the
    hole and the end of RAM read all-ones (highmem.c)."""
    mods = [(guest("highmem.elf"), "name=highmem mem=%s expect_mem=%s" % (mem, mem))]
    r = run_qemu(append=APPEND, modules=mods, mem="8G", timeout=180)
    assert_lines(r, "highmem", [
        r"ok mmap: RAM above 3G available from 4G", r"ok mmap: nothing available between",
        r"ok mmap: available 1M..end contiguous up to", r"ok memory map: usable RAM from 4 GiB",
        r"ok pattern every 64 KiB above 4 GiB reads back", r"ok last dword of high RAM",
        r"ok low RAM at the same offsets is not an alias",
        r"ok the hole at 3.5 GiB reads all-ones", r"ok past the end of high RAM reads all-ones"])
    assert_exited(r, "highmem")
    assert_clean(r)


# ---- with the shell: the level storm beside a counter, and typed UART input ----

SHELL = {"qemu": dict(boot=90, secs=15, answer=15, end=120),
         "bochs": dict(boot=300, secs=30, answer=90, end=900)}


def _spawn(emulator, modules, cpus, timeout):
    if emulator == "qemu":
        return rig.spawn_qemu(append="", modules=modules, smp=cpus, timeout=timeout)
    return rig.spawn_bochs(model="corei7_skylake_x", cpus=cpus, append="", modules=modules,
                           timeout=timeout)


def _waiter(con, emulator):
    scale = rig.timeout_scale()

    def wait_for(regex, timeout, start=0):
        end = time.monotonic() + timeout * scale
        while True:
            text = con.text
            if re.search(regex, text[start:], re.M):
                return text
            if time.monotonic() > end:
                pytest.fail("%s: no %r in time\n%s" % (emulator, regex, con.describe(60)),
                            pytrace=False)
            if con.child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.2) == 1:
                pytest.fail("%s ended before %r\n%s" % (emulator, regex, con.describe(60)),
                            pytrace=False)
    return wait_for


EMULATORS = [pytest.param("qemu", marks=pytest.mark.qemu),
             pytest.param("bochs", marks=[pytest.mark.bochs, pytest.mark.slow])]


@pytest.mark.parametrize("emulator", EMULATORS)
def test_level_storm_keeps_other_vcpu_vm_and_shell_responsive(guests, emulator):
    """irq_storm8: a level SCI that is never serviced storms vCPU 1 (EOI broadcast re-delivers
    it back to back; under QEMU also a directed-EOI VM that never writes the IOAPIC EOI
    register) while vCPU 0 of the same VM counts: vCPU 0 keeps >= 25% of its pace, a counter VM
    finishes and the shell answers while the storm lasts, and the storm VMs end on their own."""
    s = SHELL[emulator]
    secs = s["secs"]
    modules = [(guest("counter"), "name=cnt n=3"),
               (guest("irq_storm8"), "name=storm8 cpus=2 secs=%d" % secs)]
    names = ["storm8"]
    if emulator == "qemu":
        modules.append((guest("irq_storm8"), "name=dstorm cpus=2 mode=directed secs=%d" % secs))
        names.append("dstorm")
    cpus = 1 + 2 * len(names)
    con = _spawn(emulator, modules, cpus, s["boot"])
    try:
        wait_for = _waiter(con, emulator)
        wait_for(r"debug shell on this console", s["boot"])
        for name in names:
            wait_for(r"^\[%s\] storm8: 1 s, progress" % name, s["boot"])
        wait_for(r"^vm cnt exited status=0", s["answer"])
        before = len(con.text)
        send_typed(con, emulator, "vms\r")
        wait_for(r"^storm8\s+running\s+2\s", s["answer"], before)
        for name in names:
            text = wait_for(r"^vm %s exited status=0" % name, s["end"])
        ends = [text.find("[%s] storm8: end" % n) for n in names]
        assert min(ends) > 0, con.describe(60)
        assert text.find("vm cnt exited status=0") < min(ends), con.describe(60)
        assert re.search(r"(?m)^storm8\s+running", text[before:min(ends)]), con.describe(60)
        lines = [r"\[storm8\] ok the counting cpu kept its pace",
                 r"\[storm8\] ok eoi: the asserted line was re-delivered back to back"]
        if "dstorm" in names:
            lines += [r"\[dstorm\] ok the counting cpu kept its pace",
                      r"\[dstorm\] ok directed: handled exactly once",
                      r"\[dstorm\] ok directed: remote IRR still set at the end"]
        for line in lines:
            assert re.search(r"(?m)^" + line, text), con.describe(60)
        assert not re.search(r"(?m)^\[\w+\] (FAIL|gap)|EXCEPTION|PANIC", text), con.describe(60)
    finally:
        con.close()


@pytest.mark.parametrize("emulator", EMULATORS)
def test_uart_interrupt_with_typed_input(guests, emulator):
    """uart_irq: 16550A registers, THRE/RDA/LSR/MSR interrupts on IRQ 4, priorities, FIFO; then
    text typed through the shell's `console uart` arrives by RDA interrupts."""
    s = SHELL[emulator]
    modules = [(guest("uart_irq"), "name=uart typed=7 expect=kEel-42 wait=600")]
    con = _spawn(emulator, modules, 1, s["boot"])
    try:
        wait_for = _waiter(con, emulator)
        wait_for(r"debug shell on this console", s["boot"])
        wait_for(r"^\[uart\] uart_irq: type 7 characters", s["boot"])
        wait_for(r"keel> ", s["answer"])
        before = len(con.text)
        send_typed(con, emulator, "console uart\r")
        wait_for(r"console: connected to vm uart", s["answer"], before)
        time.sleep(0.5)
        send_typed(con, emulator, "kEel-42")
        wait_for(r"received: 'kEel-42'", s["answer"], before)
        con.send("\x1d")
        text = wait_for(r"^vm uart exited status=0", s["answer"])
        for line in (r"ok THRE interrupt when ETBEI is set", r"ok loopback byte: IIR says RDA",
                     r"ok IIR with RDA and THRE pending: RDA first",
                     r"ok overrun: IIR 0x06 \(line status\) before RDA",
                     r"ok FIFO: in order", r"ok trigger level 4: the 4th byte raises RDA",
                     r"ok loopback: MSR deltas DCTS\|DDSR set",
                     r"ok modem-status interrupt pending \(IIR 0x00\) on DCTS"):
            assert re.search(r"(?m)^\[uart\] " + line, text), con.describe(60)
        assert re.search(r"(?m)^(\[uart\] )?ok typed input matches expect=", text), \
            con.describe(60)
        assert re.search(r"(?m)^\[uart\] uart_irq: under Keel", text), con.describe(60)
        assert not re.search(r"(?m)^(\[uart\] )?(FAIL|gap)|EXCEPTION|PANIC", text), \
            con.describe(60)
    finally:
        con.close()
