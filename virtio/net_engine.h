/*
 * The virtio-net device's packet logic (virtio 1.2 §5.1.6), synchronous and
 * free of thread machinery: each call moves what it can of one queue, up to
 * a bound, and returns what it needs done (an interrupt, a reset with its
 * reason) instead of doing it. The worker in virtio_net.c is the plumbing
 * around it: it waits for events, calls these, and acts on the verdicts.
 *
 *   net_rx_run   backend --readv--> the guest's receive buffers (net_rx.c)
 *   net_tx_run   the guest's transmit chains --writev--> backend (net_tx.c)
 */
#ifndef MINIVMM_NET_ENGINE_H
#define MINIVMM_NET_ENGINE_H

#include <stdbool.h>

#include "virtio/virtio_net.h"

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

/* What a run needs the thread around it to do. */
struct net_verdict {
	bool interrupt;		  /* the driver wants an interrupt for this queue (§2.7.10) */
	bool more;		  /* stopped at its bound with work left: run again */
	bool broken;		  /* the driver broke the ring: DEVICE_NEEDS_RESET (§2.1.2) ... */
	struct virtq_fault fault; /* ... for this reason */
};

/* Receive: fills the guest's buffers with frames from the backend. Chains
 * popped and not yet used stay in n->rx for the next run, until
 * net_rx_settle(). */
struct net_verdict net_rx_run(struct virtio_net *n);

/* Gives the receive chains no frame used back to the ring, so that while
 * the device sleeps the ring shows only what the driver can see. */
void net_rx_settle(struct virtio_net *n);

/* Transmit: sends the guest's frames to the backend. */
struct net_verdict net_tx_run(struct virtio_net *n);

/* The queue's virtqueue. */
static inline struct virtq *net_queue(struct virtio_net *n, uint16_t q)
{
	return &n->vp.queues[q].vq;
}

#define NET_STAT_ADD(n, field, v) __atomic_add_fetch(&(n)->stats.field, (v), __ATOMIC_RELAXED)

#endif
