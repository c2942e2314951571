/* Part of test_insn.c: 16/32/64-bit semantics, faults, REP batching and string I/O against
 * expected values. Code sits at CS:0x100 (CS base 0x10000 outside 64-bit mode). */

#define RFL_CF 0x1
#define RFL_ZF 0x40
#define RFL_SF 0x80
#define RFL_DF 0x400
#define RFL_OF 0x800

static void test_real_mode(void)
{
    /* mov [bx+si+4], ax: DS-based, 16-bit sum */
    SETUP(EMUL_MODE_REAL, "\x89\x40\x04");
    cpu.seg_base[SEG_DS] = 0x1000;
    R[3] = 0xdead0100; R[6] = 0x20; R[0] = 0x11112222;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x103);
    CHECK_EQ_U64(rd64(0x1124) & 0xffff, 0x2222);
    /* 16-bit wrap of BX+SI+disp */
    SETUP(EMUL_MODE_REAL, "\x88\x40\x04");
    cpu.seg_base[SEG_DS] = 0x1000;
    R[3] = 0xfffe; R[6] = 0x1; R[0] = 0x77;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x1003], 0x77);
    /* mov ax, [bp+2]: SS default; with a DS override: DS */
    SETUP(EMUL_MODE_REAL, "\x8b\x46\x02");
    cpu.seg_base[SEG_SS] = 0x2000; cpu.seg_base[SEG_DS] = 0x3000;
    R[5] = 0x10; R[0] = 0xffffffffffff0000ull;
    wr64(0x2012, 0xbeef); wr64(0x3012, 0xcafe);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0xffffffffffffbeefull);    /* 16-bit write keeps the rest */
    SETUP(EMUL_MODE_REAL, "\x3e\x8b\x46\x02");
    cpu.seg_base[SEG_SS] = 0x2000; cpu.seg_base[SEG_DS] = 0x3000;
    R[5] = 0x10;
    wr64(0x3012, 0xcafe);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0xcafe);
    CHECK_EQ_U64(cpu.rip, 0x104);
    /* mov al, [0x1234] (mod 00 r/m 110: disp16 only); mov ah, [..] */
    SETUP(EMUL_MODE_REAL, "\x8a\x26\x34\x12");
    fmem[0x1234] = 0x5a; R[0] = 0x1111;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x5a11);
    /* 67 66 mov eax, [ebx+ecx*4+8]: 32-bit addressing in real mode */
    SETUP(EMUL_MODE_REAL, "\x67\x66\x8b\x44\x8b\x08");
    R[3] = 0x1000; R[1] = 0x10;
    wr64(0x1048, 0x12345678);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x12345678);
    CHECK_EQ_U64(cpu.rip, 0x106);
    /* moffs16 and 67 moffs32 */
    SETUP(EMUL_MODE_REAL, "\xa1\x00\x20");
    cpu.seg_base[SEG_DS] = 0x100;
    wr64(0x2100, 0x4321);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x4321);
    SETUP(EMUL_MODE_REAL, "\x67\xa3\x00\x20\x01\x00");
    R[0] = 0xabcd;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(rd64(0x12000) & 0xffffff, 0xabcd);
    CHECK_EQ_U64(cpu.rip, 0x106);
    /* IP wraps at 64K in a 16-bit code segment */
    SETUP(EMUL_MODE_PROT16, "");
    cpu.rip = 0xfffe;
    memcpy(fmem + 0x10000 + 0xfffe, "\x89\x07", 2);
    R[3] = 0x500; R[0] = 0x99;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0);
    CHECK_EQ_U64(fmem[0x500], 0x99);
}

