#!/usr/bin/python3
"""Run a test guest on a bare emulator (no Keel) as a reference for what real hardware does.

    tests/guests/bare.py qemu  <guest.elf> [args...]     QEMU TCG -kernel (multiboot1); an ELF64
                                                          guest is re-wrapped as ELF32 first
    tests/guests/bare.py bochs <guest.elf> [args...]     Bochs corei7_skylake_x (x2APIC,
                                                          TSC-deadline) through a GRUB ISO whose
                                                          grub.cfg says `multiboot /boot/guest.elf`
Options (before the guest): --cpus N (default 2), --model M (Bochs), --timeout S.
Prints the guest's serial output; exit status 0 when it ends with `done: 0 failure(s)`.
The guest's first cmdline word is its name (args[0] defaults to the ELF's base name)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rig.bochs import run_bochs  # noqa: E402

DONE_RE = r"done: (\d+) failure"


def elf32(path, tmp):
    """QEMU's multiboot loader refuses ELF64: same bytes, ELF32 container (addresses < 4 GiB)."""
    with open(path, "rb") as f:
        if f.read(5)[4] != 2:
            return path
    out = os.path.join(tmp, "guest32.elf")
    subprocess.run(["objcopy", "-O", "elf32-i386", str(path), out], check=True)
    return out


def run_qemu(elf, args, cpus, timeout):
    tmp = tempfile.mkdtemp(prefix="keel-bare.")
    try:
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64", "-smp", str(cpus),
                "-m", "128", "-display", "none", "-serial", "stdio", "-no-reboot",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-kernel", elf32(elf, tmp), "-append", args]
        p = subprocess.run(["timeout", str(timeout)] + argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        return p.stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_iso(elf, args, tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "boot", "grub"))
    shutil.copy(elf, os.path.join(root, "boot", "guest.elf"))
    with open(os.path.join(root, "boot", "grub", "grub.cfg"), "w") as f:
        f.write("set timeout=0\nset default=0\nmenuentry guest {\n"
                "    multiboot /boot/guest.elf %s\n    boot\n}\n" % args)
    iso = os.path.join(tmp, "guest.iso")
    subprocess.run(["grub-mkrescue", "-o", iso, root], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return iso


def run_bochs_bare(elf, args, cpus, timeout, model):
    tmp = tempfile.mkdtemp(prefix="keel-bare.")
    try:
        r = run_bochs(iso=make_iso(elf, args, tmp), model=model, cpus=cpus, timeout=timeout,
                      until=DONE_RE, fail_fast=r"FAIL unexpected", grace=0.3)
        return r.output
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("emu", choices=("qemu", "bochs"))
    ap.add_argument("elf")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--model", default="corei7_skylake_x")
    ap.add_argument("--timeout", type=int, default=120)
    a = ap.parse_args()
    name = Path(a.elf).stem
    args = " ".join(a.args) if a.args else name
    if a.emu == "qemu":
        out = run_qemu(a.elf, args, a.cpus, a.timeout)
    else:
        out = run_bochs_bare(a.elf, args, a.cpus, a.timeout, a.model)
    sys.stdout.write(out)
    m = re.search(DONE_RE, out)
    sys.exit(0 if m and m.group(1) == "0" else 1)


if __name__ == "__main__":
    main()
