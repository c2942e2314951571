/* Guest writes to CR0, CR3 and CR4 on SVM. VMRUN refuses some states (CR0.NW without CD, reserved
 * CR3/CR4 bits, long mode without PAE) that real CPUs never let a guest create, but QEMU's TCG
 * lets the guest's MOV to CRn through unchecked. So Keel intercepts the writes to CR0 (all of them:
 * QEMU's selective intercept ignores bits 63:32), CR3, CR4 and CR8, checks them as the APM's
 * MOV CRn does, and raises #GP where a CPU would.
 * Without decode assists the exit says nothing about the instruction: it is fetched from the
 * guest (vcpu_fetch_insn, kernel/virt/mmio.c) and decoded here: MOV to CRn (0F 22 /r, with REX and the
 * LOCK-prefixed CR8 alias), LMSW (0F 01 /6, register or memory operand) and CLTS (0F 06). */
#include "svm/svm.h"
#include "kernel/virt/exit.h"
#include "kernel/emul/insn.h"
#include "kernel/virt/vm.h"
#include "kernel/log.h"
#include "kernel/x86.h"

#define CR4_PSE         (1ul << 4)
#define CR4_PCIDE       (1ul << 17)
#define CR4_SMEP        (1ul << 20)
#define CR4_SMAP        (1ul << 21)
#define CR3_LM_RESERVED 0xFFF0000000000000ul    /* bits 63:52 in long mode */

enum cr_op { CR_MOV, CR_LMSW, CR_CLTS };

struct cr_insn {
    enum cr_op op;
    unsigned cr;            /* CR_MOV: the control register */
    uint64_t src;           /* the value written (LMSW: the 16-bit operand) */
    unsigned len;
};

static uint64_t gpr(struct vcpu *v, const struct vmcb *vmcb, unsigned r)
{
    return r == GPR_RSP ? vmcb->save.rsp : v->gpr[r];
}

static bool long_mode64(const struct vmcb *vmcb)
{
    return (vmcb->save.efer & EFER_LMA) && (vmcb->save.cs.attrib & SVM_SEG_L);
}

/* LMSW's memory operand: the ModRM effective address (16-, 32- or 64-bit addressing) plus
 * the segment base. p points at the ModRM byte; returns the bytes after the opcode. */
static int lmsw_mem(struct vcpu *v, const struct vmcb *vmcb, const uint8_t *p, unsigned rex,
                    unsigned asize, int seg, unsigned next_ip_off, uint64_t *src)
{
    unsigned mod = p[0] >> 6, rm = p[0] & 7, n = 1;
    uint64_t ea = 0;
    bool ss_default = false;
    if (asize == 16) {
        static const int8_t b[8] = { GPR_RBX, GPR_RBX, GPR_RBP, GPR_RBP, -1, -1, GPR_RBP, GPR_RBX };
        static const int8_t x[8] = { GPR_RSI, GPR_RDI, GPR_RSI, GPR_RDI, GPR_RSI, GPR_RDI, -1, -1 };
        if (mod == 0 && rm == 6) {
            ea = (uint16_t)(p[1] | p[2] << 8);
            n += 2;
        } else {
            if (b[rm] >= 0)
                ea += gpr(v, vmcb, (unsigned)b[rm]);
            if (x[rm] >= 0)
                ea += gpr(v, vmcb, (unsigned)x[rm]);
            ss_default = b[rm] == GPR_RBP;
            if (mod == 1)
                ea += (uint64_t)(int64_t)(int8_t)p[n++];
            else if (mod == 2) {
                ea += (uint16_t)(p[n] | p[n + 1] << 8);
                n += 2;
            }
        }
        ea &= 0xFFFF;
    } else {
        bool rip_rel = false;
        if (rm == 4) {                                  /* SIB */
            unsigned sib = p[n++], base = (sib & 7) | (rex & 1) << 3;
            unsigned index = ((sib >> 3) & 7) | (rex & 2) << 2;
            if (index != GPR_RSP)
                ea += gpr(v, vmcb, index) << (sib >> 6);
            if ((sib & 7) == 5 && mod == 0) {
                ea += (uint64_t)(int64_t)(int32_t)(p[n] | p[n + 1] << 8 | p[n + 2] << 16 |
                                                   (uint32_t)p[n + 3] << 24);
                n += 4;
            } else {
                ea += gpr(v, vmcb, base);
                ss_default = (base & 7) == GPR_RSP || (base & 7) == GPR_RBP;
            }
        } else if (rm == 5 && mod == 0) {
            ea = (uint64_t)(int64_t)(int32_t)(p[n] | p[n + 1] << 8 | p[n + 2] << 16 |
                                              (uint32_t)p[n + 3] << 24);
            n += 4;
            rip_rel = long_mode64(vmcb);
        } else {
            ea = gpr(v, vmcb, rm | (rex & 1) << 3);
            ss_default = rm == GPR_RBP;
        }
        if (mod == 1)
            ea += (uint64_t)(int64_t)(int8_t)p[n++];
        else if (mod == 2) {
            ea += (uint64_t)(int64_t)(int32_t)(p[n] | p[n + 1] << 8 | p[n + 2] << 16 |
                                               (uint32_t)p[n + 3] << 24);
            n += 4;
        }
        if (rip_rel)
            ea += vmcb->save.rip + next_ip_off + n;
        if (asize == 32)
            ea &= 0xFFFFFFFFul;
    }
    if (seg < 0)
        seg = ss_default ? 2 : 3;                       /* SS or DS */
    const struct vmcb_seg *s = &vmcb->save.es + seg;    /* ES CS SS DS FS GS in a row */
    uint64_t la = ea;
    if (!long_mode64(vmcb))
        la = (la + s->base) & 0xFFFFFFFFul;
    else if (seg >= 4)
        la += s->base;
    uint16_t w = 0;
    if (vcpu_read_linear(v, la, &w, 2) != 0)
        return -1;
    *src = w;
    return (int)n;
}

