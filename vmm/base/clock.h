/* The clock of minivmm's bounded waits (the network clean-up, a report to a
 * slow reader): CLOCK_MONOTONIC, which no change of the wall clock moves. */
#ifndef MINIVMM_BASE_CLOCK_H
#define MINIVMM_BASE_CLOCK_H

#include <time.h>

static inline struct timespec clock_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

/* Milliseconds from t0 (a clock_now()) until now. */
static inline long clock_ms_since(const struct timespec *t0)
{
	struct timespec now = clock_now();
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

#endif
