#include "virtio/virtio_net.h"

#include <ctype.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "virtio/net_hdr.h"

/* The largest frame the backend hands over: with a guest TSO offload
 * negotiated, a 64 KiB IP packet plus its Ethernet header (what
 * virtio 1.2 §5.1.6.3.1 tells drivers to post: 65562 bytes with the header);
 * without, an Ethernet frame with a VLAN tag (1518 bytes). */
#define FRAME_MAX_GSO	(65535 + 14 + 1)
#define FRAME_MAX_PLAIN 1518
#define RX_IOV_MAX	1024 /* UIO_MAXIOV: the most one readv() takes */
/* The guest's buffers take all but the last entry of a readv(): that one is
 * the device's own spill byte, so a frame too big for them shows. */
#define RX_GUEST_IOV_MAX (RX_IOV_MAX - 1)
#define INTERRUPT_BATCH	 64 /* used buffers between interrupt checks in a burst */
/* Frames one direction moves before the worker looks at its other events:
 * a guest and a host that keep both rings busy must not make it deaf to a
 * reset (the stop eventfd) or starve the other direction. A burst also ends
 * once its chains made the worker visit BURST_DESCS descriptors: a chain
 * costs up to the queue size (virtqueue.h), and a guest whose chains all
 * cost that must not get BURST times as much. Linux's largest chains (a
 * 64 KiB TSO frame, 20 descriptors; a receive posting, 19; a 64 KiB frame
 * into mergeable 1536-byte buffers, 43) stay well inside, so a burst of
 * theirs is cut short by BURST alone. */
#define BURST	    256
#define BURST_DESCS (64 * BURST)
_Static_assert(BURST % INTERRUPT_BATCH == 0, "a burst ends on an interrupt check");
#define NUM_BUFFERS_OFF offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers)
#define FEATURE(b)	(1ULL << (b))
#define OFFERED_FEATURES                                                                           \
	(FEATURE(VIRTIO_NET_F_CSUM) | FEATURE(VIRTIO_NET_F_GUEST_CSUM) |                           \
	 FEATURE(VIRTIO_NET_F_MAC) | FEATURE(VIRTIO_NET_F_GUEST_TSO4) |                            \
	 FEATURE(VIRTIO_NET_F_GUEST_TSO6) | FEATURE(VIRTIO_NET_F_GUEST_ECN) |                      \
	 FEATURE(VIRTIO_NET_F_HOST_TSO4) | FEATURE(VIRTIO_NET_F_HOST_TSO6) |                       \
	 FEATURE(VIRTIO_NET_F_HOST_ECN) | FEATURE(VIRTIO_NET_F_MRG_RXBUF) |                        \
	 FEATURE(VIRTIO_NET_F_STATUS) | FEATURE(VIRTIO_RING_F_INDIRECT_DESC) |                     \
	 FEATURE(VIRTIO_RING_F_EVENT_IDX))
/* The offloads each way, in the order --stats names them (§5.1.3: CSUM is
 * the driver's partial checksums, HOST_* its GSO frames; GUEST_* the same
 * for frames it receives). */
static const struct {
	unsigned tx_bit, rx_bit;
	const char *name;
} offload_features[VIRTIO_NET_OFFLOAD_NAMES] = {
    {VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, "csum"},
    {VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_GUEST_TSO4, "tso4"},
    {VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_GUEST_TSO6, "tso6"},
    {VIRTIO_NET_F_HOST_ECN, VIRTIO_NET_F_GUEST_ECN, "ecn"},
};

enum { EV_STOP, EV_RX_KICK, EV_TX_KICK, EV_BACKEND };

#define STAT_ADD(n, field, v) __atomic_add_fetch(&(n)->stats.field, (v), __ATOMIC_RELAXED)

/* ---- MAC addresses -------------------------------------------------------- */

int virtio_net_parse_mac(const char *s, uint8_t mac[6], struct errbuf *e)
{
	const char *p = s;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    p[2] != (i == 5 ? '\0' : ':'))
			return errorf(e, "--mac %s: not a MAC address (use e.g. 52:54:00:12:34:56)",
				      s);
		char byte[3] = {p[0], p[1], 0};
		mac[i] = (uint8_t)strtoul(byte, NULL, 16);
		p += 3;
	}
	if (mac[0] & 1)
		return errorf(e, "--mac %s: a multicast address (lowest bit of the first byte set)",
			      s);
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return errorf(e, "--mac %s: the all-zero address", s);
	return 0;
}

