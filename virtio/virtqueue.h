/*
 * Split virtqueues, device side (virtio 1.2 §2.7). The driver (the guest)
 * owns the descriptor table and the available ring; the device reads chains
 * of descriptors from them and returns each chain through the used ring.
 *
 * Everything here treats guest memory as hostile: every index is bounded by
 * the queue size, every address and length is checked with guest_ptr() before
 * use, a chain may not loop or run past the queue size, and a malformed chain
 * is refused, with a code saying why (virtq_fault.h), without touching
 * anything outside guest RAM.
 */
#ifndef MINIVMM_VIRTQUEUE_H
#define MINIVMM_VIRTQUEUE_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtq_fault.h"
#include "vmm/base/guest_mem.h"

#define VIRTQ_MAX_SIZE 32768 /* virtio 1.2 §2.7: split queues hold at most 32768 */
#define VIRTQ_MAX_SEGS 256   /* longest chain minivmm accepts, in non-empty buffers */
/* The most bytes a chain's buffers may add up to, readable and writable
 * together. §2.7.5.2 lets a driver go up to 4 GiB; virtio-net, the only
 * device here, needs far less: its largest transmit frame is the 12-byte
 * header and a 64 KiB GSO frame (65562 bytes, §5.1.6.3), and the largest
 * receive chain Linux posts (no MRG_RXBUF, GUEST_TSO, MAX_SKB_FRAGS at its
 * maximum of 45) is 46 pages, 184 KiB. With the queue size bounding the
 * descriptors a chain visits, this bounds the work one chain can cost. */
#define VIRTQ_MAX_CHAIN_BYTES (256u << 10)

struct virtq {
	const struct guest_mem *mem;
	uint16_t size;	/* a power of 2, 0 while the queue is disabled */
	bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated (§2.7.10) */
	bool indirect;	/* VIRTIO_F_INDIRECT_DESC negotiated (§2.7.5.3) */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail; /* next available-ring slot to consume */
	uint16_t used_idx;   /* our copy of used->idx */
	uint16_t signalled;  /* used_idx when the driver was last notified */
	bool signalled_valid;
};

/* A chain as scatter-gather lists over guest memory: first the buffers the
 * device reads (out), then those it writes (in), as §2.7.4 orders them. */
struct virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	/* Descriptors visited, empty ones and the one pointing to an indirect
	 * table included: at most the queue size, plus that one (§2.7.5.3.1). */
	unsigned ndesc;
	uint32_t out_len, in_len;
	/* Why the pop that filled this refused; code VIRTQ_FAULT_NONE if it
	 * did not. The device passes it on with its report. */
	struct virtq_fault fault;
	struct iovec iov[VIRTQ_MAX_SEGS]; /* [0, n_out) readable, [n_out, n_out + n_in) writable */
};

/* Checks the three areas (sizes and alignments of §2.7) lie in guest RAM and
 * maps them. Returns 0, or -1 if the driver gave a size that is not a power of
 * two up to VIRTQ_MAX_SIZE, an address outside RAM or misaligned, or a used
 * ring over the available index (the device's writes would change it): then
 * the code, negated, and *why says which. */
int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx, bool indirect,
	       struct virtq_fault *why);

/* Takes the next available chain. Returns 1 with *c filled, 0 if there is
 * none, or a fault code, negated, if the driver published something
 * impossible (a chain that loops, points outside RAM or the table, mixes the
 * order of readable and writable buffers, is longer than the queue size or
 * VIRTQ_MAX_CHAIN_BYTES, or an available index more than size ahead); then
 * c->fault says what. A malformed chain's head, when known
 * (c->head != 0xffff), has been consumed; the caller returns it with length 0
 * or marks the device as needing reset (§2.1.2). */
int virtq_pop(struct virtq *q, struct virtq_chain *c);

/* Gives back the last n chains taken with virtq_pop() and not pushed, so the
 * next pop sees them again: the device took more buffers than a packet
 * needed, or found it cannot use them yet. */
static inline void virtq_unpop(struct virtq *q, uint16_t n)
{
	q->last_avail = (uint16_t)(q->last_avail - n);
}

/* Returns a chain to the driver with len bytes written into its in buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* Whether the driver wants an interrupt for what was pushed since the last
 * notification: used_event with EVENT_IDX (§2.7.10), else the
 * VRING_AVAIL_F_NO_INTERRUPT flag. Call after one or more virtq_push(). */
bool virtq_should_notify(struct virtq *q);

/* Asks the driver to (not) kick us for new buffers: avail_event with
 * EVENT_IDX, else VRING_USED_F_NO_NOTIFY. After enabling, callers re-check
 * virtq_has_avail() to close the race with a buffer added meanwhile. */
void virtq_set_notify(struct virtq *q, bool enable);

bool virtq_has_avail(const struct virtq *q);

/* For a device that looked at the `have` chains on offer and needs more:
 * asks the driver to kick when it publishes another (avail_event with
 * EVENT_IDX, else clears VRING_USED_F_NO_NOTIFY), then looks again. Returns
 * true if more than `have` are on offer already (no kick will come for
 * those: take them now). virtq_set_notify(q, true) + virtq_has_avail() is
 * the have == 0 case. */
bool virtq_wait_for_more(struct virtq *q, uint16_t have);

/* The EVENT_IDX test from §2.7.10: has [old, new) passed event? */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

#endif
