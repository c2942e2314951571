# Keel: `make` builds build/keel.elf; `make iso` a hybrid BIOS+UEFI GRUB image (CD or USB stick)
# with the default guest; `make netboot` a GRUB network-boot (TFTP) directory; `make run` boots
# Keel in QEMU at the shell (`make run-uefi`: the image under OVMF); `make test` runs every test
# (installing what it needs).

BUILD   := build
CC      := gcc
KEEL    := $(BUILD)/keel.elf
ISO     := $(BUILD)/keel.iso
NETDIR  := $(BUILD)/netboot
OVMF    := /usr/share/ovmf/OVMF.fd
PYTHON  := /usr/bin/python3

CFLAGS  := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
           -ffreestanding -fno-builtin -nostdlib -fno-pie -fno-pic -fno-stack-protector \
           -fcf-protection=none -mno-red-zone -mgeneral-regs-only \
           -mcmodel=kernel -mno-mmx -mno-sse -mno-sse2 -fno-asynchronous-unwind-tables --param=min-pagesize=0 -I.
# The image is linked in the low 2 GiB, so -mcmodel=kernel's sign-extended addressing does
# not fit; small is right for an identity-mapped image below 2 GiB.
CFLAGS  := $(filter-out -mcmodel=kernel,$(CFLAGS)) -mcmodel=small
ASFLAGS := -I. -D__ASSEMBLY__
LDFLAGS := -nostdlib -static -no-pie -Wl,--no-warn-rwx-segments -Wl,--build-id=none -z max-page-size=4096 -z noexecstack -T linker.ld

SRC_DIRS := boot kernel kernel/lib kernel/gdb kernel/virt kernel/dev kernel/emul kernel/loader kernel/shell mm drivers vmx svm
C_SRCS   := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.c))
S_SRCS   := $(foreach d,$(SRC_DIRS),$(wildcard $(d)/*.S))
OBJS     := $(patsubst %,$(BUILD)/obj/%.o,$(C_SRCS) $(S_SRCS))
DEPS     := $(OBJS:.o=.d)

# Default guest bundled into the ISO and used by `make run`.
DEFAULT_GUEST      := $(BUILD)/guests/hello.elf
DEFAULT_GUEST_ARGS := name=hello mem=16M spin
KEEL_ARGS          ?=

# The Linux guest: Debian's stock cloud kernel (tests/deps.sh installs linux-image-cloud-amd64)
# and a busybox initramfs built here (tests/linux/mkinitramfs.py). `make run` boots it beside the
# default guest when the kernel is there.
LINUX_KERNEL ?= $(lastword $(sort $(wildcard /boot/vmlinuz-*-cloud-amd64)))
LINUX_INITRD := $(BUILD)/linux/initramfs.cpio.gz
LINUX_ARGS   := name=linux cpus=2 mem=256M console=ttyS0
BUSYBOX      := /bin/busybox
COMMA        := ,
RUN_MODULES  := $(DEFAULT_GUEST) $(DEFAULT_GUEST_ARGS)$(if $(LINUX_KERNEL),$(COMMA)$(LINUX_KERNEL) \
                $(LINUX_ARGS)$(COMMA)$(abspath $(LINUX_INITRD)) module_of=linux)

.PHONY: all iso netboot guests linux-initrd unit test run run-uefi bench deps clean
all: $(KEEL)

$(KEEL): $(OBJS) linker.ld
	@echo "  LD    $@"
	@$(CC) $(LDFLAGS) -o $@ $(OBJS) -lgcc

$(BUILD)/obj/%.c.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  AS    $<"
	@$(CC) $(CFLAGS) $(ASFLAGS) -MMD -MP -c $< -o $@

# Flags live here: objects are stale when this file changes.
$(OBJS): Makefile

guests:
	$(MAKE) -C tests/guests OUT=$(abspath $(BUILD))/guests

$(DEFAULT_GUEST): guests

linux-initrd: $(LINUX_INITRD)

$(LINUX_INITRD): tests/linux/mkinitramfs.py $(BUSYBOX) $(BUILD)/linux/tsc
	@echo "  CPIO  $@"
	@$(PYTHON) tests/linux/mkinitramfs.py $(BUSYBOX) $@ $(BUILD)/linux/tsc

$(BUILD)/linux/tsc: tests/linux/tsc.c
	@mkdir -p $(dir $@)
	@echo "  CC    $@"
	@$(CC) -static -nostdlib -O2 -fno-pie -no-pie -fno-stack-protector -o $@ $<

iso: $(KEEL) guests
	boot/mkiso.sh $(ISO) $(KEEL) "$(KEEL_ARGS)" $(DEFAULT_GUEST) "$(DEFAULT_GUEST_ARGS)"

# TFTP root: boot/grub/i386-pc/core.0 (PXE BIOS) and boot/grub/x86_64-efi/core.efi (UEFI).
netboot: $(KEEL) guests
	boot/mknetdir.sh $(NETDIR) $(KEEL) "$(KEEL_ARGS)" $(DEFAULT_GUEST) "$(DEFAULT_GUEST_ARGS)"

unit:
	$(MAKE) -C tests/unit OUT=$(abspath $(BUILD))/unit run

deps:
	@tests/deps.sh

# Boots Keel in QEMU (AMD SVM under TCG) with the default guest and, when the kernel is there,
# Linux (`console linux` in Keel's shell reaches its busybox prompt, Ctrl-] comes back). Serial
# console on this terminal; leave QEMU with Ctrl-A X.
run: deps
	$(MAKE) all guests $(if $(LINUX_KERNEL),linux-initrd)
	qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt -smp 4 -m 1G -display none \
	    -chardev stdio,id=con,mux=on,signal=off -serial chardev:con -mon chardev=con \
	    -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	    -kernel $(KEEL) -append "$(KEEL_ARGS)" -initrd "$(RUN_MODULES)"

# The hybrid image under UEFI (Debian's OVMF), serial console on this terminal.
run-uefi: deps
	$(MAKE) iso
	qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt -machine q35 -smp 2 -m 512M \
	    -bios $(OVMF) -display none -vga none -nic none \
	    -chardev stdio,id=con,mux=on,signal=off -serial chardev:con -mon chardev=con \
	    -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 -cdrom $(ISO)

test: deps
	$(MAKE) all guests linux-initrd
	$(PYTHON) -m pytest

# Instructions per exit round trip (QEMU icount, Bochs); prints a table, asserts nothing.
bench: deps
	$(MAKE) all guests linux-initrd
	$(PYTHON) tests/bench.py

clean:
	rm -rf $(BUILD)

-include $(DEPS)
