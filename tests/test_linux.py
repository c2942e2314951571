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
        """A command at the attached VM's busybox prompt; its output. An end marker after it
        (printed at a line start, so the echoed command line never matches) says it is done."""
        start = len(self.con.text)
        self.con.send(cmd + "; echo :END:\r")
        text = self.wait(r"^:END:$", timeout, start)
        body = text[text.index("echo :END:"):]
        body = body[body.index("\n") + 1:]
        return body[:re.search(r"(?m)^:END:$", body).start()]


# ---- one QEMU boot with two Linux VMs; the tests below use it in order ----

QEMU_BOOT = 300     # seconds to both prompts (about 30 s alone on 2 free cores)


@pytest.fixture(scope="module")
def pair(keel, initrd):
    con = rig.spawn_qemu(append="", modules=modules(["linux", "linux2"], initrd), smp=4,
                         mem="1G", timeout=QEMU_BOOT)
    s = Session(con)
    t0 = time.monotonic()
    try:
        s.wait(r"debug shell on this console", 60)
        for vm in ("linux", "linux2"):
            s.wait(r"^\[%s\] linux-guest: init done, 2 cpu\(s\)" % vm, QEMU_BOOT)
        s.boot_wall = time.monotonic() - t0
        yield s
    finally:
        con.close()


def at_prompt(s, vm):
    s.attach(vm)
    s.con.send("\r")
    s.wait(re.escape(PROMPT), 30, max(0, len(s.con.text) - 2))


def interrupts(text):
    """/proc/interrupts as {name: [count per CPU]}: IRQ lines by device name, others by label."""
    table = {}
    for line in text.splitlines():
        m = re.match(r"\s*(\w+):\s+(\d+)\s+(\d+)\s*(.*)$", line)
        if m:
            name = m.group(4).split()[-1] if m.group(1).isdigit() and m.group(4) else m.group(1)
            table[name] = [int(m.group(2)), int(m.group(3))]
    return table


@pytest.mark.qemu
@pytest.mark.slow
def test_prompt_reached_and_nproc_is_2(pair):
    """Both VMs reached the busybox prompt; `nproc` typed through `console linux` prints 2."""
    at_prompt(pair, "linux")
    assert pair.run("nproc").strip() == "2", pair.con.describe(40)
    print("QEMU: two Linux VMs at their prompts after %.1f s" % pair.boot_wall)


@pytest.mark.qemu
@pytest.mark.slow
def test_dmesg_clean_and_tsc_known(pair):
    """No warning, oops, panic, timeout, APIC error or calibration failure in either VM's boot
    log (Keel's console) nor in `dmesg`; the TSC rate came from kvmclock, not calibration."""
    boot_log = "\n".join(l for l in pair.con.text.splitlines() if l.startswith("[linux"))
    dmesg = pair.run("dmesg")
    for text in (boot_log, dmesg):
        bad = [l for l in text.splitlines() if BAD_DMESG.search(l)]
        assert not bad, "\n".join(bad[:20])
    assert re.search(r"kvm-clock: Using msrs 4b564d01 and 4b564d00", dmesg), dmesg[-3000:]
    assert re.search(r"tsc: Detected \d+\.\d+ MHz processor", dmesg), dmesg[-3000:]
    assert re.search(r"smp: Brought up 1 node, 2 CPUs", dmesg), dmesg[-3000:]


@pytest.mark.qemu
@pytest.mark.slow
def test_work_runs_on_both_cpus(pair):
    """A busy program pinned to each CPU adds to that CPU's time in /proc/stat."""
    def busy_ticks():
        stat = pair.run("cat /proc/stat")
        return [sum(int(x) for x in re.search(r"(?m)^cpu%d (\d+) (\d+) (\d+)" % c,
                                                stat).groups()) for c in (0, 1)]
    before = busy_ticks()
    # Typed lines stay under 80 columns: busybox's line editor wraps its echo there.
    pair.run("y(){ taskset $1 timeout 2 yes >/dev/null; }")
    out = pair.run("y 1 & y 2 & wait", timeout=120)
    assert "rror" not in out and "not found" not in out, out
    after = busy_ticks()
    assert after[0] - before[0] >= 50 and after[1] - before[1] >= 50, (before, after)


