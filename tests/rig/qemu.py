"""QEMU (TCG, AMD SVM+NPT) runners: batch run_qemu() and interactive spawn_qemu()."""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pexpect

from .console import Console
from .iso import make_iso, make_netdir
from .paths import KEEL_ELF, OVMF, ROOT, timeout_scale
from .run import FAIL_FAST_RE, RunResult, normalize, poll, power_off_status, read_bytes

QEMU = "qemu-system-x86_64"
CPU = "qemu64,+svm,+npt"


def _initrd(modules):
    """-initrd "a.elf args,b.elf args": QEMU splits on commas, so none may appear."""
    parts = []
    for path, args in modules:
        path = str(Path(path).resolve())
        if "," in path or "," in args:
            raise ValueError("QEMU -initrd cannot carry commas: %r %r" % (path, args))
        if " " in path:
            raise ValueError("module path must not contain spaces: %r" % path)
        parts.append((path + " " + args).strip())
    return ",".join(parts)


def kvm_nested():
    """True when this machine has a usable /dev/kvm whose CPU exposes VMX or SVM to guests
    (nested virtualization), so Keel can run under real hardware virtualization. The /dev/kvm
    of the project's CI machines is a paravirtual flavour without either flag."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError:
        return False
    return " vmx" in flags or " svm" in flags


def _serial_arg(serial):
    if serial in ("stdio", "none", "null"):
        return serial
    return "file:%s" % serial


def qemu_argv(append="poweroff noshell", modules=(), smp=1, boot="kernel", mem="512M",
              icount=False, extra=(), kernel=None, serial="stdio", machine="pc", cpu=CPU,
              accel="tcg", firmware="bios", serials=None):
    """The QEMU command line (without timeout). serial: "stdio", "none", "null" or a file path
    for COM1; serials: the same for COM1, COM2, ... (overrides serial).
    accel="kvm" runs on the host's own VMX/SVM (with cpu="host"); see kvm_nested().
    firmware: "bios" (SeaBIOS) or "ovmf" (UEFI; boot must then be "iso", "usb" or "net").
    boot="usb": the GRUB image as a USB stick (usb-storage on EHCI) instead of a CD.
    boot="net": PXE/UEFI network boot from QEMU's built-in TFTP server (user networking with
    restrict=on: nothing leaves QEMU) of a boot/mknetdir.sh directory."""
    kernel = Path(kernel or KEEL_ELF)
    serials = list(serials) if serials else [serial]
    argv = [QEMU, "-accel", accel, "-cpu", cpu, "-machine", machine, "-m", str(mem),
            "-smp", str(smp), "-display", "none", "-vga", "none", "-no-reboot",
            "-monitor", "none"]
    for s in serials:
        argv += ["-serial", _serial_arg(s)]
    argv += ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if firmware == "ovmf":
        if boot == "kernel":
            raise ValueError("OVMF cannot boot -kernel multiboot images: use boot='iso'")
        argv += ["-bios", str(OVMF)]
    elif firmware != "bios":
        raise ValueError("firmware must be 'bios' or 'ovmf', not %r" % (firmware,))
    if boot != "net":
        argv += ["-nic", "none"]
    if icount:
        argv += ["-icount", "shift=0,sleep=off"]
    if boot == "kernel":
        argv += ["-kernel", str(kernel), "-append", append]
        if modules:
            argv += ["-initrd", _initrd(modules)]
    elif boot == "iso":
        iso = make_iso(append, modules, kernel=kernel)
        argv += ["-cdrom", str(iso), "-boot", "d"]
    elif boot == "usb":
        # The same hybrid image written to a USB stick (what `dd` of keel.iso gives).
        iso = make_iso(append, modules, kernel=kernel)
        argv += ["-drive", "file=%s,format=raw,if=none,id=stick,snapshot=on" % iso,
                 "-device", "usb-ehci,id=ehci",
                 "-device", "usb-storage,bus=ehci.0,drive=stick,bootindex=1"]
    elif boot == "net":
        net = make_netdir(append, modules, kernel=kernel)
        image = ("boot/grub/x86_64-efi/core.efi" if firmware == "ovmf"
                 else "boot/grub/i386-pc/core.0")
        argv += ["-netdev", "user,id=n0,restrict=on,tftp=%s,bootfile=%s" % (net, image),
                 "-device", "e1000,netdev=n0,bootindex=1", "-boot", "n"]
    else:
        raise ValueError("boot must be 'kernel', 'iso', 'usb' or 'net', not %r" % (boot,))
    return argv + [str(x) for x in extra]


def run_qemu(append="poweroff noshell", modules=(), smp=1, boot="kernel", mem="512M",
             timeout=60, icount=False, extra=(), kernel=None, until=None,
             fail_fast=FAIL_FAST_RE, machine="pc", cpu=CPU, accel="tcg", firmware="bios",
             console=0, serials=1):
    """Boot Keel under QEMU and wait for it to exit (Keel's `poweroff` ends it through
    isa-debug-exit: status 0 -> exit code 1, status 1 -> exit code 3).
    boot="kernel": -kernel/-append/-initrd (multiboot1); boot="iso": GRUB ISO (multiboot2).
    modules: [(path, args)]. until: regex on the serial text that ends the run early (then the
    process is killed after a short grace). firmware/boot: see qemu_argv().
    serials: how many COM ports (each logged to a file; 0 = none at all); console: which of
    them (0 = COM1) is read as Keel's console; info["other_serial"] holds the others' text.
    Returns a RunResult."""
    argv_tmp = tempfile.mkdtemp(prefix="keel-qemu.")
    try:
        files = [os.path.join(argv_tmp, "com%d.txt" % (i + 1)) for i in range(serials)]
        serial = files[console] if files else os.path.join(argv_tmp, "none.txt")
        errlog = os.path.join(argv_tmp, "stderr.txt")
        argv = qemu_argv(append, modules, smp, boot, mem, icount, extra, kernel, serial,
                         machine, cpu, accel, firmware, files or ["none"])
        t0 = time.monotonic()
        with open(errlog, "wb") as err:
            proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=err,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            timed_out, stopped_on = poll(proc, serial, timeout * timeout_scale(), until=until,
                                         fail_fast=fail_fast)
        wall = time.monotonic() - t0
        raw = read_bytes(serial)
        out = normalize(raw)
        return RunResult("qemu", argv, output=out, raw=raw, exit_code=proc.returncode,
                         timed_out=timed_out, stopped_on=stopped_on, wall=wall,
                         status=power_off_status(out),
                         log=normalize(read_bytes(errlog))[-4000:],
                         info={"smp": smp, "boot": boot, "firmware": firmware,
                               "other_serial": {i: normalize(read_bytes(f))
                                                for i, f in enumerate(files) if i != console}})
    finally:
        shutil.rmtree(argv_tmp, ignore_errors=True)


def spawn_qemu(append="noshell", modules=(), smp=1, boot="kernel", mem="512M", icount=False,
               extra=(), kernel=None, timeout=30, machine="pc", cpu=CPU):
    """Start QEMU with COM1 on stdio under pexpect; returns a Console (close() it, or use `with`).
    `timeout` is the default expect() timeout (scaled by KEEL_TIMEOUT_SCALE)."""
    tmp = tempfile.mkdtemp(prefix="keel-qemu-i.")
    argv = qemu_argv(append, modules, smp, boot, mem, icount, extra, kernel, "stdio",
                     machine, cpu)
    log_path = os.path.join(tmp, "serial.txt")
    child = pexpect.spawn(argv[0], argv[1:], cwd=str(ROOT), encoding="utf-8",
                          codec_errors="replace", timeout=timeout * timeout_scale(),
                          echo=False, dimensions=(50, 200))
    child.logfile_read = open(log_path, "w", encoding="utf-8", errors="replace")
    return Console(child, "qemu", argv, log_path,
                   cleanup=lambda: shutil.rmtree(tmp, ignore_errors=True))
