/* The split-virtqueue walker against well-formed and hostile rings. */
#include <stdlib.h>
#include <string.h>

#include "check_main.h"

#include "virtio/virtqueue.h"

#define RAM	 (1u << 20)
#define QSIZE	 8
#define DESC_AT	 0x1000
#define AVAIL_AT 0x2000
#define USED_AT	 0x3000
#define BUF_AT	 0x10000

static struct guest_mem mem;
static uint8_t *ram;
static struct virtq q;
static struct virtq_chain chain;

static struct vring_desc *desc(void)
{
	return (struct vring_desc *)(ram + DESC_AT);
}

static struct vring_avail *avail(void)
{
	return (struct vring_avail *)(ram + AVAIL_AT);
}

static struct vring_used *used(void)
{
	return (struct vring_used *)(ram + USED_AT);
}

static struct virtq_fault why; /* the last virtq_init()'s refusal */

static const char *fault_text(const struct virtq_fault *f)
{
	static char text[160];
	return virtq_fault_text(f, text, sizeof(text));
}

static void setup_q(uint16_t size, bool event_idx, bool indirect)
{
	ck_assert_int_eq(
	    virtq_init(&q, &mem, size, DESC_AT, AVAIL_AT, USED_AT, event_idx, indirect, &why), 0);
}

static void setup(void)
{
	ram = calloc(1, RAM);
	guest_mem_layout(&mem, RAM);
	mem.host = ram;
	setup_q(QSIZE, false, true);
}

static void teardown(void)
{
	free(ram);
}

static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	desc()[i] = (struct vring_desc){addr, len, flags, next};
}

/* Publishes head as the driver would: ring entry, then index. */
static void publish(uint16_t head)
{
	avail()->ring[avail()->idx % q.size] = head;
	avail()->idx++;
}

START_TEST(test_empty_queue)
{
	ck_assert_int_eq(virtq_pop(&q, &chain), 0);
	ck_assert(!virtq_has_avail(&q));
}
END_TEST

START_TEST(test_single_readable)
{
	set_desc(3, BUF_AT, 100, 0, 0);
	publish(3);
	ck_assert(virtq_has_avail(&q));
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.head, 3);
	ck_assert_uint_eq(chain.n_out, 1);
	ck_assert_uint_eq(chain.n_in, 0);
	ck_assert_uint_eq(chain.out_len, 100);
	ck_assert_ptr_eq(chain.iov[0].iov_base, ram + BUF_AT);
	ck_assert_int_eq(virtq_pop(&q, &chain), 0);
}
END_TEST

START_TEST(test_chain_readable_then_writable)
{
	set_desc(0, BUF_AT, 12, VRING_DESC_F_NEXT, 5);
	set_desc(5, BUF_AT + 0x100, 1500, VRING_DESC_F_NEXT, 2);
	set_desc(2, BUF_AT + 0x1000, 2000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 7);
	set_desc(7, BUF_AT + 0x2000, 10, VRING_DESC_F_WRITE, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_out, 2);
	ck_assert_uint_eq(chain.n_in, 2);
	ck_assert_uint_eq(chain.out_len, 1512);
	ck_assert_uint_eq(chain.in_len, 2010);
	ck_assert_ptr_eq(chain.iov[2].iov_base, ram + BUF_AT + 0x1000);
	ck_assert_uint_eq(chain.iov[3].iov_len, 10);
}
END_TEST

START_TEST(test_zero_length_descriptor_skipped)
{
	set_desc(0, BUF_AT, 0, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_AT, 64, VRING_DESC_F_WRITE, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_out, 0);
	ck_assert_uint_eq(chain.n_in, 1);
	ck_assert_uint_eq(chain.in_len, 64);
}
END_TEST

START_TEST(test_wrapped_indexes)
{
	/* Both free-running 16-bit indexes about to wrap past 65535. */
	avail()->idx = 65534;
	q.last_avail = 65534;
	set_desc(1, BUF_AT, 8, 0, 0);
	for (int i = 0; i < 4; i++)
		publish(1);
	ck_assert_uint_eq(avail()->idx, 2);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(virtq_pop(&q, &chain), 1);
		virtq_push(&q, chain.head, 0);
	}
	ck_assert_int_eq(virtq_pop(&q, &chain), 0);
	ck_assert_uint_eq(q.last_avail, 2);
	ck_assert_uint_eq(used()->idx, 4);
}
END_TEST

