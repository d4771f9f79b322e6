/*
 * One statistics schema: a subsystem says what it counts once, in an emit
 * function that makes one call per value, and a sink renders the calls, as
 * the text `--stats` prints or as the JSON `--stats=json` writes. Adding a
 * counter is one line where the subsystem emits its counters; both outputs
 * follow.
 *
 * Each value call names the value's JSON member (key; NULL for an element of
 * a list) and how the text shows it: text is a printf format with one
 * conversion for the value ("  %-28s", " %12llu\n", " rx_packets=%llu"), or
 * NULL when the text leaves the value out. The text is a table made for
 * people and grep, so what only it shows (headers, labels, a column derived
 * from others) goes through stats_text, which the JSON sink skips.
 *
 *   stats_str(s, "name", "  virtio-net %s:", "tap0");
 *   stats_u64(s, "rx_packets", " rx_packets=%llu", 3);
 *   text:  "  virtio-net tap0: rx_packets=3"
 *   JSON:  "name": "tap0", "rx_packets": 3
 */
#ifndef MINIVMM_STATS_SINK_H
#define MINIVMM_STATS_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum stats_sink_format { STATS_SINK_TEXT, STATS_SINK_JSON };

/* How a JSON object or list lays out its members. */
enum stats_layout {
	STATS_INLINE,	     /* {"a": 1, "b": 2} */
	STATS_LINES,	     /* each member on a line of its own, and the close */
	STATS_LINES_OR_NONE, /* the same, but [] or {} when empty */
};

/* The report nests five deep: itself, "nics", a NIC, its offloads, a list. */
#define STATS_SINK_DEPTH 8

struct stats_open {
	enum stats_layout layout;
	bool list;
	unsigned members; /* so far */
};

struct stats_sink {
	FILE *out;
	enum stats_sink_format format;
	unsigned depth; /* open objects and lists (JSON only) */
	struct stats_open open[STATS_SINK_DEPTH];
};

/* Nothing written yet: out, format and no open containers. */
static inline struct stats_sink stats_sink_make(FILE *out, enum stats_sink_format format)
{
	return (struct stats_sink){.out = out, .format = format};
}

/* An object or a list, a member named key of the one open (NULL in a list,
 * and for the outermost value, which ends its line when closed), at most
 * STATS_SINK_DEPTH deep. They shape the JSON only. */
void stats_object_begin(struct stats_sink *s, const char *key, enum stats_layout layout);
void stats_list_begin(struct stats_sink *s, const char *key, enum stats_layout layout);
/* Closes the innermost open object or list. */
void stats_end(struct stats_sink *s);

void stats_u64(struct stats_sink *s, const char *key, const char *text, uint64_t v);
/* JSON null for v NULL (the text then shows nothing). */
void stats_str(struct stats_sink *s, const char *key, const char *text, const char *v);
/* text gets "true" or "false" as a string. */
void stats_bool(struct stats_sink *s, const char *key, const char *text, bool v);
/* With decimals digits after the point in the JSON (text has its own). */
void stats_f64(struct stats_sink *s, const char *key, int decimals, const char *text, double v);

/* A latency histogram's summary, in ns. */
struct stats_lat {
	uint64_t count, p50, p90, p99, max;
};

/* Its members "count", "p50_ns", "p90_ns", "p99_ns", "max_ns"; in the text,
 * the count as text says ("" to leave it out) and then the quantile columns
 * of the --stats tables, which end the line; nothing for text NULL. */
void stats_lat(struct stats_sink *s, const char *text, const struct stats_lat *l);

/* Text only: what the JSON has in other members or not at all. */
void stats_text(struct stats_sink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
