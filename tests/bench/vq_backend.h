/*
 * The host side of minivmm-vq-bench: the file descriptor virtio-net's
 * worker reads and writes, and a way to put frames into its read queue.
 *
 * Preferably a real TAP (net/tap.c, as minivmm opens it for --tap), in a
 * network namespace of the process's own (unshare(CLONE_NEWNET)), so the
 * TAP, and anything it could send, vanishes with the process however it
 * ends. Frames written to the TAP go up that namespace's stack and are
 * dropped there (no address, no route). Frames for the reader are sent on
 * the TAP through an AF_PACKET socket: the tun driver queues them for its fd
 * (up to its txqueuelen), with a virtio_net_hdr in front.
 *
 * Where no TAP can be made (no CAP_NET_ADMIN, no /dev/net/tun), a datagram
 * socketpair stands in, as in the unit tests; the output says so.
 */
#ifndef MINIVMM_TESTS_BENCH_VQ_BACKEND_H
#define MINIVMM_TESTS_BENCH_VQ_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tap.h"

enum vqb_kind {
	VQB_AUTO, /* a TAP if possible, else the socketpair */
	VQB_TAP,
	VQB_SOCKETPAIR,
};

struct vq_backend {
	enum vqb_kind kind;
	char why[sizeof(struct errbuf)]; /* socketpair: why not a TAP */
	struct tap tap;
	int fd;	     /* the device's end: the TAP's fd, or one socket */
	int feed_fd; /* where frames for the reader are sent: AF_PACKET, or the other socket */
	/* Socketpair only: a thread discarding what the device end writes,
	 * the part of the host stack a TAP does inline. */
	pthread_t drainer;
	bool drainer_started;
	int stop_fd;
};

/* kind VQB_AUTO falls back to the socketpair (why says why); VQB_TAP fails
 * instead. Call before any thread exists: it may unshare namespaces. */
int vqb_open(struct vq_backend *b, enum vqb_kind kind, struct errbuf *e);
void vqb_close(struct vq_backend *b);

/* "tap" or "socketpair". */
const char *vqb_kind_name(const struct vq_backend *b);

/* Queues up to k copies of pkt (len bytes, a virtio_net_hdr then the
 * frame) for the reader of b->fd: a TAP gets the frame and adds the header
 * itself; the socketpair gets both. Returns how many were queued (the
 * socketpair stops when its send buffer is full), or -1. */
int vqb_feed(struct vq_backend *b, const uint8_t *pkt, size_t len, unsigned k, struct errbuf *e);

#endif
