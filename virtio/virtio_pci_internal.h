/*
 * What the files of the virtio-pci transport (virtio 1.2 §4.1) share among
 * themselves, and nothing outside virtio/virtio_pci*.c includes:
 *
 *   virtio_pci.c          the device's life: init, eventfds, teardown
 *   virtio_pci_bar.c      BAR 0's regions and the capabilities announcing
 *                         them (§4.1.4), the PCI_CFG window (§4.1.4.9)
 *   virtio_pci_common.c   the common configuration (§4.1.4.3) and the
 *                         status machine behind it (§2.1, §3.1.1)
 *   virtio_pci_doorbell.c driver -> device: kicks, ioeventfds (§4.1.4.4)
 *   virtio_pci_irq.c      device -> driver: ISR, INTx, MSI-X (§4.1.4.5,
 *                         §4.1.5.3, §4.1.5.4)
 */
#ifndef MINIVMM_VIRTIO_PCI_INTERNAL_H
#define MINIVMM_VIRTIO_PCI_INTERNAL_H

#include "virtio/virtio_pci.h"

#define COMMON_CFG_LEN sizeof(struct virtio_pci_common_cfg)

/* virtio_pci_bar.c: BAR 0 with its regions, the vendor capabilities and the
 * PCI_CFG window, on a device pci_device_init() has made. */
int virtio_pci_add_bar(struct virtio_pci *vp, const char *name, struct errbuf *e);

/* virtio_pci_common.c */
void virtio_pci_common_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			      bool is_write);
void virtio_pci_needs_reset_silently(struct virtio_pci *vp, uint16_t vec, const char *what);

/* virtio_pci_doorbell.c */
void virtio_pci_notify_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			      bool is_write);
void virtio_pci_register_kicks(struct virtio_pci *vp);
void virtio_pci_unregister_kicks(struct virtio_pci *vp);

/* virtio_pci_irq.c: the MSI-X capability and table, one vector per queue
 * plus one for configuration changes. */
int virtio_pci_msix_init(struct virtio_pci *vp, struct errbuf *e);
void virtio_pci_isr_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

#endif
