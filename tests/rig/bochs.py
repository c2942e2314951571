"""Bochs runners (Intel VMX via corei7_skylake_x, AMD SVM via ryzen): batch run_bochs() and
interactive spawn_bochs(). See the package docstring for the rfb-port and serial-mode facts."""
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
import tty
from pathlib import Path

import pexpect.fdpexpect

from .console import Console
from .iso import make_iso
from .paths import timeout_scale
from .run import (FAIL_FAST_RE, POWER_OFF_RE, RunResult, kill_group, normalize, poll,
                  power_off_status, read_bytes)

BOCHS = "bochs"
BIOS = "/usr/share/bochs/BIOS-bochs-latest"
VGABIOS = "/usr/share/vgabios/vgabios.bin"
MODELS = ("corei7_skylake_x", "ryzen")
RFB_LOCK = os.path.join(tempfile.gettempdir(), "keel-bochs-rfb.lock")
_RFB_OK = re.compile(r"listening for connections on port (\d+)")
_RFB_FAIL = re.compile(r"RFB could not bind|Could not listen")


def bochsrc(iso, com1, model="corei7_skylake_x", cpus=1, mem=256, ips=4000000, log="bochs.log",
            extra=()):
    """bochsrc text (EMULATORS.md's verified lines). com1: the full `com1:` option string."""
    lines = [
        "megs: %d" % mem,
        "romimage: file=%s" % BIOS,
        "vgaromimage: file=%s" % VGABIOS,
        "ata0-slave: type=cdrom, path=%s, status=inserted" % iso,
        "boot: cdrom",
        'display_library: rfb, options="timeout=0"',
        "panic: action=fatal",
        "log: %s" % log,
        "com1: %s" % com1,
        "cpu: model=%s, count=%d, ips=%d, reset_on_triple_fault=0" % (model, cpus, ips),
        "clock: sync=none, time0=local",
        "speaker: enabled=0",
    ]
    return "\n".join(lines + list(extra)) + "\n"


def _start(argv, cwd, log_path, stdout, pass_fds=()):
    """Start Bochs so that its rfb display gets a port. rfb scans 5900..5949 but two Bochs that
    bind the same free port at the same instant both fail (Linux rejects both listen() calls) and
    the scan never recovers, so starts are serialized with a lock held until rfb reports its port,
    and a start that still lost the race (to a Bochs not started by this rig) is retried.
    Returns (Popen, port)."""
    last = ""
    for attempt in range(4):
        with open(RFB_LOCK, "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            try:
                if os.path.exists(log_path):
                    os.unlink(log_path)
                proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        pass_fds=pass_fds)
                end = time.monotonic() + 20 * timeout_scale()
                while time.monotonic() < end:
                    log = read_bytes(log_path).decode("utf-8", "replace")
                    m = _RFB_OK.search(log)
                    if m:
                        return proc, int(m.group(1))
                    if _RFB_FAIL.search(log) or proc.poll() is not None:
                        break
                    time.sleep(0.02)
                else:   # no word from rfb: let the run itself show what is wrong
                    return proc, None
            finally:
                fcntl.flock(lk, fcntl.LOCK_UN)
        last = read_bytes(log_path).decode("utf-8", "replace")
        kill_group(proc)
        if not _RFB_FAIL.search(last):
            return proc, None      # died for another reason: the caller reports it
        time.sleep(0.2 + attempt * 0.5)
    return proc, None


def _iso_for(iso, append, modules, kernel):
    return Path(iso) if iso else make_iso(append, modules, kernel=kernel)


