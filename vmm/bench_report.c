#include "vmm/bench_report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[BENCH_KINDS] = {BENCH_KIND_NAMES};
static const char *const mode_names[BENCH_MODES] = {BENCH_MODE_NAMES};

static int lookup(const char *word, size_t len, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], word, len))
			return i;
	return -1;
}

/* "key=hex" at *p; advances past it. */
static bool field(const char **p, const char *key, uint64_t *out)
{
	size_t k = strlen(key);
	while (**p == ' ')
		(*p)++;
	if (strncmp(*p, key, k) || (*p)[k] != '=')
		return false;
	char *end;
	*out = strtoull(*p + k + 1, &end, 16);
	if (end == *p + k + 1)
		return false;
	*p = end;
	return true;
}

/* "r KIND MODE n=.. min=.. p50=.. p90=.. p99=.. max=.. sum=.." */
static bool parse_result(struct bench_results *r, const char *line, size_t len)
{
	char buf[256];
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, line, len);
	buf[len] = 0;
	const char *p = buf + 2;
	const char *sp = strchr(p, ' ');
	if (!sp)
		return false;
	int k = lookup(p, (size_t)(sp - p), kind_names, BENCH_KINDS);
	p = sp + 1;
	sp = strchr(p, ' ');
	if (k < 0 || !sp)
		return false;
	int m = lookup(p, (size_t)(sp - p), mode_names, BENCH_MODES);
	if (m < 0)
		return false;
	p = sp;
	struct bench_figures f = {.present = true};
	if (!field(&p, "n", &f.n) || !field(&p, "min", &f.min) || !field(&p, "p50", &f.p50) ||
	    !field(&p, "p90", &f.p90) || !field(&p, "p99", &f.p99) || !field(&p, "max", &f.max) ||
	    !field(&p, "sum", &f.sum) || f.n == 0)
		return false;
	r->fig[k][m] = f;
	return true;
}

int bench_parse_report(struct bench_results *r, const char *text, size_t len)
{
	int results = 0;
	size_t i = 0;
	while (i < len) {
		const char *line = text + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t n = nl ? (size_t)(nl - line) : len - i;
		i += n + 1;
		if (n > 2 && line[0] == 'r' && line[1] == ' ') {
			results += parse_result(r, line, n);
		} else if (n > 2 && line[0] == 's' && line[1] == ' ') {
			const char *sp = memchr(line + 2, ' ', n - 2);
			if (!sp)
				continue;
			int k = lookup(line + 2, (size_t)(sp - line - 2), kind_names, BENCH_KINDS);
			int m =
			    lookup(sp + 1, (size_t)(line + n - sp - 1), mode_names, BENCH_MODES);
			if (k >= 0 && m >= 0)
				r->skipped[k][m] = true;
		} else if (n == strlen("exitbench: done") && !memcmp(line, "exitbench: done", n)) {
			r->done = true;
		} else if (n > 18 && !memcmp(line, "exitbench: error: ", 18)) {
			snprintf(r->error, sizeof(r->error), "%.*s", (int)(n - 18), line + 18);
		}
	}
	return results;
}

static double ns(const struct bench_context *c, uint64_t ticks)
{
	return (double)ticks * c->ns_per_tick;
}

static double mean_ticks(const struct bench_figures *f)
{
	return (double)f->sum / (double)f->n;
}

/* minivmm over the floor by medians; 0 when either is missing. */
static double ratio(const struct bench_figures *a, const struct bench_figures *b)
{
	return a->present && b->present && a->p50 ? (double)b->p50 / (double)a->p50 : 0;
}

static const char *const kind_notes[BENCH_KINDS] = {
    [BENCH_PIO_OUT] = "out to port 0x80 (null device)",
    [BENCH_PIO_IN] = "in from port 0x80",
    [BENCH_MMIO_WRITE] = "32-bit write, null MMIO",
    [BENCH_MMIO_READ] = "32-bit read, null MMIO",
    [BENCH_DOORBELL] = "ioeventfd: the kernel, no exit to the VMM",
    [BENCH_HLT_TIMER] = "in-kernel APIC timer: includes the timer's own period",
};

static void cell(FILE *out, const struct bench_context *c, const struct bench_figures *f)
{
	if (f->present)
		fprintf(out, " %9.0f %9.0f", ns(c, f->p50), ns(c, f->p99));
	else
		fprintf(out, " %9s %9s", "-", "-");
}

