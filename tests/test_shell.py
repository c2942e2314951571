"""The serial-console debug shell (kernel/shell*.c), driven with pexpect on both emulators.

One boot per emulator serves most tests (module-scoped fixture): QEMU (AMD SVM) and Bochs
(Intel VMX, corei7_skylake_x), each with 2 CPUs and two guests that spin on every CPU:
`hello spin` on CPU 1 and `counter` (named cnt, prints `count <i>` now and then, PAUSE-spinning
in between) on CPU 0, the CPU that also runs the shell. The tests run in file order; the ones
that pause, kill and reset VMs come last, and `poweroff` ends the machine.

Issue: "After boot the console shows a prompt (`keel> `) ... Commands ... Robust: unknown
commands, wrong argument counts, numbers out of range, unmapped addresses each give a one-line
error ... the shell must be responsive while every guest spins on every CPU"."""
import os
import re
import shutil
import tempfile
import time

import pexpect
import pytest

import rig

PROMPT = "keel> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
GUEST_LINE = re.compile(r"^\[[\w-]+\] ")
VENDOR_LOG = re.compile(r"^(vmx|svm): ")   # diagnostics from other CPUs, never command output
CTRL_RBRACKET = "\x1d"      # the console escape: Ctrl-]

COMMANDS = ["help", "version", "cpus", "vms", "vcpus", "regs", "exits", "trace", "mem",
            "dump_host_mem", "dump_guest_mem", "gpa", "vlapic", "vioapic", "ports", "holes",
            "apf", "evict", "cpuid", "rdmsr", "wrmsr", "loglevel", "pause", "resume", "reset",
            "kill", "console", "gdb", "reboot", "poweroff"]

# Per emulator: boot timeout, per-command timeout, the counter's delay between lines.
SETUP = {
    "qemu": dict(boot=60, cmd=10, delay=5000000, answer=5),
    "bochs": dict(boot=240, cmd=60, delay=20000000, answer=30),
}


def spawn_qemu_shell(modules, smp=2, append="", timeout=30):
    """Like rig.spawn_qemu, but COM1 through `-chardev stdio,signal=off` so that Ctrl-C reaches
    Keel instead of killing QEMU."""
    argv = rig.qemu_argv(append=append, modules=modules, smp=smp, serial="stdio")
    i = argv.index("-serial")
    argv[i:i + 2] = ["-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"]
    tmp = tempfile.mkdtemp(prefix="keel-shell.")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(rig.ROOT), encoding="utf-8",
                          codec_errors="replace", timeout=timeout * rig.timeout_scale(),
                          echo=False, dimensions=(50, 200))
    log_path = os.path.join(tmp, "serial.txt")
    child.logfile_read = open(log_path, "w", encoding="utf-8", errors="replace")
    return rig.Console(child, "qemu", argv, log_path,
                       cleanup=lambda: shutil.rmtree(tmp, ignore_errors=True))


def clean(text):
    """Output lines without escape sequences, CRs, prompts, blank lines, guest lines and vendor
    diagnostics."""
    out = []
    for line in ANSI.sub("", text).replace("\r", "").split("\n"):
        line = line.replace(PROMPT, "") if line.startswith(PROMPT) else line
        if line.strip() and not GUEST_LINE.match(line) and not VENDOR_LOG.match(line):
            out.append(line)
    return "\n".join(out)


class Shell:
    def __init__(self, con, emulator):
        self.con = con
        self.emulator = emulator
        s = SETUP[emulator]
        self.scale = rig.timeout_scale()
        self.t_cmd = s["cmd"] * self.scale
        self.t_answer = s["answer"] * self.scale

    def expect(self, pattern, timeout=None):
        try:
            return self.con.expect(pattern, timeout=timeout or self.t_cmd)
        except (pexpect.TIMEOUT, pexpect.EOF) as e:
            pytest.fail("%s: no %r in time (%s)\n%s" % (self.emulator, pattern,
                        type(e).__name__, self.con.describe(60)), pytrace=False)

    def send(self, text):
        """Types text. Under Bochs in small pieces: its 16550 has a 16-byte FIFO and the shell
        reads it every 1-2 ms of emulated time (CPU 0's tick, or the VMX preemption timer while
        a guest runs there), so a burst of more than ~16 bytes would overrun it."""
        if self.emulator != "bochs":
            self.con.send(text)
            return
        for i in range(0, len(text), 8):
            self.con.send(text[i:i + 8])
            time.sleep(0.03)

    def cmd(self, line, timeout=None):
        """Types line + Enter and returns the command's output (cleaned), up to the next prompt."""
        self.send(line + "\r")
        self.expect(re.escape(line) + r"\r*\n", timeout)
        self.expect(re.escape(PROMPT), timeout)
        return clean(self.con.before)

    def error(self, line):
        """Runs a command that must fail with exactly one `error: ...` line; returns it."""
        out = self.cmd(line)
        lines = out.splitlines()
        errors = [l for l in lines if l.startswith("error: ")]
        assert len(errors) == 1 and len(lines) == 1, "%r gave:\n%s" % (line, out)
        return errors[0]


