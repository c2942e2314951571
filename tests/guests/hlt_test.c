/* hlt_test: prints `about to halt`, then `cli; hlt`. Keel must end the VM with
 * `vm <name> exited status=0 (halted)`. If HLT returns: `FAIL hlt returned`, exit 1. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

void guest_main(void)
{
	boot_checks(guest_name);
	if (g_fails)
		printf("note: %d boot check failure(s) above; halting anyway\n", g_fails);
	printf("about to halt\n");
	__asm__ volatile("cli; hlt" ::: "memory");
	fail("hlt returned");
	guest_exit(1);
}
