/* Part of test_insn.c: insn_decode lengths. */

enum { M_R = 1, M_16 = 2, M_32 = 4, M_64 = 8, M_ALL = 15, M_1632 = 7 };

static const struct dcase {
    unsigned modes;
    const char *hex;
    int len;
} dcases[] = {
    { M_ALL, "90", 1 },
    { M_ALL, "0f 05", 2 },
    { M_64, "48 8b 05 00 00 00 00", 7 },            /* RIP-relative */
    { M_64, "8b 04 25 78 56 34 12", 7 },            /* SIB, no base, no index */
    { M_64, "8b 04 05 00 00 00 00", 7 },            /* SIB base 101 mod 00: disp32 */
    { M_64, "8b 44 05 00", 4 },                     /* SIB base 101 mod 01: RBP + disp8 */
    { M_64 | M_32, "8b 44 24 08", 4 },
    { M_64 | M_32, "8b 84 24 00 01 00 00", 7 },
    { M_64 | M_32, "8b 04 24", 3 },
    { M_64 | M_32, "8b 45 00", 3 },
    { M_32, "8b 05 78 56 34 12", 6 },               /* disp32 absolute */
    { M_64, "f6 05 00 00 00 00 12", 7 },            /* TEST byte [rip], imm8 */
    { M_64, "f7 05 00 00 00 00 78 56 34 12", 10 },
    { M_64, "f7 0d 00 00 00 00 78 56 34 12", 10 },  /* F7 /1: TEST alias */
    { M_64 | M_32, "66 f7 c0 34 12", 5 },
    { M_R | M_16, "f7 c0 34 12", 4 },
    { M_R | M_16, "66 f7 c0 78 56 34 12", 7 },
    { M_64, "48 f7 c0 78 56 34 12", 7 },            /* imm32 even with REX.W */
    { M_ALL, "f6 d0", 2 },                          /* NOT: no immediate */
    { M_64 | M_32, "f7 18", 2 },
    { M_ALL, "0f ba e0 05", 4 },
    { M_64 | M_32, "0f ba 60 10 05", 5 },
    { M_64 | M_32, "0f ba 24 24 05", 5 },
    { M_64, "a1 88 77 66 55 44 33 22 11", 9 },      /* moffs64 */
    { M_64, "48 a1 88 77 66 55 44 33 22 11", 10 },
    { M_64, "67 a1 44 33 22 11", 6 },               /* moffs32 */
    { M_64, "66 67 a3 44 33 22 11", 7 },
    { M_32, "a1 44 33 22 11", 5 },
    { M_32, "67 a1 22 11", 4 },
    { M_R | M_16, "a1 22 11", 3 },
    { M_R | M_16, "67 a1 44 33 22 11", 6 },
    { M_64, "48 b8 88 77 66 55 44 33 22 11", 10 },
    { M_64, "66 48 b8 88 77 66 55 44 33 22 11", 11 },  /* REX.W beats 66 */
    { M_64, "48 66 b8 22 11", 5 },                  /* REX not last: ignored */
    { M_64 | M_32, "b8 44 33 22 11", 5 },
    { M_64 | M_32, "66 b8 22 11", 4 },
    { M_R | M_16, "b8 22 11", 3 },
    { M_R | M_16, "66 b8 44 33 22 11", 6 },
    { M_R | M_16, "8b 06 34 12", 4 },               /* [disp16] */
    { M_R | M_16, "8b 46 02", 3 },                  /* [bp+disp8] */
    { M_R | M_16, "8b 86 34 12", 4 },               /* [bp+disp16] */
    { M_R | M_16, "8b 00", 2 },                     /* [bx+si] */
    { M_R | M_16, "8b 04", 2 },                     /* [si]: no SIB in 16-bit forms */
    { M_R | M_16, "67 8b 04 24", 4 },               /* 32-bit addressing via 67 */
    { M_R | M_16, "67 8b 05 78 56 34 12", 7 },
    { M_R | M_16, "66 67 8b 84 24 00 01 00 00", 9 },
    { M_32, "67 8b 06 34 12", 5 },                  /* 16-bit addressing via 67 */
    { M_32, "67 8b 04", 3 },
    { M_64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", 15 },
    { M_64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", -1 },
    { M_64, "26 2e 36 3e 64 65 66 67 f2 f3 26 2e 48 89 00", 15 },
    { M_64, "26 2e 36 3e 64 65 66 67 f2 f3 26 2e 48 89 40 00", -1 },
    { M_32, "f0 f2 f3 2e 36 3e 26 64 65 66 67 81 00 22 11", 15 },
    { M_32, "f0 f2 f3 2e 36 3e 26 64 65 66 81 80 00 00 00 00 22 11", -1 },
    { M_64 | M_32, "c8 10 00 01", 4 },
    { M_ALL, "c2 08 00", 3 },
    { M_ALL, "ca 08 00", 3 },
    { M_ALL, "cd 80", 2 },
    { M_ALL, "70 fe", 2 },
    { M_64 | M_32, "e8 00 00 00 00", 5 },
    { M_64, "66 e8 00 00 00 00", 6 },               /* Intel: rel32 whatever 66 says */
    { M_64, "66 0f 84 00 00 00 00", 7 },
    { M_32, "66 e8 00 00", 4 },
    { M_R | M_16, "e8 00 00", 3 },
    { M_R | M_16, "0f 84 00 00", 4 },
    { M_64 | M_32, "0f 84 00 00 00 00", 6 },
    { M_32, "9a 00 00 00 00 08 00", 7 },
    { M_R | M_16, "ea 00 00 08 00", 5 },
    { M_64, "9a 00 00 00 00 08 00", -1 },
    { M_64, "06", -1 }, { M_64, "27", -1 }, { M_64, "60", -1 }, { M_64, "d4 0a", -1 },
    { M_64, "ce", -1 }, { M_64, "82 c0 01", -1 }, { M_64, "d6", -1 },
    { M_1632, "06", 1 }, { M_1632, "27", 1 }, { M_1632, "60", 1 }, { M_1632, "d4 0a", 2 },
    { M_1632, "82 c0 01", 3 }, { M_1632, "40", 1 },
    { M_ALL, "0f 38 00 c1", 4 },
    { M_64 | M_32, "66 0f 38 00 04 24", 6 },
    { M_64 | M_32, "66 0f 3a 0f c1 08", 6 },
    { M_64, "66 0f 3a 16 05 00 00 00 00 01", 10 },
    { M_64 | M_32, "c5 f8 77", 3 },                 /* VZEROUPPER: no ModRM */
    { M_64 | M_32, "c5 fc 28 c1", 4 },
    { M_64 | M_32, "c4 e3 7d 18 c1 01", 6 },
    { M_64 | M_32, "c4 e2 79 18 04 24", 6 },
    { M_64 | M_32, "c5 f9 70 c1 1b", 5 },
    { M_64, "c4 c1 7e 6f 44 24 10", 7 },
    { M_64, "c4 e1 f9 7e 05 00 00 00 00", 9 },
    { M_64 | M_32, "66 c5 f8 77", -1 },             /* 66 before VEX: #UD */
    { M_64, "48 c5 f8 77", -1 },
    { M_64, "c4 e4 7d 18 c1 01", -1 },              /* VEX map 4 */
    { M_32, "c4 00", 2 },                           /* LES eax, [eax] */
    { M_32, "c5 05 00 00 00 00", 6 },
    { M_R | M_16, "c4 06 34 12", 4 },                /* LES */
    { M_R, "c5 f8 77", -1 },                        /* VEX: #UD in real mode */
    { M_16, "c5 f8 77", 3 },
    { M_16, "c5 f8 28 06 34 12", 6 },               /* 16-bit addressing inside VEX */
    { M_R, "8f e8 78 c0 c1 05", -1 },
    { M_16, "62 f1 7c 48 28 c1", 6 },
    { M_64 | M_32, "62 f1 7c 48 28 c1", 6 },        /* EVEX */
    { M_64 | M_32, "62 f1 7c 48 28 44 24 01", 8 },
    { M_64 | M_32, "62 f3 7d 48 19 c1 01", 7 },
    { M_64, "62 f1 78 48 28 c1", -1 },              /* EVEX P1 bit 2 clear */
    { M_32, "62 00", 2 },                           /* BOUND */
    { M_64 | M_32, "8f e8 78 c0 c1 05", 6 },        /* XOP map 8: imm8 */
    { M_64 | M_32, "8f e9 78 80 c1", 5 },
    { M_64 | M_32, "8f ea 78 10 c1 44 33 22 11", 9 },  /* XOP map A: imm32 */
    { M_ALL, "8f 00", 2 },                          /* POP r/m */
    { M_ALL, "8f 20", -1 },
    { M_ALL, "0f 0f c1 9e", 4 },                    /* 3DNow! */
    { M_ALL, "0f 20 c0", 3 },
    { M_64 | M_32, "0f 20 00", 3 },                 /* MOV CR ignores mod */
    { M_64 | M_32, "0f 22 05 11 22", 3 },
    { M_ALL, "0f 01 c1", 3 },
    { M_64 | M_32, "0f 01 38", 3 },
    { M_64, "d9 05 00 00 00 00", 6 },
    { M_64 | M_32, "dd 04 24", 3 },
    { M_ALL, "0f 04", -1 }, { M_ALL, "0f 0b", 2 }, { M_ALL, "0f ff 00", 3 },
    { M_ALL, "0f b9 00", 3 }, { M_ALL, "fe 10", -1 }, { M_ALL, "ff 38", -1 },
    { M_ALL, "0f 24 c0", -1 }, { M_ALL, "0f a6", -1 },
    { M_ALL, "f3 0f b8 c1", 4 },
    { M_64 | M_32, "66 0f 78 c1 04 08", 6 },         /* EXTRQ */
    { M_64 | M_32, "0f 78 c1", 3 },                 /* VMREAD */
    { M_64 | M_32, "c6 f8 01", 3 },
    { M_64 | M_32, "c7 f8 00 00 00 00", 6 },
    { M_64 | M_32, "6b c0 05", 3 },
    { M_64 | M_32, "69 c0 78 56 34 12", 6 },
    { M_64 | M_32, "66 69 c0 34 12", 5 },
    { M_64, "8b 04", -1 },                          /* cut short */
    { M_64, "48", -1 },
    { M_64, "f7 05 00 00 00 00 78 56 34", -1 },
    { M_64, "0f", -1 },
    { M_64, "0f 3a 0f c1", -1 },
    { M_64, "f0 41 81 44 24 08 78 56 34 12", 10 },  /* lock add dword [r12+8], imm32 */
    { M_64, "f3 48 a5", 3 },
    { M_64, "65 48 8b 04 25 28 00 00 00", 9 },
};

static int parse_hex(const char *s, uint8_t *out)
{
    int n = 0;
    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        out[n++] = (uint8_t)strtoul((char[]){ s[0], s[1], 0 }, NULL, 16);
        s += 2;
    }
    return n;
}

static const enum emul_mode mode_of_bit[4] = {
    EMUL_MODE_REAL, EMUL_MODE_PROT16, EMUL_MODE_PROT32, EMUL_MODE_LONG64
};

static void test_decode_table(void)
{
    for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
        uint8_t b[32];
        int n = parse_hex(dcases[i].hex, b);
        for (int m = 0; m < 4; m++) {
            if (!(dcases[i].modes & (1u << m)))
                continue;
            /* An exactly-sized heap copy: ASan catches any read past n. */
            uint8_t *h = malloc((size_t)n + !n);
            memcpy(h, b, (size_t)n);
            struct insn in;
            int got = insn_decode(h, (unsigned)n, mode_of_bit[m], &in);
            if (got != dcases[i].len)
                fprintf(stderr, "  decode \"%s\" mode %d: %d, want %d\n", dcases[i].hex, m,
                        got, dcases[i].len);
            CHECK_EQ_U64(got, dcases[i].len);
            if (got > 0) {
                CHECK_EQ_U64(in.len, got);
                CHECK(memcmp(in.bytes, b, (size_t)got) == 0);
                /* Every proper prefix of a valid instruction is cut short. */
                for (int k = 0; k < got; k++)
                    CHECK_EQ_U64(insn_decode(h, (unsigned)k, mode_of_bit[m], &in), -1);
            }
            free(h);
        }
    }
}

