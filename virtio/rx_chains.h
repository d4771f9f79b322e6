/*
 * The receive chains the virtio-net device has popped and not yet used
 * (virtio 1.2 §5.1.6.4). With mergeable buffers one frame may need many
 * chains (room for a 64 KiB GSO frame is 43 of Linux's 1536-byte buffers)
 * and mostly uses one; the rest wait for the next frame instead of going
 * back to the ring to be walked again.
 *
 * A FIFO of chains whose writable buffers lie end to end in one iovec
 * array, so that one readv() fills them in order. Using the first chains
 * moves two indexes; the array is only compacted when a new chain would
 * not fit behind the rest.
 */
#ifndef MINIVMM_RX_CHAINS_H
#define MINIVMM_RX_CHAINS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtqueue.h"

#define RX_CHAINS_MAX 256  /* VIRTIO_NET_QUEUE_MAX: never more popped at once */
#define RX_IOV_MAX    1024 /* UIO_MAXIOV: the most one readv() takes */

struct rx_chain {
	uint16_t head; /* returned to the used ring under this id */
	uint16_t niov; /* its entries in the iovec array */
	uint32_t cap;  /* its writable bytes */
};

struct rx_chains {
	struct iovec *iov;		     /* RX_IOV_MAX entries */
	uint32_t iov_first, iov_end;	     /* the live ones: [iov_first, iov_end) */
	struct rx_chain ring[RX_CHAINS_MAX]; /* the live chains, oldest at first */
	uint16_t first, count;
	uint32_t cap;	/* writable bytes in all of them */
	uint32_t ndesc; /* buffers in all of them */
};

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

#endif
