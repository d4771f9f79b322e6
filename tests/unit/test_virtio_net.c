/*
 * The virtio-net device end to end, without KVM: the real device and its
 * worker thread, a datagram socketpair as the backend (one read or write is
 * one "12-byte virtio_net_hdr_mrg_rxbuf + frame", as with a TAP), and this
 * test playing Linux's virtio_net driver over the modern PCI transport: it
 * lays out split rings in fake guest RAM, negotiates, kicks through the
 * notify area (forwarded to the kick eventfds when vm_fd is -1) and waits
 * for the used ring or the peer socket.
 */
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "virtio/virtio_net.h"
#include "virtio_driver.h"

#define RAM	   (1u << 20)
#define QSIZE	   16
#define HDR	   VIRTIO_NET_HDR_LEN
#define RX_BUF	   0x10000 /* receive buffers, RX_STRIDE apart */
#define RX_STRIDE  0x200
#define TX_BUF	   0x40000
#define RINGS_END  0x8000
#define TIMEOUT_MS 3000
#define FEAT(b)	   (1ULL << (b))

/* The driver's view of one queue: where its rings are, its avail index and
 * that index when it last decided whether to kick. */
struct dq {
	uint16_t index;
	uint64_t desc, avail, used;
	uint16_t avail_idx, kicked_idx;
};

static struct guest_mem mem;
static uint8_t *ram;
static struct virtio_net net;
static int dev_fd = -1, peer = -1;
static struct dq rxq = {VIRTIO_NET_RXQ, 0x1000, 0x2000, 0x3000, 0, 0};
static struct dq txq = {VIRTIO_NET_TXQ, 0x4000, 0x5000, 0x6000, 0, 0};
static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
static unsigned offloads[8];
static int n_offloads;

static int record_offload(void *ctx, unsigned tun_flags, struct errbuf *e)
{
	(void)e;
	ck_assert_ptr_eq(ctx, offloads);
	if (n_offloads < 8)
		offloads[n_offloads] = tun_flags;
	n_offloads++;
	return 0;
}

static void setup(void)
{
	ram = calloc(1, RAM);
	guest_mem_layout(&mem, RAM);
	mem.host = ram;
	n_offloads = 0;
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	dev_fd = sv[0];
	peer = sv[1];
	const struct virtio_net_backend be = {
	    .fd = dev_fd, .name = "sp0", .set_offload = record_offload, .ctx = offloads};
	struct errbuf e;
	ck_assert_int_eq(virtio_net_init(&net, &be, mac, &mem, NULL, -1, NULL, &e), 0);
}

static void teardown(void)
{
	virtio_net_destroy(&net); /* joins the worker before RAM goes away */
	close(dev_fd);
	close(peer);
	free(ram);
}

/* ---- the driver side ------------------------------------------------------ */

