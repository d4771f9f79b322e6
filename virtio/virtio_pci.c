/* The virtio-pci device's life (virtio 1.2 §4.1.2): the state and the
 * eventfds made at init, its PCI identity, and teardown. What the driver
 * sees of it is in the other virtio_pci_*.c files (virtio_pci_internal.h
 * lists them). */
#include "virtio/virtio_pci.h"

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "virtio/virtio_pci_internal.h"

int virtio_pci_init(struct virtio_pci *vp, const char *name, const struct virtio_device_ops *ops,
		    void *ctx, const struct guest_mem *mem, struct irq_routing *routing, int vm_fd,
		    struct errbuf *e)
{
	memset(vp, 0, sizeof(*vp));
	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_PCI_MAX_QUEUES ||
	    ops->config_len > VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVICE_OFF)
		return errorf(e, "%s: unsupported virtio device shape", name);
	pthread_mutex_init(&vp->lock, NULL);
	vp->ops = ops;
	vp->ctx = ctx;
	vp->mem = mem;
	vp->routing = routing;
	vp->vm_fd = vm_fd;
	vp->device_features = ops->features | (1ULL << VIRTIO_F_VERSION_1);
	vp->msix_config = MSIX_NO_VECTOR;
	for (int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++)
		vp->vectors[i].gsi = vp->vectors[i].fd = -1;
	for (int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++) {
		vp->queues[q].msix_vector = MSIX_NO_VECTOR;
		vp->queues[q].kick_fd = -1;
		vp->queues[q].irq_fd = -1;
	}
	for (int q = 0; q < ops->num_queues; q++) {
		/* §4.1.4.3: the maximum until the driver writes its own. */
		vp->queues[q].size = ops->queue_max;
		vp->queues[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->queues[q].kick_fd < 0)
			return errorf_errno(e, "%s: eventfd", name);
	}
	/* One vector per queue and one for configuration changes (virtio_pci_irq.c). */
	for (int i = 0; i <= ops->num_queues; i++) {
		vp->vectors[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->vectors[i].fd < 0)
			return errorf_errno(e, "%s: eventfd", name);
	}
	vp->ioeventfd_len = virtio_pci_doorbell_len(vm_fd);

	/* §4.1.2.1: modern devices are 0x1040 + device id, revision 1 or more,
	 * subsystem ids free (we repeat the device id). */
	pci_device_init(&vp->pci, name, VIRTIO_PCI_VENDOR,
			(uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id), ops->pci_class, 1,
			VIRTIO_PCI_VENDOR, (uint16_t)ops->device_id);
	vp->pci.opaque = vp;
	if (virtio_pci_add_bar(vp, name, e))
		return -1;
	return virtio_pci_msix_init(vp, e);
}

int virtio_pci_eventfds(const struct virtio_pci *vp, int *fds, int max)
{
	int n = 0;
	for (int q = 0; q < VIRTIO_PCI_MAX_QUEUES && n < max; q++)
		if (vp->queues[q].kick_fd >= 0)
			fds[n++] = vp->queues[q].kick_fd;
	for (int i = 0; i <= VIRTIO_PCI_MAX_QUEUES && n < max; i++)
		if (vp->vectors[i].fd >= 0)
			fds[n++] = vp->vectors[i].fd;
	return n;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp->ops)
		return;
	virtio_pci_unregister_kicks(vp);
	for (int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		if (vp->queues[q].kick_fd >= 0)
			close(vp->queues[q].kick_fd);
	for (int i = 0; i <= VIRTIO_PCI_MAX_QUEUES; i++)
		if (vp->vectors[i].fd >= 0)
			close(vp->vectors[i].fd); /* also unbinds its irqfd */
	msix_destroy(&vp->msix);
	pci_device_destroy(&vp->pci);
	pthread_mutex_destroy(&vp->lock);
}
