"""Booting test guests on a platform and checking how their VMs ended, shared by the test files.

Platforms: qemu-svm (QEMU TCG, AMD SVM+NPT), qemu-kvm (nested KVM where the machine has it),
bochs-vmx (Bochs corei7_skylake_x), bochs-svm (Bochs ryzen). Keel gives every vCPU a physical
CPU, so a boot has as many CPUs as its VMs have vCPUs."""
import re
import time

from .check import assert_line, assert_no_line, fail
from .paths import guest
from .qemu import run_qemu
from .bochs import run_bochs

APPEND = "poweroff noshell"
BOCHS_MODEL = {"bochs-vmx": "corei7_skylake_x", "bochs-svm": "ryzen"}


def boot_guests(platform, modules, cpus, append=APPEND, qemu_timeout=90, bochs_timeout=240,
                **kw):
    """Boots Keel with the given (guest file, module args) pairs and waits for power-off."""
    mods = [(guest(f), args) for f, args in modules]
    if platform == "qemu-svm":
        return run_qemu(append=append, modules=mods, smp=cpus, timeout=qemu_timeout, **kw)
    if platform == "qemu-kvm":
        return run_qemu(append=append, modules=mods, smp=cpus, timeout=qemu_timeout,
                        accel="kvm", cpu="host", **kw)
    return run_bochs(model=BOCHS_MODEL[platform], cpus=cpus, append=append, modules=mods,
                     timeout=bochs_timeout)


class GroupCache:
    """One boot per (platform, group), shared by the tests that look at it. groups maps a name
    to (modules, cpus) or (modules, cpus, extra keyword arguments for boot_guests)."""

    def __init__(self, groups, **defaults):
        self.groups, self.defaults, self.runs = groups, defaults, {}

    def __call__(self, platform, group):
        key = (platform, group)
        if key not in self.runs:
            modules, cpus, *extra = self.groups[group]
            kw = dict(self.defaults, **(extra[0] if extra else {}))
            self.runs[key] = boot_guests(platform, modules, cpus, **kw)
        return self.runs[key]


def assert_exited(r, name, status=0, note=""):
    """VM `name` ended by itself with `status` (and `note`), and its guest printed no FAIL."""
    __tracebackhide__ = True
    assert_line(r, r"^vm %s exited status=%d%s\s*$" % (name, status, re.escape(note)), count=1)
    assert_no_line(r, r"^\[%s\] FAIL" % name)


def assert_clean(r, status=0):
    """No host exception or panic, and Keel powered off with `status`."""
    __tracebackhide__ = True
    assert_no_line(r, r"EXCEPTION|PANIC")
    if r.status != status:
        fail(r, "expected `keel: power off status=%d`, got %r" % (status, r.status))


def send_typed(con, emulator, text):
    """Types text into a console. Bochs' 16550 has a 16-byte FIFO: there, type in small pieces
    (see test_shell.Shell.send)."""
    if emulator != "bochs":
        con.send(text)
        return
    for i in range(0, len(text), 8):
        con.send(text[i:i + 8])
        time.sleep(0.03)
