/* MSI-X table, masking and pending bits; the GSI routing table. */
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check_main.h"
#include "devices/msix.h"
#include "vmm/base/irq_routing.h"

static struct pci_device dev;
static struct msix mx;
static int fired[MSIX_MAX_VECTORS], routed[MSIX_MAX_VECTORS], binds[MSIX_MAX_VECTORS],
    unbinds[MSIX_MAX_VECTORS];
static bool kvm_bound[MSIX_MAX_VECTORS]; /* what KVM would hold as irqfds */
static bool bind_fails;			 /* as when a vector has no route yet */
static uint64_t route_addr;
static uint32_t route_data;
/* Vectors 0 and 1 have an eventfd, as each of virtio-pci's has; 2 and 3
 * have none and go through fire(). */
static int efd[2];

static void on_route(void *ctx, uint16_t vec, uint64_t addr, uint32_t data)
{
	(void)ctx;
	routed[vec]++;
	route_addr = addr;
	route_data = data;
}

static int on_bind(void *ctx, uint16_t vec, bool on)
{
	(void)ctx;
	if (on && bind_fails)
		return -1;
	on ? binds[vec]++ : unbinds[vec]++;
	kvm_bound[vec] = on;
	return 0;
}

static void on_fire(void *ctx, uint16_t vec)
{
	(void)ctx;
	fired[vec]++;
}

static void config_written(struct pci_device *d, uint32_t off, uint32_t len)
{
	(void)d;
	msix_config_written(&mx, off, len);
}

static void setup(void)
{
	memset(fired, 0, sizeof(fired));
	memset(routed, 0, sizeof(routed));
	memset(binds, 0, sizeof(binds));
	memset(unbinds, 0, sizeof(unbinds));
	memset(kvm_bound, 0, sizeof(kvm_bound));
	bind_fails = false;
	pci_device_init(&dev, "dev", 0x1af4, 0x1041, 0x020000, 1, 0, 0);
	dev.config_written = config_written;
	const struct msix_ops ops = {on_route, on_bind, on_fire, NULL};
	int fds[4] = {eventfd(0, EFD_NONBLOCK), eventfd(0, EFD_NONBLOCK), -1, -1};
	ck_assert_int_ge(fds[0], 0);
	ck_assert_int_ge(fds[1], 0);
	efd[0] = fds[0];
	efd[1] = fds[1];
	ck_assert_int_eq(msix_init(&mx, &dev, 4, 0, 0x4000, 0x5000, fds, &ops, NULL), 0);
}

static void teardown(void)
{
	msix_destroy(&mx);
	close(efd[0]);
	close(efd[1]);
}

static void write_control(uint16_t v)
{
	pci_config_write(&dev, mx.cap + 2, (const uint8_t *)&v, 2);
}

static void table_write32(uint32_t off, uint32_t v)
{
	msix_table_io(&mx, off, (uint8_t *)&v, 4, true);
}

static uint32_t table_read32(uint32_t off)
{
	uint32_t v;
	msix_table_io(&mx, off, (uint8_t *)&v, 4, false);
	return v;
}

static uint8_t pba(void)
{
	uint8_t b;
	msix_pba_io(&mx, 0, &b, 1, false);
	return b;
}

/* What vector v's eventfd holds (taken, as KVM takes it when bound). */
static eventfd_t count(int v)
{
	eventfd_t n = 0;
	if (eventfd_read(efd[v], &n) < 0)
		n = 0;
	return n;
}

START_TEST(test_capability_layout)
{
	ck_assert_uint_eq(dev.cfg[mx.cap], PCI_CAP_ID_MSIX);
	ck_assert_uint_eq(pci_cfg_read16(&dev, mx.cap + 2), 3); /* 4 vectors, N-1 */
	uint32_t t, p;
	memcpy(&t, dev.cfg + mx.cap + 4, 4);
	memcpy(&p, dev.cfg + mx.cap + 8, 4);
	ck_assert_uint_eq(t, 0x4000); /* BIR 0 */
	ck_assert_uint_eq(p, 0x5000);
	/* Only enable and function mask are writable in message control. */
	write_control(0xffff);
	ck_assert_uint_eq(pci_cfg_read16(&dev, mx.cap + 2), 0xc003);
}
END_TEST

