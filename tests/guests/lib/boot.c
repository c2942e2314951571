/* Multiboot v1/v2 info parsing and the standard boot checks. */
#include "rt.h"

extern const u32 guest_mb_version; /* mb1.S / mb2.S */

/* pieces of the info structure, for the placement check */
#define MAX_PIECES 24
static struct { uptr addr, len; const char *what; } pieces[MAX_PIECES];
static int npieces;

static void piece(uptr addr, uptr len, const char *what)
{
	if (npieces < MAX_PIECES) {
		pieces[npieces].addr = addr;
		pieces[npieces].len = len;
		pieces[npieces].what = what;
		npieces++;
	}
}

static void copy_str(char *dst, size_t n, uptr src)
{
	const char *s = (const char *)src;
	size_t i = 0;
	if (src)
		for (; s[i] && i + 1 < n; i++)
			dst[i] = s[i];
	dst[i] = 0;
}

static void add_mmap(u64 base, u64 len, u32 type)
{
	struct bootinfo *b = &g_boot;
	if (b->nmmap < BI_MAX_MMAP) {
		b->mmap[b->nmmap].base = base;
		b->mmap[b->nmmap].len = len;
		b->mmap[b->nmmap].type = type;
		b->nmmap++;
	}
}

static void add_mod(u32 start, u32 end, uptr str)
{
	struct bootinfo *b = &g_boot;
	if (b->nmods < BI_MAX_MODS) {
		b->mods[b->nmods].start = start;
		b->mods[b->nmods].end = end;
		copy_str(b->mods[b->nmods].cmd, sizeof(b->mods[0].cmd), str);
		if (str)
			piece(str, strlen((const char *)str) + 1, "module string");
		if (end > start)
			piece(start, end - start, "module data");
	}
	b->nmods++;
}

static void parse_mb1(uptr info)
{
	struct bootinfo *b = &g_boot;
	const u32 *m = (const u32 *)info;
	u32 flags = m[0];
	b->mb1_flags = flags;
	b->info_size = 72; /* up to and including boot_loader_name */
	piece(info, b->info_size, "mb1 info");
	if (flags & (1u << 0)) {
		b->have_mem = 1;
		b->mem_lower = m[1];
		b->mem_upper = m[2];
	}
	if (flags & (1u << 2)) {
		b->have_cmdline = 1;
		b->cmdline_addr = m[4];
		copy_str(b->cmdline, sizeof(b->cmdline), m[4]);
		if (m[4])
			piece(m[4], strlen((const char *)(uptr)m[4]) + 1, "cmdline");
	}
	if (flags & (1u << 3)) {
		b->have_mods = 1;
		u32 count = m[5];
		const u32 *mod = (const u32 *)(uptr)m[6];
		if (count)
			piece(m[6], count * 16, "module list");
		for (u32 i = 0; i < count && i < 64; i++, mod += 4)
			add_mod(mod[0], mod[1], mod[2]);
	}
	if (flags & (1u << 6)) {
		b->have_mmap = 1;
		b->mmap_size = m[11];
		b->mmap_addr = m[12];
		piece(m[12], m[11], "mmap");
		uptr p = m[12], end = (uptr)m[12] + m[11];
		while (p + 4 <= end) {
			const u8 *e = (const u8 *)p;
			u32 size;
			u64 base, len;
			u32 type;
			memcpy(&size, e, 4);
			memcpy(&base, e + 4, 8);
			memcpy(&len, e + 12, 8);
			memcpy(&type, e + 20, 4);
			add_mmap(base, len, type);
			if (size < 20)
				break;
			p += size + 4;
		}
	}
	if (flags & (1u << 9)) {
		b->have_loader = 1;
		copy_str(b->loader, sizeof(b->loader), m[16]);
		if (m[16])
			piece(m[16], strlen((const char *)(uptr)m[16]) + 1, "loader name");
	}
}

