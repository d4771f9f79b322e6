/*
 * Guest RAM: one anonymous host mapping, shown to the guest as up to two
 * ranges. RAM above 3 GiB is moved to 4 GiB so that [3 GiB, 4 GiB) stays free
 * for the 32-bit PCI hole, the IOAPIC (0xfec00000) and the local APIC
 * (0xfee00000), as on a PC.
 */
#ifndef MINIVMM_GUEST_MEM_H
#define MINIVMM_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/base/error.h"

#define GUEST_PCI_HOLE_START 0xC0000000ULL
#define GUEST_HIGH_RAM_START 0x100000000ULL

struct guest_mem {
	uint8_t *host;	   /* start of the mapping: guest physical 0 */
	uint64_t size;	   /* bytes of RAM in all */
	uint64_t low_size; /* RAM at [0, low_size); the rest starts at 4 GiB */
};

/* Lays out size bytes of RAM around the PCI hole; no allocation. */
void guest_mem_layout(struct guest_mem *m, uint64_t size);

int guest_mem_alloc(struct guest_mem *m, uint64_t size, struct errbuf *e);
void guest_mem_free(struct guest_mem *m);

static inline uint64_t guest_mem_high_size(const struct guest_mem *m)
{
	return m->size - m->low_size;
}

/*
 * Host pointer for guest physical [gpa, gpa + len), or NULL when gpa or any
 * byte of the range is outside RAM, or the range wraps. Every guest-supplied
 * address goes through here before the VMM touches it. An empty range is in
 * RAM only where its address is: at the end of a RAM range it is not, or a
 * zero-length kernel segment past the end of RAM would pass for loaded.
 */
static inline void *guest_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	if (gpa < m->low_size && len <= m->low_size - gpa)
		return m->host + gpa;
	uint64_t high = guest_mem_high_size(m), off = gpa - GUEST_HIGH_RAM_START;
	if (gpa >= GUEST_HIGH_RAM_START && off < high && len <= high - off)
		return m->host + m->low_size + off;
	return NULL;
}

#endif
