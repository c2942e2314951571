/* Port I/O a guest sees: the vUART at 0x3f8 and the debug-exit port at 0xf4. Other ports read
 * as all-ones (nothing there) and ignore writes. */
#include "kernel/exit.h"
#include "kernel/vm.h"

#define DEBUG_EXIT_PORT 0xF4

static uint32_t size_mask(unsigned size)
{
    return size == 4 ? 0xFFFFFFFFu : (1u << (size * 8)) - 1;
}

static uint32_t port_in(struct vcpu *v, uint16_t port)
{
    if ((unsigned)(port - VUART_BASE) < VUART_PORTS)
        return vuart_read(v->vm, port - VUART_BASE);
    return 0xFFFFFFFFu;
}

static int port_out(struct vcpu *v, uint16_t port, uint32_t val)
{
    if ((unsigned)(port - VUART_BASE) < VUART_PORTS) {
        vuart_write(v->vm, port - VUART_BASE, (uint8_t)val);
    } else if (port == DEBUG_EXIT_PORT) {
        vm_exit(v->vm, (int)val, 0);
        return EXIT_STOP;
    }
    return EXIT_NEXT;
}

int exit_io(struct vcpu *v, const struct io_exit *io)
{
    uint32_t mask = size_mask(io->size);
    if (io->string) {
        vm_stop(v->vm, "string I/O (INS/OUTS) on port %#x is not supported", io->port);
        return EXIT_STOP;
    }
    if (!io->in)
        return port_out(v, io->port, (uint32_t)v->gpr[GPR_RAX] & mask);
    uint32_t val = port_in(v, io->port) & mask;
    /* A 32-bit IN zero-extends into RAX; narrower ones keep the other bits. */
    if (io->size == 4)
        v->gpr[GPR_RAX] = val;
    else
        v->gpr[GPR_RAX] = (v->gpr[GPR_RAX] & ~(uint64_t)mask) | val;
    return EXIT_NEXT;
}