#define F(f)	offsetof(struct virtio_pci_common_cfg, f)
#define STAT(f) __atomic_load_n(&net.stats.f, __ATOMIC_RELAXED)
/* The worker runs on its own: poll for what it should do, with a deadline. */
#define EVENTUALLY(cond)                                                                           \
	do {                                                                                       \
		for (int ms_ = 0; !(cond) && ms_ < TIMEOUT_MS; ms_++)                              \
			usleep(1000);                                                              \
		ck_assert_msg((cond), "timed out waiting for %s", #cond);                          \
	} while (0)

static void w(uint32_t off, uint32_t v, uint32_t len)
{
	virtio_pci_bar_io(&net.vp, off, (uint8_t *)&v, len, true);
}

static uint32_t r(uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	virtio_pci_bar_io(&net.vp, off, (uint8_t *)&v, len, false);
	return v;
}

static uint8_t status(void)
{
	return (uint8_t)r(F(device_status), 1);
}

#define desc(q)	 ((struct vring_desc *)(ram + (q)->desc))
#define avail(q) ((struct vring_avail *)(ram + (q)->avail))
#define used(q)	 ((struct vring_used *)(ram + (q)->used))

static uint16_t used_idx(struct dq *q)
{
	return __atomic_load_n(&used(q)->idx, __ATOMIC_ACQUIRE);
}

/* §2.7.10: avail_event trails the used ring, used_event the avail ring. */
static uint16_t avail_event(struct dq *q)
{
	return __atomic_load_n((uint16_t *)&used(q)->ring[QSIZE], __ATOMIC_SEQ_CST);
}

static void set_desc(struct dq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	desc(q)[i] = (struct vring_desc){addr, len, flags, next};
}

/* §2.7.13: ring entry first, then the index; sequentially consistent, so
 * the reads of the device's kick suppression that follow see its latest
 * word (a full barrier, as Linux's virtio_mb()). */
static void publish(struct dq *q, uint16_t head)
{
	avail(q)->ring[q->avail_idx % QSIZE] = head;
	__atomic_store_n(&avail(q)->idx, ++q->avail_idx, __ATOMIC_SEQ_CST);
}

/* Writes the queue's doorbell in the notify area (§4.1.5.2). */
static void notify(struct dq *q)
{
	w(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q->index, q->index, 2);
}

/* Whether the device asks for a kick for avail entries [old, new), as
 * Linux's virtqueue_kick_prepare() reads it (§2.7.10). */
static bool wants_kick(struct dq *q, uint16_t old, uint16_t new)
{
	if (virtio_pci_has_feature(&net.vp, VIRTIO_RING_F_EVENT_IDX))
		return vring_need_event(avail_event(q), new, old);
	return !(__atomic_load_n(&used(q)->flags, __ATOMIC_SEQ_CST) & VRING_USED_F_NO_NOTIFY);
}

/* Idle: the device asks for a kick for the next buffer. */
static bool idle(struct dq *q)
{
	return wants_kick(q, q->avail_idx, (uint16_t)(q->avail_idx + 1));
}

/* A well-behaved driver kicks only when asked: a device that suppressed
 * kicks must find the buffers without one, or the test times out. */
static bool kick(struct dq *q)
{
	bool want = wants_kick(q, q->kicked_idx, q->avail_idx);
	q->kicked_idx = q->avail_idx;
	if (want)
		notify(q);
	return want;
}

static void setup_queue(struct dq *q)
{
	w(F(queue_select), q->index, 2);
	w(F(queue_size), QSIZE, 2);
	w(F(queue_desc_lo), (uint32_t)q->desc, 4);
	w(F(queue_avail_lo), (uint32_t)q->avail, 4);
	w(F(queue_used_lo), (uint32_t)q->used, 4);
	w(F(queue_enable), 1, 2);
}

/* §3.1.1 from a reset to DRIVER_OK with fresh, empty rings. */
static void driver_start(uint64_t features)
{
	features |= FEAT(VIRTIO_F_VERSION_1);
	w(F(device_status), 0, 1); /* stops the worker, if any, first */
	memset(ram, 0, RINGS_END);
	rxq.avail_idx = txq.avail_idx = rxq.kicked_idx = txq.kicked_idx = 0;
	ck_assert(virtio_driver_negotiate(&net.vp, features) & VIRTIO_CONFIG_S_FEATURES_OK);
	setup_queue(&rxq);
	setup_queue(&txq);
	w(F(device_status), status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	ck_assert_uint_eq(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* A header (with offload fields the device must pass through untouched)
 * followed by a frame of len bytes with a pattern from seed. The header
 * asks for a partial checksum: a driver that sends it negotiates CSUM. */
#define CSUM FEAT(VIRTIO_NET_F_CSUM)
static void make_packet(uint8_t *p, size_t len, uint8_t seed)
{
	struct virtio_net_hdr_mrg_rxbuf h = {
	    .hdr = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16}};
	memcpy(p, &h, HDR);
	for (size_t i = 0; i < len; i++)
		p[HDR + i] = (uint8_t)(seed + i * 7);
}

static void peer_send(const uint8_t *p, size_t len)
{
	ck_assert_int_eq(send(peer, p, len, 0), (ssize_t)len);
}

/* The next datagram the device wrote to its backend. */
static ssize_t peer_recv(uint8_t *buf, size_t cap)
{
	struct pollfd p = {.fd = peer, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, TIMEOUT_MS), 1);
	return recv(peer, buf, cap, 0);
}

static uint16_t num_buffers(uint64_t hdr_gpa)
{
	uint16_t v;
	memcpy(&v, ram + hdr_gpa + offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), 2);
	return v;
}

static void assert_used(struct dq *q, uint16_t slot, uint32_t id, uint32_t len)
{
	ck_assert_uint_eq(used(q)->ring[slot].id, id);
	ck_assert_uint_eq(used(q)->ring[slot].len, len);
}

/* Sends the chain at head holding pkt: the backend gets it byte-exact, the
 * chain comes back with length 0 (§2.7.8: nothing written into it), and the
 * device, idle again, asks for the next kick. Returns whether it kicked. */
static bool tx_roundtrip(uint16_t head, const uint8_t *pkt, size_t len)
{
	uint8_t got[2048];
	publish(&txq, head);
	bool kicked = kick(&txq);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), (ssize_t)len);
	ck_assert_mem_eq(got, pkt, len);
	EVENTUALLY(used_idx(&txq) == txq.avail_idx);
	assert_used(&txq, (uint16_t)(txq.avail_idx - 1), head, 0);
	EVENTUALLY(idle(&txq));
	return kicked;
}

/* The NIC's lines of the --stats text. */
static void print_stats(FILE *out)
{
	struct stats_sink s = stats_sink_make(out, STATS_SINK_TEXT);
	virtio_net_emit_stats(&net, &s);
}

/* ---- transmit ------------------------------------------------------------- */

START_TEST(test_tx_chains_reach_backend)
{
	driver_start(CSUM | FEAT(VIRTIO_RING_F_INDIRECT_DESC));
	uint8_t pkt[HDR + 100];
	/* Header and frame in two descriptors (§5.1.6.2). */
	make_packet(pkt, 60, 1);
	memcpy(ram + TX_BUF, pkt, HDR);
	memcpy(ram + TX_BUF + 0x100, pkt + HDR, 60);
	set_desc(&txq, 0, TX_BUF, HDR, VRING_DESC_F_NEXT, 1);
	set_desc(&txq, 1, TX_BUF + 0x100, 60, 0, 0);
	tx_roundtrip(0, pkt, HDR + 60);

	/* In one buffer: any layout goes in virtio 1.x (§2.6.4). */
	make_packet(pkt, 100, 2);
	memcpy(ram + TX_BUF + 0x1000, pkt, HDR + 100);
	set_desc(&txq, 5, TX_BUF + 0x1000, HDR + 100, 0, 0);
	tx_roundtrip(5, pkt, HDR + 100);

	/* One indirect descriptor holding both (§2.7.5.3). */
	make_packet(pkt, 40, 3);
	memcpy(ram + TX_BUF + 0x2000, pkt, HDR + 40);
	struct vring_desc table[2] = {{TX_BUF + 0x2000, HDR, VRING_DESC_F_NEXT, 1},
				      {TX_BUF + 0x2000 + HDR, 40, 0, 0}};
	memcpy(ram + TX_BUF + 0x3000, table, sizeof(table));
	set_desc(&txq, 7, TX_BUF + 0x3000, sizeof(table), VRING_DESC_F_INDIRECT, 0);
	tx_roundtrip(7, pkt, HDR + 40);

	ck_assert_uint_eq(STAT(tx_packets), 3);
	ck_assert_uint_eq(STAT(tx_bytes), 60 + 100 + 40);
	ck_assert_uint_eq(STAT(tx_errors), 0);
	ck_assert_uint_ge(STAT(kicks), 1); /* the first may meet a worker still starting */
	/* No NO_INTERRUPT flag: the driver is interrupted (INTx here). */
	EVENTUALLY(__atomic_load_n(&net.vp.interrupts, __ATOMIC_RELAXED) >= 1);

	char out[512] = {0};
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	print_stats(f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, "virtio-net sp0: "));
	ck_assert_ptr_nonnull(strstr(out, "tx_packets=3 tx_bytes=200"));
}
END_TEST

