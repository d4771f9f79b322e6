#include "virtio/virtio_pci.h"

#include <linux/kvm.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define PCI_CAP_ID_VNDR 0x09
#define COMMON_CFG_LEN	sizeof(struct virtio_pci_common_cfg)
#define ISR_QUEUE	0x1 /* §4.1.4.5; the UAPI header names only the config bit */

/* ---- reports on stderr ---------------------------------------------------- */

/* One line each time a device enters DEVICE_NEEDS_RESET, saying why. A
 * guest that breaks and resets its device in a loop must not flood the
 * host's log: after COMPLAINTS_MAX lines in the device's life, one more
 * says so and the rest are dropped (the status bit still tells the driver). */
#define COMPLAINTS_MAX 32

static void complain(struct virtio_pci *vp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void complain(struct virtio_pci *vp, const char *fmt, ...)
{
	unsigned n = __atomic_fetch_add(&vp->complaints, 1, __ATOMIC_RELAXED);
	if (n > COMPLAINTS_MAX)
		return;
	char why[200], line[300];
	if (n == COMPLAINTS_MAX) {
		snprintf(line, sizeof(line),
			 "minivmm: %s: more than %d device errors reported; no further reports\n",
			 vp->pci.name, COMPLAINTS_MAX);
	} else {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		snprintf(line, sizeof(line),
			 "minivmm: %s: DEVICE_NEEDS_RESET: %s; the device waits for the driver to "
			 "reset it\n",
			 vp->pci.name, why);
	}
	fputs(line, stderr); /* one write: lines from two threads do not mix */
}

/* ---- interrupts: MSI-X vector -> KVM MSI route -> irqfd ----------------- */

/* route() and fire() run under the MSI-X lock, so a failure there cannot
 * send the configuration interrupt virtio_pci_needs_reset() would (that
 * takes the same lock): the driver finds DEVICE_NEEDS_RESET, the new
 * config generation and the ISR bit when it next looks. These failures are
 * the host's (no eventfd, no GSI), never the guest's doing. */
static void needs_reset_silently(struct virtio_pci *vp, uint16_t vec, const char *what)
{
	uint8_t was = __atomic_fetch_or(&vp->status, VIRTIO_CONFIG_S_NEEDS_RESET, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&vp->config_generation, 1, __ATOMIC_SEQ_CST);
	__atomic_or_fetch(&vp->isr, VIRTIO_PCI_ISR_CONFIG, __ATOMIC_SEQ_CST);
	if (!(was & VIRTIO_CONFIG_S_NEEDS_RESET))
		complain(vp, "MSI-X vector %u: the host could not %s it", vec, what);
}

static int route_vector(void *ctx, uint16_t vec, uint64_t address, uint32_t data)
{
	struct virtio_pci *vp = ctx;
	if (!vp->routing || vec > VIRTIO_PCI_MAX_QUEUES)
		return -1;
	struct errbuf e;
	if (vp->vectors[vec].gsi < 0) {
		int gsi = irq_routing_add_msi(vp->routing, &e);
		int fd = vp->vectors[vec].fd;
		struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = (uint32_t)gsi};
		if (gsi < 0 || ioctl(vp->vm_fd, KVM_IRQFD, &irqfd) < 0) {
			needs_reset_silently(vp, vec, "set up an interrupt for");
			return -1;
		}
		vp->vectors[vec].gsi = gsi;
		vp->vectors[vec].eventfd = fd;
	}
	if (irq_routing_set_msi(vp->routing, (uint32_t)vp->vectors[vec].gsi, address, data, &e))
		needs_reset_silently(vp, vec, "route");
	/* msix.c writes it from now on: the irqfd stays bound to the GSI. */
	return vp->vectors[vec].eventfd;
}

/* A vector route_vector() gave no irqfd (no KVM, or its set-up failed):
 * there is nothing to write, so it is only counted. A routed vector never
 * gets here: msix.c writes its irqfd itself. */
static void fire_vector(void *ctx, uint16_t vec)
{
	struct virtio_pci *vp = ctx;
	(void)vec;
	__atomic_add_fetch(&vp->interrupts, 1, __ATOMIC_RELAXED);
}

/* ---- VIRTIO_PCI_CAP_PCI_CFG: BAR 0 through config space (§4.1.4.9) ------- */

