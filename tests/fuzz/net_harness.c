/* The shared virtio-net fuzz harness; net_harness.h says what it does. */
#include "net_harness.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "virtio/net_hdr.h"

#define GUARD (1u << 20) /* PROT_NONE on each side of guest RAM */

struct net_harness nh = {.dev_fd = -1, .peer = -1};

/* ---- taking turns with the worker ---------------------------------------- */

static unsigned long want; /* the driver side's latest ticket */
static unsigned long done; /* the newest ticket the worker was idle after */
static int wake_fd = -1;   /* in the worker's epoll set, under an id it ignores */
#define WAKE_ID 0xf022u

int __real_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);

/* The wake-up's own events, which the worker is never shown; how many
 * there were in *wakes. */
static int without_wake(struct epoll_event *ev, int r, int *wakes)
{
	int k = 0;
	for (int i = 0; i < r; i++)
		if (ev[i].data.u32 != WAKE_ID)
			ev[k++] = ev[i];
	*wakes = r < 0 ? 0 : r - k;
	return r < 0 ? r : k;
}

/* The worker calls this when it has done what it could. Read the ticket,
 * then look without blocking: everything the driver side did before
 * taking that ticket is visible to the look, so "nothing ready" means the
 * worker is done with it. The wake-up eventfd is edge-triggered, so it
 * needs no draining (a system call less): each ticket's write is an event
 * of its own, and one written after the look wakes the blocking wait. A
 * wake-up the look itself took may come with a ticket newer than the one
 * read: read the ticket and look again, or the worker would report the
 * old one and sleep through the new. */
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	__atomic_add_fetch(&nh.epoll_waits, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		unsigned long w = __atomic_load_n(&want, __ATOMIC_SEQ_CST);
		int wakes;
		int r = without_wake(ev, __real_epoll_wait(epfd, ev, max, 0), &wakes);
		if (r != 0 || timeout == 0)
			return r;
		if (wakes)
			continue;
		__atomic_store_n(&done, w, __ATOMIC_SEQ_CST);
		r = without_wake(ev, __real_epoll_wait(epfd, ev, max, timeout), &wakes);
		if (r != 0)
			return r; /* else only a wake-up: look again */
	}
}

/* The worker did not get idle in time. Watch it for a second more: a
 * worker that runs (CPU time, or epoll_wait calls that find work) is a
 * livelock, the device's bug; one asleep in epoll_wait was never woken for
 * the latest ticket, the harness's bug. (Both have been seen: a worker
 * spinning in net_tx_run, and a wake-up the edge-triggered eventfd lost.)
 * Measured only now, so that the turns cost no more system calls. */
static void report_stuck(unsigned long ticket)
{
	clockid_t cpu;
	struct timespec t0, t1;
	bool have_cpu = pthread_getcpuclockid(nh.net.worker.thread, &cpu) == 0;
	if (have_cpu)
		clock_gettime(cpu, &t0);
	unsigned long w0 = __atomic_load_n(&nh.epoll_waits, __ATOMIC_SEQ_CST);
	sleep(1);
	unsigned long w1 = __atomic_load_n(&nh.epoll_waits, __ATOMIC_SEQ_CST);
	double ran = 0;
	if (have_cpu && clock_gettime(cpu, &t1) == 0)
		ran = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	bool busy = ran > 0.01 || w1 != w0;
	fprintf(stderr,
		"virtio-net worker not idle after %d s (ticket %lu, done %lu); in the next second "
		"it ran %.3f s and called epoll_wait %lu times: %s\n",
		NH_WAIT_SECS, ticket, __atomic_load_n(&done, __ATOMIC_SEQ_CST), ran, w1 - w0,
		busy ? "a livelock" : "asleep, a wake-up the harness lost");
}

void nh_settle(void)
{
	if (!nh.net.worker.running)
		return;
	unsigned long t = __atomic_add_fetch(&want, 1, __ATOMIC_SEQ_CST);
	uint64_t one = 1;
	FUZZ_CHECK(write(wake_fd, &one, sizeof(one)) == sizeof(one));
	/* Yield rather than sleep: a wake-up through the scheduler costs more
	 * than the work being waited for. (Not a pause loop either: in a VM,
	 * PAUSE exits to the hypervisor.) */
	time_t deadline = time(NULL) + NH_WAIT_SECS;
	for (unsigned spins = 0; __atomic_load_n(&done, __ATOMIC_SEQ_CST) < t; spins++) {
		sched_yield();
		if (spins % 4096 == 0 && time(NULL) > deadline) {
			report_stuck(t);
			abort();
		}
	}
}

/* ---- the driver side -------------------------------------------------------- */

void nh_bar(uint64_t off, void *data, uint32_t len, bool write)
{
	virtio_pci_bar_io(&nh.net.vp, off, data, len, write);
}

