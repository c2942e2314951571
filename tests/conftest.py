"""Shared fixtures: build once per session; fail (never skip) when a tool or target is missing."""
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rig  # noqa: E402

DEPS_HINT = "run tests/deps.sh (installs qemu-system-x86, bochs, grub, xorriso, mtools, ...)"


@pytest.fixture(scope="session")
def build_result():
    """`make -j2 all guests` once per session (targets the Makefile lacks are noted, not fatal)."""
    return rig.build()


@pytest.fixture(scope="session")
def keel(build_result):
    """Path of build/keel.elf; fails the test with the reason when it cannot be built."""
    problem = rig.keel_problem(build_result)
    if problem:
        pytest.fail("cannot boot Keel: " + problem, pytrace=False)
    return rig.KEEL_ELF


@pytest.fixture(scope="session")
def guests(build_result, keel):
    """Directory build/guests/ with the built guest ELFs."""
    problem = rig.guests_problem(build_result)
    if problem:
        pytest.fail("guests unavailable: " + problem, pytrace=False)
    return rig.GUESTS


def _missing_tools(markers):
    missing = []
    if "qemu" in markers and not shutil.which(rig.qemu.QEMU):
        missing.append(rig.qemu.QEMU)
    if "bochs" in markers:
        for path in (rig.bochs.BIOS, rig.bochs.VGABIOS):
            if not Path(path).exists():
                missing.append(path)
        if not shutil.which(rig.bochs.BOCHS):
            missing.append(rig.bochs.BOCHS)
    if markers & {"qemu", "bochs"}:
        iso_tools = ["grub-mkrescue", "xorriso", "mformat"]
        missing += [t for t in iso_tools if not shutil.which(t)]
        if not Path("/usr/lib/grub/i386-pc").is_dir():
            missing.append("/usr/lib/grub/i386-pc (grub-pc-bin)")
    return missing


@pytest.fixture(autouse=True)
def _emulators_present(request):
    """Tests marked qemu/bochs fail clearly when their emulator (or the ISO tools) is missing."""
    markers = {m.name for m in request.node.iter_markers()} & {"qemu", "bochs"}
    if markers:
        missing = _missing_tools(markers)
        if missing:
            pytest.fail("missing %s; %s" % (", ".join(missing), DEPS_HINT), pytrace=False)


@pytest.fixture(scope="session")
def boot_iso(keel):
    """GRUB ISO of Keel with `poweroff noshell`, shared by the Bochs boot tests."""
    return rig.make_iso("poweroff noshell", kernel=keel)