#define CFG_CAP_BAR    4 /* offsets inside struct virtio_pci_cfg_cap */
#define CFG_CAP_OFFSET 8
#define CFG_CAP_LENGTH 12
#define CFG_CAP_DATA   16

static uint32_t cfg_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The BAR 0 access the driver set up in the capability, if it is one we can
 * do: length 1, 2 or 4 inside the BAR. Anything else reads and writes
 * nothing (the spec leaves it undefined). */
static bool cfg_window(const struct virtio_pci *vp, uint32_t *off, uint32_t *len)
{
	const uint8_t *c = vp->pci.cfg + vp->cfg_cap;
	*off = cfg_get32(c + CFG_CAP_OFFSET);
	*len = cfg_get32(c + CFG_CAP_LENGTH);
	return c[CFG_CAP_BAR] == 0 && (*len == 1 || *len == 2 || *len == 4) &&
	       *off <= VIRTIO_PCI_BAR_SIZE - *len;
}

static bool touches_cfg_data(const struct virtio_pci *vp, uint32_t off, uint32_t len)
{
	uint32_t data = vp->cfg_cap + CFG_CAP_DATA;
	return vp->cfg_cap && off < data + 4 && off + len > data;
}

static void config_written(struct pci_device *d, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = d->opaque;
	msix_config_written(&vp->msix, off, len);
	uint32_t at, n;
	if (touches_cfg_data(vp, off, len) && cfg_window(vp, &at, &n))
		virtio_pci_bar_io(vp, at, d->cfg + vp->cfg_cap + CFG_CAP_DATA, n, true);
}

static void config_reading(struct pci_device *d, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = d->opaque;
	uint32_t at, n;
	if (touches_cfg_data(vp, off, len) && cfg_window(vp, &at, &n))
		virtio_pci_bar_io(vp, at, d->cfg + vp->cfg_cap + CFG_CAP_DATA, n, false);
}

/* ---- capabilities (§4.1.4) ---------------------------------------------- */

static int add_vendor_cap(struct virtio_pci *vp, uint8_t cfg_type, uint32_t offset, uint32_t length,
			  const uint32_t *notify_mult, struct errbuf *e)
{
	/* struct virtio_pci_cap without cap_vndr and cap_next, then for the
	 * notify capability its notify_off_multiplier. */
	uint8_t body[18] = {0};
	uint8_t n = notify_mult ? 18 : 14;
	body[0] = (uint8_t)(n + 2); /* cap_len counts the id and next bytes */
	body[1] = cfg_type;
	body[2] = 0; /* bar */
	memcpy(body + 6, &offset, 4);
	memcpy(body + 10, &length, 4);
	if (notify_mult)
		memcpy(body + 14, notify_mult, 4);
	if (!pci_add_capability(&vp->pci, PCI_CAP_ID_VNDR, body, n, NULL))
		return errorf(e, "%s: no room for virtio capabilities", vp->pci.name);
	return 0;
}

/* Linux writes the 16-bit queue index (§4.1.5.2); other drivers may write
 * another width, which without ANY_LENGTH would still work, just through an
 * MMIO exit. */
uint32_t virtio_pci_doorbell_len(int vm_fd)
{
	if (vm_fd >= 0 && ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0)
		return 0;
	return 2;
}

