#include <stdlib.h>

#include "check_main.h"
#include "vmm/bus.h"

static void noop(void *o, uint64_t off, uint8_t *d, uint32_t l, bool w)
{
	(void)o, (void)off, (void)d, (void)l, (void)w;
}

START_TEST(test_register_and_find)
{
	struct bus b;
	struct errbuf e;
	bus_init(&b, "pio");
	ck_assert_int_eq(bus_register(&b, 0x3f8, 8, "uart", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&b, 0x60, 1, "kbd data", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&b, 0x64, 1, "kbd cmd", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&b, 0x70, 2, "rtc", noop, NULL, &e), 0);
	bus_freeze(&b);
	/* Sorted regardless of registration order. */
	ck_assert_uint_eq(b.ranges[0].base, 0x60);
	ck_assert_uint_eq(b.ranges[3].base, 0x3f8);

	ck_assert_int_eq(bus_find(&b, 0x3f8, 1), 3);
	ck_assert_int_eq(bus_find(&b, 0x3ff, 1), 3);
	ck_assert_int_eq(bus_find(&b, 0x3fc, 4), 3);
	ck_assert_int_eq(bus_find(&b, 0x400, 1), -1);
	ck_assert_int_eq(bus_find(&b, 0x3f7, 1), -1);
	ck_assert_int_eq(bus_find(&b, 0x60, 1), 0);
	ck_assert_int_eq(bus_find(&b, 0x61, 1), -1);
	ck_assert_int_eq(bus_find(&b, 0x64, 1), 1);
	ck_assert_int_eq(bus_find(&b, 0x71, 1), 2);
	ck_assert_int_eq(bus_find(&b, 0, 1), -1);
	ck_assert_int_eq(bus_find(&b, UINT64_MAX, 1), -1);
	bus_free(&b);
}
END_TEST

START_TEST(test_straddling_access_is_unclaimed)
{
	struct bus b;
	bus_init(&b, "pio");
	ck_assert_int_eq(bus_register(&b, 0x70, 2, "rtc", noop, NULL, NULL), 0);
	ck_assert_int_eq(bus_register(&b, 0x72, 2, "other", noop, NULL, NULL), 0);
	ck_assert_int_eq(bus_find(&b, 0x71, 2), -1); /* half in each device */
	ck_assert_int_eq(bus_find(&b, 0x70, 4), -1);
	ck_assert_int_eq(bus_find(&b, 0x70, 2), 0);
	bus_free(&b);
}
END_TEST

START_TEST(test_overlaps_refused)
{
	struct bus b;
	struct errbuf e;
	bus_init(&b, "mmio");
	ck_assert_int_eq(bus_register(&b, 0x1000, 0x100, "a", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&b, 0x10ff, 1, "b", noop, NULL, &e), -1);
	ck_assert_str_eq(e.msg, "mmio bus: b at 0x10ff+0x1 overlaps a at 0x1000+0x100");
	ck_assert_int_eq(bus_register(&b, 0xf00, 0x101, "c", noop, NULL, &e), -1);
	ck_assert_int_eq(bus_register(&b, 0x800, 0x1000, "d", noop, NULL, &e), -1);
	ck_assert_int_eq(bus_register(&b, 0x1000, 0x100, "e", noop, NULL, &e), -1);
	/* Adjacent on both sides is fine. */
	ck_assert_int_eq(bus_register(&b, 0xf00, 0x100, "f", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(&b, 0x1100, 0x100, "g", noop, NULL, &e), 0);
	ck_assert_uint_eq(b.count, 3);
	bus_free(&b);
}
END_TEST

START_TEST(test_bad_ranges_refused)
{
	struct bus b;
	struct errbuf e;
	bus_init(&b, "mmio");
	ck_assert_int_eq(bus_register(&b, 0x1000, 0, "empty", noop, NULL, &e), -1);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX - 1, 4, "wraps", noop, NULL, &e), -1);
	ck_assert_uint_eq(b.count, 0);
	bus_free(&b);
}
END_TEST

START_TEST(test_many_ranges_binary_search)
{
	struct bus b;
	bus_init(&b, "mmio");
	/* Registered in a scrambled order; every one must be found. */
	for (uint64_t i = 0; i < 200; i++) {
		uint64_t k = (i * 37) % 200;
		ck_assert_int_eq(
		    bus_register(&b, 0x10000 + k * 0x100, 0x80, "dev", noop, NULL, NULL), 0);
	}
	for (uint64_t k = 0; k < 200; k++) {
		ck_assert_int_eq(bus_find(&b, 0x10000 + k * 0x100 + 0x7f, 1), (long)k);
		ck_assert_int_eq(bus_find(&b, 0x10000 + k * 0x100 + 0x80, 1), -1);
	}
	bus_free(&b);
}
END_TEST

CHECK_MAIN("bus", test_register_and_find, test_straddling_access_is_unclaimed,
	   test_overlaps_refused, test_bad_ranges_refused, test_many_ranges_binary_search)
