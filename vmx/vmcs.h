/* VMX architectural constants: VMCS field encodings (Intel SDM vol. 3, appendix B), basic exit
 * reasons (appendix C), VM-execution/exit/entry control bits, capability MSRs and the EPT entry
 * format. Names follow the SDM (and the customary Linux spellings where the SDM has none). */
#ifndef VMX_VMCS_H
#define VMX_VMCS_H

/* ---- Capability MSRs (SDM appendix A) ---- */
#define MSR_IA32_VMX_BASIC              0x480
#define MSR_IA32_VMX_PINBASED_CTLS      0x481
#define MSR_IA32_VMX_PROCBASED_CTLS     0x482
#define MSR_IA32_VMX_EXIT_CTLS          0x483
#define MSR_IA32_VMX_ENTRY_CTLS         0x484
#define MSR_IA32_VMX_MISC               0x485
#define MSR_IA32_VMX_CR0_FIXED0         0x486
#define MSR_IA32_VMX_CR0_FIXED1         0x487
#define MSR_IA32_VMX_CR4_FIXED0         0x488
#define MSR_IA32_VMX_CR4_FIXED1         0x489
#define MSR_IA32_VMX_VMCS_ENUM          0x48A
#define MSR_IA32_VMX_PROCBASED_CTLS2    0x48B
#define MSR_IA32_VMX_EPT_VPID_CAP       0x48C
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS  0x48D
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS 0x48E
#define MSR_IA32_VMX_TRUE_EXIT_CTLS     0x48F
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS    0x490

#define MSR_IA32_TSC                    0x010
#define MSR_IA32_SYSENTER_CS            0x174
#define MSR_IA32_SYSENTER_ESP           0x175
#define MSR_IA32_SYSENTER_EIP           0x176

#define FEATURE_CONTROL_LOCKED          (1ul << 0)
#define FEATURE_CONTROL_VMXON_IN_SMX    (1ul << 1)
#define FEATURE_CONTROL_VMXON_OUTSIDE_SMX (1ul << 2)

#define VMX_BASIC_REVISION_MASK         0x7FFFFFFFul
#define VMX_BASIC_REGION_SIZE(b)        (((b) >> 32) & 0x1FFF)
#define VMX_BASIC_32BIT_ADDR            (1ul << 48)
#define VMX_BASIC_MEM_TYPE(b)           (((b) >> 50) & 0xF)
#define VMX_BASIC_TRUE_CTLS             (1ul << 55)

#define VMX_MISC_PREEMPT_RATE_MASK      0x1F
#define VMX_MISC_SAVE_EFER_LMA          (1ul << 5)   /* exits store LMA in "IA-32e mode guest" */

/* IA32_VMX_EPT_VPID_CAP */
#define VMX_EPT_EXECUTE_ONLY            (1ul << 0)
#define VMX_EPT_PAGE_WALK_4             (1ul << 6)
#define VMX_EPT_MT_UC                   (1ul << 8)
#define VMX_EPT_MT_WB                   (1ul << 14)
#define VMX_EPT_2MB_PAGE                (1ul << 16)
#define VMX_EPT_1GB_PAGE                (1ul << 17)
#define VMX_EPT_INVEPT                  (1ul << 20)
#define VMX_EPT_AD                      (1ul << 21)
#define VMX_EPT_INVEPT_SINGLE           (1ul << 25)
#define VMX_EPT_INVEPT_ALL              (1ul << 26)
#define VMX_VPID_INVVPID                (1ul << 32)
#define VMX_VPID_INVVPID_ADDR           (1ul << 40)
#define VMX_VPID_INVVPID_SINGLE         (1ul << 41)
#define VMX_VPID_INVVPID_ALL            (1ul << 42)

/* INVEPT / INVVPID types */
#define INVEPT_SINGLE_CONTEXT           1
#define INVEPT_ALL_CONTEXT              2
#define INVVPID_SINGLE_CONTEXT          1
#define INVVPID_ALL_CONTEXT             2