START_TEST(test_vectors_start_masked)
{
	for (uint32_t v = 0; v < 4; v++)
		ck_assert_uint_eq(table_read32(v * 16 + 12), MSIX_VECTOR_MASKED);
	write_control(MSIX_CTRL_ENABLE);
	msix_notify(&mx, 1);
	msix_notify(&mx, 3);
	ck_assert_int_eq(binds[1], 0);
	ck_assert_int_eq(fired[3], 0);
	ck_assert_uint_eq(pba(), 0x0a);
	ck_assert_uint_eq(pba(), 0x0a); /* reading the PBA changes nothing */
}
END_TEST

/* A vector with no eventfd: programmed, unmasked, fired through fire(). */
START_TEST(test_program_and_fire)
{
	table_write32(3 * 16 + 0, 0xfee00000);
	table_write32(3 * 16 + 4, 0);
	table_write32(3 * 16 + 8, 0x4041);
	ck_assert_int_eq(routed[3], 2); /* address lo, data (hi unchanged) */
	ck_assert_uint_eq(route_addr, 0xfee00000);
	ck_assert_uint_eq(route_data, 0x4041);
	table_write32(3 * 16 + 12, 0); /* unmask */
	write_control(MSIX_CTRL_ENABLE);
	msix_notify(&mx, 3);
	ck_assert_int_eq(fired[3], 1);
	ck_assert_uint_eq(pba(), 0);
	ck_assert(msix_enabled(&mx));
}
END_TEST

/* A vector with an eventfd is KVM's irqfd exactly while it is deliverable:
 * the device writes the eventfd itself (msix_vector_fd()), and never calls
 * into msix.c or its owner to interrupt. While masked, the writes wait in
 * the eventfd (the pending bit); unmasking binds it again and what waited
 * goes out as one message (§6.8.2.9). */
START_TEST(test_eventfd_bound_while_deliverable)
{
	ck_assert_int_eq(msix_vector_fd(&mx, 1), -1); /* MSI-X off: INTx */
	table_write32(16 + 8, 0x4041);
	write_control(MSIX_CTRL_ENABLE);
	ck_assert_int_eq(msix_vector_fd(&mx, 1), efd[1]);
	ck_assert_int_eq(msix_vector_fd(&mx, 3), -1);		   /* no eventfd */
	ck_assert_int_eq(msix_vector_fd(&mx, MSIX_NO_VECTOR), -1); /* none */
	ck_assert(!kvm_bound[1]);				   /* masked */
	table_write32(16 + 12, 0);
	ck_assert(kvm_bound[1]);
	ck_assert_int_eq(binds[1], 1);
	ck_assert_uint_eq(count(1), 0); /* nothing had waited */
	eventfd_write(efd[1], 1);	/* the device's interrupt: KVM's now */
	ck_assert_uint_eq(count(1), 1);

	table_write32(16 + 12, MSIX_VECTOR_MASKED);
	ck_assert(!kvm_bound[1]);
	ck_assert_int_eq(unbinds[1], 1);
	for (int i = 0; i < 3; i++)
		eventfd_write(efd[1], 1);
	ck_assert_uint_eq(pba(), 0x02);
	table_write32(16 + 8, 0x4042); /* a new message, still masked */
	ck_assert(!kvm_bound[1]);
	table_write32(16 + 12, 0);
	ck_assert(kvm_bound[1]);
	ck_assert_uint_eq(count(1), 1); /* three writes, one pending bit, one message */
	ck_assert_uint_eq(pba(), 0);
	ck_assert_int_eq(fired[1], 0);
}
END_TEST

/* Binding fails while the vector has no route (or no KVM): the interrupt
 * waits in the eventfd and goes once the guest programs the message. */