@pytest.fixture(scope="module", params=[pytest.param("qemu", marks=pytest.mark.qemu),
                                        pytest.param("bochs", marks=[pytest.mark.bochs,
                                                                     pytest.mark.slow])])
def sh(request, keel, guests):
    emulator = request.param
    s = SETUP[emulator]
    modules = [(rig.guest("hello"), "name=hello spin lazy"),
               (rig.guest("counter"), "name=cnt n=1000000 delay=%d" % s["delay"])]
    if emulator == "qemu":
        con = spawn_qemu_shell(modules, smp=2, timeout=s["boot"])
    else:
        con = rig.spawn_bochs(model="corei7_skylake_x", cpus=2, append="", modules=modules,
                              timeout=s["boot"])
    shell = Shell(con, emulator)
    try:
        t = s["boot"] * shell.scale
        shell.expect(r"debug shell on this console", t)
        shell.expect(r"\[hello\] done: 0 failure\(s\); spinning", t)
        shell.expect(r"\[cnt\] count \d+", t)
        shell.expect(re.escape(PROMPT), t)
        yield shell
    finally:
        con.close()


# ---- the prompt, help, line editing ----

def test_help_lists_every_command_with_one_line(sh):
    out = sh.cmd("help")
    names = [m.group(1) for m in re.finditer(r"(?m)^  (\w+)\b", out)]
    assert names == COMMANDS, out
    assert "Ctrl-" in out
    one = sh.cmd("help regs")
    assert "regs <vm> <vcpu>" in one and "registers" in one
    assert sh.error("help nosuch") == "error: unknown command 'nosuch' (try 'help')"


def test_version(sh):
    out = sh.cmd("version")
    vendor = "svm" if sh.emulator == "qemu" else "vmx"
    assert re.fullmatch(r"Keel \S+ x86-64 microhypervisor; %s; 2 cpu\(s\) online" % vendor, out), out


def test_line_editing_backspace_ctrl_c_ctrl_u_history(sh):
    sh.send("vmx\x7fs\r")                                       # Backspace
    sh.expect(r"status")
    sh.expect(re.escape(PROMPT))
    sh.send("garbage\x03")                                      # Ctrl-C abandons
    sh.expect(r"\^C\r*\n")
    sh.expect(re.escape(PROMPT))
    sh.send("more garbage\x15version\r")                        # Ctrl-U erases
    sh.expect(r"microhypervisor")
    sh.expect(re.escape(PROMPT))
    sh.send("\x1b[A")                                           # Up: `version` again
    sh.expect(re.escape(PROMPT) + "version")
    sh.send("\x1b[A\x1b[B\r")                                   # Up, Down: back to it
    sh.expect(r"microhypervisor")
    sh.expect(re.escape(PROMPT))
    assert sh.cmd("") == ""                                         # an empty line is fine


def test_guest_output_and_typing_do_not_garble(sh):
    """Half a line typed, then a guest line arrives: the guest line is printed whole on its own
    line and the prompt with the half-typed line is drawn again below it."""
    sh.send("vers")
    sh.expect(re.escape(PROMPT) + "vers")                            # echoed
    sh.expect(r"\[cnt\] count \d+\r*\n" + re.escape(PROMPT) + "vers", 3 * sh.t_cmd)
    sh.send("ion\r")
    sh.expect(r"microhypervisor")
    sh.expect(re.escape(PROMPT))


# ---- host commands ----