/* ---- Pin-based VM-execution controls ---- */
#define PIN_EXT_INT_EXITING             (1u << 0)
#define PIN_NMI_EXITING                 (1u << 3)
#define PIN_VIRTUAL_NMIS                (1u << 5)
#define PIN_PREEMPTION_TIMER            (1u << 6)
#define PIN_POSTED_INTERRUPTS           (1u << 7)

/* ---- Primary processor-based VM-execution controls ---- */
#define CPU_INTR_WINDOW_EXITING         (1u << 2)
#define CPU_USE_TSC_OFFSETTING          (1u << 3)
#define CPU_HLT_EXITING                 (1u << 7)
#define CPU_INVLPG_EXITING              (1u << 9)
#define CPU_MWAIT_EXITING               (1u << 10)
#define CPU_RDPMC_EXITING               (1u << 11)
#define CPU_RDTSC_EXITING               (1u << 12)
#define CPU_CR3_LOAD_EXITING            (1u << 15)
#define CPU_CR3_STORE_EXITING           (1u << 16)
#define CPU_CR8_LOAD_EXITING            (1u << 19)
#define CPU_CR8_STORE_EXITING           (1u << 20)
#define CPU_USE_TPR_SHADOW              (1u << 21)
#define CPU_NMI_WINDOW_EXITING          (1u << 22)
#define CPU_MOV_DR_EXITING              (1u << 23)
#define CPU_UNCOND_IO_EXITING           (1u << 24)
#define CPU_USE_IO_BITMAPS              (1u << 25)
#define CPU_MONITOR_TRAP_FLAG           (1u << 27)
#define CPU_USE_MSR_BITMAPS             (1u << 28)
#define CPU_MONITOR_EXITING             (1u << 29)
#define CPU_PAUSE_EXITING               (1u << 30)
#define CPU_ACTIVATE_SECONDARY          (1u << 31)

/* ---- Secondary processor-based VM-execution controls ---- */
#define SEC_VIRT_APIC_ACCESSES          (1u << 0)
#define SEC_ENABLE_EPT                  (1u << 1)
#define SEC_DESC_TABLE_EXITING          (1u << 2)
#define SEC_ENABLE_RDTSCP               (1u << 3)
#define SEC_VIRT_X2APIC_MODE            (1u << 4)
#define SEC_ENABLE_VPID                 (1u << 5)
#define SEC_WBINVD_EXITING              (1u << 6)
#define SEC_UNRESTRICTED_GUEST          (1u << 7)
#define SEC_APIC_REGISTER_VIRT          (1u << 8)
#define SEC_VIRT_INTR_DELIVERY          (1u << 9)
#define SEC_PAUSE_LOOP_EXITING          (1u << 10)
#define SEC_RDRAND_EXITING              (1u << 11)
#define SEC_ENABLE_INVPCID              (1u << 12)
#define SEC_ENABLE_VMFUNC               (1u << 13)
#define SEC_VMCS_SHADOWING              (1u << 14)
#define SEC_RDSEED_EXITING              (1u << 16)
#define SEC_ENABLE_PML                  (1u << 17)
#define SEC_EPT_VIOLATION_VE            (1u << 18)
#define SEC_ENABLE_XSAVES               (1u << 20)

/* ---- VM-exit controls ---- */
#define EXIT_SAVE_DEBUG_CONTROLS        (1u << 2)
#define EXIT_HOST_ADDR_SPACE_SIZE       (1u << 9)
#define EXIT_LOAD_PERF_GLOBAL_CTRL      (1u << 12)
#define EXIT_ACK_INTR_ON_EXIT           (1u << 15)
#define EXIT_SAVE_IA32_PAT              (1u << 18)
#define EXIT_LOAD_IA32_PAT              (1u << 19)
#define EXIT_SAVE_IA32_EFER             (1u << 20)
#define EXIT_LOAD_IA32_EFER             (1u << 21)
#define EXIT_SAVE_PREEMPTION_TIMER      (1u << 22)

