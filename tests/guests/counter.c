/* counter: prints `count <i>` for i = 1..n with a delay between, then exits with `status`.
 * cmdline: n=<N> (default 5), status=<v> (default 0), delay=<pauses> (default 200000).
 * The name is not checked unless expect_name=<w> is given (instances get different names).
 * If a boot check failed, exits with 100 + failures instead of `status`. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

void guest_main(void)
{
	char name[64];
	u32 n = (u32)cmd_num("n", 5), status = (u32)cmd_num("status", 0), delay = (u32)cmd_num("delay", 200000);
	boot_checks(NULL);
	cmd_first_word(name, sizeof(name));
	printf("%s counting to %u, then status %u\n", name, n, status);
	for (u32 i = 1; i <= n; i++) {
		printf("count %u\n", i);
		delay_pauses(delay);
	}
	printf("done: %d failure(s)\n", g_fails);
	guest_exit(g_fails ? 100 + (u32)(g_fails > 100 ? 100 : g_fails) : status);
}
