/*
 * One bus abstraction for port I/O and MMIO: ranges, each owned by a device,
 * and an immutable sorted table of the ones mapped now, which the exit path
 * searches without a lock.
 *
 * Ranges are registered before any vCPU runs; registering gives each one a
 * stats slot, its index in bus.ranges, that never changes (vmm/stats.h counts
 * by slot). Most ranges stay where they were registered. A PCI BAR's do not:
 * the guest moves a BAR and turns memory decoding off and on through config
 * space (PCI 3.0 §6.2.2, §6.2.5). bus_move() then builds a new table and
 * publishes it with one atomic store; readers never block.
 *
 * A table a vCPU may still be searching is never overwritten. Each vCPU
 * owns a bus_reader, a hazard slot naming the table it is searching
 * (bus_enter/bus_leave). The writer reuses only tables that are neither
 * published nor named in a slot. With R readers, at most R tables are named
 * and one is published, so R + 2 tables, allocated by bus_freeze(), always
 * leave one to build into: reclamation is bounded by construction, and a
 * writer (a vCPU thread writing config space) never allocates or frees, and
 * waits for nothing but another writer's lock, never for a reader.
 */
#ifndef MINIVMM_BUS_H
#define MINIVMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/error.h"

/* offset is relative to the range's base; data holds len bytes, little endian. */
typedef void (*bus_io_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			  bool is_write);

struct bus_range {
	uint64_t base;
	uint64_t len;
	bus_io_fn io;
	void *opaque;
	const char *name;
	uint32_t slot; /* its index in bus.ranges: where its statistics go */
	bool mapped;   /* false: not decoded (e.g. a BAR with memory decoding off) */
};

/* What the exit path searches: the mapped ranges, sorted by base and not
 * overlapping. Never written while published or named by a reader. */
struct bus_table {
	size_t count;
	struct bus_range *ranges;
};

/* One vCPU's hazard slot, a cache line of its own: the exit path writes it
 * twice per exit and no other vCPU's line is touched. */
struct bus_reader {
	const struct bus_table *hazard; /* the table being searched, or NULL */
	const struct bus *bus;
} __attribute__((aligned(64)));

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	/* Every registered range, by slot. After bus_freeze() only bus_move()
	 * changes them (base and mapped), under lock. */
	struct bus_range *ranges;
	size_t count;
	size_t cap;
	bool frozen;

	struct bus_table *table; /* the published table, read atomically */
	pthread_mutex_t lock;	 /* serialises writers; readers take none */
	struct bus_table *pool;	 /* nreaders + 2 tables: the published one among them */
	size_t npool;
	struct bus_reader *readers;
	size_t nreaders;
	const struct bus_table **named; /* nreaders: the writer's snapshot of the hazards */
	uint64_t publications;		/* tables published since bus_freeze, for tests */
};

void bus_init(struct bus *b, const char *name);
void bus_free(struct bus *b);

/* Refuses empty, wrapping and overlapping ranges, naming the device in the
 * way. The range's slot is b->count before the call. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *opaque, struct errbuf *e);

/* Ends registration and publishes the first table; readers vCPUs (and
 * tests) may then search it, each through bus_reader(b, i). */
int bus_freeze(struct bus *b, size_t readers, struct errbuf *e);

static inline struct bus_reader *bus_reader(struct bus *b, size_t i)
{
	return i < b->nreaders ? &b->readers[i] : NULL;
}

/* A new placement for one range: base, or not mapped at all. */
struct bus_placement {
	uint32_t slot;
	uint64_t base;
	bool mapped;
};

/* Places n ranges anew and publishes the resulting table, atomically for
 * readers (they see all n moved or none). A mapped range that would wrap
 * past 2^64, or overlap one of a lower slot, stays out of the table until
 * placed again: PCI leaves overlapping BARs undefined (PCI 3.0 §6.2.5.1),
 * and this keeps the table searchable. Writers serialise on b->lock, from
 * any thread; before bus_freeze() the placement is only recorded. */
void bus_move(struct bus *b, const struct bus_placement *p, size_t n);

/* A copy of range slot as last placed, read under the writers' lock (for
 * --stats, which may run while the guest moves BARs). */
struct bus_range bus_range_at(const struct bus *b, uint32_t slot);

/* The table to search, named in r's hazard slot until bus_leave(r). The
 * slot is written before the published pointer is read again, so a writer
 * either sees the name or has not yet retired the table (seq_cst orders the
 * store before the second load). */
static inline const struct bus_table *bus_enter(struct bus_reader *r)
{
	const struct bus_table *t = __atomic_load_n(&r->bus->table, __ATOMIC_ACQUIRE);
	for (;;) {
		__atomic_store_n(&r->hazard, t, __ATOMIC_SEQ_CST);
		const struct bus_table *now = __atomic_load_n(&r->bus->table, __ATOMIC_SEQ_CST);
		if (now == t)
			return t;
		t = now; /* a writer published meanwhile: name the new one */
	}
}

static inline void bus_leave(struct bus_reader *r)
{
	__atomic_store_n(&r->hazard, NULL, __ATOMIC_RELEASE);
}

/* The range holding all of [addr, addr + len), or NULL. A binary search. */
static inline const struct bus_range *bus_find(const struct bus_table *t, uint64_t addr,
					       uint32_t len)
{
	size_t lo = 0, hi = t->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &t->ranges[mid];
		if (addr < r->base) {
			hi = mid;
		} else if (addr - r->base >= r->len) {
			lo = mid + 1;
		} else {
			/* An access straddling two devices belongs to neither. */
			return (uint64_t)len <= r->len - (addr - r->base) ? r : NULL;
		}
	}
	return NULL;
}

#endif
