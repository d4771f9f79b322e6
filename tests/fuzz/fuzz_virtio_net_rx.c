/*
 * The virtio-net receive path (host -> guest, virtio/virtio_net.c's
 * net_rx_run) with its real worker, taking turns with it (net_harness.h):
 * frames of any size up to 64 KiB and beyond arrive from the backend,
 * while the input plays a hostile driver on the receive ring. It posts
 * chains of any shape (direct or indirect), rewrites descriptors and
 * available entries between frames, publishes any index, writes anywhere
 * in RAM, refills what came back, and resets. Features: with and without
 * VIRTIO_NET_F_MRG_RXBUF, and with GUEST_TSO4/6 (the 64 KiB frames) or not.
 *
 * The rings lie at fixed places; the buffers anywhere. The target is
 * linked with --wrap=virtq_pop and --wrap=readv to see which chains the
 * device takes and which frame it reads into them. Its readv() reads as
 * tun does: a frame longer than the buffers fills them and returns its
 * whole length (tun_put_user() ignores the short copy), so the device is
 * handed more than fits, as with a TAP. The device adds a spill byte of
 * its own after the guest's buffers, outside guest RAM.
 *
 * Checked, besides ASan and UBSan (guest RAM has guard pages):
 *  - each frame the device reads goes into the chains it popped last, in
 *    order, and nothing else; without MRG_RXBUF into one chain;
 *  - with MRG_RXBUF, a frame within the largest one the features allow
 *    (65562 bytes with a GUEST_TSO feature, §5.1.6.3.1; 1530 without) gets
 *    room for all of it, unless the driver's whole ring (or the device's
 *    256-chain, 1023-buffer limit) is not enough;
 *  - once the device is done with a frame (at its next read, or when it is
 *    idle), the used ring names num_buffers chains for it, those it
 *    popped, in order; all but the last used to their full length
 *    (§5.1.6.4); the lengths add up to what was read; num_buffers is 1
 *    without MRG_RXBUF; and the frame is in the buffers byte for byte,
 *    with num_buffers in its header. A frame shorter than the header, or
 *    longer than the buffers, uses nothing: never a frame cut short as if
 *    whole. (Bytes of a buffer the driver laid over
 *    a used ring, or over another buffer of the same frame, are not
 *    compared: later writes legitimately change them.)
 *  - after each turn, guest RAM differs from what the driver wrote only in
 *    the used rings and in the writable buffers of chains the device
 *    popped;
 *  - the worker always gets idle again.
 *
 * Input: features (1: bit 0 MRG_RXBUF, 1 GUEST_CSUM + GUEST_TSO4, 2
 * GUEST_TSO6, 3 EVENT_IDX, 4 INDIRECT_DESC), the receive queue's size
 * exponent (1), then steps, each an opcode byte (low 4 bits the step) and
 * its operands, up to the worker's 24th turn.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "fuzz_input.h"
#include "net_harness.h"

/* Fixed ring places; buffers go anywhere, mostly at BUF and above. */
#define RX_DESC	 0x0000u
#define RX_AVAIL 0x1000u
#define RX_USED	 0x2000u
#define TX_DESC	 0x3000u
#define TX_AVAIL 0x3100u
#define TX_USED	 0x3200u
#define TX_SIZE	 8
#define BUF	 0x4000u
#define USED_MAX (6 + 8 * VIRTIO_NET_QUEUE_MAX) /* flags, idx, ring, avail_event */

#define HDR	    VIRTIO_NET_HDR_LEN
#define NUM_BUF	    offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers)
#define MAX_TSO	    65562	 /* §5.1.6.3.1: buffers for a GUEST_TSO frame */
#define MAX_PLAIN   (HDR + 1518) /* an Ethernet frame with a VLAN tag */
#define IOV_MAX_DEV 1023	 /* the device's RX_GUEST_IOV_MAX */
#define FIFO	    64
/* Each turn is a round trip between two threads: an input plays up to
 * this many, and what follows is ignored, so that no input takes long. */
#define TURNS_MAX 24