START_TEST(test_tx_waits_for_backend_room)
{
	driver_start(CSUM);
	/* A backend that takes fewer frames than the ring holds (the peer's
	 * queue: net.unix.max_dgram_qlen, and a minimal send buffer): the
	 * device keeps the rest on the ring until it is writable again. */
	int one = 1;
	ck_assert_int_eq(setsockopt(dev_fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one)), 0);
	uint8_t pkt[HDR + 30], got[256];
	for (uint16_t i = 0; i < QSIZE; i++) {
		make_packet(ram + TX_BUF + i * 0x100, 30, (uint8_t)i);
		set_desc(&txq, i, TX_BUF + i * 0x100, sizeof(pkt), 0, 0);
		publish(&txq, i);
	}
	kick(&txq);
	EVENTUALLY(STAT(tx_waits) >= 1);
	ck_assert_uint_lt(used_idx(&txq), QSIZE);
	for (uint16_t i = 0; i < QSIZE; i++) {
		make_packet(pkt, 30, (uint8_t)i);
		ck_assert_int_eq(peer_recv(got, sizeof(got)), sizeof(pkt));
		ck_assert_mem_eq(got, pkt, sizeof(pkt)); /* all of them, in order */
	}
	EVENTUALLY(used_idx(&txq) == QSIZE);
	ck_assert_uint_eq(STAT(tx_packets), QSIZE);
	ck_assert_uint_eq(STAT(tx_errors), 0);
}
END_TEST

/* ---- receive -------------------------------------------------------------- */

START_TEST(test_rx_single_chain)
{
	driver_start(0);
	/* Without MRG_RXBUF one chain takes a whole frame (§5.1.6.3.2): here
	 * the header and a 1518-byte frame buffer, as Linux's "big" mode. */
	memset(ram + RX_BUF, 0xaa, 0x1000);
	set_desc(&rxq, 0, RX_BUF, HDR, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&rxq, 1, RX_BUF + 0x100, 1518, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 0);
	kick(&rxq);

	uint8_t pkt[HDR + 100];
	make_packet(pkt, 100, 9);
	peer_send(pkt, sizeof(pkt));
	EVENTUALLY(used_idx(&rxq) == 1);
	assert_used(&rxq, 0, 0, HDR + 100);
	ck_assert_mem_eq(ram + RX_BUF, pkt, 10); /* the backend's header fields */
	/* §5.1.6.3.2: num_buffers is 1 without MRG_RXBUF; the backend left 0. */
	ck_assert_uint_eq(num_buffers(RX_BUF), 1);
	ck_assert_mem_eq(ram + RX_BUF + 0x100, pkt + HDR, 100);
	ck_assert_uint_eq(ram[RX_BUF + 0x100 + 100], 0xaa);
	ck_assert_uint_eq(STAT(rx_packets), 1);
	ck_assert_uint_eq(STAT(rx_bytes), 100);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}
END_TEST

/* The frame in the bytes of `lens` buffers from buffer `first` on equals p. */
static void assert_spread(const uint8_t *p, unsigned first, const uint32_t *lens, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		ck_assert_mem_eq(ram + RX_BUF + (first + i) * RX_STRIDE, p, lens[i]);
		p += lens[i];
	}
}

static void assert_rx_stats(uint64_t packets, uint64_t bytes, uint64_t dropped)
{
	ck_assert_uint_eq(STAT(rx_packets), packets);
	ck_assert_uint_eq(STAT(rx_bytes), bytes);
	ck_assert_uint_eq(STAT(rx_dropped), dropped);
}

/* With mergeable buffers, the frame p of len bytes arrives in the chains
 * (and buffers, and used-ring entries) first and first + 1, the first full
 * at first_len (§5.1.6.4), with num_buffers 2 in its header. */
static void assert_in_two_buffers(uint8_t *p, size_t len, uint16_t first, uint32_t first_len)
{
	EVENTUALLY(used_idx(&rxq) == first + 2);
	assert_used(&rxq, first, first, first_len);
	assert_used(&rxq, (uint16_t)(first + 1), first + 1u, (uint32_t)len - first_len);
	ck_assert_uint_eq(num_buffers(RX_BUF + first * RX_STRIDE), 2);
	p[10] = 2;
	assert_spread(p, first, (const uint32_t[]){first_len, (uint32_t)len - first_len}, 2);
}