static void test_prot32(void)
{
    /* 32-bit writes zero-extend, 16-bit keep the rest */
    SETUP(EMUL_MODE_PROT32, "\x8b\x03");
    R[3] = 0x800; R[0] = 0xffffffff00000000ull;
    wr64(0x800, 0x87654321);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x87654321);
    SETUP(EMUL_MODE_PROT32, "\x66\x8b\x03");
    R[3] = 0x800; R[0] = 0xaaaaaaaa00000000ull;
    wr64(0x800, 0x87654321);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0xaaaaaaaa00004321ull);
    /* mod 00 r/m 101 is an absolute disp32 (not RIP-relative) */
    SETUP(EMUL_MODE_PROT32, "\x8b\x05\x00\x09\x00\x00");
    cpu.seg_base[SEG_DS] = 0x100;
    wr64(0xa00, 0x1234);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x1234);
    /* SIB without base: [ecx*4 + disp32] */
    SETUP(EMUL_MODE_PROT32, "\x89\x04\x8d\x00\x10\x00\x00");
    R[1] = 4; R[0] = 0x55667788;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(rd64(0x1010) & 0xffffffff, 0x55667788);
    /* [esp+8] and [ebp+0] use SS */
    SETUP(EMUL_MODE_PROT32, "\x89\x44\x24\x08");
    cpu.seg_base[SEG_SS] = 0x4000; R[4] = 0x10; R[0] = 0x31;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x4018], 0x31);
    SETUP(EMUL_MODE_PROT32, "\x89\x45\x00");
    cpu.seg_base[SEG_SS] = 0x4000; R[5] = 0x20; R[0] = 0x32;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x4020], 0x32);
    /* 67: 16-bit addressing [bx+di] */
    SETUP(EMUL_MODE_PROT32, "\x67\x89\x01");
    R[3] = 0x10700; R[7] = 0x10; R[0] = 0x33;   /* upper bits of BX ignored */
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x710], 0x33);
    /* 32-bit address wrap */
    SETUP(EMUL_MODE_PROT32, "\x88\x43\x20");
    R[3] = 0xfffffff0; R[0] = 0x34;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x10], 0x34);
    /* 67 rep movsb: SI/DI/CX are 16-bit and wrap; upper halves stay */
    SETUP(EMUL_MODE_PROT32, "\x67\xf3\xa4");
    R[6] = 0xabcdfffe; R[7] = 0x12340800; R[1] = 0x77770004;
    memcpy(fmem + 0xfffe, "ab", 2);
    memcpy(fmem, "cd", 2);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x103);
    CHECK_EQ_U64(R[6], 0xabcd0002);
    CHECK_EQ_U64(R[7], 0x12340804);
    CHECK_EQ_U64(R[1], 0x77770000);
    CHECK(memcmp(fmem + 0x800, "abcd", 4) == 0);
    /* 82 is 80's alias outside 64-bit mode; INC/DEC 40-4F */
    SETUP(EMUL_MODE_PROT32, "\x82\xc0\x01");
    R[0] = 0xff;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0);
    CHECK_EQ_U64(cpu.rflags & (RFL_CF | RFL_ZF), RFL_CF | RFL_ZF);
    SETUP(EMUL_MODE_PROT32, "\x4b");
    R[3] = 0; cpu.rflags |= RFL_CF;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[3], 0xffffffff);
    CHECK_EQ_U64(cpu.rflags & (RFL_CF | RFL_SF | RFL_ZF), RFL_CF | RFL_SF);
    /* 63 is ARPL outside 64-bit mode: not emulated */
    SETUP(EMUL_MODE_PROT32, "\x63\xc0");
    CHECK_EQ_U64(step(), EMUL_UNHANDLED);
    CHECK_EQ_U64(cpu.rip, 0x100);
}

static void test_long64(void)
{
    /* RIP-relative: relative to the next instruction */
    SETUP(EMUL_MODE_LONG64, "\x48\x8b\x05\x10\x00\x00\x00");
    wr64(0x117, 0x1122334455667788ull);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x1122334455667788ull);
    CHECK_EQ_U64(cpu.rip, 0x107);
    /* FS override adds the FS base; DS/ES/SS overrides and bases are ignored */
    SETUP(EMUL_MODE_LONG64, "\x64\x89\x03");
    cpu.seg_base[SEG_FS] = 0x2000; R[3] = 0x10; R[0] = 0x41;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x2010], 0x41);
    SETUP(EMUL_MODE_LONG64, "\x3e\x89\x03");
    cpu.seg_base[SEG_DS] = 0x2000; R[3] = 0x10; R[0] = 0x42;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x10], 0x42);
    /* AH vs SPL: without REX 88 e0 is mov al, ah; with REX it is mov al, spl */
    SETUP(EMUL_MODE_LONG64, "\x88\xe0");
    R[0] = 0x1234; R[4] = 0x99;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x1212);
    SETUP(EMUL_MODE_LONG64, "\x40\x88\xe0");
    R[0] = 0x1234; R[4] = 0x99;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0x1299);
    /* 67: 32-bit address from EBX, upper bits ignored */
    SETUP(EMUL_MODE_LONG64, "\x67\x89\x03");
    R[3] = 0xffff000000000300ull; R[0] = 0x43;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x300], 0x43);
    /* mov eax, imm32 zero-extends; mov ax keeps; REX.W C7 sign-extends */
    SETUP(EMUL_MODE_LONG64, "\xb8\x01\x00\x00\x00");
    R[0] = ~0ull;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 1);
    SETUP(EMUL_MODE_LONG64, "\x48\xc7\xc0\x00\x00\x00\x80");
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[0], 0xffffffff80000000ull);
    /* moffs64 */
    SETUP(EMUL_MODE_LONG64, "\x48\xa3\x00\x05\x00\x00\x00\x00\x00\x00");
    R[0] = 0x0102030405060708ull;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(rd64(0x500), 0x0102030405060708ull);
    CHECK_EQ_U64(cpu.rip, 0x10a);
    /* BT with a negative register offset reaches below the operand */
    SETUP(EMUL_MODE_LONG64, "\x48\x0f\xab\x03");   /* bts [rbx], rax */
    R[3] = 0x808; R[0] = (uint64_t)-1;             /* bit 63 of the qword at 0x800 */
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(rd64(0x800), 1ull << 63);
    CHECK_EQ_U64(cpu.rflags & RFL_CF, 0);
}