def test_cpus(sh):
    out = sh.cmd("cpus")
    assert re.search(r"(?m)^\s+0\s+\d+\s+online\s+vm cnt vcpu 0 \(\w+\), shell$", out), out
    assert re.search(r"(?m)^\s+1\s+\d+\s+online\s+vm hello vcpu 0 \(\w+\)$", out), out


def test_mem(sh):
    out = sh.cmd("mem")
    m = re.search(r"frames: (\d+) total \(\d+ MiB\), (\d+) used, (\d+) free", out)
    assert m and int(m.group(1)) == int(m.group(2)) + int(m.group(3)), out
    assert re.search(r"(?m)^  keel\s+\d+ pages", out), out
    # each guest has 16 MiB of RAM plus its tables and vCPU
    for name in ("hello", "cnt"):
        m = re.search(r"(?m)^  vm %s\s+(\d+) pages\s+(\d+) MiB" % name, out)
        assert m and int(m.group(1)) >= 4096, out


def test_dump_host_mem(sh):
    out = sh.cmd("dump_host_mem 0x100000 40")
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert lines[0].startswith("0000000000100000: ") and lines[2].startswith("0000000000100020: ")
    assert re.fullmatch(r"[0-9a-f]{16}:( [0-9a-f]{2}){8} {26}\|.{8}\|", lines[2]), out
    assert "not mapped" in sh.error("dump_host_mem 0 16")           # page 0 is unmapped
    assert "not mapped" in sh.error("dump_host_mem 0xffff800000000000 16")
    assert "not mapped" in sh.error("dump_host_mem 0x7ffffffffff0 0x20")
    assert "device memory" in sh.error("dump_host_mem 0xfee00000 16")
    assert "out of range" in sh.error("dump_host_mem 0x100000 4097")
    assert "at least 1" in sh.error("dump_host_mem 0x100000 0")
    assert "not a number" in sh.error("dump_host_mem zz 16")
    assert "wraps" in sh.error("dump_host_mem 0xfffffffffffffff0 0x20")


def test_cpuid(sh):
    out = sh.cmd("cpuid 0")
    m = re.fullmatch(r"cpuid 0\.0: eax=([0-9a-f]{8}) ebx=([0-9a-f]{8}) ecx=([0-9a-f]{8}) "
                     r"edx=([0-9a-f]{8})", out)
    assert m, out
    vendor = b"".join(int(m.group(i), 16).to_bytes(4, "little") for i in (2, 4, 3))
    assert vendor in (b"AuthenticAMD", b"GenuineIntel"), vendor
    assert re.fullmatch(r"cpuid 0x7\.0: .*", sh.cmd("cpuid 7 0"))
    assert "out of range" in sh.error("cpuid 0x100000000")
    assert "not a number" in sh.error("cpuid 1 x")


def test_rdmsr_wrmsr(sh):
    # IA32_APIC_BASE: the BSP bit (0x100) only on cpu 0
    out = sh.cmd("rdmsr 0x1b")
    m = re.fullmatch(r"cpu 0: msr 0x1b = 0x([0-9a-f]{16})", out)
    assert m and int(m.group(1), 16) & 0x100, out
    out = sh.cmd("rdmsr -p 1 0x1b")
    m = re.fullmatch(r"cpu 1: msr 0x1b = 0x([0-9a-f]{16})", out)
    assert m and not int(m.group(1), 16) & 0x100, out
    # PAT on cpu 1: write back what it holds, read it again
    pat = re.fullmatch(r"cpu 1: msr 0x277 = (0x[0-9a-f]{16})", sh.cmd("rdmsr -p 1 0x277"))
    assert pat
    assert sh.cmd("wrmsr -p 1 0x277 %s" % pat.group(1)) == "cpu 1: msr 0x277 <- %s" % pat.group(1)
    assert sh.cmd("rdmsr -p 1 0x277") == "cpu 1: msr 0x277 = %s" % pat.group(1)
    # a faulting MSR is an error line, not a crash. Under Bochs a reserved x2APIC register
    # faults, and so does a non-canonical FS base. QEMU 7.2's TCG faults on no MSR at all: it
    # reads unknown ones as 0 and ignores writes.
    if sh.emulator == "bochs":
        assert sh.error("rdmsr 0x801") == "error: rdmsr 0x801 faulted (#GP) on cpu 0"
        assert sh.error("wrmsr -p 1 0xc0000100 0x8000000000000000") == \
            "error: wrmsr 0xc0000100 faulted (#GP) on cpu 1"
    else:
        assert re.fullmatch(r"cpu 0: msr 0x12345678 = 0x0{16}", sh.cmd("rdmsr 0x12345678"))
    assert "no cpu 7" in sh.error("rdmsr -p 7 0x10")
    assert "out of range" in sh.error("rdmsr 0x100000000")
    assert "usage: rdmsr" in sh.error("rdmsr -x 1 0x10")
    assert "usage: wrmsr" in sh.error("wrmsr 0x10")