START_TEST(test_unroutable_vector_waits)
{
	bind_fails = true;
	write_control(MSIX_CTRL_ENABLE);
	table_write32(12, 0);
	ck_assert(!kvm_bound[0]);
	eventfd_write(efd[0], 1);
	ck_assert_uint_eq(pba(), 0x01);
	bind_fails = false;
	table_write32(8, 0x4041);
	ck_assert(kvm_bound[0]);
	ck_assert_uint_eq(count(0), 1);
}
END_TEST

START_TEST(test_pending_fires_on_unmask)
{
	write_control(MSIX_CTRL_ENABLE);
	msix_notify(&mx, 2);
	ck_assert_uint_eq(pba(), 0x04);
	table_write32(2 * 16 + 12, 0);
	ck_assert_int_eq(fired[2], 1);
	ck_assert_uint_eq(pba(), 0);
}
END_TEST

START_TEST(test_function_mask)
{
	table_write32(0 * 16 + 12, 0);
	table_write32(2 * 16 + 12, 0);
	write_control(MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	ck_assert(!kvm_bound[0]);
	msix_notify(&mx, 0);
	msix_notify(&mx, 2);
	ck_assert_int_eq(fired[2], 0);
	ck_assert_uint_eq(pba(), 0x05);
	write_control(MSIX_CTRL_ENABLE);
	ck_assert(kvm_bound[0]);
	ck_assert_uint_eq(count(0), 1);
	ck_assert_int_eq(fired[2], 1);
	ck_assert_uint_eq(pba(), 0);
	write_control(0); /* MSI-X off: unbound again */
	ck_assert(!kvm_bound[0]);
}
END_TEST

START_TEST(test_disabled_neither_fires_nor_pends)
{
	table_write32(12, 0);
	table_write32(2 * 16 + 12, 0);
	msix_notify(&mx, 0);
	msix_notify(&mx, 2);
	ck_assert_int_eq(fired[2], 0);
	ck_assert_uint_eq(count(0), 0);
	ck_assert_int_eq(binds[0], 0);
	ck_assert_uint_eq(pba(), 0);
}
END_TEST

/* A device thread raises a vector while the guest turns MSI-X on and off
 * and masks the function, as the virtio-net worker does while a vCPU thread
 * writes the capability. Once the function is on and unmasked the vector
 * is bound and nothing is left pending, and under ThreadSanitizer
 * (scripts/tsan.sh) no access races. */
static void *notify_loop(void *arg)
{
	for (int i = 0; i < 20000; i++) {
		msix_notify(&mx, 0);
		msix_notify(&mx, 2);
	}
	return arg;
}

START_TEST(test_notify_while_control_changes)
{
	static const uint16_t controls[] = {0, MSIX_CTRL_ENABLE,
					    MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL};
	table_write32(12, 0);
	table_write32(2 * 16 + 12, 0);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, notify_loop, NULL), 0);
	for (int i = 0; i < 20000; i++)
		write_control(controls[i % 3]);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	write_control(MSIX_CTRL_ENABLE);
	ck_assert(kvm_bound[0]);
	ck_assert_int_eq(binds[0], unbinds[0] + 1);
	ck_assert_uint_eq(pba(), 0);
}
END_TEST

START_TEST(test_bad_accesses)
{
	uint8_t b[4] = {0};
	msix_table_io(&mx, 2, b, 2, false); /* not a dword */
	ck_assert_uint_eq(b[0], 0xff);
	uint32_t v = 0x1234;
	msix_table_io(&mx, 4 * 16, (uint8_t *)&v, 4, true); /* past the table */
	msix_table_io(&mx, 6, (uint8_t *)&v, 4, true);	    /* misaligned */
	ck_assert_int_eq(routed[0], 0);
	/* Reserved vector-control bits read back as zero. */
	table_write32(12, 0xfffffffe);
	ck_assert_uint_eq(table_read32(12), 0);
	/* 64-bit access writes address lo and hi together. */
	uint64_t a = 0x00000001fee01000ULL;
	msix_table_io(&mx, 0, (uint8_t *)&a, 8, true);
	ck_assert_uint_eq(route_addr, a);
	/* The PBA is read-only. */
	uint8_t ones = 0xff;
	msix_pba_io(&mx, 0, &ones, 1, true);
	ck_assert_uint_eq(pba(), 0);
	/* Out-of-range vector numbers are ignored. */
	write_control(MSIX_CTRL_ENABLE);
	msix_notify(&mx, 9);
	ck_assert_uint_eq(pba(), 0);
}
END_TEST

