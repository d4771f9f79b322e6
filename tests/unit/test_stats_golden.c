/* The --stats report, byte for byte: the text users and the integration
 * scripts grep, and the JSON scripts parse, from a fabricated VM (buses,
 * two vCPUs' counters, a NIC, fix-ups; no KVM). The expected strings were
 * produced by the two hand-written printers the sink replaced, so a change
 * to either output shows here. The one figure measured at print time (what
 * an exit's bookkeeping costs) is masked. */
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "vmm/stats.h"
#include "vmm/vm.h"

static void noop(void *o, uint64_t off, uint8_t *d, uint32_t l, bool w)
{
	(void)o, (void)off, (void)d, (void)l, (void)w;
}

static struct vm *new_vm(int ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	ck_assert_ptr_nonnull(vm);
	struct errbuf e;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	ck_assert_int_eq(bus_register(&vm->pio, 0x3f8, 8, "uart8250 (COM1)", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&vm->pio, 0xcf8, 8, "pci config (0xcf8)", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&vm->pio, 0x70, 2, "cmos \"rtc\"\t", noop, NULL, &e), 0);
	ck_assert_int_eq(
	    bus_register(&vm->mmio, 0xe0000000, 0x1000, "virtio-net tap0 common", noop, NULL, &e),
	    0);
	ck_assert_int_eq(bus_register(&vm->mmio, 0xe0004000, 0x1000, "virtio-net tap0 msix table",
				      noop, NULL, &e),
			 0);
	ck_assert_int_eq(bus_freeze(&vm->pio, (size_t)ncpus, &e), 0);
	ck_assert_int_eq(bus_freeze(&vm->mmio, (size_t)ncpus, &e), 0);
	stats_clock_init(&vm->stats_clock, false); /* 1 ns a tick: figures exact */
	vm->ncpus = ncpus;
	vm->vcpus = calloc((size_t)ncpus, sizeof(*vm->vcpus));
	ck_assert_ptr_nonnull(vm->vcpus);
	for (int i = 0; i < ncpus; i++)
		ck_assert_int_eq(
		    vcpu_stats_init(&vm->vcpus[i].stats, vm->pio.count, vm->mmio.count), 0);
	return vm;
}

static void free_vm(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_stats_free(&vm->vcpus[i].stats);
	free(vm->vcpus);
	bus_free(&vm->pio);
	bus_free(&vm->mmio);
	free(vm);
}

static void exit_on(struct vcpu_stats *s, uint32_t reason, struct lat_hist *range, uint64_t ns)
{
	s->exits[stats_exit_slot(reason)]++;
	lat_hist_record(stats_reason_lat(s, stats_exit_slot(reason)), ns);
	if (range)
		lat_hist_record(range, ns);
}

/* Something in every section: ranges hit, one never hit, one moved and one
 * no longer decoded; both unclaimed kinds; a reason past the table; INTR
 * exits counted before timing was on (a count without latencies); a PVM
 * host, so every fix-up kind has a line; a NIC whose transmit offloads were
 * withheld, with a reason that needs escaping. */
static struct vm *busy_vm(void)
{
	struct vm *vm = new_vm(2);
	vm->stats_clock.timed = true;
	vm->kvm.is_pvm = true;
	vm->console.dropped = 17;
	struct vcpu_stats *s0 = &vm->vcpus[0].stats, *s1 = &vm->vcpus[1].stats;
	for (int i = 1; i <= 100; i++) {
		struct vcpu_stats *s = i % 2 ? s0 : s1;
		s->pio_hits[0] += 2;
		exit_on(s, KVM_EXIT_IO, stats_pio_lat(s, 0), (uint64_t)i * 1000);
	}
	for (int i = 0; i < 3; i++) {
		s1->pio_hits[2]++;
		exit_on(s1, KVM_EXIT_IO, stats_pio_lat(s1, 2), 7);
	}
	for (int i = 0; i < 5; i++) {
		s0->mmio_hits[0]++;
		exit_on(s0, KVM_EXIT_MMIO, stats_mmio_lat(s0, 0), 1000 + (uint64_t)i * 333);
	}
	s1->mmio_hits[1] += 7; /* counted, never timed */
	for (int i = 0; i < 75; i++) {
		s0->pio_unclaimed += 2;
		exit_on(s0, KVM_EXIT_IO, stats_pio_lat(s0, -1), 2000);
	}
	for (int i = 0; i < 9; i++) {
		s1->mmio_unclaimed++;
		exit_on(s1, KVM_EXIT_MMIO, stats_mmio_lat(s1, -1), 5000 + (uint64_t)i * 77);
	}
	for (int i = 0; i < 4; i++)
		exit_on(s0, KVM_EXIT_HLT, NULL, 30);
	exit_on(s1, 1000, NULL, 123456789);
	s0->exits[KVM_EXIT_INTR] += 3;
	s0->fixups[FIXUP_INT3] = 2;
	s1->fixups[FIXUP_CLAC] = 1;
	struct bus_placement p[2] = {{0, 0xd0000000, true}, {1, 0xe0004000, false}};
	bus_move(&vm->mmio, p, 2);