void virtio_net_default_mac(const char *seed, uint8_t mac[6])
{
	/* 52:54:00 is the locally administered prefix QEMU and libvirt use;
	 * the rest is an FNV-1a hash of the seed, so two TAPs get different
	 * addresses and one TAP always the same. */
	uint32_t h = 2166136261u;
	for (const char *c = seed; *c; c++)
		h = (h ^ (uint8_t)*c) * 16777619u;
	const uint8_t m[6] = {0x52, 0x54, 0x00, (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
	memcpy(mac, m, 6);
}

/* ---- receive: backend -> guest ------------------------------------------- */

static struct virtq *queue(struct virtio_net *n, uint16_t q)
{
	return &n->vp.queues[q].vq;
}

static void mark_broken(struct virtio_net *n)
{
	/* §2.1.2: the driver put something impossible in a ring; the device
	 * stops using the queues and asks to be reset. minivmm goes on. */
	n->broken = true;
	virtio_pci_needs_reset(&n->vp);
}

static void interrupt_if_wanted(struct virtio_net *n, uint16_t q)
{
	if (virtq_should_notify(queue(n, q)))
		virtio_pci_notify_queue(&n->vp, q);
}

static size_t rx_frame_max(const struct virtio_net *n)
{
	bool gso = virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_GUEST_TSO4) ||
		   virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_GUEST_TSO6);
	return VIRTIO_NET_HDR_LEN + (gso ? FRAME_MAX_GSO : FRAME_MAX_PLAIN);
}

/* The receive buffers the next frame goes into, taken from the ring. With
 * mergeable buffers a frame may need many (room for a 64 KiB GSO frame is
 * 43 of Linux's 1536-byte buffers) and mostly uses one; the rest carry over
 * to the next frame rather than go back to the ring and be walked again. */
struct rx_batch {
	size_t niov;
	uint16_t nchains;
	uint32_t cap;	     /* writable bytes in all of them */
	uint32_t ndesc;	     /* buffers in all of them */
	bool ring_exhausted; /* the driver has nothing more on offer right now */
};

/* Adds chains to b until it holds a largest-possible frame: one chain
 * without VIRTIO_NET_F_MRG_RXBUF (§5.1.6.3.2), as many as needed with it
 * (§5.1.6.4), adding the descriptors it walked to *visited. Returns -1 if
 * the driver broke the ring. */
static int rx_gather(struct virtio_net *n, struct rx_batch *b, uint32_t *visited)
{
	struct virtq *q = queue(n, VIRTIO_NET_RXQ);
	bool mrg = virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_MRG_RXBUF);
	size_t need = rx_frame_max(n);
	b->ring_exhausted = false;
	while (b->nchains == 0 || (mrg && b->cap < need && b->nchains < VIRTIO_NET_QUEUE_MAX)) {
		struct virtq_chain *c = n->chain;
		int r = virtq_pop(q, c);
		*visited += c->ndesc;
		if (r < 0)
			return -1;
		if (r == 0) {
			b->ring_exhausted = true;
			break;
		}
		/* §5.1.6.3: receive buffers are device-writable only; one with
		 * no room at all cannot take even the header. */
		if (c->n_out || c->in_len < VIRTIO_NET_HDR_LEN) {
			snprintf(q->error, sizeof(q->error), "receive chain %u %s", c->head,
				 c->n_out ? "has device-readable buffers"
					  : "cannot hold even the 12-byte header");
			return -1;
		}
		if (b->niov + c->n_in > RX_GUEST_IOV_MAX) {
			virtq_unpop(q, 1);
			break;
		}
		memcpy(n->rx_iov + b->niov, c->iov, c->n_in * sizeof(struct iovec));
		b->niov += c->n_in;
		n->rx_heads[b->nchains] = c->head;
		n->rx_caps[b->nchains] = c->in_len;
		n->rx_niovs[b->nchains] = c->n_in;
		b->nchains++;
		b->ndesc += c->n_in;
		b->cap = b->cap + c->in_len < b->cap ? UINT32_MAX : b->cap + c->in_len;
	}
	return 0;
}

/* Chains popped but not used go back to the ring: they are the most recent
 * pops, so virtq_unpop() returns exactly them. */
