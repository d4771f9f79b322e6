/*
 * minivmm-vq-bench: what minivmm's virtio-net path costs per packet, next to
 * the bare system call it is built around (issue #4, "Virtqueue cost").
 *
 *   minivmm-vq-bench [--packets N] [--rounds R] [--sizes 64,1500] [--json]
 *                    [--backend auto|tap|socketpair] [--features linux|plain]
 *                    [--no-seccomp]
 *
 * For each direction and frame size it runs, in the same process, on the
 * same fd and the same buffers:
 *
 *   bare     a loop of writev() (TX) or readv() (RX), one frame each, with
 *            no virtqueue work at all: the floor;
 *   minivmm  the real device (virtio/virtio_net.c with its worker thread,
 *            virtio/virtqueue.c, virtio/virtio_pci.c), driven by vq_driver.c
 *            playing Linux's virtio_net over split rings (virtio 1.2 §2.7) in
 *            a real struct guest_mem.
 *
 * CPU ns/packet is the CPU time of the one thread that does the work,
 * divided by the packets it moved. For the bare loop that is the loop's own
 * thread (CLOCK_THREAD_CPUTIME_ID). For minivmm it is the device's worker,
 * the only thread that touches the rings and the fd once the driver has
 * kicked: its CPU clock (pthread_getcpuclockid() on struct virtio_net's
 * worker), read while the worker is idle before DRIVER_OK and after reset.
 * So it counts every wake-up, epoll_wait, kick eventfd read, ring access,
 * interrupt check and the readv/writev itself, and nothing the guest side
 * or the feeder does. Both are the kernel's thread CPU time: user + system,
 * including the tun driver and the host stack the write runs through inline.
 *
 * RX frames come from the host: an AF_PACKET socket sends them on the TAP
 * (vq_backend.c), in batches that fit the TAP's queue and the ring. A batch
 * is queued before the reader runs (the bare loop, or the worker, which is
 * then waiting for buffers and not watching the TAP), so both read a full
 * queue and neither pays for waiting on the feeder. Rounds alternate which
 * of the two goes first; the figures are medians over rounds.
 */
#define _GNU_SOURCE /* prctl, pthread_getcpuclockid */
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "net/tap.h"
#include "vmm/base/seccomp.h"
#include "vmm/cli.h"
#include "vq_backend.h"
#include "vq_driver.h"

#define HDR	     VIRTIO_NET_HDR_LEN
#define MAX_SIZES    8
#define MAX_ROUNDS   101
#define TARGET_RATIO 1.25   /* issue #4: within 1.25x of the bare syscall */
#define WARMUP_MAX   2000   /* packets per cell in the untimed first round */
#define ETH_P_BENCH  0x88b5 /* IEEE 802 local experimental: no host stack takes it */

enum dir { TX, RX };
enum mode { BARE, MINIVMM };

struct opts {
	uint64_t packets;
	unsigned rounds;
	unsigned sizes[MAX_SIZES];
	unsigned nsizes;
	bool json;
	bool seccomp;
	enum vqb_kind backend;
	enum vqd_features features;
};

/* One run of one mode over one cell (direction x size). */
struct sample {
	double cpu_ns, wall_ns;
	uint64_t packets;
	uint64_t kicks, interrupts; /* minivmm only: the device's own counters */
};

struct cell {
	enum dir dir;
	unsigned size; /* Ethernet frame; each transfer has HDR more */
	struct sample s[MAX_ROUNDS][2];
};

struct bench {
	struct opts o;
	struct vq_backend be;
	struct guest_mem mem;
	struct virtio_net net;
	struct vq_driver drv;
	struct seccomp_thread worker_thread; /* how the device's worker starts */
	clockid_t worker_clock;
	unsigned rx_batch;
	uint8_t pkt[VQD_BUF_STRIDE]; /* header + frame, as both sides send it */
	struct cell cells[2 * MAX_SIZES];
	unsigned ncells;
};

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t stat_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* A zero virtio_net_hdr (no offload asked for or reported, §5.1.6) and an
 * Ethernet frame of size bytes that no protocol in the namespace takes, so
 * the host stack drops TX frames right after the tun driver. */
