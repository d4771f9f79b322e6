/*
 * The virtio-net device's packet logic (virtio 1.2 §5.1.6), synchronous and
 * free of thread machinery: each call moves what it can of one queue, up to
 * a bound, and returns what it needs done (an interrupt, a reset with its
 * reason: struct virtio_verdict) instead of doing it. The worker
 * (virtio/virtio_worker.c) is the plumbing around it: it waits for events,
 * calls these, and acts on the verdicts.
 *
 *   net_rx_run   backend --readv--> the guest's receive buffers (net_rx.c)
 *   net_tx_run   the guest's transmit chains --writev--> backend (net_tx.c)
 */
#ifndef MINIVMM_NET_ENGINE_H
#define MINIVMM_NET_ENGINE_H

#include <stdbool.h>

#include "virtio/virtio_net.h"
#include "virtio/virtio_worker.h"

/* One run moves at most NET_RUN_FRAMES frames and visits at most
 * NET_RUN_DESCS descriptors: a chain costs up to the queue size
 * (virtqueue.h), and a guest whose chains all cost that must not get
 * NET_RUN_FRAMES times as much. Linux's largest chains (a 64 KiB TSO frame,
 * 20 descriptors; a receive posting, 19; a 64 KiB frame into mergeable
 * 1536-byte buffers, 43) stay well inside, so a run of theirs is cut short
 * by the frame count alone. A run ends with one interrupt check: the driver
 * hears of its buffers at least every NET_RUN_FRAMES frames. */
#define NET_RUN_FRAMES 64
#define NET_RUN_DESCS  (64 * NET_RUN_FRAMES)

/* Receive: fills the guest's buffers with frames from the backend (ctx is
 * the struct virtio_net; why: VIRTIO_RUN_*, a doorbell saying there are new
 * buffers). Chains popped and not yet used stay in n->rx for the next run,
 * until net_rx_settle(). */
struct virtio_verdict net_rx_run(void *ctx, unsigned why);

/* Gives the receive chains no frame used back to the ring, so that while
 * the device sleeps the ring shows only what the driver can see. */
void net_rx_settle(void *ctx);

/* Transmit: sends the guest's frames to the backend (why: VIRTIO_RUN_READY
 * says the backend has room again). */
struct virtio_verdict net_tx_run(void *ctx, unsigned why);

/* The receive carry-over (struct rx_chains, virtio_net.h), in net_rx.c. */
int rx_chains_init(struct rx_chains *r);
void rx_chains_destroy(struct rx_chains *r);

/* Appends chain c's writable buffers. Returns false, changing nothing, when
 * they would not fit beside the others and one spare entry (the caller's
 * spill byte, rx_chains_iov()), or there are RX_CHAINS_MAX chains already. */
bool rx_chains_add(struct rx_chains *r, const struct virtq_chain *c);

/* The live buffers, oldest first, for one readv(): *n of them, and room for
 * one more entry after them. */
struct iovec *rx_chains_iov(struct rx_chains *r, uint32_t *n);

/* A frame of len bytes (its header first) was read into the buffers: writes
 * num_buffers into its header (§5.1.6.4: the device fills it in), returns
 * the chains it filled to q's used ring, all but the last used whole, and
 * forgets them. Returns how many. */
uint16_t rx_chains_use(struct rx_chains *r, struct virtq *q, uint32_t len);

/* Forgets every live chain; returns how many there were (the caller gives
 * them back with virtq_unpop(), as they are the latest pops). */
uint16_t rx_chains_clear(struct rx_chains *r);

/* The queue's virtqueue. */
static inline struct virtq *net_queue(struct virtio_net *n, uint16_t q)
{
	return &n->vp.queues[q].vq;
}

#define NET_STAT_ADD(n, field, v) __atomic_add_fetch(&(n)->stats.field, (v), __ATOMIC_RELAXED)

#endif
