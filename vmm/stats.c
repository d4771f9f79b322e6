/*
 * Exit statistics: the histograms' arithmetic, the clock, and adding up
 * the vCPUs' counters. The exit path itself is the inline code in stats.h;
 * the report is stats_report.c.
 *
 * The report may be printed while the vCPUs run (SIGUSR1). It then reads the
 * other threads' counters without synchronisation: they are aligned 64-bit
 * words, which x86-64 loads and stores in one piece, so every number read is
 * one that was written, but a snapshot may be a few exits out of step between
 * two counters (a count and its buckets, say). Quantiles therefore use the
 * sum of the buckets, never the count. The loads are relaxed atomics so the
 * compiler cannot tear or re-read them; the writers stay plain increments,
 * which is what keeps the exit path free of atomics.
 */
#include "vmm/stats.h"

#include <cpuid.h>
#include <linux/kvm.h>
#include <stdlib.h>

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

const char *kvm_exit_name(uint32_t reason)
{
	static const char *const names[] = {
	    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
	    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	    [KVM_EXIT_IO] = "IO",
	    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
	    [KVM_EXIT_DEBUG] = "DEBUG",
	    [KVM_EXIT_HLT] = "HLT",
	    [KVM_EXIT_MMIO] = "MMIO",
	    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	    [KVM_EXIT_INTR] = "INTR",
	    [KVM_EXIT_SET_TPR] = "SET_TPR",
	    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	    [KVM_EXIT_NMI] = "NMI",
	    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	    [KVM_EXIT_OSI] = "OSI",
	    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	    [KVM_EXIT_HYPERV] = "HYPERV",
	    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	    [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
	};
	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other";
}

/* ---- histograms ---- */

uint64_t lat_bucket_low(unsigned b)
{
	if (b < 2 * LAT_SUB)
		return b;
	unsigned e = b / LAT_SUB + LAT_SUB_BITS - 1;
	return (uint64_t)(LAT_SUB + b % LAT_SUB) << (e - LAT_SUB_BITS);
}

uint64_t lat_bucket_width(unsigned b)
{
	if (b < 2 * LAT_SUB)
		return 1;
	return 1ULL << (b / LAT_SUB - 1);
}

void lat_hist_merge(struct lat_hist *into, const struct lat_hist *from)
{
	into->count += LOAD(from->count);
	into->sum += LOAD(from->sum);
	uint64_t m = LOAD(from->max);
	if (m > into->max)
		into->max = m;
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		into->buckets[b] += LOAD(from->buckets[b]);
}

uint64_t lat_hist_quantile(const struct lat_hist *h, unsigned permille)
{
	uint64_t n = 0;
	for (unsigned b = 0; b < LAT_BUCKETS; b++)
		n += h->buckets[b];
	if (n == 0)
		return 0;
	/* Nearest rank: the smallest value with at least ceil(q * n) samples
	 * at or below it. */
	uint64_t rank = (n * permille + 999) / 1000;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	unsigned b = 0;
	for (; b < LAT_BUCKETS - 1; b++) {
		seen += h->buckets[b];
		if (seen >= rank)
			break;
	}
	uint64_t mid = lat_bucket_low(b) + (lat_bucket_width(b) - 1) / 2;
	/* The last bucket is open-ended, and any bucket may be the maximum's. */
	return b == LAT_BUCKETS - 1 || mid > h->max ? h->max : mid;
}

/* ---- the clock ---- */

uint64_t stats_monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

bool stats_tsc_invariant(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8));
}

void stats_clock_init(struct stats_clock *c, bool allow_tsc)
{
	c->tsc = allow_tsc && stats_tsc_invariant();
	c->tsc0 = __rdtsc();
	c->ns0 = stats_monotonic_ns();
}

double stats_clock_ns_per_tick(const struct stats_clock *c)
{
	if (!c->tsc)
		return 1.0;
	/* Calibrate over everything since stats_clock_init, but at least 10 ms
	 * (a snapshot right after start), so the rate is good to ~0.01%. */
	uint64_t ns;
	while ((ns = stats_monotonic_ns()) - c->ns0 < 10000000)
		;
	uint64_t ticks = __rdtsc() - c->tsc0;
	return ticks ? (double)(ns - c->ns0) / (double)ticks : 1.0;
}

/* ---- per vCPU ---- */

int vcpu_stats_init(struct vcpu_stats *s, size_t npio, size_t nmmio)
{
	s->npio = npio;
	s->nmmio = nmmio;
	s->pio_hits = calloc(npio + 1, sizeof(uint64_t));
	s->mmio_hits = calloc(nmmio + 1, sizeof(uint64_t));
	/* Large, so calloc maps it fresh: pages of histograms no exit ever
	 * touches cost no memory. */
	s->lat = calloc(STATS_EXIT_SLOTS + npio + 1 + nmmio + 1, sizeof(struct lat_hist));
	return s->pio_hits && s->mmio_hits && s->lat ? 0 : -1;
}

void vcpu_stats_add(struct vcpu_stats *into, const struct vcpu_stats *from)
{
	for (int i = 0; i < STATS_EXIT_SLOTS; i++)
		into->exits[i] += LOAD(from->exits[i]);
	for (int i = 0; i < FIXUP_KINDS; i++)
		into->fixups[i] += LOAD(from->fixups[i]);
	into->pio_unclaimed += LOAD(from->pio_unclaimed);
	into->mmio_unclaimed += LOAD(from->mmio_unclaimed);
	for (size_t r = 0; r < into->npio; r++)
		into->pio_hits[r] += LOAD(from->pio_hits[r]);
	for (size_t r = 0; r < into->nmmio; r++)
		into->mmio_hits[r] += LOAD(from->mmio_hits[r]);
	size_t nlat = STATS_EXIT_SLOTS + into->npio + 1 + into->nmmio + 1;
	for (size_t i = 0; i < nlat; i++)
		lat_hist_merge(&into->lat[i], &from->lat[i]);
}

void vcpu_stats_free(struct vcpu_stats *s)
{
	free(s->pio_hits);
	free(s->mmio_hits);
	free(s->lat);
	s->pio_hits = s->mmio_hits = NULL;
	s->lat = NULL;
}

double stats_bookkeeping_ns(const struct stats_clock *c, unsigned n)
{
	struct vcpu_stats s = {0};
	if (n == 0 || vcpu_stats_init(&s, 1, 1))
		return 0;
	uint64_t t0 = stats_monotonic_ns();
	for (unsigned i = 0; i < n; i++) {
		/* What vcpu_thread and handle_pio do around one port exit. */
		uint64_t start = stats_now(c);
		s.range_lat = stats_pio_lat(&s, 0);
		stats_exit_done(&s, c, KVM_EXIT_IO, start);
	}
	uint64_t t1 = stats_monotonic_ns();
	vcpu_stats_free(&s);
	return (double)(t1 - t0) / n;
}