static void make_packet(uint8_t *p, unsigned size)
{
	static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02},
			     src[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
	memset(p, 0, HDR);
	uint8_t *f = p + HDR;
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ETH_P_BENCH >> 8;
	f[13] = ETH_P_BENCH & 0xff;
	for (unsigned i = ETH_HLEN; i < size; i++)
		f[i] = (uint8_t)i;
}

/* ---- bare: the system call alone ------------------------------------------ */

static int wait_fd(int fd, short events, struct errbuf *e)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r = poll(&p, 1, 5000);
	if (r <= 0)
		return r ? errorf_errno(e, "poll") : errorf(e, "backend stuck for 5 s");
	return 0;
}

static int bare_tx(struct bench *b, uint64_t n, struct sample *s, uint32_t len, struct errbuf *e)
{
	int fd = b->be.fd;
	uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < n;) {
		/* The same buffers, one iovec each, as the device's writev. */
		struct iovec iov = {vqd_buf(&b->drv.tx, (unsigned)i), len};
		ssize_t w = writev(fd, &iov, 1);
		if (w == (ssize_t)len) {
			i++;
		} else if (w < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			if (wait_fd(fd, POLLOUT, e)) /* the socketpair's drainer is behind */
				return -1;
		} else if (!(w < 0 && errno == EINTR)) {
			return w < 0 ? errorf_errno(e, "bare writev") : errorf(e, "short writev");
		}
	}
	s->cpu_ns = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
	s->wall_ns = (double)(now_ns(CLOCK_MONOTONIC) - t0);
	s->packets = n;
	return 0;
}

static int bare_rx(struct bench *b, uint64_t n, struct sample *s, uint32_t len, struct errbuf *e)
{
	int fd = b->be.fd;
	*s = (struct sample){0};
	while (s->packets < n) {
		unsigned want =
		    n - s->packets < b->rx_batch ? (unsigned)(n - s->packets) : b->rx_batch;
		int k = vqb_feed(&b->be, b->pkt, len, want, e);
		if (k <= 0)
			return k ? -1 : errorf(e, "the %s takes no frames", vqb_kind_name(&b->be));
		uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t0 = now_ns(CLOCK_MONOTONIC);
		for (int i = 0; i < k; i++) {
			/* The same buffers, one iovec each: one frame per read. */
			struct iovec iov = {vqd_buf(&b->drv.rx, (unsigned)i), VQD_RX_BUF_LEN};
			ssize_t r;
			do
				r = readv(fd, &iov, 1);
			while (r < 0 && errno == EINTR);
			if (r < 0)
				return errorf_errno(e, "bare readv, frame %d of %d", i + 1, k);
			if (r != (ssize_t)len)
				return errorf(e, "bare readv: %zd bytes, not %u: a stray frame?", r,
					      len);
		}
		s->cpu_ns += (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
		s->wall_ns += (double)(now_ns(CLOCK_MONOTONIC) - t0);
		s->packets += (uint64_t)k;
	}
	return 0;
}

/* ---- minivmm: the device's worker doing it -------------------------------- */

/* What the worker is charged with: its CPU clock from before DRIVER_OK
 * (it is asleep on a condition variable) to after reset (asleep again). */
static int minivmm_run(struct bench *b, enum dir dir, uint64_t n, struct sample *s, uint32_t len,
		       struct errbuf *e)
{
	struct virtio_net *net = &b->net;
	*s = (struct sample){0};
	uint64_t pk0 = stat_load(dir == TX ? &net->stats.tx_packets : &net->stats.rx_packets);
	uint64_t err0 = stat_load(&net->stats.tx_errors) + stat_load(&net->stats.rx_dropped);
	uint64_t kick0 = stat_load(&net->stats.kicks), irq0 = virtio_pci_interrupts(&net->vp);
	uint64_t c0 = now_ns(b->worker_clock);
	int r = vqd_start(&b->drv, e);
	if (r == 0 && dir == TX) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		r = vqd_tx(&b->drv, n, len, e);
		s->wall_ns = (double)(now_ns(CLOCK_MONOTONIC) - t0);
		s->packets = n;
	}
	while (r == 0 && dir == RX && s->packets < n) {
		unsigned want =
		    n - s->packets < b->rx_batch ? (unsigned)(n - s->packets) : b->rx_batch;
		int k = vqb_feed(&b->be, b->pkt, len, want, e);
		if (k <= 0) {
			r = k ? -1 : errorf(e, "the %s takes no frames", vqb_kind_name(&b->be));
			break;
		}
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);
		r = vqd_rx(&b->drv, (unsigned)k, len, e);
		s->wall_ns += (double)(now_ns(CLOCK_MONOTONIC) - t0);
		s->packets += (uint64_t)k;
	}
	vqd_reset(&b->drv);
	s->cpu_ns = (double)(now_ns(b->worker_clock) - c0);
	s->kicks = stat_load(&net->stats.kicks) - kick0;
	s->interrupts = virtio_pci_interrupts(&net->vp) - irq0;
	if (r)
		return -1;
	uint64_t moved =
	    stat_load(dir == TX ? &net->stats.tx_packets : &net->stats.rx_packets) - pk0;
	uint64_t errs = stat_load(&net->stats.tx_errors) + stat_load(&net->stats.rx_dropped) - err0;
	if (moved != s->packets || errs)
		return errorf(e, "the device moved %llu of %llu packets, %llu errors or drops",
			      (unsigned long long)moved, (unsigned long long)s->packets,
			      (unsigned long long)errs);
	return 0;
}

