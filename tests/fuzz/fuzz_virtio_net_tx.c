/*
 * The virtio-net device end to end (virtio/virtio_net.c over
 * virtio/virtio_pci.c and virtio/virtqueue.c), mostly its transmit path:
 * the real device with its real worker thread, a datagram socketpair as the
 * backend (one datagram per frame, header first, as with a TAP), and the
 * input playing the guest's driver: BAR 0 accesses of every kind (common
 * configuration, status transitions, queue set-up with any addresses,
 * notifications, MSI-X), descriptor chains and available-ring entries
 * written into guest RAM, and frames arriving from the host side.
 *
 * The worker runs concurrently with the driver in a real VM; here the two
 * take turns, so an input replays the same way every time. The target
 * interposes on epoll_wait (linked with --wrap=epoll_wait), which the
 * worker calls only when it has done all it can: the wrapper first looks
 * without blocking, so "nothing ready" there means the worker is idle.
 * After each step that may give it work, the driver side takes a ticket,
 * wakes the worker through an eventfd of its own in the worker's epoll set
 * (under an id the worker ignores), and waits until the worker reports idle
 * with a ticket at least that new. A worker that never gets idle again (a
 * livelock) is reported as a crash after 10 s.
 *
 * Checked, besides what ASan and UBSan catch in either thread: every frame
 * reaching the backend carries at least the 12-byte header, asking for no
 * offload the device does not offer (whatever the driver negotiated lies
 * within that), and the worker always gets idle again.
 *
 * Input: flags (1: bit 0 set the device up first, bits 1-3 the backend's
 * send buffer), driver features (8), for each of the two queues its size
 * exponent (1) and desc/avail/used offsets (3 x 4, taken modulo RAM), the
 * step script's length (2), the script, then guest RAM (the rest).
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "virtio/net_hdr.h"
#include "virtio/virtio_net.h"

#define RAM	   0x20000u
#define WAIT_SECS  10
#define COMMON(f)  offsetof(struct virtio_pci_common_cfg, f)
#define FRAME_BUF  (70 * 1024)
#define DEV_STATUS COMMON(device_status)

static uint8_t *ram;
static struct guest_mem mem;
static struct virtio_net net;
static int dev_fd = -1, peer = -1;
static uint8_t frame[FRAME_BUF];

/* ---- taking turns with the worker ---------------------------------------- */

static unsigned long want; /* the driver side's latest ticket */
static unsigned long done; /* the newest ticket the worker was idle after */
static int wake_fd = -1;   /* in the worker's epoll set, under an id it ignores */
#define WAKE_ID 0xf022u

int __real_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);

/* The worker calls this when it has done what it could. Drain the wake-up,
 * read the ticket, then look without blocking: everything the driver side
 * did before taking that ticket is visible to the look, so "nothing ready"
 * means the worker is done with it. A ticket taken after the read comes
 * with a wake-up written after the drain, so the worker cannot sleep
 * through it. */
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	uint64_t v;
	if (read(wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: no wake-up pending */
	}
	unsigned long w = __atomic_load_n(&want, __ATOMIC_SEQ_CST);
	int r = __real_epoll_wait(epfd, ev, max, 0);
	if (r != 0 || timeout == 0)
		return r;
	__atomic_store_n(&done, w, __ATOMIC_SEQ_CST);
	return __real_epoll_wait(epfd, ev, max, timeout);
}

/* Returns once the worker (if activated) has done everything the steps so
 * far gave it to do. */
static void settle(void)
{
	if (!net.running)
		return;
	unsigned long t = __atomic_add_fetch(&want, 1, __ATOMIC_SEQ_CST);
	uint64_t one = 1;
	FUZZ_CHECK(write(wake_fd, &one, sizeof(one)) == sizeof(one));
	/* Spin rather than sleep: a wake-up through the scheduler costs more
	 * than the work being waited for. */
	time_t deadline = time(NULL) + WAIT_SECS;
	for (unsigned spins = 0; __atomic_load_n(&done, __ATOMIC_SEQ_CST) < t; spins++) {
		sched_yield();
		if (spins % 4096 == 0 && time(NULL) > deadline) {
			fprintf(stderr, "virtio-net worker busy for %d s: a livelock\n", WAIT_SECS);
			abort();
		}
	}
}

/* ---- the driver side -------------------------------------------------------- */

static void bar(uint64_t off, void *data, uint32_t len, bool write)
{
	virtio_pci_bar_io(&net.vp, off, data, len, write);
}

static void bar_w(uint64_t off, uint64_t v, uint32_t len)
{
	bar(off, &v, len, true);
}

