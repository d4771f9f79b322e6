/*
 * The VM's device table: what vm_create() and vm_assemble() set up, in the
 * order it succeeded, each entry with how to take it down and, for a device
 * that counts, its part of --stats. Besides the devices it holds the VM's
 * other resources (KVM, guest RAM, the TAP and the network's undo, the stop
 * switch, the buses), so that vm_destroy() is one walk backwards over it:
 * tear-down undoes exactly what succeeded, last first, and nothing has to
 * guess from other fields what was set up. An init that fails undoes its own
 * part before returning, and is not entered.
 */
#ifndef MINIVMM_DEVTABLE_H
#define MINIVMM_DEVTABLE_H

#include <stdint.h>

#include "vmm/base/error.h"
#include "vmm/base/stats_sink.h"

struct devtable_entry {
	const char *name; /* "uart8250 (COM1)", "guest RAM": for a reader and errors */
	void *ctx;
	void (*destroy)(void *ctx);
	/* --stats, for a device that counts (NULL otherwise): its group into s,
	 * ended; and what it adds to the VM's doorbell and interrupt totals. */
	void (*report)(const void *ctx, struct stats_sink *s);
	void (*count)(const void *ctx, uint64_t *doorbells, uint64_t *interrupts);
};

/* Enough for minivmm's entries and minivmm-bench's, with room to spare. */
#define DEVTABLE_MAX 32

struct devtable {
	struct devtable_entry entry[DEVTABLE_MAX];
	int n;
};

/* Records what has just been set up. A full table undoes it at once and
 * fails, so the caller's failure path stays the same. */
int devtable_push(struct devtable *t, const struct devtable_entry *d, struct errbuf *e);

/* Takes everything down, last first, and empties the table. */
void devtable_unwind(struct devtable *t);

#endif