void nh_bar_w(uint64_t off, uint64_t v, uint32_t len)
{
	nh_bar(off, &v, len, true);
}

uint8_t nh_status(void)
{
	uint8_t s = 0;
	nh_bar(NH_STATUS, &s, 1, false);
	return s;
}

void nh_negotiate(uint64_t features)
{
	nh_bar_w(NH_STATUS, NH_DRIVER_UP, 1);
	nh_bar_w(NH_COMMON(guest_feature_select), 0, 4);
	nh_bar_w(NH_COMMON(guest_feature), (uint32_t)features, 4);
	nh_bar_w(NH_COMMON(guest_feature_select), 1, 4);
	nh_bar_w(NH_COMMON(guest_feature), (uint32_t)(features >> 32), 4);
	nh_bar_w(NH_STATUS, NH_DRIVER_UP | VIRTIO_CONFIG_S_FEATURES_OK, 1);
}

void nh_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	nh_bar_w(NH_COMMON(queue_select), q, 2);
	nh_bar_w(NH_COMMON(queue_size), size, 2);
	nh_bar_w(NH_COMMON(queue_desc_lo), desc, 8);
	nh_bar_w(NH_COMMON(queue_avail_lo), avail, 8);
	nh_bar_w(NH_COMMON(queue_used_lo), used, 8);
	nh_bar_w(NH_COMMON(queue_enable), 1, 2);
}

void nh_driver_ok(void)
{
	nh_bar_w(NH_STATUS, nh_status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
}

struct virtq *nh_live_queue(unsigned q)
{
	struct virtio_pci_queue *vq = &nh.net.vp.queues[q & 1];
	return vq->enabled ? &vq->vq : NULL;
}

void nh_drain_backend(void)
{
	static uint8_t frame[NH_FRAME_BUF];
	for (;;) {
		ssize_t n = recv(nh.peer, frame, sizeof(frame), MSG_DONTWAIT);
		if (n < 0)
			break;
		FUZZ_CHECK(n >= (ssize_t)VIRTIO_NET_HDR_LEN);
		/* ... asking only for offloads the device offers (whatever the
		 * driver negotiated lies within that). */
		struct virtio_net_hdr h;
		memcpy(&h, frame, sizeof(h));
		FUZZ_CHECK(!net_hdr_tx_refusal(&h, nh.net.vp.device_features));
	}
}

/* ---- the device, made once -------------------------------------------------- */

/* What a reset leaves as the last input left it. */
static uint8_t saved_cfg[PCI_CFG_SPACE];
static struct msix saved_msix;
static uint8_t saved_generation;

void nh_start(void)
{
	if (nh.ram)
		return;
	uint8_t *map =
	    mmap(NULL, NH_RAM + 2 * GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FUZZ_CHECK(map != MAP_FAILED);
	FUZZ_CHECK(mprotect(map + GUARD, NH_RAM, PROT_READ | PROT_WRITE) == 0);
	nh.ram = map + GUARD;
	guest_mem_layout(&nh.mem, NH_RAM);
	nh.mem.host = nh.ram;
	int sv[2];
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	nh.dev_fd = sv[0];
	nh.peer = sv[1];
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	const struct virtio_net_backend be = {.fd = nh.dev_fd, .name = "fuzz0"};
	struct errbuf e;
	FUZZ_CHECK(virtio_net_init(&nh.net, &be, mac, &nh.mem, NULL, -1, NULL, &e) == 0);
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event wake = {.events = EPOLLIN | EPOLLET, .data.u32 = WAKE_ID};
	FUZZ_CHECK(epoll_ctl(nh.net.worker.epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake) == 0);
	memcpy(saved_cfg, nh.net.vp.pci.cfg, sizeof(saved_cfg));
	saved_msix = nh.net.vp.msix;
	saved_generation = nh.net.vp.config_generation;
}

void nh_restore(void)
{
	static uint8_t frame[NH_FRAME_BUF];
	nh_bar_w(NH_STATUS, 0, 1); /* reset: the worker is idle when this returns */
	FUZZ_CHECK(!nh.net.worker.running);
	nh_drain_backend();
	while (recv(nh.dev_fd, frame, sizeof(frame), MSG_DONTWAIT) >= 0)
		; /* frames the host sent that the guest never took */
	pci_set_intx(&nh.net.vp.pci, 0);
	memcpy(nh.net.vp.pci.cfg, saved_cfg, sizeof(saved_cfg));
	memcpy(nh.net.vp.msix.table, saved_msix.table, sizeof(saved_msix.table));
	nh.net.vp.msix.pba = saved_msix.pba;
	nh.net.vp.msix.control = saved_msix.control;
	nh.net.vp.config_generation = saved_generation;
	memset(&nh.net.stats, 0, sizeof(nh.net.stats));
}
