#include "vmm/base/bus.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	pthread_mutex_init(&b->lock, NULL);
}

void bus_free(struct bus *b)
{
	for (size_t i = 0; i < b->npool; i++)
		free(b->pool[i].ranges);
	free(b->pool);
	free(b->readers);
	free(b->named);
	free(b->ranges);
	pthread_mutex_destroy(&b->lock);
	memset(b, 0, sizeof(*b));
}

static bool wraps(uint64_t base, uint64_t len)
{
	return base + len < base || base + len == 0;
}

static bool overlap(const struct bus_range *a, uint64_t base, uint64_t len)
{
	return a->base < base + len && base < a->base + a->len;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *opaque, struct errbuf *e)
{
	assert(!b->frozen);
	if (len == 0 || wraps(base, len))
		return errorf(e, "%s bus: %s: bad range 0x%llx+0x%llx", b->name, name,
			      (unsigned long long)base, (unsigned long long)len);
	for (size_t i = 0; i < b->count; i++) {
		const struct bus_range *clash = &b->ranges[i];
		if (overlap(clash, base, len))
			return errorf(
			    e, "%s bus: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx", b->name,
			    name, (unsigned long long)base, (unsigned long long)len, clash->name,
			    (unsigned long long)clash->base, (unsigned long long)clash->len);
	}
	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));
		if (!r)
			return errorf(e, "%s bus: out of memory", b->name);
		b->ranges = r;
		b->cap = cap;
	}
	b->ranges[b->count] =
	    (struct bus_range){base, len, io, opaque, name, (uint32_t)b->count, true};
	b->count++;
	return 0;
}

/* Fills t with the mapped ranges, sorted by base. Slots go in in order, so
 * of two that overlap the lower slot is the one in the table. */
static void build(const struct bus *b, struct bus_table *t)
{
	t->count = 0;
	for (size_t s = 0; s < b->count; s++) {
		const struct bus_range *r = &b->ranges[s];
		if (!r->mapped || wraps(r->base, r->len))
			continue;
		size_t at = 0;
		while (at < t->count && t->ranges[at].base < r->base)
			at++;
		if ((at > 0 && overlap(&t->ranges[at - 1], r->base, r->len)) ||
		    (at < t->count && overlap(&t->ranges[at], r->base, r->len)))
			continue;
		memmove(&t->ranges[at + 1], &t->ranges[at], (t->count - at) * sizeof(*t->ranges));
		t->ranges[at] = *r;
		t->count++;
	}
}

int bus_freeze(struct bus *b, size_t readers, struct errbuf *e)
{
	assert(!b->frozen);
	b->readers = aligned_alloc(_Alignof(struct bus_reader),
				   (readers ? readers : 1) * sizeof(struct bus_reader));
	b->pool = calloc(readers + 2, sizeof(*b->pool));
	b->named = calloc(readers ? readers : 1, sizeof(*b->named));
	if (!b->readers || !b->pool || !b->named)
		return errorf(e, "%s bus: out of memory", b->name);
	b->npool = readers + 2;
	for (size_t i = 0; i < b->npool; i++) {
		b->pool[i].ranges = calloc(b->count ? b->count : 1, sizeof(struct bus_range));
		if (!b->pool[i].ranges)
			return errorf(e, "%s bus: out of memory", b->name);
	}
	for (size_t i = 0; i < readers; i++)
		b->readers[i] = (struct bus_reader){NULL, b};
	b->nreaders = readers;
	build(b, &b->pool[0]);
	b->table = &b->pool[0];
	b->frozen = true;
	return 0;
}

/* A table no reader can be searching: not the published one, and named in
 * no hazard slot. A reader that loaded it but has not named it yet will see
 * it is no longer published when it loads the pointer again (bus_enter).
 * The slots are read once each, into a snapshot, before any table is
 * judged: a reader moves on while the writer looks, and judged against the
 * live slots one reader could name a different table at each check, and
 * hide them all. Against the snapshot, of nreaders + 2 tables at most
 * nreaders are named and one is published, so there always is one free. */
static struct bus_table *free_table(struct bus *b)
{
	for (size_t r = 0; r < b->nreaders; r++)
		b->named[r] = __atomic_load_n(&b->readers[r].hazard, __ATOMIC_SEQ_CST);
	for (size_t i = 0; i < b->npool; i++) {
		struct bus_table *t = &b->pool[i];
		bool named = t == b->table;
		for (size_t r = 0; r < b->nreaders && !named; r++)
			named = b->named[r] == t;
		if (!named)
			return t;
	}
	assert(!"bus: every table in use");
	return NULL;
}

void bus_move(struct bus *b, const struct bus_placement *p, size_t n)
{
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		if (p[i].slot >= b->count)
			continue;
		b->ranges[p[i].slot].base = p[i].base;
		b->ranges[p[i].slot].mapped = p[i].mapped;
	}
	if (!b->frozen) { /* bus_freeze() publishes the first table */
		pthread_mutex_unlock(&b->lock);
		return;
	}
	struct bus_table *t = free_table(b);
	build(b, t);
	/* Release: a reader that loads the pointer sees the table built. */
	__atomic_store_n(&b->table, t, __ATOMIC_SEQ_CST);
	b->publications++;
	pthread_mutex_unlock(&b->lock);
}

struct bus_range bus_range_at(const struct bus *b, uint32_t slot)
{
	/* The lock is no part of the bus's value: a reader of it may take it. */
	pthread_mutex_t *lock = (pthread_mutex_t *)&b->lock;
	pthread_mutex_lock(lock);
	struct bus_range r = slot < b->count ? b->ranges[slot] : (struct bus_range){0};
	pthread_mutex_unlock(lock);
	return r;
}
