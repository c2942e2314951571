/* highmem (64-bit, multiboot2): a VM with more RAM than fits below the PCI hole (issue 8, "Guest
 * memory layout like a PC"). boot_checks() validates the multiboot map against expect_mem=<size>
 * (low RAM up to 3 GiB, nothing usable from there to 4 GiB, the rest from 4 GiB). Then the guest
 * maps the map's RAM above 4 GiB (2 MiB pages) and checks it is RAM of its own: a pattern written
 * every 64 KiB (and the last dword) reads back, and is not an alias of low RAM (a low-RAM pattern
 * at the same offsets stays intact); the hole below 4 GiB and the first byte past the high RAM
 * read all-ones (an empty bus). Ends with `done: <n> failure(s)` and that status. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

#define GIB         0x40000000ull
#define HIGH_BASE   0x100000000ull
#define MAX_HIGH_GB 8
#define STRIDE      0x10000ull
#define PTE_P_W_PS  0x83ull             /* present, writable, 2 MiB page */
#define LOW_PROBE   0x2000000ull        /* 32 MiB: free low RAM for the alias check */

static u64 high_pd[MAX_HIGH_GB + 1][512] __attribute__((aligned(4096)));

static inline u32 pat(u64 a, u32 salt) { return (u32)(a >> 4) * 0x9E3779B1u ^ salt; }

/* Identity-maps [4 GiB, 4 GiB + gb GiB) in the PDPT the entry code built (PML4 entry 0). */
static void map_high(unsigned gb)
{
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	u64 *pml4 = (u64 *)(uptr)(cr3 & ~0xFFFull);
	u64 *pdpt = (u64 *)(uptr)(pml4[0] & 0x000FFFFFFFFFF000ull);
	for (unsigned g = 0; g < gb; g++) {
		for (unsigned i = 0; i < 512; i++)
			high_pd[g][i] = (HIGH_BASE + g * GIB + ((u64)i << 21)) | PTE_P_W_PS;
		pdpt[4 + g] = (u64)(uptr)high_pd[g] | 3;
	}
	__asm__ volatile("mov %0, %%cr3" :: "r"(cr3) : "memory");
}

static u64 high_ram(void)
{
	for (int i = 0; i < g_boot.nmmap; i++)
		if (g_boot.mmap[i].type == 1 && g_boot.mmap[i].base == HIGH_BASE)
			return g_boot.mmap[i].len;
	return 0;
}

void guest_main(void)
{
	printf("highmem: multiboot%d\n", g_boot.mb);
	boot_checks(guest_name);
	u64 high = high_ram(), want = cmd_size("expect_mem", 0);
	want = want > 3 * GIB ? want - 3 * GIB : 0;
	printf("RAM above 4 GiB: 0x%llx bytes (want 0x%llx)\n", (unsigned long long)high,
	       (unsigned long long)want);
	if (!check("memory map: usable RAM from 4 GiB", high && high == want) ||
	    !check("high RAM fits the test's page tables", high + 0x200000 <= MAX_HIGH_GB * GIB))
		finish();
	map_high((unsigned)((high + 0x200000 + GIB - 1) / GIB));  /* and a page past its end */

	volatile u32 *lo = (volatile u32 *)(uptr)LOW_PROBE;
	u64 n = 0, bad = 0, first = 0;
	for (u64 off = 0; off < high; off += STRIDE)
		*(volatile u32 *)(uptr)(HIGH_BASE + off) = pat(HIGH_BASE + off, 0x5A5A0000u);
	*(volatile u32 *)(uptr)(HIGH_BASE + high - 4) = 0x600DF00Du;
	for (u64 off = 0; off < 16 * STRIDE; off += STRIDE)
		lo[off / 4] = pat(off, 0x10101010u);
	for (u64 off = 0; off < high; off += STRIDE, n++) {
		if (*(volatile u32 *)(uptr)(HIGH_BASE + off) != pat(HIGH_BASE + off, 0x5A5A0000u) &&
		    !bad++)
			first = HIGH_BASE + off;
	}
	if (!check("pattern every 64 KiB above 4 GiB reads back", !bad))
		printf("  %llu bad of %llu, first at 0x%llx\n", (unsigned long long)bad,
		       (unsigned long long)n, (unsigned long long)first);
	else
		printf("  %llu dwords from 0x%llx to 0x%llx\n", (unsigned long long)n,
		       (unsigned long long)HIGH_BASE, (unsigned long long)(HIGH_BASE + high));
	check_eq("last dword of high RAM", *(volatile u32 *)(uptr)(HIGH_BASE + high - 4), 0x600DF00Du);
	bad = 0;
	for (u64 off = 0; off < 16 * STRIDE; off += STRIDE)
		bad += lo[off / 4] != pat(off, 0x10101010u);
	check_eq("low RAM at the same offsets is not an alias", bad, 0);
	check_eq("the hole at 3.5 GiB reads all-ones", *(volatile u32 *)(uptr)0xE0000000ull,
		 0xFFFFFFFFu);
	check_eq("past the end of high RAM reads all-ones",
		 *(volatile u32 *)(uptr)(HIGH_BASE + high), 0xFFFFFFFFu);
	finish();
}
