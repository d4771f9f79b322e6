/* Receive (virtio 1.2 §5.1.6.3, §5.1.6.4): frames from the backend into the
 * guest's buffers, with one readv() each and no copy of our own. */
#include <errno.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "virtio/net_engine.h"
#include "virtio/net_hdr.h"

/* The largest frame the backend hands over: with a guest TSO offload
 * negotiated, a 64 KiB IP packet plus its Ethernet header (what
 * virtio 1.2 §5.1.6.3.1 tells drivers to post: 65562 bytes with the header);
 * without, an Ethernet frame with a VLAN tag (1518 bytes). */
#define FRAME_MAX_GSO	(65535 + 14 + 1)
#define FRAME_MAX_PLAIN 1518

static size_t frame_max(const struct virtio_net *n)
{
	bool gso = virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_GUEST_TSO4) ||
		   virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_GUEST_TSO6);
	return VIRTIO_NET_HDR_LEN + (gso ? FRAME_MAX_GSO : FRAME_MAX_PLAIN);
}

/* ---- the receive carry-over ------------------------------------------------ */

#define NUM_BUFFERS_OFF offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers)

int rx_chains_init(struct rx_chains *r)
{
	memset(r, 0, sizeof(*r));
	r->iov = calloc(RX_IOV_MAX, sizeof(*r->iov));
	return r->iov ? 0 : -1;
}

void rx_chains_destroy(struct rx_chains *r)
{
	free(r->iov);
	r->iov = NULL;
}

static struct rx_chain *nth(struct rx_chains *r, uint16_t i)
{
	return &r->ring[(r->first + i) % RX_CHAINS_MAX];
}

bool rx_chains_add(struct rx_chains *r, const struct virtq_chain *c)
{
	uint32_t live = r->iov_end - r->iov_first;
	/* + 1: the spill entry after the guest's buffers. */
	if (r->count == RX_CHAINS_MAX || live + c->n_in + 1 > RX_IOV_MAX)
		return false;
	if (r->iov_end + c->n_in + 1 > RX_IOV_MAX) {
		memmove(r->iov, r->iov + r->iov_first, live * sizeof(*r->iov));
		r->iov_first = 0;
		r->iov_end = live;
	}
	memcpy(r->iov + r->iov_end, c->iov + c->n_out, c->n_in * sizeof(*r->iov));
	r->iov_end += c->n_in;
	*nth(r, r->count) = (struct rx_chain){c->head, (uint16_t)c->n_in, c->in_len};
	r->count++;
	r->ndesc += c->n_in;
	r->cap += c->in_len; /* at most 256 chains of 256 KiB (virtqueue.h): no wrap */
	return true;
}

struct iovec *rx_chains_iov(struct rx_chains *r, uint32_t *n)
{
	*n = r->iov_end - r->iov_first;
	return r->iov + r->iov_first;
}

uint16_t rx_chains_use(struct rx_chains *r, struct virtq *q, uint32_t len)
{
	uint16_t used = 0;
	for (uint32_t left = len; left && used < r->count; used++)
		left -= left < nth(r, used)->cap ? left : nth(r, used)->cap;
	/* The TAP leaves num_buffers alone (its header is the 10-byte one
	 * plus padding); the device fills it in before the used ring makes
	 * the buffers the driver's. */
	uint16_t num_buffers = used;
	const struct iovec *first = r->iov + r->iov_first;
	if (first->iov_len >= VIRTIO_NET_HDR_LEN) /* Linux: the header in one buffer */
		memcpy((uint8_t *)first->iov_base + NUM_BUFFERS_OFF, &num_buffers,
		       sizeof(num_buffers));
	else /* §2.6.4: any split of it is the driver's right */
		net_iov_write(first, r->iov_end - r->iov_first, NUM_BUFFERS_OFF, &num_buffers,
			      sizeof(num_buffers));
	uint32_t left = len, iovs = 0, cap = 0;
	for (uint16_t i = 0; i < used; i++) {
		const struct rx_chain *e = nth(r, i);
		uint32_t part = left < e->cap ? left : e->cap;
		virtq_push(q, e->head, part);
		left -= part;
		iovs += e->niov;
		cap += e->cap;
	}
	r->first = (uint16_t)((r->first + used) % RX_CHAINS_MAX);
	r->count = (uint16_t)(r->count - used);
	r->iov_first += iovs;
	r->ndesc -= iovs; /* one buffer per iovec */
	r->cap = r->count ? r->cap - cap : 0;
	if (!r->count)
		r->iov_first = r->iov_end = 0;
	return used;
}

uint16_t rx_chains_clear(struct rx_chains *r)
{
	uint16_t n = r->count;
	r->first = r->count = 0;
	r->iov_first = r->iov_end = 0;
	r->cap = r->ndesc = 0;
	return n;
}

/* ---- receiving ------------------------------------------------------------ */

/* Adds chains to n->rx until it holds a largest-possible frame: one chain
 * without VIRTIO_NET_F_MRG_RXBUF (§5.1.6.3.2), as many as needed with it
 * (§5.1.6.4), adding the descriptors it walked to *visited. Sets
 * *exhausted when the driver has nothing more on offer right now. Returns
 * -1 if the driver broke the ring, with *why saying how. */