static uint8_t status(void)
{
	uint8_t s = 0;
	bar(DEV_STATUS, &s, 1, false);
	return s;
}

/* Frames the device sent: each must start with a whole header that asks
 * only for offloads the device offers. */
static void drain_backend(void)
{
	for (;;) {
		ssize_t n = recv(peer, frame, sizeof(frame), MSG_DONTWAIT);
		if (n < 0)
			break;
		FUZZ_CHECK(n >= (ssize_t)VIRTIO_NET_HDR_LEN);
		struct virtio_net_hdr h;
		memcpy(&h, frame, sizeof(h));
		FUZZ_CHECK(!net_hdr_tx_refusal(&h, net.vp.device_features));
	}
}

static void setup_device(struct fuzz_in *in)
{
	uint64_t features = fuzz_u64(in);
	bar_w(DEV_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	bar_w(COMMON(guest_feature_select), 0, 4);
	bar_w(COMMON(guest_feature), (uint32_t)features, 4);
	bar_w(COMMON(guest_feature_select), 1, 4);
	bar_w(COMMON(guest_feature), (uint32_t)(features >> 32), 4);
	bar_w(DEV_STATUS,
	      VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK,
	      1);
	for (uint16_t q = 0; q < 2; q++) {
		uint16_t size = (uint16_t)(1u << (fuzz_u8(in) % 9));
		bar_w(COMMON(queue_select), q, 2);
		bar_w(COMMON(queue_size), size, 2);
		bar_w(COMMON(queue_desc_lo), fuzz_u32(in) % RAM, 8);
		bar_w(COMMON(queue_avail_lo), fuzz_u32(in) % RAM, 8);
		bar_w(COMMON(queue_used_lo), fuzz_u32(in) % RAM, 8);
		bar_w(COMMON(queue_enable), 1, 2);
	}
	bar_w(DEV_STATUS, status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
}

/* The queue's rings in guest RAM as the device sees them; NULL if off. */
static struct virtq *live_queue(unsigned q)
{
	struct virtio_pci_queue *vq = &net.vp.queues[q & 1];
	return vq->enabled ? &vq->vq : NULL;
}

static void step(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	bool write = op & 0x80;
	uint8_t buf[8] = {0};
	static const uint8_t widths[8] = {1, 2, 4, 8, 1, 2, 4, 3};
	switch (op & 0xf) {
	case 0: { /* any BAR 0 access */
		uint64_t off = fuzz_u16(in) % VIRTIO_PCI_BAR_SIZE;
		uint32_t len = widths[(op >> 4) & 7];
		if (off + len > VIRTIO_PCI_BAR_SIZE)
			len = 1;
		fuzz_take(in, buf, len);
		bar(off, buf, len, write);
		settle();
		break;
	}
	case 1: { /* a common configuration field */
		uint32_t off = fuzz_u8(in) % sizeof(struct virtio_pci_common_cfg);
		uint32_t len = widths[(op >> 4) & 7];
		fuzz_take(in, buf, len);
		bar(off, buf, len, write);
		settle();
		break;
	}
	case 2: /* a status byte (0: reset, which joins the worker) */
		bar_w(DEV_STATUS, fuzz_u8(in), 1);
		settle();
		break;
	case 3: /* the whole bring-up again, after a reset */
		bar_w(DEV_STATUS, 0, 1);
		setup_device(in);
		settle();
		break;
	case 4: /* a doorbell */
		bar_w(VIRTIO_PCI_NOTIFY_OFF + 4u * ((op >> 4) & 1), (op >> 4) & 1,
		      (op >> 5) & 1 ? 4 : 2);
		settle();
		break;
	case 5: { /* publish chain heads on a queue, then kick it (bit 6) */
		struct virtq *q = live_queue(op >> 4);
		uint16_t head = fuzz_u16(in);
		unsigned count = 1 + (fuzz_u8(in) & 7);
		if (!q)
			break;
		uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < count; i++, idx++)
			q->avail->ring[idx & (q->size - 1)] = (uint16_t)(head + i);
		__atomic_store_n(&q->avail->idx, idx, __ATOMIC_RELEASE);
		if (op & 0x40) {
			bar_w(VIRTIO_PCI_NOTIFY_OFF + 4u * ((op >> 4) & 1), (op >> 4) & 1, 2);
			settle();
		}
		break;
	}
	case 6: { /* a descriptor */
		struct virtq *q = live_queue(op >> 4);
		uint16_t i = fuzz_u16(in);
		uint64_t addr = op & 0x40 ? fuzz_u64(in) : fuzz_u32(in) % RAM;
		uint32_t len = op & 0x20 ? fuzz_u32(in) : fuzz_u16(in) % 0x2000;
		uint16_t flags = fuzz_u8(in) & 7, next = fuzz_u16(in);
		if (q)
			q->desc[i & (q->size - 1)] = (struct vring_desc){addr, len, flags, next};
		break;
	}
	case 7: { /* the driver writes anything in RAM */
		uint32_t off = fuzz_u32(in) % RAM;
		uint32_t len = widths[(op >> 4) & 7];
		fuzz_take(in, buf, len);
		if (off + len <= RAM)
			memcpy(ram + off, buf, len);
		break;
	}
	case 8: { /* a frame from the host side */
		size_t len = fuzz_u16(in) % (op & 0x10 ? FRAME_BUF : 2048);
		memset(frame, 0, len);
		fuzz_take(in, frame, len);
		if (send(peer, frame, len, MSG_DONTWAIT) < 0) {
			/* full: the frame is lost, as on a busy TAP */
		}
		settle();
		break;
	}
	case 9: /* the host side takes what the guest sent */
		drain_backend();
		settle();
		break;
	case 10: { /* config space: MSI-X control, the PCI_CFG window */
		uint32_t off =
		    (op & 0x10 ? net.vp.msix.cap + 2u : net.vp.cfg_cap + 4u) + fuzz_u8(in) % 16;
		uint32_t len = widths[fuzz_u8(in) & 3];
		fuzz_take(in, buf, len);
		if (write)
			pci_config_write(&net.vp.pci, off, buf, len);
		else
			pci_config_read(&net.vp.pci, off, buf, len);
		settle();
		break;
	}
	default:
		break;
	}
}

/* The device, its worker and the backend are made once: creating a thread,
 * eventfds, an epoll set and sockets for every input would cost more than
 * the input. Between inputs the guest's reset (status 0) stops the worker
 * and clears the transport; what it leaves (config space, the MSI-X table,
 * the backend's queues) is put back as it was, so each input starts from
 * the same device. */
static uint8_t saved_cfg[PCI_CFG_SPACE];
static struct msix saved_msix;
static uint8_t saved_generation;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void start(void)
{
	ram = malloc(RAM);
	guest_mem_layout(&mem, RAM);
	mem.host = ram;
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	dev_fd = sv[0];
	peer = sv[1];
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	const struct virtio_net_backend be = {.fd = dev_fd, .name = "fuzz0"};
	struct errbuf e;
	FUZZ_CHECK(virtio_net_init(&net, &be, mac, &mem, NULL, -1, &e) == 0);
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event wake = {.events = EPOLLIN, .data.u32 = WAKE_ID};
	FUZZ_CHECK(epoll_ctl(net.epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake) == 0);
	memcpy(saved_cfg, net.vp.pci.cfg, sizeof(saved_cfg));
	saved_msix = net.vp.msix;
	saved_generation = net.vp.config_generation;
}

static void restore(void)
{
	bar_w(DEV_STATUS, 0, 1); /* reset: the worker is idle when this returns */
	FUZZ_CHECK(!net.running);
	drain_backend();
	while (recv(dev_fd, frame, sizeof(frame), MSG_DONTWAIT) >= 0)
		; /* frames the host sent that the guest never took */
	pci_set_intx(&net.vp.pci, 0);
	memcpy(net.vp.pci.cfg, saved_cfg, sizeof(saved_cfg));
	memcpy(net.vp.msix.table, saved_msix.table, sizeof(saved_msix.table));
	net.vp.msix.pba = saved_msix.pba;
	net.vp.msix.was_on = saved_msix.was_on;
	net.vp.config_generation = saved_generation;
	memset(&net.stats, 0, sizeof(net.stats));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram)
		start();
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t flags = fuzz_u8(&in);
	struct fuzz_in setup = fuzz_in(in.p, in.left);
	fuzz_skip(&in, 8 + 2 * 13); /* what setup_device() reads */
	struct fuzz_in script = fuzz_sub(&in, fuzz_u16(&in));
	memset(ram, 0, RAM);
	fuzz_take(&in, ram, RAM);
	/* A small send buffer makes the backend refuse frames (EAGAIN). */
	int sndbuf = flags & 0xe ? 4096 * ((flags >> 1) & 7) : 212992;
	setsockopt(dev_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	if (flags & 1) {
		setup_device(&setup);
		settle();
	}
	while (script.left)
		step(&script);
	settle();
	drain_backend();
	restore();
	return 0;
}
