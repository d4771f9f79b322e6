/*
 * Exit statistics: the histograms' arithmetic, the clock, and the --stats
 * report. The exit path itself is the inline code in stats.h.
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
#include <string.h>

#include "vmm/vm.h"

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

static const char *slot_name(unsigned slot)
{
	return slot == STATS_EXIT_SLOTS - 1 ? "other" : kvm_exit_name(slot);
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

/* ---- the report ---- */

/* Every vCPU's counters added up; lat is laid out like a vcpu_stats'. */
struct stats_sum {
	struct vcpu_stats s;
	double ns_per_tick;
	uint64_t total_exits;
	uint64_t doorbells, interrupts;
	double bookkeeping_ns;
};

static int sum_vcpus(const struct vm *vm, struct stats_sum *sum)
{
	memset(sum, 0, sizeof(*sum));
	struct vcpu_stats *t = &sum->s;
	if (vcpu_stats_init(t, vm->pio.count, vm->mmio.count))
		return -1;
	size_t nlat = STATS_EXIT_SLOTS + t->npio + 1 + t->nmmio + 1;
	for (int c = 0; c < vm->ncpus; c++) {
		const struct vcpu_stats *s = &vm->vcpus[c].stats;
		for (int i = 0; i < STATS_EXIT_SLOTS; i++)
			t->exits[i] += LOAD(s->exits[i]);
		for (int i = 0; i < FIXUP_KINDS; i++)
			t->fixups[i] += LOAD(s->fixups[i]);
		t->pio_unclaimed += LOAD(s->pio_unclaimed);
		t->mmio_unclaimed += LOAD(s->mmio_unclaimed);
		for (size_t r = 0; r < t->npio; r++)
			t->pio_hits[r] += LOAD(s->pio_hits[r]);
		for (size_t r = 0; r < t->nmmio; r++)
			t->mmio_hits[r] += LOAD(s->mmio_hits[r]);
		for (size_t i = 0; i < nlat; i++)
			lat_hist_merge(&t->lat[i], &s->lat[i]);
	}
	for (int i = 0; i < STATS_EXIT_SLOTS; i++)
		sum->total_exits += t->exits[i];
	for (int i = 0; i < vm->devices.n; i++) {
		const struct devtable_entry *d = &vm->devices.entry[i];
		if (d->count)
			d->count(d->ctx, &sum->doorbells, &sum->interrupts);
	}
	sum->ns_per_tick = stats_clock_ns_per_tick(&vm->stats_clock);
	sum->bookkeeping_ns = stats_bookkeeping_ns(&vm->stats_clock, 10000);
	return 0;
}

/* A histogram's figures in ns. */
struct lat_summary {
	uint64_t count, p50, p90, p99, max;
};

static struct lat_summary summarise(const struct lat_hist *h, double ns_per_tick)
{
#define NS(t) (uint64_t)((double)(t)*ns_per_tick + 0.5)
	return (struct lat_summary){
	    .count = h->count,
	    .p50 = NS(lat_hist_quantile(h, 500)),
	    .p90 = NS(lat_hist_quantile(h, 900)),
	    .p99 = NS(lat_hist_quantile(h, 990)),
	    .max = NS(h->max),
	};
#undef NS
}

/* Seconds spent between KVM_RUN calls, over all vCPUs. */
static double handling_seconds(const struct stats_sum *sum)
{
	uint64_t ticks = 0;
	for (unsigned i = 0; i < STATS_EXIT_SLOTS; i++)
		ticks += sum->s.lat[i].sum;
	return (double)ticks * sum->ns_per_tick / 1e9;
}

/* What the latency columns were measured with. */
static const char *latency_source(const struct vm *vm)
{
	if (!vm->stats_clock.timed)
		return "not measured: no invariant TSC, and --stats was not given";
	return vm->stats_clock.tsc ? "rdtsc" : "CLOCK_MONOTONIC";
}

