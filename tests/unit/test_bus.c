#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "vmm/base/bus.h"

static void noop(void *o, uint64_t off, uint8_t *d, uint32_t l, bool w)
{
	(void)o, (void)off, (void)d, (void)l, (void)w;
}

/* Where bus_find() lands in b's published table: the range's slot, or -1. */
static long find(const struct bus *b, uint64_t addr, uint32_t len)
{
	const struct bus_range *r = bus_find(b->table, addr, len);
	return r ? (long)r->slot : -1;
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
	ck_assert_int_eq(bus_freeze(&b, 1, &e), 0);
	/* Slots in registration order; the table sorted regardless. */
	ck_assert_uint_eq(b.ranges[0].base, 0x3f8);
	ck_assert_uint_eq(b.table->ranges[0].base, 0x60);
	ck_assert_uint_eq(b.table->ranges[3].base, 0x3f8);

	ck_assert_int_eq(find(&b, 0x3f8, 1), 0);
	ck_assert_int_eq(find(&b, 0x3ff, 1), 0);
	ck_assert_int_eq(find(&b, 0x3fc, 4), 0);
	ck_assert_int_eq(find(&b, 0x400, 1), -1);
	ck_assert_int_eq(find(&b, 0x3f7, 1), -1);
	ck_assert_int_eq(find(&b, 0x60, 1), 1);
	ck_assert_int_eq(find(&b, 0x61, 1), -1);
	ck_assert_int_eq(find(&b, 0x64, 1), 2);
	ck_assert_int_eq(find(&b, 0x71, 1), 3);
	ck_assert_int_eq(find(&b, 0, 1), -1);
	ck_assert_int_eq(find(&b, UINT64_MAX, 1), -1);
	bus_free(&b);
}
END_TEST

START_TEST(test_straddling_access_is_unclaimed)
{
	struct bus b;
	bus_init(&b, "pio");
	ck_assert_int_eq(bus_register(&b, 0x70, 2, "rtc", noop, NULL, NULL), 0);
	ck_assert_int_eq(bus_register(&b, 0x72, 2, "other", noop, NULL, NULL), 0);
	ck_assert_int_eq(bus_freeze(&b, 1, NULL), 0);
	ck_assert_int_eq(find(&b, 0x71, 2), -1); /* half in each device */
	ck_assert_int_eq(find(&b, 0x70, 4), -1);
	ck_assert_int_eq(find(&b, 0x70, 2), 0);
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
	ck_assert_int_eq(bus_freeze(&b, 1, NULL), 0);
	for (uint64_t k = 0; k < 200; k++) {
		ck_assert_int_eq(find(&b, 0x10000 + k * 0x100 + 0x7f, 1),
				 (long)((k * 173) % 200)); /* 37 * 173 = 1 (mod 200) */
		ck_assert_int_eq(find(&b, 0x10000 + k * 0x100 + 0x80, 1), -1);
	}
	bus_free(&b);
}
END_TEST

/* Two ranges: slot 0 "a" at 0x1000+0x100 and slot 1 "b" at 0x2000+0x100,
 * frozen for readers readers. */
