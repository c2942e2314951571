#!/bin/bash
# Install what Keel's build and test rig need (Debian 12). Idempotent and quiet when all is there:
# apt is only run when something is missing. Uses sudo only when not root.
set -euo pipefail

missing=()
need() {                      # need PACKAGE... -- only called when a check failed
    local p
    for p in "$@"; do
        case " ${missing[*]-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
    done
}
have_cmd() { command -v "$1" >/dev/null 2>&1; }
py_has() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" >/dev/null 2>&1; }

have_cmd gcc || need gcc
have_cmd make || need make
[ -f /usr/include/stdio.h ] || need libc6-dev      # host unit tests
have_cmd ld || need binutils
have_cmd timeout || need coreutils
have_cmd qemu-system-x86_64 || need qemu-system-x86
# bochs needs some GUI plugin package (else apt pulls bochs-wx); the rig uses the rfb display that
# ships in bochs itself, bochs-x just satisfies the dependency cheaply.
have_cmd bochs || need bochs bochs-x
[ -f /usr/share/bochs/BIOS-bochs-latest ] || need bochsbios
[ -f /usr/share/vgabios/vgabios.bin ] || need vgabios
have_cmd grub-mkrescue || need grub-common
[ -d /usr/lib/grub/i386-pc ] || need grub-pc-bin
# UEFI half of the hybrid image and of `make netboot`; Debian's OVMF for the UEFI boot tests.
[ -d /usr/lib/grub/x86_64-efi ] || need grub-efi-amd64-bin
[ -f /usr/share/ovmf/OVMF.fd ] || need ovmf
# e1000 option ROMs (PXE and EFI) for the network-boot tests.
[ -f /usr/lib/ipxe/qemu/pxe-e1000.rom ] && [ -f /usr/lib/ipxe/qemu/efi-e1000.rom ] ||
    need ipxe-qemu
have_cmd xorriso || need xorriso
have_cmd mformat || need mtools
# The shell parser's fuzz target (tests/fuzz) is built with libFuzzer.
have_cmd clang || need clang
# tests/test_gdb.py drives Debian's gdb against Keel's gdb stub.
have_cmd gdb || need gdb
[ -n "$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] ||
    need libclang-rt-14-dev
# The Linux guest (tests/test_linux.py, `make run`): Debian's stock cloud kernel, used as it is
# from /boot, and a static busybox for its initramfs.
[ -n "$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null)" ] || need linux-image-cloud-amd64
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" ||
    need busybox-static
[ -x /usr/bin/python3 ] || need python3
py_has pytest || need python3-pytest
py_has pexpect || need python3-pexpect

[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
apt_get() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -q
apt_get install -y -q --no-install-recommends "${missing[@]}"
