#!/bin/bash
# Lay out Keel, its modules and a grub.cfg under a GRUB root directory (shared by mkiso.sh and
# mknetdir.sh):   boot/grubcfg.sh ROOT KEEL_ELF "keel cmdline" [MODULE_ELF "module args"]...
# Writes ROOT/boot/keel.elf, ROOT/boot/<module files> and ROOT/boot/grub/grub.cfg: timeout 0,
# serial console, `multiboot2 /boot/keel.elf <cmdline>`, one `module2 /boot/<file> <args>` per
# module (same basenames are numbered: x.elf, x-2.elf, ...), `boot`. Paths are relative to GRUB's
# $root, so the same grub.cfg serves a CD/USB image and a TFTP server.
# Arguments are written into grub.cfg as they are: keep them to plain words (no quotes, ; $ \ or
# newlines, which GRUB's script parser would interpret).
set -eu

usage() {
    echo "usage: $0 ROOT KEEL_ELF \"keel cmdline\" [MODULE_ELF \"module args\"]..." >&2
    exit 2
}
[ $# -ge 3 ] || usage
root=$1 kernel=$2 cmdline=$3
shift 3
[ $(( $# % 2 )) -eq 0 ] || usage
[ -f "$kernel" ] || { echo "$0: no such kernel: $kernel" >&2; exit 1; }

mkdir -p "$root/boot/grub"
cp "$kernel" "$root/boot/keel.elf"

cfg=$root/boot/grub/grub.cfg
{
    echo 'set timeout=0'
    echo 'set default=0'
    # GRUB's EFI build has its own 16550 driver; efi consoles stay as they are.
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
    while [ -e "$root/boot/$name" ] || [ "$name" = keel.elf ]; do
        n=$((n + 1))
        case $base in
            *.*) name="${base%.*}-$n.${base##*.}" ;;
            *) name="$base-$n" ;;
        esac
    done
    cp "$mod" "$root/boot/$name"
    echo "    module2 /boot/$name${args:+ $args}" >>"$cfg"
done
{
    echo '    boot'
    echo '}'
} >>"$cfg"
