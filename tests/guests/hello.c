/* hello (and hello_mb1_64, hello_mb2_32, hello_mb2_64): greeting + boot-info checks.
 * cmdline: spin (loop forever with PAUSE after the checks instead of exiting),
 *          expect_mem=<size>, expect_name=<w>, expect_mods=<n>, exit_width=1|2|4 */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

void guest_main(void)
{
	char name[64];
	cmd_first_word(name, sizeof(name));
	printf("hello from %s\n", name);
	printf("%s: multiboot%d, %d-bit code, loaded at 0x%lx\n", guest_name, g_boot.mb,
	       (int)sizeof(void *) * 8, (unsigned long)__image_start);
	boot_checks(guest_name);
#ifdef __x86_64__
	/* prove we really run in long mode: EFER.LMA and CR4.PAE, CR0.PG */
	u64 efer = 0;
	if (rdmsr_safe(0xC0000080u, &efer))
		fail("read EFER");
	else
		check_eq("long mode active (EFER.LMA)", (efer >> 10) & 1, 1);
	check_eq("paging on (CR0.PG)", (read_cr0() >> 31) & 1, 1);
	uptr rsp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	check("64-bit stack in image", rsp > (uptr)__stack_bottom && rsp <= (uptr)__stack_top);
#endif
	if (cmd_has("spin")) {
		printf("done: %d failure(s); spinning (cmdline has 'spin')\n", g_fails);
		spin_forever();
	}
	finish();
}
