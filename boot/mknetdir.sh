#!/bin/bash
# Lay out a GRUB network-boot (TFTP root) directory for Keel with grub-mknetdir:
#   boot/mknetdir.sh OUTDIR KEEL_ELF "keel cmdline" [MODULE_ELF "module args"]...
# OUTDIR becomes the TFTP root: boot/keel.elf, the modules, boot/grub/grub.cfg (boot/grubcfg.sh)
# and GRUB's network images: boot/grub/i386-pc/core.0 for PXE BIOS clients and
# boot/grub/x86_64-efi/core.efi for UEFI ones (when grub-efi-amd64-bin is installed). Point the
# DHCP server's boot file at one of those; GRUB then fetches grub.cfg and Keel over TFTP.
set -eu

usage() {
    echo "usage: $0 OUTDIR KEEL_ELF \"keel cmdline\" [MODULE_ELF \"module args\"]..." >&2
    exit 2
}
[ $# -ge 3 ] || usage
out=$1
shift
command -v grub-mknetdir >/dev/null ||
    { echo "$0: grub-mknetdir missing (run tests/deps.sh)" >&2; exit 1; }
here=$(dirname -- "$0")

rm -rf "$out/boot"
mkdir -p "$out"
bash "$here/grubcfg.sh" "$out" "$@"
for p in i386-pc x86_64-efi; do
    [ -d "/usr/lib/grub/$p" ] || continue
    log=$(grub-mknetdir --net-directory="$out" --subdir=boot/grub -d "/usr/lib/grub/$p" \
          --locales= --themes= --fonts= 2>&1) || {
        echo "$log" >&2
        echo "$0: grub-mknetdir for $p failed" >&2
        exit 1
    }
done
[ -f "$out/boot/grub/i386-pc/core.0" ] || { echo "$0: no PXE image (grub-pc-bin)" >&2; exit 1; }
