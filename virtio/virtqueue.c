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

/* Records why the driver's input is refused (q->error, for the device's
 * one-line report) and returns -1. Only malformed input gets here, so the
 * formatting costs nothing on the data path. */
static int refuse(struct virtq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct virtq *q, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
	return -1;
}

int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx, bool indirect)
{
	memset(q, 0, sizeof(*q));
	if (size == 0 || (size & (size - 1)) || size > VIRTQ_MAX_SIZE)
		return refuse(q, "size %u is not a power of 2 up to %u", size, VIRTQ_MAX_SIZE);
	/* §2.7: descriptor table 16-byte aligned, available ring 2, used ring 4;
	 * the trailing event fields are included in the sizes. */
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return refuse(q, "rings misaligned (desc 0x%llx, avail 0x%llx, used 0x%llx)",
			      (unsigned long long)desc_gpa, (unsigned long long)avail_gpa,
			      (unsigned long long)used_gpa);
	uint64_t desc_bytes = 16ULL * size;
	uint64_t avail_bytes = 6 + 2ULL * size;
	uint64_t used_bytes = 6 + 8ULL * size;
	q->desc = guest_ptr(mem, desc_gpa, desc_bytes);
	q->avail = guest_ptr(mem, avail_gpa, avail_bytes);
	q->used = guest_ptr(mem, used_gpa, used_bytes);
	const char *outside = !q->desc	  ? "descriptor table"
			      : !q->avail ? "available ring"
					  : "used ring";
	uint64_t outside_at = !q->desc ? desc_gpa : !q->avail ? avail_gpa : used_gpa;
	if (!q->desc || !q->avail || !q->used) {
		memset(q, 0, sizeof(*q));
		return refuse(q, "%s at 0x%llx is not all in guest RAM", outside,
			      (unsigned long long)outside_at);
	}
	/* The used ring is the only area the device writes. Laid over the
	 * available index, the device's own writes would change how many
	 * buffers it sees: with avail->idx on used->flags,
	 * virtq_wait_for_more() clearing NO_NOTIFY announces a buffer that
	 * virtq_set_notify(q, false) takes away again, and a device looping
	 * on the two (virtio_net's process_tx) spins forever, deaf to reset.
	 * Other overlaps only garble what the driver gets back. The ranges
	 * did not wrap: guest_ptr() checked them. (Found by
	 * tests/fuzz/fuzz_virtio_net_tx.) */
	if (ranges_overlap(used_gpa, used_bytes, avail_gpa + 2, 2)) {
		memset(q, 0, sizeof(*q));
		return refuse(q, "used ring at 0x%llx covers the available index at 0x%llx",
			      (unsigned long long)used_gpa, (unsigned long long)avail_gpa + 2);
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
		return refuse(q, "chain %u: a device-readable buffer after a writable one (§2.7.4)",
			      c->head);
	if (len == 0)
		return 0; /* legal, and nothing to transfer */
	void *p = guest_ptr(q->mem, addr, len);
	if (!p)
		return refuse(q, "chain %u: buffer 0x%llx+%u is not all in guest RAM", c->head,
			      (unsigned long long)addr, len);
	if (c->n_out + c->n_in == VIRTQ_MAX_SEGS)
		return refuse(q, "chain %u: more than %u buffers", c->head, VIRTQ_MAX_SEGS);
	/* out_len + in_len never exceeds the bound, so this cannot wrap. */
	if (len > VIRTQ_MAX_CHAIN_BYTES - c->out_len - c->in_len)
		return refuse(q, "chain %u: buffers add up to more than %u bytes", c->head,
			      VIRTQ_MAX_CHAIN_BYTES);
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
		return refuse(q,
			      "chain %u: indirect descriptor, VIRTIO_F_INDIRECT_DESC not "
			      "negotiated",
			      c->head);
	if (d->flags & VRING_DESC_F_NEXT)
		return refuse(q, "chain %u: indirect descriptor with NEXT set (§2.7.5.3.1)",
			      c->head);
	if (len == 0 || len % 16)
		return refuse(q, "chain %u: indirect table of %u bytes, not a multiple of 16",
			      c->head, len);
	uint32_t n = len / 16;
	if (n > q->size)
		return refuse(q,
			      "chain %u: indirect table of %u entries, more than the queue's %u "
			      "(§2.7.5.3.1)",
			      c->head, n, q->size);
	const struct vring_desc *table = guest_ptr(q->mem, d->addr, len);
	if (!table)
		return refuse(q, "chain %u: indirect table 0x%llx+%u is not all in guest RAM",
			      c->head, (unsigned long long)d->addr, len);
	uint32_t i = 0;
	for (uint32_t seen = 0;; seen++) {
		if (seen == n)
			return refuse(q, "chain %u: indirect table loops", c->head);
		struct vring_desc e;
		memcpy(&e, &table[i], sizeof(e)); /* one snapshot: the guest may change it */
		c->ndesc++;
		if (e.flags & VRING_DESC_F_INDIRECT)
			return refuse(q, "chain %u: nested indirect table (§2.7.5.3.1)", c->head);
		if (add_buffer(q, c, e.addr, e.len, e.flags & VRING_DESC_F_WRITE))
			return -1;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return refuse(q, "chain %u: indirect next %u outside its %u-entry table",
				      c->head, e.next, n);
		i = e.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	c->head = 0xffff;
	c->n_out = c->n_in = c->ndesc = 0;
	c->out_len = c->in_len = 0;
	q->error[0] = '\0';
	if (!q->size)
		return 0;

	uint16_t avail_idx = load16(&q->avail->idx);
	uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending == 0)
		return 0;
	if (pending > q->size)
		return refuse(q,
			      "available index %u is %u ahead of the device's %u, more than "
			      "the %u entries the ring holds",
			      avail_idx, pending, q->last_avail, q->size);

	uint16_t head = load16(&q->avail->ring[q->last_avail & (q->size - 1)]);
	q->last_avail++;
	if (head >= q->size)
		return refuse(q, "available ring entry %u is outside the %u-entry table", head,
			      q->size);
	c->head = head;

	uint16_t i = head;
	for (uint32_t seen = 0;; seen++) {
		if (seen == q->size)
			return refuse(q, "chain %u loops (more links than the %u descriptors)",
				      head, q->size);
		struct vring_desc d;
		memcpy(&d, &q->desc[i], sizeof(d));
		c->ndesc++;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: an indirect descriptor is the only one in
			 * its chain... */
			if (seen != 0)
				return refuse(q,
					      "chain %u: indirect descriptor inside a chain "
					      "(§2.7.5.3.1)",
					      head);
			return walk_indirect(q, c, &d) ? -1 : 1;
		}
		if (add_buffer(q, c, d.addr, d.len, d.flags & VRING_DESC_F_WRITE))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		if (d.next >= q->size)
			return refuse(q, "chain %u: next %u outside the %u-entry table", head,
				      d.next, q->size);
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