static void test_faults(void)
{
    /* non-canonical: #GP(0), through RSP/RBP: #SS(0) */
    SETUP(EMUL_MODE_LONG64, "\x89\x03");
    R[3] = 0x0000800000000000ull;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK(flt.vector == 13 && flt.has_error && flt.error == 0);
    CHECK_EQ_U64(cpu.rip, 0x100);
    SETUP(EMUL_MODE_LONG64, "\x48\x89\x03");       /* the last byte non-canonical */
    R[3] = 0x00007ffffffffffcull;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 13);
    SETUP(EMUL_MODE_LONG64, "\x89\x45\x00");
    R[5] = 0x8000000000000000ull;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 12);
    CHECK_EQ_U64(f_reads + f_writes, 0);
    /* LOCK: on a register destination, on MOV, on CMP: #UD; on a memory ADD: fine */
    SETUP(EMUL_MODE_LONG64, "\xf0\x01\xc0");
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK(flt.vector == 6 && !flt.has_error);
    SETUP(EMUL_MODE_LONG64, "\xf0\x89\x03");
    R[3] = 0x800;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 6);
    SETUP(EMUL_MODE_LONG64, "\xf0\x39\x03");
    R[3] = 0x800;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 6);
    SETUP(EMUL_MODE_LONG64, "\xf0\x01\x03");
    R[3] = 0x800; R[0] = 5;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(fmem[0x800], 5);
    /* a #PF from the ops passes through; nothing changes */
    SETUP(EMUL_MODE_LONG64, "\x48\x01\x03");
    R[3] = 0x40000; R[0] = 5; cpu.rflags = 0x2 | RFL_CF;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK(flt.vector == 14 && flt.cr2 == 0x40000 && flt.error == 2);
    CHECK_EQ_U64(cpu.rflags, 0x2 | RFL_CF);
    CHECK_EQ_U64(cpu.rip, 0x100);
    /* the write faulting after the read: flags and registers untouched */
    SETUP(EMUL_MODE_LONG64, "\x87\x03");            /* xchg [rbx], eax */
    R[3] = 0x800; R[0] = 7; fmem[0x800] = 9;
    f_fail_at = 1;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(R[0], 7);
    CHECK_EQ_U64(fmem[0x800], 9);
    /* unsupported but valid: UNHANDLED; invalid: #UD; too long: #GP(0) */
    SETUP(EMUL_MODE_LONG64, "\x50");
    CHECK_EQ_U64(step(), EMUL_UNHANDLED);
    SETUP(EMUL_MODE_LONG64, "\x0f\x22\xd8");
    CHECK_EQ_U64(step(), EMUL_UNHANDLED);
    SETUP(EMUL_MODE_LONG64, "\xf7\x30");            /* div */
    CHECK_EQ_U64(step(), EMUL_UNHANDLED);
    SETUP(EMUL_MODE_LONG64, "\x0f\x04");
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 6);
    SETUP(EMUL_MODE_LONG64, "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x90");
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK(flt.vector == 13 && flt.has_error);
    /* a fault on fetch is passed through */
    SETUP(EMUL_MODE_LONG64, "");
    cpu.rip = FMEM_SIZE - 4;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 14);
    /* a non-canonical RIP */
    SETUP(EMUL_MODE_LONG64, "");
    cpu.rip = 0x0000800000000000ull;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 13);
}

