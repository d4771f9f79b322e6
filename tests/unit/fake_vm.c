#include "fake_vm.h"

#include <check.h>
#include <stdlib.h>

static void noop(void *o, uint64_t off, uint8_t *d, uint32_t l, bool w)
{
	(void)o, (void)off, (void)d, (void)l, (void)w;
}

struct vm *fake_vm(int ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	ck_assert_ptr_nonnull(vm);
	struct errbuf e;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	ck_assert_int_eq(bus_register(&vm->pio, 0x3f8, 8, "uart8250 (COM1)", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&vm->pio, 0xcf8, 8, "pci config (0xcf8)", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&vm->pio, 0x70, 2, "cmos \"rtc\"\t", noop, NULL, &e), 0);
	/* Two regions of a NIC's BAR, each a range (and a stats slot) of its own. */
	ck_assert_int_eq(
	    bus_register(&vm->mmio, 0xe0000000, 0x1000, "virtio-net tap0 common", noop, NULL, &e),
	    0);
	ck_assert_int_eq(bus_register(&vm->mmio, 0xe0004000, 0x1000, "virtio-net tap0 msix table",
				      noop, NULL, &e),
			 0);
	ck_assert_int_eq(bus_freeze(&vm->pio, (size_t)ncpus, &e), 0);
	ck_assert_int_eq(bus_freeze(&vm->mmio, (size_t)ncpus, &e), 0);
	stats_clock_init(&vm->stats_clock, false);
	vm->ncpus = ncpus;
	vm->vcpus = calloc((size_t)ncpus, sizeof(*vm->vcpus));
	ck_assert_ptr_nonnull(vm->vcpus);
	for (int i = 0; i < ncpus; i++)
		ck_assert_int_eq(
		    vcpu_stats_init(&vm->vcpus[i].stats, vm->pio.count, vm->mmio.count), 0);
	return vm;
}

void fake_vm_free(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_stats_free(&vm->vcpus[i].stats);
	free(vm->vcpus);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	free(vm);
}

void fake_exit(struct vcpu_stats *s, uint32_t reason, struct lat_hist *range, uint64_t ns)
{
	s->exits[stats_exit_slot(reason)]++;
	lat_hist_record(stats_reason_lat(s, stats_exit_slot(reason)), ns);
	if (range)
		lat_hist_record(range, ns);
}

void fake_nic_counters(struct virtio_net *n, const char *name)
{
	n->backend.name = name;
	n->stats = (struct virtio_net_stats){.rx_packets = 1,
					     .rx_bytes = 2,
					     .rx_dropped = 3,
					     .tx_packets = 4,
					     .tx_bytes = 5,
					     .tx_errors = 6,
					     .kicks = 7,
					     .rx_waits = 8,
					     .tx_waits = 9};
	n->vp.interrupts = 10;
	n->vp.intx_interrupts = 11;
}

char *fake_vm_capture(void (*print)(const struct vm *, FILE *), const struct vm *vm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	print(vm, f);
	fclose(f);
	return buf;
}
