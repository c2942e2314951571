"""Root mode on both vendors (issue 3): guests given as boot modules run under EPT/NPT.

Every group boots once per platform and runs several VMs at once, each on its own CPU:
  qemu-svm   QEMU TCG, -cpu qemu64,+svm,+npt (multiboot1 -kernel, and GRUB for the loaders)
  bochs-vmx  Bochs corei7_skylake_x (GRUB ISO)
  bochs-svm  Bochs ryzen (GRUB ISO)
  qemu-kvm   QEMU on real VMX/SVM through KVM, only where the machine offers nested
             virtualization (skipped elsewhere, e.g. on CI's machines)
Guests print `ok ...`/`FAIL ...` per check and end through port 0xf4 (doc/CONTRACT.md)."""

import pytest

from rig import assert_line, assert_no_line, kvm_nested
from rig.guests import GroupCache, assert_clean, assert_exited, boot_guests

PLATFORMS = [pytest.param("qemu-svm", marks=pytest.mark.qemu),
             pytest.param("bochs-vmx", marks=pytest.mark.bochs),
             pytest.param("bochs-svm", marks=pytest.mark.bochs),
             pytest.param("qemu-kvm", marks=[pytest.mark.qemu, pytest.mark.skipif(
                 not kvm_nested(), reason="no KVM with nested VMX/SVM on this machine")])]
APPEND = "poweroff noshell"


def boot(platform, modules, cpus, boot_path="kernel", timeout=None):
    return boot_guests(platform, modules, cpus, append=APPEND, qemu_timeout=timeout or 90,
                       bochs_timeout=timeout or 240, boot=boot_path)


LONG_ARGS = "expect_name=longline expect_cmdline_len=%04d " + " ".join(
    "word%04d" % i for i in range(440))                     # 4004 bytes of arguments
# what the guest gets: its name, then the arguments (name= is Keel's, not the guest's)
LONG_CMDLINE = "longline " + LONG_ARGS % 0

GROUPS = {
    "basics": ([("cpuid_test.elf", "name=cpuid_test"),
                ("uart_test.elf", "name=uart_test"),
                ("msr_test.elf", "name=msr_test"),
                ("hypercall_test.elf", "name=hypercall_test")], 4, "kernel"),
    "loaders": ([("hello.elf", "name=hello mem=8M expect_mem=8M expect_mods=1"),
                 ("bad_notelf.elf", "module_of=hello some module words"),
                 ("hello_mb1_64.elf", "name=hello_mb1_64 mem=6M expect_mem=6M"),
                 ("hello_mb2_32.elf", "name=hello_mb2_32 mem=32M expect_mem=32M"),
                 ("hello_mb2_64.elf", "name=hello_mb2_64 expect_mem=16M")], 4, "iso"),
    "isolation": ([("mem_test.elf", "name=writer expect_name=writer writer spin=2000000"),
                   ("mem_test.elf", "name=reader expect_name=reader rounds=2"),
                   ("mem_test.elf", "name=prober expect_name=prober probe=0x40000000 probe_write=0xfec01000"),
                   ("mem_test.elf", "name=poker mem=4M expect_mem=4M probe_write=0x400000 expect_name=poker strict_mmio")], 4, "kernel"),
    "faults": ([("triple_fault.elf", "name=tripler expect_name=tripler"),
                ("bad_notelf.elf", "name=notelf"),
                ("hlt_test.elf", "name=halter expect_name=halter"),
                ("bad_nomb.elf", "name=nomb"),
                ("counter.elf", "name=count_a expect_name=count_a n=6 status=0"),
                ("bad_truncated.elf", "name=truncated"),
                ("counter.elf", "name=count_b expect_name=count_b n=3 status=5"),
                ("bad_bigaddr.elf", "name=bigaddr")], 4, "kernel"),
    # issue 8: the ACPI tables every VM gets; a guest command line far over the old 255 bytes
    "acpi": ([("acpi_tables.elf", "name=acpi_tables cpus=2 expect_cpus=2"),
              ("acpi_tables_mb2.elf", "name=acpi_tables_mb2"),
              ("hello.elf", "name=longline " + LONG_ARGS % len(LONG_CMDLINE))],
             4, "kernel"),
}
# one boot per (platform, group), shared by the tests that look at it
run_group = GroupCache({k: (m, c, {"boot": b}) for k, (m, c, b) in GROUPS.items()}, append=APPEND)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["cpuid_test", "uart_test", "msr_test", "hypercall_test"])
def test_guest_checks_pass(guests, platform, name):
    r = run_group(platform, "basics")
    assert_line(r, r"^vm %s started: 1 vcpu\(s\), 16 MiB, entry 0x" % name)
    assert_exited(r, name)
    assert_line(r, r"^\[%s\] ok " % name)
    assert_clean(r, status=0)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_cpuid_signature_and_uart_line_assembly(guests, platform):
    r = run_group(platform, "basics")
    assert_line(r, r"^\[cpuid_test\] ok .*KeelKeelKeel")
    # The UART guest writes its last line in three pieces: it must come out as one line.
    assert_line(r, r"^\[uart_test\] uart line 3 written in pieces\s*$")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["hello", "hello_mb1_64", "hello_mb2_32", "hello_mb2_64"])
def test_multiboot_loaders(guests, platform, name):
    """mb1/mb2, ELF32/ELF64, at 1 and 4 MiB, through GRUB's module2 lines; memory map, cmdline
    and modules in the info structure are checked by the guest."""
    r = run_group(platform, "loaders")
    assert_line(r, r"^\[%s\] hello from %s" % (name, name))
    assert_exited(r, name)
    assert_clean(r, status=0)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["acpi_tables", "acpi_tables_mb2"])
