/*
 * misbehave: the guest's /init for tests/integration/guest_misbehaviour.sh.
 * A hostile virtio driver, run by a real Linux guest against minivmm's
 * virtio-net NIC. minivmm must keep running whatever a driver does, refuse
 * what is impossible, and work again once the driver resets the device.
 *
 * The job comes in on the kernel command line (the kernel hands unknown
 * key=value words to init as environment variables):
 *
 *   misbehave=cases       take the NIC away from Linux's virtio-pci driver
 *                         (sysfs unbind), drive it through BAR 0 by hand,
 *                         wrongly, one labelled case after another, reset it,
 *                         give it back (sysfs bind), bring eth0 up
 *   misbehave=resets,N    with Linux's driver in charge and the host flooding
 *                         the guest: N times, reset the device under the
 *                         driver (odd cycles: unbind + bind; even cycles: a
 *                         status write of 0 behind the driver's back first),
 *                         each time bringing eth0 up again
 *   misbehave_ip=A.B.C.D  eth0's address (/24) whenever this program brings
 *                         it up; default 192.168.77.2
 *
 * Every line this prints starts with "misbehave: ". Each case prints
 * "misbehave: case NAME: ok: WHAT THE DEVICE DID" or "...: FAIL: WHY"; the
 * host script checks every case by name. Cases whose right answer is
 * DEVICE_NEEDS_RESET (virtio 1.2 §2.1.2) say "ok: DEVICE_NEEDS_RESET, ...",
 * and minivmm must have printed one line for each.
 *
 * Guest physical addresses for rings and buffers come from
 * /proc/self/pagemap on mlock'd pages: each ring area and each buffer fits
 * in one page, so no physically contiguous memory is needed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "guest_console.h"

#define PAGE		   4096
#define QSIZE		   16 /* our rings: each area fits in one page */
#define GOOD_HEAD	   15 /* the descriptor a well-formed frame uses */
#define HDR_LEN		   12 /* struct virtio_net_hdr_v1 (VERSION_1: always this size) */
#define FRAME_LEN	   60
#define RX_BUF_LEN	   2048 /* > 12 + 1518: one buffer takes any frame without MRG_RXBUF */
#define GO_PORT		   7777 /* the host's "start resetting" datagram */
#define PCI_COMMAND	   0x04
#define PCI_CMD_MEMORY	   0x0002
#define PCI_CMD_MASTER	   0x0004
#define PCI_CMD_INTX_OFF   0x0400
#define PCI_CAP_PTR	   0x34
#define PCI_CAP_ID_VNDR	   0x09
#define PCI_CAP_ID_MSIX	   0x11
#define STATUS_NEEDS_RESET VIRTIO_CONFIG_S_NEEDS_RESET
#define STATUS_LIVE                                                                                \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |      \
	 VIRTIO_CONFIG_S_DRIVER_OK)
#define F(b)	      (1ULL << (b))
#define BASE_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_RING_F_INDIRECT_DESC))

/* ---- output and small helpers --------------------------------------------- */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	int saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* ---- the NIC in sysfs ----------------------------------------------------- */

static char bdf[64];	 /* 0000:00:01.0 */
static char devdir[300]; /* /sys/bus/pci/devices/<bdf> */
static const char *guest_ip = "192.168.77.2";

static int find_nic(void)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	if (!d)
		return -1;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[400], vendor[32], device[32];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		if (read_file(path, vendor, sizeof(vendor)))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
		if (read_file(path, device, sizeof(device)))
			continue;
		/* §4.1.2.1: modern virtio-net is 1af4:1041. */
		if (!strncmp(vendor, "0x1af4", 6) && !strncmp(device, "0x1041", 6)) {
			snprintf(bdf, sizeof(bdf), "%.63s", e->d_name);
			snprintf(devdir, sizeof(devdir), "/sys/bus/pci/devices/%s", e->d_name);
			closedir(d);
			return 0;
		}
	}
	closedir(d);
	return -1;
}

static bool driver_bound(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/driver", devdir);
	return access(path, F_OK) == 0;
}

static int unbind_driver(void)
{
	if (!driver_bound())
		return 0;
	return write_file("/sys/bus/pci/drivers/virtio-pci/unbind", bdf);
}

static int bind_driver(void)
{
	return write_file("/sys/bus/pci/drivers/virtio-pci/bind", bdf);
}

/* The network interface Linux's virtio_net made of the NIC:
 * <devdir>/virtioN/net/<name>. */
static int nic_ifname(char *name, size_t len)
{
	DIR *d = opendir(devdir);
	if (!d)
		return -1;
	struct dirent *e;
	int r = -1;
	while (r < 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, "virtio", 6))
			continue;
		char path[600];
		snprintf(path, sizeof(path), "%s/%s/net", devdir, e->d_name);
		DIR *n = opendir(path);
		if (!n)
			continue;
		struct dirent *f;
		while ((f = readdir(n)))
			if (f->d_name[0] != '.') {
				snprintf(name, len, "%.15s", f->d_name); /* IFNAMSIZ - 1 */
				r = 0;
				break;
			}
		closedir(n);
	}
	closedir(d);
	return r;
}

