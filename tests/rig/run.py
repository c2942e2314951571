"""Process plumbing shared by the emulator runners: run under a timeout in its own process group,
poll the serial log, stop on a regex, collect a RunResult."""
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field

POWER_OFF_RE = r"keel: power off status=(\d+)"
# Stop early when Keel reports an exception: it then stops that CPU, so waiting for the timeout
# would only cost time. The grace period lets the register dump reach the log.
FAIL_FAST_RE = r"EXCEPTION \d+"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CRNL = re.compile(r"\r+\n")      # CRLF, and CRCRLF from a pty's ONLCR (interactive QEMU)


def normalize(raw):
    """Serial bytes -> text: decoded with errors='replace', CR...CRLF / lone CR turned into LF, ANSI
    CSI escapes (GRUB's screen clearing) removed. RunResult.raw keeps the bytes as sent."""
    text = raw.decode("utf-8", errors="replace")
    text = _CRNL.sub("\n", text).replace("\r", "\n")
    return _ANSI.sub("", text)


def power_off_status(text):
    """The N of the last `keel: power off status=N` line, or None."""
    m = re.findall(POWER_OFF_RE, text)
    return int(m[-1]) if m else None


@dataclass
class RunResult:
    emulator: str                   # "qemu" or "bochs"
    cmd: list                       # the emulator's argv
    output: str = ""                # serial console text (normalized, see normalize())
    raw: bytes = b""                # serial bytes as written
    exit_code: int = None           # emulator exit status (negative = killed by signal)
    timed_out: bool = False         # we killed it at the timeout
    stopped_on: str = None          # the text that made us stop it early (until / fail-fast), or None
    wall: float = 0.0               # seconds from launch to exit
    status: int = None              # from `keel: power off status=N`, or None
    log: str = ""                   # the emulator's own stderr / log file (tail)
    info: dict = field(default_factory=dict)   # runner extras (bochs: rfb port, bochsrc, ...)

    @property
    def lines(self):
        return self.output.splitlines()

    def tail(self, n=40):
        return "\n".join(self.lines[-n:])

    def describe(self, n=40):
        """Everything a failing assertion should show: how it was run, how it ended, the log tail."""
        how = ("timed out" if self.timed_out else
               "stopped on %r" % self.stopped_on if self.stopped_on else
               "exited %s" % self.exit_code)
        parts = ["%s %s after %.2fs; power-off status=%s" % (self.emulator, how, self.wall,
                                                          self.status),
                 "command: %s" % shlex.join(str(c) for c in self.cmd)]
        if self.log.strip():
            parts.append("--- %s log (tail) ---\n%s" % (self.emulator,
                                                       "\n".join(self.log.splitlines()[-15:])))
        parts.append("--- serial (last %d lines) ---\n%s\n--- end serial ---" % (n, self.tail(n)))
        return "\n".join(parts)

    def __str__(self):
        return self.describe()

    def __repr__(self):   # short: pytest prints fixture/argument reprs in tracebacks
        return "<RunResult %s exit=%s timed_out=%s status=%s %.2fs, %d serial lines>" % (
            self.emulator, self.exit_code, self.timed_out, self.status, self.wall,
            len(self.lines))


def kill_group(proc, term_wait=1.0):
    """SIGTERM then SIGKILL the process group of proc (started with start_new_session=True)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def poll(proc, serial_path, timeout, until=None, fail_fast=FAIL_FAST_RE, grace=0.5,
         fail_grace=1.5, interval=0.05):
    """Wait for proc while watching serial_path. Returns (timed_out, stopped_on).
    - proc exits by itself -> (False, None)
    - `until` matches the serial text -> wait `grace` s more (or until it exits), kill -> (False, m)
    - `fail_fast` matches -> same with `fail_grace`
    - timeout -> kill -> (True, None)"""
    until_re = re.compile(until) if until else None
    fail_re = re.compile(fail_fast) if fail_fast else None
    deadline = time.monotonic() + timeout
    stop_at, stopped_on = None, None
    while True:
        try:
            proc.wait(interval)
            return False, stopped_on
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if stop_at is not None:
            if now >= stop_at:
                kill_group(proc)
                return False, stopped_on
            continue
        if now >= deadline:
            kill_group(proc)
            return True, None
        if until_re or fail_re:
            text = normalize(read_bytes(serial_path))
            for rx, g in ((until_re, grace), (fail_re, fail_grace)):
                m = rx.search(text) if rx else None
                if m:
                    stopped_on, stop_at = m.group(0), min(now + g, deadline)
                    break
