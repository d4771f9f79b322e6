#include "vmm/base/irq_routing.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

static void add_irqchip(struct irq_routing *r, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	r->entries[r->nr++] = (struct kvm_irq_routing_entry){
	    .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = {chip, pin}};
}

static void set_line(const struct irq_routing *r, unsigned gsi, int level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = (uint32_t)level};
	if (r->vm_fd >= 0)
		ioctl(r->vm_fd, KVM_IRQ_LINE, &l);
}

void irq_routing_set_line(void *ctx, unsigned gsi, int level)
{
	set_line(ctx, gsi, level);
}

void irq_pin_set(void *ctx, int level)
{
	const struct irq_pin *p = ctx;
	set_line(p->routing, p->gsi, level);
}

void irq_routing_init(struct irq_routing *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->vm_fd = vm_fd;
	/* The same table KVM installs with KVM_CREATE_IRQCHIP (its
	 * kvm_setup_default_irq_routing), so replacing it changes nothing
	 * for ISA interrupts. */
	for (uint32_t gsi = 0; gsi < IRQ_ROUTING_IOAPIC_PINS; gsi++) {
		if (gsi < IRQ_ROUTING_PIC_PINS)
			add_irqchip(r, gsi,
				    gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				    gsi % 8);
		add_irqchip(r, gsi, KVM_IRQCHIP_IOAPIC, gsi);
	}
	r->next_gsi = IRQ_ROUTING_IOAPIC_PINS;
}

void irq_routing_destroy(struct irq_routing *r)
{
	pthread_mutex_destroy(&r->lock);
}

static int commit(struct irq_routing *r, struct errbuf *e)
{
	if (r->vm_fd < 0)
		return 0;
	size_t bytes = sizeof(struct kvm_irq_routing) + r->nr * sizeof(r->entries[0]);
	struct kvm_irq_routing *table = malloc(bytes);
	if (!table)
		return errorf(e, "out of memory");
	table->nr = r->nr;
	table->flags = 0;
	memcpy(table->entries, r->entries, r->nr * sizeof(r->entries[0]));
	int rc = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, table);
	free(table);
	return rc < 0 ? errorf_errno(e, "KVM_SET_GSI_ROUTING") : 0;
}

int irq_routing_apply(struct irq_routing *r, struct errbuf *e)
{
	pthread_mutex_lock(&r->lock);
	int rc = commit(r, e);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int irq_routing_add_msi(struct irq_routing *r, struct errbuf *e)
{
	pthread_mutex_lock(&r->lock);
	int gsi = -1;
	if (r->nr == IRQ_ROUTING_MAX) {
		errorf(e, "out of interrupt routes (%d MSIs)", IRQ_ROUTING_MAX_MSI);
	} else {
		gsi = (int)r->next_gsi++;
		r->entries[r->nr++] = (struct kvm_irq_routing_entry){.gsi = (uint32_t)gsi,
								     .type = KVM_IRQ_ROUTING_MSI};
		if (commit(r, e) < 0)
			gsi = -1;
	}
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

int irq_routing_set_msi(struct irq_routing *r, uint32_t gsi, uint64_t address, uint32_t data,
			struct errbuf *e)
{
	pthread_mutex_lock(&r->lock);
	int rc = errorf(e, "GSI %u has no MSI route", gsi);
	for (uint32_t i = 0; i < r->nr; i++) {
		struct kvm_irq_routing_entry *ent = &r->entries[i];
		if (ent->gsi != gsi || ent->type != KVM_IRQ_ROUTING_MSI)
			continue;
		ent->u.msi.address_lo = (uint32_t)address;
		ent->u.msi.address_hi = (uint32_t)(address >> 32);
		ent->u.msi.data = data;
		rc = commit(r, e);
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}
