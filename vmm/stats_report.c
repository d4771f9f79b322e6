/*
 * The --stats report, each section said once into a sink. The text is a
 * table people read and scripts grep, the JSON is for programs; where they
 * differ (a label, a column the text derives, a line only the text has) the
 * section says the text part with stats_text next to the values.
 */
#include "vmm/stats_report.h"

#include <string.h>

#include "vmm/base/seccomp.h"
#include "vmm/vm.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

int stats_snapshot_take(struct stats_snapshot *snap, const struct vm *vm)
{
	memset(snap, 0, sizeof(*snap));
	struct vcpu_stats *t = &snap->sum;
	if (vcpu_stats_init(t, vm->pio.count, vm->mmio.count))
		return -1;
	for (int c = 0; c < vm->ncpus; c++)
		vcpu_stats_add(t, &vm->vcpus[c].stats);
	for (int i = 0; i < STATS_EXIT_SLOTS; i++)
		snap->exits += t->exits[i];
	snap->ncpus = vm->ncpus;
	snap->pio = &vm->pio;
	snap->mmio = &vm->mmio;
	snap->devices = &vm->devices;
	for (int i = 0; i < vm->devices.n; i++) {
		const struct devtable_entry *d = &vm->devices.entry[i];
		if (d->count)
			d->count(d->ctx, &snap->doorbells, &snap->interrupts);
	}
	snap->console_dropped = LOAD(vm->console.dropped);
	if (stop_requested(&vm->stop)) { /* then final (vmm/stop.h) */
		snap->stop_reason = vm->stop.reason;
		snap->stop_status = vm->stop.status;
	}
	snap->timed = vm->stats_clock.timed;
	snap->tsc = vm->stats_clock.tsc;
	snap->is_pvm = vm->kvm.is_pvm;
	snap->ns_per_tick = stats_clock_ns_per_tick(&vm->stats_clock);
	snap->bookkeeping_ns = stats_bookkeeping_ns(&vm->stats_clock, 10000);
	snap->seccomp.off = vm->cfg.no_seccomp;
	snap->seccomp.vcpu = seccomp_vcpu_syscalls();
	snap->seccomp.worker = vm->cfg.tap ? seccomp_worker_syscalls() : -1;
	snap->seccomp.main = seccomp_main_filtered() ? seccomp_main_syscalls() : -1;
	return 0;
}

void stats_snapshot_free(struct stats_snapshot *snap)
{
	vcpu_stats_free(&snap->sum);
}

/* A histogram's figures in ns. */
static struct stats_lat summarise(const struct lat_hist *h, double ns_per_tick)
{
#define NS(t) (uint64_t)((double)(t)*ns_per_tick + 0.5)
	return (struct stats_lat){
	    .count = h->count,
	    .p50 = NS(lat_hist_quantile(h, 500)),
	    .p90 = NS(lat_hist_quantile(h, 900)),
	    .p99 = NS(lat_hist_quantile(h, 990)),
	    .max = NS(h->max),
	};
#undef NS
}

static const char *clock_name(const struct stats_snapshot *snap)
{
	return snap->tsc ? "rdtsc" : "CLOCK_MONOTONIC";
}

static void emit_header(const struct stats_snapshot *snap, struct stats_sink *s)
{
	stats_u64(s, "vcpus", NULL, (uint64_t)snap->ncpus);
	stats_u64(s, "exits", "minivmm stats: %llu exits on ", snap->exits);
	stats_text(s, "%d vCPU(s)\n", snap->ncpus);
	/* What the latency columns were measured with. */
	stats_str(s, "clock",
		  "  latency: KVM_RUN returning to the next KVM_RUN, ns, quantiles within 3.2%% "
		  "(%s)\n",
		  snap->timed ? clock_name(snap)
			      : "not measured: no invariant TSC, and --stats was not given");
	stats_f64(s, "quantile_max_error", 5, NULL, 1.0 / (2 * LAT_SUB));
}

/* The exit reasons seen. The text counts exits, the JSON timed exits: they
 * differ by the exits before timing was on. */
static void emit_reasons(const struct stats_snapshot *snap, struct stats_sink *s)
{
	const struct vcpu_stats *t = &snap->sum;
	stats_text(s, "  %-28s %12s %8s %8s %8s %9s\n", "exit reason", "count", "p50", "p90", "p99",
		   "max");
	stats_list_begin(s, "reasons", STATS_LINES);
	for (unsigned i = 0; i < STATS_EXIT_SLOTS; i++) {
		const struct lat_hist *h = stats_reason_lat(t, i);
		if (!t->exits[i] && !h->count)
			continue;
		struct stats_lat l = summarise(h, snap->ns_per_tick);
		stats_object_begin(s, NULL, STATS_INLINE);
		stats_str(s, "name", "  %-28s",
			  i == STATS_EXIT_SLOTS - 1 ? "other" : kvm_exit_name(i));
		stats_text(s, " %12llu", (unsigned long long)t->exits[i]);
		stats_lat(s, "", &l);
		stats_end(s);
	}
	stats_end(s);
}