static int run(struct bench *b, struct cell *c, enum mode m, uint64_t n, struct sample *s,
	       struct errbuf *e)
{
	uint32_t len = HDR + c->size;
	make_packet(b->pkt, c->size);
	if (c->dir == TX)
		vqd_fill_tx(&b->drv, b->pkt, len);
	if (m == MINIVMM)
		return minivmm_run(b, c->dir, n, s, len, e);
	return c->dir == TX ? bare_tx(b, n, s, len, e) : bare_rx(b, n, s, len, e);
}

/* ---- set-up --------------------------------------------------------------- */

static int tap_offload(void *ctx, unsigned flags, struct errbuf *e)
{
	return tap_set_offload(ctx, flags, e); /* as vmm/vm.c */
}

static int setup(struct bench *b, struct errbuf *e)
{
	if (vqb_open(&b->be, b->o.backend, e) || guest_mem_alloc(&b->mem, VQD_RAM_SIZE, e))
		return -1;
	const bool tap = b->be.kind == VQB_TAP;
	const struct virtio_net_backend backend = {.fd = b->be.fd,
						   .name = tap ? b->be.tap.name : "socketpair",
						   .set_offload = tap ? tap_offload : NULL,
						   .ctx = tap ? &b->be.tap : NULL};
	const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	/* The driver's interrupt eventfd exists before the worker loads its
	 * filter, which names it (the device's INTx line, in this bench). */
	/* The worker starts as vmm/vm.c starts it: its name, no rights and
	 * minivmm's default allowlist (each system call then also runs the
	 * filter, which is part of what minivmm costs), over the device's
	 * descriptors and the driver's interrupt eventfd, made first. */
	int irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (irq_fd < 0)
		return errorf_errno(e, "eventfd");
	b->worker_thread = (struct seccomp_thread){
	    .name = "virtio-net",
	    .who = "virtio-net worker",
	    .kind = SECCOMP_WORKER,
	    .filtered = b->o.seccomp,
	    .fds = {.vcpu_fd = -1, .vm_fd = -1, .tap_fd = -1, .io = {irq_fd}, .n_io = 1}};
	const struct virtio_worker_thread thread = {
	    .start = seccomp_thread_start, .ctx = &b->worker_thread, .fds = &b->worker_thread.fds};
	if (virtio_net_init(&b->net, &backend, mac, &b->mem, NULL, -1, &thread, e)) {
		close(irq_fd);
		return -1;
	}
	if (vqd_init(&b->drv, &b->net, &b->mem, b->o.features, irq_fd, e))
		return -1;
	int r = pthread_getcpuclockid(b->net.worker.thread, &b->worker_clock);
	if (r)
		return errorf(e, "the worker's CPU clock: %s", strerror(r));
	/* The ring is the smaller bound: the TAP's queue holds txqueuelen
	 * frames (1000 by default) and the socketpair what its send buffer
	 * takes, which vqb_feed() finds out. */
	b->rx_batch = vqd_rx_batch_max(&b->drv);
	for (unsigned d = 0; d < 2; d++)
		for (unsigned i = 0; i < b->o.nsizes; i++)
			b->cells[b->ncells++] = (struct cell){.dir = d, .size = b->o.sizes[i]};
	return 0;
}

