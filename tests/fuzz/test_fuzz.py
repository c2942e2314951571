"""Fuzzes every libFuzzer target in tests/fuzz (fuzz_<name>.c, ASan + UBSan) for a bounded number
of runs from its seed corpus (corpus/<name>/): any crash, sanitizer report or broken invariant
fails the test with libFuzzer's report (the input is saved under build/fuzz/)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "tests" / "fuzz"
OUT = ROOT / "build" / "fuzz"
CLANG = "/usr/bin/clang"
RUNS = int(os.environ.get("KEEL_FUZZ_RUNS", "50000"))
TARGETS = sorted(p.stem[len("fuzz_"):] for p in FUZZ.glob("fuzz_*.c"))


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target):
    if not Path(CLANG).exists():
        pytest.fail("%s is missing: run tests/deps.sh (installs clang for the fuzz targets)" % CLANG,
                    pytrace=False)
    b = subprocess.run(["make", "-C", str(FUZZ), "OUT=" + str(OUT), str(OUT / ("fuzz_" + target))],
                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=300)
    assert b.returncode == 0, "fuzz target did not build:\n" + b.stdout[-6000:]
    corpus = OUT / ("corpus-" + target)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(FUZZ / "corpus" / target, corpus)
    r = subprocess.run([str(OUT / ("fuzz_" + target)), "-runs=%d" % RUNS, "-seed=1",
                        "-max_len=512", "-timeout=10", "-artifact_prefix=%s/" % OUT, str(corpus)],
                       cwd=OUT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=600)
    assert r.returncode == 0, "fuzzing %s found a problem:\n%s" % (target, r.stdout[-8000:])
    assert "Done %d runs" % RUNS in r.stdout, r.stdout[-3000:]