/* Ranges in slot order: a range keeps its line, and its counts, wherever
 * the guest moves it; the address is where it is now ("-" if not mapped). */
static void emit_bus_ranges(const struct stats_snapshot *snap, bool pio, struct stats_sink *s)
{
	const struct vcpu_stats *t = &snap->sum;
	const struct bus *b = pio ? snap->pio : snap->mmio;
	for (size_t slot = 0; slot < b->count; slot++) {
		uint64_t n = pio ? t->pio_hits[slot] : t->mmio_hits[slot];
		const struct lat_hist *h =
		    pio ? stats_pio_lat(t, (long)slot) : stats_mmio_lat(t, (long)slot);
		if (!n && !h->count)
			continue;
		struct bus_range r = bus_range_at(b, (uint32_t)slot);
		struct stats_lat l = summarise(h, snap->ns_per_tick);
		char where[40] = "-";
		if (r.mapped)
			snprintf(where, sizeof(where), "0x%08llx+%llx", (unsigned long long)r.base,
				 (unsigned long long)r.len);
		stats_object_begin(s, NULL, STATS_INLINE);
		stats_str(s, "bus", "  %-5s", b->name);
		stats_str(s, "name", " %-34s", r.name);
		stats_text(s, " %-17s", where);
		stats_bool(s, "mapped", NULL, r.mapped);
		stats_u64(s, "base", NULL, r.base);
		stats_u64(s, "len", NULL, r.len);
		stats_u64(s, "accesses", " %12llu", n);
		stats_lat(s, " %10llu", &l);
		stats_end(s);
	}
}

static void emit_ranges(const struct stats_snapshot *snap, struct stats_sink *s)
{
	stats_text(s, "  %-5s %-34s %-17s %12s %10s %8s %8s %8s %9s\n", "bus", "device", "range",
		   "accesses", "exits", "p50", "p90", "p99", "max");
	stats_list_begin(s, "ranges", STATS_LINES);
	emit_bus_ranges(snap, true, s);
	emit_bus_ranges(snap, false, s);
	stats_end(s);
}

/* Scripts grep for "(unclaimed)" followed by nothing but the access count,
 * so in the text the latency of those exits gets a line of its own. */
static void emit_bus_unclaimed(const struct bus *b, uint64_t accesses, const struct lat_hist *h,
			       double ns_per_tick, struct stats_sink *s)
{
	struct stats_lat l = summarise(h, ns_per_tick);
	stats_object_begin(s, b->name, STATS_INLINE);
	stats_text(s, "  %-5s %-34s %-17s", b->name, "(unclaimed)", "");
	stats_u64(s, "accesses", " %12llu\n", accesses);
	if (h->count)
		stats_text(s, "  %-5s %-34s %-17s %12s", b->name, "(unclaimed) latency", "", "-");
	stats_lat(s, h->count ? " %10llu" : NULL, &l);
	stats_end(s);
}

static void emit_unclaimed(const struct stats_snapshot *snap, struct stats_sink *s)
{
	const struct vcpu_stats *t = &snap->sum;
	stats_object_begin(s, "unclaimed", STATS_LINES);
	emit_bus_unclaimed(snap->pio, t->pio_unclaimed, stats_pio_lat(t, -1), snap->ns_per_tick, s);
	emit_bus_unclaimed(snap->mmio, t->mmio_unclaimed, stats_mmio_lat(t, -1), snap->ns_per_tick,
			   s);
	stats_end(s);
}

/* A VM-wide counter: "  label  count" in the text. */
static void vm_counter(struct stats_sink *s, const char *key, const char *label, uint64_t v)
{
	stats_text(s, "  %-28s", label);
	stats_u64(s, key, " %12llu\n", v);
}

static void emit_counters(const struct stats_snapshot *snap, struct stats_sink *s)
{
	vm_counter(s, "doorbells", "ioeventfd-served doorbells", snap->doorbells);
	vm_counter(s, "interrupts", "injected interrupts", snap->interrupts);
	vm_counter(s, "console_dropped", "console bytes dropped", snap->console_dropped);
}

static void emit_nics(const struct stats_snapshot *snap, struct stats_sink *s)
{
	/* The devices that report are the NICs so far (their JSON key). */
	stats_list_begin(s, "nics", STATS_LINES_OR_NONE);
	for (int i = 0; snap->devices && i < snap->devices->n; i++) {
		const struct devtable_entry *d = &snap->devices->entry[i];
		if (d->report)
			d->report(d->ctx, s);
	}
	stats_end(s);
}

