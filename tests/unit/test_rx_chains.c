/* The receive chains a virtio-net device holds between frames: in order,
 * end to end for one readv(), used and returned as §5.1.6.4 says, bounded. */
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

#include "virtio/net_engine.h"

#define RAM	 (1u << 20)
#define QSIZE	 256
#define DESC_AT	 0x1000
#define AVAIL_AT 0x2000
#define USED_AT	 0x3000
#define BUF_AT	 0x10000

static struct guest_mem mem;
static uint8_t *ram;
static struct virtq q;
static struct rx_chains rx;

static void setup(void)
{
	ram = calloc(1, RAM);
	guest_mem_layout(&mem, RAM);
	mem.host = ram;
	struct virtq_fault why;
	ck_assert_int_eq(virtq_init(&q, &mem, QSIZE, DESC_AT, AVAIL_AT, USED_AT, 0, 0, &why), 0);
	ck_assert_int_eq(rx_chains_init(&rx), 0);
}

static void teardown(void)
{
	rx_chains_destroy(&rx);
	free(ram);
}

/* A writable chain of nbuf buffers of len bytes each, as virtq_pop() would
 * hand it over, its buffers laid out one after the other from at. */
static struct virtq_chain chain_of(uint16_t head, unsigned nbuf, uint32_t len, uint32_t at)
{
	struct virtq_chain c = {.head = head, .n_in = nbuf, .in_len = nbuf * len};
	for (unsigned i = 0; i < nbuf; i++)
		c.iov[i] = (struct iovec){ram + at + i * len, len};
	return c;
}

static struct vring_used_elem used_elem(uint16_t i)
{
	struct vring_used *u = (struct vring_used *)(ram + USED_AT);
	return u->ring[i % QSIZE];
}

static uint16_t used_idx(void)
{
	return ((struct vring_used *)(ram + USED_AT))->idx;
}

START_TEST(test_chains_end_to_end_in_order)
{
	struct virtq_chain a = chain_of(5, 2, 1000, BUF_AT),
			   b = chain_of(9, 1, 1500, BUF_AT + 4096);
	ck_assert(rx_chains_add(&rx, &a));
	ck_assert(rx_chains_add(&rx, &b));
	ck_assert_uint_eq(rx.count, 2);
	ck_assert_uint_eq(rx.cap, 3500);
	ck_assert_uint_eq(rx.ndesc, 3);
	uint32_t n;
	struct iovec *iov = rx_chains_iov(&rx, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_ptr_eq(iov[0].iov_base, ram + BUF_AT);
	ck_assert_ptr_eq(iov[1].iov_base, ram + BUF_AT + 1000);
	ck_assert_ptr_eq(iov[2].iov_base, ram + BUF_AT + 4096);
}
END_TEST

/* A header the driver split over buffers (§2.6.4 lets it): num_buffers,
 * bytes 10-11, lands where it belongs, here split between the third buffer
 * (byte 10) and the fourth (byte 11), and nothing else is written. */
START_TEST(test_num_buffers_in_a_split_header)
{
	/* Buffers of 4, 4, 3 and 1500 bytes, 64 bytes apart. */
	static const uint32_t lens[] = {4, 4, 3, 1500};
	struct virtq_chain c = {.head = 7, .n_in = 4, .in_len = 4 + 4 + 3 + 1500};
	for (unsigned i = 0; i < 4; i++)
		c.iov[i] = (struct iovec){ram + BUF_AT + 64 * i, lens[i]};
	memset(ram + BUF_AT, 0xee, 4096);
	ck_assert(rx_chains_add(&rx, &c));
	ck_assert_uint_eq(rx_chains_use(&rx, &q, 100), 1);
	ck_assert_uint_eq(ram[BUF_AT + 128 + 2], 1);	/* byte 10: num_buffers' low byte */
	ck_assert_uint_eq(ram[BUF_AT + 192 + 0], 0);	/* byte 11: its high byte */
	ck_assert_uint_eq(ram[BUF_AT + 128 + 1], 0xee); /* byte 9: untouched */
	ck_assert_uint_eq(ram[BUF_AT + 192 + 1], 0xee); /* byte 12: untouched */
	ck_assert_uint_eq(used_elem(0).id, 7);
	ck_assert_uint_eq(used_elem(0).len, 100);
}
END_TEST

/* A frame spread over two chains: both used, the first to its full length
 * (§5.1.6.4), num_buffers 2 in the header; the third waits for the next
 * frame, first in line. */
START_TEST(test_use_fills_used_ring_and_num_buffers)
{
	struct virtq_chain a = chain_of(1, 1, 1536, BUF_AT),
			   b = chain_of(2, 1, 1536, BUF_AT + 2048),
			   c = chain_of(3, 1, 1536, BUF_AT + 4096);
	ck_assert(rx_chains_add(&rx, &a) && rx_chains_add(&rx, &b) && rx_chains_add(&rx, &c));
	ck_assert_uint_eq(rx_chains_use(&rx, &q, 2000), 2);
	ck_assert_uint_eq(used_idx(), 2);
	ck_assert_uint_eq(used_elem(0).id, 1);
	ck_assert_uint_eq(used_elem(0).len, 1536);
	ck_assert_uint_eq(used_elem(1).id, 2);
	ck_assert_uint_eq(used_elem(1).len, 2000 - 1536);
	uint16_t nb;
	memcpy(&nb, ram + BUF_AT + offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), 2);
	ck_assert_uint_eq(nb, 2);
	ck_assert_uint_eq(rx.count, 1);
	ck_assert_uint_eq(rx.cap, 1536);
	uint32_t n;
	struct iovec *iov = rx_chains_iov(&rx, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_ptr_eq(iov[0].iov_base, ram + BUF_AT + 4096);
	/* The next frame goes into chain 3, with num_buffers 1. */
	ck_assert_uint_eq(rx_chains_use(&rx, &q, 60), 1);
	ck_assert_uint_eq(used_elem(2).id, 3);
	ck_assert_uint_eq(used_elem(2).len, 60);
	memcpy(&nb, ram + BUF_AT + 4096 + offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers),
	       2);
	ck_assert_uint_eq(nb, 1);
	ck_assert_uint_eq(rx.count, 0);
	ck_assert_uint_eq(rx.cap, 0);
}
END_TEST

