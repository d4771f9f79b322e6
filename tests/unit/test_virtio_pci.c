/* The virtio-pci transport driven the way Linux's virtio_pci_modern does. */
#include <linux/virtio_ids.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check_main.h"
#include "stub_device.h"
#include "virtio/virtio_pci.h"
#include "virtio_driver.h"

#define RAM (1u << 20)

static struct guest_mem mem;
static struct virtio_pci vp;
static struct stub_device dev;

/* Kicks waiting on queue q's eventfd (and consumes them). */
static int kicks(uint16_t q)
{
	uint64_t n = 0;
	return read(virtio_pci_kick_fd(&vp, q), &n, sizeof(n)) == sizeof(n) ? (int)n : 0;
}

static void setup(void)
{
	dev = (struct stub_device){.cfg = {0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0}};
	guest_mem_layout(&mem, RAM);
	mem.host = calloc(1, RAM);
	ck_assert_int_eq(
	    virtio_pci_init(&vp, "virtio-net", &stub_device_ops, &dev, &mem, NULL, -1, NULL), 0);
}

static void teardown(void)
{
	virtio_pci_destroy(&vp);
	free(mem.host);
}

#define F(f) offsetof(struct virtio_pci_common_cfg, f)

static void w(uint32_t off, uint32_t v, uint32_t len)
{
	virtio_pci_bar_io(&vp, off, (uint8_t *)&v, len, true);
}

static uint32_t r(uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	virtio_pci_bar_io(&vp, off, (uint8_t *)&v, len, false);
	return v;
}

static uint8_t status(void)
{
	return (uint8_t)r(F(device_status), 1);
}

/* §3.1.1 steps 1-6, with the features the test wants. */
static void negotiate(uint64_t features)
{
	w(F(device_status), 0, 1);
	virtio_driver_negotiate(&vp, features);
}

static void setup_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used)
{
	w(F(queue_select), q, 2);
	w(F(queue_size), size, 2);
	w(F(queue_desc_lo), (uint32_t)desc, 4);
	w(F(queue_desc_hi), (uint32_t)(desc >> 32), 4);
	w(F(queue_avail_lo), (uint32_t)avail, 4);
	w(F(queue_avail_hi), 0, 4);
	w(F(queue_used_lo), (uint32_t)used, 4);
	w(F(queue_used_hi), 0, 4);
	w(F(queue_enable), 1, 2);
}

START_TEST(test_pci_identity_and_caps)
{
	ck_assert_uint_eq(pci_cfg_read16(&vp.pci, PCI_VENDOR_ID), 0x1af4);
	ck_assert_uint_eq(pci_cfg_read16(&vp.pci, PCI_DEVICE_ID), 0x1041);
	ck_assert_uint_ge(vp.pci.cfg[PCI_REVISION], 1);
	/* Walk the capabilities: the four virtio structures and MSI-X. */
	int seen[6] = {0}, msix = 0;
	for (uint8_t at = vp.pci.cfg[PCI_CAP_PTR]; at; at = vp.pci.cfg[at + 1]) {
		if (vp.pci.cfg[at] == PCI_CAP_ID_MSIX) {
			msix++;
			continue;
		}
		ck_assert_uint_eq(vp.pci.cfg[at], 0x09);
		struct virtio_pci_cap cap;
		memcpy(&cap, vp.pci.cfg + at, sizeof(cap));
		ck_assert_uint_le(cap.cfg_type, 5);
		ck_assert_uint_eq(cap.bar, 0);
		seen[cap.cfg_type]++;
		if (cap.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
			uint32_t mult;
			memcpy(&mult, vp.pci.cfg + at + 16, 4);
			ck_assert_uint_eq(mult, VIRTIO_PCI_NOTIFY_MULT);
			ck_assert_uint_eq(cap.cap_len, 20);
		}
		ck_assert_uint_le(cap.offset + cap.length, VIRTIO_PCI_BAR_SIZE);
	}
	ck_assert_int_eq(seen[VIRTIO_PCI_CAP_COMMON_CFG], 1);
	ck_assert_int_eq(seen[VIRTIO_PCI_CAP_ISR_CFG], 1);
	ck_assert_int_eq(seen[VIRTIO_PCI_CAP_DEVICE_CFG], 1);
	ck_assert_int_eq(seen[VIRTIO_PCI_CAP_NOTIFY_CFG], 1);
	ck_assert_int_eq(seen[VIRTIO_PCI_CAP_PCI_CFG], 1);
	ck_assert_int_eq(msix, 1);
	ck_assert_uint_eq(vp.msix.nvec, 3); /* two queues + config */
}
END_TEST