START_TEST(test_push_writes_used_ring)
{
	set_desc(4, BUF_AT, 8, VRING_DESC_F_WRITE, 0);
	publish(4);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	virtq_push(&q, chain.head, 6);
	ck_assert_uint_eq(used()->idx, 1);
	ck_assert_uint_eq(used()->ring[0].id, 4);
	ck_assert_uint_eq(used()->ring[0].len, 6);
}
END_TEST

START_TEST(test_indirect_chain)
{
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	table[0] = (struct vring_desc){BUF_AT, 10, VRING_DESC_F_NEXT, 2};
	table[2] =
	    (struct vring_desc){BUF_AT + 0x100, 20, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1};
	table[1] = (struct vring_desc){BUF_AT + 0x200, 30, VRING_DESC_F_WRITE, 0};
	set_desc(6, 0x4000, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(6);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.head, 6);
	ck_assert_uint_eq(chain.n_out, 1);
	ck_assert_uint_eq(chain.n_in, 2);
	ck_assert_uint_eq(chain.in_len, 50);
}
END_TEST

/* Each hostile ring: pop refuses it, and the next well-formed chain still
 * works (the queue is not wedged). */
static void expect_refused_then_recovers(void)
{
	ck_assert_int_lt(virtq_pop(&q, &chain), 0);
	set_desc(7, BUF_AT, 4, 0, 0);
	publish(7);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.head, 7);
}

START_TEST(test_loop_refused)
{
	set_desc(0, BUF_AT, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_AT, 4, VRING_DESC_F_NEXT, 0);
	publish(0);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_self_loop_refused)
{
	set_desc(2, BUF_AT, 4, VRING_DESC_F_NEXT, 2);
	publish(2);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_next_out_of_range_refused)
{
	set_desc(0, BUF_AT, 4, VRING_DESC_F_NEXT, QSIZE);
	publish(0);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_head_out_of_range_refused)
{
	publish(QSIZE + 3);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_address_outside_ram_refused)
{
	set_desc(0, RAM - 8, 16, 0, 0); /* straddles the end of RAM */
	publish(0);
	expect_refused_then_recovers();
	set_desc(0, 0xfffffffffffffff0ULL, 0x20, 0, 0); /* wraps */
	publish(0);
	expect_refused_then_recovers();
	set_desc(0, GUEST_PCI_HOLE_START, 4, 0, 0);
	publish(0);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_readable_after_writable_refused)
{
	set_desc(0, BUF_AT, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_AT, 4, 0, 0);
	publish(0);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_avail_index_too_far_ahead_refused)
{
	avail()->idx = QSIZE + 1; /* more than the ring holds */
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_AVAIL_AHEAD);
}
END_TEST

