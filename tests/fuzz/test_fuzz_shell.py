"""Fuzzes the shell's line editor and command parser (tests/fuzz/fuzz_shell.c, libFuzzer with
ASan + UBSan) for a bounded number of runs: any crash, sanitizer report or broken invariant
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
RUNS = int(os.environ.get("KEEL_FUZZ_RUNS", "200000"))


def test_fuzz_shell_parser_and_line_editor():
    if not Path(CLANG).exists():
        pytest.fail("%s is missing: run tests/deps.sh (installs clang for the fuzz target)" % CLANG,
                    pytrace=False)
    b = subprocess.run(["make", "-C", str(FUZZ), "OUT=" + str(OUT)], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=300)
    assert b.returncode == 0, "fuzz target did not build:\n" + b.stdout[-6000:]
    corpus = OUT / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(FUZZ / "corpus", corpus)
    r = subprocess.run([str(OUT / "fuzz_shell"), "-runs=%d" % RUNS, "-seed=1", "-max_len=512",
                        "-timeout=10", "-artifact_prefix=%s/" % OUT, str(corpus)],
                       cwd=OUT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=600)
    assert r.returncode == 0, "fuzzing found a problem:\n" + r.stdout[-8000:]
    assert "Done %d runs" % RUNS in r.stdout, r.stdout[-3000:]
