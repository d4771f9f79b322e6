/*
 * MSI-X (PCI 3.0 §6.8.2): a capability in config space plus a vector table
 * and pending-bit array in a BAR. Each vector is a message (address, data)
 * that the device fires; minivmm turns a vector into a KVM MSI route and an
 * irqfd. The owner's route() hook runs when a vector's message changes and
 * answers with the irqfd that now raises it; from then on msix_notify()
 * raises the vector itself, with one write to that eventfd, and a device
 * thread's interrupt never calls back up into its owner. fire() is only
 * for vectors without an eventfd (no KVM: unit tests). A masked vector is
 * remembered in the PBA and fired when unmasked, as the spec requires.
 */
#ifndef MINIVMM_MSIX_H
#define MINIVMM_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"

#define PCI_CAP_ID_MSIX	   0x11
#define MSIX_MAX_VECTORS   32
#define MSIX_ENTRY_SIZE	   16
#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_CTRL_MASKALL  0x4000
#define MSIX_VECTOR_MASKED 0x1
#define MSIX_NO_VECTOR	   0xffff /* virtio's "no vector" */

struct msix_ops {
	/* Returns the eventfd that raises vec with this message, or -1. */
	int (*route)(void *ctx, uint16_t vec, uint64_t address, uint32_t data);
	void (*fire)(void *ctx, uint16_t vec);
	void *ctx;
};

struct msix {
	pthread_mutex_t lock;
	struct pci_device *pci;
	struct msix_ops ops;
	uint8_t cap; /* the capability's offset in config space */
	uint16_t nvec;
	uint32_t table[MSIX_MAX_VECTORS][4]; /* address lo, address hi, data, vector control */
	uint32_t pba;			     /* one pending bit per vector */
	int fd[MSIX_MAX_VECTORS];	     /* what raises each vector, or -1 */
	uint64_t sent;			     /* atomic: messages sent through fd[] */
	/* The capability's message control as the guest last wrote it, kept
	 * under lock: a device thread raising a vector reads this, not config
	 * space, which vCPU threads write under the PCI host's lock. */
	uint16_t control;
};

/* Adds the capability to d, with the table at table_off and the PBA at
 * pba_off in BAR bar. Every vector starts masked (§6.8.2.9). */
int msix_init(struct msix *m, struct pci_device *d, uint16_t nvec, int bar, uint32_t table_off,
	      uint32_t pba_off, const struct msix_ops *ops, struct errbuf *e);
void msix_destroy(struct msix *m);

/* BAR accesses, offsets relative to the table / the PBA. */
void msix_table_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void msix_pba_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* The owner's pci config_written hook calls this for every config write. */
void msix_config_written(struct msix *m, uint32_t off, uint32_t len);

bool msix_enabled(struct msix *m);

/* Raises vec: fires it now, or marks it pending while masked. Returns
 * whether MSI-X is enabled: if not, nothing was sent and the device falls
 * back to INTx. A vector the function lacks (virtio's NO_VECTOR) sends
 * nothing, enabled or not. */
bool msix_notify(struct msix *m, uint16_t vec);

#endif