/* ip addr add guest_ip/24 dev NAME; ip link set NAME up; by ioctl. */
static int ifup(char *name, size_t len)
{
	if (nic_ifname(name, len)) {
		say("misbehave: the NIC has no network interface");
		return -1;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
	a->sin_family = AF_INET;
	inet_pton(AF_INET, guest_ip, &a->sin_addr);
	int r = ioctl(s, SIOCSIFADDR, &ifr);
	inet_pton(AF_INET, "255.255.255.0", &a->sin_addr);
	if (!r)
		r = ioctl(s, SIOCSIFNETMASK, &ifr);
	if (!r)
		r = ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (!r)
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	if (r)
		say("misbehave: configuring %s: %s", name, strerror(errno));
	close(s);
	return r;
}

/* ---- BAR 0 and the virtio capabilities (§4.1.4) --------------------------- */

static int cfg_fd = -1;	      /* <devdir>/config */
static volatile uint8_t *bar; /* BAR 0, mapped through <devdir>/resource0 */
static size_t bar_len;
static uint64_t bar_pa; /* where BAR 0 sits in guest physical memory */
static uint32_t common_at, notify_at, isr_at, devcfg_at, devcfg_len, notify_mult;
static uint8_t msix_cap, pci_cfg_cap;
static uint32_t msix_table_at; /* MSI-X table offset in BAR 0 */
static uint32_t msix_pba_at;   /* and the pending-bit array's */
static uint16_t command_before;

static uint32_t cfg_read(uint32_t off, unsigned len)
{
	uint32_t v = 0;
	if (pread(cfg_fd, &v, len, off) != (ssize_t)len)
		return 0xffffffff;
	return v;
}

static void cfg_write(uint32_t off, uint32_t v, unsigned len)
{
	if (pwrite(cfg_fd, &v, len, off) != (ssize_t)len)
		say("misbehave: config write at 0x%x: %s", off, strerror(errno));
}

static uint8_t rd8(uint32_t o)
{
	return *(volatile uint8_t *)(bar + o);
}
static uint16_t rd16(uint32_t o)
{
	return *(volatile uint16_t *)(bar + o);
}
static uint32_t rd32(uint32_t o)
{
	return *(volatile uint32_t *)(bar + o);
}
static void wr8(uint32_t o, uint8_t v)
{
	*(volatile uint8_t *)(bar + o) = v;
}
static void wr16(uint32_t o, uint16_t v)
{
	*(volatile uint16_t *)(bar + o) = v;
}
static void wr32(uint32_t o, uint32_t v)
{
	*(volatile uint32_t *)(bar + o) = v;
}

#define CC(f) (common_at + (uint32_t)offsetof(struct virtio_pci_common_cfg, f))

static int map_bar(void)
{
	char path[400], line[200];
	snprintf(path, sizeof(path), "%s/resource", devdir);
	if (read_file(path, line, sizeof(line)))
		return -1;
	unsigned long long start = strtoull(line, NULL, 16);
	bar_pa = start;
	snprintf(path, sizeof(path), "%s/resource0", devdir);
	int fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		say("misbehave: open %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	fstat(fd, &st);
	bar_len = (size_t)st.st_size;
	void *p = mmap(NULL, bar_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		say("misbehave: mmap %s: %s", path, strerror(errno));
		return -1;
	}
	bar = p;
	return 0;
}

static void unmap_bar(void)
{
	if (bar)
		munmap((void *)bar, bar_len);
	bar = NULL;
}

/* Finds the common, notify, ISR and device structures (all must be in BAR
 * 0 for this program), the PCI_CFG window and MSI-X. */
static int walk_caps(void)
{
	int seen = 0;
	uint8_t at = (uint8_t)(cfg_read(PCI_CAP_PTR, 1) & 0xfc);
	for (int guard = 0; at && guard < 48; guard++) {
		uint8_t id = (uint8_t)cfg_read(at, 1);
		if (id == PCI_CAP_ID_MSIX) {
			msix_cap = at;
			msix_table_at = cfg_read(at + 4u, 4) & ~7u;
			msix_pba_at = cfg_read(at + 8u, 4) & ~7u;
		} else if (id == PCI_CAP_ID_VNDR) {
			uint8_t type = (uint8_t)cfg_read(at + 3u, 1);
			uint8_t b = (uint8_t)cfg_read(at + 4u, 1);
			uint32_t off = cfg_read(at + 8u, 4), len = cfg_read(at + 12u, 4);
			if (type != VIRTIO_PCI_CAP_PCI_CFG && b != 0) {
				say("misbehave: capability type %u in BAR %u, not 0", type, b);
				return -1;
			}
			switch (type) {
			case VIRTIO_PCI_CAP_COMMON_CFG:
				common_at = off, seen |= 1;
				break;
			case VIRTIO_PCI_CAP_NOTIFY_CFG:
				notify_at = off, seen |= 2;
				notify_mult = cfg_read(at + 16u, 4);
				break;
			case VIRTIO_PCI_CAP_ISR_CFG:
				isr_at = off, seen |= 4;
				break;
			case VIRTIO_PCI_CAP_DEVICE_CFG:
				devcfg_at = off, devcfg_len = len, seen |= 8;
				break;
			case VIRTIO_PCI_CAP_PCI_CFG:
				pci_cfg_cap = at;
				break;
			}
		}
		at = (uint8_t)(cfg_read(at + 1u, 1) & 0xfc);
	}
	return seen == 15 && msix_cap && pci_cfg_cap ? 0 : -1;
}

/* ---- guest memory for rings and buffers ----------------------------------- */

struct page {
	uint8_t *va;
	uint64_t pa;
};

enum {
	PG_RX_DESC,
	PG_RX_AVAIL,
	PG_RX_USED,
	PG_TX_DESC,
	PG_TX_AVAIL,
	PG_TX_USED,
	PG_TX_BUF,
	PG_INDIRECT,
	PG_RX_BUF0,
	NPAGES = PG_RX_BUF0 + 8
};

static struct page pages[NPAGES];
static uint64_t ram_end; /* end of the highest "System RAM" range */

static int alloc_pages(void)
{
	uint8_t *m = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return -1;
	for (int i = 0; i < NPAGES; i++) {
		pages[i].va = m + (size_t)i * PAGE;
		memset(pages[i].va, 0xa5, PAGE); /* present and our own, not the zero page */
		uint64_t e = 0;
		off_t at = (off_t)((uintptr_t)pages[i].va / PAGE * 8);
		if (pread(fd, &e, 8, at) != 8 || !(e & (1ULL << 63)) || !(e & ((1ULL << 55) - 1))) {
			close(fd);
			return -1; /* not present, or PFNs hidden (needs CAP_SYS_ADMIN) */
		}
		pages[i].pa = (e & ((1ULL << 55) - 1)) * PAGE;
	}
	close(fd);
	return 0;
}

/* The end of guest RAM as the kernel was told (e820 via /proc/iomem). */
static int find_ram_end(void)
{
	FILE *f = fopen("/proc/iomem", "r");
	if (!f)
		return -1;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (line[0] != ' ' && strstr(line, ": System RAM") &&
		    sscanf(line, "%llx-%llx", &a, &b) == 2 && b + 1 > ram_end)
			ram_end = b + 1;
	}
	fclose(f);
	return ram_end ? 0 : -1;
}

/* ---- a minimal driver (§3.1.1, §4.1.5) ------------------------------------ */

struct ring {
	uint16_t q, size;
	uint16_t next; /* our available index */
	uint16_t seen; /* used entries we have looked at */
	struct page *desc, *avail, *used;
	uint32_t doorbell; /* BAR 0 offset of its notify address */
};

static struct ring rx = {
    .q = 0, .desc = &pages[PG_RX_DESC], .avail = &pages[PG_RX_AVAIL], .used = &pages[PG_RX_USED]};
static struct ring tx = {
    .q = 1, .desc = &pages[PG_TX_DESC], .avail = &pages[PG_TX_AVAIL], .used = &pages[PG_TX_USED]};
static uint8_t mac[6];

static struct vring_desc *descs(struct ring *r)
{
	return (struct vring_desc *)r->desc->va;
}
static struct vring_avail *avail(struct ring *r)
{
	return (struct vring_avail *)r->avail->va;
}
static struct vring_used *used(struct ring *r)
{
	return (struct vring_used *)r->used->va;
}

static uint8_t status(void)
{
	return rd8(CC(device_status));
}

static bool needs_reset(void)
{
	return status() & STATUS_NEEDS_RESET;
}

/* §4.1.4.3.2: write 0, then wait until device_status reads 0. */
static int reset_device(void)
{
	wr8(CC(device_status), 0);
	for (double end = now() + 10; now() < end; sleep_ms(1))
		if (status() == 0)
			return 0;
	return -1;
}

/* §3.1.1 steps 2-5; returns the status read back. */
static uint8_t negotiate(uint64_t features)
{
	wr8(CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr8(CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr32(CC(guest_feature_select), 0);
	wr32(CC(guest_feature), (uint32_t)features);
	wr32(CC(guest_feature_select), 1);
	wr32(CC(guest_feature), (uint32_t)(features >> 32));
	wr8(CC(device_status), status() | VIRTIO_CONFIG_S_FEATURES_OK);
	return status();
}

/* Programs queue q's registers (§4.1.5.1.3), enabling it if asked. */
static void queue_regs(uint16_t q, uint16_t size, uint64_t d, uint64_t a, uint64_t u, bool enable)
{
	wr16(CC(queue_select), q);
	wr16(CC(queue_size), size);
	wr16(CC(queue_msix_vector), VIRTIO_MSI_NO_VECTOR);
	wr32(CC(queue_desc_lo), (uint32_t)d);
	wr32(CC(queue_desc_hi), (uint32_t)(d >> 32));
	wr32(CC(queue_avail_lo), (uint32_t)a);
	wr32(CC(queue_avail_hi), (uint32_t)(a >> 32));
	wr32(CC(queue_used_lo), (uint32_t)u);
	wr32(CC(queue_used_hi), (uint32_t)(u >> 32));
	if (enable)
		wr16(CC(queue_enable), 1);
}

static void ring_setup(struct ring *r, bool enable)
{
	memset(r->desc->va, 0, PAGE);
	memset(r->avail->va, 0, PAGE);
	memset(r->used->va, 0, PAGE);
	r->size = QSIZE;
	r->next = r->seen = 0;
	/* No interrupts: nobody here would take them. */
	avail(r)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	queue_regs(r->q, QSIZE, r->desc->pa, r->avail->pa, r->used->pa, enable);
	wr16(CC(queue_select), r->q);
	r->doorbell = notify_at + rd16(CC(queue_notify_off)) * notify_mult;
}

static void publish(struct ring *r, uint16_t head)
{
	avail(r)->ring[r->next % r->size] = head;
	r->next++;
	__atomic_store_n(&avail(r)->idx, r->next, __ATOMIC_RELEASE); /* §2.7.13 */
}

static void kick(struct ring *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr16(r->doorbell, r->q); /* §4.1.5.2 */
}

static uint16_t used_idx(struct ring *r)
{
	return __atomic_load_n(&used(r)->idx, __ATOMIC_ACQUIRE);
}

/* Waits up to ms for n more used entries (or NEEDS_RESET); returns how
 * many new ones there are. */
static unsigned wait_used(struct ring *r, unsigned n, unsigned ms)
{
	for (double end = now() + ms / 1000.0; now() < end; sleep_ms(1)) {
		if ((uint16_t)(used_idx(r) - r->seen) >= n || needs_reset())
			break;
	}
	return (uint16_t)(used_idx(r) - r->seen);
}

static bool wait_needs_reset(unsigned ms)
{
	for (double end = now() + ms / 1000.0; now() < end; sleep_ms(1))
		if (needs_reset())
			return true;
	return false;
}

/* Reset, negotiate, both queues of size QSIZE, DRIVER_OK. */
static int session(uint64_t features, char *why, size_t len)
{
	if (reset_device()) {
		snprintf(why, len, "reset did not complete: status 0x%02x", status());
		return -1;
	}
	uint8_t s = negotiate(features);
	if (!(s & VIRTIO_CONFIG_S_FEATURES_OK)) {
		snprintf(why, len, "features 0x%llx refused: status 0x%02x",
			 (unsigned long long)features, s);
		return -1;
	}
	ring_setup(&rx, true);
	ring_setup(&tx, true);
	wr8(CC(device_status), s | VIRTIO_CONFIG_S_DRIVER_OK);
	s = status();
	if (s != STATUS_LIVE) {
		snprintf(why, len, "status 0x%02x after DRIVER_OK, expected 0x%02x", s,
			 STATUS_LIVE);
		return -1;
	}
	return 0;
}

/* A well-formed frame in PG_TX_BUF: the 12-byte header, then a broadcast
 * Ethernet frame of the local experimental ethertype 0x88b5. */
static void make_frame(void)
{
	uint8_t *b = pages[PG_TX_BUF].va;
	memset(b, 0, HDR_LEN + FRAME_LEN);
	memset(b + HDR_LEN, 0xff, 6);
	memcpy(b + HDR_LEN + 6, mac, 6);
	b[HDR_LEN + 12] = 0x88;
	b[HDR_LEN + 13] = 0xb5;
	snprintf((char *)b + HDR_LEN + 14, FRAME_LEN - 14, "minivmm misbehave test frame");
}

static void good_tx_desc(uint16_t i)
{
	descs(&tx)[i] = (struct vring_desc){pages[PG_TX_BUF].pa, HDR_LEN + FRAME_LEN, 0, 0};
}

/* ---- the cases ------------------------------------------------------------- */

static int n_cases, n_failed, n_needs_reset, n_tx_dropped;
static char note[400];

#define NOTE(...) snprintf(note, sizeof(note), __VA_ARGS__)
#define FAIL(...)                                                                                  \
	do {                                                                                       \
		NOTE(__VA_ARGS__);                                                                 \
		return -1;                                                                         \
	} while (0)
#define SESSION(features)                                                                          \
	do {                                                                                       \
		if (session((features), note, sizeof(note)))                                       \
			return -1;                                                                 \
	} while (0)

static void run_case(const char *name, int (*fn)(void))
{
	note[0] = '\0';
	int r = fn();
	n_cases++;
	n_failed += r != 0;
	say("misbehave: case %s: %s%s%s", name, r ? "FAIL" : "ok", note[0] ? ": " : "", note);
}

/* After the device asked for a reset: it said so with a configuration
 * change notification if DRIVER_OK was set (§2.1.2: the ISR's config bit,
 * as neither MSI-X nor INTx is on), it takes no more buffers, a reset
 * clears the bit, and a new session sends a frame again. */
static int recovers(const char *what, bool live)
{
	char why[200];
	uint8_t isr = rd8(isr_at); /* reading clears it (§4.1.4.5) */
	/* The device sets the status bit first, then notifies: allow it a
	 * moment between the two. */
	for (double end = now() + 2; live && !(isr & VIRTIO_PCI_ISR_CONFIG) && now() < end;
	     sleep_ms(1))
		isr |= rd8(isr_at);
	if (live && !(isr & VIRTIO_PCI_ISR_CONFIG))
		FAIL("%s; DEVICE_NEEDS_RESET without a configuration change notification (isr "
		     "0x%x)",
		     what, isr);
	uint16_t before = used_idx(&tx);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	sleep_ms(200);
	if (used_idx(&tx) != before)
		FAIL("%s; yet the device still used a buffer after setting DEVICE_NEEDS_RESET",
		     what);
	if (session(BASE_FEATURES, why, sizeof(why)))
		FAIL("%s; after the reset: %s", what, why);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("%s; after a reset the device did not send a frame", what);
	tx.seen++;
	n_needs_reset++;
	NOTE("DEVICE_NEEDS_RESET, %s%s; after a reset the device works", what,
	     live ? ", with a configuration change notification" : "");
	return 0;
}

/* Queue set-up the device must refuse: NEEDS_RESET, the queue not enabled. */
static int bad_queue(uint16_t size, uint64_t d, uint64_t a, uint64_t u, const char *what)
{
	if (reset_device())
		FAIL("reset did not complete");
	negotiate(BASE_FEATURES);
	queue_regs(1, size, d, a, u, true);
	wr16(CC(queue_select), 1);
	if (!needs_reset())
		FAIL("%s: accepted (status 0x%02x, queue_enable %u)", what, status(),
		     rd16(CC(queue_enable)));
	if (rd16(CC(queue_enable)))
		FAIL("%s: DEVICE_NEEDS_RESET, yet queue_enable reads 1", what);
	return recovers(what, false);
}

static int case_queue_size_not_power_of_2(void)
{
	return bad_queue(100, pages[PG_TX_DESC].pa, pages[PG_TX_AVAIL].pa, pages[PG_TX_USED].pa,
			 "queue_size 100 refused");
}

static int case_queue_size_zero(void)
{
	return bad_queue(0, pages[PG_TX_DESC].pa, pages[PG_TX_AVAIL].pa, pages[PG_TX_USED].pa,
			 "queue enabled with queue_size 0 refused");
}

static int case_queue_size_too_big(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	wr16(CC(queue_select), 1);
	uint16_t max = rd16(CC(queue_size)); /* after a reset: the largest offered */
	char what[100];
	snprintf(what, sizeof(what), "queue_size %u above the offered %u refused", max * 2u, max);
	return bad_queue((uint16_t)(max * 2u), pages[PG_TX_DESC].pa, pages[PG_TX_AVAIL].pa,
			 pages[PG_TX_USED].pa, what);
}

static int case_ring_outside_ram(void)
{
	return bad_queue(QSIZE, 1ULL << 40, pages[PG_TX_AVAIL].pa, pages[PG_TX_USED].pa,
			 "descriptor table at 1 TiB refused");
}

static int case_ring_straddles_ram_end(void)
{
	return bad_queue(QSIZE, pages[PG_TX_DESC].pa, pages[PG_TX_AVAIL].pa, ram_end - 64,
			 "used ring across the end of RAM refused");
}

static int case_ring_in_mmio(void)
{
	return bad_queue(QSIZE, bar_pa, pages[PG_TX_AVAIL].pa, pages[PG_TX_USED].pa,
			 "descriptor table on the device's own BAR refused");
}

static int case_ring_misaligned(void)
{
	return bad_queue(QSIZE, pages[PG_TX_DESC].pa + 8, pages[PG_TX_AVAIL].pa,
			 pages[PG_TX_USED].pa, "descriptor table 8-byte aligned refused");
}

static int case_used_ring_over_avail_idx(void)
{
	return bad_queue(QSIZE, pages[PG_TX_DESC].pa, pages[PG_TX_AVAIL].pa, pages[PG_TX_AVAIL].pa,
			 "used ring on the available ring refused");
}

static int case_driver_ok_queues_disabled(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	uint8_t s = negotiate(BASE_FEATURES);
	rd8(isr_at);
	uint8_t gen = rd8(CC(config_generation));
	wr8(CC(device_status), s | VIRTIO_CONFIG_S_DRIVER_OK);
	if (!needs_reset())
		FAIL("DRIVER_OK without queues accepted: status 0x%02x", status());
	/* §2.1.2: with DRIVER_OK set, NEEDS_RESET comes with a configuration
	 * change notification. */
	if (!(rd8(isr_at) & VIRTIO_PCI_ISR_CONFIG) || rd8(CC(config_generation)) == gen)
		FAIL("DEVICE_NEEDS_RESET without a configuration change notification");
	return recovers("DRIVER_OK without enabled queues refused, with a config interrupt", false);
}

static int case_driver_ok_without_features_ok(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	wr8(CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr32(CC(guest_feature_select), 1);
	wr32(CC(guest_feature), 1); /* VERSION_1 */
	ring_setup(&rx, true);
	ring_setup(&tx, true);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	wr8(CC(device_status),
	    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	uint8_t s = status();
	kick(&tx);
	sleep_ms(300);
	if (s & VIRTIO_CONFIG_S_DRIVER_OK)
		FAIL("status 0x%02x: DRIVER_OK taken without FEATURES_OK", s);
	if (used_idx(&tx))
		FAIL("the device used a buffer without DRIVER_OK (§2.1.2)");
	NOTE("DRIVER_OK not taken (status 0x%02x); no buffer used", s);
	return 0;
}

static int case_features_not_offered(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	uint8_t s = negotiate(~0ULL);
	if (s & VIRTIO_CONFIG_S_FEATURES_OK)
		FAIL("every feature bit accepted: status 0x%02x", s);
	wr8(CC(device_status), s | VIRTIO_CONFIG_S_DRIVER_OK);
	if (status() & VIRTIO_CONFIG_S_DRIVER_OK)
		FAIL("DRIVER_OK taken after FEATURES_OK was refused");
	if (reset_device())
		FAIL("reset did not complete");
	s = negotiate(F(VIRTIO_NET_F_MAC)); /* a legacy driver: no VERSION_1 */
	if (s & VIRTIO_CONFIG_S_FEATURES_OK)
		FAIL("a driver without VERSION_1 accepted: status 0x%02x", s);
	NOTE("FEATURES_OK refused for all 64 bits and for a driver without VERSION_1");
	return 0;
}

static int case_features_frozen(void)
{
	SESSION(BASE_FEATURES);
	wr32(CC(guest_feature_select), 1);
	wr32(CC(guest_feature), 0);
	wr32(CC(guest_feature_select), 0);
	wr32(CC(guest_feature), 0xffffffff);
	wr32(CC(guest_feature_select), 1);
	uint32_t hi = rd32(CC(guest_feature));
	wr32(CC(guest_feature_select), 0);
	uint32_t lo = rd32(CC(guest_feature));
	if (((uint64_t)hi << 32 | lo) != BASE_FEATURES)
		FAIL("features changed after FEATURES_OK: 0x%08x%08x", hi, lo);
	NOTE("guest_feature writes after FEATURES_OK ignored");
	return 0;
}

static int case_status_bits_cleared(void)
{
	SESSION(BASE_FEATURES);
	wr8(CC(device_status), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	uint8_t s = status();
	if (s != STATUS_LIVE)
		FAIL("status 0x%02x after writing ACKNOWLEDGE alone", s);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the device stopped sending");
	NOTE("bits stay set until a reset (§2.1.1); the device goes on");
	return 0;
}

static int case_read_only_common_fields(void)
{
	SESSION(BASE_FEATURES);
	uint16_t nq = rd16(CC(num_queues));
	wr32(CC(device_feature_select), 0);
	uint32_t f0 = rd32(CC(device_feature));
	uint8_t gen = rd8(CC(config_generation));
	wr16(CC(queue_select), 1);
	uint16_t noff = rd16(CC(queue_notify_off));

	wr16(CC(num_queues), 0xffff);
	wr32(CC(device_feature), ~f0);
	wr8(CC(config_generation), (uint8_t)(gen + 77));
	wr16(CC(queue_notify_off), 0x1234);
	wr32(CC(device_feature_select), 0);
	if (rd16(CC(num_queues)) != nq || rd32(CC(device_feature)) != f0 ||
	    rd8(CC(config_generation)) != gen || rd16(CC(queue_notify_off)) != noff)
		FAIL("a read-only field changed");
	/* Queue fields are frozen after DRIVER_OK; queue_enable cannot be
	 * cleared (§4.1.4.3.2). */
	wr16(CC(queue_size), 4);
	wr32(CC(queue_desc_lo), 0x1000);
	wr16(CC(queue_enable), 0);
	if (rd16(CC(queue_size)) != QSIZE || rd32(CC(queue_desc_lo)) != (uint32_t)tx.desc->pa ||
	    rd16(CC(queue_enable)) != 1)
		FAIL("a live queue's registers changed");
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the device stopped sending");
	NOTE("num_queues=%u, device_feature, config_generation, queue_notify_off and a live "
	     "queue's registers unchanged by writes",
	     nq);
	return 0;
}

static int case_read_only_device_config(void)
{
	uint8_t before[16], after[16];
	uint32_t n = devcfg_len < sizeof(before) ? devcfg_len : sizeof(before);
	for (int pass = 0; pass < 2; pass++) {
		/* Before FEATURES_OK, then with VERSION_1 live: mac and status
		 * are driver-read-only in 1.x (§5.1.4; only the legacy
		 * interface let a driver write mac). */
		if (pass == 0) {
			if (reset_device())
				FAIL("reset did not complete");
		} else {
			SESSION(BASE_FEATURES);
		}
		for (uint32_t i = 0; i < n; i++)
			before[i] = rd8(devcfg_at + i);
		for (uint32_t i = 0; i < n; i++)
			wr8(devcfg_at + i, (uint8_t)~before[i]);
		wr32(devcfg_at, 0);
		wr16(devcfg_at + 6, 0);
		wr32(devcfg_at + 0x100, 0xffffffff); /* past the structure */
		for (uint32_t i = 0; i < n; i++)
			after[i] = rd8(devcfg_at + i);
		if (memcmp(before, after, n))
			FAIL("device config changed by a write (pass %d)", pass);
		if (rd32(devcfg_at + 0x100) != 0)
			FAIL("past the device config reads 0x%08x, not 0", rd32(devcfg_at + 0x100));
	}
	NOTE("mac %02x:%02x:%02x:%02x:%02x:%02x and status unchanged by writes", before[0],
	     before[1], before[2], before[3], before[4], before[5]);
	return 0;
}

static int case_queue_select_out_of_range(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	negotiate(BASE_FEATURES);
	static const uint16_t sel[] = {2, 7, 8, 1000, 0xffff};
	for (unsigned i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		queue_regs(sel[i], QSIZE, pages[PG_TX_DESC].pa, pages[PG_TX_AVAIL].pa,
			   pages[PG_TX_USED].pa, true);
		wr16(CC(queue_select), sel[i]);
		if (rd16(CC(queue_size)) || rd16(CC(queue_enable)) || rd32(CC(queue_desc_lo)))
			FAIL("queue %u (no such queue) reads size %u enable %u", sel[i],
			     rd16(CC(queue_size)), rd16(CC(queue_enable)));
	}
	if (needs_reset())
		FAIL("DEVICE_NEEDS_RESET for writes to missing queues");
	SESSION(BASE_FEATURES);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the device did not send afterwards");
	NOTE("queues 2, 7, 8, 1000, 65535 read size 0 and ignore writes");
	return 0;
}

/* Notifications on queues never set up, on queue indices the device does
 * not have, in odd widths and places: ignored, before and after DRIVER_OK. */
static void odd_kicks(unsigned rounds)
{
	for (unsigned r = 0; r < rounds; r++) {
		for (uint16_t q = 0; q < 8; q++)
			wr16(notify_at + q * notify_mult, q);
		wr16(notify_at, 0xffff);
		wr32(notify_at + 4 * notify_mult, 0xdeadbeef);
		wr8(notify_at + 1, 1);
		wr16(notify_at + 0xffc, 1); /* the end of the notify area */
		(void)rd32(notify_at);
	}
}

static int case_notify_unset_queues(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	uint8_t s = negotiate(BASE_FEATURES);
	odd_kicks(10); /* nothing set up */
	ring_setup(&rx, true);
	ring_setup(&tx, true);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx); /* before DRIVER_OK: the device must not use it yet (§2.1.2) */
	sleep_ms(200);
	if (used_idx(&tx))
		FAIL("the device used a buffer before DRIVER_OK");
	wr8(CC(device_status), s | VIRTIO_CONFIG_S_DRIVER_OK);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the frame kicked before DRIVER_OK did not go out after it");
	tx.seen++;
	odd_kicks(10);
	if (needs_reset())
		FAIL("DEVICE_NEEDS_RESET from notifications");
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the device stopped sending");
	NOTE("ignored; a kick before DRIVER_OK waited for it");
	return 0;
}

static int case_kick_storm(void)
{
	SESSION(BASE_FEATURES);
	double t = now();
	for (int i = 0; i < 20000; i++)
		kick(&tx); /* through the ioeventfd: no exit */
	double secs = now() - t;
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1 || needs_reset())
		FAIL("the device stopped sending after 20000 empty kicks");
	NOTE("20000 empty kicks in %.2f s; the device goes on", secs);
	return 0;
}

static int case_msix_misuse(void)
{
	SESSION(BASE_FEATURES);
	wr16(CC(queue_select), 0);
	wr16(CC(queue_msix_vector), 50);
	uint16_t qv = rd16(CC(queue_msix_vector));
	wr16(CC(msix_config), 0x1234);
	uint16_t cv = rd16(CC(msix_config));
	if (qv != VIRTIO_MSI_NO_VECTOR || cv != VIRTIO_MSI_NO_VECTOR)
		FAIL("vectors the device lacks read back 0x%x and 0x%x, not NO_VECTOR", qv, cv);
	/* The table (PCI 3.0 §6.8.2): only aligned dwords/qwords count. */
	uint32_t t = msix_table_at, e0[4];
	for (int i = 0; i < 4; i++)
		e0[i] = rd32(t + 4u * i);
	wr8(t, 0x12);
	wr16(t + 2, 0x3456);
	wr32(t + 0x200, 0xffffffff);  /* past the table */
	wr32(t + 0x1000, 0xffffffff); /* the PBA: read-only */
	for (int i = 0; i < 4; i++)
		if (rd32(t + 4u * i) != e0[i])
			FAIL("MSI-X entry 0 word %d changed by a sub-dword write", i);
	if (rd8(t) != 0xff)
		FAIL("a byte read of the MSI-X table returned 0x%02x, not 0xff", rd8(t));
	NOTE("bad vectors read NO_VECTOR; odd MSI-X table accesses ignored");
	return 0;
}

/* One frame out on the transmit queue; 0 once the device used it. */
static int send_one(void)
{
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		return -1;
	tx.seen++;
	return 0;
}

static bool tx_pending(void)
{
	return rd32(msix_pba_at) & 0x2;
}

/* MSI-X masking as the spec has it (PCI 3.0 §6.8.2.9): an interrupt the
 * device raises for a masked vector sets the vector's pending bit and is
 * sent when the vector is unmasked, which clears the bit; an unmasked
 * vector's interrupt goes out at once and leaves no bit. minivmm binds the
 * vector's eventfd to KVM as its irqfd only while unmasked (devices/msix.c),
 * so this runs what KVM does on each change. The message names APIC ID
 * 0xfe, which no vCPU has: KVM sends it nowhere, and the guest sees
 * nothing. */
static int case_msix_pending(void)
{
	SESSION(BASE_FEATURES);
	avail(&tx)->flags = 0;			/* interrupts wanted now (§2.7.7) */
	const uint32_t e1 = msix_table_at + 16; /* vector 1: the transmit queue's */
	wr32(e1, 0xfee00000u | (0xfeu << 12));
	wr32(e1 + 4, 0);
	wr32(e1 + 8, 0x31);
	wr32(e1 + 12, 1); /* masked */
	uint16_t control = (uint16_t)cfg_read(msix_cap + 2u, 2);
	cfg_write(msix_cap + 2u, (control & ~0x4000u) | 0x8000u, 2); /* enable, no function mask */
	wr16(CC(queue_select), 1);
	wr16(CC(queue_msix_vector), 1);
	int r = 0;
	if (rd16(CC(queue_msix_vector)) != 1) {
		NOTE("queue 1 took no MSI-X vector");
		r = -1;
	} else if (send_one() || !tx_pending()) {
		NOTE("a masked vector's interrupt left no pending bit (PBA 0x%x)",
		     rd32(msix_pba_at));
		r = -1;
	} else if ((wr32(e1 + 12, 0), tx_pending())) {
		NOTE("unmasking did not send the pending message (PBA 0x%x)", rd32(msix_pba_at));
		r = -1;
	} else if (send_one() || tx_pending()) {
		NOTE("an unmasked vector's interrupt left a pending bit (PBA 0x%x)",
		     rd32(msix_pba_at));
		r = -1;
	} else if ((wr32(e1 + 12, 1), send_one()) || !tx_pending()) {
		NOTE("masked again, the vector's interrupt left no pending bit (PBA 0x%x)",
		     rd32(msix_pba_at));
		r = -1;
	} else if ((cfg_write(msix_cap + 2u, 0x8000u | 0x4000u, 2), wr32(e1 + 12, 0), send_one()) ||
		   !tx_pending()) {
		NOTE("with the function masked, the vector's interrupt left no pending bit");
		r = -1;
	} else if ((cfg_write(msix_cap + 2u, 0x8000u, 2), tx_pending())) {
		NOTE("unmasking the function did not send the pending message");
		r = -1;
	}
	cfg_write(msix_cap + 2u, control, 2); /* as the kernel left it */
	avail(&tx)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	if (!r)
		NOTE("pending while masked (vector and function), sent on unmask, none when "
		     "unmasked");
	return r;
}

static int case_pci_config_read_only(void)
{
	static const uint32_t fields[][2] = {{0x00, 4}, {0x08, 4}, {0x2c, 4}, {PCI_CAP_PTR, 1}};
	uint32_t before[8], n = 0;
	for (unsigned i = 0; i < 4; i++) {
		before[n] = cfg_read(fields[i][0], fields[i][1]);
		cfg_write(fields[i][0], ~before[n], fields[i][1]);
		if (cfg_read(fields[i][0], fields[i][1]) != before[n])
			FAIL("config register 0x%02x changed", fields[i][0]);
		n++;
	}
	/* The virtio capabilities themselves (type, bar, offset, length). */
	uint8_t at = (uint8_t)(cfg_read(PCI_CAP_PTR, 1) & 0xfc);
	for (int guard = 0; at && guard < 48; guard++) {
		if (at != pci_cfg_cap && cfg_read(at, 1) == PCI_CAP_ID_VNDR) {
			uint32_t w[4];
			for (int i = 0; i < 4; i++)
				w[i] = cfg_read(at + 4u * i, 4);
			for (int i = 0; i < 4; i++)
				cfg_write(at + 4u * i, ~w[i], 4);
			for (int i = 0; i < 4; i++)
				if (cfg_read(at + 4u * i, 4) != w[i])
					FAIL("virtio capability at 0x%02x changed", at);
		}
		at = (uint8_t)(cfg_read(at + 1u, 1) & 0xfc);
	}
	if (walk_caps())
		FAIL("the capabilities no longer make sense");
	NOTE("ids, class, subsystem, capability list and virtio capabilities unchanged");
	return 0;
}

/* §4.1.4.9: BAR 0 through config space, set up wrongly on purpose. */
static int case_pci_cfg_window_misuse(void)
{
	SESSION(BASE_FEATURES);
	uint32_t c = pci_cfg_cap;
	cfg_write(c + 4, 0, 1);
	cfg_write(c + 8, CC(num_queues), 4);
	cfg_write(c + 12, 2, 4);
	uint32_t nq = cfg_read(c + 16, 2);
	if (nq != 2)
		FAIL("num_queues through the window reads %u", nq);
	static const uint32_t bad[][3] = {
	    {5, 0, 4}, {0, 0xfffffffe, 4}, {0, 0x7ffe, 4}, {0, 0, 3}, {0, 0, 0x100}};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg_write(c + 4, bad[i][0], 1);
		cfg_write(c + 8, bad[i][1], 4);
		cfg_write(c + 12, bad[i][2], 4);
		(void)cfg_read(c + 16, 4);
		cfg_write(c + 16, 0, 4); /* would reset the device, were it reaching status */
	}
	if (status() != STATUS_LIVE)
		FAIL("status 0x%02x after writes through a bad window", status());
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the device stopped sending");
	NOTE("a bad bar, offset or length reads and writes nothing");
	return 0;
}

/* A chain the device must drop: given back unused (length 0) and counted,
 * while the frame behind it still goes out and nothing needs a reset. */
static int tx_dropped(uint16_t head, const char *what)
{
	publish(&tx, head);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	unsigned got = wait_used(&tx, 2, 10000);
	if (needs_reset())
		FAIL("%s: DEVICE_NEEDS_RESET, expected the chain dropped", what);
	if (got != 2)
		FAIL("%s: %u of 2 chains came back", what, got);
	struct vring_used_elem *e = used(&tx)->ring;
	if (e[0].id != head || e[0].len != 0 || e[1].id != GOOD_HEAD)
		FAIL("%s: used ring holds %u/%u, %u/%u", what, e[0].id, e[0].len, e[1].id,
		     e[1].len);
	tx.seen = (uint16_t)(tx.seen + 2);
	n_tx_dropped++;
	NOTE("%s: chain %u returned unused; the next frame went out", what, head);
	return 0;
}

static struct vring_desc *D(uint16_t i)
{
	return &descs(&tx)[i];
}
static struct vring_desc *T(uint16_t i)
{
	return &((struct vring_desc *)pages[PG_INDIRECT].va)[i];
}
#define BUF (pages[PG_TX_BUF].pa)
#define IND (pages[PG_INDIRECT].pa)
#define N   VRING_DESC_F_NEXT
#define W   VRING_DESC_F_WRITE
#define I   VRING_DESC_F_INDIRECT

static int case_tx_descriptor_loop(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){BUF, HDR_LEN + FRAME_LEN, N, 0};
	return tx_dropped(0, "next pointing at itself");
}

static int case_tx_descriptor_loop_long(void)
{
	SESSION(BASE_FEATURES);
	for (uint16_t i = 0; i < 15; i++)
		*D(i) = (struct vring_desc){BUF + i, 1, N, (uint16_t)((i + 1) % 15)};
	return tx_dropped(0, "15 descriptors in a ring");
}

static int case_tx_next_outside_table(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){BUF, HDR_LEN, N, QSIZE};
	return tx_dropped(0, "next = queue size");
}

static int case_tx_indirect_loop(void)
{
	SESSION(BASE_FEATURES);
	*T(0) = (struct vring_desc){BUF, HDR_LEN, N, 1};
	*T(1) = (struct vring_desc){BUF + HDR_LEN, FRAME_LEN, N, 0};
	*D(0) = (struct vring_desc){IND, 32, I, 0};
	return tx_dropped(0, "indirect table looping 0 -> 1 -> 0");
}

static int case_tx_indirect_nested(void)
{
	SESSION(BASE_FEATURES);
	*T(0) = (struct vring_desc){IND, 16, I, 0};
	*D(0) = (struct vring_desc){IND, 16, I, 0};
	return tx_dropped(0, "indirect table holding itself");
}

static int case_tx_indirect_with_next(void)
{
	SESSION(BASE_FEATURES);
	*T(0) = (struct vring_desc){BUF, HDR_LEN + FRAME_LEN, 0, 0};
	*D(0) = (struct vring_desc){IND, 16, I | N, 1};
	*D(1) = (struct vring_desc){BUF, HDR_LEN + FRAME_LEN, 0, 0};
	return tx_dropped(0, "INDIRECT together with NEXT");
}

static int case_tx_indirect_inside_chain(void)
{
	SESSION(BASE_FEATURES);
	*T(0) = (struct vring_desc){BUF + HDR_LEN, FRAME_LEN, 0, 0};
	*D(0) = (struct vring_desc){BUF, HDR_LEN, N, 1};
	*D(1) = (struct vring_desc){IND, 16, I, 0};
	return tx_dropped(0, "indirect descriptor second in a chain");
}

static int case_tx_indirect_bad_length(void)
{
	SESSION(BASE_FEATURES);
	*T(0) = (struct vring_desc){BUF, HDR_LEN + FRAME_LEN, 0, 0};
	*D(0) = (struct vring_desc){IND, 17, I, 0};
	return tx_dropped(0, "indirect table of 17 bytes");
}

static int case_tx_indirect_outside_ram(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){ram_end - 16, 64, I, 0};
	return tx_dropped(0, "indirect table across the end of RAM");
}

