/*
 * The virtio-net device end to end (virtio/virtio_net.c over
 * virtio/virtio_pci.c and virtio/virtqueue.c), mostly its transmit path:
 * the real device with its real worker thread, a datagram socketpair as the
 * backend (one datagram per frame, header first, as with a TAP), and the
 * input playing the guest's driver: BAR 0 accesses of every kind (common
 * configuration, status transitions, queue set-up with any addresses,
 * notifications, MSI-X), descriptor chains and available-ring entries
 * written into guest RAM, and frames arriving from the host side.
 *
 * The worker and the driver take turns (net_harness.h), so an input
 * replays the same way every time.
 *
 * Checked, besides what ASan and UBSan catch in either thread: every frame
 * reaching the backend carries at least the 12-byte header, asking for no
 * offload the device does not offer (whatever the driver negotiated lies
 * within that; net_harness.c checks both), and the worker always gets
 * idle again.
 *
 * Input: flags (1: bit 0 set the device up first, bits 1-3 the backend's
 * send buffer), driver features (8), for each of the two queues its size
 * exponent (1) and desc/avail/used offsets (3 x 4, taken modulo RAM), the
 * step script's length (2), the script, then guest RAM (the rest).
 */
#include <stdbool.h>
#include <sys/socket.h>

#include "fuzz_input.h"
#include "net_harness.h"

#define RAM	  NH_RAM
#define COMMON(f) NH_COMMON(f)

static uint8_t frame[NH_FRAME_BUF];

/* Features, then each queue's size exponent and ring offsets. */
static void setup_device(struct fuzz_in *in)
{
	nh_negotiate(fuzz_u64(in));
	for (uint16_t q = 0; q < 2; q++) {
		uint16_t size = (uint16_t)(1u << (fuzz_u8(in) % 9));
		uint64_t desc = fuzz_u32(in) % RAM, avail = fuzz_u32(in) % RAM;
		nh_queue(q, size, desc, avail, fuzz_u32(in) % RAM);
	}
	nh_driver_ok();
}

static void step(struct fuzz_in *in)
{
	uint8_t op = fuzz_u8(in);
	bool write = op & 0x80;
	uint8_t buf[8] = {0};
	static const uint8_t widths[8] = {1, 2, 4, 8, 1, 2, 4, 3};
	switch (op & 0xf) {
	case 0: { /* any BAR 0 access */
		uint64_t off = fuzz_u16(in) % VIRTIO_PCI_BAR_SIZE;
		uint32_t len = widths[(op >> 4) & 7];
		if (off + len > VIRTIO_PCI_BAR_SIZE)
			len = 1;
		fuzz_take(in, buf, len);
		nh_bar(off, buf, len, write);
		nh_settle();
		break;
	}
	case 1: { /* a common configuration field */
		uint32_t off = fuzz_u8(in) % sizeof(struct virtio_pci_common_cfg);
		uint32_t len = widths[(op >> 4) & 7];
		fuzz_take(in, buf, len);
		nh_bar(off, buf, len, write);
		nh_settle();
		break;
	}
	case 2: /* a status byte (0: reset, which joins the worker) */
		nh_bar_w(NH_STATUS, fuzz_u8(in), 1);
		nh_settle();
		break;
	case 3: /* the whole bring-up again, after a reset */
		nh_bar_w(NH_STATUS, 0, 1);
		setup_device(in);
		nh_settle();
		break;
	case 4: /* a doorbell */
		nh_bar_w(VIRTIO_PCI_NOTIFY_OFF + 4u * ((op >> 4) & 1), (op >> 4) & 1,
			 (op >> 5) & 1 ? 4 : 2);
		nh_settle();
		break;
	case 5: { /* publish chain heads on a queue, then kick it (bit 6) */
		struct virtq *q = nh_live_queue(op >> 4);
		uint16_t head = fuzz_u16(in);
		unsigned count = 1 + (fuzz_u8(in) & 7);
		if (!q)
			break;
		uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < count; i++, idx++)
			q->avail->ring[idx & (q->size - 1)] = (uint16_t)(head + i);
		__atomic_store_n(&q->avail->idx, idx, __ATOMIC_RELEASE);
		if (op & 0x40) {
			nh_bar_w(VIRTIO_PCI_NOTIFY_OFF + 4u * ((op >> 4) & 1), (op >> 4) & 1, 2);
			nh_settle();
		}
		break;
	}
	case 6: { /* a descriptor */
		struct virtq *q = nh_live_queue(op >> 4);
		uint16_t i = fuzz_u16(in);
		uint64_t addr = op & 0x40 ? fuzz_u64(in) : fuzz_u32(in) % RAM;
		uint32_t len = op & 0x20 ? fuzz_u32(in) : fuzz_u16(in) % 0x2000;
		uint16_t flags = fuzz_u8(in) & 7, next = fuzz_u16(in);
		if (q)
			q->desc[i & (q->size - 1)] = (struct vring_desc){addr, len, flags, next};
		break;
	}
	case 7: { /* the driver writes anything in RAM */
		uint32_t off = fuzz_u32(in) % RAM;
		uint32_t len = widths[(op >> 4) & 7];
		fuzz_take(in, buf, len);
		if (off + len <= RAM)
			memcpy(nh.ram + off, buf, len);
		break;
	}
	case 8: { /* a frame from the host side */
		size_t len = fuzz_u16(in) % (op & 0x10 ? NH_FRAME_BUF : 2048);
		memset(frame, 0, len);
		fuzz_take(in, frame, len);
		if (send(nh.peer, frame, len, MSG_DONTWAIT) < 0) {
			/* full: the frame is lost, as on a busy TAP */
		}
		nh_settle();
		break;
	}
	case 9: /* the host side takes what the guest sent */
		nh_drain_backend();
		nh_settle();
		break;
	case 10: { /* config space: MSI-X control, the PCI_CFG window */
		uint32_t off = (op & 0x10 ? nh.net.vp.msix.cap + 2u : nh.net.vp.cfg_cap + 4u) +
			       fuzz_u8(in) % 16;
		uint32_t len = widths[fuzz_u8(in) & 3];
		fuzz_take(in, buf, len);
		if (write)
			pci_config_write(&nh.net.vp.pci, off, buf, len);
		else
			pci_config_read(&nh.net.vp.pci, off, buf, len);
		nh_settle();
		break;
	}
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nh_start(false);
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t flags = fuzz_u8(&in);
	struct fuzz_in setup = fuzz_in(in.p, in.left);
	fuzz_skip(&in, 8 + 2 * 13); /* what setup_device() reads */
	struct fuzz_in script = fuzz_sub(&in, fuzz_u16(&in));
	memset(nh.ram, 0, RAM);
	fuzz_take(&in, nh.ram, RAM);
	/* A small send buffer makes the backend refuse frames (EAGAIN). */
	int sndbuf = flags & 0xe ? 4096 * ((flags >> 1) & 7) : 212992;
	setsockopt(nh.dev_fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	if (flags & 1) {
		setup_device(&setup);
		nh_settle();
	}
	while (script.left)
		step(&script);
	nh_settle();
	nh_drain_backend();
	nh_restore();
	return 0;
}