START_TEST(test_feature_negotiation)
{
	w(F(device_feature_select), 1, 4);
	ck_assert(r(F(device_feature), 4) & (1u << (VIRTIO_F_VERSION_1 - 32)));
	w(F(device_feature_select), 0, 4);
	ck_assert(r(F(device_feature), 4) & (1u << VIRTIO_RING_F_EVENT_IDX));
	ck_assert_uint_eq(r(F(num_queues), 2), 2);

	negotiate((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX));
	ck_assert(status() & VIRTIO_CONFIG_S_FEATURES_OK);
	ck_assert(virtio_pci_has_feature(&vp, VIRTIO_RING_F_EVENT_IDX));
	/* Features are frozen after FEATURES_OK. */
	w(F(guest_feature_select), 0, 4);
	w(F(guest_feature), 0, 4);
	ck_assert(virtio_pci_has_feature(&vp, VIRTIO_RING_F_EVENT_IDX));
}
END_TEST

START_TEST(test_legacy_or_unknown_features_refused)
{
	negotiate(1ULL << VIRTIO_RING_F_EVENT_IDX); /* no VERSION_1 */
	ck_assert(!(status() & VIRTIO_CONFIG_S_FEATURES_OK));
	negotiate((1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40)); /* not offered */
	ck_assert(!(status() & VIRTIO_CONFIG_S_FEATURES_OK));
	/* DRIVER_OK without FEATURES_OK does not take. */
	w(F(device_status), status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	ck_assert(!(status() & VIRTIO_CONFIG_S_DRIVER_OK));
	ck_assert_int_eq(dev.activated, 0);
}
END_TEST

START_TEST(test_queue_setup_and_driver_ok)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	w(F(queue_select), 0, 2);
	ck_assert_uint_eq(r(F(queue_size), 2), 256);
	ck_assert_uint_eq(r(F(queue_notify_off), 2), 0);
	setup_queue(0, 128, 0x10000, 0x11000, 0x12000);
	setup_queue(1, 256, 0x20000, 0x21000, 0x22000);
	w(F(queue_select), 1, 2);
	ck_assert_uint_eq(r(F(queue_enable), 2), 1);
	ck_assert_uint_eq(r(F(queue_size), 2), 256);
	ck_assert_uint_eq(r(F(queue_notify_off), 2), 1);
	ck_assert_uint_eq(r(F(queue_used_lo), 4), 0x22000);
	/* Frozen once enabled. */
	w(F(queue_size), 64, 2);
	ck_assert_uint_eq(r(F(queue_size), 2), 256);
	ck_assert_ptr_eq(vp.queues[0].vq.desc, mem.host + 0x10000);

	w(F(device_status), status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	ck_assert_int_eq(dev.activated, 1);
	ck_assert(status() & VIRTIO_CONFIG_S_DRIVER_OK);

	/* Kicks through the notify area reach the device. */
	w(VIRTIO_PCI_NOTIFY_OFF + 4, 1, 2);
	ck_assert_int_eq(kicks(1), 1);
	w(VIRTIO_PCI_NOTIFY_OFF + 4 * 7, 7, 2); /* no such queue */
	ck_assert_int_eq(kicks(0) + kicks(1), 0);

	/* Reset stops the device and forgets everything. */
	w(F(device_status), 0, 1);
	ck_assert_int_eq(dev.resets, 1);
	ck_assert_uint_eq(status(), 0);
	w(F(queue_select), 0, 2);
	ck_assert_uint_eq(r(F(queue_enable), 2), 0);
	ck_assert(!virtio_pci_has_feature(&vp, VIRTIO_F_VERSION_1));
}
END_TEST

START_TEST(test_bad_queues_need_reset)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 64, RAM - 0x100, 0x11000, 0x12000); /* desc table past RAM */
	ck_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	w(F(queue_select), 0, 2);
	ck_assert_uint_eq(r(F(queue_enable), 2), 0);

	w(F(device_status), 0, 1); /* reset clears NEEDS_RESET */
	ck_assert_uint_eq(status(), 0);
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 100, 0x10000, 0x11000, 0x12000); /* not a power of two */
	ck_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);

	w(F(device_status), 0, 1);
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 512, 0x10000, 0x11000, 0x12000); /* above queue_max */
	ck_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);

	w(F(device_status), 0, 1);
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	dev.activate_result = -1;
	setup_queue(0, 64, 0x10000, 0x11000, 0x12000);
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), 0);
	uint8_t gen = (uint8_t)r(F(config_generation), 1);
	w(F(device_status), status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	ck_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* §2.1.2: after DRIVER_OK, NEEDS_RESET comes with a configuration
	 * change notification (it used to come without). */
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), VIRTIO_PCI_ISR_CONFIG);
	ck_assert_uint_ne(r(F(config_generation), 1), gen);
}
END_TEST

