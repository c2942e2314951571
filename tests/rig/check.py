"""Assertions on Keel's console output (strings from doc/CONTRACT.md). Each takes a RunResult
(preferred: failures then show how the emulator ran and the tail of the serial log) or plain text."""
import re

from .run import POWER_OFF_RE

BANNER_RE = r"Keel \S.* x86-64 microhypervisor"
CPU_ONLINE_RE = r"^cpu (\d+): apic (\d+) online\s*$"


def _text(r):
    return r if isinstance(r, str) else r.output


def _context(r, n=40):
    if isinstance(r, str):
        tail = "\n".join(r.splitlines()[-n:])
        return "--- serial (last %d lines) ---\n%s\n--- end serial ---" % (n, tail)
    return r.describe(n)


def fail(r, problems):
    """Raise AssertionError listing problems, followed by the run's context."""
    __tracebackhide__ = True
    if isinstance(problems, str):
        problems = [problems]
    raise AssertionError("\n".join(["- " + p for p in problems] + [_context(r)]))


def lines_matching(r, regex):
    rx = re.compile(regex)
    return [l for l in _text(r).splitlines() if rx.search(l)]


def booted_problems(r, ncpus, status=0):
    """Everything wrong with a boot on ncpus CPUs that should end with `power off status=status`
    (status=None: the power-off line is not required). Empty list = fine."""
    text = _text(r)
    problems = []
    if not isinstance(r, str):
        if r.timed_out:
            problems.append("emulator timed out (%.1fs)" % r.wall)
        if r.stopped_on and not re.search(POWER_OFF_RE, r.stopped_on):
            problems.append("run stopped early on %r" % r.stopped_on)
    if not re.search(r"(?m)^.*" + BANNER_RE, text):
        problems.append("no banner 'Keel <version> x86-64 microhypervisor'")
    online = {}
    for m in re.finditer(CPU_ONLINE_RE, text, re.M):
        online.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    for n in range(ncpus):
        c = len(online.get(n, []))
        if c != 1:
            problems.append("expected one 'cpu %d: apic <id> online' line, found %d" % (n, c))
    extra = sorted(n for n in online if n >= ncpus)
    if extra:
        problems.append("unexpected CPUs online: %s" % extra)
    apics = [a for ids in online.values() for a in ids]
    if len(set(apics)) != len(apics):
        problems.append("duplicate APIC ids among online CPUs: %s" % sorted(apics))
    skipped = lines_matching(text, r"did not start")
    if skipped:
        problems.append("CPUs did not start: %s" % skipped)
    all_up = re.findall(r"(?m)^keel: (\d+) cpus online", text)
    if all_up != [str(ncpus)]:
        problems.append("expected one 'keel: %d cpus online' line, found %s" % (ncpus, all_up))
    for word in ("EXCEPTION", "PANIC"):
        bad = lines_matching(text, word)
        if bad:
            problems.append("%s on the console: %s" % (word, bad[:3]))
    if status is not None:
        st = re.findall(POWER_OFF_RE, text)
        if st != [str(status)]:
            problems.append("expected one 'keel: power off status=%d', found statuses %s"
                            % (status, st))
    return problems


def assert_booted(r, ncpus, status=0):
    """Banner; exactly one `cpu <n>: apic <id> online` for each n < ncpus (and no others);
    `keel: <ncpus> cpus online`; no EXCEPTION / PANIC; `keel: power off status=<status>`.
    For QEMU runs, also check the exit code with assert_qemu_exit()."""
    __tracebackhide__ = True
    problems = booted_problems(r, ncpus, status)
    if problems:
        fail(r, problems)


def assert_line(r, regex, count=None):
    """At least one (or exactly `count`) console lines match regex; returns the matching lines."""
    __tracebackhide__ = True
    found = lines_matching(r, regex)
    if (count is None and not found) or (count is not None and len(found) != count):
        fail(r, "expected %s line(s) matching %r, found %d: %s"
             % ("some" if count is None else count, regex, len(found), found[:5]))
    return found


def assert_no_line(r, regex):
    __tracebackhide__ = True
    found = lines_matching(r, regex)
    if found:
        fail(r, "unexpected line(s) matching %r: %s" % (regex, found[:5]))


def assert_qemu_exit(r, status=0):
    """QEMU ended by itself through isa-debug-exit with Keel's status (exit code 2*status+1)."""
    __tracebackhide__ = True
    want = 2 * status + 1
    if r.timed_out or r.exit_code != want:
        fail(r, "expected QEMU to exit by itself with code %d (status %d); got %s%s"
             % (want, status, r.exit_code, " (timed out)" if r.timed_out else ""))


def assert_powered_off(r, status):
    """Keel printed `keel: power off status=<status>` and the emulator stopped without a timeout
    (Bochs: Keel's power-off ended it, or the rig stopped it right after the line)."""
    __tracebackhide__ = True
    problems = []
    if r.timed_out:
        problems.append("emulator timed out (%.1fs): Keel hung instead of powering off" % r.wall)
    if r.status != status:
        problems.append("expected 'keel: power off status=%d', got status %s" % (status, r.status))
    if problems:
        fail(r, problems)