static const char *clock_name(const struct vm *vm)
{
	return vm->stats_clock.tsc ? "rdtsc" : "CLOCK_MONOTONIC";
}

static void print_lat(const struct lat_summary *l, FILE *out)
{
	fprintf(out, " %8llu %8llu %8llu %9llu\n", (unsigned long long)l->p50,
		(unsigned long long)l->p90, (unsigned long long)l->p99, (unsigned long long)l->max);
}

/* Ranges in slot order: a range keeps its line, and its counts, wherever
 * the guest moves it; the address is where it is now ("-" if not mapped). */
static void print_ranges(const struct vm *vm, const struct stats_sum *sum, bool pio, FILE *out)
{
	const struct bus *b = pio ? &vm->pio : &vm->mmio;
	for (size_t slot = 0; slot < b->count; slot++) {
		uint64_t n = pio ? sum->s.pio_hits[slot] : sum->s.mmio_hits[slot];
		const struct lat_hist *h =
		    pio ? stats_pio_lat(&sum->s, (long)slot) : stats_mmio_lat(&sum->s, (long)slot);
		if (!n && !h->count)
			continue;
		struct bus_range r = bus_range_at(b, (uint32_t)slot);
		struct lat_summary l = summarise(h, sum->ns_per_tick);
		char where[40] = "-";
		if (r.mapped)
			snprintf(where, sizeof(where), "0x%08llx+%llx", (unsigned long long)r.base,
				 (unsigned long long)r.len);
		fprintf(out, "  %-5s %-34s %-17s %12llu %10llu", b->name, r.name, where,
			(unsigned long long)n, (unsigned long long)l.count);
		print_lat(&l, out);
	}
}

/* Scripts grep for "(unclaimed)" followed by nothing but the access count,
 * so the latency of those exits gets a line of its own. */
static void print_unclaimed(const struct bus *b, uint64_t accesses, const struct lat_hist *h,
			    double ns_per_tick, FILE *out)
{
	fprintf(out, "  %-5s %-34s %-17s %12llu\n", b->name, "(unclaimed)", "",
		(unsigned long long)accesses);
	if (!h->count)
		return;
	struct lat_summary l = summarise(h, ns_per_tick);
	fprintf(out, "  %-5s %-34s %-17s %12s %10llu", b->name, "(unclaimed) latency", "", "-",
		(unsigned long long)l.count);
	print_lat(&l, out);
}

