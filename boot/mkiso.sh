#!/bin/bash
# Build a GRUB (multiboot2) boot ISO for Keel.
#   boot/mkiso.sh OUT.iso KEEL_ELF "keel cmdline" [MODULE_ELF "module args"]...
# grub.cfg: timeout 0, serial console, `multiboot2 /boot/keel.elf <cmdline>`, one
# `module2 /boot/<file> <args>` per module (same basenames are numbered: x.elf, x-2.elf, ...), `boot`.
# BIOS (i386-pc) boot is what QEMU/SeaBIOS and Bochs use; grub-mkrescue adds EFI too when installed.
# Arguments are written into grub.cfg as they are: keep them to plain words (no quotes, ; $ \ or
# newlines, which GRUB's script parser would interpret). Safe to run in parallel (private temp dir).
set -eu

usage() { echo "usage: $0 OUT.iso KEEL_ELF \"keel cmdline\" [MODULE_ELF \"module args\"]..." >&2; exit 2; }
[ $# -ge 3 ] || usage
out=$1 kernel=$2 cmdline=$3
shift 3
[ $(( $# % 2 )) -eq 0 ] || usage
[ -f "$kernel" ] || { echo "$0: no such kernel: $kernel" >&2; exit 1; }
command -v grub-mkrescue >/dev/null || { echo "$0: grub-mkrescue missing (run tests/deps.sh)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/keel-iso.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/boot/grub"
cp "$kernel" "$tmp/root/boot/keel.elf"

cfg=$tmp/root/boot/grub/grub.cfg
{
    echo 'set timeout=0'
    echo 'set default=0'
    echo 'serial --unit=0 --speed=115200'
    echo 'terminal_input serial console'
    echo 'terminal_output serial console'
    echo 'menuentry "Keel" {'
    echo "    multiboot2 /boot/keel.elf${cmdline:+ $cmdline}"
} >"$cfg"

while [ $# -gt 0 ]; do
    mod=$1 args=$2
    shift 2
    [ -f "$mod" ] || { echo "$0: no such module: $mod" >&2; exit 1; }
    base=$(basename -- "$mod")
    base=${base//[^A-Za-z0-9._-]/_}
    name=$base n=1
    while [ -e "$tmp/root/boot/$name" ] || [ "$name" = keel.elf ]; do
        n=$((n + 1))
        case $base in
            *.*) name="${base%.*}-$n.${base##*.}" ;;
            *) name="$base-$n" ;;
        esac
    done
    cp "$mod" "$tmp/root/boot/$name"
    echo "    module2 /boot/$name${args:+ $args}" >>"$cfg"
done
{
    echo '    boot'
    echo '}'
} >>"$cfg"

log=$tmp/mkrescue.log
if ! grub-mkrescue -o "$tmp/out.iso" "$tmp/root" >"$log" 2>&1; then
    cat "$log" >&2
    echo "$0: grub-mkrescue failed" >&2
    exit 1
fi
mv -f "$tmp/out.iso" "$out"
