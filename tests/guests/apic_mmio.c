/* apic_mmio: the instruction forms a guest may use on the xAPIC page, each one executed against
 * the real register (TPR at 0xFEE00080: bits 7:0 writable, 31:8 reserved; VERSION and ID
 * read-only) and its result - value and arithmetic flags - compared with the same instruction on
 * a RAM copy. Built 32-bit (apic_mmio: moffs32, 67 = 16-bit addressing through a segment based
 * at the APIC page) and 64-bit (apic_mmio64: REX.R/X/B/W, moffs64, RIP-relative through an
 * alias mapping of the APIC page, 67 = 32-bit addressing, FS/GS bases).
 * Accesses other than aligned dwords (byte/word/qword, unaligned, MOVZX/MOVSX) are undefined in
 * the SDM; they are checked only under Keel, against GUEST7's rule: reads return the bytes of
 * the 32-bit register the access falls in (bytes 4-15 of each 16-byte slot read 0), and
 * non-dword or unaligned writes are ignored. */
#include "apic.h"

const char guest_name[] = GUEST_NAME;

#define TPR_ADDR   (APIC_DEFAULT_PHYS + APIC_TPR)
#define VER_ADDR   (APIC_DEFAULT_PHYS + APIC_VERSION)
#define ID_ADDR    (APIC_DEFAULT_PHYS + APIC_ID)
#define FL_ARITH   0x8D5u /* CF PF AF ZF SF OF */
#define FL_LOGIC   (FL_ARITH & ~0x10u) /* AND/OR/XOR/TEST leave AF undefined */
#define FL_CF      0x001u                /* BT*: only CF is defined */
#define FL_NONE    0u
#define FL_FIXED   0x002u /* EFLAGS bit 1 always reads 1 */
#define SEL_APIC   0x20   /* our extra GDT entry: data segment based at the APIC page */

#define TPR (*(volatile u32 *)(uptr)TPR_ADDR)
#define VER (*(volatile u32 *)(uptr)VER_ADDR)

#ifdef __x86_64__
#define SI "%%rsi"
#define DI "%%rdi"
#else
#define SI "%%esi"
#define DI "%%edi"
#endif

static int keel;
static int undefined_ok; /* run SDM-undefined accesses: under Keel or with `undefined` */
static u32 ver, id;

static void tpr_set(u32 v) { TPR = v; }
static u32 tpr_get(void) { return TPR; }

/* A check of an SDM-undefined access: strict under Keel, information elsewhere. */
static void keel_eq(const char *what, u64 got, u64 want)
{
	if (keel)
		check_eq(what, got, want);
	else
		printf("info %s: got 0x%llx (Keel: 0x%llx; undefined in the SDM, not checked)\n", what,
		       (unsigned long long)got, (unsigned long long)want);
}

/* ------------------------------------------------------------------ ALU on TPR vs RAM */
static void alu_result(const char *what, int memdst, u32 fm, u32 init, u32 ram, u32 r_apic,
		       u32 r_ram, uptr f_apic, uptr f_ram)
{
	u32 t = tpr_get();
	/* flags the instruction leaves alone must be preserved too: compare all of them but
	 * the undefined ones */
	u32 undef = FL_ARITH & ~fm;
	int good = (f_apic & ~undef & 0xFFF) == (f_ram & ~undef & 0xFFF) && r_apic == r_ram;
	if (memdst)
		good &= t == (ram & 0xFF);
	else
		good &= t == init;
	if (good)
		ok("%s: TPR 0x%x reg 0x%x flags 0x%x", what, t, r_apic, (u32)(f_apic & fm));
	else
		fail("%s: TPR 0x%x (RAM 0x%x) reg 0x%x (RAM 0x%x) flags 0x%x (RAM 0x%x)", what, t, ram,
		     r_apic, r_ram, (u32)(f_apic & 0xFFF), (u32)(f_ram & 0xFFF));
}

/* insn uses %[m] (the dword) and %[r] (a 32-bit register); fl0 = EFLAGS before */
#define ALU(what, memdst, fm, insn, init, regval, fl0)                                             \
	do {                                                                                       \
		u32 ram_ = (init), ra_ = (regval), rr_ = (regval);                                  \
		uptr fa_ = (fl0) | FL_FIXED, fr_ = (fl0) | FL_FIXED;                                \
		tpr_set(init);                                                                     \
		__asm__ volatile("push %[f]; popf; " insn "; pushf; pop %[f]"                       \
				 : [m] "+m"(TPR), [r] "+r"(ra_), [f] "+r"(fa_) : : "cc", "memory"); \
		__asm__ volatile("push %[f]; popf; " insn "; pushf; pop %[f]"                       \
				 : [m] "+m"(ram_), [r] "+r"(rr_), [f] "+r"(fr_) : : "cc", "memory"); \
		alu_result(what, memdst, fm, (init), ram_, ra_, rr_, fa_, fr_);                      \
	} while (0)

