/* CPU state a guest owns: CR0/CR4 through Keel's shadows, PAE paging switched on and off by the
 * guest itself, CR8, and #UD/#GP for instructions and bits Keel hides (VMX/SVM instructions,
 * XSAVE, MONITOR/MWAIT). Built as 32-bit mb1 and 64-bit mb2. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

#define CR0_PE 1u
#define CR0_TS (1u << 3)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define CR4_VMXE (1u << 13)
#define CR4_OSXSAVE (1u << 18)

static inline void write_cr0(uptr v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline void write_cr4(uptr v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline void write_cr3(uptr v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline uptr read_cr3(void) { uptr v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }

static void expect_exc(const char *what, int vec, int skip, void (*fn)(void))
{
	exc_arm(-1, skip);
	fn();
	int n = exc_disarm();
	if (n == 1 && exc_last_vec == vec)
		ok("%s -> %s", what, exc_name(vec));
	else
		fail("%s: %d exception(s), last %d, want %s", what, n, exc_last_vec, exc_name(vec));
}

static void do_vmxon(void) { u64 m = 0; __asm__ volatile("vmxon %0" :: "m"(m)); }
static void do_vmread(void) { uptr a = 0x4402, b; __asm__ volatile("vmread %1, %0" : "=r"(b) : "r"(a)); (void)b; }
static void do_vmptrst(void) { u64 m; __asm__ volatile("vmptrst %0" : "=m"(m)); }
static void do_xsetbv(void) { __asm__ volatile("xsetbv" :: "a"(1), "d"(0), "c"(0)); }
static void do_mwait(void) { __asm__ volatile("mwait" :: "a"(0), "c"(0)); }
static void do_monitor(void) { __asm__ volatile("monitor" :: "a"(0x100000), "c"(0), "d"(0)); }
static void do_vmxe(void) { write_cr4(read_cr4() | CR4_VMXE); }
static void do_osxsave(void) { write_cr4(read_cr4() | CR4_OSXSAVE); }
static void do_pg_nope(void) { write_cr0(read_cr0() | CR0_PG | CR0_PE); /* fine */ }
#ifndef __x86_64__
static void do_nw_no_cd(void) { write_cr0(read_cr0() | (1u << 29)); }
#else
static void do_clear_pae(void) { write_cr4(read_cr4() & ~CR4_PAE); }
static void do_cr8_bad(void) { __asm__ volatile("mov %0, %%cr8" :: "r"((uptr)0x10)); }
#endif

#ifndef __x86_64__
/* 32-bit PAE paging: identity map the first 1 GiB with 2 MiB pages. */
static u64 pdpt[4] __attribute__((aligned(32)));
static u64 pd[512] __attribute__((aligned(4096)));
#endif

void guest_main(void)
{
	boot_checks(0);
	if (cmd_has("sti")) {
		__asm__ volatile("sti");
		delay_pauses(300000);
		__asm__ volatile("cli");
		ok("spun with IF=1");
	}
	uptr cr0 = read_cr0(), cr4 = read_cr4();
	printf("cr0=%p cr4=%p\n", (void *)cr0, (void *)cr4);
	check("CR4.VMXE hidden", !(cr4 & CR4_VMXE));
#ifndef __x86_64__
	check("entry CR0.NE hidden (shadow)", !(g_boot.entry_cr0 & CR0_NE));
	write_cr0(cr0 | CR0_NE);
	check("CR0.NE set by guest reads back 1", (read_cr0() & CR0_NE) != 0);
	write_cr0(read_cr0() & ~CR0_NE);
	check("CR0.NE cleared by guest reads back 0", !(read_cr0() & CR0_NE));
	write_cr0(read_cr0() | CR0_TS);
	check("CR0.TS set", (read_cr0() & CR0_TS) != 0);
	__asm__ volatile("clts");
	check("CLTS clears TS", !(read_cr0() & CR0_TS));
	__asm__ volatile("lmsw %w0" :: "r"((u16)(CR0_PE | CR0_TS)));
	check("LMSW sets TS", (read_cr0() & CR0_TS) != 0);
	__asm__ volatile("clts");
	expect_exc("CR0.NW without CD", 13, 3, do_nw_no_cd);
#endif
	write_cr4(read_cr4() | CR4_PSE);
	check("CR4.PSE set natively", (read_cr4() & CR4_PSE) != 0);
	write_cr4(read_cr4() & ~CR4_PSE);
	expect_exc("CR4.VMXE", 13, 3, do_vmxe);
	/* XSAVE is hidden in CPUID, so the bit is reserved: #GP on both vendors. */
	expect_exc("CR4.OSXSAVE", 13, 3, do_osxsave);
	expect_exc("VMXON", 6, 5, do_vmxon);
	expect_exc("VMREAD", 6, 3, do_vmread);
	expect_exc("VMPTRST", 6, 4, do_vmptrst);
	expect_exc("XSETBV", 6, 3, do_xsetbv);
	expect_exc("MWAIT", 6, 3, do_mwait);
	expect_exc("MONITOR", 6, 3, do_monitor);
	__asm__ volatile("invd; wbinvd; pause" ::: "memory");
	ok("INVD WBINVD PAUSE run");
	u64 pat;
	check("RDMSR PAT", rdmsr_safe(0x277, &pat) == 0 && pat == 0x0007040600070406ull);
	(void)do_pg_nope;
#ifndef __x86_64__
	/* PAE paging on and off (Keel emulates the MOV to CR0 and loads the PDPTEs). */
	for (int i = 0; i < 512; i++)
		pd[i] = (u64)i * 0x200000 | 0x83;            /* P, RW, PS */
	pdpt[0] = (uptr)pd | 1;
	for (int i = 1; i < 4; i++)
		pdpt[i] = 0;
	write_cr3((uptr)pdpt);
	write_cr4(read_cr4() | CR4_PAE);
	write_cr0(read_cr0() | CR0_PG);
	check("PAE paging on", (read_cr0() & CR0_PG) != 0);
	volatile u32 *p = (volatile u32 *)0x300000;
	*p = 0x12345678;
	check("memory through PAE paging", *p == 0x12345678);
	printf("still printing with paging, cr3=%p\n", (void *)read_cr3());
	write_cr0(read_cr0() & ~CR0_PG);
	write_cr4(read_cr4() & ~CR4_PAE);
	check("paging off again", !(read_cr0() & CR0_PG));
#else
	expect_exc("clear CR4.PAE in long mode", 13, 3, do_clear_pae);
	uptr c8;
	__asm__ volatile("mov %0, %%cr8" :: "r"((uptr)5));
	__asm__ volatile("mov %%cr8, %0" : "=r"(c8));
	check_eq("CR8 round-trips", c8, 5);
	expect_exc("CR8 reserved bits", 13, 4, do_cr8_bad);
	u64 efer;
	check("EFER.LMA|LME", rdmsr_safe(0xC0000080, &efer) == 0 && (efer & 0x500) == 0x500);
#endif
	finish();
}
