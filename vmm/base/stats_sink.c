#include "vmm/base/stats_sink.h"

void stats_json_string(const char *s, FILE *out)
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

void stats_group_begin(struct stats_sink *s, const char *kind, const char *name)
{
	s->open = true;
	if (s->format == STATS_SINK_TEXT) {
		fprintf(s->out, "  %s %s:", kind, name);
		return;
	}
	fputs("{\"name\": ", s->out);
	stats_json_string(name, s->out);
}

void stats_u64(struct stats_sink *s, const char *key, uint64_t v)
{
	if (s->format == STATS_SINK_TEXT)
		fprintf(s->out, " %s=%llu", key, (unsigned long long)v);
	else
		fprintf(s->out, ", \"%s\": %llu", key, (unsigned long long)v);
}

void stats_group_end(struct stats_sink *s)
{
	if (s->open)
		fputs(s->format == STATS_SINK_TEXT ? "\n" : "}", s->out);
	s->open = false;
}