static int case_tx_indirect_not_negotiated(void)
{
	SESSION(F(VIRTIO_F_VERSION_1));
	*T(0) = (struct vring_desc){BUF, HDR_LEN + FRAME_LEN, 0, 0};
	*D(0) = (struct vring_desc){IND, 16, I, 0};
	return tx_dropped(0, "INDIRECT without INDIRECT_DESC");
}

static int case_tx_addr_outside_ram(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){1ULL << 40, HDR_LEN + FRAME_LEN, 0, 0};
	return tx_dropped(0, "buffer at 1 TiB");
}

static int case_tx_len_wraps(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){0xfffffffffffff000ULL, 0x2000, 0, 0};
	return tx_dropped(0, "buffer 0xfffffffffffff000+0x2000 wrapping past 2^64");
}

static int case_tx_len_4gib(void)
{
	if (ram_end >= 0xf0000000ULL) {
		NOTE("skipped: with this much RAM a 4 GiB buffer could be valid");
		return 0;
	}
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){BUF, 0xffffffff, 0, 0};
	return tx_dropped(0, "buffer of 4 GiB - 1 bytes");
}

static int case_tx_straddles_ram_end(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){ram_end - 8, HDR_LEN + FRAME_LEN, 0, 0};
	return tx_dropped(0, "buffer across the end of RAM");
}

