/* Exit statistics: histogram buckets and quantiles, merging across vCPUs, and
 * the text and JSON reports. No test here asserts a timing. */
#include <ctype.h>
#include <linux/kvm.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fake_vm.h"
#include "vmm/stats.h"
#include "vmm/stats_report.h"
#include "vmm/vm.h"

#define MAX_REL_ERR (1.0 / (2 * LAT_SUB))

/* ---- histogram arithmetic ---- */

static void check_bucket_holds(uint64_t v)
{
	unsigned b = lat_bucket(v);
	ck_assert_uint_lt(b, LAT_BUCKETS);
	if (b == LAT_BUCKETS - 1 && v >= lat_bucket_low(b))
		return; /* the open-ended last bucket */
	ck_assert_msg(lat_bucket_low(b) <= v && v - lat_bucket_low(b) < lat_bucket_width(b),
		      "%llu in bucket %u = [%llu, +%llu)", (unsigned long long)v, b,
		      (unsigned long long)lat_bucket_low(b),
		      (unsigned long long)lat_bucket_width(b));
}

START_TEST(test_bucket_mapping)
{
	/* Exact below 2 * LAT_SUB. */
	for (uint64_t v = 0; v < 2 * LAT_SUB; v++) {
		ck_assert_uint_eq(lat_bucket(v), v);
		ck_assert_uint_eq(lat_bucket_width((unsigned)v), 1);
	}
	/* Buckets tile the range: each starts where the previous ends, and is
	 * at most 1/LAT_SUB of its start wide. */
	for (unsigned b = 1; b < LAT_BUCKETS; b++) {
		ck_assert_uint_eq(lat_bucket_low(b),
				  lat_bucket_low(b - 1) + lat_bucket_width(b - 1));
		ck_assert_uint_eq(lat_bucket(lat_bucket_low(b)), b);
		ck_assert_uint_eq(lat_bucket(lat_bucket_low(b) - 1), b - 1);
		if (b >= 2 * LAT_SUB)
			ck_assert_uint_le(lat_bucket_width(b) * LAT_SUB, lat_bucket_low(b));
	}
	/* Powers of two and their neighbours, and a pseudo-random spread. */
	for (unsigned e = 0; e < 64; e++) {
		check_bucket_holds(1ULL << e);
		check_bucket_holds((1ULL << e) - 1);
		check_bucket_holds((1ULL << e) + 1);
	}
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		check_bucket_holds(x >> (x % 64));
	}
	/* The largest values share the last bucket. */
	ck_assert_uint_eq(lat_bucket(UINT64_MAX), LAT_BUCKETS - 1);
	ck_assert_uint_eq(lat_bucket(1ULL << LAT_MAX_BITS), LAT_BUCKETS - 1);
	ck_assert_uint_eq(lat_bucket((1ULL << LAT_MAX_BITS) - 1), LAT_BUCKETS - 1);
}
END_TEST

static struct lat_hist *new_hist(void)
{
	struct lat_hist *h = calloc(1, sizeof(*h));
	ck_assert_ptr_nonnull(h);
	return h;
}

START_TEST(test_quantiles_small_values_exact)
{
	struct lat_hist *h = new_hist();
	ck_assert_uint_eq(lat_hist_quantile(h, 500), 0); /* empty */
	for (uint64_t v = 1; v <= 20; v++)
		lat_hist_record(h, v);
	ck_assert_uint_eq(h->count, 20);
	ck_assert_uint_eq(h->sum, 210);
	ck_assert_uint_eq(h->max, 20);
	/* Nearest rank: ceil(q * 20). */
	ck_assert_uint_eq(lat_hist_quantile(h, 500), 10);
	ck_assert_uint_eq(lat_hist_quantile(h, 900), 18);
	ck_assert_uint_eq(lat_hist_quantile(h, 990), 20);
	ck_assert_uint_eq(lat_hist_quantile(h, 0), 1);
	ck_assert_uint_eq(lat_hist_quantile(h, 1000), 20);

	/* One sample: every quantile is it, even in a wide bucket. */
	memset(h, 0, sizeof(*h));
	lat_hist_record(h, 123456789);
	ck_assert_uint_eq(lat_hist_quantile(h, 500), 123456789);
	ck_assert_uint_eq(lat_hist_quantile(h, 990), 123456789);
	/* Past the last bucket's start, the maximum is the answer. */
	lat_hist_record(h, 1ULL << 50);
	ck_assert_uint_eq(lat_hist_quantile(h, 990), 1ULL << 50);
	free(h);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The histogram's quantiles against the exact nearest-rank ones of the
 * sorted samples: within the stated bound. */
static void check_against_exact(uint64_t *v, size_t n)
{
	struct lat_hist *h = new_hist();
	for (size_t i = 0; i < n; i++)
		lat_hist_record(h, v[i]);
	qsort(v, n, sizeof(v[0]), cmp_u64);
	static const unsigned q[] = {10, 250, 500, 900, 990, 999, 1000};
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		size_t rank = (n * q[i] + 999) / 1000;
		uint64_t exact = v[rank ? rank - 1 : 0], got = lat_hist_quantile(h, q[i]);
		double err = exact ? ((double)got - (double)exact) / (double)exact : (double)got;
		ck_assert_msg(err <= MAX_REL_ERR && err >= -MAX_REL_ERR,
			      "q=%u/1000: got %llu, exact %llu (error %.4f)", q[i],
			      (unsigned long long)got, (unsigned long long)exact, err);
	}
	ck_assert_uint_eq(h->max, v[n - 1]);
	free(h);
}

