/* minivmm-bench's command line, and the payload's, which carries the run's
 * shape to the guest. */
#ifndef MINIVMM_BENCH_ARGS_H
#define MINIVMM_BENCH_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "vmm/bench_abi.h"

struct bench_options {
	unsigned exits, rounds, timer_count, timeout;
	bool kinds[BENCH_KINDS];
	bool seccomp;
	const char *json_path; /* "-": JSON on stdout instead of the table */
	const char *qemu;      /* NULL: no QEMU column */
	const char *write_payload;
};

/* "pio_out", ...: the kinds by number, as --kinds and the messages name them. */
extern const char *const bench_kind_names[BENCH_KINDS];

/* Fills o from argv; -1 having said why on stderr. --help prints the usage
 * and exits. */
int bench_parse_args(int argc, char **argv, struct bench_options *o);

/* The payload's command line: "exits=N rounds=R timer=T kinds=K,K...". */
void bench_payload_cmdline(const struct bench_options *o, char *out, size_t n);

#endif
