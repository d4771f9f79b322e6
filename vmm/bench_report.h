/*
 * minivmm-bench's results: the payload's report lines (tests/payloads/
 * exitbench.c) parsed into per-kind, per-mode figures, and printed as a table
 * or as JSON. Kept apart from the machine so it can be unit-tested.
 */
#ifndef MINIVMM_BENCH_REPORT_H
#define MINIVMM_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/bench_abi.h"

/* One kind in one mode, in guest TSC ticks. */
struct bench_figures {
	bool present;
	uint64_t n, min, p50, p90, p99, max, sum;
};

struct bench_results {
	struct bench_figures fig[BENCH_KINDS][BENCH_MODES];
	bool skipped[BENCH_KINDS][BENCH_MODES]; /* the payload said "s KIND MODE" */
	bool done;				/* "exitbench: done" seen */
	char error[160];			/* "exitbench: error: ..." if seen */
};

/* Reads the payload's report (len bytes of text) into r, adding to what r
 * already holds (a QEMU run after minivmm's). Returns the number of result
 * lines; lines it does not know are ignored. */
int bench_parse_report(struct bench_results *r, const char *text, size_t len);

/* How the figures were taken, for the header and the JSON. */
struct bench_context {
	const char *cpu;    /* the host CPU's model name */
	const char *kvm;    /* e.g. "hardware KVM", "nested KVM (host is itself a VM)" */
	double ns_per_tick; /* guest TSC ticks to ns */
	bool tsc_invariant; /* the host says its TSC has a constant rate */
	unsigned exits, rounds, timer_count;
	bool seccomp; /* minivmm's path ran under the vCPU allowlist */
	bool qemu;    /* a QEMU column was measured */
	const char *qemu_version;
};

void bench_print_table(FILE *out, const struct bench_results *r, const struct bench_context *c);
void bench_print_json(FILE *out, const struct bench_results *r, const struct bench_context *c);

#endif
