#include "vmm/bus.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
}

void bus_free(struct bus *b)
{
	free(b->ranges);
	b->ranges = NULL;
	b->count = b->cap = 0;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const char *name, bus_io_fn io,
		 void *opaque, struct errbuf *e)
{
	assert(!b->frozen);
	if (len == 0 || base + len < base || base + len == 0)
		return errorf(e, "%s bus: %s: bad range 0x%llx+0x%llx", b->name, name,
			      (unsigned long long)base, (unsigned long long)len);

	size_t at = 0;
	while (at < b->count && b->ranges[at].base < base)
		at++;
	const struct bus_range *prev = at > 0 ? &b->ranges[at - 1] : NULL;
	const struct bus_range *next = at < b->count ? &b->ranges[at] : NULL;
	const struct bus_range *clash = NULL;
	if (prev && prev->base + prev->len > base)
		clash = prev;
	else if (next && next->base < base + len)
		clash = next;
	if (clash)
		return errorf(e, "%s bus: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx",
			      b->name, name, (unsigned long long)base, (unsigned long long)len,
			      clash->name, (unsigned long long)clash->base,
			      (unsigned long long)clash->len);

	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));
		if (!r)
			return errorf(e, "%s bus: out of memory", b->name);
		b->ranges = r;
		b->cap = cap;
	}
	memmove(&b->ranges[at + 1], &b->ranges[at], (b->count - at) * sizeof(*b->ranges));
	b->ranges[at] = (struct bus_range){base, len, io, opaque, name};
	b->count++;
	return 0;
}

void bus_freeze(struct bus *b)
{
	b->frozen = true;
}
