"""Where things are: repo root, build outputs, scripts."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
KEEL_ELF = BUILD / "keel.elf"
GUESTS = BUILD / "guests"
MKISO = ROOT / "boot" / "mkiso.sh"
MKNETDIR = ROOT / "boot" / "mknetdir.sh"
# Debian's OVMF (package ovmf): one image with code and variables, for -bios.
OVMF = Path("/usr/share/ovmf/OVMF.fd")
DEPS = ROOT / "tests" / "deps.sh"


def guest(name):
    """Path of a built guest: guest("hello") -> build/guests/hello.elf."""
    return GUESTS / (name if name.endswith(".elf") else name + ".elf")


def timeout_scale():
    """KEEL_TIMEOUT_SCALE=<float> multiplies every rig timeout (slow or busy machines)."""
    try:
        return max(float(os.environ.get("KEEL_TIMEOUT_SCALE", "1")), 0.1)
    except ValueError:
        return 1.0
