/* mem_test: memory isolation.
 *  default : (a) fill own free RAM with an address-dependent pattern and verify it,
 *            (b) scan all RAM [0, top) for the sibling's "OTHERVM!" marker (must not be found).
 *            rounds=<n> repeats scan/pattern/scan n times (default 1).
 *  writer  : fill own free RAM with "OTHERVM!" (8-byte aligned), spin spin=<n> pauses
 *            (default 5000000, ~1 s under QEMU TCG where PAUSE is slow) so the VMs overlap, exit 0.
 *  probe=<hex gpa>       : after the above, read 4 bytes at gpa (Keel must stop the VM);
 *                          if the read returns: all-ones -> `ok unmapped read all-ones` and go
 *                          on, anything else -> FAIL line with the value, exit 7.
 *  probe_write=<hex gpa> : after the above, write 4 bytes at gpa and read them back: all-ones
 *                          (an empty bus), else FAIL, exit 7; strict_mmio stops the VM at the
 *                          write. (hex with or without 0x)
 * RAM regions come from the multiboot memory map (type 1), minus this image + stack. */
#include "rt.h"

const char guest_name[] = GUEST_NAME;

/* "OTHERVM!" as a little-endian u64, stored masked so the image never contains it */
static volatile u32 mask_lo = 0x13572468u, mask_hi = 0x2468ACE0u;
#define MARK_LO_MASKED (0x4548544Fu ^ 0x13572468u)
#define MARK_HI_MASKED (0x214D5652u ^ 0x2468ACE0u)

struct range { uptr start, end; };
static struct range ranges[BI_MAX_MMAP * 2];
static int nranges;
static uptr ram_top;

static void add_range(uptr s, uptr e)
{
	s = (s + 7) & ~(uptr)7;
	e &= ~(uptr)7;
	if (e > s && nranges < (int)(sizeof(ranges) / sizeof(ranges[0]))) {
		ranges[nranges].start = s;
		ranges[nranges].end = e;
		nranges++;
	}
}

static void build_ranges(void)
{
	uptr img_s = (uptr)__image_start & ~(uptr)0xfff, img_e = ((uptr)__image_end + 0xfff) & ~(uptr)0xfff;
	for (int i = 0; i < g_boot.nmmap; i++) {
		struct bi_mmap *m = &g_boot.mmap[i];
		if (m->type != 1 || m->base >= 0x100000000ull)
			continue;
		u64 e64 = m->base + m->len;
		uptr s = (uptr)m->base, e = e64 > 0xFFFFF000ull ? (uptr)0xFFFFF000u : (uptr)e64;
		if (e > ram_top)
			ram_top = e;
		/* cut out our image */
		if (e <= img_s || s >= img_e) {
			add_range(s, e);
		} else {
			if (s < img_s)
				add_range(s, img_s);
			if (e > img_e)
				add_range(img_e, e);
		}
	}
}

static inline u32 pat_of(uptr a) { return (u32)a * 0x9E3779B1u ^ 0xA5C35A3Cu; }

static void pattern_test(void)
{
	u64 bytes = 0;
	u32 bad = 0;
	uptr first_bad = 0;
	u32 first_got = 0;
	for (int i = 0; i < nranges; i++)
		for (volatile u32 *p = (u32 *)ranges[i].start; p < (u32 *)ranges[i].end; p++)
			*p = pat_of((uptr)p);
	for (int i = 0; i < nranges; i++) {
		bytes += ranges[i].end - ranges[i].start;
		for (volatile u32 *p = (u32 *)ranges[i].start; p < (u32 *)ranges[i].end; p++) {
			u32 v = *p;
			if (v != pat_of((uptr)p)) {
				if (!bad++) {
					first_bad = (uptr)p;
					first_got = v;
				}
			}
		}
	}
	if (bad)
		fail("pattern write/read-back: %u bad dword(s), first at 0x%lx: got 0x%x want 0x%x", bad,
		     (unsigned long)first_bad, first_got, pat_of(first_bad));
	else
		ok("pattern write/read-back over %llu KiB", (unsigned long long)(bytes >> 10));
}

