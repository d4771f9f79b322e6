/*
 * One statistics schema: a subsystem says what it counts once, as a group of
 * named values, and a sink renders it, as the text `--stats` prints or as
 * the JSON `--stats=json` writes. Adding a counter is one line where the
 * subsystem lists its counters; both outputs follow.
 *
 *   text:  "  virtio-net tap0: rx_packets=3 tx_packets=5\n"
 *   JSON:  {"name": "tap0", "rx_packets": 3, "tx_packets": 5}
 */
#ifndef MINIVMM_STATS_SINK_H
#define MINIVMM_STATS_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum stats_sink_format { STATS_SINK_TEXT, STATS_SINK_JSON };

struct stats_sink {
	FILE *out;
	enum stats_sink_format format;
	bool open; /* inside a group */
};

/* A group of values about one thing: in text a line "  KIND NAME:", in JSON
 * an object that starts with "name". */
void stats_group_begin(struct stats_sink *s, const char *kind, const char *name);
/* One counter of the group: " key=v" or ", \"key\": v". */
void stats_u64(struct stats_sink *s, const char *key, uint64_t v);
/* Ends the group: the line, or the object (the caller may add more JSON
 * members first, each starting with ", "). */
void stats_group_end(struct stats_sink *s);

/* s as a JSON string, quoted and escaped (RFC 8259 §7). */
void stats_json_string(const char *s, FILE *out);

#endif