static int add_regions(struct virtio_pci *vp, struct errbuf *e);

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
		vp->vectors[i].gsi = vp->vectors[i].eventfd = vp->vectors[i].fd = -1;
	for (int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++) {
		vp->queues[q].msix_vector = MSIX_NO_VECTOR;
		vp->queues[q].kick_fd = -1;
	}
	for (int q = 0; q < ops->num_queues; q++) {
		/* §4.1.4.3: the maximum until the driver writes its own. */
		vp->queues[q].size = ops->queue_max;
		vp->queues[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vp->queues[q].kick_fd < 0)
			return errorf_errno(e, "%s: eventfd", name);
	}
	/* One vector per queue and one for configuration changes (below). */
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
	vp->pci.config_written = config_written;
	vp->pci.config_reading = config_reading;
	virtio_pci_label(vp, name);
	if (pci_add_mem_bar(&vp->pci, 0, VIRTIO_PCI_BAR_SIZE, false, NULL, vp, name, e) ||
	    add_regions(vp, e))
		return -1;
	const uint32_t mult = VIRTIO_PCI_NOTIFY_MULT;
	if (add_vendor_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, COMMON_CFG_LEN,
			   NULL, e) ||
	    add_vendor_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, NULL, e) ||
	    add_vendor_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
			   ops->config_len ? ops->config_len : 1, NULL, e) ||
	    add_vendor_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
			   ops->num_queues * VIRTIO_PCI_NOTIFY_MULT, &mult, e))
		return -1;
	/* §4.1.4.9: the driver may reach BAR 0 through config space alone;
	 * bar, offset, length and the data window are its to write. */
	uint8_t cfg_body[18] = {18 + 2, VIRTIO_PCI_CAP_PCI_CFG};
	uint8_t cfg_mask[18] = {0};
	cfg_mask[2] = 0xff;
	memset(cfg_mask + 6, 0xff, 12);
	vp->cfg_cap = pci_add_capability(&vp->pci, PCI_CAP_ID_VNDR, cfg_body, 18, cfg_mask);
	if (!vp->cfg_cap)
		return errorf(e, "%s: no room for virtio capabilities", name);
	/* One vector per queue plus one for configuration changes. */
	const struct msix_ops mops = {route_vector, fire_vector, vp};
	return msix_init(&vp->msix, &vp->pci, (uint16_t)(ops->num_queues + 1), 0,
			 VIRTIO_PCI_MSIX_OFF, VIRTIO_PCI_PBA_OFF, &mops, e);
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

static void unregister_kicks(struct virtio_pci *vp);

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp->ops)
		return;
	unregister_kicks(vp);
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

uint64_t virtio_pci_interrupts(const struct virtio_pci *vp)
{
	return __atomic_load_n(&vp->interrupts, __ATOMIC_RELAXED) +
	       __atomic_load_n(&vp->msix.sent, __ATOMIC_RELAXED);
}

bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit)
{
	return bit < 64 && (vp->driver_features >> bit) & 1;
}

/* ---- doorbells: KVM_IOEVENTFD on each queue's notify address ------------- */

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
static void register_kicks(struct virtio_pci *vp)
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

static void unregister_kicks(struct virtio_pci *vp)
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

/* ---- the status machine (§2.1, §3.1.1) ---------------------------------- */

/* The status byte is the vCPU thread's, except that a device worker may set
 * DEVICE_NEEDS_RESET at any time (virtio_pci_needs_reset): every access is
 * atomic, and updates keep a NEEDS_RESET set meanwhile. */
static uint8_t status_of(const struct virtio_pci *vp)
{
	return __atomic_load_n(&vp->status, __ATOMIC_SEQ_CST);
}