def test_acpi_tables(guests, platform, name):
    """RSDP in 0xE0000-0xFFFFF (and in the mb2 ACPI tags), every checksum, the MADT lists exactly
    the VM's vCPUs, the FADT's PM ports and reset register, FACS, the DSDT's \\_S5."""
    r = run_group(platform, "acpi")
    assert_line(r, r"^\[%s\] ok madt: enabled processors == vcpus" % name)
    assert_line(r, r"^\[%s\] ok dsdt: Name\(_S5_" % name)
    if name.endswith("mb2"):
        assert_line(r, r"^\[%s\] ok mb2 acpi new tag" % name)
    assert_exited(r, name)
    assert_clean(r, status=0)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_long_guest_command_line(guests, platform):
    """Command lines up to 4 KiB reach the guest (they were cut off at 255 bytes)."""
    r = run_group(platform, "acpi")
    assert_no_line(r, r"skipped")
    assert_line(r, r"^\[longline\] ok cmdline length")
    assert_exited(r, "longline")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_memory_isolation(guests, platform):
    r = run_group(platform, "isolation")
    assert_exited(r, "writer")
    assert_exited(r, "reader")      # never saw the writer's OTHERVM! marker in its own RAM
    # Outside RAM and devices: an empty bus (all-ones, writes dropped), also between the IOAPIC
    # and the local APIC; strict_mmio stops the VM instead.
    assert_line(r, r"^\[prober\] ok unmapped read all-ones")
    assert_line(r, r"^\[prober\] ok unmapped write dropped, reads back all-ones")
    assert_exited(r, "prober")
    assert_line(r, r"^vm poker stopped: access to unmapped gpa 0x400000 \(write\) at rip=0x")
    assert_no_line(r, r"^\[poker\] (ok unmapped|FAIL)")
    assert_clean(r, status=1)       # one VM was stopped


@pytest.mark.parametrize("platform", PLATFORMS)
def test_faults_stay_inside_their_vm(guests, platform):
    """A triple fault stops only its VM; malformed modules are reported and skipped; the other
    VMs run to their own ends at the same time."""
    r = run_group(platform, "faults")
    assert_line(r, r"^\[tripler\] about to triple fault")
    assert_line(r, r"^vm tripler stopped: triple fault at rip=0x")
    assert_line(r, r"^\[halter\] about to halt")
    assert_exited(r, "halter", note=" (halted)")
    assert_exited(r, "count_a")
    assert_exited(r, "count_b", status=5)
    for i in range(1, 7):
        assert_line(r, r"^\[count_a\] count %d\s*$" % i, count=1)
    assert_clean(r, status=1)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_malformed_modules_are_skipped(guests, platform):
    r = run_group(platform, "faults")
    assert_line(r, r"^module 2: .*not an ELF.*; skipped")
    assert_line(r, r"^module 4: .*no multiboot header.*; skipped")
    assert_line(r, r"^module 6: .*(past|end of file|truncated).*; skipped")
    assert_line(r, r"^module 8: .*outside guest RAM.*; skipped")
    assert_no_line(r, r"^vm (notelf|nomb|truncated|bigaddr) ")


CPU_STATE = [("cpu_state_test.elf", "name=cpu_state_test"), ("cpu_state64.elf", "name=cpu_state64")]


@pytest.mark.parametrize("platform", [pytest.param("qemu-svm", marks=pytest.mark.qemu),
                                      pytest.param("bochs-vmx", marks=pytest.mark.bochs),
                                      pytest.param("bochs-svm", marks=pytest.mark.bochs)])
def test_cpu_state_guests(guests, platform):
    """CR0/CR4 shadows, guest-driven PAE paging and long mode, CR8, #UD/#GP for hidden
    instructions and bits, in 32- and 64-bit guests."""
    r = boot(platform, CPU_STATE, 2)
    assert_exited(r, "cpu_state_test")
    assert_exited(r, "cpu_state64")
    assert_clean(r, status=0)


@pytest.mark.qemu
def test_cpu_state_bad_cr_writes_fault_on_qemu(guests):
    """QEMU's TCG lets a guest write CR4.VMXE and CR0.NW without CD, which real CPUs refuse with
    #GP, and VMRUN would then reject the state. Keel intercepts CR writes on SVM and raises the
    #GP itself (issue 13 item 6): the guests see a CPU's behaviour and end normally."""
    r = boot("qemu-svm", CPU_STATE + [("counter.elf", "name=bystander expect_name=bystander")], 3)
    for name in ("cpu_state_test", "cpu_state64"):
        assert_exited(r, name)
        assert_line(r, r"^\[%s\] ok CR4.VMXE -> #GP" % name)
    assert_line(r, r"^\[cpu_state_test\] ok CR0.NW without CD -> #GP")
    assert_no_line(r, r"VMRUN refused")
    assert_exited(r, "bystander")
    assert_clean(r, status=0)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_bench_guest_runs(guests, platform):
    """The exit-cost benchmark runs everywhere; `make bench` prints the figures."""
    r = boot(platform, [("bench.elf", "name=bench n=200")], 1)
    for what in ("empty", "cpuid", "hypercall", "rdmsr", "out"):
        assert_line(r, r"^\[bench\] BENCH %s iters=200 ticks=\d+ per_iter=[\d.]+" % what)
    assert_exited(r, "bench")
