/* libFuzzer target for kernel/virt/apf_model.c: the input is a stream of (op, arg) pairs run by
 * the guest/hypervisor simulation in tests/unit/apf_sim.h (faults, time, entry decisions, the
 * guest's handlers and ACKs, mode and flag changes, MSR writes valid or not, INIT). Invariants:
 * every "page not present" gets exactly one "page ready" unless an INIT dropped it, never one
 * while async PF is off, tokens are unique and never 0 or ~0, the model's counters balance
 * after every step, and with the guest cooperating at the end every waiter is woken. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/apf_sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct apf_sim s;
    sim_init(&s, size & 0xFFF);
    for (size_t i = 0; i + 1 < size; i += 2)
        sim_step(&s, data[i], data[i + 1]);
    sim_drain(&s);
    if (s.errors) {
        fprintf(stderr, "invariant failed: %s\n", s.why);
        abort();
    }
    return 0;
}