START_TEST(test_quantiles_known_distributions)
{
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof(*v));
	ck_assert_ptr_nonnull(v);

	/* Uniform over [1000, 1001000). */
	for (size_t i = 0; i < N; i++)
		v[i] = 1000 + i * 5;
	check_against_exact(v, N);

	/* Heavy tailed, like exit latencies: mostly ~1 us, some ~100 us, a few
	 * ms, each spread by a pseudo-random factor. */
	uint64_t x = 2463534242ULL;
	for (size_t i = 0; i < N; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint64_t base = i % 100 == 0 ? 3000000 : i % 10 == 0 ? 100000 : 1000;
		v[i] = base + x % (base * 4);
	}
	check_against_exact(v, N);

	/* Every value a power of two: bucket edges. */
	for (size_t i = 0; i < N; i++)
		v[i] = 1ULL << (i % 36);
	check_against_exact(v, N);
	free(v);
}
END_TEST

START_TEST(test_merge_equals_one_histogram)
{
	struct lat_hist *a = new_hist(), *b = new_hist(), *all = new_hist(), *m = new_hist();
	for (uint64_t i = 0; i < 50000; i++) {
		uint64_t v = (i * 2654435761u) % 1000000;
		lat_hist_record(i % 3 ? a : b, v);
		lat_hist_record(all, v);
	}
	lat_hist_merge(m, a);
	lat_hist_merge(m, b);
	ck_assert_mem_eq(m, all, sizeof(*m));
	for (unsigned q = 0; q <= 1000; q += 10)
		ck_assert_uint_eq(lat_hist_quantile(m, q), lat_hist_quantile(all, q));
	free(a), free(b), free(all), free(m);
}
END_TEST

/* The exit path: the reason's histogram always, the range's when the
 * handler named one, and only for that exit. */
START_TEST(test_exit_done_attribution)
{
	struct stats_clock c;
	stats_clock_init(&c, false);
	ck_assert(!c.tsc);
	struct vcpu_stats s = {0};
	ck_assert_int_eq(vcpu_stats_init(&s, 3, 1), 0);

	s.range_lat = stats_pio_lat(&s, 2);
	stats_exit_done(&s, &c, KVM_EXIT_IO, stats_now(&c));
	ck_assert_ptr_null(s.range_lat);
	stats_exit_done(&s, &c, KVM_EXIT_IO, stats_now(&c));
	s.range_lat = stats_mmio_lat(&s, -1);
	stats_exit_done(&s, &c, KVM_EXIT_MMIO, stats_now(&c));
	stats_exit_done(&s, &c, 1000, stats_now(&c)); /* beyond the table: "other" */
	/* A clock that stepped back counts as 0, not as 2^64 - 1. */
	stats_exit_done(&s, &c, KVM_EXIT_INTR, UINT64_MAX);

	ck_assert_uint_eq(stats_reason_lat(&s, KVM_EXIT_IO)->count, 2);
	ck_assert_uint_eq(stats_reason_lat(&s, KVM_EXIT_MMIO)->count, 1);
	ck_assert_uint_eq(stats_reason_lat(&s, STATS_EXIT_SLOTS - 1)->count, 1);
	ck_assert_uint_eq(stats_reason_lat(&s, KVM_EXIT_INTR)->max, 0);
	ck_assert_uint_eq(stats_pio_lat(&s, 2)->count, 1);
	ck_assert_uint_eq(stats_pio_lat(&s, 0)->count, 0);
	ck_assert_uint_eq(stats_pio_lat(&s, -1)->count, 0);
	ck_assert_uint_eq(stats_mmio_lat(&s, -1)->count, 1);
	ck_assert_uint_eq(stats_mmio_lat(&s, 0)->count, 0);
	/* The unclaimed slots sit past the ranges, and MMIO's past PIO's. */
	ck_assert_ptr_eq(stats_pio_lat(&s, -1), stats_pio_lat(&s, 2) + 1);
	ck_assert_ptr_eq(stats_mmio_lat(&s, 0), stats_pio_lat(&s, -1) + 1);
	vcpu_stats_free(&s);
}
END_TEST