static int case_tx_addr_in_mmio(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){bar_pa, HDR_LEN + FRAME_LEN, 0, 0};
	return tx_dropped(0, "buffer on the device's own registers");
}

static int case_tx_writable_then_readable(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){BUF, HDR_LEN, W | N, 1};
	*D(1) = (struct vring_desc){BUF + HDR_LEN, FRAME_LEN, 0, 0};
	return tx_dropped(0, "readable after writable");
}

static int case_tx_short_header(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){BUF, 4, 0, 0};
	return tx_dropped(0, "4 bytes, less than a header");
}

static int case_tx_only_writable(void)
{
	SESSION(BASE_FEATURES);
	*D(0) = (struct vring_desc){BUF, HDR_LEN + FRAME_LEN, W, 0};
	return tx_dropped(0, "only a device-writable buffer");
}

/* The ring itself is impossible: the device must stop and ask for a reset. */
static int case_tx_avail_idx_far_ahead(void)
{
	SESSION(BASE_FEATURES);
	tx.next = (uint16_t)(tx.next + 1000);
	__atomic_store_n(&avail(&tx)->idx, tx.next, __ATOMIC_RELEASE);
	kick(&tx);
	if (!wait_needs_reset(10000))
		FAIL("avail idx 1000 ahead on a 16-entry ring: status 0x%02x", status());
	return recovers("avail idx 1000 ahead of a 16-entry ring", true);
}

