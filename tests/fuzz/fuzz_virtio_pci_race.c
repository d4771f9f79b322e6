/*
 * The virtio-pci transport (virtio/virtio_pci.c) racing the virtio-net
 * worker (virtio/virtio_net.c) on the harness of net_harness.h, but without
 * taking turns: the input plays a driver that writes the common
 * configuration (queue select, size, enable and addresses, status with
 * resets, feature select and features, MSI-X vectors), programs the MSI-X
 * table and capability, reads ISR, kicks, and posts receive and transmit
 * buffers while frames arrive from the backend, and it does not wait for
 * the worker between steps. The worker runs on another CPU meanwhile, as
 * with a vCPU thread in a real VM. Which of the two gets where first is up
 * to the scheduler, so an input does not replay the same way every time:
 * libFuzzer's coverage is noisy here, and a crash may need several runs of
 * its input to come back.
 *
 * Checked, besides what ASan and UBSan catch in either thread (guest RAM
 * has guard pages, so an access outside it is a crash):
 *  - DRIVER_OK is never set without FEATURES_OK;
 *  - a reset returns with the worker stopped: the status then reads 0, and
 *    the worker runs no queue again until the next activation;
 *  - while the device runs, DRIVER_OK is set, both queues stay enabled and
 *    the features stay those it was activated with;
 *  - every frame reaching the backend has a whole header;
 *  - at the end of each input a reset stops the worker (one that never
 *    answers, a livelock, is a hang libFuzzer's -timeout reports).
 *
 * Each input is bounded in time: at most 512 steps, none of which waits
 * for the worker; the frames in flight are bounded by the backend's queue.
 *
 * Input: steps, each an opcode byte (low 4 bits the step) and its
 * operands.
 */
#include <stdbool.h>
#include <sys/socket.h>

#include "fuzz_input.h"
#include "net_harness.h"

#define STEPS_MAX 512
#define BUF	  0x4000u
#define HDR	  VIRTIO_NET_HDR_LEN

static uint8_t frame[2048];

/* What the device looked like when it was last activated. */
static bool was_running;
static uint64_t running_features;
static uint64_t stopped_runs; /* the worker's queue runs when it stopped */

static void check(void)
{
	uint8_t s = nh_status();
	FUZZ_CHECK(!(s & VIRTIO_CONFIG_S_DRIVER_OK) || (s & VIRTIO_CONFIG_S_FEATURES_OK));
	bool running = nh.net.worker.running;
	uint64_t runs = __atomic_load_n(&nh.net.worker.runs, __ATOMIC_SEQ_CST);
	if (running && !was_running)
		running_features = nh.net.vp.driver_features;
	if (running) {
		FUZZ_CHECK(s & VIRTIO_CONFIG_S_DRIVER_OK);
		FUZZ_CHECK(nh.net.vp.queues[VIRTIO_NET_RXQ].enabled &&
			   nh.net.vp.queues[VIRTIO_NET_TXQ].enabled);
		FUZZ_CHECK(nh.net.vp.driver_features == running_features);
	} else if (was_running) {
		stopped_runs = runs;
	} else {
		FUZZ_CHECK(runs == stopped_runs); /* a stopped worker stays stopped */
	}
	was_running = running;
}

static void reset(void)
{
	nh_bar_w(NH_STATUS, 0, 1);
	FUZZ_CHECK(!nh.net.worker.running);
	FUZZ_CHECK(nh_status() == 0); /* nothing of the worker's came after */
	check(); /* the stop, before a bring-up in the same step starts it again */
}

static void bring_up(struct fuzz_in *in)
{
	reset();
	nh_negotiate(fuzz_u64(in) | NH_FEATURE(VIRTIO_F_VERSION_1));
	for (uint16_t q = 0; q < 2; q++) {
		uint32_t base = 0x2000u * q;
		nh_queue(q, (uint16_t)(1u << (fuzz_u8(in) % 9)), base, base + 0x1000,
			 base + 0x1800);
	}
	nh_driver_ok();
}

static void kick(unsigned q)
{
	nh_bar_w(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, q, 2);
}

