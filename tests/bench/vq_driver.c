#include "vq_driver.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio_driver.h" /* tests/unit: §3.1.1 negotiation, shared with the unit tests */

#define HDR	VIRTIO_NET_HDR_LEN
#define FEAT(b) (1ULL << (b))
/* Guest-physical layout: each queue's three areas 4 KiB apart (§2.7: 16-,
 * 2- and 4-byte alignment), then one VQD_BUF_STRIDE buffer per descriptor. */
#define RXQ_GPA 0x10000
#define TXQ_GPA 0x20000
#define RXB_GPA 0x100000
#define TXB_GPA 0x200000
_Static_assert(TXB_GPA + VQD_QSIZE * VQD_BUF_STRIDE <= VQD_RAM_SIZE, "buffers fit in RAM");
_Static_assert(VQD_RX_BUF_LEN <= VQD_BUF_STRIDE, "a buffer fits its slot");

/* What drivers/net/virtio_net.c (Linux 6.x) accepts from a device offering
 * minivmm's set: everything minivmm offers. */
#define LINUX_FEATURES                                                                             \
	(FEAT(VIRTIO_F_VERSION_1) | FEAT(VIRTIO_NET_F_MAC) | FEAT(VIRTIO_NET_F_STATUS) |           \
	 FEAT(VIRTIO_NET_F_MRG_RXBUF) | FEAT(VIRTIO_NET_F_CSUM) | FEAT(VIRTIO_NET_F_GUEST_CSUM) |  \
	 FEAT(VIRTIO_NET_F_GUEST_TSO4) | FEAT(VIRTIO_NET_F_GUEST_TSO6) |                           \
	 FEAT(VIRTIO_NET_F_GUEST_ECN) | FEAT(VIRTIO_NET_F_HOST_TSO4) |                             \
	 FEAT(VIRTIO_NET_F_HOST_TSO6) | FEAT(VIRTIO_NET_F_HOST_ECN) |                              \
	 FEAT(VIRTIO_RING_F_INDIRECT_DESC) | FEAT(VIRTIO_RING_F_EVENT_IDX))
#define PLAIN_FEATURES                                                                             \
	(FEAT(VIRTIO_F_VERSION_1) | FEAT(VIRTIO_NET_F_MRG_RXBUF) | FEAT(VIRTIO_RING_F_EVENT_IDX))

/* ---- registers ------------------------------------------------------------ */

static void cfg_write(struct vq_driver *d, uint32_t off, uint32_t v, uint32_t len)
{
	virtio_driver_common_write(&d->net->vp, off, v, len);
}

static uint32_t cfg_read(struct vq_driver *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	virtio_pci_bar_io(&d->net->vp, off, (uint8_t *)&v, len, false);
	return v;
}

static uint64_t device_features(struct vq_driver *d)
{
	cfg_write(d, VIRTIO_DRIVER_COMMON(device_feature_select), 0, 4);
	uint64_t f = cfg_read(d, VIRTIO_DRIVER_COMMON(device_feature), 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(device_feature_select), 1, 4);
	return f | (uint64_t)cfg_read(d, VIRTIO_DRIVER_COMMON(device_feature), 4) << 32;
}

/* INTA# as the board would wire it: only the rising edge matters to a
 * sleeping driver, and an eventfd keeps an edge that came before the sleep. */
static void intx_changed(void *ctx, unsigned gsi, int level)
{
	struct vq_driver *d = ctx;
	(void)gsi;
	if (level)
		eventfd_write(d->irq_fd, 1); /* EAGAIN: a wake-up is pending anyway */
}

/* ---- rings ---------------------------------------------------------------- */

static int map_ring(struct vq_driver *d, struct vqd_ring *q, uint16_t index, uint64_t gpa,
		    uint64_t buf_gpa, struct errbuf *e)
{
	*q = (struct vqd_ring){.index = index,
			       .desc_gpa = gpa,
			       .avail_gpa = gpa + 0x1000,
			       .used_gpa = gpa + 0x2000,
			       .buf_gpa = buf_gpa};
	/* The sizes of §2.7.5, §2.7.6 and §2.7.8, trailing event words included. */
	q->desc = guest_ptr(d->mem, q->desc_gpa, 16ULL * VQD_QSIZE);
	q->avail = guest_ptr(d->mem, q->avail_gpa, 6 + 2ULL * VQD_QSIZE);
	q->used = guest_ptr(d->mem, q->used_gpa, 6 + 8ULL * VQD_QSIZE);
	q->buf = guest_ptr(d->mem, buf_gpa, (uint64_t)VQD_QSIZE * VQD_BUF_STRIDE);
	if (!q->desc || !q->avail || !q->used || !q->buf)
		return errorf(e, "queue %u: rings or buffers outside guest RAM", index);
	return 0;
}