static void two_ranges(struct bus *b, size_t readers)
{
	struct errbuf e;
	bus_init(b, "mmio");
	ck_assert_int_eq(bus_register(b, 0x1000, 0x100, "a", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_register(b, 0x2000, 0x100, "b", noop, NULL, &e), 0);
	ck_assert_int_eq(bus_freeze(b, readers, &e), 0);
}

static void move(struct bus *b, uint32_t slot, uint64_t base, bool mapped)
{
	struct bus_placement p = {slot, base, mapped};
	bus_move(b, &p, 1);
}

START_TEST(test_move_publishes_new_table_old_one_stays_valid)
{
	struct bus b;
	two_ranges(&b, 2);
	struct bus_reader *r0 = bus_reader(&b, 0), *r1 = bus_reader(&b, 1);
	ck_assert_ptr_null(bus_reader(&b, 2));
	const struct bus_table *old = bus_enter(r0);
	ck_assert_int_eq(bus_find(old, 0x1010, 4)->slot, 0);

	move(&b, 0, 0x3000, true);
	const struct bus_table *now = bus_enter(r1);
	ck_assert_ptr_ne(now, old);
	ck_assert_ptr_null(bus_find(now, 0x1010, 4)); /* the old place: unclaimed */
	ck_assert_int_eq(bus_find(now, 0x3010, 4)->slot, 0);
	ck_assert_uint_eq(bus_find(now, 0x3010, 4)->base, 0x3000);
	ck_assert_int_eq(bus_find(now, 0x2000, 1)->slot, 1);
	bus_leave(r1);
	/* r0 still searches the table it entered, untouched. */
	ck_assert_int_eq(bus_find(old, 0x1010, 4)->slot, 0);
	ck_assert_ptr_null(bus_find(old, 0x3010, 4));
	bus_leave(r0);
	ck_assert_uint_eq(b.publications, 1);
	bus_free(&b);
}
END_TEST

START_TEST(test_unmapped_range_keeps_its_slot)
{
	struct bus b;
	two_ranges(&b, 1);
	move(&b, 0, 0x1000, false);
	ck_assert_ptr_null(bus_find(b.table, 0x1000, 1));
	ck_assert_uint_eq(b.table->count, 1);
	ck_assert_uint_eq(b.count, 2);
	struct bus_range r = bus_range_at(&b, 0);
	ck_assert(!r.mapped);
	ck_assert_str_eq(r.name, "a");
	move(&b, 0, 0x5000, true);
	ck_assert_int_eq(bus_find(b.table, 0x5000, 1)->slot, 0);
	ck_assert_int_eq(bus_find(b.table, 0x2000, 1)->slot, 1);
	ck_assert_uint_eq(bus_range_at(&b, 0).base, 0x5000);
	bus_free(&b);
}
END_TEST

START_TEST(test_overlapping_or_wrapping_placement_stays_out)
{
	struct bus b;
	two_ranges(&b, 1);
	/* b onto a: the lower slot keeps the addresses, b is nowhere. */
	move(&b, 1, 0x1080, true);
	ck_assert_int_eq(bus_find(b.table, 0x1090, 1)->slot, 0);
	ck_assert_ptr_null(bus_find(b.table, 0x2000, 1));
	ck_assert_uint_eq(b.table->count, 1);
	/* a out of the way: b appears where it was put. */
	move(&b, 0, 0x8000, true);
	ck_assert_int_eq(bus_find(b.table, 0x1090, 1)->slot, 1);
	/* Past 2^64: not placed. */
	move(&b, 1, UINT64_MAX - 0x10, true);
	ck_assert_ptr_null(bus_find(b.table, UINT64_MAX - 1, 1));
	ck_assert_uint_eq(b.table->count, 1);
	bus_free(&b);
}
END_TEST

/* However often ranges move, the tables are the R + 2 made by bus_freeze:
 * a table a reader has entered is never rebuilt, any other is reused. */
START_TEST(test_retired_tables_reused_and_bounded)
{
	struct bus b;
	two_ranges(&b, 3);
	struct bus_reader *r0 = bus_reader(&b, 0), *r1 = bus_reader(&b, 1);
	const struct bus_table *pinned = bus_enter(r0);
	struct bus_range before[2];
	memcpy(before, pinned->ranges, sizeof(before));
	const struct bus_table *pinned1 = NULL;
	for (int i = 0; i < 10000; i++) {
		move(&b, 0, 0x10000 + (uint64_t)(i % 64) * 0x1000, true);
		ptrdiff_t k = b.table - b.pool;
		ck_assert(k >= 0 && (size_t)k < b.npool);
		ck_assert_ptr_ne(b.table, pinned);
		if (i == 5000)
			pinned1 = bus_enter(r1); /* a second reader comes and stays */
		ck_assert(pinned1 == NULL || i == 5000 || b.table != pinned1);
	}
	ck_assert_uint_eq(b.npool, 5);
	ck_assert_int_eq(memcmp(before, pinned->ranges, sizeof(before)), 0);
	ck_assert_uint_eq(pinned->count, 2);
	ck_assert_int_eq(bus_find(pinned1, 0x10000 + (5000 % 64) * 0x1000, 4)->slot, 0);
	bus_leave(r0);
	bus_leave(r1);
	/* Once left, a pinned table is reused too. */
	bool reused = false;
	for (int i = 0; i < 5; i++) {
		move(&b, 0, 0x1000 * (uint64_t)(i + 1), true);
		reused |= b.table == pinned;
	}
	ck_assert(reused);
	bus_free(&b);
}
END_TEST

/* Readers on two threads look ranges up while a writer moves "a" back and
 * forth: every lookup sees one whole table, with "a" at exactly one of its
 * places, and (under ThreadSanitizer, scripts/tsan.sh) no data race. */
struct race {
	struct bus b;
	int stop;
	long seen[2];
};

static void *reader_thread(void *arg)
{
	struct bus_reader *r = arg;
	struct race *x = (struct race *)((char *)r->bus - offsetof(struct race, b));
	long id = r - x->b.readers;
	while (!__atomic_load_n(&x->stop, __ATOMIC_ACQUIRE)) {
		const struct bus_table *t = bus_enter(r);
		const struct bus_range *lo = bus_find(t, 0x1010, 4), *hi = bus_find(t, 0x7010, 4);
		ck_assert((lo != NULL) != (hi != NULL));
		const struct bus_range *a = lo ? lo : hi;
		ck_assert_int_eq(a->slot, 0);
		ck_assert_str_eq(a->name, "a");
		ck_assert_int_eq(bus_find(t, 0x2000, 1)->slot, 1);
		bus_leave(r);
		__atomic_add_fetch(&x->seen[id], 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

START_TEST(test_concurrent_readers_and_writer)
{
	static struct race x;
	memset(&x, 0, sizeof(x));
	two_ranges(&x.b, 2);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(
		    pthread_create(&t[i], NULL, reader_thread, bus_reader(&x.b, (size_t)i)), 0);
	/* At least 20000 moves, and on until each reader has looked 2000
	 * times: the threads may start late. */
	for (long i = 0; i < 20000 || __atomic_load_n(&x.seen[0], __ATOMIC_RELAXED) < 2000 ||
			 __atomic_load_n(&x.seen[1], __ATOMIC_RELAXED) < 2000;
	     i++)
		move(&x.b, 0, i % 2 ? 0x1000 : 0x7000, true);
	__atomic_store_n(&x.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_ge(x.seen[0], 2000);
	ck_assert_int_ge(x.seen[1], 2000);
	bus_free(&x.b);
}
END_TEST

CHECK_MAIN("bus", test_register_and_find, test_straddling_access_is_unclaimed,
	   test_overlaps_refused, test_bad_ranges_refused, test_many_ranges_binary_search,
	   test_move_publishes_new_table_old_one_stays_valid, test_unmapped_range_keeps_its_slot,
	   test_overlapping_or_wrapping_placement_stays_out, test_retired_tables_reused_and_bounded,
	   test_concurrent_readers_and_writer)
