/* The statistics schema: values said once, rendered as the text --stats
 * prints and as the JSON --stats=json writes. */
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fake_vm.h"

#include "virtio/virtio_net.h"
#include "vmm/base/stats_sink.h"

static char *render(enum stats_sink_format format, void (*emit)(struct stats_sink *))
{
	static char buf[2048];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	ck_assert_ptr_nonnull(f);
	struct stats_sink s = stats_sink_make(f, format);
	emit(&s);
	fclose(f);
	return buf;
}

/* A little of everything: nesting in each layout, a key and a string that
 * need escaping, a null, a real, a latency, text-only and JSON-only values. */
static void sample(struct stats_sink *s)
{
	stats_object_begin(s, NULL, STATS_LINES);
	stats_str(s, "na\"me", "dev %s:", "a\tb");
	stats_u64(s, "hits", " hits=%llu", 18446744073709551615ULL);
	stats_u64(s, "hidden", NULL, 1);
	stats_text(s, " (text only %d)\n", 7);
	stats_list_begin(s, "rows", STATS_LINES);
	for (int i = 0; i < 2; i++) {
		struct stats_lat l = {.count = 10u + i, .p50 = 1, .p90 = 2, .p99 = 3, .max = 4};
		stats_object_begin(s, NULL, STATS_INLINE);
		stats_bool(s, "odd", "%-5s", i);
		stats_lat(s, i ? "" : " %3llu", &l);
		stats_end(s);
	}
	stats_end(s);
	stats_list_begin(s, "none", STATS_LINES_OR_NONE);
	stats_end(s);
	stats_list_begin(s, "empty", STATS_LINES);
	stats_end(s);
	stats_object_begin(s, "inline", STATS_INLINE);
	stats_str(s, "why", NULL, NULL);
	stats_list_begin(s, "names", STATS_INLINE);
	stats_str(s, NULL, NULL, "x");
	stats_str(s, NULL, NULL, "y");
	stats_end(s);
	stats_end(s);
	stats_f64(s, "ratio", 3, "ratio %.1f\n", 0.03125);
	stats_end(s);
}

START_TEST(test_text_and_json)
{
	ck_assert_str_eq(render(STATS_SINK_TEXT, sample),
			 "dev a\tb: hits=18446744073709551615 (text only 7)\n"
			 "false  10        1        2        3         4\n"
			 "true         1        2        3         4\n"
			 "ratio 0.0\n");
	ck_assert_str_eq(render(STATS_SINK_JSON, sample),
			 "{\n"
			 "  \"na\\\"me\": \"a\\u0009b\",\n"
			 "  \"hits\": 18446744073709551615,\n"
			 "  \"hidden\": 1,\n"
			 "  \"rows\": [\n"
			 "    {\"odd\": false, \"count\": 10, \"p50_ns\": 1, \"p90_ns\": 2, "
			 "\"p99_ns\": 3, \"max_ns\": 4},\n"
			 "    {\"odd\": true, \"count\": 11, \"p50_ns\": 1, \"p90_ns\": 2, "
			 "\"p99_ns\": 3, \"max_ns\": 4}\n"
			 "  ],\n"
			 "  \"none\": [],\n"
			 "  \"empty\": [\n"
			 "  ],\n"
			 "  \"inline\": {\"why\": null, \"names\": [\"x\", \"y\"]},\n"
			 "  \"ratio\": 0.031\n"
			 "}\n");
}
END_TEST

static struct virtio_net net;

static void nic(struct stats_sink *s)
{
	virtio_net_emit_stats(&net, s);
}

/* virtio-net lists its counters once; both outputs have them all, in the
 * same order, named the same. */
START_TEST(test_virtio_net_counters)
{
	memset(&net, 0, sizeof(net));
	fake_nic_counters(&net, "tap0");
	ck_assert_str_eq(render(STATS_SINK_TEXT, nic),
			 "  virtio-net tap0: offloads guest->host none; host->guest none\n"
			 "  virtio-net tap0: rx_packets=1 rx_bytes=2 tx_packets=4 tx_bytes=5 "
			 "rx_dropped=3 tx_errors=6 interrupts=10 intx=11 kicks=7 rx_waits=8 "
			 "tx_waits=9\n");
	ck_assert_str_eq(render(STATS_SINK_JSON, nic),
			 "{\"name\": \"tap0\", \"rx_packets\": 1, \"rx_bytes\": 2, \"tx_packets\": "
			 "4, \"tx_bytes\": 5, \"rx_dropped\": 3, \"tx_errors\": 6, \"interrupts\": "
			 "10, \"intx\": 11, \"kicks\": 7, \"rx_waits\": 8, \"tx_waits\": 9, "
			 "\"offloads\": {\"guest_to_host\": [], \"host_to_guest\": [], "
			 "\"withheld\": null}}\n");
}
END_TEST

CHECK_MAIN("stats_sink", test_text_and_json, test_virtio_net_counters)
