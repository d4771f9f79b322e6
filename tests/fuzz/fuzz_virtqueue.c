/*
 * The split-virtqueue walker (virtio/virtqueue.c) against hostile guest
 * memory: the input is a queue configuration, a script of device and driver
 * actions, and the guest RAM image the rings and chains live in.
 *
 * Guest RAM is 16 KiB at 0 plus 16 KiB at 4 GiB (the layout guest_mem uses
 * above the PCI hole, shrunk), so addresses on both sides and in the gap
 * are reachable. Checked after every step: each chain virtq_pop() returns
 * lies in guest RAM, has at most VIRTQ_MAX_SEGS non-empty buffers, readable
 * before writable, lengths that add up to at most VIRTQ_MAX_CHAIN_BYTES, and
 * cost at most the queue size in descriptors visited (plus an indirect one);
 * and at the end, that the device side wrote nothing outside the used ring.
 *
 * Input: flags (1), size (1 or 2), desc/avail/used (2 each, or 8 each with
 * FLAG_RAW_ADDR), script length (2), script, RAM image (the rest: low RAM
 * first, then high).
 */
#include <stdbool.h>

#include "fuzz_input.h"
#include "virtio/virtqueue.h"

#define LOW_RAM	 0x4000u
#define HIGH_RAM 0x4000u
#define RAM	 (LOW_RAM + HIGH_RAM)

enum {
	FLAG_EVENT_IDX = 1 << 0,
	FLAG_INDIRECT = 1 << 1,
	FLAG_RAW_SIZE = 1 << 2,	 /* a 16-bit size, not a power of two from 2^0..2^15 */
	FLAG_RAW_ADDR = 1 << 3,	 /* 64-bit ring addresses, not 16-bit offsets */
	FLAG_DESC_HIGH = 1 << 4, /* 16-bit offsets from 4 GiB instead of 0 */
	FLAG_AVAIL_HIGH = 1 << 5,
	FLAG_USED_HIGH = 1 << 6,
};

enum { OP_POP, OP_PUSH, OP_UNPOP, OP_NOTIFY, OP_SET_NOTIFY, OP_WAIT, OP_POKE, OP_PUBLISH, OP_N };

#define MAX_PENDING 512

static uint8_t *ram, *shadow; /* shadow: what the driver (this script) wrote */
static struct guest_mem mem;
static struct virtq_chain chain;

static uint64_t ring_addr(struct fuzz_in *in, uint8_t flags, uint8_t high_flag)
{
	if (flags & FLAG_RAW_ADDR)
		return fuzz_u64(in);
	uint64_t off = fuzz_u16(in);
	return flags & high_flag ? GUEST_HIGH_RAM_START + off : off;
}

/* A host range [p, p + len) is guest RAM that guest_ptr() could have handed
 * out: inside one of the two regions, not across their seam. */
static bool in_guest_ram(const void *p, size_t len)
{
	const uint8_t *b = p;
	if (b < ram || b >= ram + RAM || len > RAM)
		return false;
	size_t off = (size_t)(b - ram);
	return off < LOW_RAM ? off + len <= LOW_RAM : off + len <= RAM;
}

