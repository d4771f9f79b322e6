/*
 * The guest side of minivmm-vq-bench: a virtio-net driver that behaves like
 * Linux's virtio_net on the two queues (virtio 1.2 §2.7 split rings, §5.1.6
 * packets), driving the real device (virtio/virtio_net.c, its worker thread,
 * virtio/virtqueue.c) through the real PCI transport, as
 * tests/unit/test_virtio_net.c does, but with Linux's queue size, buffer
 * sizes and notification habits instead of a test's.
 *
 * What stands in for the hardware:
 *   - guest RAM is a real struct guest_mem (guest_mem_alloc);
 *   - a doorbell is a BAR 0 write to the notify area, which the transport
 *     turns into the queue's kick eventfd (what KVM's ioeventfd does in a VM);
 *   - the interrupt is INTA#, wired with pci_wire_intx() to an eventfd the
 *     driver sleeps on (in a VM: MSI-X -> irqfd, also one eventfd write);
 *     the driver acknowledges it by reading ISR (§4.1.4.5), as Linux's INTx
 *     handler does.
 */
#ifndef MINIVMM_TESTS_BENCH_VQ_DRIVER_H
#define MINIVMM_TESTS_BENCH_VQ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio_net.h"
#include "vmm/base/guest_mem.h"

#define VQD_QSIZE      VIRTIO_NET_QUEUE_MAX /* the device's largest: Linux takes it */
#define VQD_BUF_STRIDE 2048
/* Linux's mergeable receive buffers are sized by an average of recent packet
 * lengths, but never below a full Ethernet frame plus header (1518 + 12)
 * rounded up to a cache line: get_mergeable_buf_len() in
 * drivers/net/virtio_net.c. With only small or full-size frames, 1536. */
#define VQD_RX_BUF_LEN 1536
#define VQD_RAM_SIZE   (4u << 20)

/* The driver's view of one split queue. */
struct vqd_ring {
	uint16_t index; /* VIRTIO_NET_RXQ or VIRTIO_NET_TXQ */
	uint64_t desc_gpa, avail_gpa, used_gpa, buf_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint8_t *buf;	     /* host view of the VQD_QSIZE buffers at buf_gpa */
	uint16_t avail_idx;  /* our shadow of avail->idx */
	uint16_t kicked_idx; /* avail_idx when we last decided whether to kick */
	uint16_t last_used;  /* next used entry to look at */
	uint16_t frame_left; /* RX: buffers still due for the frame in progress */
	uint16_t nfree;
	uint16_t free[VQD_QSIZE]; /* descriptor ids (= buffer numbers) not on the ring */
};

struct vqd_counts {
	uint64_t kicks;	     /* doorbells written */
	uint64_t interrupts; /* wake-ups by the interrupt */
	uint64_t bad;	     /* used entries that were not what was sent */
};

struct vq_driver {
	struct virtio_net *net;
	const struct guest_mem *mem;
	uint64_t features; /* what we accept of what the device offers */
	bool event_idx;	   /* VIRTIO_RING_F_EVENT_IDX negotiated */
	/* RX buffers the device keeps on the ring without using them: it
	 * takes a frame only when the buffers on offer hold the largest frame
	 * it may be handed (rx_gather() in virtio_net.c), so with GUEST_TSO it
	 * needs 64 KiB of them for any frame. See vqd_rx(). */
	unsigned rx_slack;
	struct vqd_ring rx, tx;
	int irq_fd; /* eventfd: INTA# asserted */
	int timeout_ms;
	struct vqd_counts counts;
};

/* Feature sets the driver accepts (intersected with the device's offer). */
enum vqd_features {
	VQD_FEATURES_LINUX, /* all Linux 6.x's virtio_net would take from minivmm */
	VQD_FEATURES_PLAIN, /* VERSION_1, MRG_RXBUF and EVENT_IDX only: no offloads */
};

/* Maps the rings and buffers (checked against guest RAM) and wires the
 * device's INTA# to the driver through irq_fd, an eventfd it then owns
 * (made by the caller, so that the worker's allowlist can name it). The
 * device stays reset until vqd_start(). */
int vqd_init(struct vq_driver *d, struct virtio_net *net, const struct guest_mem *mem,
	     enum vqd_features features, int irq_fd, struct errbuf *e);
void vqd_destroy(struct vq_driver *d);

/* §3.1.1: reset, negotiate, set up both queues empty, DRIVER_OK. */
int vqd_start(struct vq_driver *d, struct errbuf *e);

/* Writes status 0: the device stops its worker before this returns. */
void vqd_reset(struct vq_driver *d);

/* Host pointers to buffer i (mod VQD_QSIZE) of a queue, for the bare loops,
 * which use the same memory. */
uint8_t *vqd_buf(struct vqd_ring *q, unsigned i);

/* Copies pkt (header + frame) into every TX buffer. */
void vqd_fill_tx(struct vq_driver *d, const uint8_t *pkt, uint32_t len);

/* Sends n packets of len bytes (header included) from the TX buffers,
 * keeping the ring full, and returns once the device has used them all. */
int vqd_tx(struct vq_driver *d, uint64_t n, uint32_t len, struct errbuf *e);

/* The most frames one vqd_rx() call may wait for. */
unsigned vqd_rx_batch_max(const struct vq_driver *d);

/* Posts receive buffers for k frames, kicks, and returns once k frames of
 * len bytes (header included) have arrived. */
int vqd_rx(struct vq_driver *d, unsigned k, uint32_t len, struct errbuf *e);

#endif
