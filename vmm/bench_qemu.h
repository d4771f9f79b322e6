/* minivmm-bench's comparison run: the same payload under `qemu -enable-kvm`
 * (Debian's qemu-system-x86), its report read back from the debugcon port. */
#ifndef MINIVMM_BENCH_QEMU_H
#define MINIVMM_BENCH_QEMU_H

#include <stddef.h>

#include "vmm/bench_report.h"

#define REPORT_MAX (1 << 16) /* the payload writes about 100 bytes per kind */

/* Writes len bytes to a new file at path; 0 or -1. */
int bench_write_file(const char *path, const void *data, size_t len);

/* "QEMU emulator version ..." as qemu --version says it, else qemu. */
void bench_qemu_version(const char *qemu, char *out, size_t n);

/* Runs payload[0, payload_len) (an ELF) under qemu with cmdline, for at
 * most timeout seconds. Returns 0 with r filled in, else -1 having said why
 * on stderr. */
int bench_run_qemu(const char *qemu, unsigned timeout, const unsigned char *payload,
		   size_t payload_len, const char *cmdline, struct bench_results *r);

#endif
