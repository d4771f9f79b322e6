#include "vmm/devtable.h"

int devtable_push(struct devtable *t, const struct devtable_entry *d, struct errbuf *e)
{
	if (t->n == DEVTABLE_MAX) {
		d->destroy(d->ctx);
		return errorf(e, "%s: the device table is full (DEVTABLE_MAX %d)", d->name,
			      DEVTABLE_MAX);
	}
	t->entry[t->n++] = *d;
	return 0;
}

void devtable_unwind(struct devtable *t)
{
	while (t->n > 0) {
		const struct devtable_entry *d = &t->entry[--t->n];
		d->destroy(d->ctx);
	}
}