START_TEST(test_rx_mergeable_buffers)
{
	driver_start(FEAT(VIRTIO_NET_F_MRG_RXBUF));
	/* The device waits for room for the largest frame (1530 bytes with the
	 * header, no GUEST_TSO) unless the whole ring is posted: 5 chains of
	 * 256 bytes out of 16 are not enough, even for a 700-byte frame. */
	for (uint16_t i = 0; i < 12; i++)
		set_desc(&rxq, i, RX_BUF + i * RX_STRIDE, 256, VRING_DESC_F_WRITE, 0);
	for (uint16_t i = 0; i < 5; i++)
		publish(&rxq, i);
	kick(&rxq);
	uint8_t pkt[HDR + 700];
	make_packet(pkt, 700, 5);
	peer_send(pkt, sizeof(pkt));
	EVENTUALLY(STAT(rx_waits) >= 2); /* at DRIVER_OK, and now */
	usleep(50 * 1000);
	ck_assert_uint_eq(used_idx(&rxq), 0);

	/* 12 chains leave 9 * 256 >= 1530 after a 3-buffer frame, so the
	 * second frame is taken from what is left. */
	for (uint16_t i = 5; i < 12; i++)
		publish(&rxq, i);
	kick(&rxq);
	EVENTUALLY(used_idx(&rxq) == 3);
	/* §5.1.6.4: one used entry per buffer, in order, num_buffers in the
	 * first header. */
	assert_used(&rxq, 0, 0, 256);
	assert_used(&rxq, 1, 1, 256);
	assert_used(&rxq, 2, 2, HDR + 700 - 512);
	ck_assert_uint_eq(num_buffers(RX_BUF), 3);
	pkt[10] = 3;
	assert_spread(pkt, 0, (const uint32_t[]){256, 256, HDR + 700 - 512}, 3);

	uint8_t pkt2[HDR + 300];
	make_packet(pkt2, 300, 77);
	peer_send(pkt2, sizeof(pkt2));
	assert_in_two_buffers(pkt2, sizeof(pkt2), 3, 256);
	assert_rx_stats(2, 1000, 0);
}
END_TEST