static void parse_mb2(uptr info)
{
	struct bootinfo *b = &g_boot;
	u32 total = *(const u32 *)info;
	b->info_size = total;
	piece(info, total, "mb2 info");
	uptr p = info + 8, end = info + total;
	if (total > 0x100000)
		end = info + 8; /* nonsense; do not walk */
	while (p + 8 <= end) {
		u32 type = ((const u32 *)p)[0], size = ((const u32 *)p)[1];
		if (type == 0 || size < 8)
			break;
		switch (type) {
		case 1:
			b->have_cmdline = 1;
			b->cmdline_addr = p + 8;
			copy_str(b->cmdline, sizeof(b->cmdline), p + 8);
			break;
		case 2:
			b->have_loader = 1;
			copy_str(b->loader, sizeof(b->loader), p + 8);
			break;
		case 3:
			b->have_mods = 1;
			add_mod(((const u32 *)p)[2], ((const u32 *)p)[3], p + 16);
			break;
		case 4:
			b->have_mem = 1;
			b->mem_lower = ((const u32 *)p)[2];
			b->mem_upper = ((const u32 *)p)[3];
			break;
		case 6: {
			u32 esz = ((const u32 *)p)[2];
			b->have_mmap = 1;
			b->mmap_addr = p + 16;
			b->mmap_size = size - 16;
			if (esz < 20)
				break;
			for (uptr e = p + 16; e + esz <= p + size; e += esz) {
				u64 base, len;
				u32 t;
				memcpy(&base, (const void *)e, 8);
				memcpy(&len, (const void *)(e + 8), 8);
				memcpy(&t, (const void *)(e + 16), 4);
				add_mmap(base, len, t);
			}
			break;
		}
		case 14:
			b->acpi_old = p + 8;
			b->acpi_old_len = size - 8;
			break;
		case 15:
			b->acpi_new = p + 8;
			b->acpi_new_len = size - 8;
			break;
		default:
			break;
		}
		p = (p + size + 7) & ~(uptr)7;
	}
}

void mb_parse(u32 magic, uptr info)
{
	g_boot.magic = magic;
	g_boot.info = info;
	if (magic == MB1_BOOT_MAGIC) {
		g_boot.mb = 1;
		parse_mb1(info);
	} else if (magic == MB2_BOOT_MAGIC) {
		g_boot.mb = 2;
		parse_mb2(info);
	}
}

static int overlaps(uptr a, uptr alen, uptr b, uptr blen) { return a < b + blen && b < a + alen; }