def run_bochs(iso=None, model="corei7_skylake_x", cpus=1, timeout=120, until=POWER_OFF_RE,
              append="poweroff noshell", modules=(), kernel=None, mem=256, ips=4000000,
              fail_fast=FAIL_FAST_RE, grace=0.5, extra_rc=()):
    """Boot a GRUB ISO under Bochs. iso=None builds one from kernel (default build/keel.elf),
    append and modules. Bochs never exits by itself with a useful status (always 1), so the serial
    file is polled: the run ends when Bochs exits (Keel's power-off), when `until` matches (then
    after `grace` s the process group is killed), when FAIL_FAST matches, or at the timeout.
    Returns a RunResult; .status is N from `keel: power off status=N` (None if absent)."""
    if model not in MODELS:
        raise ValueError("model must be one of %s" % (MODELS,))
    iso = _iso_for(iso, append, modules, kernel)
    tmp = tempfile.mkdtemp(prefix="keel-bochs.")
    try:
        serial = os.path.join(tmp, "serial.txt")
        log = os.path.join(tmp, "bochs.log")
        rc = bochsrc(iso, "enabled=1, mode=file, dev=%s" % serial, model, cpus, mem, ips, log,
                     extra_rc)
        with open(os.path.join(tmp, "bochsrc"), "w") as f:
            f.write(rc)
        with open(os.path.join(tmp, "cmds"), "w") as f:
            f.write("c\n")
        argv = [BOCHS, "-q", "-f", "bochsrc", "-rc", "cmds"]
        t0 = time.monotonic()
        with open(os.path.join(tmp, "stdout.txt"), "wb") as out:
            proc, port = _start(argv, tmp, log, out)
            timed_out, stopped_on = poll(proc, serial, timeout * timeout_scale() -
                                         (time.monotonic() - t0), until=until,
                                         fail_fast=fail_fast, grace=grace)
        wall = time.monotonic() - t0
        raw = read_bytes(serial)
        text = normalize(raw)
        blog = normalize(read_bytes(log))
        # Bochs' own verdict: error/panic-level lines and how the simulation ended
        tail = "\n".join([l for l in blog.splitlines()
                          if re.match(r"\d+[ep]\[", l) or
                          re.search(r"quit_sim|shutdown|triple fault|>>PANIC<<", l, re.I)][-15:])
        return RunResult("bochs", argv, output=text, raw=raw, exit_code=proc.returncode,
                         timed_out=timed_out, stopped_on=stopped_on, wall=wall,
                         status=power_off_status(text), log=tail,
                         info={"rfb_port": port, "model": model, "cpus": cpus, "iso": str(iso),
                               "bochsrc": rc, "bochs_log": blog[-20000:]})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def spawn_bochs(iso=None, model="corei7_skylake_x", cpus=1, append="noshell", modules=(),
                kernel=None, mem=256, ips=4000000, timeout=60, extra_rc=()):
    """Start Bochs with COM1 on a pseudo-terminal (`com1: mode=term, dev=/dev/pts/N`) attached
    to pexpect; returns a Console. `timeout` is the default expect() timeout (scaled)."""
    if model not in MODELS:
        raise ValueError("model must be one of %s" % (MODELS,))
    iso = _iso_for(iso, append, modules, kernel)
    tmp = tempfile.mkdtemp(prefix="keel-bochs-i.")
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        log = os.path.join(tmp, "bochs.log")
        rc = bochsrc(iso, "enabled=1, mode=term, dev=%s" % os.ttyname(slave), model, cpus, mem,
                     ips, log, extra_rc)
        with open(os.path.join(tmp, "bochsrc"), "w") as f:
            f.write(rc)
        with open(os.path.join(tmp, "cmds"), "w") as f:
            f.write("c\n")
        argv = [BOCHS, "-q", "-f", "bochsrc", "-rc", "cmds"]
        with open(os.path.join(tmp, "stdout.txt"), "wb") as out:
            proc, _ = _start(argv, tmp, log, out)
        # Bochs opens the tty by name a little after rfb is up; until then the slave must stay
        # open here (a pty with no slave open reads EOF). Once Bochs holds it, drop ours so the
        # master reads EOF when Bochs exits.
        end = time.monotonic() + 20 * timeout_scale()
        while time.monotonic() < end and proc.poll() is None:
            if b"(mode: term)" in read_bytes(log):
                break
            time.sleep(0.02)
    finally:
        os.close(slave)
    child = pexpect.fdpexpect.fdspawn(master, timeout=timeout * timeout_scale(),
                                      encoding="utf-8", codec_errors="replace")
    log_path = os.path.join(tmp, "serial.txt")
    child.logfile_read = open(log_path, "w", encoding="utf-8", errors="replace")

    def cleanup():
        try:
            os.close(master)
        except OSError:
            pass
        shutil.rmtree(tmp, ignore_errors=True)
    return Console(child, "bochs", argv, log_path, proc=proc, cleanup=cleanup)