static void set_status(struct virtio_pci *vp, uint8_t v)
{
	uint8_t old = status_of(vp);
	while (!__atomic_compare_exchange_n(&vp->status, &old,
					    (uint8_t)(v | (old & VIRTIO_CONFIG_S_NEEDS_RESET)),
					    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

/* Returns true if NEEDS_RESET was not set before: the caller says why. */
static bool raise_needs_reset(struct virtio_pci *vp)
{
	uint8_t was = __atomic_fetch_or(&vp->status, VIRTIO_CONFIG_S_NEEDS_RESET, __ATOMIC_SEQ_CST);
	return !(was & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void reset_locked(struct virtio_pci *vp)
{
	if (status_of(vp) & VIRTIO_CONFIG_S_DRIVER_OK)
		vp->ops->reset(vp->ctx);
	/* The worker has stopped: nothing asserts INTx again before ISR is
	 * cleared below, so the line goes down with it. */
	pci_set_intx(&vp->pci, 0);
	unregister_kicks(vp);
	vp->driver_features = 0;
	vp->dfselect = vp->gfselect = 0;
	__atomic_store_n(&vp->status, 0, __ATOMIC_SEQ_CST); /* the worker has stopped */
	vp->isr = 0;
	vp->queue_select = 0;
	vp->msix_config = MSIX_NO_VECTOR;
	for (int q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++)
		vp->queues[q] = (struct virtio_pci_queue){
		    .size = q < vp->ops->num_queues ? vp->ops->queue_max : 0,
		    .msix_vector = MSIX_NO_VECTOR,
		    .kick_fd = vp->queues[q].kick_fd};
}

void virtio_pci_needs_reset(struct virtio_pci *vp, int q, const struct virtq_fault *why)
{
	/* §2.1.2: set DEVICE_NEEDS_RESET and tell the driver through a
	 * configuration change notification, then say why on stderr (slow,
	 * so not between the two). */
	bool fresh = raise_needs_reset(vp);
	virtio_pci_notify_config(vp);
	if (!fresh)
		return;
	char text[160];
	if (why && why->code != VIRTQ_FAULT_NONE)
		complain(vp, "queue %d: %s", q, virtq_fault_text(why, text, sizeof(text)));
	else
		complain(vp, "the device cannot use what the driver put in its queues");
}

static bool features_acceptable(const struct virtio_pci *vp)
{
	return !(vp->driver_features & ~vp->device_features) &&
	       (vp->driver_features & (1ULL << VIRTIO_F_VERSION_1));
}

static void write_status(struct virtio_pci *vp, uint8_t v)
{
	if (v == 0) {
		reset_locked(vp);
		return;
	}
	/* §2.1.1: only a reset (0) clears status bits; the driver MUST NOT
	 * clear one. Keep them if it tries: with DRIVER_OK cleared while the
	 * device runs, reset_locked() would not stop the device (it stops
	 * only a DRIVER_OK one) and wipe the queues under its worker, and a
	 * second DRIVER_OK would activate it twice. With FEATURES_OK cleared,
	 * the features could change under a running device. (Found by
	 * tests/fuzz/fuzz_virtio_net_tx.) */
	v |= status_of(vp) & (uint8_t)~VIRTIO_CONFIG_S_NEEDS_RESET;
	uint8_t added = v & ~status_of(vp);
	/* §3.1.1 step 5: FEATURES_OK sticks only if we accept the features;
	 * the driver reads it back. minivmm is a modern-only device, so
	 * VERSION_1 is required. */
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) && !features_acceptable(vp))
		v &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(v & VIRTIO_CONFIG_S_FEATURES_OK))
		v &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK;
	set_status(vp, v);
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && (v & VIRTIO_CONFIG_S_DRIVER_OK)) {
		/* A driver may have enabled queues before it settled the
		 * features (§3.1.1 has it the other way round): the rings
		 * follow the features as negotiated, now frozen. */
		bool event_idx = virtio_pci_has_feature(vp, VIRTIO_RING_F_EVENT_IDX);
		bool indirect = virtio_pci_has_feature(vp, VIRTIO_RING_F_INDIRECT_DESC);
		int idle = -1;
		for (int i = 0; i < vp->ops->num_queues; i++) {
			vp->queues[i].vq.event_idx = event_idx;
			vp->queues[i].vq.indirect = indirect;
			if (!vp->queues[i].enabled && idle < 0)
				idle = i;
		}
		register_kicks(vp);
		if (vp->ops->activate(vp->ctx)) {
			/* §2.1.2: with DRIVER_OK set, NEEDS_RESET comes with a
			 * configuration change notification. (The transport's
			 * lock, then MSI-X's: nothing takes them the other way
			 * round.) */
			bool fresh = raise_needs_reset(vp);
			virtio_pci_notify_config(vp);
			if (fresh && idle >= 0)
				complain(vp, "DRIVER_OK with queue %d not enabled", idle);
			else if (fresh)
				complain(vp, "DRIVER_OK, but the device could not start");
		}
	}
}

static void enable_queue(struct virtio_pci *vp, struct virtio_pci_queue *q)
{
	unsigned index = (unsigned)(q - vp->queues);
	if (q->enabled)
		return;
	/* §4.1.4.3: size 0 marks a queue that is not available. */
	if (q->size == 0 || q->size > vp->ops->queue_max) {
		if (raise_needs_reset(vp))
			complain(vp, "queue %u: enabled with size %u (the device offers 1 to %u)",
				 index, q->size, vp->ops->queue_max);
		return;
	}
	bool event_idx = virtio_pci_has_feature(vp, VIRTIO_RING_F_EVENT_IDX);
	bool indirect = virtio_pci_has_feature(vp, VIRTIO_RING_F_INDIRECT_DESC);
	struct virtq_fault why;
	if (virtq_init(&q->vq, vp->mem, q->size, q->desc, q->avail, q->used, event_idx, indirect,
		       &why)) {
		/* Rings outside RAM, misaligned, or a bad size: the driver
		 * cannot use this device until it resets it. */
		char text[160];
		if (raise_needs_reset(vp))
			complain(vp, "queue %u: %s", index,
				 virtq_fault_text(&why, text, sizeof(text)));
		return;
	}
	q->enabled = true;
}

/* ---- common configuration ----------------------------------------------- */

static struct virtio_pci_queue *selected(struct virtio_pci *vp)
{
	return vp->queue_select < vp->ops->num_queues ? &vp->queues[vp->queue_select] : NULL;
}

static void common_snapshot(struct virtio_pci *vp, struct virtio_pci_common_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->device_feature_select = vp->dfselect;
	c->device_feature =
	    vp->dfselect < 2 ? (uint32_t)(vp->device_features >> (32 * vp->dfselect)) : 0;
	c->guest_feature_select = vp->gfselect;
	c->guest_feature =
	    vp->gfselect < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->gfselect)) : 0;
	c->msix_config = vp->msix_config;
	c->num_queues = vp->ops->num_queues;
	c->device_status = status_of(vp);
	c->config_generation = __atomic_load_n(&vp->config_generation, __ATOMIC_SEQ_CST);
	c->queue_select = vp->queue_select;
	struct virtio_pci_queue *q = selected(vp);
	if (!q)
		return; /* §4.1.4.3: a queue that does not exist reads size 0 */
	c->queue_size = q->size;
	c->queue_msix_vector = q->msix_vector;
	c->queue_enable = q->enabled;
	c->queue_notify_off = vp->queue_select;
	c->queue_desc_lo = (uint32_t)q->desc;
	c->queue_desc_hi = (uint32_t)(q->desc >> 32);
	c->queue_avail_lo = (uint32_t)q->avail;
	c->queue_avail_hi = (uint32_t)(q->avail >> 32);
	c->queue_used_lo = (uint32_t)q->used;
	c->queue_used_hi = (uint32_t)(q->used >> 32);
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
	*field =
	    high ? (*field & 0xffffffffULL) | (uint64_t)v << 32 : (*field & ~0xffffffffULL) | v;
}