void boot_checks(const char *default_name)
{
	struct bootinfo *b = &g_boot;
	u64 mem = cmd_size("expect_mem", 16u << 20);
	/* a PC's layout: low RAM up to 3 GiB, the rest from 4 GiB */
	u64 low = mem < 0xC0000000ull ? mem : 0xC0000000ull, high = mem - low;
	char name[64];

	/* magic */
	if (guest_mb_version == 1)
		check_eq("multiboot1 magic", b->magic, MB1_BOOT_MAGIC);
	else
		check_eq("multiboot2 magic", b->magic, MB2_BOOT_MAGIC);
	printf("info at 0x%lx size 0x%x\n", (unsigned long)b->info, b->info_size);

	/* entry state */
	check_eq("entry eflags.if=0", (b->entry_eflags >> 9) & 1, 0);
	check_eq("entry cr0.pe=1 pg=0", b->entry_cr0 & 0x80000001u, 1);
	if (b->bss_dirty)
		fail("bss zeroed: %d non-zero byte(s)", b->bss_dirty);
	else
		ok("bss zeroed");

	if (!b->mb) {
		fail("no multiboot info (unknown magic), skipping info checks");
		return;
	}

	/* info tags / flags */
	if (b->mb == 1) {
		check_eq("mb1 info flags mem|cmdline|mods|mmap", b->mb1_flags & 0x4d, 0x4d);
	} else {
		check("mb2 info cmdline tag", b->have_cmdline);
		check("mb2 info loader name tag", b->have_loader);
		check("mb2 info basic meminfo tag", b->have_mem);
		check("mb2 info mmap tag", b->have_mmap);
	}

	/* placement: every piece of the info lies in RAM and outside our image/stack */
	int bad = 0;
	for (int i = 0; i < npieces; i++) {
		uptr a = pieces[i].addr, l = pieces[i].len;
		if (a + l > low || a + l < a) {
			fail("info placement: %s at 0x%lx+0x%lx beyond RAM 0x%llx", pieces[i].what, (unsigned long)a,
			     (unsigned long)l, (unsigned long long)low);
			bad++;
		} else if (overlaps(a, l, (uptr)__image_start, (uptr)(__image_end - __image_start))) {
			fail("info placement: %s at 0x%lx+0x%lx overlaps image 0x%lx-0x%lx", pieces[i].what,
			     (unsigned long)a, (unsigned long)l, (unsigned long)__image_start,
			     (unsigned long)__image_end);
			bad++;
		}
	}
	if (!bad)
		ok("info placement: %d piece(s) in RAM, outside image 0x%lx-0x%lx", npieces,
		   (unsigned long)__image_start, (unsigned long)__image_end);

	/* loader name */
	if (b->have_loader) {
		printf("loader: %s\n", b->loader);
		if (!strcmp(b->loader, "Keel"))
			ok("loader name Keel");
		else
			fail("loader name: got '%s' want 'Keel'", b->loader);
	}

	/* cmdline */
	printf("cmdline: %s\n", b->cmdline);
	cmd_first_word(name, sizeof(name));
	const char *want = default_name;
	char wbuf[64];
	const char *en = cmd_get("expect_name");
	if (en) {
		size_t i = 0;
		while (en[i] && en[i] != ' ' && i + 1 < sizeof(wbuf)) {
			wbuf[i] = en[i];
			i++;
		}
		wbuf[i] = 0;
		want = wbuf;
	}
	if (want) {
		if (!strcmp(name, want))
			ok("cmdline first word is name %s", want);
		else
			fail("cmdline first word: got '%s' want '%s'", name, want);
	}

	/* the whole command line, however long (the copy above keeps its first 511 bytes) */
	if (cmd_get("expect_cmdline_len") && b->cmdline_addr)
		check_eq("cmdline length", strlen((const char *)b->cmdline_addr),
			 cmd_num("expect_cmdline_len", 0));

	/* memory */
	printf("expect_mem=0x%llx (%llu MiB)\n", (unsigned long long)mem, (unsigned long long)(mem >> 20));
	if (b->have_mem) {
		check_eq("mem_lower 640", b->mem_lower, 640);
		check_eq("mem_upper (RAM-1MiB)/1K", b->mem_upper, (low - 0x100000) >> 10);
	} else {
		fail("no basic memory info");
	}
	if (b->have_mmap) {
		u64 top = 0, low_end = 0, hi_end = 0x100000;
		int low_avail = 0, hole_avail = 0, high_ok = 0, gap_avail = 0;
		for (int i = 0; i < b->nmmap; i++) {
			struct bi_mmap *e = &b->mmap[i];
			printf("mmap 0x%llx-0x%llx type %u\n", (unsigned long long)e->base,
			       (unsigned long long)(e->base + e->len), e->type);
			if (e->type != 1)
				continue;
			if (e->base + e->len > top)
				top = e->base + e->len;
			if (e->base == 0) {
				low_avail = 1;
				low_end = e->len;
			}
			if (e->base < 0x100000 && e->base + e->len > 0xA0000)
				hole_avail = 1;
			if (e->base < 0x100000000ull && e->base + e->len > low && low > 0x100000)
				gap_avail = 1;
			if (e->base == 0x100000000ull && e->len == high)
				high_ok = 1;
		}
		/* walk contiguous available coverage upwards from 1 MiB */
		for (int again = 1; again;) {
			again = 0;
			for (int i = 0; i < b->nmmap; i++) {
				struct bi_mmap *e = &b->mmap[i];
				if (e->type == 1 && e->base <= hi_end && e->base + e->len > hi_end) {
					hi_end = e->base + e->len;
					again = 1;
				}
			}
		}
		check("mmap: low RAM available from 0", low_avail && low_end >= 0x9F000 && low_end <= 0xA0000);
		check("mmap: 640K-1M not available", !hole_avail);
		check_eq("mmap: available 1M..end contiguous up to", hi_end, low);
		check("mmap: nothing available between low RAM and 4G", !gap_avail);
		if (high)
			check("mmap: RAM above 3G available from 4G", high_ok);
		check_eq("mmap: top of available RAM", top, high ? 0x100000000ull + high : low);
	} else {
		fail("no memory map");
	}

	/* modules */
	printf("modules: %d\n", b->nmods);
	for (int i = 0; i < b->nmods && i < BI_MAX_MODS; i++)
		printf("module %d: 0x%x-0x%x '%s'\n", i, b->mods[i].start, b->mods[i].end, b->mods[i].cmd);
	if (cmd_get("expect_mods"))
		check_eq("module count", (u64)b->nmods, cmd_num("expect_mods", 0));
}
