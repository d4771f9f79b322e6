#include "vmm/base/stats_sink.h"

#include <stdarg.h>
#include <stdlib.h>

static bool json(const struct stats_sink *s)
{
	return s->format == STATS_SINK_JSON;
}

/* s as a JSON string, quoted and escaped (RFC 8259 §7). */
static void json_string(const char *s, FILE *out)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void newline(const struct stats_sink *s, unsigned depth)
{
	fprintf(s->out, "\n%*s", (int)(2 * depth), "");
}

/* What goes before a member of the innermost container: the separator, the
 * layout's line break, the key. */
static void member(struct stats_sink *s, const char *key)
{
	if (s->depth) {
		struct stats_open *c = &s->open[s->depth - 1];
		if (c->members++)
			fputc(',', s->out);
		if (c->layout == STATS_INLINE)
			fputs(c->members > 1 ? " " : "", s->out);
		else
			newline(s, s->depth);
	}
	if (key) {
		json_string(key, s->out);
		fputs(": ", s->out);
	}
}

static void begin(struct stats_sink *s, const char *key, enum stats_layout layout, bool list)
{
	if (!json(s))
		return;
	member(s, key);
	fputc(list ? '[' : '{', s->out);
	if (s->depth == STATS_SINK_DEPTH)
		abort(); /* an emit function's bug, which any test of it shows */
	s->open[s->depth++] = (struct stats_open){layout, list, 0};
}

void stats_object_begin(struct stats_sink *s, const char *key, enum stats_layout layout)
{
	begin(s, key, layout, false);
}

void stats_list_begin(struct stats_sink *s, const char *key, enum stats_layout layout)
{
	begin(s, key, layout, true);
}

void stats_end(struct stats_sink *s)
{
	if (!json(s) || !s->depth)
		return;
	const struct stats_open *c = &s->open[--s->depth];
	if (c->layout == STATS_LINES || (c->layout == STATS_LINES_OR_NONE && c->members))
		newline(s, s->depth);
	fputc(c->list ? ']' : '}', s->out);
	if (!s->depth)
		fputc('\n', s->out);
}

void stats_u64(struct stats_sink *s, const char *key, const char *text, uint64_t v)
{
	if (!json(s)) {
		if (text)
			fprintf(s->out, text, (unsigned long long)v);
		return;
	}
	member(s, key);
	fprintf(s->out, "%llu", (unsigned long long)v);
}

void stats_str(struct stats_sink *s, const char *key, const char *text, const char *v)
{
	if (!json(s)) {
		if (text && v)
			fprintf(s->out, text, v);
		return;
	}
	member(s, key);
	if (v)
		json_string(v, s->out);
	else
		fputs("null", s->out);
}

void stats_bool(struct stats_sink *s, const char *key, const char *text, bool v)
{
	if (!json(s)) {
		if (text)
			fprintf(s->out, text, v ? "true" : "false");
		return;
	}
	member(s, key);
	fputs(v ? "true" : "false", s->out);
}

void stats_f64(struct stats_sink *s, const char *key, int decimals, const char *text, double v)
{
	if (!json(s)) {
		if (text)
			fprintf(s->out, text, v);
		return;
	}
	member(s, key);
	fprintf(s->out, "%.*f", decimals, v);
}

void stats_lat(struct stats_sink *s, const char *text, const struct stats_lat *l)
{
	if (!json(s)) {
		if (!text)
			return;
		fprintf(s->out, text, (unsigned long long)l->count);
		fprintf(s->out, " %8llu %8llu %8llu %9llu\n", (unsigned long long)l->p50,
			(unsigned long long)l->p90, (unsigned long long)l->p99,
			(unsigned long long)l->max);
		return;
	}
	stats_u64(s, "count", NULL, l->count);
	stats_u64(s, "p50_ns", NULL, l->p50);
	stats_u64(s, "p90_ns", NULL, l->p90);
	stats_u64(s, "p99_ns", NULL, l->p99);
	stats_u64(s, "max_ns", NULL, l->max);
}

void stats_text(struct stats_sink *s, const char *fmt, ...)
{
	if (json(s))
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(s->out, fmt, ap);
	va_end(ap);
}