static int case_tx_head_outside_table(void)
{
	SESSION(BASE_FEATURES);
	publish(&tx, 300);
	kick(&tx);
	if (!wait_needs_reset(10000))
		FAIL("available ring entry 300 on a 16-entry ring: status 0x%02x", status());
	return recovers("available ring entry 300 of a 16-entry ring", true);
}

static int rx_broken(const char *what)
{
	publish(&rx, 0);
	kick(&rx);
	if (!wait_needs_reset(10000))
		FAIL("%s: status 0x%02x", what, status());
	return recovers(what, true);
}

static int case_rx_descriptor_loop(void)
{
	SESSION(BASE_FEATURES);
	descs(&rx)[0] = (struct vring_desc){pages[PG_RX_BUF0].pa, RX_BUF_LEN, W | N, 0};
	return rx_broken("receive chain pointing at itself");
}

static int case_rx_readable_buffer(void)
{
	SESSION(BASE_FEATURES);
	descs(&rx)[0] = (struct vring_desc){pages[PG_RX_BUF0].pa, RX_BUF_LEN, 0, 0};
	return rx_broken("receive buffer the device may not write");
}

static int case_rx_buffer_outside_ram(void)
{
	SESSION(BASE_FEATURES);
	descs(&rx)[0] = (struct vring_desc){ram_end - 1024, RX_BUF_LEN, W, 0};
	return rx_broken("receive buffer across the end of RAM");
}