def test_loglevel(sh):
    assert sh.cmd("loglevel") == "loglevel info"
    assert sh.cmd("loglevel debug") == "loglevel debug"
    assert sh.cmd("loglevel 0") == "loglevel error"
    assert sh.cmd("loglevel info") == "loglevel info"
    assert "unknown log level" in sh.error("loglevel loud")
    assert "unknown log level" in sh.error("loglevel 4")


def test_error_paths_are_one_line(sh):
    assert sh.error("frobnicate") == "error: unknown command 'frobnicate' (try 'help')"
    assert sh.error("a b c d e f g h i") == "error: too many words (at most 8)"
    for line, usage in [("regs", "regs <vm> <vcpu>"), ("regs hello", "regs <vm> <vcpu>"),
                        ("vms x", "vms"), ("trace hello", "trace <vm> on|off|show"),
                        ("dump_guest_mem hello 0", "dump_guest_mem <vm> <gpa> <len>"),
                        ("exits a b c", "exits [<vm>] [clear]"), ("kill", "kill <vm>"),
                        ("cpuid", "cpuid <leaf> [<sub>]"), ("poweroff now", "poweroff")]:
        assert sh.error(line) == "error: usage: " + usage
    sh.send("x" * 300 + "\r")             # over-long: the line editor keeps 127 characters
    sh.expect(r"error: unknown command 'x{32}' \(try 'help'\)")
    sh.expect(re.escape(PROMPT))
    assert "microhypervisor" in sh.cmd("version")                          # still fine


# ---- VM commands ----

def test_vms(sh):
    out = sh.cmd("vms")
    assert re.search(r"(?m)^hello\s+running\s+1\s+16M\s+-\s+-$", out), out
    assert re.search(r"(?m)^cnt\s+running\s+1\s+16M\s+-\s+-$", out), out


def test_vcpus(sh):
    out = sh.cmd("vcpus")
    assert re.search(r"(?m)^hello\s+0\s+1\s+running\s+\d+$", out), out
    assert re.search(r"(?m)^cnt\s+0\s+0\s+running\s+\d+$", out), out
    assert len(sh.cmd("vcpus cnt").splitlines()) == 2
    assert "no VM named 'nosuch'" in sh.error("vcpus nosuch")


def test_regs(sh):
    for vm, cpu in (("hello", 1), ("cnt", 0)):
        out = sh.cmd("regs %s 0" % vm)
        assert out.startswith("vm %s vcpu 0 on cpu %d (running):" % (vm, cpu)), out
        rip = re.search(r"rip=([0-9a-f]{16})", out)
        cr0 = re.search(r"cr0=([0-9a-f]{16})", out)
        assert rip and cr0 and re.search(r"rax=[0-9a-f]{16}", out), out
        assert 0x100000 <= int(rip.group(1), 16) < 0x1000000, out     # in the guest's image
        assert int(cr0.group(1), 16) & 1, out                         # protected mode
    assert sh.error("regs hello 1") == "error: vm hello has no vcpu 1 (it has 1)"
    assert "not a vcpu number" in sh.error("regs hello x")
    assert "no VM named 'nosuch'" in sh.error("regs nosuch 0")


def _exit_counts(out):
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r"(?m)^  (\S+)\s+0x[0-9a-f]+\s+(\d+)$", out)}