static void check_chain(const struct virtq *q, const struct virtq_chain *c)
{
	FUZZ_CHECK(c->head < q->size);
	FUZZ_CHECK(c->n_out + c->n_in <= VIRTQ_MAX_SEGS);
	uint64_t out = 0, in = 0;
	for (unsigned i = 0; i < c->n_out + c->n_in; i++) {
		FUZZ_CHECK(c->iov[i].iov_len > 0);
		FUZZ_CHECK(in_guest_ram(c->iov[i].iov_base, c->iov[i].iov_len));
		if (i < c->n_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	FUZZ_CHECK(out == c->out_len);
	FUZZ_CHECK(in == c->in_len);
	FUZZ_CHECK(out + in <= VIRTQ_MAX_CHAIN_BYTES);
	FUZZ_CHECK(c->ndesc >= 1 && c->ndesc <= q->size + 1u);
}

/* The driver writes RAM: both the real thing and the record of it. */
static void poke(uint64_t off, const void *v, size_t n)
{
	if (off + n > RAM)
		return;
	memcpy(ram + off, v, n);
	memcpy(shadow + off, v, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = malloc(RAM);
		shadow = malloc(RAM);
		mem = (struct guest_mem){ram, RAM, LOW_RAM};
	}
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t flags = fuzz_u8(&in);
	uint16_t qsize =
	    flags & FLAG_RAW_SIZE ? fuzz_u16(&in) : (uint16_t)(1u << (fuzz_u8(&in) % 16));
	uint64_t desc = ring_addr(&in, flags, FLAG_DESC_HIGH);
	uint64_t avail = ring_addr(&in, flags, FLAG_AVAIL_HIGH);
	uint64_t used = ring_addr(&in, flags, FLAG_USED_HIGH);
	struct fuzz_in script = fuzz_sub(&in, fuzz_u16(&in));
	memset(ram, 0, RAM);
	fuzz_take(&in, ram, RAM);
	memcpy(shadow, ram, RAM);

	struct virtq q;
	struct virtq_fault why;
	int ir = virtq_init(&q, &mem, qsize, desc, avail, used, flags & FLAG_EVENT_IDX,
			    flags & FLAG_INDIRECT, &why);
	if (ir) {
		/* A refusal's code is what it returns, and says it in words. */
		char text[160];
		FUZZ_CHECK(ir == -(int)why.code && why.code > VIRTQ_FAULT_NONE &&
			   why.code <= VIRTQ_USED_OVER_AVAIL);
		FUZZ_CHECK(virtq_fault_text(&why, text, sizeof(text))[0] != '\0');
		FUZZ_CHECK(q.size == 0);
		FUZZ_CHECK(!virtq_has_avail(&q));
		FUZZ_CHECK(virtq_pop(&q, &chain) == 0);
		FUZZ_CHECK(memcmp(ram, shadow, RAM) == 0);
		return 0;
	}
	FUZZ_CHECK(q.size == qsize);
	FUZZ_CHECK(in_guest_ram(q.desc, 16ULL * qsize));
	FUZZ_CHECK(in_guest_ram(q.avail, 6 + 2ULL * qsize));
	FUZZ_CHECK(in_guest_ram(q.used, 6 + 8ULL * qsize));

	/* Heads popped and not yet pushed, in pop order (a stack for unpop). */
	static uint16_t pending[MAX_PENDING];
	unsigned npending = 0;
	uint16_t published = __atomic_load_n(&q.avail->idx, __ATOMIC_RELAXED);

	while (script.left) {
		uint8_t op = fuzz_u8(&script);
		switch (op % OP_N) {
		case OP_POP: {
			uint16_t before = q.last_avail;
			int r = virtq_pop(&q, &chain);
			FUZZ_CHECK(r >= -(int)VIRTQ_DEVICE_RULE && r <= 1);
			/* A refusal names its code in the chain, a chain or an
			 * empty ring none; the pop's own faults only. */
			FUZZ_CHECK(r < 0 ? r == -(int)chain.fault.code &&
					       chain.fault.code >= VIRTQ_AVAIL_AHEAD &&
					       chain.fault.code < VIRTQ_DEVICE_RULE
					 : chain.fault.code == VIRTQ_FAULT_NONE);
			if (r == 1) {
				check_chain(&q, &chain);
				FUZZ_CHECK(q.last_avail == (uint16_t)(before + 1));
				if (npending < MAX_PENDING)
					pending[npending++] = chain.head;
				else
					virtq_push(&q, chain.head, 0);
			} else if (r == 0) {
				FUZZ_CHECK(q.last_avail == before);
				/* What a device does when the ring looks empty
				 * (virtio/net_tx.c's net_tx_run): ask for a kick, look
				 * again, and if there is more, turn kicks off and
				 * pop. That pop must find something, or the
				 * device loops forever. */
				if ((op & 0x80) && virtq_wait_for_more(&q, 0)) {
					virtq_set_notify(&q, false);
					FUZZ_CHECK(virtq_pop(&q, &chain) != 0);
					if (chain.head != 0xffff)
						virtq_unpop(&q, 1);
					else
						goto out;
				}
			} else if (chain.head != 0xffff) {
				/* A malformed chain whose head was consumed: the
				 * device returns it unused (op bit 7 set), or marks
				 * itself broken and stops (op bit 7 clear). */
				FUZZ_CHECK(chain.head < q.size);
				if (!(op & 0x80))
					goto out;
				virtq_push(&q, chain.head, 0);
			} else {
				goto out; /* the ring itself is broken: needs reset */
			}
			break;
		}
		case OP_PUSH:
			if (npending) {
				/* Push the oldest or the newest: devices do both. */
				unsigned i = op & 0x80 ? npending - 1 : 0;
				uint16_t head = pending[i];
				memmove(pending + i, pending + i + 1,
					(npending - i - 1) * sizeof(pending[0]));
				npending--;
				virtq_push(&q, head, fuzz_u32(&script));
				FUZZ_CHECK(__atomic_load_n(&q.used->idx, __ATOMIC_RELAXED) ==
					   q.used_idx);
			}
			break;
		case OP_UNPOP: {
			/* Only the newest chains, as the contract says. */
			uint16_t n = fuzz_u8(&script);
			if (n > npending)
				n = (uint16_t)npending;
			uint16_t before = q.last_avail;
			virtq_unpop(&q, n);
			npending -= n;
			FUZZ_CHECK(q.last_avail == (uint16_t)(before - n));
			break;
		}
		case OP_NOTIFY:
			virtq_should_notify(&q);
			break;
		case OP_SET_NOTIFY:
			virtq_set_notify(&q, op & 0x80);
			virtq_has_avail(&q);
			break;
		case OP_WAIT:
			virtq_wait_for_more(&q, fuzz_u16(&script));
			break;
		case OP_POKE: {
			/* The driver changes anything at all. */
			uint16_t off = fuzz_u16(&script);
			uint64_t v = fuzz_u64(&script);
			poke(off % RAM, &v, 1u << (op >> 6));
			break;
		}
		case OP_PUBLISH: {
			/* The driver offers a chain the usual way: ring entry,
			 * then the index (bit 7: several at once). */
			uint16_t head = fuzz_u16(&script);
			unsigned count = op & 0x80 ? fuzz_u8(&script) : 1;
			uint64_t ring = (uint64_t)((uint8_t *)q.avail->ring - ram);
			for (unsigned i = 0; i < count; i++) {
				uint16_t h = (uint16_t)(head + i);
				poke(ring + 2u * (published % qsize), &h, 2);
				published++;
			}
			poke(ring - 2, &published, 2);
			break;
		}
		}
	}
out:;
	/* The device wrote nothing but the used ring: flags, idx, elements and
	 * avail_event. (The driver may lay its other areas over it.) */
	size_t u = (size_t)((uint8_t *)q.used - ram), ulen = 6 + 8u * qsize;
	FUZZ_CHECK(memcmp(ram, shadow, u) == 0);
	FUZZ_CHECK(memcmp(ram + u + ulen, shadow + u + ulen, RAM - u - ulen) == 0);
	return 0;
}
