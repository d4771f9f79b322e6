/*
 * What happens after KVM_RUN returns, as a verdict: one switch on the exit
 * reason, a pure function of the shared run page, the buses and the vCPU's
 * counters. Port and MMIO accesses go to the device that registered the
 * address on the bus (vmm/base/bus.h); everything else comes back as "stop, with
 * this status and reason", or, for an instruction KVM could not emulate, as
 * the instruction's bytes for the vCPU loop to complete on a PVM host
 * (vmm/insn_fixup.h). It touches no vCPU descriptor and no VM: vcpu.c turns
 * a verdict into a stop, and tests hand it a fabricated kvm_run page.
 */
#ifndef MINIVMM_EXIT_H
#define MINIVMM_EXIT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/bus.h"
#include "vmm/stats.h"
#include "vmm/unclaimed.h"

/* What one vCPU's exits are dispatched against. */
struct exit_env {
	int id;			/* the vCPU's, for reasons */
	size_t run_size;	/* the run page's size (KVM_GET_VCPU_MMAP_SIZE) */
	struct bus_reader *pio; /* this vCPU's hazard slots on the buses */
	struct bus_reader *mmio;
	struct unclaimed_log *unclaimed;
};

enum exit_kind {
	EXIT_RUN_AGAIN,	   /* handled: KVM_RUN again */
	EXIT_STOP,	   /* stop the VM, as the exit_stop says */
	EXIT_NOT_EMULATED, /* KVM could not emulate the exit_stop's insn (insn_len 0: not given) */
};

/* Filled in only for EXIT_STOP and EXIT_NOT_EMULATED, so that the common
 * case returns one enum in a register. */
struct exit_stop {
	int status;
	const char *dump; /* non-NULL: dump the registers first, saying this */
	char reason[192];
	char detail[192]; /* a line to print before stopping, or "" */
	uint8_t insn[16]; /* KVM gives 15 at most (run->emulation_failure) */
	size_t insn_len;
};

/* Handles the exit the run page holds. Counts it in stats (by reason, and
 * by bus range with stats->range_lat set for its latency). */
enum exit_kind exit_dispatch(struct kvm_run *run, const struct exit_env *env,
			     struct vcpu_stats *stats, struct exit_stop *why);

#endif