	struct virtio_net *n = &vm->net;
	n->initialised = true;
	n->backend.name = "tap0";
	n->backend.no_tx_offload = true;
	n->backend.no_offload_why = "the \"far\" side";
	n->offloads_in_force = 1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4;
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
	return vm;
}

static char *capture(void (*print)(const struct vm *, FILE *), const struct vm *vm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	print(vm, f);
	fclose(f);
	return buf;
}

/* Every run of digits and dots right after an occurrence of after becomes
 * "#": the figures measured at print time. */
static void mask(char *text, const char *after)
{
	for (char *p = text; (p = strstr(p, after));) {
		p += strlen(after);
		char *end = p + strspn(p, "0123456789.");
		ck_assert_ptr_ne(end, p);
		*p++ = '#';
		memmove(p, end, strlen(end) + 1);
	}
}

static void check(const char *got, const char *want)
{
	ck_assert_msg(!strcmp(got, want), "got:\n%s\nwant:\n%s", got, want);
}

static const char busy_text[] =
    "minivmm stats: 200 exits on 2 vCPU(s)\n"
    "  latency: KVM_RUN returning to the next KVM_RUN, ns, quantiles within 3.2% "
    "(CLOCK_MONOTONIC)\n"
    "  exit reason                         count      p50      p90      p99       max\n"
    "  IO                                    178    11007    83967   100000    100000\n"
    "  HLT                                     4       30       30       30        30\n"
    "  MMIO                                   14     4991     5503     5503      5616\n"
    "  INTR                                    3        0        0        0         0\n"
    "  other                                   1 123456789 123456789 123456789 123456789\n"
    "  bus   device                             range                 accesses      exits      p50 "
    "     p90      p99       max\n"
    "  pio   uart8250 (COM1)                    0x000003f8+8               200        100    50175 "
    "   88063   100000    100000\n"
    "  pio   cmos \"rtc\"\t                        0x00000070+2                 3          3       "
    " 7        7        7         7\n"
    "  mmio  virtio-net tap0 common             0xd0000000+1000              5          5     1695 "
    "    2332     2332      2332\n"
    "  mmio  virtio-net tap0 msix table         -                            7          0        0 "
    "       0        0         0\n"
    "  pio   (unclaimed)                                                   150\n"
    "  pio   (unclaimed) latency                                             -         75     2000 "
    "    2000     2000      2000\n"
    "  mmio  (unclaimed)                                                     9\n"
    "  mmio  (unclaimed) latency                                             -          9     5247 "
    "    5503     5503      5616\n"
    "  ioeventfd-served doorbells              7\n"
    "  injected interrupts                    10\n"
    "  console bytes dropped                  17\n"
    "  virtio-net tap0: offloads guest->host none (withheld: the \"far\" side); host->guest csum "
    "tso4\n"
    "  virtio-net tap0: rx_packets=1 rx_bytes=2 tx_packets=4 tx_bytes=5 rx_dropped=3 tx_errors=6 "
    "interrupts=10 intx=11 kicks=7 rx_waits=8 tx_waits=9\n"
    "  completed for the guest: int3                  2\n"
    "  completed for the guest: fwait                 0\n"
    "  completed for the guest: fnclex                0\n"
    "  completed for the guest: clac                  1\n"
    "  completed for the guest: stac                  0\n"
    "  bookkeeping: # ns per exit (CLOCK_MONOTONIC, measured now, warm caches); 0.129 s handling "
    "exits, of which ~#% bookkeeping\n";

