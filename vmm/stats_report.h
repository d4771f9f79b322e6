/*
 * The --stats report: what the VM counted, taken at one moment into a
 * snapshot, then said once, section by section, into a sink
 * (vmm/base/stats_sink.h) that renders it as the text table or as JSON.
 */
#ifndef MINIVMM_STATS_REPORT_H
#define MINIVMM_STATS_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/base/stats_sink.h"
#include "vmm/stats.h"

struct bus;
struct devtable;
struct vm;

/* Everything the report shows, and nothing of the VM besides. */
struct stats_snapshot {
	struct vcpu_stats sum; /* every vCPU's counters added up */
	int ncpus;
	uint64_t exits; /* of every reason */
	/* Where each range is now (the ranges keep their slots). */
	const struct bus *pio, *mmio;
	const struct devtable *devices; /* those with a report: the NICs so far */
	uint64_t doorbells, interrupts, console_dropped;
	bool timed, tsc; /* the exit path's clock (struct stats_clock) */
	bool is_pvm;	 /* every fix-up kind gets a text line */
	double ns_per_tick;
	double bookkeeping_ns; /* per exit, measured when the snapshot was taken */
	/* The report at exit also says how the threads are filtered (text
	 * only, as it always was), and in JSON why the VM stopped: the text
	 * follows the line on stderr that says it, a JSON file has no other
	 * place for it (and stderr may have nobody reading). */
	bool at_exit;
	const char *stop_reason; /* NULL while no stop was requested */
	int stop_status;
	struct {
		bool off;
		int vcpu, worker, main; /* syscalls allowed; worker, main -1: no filter */
	} seccomp;
};

/* A live snapshot of vm (see stats.c on reading running vCPUs' counters);
 * -1 when out of memory. stats_snapshot_free after either. */
int stats_snapshot_take(struct stats_snapshot *snap, const struct vm *vm);
void stats_snapshot_free(struct stats_snapshot *snap);

/* The whole report, into s. */
void stats_emit(const struct stats_snapshot *snap, struct stats_sink *s);

/* The report as the table: exits by reason and accesses by device range,
 * each with latency quantiles, then doorbells, interrupts, NICs and
 * fix-ups. Safe while the vCPUs run (SIGUSR1). */
void stats_print(const struct vm *vm, FILE *out);
/* The same as one JSON object. */
void stats_print_json(const struct vm *vm, FILE *out);
/* Whichever vm->cfg asks for (text unless JSON), to out. */
void stats_report(const struct vm *vm, FILE *out);
/* The same at exit, with what only that report has. */
void stats_report_at_exit(const struct vm *vm, FILE *out);

#endif
