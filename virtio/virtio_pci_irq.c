/* Device -> driver notifications (virtio 1.2 §4.1.4.5, §4.1.5.3, §4.1.5.4):
 * with MSI-X on, each vector the driver programs becomes a KVM MSI route,
 * and the vector's eventfd its irqfd while unmasked, which the device's
 * worker writes directly; otherwise the ISR bits and INTx, which reading
 * ISR clears. */
#include "virtio/virtio_pci.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "virtio/virtio_pci_internal.h"

#define ISR_QUEUE 0x1 /* §4.1.4.5; the UAPI header names only the config bit */

/* ---- interrupts: MSI-X vector -> KVM MSI route -> irqfd ----------------- */

/* The guest programmed vector vec's message: its GSI (made on first use)
 * routes to it from now on, bound irqfd or not. */
static void route_vector(void *ctx, uint16_t vec, uint64_t address, uint32_t data)
{
	struct virtio_pci *vp = ctx;
	if (!vp->routing || vec > VIRTIO_PCI_MAX_QUEUES)
		return;
	struct errbuf e;
	if (vp->vectors[vec].gsi < 0) {
		int gsi = irq_routing_add_msi(vp->routing, &e);
		if (gsi < 0) {
			virtio_pci_needs_reset_silently(vp, vec, "set up an interrupt for");
			return;
		}
		vp->vectors[vec].gsi = gsi;
	}
	if (irq_routing_set_msi(vp->routing, (uint32_t)vp->vectors[vec].gsi, address, data, &e))
		virtio_pci_needs_reset_silently(vp, vec, "route");
}

/* msix.c binds a vector's eventfd while the vector is deliverable and
 * unbinds it while masked (then a write waits in it, pending). KVM's
 * deassign returns once the irqfd is gone, so the same eventfd can be bound
 * again at once (KVM_IRQFD, Documentation/virt/kvm/api.rst). */
static int bind_vector(void *ctx, uint16_t vec, bool on)
{
	struct virtio_pci *vp = ctx;
	if (vp->vm_fd < 0 || vec > VIRTIO_PCI_MAX_QUEUES || vp->vectors[vec].gsi < 0)
		return -1;
	struct kvm_irqfd irqfd = {.fd = (uint32_t)vp->vectors[vec].fd,
				  .gsi = (uint32_t)vp->vectors[vec].gsi,
				  .flags = on ? 0 : KVM_IRQFD_FLAG_DEASSIGN};
	if (ioctl(vp->vm_fd, KVM_IRQFD, &irqfd) == 0)
		return 0;
	if (on)
		virtio_pci_needs_reset_silently(vp, vec, "set up an interrupt for");
	return -1;
}

int virtio_pci_msix_init(struct virtio_pci *vp, struct errbuf *e)
{
	/* One vector per queue plus one for configuration changes, each with
	 * the eventfd made at init: no vector goes through msix.c's fire(). */
	const struct msix_ops mops = {route_vector, bind_vector, NULL, vp};
	int fds[VIRTIO_PCI_MAX_QUEUES + 1];
	for (int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++)
		fds[i] = vp->vectors[i].fd;
	return msix_init(&vp->msix, &vp->pci, (uint16_t)(vp->ops->num_queues + 1), 0,
			 VIRTIO_PCI_MSIX_OFF, VIRTIO_PCI_PBA_OFF, fds, &mops, e);
}

/* A worker that read a queue's irq_fd just before the guest turned MSI-X
 * off writes an eventfd nobody takes: that interrupt is lost to INTx, and
 * comes as a spurious message if MSI-X is turned on again. Drivers turn
 * MSI-X off only with the device reset or not yet live (Linux: on remove,
 * or falling back to INTx during probe), so no live queue waits on it. */
void virtio_pci_follow_vectors(struct virtio_pci *vp)
{
	for (int q = 0; q < vp->ops->num_queues; q++) {
		uint16_t vec = __atomic_load_n(&vp->queues[q].msix_vector, __ATOMIC_RELAXED);
		__atomic_store_n(&vp->queues[q].irq_fd, msix_vector_fd(&vp->msix, vec),
				 __ATOMIC_RELEASE);
	}
}

uint64_t virtio_pci_interrupts(const struct virtio_pci *vp)
{
	return __atomic_load_n(&vp->interrupts, __ATOMIC_RELAXED) +
	       __atomic_load_n(&vp->msix.sent, __ATOMIC_RELAXED);
}

/* ---- device -> driver notifications (§4.1.5.3, §4.1.5.4) ---------------- */

/* These take no transport lock: a device worker calls them while a reset may
 * be waiting, under that lock, for the worker to stop. */
/* With MSI-X on, the event's vector (none: no interrupt, §4.1.5.1.2);
 * otherwise the ISR bit and INTA#, which stays asserted until the driver
 * reads ISR (§4.1.5.3, §4.1.5.4). */
static void interrupt(struct virtio_pci *vp, uint8_t isr_bit, uint16_t vec)
{
	__atomic_or_fetch(&vp->isr, isr_bit, __ATOMIC_SEQ_CST);
	if (msix_notify(&vp->msix, vec))
		return;
	__atomic_add_fetch(&vp->interrupts, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vp->intx_interrupts, 1, __ATOMIC_RELAXED);
	pci_set_intx(&vp->pci, 1);
}

void virtio_pci_notify_queue(struct virtio_pci *vp, uint16_t q)
{
	/* With MSI-X on, the queue's vector's eventfd: one write, no lock. KVM
	 * sends the message itself, or, while the vector is masked, the write
	 * waits in the eventfd as its pending bit (devices/msix.c). ISR is
	 * left alone: §4.1.4.5.1 asks for its queue bit only without MSI-X. */
	int fd = __atomic_load_n(&vp->queues[q].irq_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0) {
		__atomic_add_fetch(&vp->interrupts, 1, __ATOMIC_RELAXED);
		eventfd_write(fd, 1);
		return;
	}
	interrupt(vp, ISR_QUEUE, __atomic_load_n(&vp->queues[q].msix_vector, __ATOMIC_RELAXED));
}

void virtio_pci_notify_config(struct virtio_pci *vp)
{
	__atomic_add_fetch(&vp->config_generation, 1, __ATOMIC_SEQ_CST);
	interrupt(vp, VIRTIO_PCI_ISR_CONFIG, __atomic_load_n(&vp->msix_config, __ATOMIC_RELAXED));
}

/* ---- ISR status (§4.1.4.5) ---------------------------------------------- */

void virtio_pci_isr_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;
	if (is_write)
		return;
	memset(data, 0, len);
	if (off != 0 || len != 1)
		return;
	pthread_mutex_lock(&vp->lock);
	/* §4.1.4.5.1: reading ISR clears it and deasserts INTx. A notification
	 * landing between the two re-asserts. */
	data[0] = __atomic_exchange_n(&vp->isr, 0, __ATOMIC_SEQ_CST);
	pci_set_intx(&vp->pci, 0);
	if (__atomic_load_n(&vp->isr, __ATOMIC_SEQ_CST))
		pci_set_intx(&vp->pci, 1);
	pthread_mutex_unlock(&vp->lock);
}
