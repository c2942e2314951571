"""Linux boot benchmark (issue 10), part of `make bench` (tests/bench.py calls main()).

Debian's cloud kernel with the busybox initramfs (2 vCPUs, 256 MiB), under QEMU TCG with
-icount shift=0,sleep=off, so that the TSC counts emulated instructions (all CPUs together) and
the figures repeat from run to run:
- Under Keel (SVM): from the VM's launch (Keel logs `vm linux: launched at tsc N` at
  loglevel=debug) to the busybox shell's start (its /etc/profile prints `linux-guest: shell
  starts at tsc N`, tests/linux/tsc.c), then the shell's `exits linux` for the exits by reason.
- Directly under QEMU (same CPU model, 2 CPUs, QEMU's own -kernel/-initrd): from power-on (its
  firmware and option ROM included, a few million instructions) to the same line.
The ratio is Keel's count over QEMU's. It prints; it asserts nothing."""
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


def under_keel(k):
    mods = [(k, "name=linux cpus=2 mem=256M console=ttyS0"), (INITRD, "module_of=linux")]
    con = rig.spawn_qemu(append="loglevel=debug", modules=mods, smp=2, icount=True,
                         timeout=TIMEOUT)
    try:
        con.expect(r"vm linux: launched at tsc (\d+)")
        start = int(con.match.group(1))
        con.expect(SHELL_TSC)
        end = int(con.match.group(1))
        con.expect(r"keel> ")
        time.sleep(1)
        con.send("exits linux\r")
        con.expect(r"vm linux vcpu 1: \d+ exits")
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
                "-smp", "2", "-display", "none", "-vga", "none", "-nic", "none", "-no-reboot",
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
    keel, exits = under_keel(k)
    bare = bare_qemu(k)
    print("\nLinux boot to the busybox shell (%s, 2 vCPUs, QEMU TCG icount), emulated "
          "instructions:\n" % k.name)
    print("| run | instructions |")
    print("|---|---|")
    print("| under Keel (SVM), VM launch to shell | %d |" % keel)
    print("| directly under QEMU, power-on to shell | %s |" % (bare if bare else "n/a"))
    if bare:
        print("\nratio Keel / QEMU: %.2f" % (keel / bare))
    print("\nExits during that boot (the shell's `exits linux`, taken at the prompt):\n")
    print(exits.strip())
    return 0 if bare else 1


if __name__ == "__main__":
    sys.exit(main())