static uint8_t shadow[NH_RAM]; /* guest RAM as the driver left it */
static uint8_t frame[NH_FRAME_BUF], want[NH_FRAME_BUF];

/* ---- the driver ------------------------------------------------------------ */

static struct {
	uint64_t features;
	uint16_t size; /* the receive queue's */
	uint16_t next_desc;
	uint32_t next_buf;
	uint16_t used_seen; /* for refills */
} drv;

static void put(uint32_t gpa, const void *p, size_t len)
{
	if (gpa >= NH_RAM || len > NH_RAM - gpa)
		return;
	memcpy(nh.ram + gpa, p, len);
	memcpy(shadow + gpa, p, len);
}

static uint16_t get16(uint32_t gpa)
{
	uint16_t v;
	memcpy(&v, nh.ram + gpa, 2);
	return v;
}

static void put16(uint32_t gpa, uint16_t v)
{
	put(gpa, &v, 2);
}

static void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = {addr, len, flags, next};
	put(RX_DESC + 16u * (i & (drv.size - 1)), &d, sizeof(d));
}

/* Whether the ring has room for another chain, as a driver counts it. */
static bool ring_room(void)
{
	return (uint16_t)(get16(RX_AVAIL + 2) - get16(RX_USED + 2)) < drv.size;
}

static void publish(uint16_t head)
{
	uint16_t idx = get16(RX_AVAIL + 2);
	put16(RX_AVAIL + 4 + 2u * (idx & (drv.size - 1)), head);
	put16(RX_AVAIL + 2, (uint16_t)(idx + 1));
}

static void kick(void)
{
	nh_bar_w(VIRTIO_PCI_NOTIFY_OFF, VIRTIO_NET_RXQ, 2);
}

/* Room for len bytes from the buffer area, wrapping round. */
static uint32_t alloc(uint32_t len)
{
	if (len > NH_RAM - BUF)
		len = NH_RAM - BUF;
	if (drv.next_buf < BUF || drv.next_buf + len > NH_RAM)
		drv.next_buf = BUF;
	uint32_t at = drv.next_buf;
	drv.next_buf += (len + 15) & ~15u;
	return at;
}

static void bring_up(uint8_t features, uint8_t size_exp)
{
	static const uint64_t bits[] = {
	    NH_FEATURE(VIRTIO_NET_F_MRG_RXBUF),
	    NH_FEATURE(VIRTIO_NET_F_GUEST_CSUM) | NH_FEATURE(VIRTIO_NET_F_GUEST_TSO4),
	    NH_FEATURE(VIRTIO_NET_F_GUEST_TSO6), NH_FEATURE(VIRTIO_RING_F_EVENT_IDX),
	    NH_FEATURE(VIRTIO_RING_F_INDIRECT_DESC)};
	drv.features = NH_FEATURE(VIRTIO_F_VERSION_1);
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (features & (1u << i))
			drv.features |= bits[i];
	drv.size = (uint16_t)(1u << (size_exp % 9));
	drv.next_desc = drv.used_seen = 0;
	nh_bar_w(NH_STATUS, 0, 1);
	/* Fresh rings: the available indexes start at 0. */
	static const uint8_t zero[6 + 2 * VIRTIO_NET_QUEUE_MAX];
	put(RX_AVAIL, zero, sizeof(zero));
	put(TX_AVAIL, zero, 6 + 2 * TX_SIZE);
	nh_negotiate(drv.features);
	nh_queue(VIRTIO_NET_RXQ, drv.size, RX_DESC, RX_AVAIL, RX_USED);
	nh_queue(VIRTIO_NET_TXQ, TX_SIZE, TX_DESC, TX_AVAIL, TX_USED);
	nh_driver_ok();
}

static bool has(unsigned bit)
{
	return drv.features & NH_FEATURE(bit);
}

/* ---- what the device did: its pops and reads ------------------------------- */

/* Each chain the device popped from the receive queue, by the position in
 * the available ring it took it from. A receive chain goes back through
 * the used ring at the same position (the device returns them in order),
 * so used entry k is the chain popped at position k. */
