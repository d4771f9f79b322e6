/*
 * The modern virtio-over-PCI transport (virtio 1.2 §4.1): one PCI function
 * whose memory BAR holds the common configuration, ISR, device-specific
 * configuration and notification areas, each announced by a vendor-specific
 * capability, plus the MSI-X table. The device type (net, ...) plugs in
 * through virtio_device_ops and only sees features, its config bytes and its
 * queues.
 *
 * BAR 0 layout, one 4 KiB page per structure; each page is a region of the
 * BAR (devices/pci.h), so a named range on the MMIO bus of its own:
 *   0x0000 common configuration (struct virtio_pci_common_cfg)
 *   0x1000 ISR status
 *   0x2000 device-specific configuration
 *   0x3000 notifications: queue n at 0x3000 + 4 * n
 *   0x4000 MSI-X table, 0x5000 MSI-X PBA
 *   0x6000-0x7fff nothing: accesses there are unclaimed
 */
#ifndef MINIVMM_VIRTIO_PCI_H
#define MINIVMM_VIRTIO_PCI_H

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "virtio/virtqueue.h"
#include "vmm/base/irq_routing.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + virtio device id (§4.1.2.1) */
#define VIRTIO_PCI_MAX_QUEUES  8
#define VIRTIO_PCI_BAR_SIZE    0x8000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_OFF    0x4000
#define VIRTIO_PCI_PBA_OFF     0x5000
#define VIRTIO_PCI_REGION_LEN  0x1000
#define VIRTIO_PCI_REGIONS     6

struct virtio_device_ops {
	uint32_t device_id; /* VIRTIO_ID_NET, ... */
	uint32_t pci_class; /* e.g. 0x020000 for a network controller */
	uint64_t features;  /* offered; VIRTIO_F_VERSION_1 is added by the transport */
	uint16_t num_queues;
	uint16_t queue_max; /* largest queue size offered, a power of two */
	uint32_t config_len;
	void (*config_read)(void *ctx, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(void *ctx, uint32_t off, const uint8_t *data, uint32_t len);
	/* DRIVER_OK: the queues are set up; the device may start. Non-zero
	 * return puts the device in DEVICE_NEEDS_RESET. */
	int (*activate)(void *ctx);
	/* Status written to 0: stop touching the queues before returning. */
	void (*reset)(void *ctx);
};

struct virtio_pci_queue {
	uint16_t size; /* queue_max after reset (§4.1.4.3); 0 if the driver says so */
	uint16_t msix_vector;
	bool enabled;
	uint64_t desc, avail, used;
	struct virtq vq; /* valid while enabled */
	/* The driver's kicks for this queue: an eventfd that KVM signals
	 * itself (KVM_IOEVENTFD) from DRIVER_OK until reset, and that a kick
	 * arriving as an MMIO exit is forwarded to. The device only ever
	 * waits on this fd. */
	int kick_fd;
	uint64_t ioeventfd_gpa; /* where the ioeventfd is registered, 0: not */
	/* Atomic: what virtio_pci_notify_queue() writes, the eventfd of the
	 * queue's MSI-X vector (virtio_pci_follow_vectors()), or -1 (INTx, or
	 * no vector). */
	int irq_fd;
};

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	pthread_mutex_t lock;
	const struct virtio_device_ops *ops;
	void *ctx;
	const struct guest_mem *mem;
	struct irq_routing *routing; /* NULL: no KVM (unit tests) */
	int vm_fd;		     /* -1: no KVM (unit tests) */
	uint32_t ioeventfd_len;	     /* 0: any access width (KVM_CAP_IOEVENTFD_ANY_LENGTH) */
	uint8_t cfg_cap;	     /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
	unsigned complaints;	     /* atomic: NEEDS_RESET lines said (virtio_pci_common.c) */

	uint64_t device_features;
	uint64_t driver_features;
	uint32_t dfselect, gfselect;
	uint8_t status;
	uint8_t config_generation;
	uint16_t msix_config;
	uint16_t queue_select;
	uint8_t isr;
	struct virtio_pci_queue queues[VIRTIO_PCI_MAX_QUEUES];
	struct {
		int gsi; /* -1 until the vector is first programmed */
		/* Its irqfd while unmasked (devices/msix.c). Made at init, so that the threads a
		 * guest drives never create or close a descriptor, and their seccomp allowlists can
		 * name every one they write to (vmm/base/seccomp.h). */
		int fd;
	} vectors[VIRTIO_PCI_MAX_QUEUES + 1];
	/* "virtio-net mvgtap0 common", ...: the BAR regions' names. */
	char region_names[VIRTIO_PCI_REGIONS][64];
	uint64_t interrupts;	  /* queue vectors' eventfds written, and INTx assertions */
	uint64_t intx_interrupts; /* of which INTx (the guest left MSI-X off) */
};

/* The KVM_IOEVENTFD length for a doorbell on vm_fd: 0 (any access width)
 * where KVM allows it, else 2, the width of virtio-pci's notify write. */
uint32_t virtio_pci_doorbell_len(int vm_fd);

int virtio_pci_init(struct virtio_pci *vp, const char *name, const struct virtio_device_ops *ops,
		    void *ctx, const struct guest_mem *mem, struct irq_routing *routing, int vm_fd,
		    struct errbuf *e);
void virtio_pci_destroy(struct virtio_pci *vp);

/* Names the BAR regions "<who> common", "<who> isr", ... (init names them
 * after the device's name). Before the device is put on the bus. */
void virtio_pci_label(struct virtio_pci *vp, const char *who);

/* An access at off in BAR 0, handed to the region holding it: what the
 * VIRTIO_PCI_CAP_PCI_CFG window does, and what tests drive. Reads outside
 * every region return zeros. */
void virtio_pci_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* The device used buffers on queue q: interrupt the driver (MSI-X vector of
 * the queue, or the ISR bit). */
void virtio_pci_notify_queue(struct virtio_pci *vp, uint16_t q);

/* The driver changed what raises a queue's interrupt (MSI-X on or off, a
 * queue's vector): each queue's irq_fd follows. vCPU threads, under the
 * PCI host's serialisation of config and BAR writes. */
void virtio_pci_follow_vectors(struct virtio_pci *vp);

/* Something in the device config changed (e.g. link status): §4.1.4.3. */
void virtio_pci_notify_config(struct virtio_pci *vp);

/* The device found the driver's rings unusable (§2.1.2). Sets
 * DEVICE_NEEDS_RESET, notifies the driver, and says once on stderr why:
 * queue q's fault (why may be NULL: no reason known). */
void virtio_pci_needs_reset(struct virtio_pci *vp, int q, const struct virtq_fault *why);

/* Interrupts the device raised, for --stats: MSI-X messages (a queue's
 * straight to its vector's eventfd, the rest through msix.c) and INTx
 * assertions. */
uint64_t virtio_pci_interrupts(const struct virtio_pci *vp);

bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit);

/* The eventfd that becomes readable when the driver kicks queue q. */
/* The eventfds of the device's queues (kicks) and MSI-X vectors, which
 * vCPU threads and the device's worker write and read: into fds[], at most
 * max; returns how many. */
int virtio_pci_eventfds(const struct virtio_pci *vp, int *fds, int max);

static inline int virtio_pci_kick_fd(const struct virtio_pci *vp, uint16_t q)
{
	return vp->queues[q].kick_fd;
}

#endif
