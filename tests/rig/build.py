"""Build Keel and its guests once per test session (`make -j2 all`, then `make -j2 guests`).
The targets are built one after the other so that a broken guest build does not hide a good
kernel (boot tests still run) and a broken kernel is never booted from a stale build/keel.elf."""
import os
import subprocess
from dataclasses import dataclass, field

from .paths import ROOT, KEEL_ELF

TARGETS = ("all", "guests")


@dataclass
class BuildResult:
    ok: bool                                              # every existing target built
    outputs: dict = field(default_factory=dict)           # target -> make's stdout+stderr
    failed: list = field(default_factory=list)            # targets whose make failed
    missing_targets: list = field(default_factory=list)   # targets the Makefile lacks
    note: str = ""

    @property
    def output(self):
        return "\n".join(self.outputs.values())

    def target_problem(self, target, what):
        """A clear reason why `what` (built by `target`) cannot be used, or None."""
        if self.note:
            return self.note
        if target in self.missing_targets:
            return "the Makefile has no '%s' target yet, so %s is not built" % (target, what)
        if target in self.failed:
            tail = "\n".join(self.outputs.get(target, "").splitlines()[-40:])
            return "`make %s` failed, so %s is not built:\n%s" % (target, what, tail)
        return None


def _has_target(target):
    """True if the Makefile knows `target` (make -n prints 'No rule to make target' otherwise)."""
    p = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True,
                       errors="replace")
    return "No rule to make target" not in (p.stdout + p.stderr)


def build(targets=TARGETS, jobs=2):
    """Run `make -jN <target>` for each target at the repo root. Targets the Makefile does not
    have are listed in .missing_targets; failed ones in .failed. KEEL_NO_BUILD=1 skips make."""
    if os.environ.get("KEEL_NO_BUILD") == "1":
        return BuildResult(ok=True, outputs={"-": "KEEL_NO_BUILD=1: make skipped"})
    if not (ROOT / "Makefile").exists():
        return BuildResult(ok=False, missing_targets=list(targets),
                           note="no Makefile at %s: nothing to build yet" % ROOT)
    r = BuildResult(ok=True)
    for t in targets:
        if not _has_target(t):
            r.missing_targets.append(t)
            continue
        cmd = ["make", "-j%d" % jobs, t]
        p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, errors="replace")
        r.outputs[t] = "$ %s\n%s" % (" ".join(cmd), p.stdout)
        if p.returncode != 0:
            r.failed.append(t)
            r.ok = False
    return r


def keel_problem(result):
    """Why build/keel.elf cannot be booted, or None."""
    pb = result.target_problem("all", "build/keel.elf")
    if pb:
        return pb
    if not KEEL_ELF.exists():
        return "%s does not exist after `make all`" % KEEL_ELF
    return None


def guests_problem(result):
    """Why build/guests/ cannot be used, or None."""
    return result.target_problem("guests", "build/guests/*.elf")