static void scan_for_marker(const char *when)
{
	u32 lo = MARK_LO_MASKED ^ mask_lo, hi = MARK_HI_MASKED ^ mask_hi;
	u32 found = 0;
	uptr first = 0;
	for (volatile u32 *p = (u32 *)0; (uptr)p < ram_top; p += 2) {
		if (p[0] == lo && p[1] == hi) {
			/* the compiler may have spilled the marker to our own stack */
			if ((uptr)p >= (uptr)__stack_bottom && (uptr)p < (uptr)__stack_top)
				continue;
			if (!found++)
				first = (uptr)p;
		}
	}
	if (found)
		fail("no sibling marker in RAM (%s): found %u at 0x%lx...", when, found, (unsigned long)first);
	else
		ok("no sibling marker in RAM 0x0-0x%lx (%s)", (unsigned long)ram_top, when);
}

static void writer(void)
{
	u32 lo = MARK_LO_MASKED ^ mask_lo, hi = MARK_HI_MASKED ^ mask_hi;
	u64 bytes = 0;
	for (int i = 0; i < nranges; i++) {
		for (volatile u32 *p = (u32 *)ranges[i].start; p < (u32 *)ranges[i].end; p += 2) {
			p[0] = lo;
			p[1] = hi;
		}
		bytes += ranges[i].end - ranges[i].start;
	}
	ok("writer filled %llu KiB with the sibling marker", (unsigned long long)(bytes >> 10));
	u32 n = (u32)cmd_num("spin", 5000000);
	printf("writer spinning %u pauses\n", n);
	delay_pauses(n);
	printf("writer done\n");
}

/* the probe address is hex, with or without 0x */
static int parse_hex(const char *s, u64 *out)
{
	char buf[24] = "0x";
	size_t i = 2;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	while (*s && *s != ' ' && i + 1 < sizeof(buf))
		buf[i++] = *s++;
	buf[i] = 0;
	return parse_num(buf, out, 0);
}

static void probe(void)
{
	const char *r = cmd_get("probe"), *w = cmd_get("probe_write");
	u64 gpa;
	if (r && parse_hex(r, &gpa)) {
		printf("probing gpa 0x%llx (read)\n", (unsigned long long)gpa);
		u32 v = *(volatile u32 *)(uptr)gpa;
		if (v == 0xFFFFFFFFu) {
			ok("unmapped read all-ones");
		} else {
			fail("probe read of 0x%llx returned 0x%x", (unsigned long long)gpa, v);
			guest_exit(7);
		}
	}
	if (w && parse_hex(w, &gpa)) {
		printf("probing gpa 0x%llx (write)\n", (unsigned long long)gpa);
		*(volatile u32 *)(uptr)gpa = 0x0BADC0DE;
		/* An empty bus drops the write (strict_mmio stops the VM before this). */
		u32 back = *(volatile u32 *)(uptr)gpa;
		if (back == 0xFFFFFFFFu) {
			ok("unmapped write dropped, reads back all-ones");
		} else {
			fail("probe write of 0x%llx stuck: reads back 0x%x", (unsigned long long)gpa, back);
			guest_exit(7);
		}
	}
}

void guest_main(void)
{
	boot_checks(guest_name);
	build_ranges();
	for (int i = 0; i < nranges; i++)
		printf("free range 0x%lx-0x%lx\n", (unsigned long)ranges[i].start, (unsigned long)ranges[i].end);
	if (!nranges)
		fail("no free RAM ranges from the memory map");
	if (cmd_has("writer")) {
		writer();
	} else {
		u32 rounds = (u32)cmd_num("rounds", 1);
		for (u32 r = 0; r < rounds; r++) {
			scan_for_marker("before pattern test");
			pattern_test();
			scan_for_marker("after pattern test");
		}
	}
	probe();
	finish();
}