static void alu_forms(void)
{
	/* memory destination, register source (01 09 11 19 21 29 31) */
	ALU("add m32,r32 (01)", 1, FL_ARITH, "addl %[r], %[m]", 0x5A, 0xFFFFFFA6u, 0);
	ALU("or m32,r32 (09)", 1, FL_LOGIC, "orl %[r], %[m]", 0x5A, 0x81, 0);
	ALU("adc m32,r32 CF=1 (11)", 1, FL_ARITH, "adcl %[r], %[m]", 0x5A, 0x10, FL_CF);
	ALU("sbb m32,r32 CF=1 (19)", 1, FL_ARITH, "sbbl %[r], %[m]", 0x5A, 0x5A, FL_CF);
	ALU("and m32,r32 (21)", 1, FL_LOGIC, "andl %[r], %[m]", 0x5A, 0x0F, 0);
	ALU("sub m32,r32 (29)", 1, FL_ARITH, "subl %[r], %[m]", 0x5A, 0x5B, 0);
	ALU("xor m32,r32 (31)", 1, FL_LOGIC, "xorl %[r], %[m]", 0x5A, 0x5A, 0);
	ALU("cmp m32,r32 (39)", 0, FL_ARITH, "cmpl %[r], %[m]", 0x5A, 0x80, 0);
	ALU("test m32,r32 (85)", 0, FL_LOGIC, "testl %[r], %[m]", 0x5A, 0x42, 0);
	/* register destination, memory source (03 0B 13 1B 23 2B 33 3B) */
	ALU("add r32,m32 (03)", 0, FL_ARITH, "addl %[m], %[r]", 0x5A, 0x7FFFFFFFu, 0);
	ALU("or r32,m32 (0B)", 0, FL_LOGIC, "orl %[m], %[r]", 0x5A, 0x100, 0);
	ALU("adc r32,m32 CF=1 (13)", 0, FL_ARITH, "adcl %[m], %[r]", 0x5A, 0xFFFFFFA5u, FL_CF);
	ALU("sbb r32,m32 CF=1 (1B)", 0, FL_ARITH, "sbbl %[m], %[r]", 0x5A, 0x5A, FL_CF);
	ALU("and r32,m32 (23)", 0, FL_LOGIC, "andl %[m], %[r]", 0x5A, 0xF0, 0);
	ALU("sub r32,m32 (2B)", 0, FL_ARITH, "subl %[m], %[r]", 0x5A, 0x10, 0);
	ALU("xor r32,m32 (33)", 0, FL_LOGIC, "xorl %[m], %[r]", 0x5A, 0xFF, 0);
	ALU("cmp r32,m32 (3B)", 0, FL_ARITH, "cmpl %[m], %[r]", 0x5A, 0x5A, 0);
	/* immediates (81 /n imm32, 83 /n imm8, F7 /0) */
	ALU("add m32,imm32 (81 /0)", 1, FL_ARITH, "addl $0x12345678, %[m]", 0x5A, 0, 0);
	ALU("or m32,imm8 (83 /1)", 1, FL_LOGIC, "orl $0x21, %[m]", 0x5A, 0, 0);
	ALU("adc m32,imm8 CF=1 (83 /2)", 1, FL_ARITH, "adcl $-1, %[m]", 0x5A, 0, FL_CF);
	ALU("sbb m32,imm8 CF=1 (83 /3)", 1, FL_ARITH, "sbbl $0x60, %[m]", 0x5A, 0, FL_CF);
	ALU("and m32,imm32 (81 /4)", 1, FL_LOGIC, "andl $0xFFFF0033, %[m]", 0x5A, 0, 0);
	ALU("sub m32,imm8 (83 /5)", 1, FL_ARITH, "subl $0x5A, %[m]", 0x5A, 0, 0);
	ALU("xor m32,imm32 (81 /6)", 1, FL_LOGIC, "xorl $0x800000FF, %[m]", 0x5A, 0, 0);
	ALU("cmp m32,imm32 (81 /7)", 0, FL_ARITH, "cmpl $0x80000000, %[m]", 0x5A, 0, 0);
	ALU("test m32,imm32 (F7 /0)", 0, FL_LOGIC, "testl $0x80, %[m]", 0x5A, 0, 0);
	/* unary (F7 /2, F7 /3, FF /0, FF /1) */
	ALU("not m32 (F7 /2)", 1, FL_NONE, "notl %[m]", 0x5A, 0, 0);
	ALU("neg m32 (F7 /3)", 1, FL_ARITH, "negl %[m]", 0x5A, 0, 0);
	ALU("neg m32 of 0 (F7 /3)", 1, FL_ARITH, "negl %[m]", 0, 0, FL_CF);
	ALU("inc m32 (FF /0)", 1, FL_ARITH, "incl %[m]", 0x7F, 0, FL_CF);
	ALU("dec m32 (FF /1)", 1, FL_ARITH, "decl %[m]", 0x01, 0, 0);
	/* LOCK prefix (F0) */
	ALU("lock add m32,r32", 1, FL_ARITH, "lock addl %[r], %[m]", 0x11, 0x22, 0);
	ALU("lock or m32,imm8", 1, FL_LOGIC, "lock orl $0x80, %[m]", 0x11, 0, 0);
	ALU("lock and m32,r32", 1, FL_LOGIC, "lock andl %[r], %[m]", 0xF3, 0x3C, 0);
	ALU("lock xor m32,r32", 1, FL_LOGIC, "lock xorl %[r], %[m]", 0xF3, 0xFF, 0);
	ALU("lock inc m32", 1, FL_ARITH, "lock incl %[m]", 0xFF, 0, 0);
	ALU("lock dec m32", 1, FL_ARITH, "lock decl %[m]", 0x00, 0, 0);
	ALU("lock not m32", 1, FL_NONE, "lock notl %[m]", 0x0F, 0, 0);
	ALU("lock neg m32", 1, FL_ARITH, "lock negl %[m]", 0x0F, 0, 0);
	/* XCHG (87, implicitly locked) and bit tests (0F A3/AB/B3/BB, 0F BA /4-7) */
	ALU("xchg m32,r32 (87)", 1, FL_NONE, "xchgl %[r], %[m]", 0x5A, 0xC3, 0);
	ALU("lock xchg m32,r32", 1, FL_NONE, "lock xchgl %[r], %[m]", 0x3C, 0x12, 0);
	ALU("bt m32,r32 (0F A3)", 0, FL_CF, "btl %[r], %[m]", 0x5A, 3, 0);
	ALU("bts m32,r32 (0F AB)", 1, FL_CF, "btsl %[r], %[m]", 0x5A, 0, FL_CF);
	ALU("btr m32,r32 (0F B3)", 1, FL_CF, "btrl %[r], %[m]", 0x5A, 6, 0);
	ALU("btc m32,r32 (0F BB)", 1, FL_CF, "btcl %[r], %[m]", 0x5A, 7, 0);
	ALU("bt m32,imm8 (0F BA /4)", 0, FL_CF, "btl $4, %[m]", 0x5A, 0, FL_CF);
	ALU("bts m32,imm8 (0F BA /5)", 1, FL_CF, "btsl $7, %[m]", 0x5A, 0, 0);
	ALU("btr m32,imm8 (0F BA /6)", 1, FL_CF, "btrl $1, %[m]", 0x5A, 0, 0);
	ALU("btc m32,imm8 (0F BA /7)", 1, FL_CF, "btcl $0, %[m]", 0x5A, 0, 0);
	ALU("lock bts m32,r32", 1, FL_CF, "lock btsl %[r], %[m]", 0x00, 5, 0);
	ALU("lock btr m32,imm8", 1, FL_CF, "lock btrl $2, %[m]", 0xFF, 0, 0);
	ALU("lock btc m32,r32", 1, FL_CF, "lock btcl %[r], %[m]", 0x0F, 1, 0);
	tpr_set(0);
}