START_TEST(test_nonexistent_queue_reads_zero)
{
	w(F(queue_select), 5, 2);
	ck_assert_uint_eq(r(F(queue_size), 2), 0);
	w(F(queue_enable), 1, 2); /* ignored */
	w(F(queue_select), 0xffff, 2);
	ck_assert_uint_eq(r(F(queue_size), 2), 0);
}
END_TEST

START_TEST(test_device_config_window)
{
	ck_assert_uint_eq(r(VIRTIO_PCI_DEVICE_OFF, 1), 0x52);
	ck_assert_uint_eq(r(VIRTIO_PCI_DEVICE_OFF + 6, 2), 1);
	w(VIRTIO_PCI_DEVICE_OFF + 7, 0x9, 1);
	ck_assert_uint_eq(dev.cfg[7], 0x9);
	/* Past the device's config: zeros, and writes are dropped. */
	ck_assert_uint_eq(r(VIRTIO_PCI_DEVICE_OFF + 6, 4), 0);
	w(VIRTIO_PCI_DEVICE_OFF + 8, 0xff, 1);
}
END_TEST

START_TEST(test_isr_and_msix_delivery)
{
	virtio_pci_notify_queue(&vp, 0);
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), 1);
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), 0); /* read clears */
	uint8_t gen = (uint8_t)r(F(config_generation), 1);
	virtio_pci_notify_config(&vp);
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), 2);
	ck_assert_uint_ne(r(F(config_generation), 1), gen);

	/* With MSI-X on and vector 1 programmed and unmasked, a queue
	 * notification fires it. */
	uint16_t ctl = MSIX_CTRL_ENABLE;
	pci_config_write(&vp.pci, vp.msix.cap + 2, (uint8_t *)&ctl, 2);
	w(VIRTIO_PCI_MSIX_OFF + 16 + 0, 0xfee00000, 4);
	w(VIRTIO_PCI_MSIX_OFF + 16 + 8, 0x41, 4);
	w(VIRTIO_PCI_MSIX_OFF + 16 + 12, 0, 4);
	w(F(queue_select), 0, 2);
	w(F(queue_msix_vector), 1, 2);
	ck_assert_uint_eq(r(F(queue_msix_vector), 2), 1);
	uint64_t before = vp.interrupts;
	/* The queue's interrupt is one write to vector 1's eventfd (KVM's
	 * irqfd while unmasked), not the ISR. With no KVM here it stays in
	 * the eventfd, which is also what a masked vector's pending bit is. */
	ck_assert_int_eq(vp.queues[0].irq_fd, vp.vectors[1].fd);
	virtio_pci_notify_queue(&vp, 0);
	ck_assert_uint_eq(vp.interrupts, before + 1);
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), 0);
	eventfd_t n = 0;
	ck_assert_int_eq(eventfd_read(vp.vectors[1].fd, &n), 0);
	ck_assert_uint_eq(n, 1);
	w(VIRTIO_PCI_MSIX_OFF + 16 + 12, 1, 4); /* masked: the write waits, pending */
	virtio_pci_notify_queue(&vp, 0);
	ck_assert_uint_eq(r(VIRTIO_PCI_PBA_OFF, 1), 0x02);
	ck_assert_int_eq(eventfd_read(vp.vectors[1].fd, &n), 0);
	/* MSI-X off: the queue falls back to ISR and INTx. */
	ctl = 0;
	pci_config_write(&vp.pci, vp.msix.cap + 2, (uint8_t *)&ctl, 2);
	ck_assert_int_eq(vp.queues[0].irq_fd, -1);
	uint64_t intx = vp.intx_interrupts;
	virtio_pci_notify_queue(&vp, 0);
	ck_assert_uint_eq(r(VIRTIO_PCI_ISR_OFF, 1), 1);
	ck_assert_uint_eq(vp.intx_interrupts, intx + 1);
	pci_config_write(&vp.pci, vp.msix.cap + 2, (uint8_t *)&(uint16_t){MSIX_CTRL_ENABLE}, 2);
	ck_assert_int_eq(vp.queues[0].irq_fd, vp.vectors[1].fd);
	/* A vector the device does not have reads back NO_VECTOR. */
	w(F(queue_msix_vector), 9, 2);
	ck_assert_uint_eq(r(F(queue_msix_vector), 2), MSIX_NO_VECTOR);
	w(F(msix_config), 3, 2);
	ck_assert_uint_eq(r(F(msix_config), 2), MSIX_NO_VECTOR);
}
END_TEST