static void teardown(struct bench *b)
{
	vqd_destroy(&b->drv);
	virtio_net_destroy(&b->net); /* joins the worker before RAM goes */
	guest_mem_free(&b->mem);
	vqb_close(&b->be); /* the TAP, then the namespace with the process */
}

/* ---- figures -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct summary {
	double pps[2], ns[2];	      /* medians per mode */
	double ratio, rmin, rmax;     /* minivmm/bare CPU per packet: median of rounds, range */
	double kicks_k, interrupts_k; /* minivmm, per 1000 packets, all rounds */
};

static struct summary summarise(const struct cell *c, unsigned rounds)
{
	struct summary s = {.rmin = 1e300};
	double v[MAX_ROUNDS];
	uint64_t kicks = 0, irqs = 0, pkts = 0;
	for (int m = 0; m < 2; m++) {
		for (unsigned r = 0; r < rounds; r++)
			v[r] = c->s[r][m].packets / (c->s[r][m].wall_ns / 1e9);
		s.pps[m] = median(v, rounds);
		for (unsigned r = 0; r < rounds; r++)
			v[r] = c->s[r][m].cpu_ns / (double)c->s[r][m].packets;
		s.ns[m] = median(v, rounds);
	}
	for (unsigned r = 0; r < rounds; r++) {
		const struct sample *bare = &c->s[r][BARE], *vm = &c->s[r][MINIVMM];
		v[r] = (vm->cpu_ns / (double)vm->packets) / (bare->cpu_ns / (double)bare->packets);
		s.rmin = v[r] < s.rmin ? v[r] : s.rmin;
		s.rmax = v[r] > s.rmax ? v[r] : s.rmax;
		kicks += vm->kicks;
		irqs += vm->interrupts;
		pkts += vm->packets;
	}
	s.ratio = median(v, rounds);
	s.kicks_k = 1000.0 * (double)kicks / (double)pkts;
	s.interrupts_k = 1000.0 * (double)irqs / (double)pkts;
	return s;
}

static const char *features_name(const struct opts *o)
{
	return o->features == VQD_FEATURES_LINUX ? "linux" : "plain";
}

static const char *const CPU_CLOCK_NOTE =
    "CPU time of the thread doing the work: bare = the loop's own thread "
    "(CLOCK_THREAD_CPUTIME_ID); minivmm = the virtio-net worker thread "
    "(pthread_getcpuclockid), from before DRIVER_OK to after reset";

