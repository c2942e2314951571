/* Keel test-guest runtime: tiny freestanding library shared by all guests.
 * Works in 32-bit protected mode (-m32) and in 64-bit long mode (-m64). */
#ifndef KEEL_GUEST_RT_H
#define KEEL_GUEST_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef uintptr_t uptr;

#define MB1_BOOT_MAGIC 0x2BADB002u
#define MB2_BOOT_MAGIC 0x36D76289u

#define UART_BASE 0x3f8
#define EXIT_PORT 0xf4

/* ---- provided by each guest ---- */
extern const char guest_name[]; /* compiled-in default name (ELF file name) */
void guest_main(void);

/* ---- port I/O ---- */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* ---- interrupt flag ---- */
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* STI's one-instruction interrupt shadow makes "sti; hlt" race-free: an interrupt pending
 * at the STI is taken after (i.e. wakes) the HLT, never between the two. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline uptr read_flags(void)
{
	uptr f;
	__asm__ volatile("pushf; pop %0" : "=r"(f) :: "memory");
	return f;
}
/* cli and return the previous flags; irq_restore() puts IF back as it was */
static inline uptr irq_save(void) { uptr f = read_flags(); cli(); return f; }
static inline void irq_restore(uptr f) { if (f & 0x200) sti(); }

