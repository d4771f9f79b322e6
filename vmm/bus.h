/*
 * One bus abstraction for port I/O and MMIO (and, later, PCI configuration
 * space): a sorted table of non-overlapping ranges, each owned by a device.
 *
 * All ranges are registered before any vCPU runs; after bus_freeze() the
 * table never changes, so the exit path looks a range up with a binary search
 * and no lock or allocation.
 */
#ifndef MINIVMM_BUS_H
#define MINIVMM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/error.h"

/* offset is relative to the range's base; data holds len bytes, little endian. */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn io;
	void *opaque;
	const char *name;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range *ranges;
	size_t count;
	size_t cap;
	bool frozen;
};

void bus_init(struct bus *b, const char *name);
void bus_free(struct bus *b);

/* Refuses empty, wrapping and overlapping ranges, naming the device in the way. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *opaque, struct errbuf *e);

void bus_freeze(struct bus *b);

/* Index of the range holding all of [addr, addr + len), or -1. */
static inline long bus_find(const struct bus *b, uint64_t addr, uint32_t len)
{
	size_t lo = 0, hi = b->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->ranges[mid];
		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			/* An access straddling two devices belongs to neither. */
			return (uint64_t)len <= r->len - (addr - r->base) ? (long)mid : -1;
		}
	}
	return -1;
}

#endif
