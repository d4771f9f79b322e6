/* minivmm-bench's report parser and printers (vmm/bench_report.c). */
#define _GNU_SOURCE
#include <stdio.h>

#include "tests/unit/check_main.h"
#include "vmm/bench_report.h"

static const char report[] = "exitbench: start\n"
			     "r pio_out floor n=64 min=10 p50=20 p90=30 p99=40 max=50 sum=800\n"
			     "r pio_out minivmm n=64 min=11 p50=21 p90=31 p99=41 max=51 sum=840\n"
			     "s doorbell qemu\n"
			     "r nosuchkind floor n=1 min=1 p50=1 p90=1 p99=1 max=1 sum=1\n"
			     "r mmio_read floor n=1 min=1\n"
			     "exitbench: done\n";

START_TEST(test_parse)
{
	struct bench_results r = {0};
	ck_assert_int_eq(bench_parse_report(&r, report, sizeof(report) - 1), 2);
	ck_assert(r.done);
	ck_assert_str_eq(r.error, "");
	const struct bench_figures *f = &r.fig[BENCH_PIO_OUT][BENCH_MODE_FLOOR];
	ck_assert(f->present);
	ck_assert_uint_eq(f->n, 0x64);
	ck_assert_uint_eq(f->p50, 0x20);
	ck_assert_uint_eq(f->sum, 0x800);
	ck_assert(r.fig[BENCH_PIO_OUT][BENCH_MODE_MINIVMM].present);
	ck_assert(!r.fig[BENCH_MMIO_READ][BENCH_MODE_FLOOR].present); /* truncated line */
	ck_assert(r.skipped[BENCH_DOORBELL][BENCH_MODE_QEMU]);
}
END_TEST

START_TEST(test_error_and_no_done)
{
	struct bench_results r = {0};
	const char text[] = "exitbench: error: the control port answered no mode\n";
	ck_assert_int_eq(bench_parse_report(&r, text, sizeof(text) - 1), 0);
	ck_assert(!r.done);
	ck_assert_str_eq(r.error, "the control port answered no mode");
}
END_TEST

static char *print(bool json, const struct bench_results *r)
{
	struct bench_context c = {.cpu = "Test \"CPU\"",
				  .kvm = "hardware KVM",
				  .ns_per_tick = 0.5,
				  .exits = 32,
				  .rounds = 2};
	char *buf;
	size_t len;
	FILE *f = open_memstream(&buf, &len);
	if (json)
		bench_print_json(f, r, &c);
	else
		bench_print_table(f, r, &c);
	fclose(f);
	return buf;
}

START_TEST(test_printers)
{
	struct bench_results r = {0};
	bench_parse_report(&r, report, sizeof(report) - 1);
	char *t = print(false, &r);
	/* ns = ticks / 2; the ratio is minivmm's median over the floor's. */
	ck_assert_ptr_nonnull(
	    strstr(t, "pio_out           16        32        16        32   1.031x"));
	ck_assert_ptr_null(strstr(t, "mmio_read"));
	ck_assert_ptr_null(strstr(t, "doorbell")); /* skipped by QEMU, and no QEMU column */
	free(t);
	char *j = print(true, &r);
	ck_assert_ptr_nonnull(strstr(j, "\"cpu\": \"Test \\\"CPU\\\"\""));
	ck_assert_ptr_nonnull(
	    strstr(j, "\"kind\": \"pio_out\", \"floor\": {\"n\": 100, \"min_ns\": 8.0, "
		      "\"p50_ns\": 16.0"));
	ck_assert_ptr_nonnull(strstr(j, "\"qemu\": null, \"minivmm_over_floor_p50\": 1.0312, "
					"\"qemu_over_minivmm_p50\": null}"));
	free(j);
}
END_TEST

CHECK_MAIN("bench_report", test_parse, test_error_and_no_done, test_printers)