static const char busy_json[] =
    "{\n"
    "  \"vcpus\": 2,\n"
    "  \"exits\": 200,\n"
    "  \"clock\": \"CLOCK_MONOTONIC\",\n"
    "  \"quantile_max_error\": 0.03125,\n"
    "  \"reasons\": [\n"
    "    {\"name\": \"IO\", \"count\": 178, \"p50_ns\": 11007, \"p90_ns\": 83967, \"p99_ns\": "
    "100000, \"max_ns\": 100000},\n"
    "    {\"name\": \"HLT\", \"count\": 4, \"p50_ns\": 30, \"p90_ns\": 30, \"p99_ns\": 30, "
    "\"max_ns\": 30},\n"
    "    {\"name\": \"MMIO\", \"count\": 14, \"p50_ns\": 4991, \"p90_ns\": 5503, \"p99_ns\": 5503, "
    "\"max_ns\": 5616},\n"
    "    {\"name\": \"INTR\", \"count\": 0, \"p50_ns\": 0, \"p90_ns\": 0, \"p99_ns\": 0, "
    "\"max_ns\": 0},\n"
    "    {\"name\": \"other\", \"count\": 1, \"p50_ns\": 123456789, \"p90_ns\": 123456789, "
    "\"p99_ns\": 123456789, \"max_ns\": 123456789}\n"
    "  ],\n"
    "  \"ranges\": [\n"
    "    {\"bus\": \"pio\", \"name\": \"uart8250 (COM1)\", \"mapped\": true, \"base\": 1016, "
    "\"len\": 8, \"accesses\": 200, \"count\": 100, \"p50_ns\": 50175, \"p90_ns\": 88063, "
    "\"p99_ns\": 100000, \"max_ns\": 100000},\n"
    "    {\"bus\": \"pio\", \"name\": \"cmos \\\"rtc\\\"\\u0009\", \"mapped\": true, \"base\": "
    "112, \"len\": 2, \"accesses\": 3, \"count\": 3, \"p50_ns\": 7, \"p90_ns\": 7, \"p99_ns\": 7, "
    "\"max_ns\": 7},\n"
    "    {\"bus\": \"mmio\", \"name\": \"virtio-net tap0 common\", \"mapped\": true, \"base\": "
    "3489660928, \"len\": 4096, \"accesses\": 5, \"count\": 5, \"p50_ns\": 1695, \"p90_ns\": 2332, "
    "\"p99_ns\": 2332, \"max_ns\": 2332},\n"
    "    {\"bus\": \"mmio\", \"name\": \"virtio-net tap0 msix table\", \"mapped\": false, "
    "\"base\": 3758112768, \"len\": 4096, \"accesses\": 7, \"count\": 0, \"p50_ns\": 0, "
    "\"p90_ns\": 0, \"p99_ns\": 0, \"max_ns\": 0}\n"
    "  ],\n"
    "  \"unclaimed\": {\n"
    "    \"pio\": {\"accesses\": 150, \"count\": 75, \"p50_ns\": 2000, \"p90_ns\": 2000, "
    "\"p99_ns\": 2000, \"max_ns\": 2000},\n"
    "    \"mmio\": {\"accesses\": 9, \"count\": 9, \"p50_ns\": 5247, \"p90_ns\": 5503, \"p99_ns\": "
    "5503, \"max_ns\": 5616}\n"
    "  },\n"
    "  \"doorbells\": 7,\n"
    "  \"interrupts\": 10,\n"
    "  \"console_dropped\": 17,\n"
    "  \"nics\": [\n"
    "    {\"name\": \"tap0\", \"rx_packets\": 1, \"rx_bytes\": 2, \"tx_packets\": 4, \"tx_bytes\": "
    "5, \"rx_dropped\": 3, \"tx_errors\": 6, \"interrupts\": 10, \"intx\": 11, \"kicks\": 7, "
    "\"rx_waits\": 8, \"tx_waits\": 9, \"offloads\": {\"guest_to_host\": [], \"host_to_guest\": "
    "[\"csum\", \"tso4\"], \"withheld\": \"the \\\"far\\\" side\"}}\n"
    "  ],\n"
    "  \"fixups\": {\"int3\": 2, \"fwait\": 0, \"fnclex\": 0, \"clac\": 1, \"stac\": 0},\n"
    "  \"handling_s\": 0.128713,\n"
    "  \"bookkeeping_ns_per_exit\": #\n"
    "}\n";

