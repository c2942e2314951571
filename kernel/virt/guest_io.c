/* Port I/O a guest sees: the debug-exit port at 0xf4, and every other port through the VM's
 * platform (kernel/virt/platform.c: COM1 first, the chipset devices, then nothing: all-ones). */
#include "kernel/virt/exit.h"
#include "kernel/virt/vm.h"

#define DEBUG_EXIT_PORT 0xF4

static uint32_t size_mask(unsigned size)
{
    return size == 4 ? 0xFFFFFFFFu : (1u << (size * 8)) - 1;
}

bool guest_port_read(struct vcpu *v, uint16_t port, unsigned size, uint32_t *val)
{
    bool alive = platform_port_read(v, port, size, val);
    *val &= size_mask(size);
    return alive;
}

bool guest_port_write(struct vcpu *v, uint16_t port, unsigned size, uint32_t val)
{
    if (port == DEBUG_EXIT_PORT) {
        vm_exit(v->vm, (int)(val & size_mask(size)), 0);
        return false;
    }
    return platform_port_write(v, port, size, val & size_mask(size));
}

/* IN/OUT. A 32-bit IN zero-extends into RAX; narrower ones keep the other bits. String I/O
 * (INS/OUTS, REP or not) is carried out by the instruction emulator through the two functions
 * above. */
int exit_io(struct vcpu *v, const struct io_exit *io)
{
    if (io->string)
        return emulate_insn(v);
    if (io->in) {
        uint32_t val, mask = size_mask(io->size);
        if (!guest_port_read(v, io->port, io->size, &val))
            return EXIT_STOP;
        v->gpr[GPR_RAX] = io->size == 4 ? val : (v->gpr[GPR_RAX] & ~(uint64_t)mask) | val;
        return EXIT_NEXT;
    }
    return guest_port_write(v, io->port, io->size, (uint32_t)v->gpr[GPR_RAX]) ? EXIT_NEXT
                                                                             : EXIT_STOP;
}
