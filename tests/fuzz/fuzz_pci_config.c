/*
 * PCI configuration space, the host bridge's configuration mechanism #1,
 * BAR dispatch, MSI-X and the virtio-pci transport (devices/pci.c,
 * pci_host.c, msix.c, virtio/virtio_pci.c), driven as a guest drives them:
 * port 0xcf8/0xcfc accesses, config accesses, MMIO accesses through the
 * bus (where the guest has moved the BARs), MSI-X table and PBA accesses,
 * and the device-side events (queue and config notifications, INTx) in
 * between.
 *
 * The machine: the host bridge at 00:00.0, a virtio-pci function whose
 * shape (queues, config size, queue_max, features) comes from the input,
 * with a stand-in device behind it, and a plain function with a 64-bit and
 * a 32-bit BAR. No KVM (vm_fd -1, no routing): MSI-X vectors and irqfds are
 * not created, everything else runs.
 *
 * Checked: the bus hands BAR region handlers only accesses inside the
 * region and the device only accesses inside its config; the MMIO bus's
 * published table holds exactly the regions of decoding BARs, where config
 * space says they are (less those a lower range overlaps), sorted and
 * disjoint; read-only config bits never change; the INTx wire to the
 * interrupt controller only ever changes level; the virtio status never
 * holds DRIVER_OK without FEATURES_OK, nor FEATURES_OK with features the
 * device did not offer.
 *
 * Input: the shape (1 + 2 + 1 + 8 bytes), the plain function's BAR sizes
 * (2), then a sequence of steps, each an opcode byte and its operands.
 */
#include <stdbool.h>

#include "devices/pci_host.h"
#include "fuzz_input.h"
#include "virtio/virtio_pci.h"

#define RAM 0x10000u

static uint8_t *ram;
static struct guest_mem mem;
static struct pci_host host;
static struct bus pio_bus, mmio_bus;
static struct virtio_pci vp;
static struct pci_device plain;
static struct virtio_device_ops ops;
static uint8_t dev_config[VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVICE_OFF];
static int line[PCI_INTX_GSI_BASE + PCI_INTX_GSIS];
static bool activated;

/* ---- the stand-in virtio device ---- */

static void cfg_read(void *ctx, uint32_t off, uint8_t *data, uint32_t len)
{
	(void)ctx;
	FUZZ_CHECK(len >= 1 && len <= 8 && off + len <= ops.config_len);
	memcpy(data, dev_config + off, len);
}

static void cfg_write(void *ctx, uint32_t off, const uint8_t *data, uint32_t len)
{
	(void)ctx;
	FUZZ_CHECK(len >= 1 && len <= 8 && off + len <= ops.config_len);
	memcpy(dev_config + off, data, len);
}

static int activate(void *ctx)
{
	(void)ctx;
	FUZZ_CHECK(!activated);
	activated = true;
	return 0;
}

static void reset(void *ctx)
{
	(void)ctx;
	FUZZ_CHECK(activated); /* the transport resets only what it activated */
	activated = false;
}

/* ---- the board ---- */

static void set_irq(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	FUZZ_CHECK(gsi >= PCI_INTX_GSI_BASE && gsi < PCI_INTX_GSI_BASE + PCI_INTX_GSIS);
	FUZZ_CHECK(level == 0 || level == 1);
	FUZZ_CHECK(line[gsi] != level); /* a wire reports changes */
	line[gsi] = level;
}

static void machine_reset(void *ctx)
{
	(void)ctx;
}

/* What each BAR handler is handed must lie inside its BAR. */
static void virtio_bar(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	FUZZ_CHECK(len >= 1 && len <= 8 && off + len <= VIRTIO_PCI_BAR_SIZE);
	virtio_pci_bar_io(opaque, off, data, len, is_write);
}

/* The virtio function's regions, each behind a check that the bus hands
 * it only accesses inside the region. */
static struct pci_bar_region vp_regions[PCI_BAR_REGIONS];

static void checked_region(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	const struct pci_bar_region *r = opaque;
	FUZZ_CHECK(len >= 1 && len <= 8 && off < r->len && len <= r->len - off);
	r->io(r->opaque, off, data, len, is_write);
}

static uint8_t plain_mem[2][4096];

static void plain_bar(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	int i = opaque == &plain_mem[1];
	FUZZ_CHECK(len >= 1 && len <= 8 && off + len <= plain.bars[i ? 2 : 0].size);
	uint8_t *m = plain_mem[i] + off % (sizeof(plain_mem[0]) - 8);
	if (is_write)
		memcpy(m, data, len);
	else
		memcpy(data, m, len);
}

/* ---- checks ---- */

static uint8_t ro_bits[2][PCI_CFG_SPACE];

