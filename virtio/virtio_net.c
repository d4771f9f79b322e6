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

/* ---- the engine's hooks on the worker (virtio/virtio_worker.h) ------------- */

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

/* The TAP learns what the guest accepts before DRIVER_OK's write returns
 * and before the first frame is read for it, and forgets it before a reset
 * returns: on the worker, which owns the TAP (docs/security.md). */
static void on_activate(void *ctx)
{
	struct virtio_net *n = ctx;
	set_offload(n, tun_offloads(n));
}

static void on_deactivate(void *ctx)
{
	set_offload(ctx, 0);
}

/* The TAP was deleted under us. The guest's NIC stays; what it sends fails
 * (EBADFD) and is counted in tx_errors. Saying so is the main thread's
 * job: it sees the deletion on rtnetlink even while no driver runs
 * (net/link_watch.c), and one line is enough. */
static void on_backend_lost(void *ctx)
{
	struct virtio_net *n = ctx;
	n->backend_gone = true;
	n->tx_needs_room = false; /* no EPOLLOUT will come: fail what waits */
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
	virtio_worker_activate(&n->worker);
	return 0;
}

static void net_reset(void *ctx)
{
	struct virtio_net *n = ctx;
	virtio_worker_reset(&n->worker);
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

/* The device's engine (net_engine.h), as its worker runs it. */
static int start_worker(struct virtio_net *n, const struct virtio_worker_thread *thread,
			struct errbuf *e)
{
	const struct virtio_engine engine = {
	    .ctx = n,
	    .backend_fd = n->backend.fd,
	    .nqueues = 2,
	    .run = {[VIRTIO_NET_RXQ] = net_rx_run, [VIRTIO_NET_TXQ] = net_tx_run},
	    .activate = on_activate,
	    .deactivate = on_deactivate,
	    .settle = net_rx_settle,
	    .backend_lost = on_backend_lost};
	/* TUNSETOFFLOAD, by the worker (on_activate). */
	if (thread && thread->fds && n->backend.set_offload)
		thread->fds->tap_fd = n->backend.fd;
	char name[64];
	snprintf(name, sizeof(name), "virtio-net %s", n->backend.name ? n->backend.name : "");
	return virtio_worker_init(&n->worker, &n->vp, &engine, thread, name, e);
}

int virtio_net_init(struct virtio_net *n, const struct virtio_net_backend *backend,
		    const uint8_t mac[6], const struct guest_mem *mem, struct irq_routing *routing,
		    int vm_fd, const struct virtio_worker_thread *thread, struct errbuf *e)
{
	memset(n, 0, sizeof(*n));
	n->initialised = true;
	n->backend = *backend;
	memcpy(n->config.mac, mac, 6);
	n->config.status = VIRTIO_NET_S_LINK_UP; /* the TAP is up before the guest starts */
	n->config.max_virtqueue_pairs = 1;
	int rx_failed = rx_chains_init(&n->rx);
	n->tx_iov = calloc(VIRTQ_MAX_SEGS + 1, sizeof(*n->tx_iov));
	n->chain = malloc(sizeof(*n->chain));
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
	if (!n->initialised)
		return 0;
	int k = virtio_worker_eventfds(&n->worker, fds, max);
	return k + virtio_pci_eventfds(&n->vp, fds + k, max - k);
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n->initialised)
		return;
	/* The worker first: it stops (a reset) and is joined before the
	 * transport and the buffers it uses go away. */
	virtio_worker_destroy(&n->worker);
	__atomic_store_n(&n->offloads_in_force, 0, __ATOMIC_RELAXED);
	virtio_pci_destroy(&n->vp);
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

/* The text's offload line, one way: "csum tso4 tso6 ecn", or "none", and
 * why the backend withheld them if it did that way. */
static void text_offloads(const struct virtio_net *n, bool tx, struct stats_sink *s)
{
	const char *names[VIRTIO_NET_OFFLOAD_NAMES];
	int k = virtio_net_offloads(n, tx, names);
	for (int i = 0; i < k; i++)
		stats_text(s, "%s%s", i ? " " : "", names[i]);
	if (!k)
		stats_text(s, "none");
	if ((tx ? n->backend.no_tx_offload : n->backend.no_rx_offload) && n->backend.no_offload_why)
		stats_text(s, " (withheld: %s)", n->backend.no_offload_why);
}

/* "offloads": {"guest_to_host": ["csum", ...], "host_to_guest": [...],
 * "withheld": "why" or null}. */
static void json_offloads(const struct virtio_net *n, struct stats_sink *s)
{
	stats_object_begin(s, "offloads", STATS_INLINE);
	for (int tx = 1; tx >= 0; tx--) {
		const char *names[VIRTIO_NET_OFFLOAD_NAMES];
		int k = virtio_net_offloads(n, tx, names);
		stats_list_begin(s, tx ? "guest_to_host" : "host_to_guest", STATS_INLINE);
		for (int i = 0; i < k; i++)
			stats_str(s, NULL, NULL, names[i]);
		stats_end(s);
	}
	const char *why = n->backend.no_offload_why;
	stats_str(s, "withheld", NULL, why && *why ? why : NULL);
	stats_end(s);
}

void virtio_net_emit_stats(const struct virtio_net *n, struct stats_sink *s)
{
	const char *name = n->backend.name ? n->backend.name : "";
	/* The offloads are a line of their own in the text, which scripts
	 * grep apart from the counters, and says per direction whether they
	 * were withheld; the JSON has them as lists, after the counters. */
	stats_text(s, "  virtio-net %s: offloads guest->host ", name);
	text_offloads(n, true, s);
	stats_text(s, "; host->guest ");
	text_offloads(n, false, s);
	stats_text(s, "\n");

	/* Each counter once, in the order both outputs show them. */
	/* clang-format off */
#define C(f) {#f, " " #f "=%llu", __atomic_load_n(&n->stats.f, __ATOMIC_RELAXED)}
	const struct {
		const char *key, *text;
		uint64_t v;
	} counters[] = {
	    C(rx_packets), C(rx_bytes), C(tx_packets), C(tx_bytes), C(rx_dropped), C(tx_errors),
	    {"interrupts", " interrupts=%llu", virtio_pci_interrupts(&n->vp)},
	    {"intx", " intx=%llu", __atomic_load_n(&n->vp.intx_interrupts, __ATOMIC_RELAXED)},
	    C(kicks), C(rx_waits), C(tx_waits),
	};
	/* clang-format on */
#undef C
	stats_object_begin(s, NULL, STATS_INLINE);
	stats_str(s, "name", "  virtio-net %s:", name);
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		stats_u64(s, counters[i].key, counters[i].text, counters[i].v);
	stats_text(s, "\n");
	json_offloads(n, s);
	stats_end(s);
}

void virtio_net_report(const void *n, struct stats_sink *s)
{
	virtio_net_emit_stats(n, s);
}

void virtio_net_count(const void *ctx, uint64_t *doorbells, uint64_t *interrupts)
{
	const struct virtio_net *n = ctx;
	*doorbells += __atomic_load_n(&n->stats.kicks, __ATOMIC_RELAXED);
	*interrupts += virtio_pci_interrupts(&n->vp);
}