/* Printed, never asserted: what one exit's bookkeeping costs here. */
START_TEST(test_bookkeeping_cost)
{
	struct stats_clock mono, tsc;
	stats_clock_init(&mono, false);
	stats_clock_init(&tsc, true);
	enum { N = 20000 }; /* 40 ms even at 2 us a round (a syscall clock) */
	double m = stats_bookkeeping_ns(&mono, N);
	fprintf(stderr, "stats bookkeeping per exit: %.1f ns with CLOCK_MONOTONIC", m);
	if (tsc.tsc)
		fprintf(stderr, ", %.1f ns with rdtsc (%.3f ns a tick)",
			stats_bookkeeping_ns(&tsc, N), stats_clock_ns_per_tick(&tsc));
	else
		fprintf(stderr, " (no invariant TSC here)");
	fprintf(stderr, " (%d rounds, warm caches)\n", N);
}
END_TEST

/* ---- the reports, from a VM with buses and vCPUs but no KVM ---- */

/* Two vCPUs: COM1 (slot 0, registered first) gets 100 exits at 1..100 us split
 * between them, the CMOS 3 at 7 ns, 150 unclaimed port accesses over 75
 * exits at 2 us, 100 unclaimed MMIO exits at 5 us, and 4 HLTs. */
static struct vm *busy_vm(void)
{
	struct vm *vm = fake_vm(2);
	ck_assert_str_eq(vm->pio.ranges[0].name, "uart8250 (COM1)");
	ck_assert_str_eq(vm->pio.ranges[2].name, "cmos \"rtc\"\t");
	for (int i = 1; i <= 100; i++) {
		struct vcpu_stats *s = &vm->vcpus[i % 2].stats;
		s->pio_hits[0]++;
		fake_exit(s, KVM_EXIT_IO, stats_pio_lat(s, 0), (uint64_t)i * 1000);
	}
	struct vcpu_stats *s0 = &vm->vcpus[0].stats, *s1 = &vm->vcpus[1].stats;
	for (int i = 0; i < 3; i++) {
		s1->pio_hits[2]++;
		fake_exit(s1, KVM_EXIT_IO, stats_pio_lat(s1, 2), 7);
	}
	for (int i = 0; i < 75; i++) {
		s0->pio_unclaimed += 2; /* rep insw, count 2 */
		fake_exit(s0, KVM_EXIT_IO, stats_pio_lat(s0, -1), 2000);
	}
	for (int i = 0; i < 100; i++) {
		s1->mmio_unclaimed++;
		fake_exit(s1, KVM_EXIT_MMIO, stats_mmio_lat(s1, -1), 5000);
	}
	for (int i = 0; i < 4; i++)
		fake_exit(s0, KVM_EXIT_HLT, NULL, 30);
	s0->fixups[FIXUP_INT3] = 2;
	return vm;
}

/* text has a line matching the extended regex re. */
static void has_line(const char *text, const char *re)
{
	regex_t r;
	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
	int found = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	ck_assert_msg(found, "no line matches /%s/ in:\n%s", re, text);
}

