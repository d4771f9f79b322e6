/* The virtio-net engine (virtio/net_rx.c, net_tx.c) driven directly: no
 * worker thread, no sleeps, no polling. Each run's verdict says what the
 * thread around it must do, and the rings, the backend and the counters
 * show what the run did. */
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"

#include "virtio/net_engine.h"

#define RAM	   (1u << 20)
#define QSIZE	   256
#define RX_DESC	   0x1000
#define RX_AVAIL   0x2000
#define RX_USED	   0x3000
#define TX_DESC	   0x5000
#define TX_AVAIL   0x6000
#define TX_USED	   0x7000
#define BUFS	   0x10000
#define HDR	   VIRTIO_NET_HDR_LEN
#define FEATURE(b) (1ULL << (b))

static struct guest_mem mem;
static uint8_t *ram;
static struct virtio_net n;
static int peer = -1;

/* A device as the worker runs it after DRIVER_OK with these features,
 * over a datagram socketpair for a TAP. */
static void start(uint64_t features)
{
	struct virtq_fault why;
	n.vp.driver_features = features | FEATURE(VIRTIO_F_VERSION_1);
	ck_assert_int_eq(virtq_init(net_queue(&n, VIRTIO_NET_RXQ), &mem, QSIZE, RX_DESC, RX_AVAIL,
				    RX_USED, false, false, &why),
			 0);
	ck_assert_int_eq(virtq_init(net_queue(&n, VIRTIO_NET_TXQ), &mem, QSIZE, TX_DESC, TX_AVAIL,
				    TX_USED, false, false, &why),
			 0);
}

static void setup(void)
{
	ram = calloc(1, RAM);
	guest_mem_layout(&mem, RAM);
	mem.host = ram;
	memset(&n, 0, sizeof(n));
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	n.backend.fd = sv[0];
	peer = sv[1];
	ck_assert_int_eq(rx_chains_init(&n.rx), 0);
	n.tx_iov = calloc(VIRTQ_MAX_SEGS + 1, sizeof(*n.tx_iov));
	n.chain = malloc(sizeof(*n.chain));
	start(FEATURE(VIRTIO_NET_F_MRG_RXBUF));
}

static void teardown(void)
{
	rx_chains_destroy(&n.rx);
	free(n.tx_iov);
	free(n.chain);
	close(n.backend.fd);
	close(peer);
	free(ram);
}

static struct vring_desc *desc(uint64_t at)
{
	return (struct vring_desc *)(ram + at);
}

static struct vring_avail *avail(uint64_t at)
{
	return (struct vring_avail *)(ram + at);
}

static struct vring_used *used(uint64_t at)
{
	return (struct vring_used *)(ram + at);
}

/* Posts descriptor i (a one-buffer chain) in the ring at avail_at. */
static void post(uint64_t desc_at, uint64_t avail_at, uint16_t i, uint64_t buf, uint32_t len,
		 uint16_t flags)
{
	desc(desc_at)[i] = (struct vring_desc){buf, len, flags, 0};
	struct vring_avail *a = avail(avail_at);
	a->ring[a->idx % QSIZE] = i;
	a->idx++;
}

/* A frame of len bytes, header (zeroed) included, at gpa. */
static void tx_frame(uint16_t i, uint32_t len)
{
	uint64_t at = BUFS + (uint64_t)i * 2048;
	memset(ram + at, 0, HDR);
	memset(ram + at + HDR, (int)(i + 1), len - HDR);
	post(TX_DESC, TX_AVAIL, i, at, len, 0);
}

