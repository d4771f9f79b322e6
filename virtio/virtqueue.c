#include "virtio/virtqueue.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The guest updates the rings concurrently: read and write the shared index
 * fields exactly once each, with the barriers the spec's ordering rules need
 * (§2.7.13: the driver writes the ring entry before the index). */
static inline uint16_t load16(const volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store16(volatile uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Records why the driver's input is refused and returns the code, negated:
 * a few stores, no formatting (virtq_fault.h). */
static int fail(struct virtq_fault *f, enum virtq_fault_code code, uint16_t head, uint64_t a,
		uint64_t b, uint64_t c, uint64_t d)
{
	*f = (struct virtq_fault){.code = code, .head = head, .v = {a, b, c, d}};
	return -(int)code;
}

int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx, bool indirect,
	       struct virtq_fault *why)
{
	memset(q, 0, sizeof(*q));
	*why = (struct virtq_fault){.head = 0xffff};
	if (size == 0 || (size & (size - 1)) || size > VIRTQ_MAX_SIZE)
		return fail(why, VIRTQ_BAD_SIZE, 0xffff, size, VIRTQ_MAX_SIZE, 0, 0);
	/* §2.7: descriptor table 16-byte aligned, available ring 2, used ring 4;
	 * the trailing event fields are included in the sizes. */
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return fail(why, VIRTQ_MISALIGNED, 0xffff, desc_gpa, avail_gpa, used_gpa, 0);
	uint64_t desc_bytes = 16ULL * size;
	uint64_t avail_bytes = 6 + 2ULL * size;
	uint64_t used_bytes = 6 + 8ULL * size;
	q->desc = guest_ptr(mem, desc_gpa, desc_bytes);
	q->avail = guest_ptr(mem, avail_gpa, avail_bytes);
	q->used = guest_ptr(mem, used_gpa, used_bytes);
	unsigned outside = !q->desc ? 0 : !q->avail ? 1 : 2;
	uint64_t outside_at = !q->desc ? desc_gpa : !q->avail ? avail_gpa : used_gpa;
	if (!q->desc || !q->avail || !q->used) {
		memset(q, 0, sizeof(*q));
		return fail(why, VIRTQ_RING_OUTSIDE, 0xffff, outside, outside_at, 0, 0);
	}
	/* The used ring is the only area the device writes. Laid over the
	 * available index, the device's own writes would change how many
	 * buffers it sees: with avail->idx on used->flags,
	 * virtq_wait_for_more() clearing NO_NOTIFY announces a buffer that
	 * virtq_set_notify(q, false) takes away again, and a device looping
	 * on the two (virtio/net_tx.c's net_tx_run) spins forever, deaf to reset.
	 * Other overlaps only garble what the driver gets back. The ranges
	 * did not wrap: guest_ptr() checked them. (Found by
	 * tests/fuzz/fuzz_virtio_net_tx.) */
	if (ranges_overlap(used_gpa, used_bytes, avail_gpa + 2, 2)) {
		memset(q, 0, sizeof(*q));
		return fail(why, VIRTQ_USED_OVER_AVAIL, 0xffff, used_gpa, avail_gpa + 2, 0, 0);
	}
	q->mem = mem;
	q->size = size;
	q->event_idx = event_idx;
	q->indirect = indirect;
	/* A newly enabled queue starts at index 0 on both sides (§2.7.6,
	 * §2.7.8); the used ring is the device's to initialise. */
	store16(&q->used->flags, 0);
	store16(&q->used->idx, 0);
	return 0;
}

bool virtq_has_avail(const struct virtq *q)
{
	return q->size && load16(&q->avail->idx) != q->last_avail;
}

/* Appends one descriptor's buffer to the chain, enforcing that writable
 * buffers come after readable ones. */
static int add_buffer(struct virtq *q, struct virtq_chain *c, uint64_t addr, uint32_t len,
		      bool writable)
{
	if (!writable && c->n_in)
		return fail(&c->fault, VIRTQ_READ_AFTER_WRITE, c->head, 0, 0, 0, 0);
	if (len == 0)
		return 0; /* legal, and nothing to transfer */
	void *p = guest_ptr(q->mem, addr, len);
	if (!p)
		return fail(&c->fault, VIRTQ_BUFFER_OUTSIDE, c->head, addr, len, 0, 0);
	if (c->n_out + c->n_in == VIRTQ_MAX_SEGS)
		return fail(&c->fault, VIRTQ_TOO_MANY_BUFFERS, c->head, VIRTQ_MAX_SEGS, 0, 0, 0);
	/* out_len + in_len never exceeds the bound, so this cannot wrap. */
	if (len > VIRTQ_MAX_CHAIN_BYTES - c->out_len - c->in_len)
		return fail(&c->fault, VIRTQ_TOO_MANY_BYTES, c->head, VIRTQ_MAX_CHAIN_BYTES, 0, 0,
			    0);
	*(writable ? &c->in_len : &c->out_len) += len;
	c->iov[c->n_out + c->n_in] = (struct iovec){p, len};
	if (writable)
		c->n_in++;
	else
		c->n_out++;
	return 0;
}

/* Walks an indirect table (§2.7.5.3): its own index space, no nesting, and
 * at most len / 16 descriptors, which also bounds any loop. The table may
 * not be longer than the queue (§2.7.5.3.1: no chain is), or its length
 * alone, up to 2^28 descriptors of which any number may be empty, would
 * bound the walk. */
static int walk_indirect(struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
	uint32_t len = d->len;
	if (!q->indirect)
		return fail(&c->fault, VIRTQ_INDIRECT_UNNEGOTIATED, c->head, 0, 0, 0, 0);
	if (d->flags & VRING_DESC_F_NEXT)
		return fail(&c->fault, VIRTQ_INDIRECT_WITH_NEXT, c->head, 0, 0, 0, 0);
	if (len == 0 || len % 16)
		return fail(&c->fault, VIRTQ_INDIRECT_BAD_LENGTH, c->head, len, 0, 0, 0);
	uint32_t n = len / 16;
	if (n > q->size)
		return fail(&c->fault, VIRTQ_INDIRECT_TOO_LONG, c->head, n, q->size, 0, 0);
	const struct vring_desc *table = guest_ptr(q->mem, d->addr, len);
	if (!table)
		return fail(&c->fault, VIRTQ_INDIRECT_OUTSIDE, c->head, d->addr, len, 0, 0);
	uint32_t i = 0;
	for (uint32_t seen = 0;; seen++) {
		if (seen == n)
			return fail(&c->fault, VIRTQ_INDIRECT_LOOPS, c->head, 0, 0, 0, 0);
		struct vring_desc e;
		memcpy(&e, &table[i], sizeof(e)); /* one snapshot: the guest may change it */
		c->ndesc++;
		if (e.flags & VRING_DESC_F_INDIRECT)
			return fail(&c->fault, VIRTQ_INDIRECT_NESTED, c->head, 0, 0, 0, 0);
		int r = add_buffer(q, c, e.addr, e.len, e.flags & VRING_DESC_F_WRITE);
		if (r)
			return r;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return fail(&c->fault, VIRTQ_INDIRECT_NEXT_OUTSIDE, c->head, e.next, n, 0,
				    0);
		i = e.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	c->head = 0xffff;
	c->n_out = c->n_in = c->ndesc = 0;
	c->out_len = c->in_len = 0;
	c->fault = (struct virtq_fault){.head = 0xffff};
	if (!q->size)
		return 0;

	uint16_t avail_idx = load16(&q->avail->idx);
	uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return fail(&c->fault, VIRTQ_AVAIL_AHEAD, 0xffff, avail_idx, pending, q->last_avail,
			    q->size);

	uint16_t head = load16(&q->avail->ring[q->last_avail & (q->size - 1)]);
	q->last_avail++;
	if (head >= q->size)
		return fail(&c->fault, VIRTQ_HEAD_OUTSIDE, 0xffff, head, q->size, 0, 0);
	c->head = head;

	uint16_t i = head;
	for (uint32_t seen = 0;; seen++) {
		if (seen == q->size)
			return fail(&c->fault, VIRTQ_CHAIN_LOOPS, head, q->size, 0, 0, 0);
		struct vring_desc d;
		memcpy(&d, &q->desc[i], sizeof(d));
		c->ndesc++;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: an indirect descriptor is the only one in
			 * its chain... */
			if (seen != 0)
				return fail(&c->fault, VIRTQ_INDIRECT_IN_CHAIN, head, 0, 0, 0, 0);
			int r = walk_indirect(q, c, &d);
			return r ? r : 1;
		}
		int r = add_buffer(q, c, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		if (d.next >= q->size)
			return fail(&c->fault, VIRTQ_NEXT_OUTSIDE, head, d.next, q->size, 0, 0);
		i = d.next;
	}
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &q->used->ring[q->used_idx & (q->size - 1)];
	e->id = head;
	e->len = len;
	q->used_idx++;
	store16(&q->used->idx, q->used_idx); /* release: the element first */
}

bool virtq_should_notify(struct virtq *q)
{
	/* The driver's suppression fields must be read after our used index is
	 * visible, or we could miss its request for an interrupt (§2.7.10). */
	atomic_thread_fence(memory_order_seq_cst);
	uint16_t old = q->signalled, now = q->used_idx;
	bool valid = q->signalled_valid;
	q->signalled = now;
	q->signalled_valid = true;
	if (!q->event_idx)
		return !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	uint16_t used_event = load16(&q->avail->ring[q->size]); /* trails the ring */
	return !valid || virtq_need_event(used_event, now, old);
}

void virtq_set_notify(struct virtq *q, bool enable)
{
	if (q->event_idx) {
		if (enable) /* avail_event trails the used ring */
			store16((uint16_t *)&q->used->ring[q->size], q->last_avail);
	} else {
		uint16_t flags = load16(&q->used->flags);
		store16(&q->used->flags, enable ? (uint16_t)(flags & ~VRING_USED_F_NO_NOTIFY)
						: (uint16_t)(flags | VRING_USED_F_NO_NOTIFY));
	}
	atomic_thread_fence(memory_order_seq_cst);
}

bool virtq_wait_for_more(struct virtq *q, uint16_t have)
{
	if (q->event_idx)
		store16((uint16_t *)&q->used->ring[q->size], (uint16_t)(q->last_avail + have));
	else
		store16(&q->used->flags,
			(uint16_t)(load16(&q->used->flags) & ~VRING_USED_F_NO_NOTIFY));
	/* The driver reads avail_event after publishing its index (§2.7.13.4):
	 * one of us sees the other's write. */
	atomic_thread_fence(memory_order_seq_cst);
	return (uint16_t)(load16(&q->avail->idx) - q->last_avail) > have;
}
