/*
 * Accesses to ports and addresses no device claims read as all-ones, as on a
 * PC bus with nothing there. Each distinct address is reported once on
 * stderr, so a guest probing in a loop cannot flood the console.
 */
#ifndef MINIVMM_UNCLAIMED_H
#define MINIVMM_UNCLAIMED_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define UNCLAIMED_REMEMBERED 64

struct unclaimed_log {
	pthread_mutex_t lock;
	FILE *out;
	size_t count;
	bool overflow_said;
	struct {
		const char *space;
		uint64_t addr;
	} seen[UNCLAIMED_REMEMBERED];
};

void unclaimed_init(struct unclaimed_log *l, FILE *out);
void unclaimed_destroy(struct unclaimed_log *l);

/* Returns true when this call printed a report (first access to addr). */
bool unclaimed_report(struct unclaimed_log *l, const char *space, uint64_t addr, uint32_t len,
		      bool is_write);

#endif