static void print_text(const struct vm *vm, const struct stats_sum *sum, FILE *out)
{
	const struct vcpu_stats *t = &sum->s;
	fprintf(out, "minivmm stats: %llu exits on %d vCPU(s)\n",
		(unsigned long long)sum->total_exits, vm->ncpus);
	fprintf(out,
		"  latency: KVM_RUN returning to the next KVM_RUN, ns, quantiles within 3.2%% "
		"(%s)\n",
		latency_source(vm));
	fprintf(out, "  %-28s %12s %8s %8s %8s %9s\n", "exit reason", "count", "p50", "p90", "p99",
		"max");
	for (unsigned i = 0; i < STATS_EXIT_SLOTS; i++) {
		const struct lat_hist *h = stats_reason_lat(t, i);
		if (!t->exits[i] && !h->count)
			continue;
		struct lat_summary l = summarise(h, sum->ns_per_tick);
		fprintf(out, "  %-28s %12llu", slot_name(i), (unsigned long long)t->exits[i]);
		print_lat(&l, out);
	}
	fprintf(out, "  %-5s %-34s %-17s %12s %10s %8s %8s %8s %9s\n", "bus", "device", "range",
		"accesses", "exits", "p50", "p90", "p99", "max");
	print_ranges(vm, sum, true, out);
	print_ranges(vm, sum, false, out);
	print_unclaimed(&vm->pio, t->pio_unclaimed, stats_pio_lat(t, -1), sum->ns_per_tick, out);
	print_unclaimed(&vm->mmio, t->mmio_unclaimed, stats_mmio_lat(t, -1), sum->ns_per_tick, out);
	fprintf(out, "  %-28s %12llu\n", "ioeventfd-served doorbells",
		(unsigned long long)sum->doorbells);
	fprintf(out, "  %-28s %12llu\n", "injected interrupts",
		(unsigned long long)sum->interrupts);
	fprintf(out, "  %-28s %12llu\n", "console bytes dropped",
		(unsigned long long)LOAD(vm->console.dropped));
	struct stats_sink sink = {out, STATS_SINK_TEXT, false};
	for (int i = 0; i < vm->devices.n; i++) {
		const struct devtable_entry *d = &vm->devices.entry[i];
		if (d->report)
			d->report(d->ctx, &sink);
	}
	for (int i = FIXUP_NONE + 1; i < FIXUP_KINDS; i++)
		if (t->fixups[i] || vm->kvm.is_pvm)
			fprintf(out, "  completed for the guest: %-10s %12llu\n",
				insn_fixup_name((enum insn_fixup_kind)i),
				(unsigned long long)t->fixups[i]);
	double secs = handling_seconds(sum);
	fprintf(out,
		"  bookkeeping: %.0f ns per exit (%s, measured now, warm caches); "
		"%.3f s handling exits, of which ~%.2f%% bookkeeping\n",
		sum->bookkeeping_ns, clock_name(vm), secs,
		secs > 0 ? 100.0 * (double)sum->total_exits * sum->bookkeeping_ns / 1e9 / secs
			 : 0.0);
}

void stats_print(const struct vm *vm, FILE *out)
{
	struct stats_sum sum;
	if (sum_vcpus(vm, &sum) == 0)
		print_text(vm, &sum, out);
	else
		fprintf(out, "minivmm stats: out of memory\n");
	vcpu_stats_free(&sum.s);
}

/* ---- JSON ---- */

static void json_lat(const struct lat_hist *h, double ns_per_tick, FILE *out)
{
	struct lat_summary l = summarise(h, ns_per_tick);
	fprintf(out,
		"\"count\": %llu, \"p50_ns\": %llu, \"p90_ns\": %llu, \"p99_ns\": %llu, "
		"\"max_ns\": %llu",
		(unsigned long long)l.count, (unsigned long long)l.p50, (unsigned long long)l.p90,
		(unsigned long long)l.p99, (unsigned long long)l.max);
}

static void json_reasons(const struct stats_sum *sum, FILE *out)
{
	const char *sep = "";
	fputs("  \"reasons\": [", out);
	for (unsigned i = 0; i < STATS_EXIT_SLOTS; i++) {
		const struct lat_hist *h = stats_reason_lat(&sum->s, i);
		if (!sum->s.exits[i] && !h->count)
			continue;
		fprintf(out, "%s\n    {\"name\": ", sep);
		stats_json_string(slot_name(i), out);
		fputs(", ", out);
		json_lat(h, sum->ns_per_tick, out);
		fputc('}', out);
		sep = ",";
	}
	fputs("\n  ],\n", out);
}

static void json_ranges(const struct vm *vm, const struct stats_sum *sum, FILE *out)
{
	const char *sep = "";
	fputs("  \"ranges\": [", out);
	for (int pio = 1; pio >= 0; pio--) {
		const struct bus *b = pio ? &vm->pio : &vm->mmio;
		for (size_t slot = 0; slot < b->count; slot++) {
			uint64_t n = pio ? sum->s.pio_hits[slot] : sum->s.mmio_hits[slot];
			const struct lat_hist *h = pio ? stats_pio_lat(&sum->s, (long)slot)
						       : stats_mmio_lat(&sum->s, (long)slot);
			if (!n && !h->count)
				continue;
			struct bus_range r = bus_range_at(b, (uint32_t)slot);
			fprintf(out, "%s\n    {\"bus\": ", sep);
			stats_json_string(b->name, out);
			fputs(", \"name\": ", out);
			stats_json_string(r.name, out);
			fprintf(out,
				", \"mapped\": %s, \"base\": %llu, \"len\": %llu, "
				"\"accesses\": %llu, ",
				r.mapped ? "true" : "false", (unsigned long long)r.base,
				(unsigned long long)r.len, (unsigned long long)n);
			json_lat(h, sum->ns_per_tick, out);
			fputc('}', out);
			sep = ",";
		}
	}
	fputs("\n  ],\n", out);
}