static void clear_ring(struct vqd_ring *q)
{
	memset(q->desc, 0, 16ULL * VQD_QSIZE);
	memset(q->avail, 0, 6 + 2ULL * VQD_QSIZE);
	memset(q->used, 0, 6 + 8ULL * VQD_QSIZE);
	q->avail_idx = q->kicked_idx = q->last_used = q->frame_left = 0;
	q->nfree = VQD_QSIZE;
	for (unsigned i = 0; i < VQD_QSIZE; i++)
		q->free[i] = (uint16_t)(VQD_QSIZE - 1 - i); /* hands out 0, 1, ... first */
}

uint8_t *vqd_buf(struct vqd_ring *q, unsigned i)
{
	return q->buf + (size_t)(i % VQD_QSIZE) * VQD_BUF_STRIDE;
}

static uint16_t used_idx(const struct vqd_ring *q)
{
	return __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
}

/* §2.7.10: used_event trails the available ring, avail_event the used ring. */
static void set_used_event(struct vqd_ring *q, uint16_t v)
{
	__atomic_store_n(&q->avail->ring[VQD_QSIZE], v, __ATOMIC_SEQ_CST);
}

static uint16_t avail_event(const struct vqd_ring *q)
{
	return __atomic_load_n((uint16_t *)&q->used->ring[VQD_QSIZE], __ATOMIC_SEQ_CST);
}

/* Puts descriptor id on the available ring (not yet published). */
static void add_buf(struct vqd_ring *q, uint16_t id, uint32_t len, uint16_t flags)
{
	q->desc[id] =
	    (struct vring_desc){q->buf_gpa + (uint64_t)id * VQD_BUF_STRIDE, len, flags, 0};
	q->avail->ring[q->avail_idx % VQD_QSIZE] = id;
	q->avail_idx++;
}

/* §2.7.13: entries first, then the index, sequentially consistent so the
 * kick-suppression read that follows sees the device's latest word (Linux:
 * virtio_mb() in virtqueue_kick_prepare()). */
static void publish(struct vqd_ring *q)
{
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_SEQ_CST);
}

/* virtqueue_kick(): a doorbell only if the device asked for one for the
 * entries added since the last decision (§2.7.10). */
static void kick(struct vq_driver *d, struct vqd_ring *q)
{
	uint16_t old = q->kicked_idx, new = q->avail_idx;
	q->kicked_idx = new;
	bool want =
	    d->event_idx
		? vring_need_event(avail_event(q), new, old)
		: !(__atomic_load_n(&q->used->flags, __ATOMIC_SEQ_CST) & VRING_USED_F_NO_NOTIFY);
	if (!want)
		return;
	uint16_t v = q->index;
	/* §4.1.4.4: queue n's doorbell; the transport signals its kick fd. */
	virtio_pci_bar_io(&d->net->vp, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q->index,
			  (uint8_t *)&v, 2, true);
	d->counts.kicks++;
}

/* Sleeps until the device interrupts, then acknowledges: reading ISR clears
 * it and lowers INTA# (§4.1.4.5.1), so the next notification is an edge. */
