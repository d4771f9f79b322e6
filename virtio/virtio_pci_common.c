/* The common configuration structure (virtio 1.2 §4.1.4.3): feature
 * selection and negotiation, queue selection and each queue's registers,
 * and the device status machine behind them (§2.1, §3.1.1): transitions,
 * reset, and DEVICE_NEEDS_RESET with its line on stderr. */
#include "virtio/virtio_pci.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "virtio/virtio_pci_internal.h"

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
	virtio_pci_unregister_kicks(vp);
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
		    .kick_fd = vp->queues[q].kick_fd,
		    .irq_fd = -1};
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

/* route() and bind() (virtio_pci_irq.c) run under the MSI-X lock, so a
 * failure there cannot send the configuration interrupt
 * virtio_pci_needs_reset() would (that takes the same lock): the driver
 * finds DEVICE_NEEDS_RESET, the new config generation and the ISR bit when
 * it next looks. These failures are the host's (no GSI, no irqfd), never
 * the guest's doing. */
void virtio_pci_needs_reset_silently(struct virtio_pci *vp, uint16_t vec, const char *what)
{
	uint8_t was = __atomic_fetch_or(&vp->status, VIRTIO_CONFIG_S_NEEDS_RESET, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&vp->config_generation, 1, __ATOMIC_SEQ_CST);
	__atomic_or_fetch(&vp->isr, VIRTIO_PCI_ISR_CONFIG, __ATOMIC_SEQ_CST);
	if (!(was & VIRTIO_CONFIG_S_NEEDS_RESET))
		complain(vp, "MSI-X vector %u: the host could not %s it", vec, what);
}

bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit)
{
	return bit < 64 && (vp->driver_features >> bit) & 1;
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
		virtio_pci_register_kicks(vp);
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
		if (q) {
			__atomic_store_n(&q->msix_vector, valid_vector(vp, (uint16_t)v),
					 __ATOMIC_RELAXED);
			virtio_pci_follow_vectors(vp);
		}
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

void virtio_pci_common_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			      bool is_write)
{
	struct virtio_pci *vp = opaque;
	pthread_mutex_lock(&vp->lock);
	if (off < COMMON_CFG_LEN)
		common_io(vp, (uint32_t)off, data, len, is_write);
	else if (!is_write)
		memset(data, 0, len);
	pthread_mutex_unlock(&vp->lock);
}
