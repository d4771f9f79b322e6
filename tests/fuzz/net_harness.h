/*
 * What the virtio-net fuzz targets (fuzz_virtio_net_tx, fuzz_virtio_net_rx,
 * fuzz_virtio_pci_race) share: the real device (virtio/virtio_net.c over
 * virtio/virtio_pci.c and virtio/virtqueue.c) with its real worker thread,
 * guest RAM between guard pages (an access past either end is a SEGV that
 * ASan reports), and a datagram socketpair as the backend: one datagram
 * per frame, header first, as with a TAP.
 *
 * The worker runs concurrently with the vCPU threads in a real VM. The tx
 * and rx targets make the two take turns instead, so that an input replays
 * the same way every time: a target linked with --wrap=epoll_wait
 * interposes on the worker's epoll_wait, which the worker calls only when
 * it has done all it can. The wrapper first looks without blocking, so
 * "nothing ready" there means the worker is idle. After each step that may
 * give it work, nh_settle() takes a ticket, wakes the worker through an
 * eventfd of its own in the worker's epoll set (under an id the worker
 * ignores), and waits until the worker reports idle with a ticket at least
 * that new. A worker that never gets idle again (a livelock) is reported as
 * a crash after 10 s; the report says whether the worker was running then
 * (a livelock, the device's) or asleep in epoll_wait (a wake-up the harness
 * lost). The race target does not wait between its steps.
 *
 * The device, its worker and the socketpair are made once: creating a
 * thread, eventfds, an epoll set and sockets for every input would cost
 * more than the input. nh_restore() puts back between inputs what a reset
 * leaves, so that each input starts from the same device.
 */
#ifndef TESTS_FUZZ_NET_HARNESS_H
#define TESTS_FUZZ_NET_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio_net.h"

#define NH_RAM	      0x20000u /* guest RAM at guest physical 0 */
#define NH_COMMON(f)  offsetof(struct virtio_pci_common_cfg, f)
#define NH_STATUS     NH_COMMON(device_status)
#define NH_FRAME_BUF  (70 * 1024) /* more than the largest frame, 64 KiB + headers */
#define NH_WAIT_SECS  10
#define NH_DRIVER_UP  (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
#define NH_FEATURE(b) (1ULL << (b))

struct net_harness {
	uint8_t *ram; /* NH_RAM bytes, guard pages on both sides */
	struct guest_mem mem;
	struct virtio_net net;
	int dev_fd; /* the device's end of the backend */
	int peer;   /* the host's end */
	/* Times the worker called epoll_wait (atomic): it does so only while
	 * activated, so a stopped device leaves this alone. */
	unsigned long epoll_waits;
};

extern struct net_harness nh;

/* Makes the device, its worker and the backend, on the first call only. */
void nh_start(void);

/* Returns once the worker (if activated) has done everything the steps so
 * far gave it to do. Needs --wrap=epoll_wait. */
void nh_settle(void);

/* BAR 0 accesses, as a vCPU's MMIO exit delivers them. */
void nh_bar(uint64_t off, void *data, uint32_t len, bool write);
void nh_bar_w(uint64_t off, uint64_t v, uint32_t len);
uint8_t nh_status(void);

/* §3.1.1 steps 2-6: ACKNOWLEDGE, DRIVER, the features, FEATURES_OK. */
void nh_negotiate(uint64_t features);
/* Sets up and enables queue q (addresses written 8 bytes at a time, as the
 * two halves a 64-bit write becomes). */
void nh_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used);
/* Adds DRIVER_OK to the status. */
void nh_driver_ok(void);

/* The queue's rings in guest RAM as the device sees them; NULL if off. */
struct virtq *nh_live_queue(unsigned q);

/* Takes the frames the device sent; each must start with a whole header
 * asking only for offloads the device offers. */
void nh_drain_backend(void);

/* Resets the device (the worker is stopped when that returns: checked),
 * empties the backend both ways and puts back what a reset leaves: config
 * space, the MSI-X table, the stats. */
void nh_restore(void);

#endif
