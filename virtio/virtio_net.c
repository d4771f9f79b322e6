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

#include "virtio/net_engine.h"

/* Runs of each queue (net_engine.h, NET_RUN_FRAMES frames at most) before
 * the worker looks at its other events: a guest and a host that keep both
 * rings busy must not make it deaf to a reset (the stop eventfd) or starve
 * the other direction. */
#define BURST_RUNS 4
#define FEATURE(b) (1ULL << (b))
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

/* ---- the worker ----------------------------------------------------------- */

/* Does what a run of queue q needs (net_engine.h). */
static void act(struct virtio_net *n, uint16_t q, const struct net_verdict *v)
{
	/* §2.1.2: the driver put something impossible in a ring; the device
	 * stops using the queues and asks to be reset. minivmm goes on. */
	if (v->broken)
		virtio_pci_needs_reset(&n->vp, q, &v->fault);
	if (v->interrupt)
		virtio_pci_notify_queue(&n->vp, q);
}

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
enum { WORKER_STARTING, WORKER_IDLE, WORKER_GO, WORKER_BUSY, WORKER_QUIT };
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
	bool rx = true, tx = true;
	for (;;) {
		for (unsigned i = 0; i < BURST_RUNS && (rx || tx); i++) {
			if (tx) {
				struct net_verdict v = net_tx_run(n);
				act(n, VIRTIO_NET_TXQ, &v);
				tx = v.more;
			}
			if (rx) {
				struct net_verdict v = net_rx_run(n);
				act(n, VIRTIO_NET_RXQ, &v);
				rx = v.more;
			}
		}
		bool rx_more = rx, tx_more = tx;
		net_rx_settle(n);
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
				NET_STAT_ADD(n, kicks, 1);
				n->rx_needs_buffers = false;
				rx = true;
				break;
			case EV_TX_KICK:
				drain(virtio_pci_kick_fd(&n->vp, VIRTIO_NET_TXQ));
				NET_STAT_ADD(n, kicks, 1);
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

static void *worker_main(void *arg)
{
	struct virtio_net *n = arg;
	uint32_t watching = EPOLLIN; /* as start_worker registered it */
	/* First of all, what it may do (its name, rights and allowlist). */
	int r = n->start.start ? n->start.start(n->start.ctx, n->start_error) : 0;
	pthread_mutex_lock(&n->worker_lock);
	n->start_result = r;
	set_worker_state(n, r ? WORKER_QUIT : WORKER_IDLE);
	for (;;) {
		while (n->worker_state == WORKER_IDLE)
			pthread_cond_wait(&n->worker_cond, &n->worker_lock);
		if (n->worker_state == WORKER_QUIT)
			break;
		/* The TAP learns what the guest accepts before DRIVER_OK's
		 * write returns (net_activate waits for BUSY) and before the
		 * first frame is read for it, and forgets it before a reset
		 * returns: here, on the thread that owns the TAP, not on the
		 * vCPU that wrote the status (docs/security.md). */
		pthread_mutex_unlock(&n->worker_lock);
		set_offload(n, tun_offloads(n));
		pthread_mutex_lock(&n->worker_lock);
		set_worker_state(n, WORKER_BUSY);
		pthread_mutex_unlock(&n->worker_lock);
		work(n, &watching);
		set_offload(n, 0);
		pthread_mutex_lock(&n->worker_lock);
		set_worker_state(n, WORKER_IDLE);
	}
	pthread_mutex_unlock(&n->worker_lock);
	return NULL;
}

static int watch(int epoll_fd, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = {.events = events, .data.u32 = id};
	return epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* ---- virtio_device_ops ---------------------------------------------------- */

static int net_activate(void *ctx)
{
	struct virtio_net *n = ctx;
	/* Both queues must be live: the driver enables them before
	 * DRIVER_OK (§3.1.1), and a queue that failed to map set NEEDS_RESET. */
	if (!n->vp.queues[VIRTIO_NET_RXQ].enabled || !n->vp.queues[VIRTIO_NET_TXQ].enabled)
		return -1;
	n->broken = n->rx_needs_buffers = n->tx_needs_room = n->backend_gone = false;
	uint64_t in_force = 0;
	for (size_t i = 0; i < VIRTIO_NET_OFFLOAD_NAMES; i++)
		in_force |= n->vp.driver_features & (FEATURE(offload_features[i].tx_bit) |
						     FEATURE(offload_features[i].rx_bit));
	__atomic_store_n(&n->offloads_in_force, in_force, __ATOMIC_RELAXED);
	pthread_mutex_lock(&n->worker_lock);
	set_worker_state(n, WORKER_GO);
	while (n->worker_state == WORKER_GO)
		pthread_cond_wait(&n->worker_cond, &n->worker_lock);
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
 * blocked (they are the main thread's to take), as thread says. */
static int start_worker(struct virtio_net *n, const struct virtio_net_thread *thread,
			struct errbuf *e)
{
	n->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epoll_fd < 0 || watch(n->epoll_fd, n->stop_fd, EPOLLIN, EV_STOP) ||
	    watch(n->epoll_fd, virtio_pci_kick_fd(&n->vp, VIRTIO_NET_RXQ), EPOLLIN, EV_RX_KICK) ||
	    watch(n->epoll_fd, virtio_pci_kick_fd(&n->vp, VIRTIO_NET_TXQ), EPOLLIN, EV_TX_KICK) ||
	    watch(n->epoll_fd, n->backend.fd, EPOLLIN, EV_BACKEND))
		return errorf_errno(e, "virtio-net %s: epoll", n->backend.name);
	if (thread) {
		n->start = *thread;
		/* Frames on the backend; its stop fd, kicks and vectors. */
		struct seccomp_fds *f = thread->fds;
		if (f) {
			f->epoll_fd = n->epoll_fd;
			f->frames_fd = n->backend.fd;
			if (n->backend.set_offload)
				f->tap_fd = n->backend.fd; /* TUNSETOFFLOAD: work() */
			if (f->n_io < SECCOMP_MAX_FDS)
				f->io[f->n_io++] = n->backend.fd;
			f->n_io +=
			    virtio_net_eventfds(n, f->io + f->n_io, SECCOMP_MAX_FDS - f->n_io);
		}
	}
	n->start_error = e;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	n->worker_state = WORKER_STARTING;
	int r = pthread_create(&n->worker, NULL, worker_main, n);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return errorf(e, "virtio-net %s: cannot start its worker: %s", n->backend.name,
			      strerror(r));
	n->worker_started = true;
	pthread_mutex_lock(&n->worker_lock);
	while (n->worker_state == WORKER_STARTING)
		pthread_cond_wait(&n->worker_cond, &n->worker_lock);
	r = n->start_result;
	pthread_mutex_unlock(&n->worker_lock);
	if (r) {
		char why[sizeof(e->msg)];
		snprintf(why, sizeof(why), "%s", e->msg);
		return errorf(e, "virtio-net worker: %s", why);
	}
	return 0;
}

int virtio_net_init(struct virtio_net *n, const struct virtio_net_backend *backend,
		    const uint8_t mac[6], const struct guest_mem *mem, struct irq_routing *routing,
		    int vm_fd, const struct virtio_net_thread *thread, struct errbuf *e)
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
	int rx_failed = rx_chains_init(&n->rx);
	n->tx_iov = calloc(VIRTQ_MAX_SEGS + 1, sizeof(*n->tx_iov));
	n->chain = malloc(sizeof(*n->chain));
	if (n->stop_fd < 0)
		return errorf_errno(e, "virtio-net %s: eventfd", backend->name);
	if (rx_failed || !n->tx_iov || !n->chain)
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
	return start_worker(n, thread, e);
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
	rx_chains_destroy(&n->rx);
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

/* "offloads": {"guest_to_host": ["csum", ...], "host_to_guest": [...],
 * "withheld": "why" or null}. */
static void json_offloads(const struct virtio_net *n, FILE *out)
{
	fputs("\"offloads\": {", out);
	for (int tx = 1; tx >= 0; tx--) {
		const char *names[VIRTIO_NET_OFFLOAD_NAMES];
		int k = virtio_net_offloads(n, tx, names);
		fputs(tx ? "\"guest_to_host\": [" : ", \"host_to_guest\": [", out);
		for (int i = 0; i < k; i++) {
			fputs(i ? ", " : "", out);
			stats_json_string(names[i], out);
		}
		fputc(']', out);
	}
	fputs(", \"withheld\": ", out);
	if (n->backend.no_offload_why && *n->backend.no_offload_why)
		stats_json_string(n->backend.no_offload_why, out);
	else
		fputs("null", out);
	fputc('}', out);
}

void virtio_net_report(const struct virtio_net *n, struct stats_sink *s)
{
	if (s->format == STATS_SINK_TEXT) {
		fprintf(s->out, "  virtio-net %s: offloads guest->host ", n->backend.name);
		print_offloads(n, true, s->out);
		fputs("; host->guest ", s->out);
		print_offloads(n, false, s->out);
		fputc('\n', s->out);
	}
	virtio_net_emit_counters(n, s);
	if (s->format == STATS_SINK_JSON) {
		fputs(", ", s->out);
		json_offloads(n, s->out);
	}
	stats_group_end(s);
}

void virtio_net_print_stats(const struct virtio_net *n, FILE *out)
{
	struct stats_sink s = {out, STATS_SINK_TEXT, false};
	virtio_net_report(n, &s);
}

void virtio_net_emit_counters(const struct virtio_net *n, struct stats_sink *s)
{
	/* Each counter once, in the order both outputs show them. */
	/* clang-format off */
#define C(f) {#f, __atomic_load_n(&n->stats.f, __ATOMIC_RELAXED)}
	const struct {
		const char *key;
		uint64_t v;
	} counters[] = {
	    C(rx_packets), C(rx_bytes), C(tx_packets), C(tx_bytes), C(rx_dropped), C(tx_errors),
	    {"interrupts", virtio_pci_interrupts(&n->vp)},
	    {"intx", __atomic_load_n(&n->vp.intx_interrupts, __ATOMIC_RELAXED)},
	    C(kicks), C(rx_waits), C(tx_waits),
	};
	/* clang-format on */
#undef C
	stats_group_begin(s, "virtio-net", n->backend.name ? n->backend.name : "");
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		stats_u64(s, counters[i].key, counters[i].v);
}
