/* Command-line parsing, kept apart from main() so it can be unit-tested. */
#ifndef MINIVMM_CLI_H
#define MINIVMM_CLI_H

#include <stdint.h>

#include "vmm/base/error.h"
#include "vmm/vm.h"

#define MINIVMM_VERSION "0.1.0"
#define CLI_DEFAULT_MEM (256ULL << 20)
#define CLI_MIN_MEM	(2ULL << 20)
#define CLI_MAX_MEM	(1ULL << 40)
#define CLI_MAX_CPUS	32		     /* what the MP table holds */
#define CLI_KVM_DEV_ENV "MINIVMM_KVM_DEVICE" /* tests only: another path for /dev/kvm */

/* The KVM device to open: $MINIVMM_KVM_DEVICE if set, else /dev/kvm. */
const char *cli_kvm_path(void);

enum cli_action {
	CLI_RUN,
	CLI_HELP,
	CLI_VERSION,
};

/* "256M", "2G", "1024" (MiB, like QEMU's -m), "4096K". */
int cli_parse_size(const char *s, uint64_t *out, struct errbuf *e);

/* A decimal number from min to max and nothing else (no sign, space or
 * unit): the count options of minivmm-bench and minivmm-vq-bench. */
bool cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Fills cfg; returns the action, or -1 with a one-line message in e. */
int cli_parse(int argc, char **argv, struct vm_config *cfg, struct errbuf *e);

/* --stats=json:PATH: can PATH be written? Checked before the VM is built,
 * so a typo is not found only when the VM stops. Leaves no file behind. */
int cli_check_stats_path(const char *path, struct errbuf *e);

/* Checks PATH as cli_check_stats_path() does, then opens it for writing
 * (creating it, not truncating it): at start, so that writing the stats at
 * the end needs neither the path nor the rights to open it, which minivmm
 * no longer has then (docs/security.md). *created says whether it made the
 * file, which its caller removes if the VM never ran. */
int cli_open_stats(const char *path, bool *created, struct errbuf *e);

/* 1 or 2 if fd (cli_open_stats's) is the file, pipe or terminal that
 * minivmm's own stdout or stderr is, else 0: PATH may be /dev/stdout, or the
 * file stdout was redirected to. Written through a descriptor of its own,
 * the report would truncate what the console wrote there, or cut into it;
 * it goes through that stream instead, after the console. */
int cli_stats_stream(int fd);

void cli_usage(FILE *out);

#endif