static int wait_interrupt(struct vq_driver *d, struct errbuf *e)
{
	struct pollfd p = {.fd = d->irq_fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, d->timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errorf_errno(e, "poll on the interrupt eventfd");
	if (r == 0)
		return errorf(e, "no interrupt from the device for %d ms", d->timeout_ms);
	eventfd_t v;
	eventfd_read(d->irq_fd, &v);
	(void)cfg_read(d, VIRTIO_PCI_ISR_OFF, 1);
	d->counts.interrupts++;
	return 0;
}

/* Takes the next used entry's buffer back; false if the device returned an
 * id it was never given (then the run is void). */
static bool reclaim(struct vq_driver *d, struct vqd_ring *q, struct vring_used_elem *out)
{
	*out = q->used->ring[q->last_used % VQD_QSIZE];
	q->last_used++;
	if (out->id >= VQD_QSIZE || q->nfree >= VQD_QSIZE) {
		d->counts.bad++;
		return false;
	}
	q->free[q->nfree++] = (uint16_t)out->id;
	return true;
}

/* ---- set-up --------------------------------------------------------------- */

int vqd_init(struct vq_driver *d, struct virtio_net *net, const struct guest_mem *mem,
	     enum vqd_features features, int irq_fd, struct errbuf *e)
{
	memset(d, 0, sizeof(*d));
	d->net = net;
	d->mem = mem;
	d->timeout_ms = 5000;
	d->irq_fd = irq_fd;
	if (map_ring(d, &d->rx, VIRTIO_NET_RXQ, RXQ_GPA, RXB_GPA, e) ||
	    map_ring(d, &d->tx, VIRTIO_NET_TXQ, TXQ_GPA, TXB_GPA, e))
		return -1;
	d->features =
	    device_features(d) & (features == VQD_FEATURES_LINUX ? LINUX_FEATURES : PLAIN_FEATURES);
	if (!(d->features & FEAT(VIRTIO_F_VERSION_1)) ||
	    !(d->features & FEAT(VIRTIO_NET_F_MRG_RXBUF)))
		return errorf(e, "the device does not offer VERSION_1 and MRG_RXBUF");
	d->event_idx = d->features & FEAT(VIRTIO_RING_F_EVENT_IDX);
	/* §5.1.6.3.1: with a guest TSO offload the largest frame is 65550
	 * bytes plus the header, else 1518 plus the header. */
	bool gso = d->features & (FEAT(VIRTIO_NET_F_GUEST_TSO4) | FEAT(VIRTIO_NET_F_GUEST_TSO6));
	unsigned frame_max = HDR + (gso ? 65535 + 14 + 1 : 1518);
	d->rx_slack = (frame_max + VQD_RX_BUF_LEN - 1) / VQD_RX_BUF_LEN - 1;
	pci_wire_intx(&net->vp.pci, 0, intx_changed, d);
	return 0;
}

void vqd_destroy(struct vq_driver *d)
{
	if (!d->net)
		return; /* never initialised */
	pci_wire_intx(&d->net->vp.pci, 0, NULL, NULL);
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	memset(d, 0, sizeof(*d));
}

static void setup_queue(struct vq_driver *d, struct vqd_ring *q)
{
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_select), q->index, 2);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_size), VQD_QSIZE, 2);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_desc_lo), (uint32_t)q->desc_gpa, 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_desc_hi), (uint32_t)(q->desc_gpa >> 32), 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_avail_lo), (uint32_t)q->avail_gpa, 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_avail_hi), (uint32_t)(q->avail_gpa >> 32), 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_used_lo), (uint32_t)q->used_gpa, 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_used_hi), (uint32_t)(q->used_gpa >> 32), 4);
	cfg_write(d, VIRTIO_DRIVER_COMMON(queue_enable), 1, 2);
}

void vqd_reset(struct vq_driver *d)
{
	cfg_write(d, VIRTIO_DRIVER_COMMON(device_status), 0, 1);
}