static void rx_give_back(struct virtio_net *n, struct rx_batch *b)
{
	virtq_unpop(queue(n, VIRTIO_NET_RXQ), b->nchains);
	*b = (struct rx_batch){0};
}

/* Returns a frame of len bytes (header included) spread over the batch's
 * first chains, and keeps the rest, moved to the front, for the next. */
static void rx_complete(struct virtio_net *n, struct rx_batch *b, size_t len)
{
	struct virtq *q = queue(n, VIRTIO_NET_RXQ);
	uint16_t used = 0;
	for (size_t left = len; left && used < b->nchains; used++)
		left -= left < n->rx_caps[used] ? left : n->rx_caps[used];
	/* The TAP leaves num_buffers alone (its header is the 10-byte one plus
	 * padding); §5.1.6.4 has the device fill it in, before the used ring
	 * makes the buffers the driver's. */
	uint16_t num_buffers = used;
	net_iov_write(n->rx_iov, b->niov, NUM_BUFFERS_OFF, &num_buffers, sizeof(num_buffers));
	size_t left = len, iovs = 0;
	uint32_t cap = 0;
	for (uint16_t i = 0; i < used; i++) {
		uint32_t part = left < n->rx_caps[i] ? (uint32_t)left : n->rx_caps[i];
		virtq_push(q, n->rx_heads[i], part);
		left -= part;
		iovs += n->rx_niovs[i];
		cap += n->rx_caps[i];
	}
	uint16_t rest = (uint16_t)(b->nchains - used);
	memmove(n->rx_iov, n->rx_iov + iovs, (b->niov - iovs) * sizeof(*n->rx_iov));
	memmove(n->rx_heads, n->rx_heads + used, rest * sizeof(*n->rx_heads));
	memmove(n->rx_caps, n->rx_caps + used, rest * sizeof(*n->rx_caps));
	memmove(n->rx_niovs, n->rx_niovs + used, rest * sizeof(*n->rx_niovs));
	b->niov -= iovs;
	b->nchains = rest;
	b->cap -= cap;
	b->ndesc -= (uint32_t)iovs; /* one buffer per iovec */
}

/* Returns true if it stopped at the end of a burst with more to do. */
static bool process_rx(struct virtio_net *n)
{
	struct virtq *q = queue(n, VIRTIO_NET_RXQ);
	unsigned taken = 0, delivered = 0; /* frames read from the backend, given to the guest */
	uint32_t visited = 0;
	bool kicks_on = true; /* as far as we know: turned off before reading */
	bool more = false;
	uint8_t spill;
	struct rx_batch b = {0};
	while (!n->rx_needs_buffers && !n->broken && !n->backend_gone) {
		if (taken == BURST || visited >= BURST_DESCS) {
			more = true;
			break;
		}
		if (rx_gather(n, &b, &visited)) {
			/* NEEDS_RESET: the ring is the driver's to rebuild. */
			mark_broken(n);
			b = (struct rx_batch){0};
			break;
		}
		/* With mergeable buffers, wait for enough room for the largest
		 * frame unless the driver already gave us its whole ring: a
		 * frame too big for what we pass is dropped by the kernel. */
		bool short_of_room = b.cap < rx_frame_max(n) && b.ring_exhausted &&
				     b.ndesc < q->size &&
				     virtio_pci_has_feature(&n->vp, VIRTIO_NET_F_MRG_RXBUF);
		if (b.nchains == 0 || short_of_room) {
			uint16_t have = b.nchains;
			rx_give_back(n, &b);
			kicks_on = true;
			if (virtq_wait_for_more(q, have))
				continue; /* added while we looked (§2.7.10) */
			n->rx_needs_buffers = true;
			STAT_ADD(n, rx_waits, 1);
			break;
		}
		if (kicks_on) {
			virtq_set_notify(q, false);
			kicks_on = false;
		}
		n->rx_iov[b.niov] = (struct iovec){&spill, sizeof(spill)};
		ssize_t got = readv(n->backend.fd, n->rx_iov, (int)b.niov + 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			break; /* nothing to read: epoll says when there is */
		taken++;
		if (got < (ssize_t)VIRTIO_NET_HDR_LEN || (size_t)got > b.cap) {
			/* The frame did not fit the buffers: tun returns its
			 * whole length anyway (tun_put_user() ignores the
			 * short copy), a datagram socket what filled the spill
			 * byte too; older kernels said EFAULT. Or the TAP is
			 * gone (EBADFD). Either way the guest gets nothing,
			 * least of all a frame cut short as if whole, and
			 * keeps the buffers for the next frame. */
			STAT_ADD(n, rx_dropped, 1);
			if (got < 0 ? errno != EFAULT && errno != EINVAL : got == 0)
				break;
			continue;
		}
		rx_complete(n, &b, (size_t)got);
		STAT_ADD(n, rx_packets, 1);
		STAT_ADD(n, rx_bytes, (uint64_t)got - VIRTIO_NET_HDR_LEN);
		if (++delivered % INTERRUPT_BATCH == 0)
			interrupt_if_wanted(n, VIRTIO_NET_RXQ);
	}
	/* Between calls the ring keeps only what the driver can see: a reset
	 * or a BAR move may come before the next. */
	rx_give_back(n, &b);
	/* A full burst's last INTERRUPT_BATCH was signalled already. */
	if (more ? delivered % INTERRUPT_BATCH : delivered)
		interrupt_if_wanted(n, VIRTIO_NET_RXQ);
	return more;
}

/* ---- transmit: guest -> backend ------------------------------------------ */

/* Writes the frame in c to the backend, its header as the device copied
 * and checked it. Returns what writev() returned, or -1 with errno EINVAL
 * for a frame without a whole header (§5.1.6.2: every packet starts with
 * one) or one whose header asks for an offload the driver did not
 * negotiate (net_hdr.c). */
static ssize_t tx_write(struct virtio_net *n, const struct virtq_chain *c)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	size_t niov = 0;
	if (c->out_len >= VIRTIO_NET_HDR_LEN)
		niov = net_hdr_tx_iov(c->iov, c->n_out, &hdr, n->tx_iov);
	if (!niov || net_hdr_tx_refusal(&hdr.hdr, n->vp.driver_features)) {
		errno = EINVAL;
		return -1;
	}
	ssize_t w;
	do
		w = writev(n->backend.fd, n->tx_iov, (int)niov);
	while (w < 0 && errno == EINTR);
	return w;
}

