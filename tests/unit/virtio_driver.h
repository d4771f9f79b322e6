/* What the unit tests that play a virtio-pci guest driver share. */
#ifndef MINIVMM_TESTS_VIRTIO_DRIVER_H
#define MINIVMM_TESTS_VIRTIO_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio_pci.h"

#define VIRTIO_DRIVER_COMMON(f) (VIRTIO_PCI_COMMON_OFF + offsetof(struct virtio_pci_common_cfg, f))

static inline void virtio_driver_common_write(struct virtio_pci *vp, uint32_t off, uint32_t v,
					      uint32_t len)
{
	virtio_pci_bar_io(vp, off, (uint8_t *)&v, len, true);
}

static inline uint8_t virtio_driver_status(struct virtio_pci *vp)
{
	uint8_t s = 0;
	virtio_pci_bar_io(vp, VIRTIO_DRIVER_COMMON(device_status), &s, 1, false);
	return s;
}

/*
 * §3.1.1 steps 2-6 on a device the caller has just reset: ACKNOWLEDGE,
 * DRIVER, the driver's features, FEATURES_OK. Returns the device status
 * after, which keeps FEATURES_OK only if the device took the features.
 */
static inline uint8_t virtio_driver_negotiate(struct virtio_pci *vp, uint64_t features)
{
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(device_status),
				   VIRTIO_CONFIG_S_ACKNOWLEDGE, 1);
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(device_status),
				   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(guest_feature_select), 0, 4);
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(guest_feature), (uint32_t)features, 4);
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(guest_feature_select), 1, 4);
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(guest_feature),
				   (uint32_t)(features >> 32), 4);
	virtio_driver_common_write(vp, VIRTIO_DRIVER_COMMON(device_status),
				   virtio_driver_status(vp) | VIRTIO_CONFIG_S_FEATURES_OK, 1);
	return virtio_driver_status(vp);
}

#endif