#define LOG 512
static struct popped {
	uint16_t head;
	uint32_t in_len;
	unsigned n;
	struct iovec iov[VIRTQ_MAX_SEGS];
} pops[LOG];

/* Where the device may write since the last comparison: the writable
 * buffers it popped (the used rings are always allowed). */
#define RANGES 65536
static struct {
	uint32_t at, len;
} allowed[RANGES];
static unsigned n_allowed;
static bool allowed_overflow;

/* The frames sent to the device and not yet read, oldest first. */
static pthread_mutex_t fifo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sent {
	uint32_t len;
	uint8_t seed;
	uint8_t hdr[HDR];
} fifo[FIFO];
static unsigned fifo_head, fifo_count;

/* The frame the device read last, until checked. */
static struct read_frame {
	bool active;
	struct sent f;
	size_t got, cap;
	uint16_t u0, nchains;
} pending;

static struct virtq *rxq(void)
{
	return &nh.net.vp.queues[VIRTIO_NET_RXQ].vq;
}

static uint32_t ram_off(const void *p)
{
	return (uint32_t)((const uint8_t *)p - nh.ram);
}

int __real_virtq_pop(struct virtq *q, struct virtq_chain *c);
int __wrap_virtq_pop(struct virtq *q, struct virtq_chain *c);
int __wrap_virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	int r = __real_virtq_pop(q, c);
	if (q != rxq() || r != 1)
		return r;
	struct popped *p = &pops[(uint16_t)(q->last_avail - 1) % LOG];
	p->head = c->head;
	p->in_len = c->in_len;
	p->n = c->n_in;
	memcpy(p->iov, c->iov + c->n_out, c->n_in * sizeof(struct iovec));
	for (unsigned i = 0; i < c->n_in; i++) {
		if (n_allowed == RANGES) {
			allowed_overflow = true;
			break;
		}
		allowed[n_allowed].at = ram_off(p->iov[i].iov_base);
		allowed[n_allowed++].len = (uint32_t)p->iov[i].iov_len;
	}
	return r;
}

/* The bytes of frame f: its header as sent, then a pattern that depends
 * on the seed, copied from a table made once (a loop per byte would cost
 * more than the frame's trip through the device). */
#define PATTERN_SHIFT 257
static uint8_t pattern[NH_FRAME_BUF + 256 * PATTERN_SHIFT];

static void make_frame(uint8_t *dst, const struct sent *f)
{
	if (!pattern[1])
		for (size_t i = 0; i < sizeof(pattern); i++)
			pattern[i] = (uint8_t)(i * 131 + (i >> 8) + 1);
	memcpy(dst, pattern + f->seed * PATTERN_SHIFT, f->len);
	memcpy(dst, f->hdr, f->len < HDR ? f->len : HDR);
}

static size_t frame_max(void)
{
	bool tso = has(VIRTIO_NET_F_GUEST_TSO4) || has(VIRTIO_NET_F_GUEST_TSO6);
	return tso ? MAX_TSO : MAX_PLAIN;
}

static void check_pending(void);