def test_exits(sh):
    out = sh.cmd("exits cnt")
    assert out.startswith("vm cnt vcpu 0: "), out
    counts = _exit_counts(out)
    total = re.search(r"(?m)^  total\s+(\d+)$", out)
    assert counts and total and sum(counts.values()) == int(total.group(1)), out
    # cnt prints through the UART (port I/O exits) and runs on CPU 0, whose tick makes it exit
    io = [n for n in counts if "IO" in n.upper()]
    assert io, out
    everything = sh.cmd("exits")
    assert "vm hello vcpu 0:" in everything and "vm cnt vcpu 0:" in everything
    def hello_exits():
        return int(re.search(r"vm hello vcpu 0: (\d+) exits", sh.cmd("exits hello")).group(1))
    before = hello_exits()
    assert sh.cmd("exits hello clear") == "vm hello: exit counts cleared"
    assert hello_exits() < before
    assert "no VM named 'nosuch'" in sh.error("exits nosuch")
    assert sh.error("exits hello wipe") == "error: usage: exits [<vm>] [clear]"


def test_trace(sh):
    assert sh.cmd("trace cnt on") == "vm cnt: exit tracing on"
    sh.expect(r"\[cnt\] count \d+", 3 * sh.t_cmd)      # some exits happen meanwhile
    out = sh.cmd("trace cnt show")
    assert out.startswith("vm cnt vcpu 0: tracing on, last"), out
    entries = re.findall(r"(?m)^  \+(\d+)\s+(\S+)\s+rip=([0-9a-f]{16}) qual=(\S+)$", out)
    assert entries, out
    stamps = [int(e[0]) for e in entries]
    assert stamps[0] == 0 and stamps == sorted(stamps), out     # oldest first
    assert sh.cmd("trace cnt off") == "vm cnt: exit tracing off"
    assert "tracing off" in sh.cmd("trace cnt show")
    assert sh.error("trace cnt maybe") == "error: usage: trace <vm> on|off|show"


def test_dump_guest_mem(sh):
    # hello is a multiboot1 image loaded at 1 MiB: its header magic 0x1BADB002 is near the start
    out = sh.cmd("dump_guest_mem hello 0x100000 64")
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("0000000000100000: "), out
    assert "02 b0 ad 1b" in out, out
    assert "runs past the end" in sh.error("dump_guest_mem hello 0xfffff0 0x20")
    assert "not RAM" in sh.error("dump_guest_mem hello 0x10000000 16")
    assert "out of range" in sh.error("dump_guest_mem hello 0 5000")
    assert "no VM named" in sh.error("dump_guest_mem nosuch 0 16")


def test_gpa(sh):
    out = sh.cmd("gpa hello 0x100000")
    assert re.fullmatch(r"vm hello gpa 0x100000 -> hpa 0x[0-9a-f]+: (4K|2M|1G) page \(level \d\), "
                        r"rwx, WB, leaf 0x[0-9a-f]+, region RAM 0-0x1000000", out), out
    out = sh.cmd("gpa hello 0x10000000")
    assert out == "vm hello gpa 0x10000000: not mapped (no region: reads all-ones)"
    assert "not mapped" in sh.cmd("gpa hello 0xffffffffffffffff")
    assert "not a number" in sh.error("gpa hello 1M")


def test_apf_and_evict(sh):
    """Lazy RAM from the shell (issue 9): hello runs with `lazy` (zero tier) and spins on CPU 1.
    Evicting 64 of its pages, its code among them, from the shell on CPU 0 needs a shootdown
    acknowledged by hello's CPU; hello keeps running (it faults its pages back from the store)
    and the counters show the evictions and no shootdown timeout. cnt is not lazy."""
    out = sh.cmd("apf hello")
    assert re.search(r"^vm hello: lazy RAM, zero tier, 0 us; \d+ of 4096 pages resident", out), out
    assert re.search(r"(?m)^\s+0\s+no(\s+0){9}$", out), out
    before = sh.cmd("vcpus hello")
    out = sh.cmd("evict hello 0x100000 64")
    m = re.fullmatch(r"vm hello: evicted (\d+) page\(s\) from 0x100000", out)
    assert m and int(m.group(1)) > 0, out
    out = sh.cmd("apf hello")
    m = re.search(r"evictions (\d+), shootdowns (\d+) \(timeouts 0\)", out)
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) >= 1, out
    after = sh.cmd("vcpus hello")
    assert re.search(r"(?m)^hello\s+0\s+1\s+running", after), after
    exits = lambda t: int(re.search(r"running\s+(\d+)", t).group(1))
    assert exits(after) > exits(before), (before, after)     # it faulted its pages back in
    assert "RAM is not lazy" in sh.cmd("apf cnt")
    assert "is not lazy RAM" in sh.error("evict cnt 0x100000")
    assert "not a number" in sh.error("evict hello zz")