/* Returns true if it stopped at the end of a burst with more to do. */
static bool process_tx(struct virtio_net *n)
{
	struct virtq *q = queue(n, VIRTIO_NET_TXQ);
	struct virtq_chain *c = n->chain;
	unsigned returned = 0;
	uint32_t visited = 0;
	/* No kicks while we drain the ring; re-enabled when it is empty. */
	virtq_set_notify(q, false);
	while (!n->tx_needs_room && !n->broken) {
		if (returned == BURST || visited >= BURST_DESCS) {
			/* A full burst's last INTERRUPT_BATCH was signalled
			 * already; kicks stay off: we come back. */
			if (returned % INTERRUPT_BATCH)
				interrupt_if_wanted(n, VIRTIO_NET_TXQ);
			return true;
		}
		int r = virtq_pop(q, c);
		visited += c->ndesc;
		if (r == 0) {
			if (!virtq_wait_for_more(q, 0))
				break;
			virtq_set_notify(q, false);
			continue;
		}
		if (r < 0 && c->head == 0xffff) {
			mark_broken(n); /* the available ring itself is garbage */
			break;
		}
		/* A malformed chain, or a frame the device refuses or the
		 * backend fails, is dropped: returned unused. */
		ssize_t w = r > 0 ? tx_write(n, c) : -1;
		if (w < 0 && r > 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			virtq_unpop(q, 1);
			n->tx_needs_room = true;
			STAT_ADD(n, tx_waits, 1);
			break;
		}
		if (w < 0) {
			STAT_ADD(n, tx_errors, 1);
		} else {
			STAT_ADD(n, tx_packets, 1);
			STAT_ADD(n, tx_bytes, c->out_len - VIRTIO_NET_HDR_LEN);
		}
		virtq_push(q, c->head, 0);
		if (++returned % INTERRUPT_BATCH == 0)
			interrupt_if_wanted(n, VIRTIO_NET_TXQ);
	}
	if (returned)
		interrupt_if_wanted(n, VIRTIO_NET_TXQ);
	return false;
}

/* ---- the worker ----------------------------------------------------------- */

static void drain(int fd)
{
	eventfd_t v;
	eventfd_read(fd, &v); /* EAGAIN: already drained */
}

