/* The shared virtio-net fuzz harness; net_harness.h says what it does. */
#include "net_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "virtio/net_hdr.h"

#define GUARD (1u << 20) /* PROT_NONE on each side of guest RAM */

struct net_harness nh = {.dev_fd = -1, .peer = -1};

/* ---- the worker's turns --------------------------------------------------- */

/* More turns than any input can make busy (each burst is bounded by the
 * engine's NET_RUN_FRAMES, and the backend's queue by its buffer): a worker
 * still busy after them is a livelock. */
#define TURNS_MAX 100000

void nh_settle(void)
{
	if (!nh.net.worker.manual)
		return;
	unsigned long turns = 0;
	while (virtio_worker_turn(&nh.net.worker))
		if (++turns == TURNS_MAX) {
			fprintf(stderr, "virtio-net worker still busy after %d turns: a livelock\n",
				TURNS_MAX);
			abort();
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

void nh_start(bool threaded)
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
	/* Manual: no worker thread, nh_settle() runs its turns. */
	const struct virtio_worker_thread manual = {.manual = true};
	struct errbuf e;
	FUZZ_CHECK(virtio_net_init(&nh.net, &be, mac, &nh.mem, NULL, -1, threaded ? NULL : &manual,
				   &e) == 0);
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
