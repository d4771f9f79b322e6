/*
 * virtio-net (virtio 1.2 §5.1) over the PCI transport, with a file
 * descriptor that speaks "virtio-net header + Ethernet frame" per read and
 * write as its backend: a TAP opened with IFF_VNET_HDR (net/tap.c), or in unit
 * tests one end of a datagram socketpair.
 *
 * One worker thread per device does all the packet work. It sleeps in
 * epoll_wait on the two queues' kick eventfds (signalled by KVM itself:
 * KVM_IOEVENTFD), the backend fd and a stop eventfd, and moves frames with
 * readv()/writev() straight between the backend and the guest's buffers. It
 * interrupts the guest through the transport (MSI-X -> irqfd, or INTx).
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

#include "virtio/rx_chains.h"
#include "virtio/virtio_pci.h"
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

/* Counters the worker keeps (relaxed atomics) and --stats prints. rx is
 * host -> guest, tx guest -> host, as the guest sees its NIC. */
struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped; /* dropped: too big, or refused */
	uint64_t tx_packets, tx_bytes, tx_errors;  /* errors: bad chain, or the backend refused */
	uint64_t kicks;				   /* worker wake-ups by a queue doorbell */
	uint64_t rx_waits, tx_waits; /* times a side waited: no guest buffers, backend full */
};

/* How the worker thread starts, before it can touch a guest buffer: it
 * calls start(ctx, e) on itself first (vm.c passes seccomp_thread_start:
 * its name, no capabilities, its allowlist, which a thread can only load on
 * itself). fds, if set, first gets the descriptors the worker uses: its
 * epoll set, the backend (for frames and otherwise) and its eventfds. */
struct virtio_net_thread {
	int (*start)(void *ctx, struct errbuf *e);
	void *ctx;
	struct seccomp_fds *fds;
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

	/* The worker: a thread from virtio_net_init to virtio_net_destroy (so
	 * that the thread that starts it is never a vCPU's), working from
	 * DRIVER_OK until reset and idle in between. */
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t worker_lock;
	pthread_cond_t worker_cond;
	int worker_state; /* under worker_lock: WORKER_* in virtio_net.c */
	bool running;	  /* activated: DRIVER_OK and not reset since */
	int stop_fd;	  /* eventfd: stop working now */
	int epoll_fd;	  /* the worker's: stop_fd, both kick fds and the backend */
	/* How the worker starts (virtio_net_init), and how that went. */
	struct virtio_net_thread start;
	struct errbuf *start_error;
	int start_result;
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
		    int vm_fd, const struct virtio_net_thread *thread, struct errbuf *e);

/* The eventfds vCPU threads and the worker write and read (its stop fd,
 * the queues' kicks, the MSI-X vectors), for their seccomp allowlists: into
 * fds[], at most max; returns how many. */
int virtio_net_eventfds(const struct virtio_net *n, int *fds, int max);

/* Stops the worker if running and frees everything; the backend fd is the
 * caller's. Safe on a zeroed struct. */
void virtio_net_destroy(struct virtio_net *n);

/* The NIC's part of --stats into s, its group ended: in text a line of the
 * offloads in force and one of the counters; in JSON one object, the
 * counters and "offloads". virtio_net_print_stats: the text, to out. */
void virtio_net_report(const struct virtio_net *n, struct stats_sink *s);
void virtio_net_print_stats(const struct virtio_net *n, FILE *out);

/* Begins the NIC's group in s and adds its counters (vmm/base/stats_sink.h); the
 * caller ends the group, after adding what it renders itself. */
void virtio_net_emit_counters(const struct virtio_net *n, struct stats_sink *s);

/* The offloads in force one way (tx: guest -> host), as short names
 * ("csum", "tso4", "tso6", "ecn") into names[]; returns how many. */
#define VIRTIO_NET_OFFLOAD_NAMES 4
int virtio_net_offloads(const struct virtio_net *n, bool tx,
			const char *names[VIRTIO_NET_OFFLOAD_NAMES]);

#endif
