/* Interrupt stubs for IDT vectors 32-255: push a zero "error code" and the vector, then share
 * the exception path (isr_common in entry.S), which calls exc_entry_c(); rt.c dispatches
 * vectors >= 32 to the handler registered with irq_set_handler(). */

	.text
	.balign 16
	.globl irq_stubs
irq_stubs:
	.set	vec, 32
	.rept	224
	.balign 16		/* fixed stride: irq_stubs + (vec - 32) * 16 */
	push	$0
	push	$vec
	jmp	isr_common
	.set	vec, vec + 1
	.endr

