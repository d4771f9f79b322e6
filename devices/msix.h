/*
 * MSI-X (PCI 3.0 §6.8.2): a capability in config space plus a vector table
 * and pending-bit array in a BAR. Each vector is a message (address, data)
 * that the device fires; minivmm gives each vector an eventfd of the owner's
 * and makes it a KVM irqfd. The device raises a vector by writing that
 * eventfd, from any thread and without this file: msix.c only decides,
 * whenever the guest programs, masks or unmasks, whether the eventfd is
 * bound to KVM (the message is delivered at once) or not (a write waits in
 * the eventfd's counter: that is the pending bit, and binding it again on
 * unmask sends it, §6.8.2.9). route() sets a vector's message, bind() binds
 * or unbinds its eventfd; a vector its owner gave no eventfd goes through
 * fire() (may be NULL: only counted) and a pending bit of its own.
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
	/* vec's message is now this (the owner routes it). */
	void (*route)(void *ctx, uint16_t vec, uint64_t address, uint32_t data);
	/* Binds (on) or unbinds vec's eventfd as the irqfd of its route;
	 * returns 0, or -1 where it cannot (no route yet, no KVM). */
	int (*bind)(void *ctx, uint16_t vec, bool on);
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
	uint32_t pba;			     /* pending bits of vectors without an eventfd */
	int fd[MSIX_MAX_VECTORS];	     /* what raises each vector, or -1 */
	bool bound[MSIX_MAX_VECTORS];	     /* fd[v] is KVM's irqfd now */
	uint64_t sent;			     /* atomic: messages msix_notify() sent */
	/* The capability's message control as the guest last wrote it, kept
	 * under lock: a device thread raising a vector reads this, not config
	 * space, which vCPU threads write under the PCI host's lock. */
	uint16_t control;
};

/* Adds the capability to d, with the table at table_off and the PBA at
 * pba_off in BAR bar. Every vector starts masked (§6.8.2.9). fds[v] is
 * vector v's eventfd (fds may be NULL: none has one). */
int msix_init(struct msix *m, struct pci_device *d, uint16_t nvec, int bar, uint32_t table_off,
	      uint32_t pba_off, const int *fds, const struct msix_ops *ops, struct errbuf *e);
void msix_destroy(struct msix *m);

/* BAR accesses, offsets relative to the table / the PBA. */
void msix_table_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
void msix_pba_io(struct msix *m, uint64_t off, uint8_t *data, uint32_t len, bool is_write);

/* The owner's pci config_written hook calls this for every config write. */
void msix_config_written(struct msix *m, uint32_t off, uint32_t len);

bool msix_enabled(struct msix *m);

/* What raises vec while MSI-X is enabled: its eventfd, to be written by
 * the device (msix.c keeps it bound to KVM while vec is deliverable, and
 * its count is the pending bit while not). -1: MSI-X is off, vec is not a
 * vector of the function (virtio's NO_VECTOR), or vec has no eventfd. */
int msix_vector_fd(struct msix *m, uint16_t vec);

/* Raises vec: writes its eventfd, or without one fires it now or marks it
 * pending while masked. Returns whether MSI-X is enabled: if not, nothing
 * was sent and the device falls back to INTx. A vector the function lacks
 * (virtio's NO_VECTOR) sends nothing, enabled or not. */
bool msix_notify(struct msix *m, uint16_t vec);

#endif