ssize_t __real_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int iovcnt)
{
	if (fd != nh.dev_fd)
		return __real_readv(fd, iov, iovcnt);
	check_pending(); /* before this frame overwrites the last */
	struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
	ssize_t got = recvmsg(fd, &mh, MSG_TRUNC);
	if (got < 0)
		return got; /* errno as recvmsg left it: EAGAIN */
	pthread_mutex_lock(&fifo_lock);
	FUZZ_CHECK(fifo_count > 0);
	struct sent f = fifo[fifo_head];
	fifo_head = (fifo_head + 1) % FIFO;
	fifo_count--;
	pthread_mutex_unlock(&fifo_lock);
	FUZZ_CHECK((size_t)got == f.len);

	/* The buffers are the chains popped since the last one used, in
	 * order, and only those. */
	struct virtq *q = rxq();
	uint16_t u0 = q->used_idx, nchains = (uint16_t)(q->last_avail - u0);
	FUZZ_CHECK(nchains >= 1 && nchains <= VIRTIO_NET_QUEUE_MAX);
	FUZZ_CHECK(nchains == 1 || has(VIRTIO_NET_F_MRG_RXBUF));
	int k = 0;
	size_t cap = 0;
	for (uint16_t j = 0; j < nchains; j++) {
		const struct popped *p = &pops[(uint16_t)(u0 + j) % LOG];
		for (unsigned i = 0; i < p->n; i++, k++) {
			FUZZ_CHECK(k < iovcnt);
			FUZZ_CHECK(iov[k].iov_base == p->iov[i].iov_base &&
				   iov[k].iov_len == p->iov[i].iov_len);
		}
		cap += p->in_len;
	}
	/* ... then the device's own spill byte, outside guest RAM, which
	 * shows a frame too big for them. */
	FUZZ_CHECK(k == iovcnt - 1 && iov[k].iov_len == 1);
	FUZZ_CHECK((uint8_t *)iov[k].iov_base < nh.ram ||
		   (uint8_t *)iov[k].iov_base >= nh.ram + NH_RAM);
	iovcnt = k;
	/* Room for the whole frame with mergeable buffers, unless the
	 * driver gave all it had. */
	size_t need = f.len < frame_max() ? f.len : frame_max();
	if (has(VIRTIO_NET_F_MRG_RXBUF) && cap < need)
		FUZZ_CHECK(iovcnt >= q->size || nchains == VIRTIO_NET_QUEUE_MAX ||
			   iovcnt > IOV_MAX_DEV - VIRTQ_MAX_SEGS);
	pending = (struct read_frame){true, f, (size_t)got, cap, u0, nchains};
	return got;
}

/* Whether [at, at + len) meets a used ring (which the device writes
 * after the data). */
static bool on_used_ring(uint32_t at, uint32_t len)
{
	return (at < RX_USED + USED_MAX && RX_USED < at + len) ||
	       (at < TX_USED + 6 + 8 * TX_SIZE && TX_USED < at + len);
}

struct seg {
	uint32_t at, len, frame_off;
	bool skip;
};

