/* Switching the guest state no VMCS/VMCB field holds (struct vcpu_cpu_state). Keel itself never
 * touches it (-mgeneral-regs-only, no SYSCALL, no debug registers), so it is switched only when
 * a vCPU starts or stops running on a CPU: today each vCPU owns its CPU, and a CPU given to
 * another vCPU (after a reset, or once CPUs are shared) loads that vCPU's state first. */
#include "kernel/virt/vcpu.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "kernel/lib/string.h"

#define MSR_TSC_AUX     0xC0000103u
#define FCW_INIT        0x037Fu         /* x87 control word as FNINIT (and firmware) leave it */
#define MXCSR_INIT      0x1F80u         /* all SIMD exceptions masked, round to nearest */
#define DR6_INIT        0xFFFF0FF0ul
#define FXSAVE_MXCSR    24              /* byte offset of MXCSR in the FXSAVE image */

static void init_values(struct vcpu_cpu_state *s)
{
    memset(s, 0, sizeof *s);
    s->fxsave[0] = FCW_INIT & 0xFF;     /* FSW, abridged FTW (all empty), the rest: 0 */
    s->fxsave[1] = FCW_INIT >> 8;
    uint32_t mxcsr = MXCSR_INIT;
    memcpy(&s->fxsave[FXSAVE_MXCSR], &mxcsr, 4);
    s->dr6 = DR6_INIT;
    s->valid = true;
}

void vcpu_state_load(struct vcpu *v)
{
    struct vcpu_cpu_state *s = &v->cstate;
    if (!s->valid)
        init_values(s);
    __asm__ volatile("fxrstor64 %0" :: "m"(*(const uint8_t (*)[512])s->fxsave));
    write_dr0(s->dr[0]);
    write_dr1(s->dr[1]);
    write_dr2(s->dr[2]);
    write_dr3(s->dr[3]);
    write_dr6(s->dr6);
    wrmsr(MSR_STAR, s->star);
    wrmsr(MSR_LSTAR, s->lstar);
    wrmsr(MSR_CSTAR, s->cstar);
    wrmsr(MSR_SFMASK, s->sfmask);
    wrmsr(MSR_KERNEL_GS_BASE, s->kernel_gs_base);
    wrmsr_safe(MSR_TSC_AUX, s->tsc_aux);       /* #GP on a CPU without RDTSCP: nothing to hide */
}

void vcpu_state_save(struct vcpu *v)
{
    struct vcpu_cpu_state *s = &v->cstate;
    __asm__ volatile("fxsave64 %0" : "=m"(*(uint8_t (*)[512])s->fxsave));
    s->dr[0] = read_dr0();
    s->dr[1] = read_dr1();
    s->dr[2] = read_dr2();
    s->dr[3] = read_dr3();
    s->dr6 = read_dr6();
    s->star = rdmsr(MSR_STAR);
    s->lstar = rdmsr(MSR_LSTAR);
    s->cstar = rdmsr(MSR_CSTAR);
    s->sfmask = rdmsr(MSR_SFMASK);
    s->kernel_gs_base = rdmsr(MSR_KERNEL_GS_BASE);
    uint64_t aux = 0;
    if (rdmsr_safe(MSR_TSC_AUX, &aux))
        s->tsc_aux = aux;
    s->valid = true;
    /* Nothing of it stays behind for whoever runs here next. */
    struct vcpu_cpu_state init;
    init_values(&init);
    __asm__ volatile("fxrstor64 %0" :: "m"(*(const uint8_t (*)[512])init.fxsave));
}