/* Level-triggered interest in the backend: readable while we have buffers
 * to fill, writable only while a frame waits for room. */
static void watch_backend(struct virtio_net *n, uint32_t *watching)
{
	uint32_t want = (n->rx_needs_buffers || n->broken ? 0 : EPOLLIN) |
			(n->tx_needs_room && !n->broken ? EPOLLOUT : 0);
	if (n->backend_gone || want == *watching)
		return;
	struct epoll_event ev = {.events = want, .data.u32 = EV_BACKEND};
	if (epoll_ctl(n->epoll_fd, EPOLL_CTL_MOD, n->backend.fd, &ev) == 0)
		*watching = want;
}

/* The TAP was deleted under us (tun then reports EPOLLERR for good, whatever
 * we ask for): stop watching it, or epoll_wait would return at once forever.
 * The guest's NIC stays; what it sends fails (EBADFD) and is counted in
 * tx_errors. Saying so is the main thread's job: it sees the deletion on
 * rtnetlink even while no driver runs (net/link_watch.c), and one line is
 * enough. */
static void lose_backend(struct virtio_net *n)
{
	if (n->backend_gone)
		return;
	n->backend_gone = true;
	n->tx_needs_room = false; /* no EPOLLOUT will come: fail what waits */
	epoll_ctl(n->epoll_fd, EPOLL_CTL_DEL, n->backend.fd, NULL);
}

/* The worker's life: started by virtio_net_init, idle until DRIVER_OK,
 * working until reset, idle again, and gone at virtio_net_destroy. */
enum { WORKER_IDLE, WORKER_CALL, WORKER_GO, WORKER_BUSY, WORKER_QUIT };
#define UNWATCHED UINT32_MAX /* the backend is not in the epoll set */

static int watch(int epoll_fd, int fd, uint32_t events, uint32_t id);

/* From DRIVER_OK until the stop eventfd says stop (or epoll fails). */
static void work(struct virtio_net *n, uint32_t *watching)
{
	/* Each activation starts out watching the backend for input, even if
	 * an earlier one lost it. */
	if (*watching == UNWATCHED) {
		if (watch(n->epoll_fd, n->backend.fd, EPOLLIN, EV_BACKEND) == 0)
			*watching = EPOLLIN;
		else
			n->backend_gone = true;
		n->tx_needs_room = false; /* no EPOLLOUT will come: fail what waits */
	} else if (*watching != EPOLLIN) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = EV_BACKEND};
		if (epoll_ctl(n->epoll_fd, EPOLL_CTL_MOD, n->backend.fd, &ev) == 0)
			*watching = EPOLLIN;
	}
	/* Buffers and kicks may predate DRIVER_OK's arrival here. */
	bool rx = true, tx = true, rx_more = false, tx_more = false;
	for (;;) {
		if (tx)
			tx_more = process_tx(n);
		if (rx)
			rx_more = process_rx(n);
		watch_backend(n, watching);

		/* With a burst cut short, only look at the events, then go on. */
		struct epoll_event ev[4];
		int k = epoll_wait(n->epoll_fd, ev, 4, rx_more || tx_more ? 0 : -1);
		if (k < 0 && errno != EINTR)
			return;
		rx = rx_more;
		tx = tx_more;
		for (int i = 0; i < k; i++) {
			switch (ev[i].data.u32) {
			case EV_STOP:
				return;
			case EV_RX_KICK:
				drain(virtio_pci_kick_fd(&n->vp, VIRTIO_NET_RXQ));
				STAT_ADD(n, kicks, 1);
				n->rx_needs_buffers = false;
				rx = true;
				break;
			case EV_TX_KICK:
				drain(virtio_pci_kick_fd(&n->vp, VIRTIO_NET_TXQ));
				STAT_ADD(n, kicks, 1);
				tx = true;
				break;
			case EV_BACKEND:
				if (ev[i].events & (EPOLLERR | EPOLLHUP)) {
					lose_backend(n);
					*watching = UNWATCHED;
					tx = true;
					break;
				}
				if (ev[i].events & EPOLLIN)
					rx = true;
				if (ev[i].events & EPOLLOUT) {
					n->tx_needs_room = false;
					tx = true;
				}
				break;
			}
		}
	}
}

