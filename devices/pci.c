#include "devices/pci.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	put16(d->cfg + PCI_VENDOR_ID, vendor);
	put16(d->cfg + PCI_DEVICE_ID, device);
	d->cfg[PCI_REVISION] = revision;
	d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	d->cfg[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	d->cfg[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	put16(d->cfg + PCI_SUBSYS_VENDOR, subsys_vendor);
	put16(d->cfg + PCI_SUBSYS_ID, subsys_id);
	d->cap_end = PCI_CAP_START;
	/* The guest may turn decoding, bus mastering and INTx on and off, and
	 * use the interrupt line byte as scratch (§6.2.2, §6.2.4). */
	put16(d->wmask + PCI_COMMAND,
	      PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_OFF);
	d->wmask[PCI_INTR_LINE] = 0xff;
	pthread_mutex_init(&d->intx.lock, NULL);
}

void pci_device_destroy(struct pci_device *d)
{
	pthread_mutex_destroy(&d->intx.lock);
}

int pci_add_mem_bar(struct pci_device *d, int index, uint64_t size, bool is_64, bus_io_fn io,
		    void *opaque, const char *name, struct errbuf *e)
{
	if (index < 0 || index + (is_64 ? 1 : 0) >= PCI_NUM_BARS || d->bars[index].size ||
	    (is_64 && d->bars[index + 1].size))
		return errorf(e, "%s: BAR %d unavailable", d->name, index);
	if (size < 16 || (size & (size - 1)) || (!is_64 && size > (1ULL << 31)))
		return errorf(e, "%s: BAR %d size 0x%llx is not a valid power of two", d->name,
			      index, (unsigned long long)size);
	d->bars[index] = (struct pci_bar){.size = size, .is_64 = is_64, .name = name};
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)index;
	/* Address bits below the size are hardwired to zero, which is what makes
	 * sizing by writing all-ones work (§6.2.5.1). */
	uint64_t mask = ~(size - 1);
	put32(d->cfg + off, is_64 ? PCI_BAR_MEM_64 : 0);
	put32(d->wmask + off, (uint32_t)mask & ~0xfU);
	if (is_64) {
		d->bars[index + 1].size = size; /* marks the upper half as taken */
		d->bars[index + 1].upper = true;
		d->bars[index + 1].name = name;
		put32(d->wmask + off + 4, (uint32_t)(mask >> 32));
	}
	return io ? pci_add_bar_region(d, index, 0, size, io, opaque, name, e) : 0;
}

int pci_add_bar_region(struct pci_device *d, int index, uint64_t off, uint64_t len, bus_io_fn io,
		       void *opaque, const char *name, struct errbuf *e)
{
	struct pci_bar *b = index >= 0 && index < PCI_NUM_BARS ? &d->bars[index] : NULL;
	if (!b || !b->size || b->upper || b->nregions == PCI_BAR_REGIONS || !io)
		return errorf(e, "%s: BAR %d takes no region %s", d->name, index, name);
	if (len == 0 || off >= b->size || len > b->size - off)
		return errorf(e, "%s: region %s 0x%llx+0x%llx is not inside BAR %d", d->name, name,
			      (unsigned long long)off, (unsigned long long)len, index);
	for (unsigned i = 0; i < b->nregions; i++) {
		const struct pci_bar_region *r = &b->regions[i];
		if (r->off < off + len && off < r->off + r->len)
			return errorf(e, "%s: region %s overlaps %s in BAR %d", d->name, name,
				      r->name, index);
	}
	b->regions[b->nregions++] = (struct pci_bar_region){off, len, io, opaque, name, 0};
	return 0;
}

