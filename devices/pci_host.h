/*
 * The PCI host bridge: bus 0 behind configuration mechanism #1 (ports
 * 0xcf8/0xcfc, PCI 3.0 §3.2.2.3.2), the bridge itself at 00:00.0 so Linux's
 * sanity check finds a host bridge, and a memory window in the 32-bit PCI
 * hole from which BARs are assigned as firmware would. Each region of each
 * BAR (devices/pci.h) is a named range on the MMIO bus of its own, placed
 * where the BAR decodes: when the guest moves a BAR or turns memory decoding
 * off or on, the host moves the ranges (bus_move), so an access finds its
 * region in the exit path's one lookup, with no lock.
 */
#ifndef MINIVMM_PCI_HOST_H
#define MINIVMM_PCI_HOST_H

#include <pthread.h>

#include "devices/pci.h"
#include "vmm/base/bus.h"

#define PCI_CONFIG_PORT	     0xcf8
#define PCI_MAX_SLOTS	     32
#define PCI_MMIO_WINDOW_BASE 0xe0000000ULL
#define PCI_MMIO_WINDOW_SIZE 0x10000000ULL /* ends well below the IOAPIC at 0xfec00000 */

/* The generic "QEMU PCIe host bridge" ID from Red Hat's virtual-device
 * range: no Linux driver binds to it, which is what a plain bridge wants. */
#define PCI_HOST_VENDOR 0x1b36
#define PCI_HOST_DEVICE 0x0008

/* IOAPIC inputs for INTx: 16-23 are the ones ISA (0-15) leaves free, and
 * KVM's default routing sends GSI n to IOAPIC pin n. */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSIS	  8

/* Where its wires go: the reset control register 0xcf9's reset line, and
 * the IOAPIC inputs its INTx lines drive (set_irq may be NULL: no INTx). */
struct pci_host_ops {
	void (*reset)(void *ctx);
	void *reset_ctx;
	pci_set_irq_fn set_irq;
	void *irq_ctx;
};

struct pci_host {
	/* Guards the config address latch and config space contents, and
	 * orders BAR moves: vCPU threads write config space concurrently. The
	 * MMIO exit path takes no lock (vmm/base/bus.h); bus_move nests inside. */
	pthread_mutex_t lock;
	uint32_t config_address;
	struct bus *mmio; /* where BAR regions are placed (pci_host_register) */
	struct pci_device bridge;
	struct pci_device *slots[PCI_MAX_SLOTS];
	uint64_t next_bar;
	struct pci_host_ops ops;
	/* How many devices assert each INTx GSI, and the lock that keeps the
	 * count and set_irq calls in step when device threads race. It nests
	 * inside a device's intx.lock. */
	pthread_mutex_t intx_lock;
	unsigned intx_asserted[PCI_INTX_GSIS];
};

void pci_host_init(struct pci_host *h, const struct pci_host_ops *ops);
void pci_host_destroy(struct pci_host *h);

/* Claims 0xcf8-0xcff on pio; BAR regions go on mmio as devices are added. */
int pci_host_register(struct pci_host *h, struct bus *pio, struct bus *mmio, struct errbuf *e);

/* The IOAPIC input (GSI) a device in slot (1..31) drives with its INTA#.
 * The MP table announces the same mapping, so this is the only place it is
 * decided. */
unsigned pci_intx_gsi(unsigned slot);

/* Plugs d into the next free slot, places its BARs in the window, turns on
 * memory decoding and wires INTA# to pci_intx_gsi(slot), as firmware leaves
 * a device for the OS, and registers its BAR regions on the MMIO bus there.
 * After pci_host_register(), before the MMIO bus is frozen. Returns the
 * slot. */
int pci_host_add_device(struct pci_host *h, struct pci_device *d, struct errbuf *e);

/* The bus_io_fn of 0xcf8-0xcff, exposed for unit tests. */
void pci_host_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