/* Decodes the instruction at RIP; false when it is none of the CR writes this file knows. */
static bool decode(struct vcpu *v, const struct vmcb *vmcb, struct cr_insn *d)
{
    uint8_t b[INSN_MAX_LEN + 4] = { 0 };
    if (vcpu_fetch_insn(v, b, INSN_MAX_LEN) != 0)
        return false;
    bool lm = long_mode64(vmcb), lock = false;
    bool d32 = lm || (vmcb->save.cs.attrib & SVM_SEG_DB);
    unsigned i = 0, rex = 0, asize = lm ? 64 : d32 ? 32 : 16;
    int seg = -1;
    for (; i < INSN_MAX_LEN; i++) {
        uint8_t c = b[i];
        if (c == 0x26 || c == 0x2E || c == 0x36 || c == 0x3E)
            seg = (c >> 3) & 3;                         /* ES CS SS DS */
        else if (c == 0x64 || c == 0x65)
            seg = c - 0x60;                             /* FS GS */
        else if (c == 0x67)
            asize = lm ? 32 : d32 ? 16 : 32;
        else if (c == 0xF0)
            lock = true;
        else if (c != 0x66 && c != 0xF2 && c != 0xF3)
            break;
    }
    if (lm && i < INSN_MAX_LEN && (b[i] & 0xF0) == 0x40)
        rex = b[i++] & 0xF;
    if (i + 3 > INSN_MAX_LEN || b[i] != 0x0F)
        return false;
    uint8_t op = b[i + 1], modrm = b[i + 2];
    if (op == 0x06) {
        d->op = CR_CLTS;
        d->len = i + 2;
        return true;
    }
    unsigned reg = (modrm >> 3) & 7;
    if (op == 0x22) {                                   /* MOV CRn, r: mod is ignored */
        d->op = CR_MOV;
        d->cr = reg | (rex & 4) << 1;
        if (lock && d->cr == 0)
            d->cr = 8;                                  /* AltMovCr8 */
        d->src = gpr(v, vmcb, (modrm & 7) | (rex & 1) << 3);
        if (!lm)
            d->src &= 0xFFFFFFFFul;
        d->len = i + 3;
        return true;
    }
    if (op == 0x01 && reg == 6) {                       /* LMSW r/m16 */
        d->op = CR_LMSW;
        if (modrm >> 6 == 3) {
            d->src = gpr(v, vmcb, (modrm & 7) | (rex & 1) << 3) & 0xFFFF;
            d->len = i + 3;
            return true;
        }
        int n = lmsw_mem(v, vmcb, b + i + 2, rex, asize, seg, i + 2, &d->src);
        if (n < 0)
            return false;
        d->len = i + 2 + (unsigned)n;
        return true;
    }
    return false;
}

static int gp(struct vcpu *v)
{
    vcpu_inject_exception(v, X86_GP, true, 0);
    return EXIT_RETRY;
}

static int done(struct vcpu *v, struct vmcb *vmcb, unsigned len)
{
    vmcb->save.rip = svm_caps.nrips ? vmcb->control.next_rip : vmcb->save.rip + len;
    vmcb->control.int_state = 0;
    exit_insn_done(v, vmcb->save.rflags);
    return EXIT_RETRY;
}