START_TEST(test_init_refuses_bad_layout)
{
	struct msix other;
	struct errbuf e;
	const struct msix_ops ops = {on_route, on_bind, on_fire, NULL};
	ck_assert_int_eq(msix_init(&other, &dev, 0, 0, 0, 0x800, NULL, &ops, &e), -1);
	ck_assert_int_eq(msix_init(&other, &dev, MSIX_MAX_VECTORS + 1, 0, 0, 0x800, NULL, &ops, &e),
			 -1);
	ck_assert_int_eq(msix_init(&other, &dev, 2, 0, 4, 0x800, NULL, &ops, &e), -1);
	ck_assert_int_eq(msix_init(&other, &dev, 2, 6, 0, 0x800, NULL, &ops, &e), -1);
}
END_TEST

START_TEST(test_routing_defaults_and_msi)
{
	static struct irq_routing r;
	irq_routing_init(&r, -1);
	/* 16 PIC + 24 IOAPIC routes, as KVM's own defaults. */
	ck_assert_uint_eq(r.nr, 40);
	int pic = 0, ioapic = 0;
	for (uint32_t i = 0; i < r.nr; i++) {
		ck_assert_uint_eq(r.entries[i].type, KVM_IRQ_ROUTING_IRQCHIP);
		if (r.entries[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
			ck_assert_uint_eq(r.entries[i].u.irqchip.pin, r.entries[i].gsi);
			ioapic++;
		} else {
			ck_assert_uint_eq(r.entries[i].u.irqchip.pin, r.entries[i].gsi % 8);
			pic++;
		}
	}
	ck_assert_int_eq(pic, 16);
	ck_assert_int_eq(ioapic, 24);

	int g1 = irq_routing_add_msi(&r, NULL), g2 = irq_routing_add_msi(&r, NULL);
	ck_assert_int_eq(g1, 24);
	ck_assert_int_eq(g2, 25);
	ck_assert_int_eq(irq_routing_set_msi(&r, (uint32_t)g2, 0x1fee00000ULL, 0x41, NULL), 0);
	const struct kvm_irq_routing_entry *ent = &r.entries[r.nr - 1];
	ck_assert_uint_eq(ent->gsi, 25);
	ck_assert_uint_eq(ent->u.msi.address_lo, 0xfee00000);
	ck_assert_uint_eq(ent->u.msi.address_hi, 1);
	ck_assert_uint_eq(ent->u.msi.data, 0x41);
	struct errbuf e;
	ck_assert_int_eq(irq_routing_set_msi(&r, 4, 0, 0, &e), -1); /* an irqchip GSI */
	for (int i = 2; i < IRQ_ROUTING_MAX_MSI; i++)
		ck_assert_int_ge(irq_routing_add_msi(&r, NULL), 0);
	ck_assert_int_eq(irq_routing_add_msi(&r, &e), -1);
	ck_assert_msg_has(e, "out of interrupt routes");
	irq_routing_destroy(&r);
}
END_TEST

int main(void)
{
	const TTest *const msix_tests[] = {
	    test_capability_layout,
	    test_vectors_start_masked,
	    test_program_and_fire,
	    test_pending_fires_on_unmask,
	    test_eventfd_bound_while_deliverable,
	    test_unroutable_vector_waits,
	    test_function_mask,
	    test_disabled_neither_fires_nor_pends,
	    test_bad_accesses,
	    test_init_refuses_bad_layout,
	    test_notify_while_control_changes,
	};
	const TTest *const routing_tests[] = {test_routing_defaults_and_msi};
	int a = check_run("msix", setup, teardown, 0, msix_tests,
			  sizeof(msix_tests) / sizeof(msix_tests[0]));
	int b = check_run("irq routing", NULL, NULL, 0, routing_tests, 1);
	return a != EXIT_SUCCESS || b != EXIT_SUCCESS ? EXIT_FAILURE : EXIT_SUCCESS;
}