static int gather(struct virtio_net *n, bool *exhausted, uint32_t *visited, struct virtq_fault *why)
{
	struct virtq *q = net_queue(n, VIRTIO_NET_RXQ);
	bool mrg = virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_MRG_RXBUF);
	size_t need = frame_max(n);
	*exhausted = false;
	while (n->rx.count == 0 ||
	       (mrg && n->rx.cap < need && n->rx.count < VIRTIO_NET_QUEUE_MAX)) {
		struct virtq_chain *c = n->chain;
		int r = virtq_pop(q, c);
		*visited += c->ndesc;
		if (r < 0) {
			*why = c->fault;
			return -1;
		}
		if (r == 0) {
			*exhausted = true;
			break;
		}
		/* §5.1.6.3: receive buffers are device-writable only; one with
		 * no room at all cannot take even the header. */
		if (c->n_out || c->in_len < VIRTIO_NET_HDR_LEN) {
			*why = (struct virtq_fault){
			    .code = VIRTQ_DEVICE_RULE,
			    .head = c->head,
			    .subject = "receive chain",
			    .rule = c->n_out ? "has device-readable buffers"
					     : "cannot hold even the 12-byte header"};
			return -1;
		}
		if (!rx_chains_add(&n->rx, c)) {
			virtq_unpop(q, 1); /* the next readv() is full: later */
			break;
		}
	}
	return 0;
}

void net_rx_settle(void *ctx)
{
	struct virtio_net *n = ctx;
	/* They are the most recent pops, so virtq_unpop() returns exactly
	 * them. */
	virtq_unpop(net_queue(n, VIRTIO_NET_RXQ), rx_chains_clear(&n->rx));
}

struct virtio_verdict net_rx_run(void *ctx, unsigned why)
{
	struct virtio_net *n = ctx;
	struct virtq *q = net_queue(n, VIRTIO_NET_RXQ);
	struct virtio_verdict v = {0};
	if (why & VIRTIO_RUN_KICKED) {
		NET_STAT_ADD(n, kicks, 1);
		n->rx_needs_buffers = false; /* the driver may have added some */
	}
	unsigned taken = 0, delivered = 0; /* frames read from the backend, given to the guest */
	uint32_t visited = 0;
	bool kicks_on = true; /* as far as we know: turned off before reading */
	uint8_t spill;
	bool exhausted;
	while (!n->rx_needs_buffers && !n->broken && !n->backend_gone) {
		if (taken == NET_RUN_FRAMES || visited >= NET_RUN_DESCS) {
			v.more = true;
			break;
		}
		if (gather(n, &exhausted, &visited, &v.fault)) {
			/* NEEDS_RESET: the ring is the driver's to rebuild. */
			n->broken = v.broken = true;
			rx_chains_clear(&n->rx);
			break;
		}
		/* With mergeable buffers, wait for enough room for the largest
		 * frame unless the driver already gave us its whole ring: a
		 * frame too big for what we pass is dropped. */
		bool short_of_room = n->rx.cap < frame_max(n) && exhausted &&
				     n->rx.ndesc < q->size &&
				     virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_MRG_RXBUF);
		if (n->rx.count == 0 || short_of_room) {
			uint16_t have = n->rx.count;
			net_rx_settle(n);
			kicks_on = true;
			if (virtq_wait_for_more(q, have))
				continue; /* added while we looked (§2.7.10) */
			n->rx_needs_buffers = true;
			NET_STAT_ADD(n, rx_waits, 1);
			break;
		}
		if (kicks_on) {
			virtq_set_notify(q, false);
			kicks_on = false;
		}
		/* After the guest's buffers, the device's own spill byte, so
		 * that a frame too big for them shows. */
		uint32_t niov;
		struct iovec *iov = rx_chains_iov(&n->rx, &niov);
		iov[niov] = (struct iovec){&spill, sizeof(spill)};
		ssize_t got = readv(n->backend.fd, iov, (int)niov + 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			break; /* nothing to read: epoll says when there is */
		taken++;
		if (got < (ssize_t)VIRTIO_NET_HDR_LEN || (size_t)got > n->rx.cap) {
			/* The frame did not fit the buffers: tun returns its
			 * whole length anyway (tun_put_user() ignores the
			 * short copy), a datagram socket what filled the spill
			 * byte too; older kernels said EFAULT. Or the TAP is
			 * gone (EBADFD). Either way the guest gets nothing,
			 * least of all a frame cut short as if whole, and
			 * keeps the buffers for the next frame. */
			NET_STAT_ADD(n, rx_dropped, 1);
			if (got < 0 ? errno != EFAULT && errno != EINVAL : got == 0)
				break;
			continue;
		}
		rx_chains_use(&n->rx, q, (uint32_t)got);
		NET_STAT_ADD(n, rx_packets, 1);
		NET_STAT_ADD(n, rx_bytes, (uint64_t)got - VIRTIO_NET_HDR_LEN);
		delivered++;
	}
	v.interrupt = delivered && virtq_should_notify(q);
	/* Level-triggered: woken while the backend has a frame and we have
	 * buffers for it; without buffers, only the doorbell wakes us. */
	v.wait = n->rx_needs_buffers || n->broken || n->backend_gone ? 0 : EPOLLIN;
	return v;
}
