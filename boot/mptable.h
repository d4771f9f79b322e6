/*
 * The Intel MultiProcessor Specification 1.4 table, which is how a guest
 * without ACPI (like minivmm's) learns how many CPUs there are, where the
 * IOAPIC is and how ISA and PCI (INTx) interrupts reach it.
 */
#ifndef MINIVMM_BOOT_MPTABLE_H
#define MINIVMM_BOOT_MPTABLE_H

#include "vmm/base/error.h"
#include "vmm/base/guest_mem.h"

#define MPTABLE_MAX_CPUS 32 /* --cpus' limit; BOOT_MPC_MAX has room to spare */
#define IOAPIC_ADDR	 0xFEC00000U
#define LAPIC_ADDR	 0xFEE00000U
#define IOAPIC_PINS	 24

/* Writes the floating pointer at BOOT_EBDA_ADDR and the configuration table
 * at BOOT_MPC_ADDR for ncpus processors (APIC ids 0..ncpus-1, CPU 0 the
 * bootstrap processor), with an INTA# entry for every PCI slot. */
int mptable_write(struct guest_mem *m, int ncpus, struct errbuf *e);

#endif