int vqd_start(struct vq_driver *d, struct errbuf *e)
{
	vqd_reset(d);
	clear_ring(&d->rx);
	clear_ring(&d->tx);
	eventfd_t v;
	eventfd_read(d->irq_fd, &v); /* a stale edge from before the reset */
	if (!(virtio_driver_negotiate(&d->net->vp, d->features) & VIRTIO_CONFIG_S_FEATURES_OK))
		return errorf(e, "the device refused features %#llx",
			      (unsigned long long)d->features);
	setup_queue(d, &d->rx);
	setup_queue(d, &d->tx);
	cfg_write(d, VIRTIO_DRIVER_COMMON(device_status),
		  virtio_driver_status(&d->net->vp) | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	uint8_t want = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	if (virtio_driver_status(&d->net->vp) != want)
		return errorf(e, "device status %#x after DRIVER_OK",
			      virtio_driver_status(&d->net->vp));
	return 0;
}

/* ---- transmit ------------------------------------------------------------- */

void vqd_fill_tx(struct vq_driver *d, const uint8_t *pkt, uint32_t len)
{
	for (unsigned i = 0; i < VQD_QSIZE; i++)
		memcpy(vqd_buf(&d->tx, i), pkt, len);
}

int vqd_tx(struct vq_driver *d, uint64_t n, uint32_t len, struct errbuf *e)
{
	struct vqd_ring *q = &d->tx;
	uint64_t sent = 0, done = 0;
	while (done < n) {
		uint16_t u = used_idx(q);
		bool progress = u != q->last_used;
		while (q->last_used != u) {
			struct vring_used_elem el;
			/* §2.7.8: nothing is written into a TX buffer: length 0. */
			if (!reclaim(d, q, &el) || el.len != 0)
				return errorf(e, "TX used entry id %u len %u: not what was sent",
					      el.id, el.len);
			done++;
		}
		/* Linux's start_xmit: the header sits in the skb's headroom, so
		 * a linear frame is one descriptor (VERSION_1 allows any layout,
		 * §2.6.4); the ring is kept as full as it goes. */
		bool added = false;
		for (; sent < n && q->nfree; sent++, added = true)
			add_buf(q, q->free[--q->nfree], len, 0);
		if (added) {
			publish(q);
			kick(d, q);
			continue;
		}
		if (done == n || progress)
			continue;
		/* Nothing to add and nothing back: virtqueue_enable_cb_delayed(),
		 * an interrupt once 3/4 of what is in flight is used (all of it
		 * at the end), then look again before sleeping (§2.7.10). */
		uint16_t inflight = (uint16_t)(sent - done);
		uint16_t delay = sent < n ? (uint16_t)(inflight * 3 / 4) : (uint16_t)(inflight - 1);
		set_used_event(q, (uint16_t)(q->last_used + delay));
		if (used_idx(q) == q->last_used && wait_interrupt(d, e))
			return -1;
	}
	return 0;
}

/* ---- receive -------------------------------------------------------------- */

unsigned vqd_rx_batch_max(const struct vq_driver *d)
{
	/* Less than the worker's burst (BURST, 256, in virtio_net.c) too:
	 * after a full burst it interrupts before it has run out of buffers,
	 * and would still be watching the TAP while the next batch goes in. */
	unsigned slack = d->rx_slack ? d->rx_slack : 1;
	return VQD_QSIZE - slack;
}

/* num_buffers of the header at the start of RX buffer id (§5.1.6.4). */
static uint16_t num_buffers(struct vq_driver *d, uint32_t id)
{
	uint16_t v;
	memcpy(&v, vqd_buf(&d->rx, id) + offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers), 2);
	return v;
}

int vqd_rx(struct vq_driver *d, unsigned k, uint32_t len, struct errbuf *e)
{
	struct vqd_ring *q = &d->rx;
	if (k == 0 || k > vqd_rx_batch_max(d))
		return errorf(e, "RX batch of %u frames: 1 to %u", k, vqd_rx_batch_max(d));
	/* Enough buffers for k frames of one buffer each, plus the slack the
	 * device holds back: then it stops, out of buffers, exactly after the
	 * k-th frame (virtio_net.c stops watching the TAP), and the next
	 * batch can be queued in the TAP without waking it. Linux refills in
	 * its NAPI poll; a guest that keeps the ring full pays the same per
	 * frame, and the device more wake-ups. */
	unsigned target = k + d->rx_slack;
	unsigned posted = (uint16_t)(q->avail_idx - q->last_used);
	if (posted > target || target - posted > q->nfree)
		return errorf(e, "RX: %u buffers on the ring, %u free: cannot post %u", posted,
			      q->nfree, target - posted);
	for (; posted < target; posted++)
		add_buf(q, q->free[--q->nfree], VQD_RX_BUF_LEN, VRING_DESC_F_WRITE);
	/* virtqueue_enable_cb(): interrupt me when the batch's last frame is in. */
	set_used_event(q, (uint16_t)(q->last_used + k - 1));
	publish(q);
	kick(d, q);

	unsigned frames = 0;
	while (frames < k) {
		uint16_t u = used_idx(q);
		if (u == q->last_used) {
			set_used_event(q, (uint16_t)(q->last_used + (k - frames) - 1));
			if (used_idx(q) == q->last_used && wait_interrupt(d, e))
				return errorf(e, "RX: %u of %u frames arrived", frames, k);
			continue;
		}
		while (q->last_used != u) {
			struct vring_used_elem el;
			if (!reclaim(d, q, &el))
				return errorf(e, "RX used entry id %u: never posted", el.id);
			if (q->frame_left == 0) {
				/* A frame's first buffer (receive_mergeable()). */
				q->frame_left = num_buffers(d, el.id);
				frames++;
				if (q->frame_left == 0 || (q->frame_left == 1 && el.len != len))
					d->counts.bad++;
				if (q->frame_left == 0)
					continue;
			}
			q->frame_left--;
		}
	}
	return d->counts.bad
		   ? errorf(e, "RX: %llu frames not as sent", (unsigned long long)d->counts.bad)
		   : 0;
}
