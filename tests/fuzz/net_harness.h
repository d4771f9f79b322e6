/*
 * What the virtio-net fuzz targets (fuzz_virtio_net_tx, fuzz_virtio_net_rx,
 * fuzz_virtio_pci_race) share: the real device (virtio/virtio_net.c, its
 * engine and its worker, over the virtio/virtio_pci*.c transport and
 * virtio/virtqueue.c),
 * guest RAM between guard pages (an access past either end is a SEGV that
 * ASan reports), and a datagram socketpair as the backend: one datagram
 * per frame, header first, as with a TAP.
 *
 * The worker runs concurrently with the vCPU threads in a real VM. The tx
 * and rx targets run it without a thread instead (virtio_worker_thread's
 * manual mode), so that an input replays the same way every time: after
 * each step that may give it work, nh_settle() runs the worker's turns
 * (virtio_worker_turn) until it has nothing left to do. A worker still busy
 * after 100,000 turns is a livelock, reported as a crash. The race target
 * keeps the real thread and does not wait between its steps.
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
};

extern struct net_harness nh;

/* Makes the device, its worker (threaded: a real thread; else manual) and
 * the backend, on the first call only. */
void nh_start(bool threaded);

/* A manual worker (if activated) does everything the steps so far gave it
 * to do; nothing for a threaded one. */
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