/* ---- VM-entry controls ---- */
#define ENTRY_LOAD_DEBUG_CONTROLS       (1u << 2)
#define ENTRY_IA32E_MODE                (1u << 9)
#define ENTRY_SMM                       (1u << 10)
#define ENTRY_DEACT_DUAL_MONITOR        (1u << 11)
#define ENTRY_LOAD_PERF_GLOBAL_CTRL     (1u << 13)
#define ENTRY_LOAD_IA32_PAT             (1u << 14)
#define ENTRY_LOAD_IA32_EFER            (1u << 15)

/* ---- VMCS field encodings (appendix B) ---- */
enum vmcs_field {
    /* 16-bit control */
    VIRTUAL_PROCESSOR_ID            = 0x0000,
    POSTED_INTR_NV                  = 0x0002,
    EPTP_INDEX                      = 0x0004,
    /* 16-bit guest state */
    GUEST_ES_SELECTOR               = 0x0800,
    GUEST_CS_SELECTOR               = 0x0802,
    GUEST_SS_SELECTOR               = 0x0804,
    GUEST_DS_SELECTOR               = 0x0806,
    GUEST_FS_SELECTOR               = 0x0808,
    GUEST_GS_SELECTOR               = 0x080A,
    GUEST_LDTR_SELECTOR             = 0x080C,
    GUEST_TR_SELECTOR               = 0x080E,
    GUEST_INTR_STATUS               = 0x0810,
    GUEST_PML_INDEX                 = 0x0812,
    /* 16-bit host state */
    HOST_ES_SELECTOR                = 0x0C00,
    HOST_CS_SELECTOR                = 0x0C02,
    HOST_SS_SELECTOR                = 0x0C04,
    HOST_DS_SELECTOR                = 0x0C06,
    HOST_FS_SELECTOR                = 0x0C08,
    HOST_GS_SELECTOR                = 0x0C0A,
    HOST_TR_SELECTOR                = 0x0C0C,
    /* 64-bit control */
    IO_BITMAP_A                     = 0x2000,
    IO_BITMAP_B                     = 0x2002,
    MSR_BITMAP                      = 0x2004,
    VM_EXIT_MSR_STORE_ADDR          = 0x2006,
    VM_EXIT_MSR_LOAD_ADDR           = 0x2008,
    VM_ENTRY_MSR_LOAD_ADDR          = 0x200A,
    EXECUTIVE_VMCS_POINTER          = 0x200C,
    PML_ADDRESS                     = 0x200E,
    TSC_OFFSET                      = 0x2010,
    VIRTUAL_APIC_PAGE_ADDR          = 0x2012,
    APIC_ACCESS_ADDR                = 0x2014,
    POSTED_INTR_DESC_ADDR           = 0x2016,
    VM_FUNCTION_CONTROL             = 0x2018,
    EPT_POINTER                     = 0x201A,
    EOI_EXIT_BITMAP0                = 0x201C,
    EPTP_LIST_ADDRESS               = 0x2024,
    VMREAD_BITMAP                   = 0x2026,
    VMWRITE_BITMAP                  = 0x2028,
    VE_INFORMATION_ADDRESS          = 0x202A,
    XSS_EXIT_BITMAP                 = 0x202C,
    TSC_MULTIPLIER                  = 0x2032,
    /* 64-bit read-only data */
    GUEST_PHYSICAL_ADDRESS          = 0x2400,
    /* 64-bit guest state */
    VMCS_LINK_POINTER               = 0x2800,
    GUEST_IA32_DEBUGCTL             = 0x2802,
    GUEST_IA32_PAT                  = 0x2804,
    GUEST_IA32_EFER                 = 0x2806,
    GUEST_IA32_PERF_GLOBAL_CTRL     = 0x2808,
    GUEST_PDPTE0                    = 0x280A,
    GUEST_PDPTE1                    = 0x280C,
    GUEST_PDPTE2                    = 0x280E,
    GUEST_PDPTE3                    = 0x2810,
    GUEST_IA32_BNDCFGS              = 0x2812,
    /* 64-bit host state */
    HOST_IA32_PAT                   = 0x2C00,
    HOST_IA32_EFER                  = 0x2C02,
    HOST_IA32_PERF_GLOBAL_CTRL      = 0x2C04,
    /* 32-bit control */
    PIN_BASED_VM_EXEC_CONTROL       = 0x4000,
    CPU_BASED_VM_EXEC_CONTROL       = 0x4002,
    EXCEPTION_BITMAP                = 0x4004,
    PAGE_FAULT_ERROR_CODE_MASK      = 0x4006,
    PAGE_FAULT_ERROR_CODE_MATCH     = 0x4008,
    CR3_TARGET_COUNT                = 0x400A,
    VM_EXIT_CONTROLS                = 0x400C,
    VM_EXIT_MSR_STORE_COUNT         = 0x400E,
    VM_EXIT_MSR_LOAD_COUNT          = 0x4010,
    VM_ENTRY_CONTROLS               = 0x4012,
    VM_ENTRY_MSR_LOAD_COUNT         = 0x4014,
    VM_ENTRY_INTR_INFO              = 0x4016,
    VM_ENTRY_EXCEPTION_ERROR_CODE   = 0x4018,
    VM_ENTRY_INSTRUCTION_LEN        = 0x401A,
    TPR_THRESHOLD                   = 0x401C,
    SECONDARY_VM_EXEC_CONTROL       = 0x401E,
    PLE_GAP                         = 0x4020,
    PLE_WINDOW                      = 0x4022,
    /* 32-bit read-only data */
    VM_INSTRUCTION_ERROR            = 0x4400,
    VM_EXIT_REASON                  = 0x4402,
    VM_EXIT_INTR_INFO               = 0x4404,
    VM_EXIT_INTR_ERROR_CODE         = 0x4406,
    IDT_VECTORING_INFO              = 0x4408,
    IDT_VECTORING_ERROR_CODE        = 0x440A,
    VM_EXIT_INSTRUCTION_LEN         = 0x440C,
    VMX_INSTRUCTION_INFO            = 0x440E,
    /* 32-bit guest state */
    GUEST_ES_LIMIT                  = 0x4800,
    GUEST_CS_LIMIT                  = 0x4802,
    GUEST_SS_LIMIT                  = 0x4804,
    GUEST_DS_LIMIT                  = 0x4806,
    GUEST_FS_LIMIT                  = 0x4808,
    GUEST_GS_LIMIT                  = 0x480A,
    GUEST_LDTR_LIMIT                = 0x480C,
    GUEST_TR_LIMIT                  = 0x480E,
    GUEST_GDTR_LIMIT                = 0x4810,
    GUEST_IDTR_LIMIT                = 0x4812,
    GUEST_ES_AR_BYTES               = 0x4814,
    GUEST_CS_AR_BYTES               = 0x4816,
    GUEST_SS_AR_BYTES               = 0x4818,
    GUEST_DS_AR_BYTES               = 0x481A,
    GUEST_FS_AR_BYTES               = 0x481C,
    GUEST_GS_AR_BYTES               = 0x481E,
    GUEST_LDTR_AR_BYTES             = 0x4820,
    GUEST_TR_AR_BYTES               = 0x4822,
    GUEST_INTERRUPTIBILITY_INFO     = 0x4824,
    GUEST_ACTIVITY_STATE            = 0x4826,
    GUEST_SMBASE                    = 0x4828,
    GUEST_SYSENTER_CS               = 0x482A,
    VMX_PREEMPTION_TIMER_VALUE      = 0x482E,
    /* 32-bit host state */
    HOST_IA32_SYSENTER_CS           = 0x4C00,
    /* natural-width control */
    CR0_GUEST_HOST_MASK             = 0x6000,
    CR4_GUEST_HOST_MASK             = 0x6002,
    CR0_READ_SHADOW                 = 0x6004,
    CR4_READ_SHADOW                 = 0x6006,
    CR3_TARGET_VALUE0               = 0x6008,
    /* natural-width read-only data */
    EXIT_QUALIFICATION              = 0x6400,
    IO_RCX                          = 0x6402,
    IO_RSI                          = 0x6404,
    IO_RDI                          = 0x6406,
    IO_RIP                          = 0x6408,
    GUEST_LINEAR_ADDRESS            = 0x640A,
    /* natural-width guest state */
    GUEST_CR0                       = 0x6800,
    GUEST_CR3                       = 0x6802,
    GUEST_CR4                       = 0x6804,
    GUEST_ES_BASE                   = 0x6806,
    GUEST_CS_BASE                   = 0x6808,
    GUEST_SS_BASE                   = 0x680A,
    GUEST_DS_BASE                   = 0x680C,
    GUEST_FS_BASE                   = 0x680E,
    GUEST_GS_BASE                   = 0x6810,
    GUEST_LDTR_BASE                 = 0x6812,
    GUEST_TR_BASE                   = 0x6814,
    GUEST_GDTR_BASE                 = 0x6816,
    GUEST_IDTR_BASE                 = 0x6818,
    GUEST_DR7                       = 0x681A,
    GUEST_RSP                       = 0x681C,
    GUEST_RIP                       = 0x681E,
    GUEST_RFLAGS                    = 0x6820,
    GUEST_PENDING_DBG_EXCEPTIONS    = 0x6822,
    GUEST_SYSENTER_ESP              = 0x6824,
    GUEST_SYSENTER_EIP              = 0x6826,
    /* natural-width host state */
    HOST_CR0                        = 0x6C00,
    HOST_CR3                        = 0x6C02,
    HOST_CR4                        = 0x6C04,
    HOST_FS_BASE                    = 0x6C06,
    HOST_GS_BASE                    = 0x6C08,
    HOST_TR_BASE                    = 0x6C0A,
    HOST_GDTR_BASE                  = 0x6C0C,
    HOST_IDTR_BASE                  = 0x6C0E,
    HOST_IA32_SYSENTER_ESP          = 0x6C10,
    HOST_IA32_SYSENTER_EIP          = 0x6C12,
    HOST_RSP                        = 0x6C14,
    HOST_RIP                        = 0x6C16,
};

