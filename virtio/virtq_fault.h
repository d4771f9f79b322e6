/*
 * Why a virtqueue refused what the driver wrote (virtio 1.2 §2.7): a code a
 * device can act on and count, with the few numbers that make the report
 * exact. Filling one costs no formatting, so a hostile driver that breaks
 * its rings in a loop costs the device nothing; virtq_fault_text() says it
 * in words once, when the device reports it.
 */
#ifndef MINIVMM_VIRTQ_FAULT_H
#define MINIVMM_VIRTQ_FAULT_H

#include <stddef.h>
#include <stdint.h>

enum virtq_fault_code {
	VIRTQ_FAULT_NONE = 0,
	/* virtq_init(): the queue's set-up (§2.7, §4.1.4.3) */
	VIRTQ_BAD_SIZE,	       /* v0 size, v1 the largest allowed */
	VIRTQ_MISALIGNED,      /* v0 desc, v1 avail, v2 used */
	VIRTQ_RING_OUTSIDE,    /* v0 which (0 desc, 1 avail, 2 used), v1 its address */
	VIRTQ_USED_OVER_AVAIL, /* v0 used ring, v1 available index address */
	/* virtq_pop(): the available ring */
	VIRTQ_AVAIL_AHEAD,  /* v0 avail idx, v1 how far ahead, v2 ours, v3 size */
	VIRTQ_HEAD_OUTSIDE, /* v0 the entry, v1 size */
	/* virtq_pop(): a chain (head names it) */
	VIRTQ_CHAIN_LOOPS,	/* v0 size */
	VIRTQ_NEXT_OUTSIDE,	/* v0 next, v1 size */
	VIRTQ_READ_AFTER_WRITE, /* §2.7.4 */
	VIRTQ_BUFFER_OUTSIDE,	/* v0 address, v1 length */
	VIRTQ_TOO_MANY_BUFFERS, /* v0 VIRTQ_MAX_SEGS */
	VIRTQ_TOO_MANY_BYTES,	/* v0 VIRTQ_MAX_CHAIN_BYTES */
	/* virtq_pop(): an indirect table (§2.7.5.3) */
	VIRTQ_INDIRECT_UNNEGOTIATED,
	VIRTQ_INDIRECT_WITH_NEXT,
	VIRTQ_INDIRECT_BAD_LENGTH, /* v0 bytes */
	VIRTQ_INDIRECT_TOO_LONG,   /* v0 entries, v1 size */
	VIRTQ_INDIRECT_OUTSIDE,	   /* v0 address, v1 length */
	VIRTQ_INDIRECT_LOOPS,
	VIRTQ_INDIRECT_NESTED,
	VIRTQ_INDIRECT_IN_CHAIN,
	VIRTQ_INDIRECT_NEXT_OUTSIDE, /* v0 next, v1 entries */
	/* The device's own rule for its queue, in its words: "<subject> <head>
	 * <rule>", e.g. "receive chain 3 has device-readable buffers". */
	VIRTQ_DEVICE_RULE,
	VIRTQ_FAULT_CODES
};

struct virtq_fault {
	enum virtq_fault_code code;
	uint16_t head;		    /* the chain at fault, 0xffff if none */
	uint64_t v[4];		    /* as the code's comment says */
	const char *subject, *rule; /* VIRTQ_DEVICE_RULE only */
};

/* The fault in words, NUL-terminated in buf (n > 0); returns buf. */
const char *virtq_fault_text(const struct virtq_fault *f, char *buf, size_t n);

#endif