/* Every kind in the JSON; in the text those that happened, or all on a PVM
 * host, where they are expected. */
static void emit_fixups(const struct stats_snapshot *snap, struct stats_sink *s)
{
	stats_object_begin(s, "fixups", STATS_INLINE);
	for (int i = FIXUP_NONE + 1; i < FIXUP_KINDS; i++) {
		const char *name = insn_fixup_name((enum insn_fixup_kind)i);
		bool shown = snap->sum.fixups[i] || snap->is_pvm;
		if (shown)
			stats_text(s, "  completed for the guest: %-10s", name);
		stats_u64(s, name, shown ? " %12llu\n" : NULL, snap->sum.fixups[i]);
	}
	stats_end(s);
}

/* Seconds spent between KVM_RUN calls, over all vCPUs, and the share of
 * them the bookkeeping took. */
static void emit_cost(const struct stats_snapshot *snap, struct stats_sink *s)
{
	uint64_t ticks = 0;
	for (unsigned i = 0; i < STATS_EXIT_SLOTS; i++)
		ticks += snap->sum.lat[i].sum;
	double secs = (double)ticks * snap->ns_per_tick / 1e9;
	stats_f64(s, "handling_s", 6, NULL, secs);
	stats_f64(s, "bookkeeping_ns_per_exit", 1, NULL, snap->bookkeeping_ns);
	stats_text(s,
		   "  bookkeeping: %.0f ns per exit (%s, measured now, warm caches); "
		   "%.3f s handling exits, of which ~%.2f%% bookkeeping\n",
		   snap->bookkeeping_ns, clock_name(snap), secs,
		   secs > 0 ? 100.0 * (double)snap->exits * snap->bookkeeping_ns / 1e9 / secs
			    : 0.0);
}

static void emit_seccomp(const struct stats_snapshot *snap, struct stats_sink *s)
{
	if (snap->seccomp.off) {
		stats_text(s, "  seccomp: off (--no-seccomp)\n");
		return;
	}
	stats_text(s, "  seccomp: on (%d syscalls allowed for vCPU threads", snap->seccomp.vcpu);
	if (snap->seccomp.worker >= 0)
		stats_text(s, ", %d for the NIC worker", snap->seccomp.worker);
	if (snap->seccomp.main >= 0)
		stats_text(s, ", %d for the main thread)\n", snap->seccomp.main);
	else
		stats_text(s, "; the main thread is not filtered in sanitizer builds)\n");
}

/* JSON only: "stopped": {"reason": ..., "status": ...}, minivmm's exit
 * status. */
static void emit_stop(const struct stats_snapshot *snap, struct stats_sink *s)
{
	if (!snap->stop_reason)
		return;
	stats_object_begin(s, "stopped", STATS_INLINE);
	stats_str(s, "reason", NULL, snap->stop_reason);
	stats_u64(s, "status", NULL, (uint64_t)snap->stop_status);
	stats_end(s);
}

void stats_emit(const struct stats_snapshot *snap, struct stats_sink *s)
{
	stats_object_begin(s, NULL, STATS_LINES);
	emit_header(snap, s);
	emit_reasons(snap, s);
	emit_ranges(snap, s);
	emit_unclaimed(snap, s);
	emit_counters(snap, s);
	emit_nics(snap, s);
	emit_fixups(snap, s);
	emit_cost(snap, s);
	if (snap->at_exit) {
		emit_seccomp(snap, s);
		emit_stop(snap, s);
	}
	stats_end(s);
}

static void report(const struct vm *vm, enum stats_sink_format format, bool at_exit, FILE *out)
{
	struct stats_sink s = stats_sink_make(out, format);
	struct stats_snapshot snap;
	if (stats_snapshot_take(&snap, vm) == 0) {
		snap.at_exit = at_exit;
		stats_emit(&snap, &s);
	} else {
		stats_object_begin(&s, NULL, STATS_INLINE);
		stats_str(&s, "error", "minivmm stats: %s\n", "out of memory");
		stats_end(&s);
	}
	stats_snapshot_free(&snap);
}

void stats_print(const struct vm *vm, FILE *out)
{
	report(vm, STATS_SINK_TEXT, false, out);
}

void stats_print_json(const struct vm *vm, FILE *out)
{
	report(vm, STATS_SINK_JSON, false, out);
}

static enum stats_sink_format format_of(const struct vm *vm)
{
	return vm->cfg.stats == STATS_JSON ? STATS_SINK_JSON : STATS_SINK_TEXT;
}

void stats_report(const struct vm *vm, FILE *out)
{
	report(vm, format_of(vm), false, out);
}

void stats_report_at_exit(const struct vm *vm, FILE *out)
{
	report(vm, format_of(vm), true, out);
}
