/*
 * Exit statistics. Each vCPU counts into its own struct (no atomics, no shared
 * cache lines on the exit path); the totals are summed when they are printed.
 *
 * Besides counts, every exit's handling latency goes into log-linear
 * histograms: the time from KVM_RUN returning to the next KVM_RUN call, per
 * exit reason and, for port and MMIO exits, per bus range (or unclaimed).
 */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

#include "vmm/insn_fixup.h"

#define STATS_EXIT_SLOTS 64 /* KVM exit reasons are small numbers; the last slot is "other" */

/*
 * A latency histogram, HDR style: values below 2 * LAT_SUB each have their own
 * bucket; above, every power of two [2^e, 2^(e+1)) is cut into LAT_SUB equal
 * buckets of width 2^(e - LAT_SUB_BITS). A quantile is reported as the middle
 * of its bucket (and never above the exact maximum), so it is exact below
 * 2 * LAT_SUB = 32 ticks and otherwise within half a bucket: a relative error
 * of at most 1 / (2 * LAT_SUB) = 1/32 = 3.125%. Converting ticks to ns scales
 * both sides, so the bound holds in ns too. Values of 2^LAT_MAX_BITS ticks
 * and more share the last bucket (with a 3 GHz TSC, that is above 20 s).
 */
#define LAT_SUB_BITS 4
#define LAT_SUB	     (1u << LAT_SUB_BITS)
#define LAT_MAX_BITS 36
#define LAT_BUCKETS  ((LAT_MAX_BITS - LAT_SUB_BITS + 1) * LAT_SUB)

struct lat_hist {
	uint64_t count;
	uint64_t sum; /* for the mean, and the share the bookkeeping takes */
	uint64_t max;
	uint64_t buckets[LAT_BUCKETS];
};

static inline unsigned lat_bucket(uint64_t v)
{
	if (v < 2 * LAT_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
	if (e >= LAT_MAX_BITS)
		return LAT_BUCKETS - 1;
	unsigned sub = (unsigned)(v >> (e - LAT_SUB_BITS)) & (LAT_SUB - 1);
	return (e - LAT_SUB_BITS + 1) * LAT_SUB + sub;
}

static inline void lat_hist_record(struct lat_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->buckets[lat_bucket(v)]++;
}

/* The smallest value bucket b holds, and how many values it holds. */
uint64_t lat_bucket_low(unsigned b);
uint64_t lat_bucket_width(unsigned b);
/* into += from. from may be another thread's, being written: see stats.c. */
void lat_hist_merge(struct lat_hist *into, const struct lat_hist *from);
/* The nearest-rank quantile for permille/1000 (500: median), 0 when empty. */
uint64_t lat_hist_quantile(const struct lat_hist *h, unsigned permille);

/*
 * The time source of the exit path. With an invariant TSC (constant rate,
 * CPUID 0x80000007 EDX[8]) it is rdtsc, cheaper than even the vDSO's
 * clock_gettime; ticks become ns when printed, from TSC and CLOCK_MONOTONIC
 * read together at the start and again at print time, so the calibration
 * spans the whole run. Without one it is CLOCK_MONOTONIC in ns.
 */
struct stats_clock {
	bool tsc;
	/* Latencies are measured: with rdtsc always (a few ns), with the
	 * system clock only under --stats, since on a host without a usable
	 * TSC each read may be a system call (seen: ~2 us in nested KVM). */
	bool timed;
	uint64_t tsc0, ns0; /* read together by stats_clock_init */
};

void stats_clock_init(struct stats_clock *c, bool allow_tsc);
/* Whether the CPU says its TSC ticks at a constant rate (CPUID 0x80000007
 * EDX[8]). */
bool stats_tsc_invariant(void);
/* ns per tick now (1.0 for CLOCK_MONOTONIC). */
double stats_clock_ns_per_tick(const struct stats_clock *c);
uint64_t stats_monotonic_ns(void);

static inline uint64_t stats_now(const struct stats_clock *c)
{
	if (c->tsc)
		return __rdtsc();
	return stats_monotonic_ns();
}

struct vcpu_stats {
	uint64_t exits[STATS_EXIT_SLOTS];
	/* Per range, by its stats slot (its index in bus.ranges), which stays
	 * the range's when the guest moves it (vmm/base/bus.h). */
	uint64_t *pio_hits;
	uint64_t *mmio_hits;
	uint64_t pio_unclaimed;
	uint64_t mmio_unclaimed;
	uint64_t fixups[FIXUP_KINDS];

	/* Latency histograms, one allocation: per exit-reason slot, then per
	 * PIO range plus one for unclaimed ports, then the same for MMIO. */
	struct lat_hist *lat;
	size_t npio, nmmio;
	/* Set by the exit handler: the range this exit's latency also goes to. */
	struct lat_hist *range_lat;
};

int vcpu_stats_init(struct vcpu_stats *s, size_t npio, size_t nmmio);
/* into += from, counter by counter; from may be another thread's, being
 * written (see stats.c), and must have as many ranges as into. */
void vcpu_stats_add(struct vcpu_stats *into, const struct vcpu_stats *from);
void vcpu_stats_free(struct vcpu_stats *s);

static inline struct lat_hist *stats_reason_lat(const struct vcpu_stats *s, unsigned slot)
{
	return &s->lat[slot];
}

/* The range with stats slot i, or the unclaimed slot for i < 0. */
static inline struct lat_hist *stats_pio_lat(const struct vcpu_stats *s, long i)
{
	return &s->lat[STATS_EXIT_SLOTS + (i < 0 ? s->npio : (size_t)i)];
}

static inline struct lat_hist *stats_mmio_lat(const struct vcpu_stats *s, long i)
{
	return &s->lat[STATS_EXIT_SLOTS + s->npio + 1 + (i < 0 ? s->nmmio : (size_t)i)];
}

static inline unsigned stats_exit_slot(uint32_t reason)
{
	return reason < STATS_EXIT_SLOTS - 1 ? reason : STATS_EXIT_SLOTS - 1;
}

/* The exit that KVM_RUN returned at start (stats_now) has been handled and
 * KVM_RUN is about to be called again: two histogram updates, no atomics. */
static inline void stats_exit_done(struct vcpu_stats *s, const struct stats_clock *c,
				   uint32_t reason, uint64_t start)
{
	uint64_t end = stats_now(c);
	/* A thread moved between CPUs may see the TSC step back a little. */
	uint64_t d = end > start ? end - start : 0;
	lat_hist_record(stats_reason_lat(s, stats_exit_slot(reason)), d);
	if (s->range_lat) {
		lat_hist_record(s->range_lat, d);
		s->range_lat = NULL;
	}
}

const char *kvm_exit_name(uint32_t reason);

/* What the exit path's bookkeeping (two clock reads, two histogram updates)
 * costs, in ns per exit: measured now over n rounds on scratch histograms. */
double stats_bookkeeping_ns(const struct stats_clock *c, unsigned n);

enum stats_format {
	STATS_OFF,
	STATS_TEXT,
	STATS_JSON,
};

#endif
