/* The long-mode environment minivmm builds before the first instruction. */
#ifndef MINIVMM_BOOT_PAGETABLES_H
#define MINIVMM_BOOT_PAGETABLES_H

#include "vmm/base/error.h"
#include "vmm/base/guest_mem.h"

/* Identity-maps guest physical [0, 4 GiB) with 2 MiB pages (PML4 -> one PDPT ->
 * four page directories) at BOOT_PML4_ADDR, and writes the GDT at
 * BOOT_GDT_ADDR: null, 32-bit code, 64-bit code, data, TSS. */
int boot_write_pagetables_and_gdt(struct guest_mem *m, struct errbuf *e);

#define BOOT_GDT_ENTRIES 5

#endif
