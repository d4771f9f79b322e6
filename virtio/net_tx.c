/* Transmit (virtio 1.2 §5.1.6.2): the guest's frames to the backend, with
 * one writev() each from its buffers, behind a header the device checked. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "virtio/net_engine.h"
#include "virtio/net_hdr.h"

/* Writes the frame in c to the backend, its header as the device copied
 * and checked it. Returns what writev() returned, or -1 with errno EINVAL
 * for a frame without a whole header (§5.1.6.2: every packet starts with
 * one) or one whose header asks for an offload the driver did not
 * negotiate (net_hdr.c). */
static ssize_t write_frame(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	size_t niov = 0;
	if (c->out_len >= VIRTIO_NET_HDR_LEN)
		niov = net_hdr_tx_iov(c->iov, c->n_out, &hdr, n->tx_iov);
	if (!niov || net_hdr_tx_refusal(&hdr.hdr, n->vp.driver_features)) {
		errno = EINVAL;
		return -1;
	}
	ssize_t w;
	do
		w = writev(n->backend.fd, n->tx_iov, (int)niov);
	while (w < 0 && errno == EINTR);
	return w;
}

struct virtio_verdict net_tx_run(void *ctx, unsigned why)
{
	struct virtio_net *n = ctx;
	struct virtq *q = net_queue(n, VIRTIO_NET_TXQ);
	struct virtq_chain *c = n->chain;
	struct virtio_verdict v = {0};
	if (why & VIRTIO_RUN_KICKED)
		NET_STAT_ADD(n, kicks, 1);
	if (why & VIRTIO_RUN_READY)
		n->tx_needs_room = false; /* the backend said it has room */
	unsigned returned = 0;
	uint32_t visited = 0;
	/* No kicks while we drain the ring; re-enabled when it is empty. */
	virtq_set_notify(q, false);
	while (!n->tx_needs_room && !n->broken) {
		if (returned == NET_RUN_FRAMES || visited >= NET_RUN_DESCS) {
			v.more = true; /* kicks stay off: we come back */
			break;
		}
		int r = virtq_pop(q, c);
		visited += c->ndesc;
		if (r == 0) {
			if (!virtq_wait_for_more(q, 0))
				break;
			virtq_set_notify(q, false);
			continue;
		}
		if (r < 0 && c->head == 0xffff) {
			/* The available ring itself is garbage. */
			n->broken = v.broken = true;
			v.fault = c->fault;
			break;
		}
		/* A malformed chain, or a frame the device refuses or the
		 * backend fails, is dropped: returned unused. */
		ssize_t w = r > 0 ? write_frame(n, c) : -1;
		if (w < 0 && r > 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			virtq_unpop(q, 1);
			n->tx_needs_room = true;
			NET_STAT_ADD(n, tx_waits, 1);
			break;
		}
		if (w < 0) {
			NET_STAT_ADD(n, tx_errors, 1);
		} else {
			NET_STAT_ADD(n, tx_packets, 1);
			NET_STAT_ADD(n, tx_bytes, c->out_len - VIRTIO_NET_HDR_LEN);
		}
		virtq_push(q, c->head, 0);
		returned++;
	}
	v.interrupt = returned && virtq_should_notify(q);
	/* Level-triggered: told again while the backend has room. */
	v.wait = n->tx_needs_room && !n->broken ? EPOLLOUT : 0;
	return v;
}
