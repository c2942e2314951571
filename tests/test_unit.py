"""Host unit tests of Keel's pure modules (tests/unit/, ASan + UBSan): one pytest test per binary."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "tests" / "unit"
OUT = ROOT / "build" / "unit"
SOURCES = sorted(p.stem for p in UNIT.glob("test_*.c"))


def _run(cmd, timeout):
    return subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", timeout=timeout)


@pytest.fixture(scope="module")
def unit_build():
    """`make -C tests/unit` once for the module; a failed build fails every test with its log."""
    r = _run(["make", "-k", "-j2", "-C", str(UNIT), "OUT=" + str(OUT)], timeout=600)
    return r.returncode, r.stdout


@pytest.mark.parametrize("name", SOURCES)
def test_unit(unit_build, name):
    code, log = unit_build
    binary = OUT / name
    # `make -q` also catches a stale binary left over from before a failed rebuild.
    fresh = _run(["make", "-q", "-C", str(UNIT), "OUT=" + str(OUT), str(binary)], timeout=60)
    if not binary.exists() or fresh.returncode != 0:
        pytest.fail("%s was not built (make exit %d):\n%s" % (name, code, log[-8000:]), pytrace=False)
    r = _run([str(binary)], timeout=120)
    assert r.returncode == 0, "%s exited %d:\n%s" % (name, r.returncode, r.stdout[-8000:])


def test_modules_build_freestanding():
    """The pure modules compile with the kernel's flags and need nothing outside themselves."""
    r = _run(["make", "-C", str(UNIT), "OUT=" + str(OUT), "freestanding"], timeout=300)
    assert r.returncode == 0, r.stdout[-8000:]