/* Sets up the VIRTIO_PCI_CAP_PCI_CFG window the way a driver would. */
static void cfg_window(uint32_t off, uint32_t len)
{
	uint8_t bar = 0;
	pci_config_write(&vp.pci, vp.cfg_cap + 4, &bar, 1);
	pci_config_write(&vp.pci, vp.cfg_cap + 8, (uint8_t *)&off, 4);
	pci_config_write(&vp.pci, vp.cfg_cap + 12, (uint8_t *)&len, 4);
}

START_TEST(test_pci_cfg_capability_reaches_bar0)
{
	uint32_t v = 0;
	/* §4.1.4.9: reading pci_cfg_data reads BAR 0 at cap.offset... */
	cfg_window(VIRTIO_PCI_DEVICE_OFF, 1);
	pci_config_read(&vp.pci, vp.cfg_cap + 16, (uint8_t *)&v, 4);
	ck_assert_uint_eq(v & 0xff, 0x52);
	cfg_window(VIRTIO_PCI_COMMON_OFF + F(num_queues), 2);
	pci_config_read(&vp.pci, vp.cfg_cap + 16, (uint8_t *)&v, 2);
	ck_assert_uint_eq(v & 0xffff, 2);
	/* ...and writing it writes there: here the device status. */
	cfg_window(VIRTIO_PCI_COMMON_OFF + F(device_status), 1);
	uint8_t ack = VIRTIO_CONFIG_S_ACKNOWLEDGE;
	pci_config_write(&vp.pci, vp.cfg_cap + 16, &ack, 1);
	ck_assert_uint_eq(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	/* A length other than 1, 2, 4, or a window past the BAR, does nothing. */
	cfg_window(VIRTIO_PCI_COMMON_OFF + F(device_status), 3);
	ack = 0;
	pci_config_write(&vp.pci, vp.cfg_cap + 16, &ack, 1);
	ck_assert_uint_eq(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	cfg_window(VIRTIO_PCI_BAR_SIZE - 2, 4);
	pci_config_write(&vp.pci, vp.cfg_cap + 16, &ack, 1);
	ck_assert_uint_eq(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
}
END_TEST

/* Everything the device prints on stderr while fn runs. */
static char captured[8192];
static const char *capture(void (*fn)(void))
{
	fflush(stderr);
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	int saved = dup(STDERR_FILENO);
	dup2(fileno(f), STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	size_t n = fread(captured, 1, sizeof(captured) - 1, f);
	captured[n] = '\0';
	fclose(f);
	return captured;
}

/* Lines of s that contain part ("" counts every line). */
static int count_lines(const char *s, const char *part)
{
	char copy[sizeof(captured)], *save = NULL;
	int n = 0;
	snprintf(copy, sizeof(copy), "%s", s);
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		n += strstr(l, part) != NULL;
	return n;
}

/* §4.1.4.3: queue_size 0 means "no queue"; enabling it used to get the
 * largest queue instead, over rings the driver sized for none. */
START_TEST(test_queue_size_zero_needs_reset)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 0, 0x10000, 0x11000, 0x12000);
	ck_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	w(F(queue_select), 0, 2);
	ck_assert_uint_eq(r(F(queue_enable), 2), 0);
	ck_assert_uint_eq(r(F(queue_size), 2), 0);
	w(F(device_status), 0, 1);
	ck_assert_uint_eq(r(F(queue_size), 2), 256); /* reset offers the maximum again */
}
END_TEST

/* A driver that enables its queues before it settles the features gets
 * rings that follow the features it ended up with. */
START_TEST(test_ring_features_follow_negotiation)
{
	w(F(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	setup_queue(0, 64, 0x10000, 0x11000, 0x12000);
	setup_queue(1, 64, 0x20000, 0x21000, 0x22000);
	ck_assert(!vp.queues[0].vq.event_idx);
	virtio_driver_negotiate(&vp,
				(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX));
	w(F(device_status), status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	ck_assert_int_eq(dev.activated, 1);
	ck_assert(vp.queues[0].vq.event_idx && vp.queues[1].vq.event_idx);
	ck_assert(!vp.queues[0].vq.indirect);
}
END_TEST

static void break_two_queues(void)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 64, RAM - 0x100, 0x11000, 0x12000); /* desc table past RAM */
	setup_queue(1, 100, 0x20000, 0x21000, 0x22000);	   /* and a bad size */
	virtio_pci_needs_reset(&vp, -1, NULL);
}

static void break_a_ring(void)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	setup_queue(0, 64, 0x10000, 0x11000, 0x12000);
	setup_queue(1, 64, 0x20000, 0x21000, 0x22000);
	w(F(device_status), status() | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	/* Queue 1's chain 0 points at itself; the device pops it and gives up. */
	struct vring_desc *d = (struct vring_desc *)(mem.host + 0x20000);
	struct vring_avail *a = (struct vring_avail *)(mem.host + 0x21000);
	d[0] = (struct vring_desc){0x30000, 64, VRING_DESC_F_NEXT, 0};
	a->ring[0] = 0;
	a->idx = 1;
	struct virtq_chain *c = malloc(sizeof(*c));
	ck_assert_int_eq(virtq_pop(&vp.queues[0].vq, c), 0);
	ck_assert_int_eq(virtq_pop(&vp.queues[1].vq, c), -VIRTQ_CHAIN_LOOPS);
	virtio_pci_needs_reset(&vp, 1, &c->fault);
	free(c);
}

static void break_in_a_loop(void)
{
	for (int i = 0; i < 100; i++)
		break_two_queues();
}

/* Each time the device enters DEVICE_NEEDS_RESET, stderr gets one line
 * saying why; never a flood. */
START_TEST(test_needs_reset_reported_once)
{
	const char *out = capture(break_two_queues);
	ck_assert_int_eq(count_lines(out, ""), 1);
	ck_assert_int_eq(count_lines(out, "minivmm: virtio-net: DEVICE_NEEDS_RESET: queue 0: "
					  "descriptor table at 0xfff00 is not all in guest RAM"),
			 1);

	out = capture(break_a_ring);
	ck_assert_int_eq(count_lines(out, ""), 1);
	ck_assert_int_eq(count_lines(out, "DEVICE_NEEDS_RESET: queue 1: chain 0 loops"), 1);

	/* 100 more: 32 lines in the device's life, then one that says so. */
	out = capture(break_in_a_loop);
	ck_assert_int_eq(count_lines(out, ""), 32 - 2 + 1);
	ck_assert_int_eq(count_lines(out, "more than 32 device errors reported; no further"), 1);
	out = capture(break_two_queues);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_needs_reset_from_device)
{
	negotiate(1ULL << VIRTIO_F_VERSION_1);
	virtio_pci_needs_reset(&vp, -1, NULL);
	ck_assert(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert(r(VIRTIO_PCI_ISR_OFF, 1) & 2);
}
END_TEST

CHECK_MAIN_FIXTURE("virtio-pci", setup, teardown, test_pci_identity_and_caps,
		   test_feature_negotiation, test_legacy_or_unknown_features_refused,
		   test_queue_setup_and_driver_ok, test_bad_queues_need_reset,
		   test_nonexistent_queue_reads_zero, test_device_config_window,
		   test_isr_and_msix_delivery, test_pci_cfg_capability_reaches_bar0,
		   test_needs_reset_from_device, test_queue_size_zero_needs_reset,
		   test_ring_features_follow_negotiation, test_needs_reset_reported_once)