START_TEST(test_indirect_not_negotiated_refused)
{
	setup_q(QSIZE, false, false);
	set_desc(0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_indirect_bad_tables_refused)
{
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	/* Length not a multiple of 16. */
	set_desc(0, 0x4000, 24, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_refused_then_recovers();
	/* INDIRECT together with NEXT. */
	table[0] = (struct vring_desc){BUF_AT, 4, 0, 0};
	set_desc(0, 0x4000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	publish(0);
	expect_refused_then_recovers();
	/* Nested indirect. */
	table[0] = (struct vring_desc){0x4000, 16, VRING_DESC_F_INDIRECT, 0};
	set_desc(0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_refused_then_recovers();
	/* A loop inside the table. */
	table[0] = (struct vring_desc){BUF_AT, 4, VRING_DESC_F_NEXT, 1};
	table[1] = (struct vring_desc){BUF_AT, 4, VRING_DESC_F_NEXT, 0};
	set_desc(0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_refused_then_recovers();
	/* next beyond the table. */
	table[0] = (struct vring_desc){BUF_AT, 4, VRING_DESC_F_NEXT, 2};
	publish(0);
	expect_refused_then_recovers();
	/* Table outside RAM. */
	set_desc(0, RAM - 16, 32, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_refused_then_recovers();
	/* An indirect descriptor that is not first in its chain. */
	set_desc(1, BUF_AT, 4, VRING_DESC_F_NEXT, 0);
	set_desc(0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	table[0] = (struct vring_desc){BUF_AT, 4, 0, 0};
	publish(1);
	expect_refused_then_recovers();
}
END_TEST

START_TEST(test_overlong_chain_refused)
{
	/* A 512-entry queue with one chain of 300 non-empty buffers: longer
	 * than VIRTQ_MAX_SEGS, though not a loop. */
	setup_q(512, false, false);
	for (uint16_t i = 0; i < 300; i++)
		set_desc(i, BUF_AT + i, 1, i < 299 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_TOO_MANY_BUFFERS);
	/* Exactly VIRTQ_MAX_SEGS is accepted. */
	set_desc(VIRTQ_MAX_SEGS - 1, BUF_AT, 1, 0, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_out, VIRTQ_MAX_SEGS);
}
END_TEST

/* A chain costs the device one step per descriptor it visits, empty ones
 * included, so a chain may not make it visit more than the queue size
 * (§2.7.5.3.1: "A driver MUST NOT create a descriptor chain longer than the
 * Queue Size of the device"). An indirect table's own length used to be its
 * only bound: 2^28 entries of zero-length descriptors, none of which counted
 * toward VIRTQ_MAX_SEGS, took the worker seconds per chain. */
START_TEST(test_indirect_table_longer_than_queue_refused)
{
	/* 32768 zero-length descriptors, linked in order, in the upper half
	 * of RAM; only the last has a buffer. */
	const uint32_t n = 32768;
	struct vring_desc *table = (struct vring_desc *)(ram + RAM / 2);
	for (uint32_t i = 0; i < n; i++)
		table[i] =
		    (struct vring_desc){BUF_AT, i == n - 1 ? 4 : 0,
					i == n - 1 ? 0 : VRING_DESC_F_NEXT, (uint16_t)(i + 1)};
	set_desc(0, RAM / 2, n * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_INDIRECT_TOO_LONG);
	ck_assert_msg(strstr(fault_text(&chain.fault),
			     "chain 0: indirect table of 32768 entries, more than the "
			     "queue's 8 (§2.7.5.3.1)"),
		      "%s", fault_text(&chain.fault));
	ck_assert_uint_eq(chain.ndesc, 1); /* refused before walking the table */
	/* A table of exactly the queue size is fine, each descriptor counted. */
	table[QSIZE - 1] = (struct vring_desc){BUF_AT, 4, 0, 0};
	set_desc(0, RAM / 2, QSIZE * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_out, 1);
	ck_assert_uint_eq(chain.ndesc, 1 + QSIZE);
	/* One more entry than the queue size is refused, before any walk. */
	table[QSIZE] = (struct vring_desc){BUF_AT, 4, 0, 0};
	set_desc(0, RAM / 2, (QSIZE + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_refused_then_recovers();
}
END_TEST

/* Zero-length descriptors count as visited: a loop of them is found after
 * as many steps as the queue has descriptors, like any other loop. */
START_TEST(test_zero_length_loop_refused)
{
	for (uint16_t i = 0; i < QSIZE; i++)
		set_desc(i, BUF_AT, 0, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % QSIZE));
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_CHAIN_LOOPS);
	ck_assert_msg(strstr(fault_text(&chain.fault), "chain 0 loops"), "%s",
		      fault_text(&chain.fault));
	ck_assert_uint_eq(chain.ndesc, QSIZE);
	/* Empty descriptors short of a loop are legal, and counted. */
	set_desc(QSIZE - 1, BUF_AT, 4, 0, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_out, 1);
	ck_assert_uint_eq(chain.ndesc, QSIZE);

	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	for (uint16_t i = 0; i < QSIZE; i++)
		table[i] =
		    (struct vring_desc){BUF_AT, 0, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % QSIZE)};
	set_desc(1, 0x4000, QSIZE * 16, VRING_DESC_F_INDIRECT, 0);
	publish(1);
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_INDIRECT_LOOPS);
	ck_assert_msg(strstr(fault_text(&chain.fault), "indirect table loops"), "%s",
		      fault_text(&chain.fault));
	ck_assert_uint_eq(chain.ndesc, 1 + QSIZE);
}
END_TEST

/* A chain's buffers add up to at most VIRTQ_MAX_CHAIN_BYTES, readable and
 * writable together: the most a virtio-net frame or receive posting needs. */
START_TEST(test_chain_bytes_bounded)
{
	const uint32_t max = VIRTQ_MAX_CHAIN_BYTES;
	ck_assert_uint_eq(max, 256u << 10);
	/* Readable and writable each under the bound, together over it. */
	set_desc(0, BUF_AT, max / 2, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_AT, max / 2 + 1, VRING_DESC_F_WRITE, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_TOO_MANY_BYTES);
	ck_assert_msg(
	    strstr(fault_text(&chain.fault), "chain 0: buffers add up to more than 262144 bytes"),
	    "%s", fault_text(&chain.fault));
	/* Exactly the bound is accepted. */
	set_desc(1, BUF_AT, max / 2, VRING_DESC_F_WRITE, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.out_len + chain.in_len, max);
	/* One buffer over it, through an indirect table too. */
	set_desc(2, BUF_AT, max + 1, 0, 0);
	publish(2);
	expect_refused_then_recovers();
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	table[0] = (struct vring_desc){BUF_AT, max, VRING_DESC_F_NEXT, 1};
	table[1] = (struct vring_desc){BUF_AT, 1, 0, 0};
	set_desc(3, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	publish(3);
	expect_refused_then_recovers();
}
END_TEST

/* The largest chains a Linux guest makes still pass: a 64 KiB TSO frame
 * (header, linear part, 17 page fragments) and a receive posting without
 * MRG_RXBUF (header, then 18 pages less the header's room), both through
 * indirect tables of a 256-entry queue. */
START_TEST(test_largest_linux_chains_accepted)
{
	setup_q(256, false, true);
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	table[0] = (struct vring_desc){BUF_AT, 12, VRING_DESC_F_NEXT, 1};
	table[1] = (struct vring_desc){BUF_AT, 14 + 20 + 20 + 2682, VRING_DESC_F_NEXT, 2};
	for (uint16_t i = 2; i < 19; i++)
		table[i] = (struct vring_desc){BUF_AT, 3700, i < 18 ? VRING_DESC_F_NEXT : 0,
					       (uint16_t)(i + 1)};
	set_desc(0, 0x4000, 19 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_out, 19);
	ck_assert_uint_eq(chain.ndesc, 20);
	ck_assert_uint_eq(chain.out_len, 12 + 2736 + 17 * 3700);

	table[0] = (struct vring_desc){BUF_AT, 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1};
	table[1] =
	    (struct vring_desc){BUF_AT, 4096 - 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2};
	for (uint16_t i = 2; i < 19; i++)
		table[i] = (struct vring_desc){
		    BUF_AT, 4096, VRING_DESC_F_WRITE | (i < 18 ? VRING_DESC_F_NEXT : 0),
		    (uint16_t)(i + 1)};
	set_desc(1, 0x4000, 19 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(1);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	ck_assert_uint_eq(chain.n_in, 19);
	ck_assert_uint_eq(chain.in_len, 12 + 4080 + 17 * 4096);
}
END_TEST

/* Each refusal returns its own code, negated, and says why in the chain's
 * fault, for the device's report; the next pop clears it: a reason is only
 * ever the last pop's. */
static void expect_reason(enum virtq_fault_code code, const char *part)
{
	ck_assert_int_eq(virtq_pop(&q, &chain), -(int)code);
	ck_assert_int_eq(chain.fault.code, code);
	const char *text = fault_text(&chain.fault);
	ck_assert_msg(strstr(text, part), "reason '%s' lacks '%s'", text, part);
	ck_assert_int_eq(virtq_pop(&q, &chain), 0);
	ck_assert_int_eq(chain.fault.code, VIRTQ_FAULT_NONE);
}

START_TEST(test_refusals_say_why)
{
	struct vring_desc *table = (struct vring_desc *)(ram + 0x4000);
	set_desc(0, BUF_AT, 4, VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_AT, 4, VRING_DESC_F_NEXT, 0);
	publish(0);
	expect_reason(VIRTQ_CHAIN_LOOPS, "chain 0 loops");
	set_desc(0, RAM - 8, 16, 0, 0);
	publish(0);
	expect_reason(VIRTQ_BUFFER_OUTSIDE, "chain 0: buffer 0xffff8+16 is not all in guest RAM");
	set_desc(0, BUF_AT, 4, VRING_DESC_F_NEXT, QSIZE);
	publish(0);
	expect_reason(VIRTQ_NEXT_OUTSIDE, "next 8 outside");
	set_desc(0, BUF_AT, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(1, BUF_AT, 4, 0, 0);
	publish(0);
	expect_reason(VIRTQ_READ_AFTER_WRITE, "readable buffer after a writable one");
	table[0] = (struct vring_desc){0x4000, 16, VRING_DESC_F_INDIRECT, 0};
	set_desc(0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_reason(VIRTQ_INDIRECT_NESTED, "nested indirect");
	table[0] = (struct vring_desc){BUF_AT, 4, VRING_DESC_F_NEXT, 1};
	table[1] = (struct vring_desc){BUF_AT, 4, VRING_DESC_F_NEXT, 0};
	set_desc(0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	publish(0);
	expect_reason(VIRTQ_INDIRECT_LOOPS, "indirect table loops");
	publish(QSIZE + 3);
	expect_reason(VIRTQ_HEAD_OUTSIDE, "entry 11 is outside");
	avail()->idx = (uint16_t)(avail()->idx + 1000);
	ck_assert_int_eq(virtq_pop(&q, &chain), -VIRTQ_AVAIL_AHEAD);
	ck_assert_msg(strstr(fault_text(&chain.fault), "1000 ahead"), "%s",
		      fault_text(&chain.fault));

	struct virtq v;
	ck_assert_int_eq(virtq_init(&v, &mem, 6, DESC_AT, AVAIL_AT, USED_AT, 0, 0, &why),
			 -VIRTQ_BAD_SIZE);
	ck_assert_int_eq(why.code, VIRTQ_BAD_SIZE);
	ck_assert_str_eq(fault_text(&why), "size 6 is not a power of 2 up to 32768");
	ck_assert_int_eq(virtq_init(&v, &mem, 8, RAM - 64, AVAIL_AT, USED_AT, 0, 0, &why),
			 -VIRTQ_RING_OUTSIDE);
	ck_assert_int_eq(why.code, VIRTQ_RING_OUTSIDE);
	ck_assert_str_eq(fault_text(&why), "descriptor table at 0xfffc0 is not all in guest RAM");
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT, AVAIL_AT, AVAIL_AT, 0, 0, &why),
			 -VIRTQ_USED_OVER_AVAIL);
	ck_assert_int_eq(why.code, VIRTQ_USED_OVER_AVAIL);
	ck_assert_msg(strstr(fault_text(&why), "covers the available index"), "%s",
		      fault_text(&why));
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT, AVAIL_AT, USED_AT, 0, 0, &why), 0);
	ck_assert_int_eq(why.code, VIRTQ_FAULT_NONE);
}
END_TEST

START_TEST(test_init_validation)
{
	struct virtq v;
	ck_assert_int_eq(virtq_init(&v, &mem, 0, DESC_AT, AVAIL_AT, USED_AT, 0, 0, &why),
			 -VIRTQ_BAD_SIZE);
	ck_assert_int_eq(virtq_init(&v, &mem, 6, DESC_AT, AVAIL_AT, USED_AT, 0, 0, &why),
			 -VIRTQ_BAD_SIZE);
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT + 8, AVAIL_AT, USED_AT, 0, 0, &why),
			 -VIRTQ_MISALIGNED);
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT, AVAIL_AT + 1, USED_AT, 0, 0, &why),
			 -VIRTQ_MISALIGNED);
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT, AVAIL_AT, USED_AT + 2, 0, 0, &why),
			 -VIRTQ_MISALIGNED);
	ck_assert_int_eq(virtq_init(&v, &mem, 8, RAM - 64, AVAIL_AT, USED_AT, 0, 0, &why),
			 -VIRTQ_RING_OUTSIDE);
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT, AVAIL_AT, RAM - 16, 0, 0, &why),
			 -VIRTQ_RING_OUTSIDE);
	ck_assert_int_eq(virtq_init(&v, &mem, 32768, 0, 0x80000, 0x90000, 0, 0, &why), 0);
	/* The used ring is the device's: init starts it at 0. */
	used()->idx = 77;
	ck_assert_int_eq(virtq_init(&v, &mem, 8, DESC_AT, AVAIL_AT, USED_AT, 0, 0, &why), 0);
	ck_assert_uint_eq(used()->idx, 0);
}
END_TEST

