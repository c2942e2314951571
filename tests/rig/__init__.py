"""Keel's emulator test rig (stdlib + pexpect).

Batch runs return a RunResult (.output serial text, .exit_code, .timed_out, .status from
`keel: power off status=N`, .wall seconds, .describe() for assertion messages):

    run_qemu(append="poweroff noshell", modules=[(path, args)], smp=1,
             boot="kernel"|"iso"|"net", firmware="bios"|"ovmf", mem="512M", timeout=60,
             icount=False, extra=[], kernel=None, until=None, machine="pc", serials=1, console=0)
    run_bochs(iso=None, model="corei7_skylake_x"|"ryzen", cpus=1, timeout=120,
              until=POWER_OFF_RE, append="poweroff noshell", modules=[], kernel=None, mem=256)

Interactive runs return a Console (pexpect: expect/send/sendline/text/tail/wait/close, a context
manager):

    spawn_qemu(append="noshell", modules=(), smp=1, boot="kernel", ..., timeout=30)
    spawn_bochs(iso=None, model=..., cpus=1, append="noshell", ..., timeout=60)

Other pieces: make_iso(cmdline, modules, kernel) (boot/mkiso.sh, cached), make_netdir(...)
(boot/mknetdir.sh, a TFTP root, cached), build() (make -j2 all
guests), assert_booted(r, ncpus), assert_qemu_exit(r, status), assert_powered_off(r, status),
assert_line(r, regex), paths KEEL_ELF / GUESTS / guest(name).

Facts worth knowing (Debian 12 packages, QEMU 7.2, Bochs 2.7):
- QEMU: `-kernel` is multiboot1 (cmdline starts with the kernel's path, module strings are
  "<path> <args>"); the ISO path is GRUB multiboot2 (cmdline without a file name, and GRUB
  gives module2 strings as just "<args>", no file name). -initrd splits on commas, so module
  paths/args must not contain any. Serial goes to a file (batch) or stdio (interactive).
- Bochs has no "nogui" display here; the rig uses `display_library: rfb, options="timeout=0"`.
  rfb has no port option: it scans TCP 5900..5949 for a free port. Two Bochs starting at the same
  instant both pick 5900, both fail listen() and then Bochs segfaults (exit 139). The rig
  therefore serializes Bochs start-up with a flock on $TMPDIR/keel-bochs-rfb.lock until the
  log says "listening for connections on port N", and retries a start that lost the race. So: at
  most 50 Bochs at once per machine, and start Bochs by hand only through the rig (or not at the
  very moment a test starts one).
- Bochs always exits 1; results come from the serial log (com1 mode=file, flushed as written).
  Keel must wait for the UART to drain (LSR bit 6, TEMT) before powering off, or the last
  characters (e.g. the newline after `status=0`) are lost under Bochs.
- Interactive Bochs serial: `com1: enabled=1, mode=term, dev=/dev/pts/N` on a pty the rig opens
  (os.openpty, slave set raw, pexpect.fdpexpect on the master) works both ways in this build.
- Bochs runs its internal debugger unless given `-rc` with `c` and stdin /dev/null.
- KEEL_TIMEOUT_SCALE=<float> multiplies all timeouts; KEEL_NO_BUILD=1 makes build() skip make.
"""
from .paths import ROOT, BUILD, KEEL_ELF, GUESTS, MKISO, guest, timeout_scale
from .build import build, BuildResult, keel_problem, guests_problem
from .run import RunResult, POWER_OFF_RE, FAIL_FAST_RE, normalize, power_off_status
from .iso import make_iso, make_netdir
from .qemu import run_qemu, spawn_qemu, qemu_argv, kvm_nested
from .bochs import run_bochs, spawn_bochs, bochsrc, MODELS
from .console import Console
from .check import (assert_booted, booted_problems, assert_line, assert_no_line,
                    assert_qemu_exit, assert_powered_off, lines_matching, fail)
