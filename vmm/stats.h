/*
 * Exit statistics. Each vCPU counts into its own struct (no atomics, no shared
 * cache lines on the exit path); the totals are summed when they are printed.
 */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "vmm/insn_fixup.h"

#define STATS_EXIT_SLOTS 64 /* KVM exit reasons are small numbers; the last slot is "other" */

struct vcpu_stats {
	uint64_t exits[STATS_EXIT_SLOTS];
	uint64_t *pio_hits;  /* per range of the PIO bus, indexed like bus.ranges */
	uint64_t *mmio_hits; /* per range of the MMIO bus */
	uint64_t pio_unclaimed;
	uint64_t mmio_unclaimed;
	uint64_t fixups[FIXUP_KINDS];
};

const char *kvm_exit_name(uint32_t reason);

struct vm;
/* The --stats table: exits by reason, accesses by device range, fixups. */
void stats_print(const struct vm *vm, FILE *out);

#endif