static void test_decode_limits(void)
{
    struct insn in;
    uint8_t b[32];
    int n = parse_hex("66 f3 65 67 41 0f b7 04 24", b);
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_LONG64, &in), 9);
    CHECK_EQ_U64(in.op_size, 2);
    CHECK_EQ_U64(in.addr_size, 4);
    CHECK_EQ_U64(in.seg, SEG_GS);
    CHECK_EQ_U64(in.rep, 0xf3);
    CHECK_EQ_U64(in.rex, 0x41);
    CHECK(in.two_byte && in.opcode == 0xb7 && in.has_modrm && in.modrm == 0x04);
    n = parse_hex("3e 8b 00", b);                   /* DS override ignored in 64-bit mode */
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_LONG64, &in), 3);
    CHECK_EQ_U64(in.seg, -1);
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_PROT32, &in), 3);
    CHECK_EQ_U64(in.seg, SEG_DS);
    n = parse_hex("64 3e 8b 03", b);       /* FS stays (checked on an AMD host) */
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_LONG64, &in), 4);
    CHECK_EQ_U64(in.seg, SEG_FS);
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_PROT32, &in), 4);
    CHECK_EQ_U64(in.seg, SEG_DS);               /* elsewhere the last override wins */
    n = parse_hex("f0 f2 48 01 00", b);
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_LONG64, &in), 5);
    CHECK(in.lock && in.rep == 0xf2 && in.op_size == 8 && in.addr_size == 8);
    CHECK_EQ_U64(insn_decode(b, (unsigned)n, EMUL_MODE_REAL, &in), 3);   /* 48 = DEC ax */
    CHECK_EQ_U64(insn_decode(b, 0, EMUL_MODE_LONG64, NULL), -1);
    /* Random bytes: never more than 15, never past n (ASan), stable under a longer buffer. */
    rng_seed(77);
    for (int i = 0; i < 200000; i++) {
        uint8_t r[INSN_MAX_LEN + 5];
        rng_fill(r, sizeof(r));
        enum emul_mode m = (enum emul_mode)rng_below(4);
        unsigned k = (unsigned)rng_below(sizeof(r) + 1);
        uint8_t *h = malloc(k + !k);
        memcpy(h, r, k);
        int a = insn_decode(h, k, m, &in), full = insn_decode(r, sizeof(r), m, NULL);
        CHECK(a >= -1 && a <= INSN_MAX_LEN);
        if (a > 0)
            CHECK_EQ_U64(full, a);
        else if (full > 0)
            CHECK((unsigned)full > k);
        free(h);
    }
}