def test_vlapic_vioapic_ports(sh):
    # hello never touches its APIC: the power-on state (SDM vol. 3 11.4.7.1, 11.12.5).
    out = sh.cmd("vlapic hello 0")
    assert "vm hello vcpu 0 vlapic: xAPIC, id 0, base 0xfee00900, svr 0xff (software-disabled)" in out, out
    assert "lvt timer 0x10000 " in out and "dfr 0xffffffff" in out, out
    assert "timer one-shot, initial 0, current 0, divide 0" in out and "not armed" in out, out
    assert "  irr: none" in out and "  isr: none" in out, out
    # Nobody programmed cnt's IOAPIC: every pin masked and idle, so only the header line.
    out = sh.cmd("vioapic cnt")
    assert re.fullmatch(r"vm cnt vioapic: id 0, version 0x20, 24 pins, 0 messages sent, "
                        r"ISA lines high 0", out), out
    # The guests poke no port without a device (the UART and 0xf4 are devices).
    assert sh.cmd("ports hello") == ("vm hello: ports with no device (reads give all-ones, "
                                     "writes are dropped):\n  none")
    assert "has no vcpu 3" in sh.error("vlapic hello 3")
    assert "no VM named" in sh.error("vioapic nosuch")
    assert "no VM named" in sh.error("ports nosuch")


def test_shell_answers_while_guests_spin_on_every_cpu(sh):
    """Both CPUs run a spinning guest (cnt on CPU 0, the shell's CPU): answers come back within a
    bounded time, and the guests keep running meanwhile."""
    def exits_of(vm):
        return int(re.search(r"(?m)^%s\s+0\s+\d\s+running\s+(\d+)$" % vm, sh.cmd("vcpus")).group(1))
    before = exits_of("cnt")
    for line in ("vms", "exits", "cpus", "vcpus", "mem") * 2:
        t0 = time.monotonic()
        out = sh.cmd(line, timeout=sh.t_answer)
        took = time.monotonic() - t0
        assert out and took < sh.t_answer, "%s took %.1f s" % (line, took)
    sh.expect(r"\[cnt\] count \d+", 3 * sh.t_cmd)         # cnt still makes progress
    assert exits_of("cnt") > before


def test_console_switches_in_and_out(sh):
    """console cnt: the guest's UART output comes through raw (no `[cnt]` prefix), typed bytes go
    to its UART (Ctrl-] excepted), and Ctrl-] returns to the shell."""
    sh.send("console cnt\r")
    sh.expect(r"console: connected to vm cnt; Ctrl-\] returns to the shell")
    sh.expect(r"\ncount \d+\r*\n", 3 * sh.t_cmd)           # raw guest output
    sh.send("typed into the guest's UART " * 4)        # more than its 64-byte FIFO: dropped
    sh.send(CTRL_RBRACKET)
    sh.expect(r"console: disconnected; back in the shell")
    sh.expect(re.escape(PROMPT))
    assert "cnt" in sh.cmd("vms")
    sh.expect(r"\[cnt\] count \d+", 3 * sh.t_cmd)          # tagged lines again
    assert "no VM named" in sh.error("console nosuch")


def test_pause_resume(sh):
    for vm in ("hello", "cnt"):                            # cnt runs on the shell's own CPU
        assert sh.cmd("pause %s" % vm) == "vm %s paused" % vm
        out = sh.cmd("vcpus %s" % vm)
        assert re.search(r"(?m)^%s\s+0\s+\d\s+paused\s+\d+$" % vm, out), out
        assert re.search(r"(?m)^%s\s+paused\s+1\s+16M\s+-\s+paused from the shell$" % vm, sh.cmd("vms"))
        assert "is paused, not running" in sh.error("pause %s" % vm)
        if vm == "cnt":     # paused: no more lines from it, and the shell still answers
            got = sh.con.expect([r"\[cnt\] count \d+", pexpect.TIMEOUT], timeout=2 * sh.scale)
            assert got == 1, "paused cnt still prints"
            assert "microhypervisor" in sh.cmd("version")
        assert sh.cmd("resume %s" % vm) == "vm %s resumed" % vm
        out = sh.cmd("vcpus %s" % vm)
        assert re.search(r"(?m)^%s\s+0\s+\d\s+running\s+\d+$" % vm, out), out
        assert "is running, not paused" in sh.error("resume %s" % vm)
    sh.expect(r"\[cnt\] count \d+", 3 * sh.t_cmd)            # cnt runs again