static void snapshot_read_only(const struct pci_device *d, uint8_t *out)
{
	for (int i = 0; i < PCI_CFG_SPACE; i++)
		out[i] = d->cfg[i] & (uint8_t)~d->wmask[i];
	/* The device's own status (Interrupt Status follows INTx) is the
	 * device's to change. */
	out[PCI_STATUS] = out[PCI_STATUS + 1] = 0;
}

static void check_read_only(const struct pci_device *d, const uint8_t *before)
{
	uint8_t now[PCI_CFG_SPACE];
	snapshot_read_only(d, now);
	FUZZ_CHECK(memcmp(now, before, PCI_CFG_SPACE) == 0);
}

static void check_status(void)
{
	uint8_t s = vp.status;
	if (s & VIRTIO_CONFIG_S_DRIVER_OK)
		FUZZ_CHECK(s & VIRTIO_CONFIG_S_FEATURES_OK);
	if (s & VIRTIO_CONFIG_S_FEATURES_OK)
		FUZZ_CHECK(!(vp.driver_features & ~vp.device_features));
	FUZZ_CHECK(activated == !!(s & VIRTIO_CONFIG_S_DRIVER_OK) || (s & 0x40));
	for (int q = 0; q < ops.num_queues; q++) {
		if (!vp.queues[q].enabled)
			continue;
		FUZZ_CHECK(vp.queues[q].vq.size == vp.queues[q].size);
		FUZZ_CHECK(vp.queues[q].size <= ops.queue_max);
	}
}

/* The region with stats slot slot, and where it decodes now (0: nowhere). */
static const struct pci_bar_region *region_of(uint32_t slot, uint64_t *at)
{
	struct pci_device *devs[2] = {&vp.pci, &plain};
	for (int d = 0; d < 2; d++)
		for (int i = 0; i < PCI_NUM_BARS; i++)
			for (unsigned k = 0; k < devs[d]->bars[i].nregions; k++) {
				const struct pci_bar_region *r = &devs[d]->bars[i].regions[k];
				if (r->slot != slot)
					continue;
				uint64_t bar = pci_bar_address(devs[d], i);
				*at = bar ? bar + r->off : 0;
				return r;
			}
	return NULL;
}

static bool wraps(uint64_t base, uint64_t len)
{
	return base + len < base || base + len == 0;
}

/* The published table is config space's picture: sorted, disjoint, each
 * entry a region where its BAR decodes it; and every decoding region is in
 * it unless it wraps or a range of a lower slot overlaps it. */
static void check_table(void)
{
	const struct bus_table *t = mmio_bus.table;
	for (size_t i = 0; i < t->count; i++) {
		const struct bus_range *r = &t->ranges[i];
		uint64_t at;
		FUZZ_CHECK(region_of(r->slot, &at) != NULL);
		FUZZ_CHECK(at != 0 && r->base == at);
		FUZZ_CHECK(i == 0 || t->ranges[i - 1].base + t->ranges[i - 1].len <= r->base);
	}
	for (uint32_t s = 0; s < mmio_bus.count; s++) {
		uint64_t at, at2;
		const struct pci_bar_region *r = region_of(s, &at);
		if (!r || !at || wraps(at, r->len))
			continue;
		bool shadowed = false;
		for (uint32_t lower = 0; lower < s && !shadowed; lower++) {
			const struct pci_bar_region *o = region_of(lower, &at2);
			shadowed = o && at2 && !wraps(at2, o->len) && at2 < at + r->len &&
				   at < at2 + o->len;
		}
		bool listed = false;
		for (size_t i = 0; i < t->count; i++)
			listed |= t->ranges[i].slot == s;
		FUZZ_CHECK(listed || shadowed);
	}
}

/* ---- the steps ---- */

/* An access width the bus delivers (1..8; port I/O 1, 2 or 4) that fits in
 * range_len bytes from off. */
static uint32_t width(uint8_t sel, uint64_t off, uint64_t range_len)
{
	static const uint8_t widths[8] = {1, 2, 4, 8, 1, 2, 4, 3};
	uint32_t len = widths[sel & 7];
	return off + len <= range_len ? len : 1;
}

