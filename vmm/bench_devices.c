#include "vmm/bench_devices.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static bool leaves_the_kernel(uint32_t kind)
{
	return kind <= BENCH_MMIO_READ;
}

static void ctrl_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct bench_devices *b = opaque;
	(void)offset;
	if (is_write) {
		uint32_t k = 0;
		memcpy(&k, data, len < 4 ? len : 4);
		b->kind = k < BENCH_KINDS ? k : BENCH_KINDS;
		return;
	}
	memset(data, 0xff, len);
	if (b->kind >= BENCH_KINDS)
		return; /* the payload then stops with an error */
	/* Floor first, then minivmm, and so on: drift over the run lands on
	 * both modes alike. */
	enum bench_mode m =
	    b->rounds_started[b->kind]++ % 2 ? BENCH_MODE_MINIVMM : BENCH_MODE_FLOOR;
	data[0] = (uint8_t)m;
	if (m == BENCH_MODE_FLOOR && leaves_the_kernel(b->kind))
		b->floor_exits = b->exits;
}

static void null_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, len);
}

static void report_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct bench_devices *b = opaque;
	(void)offset;
	if (is_write && len == 1 && b->report_len < sizeof(b->report) - 1)
		b->report[b->report_len++] = (char)data[0];
}

int bench_devices_add(struct bench_devices *d, struct vm *vm, unsigned exits, struct errbuf *e)
{
	d->exits = exits;
	d->kind = BENCH_KINDS; /* none announced yet */
	return bus_register(&vm->pio, BENCH_CTRL_PORT, 4, "bench control", ctrl_io, d, e) ||
		       bus_register(&vm->pio, BENCH_REPORT_PORT, 1, "bench report", report_io, d,
				    e) ||
		       bus_register(&vm->mmio, BENCH_MMIO_ADDR, BENCH_MMIO_LEN, "bench null",
				    null_io, d, e)
		   ? -1
		   : 0;
}

/* What the NIC's worker does with a kick (virtio/virtio_net.c): sleep in
 * epoll_wait on the eventfd, wake, drain it. */
static void *doorbell_waiter(void *arg)
{
	struct bench_devices *b = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = b->bell_fd[1]};
	epoll_ctl(ep, EPOLL_CTL_ADD, b->bell_fd[1], &ev);
	ev.data.fd = b->waiter_stop_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, b->waiter_stop_fd, &ev);
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);
		for (int i = 0; i < n; i++) {
			eventfd_t v;
			if (got[i].data.fd == b->waiter_stop_fd) {
				close(ep);
				return NULL;
			}
			eventfd_read(b->bell_fd[1], &v);
		}
	}
}

/* Safe on what a failed add_doorbells() left. */
static void remove_doorbells(void *ctx)
{
	struct bench_devices *b = ctx;
	if (b->waiter_started) {
		eventfd_write(b->waiter_stop_fd, 1);
		pthread_join(b->waiter, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (b->bell_fd[i] >= 0)
			close(b->bell_fd[i]);
	if (b->waiter_stop_fd >= 0)
		close(b->waiter_stop_fd);
}

/* The same registration as virtio-pci's doorbells (virtio/virtio_pci_doorbell.c). */
static int add_doorbells(struct bench_devices *b, int vm_fd, struct errbuf *e)
{
	uint32_t len = virtio_pci_doorbell_len(vm_fd);
	const uint64_t addr[2] = {BENCH_DOORBELL_FLOOR, BENCH_DOORBELL_MINIVMM};
	for (int i = 0; i < 2; i++) {
		b->bell_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_ioeventfd io = {.addr = addr[i], .len = len, .fd = b->bell_fd[i]};
		if (b->bell_fd[i] < 0 || ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
			return errorf_errno(e, "doorbell: KVM_IOEVENTFD");
	}
	b->waiter_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (b->waiter_stop_fd < 0)
		return errorf_errno(e, "eventfd");
	int r = pthread_create(&b->waiter, NULL, doorbell_waiter, b);
	if (r)
		return errorf(e, "cannot start the doorbell thread: %s", strerror(r));
	b->waiter_started = true;
	return 0;
}

int bench_doorbells_add(struct bench_devices *d, struct vm *vm, struct errbuf *e)
{
	d->bell_fd[0] = d->bell_fd[1] = d->waiter_stop_fd = -1;
	if (add_doorbells(d, vm->kvm.vm_fd, e)) {
		remove_doorbells(d);
		return -1;
	}
	const struct devtable_entry entry = {
	    .name = "bench doorbells", .ctx = d, .destroy = remove_doorbells};
	return devtable_push(&vm->devices, &entry, e);
}
