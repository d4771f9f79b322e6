/* The statistics schema: a group of counters, said once, rendered as the
 * text --stats prints and as the JSON --stats=json writes. */
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

#include "virtio/virtio_net.h"
#include "vmm/base/stats_sink.h"

static char *render(enum stats_sink_format format, void (*emit)(struct stats_sink *))
{
	static char buf[1024];
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	ck_assert_ptr_nonnull(f);
	struct stats_sink s = {f, format, false};
	emit(&s);
	stats_group_end(&s);
	fclose(f);
	return buf;
}

static void two_counters(struct stats_sink *s)
{
	stats_group_begin(s, "dev", "a\"b");
	stats_u64(s, "hits", 3);
	stats_u64(s, "misses", 18446744073709551615ULL);
}

START_TEST(test_text_and_json)
{
	ck_assert_str_eq(render(STATS_SINK_TEXT, two_counters),
			 "  dev a\"b: hits=3 misses=18446744073709551615\n");
	ck_assert_str_eq(render(STATS_SINK_JSON, two_counters),
			 "{\"name\": \"a\\\"b\", \"hits\": 3, \"misses\": 18446744073709551615}");
}
END_TEST

static struct virtio_net net;

static void nic(struct stats_sink *s)
{
	virtio_net_emit_counters(&net, s);
}

/* virtio-net lists its counters once; both outputs have them all, in the
 * same order, named the same. */
START_TEST(test_virtio_net_counters)
{
	memset(&net, 0, sizeof(net));
	net.backend.name = "tap0";
	net.stats = (struct virtio_net_stats){.rx_packets = 1,
					      .rx_bytes = 2,
					      .rx_dropped = 3,
					      .tx_packets = 4,
					      .tx_bytes = 5,
					      .tx_errors = 6,
					      .kicks = 7,
					      .rx_waits = 8,
					      .tx_waits = 9};
	net.vp.interrupts = 10;
	net.vp.intx_interrupts = 11;
	ck_assert_str_eq(render(STATS_SINK_TEXT, nic),
			 "  virtio-net tap0: rx_packets=1 rx_bytes=2 tx_packets=4 tx_bytes=5 "
			 "rx_dropped=3 tx_errors=6 interrupts=10 intx=11 kicks=7 rx_waits=8 "
			 "tx_waits=9\n");
	ck_assert_str_eq(render(STATS_SINK_JSON, nic),
			 "{\"name\": \"tap0\", \"rx_packets\": 1, \"rx_bytes\": 2, \"tx_packets\": "
			 "4, \"tx_bytes\": 5, \"rx_dropped\": 3, \"tx_errors\": 6, \"interrupts\": "
			 "10, \"intx\": 11, \"kicks\": 7, \"rx_waits\": 8, \"tx_waits\": 9}");
}
END_TEST

CHECK_MAIN("stats_sink", test_text_and_json, test_virtio_net_counters)
