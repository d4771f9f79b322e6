/* Driver -> device notifications (virtio 1.2 §4.1.4.4, §4.1.5.2): each
 * queue's doorbell in the notify region, registered with KVM as an
 * ioeventfd from DRIVER_OK until reset, and the kicks that still arrive as
 * MMIO exits, forwarded to the same eventfd. */
#include "virtio/virtio_pci.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "virtio/virtio_pci_internal.h"

/* ---- doorbells: KVM_IOEVENTFD on each queue's notify address ------------- */

/* Linux writes the 16-bit queue index (§4.1.5.2); other drivers may write
 * another width, which without ANY_LENGTH would still work, just through an
 * MMIO exit. */
uint32_t virtio_pci_doorbell_len(int vm_fd)
{
	if (vm_fd >= 0 && ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0)
		return 0;
	return 2;
}

static int ioeventfd(struct virtio_pci *vp, struct virtio_pci_queue *q, uint64_t gpa, bool assign)
{
	struct kvm_ioeventfd io = {
	    .addr = gpa,
	    .len = vp->ioeventfd_len,
	    .fd = q->kick_fd,
	    .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};
	return ioctl(vp->vm_fd, KVM_IOEVENTFD, &io);
}

/* From DRIVER_OK on, a kick is a write KVM completes in the kernel by
 * signalling kick_fd: no exit to minivmm, the device's worker wakes up. A
 * queue whose registration fails still works, through MMIO exits. The BAR is
 * where Linux leaves it (firmware's placement); should a driver move it while
 * running, kicks at the new address arrive as exits and are forwarded too. */
void virtio_pci_register_kicks(struct virtio_pci *vp)
{
	uint64_t bar = pci_bar_address(&vp->pci, 0);
	if (vp->vm_fd < 0 || bar == 0)
		return;
	for (uint16_t i = 0; i < vp->ops->num_queues; i++) {
		struct virtio_pci_queue *q = &vp->queues[i];
		uint64_t gpa = bar + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)i * VIRTIO_PCI_NOTIFY_MULT;
		if (q->enabled && !q->ioeventfd_gpa && ioeventfd(vp, q, gpa, true) == 0)
			q->ioeventfd_gpa = gpa;
	}
}

void virtio_pci_unregister_kicks(struct virtio_pci *vp)
{
	for (int i = 0; i < VIRTIO_PCI_MAX_QUEUES; i++) {
		struct virtio_pci_queue *q = &vp->queues[i];
		if (q->ioeventfd_gpa)
			ioeventfd(vp, q, q->ioeventfd_gpa, false);
		q->ioeventfd_gpa = 0;
		eventfd_t stale;
		if (q->kick_fd >= 0)
			eventfd_read(q->kick_fd, &stale); /* EAGAIN: no kick was pending */
	}
}

void virtio_pci_notify_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			      bool is_write)
{
	struct virtio_pci *vp = opaque;
	/* Kicks normally arrive through an ioeventfd and never get here: only
	 * before DRIVER_OK, in a width KVM was not told about, or after the
	 * driver moved the BAR (§4.1.4.4: queue n at n * multiplier). */
	uint64_t q = off / VIRTIO_PCI_NOTIFY_MULT;
	if (is_write && q < vp->ops->num_queues && vp->queues[q].enabled) {
		/* EAGAIN: the counter is full, so a kick is pending. */
		eventfd_write(vp->queues[q].kick_fd, 1);
	} else if (!is_write) {
		memset(data, 0, len);
	}
}
