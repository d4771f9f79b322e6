#include "vmm/bench_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cli.h"

const char *const bench_kind_names[BENCH_KINDS] = {BENCH_KIND_NAMES};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: minivmm-bench [--exits N] [--rounds R] [--kinds K,K...] [--timer-count T]\n"
	    "                     [--json[=PATH]] [--qemu[=QEMU]] [--no-seccomp] [--timeout S]\n"
	    "                     [--write-payload FILE]\n"
	    "  kinds: pio_out pio_in mmio_write mmio_read doorbell hlt_timer (default: all)\n");
}

static int parse_uint(const char *opt, const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;
	if (!cli_parse_uint(s, min, max, &v)) {
		fprintf(stderr, "minivmm-bench: %s %s: must be a number from %u to %u\n", opt, s,
			min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_kinds(const char *s, bool *kinds)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int k = 0;
		while (k < BENCH_KINDS && strcmp(w, bench_kind_names[k]))
			k++;
		if (k == BENCH_KINDS) {
			fprintf(stderr, "minivmm-bench: --kinds: unknown kind '%s'\n", w);
			return -1;
		}
		kinds[k] = true;
	}
	return 0;
}

int bench_parse_args(int argc, char **argv, struct bench_options *o)
{
	static const struct option opts[] = {
	    {"exits", required_argument, NULL, 'e'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"kinds", required_argument, NULL, 'k'},
	    {"timer-count", required_argument, NULL, 't'},
	    {"json", optional_argument, NULL, 'j'},
	    {"qemu", optional_argument, NULL, 'q'},
	    {"no-seccomp", no_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"write-payload", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	*o = (struct bench_options){
	    .exits = 20000, .rounds = 10, .timer_count = 10000, .timeout = 600, .seccomp = true};
	bool any_kind = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (parse_uint("--exits", optarg, 1, 1000000, &o->exits))
				return -1;
			break;
		case 'r':
			if (parse_uint("--rounds", optarg, 1, 1000, &o->rounds))
				return -1;
			break;
		case 'k':
			if (parse_kinds(optarg, o->kinds))
				return -1;
			any_kind = true;
			break;
		case 't':
			if (parse_uint("--timer-count", optarg, 1, 100000000, &o->timer_count))
				return -1;
			break;
		case 'j':
			o->json_path = optarg ? optarg : "-";
			break;
		case 'q':
			o->qemu = optarg ? optarg : "qemu-system-x86_64";
			break;
		case 's':
			o->seccomp = false;
			break;
		case 'T':
			if (parse_uint("--timeout", optarg, 1, 86400, &o->timeout))
				return -1;
			break;
		case 'w':
			o->write_payload = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "minivmm-bench: %s: unknown option or missing value\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "minivmm-bench: %s: unexpected argument\n", argv[optind]);
		return -1;
	}
	if ((uint64_t)o->exits * o->rounds > 4000000) {
		fprintf(stderr, "minivmm-bench: --exits x --rounds: at most 4000000 samples per "
				"mode\n");
		return -1;
	}
	if (!any_kind)
		for (int k = 0; k < BENCH_KINDS; k++)
			o->kinds[k] = true;
	return 0;
}

void bench_payload_cmdline(const struct bench_options *o, char *out, size_t n)
{
	int len = snprintf(out, n, "exits=%u rounds=%u timer=%u kinds=", o->exits, o->rounds,
			   o->timer_count);
	const char *sep = "";
	for (int k = 0; k < BENCH_KINDS; k++)
		if (o->kinds[k] && len >= 0 && (size_t)len < n) {
			len +=
			    snprintf(out + len, n - (size_t)len, "%s%s", sep, bench_kind_names[k]);
			sep = ",";
		}
}