@pytest.mark.qemu
@pytest.mark.slow
def test_timer_and_uart_interrupts_count_on_both_cpus(pair):
    """/proc/interrupts: the local APIC timer counts on both CPUs; the UART's IRQ 4 (IOAPIC pin
    4) counts on CPU 0 and, once its affinity is moved, on CPU 1 (typing makes RDA/THRE
    interrupts)."""
    seen = {}
    for cpu in (0, 1):
        pair.run("echo %d > /proc/irq/4/smp_affinity" % (1 << cpu))
        a = interrupts(pair.run("cat /proc/interrupts"))
        pair.run("echo typing makes the UART interrupt")
        b = interrupts(pair.run("cat /proc/interrupts"))
        assert b["ttyS0"][cpu] > a["ttyS0"][cpu], (cpu, a["ttyS0"], b["ttyS0"])
        assert b["LOC"][0] > a["LOC"][0] or b["LOC"][1] > a["LOC"][1], (a["LOC"], b["LOC"])
        seen[cpu] = b
    time.sleep(1)
    c = interrupts(pair.run("cat /proc/interrupts"))
    assert all(c["LOC"][i] > seen[0]["LOC"][i] for i in (0, 1)), (seen[0]["LOC"], c["LOC"])
    assert c["ERR"][0] == 0 if "ERR" in c else True


@pytest.mark.qemu
@pytest.mark.slow
def test_typed_command_answered(pair):
    """A command typed through `console linux` runs and its answer comes back."""
    assert pair.run("echo $((6*7)) keel-typed").strip() == "42 keel-typed"


@pytest.mark.qemu
@pytest.mark.slow
def test_two_vms_isolated(pair):
    """What one VM writes to its RAM disk the other never sees; both have their own 2 CPUs."""
    pair.run("echo secret-of-linux > /tmp/mark")
    assert pair.run("cat /tmp/mark").strip() == "secret-of-linux"
    pair.detach()
    at_prompt(pair, "linux2")
    assert "No such file" in pair.run("cat /tmp/mark")
    assert pair.run("nproc").strip() == "2"
    pair.detach()


@pytest.mark.qemu
@pytest.mark.slow
def test_reboot_restarts_the_vm(pair):
    """`reboot` in Linux resets the VM (ACPI reset register, port 0xCF9): Keel reloads it and
    Linux boots again to its prompt, with a fresh RAM disk; the other VM runs on."""
    at_prompt(pair, "linux")
    start = len(pair.con.text)
    pair.con.send("reboot\r")
    pair.wait(r"vm linux: reset by the guest", 120, start)
    pair.wait(r"vm linux started: 2 vcpu", 60, start)
    time.sleep(1)
    if "back in the shell" not in pair.con.text[start:]:   # the console may leave by itself
        pair.detach()
    pair.wait(r"^\[linux\] linux-guest: init done, 2 cpu\(s\)", QEMU_BOOT, start)
    at_prompt(pair, "linux")
    assert "No such file" in pair.run("cat /tmp/mark")
    pair.detach()
    assert "vm linux2 exited" not in pair.con.text[start:]


@pytest.mark.qemu
@pytest.mark.slow
def test_poweroff_ends_the_vm_with_status_0(pair):
    """`poweroff` in Linux (ACPI S5) ends the VM with status 0; the shell says so in `vms`."""
    at_prompt(pair, "linux2")
    start = len(pair.con.text)
    pair.con.send("poweroff\r")
    pair.wait(r"vm linux2 exited status=0", 120, start)
    pair.wait(r"back in the shell", 30, start)
    text = pair.shell("vms", r"keel> ")
    assert re.search(r"(?m)^linux2\s+ended", text), text
    assert re.search(r"(?m)^linux\s+running", text), text


# ---- bad kernels: one line each, the other VMs still start ----

