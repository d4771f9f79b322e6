/*
 * A PCI function's configuration space (PCI Local Bus 3.0, ch. 6): the
 * 256-byte header and capability list the guest reads and writes through the
 * host bridge, with per-bit write masks so read-only fields stay read-only
 * and BAR sizing works the way the spec describes (§6.2.5.1: write all-ones,
 * read back the size mask).
 */
#ifndef MINIVMM_PCI_H
#define MINIVMM_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/base/bus.h"
#include "vmm/base/error.h"

#define PCI_CFG_SPACE 256
#define PCI_NUM_BARS  6
#define PCI_CAP_START 0x40 /* first byte after the type 0 header */

/* Header offsets and bits (§6.1, §6.2). */
#define PCI_VENDOR_ID	  0x00
#define PCI_DEVICE_ID	  0x02
#define PCI_COMMAND	  0x04
#define PCI_STATUS	  0x06
#define PCI_REVISION	  0x08
#define PCI_CLASS_PROG	  0x09
#define PCI_HEADER_TYPE	  0x0e
#define PCI_BAR0	  0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID	  0x2e
#define PCI_CAP_PTR	  0x34
#define PCI_INTR_LINE	  0x3c
#define PCI_INTR_PIN	  0x3d

#define PCI_COMMAND_IO	     0x0001
#define PCI_COMMAND_MEMORY   0x0002
#define PCI_COMMAND_MASTER   0x0004
#define PCI_COMMAND_INTX_OFF 0x0400
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST  0x0010
#define PCI_INTR_PIN_INTA    1
#define PCI_BAR_MEM_64	     0x04
#define PCI_BAR_MEM_PREFETCH 0x08

struct pci_device;

/* Drives an interrupt controller input: level 1 asserted, 0 deasserted. */
typedef void (*pci_set_irq_fn)(void *ctx, unsigned gsi, int level);

/* Called after the guest wrote config bytes [off, off + len), so a device can
 * react to its capabilities (e.g. MSI-X enable). */
typedef void (*pci_config_written_fn)(struct pci_device *d, uint32_t off, uint32_t len);
/* Called before the guest reads config bytes [off, off + len), so a device
 * can refresh registers that are windows onto something else (virtio's
 * VIRTIO_PCI_CAP_PCI_CFG). */
typedef void (*pci_config_reading_fn)(struct pci_device *d, uint32_t off, uint32_t len);
/* Called after a config write that may have changed where the function's
 * BARs decode: a BAR, or the command register's Memory Space bit. */
typedef void (*pci_bars_moved_fn)(void *ctx, struct pci_device *d);

/*
 * A part of a BAR with a handler and a name of its own, e.g. virtio's common
 * configuration or the MSI-X table. The host bridge puts each region on the
 * MMIO bus as a range of its own (devices/pci_host.c), so the exit path finds
 * the region directly and --stats counts it by name.
 */
struct pci_bar_region {
	uint64_t off, len; /* inside the BAR */
	bus_io_fn io;
	void *opaque;
	const char *name;
	uint32_t slot; /* its range on the MMIO bus, once pci_host_add_device() placed it */
};

#define PCI_BAR_REGIONS 8

struct pci_bar {
	uint64_t size; /* a power of two; 0: BAR not implemented */
	bool is_64;
	bool upper; /* the upper half of the 64-bit BAR below: no BAR of its own */
	const char *name;
	struct pci_bar_region regions[PCI_BAR_REGIONS];
	unsigned nregions;
};

/*
 * The function's INTA# (§2.2.6) and where the board wired it. lock guards
 * level, line and the Interrupt Status and Interrupt Disable bits in cfg,
 * because a device's worker thread calls pci_set_intx() while a vCPU thread
 * reads or writes config space. It is taken inside the host bridge's lock and
 * held while set_irq runs, so the controller sees the transitions in order.
 */
