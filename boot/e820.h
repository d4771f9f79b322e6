/* The guest's physical memory map, as the BIOS e820 call would report it. */
#ifndef MINIVMM_BOOT_E820_H
#define MINIVMM_BOOT_E820_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/base/guest_mem.h"

#define E820_TYPE_RAM	   1
#define E820_TYPE_RESERVED 2
#define E820_MAX_ENTRIES   8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Fills out[] (room for E820_MAX_ENTRIES) and returns the count: RAM below
 * the EBDA, the EBDA and BIOS area reserved, RAM from 1 MiB up to the PCI
 * hole, and RAM above 4 GiB if any. */
size_t e820_build(const struct guest_mem *m, struct e820_entry *out);

#endif
