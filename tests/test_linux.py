"""Unmodified Linux as a Keel guest (issue 10): Debian's stock cloud kernel (linux-image-cloud-amd64
from tests/deps.sh, used as /boot has it) with a busybox initramfs (tests/linux/mkinitramfs.py,
built by `make linux-initrd`), loaded by Keel's bzImage loader (kernel/loader/bzimage.c).

Issue: "On QEMU (SVM): Linux reaches a busybox prompt on its vUART with no warnings or oopses in
dmesg; `nproc` prints 2 and work runs on both CPUs; `/proc/interrupts` shows the timer and the
UART counting on both; a command typed through `console <vm>` is answered; `poweroff` inside
Linux ends the VM with status 0 and `reboot` restarts it; two Linux VMs at once stay isolated.
On Bochs (VMX) the same boot to the prompt."

One QEMU boot with two Linux VMs (2 vCPUs each) serves every QEMU check, in order; the Bochs boot
runs only with KEEL_LINUX_BOCHS=1 (see the note on test_bochs_vmx_boot_to_prompt)."""
import os
import re
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

import rig

ROOT = Path(__file__).resolve().parent.parent
INITRD = ROOT / "build" / "linux" / "initramfs.cpio.gz"
ARGS = "cpus=2 mem=256M console=ttyS0"
PROMPT = "linux# "
# What a clean boot must not print (the list, and Linux's wording for each).
BAD_DMESG = re.compile(r"WARNING|BUG|Oops|[Pp]anic|timed out|APIC error|[Cc]alibration failed|"
                       r"[Uu]nable to calibrate|not consistent with|unchecked MSR|"
                       r"Call Trace|soft lockup|hung task|Failed to|failed to")


def linux_kernel():
    found = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"))
    if not found:
        pytest.fail("no /boot/vmlinuz-*-cloud-amd64: run tests/deps.sh", pytrace=False)
    return found[-1]


@pytest.fixture(scope="module")
def initrd(build_result):
    r = subprocess.run(["make", "-s", "linux-initrd"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0 or not INITRD.exists():
        pytest.fail("make linux-initrd failed:\n" + r.stdout + r.stderr, pytrace=False)
    return INITRD


def modules(names, initrd):
    k = linux_kernel()
    mods = []
    for n in names:
        mods += [(k, "name=%s %s" % (n, ARGS)), (initrd, "module_of=%s" % n)]
    return mods


class Session:
    """Keel's shell on QEMU's COM1, with helpers for a VM's console."""

    def __init__(self, con):
        self.con = con
        self.scale = rig.timeout_scale()

    def wait(self, regex, timeout, start=0):
        end = time.monotonic() + timeout * self.scale
        while True:
            text = self.con.text
            m = re.search(regex, text[start:], re.M)
            if m:
                return text[start:]
            if time.monotonic() > end:
                pytest.fail("no %r in time\n%s" % (regex, self.con.describe(80)), pytrace=False)
            if self.con.child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.2) == 1:
                pytest.fail("QEMU ended before %r\n%s" % (regex, self.con.describe(80)),
                            pytrace=False)

    def shell(self, line, expect, timeout=30):
        """A line for Keel's shell; returns the text from there on once expect matched."""
        start = len(self.con.text)
        self.con.send(line + "\r")
        return self.wait(expect, timeout, start)

    def attach(self, vm):
        self.shell("console %s" % vm, r"console: connected to vm %s" % vm)
        time.sleep(0.3)

    def detach(self):
        self.con.send("\x1d")
        self.wait(r"back in the shell", 30, max(0, len(self.con.text) - 10))

    def run(self, cmd, timeout=60):
        """A command at the attached VM's busybox prompt; its output (between echo and prompt)."""
        start = len(self.con.text)
        self.con.send(cmd + "\r")
        text = self.wait(re.escape(cmd) + r"\r?\n(?:.*\n)*?" + re.escape(PROMPT), timeout, start)
        body = text.split(cmd, 1)[1]
        return body[:body.rfind(PROMPT)].replace("\r", "")