struct pci_intx {
	pthread_mutex_t lock;
	bool level; /* what the device asserts */
	bool line;  /* what reaches set_irq: level unless Interrupt Disable */
	pci_set_irq_fn set_irq;
	void *ctx;
	unsigned gsi;
};

struct pci_device {
	const char *name;
	struct pci_intx intx;
	uint8_t cfg[PCI_CFG_SPACE];
	uint8_t wmask[PCI_CFG_SPACE]; /* bits the guest may change */
	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t cap_end;  /* where the next capability goes */
	uint8_t last_cap; /* offset of the last capability, 0 if none */
	pci_config_written_fn config_written;
	pci_config_reading_fn config_reading;
	void *opaque;
	/* The host bridge's, set when it plugs the function in. */
	pci_bars_moved_fn bars_moved;
	void *bars_moved_ctx;
};

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor,
		     uint16_t subsys_id);

/* Releases what pci_device_init() set up (the INTx lock). */
void pci_device_destroy(struct pci_device *d);

/* A memory BAR of size bytes (a power of two, at least 16), 64-bit if is_64
 * (then it also takes index + 1). With io, accesses anywhere inside it go to
 * io (one region, the whole BAR, named name); with io NULL, only to the
 * regions pci_add_bar_region() adds. */
int pci_add_mem_bar(struct pci_device *d, int index, uint64_t size, bool is_64, bus_io_fn io,
		    void *opaque, const char *name, struct errbuf *e);

/* A region [off, off + len) of BAR index, inside it and overlapping none of
 * its other regions; accesses inside it go to io with offsets relative to
 * off. An access in no region of a BAR is unclaimed (vmm/unclaimed.h). */
int pci_add_bar_region(struct pci_device *d, int index, uint64_t off, uint64_t len, bus_io_fn io,
		       void *opaque, const char *name, struct errbuf *e);

/* Appends a capability: body is everything after the id and next bytes; wmask
 * (same length as body, or NULL) says which of its bits the guest may write.
 * Returns the capability's offset, or 0 if it does not fit. */
uint8_t pci_add_capability(struct pci_device *d, uint8_t id, const void *body, uint8_t len,
			   const void *wmask);

/* Config accesses at off (any alignment the guest uses; bytes beyond 255
 * read as all-ones and ignore writes). */
void pci_config_read(struct pci_device *d, uint32_t off, uint8_t *data, uint32_t len);
void pci_config_write(struct pci_device *d, uint32_t off, const uint8_t *data, uint32_t len);

/* The device asserts (1) or deasserts (0) its INTA#. The Interrupt Status bit
 * follows the level; the wired GSI follows it only while the guest leaves
 * Interrupt Disable clear (§6.2.2, §6.2.3). Safe from any thread, and a no-op
 * towards the controller until pci_wire_intx(). */
void pci_set_intx(struct pci_device *d, int level);

/* Wires INTA# to gsi through set_irq, as the board does: Interrupt Pin reads
 * INTA and Interrupt Line starts as gsi, the value firmware would leave
 * there for the OS (§6.2.4). A level already asserted is forwarded. */
void pci_wire_intx(struct pci_device *d, unsigned gsi, pci_set_irq_fn set_irq, void *ctx);

/* Where BAR index currently decodes, or 0 if memory decoding is off, the
 * BAR is not implemented or is unprogrammed (address 0). */
uint64_t pci_bar_address(const struct pci_device *d, int index);

/* Sets a BAR's address as firmware would before the OS starts. */
void pci_set_bar_address(struct pci_device *d, int index, uint64_t addr);

static inline uint16_t pci_cfg_read16(const struct pci_device *d, uint32_t off)
{
	return (uint16_t)(d->cfg[off] | d->cfg[off + 1] << 8);
}

/* Sets a config register directly, as the device or firmware does; the
 * guest's writes go through pci_config_write() and its masks. */
static inline void pci_cfg_write16(struct pci_device *d, uint32_t off, uint16_t v)
{
	d->cfg[off] = (uint8_t)v;
	d->cfg[off + 1] = (uint8_t)(v >> 8);
}

#endif