static void step(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	bool write = op & 0x80;
	uint8_t buf[8] = {0};
	switch (op & 0xf) {
	case 0: { /* 0xcf8-0xcff as the vCPU sees them */
		uint64_t off = (op >> 4) & 7;
		uint32_t len = 1u << (fuzz_u8(in) % 3);
		if (off + len > 8)
			len = 1;
		fuzz_take(in, buf, len);
		pci_host_config_io(&host, off, buf, len, write);
		break;
	}
	case 1: { /* select slot/register, then a data port access */
		uint8_t slot = fuzz_u8(in), reg = fuzz_u8(in);
		uint32_t addr = 0x80000000u | (uint32_t)(slot % 4) << 11 | (reg & 0xfc);
		if (op & 0x10)
			addr |= (uint32_t)fuzz_u8(in) << 8 | (uint32_t)fuzz_u8(in) << 16;
		pci_host_config_io(&host, 0, (uint8_t *)&addr, 4, true);
		uint64_t off = 4 + (reg & 3);
		uint32_t len = width(fuzz_u8(in) % 3, off, 8);
		fuzz_take(in, buf, len);
		pci_host_config_io(&host, off, buf, len, write);
		break;
	}
	case 2: { /* config space directly, anywhere, including past 255 */
		uint32_t off = fuzz_u16(in) % 0x110;
		uint32_t len = width(fuzz_u8(in), 0, 8);
		fuzz_take(in, buf, len);
		if (write)
			pci_config_write(&vp.pci, off, buf, len);
		else
			pci_config_read(&vp.pci, off, buf, len);
		break;
	}
	case 3: { /* BAR 0 of the virtio function */
		uint64_t off = fuzz_u16(in) % VIRTIO_PCI_BAR_SIZE;
		uint32_t len = width(fuzz_u8(in), off, VIRTIO_PCI_BAR_SIZE);
		fuzz_take(in, buf, len);
		virtio_bar(&vp, off, buf, len, write);
		break;
	}
	case 4: { /* the MSI-X table and PBA as BAR 0 hands them over */
		bool pba = op & 0x10;
		uint64_t off = fuzz_u16(in) % 0x1000;
		uint32_t len = width(fuzz_u8(in), off, 0x1000);
		fuzz_take(in, buf, len);
		if (pba)
			msix_pba_io(&vp.msix, off, buf, len, write);
		else
			msix_table_io(&vp.msix, off, buf, len, write);
		break;
	}
	case 5: { /* MMIO as the exit path does it: whatever decodes there, or nothing */
		uint64_t off = fuzz_u32(in) % (op & 0x10 ? PCI_MMIO_WINDOW_SIZE : 0x40000);
		uint64_t addr = PCI_MMIO_WINDOW_BASE + off;
		if (op & 0x20) /* wherever the guest may have put a BAR */
			addr = (uint64_t)fuzz_u32(in) << (op & 0x40 ? 32 : 0) | fuzz_u32(in);
		uint32_t len = width(fuzz_u8(in), 0, 8);
		fuzz_take(in, buf, len);
		struct bus_reader *rd = bus_reader(&mmio_bus, 0);
		const struct bus_range *r = bus_find(bus_enter(rd), addr, len);
		struct bus_range copy = r ? *r : (struct bus_range){0};
		bus_leave(rd);
		if (r)
			copy.io(copy.opaque, addr - copy.base, buf, len, write);
		break;
	}
	case 6: { /* the device raises something */
		uint8_t what = fuzz_u8(in);
		switch (what & 3) {
		case 0:
			virtio_pci_notify_queue(&vp, (uint16_t)((what >> 2) % ops.num_queues));
			break;
		case 1:
			virtio_pci_notify_config(&vp);
			break;
		case 2:
			msix_notify(&vp.msix, (uint16_t)(what >> 2));
			break;
		case 3:
			pci_set_intx(&plain, (what >> 2) & 1);
			break;
		}
		break;
	}
	case 7: { /* a common configuration field, at its width */
		static const uint8_t fields[][2] = {
		    {0x00, 4}, {0x04, 4}, {0x08, 4}, {0x0c, 4}, {0x10, 2}, {0x12, 2},
		    {0x14, 1}, {0x15, 1}, {0x16, 2}, {0x18, 2}, {0x1a, 2}, {0x1c, 2},
		    {0x1e, 2}, {0x20, 8}, {0x28, 8}, {0x30, 8}, {0x20, 4}, {0x24, 4},
		};
		const uint8_t *f = fields[fuzz_u8(in) % (sizeof(fields) / sizeof(fields[0]))];
		fuzz_take(in, buf, f[1]);
		virtio_bar(&vp, f[0], buf, f[1], write);
		break;
	}
	case 8: { /* a driver bringing the device up in one go */
		uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
		virtio_bar(&vp, 0x14, &s, 1, true);
		for (uint32_t sel = 0; sel < 2; sel++) {
			uint32_t f = fuzz_u32(in);
			virtio_bar(&vp, 0x08, (uint8_t *)&sel, 4, true);
			virtio_bar(&vp, 0x0c, (uint8_t *)&f, 4, true);
		}
		s |= VIRTIO_CONFIG_S_FEATURES_OK;
		virtio_bar(&vp, 0x14, &s, 1, true);
		for (uint16_t q = 0; q < ops.num_queues; q++) {
			uint16_t size = (uint16_t)(1u << (fuzz_u8(in) % 10)), one = 1;
			uint64_t d = fuzz_u16(in), a = fuzz_u16(in), u = fuzz_u16(in);
			virtio_bar(&vp, 0x16, (uint8_t *)&q, 2, true);
			virtio_bar(&vp, 0x18, (uint8_t *)&size, 2, true);
			virtio_bar(&vp, 0x20, (uint8_t *)&d, 8, true);
			virtio_bar(&vp, 0x28, (uint8_t *)&a, 8, true);
			virtio_bar(&vp, 0x30, (uint8_t *)&u, 8, true);
			virtio_bar(&vp, 0x1c, (uint8_t *)&one, 2, true);
		}
		s |= VIRTIO_CONFIG_S_DRIVER_OK;
		virtio_bar(&vp, 0x14, &s, 1, true);
		break;
	}
	default: { /* config write through the bridge, to MSI-X control or the
		      VIRTIO_PCI_CAP_PCI_CFG window most of the time */
		uint8_t which = fuzz_u8(in);
		uint32_t off;
		if (which & 1)
			off = vp.msix.cap + 2 + (which >> 1) % 2;
		else
			off = vp.cfg_cap + 4 + (which >> 1) % 16;
		uint32_t len = width(which >> 5, off & 3, 4);
		fuzz_take(in, buf, len);
		uint32_t addr = 0x80000000u | 1u << 11 | (off & 0xfc);
		pci_host_config_io(&host, 0, (uint8_t *)&addr, 4, true);
		pci_host_config_io(&host, 4 + (off & 3), buf, len, write);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		ram = calloc(1, RAM);
		guest_mem_layout(&mem, RAM);
		mem.host = ram;
	}
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t shape = fuzz_u8(&in);
	ops = (struct virtio_device_ops){
	    .device_id = 1 + (shape & 0x1f),
	    .pci_class = 0x020000,
	    .num_queues = (uint16_t)(1 + ((shape >> 5) & 7)),
	    .config_len = fuzz_u16(&in) % (sizeof(dev_config) + 1),
	    .config_read = cfg_read,
	    .config_write = cfg_write,
	    .activate = activate,
	    .reset = reset,
	};
	ops.queue_max = (uint16_t)(1u << (fuzz_u8(&in) % 16));
	ops.features = fuzz_u64(&in);
	uint8_t bars = fuzz_u8(&in), bars2 = fuzz_u8(&in);
	activated = false;
	memset(line, 0, sizeof(line));

	struct errbuf e;
	pci_host_init(&host, &(struct pci_host_ops){.reset = machine_reset, .set_irq = set_irq});
	bus_init(&pio_bus, "pio");
	bus_init(&mmio_bus, "mmio");
	FUZZ_CHECK(pci_host_register(&host, &pio_bus, &mmio_bus, &e) == 0);
	FUZZ_CHECK(virtio_pci_init(&vp, "virtio-fuzz", &ops, NULL, &mem, NULL, -1, &e) == 0);
	for (unsigned k = 0; k < vp.pci.bars[0].nregions; k++) {
		struct pci_bar_region *r = &vp.pci.bars[0].regions[k];
		vp_regions[k] = *r;
		r->io = checked_region;
		r->opaque = &vp_regions[k];
	}
	pci_device_init(&plain, "plain", 0x1234, 0x5678, 0xff0000, 0, 0, 0);
	/* A 64-bit BAR of 16 B .. 1 GiB (some do not fit the window) and a
	 * 32-bit one of 16 B .. 64 KiB. */
	int r64 = pci_add_mem_bar(&plain, 0, 16ULL << (bars % 27), true, plain_bar, plain_mem[0],
				  "plain64", &e);
	int r32 = pci_add_mem_bar(&plain, 2, 16ULL << (bars2 % 13), false, plain_bar, plain_mem[1],
				  "plain32", &e);
	FUZZ_CHECK(r64 == 0 && r32 == 0);
	FUZZ_CHECK(pci_host_add_device(&host, &vp.pci, &e) == 1);
	bool plain_in = pci_host_add_device(&host, &plain, &e) == 2;
	(void)plain_in; /* a BAR too big for the window: then it is not plugged */
	FUZZ_CHECK(bus_freeze(&mmio_bus, 1, &e) == 0);
	check_table();

	snapshot_read_only(&vp.pci, ro_bits[0]);
	snapshot_read_only(&plain, ro_bits[1]);
	while (in.left) {
		step(&in);
		check_status();
		check_table();
	}
	check_read_only(&vp.pci, ro_bits[0]);
	check_read_only(&plain, ro_bits[1]);

	/* Reset the device as the guest would, then tear down. */
	uint8_t zero = 0;
	virtio_bar(&vp, 0x14, &zero, 1, true);
	FUZZ_CHECK(!activated);
	virtio_pci_destroy(&vp);
	pci_device_destroy(&plain);
	pci_host_destroy(&host);
	bus_free(&pio_bus);
	bus_free(&mmio_bus);
	return 0;
}