static int case_rx_avail_idx_far_ahead(void)
{
	SESSION(BASE_FEATURES);
	rx.next = (uint16_t)(rx.next + 40000);
	__atomic_store_n(&avail(&rx)->idx, rx.next, __ATOMIC_RELEASE);
	kick(&rx);
	if (!wait_needs_reset(10000))
		FAIL("receive avail idx 40000 ahead: status 0x%02x", status());
	return recovers("receive avail idx 40000 ahead", true);
}

/* The device writes its used ring over the descriptor table: nothing the
 * device must refuse (§2.7 only asks for alignment), it garbles only what
 * the driver reads back. The device must go on; a reset puts it right. */
static int case_used_ring_over_descriptors(void)
{
	if (reset_device())
		FAIL("reset did not complete");
	uint8_t s = negotiate(BASE_FEATURES);
	ring_setup(&rx, true);
	memset(tx.desc->va, 0, PAGE);
	memset(tx.avail->va, 0, PAGE);
	tx.size = QSIZE;
	tx.next = tx.seen = 0;
	avail(&tx)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	queue_regs(1, QSIZE, tx.desc->pa, tx.avail->pa, tx.desc->pa, true);
	wr8(CC(device_status), s | VIRTIO_CONFIG_S_DRIVER_OK);
	good_tx_desc(GOOD_HEAD); /* slot 15: the used ring's 16 entries end at byte 132 */
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	uint16_t *idx = (uint16_t *)(tx.desc->va + 2); /* used->idx */
	double end = now() + 10;
	while (now() < end && __atomic_load_n(idx, __ATOMIC_ACQUIRE) == 0)
		sleep_ms(1);
	uint16_t got = __atomic_load_n(idx, __ATOMIC_ACQUIRE);
	if (got != 1 || needs_reset())
		FAIL("used idx %u, status 0x%02x", got, status());
	char why[200];
	if (session(BASE_FEATURES, why, sizeof(why)))
		FAIL("after a reset: %s", why);
	NOTE("accepted; the frame went out and a reset put the rings right");
	return 0;
}

