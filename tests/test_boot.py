"""Issue: "Both vendors' emulators boot Keel on 1, 2 and 4 CPUs by both paths; QEMU also on 8",
and "Missing or corrupt boot information (no MADT, no memory map, a memory map that overlaps the
image) gives a clear console message, not a hang or a triple fault"."""
import pytest

from rig import (assert_booted, assert_line, assert_no_line, assert_powered_off,
                 assert_qemu_exit, run_bochs, run_qemu)

BOOT = "poweroff noshell"
QEMU_TIMEOUT = 60        # a boot takes ~0.2-2 s; generous for a shared 2-core machine
BOCHS_TIMEOUT = 180      # a boot takes ~2-10 s (GRUB included)


@pytest.mark.qemu
@pytest.mark.parametrize("ncpus", [1, 2, 4, 8])
@pytest.mark.parametrize("boot", ["kernel", "iso"])
def test_qemu_boots(keel, boot, ncpus):
    r = run_qemu(append=BOOT, smp=ncpus, boot=boot, timeout=QEMU_TIMEOUT)
    assert_booted(r, ncpus)
    assert_qemu_exit(r, status=0)


@pytest.mark.bochs
@pytest.mark.parametrize("ncpus", [1, 2, 4])
@pytest.mark.parametrize("model", ["corei7_skylake_x", "ryzen"])
def test_bochs_boots(boot_iso, model, ncpus):
    r = run_bochs(boot_iso, model=model, cpus=ncpus, timeout=BOCHS_TIMEOUT)
    assert_booted(r, ncpus)


# Robustness. QEMU and GRUB always hand over a MADT and a memory map, so Keel has TEST-ONLY
# command-line hooks that fake broken boot information right after the loader's data is read:
#   test_drop=madt              behave as if the ACPI tables had no MADT
#   test_drop=mmap              behave as if the loader gave no memory map
#   test_corrupt=mmap_overlap   add a reserved entry across Keel's image and overlapping entries
#   test_corrupt=madt_ghost_cpu add an APIC id to the MADT that no CPU answers to
# They exist only for these tests; nothing else should use them.

def _boot_with(where, append, ncpus=2):
    if where == "bochs":
        return run_bochs(model="corei7_skylake_x", cpus=ncpus, append=append,
                         timeout=BOCHS_TIMEOUT)
    return run_qemu(append=append, smp=ncpus, boot=where, timeout=QEMU_TIMEOUT)


ROBUST_WHERE = [pytest.param("kernel", marks=pytest.mark.qemu, id="qemu-kernel"),
                pytest.param("iso", marks=pytest.mark.qemu, id="qemu-iso"),
                pytest.param("bochs", marks=pytest.mark.bochs, id="bochs")]


@pytest.mark.parametrize("where", ROBUST_WHERE)
def test_no_madt_boots_bsp_only(keel, where):
    r = _boot_with(where, BOOT + " test_drop=madt", ncpus=2)
    assert_line(r, r"no MADT")
    assert_booted(r, 1)             # only the BSP, then a clean power-off with status 0
    if where != "bochs":
        assert_qemu_exit(r, status=0)


@pytest.mark.parametrize("where", ROBUST_WHERE)
def test_no_memory_map_panics_cleanly(keel, where):
    r = _boot_with(where, BOOT + " test_drop=mmap", ncpus=2)
    assert_line(r, r"PANIC:.*no memory map")
    assert_no_line(r, r"EXCEPTION")
    assert_powered_off(r, status=1)  # powers off by itself: no hang, no triple fault
    if where != "bochs":
        assert_qemu_exit(r, status=1)   # exit code 3; a triple fault would give 0


@pytest.mark.parametrize("where", ROBUST_WHERE)
def test_mmap_overlapping_image_is_carved_out(keel, where):
    r = _boot_with(where, BOOT + " test_corrupt=mmap_overlap", ncpus=2)
    assert_line(r, r"overlaps")
    assert_booted(r, 2)
    if where != "bochs":
        assert_qemu_exit(r, status=0)


@pytest.mark.bochs
@pytest.mark.parametrize("mode", ["x2apic", "xapic"])
def test_bochs_lapic_modes(boot_iso, keel, mode):
    """Skylake-X has x2APIC: Keel uses it, and `nox2apic` keeps the MMIO (xAPIC) interface; both
    bring up every CPU."""
    append = BOOT + (" nox2apic" if mode == "xapic" else "")
    r = run_bochs(model="corei7_skylake_x", cpus=2, append=append, timeout=BOCHS_TIMEOUT)
    assert_line(r, r"lapic: %s" % ("x2APIC \\(MSR\\)" if mode == "x2apic" else "xAPIC \\(MMIO\\)"))
    assert_booted(r, 2)


@pytest.mark.parametrize("where", ROBUST_WHERE)
def test_cpu_that_does_not_start_is_skipped(keel, where):
    """test_corrupt=madt_ghost_cpu adds an APIC id that no CPU answers to the MADT."""
    r = _boot_with(where, BOOT + " test_corrupt=madt_ghost_cpu", ncpus=2)
    assert_line(r, r"^cpu 2: apic 126 did not start; skipped\s*$", count=1)
    assert_line(r, r"^keel: 2 cpus online\s*$", count=1)
    assert_powered_off(r, status=0)