@pytest.mark.qemu
def test_bad_bzimages_are_skipped_with_one_line(keel, guests, initrd, tmp_path):
    """A truncated bzImage, one with protocol 2.01, a zImage (LOADED_HIGH clear) and a kernel
    too big for its VM each give one `module <n>: ...; skipped` line; the hello guest runs."""
    good = linux_kernel().read_bytes()
    trunc = tmp_path / "trunc.bzImage"
    trunc.write_bytes(good[:len(good) // 2])
    old = bytearray(good)
    old[0x206:0x208] = (0x0201).to_bytes(2, "little")
    (tmp_path / "old.bzImage").write_bytes(old)
    zimage = bytearray(good)
    zimage[0x211] &= 0xFE
    (tmp_path / "zimage.bzImage").write_bytes(zimage)
    mods = [(rig.guest("hello"), "name=hello"),
            (trunc, "name=trunc console=ttyS0"),
            (tmp_path / "old.bzImage", "name=old"),
            (tmp_path / "zimage.bzImage", "name=zimage"),
            (linux_kernel(), "name=small mem=32M console=ttyS0")]
    r = rig.run_qemu(append="poweroff noshell", modules=mods, smp=2, mem="512M", timeout=60)
    rig.assert_line(r, r"^module 2: truncated: \d+ bytes, the setup header says \d+; skipped$",
                    count=1)
    rig.assert_line(r, r"^module 3: Linux boot protocol 2\.01 is too old \(2\.12 or later "
                       r"needed\); skipped$", count=1)
    rig.assert_line(r, r"^module 4: a zImage, not a bzImage .*; skipped$", count=1)
    rig.assert_line(r, r"^module 5: the kernel needs \d+ MiB of RAM below 3 GiB, the VM has 32;"
                       r" skipped$", count=1)
    rig.assert_line(r, r"^vm hello exited status=0", count=1)
    rig.assert_line(r, r"^\[hello\] done: 0 failure", count=1)


# ---- lazy memory with the slow tier: Linux takes async page faults ----

@pytest.mark.qemu
@pytest.mark.slow
def test_async_pf_with_lazy_memory(keel, initrd):
    """Linux finds KVM's async PF at CPUID 0x40000100 and turns it on (vector 243 in `apf`).
    Linux since 5.8 takes async faults in user mode only, so the VM's RAM is held to a budget:
    a user program (sort over a 10 MB file) touches pages Keel evicted, gets "page not present",
    keeps the other task running, and every one is followed by exactly one "page ready" (the
    HYP line of /proc/interrupts counts them in the guest) and one acknowledgement."""
    mods = [(linux_kernel(), "name=linux cpus=2 mem=256M lazy=slow:200us lazy_budget=96M "
                             "console=ttyS0"), (initrd, "module_of=linux")]
    con = rig.spawn_qemu(append="", modules=mods, smp=3, mem="1G", timeout=QEMU_BOOT)
    s = Session(con)
    try:
        s.wait(r"debug shell on this console", 60)
        s.wait(r"^\[linux\] linux-guest: init done, 2 cpu\(s\)", QEMU_BOOT)
        at_prompt(s, "linux")
        out = s.run("seq 1 1500000 >/f; sort -n /f | tail -1", 600)
        assert "1500000" in out, out
        hyp_line = s.run("grep HYP /proc/interrupts")
        hyp = [int(x) for x in re.search(r"HYP:\s+(\d+)\s+(\d+)", hyp_line).groups()]
        s.detach()
        text = s.shell("apf linux", r"(?m)^\s+1 yes .*$")
    finally:
        con.close()
    # vcpu on vec not_present ready acks sync_waits queue fly dropped bugs
    row = re.compile(r"(?m)^\s+(\d) yes\s+243" + r"\s+(\d+)" * 8)
    rows = {int(m.group(1)): [int(x) for x in m.groups()[1:]] for m in row.finditer(text)}
    assert sorted(rows) == [0, 1], text
    sent = [rows[c][0] for c in (0, 1)]
    assert sum(sent) > 100, text                        # async faults happened
    for c in (0, 1):
        not_present, ready, acks, _sync, queue, fly, dropped, bugs = rows[c]
        assert not_present == ready == acks and bugs == 0 and dropped == 0, text
    # the guest saw each "page ready" (counts up to the moment it was read, before `apf`)
    assert all(0 < hyp[c] <= rows[c][1] for c in (0, 1) if rows[c][1]), (hyp, text)


# ---- Bochs (Intel VMX): the boot to the prompt, on request ----

@pytest.mark.bochs
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KEEL_LINUX_BOCHS") != "1",
                    reason="about 10 minutes under Bochs: run with KEEL_LINUX_BOCHS=1")
def test_bochs_vmx_boot_to_prompt(keel, initrd):
    """The same kernel boots to its busybox shell on Bochs' Skylake-X (VMX+EPT), 2 vCPUs.
    Measured: 594 s (32-bit entry) and 808 s (64-bit entry) wall to the shell beside two or three
    other emulators on 2 cores, so it runs only on request. Most of it is a stretch of Linux's
    late boot (after `evm: HMAC attrs`, ~280 s of guest time under Bochs, ~1 s under QEMU)
    not yet understood. Allowed in dmesg there: the RETBleed line, because Keel
    does not virtualize IA32_SPEC_CTRL (CPUID 7 EDX is hidden), so Linux on a Skylake has no IBRS
    and says it is vulnerable; that is a statement about the CPU Linux sees, not a fault."""
    k = linux_kernel()
    mods = [(k, "name=linux cpus=2 mem=192M console=ttyS0"), (initrd, "module_of=linux")]
    r = rig.run_bochs(model="corei7_skylake_x", cpus=2, append="noshell", modules=mods, mem=512,
                      timeout=1800, until=r"\[linux\] linux-guest: shell starts")
    print("Bochs VMX: Linux shell after %.0f s" % r.wall)
    rig.assert_line(r, r"^\[linux\] linux-guest: init done, 2 cpu\(s\)", count=1)
    rig.assert_line(r, r"^\[linux\] \[ *[\d.]+\] kvm-clock: Using msrs 4b564d01 and 4b564d00")
    bad = [l for l in r.output.splitlines() if l.startswith("[linux]") and BAD_DMESG.search(l)
           and "RETBleed: WARNING" not in l]
    assert not bad, "\n".join(bad[:20])