/* BT with a register bit offset beyond the dword: the address moves by 4 * (offset >> 5) */
static void bt_far_offset(void)
{
	u32 off = 4 * 32 + 3; /* base = TPR - 16: dword at base + 16 = TPR, bit 3 */
	u8 c;
	tpr_set(0x08);
	__asm__ volatile("btl %[o], %[m]; setc %[c]"
			 : [c] "=q"(c)
			 : [o] "r"(off), [m] "m"(*(volatile u32 *)(uptr)(TPR_ADDR - 16))
			 : "cc", "memory");
	check_eq("bt m32,r32 with bit offset 131 from TPR-16 reads TPR bit 3", c, 1);
	__asm__ volatile("btsl %[o], %[m]"
			 : [m] "+m"(*(volatile u32 *)(uptr)(TPR_ADDR - 16))
			 : [o] "r"(off + 1)
			 : "cc", "memory");
	check_eq("bts m32,r32 with bit offset 132 from TPR-16 sets TPR bit 4", tpr_get(), 0x18);
	tpr_set(0);
}

/* ------------------------------------------------------------------ MOV forms */
static void mov_forms(void)
{
	volatile u32 *apic = (volatile u32 *)(uptr)APIC_DEFAULT_PHYS;
	u32 v;
	uptr base = APIC_DEFAULT_PHYS, idx = APIC_TPR / 4;

	/* 8B /r with base, base+index*4, base+disp8/disp32 */
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"((uptr)VER_ADDR) : "memory");
	check_eq("mov r32,[base] (8B) VERSION", v, ver);
	__asm__ volatile("movl 0x30(%1), %0" : "=r"(v) : "r"(base) : "memory");
	check_eq("mov r32,[base+disp8] (8B) VERSION", v, ver);
	__asm__ volatile("movl 0x20(%1), %0" : "=r"(v) : "r"(base) : "memory");
	check_eq("mov r32,[base+disp8] (8B) ID", v, id);
	tpr_set(0x4D);
	__asm__ volatile("movl (%1,%2,4), %0" : "=r"(v) : "r"(base), "r"(idx) : "memory");
	check_eq("mov r32,[base+index*4] (8B) TPR", v, 0x4D);
	__asm__ volatile("movl 0x7F(%1,%2,1), %0" : "=r"(v) : "r"(base - 0x7F), "r"((uptr)APIC_TPR)
			 : "memory");
	check_eq("mov r32,[base+index+disp8] TPR", v, 0x4D);
	/* 89 /r */
	__asm__ volatile("movl %1, (%0)" : : "r"((uptr)TPR_ADDR), "r"(0x61u) : "memory");
	check_eq("mov [base],r32 (89) TPR", tpr_get(), 0x61);
	__asm__ volatile("movl %1, 0x80(%0)" : : "r"(base), "r"(0xFFFFFF62u) : "memory");
	check_eq("mov [base+disp32],r32 (89) TPR, reserved bits dropped", tpr_get(), 0x62);
	/* C7 /0 immediate stores */
	__asm__ volatile("movl $0x63, (%0)" : : "r"((uptr)TPR_ADDR) : "memory");
	check_eq("mov [base],imm32 (C7) TPR", tpr_get(), 0x63);
	__asm__ volatile("movl $0x64, 0x80(%0)" : : "r"(base) : "memory");
	check_eq("mov [base+disp32],imm32 (C7) TPR", tpr_get(), 0x64);
	/* moffs: A1 / A3 */
#ifdef __x86_64__
	__asm__ volatile("movabsl 0xFEE00030, %%eax" : "=a"(v) : : "memory");
	check_eq("mov eax,moffs64 (A1) VERSION", v, ver);
	__asm__ volatile("movabsl %%eax, 0xFEE00080" : : "a"(0x65u) : "memory");
	check_eq("mov moffs64,eax (A3) TPR", tpr_get(), 0x65);
#else
	__asm__ volatile("movl 0xFEE00030, %%eax" : "=a"(v) : : "memory");
	check_eq("mov eax,moffs32 (A1) VERSION", v, ver);
	__asm__ volatile("movl %%eax, 0xFEE00080" : : "a"(0x65u) : "memory");
	check_eq("mov moffs32,eax (A3) TPR", tpr_get(), 0x65);
	__asm__ volatile("movl 0xFEE00080, %%ecx" : "=c"(v) : : "memory");
	check_eq("mov ecx,[disp32] (8B 0D) TPR", v, 0x65);
	__asm__ volatile("movl $0x66, 0xFEE00080" : : : "memory");
	check_eq("mov [disp32],imm32 (C7 05) TPR", tpr_get(), 0x66);
#endif
	/* read-only registers ignore every store form */
	apic[APIC_VERSION / 4] = 0;
	__asm__ volatile("movl $0, (%0)" : : "r"((uptr)VER_ADDR) : "memory");
	__asm__ volatile("notl (%0)" : : "r"((uptr)VER_ADDR) : "memory", "cc");
	check_eq("VERSION unchanged by mov/mov imm/not", VER, ver);
	tpr_set(0);
}