static const char idle_text[] =
    "minivmm stats: 0 exits on 1 vCPU(s)\n"
    "  latency: KVM_RUN returning to the next KVM_RUN, ns, quantiles within 3.2% (not measured: no "
    "invariant TSC, and --stats was not given)\n"
    "  exit reason                         count      p50      p90      p99       max\n"
    "  bus   device                             range                 accesses      exits      p50 "
    "     p90      p99       max\n"
    "  pio   (unclaimed)                                                     0\n"
    "  mmio  (unclaimed)                                                     0\n"
    "  ioeventfd-served doorbells              0\n"
    "  injected interrupts                     0\n"
    "  console bytes dropped                   0\n"
    "  bookkeeping: # ns per exit (CLOCK_MONOTONIC, measured now, warm caches); 0.000 s handling "
    "exits, of which ~#% bookkeeping\n";

static const char idle_json[] =
    "{\n"
    "  \"vcpus\": 1,\n"
    "  \"exits\": 0,\n"
    "  \"clock\": \"not measured: no invariant TSC, and --stats was not given\",\n"
    "  \"quantile_max_error\": 0.03125,\n"
    "  \"reasons\": [\n"
    "  ],\n"
    "  \"ranges\": [\n"
    "  ],\n"
    "  \"unclaimed\": {\n"
    "    \"pio\": {\"accesses\": 0, \"count\": 0, \"p50_ns\": 0, \"p90_ns\": 0, \"p99_ns\": 0, "
    "\"max_ns\": 0},\n"
    "    \"mmio\": {\"accesses\": 0, \"count\": 0, \"p50_ns\": 0, \"p90_ns\": 0, \"p99_ns\": 0, "
    "\"max_ns\": 0}\n"
    "  },\n"
    "  \"doorbells\": 0,\n"
    "  \"interrupts\": 0,\n"
    "  \"console_dropped\": 0,\n"
    "  \"nics\": [],\n"
    "  \"fixups\": {\"int3\": 0, \"fwait\": 0, \"fnclex\": 0, \"clac\": 0, \"stac\": 0},\n"
    "  \"handling_s\": 0.000000,\n"
    "  \"bookkeeping_ns_per_exit\": #\n"
    "}\n";

START_TEST(test_busy)
{
	struct vm *vm = busy_vm();
	char *t = capture(stats_print, vm);
	mask(t, "bookkeeping: ");
	mask(t, "of which ~");
	fputs(t, stderr);
	check(t, busy_text);
	char *j = capture(stats_print_json, vm);
	mask(j, "\"bookkeeping_ns_per_exit\": ");
	fputs(j, stderr);
	check(j, busy_json);
	free(t);
	free(j);
	free_vm(vm);
}
END_TEST

/* A VM that never ran, without a NIC, timing off, not PVM. */
START_TEST(test_idle)
{
	struct vm *vm = new_vm(1);
	char *t = capture(stats_print, vm);
	mask(t, "bookkeeping: ");
	mask(t, "of which ~");
	fputs(t, stderr);
	check(t, idle_text);
	char *j = capture(stats_print_json, vm);
	mask(j, "\"bookkeeping_ns_per_exit\": ");
	fputs(j, stderr);
	check(j, idle_json);
	free(t);
	free(j);
	free_vm(vm);
}
END_TEST

CHECK_MAIN("stats_golden", test_busy, test_idle)
