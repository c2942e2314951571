/* hypercall_test (32-bit) / hypercall_test64 (64-bit): Keel hypercalls via VMCALL (Intel)
 * or VMMCALL (AMD). PING (0) -> 0x4B45454C; unknown 0x1234 -> -1000. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

static void one(const char *what, uptr nr, uptr want)
{
	exc_arm(-1, 3); /* VMCALL/VMMCALL are 3 bytes; catch #UD/#GP on bare hardware */
	uptr got = hypercall(nr, 0x11, 0x22, 0x33, 0x44);
	if (exc_disarm()) {
		fail("%s: raised exception %d (%s)", what, exc_last_vec, exc_name(exc_last_vec));
		return;
	}
	check_eq(what, got, want);
}

void guest_main(void)
{
	char v[13];
	cpu_vendor(v);
	printf("vendor %s -> %s\n", v, cpu_is_amd() ? "vmmcall" : "vmcall");
	boot_checks(guest_name);
	one("hypercall PING returns 0x4b45454c", KEEL_HC_PING, KEEL_PING_REPLY);
	one("hypercall PING again", KEEL_HC_PING, KEEL_PING_REPLY);
	one("hypercall 0x1234 returns -1000", 0x1234, (uptr)-1000);
	finish();
}