START_TEST(test_need_event_arithmetic)
{
	/* §2.7.10: notify when used_event lies in [old, new). */
	ck_assert(virtq_need_event(0, 1, 0));
	ck_assert(!virtq_need_event(1, 1, 0));
	ck_assert(virtq_need_event(5, 10, 0));
	ck_assert(!virtq_need_event(10, 10, 0));
	ck_assert(virtq_need_event(65535, 2, 65530)); /* across the wrap */
	ck_assert(!virtq_need_event(3, 2, 65530));
	ck_assert(!virtq_need_event(65529, 2, 65530));
}
END_TEST

START_TEST(test_notify_flags_without_event_idx)
{
	set_desc(0, BUF_AT, 4, 0, 0);
	publish(0);
	ck_assert_int_eq(virtq_pop(&q, &chain), 1);
	virtq_push(&q, 0, 0);
	ck_assert(virtq_should_notify(&q));
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	virtq_push(&q, 0, 0);
	ck_assert(!virtq_should_notify(&q));

	virtq_set_notify(&q, false);
	ck_assert(used()->flags & VRING_USED_F_NO_NOTIFY);
	virtq_set_notify(&q, true);
	ck_assert(!(used()->flags & VRING_USED_F_NO_NOTIFY));
}
END_TEST

START_TEST(test_notify_with_event_idx)
{
	setup_q(QSIZE, true, false);
	uint16_t *used_event = &avail()->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&used()->ring[QSIZE];
	set_desc(0, BUF_AT, 4, 0, 0);
	for (int i = 0; i < 4; i++)
		publish(0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(virtq_pop(&q, &chain), 1);

	*used_event = 0;
	virtq_push(&q, 0, 0); /* used idx 0 -> 1: crosses event 0 */
	ck_assert(virtq_should_notify(&q));
	virtq_push(&q, 0, 0); /* 1 -> 2: event 0 already passed */
	ck_assert(!virtq_should_notify(&q));
	*used_event = 3;
	virtq_push(&q, 0, 0); /* 2 -> 3 */
	ck_assert(!virtq_should_notify(&q));
	virtq_push(&q, 0, 0); /* 3 -> 4: crosses 3 */
	ck_assert(virtq_should_notify(&q));

	virtq_set_notify(&q, true);
	ck_assert_uint_eq(*avail_event, q.last_avail);
}
END_TEST

CHECK_MAIN_FIXTURE("virtqueue", setup, teardown, test_empty_queue, test_single_readable,
		   test_chain_readable_then_writable, test_zero_length_descriptor_skipped,
		   test_wrapped_indexes, test_push_writes_used_ring, test_indirect_chain,
		   test_loop_refused, test_self_loop_refused, test_next_out_of_range_refused,
		   test_head_out_of_range_refused, test_address_outside_ram_refused,
		   test_readable_after_writable_refused, test_avail_index_too_far_ahead_refused,
		   test_indirect_not_negotiated_refused, test_indirect_bad_tables_refused,
		   test_overlong_chain_refused, test_indirect_table_longer_than_queue_refused,
		   test_zero_length_loop_refused, test_chain_bytes_bounded,
		   test_largest_linux_chains_accepted, test_refusals_say_why, test_init_validation,
		   test_need_event_arithmetic, test_notify_flags_without_event_idx,
		   test_notify_with_event_idx)
