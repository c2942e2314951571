"""Interactive serial console over pexpect, shared by spawn_qemu() and spawn_bochs()."""
import os
import subprocess

import pexpect

from .run import kill_group, normalize


class Console:
    """A running emulator whose COM1 is attached to pexpect.

    expect()/expect_exact() as in pexpect (timeouts scaled by KEEL_TIMEOUT_SCALE is up to the
    caller); sendline(s) sends s + "\\r" (what a terminal sends for Enter: Keel's shell must accept
    CR, LF and CRLF); .text is everything received so far (normalized); close() kills the emulator.
    Use as a context manager. The raw pexpect object is .child.
    Under spawn_qemu the serial runs through a pty whose ONLCR QEMU keeps, so Keel's "\r\n"
    arrives as "\r\r\n": in expect() patterns end lines with r"\r*\n" (or don't match the
    line end at all). Under spawn_bochs the pty is raw and bytes arrive as sent."""

    def __init__(self, child, emulator, cmd, log_path, proc=None, cleanup=None):
        self.child = child
        self.emulator = emulator
        self.cmd = cmd
        self.log_path = log_path
        self.proc = proc            # subprocess.Popen when the emulator is not pexpect's own child
        self._cleanup = cleanup
        self.exit_code = None

    # pexpect pass-throughs
    def expect(self, pattern, timeout=-1):
        return self.child.expect(pattern, timeout=timeout)

    def expect_exact(self, pattern, timeout=-1):
        return self.child.expect_exact(pattern, timeout=timeout)

    def send(self, s):
        return self.child.send(s)

    def sendline(self, s=""):
        return self.child.send(s + "\r")

    @property
    def match(self):
        return self.child.match

    @property
    def before(self):
        return self.child.before

    @property
    def text(self):
        try:
            self.child.logfile_read.flush()
        except Exception:
            pass
        try:
            with open(self.log_path, "rb") as f:
                return normalize(f.read())
        except FileNotFoundError:
            return ""

    def tail(self, n=40):
        return "\n".join(self.text.splitlines()[-n:])

    def describe(self, n=40):
        return "%s console: %s\n--- serial (last %d lines) ---\n%s\n--- end serial ---" % (
            self.emulator, " ".join(map(str, self.cmd)), n, self.tail(n))

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return self.child.isalive()

    def wait(self, timeout):
        """Wait up to timeout s for the emulator to exit by itself (reading its output meanwhile);
        returns its exit code, or None if it is still running."""
        try:
            self.child.expect(pexpect.EOF, timeout=timeout)
        except pexpect.TIMEOUT:
            return None
        if self.proc is not None:
            try:
                self.exit_code = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                return None
        else:
            self.child.wait()
            self.exit_code = self.child.exitstatus if self.child.exitstatus is not None \
                else -(self.child.signalstatus or 0)
        return self.exit_code

    def close(self):
        """Kill the emulator (if still running) and free everything; returns its exit code."""
        try:
            if self.proc is not None:
                kill_group(self.proc)
                self.exit_code = self.proc.returncode
                try:
                    self.child.close()
                except Exception:
                    pass
            else:
                if self.child.isalive():
                    try:
                        os.killpg(self.child.pid, 15)
                    except (ProcessLookupError, PermissionError):
                        pass
                self.child.close(force=True)
                self.exit_code = self.child.exitstatus if self.child.exitstatus is not None \
                    else -(self.child.signalstatus or 0)
        finally:
            try:
                self.child.logfile_read.close()
            except Exception:
                pass
            if self._cleanup:
                self._cleanup()
                self._cleanup = None
        return self.exit_code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
