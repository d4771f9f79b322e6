/*
 * virtio-net (virtio 1.2 §5.1) over the PCI transport, with a file
 * descriptor that speaks "virtio-net header + Ethernet frame" per read and
 * write as its backend: a TAP opened with IFF_VNET_HDR (net/tap.c), or in unit
 * tests one end of a datagram socketpair.
 *
 * The packet work is a synchronous engine (net_engine.h: net_rx.c, net_tx.c)
 * that one worker thread per device runs (virtio/virtio_worker.c). The
 * worker sleeps in epoll_wait on the two queues' kick eventfds (signalled by
 * KVM itself: KVM_IOEVENTFD), the backend fd and its control eventfd
 * (activate, reset); the engine moves frames with readv()/writev() straight
 * between the backend and the guest's buffers, and the worker interrupts
 * the guest through the transport (MSI-X -> irqfd, or INTx) when a run's
 * verdict says so.
 *
 *   RX (queue 0): backend --readv--> guest buffers --used ring--> interrupt
 *   TX (queue 1): kick --> descriptor chain --writev--> backend --used ring
 */
#ifndef MINIVMM_VIRTIO_NET_H
#define MINIVMM_VIRTIO_NET_H

#include <linux/virtio_net.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "virtio/virtio_pci.h"
#include "virtio/virtio_worker.h"
#include "virtio/virtqueue.h"
#include "vmm/base/seccomp.h"
#include "vmm/base/stats_sink.h"

#define VIRTIO_NET_RXQ	     0
#define VIRTIO_NET_TXQ	     1
#define VIRTIO_NET_QUEUE_MAX 256
#define VIRTIO_NET_HDR_LEN   sizeof(struct virtio_net_hdr_mrg_rxbuf) /* 12, §5.1.6 */

/* What the device needs from its backend besides the fd. */
struct virtio_net_backend {
	int fd;		  /* non-blocking; one frame per read/write, header first */
	const char *name; /* for messages and stats, e.g. the TAP's name */
	/* Which offloads the guest accepts on received frames (TUN_F_* flags of
	 * <linux/if_tun.h>), so the backend may hand over unchecksummed or
	 * unsegmented frames. NULL: the backend never does. On failure it
	 * leaves errno set; EBADFD means the backend is gone (a deleted TAP)
	 * and goes unreported here. */
	int (*set_offload)(void *ctx, unsigned tun_flags, struct errbuf *e);
	void *ctx;
	/* Offloads the far side of the backend cannot carry (net/offload.h):
	 * no_tx withholds CSUM and HOST_TSO4/6/ECN from the guest, no_rx
	 * GUEST_CSUM and GUEST_TSO4/6/ECN; why says why, for --stats. */
	bool no_tx_offload, no_rx_offload;
	const char *no_offload_why;
};

/*
 * The receive carry-over (net_rx.c): the receive chains the virtio-net device has popped and not
 * yet used (virtio 1.2 §5.1.6.4). With mergeable buffers one frame may need many chains (room for a
 * 64 KiB GSO frame is 43 of Linux's 1536-byte buffers) and mostly uses one; the rest wait for the
 * next frame instead of going back to the ring to be walked again.
 *
 * A FIFO of chains whose writable buffers lie end to end in one iovec
 * array, so that one readv() fills them in order. Using the first chains
 * moves two indexes; the array is only compacted when a new chain would
 * not fit behind the rest.
 */
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

/* Counters the worker keeps (relaxed atomics) and --stats prints. rx is
 * host -> guest, tx guest -> host, as the guest sees its NIC. */
struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped; /* dropped: too big, or refused */
	uint64_t tx_packets, tx_bytes, tx_errors;  /* errors: bad chain, or the backend refused */
	uint64_t kicks;				   /* runs a queue's doorbell woke */
	uint64_t rx_waits, tx_waits; /* times a side waited: no guest buffers, backend full */
};

struct virtio_net {
	bool initialised;
	struct virtio_pci vp;
	struct virtio_net_backend backend;
	struct virtio_net_config config; /* mac, status (link up) */
	struct virtio_net_stats stats;
	/* The offload features the driver took at its last DRIVER_OK, 0 after
	 * a reset (atomic: --stats reads it from the main thread). */
	uint64_t offloads_in_force;

	/* The worker that runs the engine (net_engine.h): a thread from
	 * virtio_net_init to virtio_net_destroy (so that the thread that
	 * starts it is never a vCPU's), serving from DRIVER_OK until reset. */
	struct virtio_worker worker;
	/* State the worker keeps between wake-ups. */
	bool rx_needs_buffers;	   /* waiting for the guest to add RX buffers */
	bool tx_needs_room;	   /* waiting for the backend to accept a frame */
	bool broken;		   /* the driver broke a ring; NEEDS_RESET was raised */
	bool backend_gone;	   /* the TAP was deleted under us; no longer watched */
	struct rx_chains rx;	   /* receive chains popped for the next frames */
	struct iovec *tx_iov;	   /* a TX frame: the checked header, then the guest's buffers */
	struct virtq_chain *chain; /* scratch for one chain */
};

/* Formats a MAC address argument "52:54:00:12:34:56"; rejects multicast and
 * all-zero addresses, which a NIC cannot have. Messages name it "--mac". */
int virtio_net_parse_mac(const char *s, uint8_t mac[6], struct errbuf *e);

/* A stable, locally administered unicast MAC derived from seed (the TAP's
 * name), so the same command line gives the guest the same address. */
void virtio_net_default_mac(const char *seed, uint8_t mac[6]);

/* Sets up the device (not yet running: the guest's driver starts it) and
 * its worker thread, started as thread says (NULL: just started). A failed
 * start fails this. */
int virtio_net_init(struct virtio_net *n, const struct virtio_net_backend *backend,
		    const uint8_t mac[6], const struct guest_mem *mem, struct irq_routing *routing,
		    int vm_fd, const struct virtio_worker_thread *thread, struct errbuf *e);

/* The eventfds vCPU threads and the worker write and read (the worker's
 * control eventfd, the queues' kicks, the MSI-X vectors), for their seccomp
 * allowlists: into
 * fds[], at most max; returns how many. */
int virtio_net_eventfds(const struct virtio_net *n, int *fds, int max);

/* Stops the worker if running and frees everything; the backend fd is the
 * caller's. Safe on a zeroed struct. */
void virtio_net_destroy(struct virtio_net *n);

/* The NIC's statistics (vmm/base/stats_sink.h): in the text a line of its
 * offloads and one of its counters, in the JSON one object. */
void virtio_net_emit_stats(const struct virtio_net *n, struct stats_sink *s);
/* The same, and what the NIC adds to the VM's doorbell and interrupt
 * totals, in the shape of a device table's hooks (vmm/devtable.h). */
void virtio_net_report(const void *n, struct stats_sink *s);
void virtio_net_count(const void *n, uint64_t *doorbells, uint64_t *interrupts);

/* The offloads in force one way (tx: guest -> host), as short names
 * ("csum", "tso4", "tso6", "ecn") into names[]; returns how many. */
#define VIRTIO_NET_OFFLOAD_NAMES 4
int virtio_net_offloads(const struct virtio_net *n, bool tx,
			const char *names[VIRTIO_NET_OFFLOAD_NAMES]);

#endif
