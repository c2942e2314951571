"""Linux boot benchmark (issue 10), part of `make bench` (tests/bench.py calls main()).

Debian's cloud kernel with the busybox initramfs (256 MiB), under QEMU TCG with
-icount shift=0,sleep=off, so that the TSC counts emulated instructions (all CPUs together) and
the figures repeat from run to run:
- Under Keel (SVM): from the VM's launch (Keel logs `vm linux: launched at tsc N` at
  loglevel=debug) to the busybox shell's start (its /etc/profile prints `linux-guest: shell
  starts at tsc N`, tests/linux/tsc.c), then the shell's `exits linux` for the exits by reason.
- Directly under QEMU (same CPU model, QEMU's own -kernel/-initrd): from power-on (its firmware
  and option ROM included) to the same line.
With icount the count is QEMU's virtual time (1 instruction = 1 ns): a CPU that halts lets it jump
to the next timer, so it also holds the time Linux waits. The ratio compares 1-vCPU boots: bare
QEMU 7.2 with -icount and -smp 2 stops while Linux brings up its second CPU (seen here, not
investigated), so the 2-vCPU boot under Keel is reported alone. It prints; it asserts nothing."""
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rig  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
INITRD = ROOT / "build" / "linux" / "initramfs.cpio.gz"
SHELL_TSC = re.compile(r"linux-guest: shell starts at tsc (\d+)")
TIMEOUT = 900


def kernel():
    found = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"))
    return found[-1] if found else None


def under_keel(k, cpus):
    mods = [(k, "name=linux cpus=%d mem=256M console=ttyS0" % cpus), (INITRD, "module_of=linux")]
    con = rig.spawn_qemu(append="loglevel=debug", modules=mods, smp=cpus, icount=True,
                         timeout=TIMEOUT)
    try:
        con.expect(r"vm linux: launched at tsc (\d+)")
        start = int(con.match.group(1))
        con.expect(SHELL_TSC)
        end = int(con.match.group(1))
        con.expect(r"keel> ")
        time.sleep(1)
        con.send("exits linux\r")
        for v in range(cpus):
            con.expect(r"vm linux vcpu %d: \d+ exits" % v)
            con.expect(r"total\s+\d+")
        text = con.text
        exits = text[text.rfind("vm linux vcpu 0:"):]
        return end - start, exits
    finally:
        con.close()


def bare_qemu(k):
    with tempfile.TemporaryDirectory(prefix="keel-linux-bench.") as tmp:
        serial = os.path.join(tmp, "com1.txt")
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", rig.qemu.CPU, "-m", "256M",
                "-smp", "1", "-display", "none", "-vga", "none", "-nic", "none", "-no-reboot",
                "-monitor", "none", "-serial", "file:" + serial, "-icount", "shift=0,sleep=off",
                "-kernel", str(k), "-initrd", str(INITRD), "-append", "console=ttyS0"]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            end = time.monotonic() + TIMEOUT * rig.timeout_scale()
            while time.monotonic() < end and proc.poll() is None:
                m = SHELL_TSC.search(rig.run.read_bytes(serial).decode(errors="replace"))
                if m:
                    return int(m.group(1))
                time.sleep(0.5)
            return None
        finally:
            proc.kill()
            proc.wait()


def main():
    k = kernel()
    if not k or not INITRD.exists():
        print("\nLinux boot: skipped (no /boot/vmlinuz-*-cloud-amd64 or %s; tests/deps.sh and "
              "`make linux-initrd`)" % INITRD)
        return 1
    keel1, exits1 = under_keel(k, 1)
    keel2, exits2 = under_keel(k, 2)
    bare = bare_qemu(k)
    print("\nLinux boot to the busybox shell (%s, QEMU TCG icount), emulated instructions:\n"
          % k.name)
    print("| run | instructions |")
    print("|---|---|")
    print("| under Keel (SVM), 1 vCPU, VM launch to shell | %d |" % keel1)
    print("| directly under QEMU, 1 CPU, power-on to shell | %s |" % (bare if bare else "n/a"))
    print("| under Keel (SVM), 2 vCPUs, VM launch to shell | %d |" % keel2)
    if bare:
        print("\nratio Keel / QEMU (1 CPU): %.2f" % (keel1 / bare))
    for n, exits in ((1, exits1), (2, exits2)):
        print("\nExits during the %d-vCPU boot (the shell's `exits linux` at the prompt):\n" % n)
        print(exits.strip())
    return 0 if bare else 1


if __name__ == "__main__":
    sys.exit(main())
