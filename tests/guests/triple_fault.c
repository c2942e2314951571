/* triple_fault: prints `about to triple fault`, loads an empty IDT (limit 0) and executes
 * int3: #BP -> #GP (no IDT entry) -> #DF -> triple fault. Keel must stop the VM with
 * `vm <name> stopped: triple fault at rip=0x...`. If execution continues: FAIL, exit 1. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

void guest_main(void)
{
	boot_checks(guest_name);
	if (g_fails)
		printf("note: %d boot check failure(s) above; triple faulting anyway\n", g_fails);
	printf("about to triple fault\n");
	idt_load_empty();
	__asm__ volatile("int3; ud2" ::: "memory");
	fail("still running after triple fault");
	guest_exit(1);
}