static void flush_guest_tlb(struct vmcb *vmcb)
{
    vmcb->control.tlb_control = svm_caps.tlb_flush;
}

/* APM MOV CRn / LMSW: #GP for bits 63:32, NW without CD, PG without PE; entering long mode
 * needs CR4.PAE (and not CS.L); leaving paging from 64-bit code is refused. */
static int set_cr0(struct vcpu *v, struct vmcb *vmcb, uint64_t val, unsigned len)
{
    struct vmcb_save *g = &vmcb->save;
    uint64_t old = g->cr0, efer = g->efer;
    val |= CR0_ET;
    if ((val >> 32) || ((val & CR0_NW) && !(val & CR0_CD)) || ((val & CR0_PG) && !(val & CR0_PE)))
        return gp(v);
    if (!(old & CR0_PG) && (val & CR0_PG) && (efer & EFER_LME)) {
        if (!(g->cr4 & CR4_PAE) || (g->cs.attrib & SVM_SEG_L))
            return gp(v);
        efer |= EFER_LMA;
    }
    if ((old & CR0_PG) && !(val & CR0_PG) && (efer & EFER_LMA)) {
        if (g->cs.attrib & SVM_SEG_L)
            return gp(v);
        efer &= ~EFER_LMA;
    }
    g->cr0 = val;
    g->efer = efer;
    if ((old ^ val) & (CR0_PG | CR0_PE | CR0_WP | CR0_CD))
        flush_guest_tlb(vmcb);
    return done(v, vmcb, len);
}

static int set_cr3(struct vcpu *v, struct vmcb *vmcb, uint64_t val, unsigned len)
{
    if ((vmcb->save.efer & EFER_LMA) && (val & CR3_LM_RESERVED))
        return gp(v);
    vmcb->save.cr3 = val;
    flush_guest_tlb(vmcb);              /* what the MOV would have done to non-global entries */
    return done(v, vmcb, len);
}

static int set_cr4(struct vcpu *v, struct vmcb *vmcb, uint64_t val, unsigned len)
{
    struct vmcb_save *g = &vmcb->save;
    if ((val & ~guest_cr4_allowed()) || ((g->efer & EFER_LMA) && !(val & CR4_PAE)))
        return gp(v);
    if ((g->cr4 ^ val) & (CR4_PSE | CR4_PAE | CR4_PGE | CR4_SMEP | CR4_SMAP | CR4_PCIDE))
        flush_guest_tlb(vmcb);
    g->cr4 = val;
    return done(v, vmcb, len);
}

/* CR8 is the TPR: with V_INTR_MASKING the guest's lives in V_TPR. Bits 63:4 are reserved. */
static int set_cr8(struct vcpu *v, struct vmcb *vmcb, uint64_t val, unsigned len)
{
    if (val & ~0xFul)
        return gp(v);
    vmcb->control.int_ctl = (vmcb->control.int_ctl & ~V_TPR_MASK) | val;
    return done(v, vmcb, len);
}

/* The instruction could not be read or is not a CR write: the guest changed its code or tables
 * under its own feet. Run it again; it exits again if it still is one. */
static int undecodable(struct vcpu *v, const struct vmcb *vmcb)
{
    pr_debug("svm: vm %s: CR write at rip=%#lx not decoded; retried\n", v->vm->name,
             vmcb->save.rip);
    return EXIT_RETRY;
}

int svm_exit_cr_write(struct vcpu *v)
{
    struct vmcb *vmcb = svm_vmcb(v);
    unsigned code = (unsigned)vmcb->control.exit_code;
    struct cr_insn d;
    if (!decode(v, vmcb, &d))
        return undecodable(v, vmcb);
    if (d.op == CR_CLTS)
        return set_cr0(v, vmcb, vmcb->save.cr0 & ~CR0_TS, d.len);
    if (d.op == CR_LMSW) {
        /* Bits 3:0 only, and PE can be set but never cleared. */
        uint64_t old = vmcb->save.cr0;
        return set_cr0(v, vmcb, (old & ~0xEul) | (d.src & 0xF) | (old & CR0_PE), d.len);
    }
    unsigned want = code - SVM_EXIT_WRITE_CR0;
    if (d.cr != want)
        return undecodable(v, vmcb);
    switch (d.cr) {
    case 0:     return set_cr0(v, vmcb, d.src, d.len);
    case 3:     return set_cr3(v, vmcb, d.src, d.len);
    case 8:     return set_cr8(v, vmcb, d.src, d.len);
    default:    return set_cr4(v, vmcb, d.src, d.len);
    }
}