static void print_table(const struct bench *b)
{
	const struct opts *o = &b->o;
	printf("minivmm-vq-bench: virtio-net through minivmm's device vs. bare readv/writev on the "
	       "same fd\n");
	if (b->be.kind == VQB_TAP)
		printf("backend: tap (%s, in a private network namespace)\n", b->be.tap.name);
	else
		printf("backend: socketpair stand-in (no TAP: %s)\n", b->be.why);
	printf("guest: features %s (%#llx), queue size %u, RX buffers %u B, RX batch %u, "
	       "worker seccomp %s\n",
	       features_name(o), (unsigned long long)b->drv.features, VQD_QSIZE, VQD_RX_BUF_LEN,
	       b->rx_batch, o->seccomp ? "on" : "off");
	printf("%llu packets per run, %u round%s, medians; %s\n", (unsigned long long)o->packets,
	       o->rounds, o->rounds == 1 ? "" : "s", CPU_CLOCK_NOTE);
	printf("\n%-3s %6s %6s %12s %11s %12s %11s %6s %13s %6s %6s\n", "dir", "frame", "bytes",
	       "bare pkt/s", "bare ns/pkt", "vmm pkt/s", "vmm ns/pkt", "ratio", "ratio range",
	       "kick/k", "irq/k");
	for (unsigned i = 0; i < b->ncells; i++) {
		const struct cell *c = &b->cells[i];
		struct summary s = summarise(c, o->rounds);
		printf(
		    "%-3s %6u %6u %12.0f %11.1f %12.0f %11.1f %6.2f %6.2f-%-6.2f %6.1f %6.1f%s\n",
		    c->dir == TX ? "tx" : "rx", c->size, c->size + (unsigned)HDR, s.pps[BARE],
		    s.ns[BARE], s.pps[MINIVMM], s.ns[MINIVMM], s.ratio, s.rmin, s.rmax, s.kicks_k,
		    s.interrupts_k, s.ratio <= TARGET_RATIO ? "" : "  > target");
	}
	printf("\nratio = minivmm CPU ns/packet / bare CPU ns/packet (median of per-round ratios); "
	       "target <= %.2f. kick/k, irq/k: doorbells and interrupts per 1000 packets.\n",
	       TARGET_RATIO);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* JSON has no inf or nan: a figure that is not finite (a clock that did
 * not move) becomes 0, which the smoke test refuses. */
static double j(double v)
{
	return isfinite(v) ? v : 0;
}

static void print_json(const struct bench *b)
{
	const struct opts *o = &b->o;
	printf("{\"program\":\"minivmm-vq-bench\",\"backend\":\"%s\",\"backend_note\":",
	       vqb_kind_name(&b->be));
	if (b->be.kind == VQB_TAP)
		json_string("tap in a private network namespace");
	else
		json_string(b->be.why);
	printf(",\"features\":\"%s\",\"feature_bits\":%llu,\"queue_size\":%u,"
	       "\"rx_buffer_bytes\":%u,\"rx_batch\":%u,\"seccomp\":%s,\"packets\":%llu,"
	       "\"rounds\":%u,\"target_ratio\":%.2f,\"cpu_clock\":",
	       features_name(o), (unsigned long long)b->drv.features, VQD_QSIZE, VQD_RX_BUF_LEN,
	       b->rx_batch, o->seccomp ? "true" : "false", (unsigned long long)o->packets,
	       o->rounds, TARGET_RATIO);
	json_string(CPU_CLOCK_NOTE);
	printf(",\"results\":[");
	for (unsigned i = 0; i < b->ncells; i++) {
		const struct cell *c = &b->cells[i];
		struct summary s = summarise(c, o->rounds);
		printf("%s{\"direction\":\"%s\",\"frame_bytes\":%u,\"transfer_bytes\":%u,"
		       "\"bare\":{\"packets_per_s\":%.1f,\"cpu_ns_per_packet\":%.2f},"
		       "\"minivmm\":{\"packets_per_s\":%.1f,\"cpu_ns_per_packet\":%.2f,"
		       "\"kicks_per_kpkt\":%.3f,\"interrupts_per_kpkt\":%.3f},"
		       "\"ratio\":%.4f,\"ratio_min\":%.4f,\"ratio_max\":%.4f,\"within_target\":%s}",
		       i ? "," : "", c->dir == TX ? "tx" : "rx", c->size, c->size + (unsigned)HDR,
		       j(s.pps[BARE]), j(s.ns[BARE]), j(s.pps[MINIVMM]), j(s.ns[MINIVMM]),
		       j(s.kicks_k), j(s.interrupts_k), j(s.ratio), j(s.rmin), j(s.rmax),
		       s.ratio <= TARGET_RATIO ? "true" : "false");
	}
	printf("]}\n");
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: minivmm-vq-bench [--packets N] [--rounds R] [--sizes 64,1500] [--json]\n"
		   "                        [--backend auto|tap|socketpair] "
		   "[--features linux|plain] [--no-seccomp]\n");
}

