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
#include "fake_vm.h"
#include "vmm/stats.h"
#include "vmm/stats_report.h"
#include "vmm/vm.h"

/* Something in every section: ranges hit, one never hit, one moved and one
 * no longer decoded; both unclaimed kinds; a reason past the table; INTR
 * exits counted before timing was on (a count without latencies); a PVM
 * host, so every fix-up kind has a line; a NIC whose transmit offloads were
 * withheld, with a reason that needs escaping. */
static struct vm *busy_vm(void)
{
	struct vm *vm = fake_vm(2);
	vm->stats_clock.timed = true;
	vm->kvm.is_pvm = true;
	vm->console.dropped = 17;
	struct vcpu_stats *s0 = &vm->vcpus[0].stats, *s1 = &vm->vcpus[1].stats;
	for (int i = 1; i <= 100; i++) {
		struct vcpu_stats *s = i % 2 ? s0 : s1;
		s->pio_hits[0] += 2;
		fake_exit(s, KVM_EXIT_IO, stats_pio_lat(s, 0), (uint64_t)i * 1000);
	}
	for (int i = 0; i < 3; i++) {
		s1->pio_hits[2]++;
		fake_exit(s1, KVM_EXIT_IO, stats_pio_lat(s1, 2), 7);
	}
	for (int i = 0; i < 5; i++) {
		s0->mmio_hits[0]++;
		fake_exit(s0, KVM_EXIT_MMIO, stats_mmio_lat(s0, 0), 1000 + (uint64_t)i * 333);
	}
	s1->mmio_hits[1] += 7; /* counted, never timed */
	for (int i = 0; i < 75; i++) {
		s0->pio_unclaimed += 2;
		fake_exit(s0, KVM_EXIT_IO, stats_pio_lat(s0, -1), 2000);
	}
	for (int i = 0; i < 9; i++) {
		s1->mmio_unclaimed++;
		fake_exit(s1, KVM_EXIT_MMIO, stats_mmio_lat(s1, -1), 5000 + (uint64_t)i * 77);
	}
	for (int i = 0; i < 4; i++)
		fake_exit(s0, KVM_EXIT_HLT, NULL, 30);
	fake_exit(s1, 1000, NULL, 123456789);
	s0->exits[KVM_EXIT_INTR] += 3;
	s0->fixups[FIXUP_INT3] = 2;
	s1->fixups[FIXUP_CLAC] = 1;
	struct bus_placement p[2] = {{0, 0xd0000000, true}, {1, 0xe0004000, false}};
	bus_move(&vm->mmio, p, 2);