void bench_print_table(FILE *out, const struct bench_results *r, const struct bench_context *c)
{
	fprintf(out,
		"minivmm-bench: ns per exit, guest-timed (TSC), %u rounds x %u exits per mode\n",
		c->rounds, c->exits);
	fprintf(out, "  host: %s; %s; TSC %.4f ns/tick%s\n", c->cpu, c->kvm, c->ns_per_tick,
		c->tsc_invariant ? ""
				 : " (TSC not flagged invariant: assumed steady over the run)");
	fprintf(out, "  minivmm's path: vcpu_run_once(), %s; floor: KVM_RUN alone, no seccomp\n",
		c->seccomp ? "under the vCPU seccomp allowlist" : "seccomp off");
	if (c->qemu)
		fprintf(out, "  qemu: %s, -enable-kvm -machine pc -cpu host\n", c->qemu_version);
	fprintf(out, "\n  %-10s %19s %19s %8s", "kind", "floor p50/p99", "minivmm p50/p99",
		"mv/floor");
	if (c->qemu)
		fprintf(out, " %19s %8s", "qemu p50/p99", "qemu/mv");
	fprintf(out, "\n");
	for (int k = 0; k < BENCH_KINDS; k++) {
		const struct bench_figures *fl = &r->fig[k][BENCH_MODE_FLOOR],
					   *mv = &r->fig[k][BENCH_MODE_MINIVMM],
					   *qe = &r->fig[k][BENCH_MODE_QEMU];
		if (!fl->present && !mv->present && !qe->present &&
		    !(c->qemu && r->skipped[k][BENCH_MODE_QEMU]))
			continue;
		fprintf(out, "  %-10s", kind_names[k]);
		cell(out, c, fl);
		cell(out, c, mv);
		double rt = ratio(fl, mv);
		if (rt)
			fprintf(out, " %7.3fx", rt);
		else
			fprintf(out, " %8s", "-");
		if (c->qemu) {
			cell(out, c, qe);
			double rq = ratio(mv, qe);
			if (rq)
				fprintf(out, " %7.2fx", rq);
			else
				fprintf(out, " %8s", r->skipped[k][BENCH_MODE_QEMU] ? "n/a" : "-");
		}
		fprintf(out, "   %s\n", kind_notes[k]);
	}
}

static void json_figures(FILE *out, const char *name, const struct bench_context *c,
			 const struct bench_figures *f)
{
	if (!f->present) {
		fprintf(out, "\"%s\": null", name);
		return;
	}
	fprintf(out,
		"\"%s\": {\"n\": %" PRIu64 ", \"min_ns\": %.1f, \"p50_ns\": %.1f, "
		"\"p90_ns\": %.1f, \"p99_ns\": %.1f, \"max_ns\": %.1f, \"mean_ns\": %.1f, "
		"\"p50_ticks\": %" PRIu64 "}",
		name, f->n, ns(c, f->min), ns(c, f->p50), ns(c, f->p90), ns(c, f->p99),
		ns(c, f->max), mean_ticks(f) * c->ns_per_tick, f->p50);
}

static void json_ratio(FILE *out, const char *name, double v)
{
	if (v)
		fprintf(out, "\"%s\": %.4f", name, v);
	else
		fprintf(out, "\"%s\": null", name);
}

/* A host string (CPU model, QEMU's version) as a JSON string body. */
static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, out);
	}
	fputc('"', out);
}

void bench_print_json(FILE *out, const struct bench_results *r, const struct bench_context *c)
{
	fprintf(out, "{\"host\": {\"cpu\": ");
	json_string(out, c->cpu);
	fprintf(out, ", \"kvm\": ");
	json_string(out, c->kvm);
	fprintf(out,
		", \"tsc_ns_per_tick\": %.6f, \"tsc_invariant\": %s},\n \"exits\": %u, "
		"\"rounds\": %u, \"timer_count\": %u, \"seccomp\": %s, \"qemu\": ",
		c->ns_per_tick, c->tsc_invariant ? "true" : "false", c->exits, c->rounds,
		c->timer_count, c->seccomp ? "true" : "false");
	if (c->qemu)
		json_string(out, c->qemu_version);
	else
		fprintf(out, "null");
	fprintf(out, ",\n \"kinds\": [");
	bool first = true;
	for (int k = 0; k < BENCH_KINDS; k++) {
		const struct bench_figures *f = r->fig[k];
		if (!f[BENCH_MODE_FLOOR].present && !f[BENCH_MODE_MINIVMM].present &&
		    !f[BENCH_MODE_QEMU].present)
			continue;
		fprintf(out, "%s\n  {\"kind\": \"%s\", ", first ? "" : ",", kind_names[k]);
		first = false;
		for (int m = 0; m < BENCH_MODES; m++) {
			json_figures(out, mode_names[m], c, &f[m]);
			fprintf(out, ", ");
		}
		double rt = ratio(&f[BENCH_MODE_FLOOR], &f[BENCH_MODE_MINIVMM]);
		double rq = ratio(&f[BENCH_MODE_MINIVMM], &f[BENCH_MODE_QEMU]);
		json_ratio(out, "minivmm_over_floor_p50", rt);
		fprintf(out, ", ");
		json_ratio(out, "qemu_over_minivmm_p50", rq);
		fprintf(out, "}");
	}
	fprintf(out, "\n ]}\n");
}
