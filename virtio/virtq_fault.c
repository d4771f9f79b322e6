#include "virtio/virtq_fault.h"

#include <stdio.h>

const char *virtq_fault_text(const struct virtq_fault *f, char *buf, size_t n)
{
	static const char *const ring_names[] = {"descriptor table", "available ring", "used ring"};
	unsigned h = f->head;
	unsigned long long a = f->v[0], b = f->v[1], c = f->v[2], d = f->v[3];
	switch (f->code) {
	case VIRTQ_FAULT_NONE:
		snprintf(buf, n, "no fault");
		break;
	case VIRTQ_BAD_SIZE:
		snprintf(buf, n, "size %llu is not a power of 2 up to %llu", a, b);
		break;
	case VIRTQ_MISALIGNED:
		snprintf(buf, n, "rings misaligned (desc 0x%llx, avail 0x%llx, used 0x%llx)", a, b,
			 c);
		break;
	case VIRTQ_RING_OUTSIDE:
		snprintf(buf, n, "%s at 0x%llx is not all in guest RAM", ring_names[a < 3 ? a : 2],
			 b);
		break;
	case VIRTQ_USED_OVER_AVAIL:
		snprintf(buf, n, "used ring at 0x%llx covers the available index at 0x%llx", a, b);
		break;
	case VIRTQ_AVAIL_AHEAD:
		snprintf(buf, n,
			 "available index %llu is %llu ahead of the device's %llu, more than the "
			 "%llu entries the ring holds",
			 a, b, c, d);
		break;
	case VIRTQ_HEAD_OUTSIDE:
		snprintf(buf, n, "available ring entry %llu is outside the %llu-entry table", a, b);
		break;
	case VIRTQ_CHAIN_LOOPS:
		snprintf(buf, n, "chain %u loops (more links than the %llu descriptors)", h, a);
		break;
	case VIRTQ_NEXT_OUTSIDE:
		snprintf(buf, n, "chain %u: next %llu outside the %llu-entry table", h, a, b);
		break;
	case VIRTQ_READ_AFTER_WRITE:
		snprintf(buf, n, "chain %u: a device-readable buffer after a writable one (§2.7.4)",
			 h);
		break;
	case VIRTQ_BUFFER_OUTSIDE:
		snprintf(buf, n, "chain %u: buffer 0x%llx+%llu is not all in guest RAM", h, a, b);
		break;
	case VIRTQ_TOO_MANY_BUFFERS:
		snprintf(buf, n, "chain %u: more than %llu buffers", h, a);
		break;
	case VIRTQ_TOO_MANY_BYTES:
		snprintf(buf, n, "chain %u: buffers add up to more than %llu bytes", h, a);
		break;
	case VIRTQ_INDIRECT_UNNEGOTIATED:
		snprintf(buf, n,
			 "chain %u: indirect descriptor, VIRTIO_F_INDIRECT_DESC not negotiated", h);
		break;
	case VIRTQ_INDIRECT_WITH_NEXT:
		snprintf(buf, n, "chain %u: indirect descriptor with NEXT set (§2.7.5.3.1)", h);
		break;
	case VIRTQ_INDIRECT_BAD_LENGTH:
		snprintf(buf, n, "chain %u: indirect table of %llu bytes, not a multiple of 16", h,
			 a);
		break;
	case VIRTQ_INDIRECT_TOO_LONG:
		snprintf(buf, n,
			 "chain %u: indirect table of %llu entries, more than the queue's %llu "
			 "(§2.7.5.3.1)",
			 h, a, b);
		break;
	case VIRTQ_INDIRECT_OUTSIDE:
		snprintf(buf, n, "chain %u: indirect table 0x%llx+%llu is not all in guest RAM", h,
			 a, b);
		break;
	case VIRTQ_INDIRECT_LOOPS:
		snprintf(buf, n, "chain %u: indirect table loops", h);
		break;
	case VIRTQ_INDIRECT_NESTED:
		snprintf(buf, n, "chain %u: nested indirect table (§2.7.5.3.1)", h);
		break;
	case VIRTQ_INDIRECT_IN_CHAIN:
		snprintf(buf, n, "chain %u: indirect descriptor inside a chain (§2.7.5.3.1)", h);
		break;
	case VIRTQ_INDIRECT_NEXT_OUTSIDE:
		snprintf(buf, n, "chain %u: indirect next %llu outside its %llu-entry table", h, a,
			 b);
		break;
	case VIRTQ_DEVICE_RULE:
		snprintf(buf, n, "%s %u %s", f->subject ? f->subject : "chain", h,
			 f->rule ? f->rule : "breaks the device's rules");
		break;
	default:
		snprintf(buf, n, "fault %d", (int)f->code);
		break;
	}
	return buf;
}