static void set_worker_state(struct virtio_net *n, int state)
{
	n->worker_state = state;
	pthread_cond_broadcast(&n->worker_cond);
}

static void *worker_main(void *arg)
{
	struct virtio_net *n = arg;
	uint32_t watching = EPOLLIN; /* as start_worker registered it */
	pthread_mutex_lock(&n->worker_lock);
	for (;;) {
		while (n->worker_state == WORKER_IDLE)
			pthread_cond_wait(&n->worker_cond, &n->worker_lock);
		if (n->worker_state == WORKER_QUIT)
			break;
		if (n->worker_state == WORKER_CALL) {
			n->call_result = n->call_fn(n->call_ctx, n->call_error);
			set_worker_state(n, WORKER_IDLE);
			continue;
		}
		set_worker_state(n, WORKER_BUSY);
		pthread_mutex_unlock(&n->worker_lock);
		work(n, &watching);
		pthread_mutex_lock(&n->worker_lock);
		set_worker_state(n, WORKER_IDLE);
	}
	pthread_mutex_unlock(&n->worker_lock);
	return NULL;
}

int virtio_net_on_worker(struct virtio_net *n, int (*fn)(void *ctx, struct errbuf *e), void *ctx,
			 struct errbuf *e)
{
	pthread_mutex_lock(&n->worker_lock);
	n->call_fn = fn;
	n->call_ctx = ctx;
	n->call_error = e;
	set_worker_state(n, WORKER_CALL);
	while (n->worker_state == WORKER_CALL)
		pthread_cond_wait(&n->worker_cond, &n->worker_lock);
	int r = n->call_result;
	pthread_mutex_unlock(&n->worker_lock);
	return r;
}

