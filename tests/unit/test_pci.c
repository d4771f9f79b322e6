/* PCI configuration space, INTx, and the host bridge's configuration
 * mechanism #1. */
#include <pthread.h>
#include <string.h>

#include "check_main.h"
#include "devices/pci_host.h"
#include "recorder.h"

static uint8_t bar_last[8];
static uint64_t bar_last_off;
static int bar_calls;

static void bar_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	bar_calls++;
	bar_last_off = off;
	if (is_write)
		memcpy(bar_last, data, len);
	else
		memset(data, 0xab, len);
}

static uint32_t cfg_read32(struct pci_device *d, uint32_t off)
{
	uint32_t v;
	pci_config_read(d, off, (uint8_t *)&v, 4);
	return v;
}

static void cfg_write32(struct pci_device *d, uint32_t off, uint32_t v)
{
	pci_config_write(d, off, (const uint8_t *)&v, 4);
}

static void make_dev(struct pci_device *d)
{
	pci_device_init(d, "test dev", 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 0x0001);
}

START_TEST(test_header_identity_read_only)
{
	struct pci_device d;
	make_dev(&d);
	ck_assert_uint_eq(cfg_read32(&d, 0), 0x10411af4);
	ck_assert_uint_eq(cfg_read32(&d, 8), 0x02000001); /* class 0x020000, rev 1 */
	cfg_write32(&d, 0, 0);
	cfg_write32(&d, 8, 0xffffffff);
	ck_assert_uint_eq(cfg_read32(&d, 0), 0x10411af4);
	ck_assert_uint_eq(cfg_read32(&d, 8), 0x02000001);
	ck_assert_uint_eq(cfg_read32(&d, 0x2c), 0x00011af4);
	/* Beyond config space: all-ones, and writes are dropped. */
	uint8_t b[2];
	pci_config_read(&d, 255, b, 2);
	ck_assert_uint_eq(b[1], 0xff);
}
END_TEST

START_TEST(test_command_register_mask)
{
	struct pci_device d;
	make_dev(&d);
	cfg_write32(&d, PCI_COMMAND, 0xffffffff);
	/* IO, MEM, MASTER and INTx disable are writable; status is not. */
	ck_assert_uint_eq(cfg_read32(&d, PCI_COMMAND), 0x00000407);
}
END_TEST

START_TEST(test_bar_sizing_32)
{
	struct pci_device d;
	make_dev(&d);
	ck_assert_int_eq(pci_add_mem_bar(&d, 0, 0x4000, false, bar_io, NULL, "bar0", NULL), 0);
	cfg_write32(&d, PCI_BAR0, 0xffffffff);
	ck_assert_uint_eq(cfg_read32(&d, PCI_BAR0), 0xffffc000); /* size 16 KiB, 32-bit mem */
	cfg_write32(&d, PCI_BAR0, 0xe0001234);
	ck_assert_uint_eq(cfg_read32(&d, PCI_BAR0), 0xe0000000);
	/* Unimplemented BARs read as zero even after all-ones (§6.2.5.1). */
	cfg_write32(&d, PCI_BAR0 + 4, 0xffffffff);
	ck_assert_uint_eq(cfg_read32(&d, PCI_BAR0 + 4), 0);
}
END_TEST

START_TEST(test_bar_sizing_64)
{
	struct pci_device d;
	make_dev(&d);
	ck_assert_int_eq(pci_add_mem_bar(&d, 2, 0x100000, true, bar_io, NULL, "bar2", NULL), 0);
	cfg_write32(&d, PCI_BAR0 + 8, 0xffffffff);
	cfg_write32(&d, PCI_BAR0 + 12, 0xffffffff);
	ck_assert_uint_eq(cfg_read32(&d, PCI_BAR0 + 8), 0xfff00004); /* 64-bit type bits */
	ck_assert_uint_eq(cfg_read32(&d, PCI_BAR0 + 12), 0xffffffff);
	/* The upper half is taken. */
	ck_assert_int_eq(pci_add_mem_bar(&d, 3, 0x1000, false, bar_io, NULL, "x", NULL), -1);
}
END_TEST

