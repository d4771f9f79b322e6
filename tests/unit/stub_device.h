/*
 * A virtio device with nothing behind it, for the tests of the transport and
 * the worker: a two-queue network device (EVENT_IDX offered, 256 entries a
 * queue) with 8 bytes of device configuration, counting what the transport
 * asks of it. Its context is a struct stub_device.
 */
#ifndef MINIVMM_TESTS_STUB_DEVICE_H
#define MINIVMM_TESTS_STUB_DEVICE_H

#include <stdint.h>

#include "virtio/virtio_pci.h"

struct stub_device {
	uint8_t cfg[8];
	int activated, resets;
	int activate_result; /* what activate answers */
};

extern const struct virtio_device_ops stub_device_ops;

#endif