	struct virtio_net *n = &vm->net;
	n->initialised = true;
	fake_nic_counters(n, "tap0");
	struct errbuf e;
	const struct devtable_entry nic = {"virtio-net", n, NULL, virtio_net_report,
					   virtio_net_count};
	ck_assert_int_eq(devtable_push(&vm->devices, &nic, &e), 0);
	n->backend.no_tx_offload = true;
	n->backend.no_offload_why = "the \"far\" side";
	n->offloads_in_force = 1ULL << VIRTIO_NET_F_GUEST_CSUM | 1ULL << VIRTIO_NET_F_GUEST_TSO4;
	return vm;
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

/* On a difference, the whole output on stderr and the first line that
 * differs in the message (Check cannot carry a whole report). */
static void check(const char *got, const char *want)
{
	if (!strcmp(got, want))
		return;
	fprintf(stderr, "got:\n%s\nwant:\n%s\n", got, want);
	size_t at = 0, line = 0;
	for (size_t i = 0; got[i] == want[i]; i++)
		if (got[i] == '\n')
			at = i + 1;
	int got_len = (int)strcspn(got + at, "\n"), want_len = (int)strcspn(want + at, "\n");
	for (size_t i = 0; i < at; i++)
		line += got[i] == '\n';
	ck_abort_msg("line %zu differs:\n got: %.*s\nwant: %.*s", line + 1, got_len, got + at,
		     want_len, want + at);
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

/* vm's report in both formats against the expected strings. */
static void check_report(struct vm *vm, const char *text, const char *json)
{
	char *t = fake_vm_capture(stats_print, vm);
	mask(t, "bookkeeping: ");
	mask(t, "of which ~");
	check(t, text);
	char *j = fake_vm_capture(stats_print_json, vm);
	mask(j, "\"bookkeeping_ns_per_exit\": ");
	check(j, json);
	free(t);
	free(j);
	fake_vm_free(vm);
}

START_TEST(test_busy)
{
	check_report(busy_vm(), busy_text, busy_json);
}
END_TEST

/* A VM that never ran, without a NIC, timing off, not PVM. */
START_TEST(test_idle)
{
	check_report(fake_vm(1), idle_text, idle_json);
}
END_TEST

static char *render(const struct stats_snapshot *snap, enum stats_sink_format format)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	struct stats_sink s = stats_sink_make(f, format);
	stats_emit(snap, &s);
	fclose(f);
	return buf;
}

/* The report at exit ends with how the threads were filtered (text only),
 * after the bookkeeping line, here with the measured figure fixed. */
START_TEST(test_at_exit)
{
	struct vm *vm = busy_vm();
	struct stats_snapshot snap;
	ck_assert_int_eq(stats_snapshot_take(&snap, vm), 0);
	snap.bookkeeping_ns = 400;
	snap.at_exit = true;
	static const char cost[] =
	    "  bookkeeping: 400 ns per exit (CLOCK_MONOTONIC, measured now, "
	    "warm caches); 0.129 s handling exits, of which ~0.06% bookkeeping\n";
	const struct {
		bool off;
		int worker, main;
		const char *line;
	} cases[] = {
	    {true, 40, 30, "  seccomp: off (--no-seccomp)\n"},
	    {false, 40, 30,
	     "  seccomp: on (50 syscalls allowed for vCPU threads, 40 for the NIC worker, 30 for "
	     "the main thread)\n"},
	    {false, -1, -1,
	     "  seccomp: on (50 syscalls allowed for vCPU threads; the main thread is not "
	     "filtered in sanitizer builds)\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snap.seccomp.off = cases[i].off;
		snap.seccomp.vcpu = 50;
		snap.seccomp.worker = cases[i].worker;
		snap.seccomp.main = cases[i].main;
		char *t = render(&snap, STATS_SINK_TEXT);
		char *tail = strstr(t, "  bookkeeping: ");
		ck_assert_ptr_nonnull(tail);
		char want[512];
		snprintf(want, sizeof(want), "%s%s", cost, cases[i].line);
		check(tail, want);
		free(t);
	}
	char *j = render(&snap, STATS_SINK_JSON);
	char *tail = strstr(j, "  \"handling_s\"");
	ck_assert_ptr_nonnull(tail);
	check(tail, "  \"handling_s\": 0.128713,\n  \"bookkeeping_ns_per_exit\": 400.0\n}\n");
	free(j);
	/* Why it stopped, in JSON only (the text follows stderr's line), with
	 * the reason escaped as any string. */
	snap.stop_reason = "guest \"triple\"-faulted on vCPU 1";
	snap.stop_status = 1;
	j = render(&snap, STATS_SINK_JSON);
	tail = strstr(j, "  \"bookkeeping_ns_per_exit\"");
	ck_assert_ptr_nonnull(tail);
	check(tail, "  \"bookkeeping_ns_per_exit\": 400.0,\n  \"stopped\": {\"reason\": \"guest "
		    "\\\"triple\\\"-faulted on vCPU 1\", \"status\": 1}\n}\n");
	free(j);
	char *t = render(&snap, STATS_SINK_TEXT);
	ck_assert_ptr_null(strstr(t, "triple"));
	free(t);
	stats_snapshot_free(&snap);
	fake_vm_free(vm);
}
END_TEST

CHECK_MAIN("stats_golden", test_busy, test_idle, test_at_exit)
