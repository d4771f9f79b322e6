/* A virtio-pci function's BAR regions on the MMIO bus, followed from the
 * guest's side: config space writes through 0xcf8/0xcfc move BAR 0 and turn
 * memory decoding off and on, and MMIO exits (vmm/exit.c) find each region
 * where config space says it is, or nothing. */
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "devices/pci_host.h"
#include "stub_device.h"
#include "virtio/virtio_pci.h"
#include "vmm/exit.h"

#define RUN_SIZE 8192
#define RAM	 (1u << 20)
#define BAR_AT	 0xd0000000ULL /* where the guest moves BAR 0 */

static struct guest_mem mem;
static struct virtio_pci vp;
static struct pci_host host;
static struct bus pio, mmio;
static struct kvm_run *run;
static struct unclaimed_log unclaimed;
static FILE *reports;
static struct vcpu_stats st;
static struct exit_env env;
static struct stub_device dev;

static void setup(void)
{
	struct errbuf e;
	guest_mem_layout(&mem, RAM);
	mem.host = calloc(1, RAM);
	run = aligned_alloc(4096, RUN_SIZE);
	memset(run, 0, RUN_SIZE);
	pci_host_init(&host, &(struct pci_host_ops){0});
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	ck_assert_int_eq(pci_host_register(&host, &pio, &mmio, &e), 0);
	ck_assert_int_eq(
	    virtio_pci_init(&vp, "virtio-net", &stub_device_ops, &dev, &mem, NULL, -1, &e), 0);
	virtio_pci_label(&vp, "virtio-net tap0");
	ck_assert_int_eq(pci_host_add_device(&host, &vp.pci, &e), 1);
	ck_assert_int_eq(bus_freeze(&pio, 1, &e), 0);
	ck_assert_int_eq(bus_freeze(&mmio, 1, &e), 0);
	reports = tmpfile();
	unclaimed_init(&unclaimed, reports);
	ck_assert_int_eq(vcpu_stats_init(&st, pio.count, mmio.count), 0);
	env = (struct exit_env){.id = 0,
				.run_size = RUN_SIZE,
				.pio = bus_reader(&pio, 0),
				.mmio = bus_reader(&mmio, 0),
				.unclaimed = &unclaimed};
}

static void teardown(void)
{
	vcpu_stats_free(&st);
	unclaimed_destroy(&unclaimed);
	fclose(reports);
	virtio_pci_destroy(&vp);
	pci_host_destroy(&host);
	bus_free(&pio);
	bus_free(&mmio);
	free(run);
	free(mem.host);
}

/* A port exit, as KVM reports `out`/`in` at port with len bytes. */
static uint32_t port(uint16_t p, uint32_t v, uint8_t len, bool out)
{
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	run->io.size = len;
	run->io.port = p;
	run->io.count = 1;
	run->io.data_offset = 4096;
	memcpy((uint8_t *)run + 4096, &v, len);
	struct exit_stop why;
	ck_assert_int_eq(exit_dispatch(run, &env, &st, &why), EXIT_RUN_AGAIN);
	uint32_t r = 0;
	memcpy(&r, (uint8_t *)run + 4096, len);
	return r;
}

/* Config mechanism #1 (PCI 3.0 §3.2.2.3.2): slot 1, function 0. */
static void cfg_write32(uint32_t reg, uint32_t v)
{
	port(0xcf8, 0x80000000U | 1U << 11 | reg, 4, true);
	port(0xcfc, v, 4, true);
}

static uint32_t cfg_read32(uint32_t reg)
{
	port(0xcf8, 0x80000000U | 1U << 11 | reg, 4, true);
	return port(0xcfc, 0, 4, false);
}

static uint64_t mmio_read(uint64_t addr, uint32_t len)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = addr;
	run->mmio.len = len;
	run->mmio.is_write = 0;
	memset(run->mmio.data, 0x55, sizeof(run->mmio.data));
	struct exit_stop why;
	ck_assert_int_eq(exit_dispatch(run, &env, &st, &why), EXIT_RUN_AGAIN);
	uint64_t v = 0;
	memcpy(&v, run->mmio.data, len);
	return v;
}

static const char *reported(void)
{
	static char buf[2048];
	fflush(reports);
	size_t n = (size_t)pread(fileno(reports), buf, sizeof(buf) - 1, 0);
	buf[n < sizeof(buf) ? n : 0] = '\0';
	return buf;
}

/* The MMIO range named name: its slot. */
static uint32_t slot_named(const char *name)
{
	for (uint32_t s = 0; s < mmio.count; s++)
		if (strcmp(mmio.ranges[s].name, name) == 0)
			return s;
	ck_abort_msg("no MMIO range named %s", name);
	return 0;
}

#define NUM_QUEUES offsetof(struct virtio_pci_common_cfg, num_queues)
#define MSIX_CTRL  (VIRTIO_PCI_MSIX_OFF + 12) /* vector 0's control: masked */