static int case_rx_frames(void)
{
	SESSION(BASE_FEATURES);
	for (uint16_t i = 0; i < 8; i++) {
		memset(pages[PG_RX_BUF0 + i].va, 0xa5, RX_BUF_LEN);
		descs(&rx)[i] = (struct vring_desc){pages[PG_RX_BUF0 + i].pa, RX_BUF_LEN, W, 0};
		publish(&rx, i);
	}
	kick(&rx);
	/* The host pings the guest throughout: its ARP requests arrive. */
	unsigned got = wait_used(&rx, 1, 30000);
	if (needs_reset())
		FAIL("DEVICE_NEEDS_RESET for good receive buffers");
	if (!got)
		FAIL("no frame in 30 s (is the host sending?)");
	struct vring_used_elem *e = &used(&rx)->ring[0];
	uint8_t *b = pages[PG_RX_BUF0 + e->id].va;
	uint16_t num_buffers = (uint16_t)(b[10] | b[11] << 8);
	if (e->id >= 8 || e->len < HDR_LEN + 14 || e->len > RX_BUF_LEN || num_buffers != 1)
		FAIL("used entry %u length %u, num_buffers %u", e->id, e->len, num_buffers);
	NOTE("%u frame(s); the first %u bytes with the header, ethertype 0x%02x%02x", got, e->len,
	     b[HDR_LEN + 12], b[HDR_LEN + 13]);
	return 0;
}

/* Resets that land while the device's worker is busy with both queues. */
static int case_reset_mid_traffic(void)
{
	char why[200];
	for (int round = 0; round < 20; round++) {
		if (session(BASE_FEATURES, why, sizeof(why)))
			FAIL("round %d: %s", round, why);
		for (uint16_t i = 0; i < 8; i++) {
			descs(&rx)[i] =
			    (struct vring_desc){pages[PG_RX_BUF0 + i].pa, RX_BUF_LEN, W, 0};
			publish(&rx, i);
		}
		for (uint16_t i = 0; i < 15; i++) {
			descs(&tx)[i] =
			    (struct vring_desc){pages[PG_TX_BUF].pa, HDR_LEN + FRAME_LEN, 0, 0};
			publish(&tx, i);
		}
		kick(&rx);
		kick(&tx);
		if (round % 2)
			sleep_ms(1);
		if (reset_device())
			FAIL("round %d: the reset did not complete (status 0x%02x)", round,
			     status());
	}
	if (session(BASE_FEATURES, why, sizeof(why)))
		FAIL("afterwards: %s", why);
	good_tx_desc(GOOD_HEAD);
	publish(&tx, GOOD_HEAD);
	kick(&tx);
	if (wait_used(&tx, 1, 10000) != 1)
		FAIL("the device did not send afterwards");
	NOTE("20 resets with 15 frames and 8 receive buffers posted; the device works");
	return 0;
}

/* ---- the jobs ------------------------------------------------------------- */

/* Takes the NIC from Linux: unbind, enable decoding and bus mastering
 * ourselves, INTx off (no handler here), map BAR 0. */