START_TEST(test_tx_frame_reaches_backend_and_asks_interrupt)
{
	tx_frame(0, HDR + 60);
	struct virtio_verdict v = net_tx_run(&n, 0);
	ck_assert(v.interrupt && !v.more && !v.broken);
	uint8_t got[2048];
	ck_assert_int_eq(recv(peer, got, sizeof(got), MSG_DONTWAIT), HDR + 60);
	ck_assert_uint_eq(got[HDR], 1);
	ck_assert_uint_eq(used(TX_USED)->idx, 1);
	ck_assert_uint_eq(used(TX_USED)->ring[0].id, 0);
	ck_assert_uint_eq(n.stats.tx_packets, 1);
	ck_assert_uint_eq(n.stats.tx_bytes, 60);
	/* Nothing new: no interrupt asked for. */
	v = net_tx_run(&n, 0);
	ck_assert(!v.interrupt && !v.more);
}
END_TEST

/* One run moves NET_RUN_FRAMES frames at most and says there is more. */
START_TEST(test_tx_run_is_bounded)
{
	for (uint16_t i = 0; i < 100; i++)
		tx_frame(i, HDR + 14);
	struct virtio_verdict v = net_tx_run(&n, 0);
	ck_assert(v.more && v.interrupt);
	ck_assert_uint_eq(used(TX_USED)->idx, NET_RUN_FRAMES);
	v = net_tx_run(&n, 0);
	ck_assert(!v.more && v.interrupt);
	ck_assert_uint_eq(used(TX_USED)->idx, 100);
	ck_assert_uint_eq(n.stats.tx_packets, 100);
}
END_TEST

/* A driver whose available index runs more than the ring ahead: the run
 * stops, and the verdict asks for a reset with the reason. */
START_TEST(test_tx_broken_ring_asks_reset)
{
	avail(TX_AVAIL)->idx = QSIZE + 5;
	struct virtio_verdict v = net_tx_run(&n, 0);
	ck_assert(v.broken && !v.interrupt);
	ck_assert_int_eq(v.fault.code, VIRTQ_AVAIL_AHEAD);
	ck_assert(n.broken);
	/* A broken device does nothing more until reset. */
	v = net_tx_run(&n, 0);
	ck_assert(!v.broken && !v.interrupt && !v.more);
}
END_TEST