#define FIELD(f) offsetof(struct virtio_pci_common_cfg, f)

/* The ring address a common-config offset in [queue_desc_lo, queue_used_hi]
 * belongs to: three 64-bit fields, each written as two halves. */
static uint64_t *ring_address(struct virtio_pci_queue *q, uint32_t off)
{
	uint64_t *fields[3] = {&q->desc, &q->avail, &q->used};
	return fields[(off - FIELD(queue_desc_lo)) / 8];
}

static uint16_t valid_vector(const struct virtio_pci *vp, uint16_t v)
{
	/* §4.1.5.1.2: a vector the device cannot use reads back NO_VECTOR. */
	return v < vp->msix.nvec ? v : MSIX_NO_VECTOR;
}

static void common_write(struct virtio_pci *vp, uint32_t off, uint32_t v)
{
	struct virtio_pci_queue *q = selected(vp);
	/* Queue fields are frozen once the queue is enabled (§4.1.4.3.2). */
	bool q_writable = q && !q->enabled && !(status_of(vp) & VIRTIO_CONFIG_S_DRIVER_OK);
	switch (off) {
	case FIELD(device_feature_select):
		vp->dfselect = v;
		break;
	case FIELD(guest_feature_select):
		vp->gfselect = v;
		break;
	case FIELD(guest_feature):
		if (vp->gfselect < 2 && !(status_of(vp) & VIRTIO_CONFIG_S_FEATURES_OK))
			set_half(&vp->driver_features, vp->gfselect == 1, v);
		break;
	case FIELD(msix_config):
		/* Atomic: a device worker reads it to interrupt. */
		__atomic_store_n(&vp->msix_config, valid_vector(vp, (uint16_t)v), __ATOMIC_RELAXED);
		break;
	case FIELD(device_status):
		write_status(vp, (uint8_t)v);
		break;
	case FIELD(queue_select):
		vp->queue_select = (uint16_t)v;
		break;
	case FIELD(queue_size):
		if (q_writable)
			q->size = (uint16_t)v;
		break;
	case FIELD(queue_msix_vector):
		if (q)
			__atomic_store_n(&q->msix_vector, valid_vector(vp, (uint16_t)v),
					 __ATOMIC_RELAXED);
		break;
	case FIELD(queue_enable):
		if (q_writable && (uint16_t)v == 1)
			enable_queue(vp, q);
		break;
	case FIELD(queue_desc_lo):
	case FIELD(queue_desc_hi):
	case FIELD(queue_avail_lo):
	case FIELD(queue_avail_hi):
	case FIELD(queue_used_lo):
	case FIELD(queue_used_hi):
		if (q_writable)
			set_half(ring_address(q, off), (off - FIELD(queue_desc_lo)) % 8 == 4, v);
		break;
	default:
		break; /* read-only fields, or an access not on a field */
	}
}