/* One readv() takes at most RX_IOV_MAX entries, one of them the device's
 * spill byte; the chain that would not fit is refused, changing nothing.
 * Using the first chains makes room again, by compacting when needed. */
START_TEST(test_iov_bound_and_compaction)
{
	unsigned added = 0;
	for (uint16_t h = 0; h < 200; h++) {
		struct virtq_chain c = chain_of(h, 100, 16, BUF_AT);
		if (!rx_chains_add(&rx, &c))
			break;
		added++;
	}
	ck_assert_uint_eq(added, (RX_IOV_MAX - 1) / 100);
	uint32_t n;
	rx_chains_iov(&rx, &n);
	ck_assert_uint_eq(n, added * 100);
	/* Use the first: 100 entries free, but at the front. */
	ck_assert_uint_eq(rx_chains_use(&rx, &q, 100), 1);
	struct virtq_chain c = chain_of(77, 100, 16, BUF_AT + 8192);
	ck_assert(rx_chains_add(&rx, &c));
	struct iovec *iov = rx_chains_iov(&rx, &n);
	ck_assert_uint_eq(n, added * 100);
	ck_assert_ptr_eq(iov[n - 1].iov_base, ram + BUF_AT + 8192 + 99 * 16);
	ck_assert_uint_eq(rx.count, added);
}
END_TEST

START_TEST(test_chain_count_bound)
{
	for (unsigned h = 0; h < RX_CHAINS_MAX; h++) {
		struct virtq_chain c = chain_of((uint16_t)h, 1, 16, BUF_AT);
		ck_assert(rx_chains_add(&rx, &c));
	}
	struct virtq_chain c = chain_of(0, 1, 16, BUF_AT);
	ck_assert(!rx_chains_add(&rx, &c));
	ck_assert_uint_eq(rx_chains_clear(&rx), RX_CHAINS_MAX);
	ck_assert_uint_eq(rx.count, 0);
	ck_assert_uint_eq(rx.cap, 0);
	ck_assert_uint_eq(rx.ndesc, 0);
	ck_assert(rx_chains_add(&rx, &c));
}
END_TEST

/* The ring wraps: chains added and used many times over keep their order. */
START_TEST(test_ring_wraps)
{
	uint16_t next_used = 0;
	for (unsigned round = 0; round < 3 * RX_CHAINS_MAX; round++) {
		struct virtq_chain a = chain_of((uint16_t)(2 * round % QSIZE), 1, 64, BUF_AT),
				   b = chain_of((uint16_t)((2 * round + 1) % QSIZE), 1, 64,
						BUF_AT + 64);
		ck_assert(rx_chains_add(&rx, &a) && rx_chains_add(&rx, &b));
		ck_assert_uint_eq(rx_chains_use(&rx, &q, 64), 1);
		ck_assert_uint_eq(used_elem(next_used++).id, 2 * round % QSIZE);
		ck_assert_uint_eq(rx_chains_use(&rx, &q, 10), 1);
		ck_assert_uint_eq(used_elem(next_used++).id, (2 * round + 1) % QSIZE);
	}
}
END_TEST

CHECK_MAIN_FIXTURE("rx_chains", setup, teardown, test_chains_end_to_end_in_order,
		   test_use_fills_used_ring_and_num_buffers, test_num_buffers_in_a_split_header,
		   test_iov_bound_and_compaction, test_chain_count_bound, test_ring_wraps)
