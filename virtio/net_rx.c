/* Receive (virtio 1.2 §5.1.6.3, §5.1.6.4): frames from the backend into the
 * guest's buffers, with one readv() each and no copy of our own. */
#include <errno.h>
#include <stddef.h>
#include <sys/uio.h>

#include "virtio/net_engine.h"

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

void net_rx_settle(struct virtio_net *n)
{
	/* They are the most recent pops, so virtq_unpop() returns exactly
	 * them. */
	virtq_unpop(net_queue(n, VIRTIO_NET_RXQ), rx_chains_clear(&n->rx));
}

struct net_verdict net_rx_run(struct virtio_net *n)
{
	struct virtq *q = net_queue(n, VIRTIO_NET_RXQ);
	struct net_verdict v = {0};
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
	return v;
}