static int parse_sizes(char *s, struct opts *o)
{
	o->nsizes = 0;
	for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (o->nsizes == MAX_SIZES || !cli_parse_uint(t, ETH_HLEN, ETH_FRAME_LEN, &v))
			return -1;
		o->sizes[o->nsizes++] = (unsigned)v;
	}
	return o->nsizes ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {{"packets", required_argument, NULL, 'n'},
						 {"rounds", required_argument, NULL, 'r'},
						 {"sizes", required_argument, NULL, 's'},
						 {"json", no_argument, NULL, 'j'},
						 {"backend", required_argument, NULL, 'b'},
						 {"features", required_argument, NULL, 'f'},
						 {"no-seccomp", no_argument, NULL, 'S'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	*o = (struct opts){.packets = 100000,
			   .rounds = 5,
			   .sizes = {64, 1500},
			   .nsizes = 2,
			   .seccomp = true,
			   .backend = VQB_AUTO,
			   .features = VQD_FEATURES_LINUX};
	uint64_t v;
	for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
		switch (c) {
		case 'n':
			if (!cli_parse_uint(optarg, 1, 1000000000, &o->packets))
				return fprintf(stderr, "--packets: 1 to 1000000000\n"), -1;
			break;
		case 'r':
			if (!cli_parse_uint(optarg, 1, MAX_ROUNDS, &v))
				return fprintf(stderr, "--rounds: 1 to %d\n", MAX_ROUNDS), -1;
			o->rounds = (unsigned)v;
			break;
		case 's':
			if (parse_sizes(optarg, o))
				return fprintf(stderr,
					       "--sizes: up to %d comma-separated frame sizes, "
					       "%d to %d bytes\n",
					       MAX_SIZES, ETH_HLEN, ETH_FRAME_LEN),
				       -1;
			break;
		case 'j':
			o->json = true;
			break;
		case 'b':
			if (!strcmp(optarg, "auto"))
				o->backend = VQB_AUTO;
			else if (!strcmp(optarg, "tap"))
				o->backend = VQB_TAP;
			else if (!strcmp(optarg, "socketpair"))
				o->backend = VQB_SOCKETPAIR;
			else
				return fprintf(stderr, "--backend: auto, tap or socketpair\n"), -1;
			break;
		case 'f':
			if (!strcmp(optarg, "linux"))
				o->features = VQD_FEATURES_LINUX;
			else if (!strcmp(optarg, "plain"))
				o->features = VQD_FEATURES_PLAIN;
			else
				return fprintf(stderr, "--features: linux or plain\n"), -1;
			break;
		case 'S':
			o->seccomp = false;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return usage(stderr), -1;
		}
	}
	if (optind < argc)
		return usage(stderr), -1;
	return 0;
}

static int measure(struct bench *b, struct errbuf *e)
{
	uint64_t warm = b->o.packets < WARMUP_MAX ? b->o.packets : WARMUP_MAX;
	struct sample scratch;
	for (unsigned i = 0; i < b->ncells; i++)
		for (int m = 0; m < 2; m++)
			if (run(b, &b->cells[i], (enum mode)m, warm, &scratch, e))
				return -1;
	for (unsigned r = 0; r < b->o.rounds; r++) {
		for (unsigned i = 0; i < b->ncells; i++) {
			struct cell *c = &b->cells[i];
			/* Alternate which goes first, so drift (caches, clock
			 * speed, other load) does not favour one side. */
			enum mode first = r % 2 ? MINIVMM : BARE;
			enum mode second = first == BARE ? MINIVMM : BARE;
			if (run(b, c, first, b->o.packets, &c->s[r][first], e) ||
			    run(b, c, second, b->o.packets, &c->s[r][second], e))
				return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	if (!b)
		return 1;
	if (parse_args(argc, argv, &b->o)) {
		free(b);
		return 2;
	}
	struct errbuf e;
	int rc = 0;
	if (setup(b, &e) || measure(b, &e)) {
		fprintf(stderr, "minivmm-vq-bench: %s\n", e.msg);
		rc = 1;
	} else if (b->o.json) {
		print_json(b);
	} else {
		print_table(b);
	}
	teardown(b);
	free(b);
	return rc;
}