/* Puts a chain of one buffer at descriptor i and publishes it. */
static void post(unsigned qi, uint16_t i, uint32_t addr, uint32_t len, uint16_t flags)
{
	struct virtq *q = nh_live_queue(qi);
	if (!q)
		return;
	i &= (uint16_t)(q->size - 1);
	q->desc[i] = (struct vring_desc){addr, len, flags, 0};
	uint16_t idx = __atomic_load_n(&q->avail->idx, __ATOMIC_RELAXED);
	q->avail->ring[idx & (q->size - 1)] = i;
	__atomic_store_n(&q->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void step(struct fuzz_in *in)
{
	static const uint8_t widths[4] = {1, 2, 4, 8};
	uint8_t op = fuzz_u8(in);
	uint8_t buf[8] = {0};
	uint32_t len = widths[(op >> 4) & 3];
	switch (op & 0xf) {
	case 0: /* a common configuration write: any field, width, value */
	case 1: /* ... or read */
	{
		uint32_t off = fuzz_u8(in) % sizeof(struct virtio_pci_common_cfg);
		fuzz_take(in, buf, len);
		nh_bar(off, buf, len, !(op & 1));
		break;
	}
	case 2: { /* a status byte; 0 is a reset */
		uint8_t s = fuzz_u8(in);
		if (s == 0)
			reset();
		else
			nh_bar_w(NH_STATUS, s, 1);
		break;
	}
	case 3: /* reset and bring up */
		bring_up(in);
		break;
	case 4: { /* set up a queue as a driver would, running or not */
		uint16_t q = fuzz_u8(in) % 3, size = fuzz_u16(in);
		uint32_t desc = fuzz_u32(in) % NH_RAM, avail = fuzz_u32(in) % NH_RAM;
		nh_queue(q, size, desc, avail, fuzz_u32(in) % NH_RAM);
		break;
	}
	case 5: { /* features: select, then a half */
		uint32_t sel = fuzz_u8(in) % 3, half = fuzz_u32(in);
		nh_bar_w(NH_COMMON(guest_feature_select), sel, 4);
		nh_bar_w(NH_COMMON(guest_feature), half, 4);
		break;
	}
	case 6: { /* MSI-X: a vector for the config or a queue, a table entry */
		uint16_t vec = fuzz_u8(in) % 5;
		if (op & 0x40) {
			nh_bar_w(NH_COMMON(queue_select), (op >> 5) & 1, 2);
			nh_bar_w(NH_COMMON(queue_msix_vector), vec, 2);
		} else {
			nh_bar_w(NH_COMMON(msix_config), vec, 2);
		}
		nh_bar_w(VIRTIO_PCI_MSIX_OFF + 16u * vec, 0xfee00000u, 4);
		nh_bar_w(VIRTIO_PCI_MSIX_OFF + 16u * vec + 8, vec, 4);
		nh_bar_w(VIRTIO_PCI_MSIX_OFF + 16u * vec + 12, fuzz_u8(in) & 1, 4);
		break;
	}
	case 7: { /* the MSI-X capability's control: enable, mask all */
		uint8_t ctl = fuzz_u8(in) & 0xc0;
		pci_config_write(&nh.net.vp.pci, nh.net.vp.msix.cap + 3u, &ctl, 1);
		break;
	}
	case 8: { /* receive buffers, then a kick */
		unsigned n = 1 + (op >> 4) % 8;
		uint16_t first = fuzz_u16(in);
		for (unsigned i = 0; i < n; i++)
			post(VIRTIO_NET_RXQ, (uint16_t)(first + i), BUF + 0x800u * i, 0x800,
			     VRING_DESC_F_WRITE);
		kick(VIRTIO_NET_RXQ);
		break;
	}
	case 9: { /* a frame to send, then a kick */
		uint16_t i = fuzz_u16(in), n = HDR + fuzz_u8(in) * 4u;
		memset(nh.ram + BUF + 0x8000, 0, HDR);
		post(VIRTIO_NET_TXQ, i, BUF + 0x8000, n, 0);
		kick(VIRTIO_NET_TXQ);
		break;
	}
	case 10: { /* a frame from the backend */
		size_t n = fuzz_u16(in) % sizeof(frame);
		memset(frame, 0, n);
		fuzz_take(in, frame, n < 16 ? n : 16);
		if (send(nh.peer, frame, n, MSG_DONTWAIT) < 0) {
			/* full: lost, as on a busy TAP */
		}
		break;
	}
	case 11: /* the host takes what the guest sent */
		nh_drain_backend();
		break;
	case 12: /* ISR: read (clears it) */
		nh_bar(VIRTIO_PCI_ISR_OFF, buf, 1, false);
		break;
	case 13: /* a kick on either queue, in any width */
		nh_bar_w(VIRTIO_PCI_NOTIFY_OFF + 4u * ((op >> 4) & 1), (op >> 4) & 1, len);
		break;
	case 14: { /* the driver writes anything in RAM, rings included */
		uint32_t off = fuzz_u32(in) % NH_RAM;
		fuzz_take(in, buf, len);
		if (off + len <= NH_RAM)
			memcpy(nh.ram + off, buf, len);
		break;
	}
	case 15: /* a pause, for the worker to get somewhere */
		for (volatile unsigned i = fuzz_u8(in) * 64u; i; i--)
			;
		break;
	}
	check();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	nh_start(true);
	memset(nh.ram, 0, NH_RAM);
	was_running = false;
	stopped_runs = __atomic_load_n(&nh.net.worker.runs, __ATOMIC_SEQ_CST);
	struct fuzz_in in = fuzz_in(data, size);
	for (unsigned n = 0; in.left && n < STEPS_MAX; n++)
		step(&in);
	nh_drain_backend();
	nh_restore();
	check();
	return 0;
}