START_TEST(test_each_region_is_a_named_range)
{
	static const char *const names[] = {
	    "virtio-net tap0 common", "virtio-net tap0 isr",	    "virtio-net tap0 device config",
	    "virtio-net tap0 notify", "virtio-net tap0 msix table", "virtio-net tap0 msix pba",
	};
	uint64_t bar = PCI_MMIO_WINDOW_BASE; /* firmware's placement (pci_host.c) */
	ck_assert_uint_eq(cfg_read32(PCI_BAR0), bar);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct bus_range r = bus_range_at(&mmio, slot_named(names[i]));
		ck_assert(r.mapped);
		ck_assert_uint_eq(r.base, bar + i * 0x1000);
	}
	ck_assert_uint_eq(mmio_read(bar + NUM_QUEUES, 2), 2);
	ck_assert_uint_eq(mmio_read(bar + MSIX_CTRL, 4), 1);
	ck_assert_uint_eq(st.mmio_hits[slot_named("virtio-net tap0 common")], 1);
	ck_assert_uint_eq(st.mmio_hits[slot_named("virtio-net tap0 msix table")], 1);
	/* Past the last region, still inside the BAR: nothing answers. */
	ck_assert_uint_eq(mmio_read(bar + 0x7000, 4), 0xffffffff);
	ck_assert_uint_eq(st.mmio_unclaimed, 1);
}
END_TEST

START_TEST(test_moved_bar_answers_at_new_address_only)
{
	uint64_t old = PCI_MMIO_WINDOW_BASE;
	uint32_t common = slot_named("virtio-net tap0 common");
	ck_assert_uint_eq(mmio_read(old + NUM_QUEUES, 2), 2);
	/* The guest sizes BAR 0 (§6.2.5.1) and puts it elsewhere, as Linux
	 * does when it reassigns resources. */
	cfg_write32(PCI_BAR0, 0xffffffff);
	ck_assert_uint_eq(cfg_read32(PCI_BAR0), (uint32_t) ~(VIRTIO_PCI_BAR_SIZE - 1));
	cfg_write32(PCI_BAR0, (uint32_t)BAR_AT);
	ck_assert_uint_eq(cfg_read32(PCI_BAR0), BAR_AT);

	ck_assert_uint_eq(mmio_read(BAR_AT + NUM_QUEUES, 2), 2);
	ck_assert_uint_eq(mmio_read(BAR_AT + MSIX_CTRL, 4), 1);
	/* The old place is nobody's: all-ones, reported once. */
	ck_assert_uint_eq(mmio_read(old + NUM_QUEUES, 2), 0xffff);
	ck_assert_uint_eq(mmio_read(old + NUM_QUEUES, 2), 0xffff);
	ck_assert_uint_eq(st.mmio_unclaimed, 2);
	ck_assert_ptr_nonnull(strstr(reported(), "unclaimed MMIO address 0xe0000012"));
	ck_assert_ptr_null(strstr(strstr(reported(), "0xe0000012") + 1, "0xe0000012"));
	/* Its counts stayed with it: one access before the move, one after. */
	ck_assert_uint_eq(st.mmio_hits[common], 2);
	ck_assert_uint_eq(mmio.count, 6);
	struct bus_range r = bus_range_at(&mmio, common);
	ck_assert_uint_eq(r.base, BAR_AT);
}
END_TEST

START_TEST(test_memory_decode_off_unclaims_the_regions)
{
	uint64_t bar = PCI_MMIO_WINDOW_BASE;
	uint32_t cmd = cfg_read32(PCI_COMMAND);
	ck_assert(cmd & PCI_COMMAND_MEMORY);
	cfg_write32(PCI_COMMAND, cmd & ~(uint32_t)PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(mmio_read(bar + NUM_QUEUES, 2), 0xffff);
	ck_assert_uint_eq(mmio_read(bar + MSIX_CTRL, 4), 0xffffffff);
	ck_assert_uint_eq(st.mmio_unclaimed, 2);
	ck_assert(!bus_range_at(&mmio, slot_named("virtio-net tap0 isr")).mapped);
	/* Moved while off, then on: it answers where it now is. */
	cfg_write32(PCI_BAR0, (uint32_t)BAR_AT);
	ck_assert_uint_eq(mmio_read(BAR_AT + NUM_QUEUES, 2), 0xffff);
	cfg_write32(PCI_COMMAND, cmd);
	ck_assert_uint_eq(mmio_read(BAR_AT + NUM_QUEUES, 2), 2);
	ck_assert_uint_eq(mmio_read(bar + NUM_QUEUES, 2), 0xffff);
	ck_assert_uint_eq(st.mmio_unclaimed, 4);
}
END_TEST

/* An access straddling two regions belongs to neither (vmm/base/bus.h). */
START_TEST(test_access_across_regions_is_unclaimed)
{
	uint64_t isr_end = PCI_MMIO_WINDOW_BASE + VIRTIO_PCI_DEVICE_OFF - 2;
	ck_assert_uint_eq(mmio_read(isr_end, 4), 0xffffffff);
	ck_assert_uint_eq(st.mmio_unclaimed, 1);
}
END_TEST

CHECK_MAIN_WITH("pci bars", setup, teardown, 0, test_each_region_is_a_named_range,
		test_moved_bar_answers_at_new_address_only,
		test_memory_decode_off_unclaims_the_regions,
		test_access_across_regions_is_unclaimed)