def test_kill_and_reset(sh):
    # both CPUs still answer cross-CPU calls (a CPU that stopped taking kicks would make every
    # later step time out)
    for cpu in (0, 1):
        out = sh.cmd("rdmsr -p %d 0x1b" % cpu)
        assert out.startswith("cpu %d: msr 0x1b = " % cpu), \
            "cpu %d no longer answers before the kill:\n%s" % (cpu, out)
    # kill the VM on CPU 1, and the one on the shell's CPU
    for vm in ("hello", "cnt"):
        sh.send("kill %s\r" % vm)
        sh.expect(r"vm %s stopped: killed from the shell" % vm)
        sh.expect(re.escape(PROMPT))
        out = sh.cmd("vms")
        assert re.search(r"(?m)^%s\s+ended\s+1\s+16M\s+-\s+killed from the shell$" % vm, out), out
        assert "has already ended" in sh.error("kill %s" % vm)
        assert "has ended" in sh.error("console %s" % vm)
        assert "is ended, not running" in sh.error("pause %s" % vm)
        regs = sh.cmd("regs %s 0" % vm)        # a stopped vCPU: registers or a clear error
        assert regs.startswith("vm %s vcpu 0" % vm) or regs.startswith("error: "), regs
    out = sh.cmd("cpus")
    assert re.search(r"(?m)^\s+0\s+\d+\s+online\s+idle, shell$", out), out
    # reset both: they start from the beginning (hello's boot-info checks pass again)
    sh.send("reset hello\r")
    sh.expect(r"vm hello started: 1 vcpu\(s\), 16 MiB")
    sh.expect(r"\[hello\] done: 0 failure\(s\); spinning", 3 * sh.t_cmd)
    sh.send("reset cnt\r")
    sh.expect(r"vm cnt started: 1 vcpu\(s\), 16 MiB")
    sh.expect(r"\[cnt\] count 1\b", 3 * sh.t_cmd)
    out = sh.cmd("vms")
    assert re.search(r"(?m)^hello\s+running\s+1\s+16M\s+-\s+-$", out), out
    assert re.search(r"(?m)^cnt\s+running\s+1\s+16M\s+-\s+-$", out), out
    # reset a running VM on the shell's CPU (its vCPU can only stop after the command returns)
    sh.send("reset cnt\r")
    sh.expect(r"vm cnt started: 1 vcpu\(s\), 16 MiB")
    sh.expect(r"\[cnt\] cnt counting to", 3 * sh.t_cmd)
    # and a paused one on CPU 1
    assert sh.cmd("pause hello") == "vm hello paused"
    sh.send("reset hello\r")
    sh.expect(r"vm hello started: 1 vcpu\(s\), 16 MiB")
    sh.expect(r"\[hello\] done: 0 failure\(s\); spinning", 3 * sh.t_cmd)
    assert "no VM named" in sh.error("reset nosuch")


def test_poweroff_ends_the_machine(sh):
    """Last test of the module: it ends the shared machine."""
    sh.send("poweroff\r")
    sh.expect(r"keel: power off status=0")
    assert sh.con.wait(30 * sh.scale) is not None, "%s did not exit" % sh.emulator


# ---- separate short boots (QEMU, no guests) ----

@pytest.mark.qemu
def test_reboot_resets_the_machine(keel):
    with spawn_qemu_shell([], smp=1, timeout=30) as con:    # -no-reboot: QEMU exits on reset
        sh = Shell(con, "qemu")
        sh.expect(re.escape(PROMPT))
        assert sh.cmd("vms") == "no VMs"
        assert "no VM named 'x': there are no VMs" in sh.error("regs x 0")
        sh.send("reboot\r")
        sh.expect(r"keel: rebooting")
        assert con.wait(30 * sh.scale) is not None, "QEMU did not exit on reboot"


@pytest.mark.qemu
def test_noshell_gives_no_prompt(keel):
    r = rig.run_qemu(append="poweroff noshell", smp=1, timeout=60)
    rig.assert_qemu_exit(r, status=0)
    assert PROMPT not in r.output and "debug shell" not in r.output

