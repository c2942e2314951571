#!/bin/bash
# Build a hybrid GRUB (multiboot2) boot image for Keel: an ISO 9660 CD image that is also a disk
# image (write it to a USB stick with dd), booting on legacy BIOS (GRUB i386-pc) and on UEFI
# (GRUB x86_64-efi, when grub-efi-amd64-bin is installed).
#   boot/mkiso.sh OUT.iso KEEL_ELF "keel cmdline" [MODULE_ELF "module args"]...
# grub.cfg: see boot/grubcfg.sh. Safe to run in parallel (private temp dir).
set -eu

usage() { echo "usage: $0 OUT.iso KEEL_ELF \"keel cmdline\" [MODULE_ELF \"module args\"]..." >&2; exit 2; }
[ $# -ge 3 ] || usage
out=$1
shift
command -v grub-mkrescue >/dev/null || { echo "$0: grub-mkrescue missing (run tests/deps.sh)" >&2; exit 1; }
here=$(dirname -- "$0")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-iso.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bash "$here/grubcfg.sh" "$tmp/root" "$@"

# grub-mkrescue (2.06) puts in every platform installed under /usr/lib/grub: with i386-pc and
# x86_64-efi the image is hybrid (El Torito BIOS + EFI system partition, MBR for USB sticks).
[ -d /usr/lib/grub/i386-pc ] || { echo "$0: GRUB i386-pc missing (grub-pc-bin)" >&2; exit 1; }
[ -d /usr/lib/grub/x86_64-efi ] ||
    echo "$0: warning: grub-efi-amd64-bin missing: the image will not boot on UEFI" >&2
log=$tmp/mkrescue.log
if ! grub-mkrescue -o "$tmp/out.iso" "$tmp/root" >"$log" 2>&1; then
    cat "$log" >&2
    echo "$0: grub-mkrescue failed" >&2
    exit 1
fi
mv -f "$tmp/out.iso" "$out"
