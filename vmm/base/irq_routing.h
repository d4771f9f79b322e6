/*
 * The VM's GSI routing table. KVM_SET_GSI_ROUTING replaces the whole table, so
 * minivmm keeps its own copy: KVM's defaults for the PIC and IOAPIC pins,
 * plus one MSI route per interrupt a device raises through an irqfd (MSI-X
 * vectors). Changing one route re-sends the table.
 */
#ifndef MINIVMM_IRQ_ROUTING_H
#define MINIVMM_IRQ_ROUTING_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#include "vmm/base/error.h"

#define IRQ_ROUTING_IOAPIC_PINS 24
#define IRQ_ROUTING_PIC_PINS	16
#define IRQ_ROUTING_MAX_MSI	256
#define IRQ_ROUTING_MAX		(IRQ_ROUTING_IOAPIC_PINS + IRQ_ROUTING_PIC_PINS + IRQ_ROUTING_MAX_MSI)

struct irq_routing {
	pthread_mutex_t lock;
	int vm_fd; /* -1: keep the table but send nothing (unit tests) */
	uint32_t nr;
	uint32_t next_gsi;
	struct kvm_irq_routing_entry entries[IRQ_ROUTING_MAX];
};

/* Fills in the defaults KVM starts with: GSI 0-15 to both the PIC and the
 * IOAPIC pin of the same number, GSI 16-23 to the IOAPIC. */
void irq_routing_init(struct irq_routing *r, int vm_fd);
void irq_routing_destroy(struct irq_routing *r);

/* One interrupt line of the in-kernel PIC/IOAPIC: what a device with a
 * wired interrupt is handed, instead of the machine it sits in. */
struct irq_pin {
	const struct irq_routing *routing;
	unsigned gsi;
};

/* A device's set_irq callback (ctx is a struct irq_pin): KVM_IRQ_LINE, the
 * level of that GSI. Nothing is sent when the routing has no vm_fd. */
void irq_pin_set(void *ctx, int level);

/* The same, for a device that names the GSI itself (ctx is the routing):
 * the PCI host's INTx wires. */
void irq_routing_set_line(void *ctx, unsigned gsi, int level);

/* Sends the table to KVM as it stands. */
int irq_routing_apply(struct irq_routing *r, struct errbuf *e);

/* A new GSI routed as an MSI (address and data filled in later, so it fires
 * nowhere useful until then). Returns the GSI, or -1 when none are left. */
int irq_routing_add_msi(struct irq_routing *r, struct errbuf *e);

/* Points gsi at the MSI message (address, data) and sends the table. */
int irq_routing_set_msi(struct irq_routing *r, uint32_t gsi, uint64_t address, uint32_t data,
			struct errbuf *e);

#endif
