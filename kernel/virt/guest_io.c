/* Port I/O a guest sees: the vUART at 0x3f8 and the debug-exit port at 0xf4. Other ports read
 * as all-ones (nothing there) and ignore writes. */
#include "kernel/virt/exit.h"
#include "kernel/virt/vm.h"

#define DEBUG_EXIT_PORT 0xF4

static uint32_t size_mask(unsigned size)
{
    return size == 4 ? 0xFFFFFFFFu : (1u << (size * 8)) - 1;
}

/* A 32-bit IN zero-extends into RAX; narrower ones keep the other bits. */
static int in_result(struct vcpu *v, const struct io_exit *io, uint32_t val)
{
    uint32_t mask = size_mask(io->size);
    if (io->size == 4)
        v->gpr[GPR_RAX] = val;
    else
        v->gpr[GPR_RAX] = (v->gpr[GPR_RAX] & ~(uint64_t)mask) | (val & mask);
    return EXIT_NEXT;
}

bool guest_port_read(struct vcpu *v, uint16_t port, unsigned size, uint32_t *val)
{
    unsigned uart_reg = (unsigned)(port - VUART_BASE);
    if (uart_reg < VUART_PORTS) {
        *val = vuart_read(v->vm, uart_reg) & size_mask(size);
        return true;
    }
    return platform_port_read(v, port, size, val);
}

bool guest_port_write(struct vcpu *v, uint16_t port, unsigned size, uint32_t val)
{
    unsigned uart_reg = (unsigned)(port - VUART_BASE);
    if (uart_reg < VUART_PORTS) {
        vuart_write(v->vm, uart_reg, (uint8_t)val);
    } else if (port == DEBUG_EXIT_PORT) {
        vm_exit(v->vm, (int)(val & size_mask(size)), 0);
        return false;
    } else {
        return platform_port_write(v, port, size, val);
    }
    return true;
}

/* The vUART comes first: it is the port guests hit most. String I/O (INS/OUTS, REP or not) is
 * carried out by the instruction emulator through the two functions above. */
int exit_io(struct vcpu *v, const struct io_exit *io)
{
    unsigned uart_reg = (unsigned)(io->port - VUART_BASE);
    if (io->string)
        return emulate_insn(v);
    if (uart_reg < VUART_PORTS) {
        if (io->in)
            return in_result(v, io, vuart_read(v->vm, uart_reg));
        vuart_write(v->vm, uart_reg, (uint8_t)v->gpr[GPR_RAX]);
        return EXIT_NEXT;
    }
    if (io->in)
        return in_result(v, io, 0xFFFFFFFFu);   /* nothing there */
    if (io->port == DEBUG_EXIT_PORT) {
        vm_exit(v->vm, (int)((uint32_t)v->gpr[GPR_RAX] & size_mask(io->size)), 0);
        return EXIT_STOP;
    }
    return EXIT_NEXT;
}