/* ---- MSRs without fault detection (a #GP is an unexpected exception) ---- */
static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return ((u64)hi << 32) | lo;
}
static inline void wrmsr(u32 msr, u64 v)
{
	__asm__ volatile("wrmsr" ::"a"((u32)v), "d"((u32)(v >> 32)), "c"(msr) : "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

struct cpuid_regs { u32 eax, ebx, ecx, edx; };
static inline struct cpuid_regs cpuid(u32 leaf, u32 sub)
{
	struct cpuid_regs r;
	__asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(sub));
	return r;
}

static inline uptr read_cr0(void) { uptr v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline uptr read_cr4(void) { uptr v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }

/* ---- string helpers (also what gcc may call implicitly) ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* 64-by-32 division without libgcc (works in 32-bit mode). */
u64 udiv64(u64 n, u32 d, u32 *rem);

/* ---- console: COM1, polls LSR.THRE (bounded) before each byte ---- */
void putc_uart(char c);
/* 8N1, divisor 1 (115200 baud): Bochs honours the line control register and its reset value
 * means 5-bit characters; guests that may run on a bare emulator after a non-UART loader call
 * this first. */
static inline void uart_init_8n1(void)
{
	outb(UART_BASE + 3, 0x80); /* LCR.DLAB */
	outb(UART_BASE + 0, 1);    /* DLL */
	outb(UART_BASE + 1, 0);    /* DLM */
	outb(UART_BASE + 3, 0x03); /* LCR: 8 data bits, no parity, 1 stop bit */
}
void puts_uart(const char *s); /* no newline added */
/* printf-lite: %d %u %x %s %c %%, with l/ll (64-bit) and zero-pad width (%08x). %p = 0x<hex>. */
void vprintf_(const char *fmt, va_list ap);
void printf_(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
#define printf printf_

/* ---- checks: print `ok <what>` or `FAIL <what>...`; failures are counted ---- */
extern int g_fails;
void ok(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
void fail(const char *fmt, ...) __attribute__((format(__printf__, 1, 2)));
/* `ok <what>` / `FAIL <what>: got 0x<got> want 0x<want>`; returns 1 when equal */
int check_eq(const char *what, u64 got, u64 want);
/* `ok <what>` / `FAIL <what>` (cond false); returns cond */
int check(const char *what, int cond);

/* ---- exit ---- */
/* Writes v to port 0xf4 (width from cmdline exit_width=1|2|4, default 4). Never returns. */
__attribute__((noreturn)) void guest_exit(u32 v);
/* Prints `done: <n> failure(s)` and exits with min(g_fails, 100). */
__attribute__((noreturn)) void finish(void);
__attribute__((noreturn)) void spin_forever(void);
void delay_pauses(u32 n);

/* ---- command line (the guest's own, copied from the multiboot info) ---- */
const char *cmdline(void);                     /* whole line, "" if none */
const char *cmd_first_word(char *buf, size_t n); /* copies the first word */
int cmd_has(const char *word);                 /* exact word present */
const char *cmd_get(const char *key);          /* value after key= (up to space), or NULL */
u64 cmd_num(const char *key, u64 dflt);        /* decimal or 0x-hex */
u64 cmd_size(const char *key, u64 dflt);       /* number with optional K/M/G suffix */
int parse_num(const char *s, u64 *out, int allow_suffix);

/* ---- multiboot info, parsed once at start ---- */
#define BI_MAX_MMAP 32
#define BI_MAX_MODS 8
struct bi_mmap { u64 base, len; u32 type; };
struct bi_mod { u32 start, end; char cmd[64]; };
struct bootinfo {
	int mb;            /* 1 or 2 (from the magic), 0 = unknown */
	u32 magic;
	uptr info;         /* physical address of the info structure */
	u32 info_size;     /* mb2 total_size; mb1: sizeof fixed part */
	u32 mb1_flags;
	int have_cmdline, have_loader, have_mem, have_mmap, have_mods;
	uptr cmdline_addr;
	char cmdline[512];
	char loader[64];
	u32 mem_lower, mem_upper;
	int nmmap;
	struct bi_mmap mmap[BI_MAX_MMAP];
	uptr mmap_addr; u32 mmap_size;
	int nmods;
	struct bi_mod mods[BI_MAX_MODS];
	u32 entry_eflags;  /* EFLAGS as found at entry */
	u32 entry_cr0;     /* CR0 as found at entry (before the stub changes anything) */
	int bss_dirty;     /* number of non-zero bytes found in .bss at start */
	uptr acpi_old, acpi_new;       /* mb2 ACPI tags 14/15: address of the RSDP copy, 0 = none */
	u32 acpi_old_len, acpi_new_len;
};
extern struct bootinfo g_boot;

/* Standard boot checks shared by all guests: magic, entry state, info flags/tags,
 * cmdline name, memory size (expect_mem=<size>, default 16M), modules (expect_mods=<n>).
 * default_name: name the first cmdline word must equal (expect_name=<w> overrides);
 * NULL = only check it when expect_name= is given. */
void boot_checks(const char *default_name);

/* image bounds from the linker script */
extern char __image_start[], __image_end[], __stack_bottom[], __stack_top[];
extern char __bss_start[], __bss_end[];

/* ---- exceptions ---- */
/* Arm the exception catcher: an exception with vector `vec` (-1 = any) is recorded and the
 * faulting instruction is skipped by `skip` bytes. Stays armed until exc_disarm(). */
void exc_arm(int vec, int skip);
/* Disarm; returns how many exceptions were caught while armed. */
int exc_disarm(void);
extern volatile int exc_last_vec;
extern volatile uptr exc_last_err;
extern volatile uptr exc_last_ip;
const char *exc_name(int vec);
void idt_init(void);
void idt_load_empty(void); /* lidt with limit 0 (for the triple-fault guest) */

/* ---- interrupts (IDT vectors 0-255) ---- */
/* Register fn for vector vec (0-255; NULL removes it). Vectors 32-255 without a handler print
 * `FAIL unexpected interrupt <vec>` and exit with status 232. For 0-31 a handler is called
 * instead of the "unexpected exception" path (e.g. NMI = 2), but an armed exc_arm() catcher
 * takes precedence. Handlers run with IF=0 (interrupt gates) on the interrupted stack; the
 * handler must do its own APIC EOI. */
typedef void (*irq_handler_t)(int vec);
void irq_set_handler(int vec, irq_handler_t fn);
/* Point IDT vector vec straight at an assembly stub (interrupt gate, no C dispatch, no
 * irq_count): for benchmarks that want the shortest possible handler. The stub ends in IRET. */
void idt_set_raw(int vec, uptr stub);
/* number of times each vector was delivered to a registered handler (0-255) */
extern volatile u32 irq_count[256];

/* ---- cpu vendor / hypercalls ---- */
int cpu_is_amd(void); /* AuthenticAMD / HygonGenuine -> VMMCALL */
void cpu_vendor(char out[13]);
/* Keel hypercall: RAX = nr, args in RBX, RCX, RDX, RSI; result in RAX.
 * Picks VMCALL (Intel) or VMMCALL (AMD). Returns the full RAX (64-bit in long mode). */
uptr hypercall(uptr nr, uptr a1, uptr a2, uptr a3, uptr a4);
#define KEEL_HC_PING 0
#define KEEL_PING_REPLY 0x4B45454Cu

/* ---- MSRs with fault detection ---- */
/* return 0 on success, or the exception vector + 1 (e.g. 14 for #GP) */
int rdmsr_safe(u32 msr, u64 *val);
int wrmsr_safe(u32 msr, u64 val);

#endif