static void json_unclaimed(const struct stats_sum *sum, FILE *out)
{
	fprintf(out, "  \"unclaimed\": {\n    \"pio\": {\"accesses\": %llu, ",
		(unsigned long long)sum->s.pio_unclaimed);
	json_lat(stats_pio_lat(&sum->s, -1), sum->ns_per_tick, out);
	fprintf(out, "},\n    \"mmio\": {\"accesses\": %llu, ",
		(unsigned long long)sum->s.mmio_unclaimed);
	json_lat(stats_mmio_lat(&sum->s, -1), sum->ns_per_tick, out);
	fputs("}\n  },\n", out);
}

/* The devices that report are the NICs so far. */
static void json_nics(const struct vm *vm, FILE *out)
{
	struct stats_sink sink = {out, STATS_SINK_JSON, false};
	const char *sep = "";
	fputs("  \"nics\": [", out);
	for (int i = 0; i < vm->devices.n; i++) {
		const struct devtable_entry *d = &vm->devices.entry[i];
		if (!d->report)
			continue;
		fprintf(out, "%s\n    ", sep);
		d->report(d->ctx, &sink);
		sep = ",";
	}
	fputs(*sep ? "\n  ],\n" : "],\n", out);
}

static void json_fixups(const struct stats_sum *sum, FILE *out)
{
	fputs("  \"fixups\": {", out);
	for (int i = FIXUP_NONE + 1; i < FIXUP_KINDS; i++) {
		fprintf(out, "%s", i == FIXUP_NONE + 1 ? "" : ", ");
		stats_json_string(insn_fixup_name((enum insn_fixup_kind)i), out);
		fprintf(out, ": %llu", (unsigned long long)sum->s.fixups[i]);
	}
	fputs("},\n", out);
}

static void print_json(const struct vm *vm, const struct stats_sum *sum, FILE *out)
{
	fprintf(out, "{\n  \"vcpus\": %d,\n  \"exits\": %llu,\n", vm->ncpus,
		(unsigned long long)sum->total_exits);
	fprintf(out, "  \"clock\": \"%s\",\n  \"quantile_max_error\": %.5f,\n", latency_source(vm),
		1.0 / (2 * LAT_SUB));
	json_reasons(sum, out);
	json_ranges(vm, sum, out);
	json_unclaimed(sum, out);
	fprintf(out,
		"  \"doorbells\": %llu,\n  \"interrupts\": %llu,\n  \"console_dropped\": %llu,\n",
		(unsigned long long)sum->doorbells, (unsigned long long)sum->interrupts,
		(unsigned long long)LOAD(vm->console.dropped));
	json_nics(vm, out);
	json_fixups(sum, out);
	fprintf(out, "  \"handling_s\": %.6f,\n  \"bookkeeping_ns_per_exit\": %.1f\n}\n",
		handling_seconds(sum), sum->bookkeeping_ns);
}

void stats_print_json(const struct vm *vm, FILE *out)
{
	struct stats_sum sum;
	if (sum_vcpus(vm, &sum) == 0)
		print_json(vm, &sum, out);
	else
		fputs("{\"error\": \"out of memory\"}\n", out);
	vcpu_stats_free(&sum.s);
}

void stats_report(const struct vm *vm, FILE *out)
{
	if (vm->cfg.stats == STATS_JSON)
		stats_print_json(vm, out);
	else
		stats_print(vm, out);
}