/* ------------------------------------------------------------------ string instructions */
static u32 ram_buf[32];

static void string_forms(void)
{
	uptr s, d, c;
	u32 v;
	/* LODSD (AD) */
	s = VER_ADDR;
	__asm__ volatile("cld; lodsl" : "=a"(v), "+S"(s) : : "memory");
	check_eq("lodsd VERSION", v, ver);
	check_eq("lodsd advanced ESI by 4", s, VER_ADDR + 4);
	s = VER_ADDR;
	c = 1;
	__asm__ volatile("cld; rep lodsl" : "=a"(v), "+S"(s), "+c"(c) : : "memory");
	check_eq("rep lodsd (count 1) VERSION", v, ver);
	check("rep lodsd: ECX 0, ESI + 4", c == 0 && s == VER_ADDR + 4);
	/* STOSD (AB) */
	d = TPR_ADDR;
	__asm__ volatile("cld; stosl" : "+D"(d) : "a"(0x71u) : "memory");
	check_eq("stosd TPR", tpr_get(), 0x71);
	check_eq("stosd advanced EDI by 4", d, TPR_ADDR + 4);
	d = TPR_ADDR;
	c = 1;
	__asm__ volatile("cld; rep stosl" : "+D"(d), "+c"(c) : "a"(0x72u) : "memory");
	check_eq("rep stosd (count 1) TPR", tpr_get(), 0x72);
	check("rep stosd: ECX 0, EDI + 4", c == 0 && d == TPR_ADDR + 4);
	d = TPR_ADDR;
	c = 0;
	__asm__ volatile("cld; rep stosl" : "+D"(d), "+c"(c) : "a"(0x10u) : "memory");
	check_eq("rep stosd (count 0) writes nothing", tpr_get(), 0x72);
	d = TPR_ADDR;
	__asm__ volatile("std; stosl; cld" : "+D"(d) : "a"(0x73u) : "memory");
	check("stosd with DF=1: TPR written, EDI - 4", tpr_get() == 0x73 && d == TPR_ADDR - 4);
	/* MOVSD (A5) both ways */
	ram_buf[0] = 0x74;
	s = (uptr)ram_buf;
	d = TPR_ADDR;
	__asm__ volatile("cld; movsl" : "+S"(s), "+D"(d) : : "memory");
	check_eq("movsd RAM -> TPR", tpr_get(), 0x74);
	s = TPR_ADDR;
	d = (uptr)ram_buf;
	ram_buf[0] = 0xDEAD;
	__asm__ volatile("cld; movsl" : "+S"(s), "+D"(d) : : "memory");
	check_eq("movsd TPR -> RAM", ram_buf[0], 0x74);
	/* REP MOVSD count 1 (every access an aligned register) */
	s = VER_ADDR;
	d = (uptr)ram_buf;
	c = 1;
	__asm__ volatile("cld; rep movsl" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
	check_eq("rep movsd (count 1) VERSION -> RAM", ram_buf[0], ver);
	if (!undefined_ok) {
		/* the dwords at +4/+8/+C of a slot are undefined (Bochs panics on them) */
		printf("note: rep movsd x16 over the page skipped (Keel or 'undefined' only)\n");
		tpr_set(0);
		return;
	}
	/* REP MOVSD: 16 dwords from 0xFEE00020 (ID, VERSION, ...) vs individual reads */
	for (int i = 0; i < 32; i++)
		ram_buf[i] = 0xA5A5A5A5u;
	s = ID_ADDR;
	d = (uptr)ram_buf;
	c = 16;
	__asm__ volatile("cld; rep movsl" : "+S"(s), "+D"(d), "+c"(c) : : "memory");
	int same = 1;
	for (int i = 0; i < 16; i++) {
		u32 w = *(volatile u32 *)(uptr)(ID_ADDR + 4u * i);
		if (w != ram_buf[i]) {
			same = 0;
			printf("  dword %d (0x%x): movs 0x%x mov 0x%x\n", i, ID_ADDR + 4 * i, ram_buf[i], w);
		}
	}
	check("rep movsd x16 from 0xFEE00020 = individual dword reads", same);
	check("rep movsd: ECX 0, ESI/EDI + 64, RAM after it untouched",
	      c == 0 && s == ID_ADDR + 64 && d == (uptr)ram_buf + 64 && ram_buf[16] == 0xA5A5A5A5u);
	check_eq("rep movsd: ID copied", ram_buf[0], id);
	check_eq("rep movsd: VERSION copied", ram_buf[4], ver);
	if (keel) { /* SDM-undefined: non-register dwords */
		u32 nz = 0;
		for (int i = 0; i < 16; i++)
			if (i != 0 && i != 4)
				nz |= ram_buf[i];
		check_eq("keel: rep movsd: bytes 4-15 of each slot and reserved 0x40/0x50 read 0", nz, 0);
		/* REP STOSD over the TPR slot: only the aligned dword at 0x80 is a register */
		d = TPR_ADDR;
		c = 4;
		__asm__ volatile("cld; rep stosl" : "+D"(d), "+c"(c) : "a"(0x75u) : "memory");
		check_eq("keel: rep stosd x4 from TPR: TPR written", tpr_get(), 0x75);
		check_eq("keel: rep stosd x4: 0x84 still reads 0",
			 *(volatile u32 *)(uptr)(TPR_ADDR + 4), 0);
	}
	tpr_set(0);
}

/* ------------------------------------------------------------------ segments and prefixes */
static u64 gdt_copy[8] __attribute__((aligned(16)));

/* Our own GDT = the entry stub's 4 descriptors + a data segment based at 0xFEE00000, limit
 * 0xFFF (byte granular), loaded into FS and GS. */
static void load_apic_segment(void)
{
	struct __attribute__((packed)) { u16 limit; uptr base; } g;
	__asm__ volatile("sgdt %0" : "=m"(g));
	memcpy(gdt_copy, (void *)g.base, 4 * 8);
	gdt_copy[SEL_APIC / 8] = 0xFE4092E000000FFFull; /* base FEE00000, limit FFF, RW data */
	g.base = (uptr)gdt_copy;
	g.limit = sizeof(gdt_copy) - 1;
	__asm__ volatile("lgdt %0" : : "m"(g) : "memory");
	__asm__ volatile("movw %w0, %%fs; movw %w0, %%gs" : : "r"(SEL_APIC) : "memory");
}

static void segment_forms(void)
{
	u32 v;
	load_apic_segment();
	__asm__ volatile("movl %%fs:0x30, %0" : "=r"(v) : : "memory");
	check_eq("fs: mov r32,[disp32] (64 8B) VERSION", v, ver);
	__asm__ volatile("movl %%gs:0x20, %0" : "=r"(v) : : "memory");
	check_eq("gs: mov r32,[disp32] (65 8B) ID", v, id);
	__asm__ volatile("movl $0x31, %%fs:0x80" : : : "memory");
	check_eq("fs: mov [disp32],imm32 TPR", tpr_get(), 0x31);
	__asm__ volatile("addl $0x10, %%gs:0x80" : : : "memory", "cc");
	check_eq("gs: add [disp32],imm8 TPR", tpr_get(), 0x41);
	uptr s = 0x30, d = (uptr)ram_buf;
	ram_buf[0] = 0;
	__asm__ volatile("cld; movsl %%fs:(" SI "), %%es:(" DI ")" : "+S"(s), "+D"(d) : : "memory");
	check_eq("fs: movsd (64 A5) VERSION -> RAM", ram_buf[0], ver);
	s = 0x80;
	__asm__ volatile("cld; lodsl %%gs:(" SI ")" : "=a"(v), "+S"(s) : : "memory");
	check_eq("gs: lodsd TPR", v, 0x41);
#ifndef __x86_64__
	/* 67: 16-bit addressing in 32-bit code, through the segment based at the APIC page */
	__asm__ volatile("addr16 movl %%fs:0x30, %%eax" : "=a"(v) : : "memory");
	check_eq("67 fs: mov eax,moffs16 (64 67 A1) VERSION", v, ver);
	__asm__ volatile("addr16 movl %%fs:(%%bx,%%si), %0"
			 : "=r"(v) : "b"(0x70u), "S"(0x10u) : "memory");
	check_eq("67 fs: mov r32,[bx+si] TPR", v, 0x41);
	__asm__ volatile("addr16 movl %1, %%fs:0x7F(%%di)" : : "D"(1u), "r"(0x32u) : "memory");
	check_eq("67 fs: mov [di+disp8],r32 TPR", tpr_get(), 0x32);
	__asm__ volatile("addr16 orl $0x0C, %%gs:(%%bx)" : : "b"(0x80u) : "memory", "cc");
	check_eq("67 gs: or [bx],imm8 TPR", tpr_get(), 0x3E);
	/* 16-bit SI wraps: ESI upper half ignored */
	s = 0xABCD0030u;
	__asm__ volatile("cld; addr16 lodsl %%fs:(%%si)" : "=a"(v), "+S"(s) : : "memory");
	check_eq("67 fs: lodsd with SI (ESI upper bits ignored)", v, ver);
	check_eq("67 lodsd advances SI only", s, 0xABCD0034u);
#else
	/* 67: 32-bit addressing in 64-bit code; RBX's upper half is ignored */
	u64 rb = 0xDEAD0000FEE00080ull;
	__asm__ volatile("movl (%%ebx), %0" : "=r"(v) : "b"(rb) : "memory");
	check_eq("67 mov r32,[ebx] (upper RBX ignored) TPR", v, 0x41);
	__asm__ volatile("movl $0x33, (%%ebx)" : : "b"(rb) : "memory");
	check_eq("67 mov [ebx],imm32 TPR", tpr_get(), 0x33);
	/* 64-bit FS/GS bases from the MSRs */
	wrmsr(0xC0000100, APIC_DEFAULT_PHYS); /* IA32_FS_BASE */
	wrmsr(0xC0000101, APIC_DEFAULT_PHYS - 0x1000); /* IA32_GS_BASE */
	__asm__ volatile("movl %%fs:0x30, %0" : "=r"(v) : : "memory");
	check_eq("fs (IA32_FS_BASE): mov r32,[disp32] VERSION", v, ver);
	__asm__ volatile("movl %%gs:0x1080, %0" : "=r"(v) : : "memory");
	check_eq("gs (IA32_GS_BASE): mov r32,[disp32] TPR", v, 0x33);
#endif
	__asm__ volatile("movw %w0, %%fs; movw %w0, %%gs" : : "r"(0x10) : "memory");
	tpr_set(0);
}

#ifdef __x86_64__
/* ------------------------------------------------------------------ 64-bit only */
#define ALIAS_VA 0x40000000ull /* a 2 MiB page mapped onto the APIC page (PCD|PWT) */
/* RIP-relative operands need a link-time symbol (an absolute one would be assembled as a bare
 * displacement): the alias is addressed as __image_start + ALIAS_DELTA. */
#define ALIAS_DELTA "0x3FF00000"
#define ALIAS_VER   "__image_start+" ALIAS_DELTA "+0x30(%%rip)"
#define ALIAS_TPR   "__image_start+" ALIAS_DELTA "+0x80(%%rip)"

static void map_alias(void)
{
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	u64 *pml4 = (u64 *)(cr3 & ~0xFFFull);
	u64 *pdpt = (u64 *)(pml4[0] & 0xFFFFFFFFF000ull);
	u64 *pd = (u64 *)(pdpt[(ALIAS_VA >> 30) & 511] & 0xFFFFFFFFF000ull);
	/* 0xFEE00000 is 2 MiB aligned: present, writable, PWT, PCD, PS */
	pd[(ALIAS_VA >> 21) & 511] = APIC_DEFAULT_PHYS | 0x9B;
	__asm__ volatile("invlpg (%0)" : : "r"(ALIAS_VA) : "memory");
}

static void rex_forms(void)
{
	u32 v;
	map_alias();
	if ((uptr)__image_start + 0x3FF00000u != ALIAS_VA) {
		fail("image not at 1 MiB: the RIP-relative alias does not fit");
		return;
	}
	__asm__ volatile("movl " ALIAS_VER ", %0" : "=r"(v) : : "memory");
	check_eq("mov r32,[rip+disp32] (alias mapping) VERSION", v, ver);
	__asm__ volatile("movl $0x51, " ALIAS_TPR : : : "memory");
	check_eq("mov [rip+disp32],imm32 (C7 05) TPR", tpr_get(), 0x51);
	__asm__ volatile("addl $0x0F, " ALIAS_TPR : : : "memory", "cc");
	check_eq("add [rip+disp32],imm8 TPR", tpr_get(), 0x60);
	/* REX.B base, REX.R destination, REX.X index */
	__asm__ volatile("movq %1, %%r9; movl (%%r9), %%r10d; movl %%r10d, %0"
			 : "=r"(v) : "r"((u64)VER_ADDR) : "r9", "r10", "memory");
	check_eq("REX.RB mov r10d,[r9] VERSION", v, ver);
	__asm__ volatile("movq %1, %%r11; movq %2, %%r12; movl (%%r11,%%r12,8), %%r13d; movl %%r13d, %0"
			 : "=r"(v) : "r"((u64)APIC_DEFAULT_PHYS), "r"((u64)(APIC_TPR / 8))
			 : "r11", "r12", "r13", "memory");
	check_eq("REX.RXB mov r13d,[r11+r12*8] TPR", v, 0x60);
	__asm__ volatile("movq %0, %%r14; movl $0x52, (%%r14)"
			 : : "r"((u64)TPR_ADDR) : "r14", "memory");
	check_eq("REX.B mov [r14],imm32 TPR", tpr_get(), 0x52);
	__asm__ volatile("movq %0, %%r15; movl $0x0C, %%r8d; orl %%r8d, (%%r15)"
			 : : "r"((u64)TPR_ADDR) : "r8", "r15", "memory", "cc");
	check_eq("REX.RB or [r15],r8d TPR", tpr_get(), 0x5E);
	u64 q = 0xFFFFFFFF00000000ull;
	__asm__ volatile("movl (%1), %k0" : "+r"(q) : "r"((u64)TPR_ADDR) : "memory");
	check_eq("32-bit load zero-extends into the 64-bit register", q, 0x5E);
	/* REX.W forms are 8-byte accesses: undefined in the SDM (and Bochs panics on them) */
	if (!undefined_ok)
		goto out;
	__asm__ volatile("movq (%1), %0" : "=r"(q) : "r"((u64)TPR_ADDR) : "memory");
	keel_eq("REX.W mov r64,[TPR] (8-byte read)", q, 0x5E);
	__asm__ volatile("movabsq 0xFEE00030, %%rax" : "=a"(q) : : "memory");
	keel_eq("REX.W mov rax,moffs64 VERSION (8-byte read)", q, ver);
	__asm__ volatile("movq %1, (%0)" : : "r"((u64)TPR_ADDR), "r"(0x77ull) : "memory");
	keel_eq("REX.W mov [TPR],r64 (8-byte write) ignored", tpr_get(), 0x5E);
out:
	tpr_set(0);
}
#endif

/* ------------------------------------------------------------------ partial accesses */
static void partial_forms(void)
{
	u32 v;
	if (!undefined_ok) {
		printf("note: accesses the SDM leaves undefined skipped (only under Keel, or with the "
		       "option 'undefined')\n");
		return;
	}
	tpr_set(0xA5);
	__asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"((uptr)TPR_ADDR) : "memory");
	keel_eq("movzx r32,m8 (0F B6) TPR byte 0", v, 0xA5);
	__asm__ volatile("movsbl (%1), %0" : "=r"(v) : "r"((uptr)TPR_ADDR) : "memory");
	keel_eq("movsx r32,m8 (0F BE) TPR byte 0", v, 0xFFFFFFA5u);
	__asm__ volatile("movzbl (%1), %0" : "=r"(v) : "r"((uptr)TPR_ADDR + 1) : "memory");
	keel_eq("movzx r32,m8 TPR byte 1", v, 0);
	__asm__ volatile("movzwl (%1), %0" : "=r"(v) : "r"((uptr)VER_ADDR + 2) : "memory");
	keel_eq("movzx r32,m16 (0F B7) VERSION bytes 2-3", v, ver >> 16);
	__asm__ volatile("movswl (%1), %0" : "=r"(v) : "r"((uptr)VER_ADDR) : "memory");
	keel_eq("movsx r32,m16 (0F BF) VERSION bytes 0-1", v, (u32)(int32_t)(int16_t)ver);
	v = 0xFFFFFFFFu;
	__asm__ volatile("movb (%1), %b0" : "+q"(v) : "r"((uptr)TPR_ADDR) : "memory");
	keel_eq("mov r8,m8 (8A) keeps the other bytes", v, 0xFFFFFFA5u);
	v = 0xFFFFFFFFu;
	__asm__ volatile("movw (%1), %w0" : "+r"(v) : "r"((uptr)VER_ADDR) : "memory");
	keel_eq("66 mov r16,m16 (66 8B) VERSION", v, 0xFFFF0000u | (ver & 0xFFFF));
	__asm__ volatile("movl (%1), %0" : "=r"(v) : "r"((uptr)VER_ADDR + 1) : "memory");
	keel_eq("unaligned dword read at VERSION+1", v, ver >> 8);
	__asm__ volatile("movl 0x84(%1), %0" : "=r"(v) : "r"((uptr)APIC_DEFAULT_PHYS) : "memory");
	keel_eq("dword read at 0x84 (bytes 4-7 of the TPR slot)", v, 0);
#ifndef __x86_64__
	__asm__ volatile("movb 0xFEE00080, %%al" : "=a"(v) : "a"(0) : "memory");
	keel_eq("mov al,moffs8 (A0) TPR", v, 0xA5);
#endif
	/* writes other than aligned dwords are ignored */
	__asm__ volatile("movb $0x11, (%0)" : : "r"((uptr)TPR_ADDR) : "memory");
	keel_eq("mov m8,imm8 (C6) ignored", tpr_get(), 0xA5);
	__asm__ volatile("movw $0x22, (%0)" : : "r"((uptr)TPR_ADDR) : "memory");
	keel_eq("66 mov m16,imm16 (66 C7) ignored", tpr_get(), 0xA5);
	tpr_set(0xA5);
	__asm__ volatile("movb %1, (%0)" : : "r"((uptr)TPR_ADDR), "q"((u8)0x33) : "memory");
	keel_eq("mov m8,r8 (88) ignored", tpr_get(), 0xA5);
	tpr_set(0xA5);
	__asm__ volatile("movl %1, (%0)" : : "r"((uptr)TPR_ADDR - 1), "r"(0x4400u) : "memory");
	keel_eq("unaligned dword write at TPR-1 ignored", tpr_get(), 0xA5);
	tpr_set(0xA5);
	__asm__ volatile("incb (%0)" : : "r"((uptr)TPR_ADDR) : "memory", "cc");
	keel_eq("inc m8 (FE /0) write ignored", tpr_get(), 0xA5);
	tpr_set(0);
}

void guest_main(void)
{
	uart_init_8n1();
	pic_mask_all();
	keel = cpu_is_keel();
	undefined_ok = keel || cmd_has("undefined");
	apic_use_xapic();
	apic_sw_enable(0xFF);
	ver = xapic_read(APIC_VERSION);
	id = xapic_read(APIC_ID);
	printf("%s: %s, %d-bit, APIC version 0x%x id 0x%x\n", guest_name,
	       keel ? "under Keel" : "no Keel", (int)sizeof(uptr) * 8, ver, id);
	tpr_set(0x2B);
	check_eq("TPR write/read", tpr_get(), 0x2B);
	mov_forms();
	alu_forms();
	bt_far_offset();
	string_forms();
	segment_forms();
#ifdef __x86_64__
	rex_forms();
#endif
	partial_forms();
	check_eq("TPR back to 0", tpr_get(), 0);
}