START_TEST(test_text_report)
{
	struct vm *vm = busy_vm();
	char *t = fake_vm_capture(stats_print, vm);
	fputs(t, stderr); /* for a reader of the test log */
	has_line(t, "^minivmm stats: 282 exits on 2 vCPU\\(s\\)$");
	/* count p50 p90 p99 max (ns). IO holds 3 x 7 ns, 75 x 2 us and COM1's
	 * 1..100 us: ranks 89, 161 and 177 are 11, 83 and 99 us, within 1/32. */
	has_line(t, "^  IO +178 +1[01][0-9]{3} +8[0-5][0-9]{3} +(9[6-9]|10[0-2])[0-9]{3} +100000$");
	/* 5000 ns is in the bucket [4864, 5120): its middle is 4991. 2000 ns is
	 * in [1984, 2048), whose middle 2015 is past the maximum: 2000. */
	has_line(t, "^  MMIO +100 +4991 +4991 +4991 +5000$");
	has_line(t, "^  HLT +4 +30 +30 +30 +30$");
	/* accesses exits p50 p90 p99 max: 50 us within 1/32, 90 us likewise. */
	has_line(t, "^  pio +uart8250 \\(COM1\\) +0x000003f8\\+8 +100 +100 +(4[89]|5[0-2])[0-9]{3} "
		    "+(8[7-9]|9[0-2])[0-9]{3} +(9[6-9]|10[0-2])[0-9]{3} +100000$");
	has_line(t, "^  pio +cmos \"rtc\"\t +0x00000070\\+2 +3 +3 +7 +7 +7 +7$");
	/* What the integration tests grep for: the count ends the line. */
	has_line(t, "pio +\\(unclaimed\\) +150$");
	has_line(t, "mmio +\\(unclaimed\\) +100$");
	has_line(t, "^  pio +\\(unclaimed\\) latency +- +75 +2000 +2000 +2000 +2000$");
	has_line(t, "^  ioeventfd-served doorbells +0$");
	has_line(t, "^  injected interrupts +0$");
	has_line(t, "^  completed for the guest: int3 +2$");
	has_line(t, "^  bookkeeping: [0-9]+ ns per exit");
	/* Ranges nobody touched are left out. */
	ck_assert_ptr_null(strstr(t, "pci config"));
	ck_assert_ptr_null(strstr(t, "virtio-net"));
	free(t);
	fake_vm_free(vm);
}
END_TEST

/* ---- a JSON checker (RFC 8259's grammar, no more) ---- */