static void common_io(struct virtio_pci *vp, uint32_t off, uint8_t *data, uint32_t len,
		      bool is_write)
{
	if (!is_write) {
		struct virtio_pci_common_cfg c;
		common_snapshot(vp, &c);
		for (uint32_t i = 0; i < len; i++)
			data[i] = off + i < sizeof(c) ? ((uint8_t *)&c)[off + i] : 0;
		return;
	}
	/* The driver writes each field with its own width (§4.1.3.1); a
	 * 64-bit write to an address field arrives as its two halves. */
	if (len == 8) {
		common_io(vp, off, data, 4, true);
		common_io(vp, off + 4, data + 4, 4, true);
		return;
	}
	uint32_t v = 0;
	memcpy(&v, data, len < 4 ? len : 4);
	common_write(vp, off, v);
}

/* ---- BAR 0: one handler per region (virtio 1.2 §4.1.4) ------------------ */

static void msix_table_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			      bool is_write)
{
	struct virtio_pci *vp = opaque;
	msix_table_io(&vp->msix, off, data, len, is_write);
}

static void msix_pba_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;
	msix_pba_io(&vp->msix, off, data, len, is_write);
}

static void notify_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
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

static void common_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->lock);
	if (off < COMMON_CFG_LEN)
		common_io(vp, (uint32_t)off, data, len, is_write);
	else if (!is_write)
		memset(data, 0, len);
	pthread_mutex_unlock(&vp->lock);
}

static void isr_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
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

static void device_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->lock);
	if (off + len <= vp->ops->config_len) {
		if (is_write)
			vp->ops->config_write(vp->ctx, (uint32_t)off, data, len);
		else
			vp->ops->config_read(vp->ctx, (uint32_t)off, data, len);
	} else if (!is_write) {
		memset(data, 0, len);
	}
	pthread_mutex_unlock(&vp->lock);
}

static const struct {
	uint32_t off;
	bus_io_fn io;
	const char *what;
} regions[VIRTIO_PCI_REGIONS] = {
    {VIRTIO_PCI_COMMON_OFF, common_region, "common"},
    {VIRTIO_PCI_ISR_OFF, isr_region, "isr"},
    {VIRTIO_PCI_DEVICE_OFF, device_region, "device config"},
    {VIRTIO_PCI_NOTIFY_OFF, notify_region, "notify"},
    {VIRTIO_PCI_MSIX_OFF, msix_table_region, "msix table"},
    {VIRTIO_PCI_PBA_OFF, msix_pba_region, "msix pba"},
};

void virtio_pci_label(struct virtio_pci *vp, const char *who)
{
	for (int i = 0; i < VIRTIO_PCI_REGIONS; i++)
		snprintf(vp->region_names[i], sizeof(vp->region_names[i]), "%s %s", who,
			 regions[i].what);
}

static int add_regions(struct virtio_pci *vp, struct errbuf *e)
{
	for (int i = 0; i < VIRTIO_PCI_REGIONS; i++)
		if (pci_add_bar_region(&vp->pci, 0, regions[i].off, VIRTIO_PCI_REGION_LEN,
				       regions[i].io, vp, vp->region_names[i], e))
			return -1;
	return 0;
}

void virtio_pci_bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	for (int i = 0; i < VIRTIO_PCI_REGIONS; i++) {
		uint64_t at = off - regions[i].off;
		if (off >= regions[i].off && at < VIRTIO_PCI_REGION_LEN &&
		    len <= VIRTIO_PCI_REGION_LEN - at) {
			regions[i].io(opaque, at, data, len, is_write);
			return;
		}
	}
	if (!is_write)
		memset(data, 0, len);
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
	interrupt(vp, ISR_QUEUE, __atomic_load_n(&vp->queues[q].msix_vector, __ATOMIC_RELAXED));
}

void virtio_pci_notify_config(struct virtio_pci *vp)
{
	__atomic_add_fetch(&vp->config_generation, 1, __ATOMIC_SEQ_CST);
	interrupt(vp, VIRTIO_PCI_ISR_CONFIG, __atomic_load_n(&vp->msix_config, __ATOMIC_RELAXED));
}