uint8_t pci_add_capability(struct pci_device *d, uint8_t id, const void *body, uint8_t len,
			   const void *wmask)
{
	uint32_t at = (d->cap_end + 3u) & ~3u; /* §6.7: dword aligned */
	if (at + 2u + len > PCI_CFG_SPACE)
		return 0;
	d->cfg[at] = id;
	d->cfg[at + 1] = 0;
	memcpy(d->cfg + at + 2, body, len);
	if (wmask)
		memcpy(d->wmask + at + 2, wmask, len);
	if (d->last_cap)
		d->cfg[d->last_cap + 1] = (uint8_t)at;
	else
		d->cfg[PCI_CAP_PTR] = (uint8_t)at;
	d->last_cap = (uint8_t)at;
	d->cap_end = (uint8_t)(at + 2 + len);
	pci_cfg_write16(d, PCI_STATUS, pci_cfg_read16(d, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	return (uint8_t)at;
}

/* What INTA# should present to the controller (§6.2.2: Interrupt Disable
 * stops the function asserting INTx# but leaves its internal state alone),
 * forwarded on changes only, as a wire would. Called with intx.lock held. */
static void intx_update_line(struct pci_device *d)
{
	struct pci_intx *x = &d->intx;
	bool line = x->level && !(pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_INTX_OFF);
	if (line == x->line)
		return;
	x->line = line;
	if (x->set_irq)
		x->set_irq(x->ctx, x->gsi, line);
}

void pci_set_intx(struct pci_device *d, int level)
{
	pthread_mutex_lock(&d->intx.lock);
	d->intx.level = level != 0;
	/* §6.2.3: Interrupt Status shows the function's interrupt whether or
	 * not Interrupt Disable lets it out. */
	uint16_t status = pci_cfg_read16(d, PCI_STATUS) & ~PCI_STATUS_INTERRUPT;
	pci_cfg_write16(d, PCI_STATUS, status | (level ? PCI_STATUS_INTERRUPT : 0));
	intx_update_line(d);
	pthread_mutex_unlock(&d->intx.lock);
}

void pci_wire_intx(struct pci_device *d, unsigned gsi, pci_set_irq_fn set_irq, void *ctx)
{
	pthread_mutex_lock(&d->intx.lock);
	d->cfg[PCI_INTR_PIN] = PCI_INTR_PIN_INTA; /* wmask 0: read-only */
	d->cfg[PCI_INTR_LINE] = (uint8_t)gsi;
	d->intx.gsi = gsi;
	d->intx.set_irq = set_irq;
	d->intx.ctx = ctx;
	/* The new wire starts deasserted; bring it to the device's level. */
	d->intx.line = false;
	intx_update_line(d);
	pthread_mutex_unlock(&d->intx.lock);
}

void pci_config_read(struct pci_device *d, uint32_t off, uint8_t *data, uint32_t len)
{
	if (d->config_reading && off < PCI_CFG_SPACE)
		d->config_reading(d, off, len);
	pthread_mutex_lock(&d->intx.lock); /* the status byte may be changing */
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < PCI_CFG_SPACE ? d->cfg[off + i] : 0xff;
	pthread_mutex_unlock(&d->intx.lock);
}

/* Whether config bytes [off, off + len) hold the command register or a BAR:
 * what decides where the function's memory BARs decode (§6.2.2, §6.2.5). */
static bool places_bars(uint32_t off, uint32_t len)
{
	return (off < PCI_COMMAND + 2 && off + len > PCI_COMMAND) ||
	       (off < PCI_BAR0 + 4 * PCI_NUM_BARS && off + len > PCI_BAR0);
}

void pci_config_write(struct pci_device *d, uint32_t off, const uint8_t *data, uint32_t len)
{
	if (off >= PCI_CFG_SPACE)
		return;
	if (len > PCI_CFG_SPACE - off)
		len = PCI_CFG_SPACE - off;
	pthread_mutex_lock(&d->intx.lock);
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = d->wmask[off + i];
		d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (data[i] & m));
	}
	/* The guest may have flipped Interrupt Disable: deassert or reassert. */
	intx_update_line(d);
	pthread_mutex_unlock(&d->intx.lock);
	if (d->bars_moved && places_bars(off, len))
		d->bars_moved(d->bars_moved_ctx, d);
	/* Outside the lock, so the device may call pci_set_intx() from here. */
	if (d->config_written)
		d->config_written(d, off, len);
}

uint64_t pci_bar_address(const struct pci_device *d, int index)
{
	if (!(pci_cfg_read16(d, PCI_COMMAND) & PCI_COMMAND_MEMORY) || !d->bars[index].size ||
	    d->bars[index].upper)
		return 0;
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)index;
	uint64_t addr = get32(d->cfg + off) & ~0xfULL;
	if (d->bars[index].is_64)
		addr |= (uint64_t)get32(d->cfg + off + 4) << 32;
	return addr;
}

void pci_set_bar_address(struct pci_device *d, int index, uint64_t addr)
{
	uint32_t off = PCI_BAR0 + 4 * (uint32_t)index;
	uint32_t flags = get32(d->cfg + off) & 0xf;
	put32(d->cfg + off, ((uint32_t)addr & ~0xfU) | flags);
	if (d->bars[index].is_64)
		put32(d->cfg + off + 4, (uint32_t)(addr >> 32));
}
