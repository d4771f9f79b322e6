#include "devices/pci_host.h"

#include <string.h>

#define CONFIG_ENABLE	  0x80000000U
#define PCI_CLASS_HOST	  0x060000
#define RESET_CONTROL_OFF 1    /* 0xcf9, the PIIX/ICH reset control register */
#define RESET_CPU	  0x04 /* "reset CPU" bit: writing it resets the machine */

void pci_host_init(struct pci_host *h, const struct pci_host_ops *ops)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->intx_lock, NULL);
	h->ops = *ops;
	h->next_bar = PCI_MMIO_WINDOW_BASE;
	pci_device_init(&h->bridge, "pci host bridge", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
			PCI_CLASS_HOST, 0, 0, 0);
	h->slots[0] = &h->bridge;
}

void pci_host_destroy(struct pci_host *h)
{
	pci_device_destroy(&h->bridge);
	pthread_mutex_destroy(&h->intx_lock);
	pthread_mutex_destroy(&h->lock);
}

unsigned pci_intx_gsi(unsigned slot)
{
	/* Like a board that rotates the INTx wires of its slots over a few
	 * IOAPIC pins: slots 8 apart share a pin, which level-triggered INTx
	 * allows (PCI 3.0 §2.2.6). */
	return PCI_INTX_GSI_BASE + slot % PCI_INTX_GSIS;
}

/* INTx# lines are shared and wired-OR (PCI 3.0 §2.2.6): a GSI stays asserted
 * while any device on it asserts. KVM_IRQ_LINE from user space is a single
 * source to KVM, so one device deasserting would hide another's interrupt;
 * the OR has to happen here. Devices report changes only, so a count works. */
static void intx_wired_or(void *opaque, unsigned gsi, int level)
{
	struct pci_host *h = opaque;
	unsigned *n = &h->intx_asserted[gsi - PCI_INTX_GSI_BASE];
	pthread_mutex_lock(&h->intx_lock);
	bool was = *n > 0;
	*n = level ? *n + 1 : *n - 1;
	if (was != (*n > 0) && h->ops.set_irq)
		h->ops.set_irq(h->ops.irq_ctx, gsi, level);
	pthread_mutex_unlock(&h->intx_lock);
}

int pci_host_register(struct pci_host *h, struct bus *pio, struct bus *mmio, struct errbuf *e)
{
	h->mmio = mmio;
	return bus_register(pio, PCI_CONFIG_PORT, 8, "pci config (0xcf8)", pci_host_config_io, h,
			    e);
}

/* Each region of each BAR of d on the MMIO bus, where the BAR decodes. */
static int register_regions(struct pci_host *h, struct pci_device *d, struct errbuf *e)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t bar = pci_bar_address(d, i);
		for (unsigned k = 0; bar && k < d->bars[i].nregions; k++) {
			struct pci_bar_region *r = &d->bars[i].regions[k];
			r->slot = (uint32_t)h->mmio->count;
			if (bus_register(h->mmio, bar + r->off, r->len, r->name, r->io, r->opaque,
					 e))
				return -1;
		}
	}
	return 0;
}

/* After a config write that may have moved a BAR or flipped memory
 * decoding (d->bars_moved): every region of d goes where its BAR now
 * decodes, or off the bus (PCI 3.0 §6.2.2: with Memory Space clear the
 * function answers no memory access). One bus_move, so a reader sees the
 * whole device move. Config writes come under h->lock, which orders the
 * moves of concurrent vCPUs as their writes. */
static void place_regions(void *ctx, struct pci_device *d)
{
	struct pci_host *h = ctx;
	/* A BAR is aligned to its size (its low address bits are read-only,
	 * §6.2.5.1) and a region lies inside it, so bar + off never wraps; a
	 * region ending at 2^64 exactly stays off the bus (vmm/base/bus.c). */
	struct bus_placement p[PCI_NUM_BARS * PCI_BAR_REGIONS];
	size_t n = 0;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t bar = pci_bar_address(d, i);
		for (unsigned k = 0; k < d->bars[i].nregions; k++) {
			const struct pci_bar_region *r = &d->bars[i].regions[k];
			p[n++] = (struct bus_placement){r->slot, bar + r->off, bar != 0};
		}
	}
	if (n && h->mmio)
		bus_move(h->mmio, p, n);
}

int pci_host_add_device(struct pci_host *h, struct pci_device *d, struct errbuf *e)
{
	int slot = 1;
	while (slot < PCI_MAX_SLOTS && h->slots[slot])
		slot++;
	if (slot == PCI_MAX_SLOTS)
		return errorf(e, "%s: no free PCI slot", d->name);
	if (!h->mmio)
		return errorf(e, "%s: the PCI host is on no bus", d->name);
	uint64_t next = h->next_bar;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *b = &d->bars[i];
		if (!b->size || b->upper)
			continue; /* unused, or the upper half of a 64-bit BAR */
		uint64_t addr = (next + b->size - 1) & ~(b->size - 1); /* naturally aligned */
		if (addr + b->size > PCI_MMIO_WINDOW_BASE + PCI_MMIO_WINDOW_SIZE)
			return errorf(e, "%s: BAR %d does not fit in the PCI window", d->name, i);
		pci_set_bar_address(d, i, addr);
		next = addr + b->size;
	}
	pci_cfg_write16(d, PCI_COMMAND, pci_cfg_read16(d, PCI_COMMAND) | PCI_COMMAND_MEMORY);
	if (register_regions(h, d, e))
		return -1;
	d->bars_moved = place_regions;
	d->bars_moved_ctx = h;
	h->next_bar = next;
	pci_wire_intx(d, pci_intx_gsi((unsigned)slot), intx_wired_or, h);
	h->slots[slot] = d;
	return slot;
}

/* The function addressed by CONFIG_ADDRESS: bus 0, function 0 only (every
 * device here is single-function, so functions 1-7 are absent). */
static struct pci_device *addressed(const struct pci_host *h, uint32_t *reg)
{
	uint32_t a = h->config_address;
	uint32_t bus = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, fn = (a >> 8) & 7;
	*reg = a & 0xfc;
	if (!(a & CONFIG_ENABLE) || bus != 0 || fn != 0)
		return NULL;
	return h->slots[slot];
}

void pci_host_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_host *h = opaque;
	if (offset == 0 && len == 4) { /* only dword accesses reach CONFIG_ADDRESS */
		pthread_mutex_lock(&h->lock);
		if (is_write)
			memcpy(&h->config_address, data, 4);
		else
			memcpy(data, &h->config_address, 4);
		pthread_mutex_unlock(&h->lock);
		return;
	}
	if (offset < 4) {
		if (is_write && offset == RESET_CONTROL_OFF && len == 1 && (data[0] & RESET_CPU) &&
		    h->ops.reset)
			h->ops.reset(h->ops.reset_ctx);
		else if (!is_write)
			memset(data, offset == RESET_CONTROL_OFF ? 0 : 0xff, len);
		return;
	}
	pthread_mutex_lock(&h->lock);
	uint32_t reg;
	struct pci_device *d = addressed(h, &reg);
	uint32_t at = reg + (uint32_t)(offset - 4);
	if (!d) {
		if (!is_write)
			memset(data, 0xff, len); /* no device: master abort reads all-ones */
	} else if (is_write) {
		pci_config_write(d, at, data, len);
	} else {
		pci_config_read(d, at, data, len);
	}
	pthread_mutex_unlock(&h->lock);
}
