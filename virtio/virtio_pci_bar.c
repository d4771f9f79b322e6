/* BAR 0 as the driver finds it (virtio 1.2 §4.1.4): the regions the
 * structures live in (virtio_pci.h draws the layout), the vendor-specific
 * capabilities that announce them, and the VIRTIO_PCI_CAP_PCI_CFG window
 * that reaches BAR 0 through config space (§4.1.4.9). Each region's handler
 * is with what it serves: common configuration, ISR and notifications in
 * their own files; the device configuration and the MSI-X table and PBA,
 * which only pass accesses on, here. */
#include "virtio/virtio_pci.h"

#include <stdio.h>
#include <string.h>

#include "virtio/virtio_pci_internal.h"

#define PCI_CAP_ID_VNDR 0x09

/* ---- BAR 0: its regions and where each is handled (§4.1.4) -------------- */

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
    {VIRTIO_PCI_COMMON_OFF, virtio_pci_common_region, "common"},
    {VIRTIO_PCI_ISR_OFF, virtio_pci_isr_region, "isr"},
    {VIRTIO_PCI_DEVICE_OFF, device_region, "device config"},
    {VIRTIO_PCI_NOTIFY_OFF, virtio_pci_notify_region, "notify"},
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
	virtio_pci_follow_vectors(vp);
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

int virtio_pci_add_bar(struct virtio_pci *vp, const char *name, struct errbuf *e)
{
	const struct virtio_device_ops *ops = vp->ops;
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
	return 0;
}