/* ---- Basic exit reasons (appendix C) ---- */
#define VMX_EXIT_EXCEPTION_NMI          0
#define VMX_EXIT_EXTERNAL_INTERRUPT     1
#define VMX_EXIT_TRIPLE_FAULT           2
#define VMX_EXIT_INIT_SIGNAL            3
#define VMX_EXIT_SIPI                   4
#define VMX_EXIT_IO_SMI                 5
#define VMX_EXIT_OTHER_SMI              6
#define VMX_EXIT_INTERRUPT_WINDOW       7
#define VMX_EXIT_NMI_WINDOW             8
#define VMX_EXIT_TASK_SWITCH            9
#define VMX_EXIT_CPUID                  10
#define VMX_EXIT_GETSEC                 11
#define VMX_EXIT_HLT                    12
#define VMX_EXIT_INVD                   13
#define VMX_EXIT_INVLPG                 14
#define VMX_EXIT_RDPMC                  15
#define VMX_EXIT_RDTSC                  16
#define VMX_EXIT_RSM                    17
#define VMX_EXIT_VMCALL                 18
#define VMX_EXIT_VMCLEAR                19
#define VMX_EXIT_VMLAUNCH               20
#define VMX_EXIT_VMPTRLD                21
#define VMX_EXIT_VMPTRST                22
#define VMX_EXIT_VMREAD                 23
#define VMX_EXIT_VMRESUME               24
#define VMX_EXIT_VMWRITE                25
#define VMX_EXIT_VMXOFF                 26
#define VMX_EXIT_VMXON                  27
#define VMX_EXIT_CR_ACCESS              28
#define VMX_EXIT_DR_ACCESS              29
#define VMX_EXIT_IO_INSTRUCTION         30
#define VMX_EXIT_RDMSR                  31
#define VMX_EXIT_WRMSR                  32
#define VMX_EXIT_ENTRY_FAIL_GUEST       33  /* VM-entry failure: invalid guest state */
#define VMX_EXIT_ENTRY_FAIL_MSR         34  /* VM-entry failure: MSR loading */
#define VMX_EXIT_MWAIT                  36
#define VMX_EXIT_MONITOR_TRAP_FLAG      37
#define VMX_EXIT_MONITOR                39
#define VMX_EXIT_PAUSE                  40
#define VMX_EXIT_ENTRY_FAIL_MC          41  /* VM-entry failure: machine-check event */
#define VMX_EXIT_TPR_BELOW_THRESHOLD    43
#define VMX_EXIT_APIC_ACCESS            44
#define VMX_EXIT_VIRTUALIZED_EOI        45
#define VMX_EXIT_GDTR_IDTR              46
#define VMX_EXIT_LDTR_TR                47
#define VMX_EXIT_EPT_VIOLATION          48
#define VMX_EXIT_EPT_MISCONFIG          49
#define VMX_EXIT_INVEPT                 50
#define VMX_EXIT_RDTSCP                 51
#define VMX_EXIT_PREEMPTION_TIMER       52
#define VMX_EXIT_INVVPID                53
#define VMX_EXIT_WBINVD                 54
#define VMX_EXIT_XSETBV                 55
#define VMX_EXIT_APIC_WRITE             56
#define VMX_EXIT_RDRAND                 57
#define VMX_EXIT_INVPCID                58
#define VMX_EXIT_VMFUNC                 59
#define VMX_EXIT_ENCLS                  60
#define VMX_EXIT_RDSEED                 61
#define VMX_EXIT_PML_FULL               62
#define VMX_EXIT_XSAVES                 63
#define VMX_EXIT_XRSTORS                64
#define VMX_EXIT_PCONFIG                65
#define VMX_EXIT_SPP                    66
#define VMX_EXIT_UMWAIT                 67
#define VMX_EXIT_TPAUSE                 68
#define VMX_EXIT_LOADIWKEY              69
#define VMX_EXIT_ENCLV                  70
#define VMX_EXIT_ENQCMD_PASID           72
#define VMX_EXIT_ENQCMDS_PASID          73
#define VMX_EXIT_BUS_LOCK               74
#define VMX_EXIT_NOTIFY                 75
#define VMX_EXIT_SEAMCALL               76
#define VMX_EXIT_TDCALL                 77
#define VMX_EXIT_RDMSRLIST              78
#define VMX_EXIT_WRMSRLIST              79
#define VMX_EXIT_REASONS                81  /* basic reasons 0..80 get their own counter slot */