START_TEST(test_rx_waits_for_buffers)
{
	driver_start(0);
	/* DRIVER_OK with an empty receive ring: the worker waits, and asks
	 * to be kicked for buffers (§2.7.10: NO_NOTIFY clear). */
	EVENTUALLY(STAT(rx_waits) == 1);
	ck_assert_uint_eq(
	    __atomic_load_n(&used(&rxq)->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY, 0);
	uint8_t pkt[HDR + 64], peek[256];
	make_packet(pkt, 64, 3);
	peer_send(pkt, sizeof(pkt));
	/* Nothing may happen to the frame: give the worker time to misbehave. */
	usleep(100 * 1000);
	ck_assert_uint_eq(used_idx(&rxq), 0);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
	ck_assert_int_eq(recv(dev_fd, peek, sizeof(peek), MSG_PEEK), HDR + 64);

	set_desc(&rxq, 2, RX_BUF, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 2);
	kick(&rxq);
	EVENTUALLY(used_idx(&rxq) == 1);
	assert_used(&rxq, 0, 2, HDR + 64);
	ck_assert_mem_eq(ram + RX_BUF + HDR, pkt + HDR, 64);
	ck_assert_uint_eq(STAT(rx_packets), 1);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
	ck_assert_uint_ge(STAT(rx_waits), 1);
}
END_TEST

/* A frame larger than the buffers the driver posted is dropped and counted,
 * not handed over cut short as if whole: a TAP's read returns the frame's
 * full length, a datagram socket's the bytes that fit. The buffers stay
 * the device's for the next frame. */
START_TEST(test_rx_oversized_frame_dropped)
{
	driver_start(0);
	/* Without MRG_RXBUF one chain takes a frame: this one has room for
	 * the header and 100 bytes. */
	set_desc(&rxq, 0, RX_BUF, HDR + 100, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 0);
	kick(&rxq);
	uint8_t big[HDR + 1500], small[HDR + 100];
	make_packet(big, 101, 1);
	peer_send(big, HDR + 101);
	EVENTUALLY(STAT(rx_dropped) + STAT(rx_packets) >= 1);
	ck_assert_uint_eq(STAT(rx_packets), 0);
	ck_assert_uint_eq(STAT(rx_dropped), 1);
	ck_assert_uint_eq(used_idx(&rxq), 0);
	/* A frame that fits exactly is delivered whole, in the same chain. */
	make_packet(small, 100, 2);
	peer_send(small, sizeof(small));
	EVENTUALLY(used_idx(&rxq) == 1);
	assert_used(&rxq, 0, 0, HDR + 100);
	ck_assert_mem_eq(ram + RX_BUF + HDR, small + HDR, 100);
	assert_rx_stats(1, 100, 1);

	/* With MRG_RXBUF: the whole ring, 16 buffers of 64 bytes, cannot
	 * take a 1500-byte frame; the next, of 100 bytes, takes two. */
	driver_start(FEAT(VIRTIO_NET_F_MRG_RXBUF));
	for (uint16_t i = 0; i < QSIZE; i++) {
		set_desc(&rxq, i, RX_BUF + i * RX_STRIDE, 64, VRING_DESC_F_WRITE, 0);
		publish(&rxq, i);
	}
	kick(&rxq);
	make_packet(big, 1500, 3);
	peer_send(big, sizeof(big));
	EVENTUALLY(STAT(rx_dropped) + STAT(rx_packets) >= 3);
	ck_assert_uint_eq(STAT(rx_dropped), 2);
	ck_assert_uint_eq(used_idx(&rxq), 0);
	peer_send(small, sizeof(small));
	assert_in_two_buffers(small, sizeof(small), 0, 64);
	assert_rx_stats(2, 200, 2);
}
END_TEST

/* ---- offloads (§5.1.3.1 GUEST_* -> TUN_F_*) --------------------------------- */

START_TEST(test_offloads_follow_features)
{
	driver_start(FEAT(VIRTIO_NET_F_GUEST_CSUM) | FEAT(VIRTIO_NET_F_GUEST_TSO4) |
		     FEAT(VIRTIO_NET_F_GUEST_TSO6));
	ck_assert_int_eq(n_offloads, 1);
	ck_assert_uint_eq(offloads[0], TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	w(F(device_status), 0, 1); /* reset: the backend stops offloading */
	ck_assert_int_eq(n_offloads, 2);
	ck_assert_uint_eq(offloads[1], 0);

	/* TSO without GUEST_CSUM (§5.1.3.1 forbids it): the TAP gets nothing. */
	driver_start(FEAT(VIRTIO_NET_F_GUEST_TSO4));
	ck_assert_int_eq(n_offloads, 3);
	ck_assert_uint_eq(offloads[2], 0);

	driver_start(FEAT(VIRTIO_NET_F_GUEST_CSUM) | FEAT(VIRTIO_NET_F_GUEST_TSO4) |
		     FEAT(VIRTIO_NET_F_GUEST_ECN));
	ck_assert_int_eq(n_offloads, 5); /* the reset, then DRIVER_OK */
	ck_assert_uint_eq(offloads[3], 0);
	ck_assert_uint_eq(offloads[4], TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN);
}
END_TEST

/* The offloads the driver took are what --stats names, each way. */
START_TEST(test_offloads_in_force)
{
	const char *names[VIRTIO_NET_OFFLOAD_NAMES];
	ck_assert_int_eq(virtio_net_offloads(&net, true, names), 0);
	driver_start(FEAT(VIRTIO_NET_F_CSUM) | FEAT(VIRTIO_NET_F_HOST_TSO4) |
		     FEAT(VIRTIO_NET_F_GUEST_CSUM));
	ck_assert_int_eq(virtio_net_offloads(&net, true, names), 2);
	ck_assert_str_eq(names[0], "csum");
	ck_assert_str_eq(names[1], "tso4");
	ck_assert_int_eq(virtio_net_offloads(&net, false, names), 1);
	ck_assert_str_eq(names[0], "csum");
	w(F(device_status), 0, 1); /* reset: none until the next DRIVER_OK */
	ck_assert_int_eq(virtio_net_offloads(&net, true, names), 0);
	ck_assert_int_eq(virtio_net_offloads(&net, false, names), 0);
}
END_TEST

static uint64_t device_features(void)
{
	w(F(device_feature_select), 0, 4);
	uint64_t f = r(F(device_feature), 4);
	w(F(device_feature_select), 1, 4);
	return f | (uint64_t)r(F(device_feature), 4) << 32;
}

/* A backend whose far side cannot finish partial checksums or segment
 * (net/offload.h: OVS's userspace datapath) is offered to the driver
 * without the transmit offloads, and a driver that takes one anyway does
 * not get FEATURES_OK (§3.1.1). The receive ones stay. */
START_TEST(test_withheld_tx_offloads)
{
	virtio_net_destroy(&net);
	const struct virtio_net_backend be = {.fd = dev_fd,
					      .name = "sp0",
					      .set_offload = record_offload,
					      .ctx = offloads,
					      .no_tx_offload = true,
					      .no_offload_why = "the far side is slow"};
	struct errbuf e;
	ck_assert_int_eq(virtio_net_init(&net, &be, mac, &mem, NULL, -1, NULL, &e), 0);
	uint64_t f = device_features();
	const unsigned gone[] = {VIRTIO_NET_F_CSUM, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6,
				 VIRTIO_NET_F_HOST_ECN};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		ck_assert_msg(!(f & FEAT(gone[i])), "feature %u offered", gone[i]);
	const unsigned kept[] = {VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
				 VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_ECN,
				 VIRTIO_NET_F_MRG_RXBUF};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		ck_assert_msg(f & FEAT(kept[i]), "feature %u not offered", kept[i]);
	ck_assert(
	    !(virtio_driver_negotiate(&net.vp, FEAT(VIRTIO_F_VERSION_1) | FEAT(VIRTIO_NET_F_CSUM)) &
	      VIRTIO_CONFIG_S_FEATURES_OK));

	driver_start(FEAT(VIRTIO_NET_F_GUEST_CSUM) | FEAT(VIRTIO_NET_F_GUEST_TSO4));
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	print_stats(out);
	fclose(out);
	ck_assert_msg(strstr(text, "virtio-net sp0: offloads guest->host none (withheld: the far "
				   "side is slow); host->guest csum tso4\n"),
		      "%s", text);
	free(text);
}
END_TEST

/* ---- hostile drivers (§2.1.2, §2.7.5.3.1) ----------------------------------- */

START_TEST(test_tx_bad_chains_dropped)
{
	driver_start(CSUM);
	uint8_t pkt[HDR + 60], got[256];
	make_packet(pkt, 60, 4);
	memcpy(ram + TX_BUF, pkt, sizeof(pkt));
	/* A loop 0 -> 1 -> 0, a buffer past the end of RAM, a chain shorter
	 * than the header, then a good one: only the last goes out, the
	 * others come back unused. */
	set_desc(&txq, 0, TX_BUF, HDR, VRING_DESC_F_NEXT, 1);
	set_desc(&txq, 1, TX_BUF + HDR, 60, VRING_DESC_F_NEXT, 0);
	set_desc(&txq, 2, RAM + 0x1000, sizeof(pkt), 0, 0);
	set_desc(&txq, 3, TX_BUF, HDR - 4, 0, 0);
	set_desc(&txq, 4, TX_BUF, sizeof(pkt), 0, 0);
	for (uint16_t i = 0; i <= 4; i++)
		if (i != 1)
			publish(&txq, i);
	kick(&txq);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), sizeof(pkt));
	ck_assert_mem_eq(got, pkt, sizeof(pkt));
	EVENTUALLY(used_idx(&txq) == 4);
	for (uint16_t i = 0; i < 4; i++)
		assert_used(&txq, i, i ? i + 1 : 0, 0);
	ck_assert_int_eq(recv(peer, got, sizeof(got), MSG_DONTWAIT), -1);
	ck_assert_uint_eq(STAT(tx_errors), 3);
	ck_assert_uint_eq(STAT(tx_packets), 1);
	ck_assert_uint_eq(status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}
END_TEST

/* What the guest hands the host kernel is checked: a header asking for an
 * offload the driver did not negotiate (§5.1.6.2.1) would be acted on by
 * the TAP (virtio_net_hdr_to_skb() knows nothing of features), and for a
 * backend that withholds the offloads (OVS's userspace datapath) it would
 * reach a datapath that cannot carry it. Such a frame is dropped: the chain
 * comes back unused, counted in tx_errors, and the next frame goes out. */
#define NEEDS_CSUM VIRTIO_NET_HDR_F_NEEDS_CSUM
#define GSO_TCPV4  VIRTIO_NET_HDR_GSO_TCPV4
#define GSO_TCPV6  VIRTIO_NET_HDR_GSO_TCPV6
#define GSO_ECN	   VIRTIO_NET_HDR_GSO_ECN
#define TX_OFFLOADS                                                                                \
	(FEAT(VIRTIO_NET_F_CSUM) | FEAT(VIRTIO_NET_F_HOST_TSO4) | FEAT(VIRTIO_NET_F_HOST_TSO6) |   \
	 FEAT(VIRTIO_NET_F_HOST_ECN))

/* A frame of len bytes whose header is h, in a chain at descriptors
 * first and first + 1 with the header split after `split` bytes. */
static void tx_chain(uint16_t first, uint64_t at, const struct virtio_net_hdr *h, size_t len,
		     size_t split, uint8_t *pkt)
{
	make_packet(pkt, len, (uint8_t)first);
	memcpy(pkt, h, sizeof(*h));
	memcpy(ram + at, pkt, HDR + len);
	set_desc(&txq, first, at, (uint32_t)split, VRING_DESC_F_NEXT, first + 1);
	set_desc(&txq, first + 1, at + split, (uint32_t)(HDR + len - split), 0, 0);
}

/* Sends a frame with header h, then a plain one: only the plain one
 * reaches the backend, and the first chain comes back unused, counted. */
static void tx_refused_then_plain(const struct virtio_net_hdr *h, size_t split)
{
	uint64_t errors = STAT(tx_errors), packets = STAT(tx_packets);
	uint8_t bad[HDR + 60], plain[HDR + 60];
	tx_chain(0, TX_BUF, h, 60, split, bad);
	publish(&txq, 0);
	tx_chain(2, TX_BUF + 0x100, &(struct virtio_net_hdr){0}, 60, HDR, plain);
	tx_roundtrip(2, plain, sizeof(plain));
	assert_used(&txq, (uint16_t)(txq.avail_idx - 2), 0, 0);
	ck_assert_uint_eq(STAT(tx_errors), errors + 1);
	ck_assert_uint_eq(STAT(tx_packets), packets + 1);
}

START_TEST(test_tx_offloads_not_negotiated_dropped)
{
	static const struct {
		uint64_t features;
		struct virtio_net_hdr h;
	} bad[] = {
	    /* partial checksum without CSUM */
	    {0, {.flags = NEEDS_CSUM, .csum_start = 34, .csum_offset = 16}},
	    /* TSO4 without HOST_TSO4, TSO6 without HOST_TSO6, ECN without HOST_ECN */
	    {FEAT(VIRTIO_NET_F_CSUM), {NEEDS_CSUM, GSO_TCPV4, 54, 1448, 34, 16}},
	    {FEAT(VIRTIO_NET_F_CSUM) | FEAT(VIRTIO_NET_F_HOST_TSO4),
	     {NEEDS_CSUM, GSO_TCPV6, 74, 1428, 54, 16}},
	    {FEAT(VIRTIO_NET_F_CSUM) | FEAT(VIRTIO_NET_F_HOST_TSO4) | FEAT(VIRTIO_NET_F_HOST_TSO6),
	     {NEEDS_CSUM, GSO_TCPV4 | GSO_ECN, 54, 1448, 34, 16}},
	    /* with every offload offered: UFO and USO (never offered), an
	     * unknown type, ECN alone, GSO without NEEDS_CSUM or an MSS */
	    {TX_OFFLOADS, {NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 42, 1472, 34, 6}},
	    {TX_OFFLOADS, {NEEDS_CSUM, 5 /* GSO_UDP_L4 */, 42, 1472, 34, 6}},
	    {TX_OFFLOADS, {NEEDS_CSUM, 2, 54, 1448, 34, 16}},
	    {TX_OFFLOADS, {NEEDS_CSUM, GSO_ECN, 54, 1448, 34, 16}},
	    {TX_OFFLOADS, {0, GSO_TCPV4, 54, 1448, 0, 0}},
	    {TX_OFFLOADS, {NEEDS_CSUM, GSO_TCPV4, 54, 0, 34, 16}},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		driver_start(bad[i].features);
		/* The header split anywhere in its first 10 bytes. */
		tx_refused_then_plain(&bad[i].h, 1 + i % 10);
	}
	ck_assert_uint_eq(STAT(tx_errors), sizeof(bad) / sizeof(bad[0]));
}
END_TEST

/* Offloads the driver negotiated go through untouched, byte for byte,
 * however the descriptors split the header. */
START_TEST(test_tx_negotiated_offloads_pass)
{
	driver_start(TX_OFFLOADS);
	const struct virtio_net_hdr good[] = {
	    {NEEDS_CSUM, GSO_TCPV4 | GSO_ECN, 54, 1448, 34, 16},
	    {NEEDS_CSUM, GSO_TCPV6, 74, 1428, 54, 16},
	    {NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 34, 6},
	    {0},
	};
	uint8_t pkt[HDR + 1500];
	for (uint16_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		tx_chain((uint16_t)(2 * i), TX_BUF + i * 0x1000u, &good[i], 1000, 3 + 3 * i, pkt);
		tx_roundtrip((uint16_t)(2 * i), pkt, HDR + 1000);
	}
	ck_assert_uint_eq(STAT(tx_packets), 4);
	ck_assert_uint_eq(STAT(tx_errors), 0);
}
END_TEST

/* A backend that withholds the transmit offloads: a driver that sets
 * NEEDS_CSUM anyway, without CSUM (it could not get it), is refused. */
START_TEST(test_tx_withheld_offload_dropped)
{
	virtio_net_destroy(&net);
	const struct virtio_net_backend be = {
	    .fd = dev_fd, .name = "sp0", .no_tx_offload = true, .no_offload_why = "test"};
	struct errbuf e;
	ck_assert_int_eq(virtio_net_init(&net, &be, mac, &mem, NULL, -1, NULL, &e), 0);
	driver_start(0);
	tx_refused_then_plain(
	    &(struct virtio_net_hdr){.flags = NEEDS_CSUM, .csum_start = 34, .csum_offset = 16},
	    HDR);
	ck_assert_uint_eq(STAT(tx_errors), 1);
}
END_TEST

/* The TAP deleted under a running NIC: tun reports EPOLLERR for good. The
 * worker must stop watching it (or spin in epoll_wait), and the guest's
 * frames are returned and counted as errors. A SEQPACKET peer that closes
 * gives the same permanent EPOLLHUP. */
START_TEST(test_backend_gone)
{
	virtio_net_destroy(&net);
	close(dev_fd);
	close(peer);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	dev_fd = sv[0];
	peer = sv[1];
	const struct virtio_net_backend be = {
	    .fd = dev_fd, .name = "sp0", .set_offload = record_offload, .ctx = offloads};
	struct errbuf e;
	ck_assert_int_eq(virtio_net_init(&net, &be, mac, &mem, NULL, -1, NULL, &e), 0);
	driver_start(CSUM);
	close(peer);
	peer = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); /* for teardown */

	uint8_t pkt[HDR + 60];
	make_packet(pkt, 60, 9);
	memcpy(ram + TX_BUF, pkt, sizeof(pkt));
	set_desc(&txq, 0, TX_BUF, sizeof(pkt), 0, 0);
	publish(&txq, 0);
	kick(&txq);
	EVENTUALLY(used_idx(&txq) == 1);
	assert_used(&txq, 0, 0, 0);
	ck_assert_uint_eq(STAT(tx_errors), 1);
	ck_assert_uint_eq(status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* The worker's own flag, read once a reset has stopped the worker
	 * (reading it while the worker runs would be a data race). */
	w(F(device_status), 0, 1);
	ck_assert(net.backend_gone);
}
END_TEST

START_TEST(test_avail_idx_jump_needs_reset)
{
	driver_start(CSUM);
	/* More chains on offer than the ring holds: the ring is garbage. */
	__atomic_store_n(&avail(&txq)->idx, QSIZE + 5, __ATOMIC_RELEASE);
	notify(&txq);
	EVENTUALLY(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* ...announced as a configuration change (§4.1.4.5). */
	EVENTUALLY(__atomic_load_n(&net.vp.isr, __ATOMIC_SEQ_CST) & VIRTIO_PCI_ISR_CONFIG);
	ck_assert_uint_eq(used_idx(&txq), 0);

	/* The device has stopped: receive buffers and a frame stay unused. */
	uint8_t pkt[HDR + 80], got[256];
	make_packet(pkt, 80, 8);
	set_desc(&rxq, 0, RX_BUF, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 0);
	kick(&rxq);
	peer_send(pkt, sizeof(pkt));
	usleep(100 * 1000);
	ck_assert_uint_eq(used_idx(&rxq), 0);
	ck_assert_uint_eq(STAT(rx_packets), 0);

	/* Reset clears NEEDS_RESET; set up again, both directions work, and
	 * the frame that waited is delivered. */
	w(F(device_status), 0, 1);
	ck_assert_uint_eq(status(), 0);
	driver_start(CSUM);
	set_desc(&rxq, 0, RX_BUF, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 0);
	kick(&rxq);
	EVENTUALLY(used_idx(&rxq) == 1);
	assert_used(&rxq, 0, 0, sizeof(pkt));
	ck_assert_mem_eq(ram + RX_BUF + HDR, pkt + HDR, 80);

	memcpy(ram + TX_BUF, pkt, sizeof(pkt));
	set_desc(&txq, 3, TX_BUF, sizeof(pkt), 0, 0);
	publish(&txq, 3);
	kick(&txq);
	ck_assert_int_eq(peer_recv(got, sizeof(got)), sizeof(pkt));
	EVENTUALLY(used_idx(&txq) == 1);
	ck_assert_uint_eq(status() & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}
END_TEST

START_TEST(test_rx_bad_buffers_need_reset)
{
	driver_start(FEAT(VIRTIO_NET_F_MRG_RXBUF));
	/* §5.1.6.3: receive buffers are device-writable only; this chain has
	 * a readable one first (a legal order for §2.7.4, not for RX). */
	set_desc(&rxq, 0, RX_BUF, 16, VRING_DESC_F_NEXT, 1);
	set_desc(&rxq, 1, RX_BUF + 0x100, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 0);
	notify(&rxq);
	EVENTUALLY(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	uint8_t pkt[HDR + 20];
	make_packet(pkt, 20, 1);
	peer_send(pkt, sizeof(pkt));
	usleep(50 * 1000);
	ck_assert_uint_eq(used_idx(&rxq), 0);
	ck_assert_uint_eq(STAT(rx_packets), 0);

	/* A buffer running past the end of RAM: the device must not write
	 * it, nor lose the frame waiting in the backend. */
	driver_start(FEAT(VIRTIO_NET_F_MRG_RXBUF));
	set_desc(&rxq, 0, RAM - 100, 2048, VRING_DESC_F_WRITE, 0);
	publish(&rxq, 0);
	notify(&rxq);
	EVENTUALLY(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_uint_eq(used_idx(&rxq), 0);
	ck_assert_uint_eq(STAT(rx_dropped), 0);
}
END_TEST

/* ---- EVENT_IDX (§2.7.10) ---------------------------------------------------- */

START_TEST(test_event_idx_tx)
{
	driver_start(CSUM | FEAT(VIRTIO_RING_F_EVENT_IDX));
	uint8_t pkt[HDR + 50];
	/* used_event per packet: 0 asks for an interrupt at the first used
	 * entry only, 2 at the third; the first notification always goes. */
	const uint16_t used_event[4] = {0, 0, 2, 2};
	const uint64_t interrupts[4] = {1, 1, 2, 2};
	EVENTUALLY(idle(&txq));
	for (uint16_t i = 0; i < 4; i++) {
		make_packet(pkt, 50, (uint8_t)i);
		memcpy(ram + TX_BUF + i * 0x100, pkt, sizeof(pkt));
		set_desc(&txq, i, TX_BUF + i * 0x100, sizeof(pkt), 0, 0);
		__atomic_store_n(&avail(&txq)->ring[QSIZE], used_event[i], __ATOMIC_RELEASE);
		/* The idle device set avail_event to exactly this index: the
		 * driver kicks (§2.7.10), and after the chain, avail_event has
		 * moved on to the driver's new avail idx. */
		ck_assert(tx_roundtrip(i, pkt, sizeof(pkt)));
		ck_assert_uint_eq(avail_event(&txq), i + 1);
		EVENTUALLY(__atomic_load_n(&net.vp.interrupts, __ATOMIC_RELAXED) >= interrupts[i]);
	}
	usleep(50 * 1000); /* an unwanted interrupt would show by now */
	ck_assert_uint_eq(__atomic_load_n(&net.vp.interrupts, __ATOMIC_RELAXED), 2);
	ck_assert_uint_eq(STAT(tx_packets), 4);
}
END_TEST

/* ---- configuration (§5.1.4) and features (§5.1.3) --------------------------- */

START_TEST(test_config_and_features)
{
	ck_assert_uint_eq(pci_cfg_read16(&net.vp.pci, PCI_DEVICE_ID), 0x1040 + VIRTIO_ID_NET);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(r(VIRTIO_PCI_DEVICE_OFF + i, 1), mac[i]);
	ck_assert_uint_eq(r(VIRTIO_PCI_DEVICE_OFF + offsetof(struct virtio_net_config, status), 2),
			  VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(
	    r(VIRTIO_PCI_DEVICE_OFF + offsetof(struct virtio_net_config, max_virtqueue_pairs), 2),
	    1);
	/* The driver cannot change the MAC through the config (§5.1.4.2). */
	w(VIRTIO_PCI_DEVICE_OFF, 0x02, 1);
	ck_assert_uint_eq(r(VIRTIO_PCI_DEVICE_OFF, 1), mac[0]);

	uint64_t f = device_features();
	const unsigned want[] = {VIRTIO_NET_F_MAC,	  VIRTIO_NET_F_STATUS,
				 VIRTIO_NET_F_MRG_RXBUF,  VIRTIO_NET_F_CSUM,
				 VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_HOST_TSO4,
				 VIRTIO_NET_F_HOST_TSO6,  VIRTIO_NET_F_GUEST_TSO4,
				 VIRTIO_NET_F_GUEST_TSO6, VIRTIO_RING_F_INDIRECT_DESC,
				 VIRTIO_RING_F_EVENT_IDX, VIRTIO_F_VERSION_1};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(f & FEAT(want[i]), "feature %u not offered", want[i]);
	/* Two queues and no control queue: neither CTRL_VQ nor MQ. */
	ck_assert_uint_eq(f & (FEAT(VIRTIO_NET_F_CTRL_VQ) | FEAT(VIRTIO_NET_F_MQ)), 0);
	ck_assert_uint_eq(r(F(num_queues), 2), 2);
}
END_TEST

CHECK_MAIN_WITH("virtio-net", setup, teardown, 20, test_tx_chains_reach_backend, test_backend_gone,
		test_tx_waits_for_backend_room, test_rx_single_chain, test_rx_mergeable_buffers,
		test_rx_waits_for_buffers, test_rx_oversized_frame_dropped,
		test_offloads_follow_features, test_offloads_in_force, test_withheld_tx_offloads,
		test_tx_bad_chains_dropped, test_tx_offloads_not_negotiated_dropped,
		test_tx_negotiated_offloads_pass, test_tx_withheld_offload_dropped,
		test_avail_idx_jump_needs_reset, test_rx_bad_buffers_need_reset, test_event_idx_tx,
		test_config_and_features)
