"""GRUB ISOs through boot/mkiso.sh, cached per (kernel, cmdline, modules) for the session."""
import atexit
import hashlib
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from .paths import KEEL_ELF, MKISO, MKNETDIR

_cache = {}
_lock = threading.Lock()
_dir = None


def _cache_dir():
    global _dir
    if _dir is None:
        _dir = Path(tempfile.mkdtemp(prefix="keel-isos."))
        atexit.register(shutil.rmtree, _dir, True)
    return _dir


def _stamp(path):
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def make_iso(cmdline, modules=(), kernel=None, out=None):
    """Build a GRUB multiboot2 ISO: `multiboot2 /boot/keel.elf <cmdline>` plus one
    `module2 /boot/<file> <args>` per (path, args) in modules. Returns the ISO's Path.
    Without `out`, the ISO lives in a per-process temp dir and identical requests are reused."""
    kernel = Path(kernel or KEEL_ELF)
    modules = [(Path(p), a) for p, a in modules]
    argv = [str(MKISO), "", str(kernel), cmdline]
    for p, a in modules:
        argv += [str(p), a]
    key = None
    if out is None:
        key = repr((_stamp(kernel), cmdline, [(_stamp(p), a) for p, a in modules]))
        with _lock:
            if key in _cache and _cache[key].exists():
                return _cache[key]
        out = _cache_dir() / ("keel-%s.iso" % hashlib.sha1(key.encode()).hexdigest()[:16])
    argv[1] = str(out)
    p = subprocess.run(["bash"] + argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, errors="replace", timeout=120)
    if p.returncode != 0:
        raise RuntimeError("boot/mkiso.sh failed (exit %d):\n%s" % (p.returncode, p.stdout))
    if key is not None:
        with _lock:
            _cache[key] = Path(out)
    return Path(out)


def make_netdir(cmdline, modules=(), kernel=None):
    """TFTP root laid out by boot/mknetdir.sh (grub-mknetdir): boot/grub/i386-pc/core.0 (PXE),
    boot/grub/x86_64-efi/core.efi (UEFI), grub.cfg, Keel and the modules. Cached like make_iso.
    Returns the directory's Path."""
    kernel = Path(kernel or KEEL_ELF)
    modules = [(Path(p), a) for p, a in modules]
    key = repr(("net", _stamp(kernel), cmdline, [(_stamp(p), a) for p, a in modules]))
    with _lock:
        if key in _cache and _cache[key].exists():
            return _cache[key]
    out = _cache_dir() / ("net-%s" % hashlib.sha1(key.encode()).hexdigest()[:16])
    argv = ["bash", str(MKNETDIR), str(out), str(kernel), cmdline]
    for p, a in modules:
        argv += [str(p), a]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=120)
    if p.returncode != 0:
        raise RuntimeError("boot/mknetdir.sh failed (exit %d):\n%s" % (p.returncode, p.stdout))
    with _lock:
        _cache[key] = out
    return out