#define VMX_EXIT_REASON_BASIC(r)        ((r) & 0xFFFF)
#define VMX_EXIT_REASON_ENTRY_FAIL      (1u << 31)

/* ---- VM-instruction error numbers (SDM 31.4) ---- */
#define VMXERR_VMLAUNCH_NONCLEAR        4
#define VMXERR_VMRESUME_NONLAUNCHED     5
#define VMXERR_ENTRY_INVALID_CONTROL    7
#define VMXERR_ENTRY_INVALID_HOST_STATE 8

/* ---- Interruption-information fields (VM-entry, VM-exit, IDT-vectoring) ---- */
#define INTR_INFO_VECTOR_MASK           0xFFu
#define INTR_INFO_TYPE_SHIFT            8
#define INTR_INFO_TYPE_MASK             (7u << 8)
#define INTR_INFO_DELIVER_CODE          (1u << 11)
#define INTR_INFO_NMI_UNBLOCK_IRET      (1u << 12)
#define INTR_INFO_VALID                 (1u << 31)
#define INTR_TYPE_EXT_INTR              (0u << 8)
#define INTR_TYPE_NMI                   (2u << 8)
#define INTR_TYPE_HARD_EXCEPTION        (3u << 8)
#define INTR_TYPE_SOFT_INTR             (4u << 8)
#define INTR_TYPE_PRIV_SOFT_EXCEPTION   (5u << 8)
#define INTR_TYPE_SOFT_EXCEPTION        (6u << 8)