static const char *json_value(const char *p);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_str(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL; /* also the end of the text */
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p[i]))
						return NULL;
				p += 4;
			} else if (!*p || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *json_num(const char *p)
{
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (isdigit((unsigned char)*p))
		while (isdigit((unsigned char)*p))
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return NULL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return p;
}

/* Members of an object (with keys) or elements of an array, up to close. */
static const char *json_list(const char *p, char close, bool keys)
{
	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (keys) {
			if (!(p = json_str(p)))
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if (!(p = json_value(p)))
			return NULL;
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = json_ws(p);
	}
}

static const char *json_value(const char *p)
{
	p = json_ws(p);
	if (*p == '{')
		p = json_list(p, '}', true);
	else if (*p == '[')
		p = json_list(p, ']', false);
	else if (*p == '"')
		p = json_str(p);
	else if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		p += 4;
	else if (!strncmp(p, "false", 5))
		p += 5;
	else
		p = json_num(p);
	return p ? json_ws(p) : NULL;
}

static bool json_valid(const char *text)
{
	const char *end = json_value(text);
	return end && *end == '\0';
}

START_TEST(test_json_checker)
{
	ck_assert(json_valid("{\"a\": [1, -2.5e3, \"x\\u00e9\\n\", true, null, {}], \"b\": []}\n"));
	ck_assert(!json_valid("{\"a\": 1,}"));
	ck_assert(!json_valid("{\"a\" 1}"));
	ck_assert(!json_valid("[1, 2"));
	ck_assert(!json_valid("\"tab\there\""));
	ck_assert(!json_valid("{} {}"));
	ck_assert(!json_valid("01"));
}
END_TEST

START_TEST(test_json_report)
{
	struct vm *vm = busy_vm();
	char *j = fake_vm_capture(stats_print_json, vm);
	fputs(j, stderr);
	ck_assert_msg(json_valid(j), "not JSON:\n%s", j);
	ck_assert_ptr_nonnull(strstr(j, "\"vcpus\": 2,"));
	ck_assert_ptr_nonnull(strstr(j, "\"exits\": 282,"));
	ck_assert_ptr_nonnull(strstr(j, "{\"name\": \"MMIO\", \"count\": 100, \"p50_ns\": 4991, "
					"\"p90_ns\": 4991, \"p99_ns\": 4991, \"max_ns\": 5000}"));
	ck_assert_ptr_nonnull(strstr(j, "{\"bus\": \"pio\", \"name\": \"uart8250 (COM1)\", "
					"\"mapped\": true, \"base\": 1016, \"len\": 8, "
					"\"accesses\": 100, "
					"\"count\": 100, \"p50_ns\": "));
	/* A name with a quote and a tab, escaped. */
	ck_assert_ptr_nonnull(strstr(j, "\"name\": \"cmos \\\"rtc\\\"\\u0009\""));
	ck_assert_ptr_nonnull(strstr(j, "\"pio\": {\"accesses\": 150, \"count\": 75, "));
	ck_assert_ptr_nonnull(strstr(j, "\"mmio\": {\"accesses\": 100, \"count\": 100, "));
	ck_assert_ptr_nonnull(strstr(j, "\"doorbells\": 0,"));
	ck_assert_ptr_nonnull(strstr(j, "\"interrupts\": 0,"));
	ck_assert_ptr_nonnull(strstr(j, "\"nics\": [],"));
	ck_assert_ptr_nonnull(strstr(j, "\"int3\": 2,"));
	free(j);

	/* A VM that never ran is still a valid report. */
	struct vm *idle = fake_vm(1);
	j = fake_vm_capture(stats_print_json, idle);
	ck_assert_msg(json_valid(j), "not JSON:\n%s", j);
	ck_assert_ptr_nonnull(strstr(j, "\"reasons\": [\n  ],"));
	free(j);
	fake_vm_free(idle);
	fake_vm_free(vm);
}
END_TEST

/* stats_report follows --stats: JSON for json, the table otherwise. */
START_TEST(test_report_follows_format)
{
	struct vm *vm = busy_vm();
	vm->cfg.stats = STATS_JSON;
	char *j = fake_vm_capture(stats_report, vm);
	ck_assert(json_valid(j));
	free(j);
	vm->cfg.stats = STATS_OFF; /* SIGUSR1 without --stats */
	char *t = fake_vm_capture(stats_report, vm);
	ck_assert_ptr_nonnull(strstr(t, "minivmm stats: 282 exits"));
	free(t);
	fake_vm_free(vm);
}
END_TEST

/* The NIC's BAR regions each have a line, named; a region the guest moved
 * or unmapped keeps its line and its counts, with its new place ("-" while
 * not decoded). */
START_TEST(test_regions_named_and_slots_stable)
{
	struct vm *vm = fake_vm(1);
	struct vcpu_stats *s = &vm->vcpus[0].stats;
	for (int i = 0; i < 5; i++) {
		s->mmio_hits[0]++;
		fake_exit(s, KVM_EXIT_MMIO, stats_mmio_lat(s, 0), 1000);
	}
	for (int i = 0; i < 7; i++) {
		s->mmio_hits[1]++;
		fake_exit(s, KVM_EXIT_MMIO, stats_mmio_lat(s, 1), 2000);
	}
	char *t = fake_vm_capture(stats_print, vm);
	has_line(t, "^  mmio +virtio-net tap0 common +0xe0000000\\+1000 +5 +5 ");
	has_line(t, "^  mmio +virtio-net tap0 msix table +0xe0004000\\+1000 +7 +7 ");
	free(t);

	/* The guest moves the BAR (common) and turns decoding off for the
	 * table: the counts stay on the same lines. */
	struct bus_placement p[2] = {{0, 0xd0000000, true}, {1, 0xe0004000, false}};
	bus_move(&vm->mmio, p, 2);
	s->mmio_hits[0]++;
	fake_exit(s, KVM_EXIT_MMIO, stats_mmio_lat(s, 0), 1000);
	t = fake_vm_capture(stats_print, vm);
	has_line(t, "^  mmio +virtio-net tap0 common +0xd0000000\\+1000 +6 +6 ");
	has_line(t, "^  mmio +virtio-net tap0 msix table +- +7 +7 ");
	free(t);
	char *j = fake_vm_capture(stats_print_json, vm);
	ck_assert_msg(json_valid(j), "not JSON:\n%s", j);
	ck_assert_ptr_nonnull(
	    strstr(j, "{\"bus\": \"mmio\", \"name\": \"virtio-net tap0 msix table\", "
		      "\"mapped\": false, "));
	ck_assert_ptr_nonnull(strstr(j, "{\"bus\": \"mmio\", \"name\": \"virtio-net tap0 common\", "
					"\"mapped\": true, \"base\": 3489660928, \"len\": 4096, "
					"\"accesses\": 6, "));
	free(j);
	fake_vm_free(vm);
}
END_TEST

CHECK_MAIN_TIMEOUT("stats", 60, test_bucket_mapping, test_quantiles_small_values_exact,
		   test_quantiles_known_distributions, test_merge_equals_one_histogram,
		   test_exit_done_attribution, test_bookkeeping_cost, test_text_report,
		   test_json_checker, test_json_report, test_report_follows_format,
		   test_regions_named_and_slots_stable)