/* A full backend: the chain goes back, the engine waits for room. */
START_TEST(test_tx_waits_for_room)
{
	int small = 4096;
	ck_assert_int_eq(setsockopt(n.backend.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	for (uint16_t i = 0; i < 60; i++)
		tx_frame(i, 1500);
	struct virtio_verdict v = net_tx_run(&n, 0);
	ck_assert(n.tx_needs_room && !v.more);
	uint16_t sent = used(TX_USED)->idx;
	ck_assert_uint_lt(sent, 60);
	ck_assert_uint_eq(n.stats.tx_waits, 1);
	/* Room again (the peer read everything): the rest goes. */
	uint8_t buf[2048];
	while (recv(peer, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	n.tx_needs_room = false;
	while (used(TX_USED)->idx < 60 && !n.tx_needs_room)
		net_tx_run(&n, 0);
	ck_assert_uint_gt(used(TX_USED)->idx, sent);
}
END_TEST

static void rx_buffers(uint16_t count, uint32_t len)
{
	for (uint16_t i = 0; i < count; i++)
		post(RX_DESC, RX_AVAIL, i, BUFS + (uint64_t)i * 2048, len, VRING_DESC_F_WRITE);
}

START_TEST(test_rx_frame_into_buffers)
{
	rx_buffers(64, 1536);
	uint8_t frame[HDR + 100] = {0};
	memset(frame + HDR, 0xab, 100);
	ck_assert_int_eq(send(peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	struct virtio_verdict v = net_rx_run(&n, 0);
	ck_assert(v.interrupt && !v.more && !v.broken);
	ck_assert_uint_eq(used(RX_USED)->idx, 1);
	ck_assert_uint_eq(used(RX_USED)->ring[0].len, sizeof(frame));
	ck_assert_uint_eq(ram[BUFS + HDR], 0xab);
	uint16_t nb;
	memcpy(&nb, ram + BUFS + offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), 2);
	ck_assert_uint_eq(nb, 1);
	ck_assert_uint_eq(n.stats.rx_packets, 1);
	/* The chains the frame did not use stay for the next frame until the
	 * worker settles before it sleeps; then the ring has them back. */
	ck_assert_uint_gt(n.rx.count, 0);
	net_rx_settle(&n);
	ck_assert_uint_eq(n.rx.count, 0);
	ck_assert_uint_eq(net_queue(&n, VIRTIO_NET_RXQ)->last_avail, 1);
}
END_TEST

/* A frame larger than all the buffers posted is dropped, never cut short;
 * the buffers wait for the next one. */
START_TEST(test_rx_oversized_frame_dropped)
{
	start(0); /* no MRG_RXBUF: one chain per frame */
	rx_buffers(1, 256);
	uint8_t frame[HDR + 1000] = {0};
	ck_assert_int_eq(send(peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	struct virtio_verdict v = net_rx_run(&n, 0);
	ck_assert(!v.interrupt && !v.broken);
	ck_assert_uint_eq(used(RX_USED)->idx, 0);
	ck_assert_uint_eq(n.stats.rx_dropped, 1);
	ck_assert_int_eq(send(peer, frame, HDR + 100, 0), HDR + 100);
	v = net_rx_run(&n, 0);
	ck_assert(v.interrupt);
	ck_assert_uint_eq(used(RX_USED)->idx, 1);
	ck_assert_uint_eq(used(RX_USED)->ring[0].len, HDR + 100);
}
END_TEST

/* §5.1.6.3: a receive chain the device could read from is the driver's
 * mistake: reset, with the device's own words for it. */
START_TEST(test_rx_readable_buffer_asks_reset)
{
	post(RX_DESC, RX_AVAIL, 0, BUFS, 1536, 0);
	uint8_t frame[HDR + 10] = {0};
	ck_assert_int_eq(send(peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	struct virtio_verdict v = net_rx_run(&n, 0);
	ck_assert(v.broken);
	ck_assert_int_eq(v.fault.code, VIRTQ_DEVICE_RULE);
	char text[160];
	ck_assert_str_eq(virtq_fault_text(&v.fault, text, sizeof(text)),
			 "receive chain 0 has device-readable buffers");
	ck_assert_uint_eq(n.rx.count, 0);
}
END_TEST

/* No buffers: the engine waits for them (and asks for a kick) instead of
 * reading frames it could only drop. */
START_TEST(test_rx_waits_for_buffers)
{
	uint8_t frame[HDR + 10] = {0};
	ck_assert_int_eq(send(peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	struct virtio_verdict v = net_rx_run(&n, 0);
	ck_assert(!v.interrupt && !v.more);
	ck_assert(n.rx_needs_buffers);
	ck_assert_uint_eq(n.stats.rx_waits, 1);
	ck_assert_uint_eq(n.stats.rx_dropped, 0);
	ck_assert_int_eq(recv(peer, frame, sizeof(frame), MSG_DONTWAIT), -1); /* still queued */
}
END_TEST

/* One run delivers NET_RUN_FRAMES frames at most. */
START_TEST(test_rx_run_is_bounded)
{
	rx_buffers(QSIZE, 1536);
	uint8_t frame[HDR + 60] = {0};
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(send(peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	struct virtio_verdict v = net_rx_run(&n, 0);
	ck_assert(v.more && v.interrupt);
	ck_assert_uint_eq(used(RX_USED)->idx, NET_RUN_FRAMES);
	v = net_rx_run(&n, 0);
	ck_assert(!v.more);
	ck_assert_uint_eq(used(RX_USED)->idx, 100);
}
END_TEST

CHECK_MAIN_FIXTURE("net_engine", setup, teardown, test_tx_frame_reaches_backend_and_asks_interrupt,
		   test_tx_run_is_bounded, test_tx_broken_ring_asks_reset, test_tx_waits_for_room,
		   test_rx_frame_into_buffers, test_rx_oversized_frame_dropped,
		   test_rx_readable_buffer_asks_reset, test_rx_waits_for_buffers,
		   test_rx_run_is_bounded)