static int by_at(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* The frame read last, now that the device is done with it. */
static void check_pending(void)
{
	if (!pending.active)
		return;
	pending.active = false;
	struct virtq *q = rxq();
	uint16_t n = (uint16_t)(q->used_idx - pending.u0);
	if (pending.got < HDR || pending.got > pending.cap) {
		/* Dropped, not even a header or more than the buffers hold:
		 * nothing used, and the buffers wait for the next frame. */
		FUZZ_CHECK(n == 0);
		return;
	}
	FUZZ_CHECK(n >= 1 && n <= pending.nchains);
	FUZZ_CHECK(get16(RX_USED + 2) == q->used_idx); /* written last */
	FUZZ_CHECK(n == 1 || has(VIRTIO_NET_F_MRG_RXBUF));
	static struct seg segs[IOV_MAX_DEV];
	unsigned nsegs = 0;
	size_t delivered = 0;
	for (uint16_t j = 0; j < n; j++) {
		uint16_t pos = (uint16_t)(pending.u0 + j);
		const struct popped *p = &pops[pos % LOG];
		struct vring_used_elem e;
		memcpy(&e, nh.ram + RX_USED + 4 + 8u * (pos & (q->size - 1)), sizeof(e));
		FUZZ_CHECK(e.id == p->head);
		FUZZ_CHECK(e.len <= p->in_len);
		FUZZ_CHECK(j == n - 1 || e.len == p->in_len); /* §5.1.6.4 */
		uint32_t left = e.len;
		for (unsigned i = 0; i < p->n && left; i++) {
			uint32_t len =
			    left < p->iov[i].iov_len ? left : (uint32_t)p->iov[i].iov_len;
			segs[nsegs++] = (struct seg){ram_off(p->iov[i].iov_base), len,
						     (uint32_t)delivered, false};
			delivered += len;
			left -= len;
		}
	}
	size_t whole = pending.got;
	FUZZ_CHECK(delivered == whole);

	/* Byte for byte, num_buffers included, where nothing wrote later. */
	make_frame(want, &pending.f);
	uint8_t nb[2] = {(uint8_t)n, (uint8_t)(n >> 8)};
	if (whole >= HDR)
		memcpy(want + NUM_BUF, nb, 2);
	qsort(segs, nsegs, sizeof(segs[0]), by_at);
	for (unsigned i = 0; i + 1 < nsegs; i++) {
		if (segs[i].at + segs[i].len > segs[i + 1].at) {
			segs[i].skip = segs[i + 1].skip = true;
			/* a long one may reach past its neighbour */
			for (unsigned j = i + 2; j < nsegs && segs[j].at < segs[i].at + segs[i].len;
			     j++)
				segs[j].skip = true;
		}
	}
	for (unsigned i = 0; i < nsegs; i++) {
		const struct seg *s = &segs[i];
		if (!s->skip && !on_used_ring(s->at, s->len))
			FUZZ_CHECK(memcmp(nh.ram + s->at, want + s->frame_off, s->len) == 0);
	}
}

/* After a turn: RAM is what the driver wrote, but for the used rings and
 * the buffers the device popped. */
static void check_ram(void)
{
	check_pending();
	if (allowed_overflow) {
		memcpy(shadow, nh.ram, NH_RAM);
	} else {
		for (unsigned i = 0; i < n_allowed; i++)
			memcpy(shadow + allowed[i].at, nh.ram + allowed[i].at, allowed[i].len);
		memcpy(shadow + RX_USED, nh.ram + RX_USED, USED_MAX);
		memcpy(shadow + TX_USED, nh.ram + TX_USED, 6 + 8 * TX_SIZE);
		if (memcmp(shadow, nh.ram, NH_RAM) != 0) {
			uint32_t i = 0;
			while (shadow[i] == nh.ram[i])
				i++;
			fprintf(stderr, "device wrote 0x%02x over 0x%02x at 0x%x\n", nh.ram[i],
				shadow[i], i);
			FUZZ_CHECK(!"a write outside the used rings and popped buffers");
		}
	}
	n_allowed = 0;
	allowed_overflow = false;
}

/* The worker's turn, then the checks. */
static unsigned turns;
static void turn(void)
{
	nh_settle();
	check_ram();
	turns++;
}

/* ---- the steps -------------------------------------------------------------- */

static void send_frame(struct fuzz_in *in, bool big)
{
	struct sent f = {.len = fuzz_u16(in)};
	if (big) /* up to 64 KiB past a GUEST_TSO frame's size, and beyond */
		f.len = MAX_TSO - 0x8000 + f.len % 0x8040;
	else
		f.len %= 2048;
	f.seed = fuzz_u8(in);
	fuzz_take(in, f.hdr, HDR);
	make_frame(frame, &f);
	pthread_mutex_lock(&fifo_lock);
	bool room = fifo_count < FIFO;
	if (room)
		fifo[(fifo_head + fifo_count++) % FIFO] = f;
	pthread_mutex_unlock(&fifo_lock);
	if (room && send(nh.peer, frame, f.len, MSG_DONTWAIT) < 0) {
		/* full: the frame is lost, as on a busy TAP, and never read */
		pthread_mutex_lock(&fifo_lock);
		fifo_count--;
		pthread_mutex_unlock(&fifo_lock);
	}
}

static void step(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	uint8_t buf[8] = {0};
	switch (op & 0xf) {
	case 0: { /* post chains of nseg writable buffers, as a driver does */
		unsigned chains = 1 + fuzz_u8(in) % 16, nseg = 1 + (op >> 4) % 4;
		uint32_t len = fuzz_u16(in);
		for (unsigned c = 0; c < chains && ring_room(); c++) {
			uint16_t head = drv.next_desc;
			for (unsigned s = 0; s < nseg; s++, drv.next_desc++) {
				bool last = s + 1 == nseg;
				desc(drv.next_desc, alloc(len), len,
				     VRING_DESC_F_WRITE | (last ? 0 : VRING_DESC_F_NEXT),
				     (uint16_t)((drv.next_desc + 1) & (drv.size - 1)));
			}
			drv.next_desc &= (uint16_t)(drv.size - 1);
			publish(head);
		}
		if (op & 0x80) {
			kick();
			turn();
		}
		break;
	}
	case 1: { /* a descriptor, rewritten */
		uint16_t i = fuzz_u16(in);
		uint64_t addr = op & 0x10 ? fuzz_u64(in) : fuzz_u32(in) % NH_RAM;
		uint32_t len = op & 0x20 ? fuzz_u32(in) : fuzz_u16(in);
		uint16_t flags = fuzz_u8(in) & 7;
		desc(i, addr, len, flags, fuzz_u16(in));
		break;
	}
	case 2: { /* an available ring entry, rewritten */
		uint16_t slot = fuzz_u16(in);
		put16(RX_AVAIL + 4 + 2u * (slot & (drv.size - 1)), fuzz_u16(in));
		break;
	}
	case 3: { /* publish count heads from head on, or set the index */
		uint16_t head = fuzz_u16(in);
		unsigned count = 1 + (fuzz_u8(in) & 7);
		if (op & 0x20)
			put16(RX_AVAIL + 2, head);
		else
			for (unsigned i = 0; i < count; i++)
				publish((uint16_t)(head + i));
		if (op & 0x80) {
			kick();
			turn();
		}
		break;
	}
	case 4: /* a kick */
		kick();
		turn();
		break;
	case 5: /* a frame from the backend */
		send_frame(in, op & 0x10);
		turn();
		break;
	case 6: { /* reset and bring up again, with other features */
		uint8_t features = fuzz_u8(in), size_exp = fuzz_u8(in);
		bring_up(features, size_exp);
		turn();
		break;
	}
	case 7: /* reset alone: frames wait in the backend */
		nh_bar_w(NH_STATUS, 0, 1);
		FUZZ_CHECK(!nh.net.worker.running);
		break;
	case 8: { /* the driver writes anything in RAM */
		uint32_t off = fuzz_u32(in) % NH_RAM;
		uint32_t len = 1 + (op >> 4) % 8;
		fuzz_take(in, buf, len);
		put(off, buf, len);
		break;
	}
	case 9: { /* an indirect table of n writable buffers */
		unsigned n = 1 + (op >> 4) % 8;
		struct vring_desc table[8];
		for (unsigned i = 0; i < n; i++) {
			uint32_t len = fuzz_u16(in);
			table[i] = (struct vring_desc){alloc(len), len,
						       VRING_DESC_F_WRITE |
							   (i + 1 < n ? VRING_DESC_F_NEXT : 0),
						       (uint16_t)(i + 1)};
		}
		uint32_t at = alloc(n * 16);
		put(at, table, n * 16);
		desc(drv.next_desc, at, n * 16, VRING_DESC_F_INDIRECT, 0);
		publish(drv.next_desc);
		drv.next_desc = (uint16_t)((drv.next_desc + 1) & (drv.size - 1));
		kick();
		turn();
		break;
	}
	case 10: { /* refill: publish again the chains that came back */
		uint16_t used = get16(RX_USED + 2);
		for (unsigned i = 0; drv.used_seen != used && i < drv.size; i++, drv.used_seen++)
			publish(
			    (uint16_t)get16(RX_USED + 4 + 8u * (drv.used_seen & (drv.size - 1))));
		drv.used_seen = used;
		kick();
		turn();
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nh_start(false);
	struct fuzz_in in = fuzz_in(data, size);
	memset(nh.ram, 0, BUF);
	memset(nh.ram + BUF, 0xe5, NH_RAM - BUF); /* so that writes of zeros show */
	memcpy(shadow, nh.ram, NH_RAM);
	fifo_head = fifo_count = 0;
	pending.active = false;
	n_allowed = 0;
	allowed_overflow = false;
	drv.next_buf = BUF;
	uint8_t features = fuzz_u8(&in), size_exp = fuzz_u8(&in);
	bring_up(features, size_exp);
	turn();
	/* Only kicks, frames and DRIVER_OK give the worker work, and the
	 * steps that make them end with a turn: the worker is idle here. */
	turns = 0;
	while (in.left && turns < TURNS_MAX)
		step(&in);
	nh_drain_backend();
	nh_restore();
	return 0;
}