static int take_nic(void)
{
	if (unbind_driver()) {
		say("misbehave: unbind %s: %s", bdf, strerror(errno));
		return -1;
	}
	char path[400];
	snprintf(path, sizeof(path), "%s/enable", devdir);
	if (write_file(path, "1"))
		say("misbehave: %s: %s (going on)", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/config", devdir);
	cfg_fd = open(path, O_RDWR);
	if (cfg_fd < 0) {
		say("misbehave: open %s: %s", path, strerror(errno));
		return -1;
	}
	command_before = (uint16_t)cfg_read(PCI_COMMAND, 2);
	cfg_write(PCI_COMMAND, command_before | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_OFF,
		  2);
	if (walk_caps()) {
		say("misbehave: the NIC's virtio capabilities are not as expected");
		return -1;
	}
	if (map_bar())
		return -1;
	for (uint32_t i = 0; i < 6; i++)
		mac[i] = rd8(devcfg_at + i);
	make_frame();
	return 0;
}

/* Hands the NIC back to Linux after a reset, and brings its interface up. */
static int give_back_nic(void)
{
	if (reset_device())
		say("misbehave: the last reset did not complete");
	unmap_bar();
	cfg_write(PCI_COMMAND, command_before, 2);
	close(cfg_fd);
	cfg_fd = -1;
	char path[400], ifname[IFNAMSIZ];
	snprintf(path, sizeof(path), "%s/enable", devdir);
	write_file(path, "0"); /* balances ours; the driver enables it itself */
	if (bind_driver() || !driver_bound()) {
		say("misbehave: bind %s: %s", bdf, strerror(errno));
		return -1;
	}
	if (ifup(ifname, sizeof(ifname)))
		return -1;
	say("misbehave: recovered: virtio-pci drives %s again, %s up as %s/24", bdf, ifname,
	    guest_ip);
	return 0;
}

static void job_cases(void)
{
	if (alloc_pages()) {
		say("misbehave: no physical addresses from /proc/self/pagemap");
		return;
	}
	if (find_ram_end()) {
		say("misbehave: no System RAM in /proc/iomem");
		return;
	}
	if (take_nic())
		return;
	say("misbehave: took %s from virtio-pci: BAR 0 at 0x%llx, RAM ends at 0x%llx, "
	    "mac %02x:%02x:%02x:%02x:%02x:%02x",
	    bdf, (unsigned long long)bar_pa, (unsigned long long)ram_end, mac[0], mac[1], mac[2],
	    mac[3], mac[4], mac[5]);

	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
#define C(n) {#n, case_##n}
	    C(read_only_common_fields),
	    C(read_only_device_config),
	    C(features_not_offered),
	    C(features_frozen),
	    C(driver_ok_without_features_ok),
	    C(status_bits_cleared),
	    C(queue_select_out_of_range),
	    C(notify_unset_queues),
	    C(msix_misuse),
	    C(msix_pending),
	    C(pci_config_read_only),
	    C(pci_cfg_window_misuse),
	    C(queue_size_not_power_of_2),
	    C(queue_size_zero),
	    C(queue_size_too_big),
	    C(ring_outside_ram),
	    C(ring_straddles_ram_end),
	    C(ring_in_mmio),
	    C(ring_misaligned),
	    C(used_ring_over_avail_idx),
	    C(used_ring_over_descriptors),
	    C(driver_ok_queues_disabled),
	    C(tx_descriptor_loop),
	    C(tx_descriptor_loop_long),
	    C(tx_next_outside_table),
	    C(tx_indirect_loop),
	    C(tx_indirect_nested),
	    C(tx_indirect_with_next),
	    C(tx_indirect_inside_chain),
	    C(tx_indirect_bad_length),
	    C(tx_indirect_outside_ram),
	    C(tx_indirect_not_negotiated),
	    C(tx_addr_outside_ram),
	    C(tx_len_wraps),
	    C(tx_len_4gib),
	    C(tx_straddles_ram_end),
	    C(tx_addr_in_mmio),
	    C(tx_writable_then_readable),
	    C(tx_short_header),
	    C(tx_only_writable),
	    C(tx_avail_idx_far_ahead),
	    C(tx_head_outside_table),
	    C(rx_descriptor_loop),
	    C(rx_readable_buffer),
	    C(rx_buffer_outside_ram),
	    C(rx_avail_idx_far_ahead),
	    C(rx_frames),
	    C(kick_storm),
	    C(reset_mid_traffic),
#undef C
	};
	double t = now();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(cases[i].name, cases[i].fn);
	say("misbehave: cases: %d run, %d failed, %d DEVICE_NEEDS_RESET, %d transmit chains "
	    "dropped, in %.1f s",
	    n_cases, n_failed, n_needs_reset, n_tx_dropped, now() - t);
	give_back_nic();
}

/* Sends UDP datagrams to the host's discard port for ms: keeps the
 * transmit ring busy when the reset comes. */
static void tx_burst(unsigned ms)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (s < 0)
		return;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(9)};
	char host[32];
	snprintf(host, sizeof(host), "%s", guest_ip);
	char *dot = strrchr(host, '.');
	if (dot)
		snprintf(dot, sizeof(host) - (size_t)(dot - host), ".1");
	inet_pton(AF_INET, host, &dst.sin_addr);
	char payload[1000] = {0};
	for (double end = now() + ms / 1000.0; now() < end;)
		if (sendto(s, payload, sizeof(payload), 0, (struct sockaddr *)&dst, sizeof(dst)) <
		    0)
			sleep_ms(1);
	close(s);
}

/* A status write of 0 behind the bound driver's back (§2.4: the device
 * forgets everything), through a second mapping of BAR 0. */
static int surprise_reset(void)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/config", devdir);
	cfg_fd = open(path, O_RDWR);
	int r = cfg_fd < 0 || walk_caps() || map_bar() ? -1 : 0;
	if (!r)
		wr8(CC(device_status), 0);
	unmap_bar();
	if (cfg_fd >= 0)
		close(cfg_fd);
	cfg_fd = -1;
	return r;
}

static void job_resets(unsigned cycles)
{
	char ifname[IFNAMSIZ];
	if (ifup(ifname, sizeof(ifname)))
		return;
	say("misbehave: ready: %s up as %s/24, waiting for a go on udp port %d", ifname, guest_ip,
	    GO_PORT);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(GO_PORT)};
	struct timeval tv = {.tv_sec = 300};
	char buf[64];
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || recv(s, buf, sizeof(buf), 0) < 0) {
		say("misbehave: no go: %s", strerror(errno));
		close(s);
		return;
	}
	close(s);
	say("misbehave: go");
	for (unsigned i = 1; i <= cycles; i++) {
		bool surprise = i % 2 == 0;
		tx_burst(300);
		if (surprise) {
			if (surprise_reset()) {
				say("misbehave: reset cycle %u: could not reach BAR 0", i);
				return;
			}
			sleep_ms(500); /* the host floods a device that stopped */
		}
		if (unbind_driver()) {
			say("misbehave: reset cycle %u: unbind: %s", i, strerror(errno));
			return;
		}
		sleep_ms(200);
		if (bind_driver() || !driver_bound()) {
			say("misbehave: reset cycle %u: bind: %s", i, strerror(errno));
			return;
		}
		if (ifup(ifname, sizeof(ifname)))
			return;
		sleep_ms(1000);
		say("misbehave: reset cycle %u/%u (%s): %s back up", i, cycles,
		    surprise ? "status 0 under the driver, then unbind + bind" : "unbind + bind",
		    ifname);
	}
	say("misbehave: resets done");
}

int main(void)
{
	setup_console();
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	const char *job = getenv("misbehave");
	if (getenv("misbehave_ip"))
		guest_ip = getenv("misbehave_ip");
	if (!job) {
		say("misbehave: no misbehave= on the kernel command line; idle");
	} else if (find_nic()) {
		say("misbehave: no virtio-net PCI function (1af4:1041)");
	} else if (!strcmp(job, "cases")) {
		job_cases();
	} else if (!strncmp(job, "resets,", 7) && atoi(job + 7) > 0) {
		job_resets((unsigned)atoi(job + 7));
	} else {
		say("misbehave: unknown job '%s'", job);
	}
	say("misbehave: done");
	for (;;)
		pause();
}