static void test_rep_batches(void)
{
    /* rep stosb with RCX = 300: 128, 128, then 44 and RIP moves */
    SETUP(EMUL_MODE_LONG64, "\xf3\xaa");
    R[7] = 0x1000; R[1] = 300; R[0] = 0xee;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x100);
    CHECK_EQ_U64(R[1], 172);
    CHECK_EQ_U64(R[7], 0x1080);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x100);
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x102);
    CHECK_EQ_U64(R[1], 0);
    CHECK_EQ_U64(R[7], 0x1000 + 300);
    CHECK(fmem[0x1000] == 0xee && fmem[0x1000 + 299] == 0xee && fmem[0x1000 + 300] == 0);
    /* RCX = 0: nothing, RIP moves */
    SETUP(EMUL_MODE_LONG64, "\xf3\x48\xa5");
    R[6] = 0x1000; R[7] = 0x2000;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x103);
    CHECK_EQ_U64(f_reads + f_writes, 0);
    /* 67 in 64-bit: ECX counts; the write zero-extends */
    SETUP(EMUL_MODE_LONG64, "\x67\xf3\xaa");
    R[7] = 0xffff000000001000ull; R[1] = 0x1234567800000002ull;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(R[1], 0);
    CHECK_EQ_U64(R[7], 0x1002);
    /* repe cmpsb stops at the first difference, with DF=1 going down */
    SETUP(EMUL_MODE_LONG64, "\xf3\xa6");
    memcpy(fmem + 0x1000, "xxabcd", 6);
    memcpy(fmem + 0x2000, "yyabcd", 6);
    R[6] = 0x1005; R[7] = 0x2005; R[1] = 10; cpu.rflags |= RFL_DF;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x102);
    CHECK_EQ_U64(R[1], 10 - 5);
    CHECK_EQ_U64(R[6], 0x1000);
    CHECK_EQ_U64(cpu.rflags & RFL_ZF, 0);
    /* repne scasb: a match stops at once */
    SETUP(EMUL_MODE_LONG64, "\xf2\xae");
    memcpy(fmem + 0x1000, "abcdefgh", 8);
    R[7] = 0x1000; R[1] = 1000; R[0] = 'e';
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(cpu.rip, 0x102);
    CHECK_EQ_U64(R[1], 995);
    CHECK_EQ_U64(R[7], 0x1005);
    CHECK(cpu.rflags & RFL_ZF);
    /* a fault in the middle keeps the progress and RIP */
    SETUP(EMUL_MODE_LONG64, "\xf3\xa4");
    R[6] = 0x1000; R[7] = FMEM_SIZE - 3; R[1] = 10;
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 14);
    CHECK_EQ_U64(R[1], 7);
    CHECK_EQ_U64(R[7], FMEM_SIZE);
    CHECK_EQ_U64(cpu.rip, 0x100);
}

static void test_string_io(void)
{
    /* rep outsw from DS:SI (with an ES override), rep insb to ES:DI */
    SETUP(EMUL_MODE_REAL, "\x26\xf3\x6f");
    cpu.seg_base[SEG_ES] = 0x3000;
    memcpy(fmem + 0x3010, "\x01\x02\x03\x04\x05\x06", 6);
    R[6] = 0x10; R[1] = 3; R[2] = 0x3f8;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(pio_log_n, 3);
    CHECK(pio_log[0].out && pio_log[0].port == 0x3f8 && pio_log[0].len == 2);
    CHECK_EQ_U64(pio_log[2].val, 0x0605);
    CHECK_EQ_U64(R[6], 0x16);
    CHECK_EQ_U64(cpu.rip, 0x103);
    SETUP(EMUL_MODE_PROT32, "\x64\xf3\x6c");       /* the FS override does not apply to ES:DI */
    cpu.seg_base[SEG_ES] = 0x3000; cpu.seg_base[SEG_FS] = 0x8000;
    R[7] = 0x20; R[1] = 2; R[2] = 0x60;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(pio_log_n, 2);
    CHECK(!pio_log[0].out && pio_log[0].len == 1);
    CHECK_EQ_U64(fmem[0x3020], pio_log[0].val);
    CHECK_EQ_U64(fmem[0x3021], pio_log[1].val);
    CHECK_EQ_U64(R[7], 0x22);
    /* 64-bit insd: the operand size caps at 4 */
    SETUP(EMUL_MODE_LONG64, "\x48\x6d");
    R[7] = 0x800; R[2] = 0x1234;
    CHECK_EQ_U64(step(), EMUL_OK);
    CHECK_EQ_U64(pio_log[0].len, 4);
    CHECK_EQ_U64(R[7], 0x804);
    /* no port callbacks: not handled */
    SETUP(EMUL_MODE_LONG64, "\x6e");
    struct emul_ops noport = fops;
    noport.pio_out = NULL;
    CHECK_EQ_U64(emul_step(&cpu, &noport, NULL, &flt, NULL), EMUL_UNHANDLED);
    SETUP(EMUL_MODE_LONG64, "\x6c");
    R[7] = 0x800;
    CHECK_EQ_U64(emul_step(&cpu, &noport, NULL, &flt, NULL), EMUL_OK);   /* INS needs pio_in */
    CHECK_EQ_U64(cpu.rip, 0x101);
    cpu.rip = 0x100;
    noport.pio_in = NULL;
    CHECK_EQ_U64(emul_step(&cpu, &noport, NULL, &flt, NULL), EMUL_UNHANDLED);
    /* lods with LOCK: #UD */
    SETUP(EMUL_MODE_LONG64, "\xf0\xac");
    CHECK_EQ_U64(step(), EMUL_FAULT);
    CHECK_EQ_U64(flt.vector, 6);
}