static int watch(int epoll_fd, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = {.events = events, .data.u32 = id};
	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- virtio_device_ops ---------------------------------------------------- */

static unsigned tun_offloads(const struct virtio_net *n)
{
	/* §5.1.3.1: the GUEST_* features say what the driver accepts on
	 * receive; TUN_F_* say the same to the TAP (which requires CSUM for
	 * any segmentation offload). */
	const struct virtio_pci *vp = &n->vp;
	if (!virtio_pci_has_feature(vp, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	unsigned f = TUN_F_CSUM;
	if (virtio_pci_has_feature(vp, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (virtio_pci_has_feature(vp, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if ((f & (TUN_F_TSO4 | TUN_F_TSO6)) && virtio_pci_has_feature(vp, VIRTIO_NET_F_GUEST_ECN))
		f |= TUN_F_TSO_ECN;
	return f;
}

static void set_offload(struct virtio_net *n, unsigned flags)
{
	struct errbuf e;
	/* Not fatal: the kernel then checksums and segments frames before we
	 * read them, which the guest accepts as well. EBADFD is a TAP deleted
	 * under us (tun's answer on a detached file), which the main thread
	 * has reported already (net/link_watch.c). */
	if (n->backend.set_offload && n->backend.set_offload(n->backend.ctx, flags, &e) &&
	    errno != EBADFD)
		fprintf(stderr, "minivmm: virtio-net %s: %s\n", n->backend.name, e.msg);
}

static int net_activate(void *ctx)
{
	struct virtio_net *n = ctx;
	/* Both queues must be live: the driver enables them before
	 * DRIVER_OK (§3.1.1), and a queue that failed to map set NEEDS_RESET. */
	if (!n->vp.queues[VIRTIO_NET_RXQ].enabled || !n->vp.queues[VIRTIO_NET_TXQ].enabled)
		return -1;
	n->broken = n->rx_needs_buffers = n->tx_needs_room = n->backend_gone = false;
	set_offload(n, tun_offloads(n));
	uint64_t in_force = 0;
	for (size_t i = 0; i < VIRTIO_NET_OFFLOAD_NAMES; i++)
		in_force |= n->vp.driver_features & (FEATURE(offload_features[i].tx_bit) |
						     FEATURE(offload_features[i].rx_bit));
	__atomic_store_n(&n->offloads_in_force, in_force, __ATOMIC_RELAXED);
	pthread_mutex_lock(&n->worker_lock);
	set_worker_state(n, WORKER_GO);
	pthread_mutex_unlock(&n->worker_lock);
	n->running = true;
	return 0;
}

static void net_reset(void *ctx)
{
	struct virtio_net *n = ctx;
	if (!n->running)
		return;
	eventfd_write(n->stop_fd, 1); /* cannot fail: the counter was zero */
	pthread_mutex_lock(&n->worker_lock);
	while (n->worker_state == WORKER_GO || n->worker_state == WORKER_BUSY)
		pthread_cond_wait(&n->worker_cond, &n->worker_lock);
	pthread_mutex_unlock(&n->worker_lock);
	drain(n->stop_fd);
	n->running = false;
	set_offload(n, 0);
	__atomic_store_n(&n->offloads_in_force, 0, __ATOMIC_RELAXED);
}

static void net_config_read(void *ctx, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = ctx;
	memcpy(data, (uint8_t *)&n->config + off, len);
}

static void net_config_write(void *ctx, uint32_t off, const uint8_t *data, uint32_t len)
{
	/* §5.1.4: the driver sets the MAC through the control queue (which
	 * minivmm does not offer); writes to the config are ignored. */
	(void)ctx, (void)off, (void)data, (void)len;
}

static const struct virtio_device_ops net_ops = {
    .device_id = VIRTIO_ID_NET,
    .pci_class = 0x020000, /* network controller, Ethernet */
    .features = OFFERED_FEATURES,
    .num_queues = 2,
    .queue_max = VIRTIO_NET_QUEUE_MAX,
    /* mac, status, max_virtqueue_pairs: the fields before mtu */
    .config_len = offsetof(struct virtio_net_config, mtu),
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .reset = net_reset,
};

/* The epoll set and the worker thread, which starts with every signal
 * blocked: they are the main thread's to take. */
static int start_worker(struct virtio_net *n, struct errbuf *e)
{
	n->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epoll_fd < 0 || watch(n->epoll_fd, n->stop_fd, EPOLLIN, EV_STOP) ||
	    watch(n->epoll_fd, virtio_pci_kick_fd(&n->vp, VIRTIO_NET_RXQ), EPOLLIN, EV_RX_KICK) ||
	    watch(n->epoll_fd, virtio_pci_kick_fd(&n->vp, VIRTIO_NET_TXQ), EPOLLIN, EV_TX_KICK) ||
	    watch(n->epoll_fd, n->backend.fd, EPOLLIN, EV_BACKEND))
		return errorf_errno(e, "virtio-net %s: epoll", n->backend.name);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	n->worker_state = WORKER_IDLE;
	int r = pthread_create(&n->worker, NULL, worker_main, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return errorf(e, "virtio-net %s: cannot start its worker: %s", n->backend.name,
			      strerror(r));
	n->worker_started = true;
	return 0;
}

int virtio_net_init(struct virtio_net *n, const struct virtio_net_backend *backend,
		    const uint8_t mac[6], const struct guest_mem *mem, struct irq_routing *routing,
		    int vm_fd, struct errbuf *e)
{
	memset(n, 0, sizeof(*n));
	n->initialised = true;
	n->stop_fd = n->epoll_fd = -1;
	n->backend = *backend;
	pthread_mutex_init(&n->worker_lock, NULL);
	pthread_cond_init(&n->worker_cond, NULL);
	memcpy(n->config.mac, mac, 6);
	n->config.status = VIRTIO_NET_S_LINK_UP; /* the TAP is up before the guest starts */
	n->config.max_virtqueue_pairs = 1;
	n->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	n->rx_iov = calloc(RX_IOV_MAX, sizeof(*n->rx_iov));
	n->rx_heads = calloc(VIRTIO_NET_QUEUE_MAX, sizeof(*n->rx_heads));
	n->rx_caps = calloc(VIRTIO_NET_QUEUE_MAX, sizeof(*n->rx_caps));
	n->rx_niovs = calloc(VIRTIO_NET_QUEUE_MAX, sizeof(*n->rx_niovs));
	n->tx_iov = calloc(VIRTQ_MAX_SEGS + 1, sizeof(*n->tx_iov));
	n->chain = malloc(sizeof(*n->chain));
	if (n->stop_fd < 0)
		return errorf_errno(e, "virtio-net %s: eventfd", backend->name);
	if (!n->rx_iov || !n->rx_heads || !n->rx_caps || !n->rx_niovs || !n->tx_iov || !n->chain)
		return errorf(e, "virtio-net %s: out of memory", backend->name);
	if (virtio_pci_init(&n->vp, "virtio-net", &net_ops, n, mem, routing, vm_fd, e))
		return -1;
	if (backend->name) { /* --stats: "virtio-net mvgtap0 common", ... */
		char who[sizeof(n->vp.region_names[0]) / 2];
		snprintf(who, sizeof(who), "virtio-net %s", backend->name);
		virtio_pci_label(&n->vp, who);
	}
	/* What the backend cannot carry is never offered (§2.2): the driver
	 * then checksums and segments (or accepts only finished frames). */
	for (size_t i = 0; i < VIRTIO_NET_OFFLOAD_NAMES; i++) {
		if (backend->no_tx_offload)
			n->vp.device_features &= ~FEATURE(offload_features[i].tx_bit);
		if (backend->no_rx_offload)
			n->vp.device_features &= ~FEATURE(offload_features[i].rx_bit);
	}
	return start_worker(n, e);
}

int virtio_net_eventfds(const struct virtio_net *n, int *fds, int max)
{
	if (!n->initialised || max < 1)
		return 0;
	fds[0] = n->stop_fd;
	return 1 + virtio_pci_eventfds(&n->vp, fds + 1, max - 1);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n->initialised)
		return;
	net_reset(n);
	if (n->worker_started) {
		pthread_mutex_lock(&n->worker_lock);
		set_worker_state(n, WORKER_QUIT);
		pthread_mutex_unlock(&n->worker_lock);
		pthread_join(n->worker, NULL);
	}
	virtio_pci_destroy(&n->vp);
	if (n->epoll_fd >= 0)
		close(n->epoll_fd);
	if (n->stop_fd >= 0)
		close(n->stop_fd);
	pthread_mutex_destroy(&n->worker_lock);
	pthread_cond_destroy(&n->worker_cond);
	free(n->rx_iov);
	free(n->rx_heads);
	free(n->rx_caps);
	free(n->rx_niovs);
	free(n->tx_iov);
	free(n->chain);
	memset(n, 0, sizeof(*n));
}

int virtio_net_offloads(const struct virtio_net *n, bool tx,
			const char *names[VIRTIO_NET_OFFLOAD_NAMES])
{
	uint64_t f = __atomic_load_n(&n->offloads_in_force, __ATOMIC_RELAXED);
	int k = 0;
	for (size_t i = 0; i < VIRTIO_NET_OFFLOAD_NAMES; i++)
		if (f & FEATURE(tx ? offload_features[i].tx_bit : offload_features[i].rx_bit))
			names[k++] = offload_features[i].name;
	return k;
}

/* "csum tso4 tso6 ecn", or "none" with why the backend withheld them. */
static void print_offloads(const struct virtio_net *n, bool tx, FILE *out)
{
	const char *names[VIRTIO_NET_OFFLOAD_NAMES];
	int k = virtio_net_offloads(n, tx, names);
	for (int i = 0; i < k; i++)
		fprintf(out, "%s%s", i ? " " : "", names[i]);
	if (!k)
		fputs("none", out);
	if ((tx ? n->backend.no_tx_offload : n->backend.no_rx_offload) && n->backend.no_offload_why)
		fprintf(out, " (withheld: %s)", n->backend.no_offload_why);
}

void virtio_net_print_stats(const struct virtio_net *n, FILE *out)
{
	fprintf(out, "  virtio-net %s: offloads guest->host ", n->backend.name);
	print_offloads(n, true, out);
	fputs("; host->guest ", out);
	print_offloads(n, false, out);
	fputc('\n', out);
#define S(f) (unsigned long long)__atomic_load_n(&n->stats.f, __ATOMIC_RELAXED)
	fprintf(out,
		"  virtio-net %s: rx_packets=%llu rx_bytes=%llu tx_packets=%llu tx_bytes=%llu "
		"rx_dropped=%llu tx_errors=%llu interrupts=%llu intx=%llu kicks=%llu "
		"rx_waits=%llu tx_waits=%llu\n",
		n->backend.name, S(rx_packets), S(rx_bytes), S(tx_packets), S(tx_bytes),
		S(rx_dropped), S(tx_errors),
		(unsigned long long)__atomic_load_n(&n->vp.interrupts, __ATOMIC_RELAXED),
		(unsigned long long)__atomic_load_n(&n->vp.intx_interrupts, __ATOMIC_RELAXED),
		S(kicks), S(rx_waits), S(tx_waits));
#undef S
}