/* Guest interruptibility state */
#define GUEST_INTR_STATE_STI            (1u << 0)
#define GUEST_INTR_STATE_MOV_SS         (1u << 1)
#define GUEST_INTR_STATE_SMI            (1u << 2)
#define GUEST_INTR_STATE_NMI            (1u << 3)

/* Guest activity state */
#define GUEST_ACTIVITY_ACTIVE           0
#define GUEST_ACTIVITY_HLT              1
#define GUEST_ACTIVITY_SHUTDOWN         2
#define GUEST_ACTIVITY_WAIT_SIPI        3

/* Segment access rights ("AR bytes"): the descriptor's bits 40-47 and 52-55, plus "unusable". */
#define VMX_AR_TYPE_MASK                0x0Fu
#define VMX_AR_S                        (1u << 4)
#define VMX_AR_DPL_SHIFT                5
#define VMX_AR_P                        (1u << 7)
#define VMX_AR_AVL                      (1u << 12)
#define VMX_AR_L                        (1u << 13)
#define VMX_AR_DB                       (1u << 14)
#define VMX_AR_G                        (1u << 15)
#define VMX_AR_UNUSABLE                 (1u << 16)

/* ---- Exit qualifications ---- */
/* Control-register accesses (table 28-3) */
#define CR_QUAL_NUM(q)                  ((q) & 0xF)
#define CR_QUAL_TYPE(q)                 (((q) >> 4) & 3)
#define CR_QUAL_TYPE_MOV_TO_CR          0
#define CR_QUAL_TYPE_MOV_FROM_CR        1
#define CR_QUAL_TYPE_CLTS               2
#define CR_QUAL_TYPE_LMSW               3
#define CR_QUAL_GPR(q)                  (((q) >> 8) & 0xF)
#define CR_QUAL_LMSW_DATA(q)            (((q) >> 16) & 0xFFFF)
/* I/O instructions (table 28-5) */
#define IO_QUAL_SIZE(q)                 (((q) & 7) + 1)
#define IO_QUAL_IN                      (1u << 3)
#define IO_QUAL_STRING                  (1u << 4)
#define IO_QUAL_REP                     (1u << 5)
#define IO_QUAL_PORT(q)                 (((q) >> 16) & 0xFFFF)
/* EPT violations (table 28-7) */
#define EPT_QUAL_READ                   (1u << 0)
#define EPT_QUAL_WRITE                  (1u << 1)
#define EPT_QUAL_FETCH                  (1u << 2)
#define EPT_QUAL_NMI_UNBLOCK            (1u << 12)
/* Entry failure due to invalid guest state */
#define ENTRY_FAIL_QUAL_PDPTE           2
#define ENTRY_FAIL_QUAL_NMI_INJECT      3
#define ENTRY_FAIL_QUAL_LINK_PTR        4

/* ---- EPT paging-structure entries and EPTP (SDM 29.3) ---- */
#define EPT_R                           (1ul << 0)
#define EPT_W                           (1ul << 1)
#define EPT_X                           (1ul << 2)
#define EPT_RWX                         (EPT_R | EPT_W | EPT_X)
#define EPT_MT_SHIFT                    3
#define EPT_MT_UC                       0ul
#define EPT_MT_WB                       6ul
#define EPT_IGNORE_PAT                  (1ul << 6)
#define EPT_LARGE                       (1ul << 7)
#define EPTP_MT_WB                      6ul
#define EPTP_WALK_4                     (3ul << 3)
#define EPTP_AD                         (1ul << 6)

#endif