START_TEST(test_bar_arguments_refused)
{
	struct pci_device d;
	struct errbuf e;
	make_dev(&d);
	ck_assert_int_eq(pci_add_mem_bar(&d, 0, 0x3000, false, bar_io, NULL, "b", &e), -1);
	ck_assert_int_eq(pci_add_mem_bar(&d, 0, 8, false, bar_io, NULL, "b", &e), -1);
	ck_assert_int_eq(pci_add_mem_bar(&d, 5, 0x1000, true, bar_io, NULL, "b", &e), -1);
	ck_assert_int_eq(pci_add_mem_bar(&d, 6, 0x1000, false, bar_io, NULL, "b", &e), -1);
	ck_assert_int_eq(pci_add_mem_bar(&d, 1, 0x1000, false, bar_io, NULL, "b", &e), 0);
	ck_assert_int_eq(pci_add_mem_bar(&d, 1, 0x1000, false, bar_io, NULL, "b", &e), -1);
}
END_TEST

START_TEST(test_bar_decodes_only_with_memory_enabled)
{
	struct pci_device d;
	make_dev(&d);
	pci_add_mem_bar(&d, 0, 0x1000, false, bar_io, NULL, "bar0", NULL);
	pci_set_bar_address(&d, 0, 0xe0000000);
	ck_assert_uint_eq(pci_bar_address(&d, 0), 0);
	cfg_write32(&d, PCI_COMMAND, PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(pci_bar_address(&d, 0), 0xe0000000);
}
END_TEST

START_TEST(test_capability_list)
{
	struct pci_device d;
	make_dev(&d);
	ck_assert_uint_eq(d.cfg[PCI_CAP_PTR], 0);
	uint8_t body1[3] = {1, 2, 3}, body2[14] = {0}, wm2[14] = {0};
	wm2[0] = 0xff;
	uint8_t a = pci_add_capability(&d, 0x09, body1, sizeof(body1), NULL);
	uint8_t b = pci_add_capability(&d, 0x11, body2, sizeof(body2), wm2);
	ck_assert_uint_eq(a, 0x40);
	ck_assert_uint_eq(b, 0x48); /* dword aligned after 0x40 + 5 */
	ck_assert(pci_cfg_read16(&d, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	/* Walk it as a driver would. */
	uint8_t at = d.cfg[PCI_CAP_PTR], ids[4], n = 0;
	while (at && n < 4) {
		ids[n++] = d.cfg[at];
		at = d.cfg[at + 1];
	}
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ids[0], 0x09);
	ck_assert_uint_eq(ids[1], 0x11);
	/* Only the bits in the mask are writable. */
	uint8_t v[2] = {0x55, 0x66};
	pci_config_write(&d, b + 2, v, 2);
	ck_assert_uint_eq(d.cfg[b + 2], 0x55);
	ck_assert_uint_eq(d.cfg[b + 3], 0);
	pci_config_write(&d, a, v, 2); /* id and next are read-only */
	ck_assert_uint_eq(d.cfg[a], 0x09);
	ck_assert_uint_eq(d.cfg[a + 1], b);
	/* A capability that does not fit is refused. */
	uint8_t big[250] = {0};
	ck_assert_uint_eq(pci_add_capability(&d, 0x09, big, sizeof(big), NULL), 0);
}
END_TEST

/* ---- INTx ----------------------------------------------------------------- */

/* A set_irq that records what reaches the interrupt controller; rec_irq()
 * fails the test if the same level arrives twice in a row. */
struct irq_log {
	struct dev_rec rec;
	unsigned gsi;
};

static void log_irq(void *ctx, unsigned gsi, int level)
{
	struct irq_log *l = ctx;
	l->gsi = gsi;
	rec_irq(&l->rec, level);
}

static void set_command(struct pci_device *d, uint16_t cmd)
{
	pci_config_write(d, PCI_COMMAND, (const uint8_t *)&cmd, 2);
}

static bool intx_status(struct pci_device *d)
{
	uint16_t status;
	pci_config_read(d, PCI_STATUS, (uint8_t *)&status, 2);
	return status & PCI_STATUS_INTERRUPT;
}

START_TEST(test_intx_status_bit_unwired)
{
	struct pci_device d;
	make_dev(&d);
	uint8_t body[2] = {0};
	pci_add_capability(&d, 0x09, body, sizeof(body), NULL);
	ck_assert(!intx_status(&d));
	pci_set_intx(&d, 1); /* no host: nothing to forward to, and no crash */
	ck_assert(intx_status(&d));
	ck_assert(pci_cfg_read16(&d, PCI_STATUS) & PCI_STATUS_CAP_LIST); /* untouched */
	pci_set_intx(&d, 0);
	ck_assert(!intx_status(&d));
	ck_assert(pci_cfg_read16(&d, PCI_STATUS) & PCI_STATUS_CAP_LIST);
	/* The guest cannot write Interrupt Status. */
	pci_set_intx(&d, 1);
	uint16_t zero = 0;
	pci_config_write(&d, PCI_STATUS, (const uint8_t *)&zero, 2);
	ck_assert(intx_status(&d));
	pci_device_destroy(&d);
}
END_TEST

START_TEST(test_intx_forwarded_on_changes)
{
	struct pci_device d;
	struct irq_log log;
	memset(&log, 0, sizeof(log));
	make_dev(&d);
	pci_wire_intx(&d, 19, log_irq, &log);
	ck_assert_int_eq(log.rec.irq_calls, 0); /* wired deasserted */
	pci_set_intx(&d, 1);
	ck_assert_int_eq(log.rec.irq_calls, 1);
	ck_assert_int_eq(log.rec.irq, 1);
	ck_assert_uint_eq(log.gsi, 19);
	pci_set_intx(&d, 1); /* a level wire: asserting again changes nothing */
	ck_assert_int_eq(log.rec.irq_calls, 1);
	pci_set_intx(&d, 0);
	ck_assert_int_eq(log.rec.irq_calls, 2);
	ck_assert_int_eq(log.rec.irq, 0);
	pci_device_destroy(&d);
}
END_TEST

/* §6.2.2: Interrupt Disable keeps INTx# deasserted but not the device's
 * interrupt state, which Interrupt Status still shows (§6.2.3). */
START_TEST(test_intx_disable_gates_line)
{
	struct pci_device d;
	struct irq_log log;
	memset(&log, 0, sizeof(log));
	make_dev(&d);
	pci_wire_intx(&d, 17, log_irq, &log);
	set_command(&d, PCI_COMMAND_INTX_OFF);
	pci_set_intx(&d, 1);
	ck_assert(intx_status(&d));
	ck_assert_int_eq(log.rec.irq_calls, 0);
	/* The guest clears Interrupt Disable: the pending level goes out. */
	set_command(&d, PCI_COMMAND_MEMORY);
	ck_assert_int_eq(log.rec.irq_calls, 1);
	ck_assert_int_eq(log.rec.irq, 1);
	/* Other command bits leave the line alone. */
	set_command(&d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ck_assert_int_eq(log.rec.irq_calls, 1);
	/* Set again while asserted: deasserted, status still set. */
	set_command(&d, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_OFF);
	ck_assert_int_eq(log.rec.irq_calls, 2);
	ck_assert_int_eq(log.rec.irq, 0);
	ck_assert(intx_status(&d));
	/* Deasserting while disabled reaches nobody; clearing then has
	 * nothing to reassert. */
	pci_set_intx(&d, 0);
	set_command(&d, PCI_COMMAND_MEMORY);
	ck_assert_int_eq(log.rec.irq_calls, 2);
	ck_assert(!intx_status(&d));
	pci_device_destroy(&d);
}
END_TEST

START_TEST(test_intx_wired_while_asserted)
{
	struct pci_device d;
	struct irq_log log;
	memset(&log, 0, sizeof(log));
	make_dev(&d);
	pci_set_intx(&d, 1);
	pci_wire_intx(&d, 20, log_irq, &log);
	ck_assert_int_eq(log.rec.irq_calls, 1);
	ck_assert_int_eq(log.rec.irq, 1);
	ck_assert_uint_eq(log.gsi, 20);
	pci_device_destroy(&d);
}
END_TEST

START_TEST(test_interrupt_pin_read_only_line_writable)
{
	struct pci_device d;
	make_dev(&d);
	pci_wire_intx(&d, 18, NULL, NULL);
	ck_assert_uint_eq(d.cfg[PCI_INTR_PIN], PCI_INTR_PIN_INTA);
	ck_assert_uint_eq(d.cfg[PCI_INTR_LINE], 18);
	uint8_t v[2] = {0x0b, 0x04}; /* line 11, pin INTD */
	pci_config_write(&d, PCI_INTR_LINE, v, 2);
	ck_assert_uint_eq(d.cfg[PCI_INTR_LINE], 0x0b); /* §6.2.4: scratch for software */
	ck_assert_uint_eq(d.cfg[PCI_INTR_PIN], PCI_INTR_PIN_INTA);
	pci_set_intx(&d, 1); /* wired to no set_irq: safe */
	ck_assert(intx_status(&d));
	pci_device_destroy(&d);
}
END_TEST

struct toggler {
	struct pci_device *d;
	int rounds;
};

static void *toggle_intx(void *arg)
{
	struct toggler *t = arg;
	for (int i = 0; i < t->rounds; i++) {
		pci_set_intx(t->d, 1);
		pci_set_intx(t->d, 0);
	}
	return NULL;
}

/* A device thread toggling INTA# while a vCPU toggles Interrupt Disable:
 * the controller sees strict alternation (rec_irq checks it) and ends where
 * the final state says. */
START_TEST(test_intx_races_with_config_writes)
{
	static struct pci_device d;
	static struct irq_log log;
	memset(&log, 0, sizeof(log));
	make_dev(&d);
	pci_wire_intx(&d, 21, log_irq, &log);
	struct toggler t = {&d, 20000};
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, toggle_intx, &t), 0);
	for (int i = 0; i < 20000; i++) {
		set_command(&d, PCI_COMMAND_INTX_OFF);
		set_command(&d, 0);
		(void)intx_status(&d);
	}
	pthread_join(th, NULL);
	ck_assert_int_eq(log.rec.irq, 0);
	ck_assert(!intx_status(&d));
	pci_device_destroy(&d);
}
END_TEST

/* ---- the host bridge ---------------------------------------------------- */

static struct pci_host host;
static struct bus pio_bus, mmio_bus;
static int resets;
static struct irq_log host_irqs;

static void on_reset(void *ctx)
{
	(void)ctx;
	resets++;
}

static void host_irq(void *ctx, unsigned gsi, int level)
{
	(void)ctx; /* the host's ctx, shared with on_reset */
	log_irq(&host_irqs, gsi, level);
}

static void setup(void)
{
	resets = 0;
	bar_calls = 0;
	memset(&host_irqs, 0, sizeof(host_irqs));
	pci_host_init(&host, &(struct pci_host_ops){.reset = on_reset, .set_irq = host_irq});
	bus_init(&pio_bus, "pio");
	bus_init(&mmio_bus, "mmio");
	ck_assert_int_eq(pci_host_register(&host, &pio_bus, &mmio_bus, NULL), 0);
}

static void teardown(void)
{
	pci_host_destroy(&host);
	bus_free(&pio_bus);
	bus_free(&mmio_bus);
}

/* An MMIO access as the exit path makes it: the range on the bus holding
 * it, or all-ones. Freezes the bus at the first access, as vm.c does once
 * the devices are in. */
static void mmio(uint64_t addr, void *data, uint32_t len, bool is_write)
{
	if (!mmio_bus.frozen)
		ck_assert_int_eq(bus_freeze(&mmio_bus, 1, NULL), 0);
	struct bus_reader *r = bus_reader(&mmio_bus, 0);
	const struct bus_range *x = bus_find(bus_enter(r), addr, len);
	if (x)
		x->io(x->opaque, addr - x->base, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
	bus_leave(r);
}

static void select_reg(uint32_t slot, uint32_t fn, uint32_t reg)
{
	uint32_t a = 0x80000000U | slot << 11 | fn << 8 | reg;
	pci_host_config_io(&host, 0, (uint8_t *)&a, 4, true);
}

static uint32_t data_read32(void)
{
	uint32_t v;
	pci_host_config_io(&host, 4, (uint8_t *)&v, 4, false);
	return v;
}

START_TEST(test_host_bridge_at_slot_0)
{
	select_reg(0, 0, 0);
	ck_assert_uint_eq(data_read32(), (uint32_t)PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
	select_reg(0, 0, 8);
	ck_assert_uint_eq(data_read32() >> 8, 0x060000); /* class: host bridge */
	/* CONFIG_ADDRESS reads back. */
	uint32_t a;
	pci_host_config_io(&host, 0, (uint8_t *)&a, 4, false);
	ck_assert_uint_eq(a, 0x80000008U);
}
END_TEST

START_TEST(test_absent_functions_read_all_ones)
{
	select_reg(5, 0, 0); /* empty slot */
	ck_assert_uint_eq(data_read32(), 0xffffffff);
	select_reg(0, 3, 0); /* function 3 of the bridge */
	ck_assert_uint_eq(data_read32(), 0xffffffff);
	uint32_t a = 0x00000000; /* enable bit clear */
	pci_host_config_io(&host, 0, (uint8_t *)&a, 4, true);
	ck_assert_uint_eq(data_read32(), 0xffffffff);
	a = 0x80010000; /* bus 1 */
	pci_host_config_io(&host, 0, (uint8_t *)&a, 4, true);
	ck_assert_uint_eq(data_read32(), 0xffffffff);
}
END_TEST

START_TEST(test_byte_access_at_data_port)
{
	select_reg(0, 0, 0);
	uint8_t b;
	pci_host_config_io(&host, 6, &b, 1, false); /* 0xcfe: device id low byte */
	ck_assert_uint_eq(b, PCI_HOST_DEVICE & 0xff);
}
END_TEST

START_TEST(test_add_device_assigns_bars_and_routes_mmio)
{
	static struct pci_device d;
	make_dev(&d);
	pci_add_mem_bar(&d, 0, 0x4000, false, bar_io, NULL, "bar0", NULL);
	pci_add_mem_bar(&d, 2, 0x100000, true, bar_io, NULL, "bar2", NULL);
	int slot = pci_host_add_device(&host, &d, NULL);
	ck_assert_int_eq(slot, 1);
	uint64_t b0 = pci_bar_address(&d, 0), b2 = pci_bar_address(&d, 2);
	ck_assert_uint_eq(b0, PCI_MMIO_WINDOW_BASE);
	ck_assert_uint_eq(b2 % 0x100000, 0); /* naturally aligned */
	ck_assert_uint_ge(b2, b0 + 0x4000);

	select_reg(1, 0, 0);
	ck_assert_uint_eq(data_read32(), 0x10411af4);

	uint8_t v[4] = {1, 2, 3, 4};
	mmio(b2 + 0x10, v, 4, true);
	ck_assert_int_eq(bar_calls, 1);
	ck_assert_uint_eq(bar_last_off, 0x10);
	/* Memory decoding off: the BAR no longer answers. */
	select_reg(1, 0, PCI_COMMAND);
	uint32_t cmd = 0;
	pci_host_config_io(&host, 4, (uint8_t *)&cmd, 4, true);
	uint32_t r = 0;
	mmio(b0, &r, 4, false);
	ck_assert_uint_eq(r, 0xffffffff);
	ck_assert_int_eq(bar_calls, 1);
}
END_TEST

START_TEST(test_access_straddling_bar_end_not_delivered)
{
	static struct pci_device d;
	make_dev(&d);
	pci_add_mem_bar(&d, 0, 0x1000, false, bar_io, NULL, "bar0", NULL);
	pci_host_add_device(&host, &d, NULL);
	uint32_t r = 0;
	mmio(pci_bar_address(&d, 0) + 0xffe, &r, 4, false);
	ck_assert_uint_eq(r, 0xffffffff);
	ck_assert_int_eq(bar_calls, 0);
}
END_TEST

START_TEST(test_reset_control_register)
{
	uint8_t v = 0x02; /* system reset bit alone does nothing */
	pci_host_config_io(&host, 1, &v, 1, true);
	ck_assert_int_eq(resets, 0);
	v = 0x06;
	pci_host_config_io(&host, 1, &v, 1, true);
	ck_assert_int_eq(resets, 1);
}
END_TEST

START_TEST(test_slots_run_out)
{
	static struct pci_device d[PCI_MAX_SLOTS];
	struct errbuf e;
	for (int i = 1; i < PCI_MAX_SLOTS; i++) {
		make_dev(&d[i]);
		ck_assert_int_eq(pci_host_add_device(&host, &d[i], &e), i);
	}
	make_dev(&d[0]);
	ck_assert_int_eq(pci_host_add_device(&host, &d[0], &e), -1);
	ck_assert_msg_has(e, "no free PCI slot");
}
END_TEST

static uint32_t host_cfg_read32(uint32_t slot, uint32_t reg)
{
	select_reg(slot, 0, reg);
	return data_read32();
}

static void host_cfg_write(uint32_t slot, uint32_t reg, const void *v, uint32_t len)
{
	select_reg(slot, 0, reg & ~3u);
	pci_host_config_io(&host, 4 + (reg & 3), (uint8_t *)v, len, true);
}

START_TEST(test_intx_gsi_mapping)
{
	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++) {
		ck_assert_uint_ge(pci_intx_gsi(slot), 16); /* ISA keeps 0-15 */
		ck_assert_uint_le(pci_intx_gsi(slot), 23); /* KVM's IOAPIC has 24 pins */
	}
	ck_assert_uint_ne(pci_intx_gsi(1), pci_intx_gsi(2));
}
END_TEST

START_TEST(test_add_device_wires_inta)
{
	static struct pci_device d;
	make_dev(&d);
	int slot = pci_host_add_device(&host, &d, NULL);
	ck_assert_int_eq(slot, 1);
	uint32_t r = host_cfg_read32(1, PCI_INTR_LINE);
	ck_assert_uint_eq(r & 0xff, pci_intx_gsi(1));	       /* Interrupt Line */
	ck_assert_uint_eq((r >> 8) & 0xff, PCI_INTR_PIN_INTA); /* Interrupt Pin */
	/* The host bridge has no interrupt. */
	ck_assert_uint_eq((host_cfg_read32(0, PCI_INTR_LINE) >> 8) & 0xff, 0);

	pci_set_intx(&d, 1);
	ck_assert_int_eq(host_irqs.rec.irq_calls, 1);
	ck_assert_int_eq(host_irqs.rec.irq, 1);
	ck_assert_uint_eq(host_irqs.gsi, pci_intx_gsi(1));
	/* The guest sets Interrupt Disable through 0xcfc: deasserted. */
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_OFF;
	host_cfg_write(1, PCI_COMMAND, &cmd, 2);
	ck_assert_int_eq(host_irqs.rec.irq_calls, 2);
	ck_assert_int_eq(host_irqs.rec.irq, 0);
	ck_assert_uint_eq(host_cfg_read32(1, PCI_COMMAND) >> 16 & PCI_STATUS_INTERRUPT,
			  PCI_STATUS_INTERRUPT);
	cmd = PCI_COMMAND_MEMORY;
	host_cfg_write(1, PCI_COMMAND, &cmd, 2);
	ck_assert_int_eq(host_irqs.rec.irq_calls, 3);
	ck_assert_int_eq(host_irqs.rec.irq, 1);

	/* Interrupt Pin ignores the guest; Interrupt Line keeps its write. */
	uint8_t v = 0x04;
	host_cfg_write(1, PCI_INTR_PIN, &v, 1);
	v = 0x0a;
	host_cfg_write(1, PCI_INTR_LINE, &v, 1);
	r = host_cfg_read32(1, PCI_INTR_LINE);
	ck_assert_uint_eq(r & 0xffff, PCI_INTR_PIN_INTA << 8 | 0x0a);
}
END_TEST

/* Slots 8 apart share a GSI: the line is the OR of their INTA#s (PCI 3.0
 * §2.2.6), so one device deasserting must not hide the other. */
START_TEST(test_shared_gsi_is_wired_or)
{
	static struct pci_device d[PCI_INTX_GSIS + 1];
	for (int i = 0; i <= PCI_INTX_GSIS; i++) {
		make_dev(&d[i]);
		ck_assert_int_eq(pci_host_add_device(&host, &d[i], NULL), i + 1);
	}
	struct pci_device *a = &d[0], *b = &d[PCI_INTX_GSIS];
	ck_assert_uint_eq(pci_intx_gsi(1), pci_intx_gsi(1 + PCI_INTX_GSIS));
	pci_set_intx(a, 1);
	pci_set_intx(b, 1);
	ck_assert_int_eq(host_irqs.rec.irq_calls, 1);
	pci_set_intx(a, 0);
	ck_assert_int_eq(host_irqs.rec.irq_calls, 1); /* b still asserts */
	ck_assert_int_eq(host_irqs.rec.irq, 1);
	pci_set_intx(b, 0);
	ck_assert_int_eq(host_irqs.rec.irq_calls, 2);
	ck_assert_int_eq(host_irqs.rec.irq, 0);
	/* A device another slot over drives its own GSI. */
	pci_set_intx(&d[1], 1);
	ck_assert_uint_eq(host_irqs.gsi, pci_intx_gsi(2));
}
END_TEST

START_TEST(test_host_without_set_irq)
{
	static struct pci_host h;
	static struct pci_device d;
	static struct bus pio, mem;
	pci_host_init(&h, &(struct pci_host_ops){0});
	bus_init(&pio, "pio");
	bus_init(&mem, "mmio");
	ck_assert_int_eq(pci_host_register(&h, &pio, &mem, NULL), 0);
	make_dev(&d);
	ck_assert_int_eq(pci_host_add_device(&h, &d, NULL), 1);
	pci_set_intx(&d, 1);
	ck_assert(intx_status(&d));
	pci_set_intx(&d, 0);
	pci_host_destroy(&h);
	bus_free(&pio);
	bus_free(&mem);
}
END_TEST

int main(void)
{
	const TTest *const dev_tests[] = {
	    test_header_identity_read_only,
	    test_command_register_mask,
	    test_bar_sizing_32,
	    test_bar_sizing_64,
	    test_bar_arguments_refused,
	    test_bar_decodes_only_with_memory_enabled,
	    test_capability_list,
	    test_intx_status_bit_unwired,
	    test_intx_forwarded_on_changes,
	    test_intx_disable_gates_line,
	    test_intx_wired_while_asserted,
	    test_interrupt_pin_read_only_line_writable,
	    test_intx_races_with_config_writes,
	};
	const TTest *const host_tests[] = {
	    test_host_bridge_at_slot_0,
	    test_absent_functions_read_all_ones,
	    test_byte_access_at_data_port,
	    test_add_device_assigns_bars_and_routes_mmio,
	    test_access_straddling_bar_end_not_delivered,
	    test_reset_control_register,
	    test_slots_run_out,
	    test_intx_gsi_mapping,
	    test_add_device_wires_inta,
	    test_shared_gsi_is_wired_or,
	    test_host_without_set_irq,
	};
	int a = check_run("pci device", NULL, NULL, 0, dev_tests,
			  sizeof(dev_tests) / sizeof(dev_tests[0]));
	int b = check_run("pci host", setup, teardown, 0, host_tests,
			  sizeof(host_tests) / sizeof(host_tests[0]));
	return a != EXIT_SUCCESS || b != EXIT_SUCCESS ? EXIT_FAILURE : EXIT_SUCCESS;
}
