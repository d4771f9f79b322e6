#include <stdint.h>
#include <stdlib.h>

#include "boot/e820.h"
#include "boot/layout.h"
#include "check_main.h"
#include "vmm/base/guest_mem.h"

#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

/* What e820 leaves out below 1 MiB on purpose: the EBDA (reserved), the VGA
 * and option ROM hole (absent) and the BIOS area (reserved). */
#define LEGACY_NOT_RAM (BOOT_HIGH_MEM_START - BOOT_EBDA_ADDR)

/* Sorted, non-empty, non-overlapping, known types; RAM entries are backed by
 * guest memory and add up to all of it but the legacy area. */
static void check_invariants(const struct guest_mem *m, const struct e820_entry *map, size_t n)
{
	uint64_t ram = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_gt(map[i].size, 0);
		ck_assert_uint_gt(map[i].addr + map[i].size, map[i].addr);
		ck_assert(map[i].type == E820_TYPE_RAM || map[i].type == E820_TYPE_RESERVED);
		if (i)
			ck_assert_uint_le(map[i - 1].addr + map[i - 1].size, map[i].addr);
		if (map[i].type == E820_TYPE_RAM) {
			ram += map[i].size;
			ck_assert_msg(guest_ptr(m, map[i].addr, map[i].size) != NULL,
				      "RAM entry %zu not backed by guest memory", i);
			/* Nothing claims to be RAM in the PCI/APIC hole. */
			ck_assert(map[i].addr + map[i].size <= GUEST_PCI_HOLE_START ||
				  map[i].addr >= GUEST_HIGH_RAM_START);
		}
	}
	ck_assert_uint_eq(ram, m->size - LEGACY_NOT_RAM);
}

static void check_legacy(const struct e820_entry *map)
{
	ck_assert_uint_eq(map[0].addr, 0);
	ck_assert_uint_eq(map[0].size, BOOT_EBDA_ADDR);
	ck_assert_uint_eq(map[0].type, E820_TYPE_RAM);
	/* The MP table lives in the EBDA: the guest must not take it as RAM. */
	ck_assert_uint_eq(map[1].addr, BOOT_EBDA_ADDR);
	ck_assert_uint_eq(map[1].addr + map[1].size, BOOT_LOW_RAM_END);
	ck_assert_uint_eq(map[1].type, E820_TYPE_RESERVED);
	ck_assert_uint_eq(map[2].addr, 0xF0000);
	ck_assert_uint_eq(map[2].addr + map[2].size, 0x100000);
	ck_assert_uint_eq(map[2].type, E820_TYPE_RESERVED);
}

/* A guest's memory layout and the e820 map built for it. */
struct e820_result {
	struct guest_mem m;
	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n;
};

/* Builds the map for a guest of size bytes, over a poisoned table, and
 * checks what every map must hold. */
static struct e820_result build(uint64_t size)
{
	struct e820_result r;
	guest_mem_layout(&r.m, size);
	r.m.host = (uint8_t *)0x1000; /* never dereferenced: only guest_ptr's arithmetic */
	for (size_t i = 0; i < E820_MAX_ENTRIES; i++)
		r.map[i] = (struct e820_entry){0xdead, 0xbeef, 99};
	r.n = e820_build(&r.m, r.map);
	ck_assert_uint_ge(r.n, 1);
	ck_assert_uint_le(r.n, E820_MAX_ENTRIES);
	check_invariants(&r.m, r.map, r.n);
	return r;
}

START_TEST(test_256m)
{
	struct e820_result r = build(MiB(256));
	ck_assert_uint_eq(r.n, 4);
	check_legacy(r.map);
	ck_assert_uint_eq(r.map[3].addr, MiB(1));
	ck_assert_uint_eq(r.map[3].size, MiB(255));
	ck_assert_uint_eq(r.map[3].type, E820_TYPE_RAM);
}
END_TEST

START_TEST(test_exactly_3g)
{
	struct e820_result r = build(GiB(3));
	ck_assert_uint_eq(r.n, 4); /* all of it fits below the hole */
	check_legacy(r.map);
	ck_assert_uint_eq(r.map[3].addr + r.map[3].size, 0xC0000000ULL);
}
END_TEST

START_TEST(test_4g_with_hole)
{
	struct e820_result r = build(GiB(4));
	ck_assert_uint_eq(r.n, 5);
	check_legacy(r.map);
	ck_assert_uint_eq(r.map[3].addr, MiB(1));
	ck_assert_uint_eq(r.map[3].addr + r.map[3].size, 0xC0000000ULL);
	ck_assert_uint_eq(r.map[4].addr, 0x100000000ULL);
	ck_assert_uint_eq(r.map[4].size, GiB(1));
	ck_assert_uint_eq(r.map[4].type, E820_TYPE_RAM);
}
END_TEST

START_TEST(test_just_over_3g)
{
	struct e820_result r = build(GiB(3) + 0x1000);
	ck_assert_uint_eq(r.n, 5);
	ck_assert_uint_eq(r.map[4].addr, 0x100000000ULL);
	ck_assert_uint_eq(r.map[4].size, 0x1000);
}
END_TEST

START_TEST(test_large)
{
	struct e820_result r = build(GiB(1024)); /* --mem's 1T maximum */
	ck_assert_uint_eq(r.n, 5);
	ck_assert_uint_eq(r.map[4].size, GiB(1021));
}
END_TEST

START_TEST(test_tiny_2m)
{
	struct e820_result r = build(MiB(2));
	ck_assert_uint_eq(r.n, 4);
	check_legacy(r.map);
	ck_assert_uint_eq(r.map[3].addr, MiB(1));
	ck_assert_uint_eq(r.map[3].size, MiB(1));
}
END_TEST

START_TEST(test_sizes_sweep)
{
	static const uint64_t sizes[] = {MiB(2),	  MiB(2) + 0x1000, MiB(3),	    MiB(64),
					 MiB(1000),	  GiB(2),	   GiB(3) - 0x1000, GiB(3),
					 GiB(3) + MiB(1), GiB(5),	   GiB(16) + 0x1000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct e820_result r = build(sizes[i]);
		check_legacy(r.map);
	}
}
END_TEST

/* e820 and every loader write depend on this split around the PCI hole. */
START_TEST(test_layout_and_guest_ptr)
{
	static uint8_t backing[1];
	struct guest_mem m;
	guest_mem_layout(&m, MiB(256));
	ck_assert_uint_eq(m.low_size, MiB(256));
	ck_assert_uint_eq(guest_mem_high_size(&m), 0);
	m.host = backing;
	ck_assert_ptr_eq(guest_ptr(&m, 0, MiB(256)), m.host);
	ck_assert_ptr_nonnull(guest_ptr(&m, MiB(256) - 1, 1));
	ck_assert_ptr_null(guest_ptr(&m, MiB(256) - 1, 2));
	ck_assert_ptr_null(guest_ptr(&m, MiB(256), 1));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_HIGH_RAM_START, 1));
	ck_assert_ptr_null(guest_ptr(&m, UINT64_MAX, 2)); /* wraps */

	guest_mem_layout(&m, GiB(4));
	m.host = backing;
	ck_assert_uint_eq(m.low_size, GiB(3));
	ck_assert_uint_eq(guest_mem_high_size(&m), GiB(1));
	ck_assert_ptr_nonnull(guest_ptr(&m, GiB(3) - 1, 1));
	ck_assert_ptr_null(guest_ptr(&m, GiB(3) - 1, 2)); /* into the hole */
	ck_assert_ptr_null(guest_ptr(&m, 0xfee00000, 4)); /* the LAPIC is not RAM */
	ck_assert_ptr_null(guest_ptr(&m, GiB(4) - 1, 2)); /* hole into high RAM */
	/* High RAM follows low RAM in the host mapping. */
	ck_assert_uint_eq((uintptr_t)guest_ptr(&m, GiB(4), 1) - (uintptr_t)m.host, GiB(3));
	ck_assert_uint_eq((uintptr_t)guest_ptr(&m, GiB(5) - 8, 8) - (uintptr_t)m.host, GiB(4) - 8);
	ck_assert_ptr_null(guest_ptr(&m, GiB(5) - 8, 9));
	ck_assert_ptr_null(guest_ptr(&m, GiB(5), 1));
	ck_assert_ptr_null(guest_ptr(&m, UINT64_MAX - 4, 8));
}
END_TEST

/* An empty range is in RAM only where its address is: one at the end of a
 * RAM range, in the hole or past RAM is outside, not a pointer one past
 * the end (which the loader took for a kernel segment in RAM). */
START_TEST(test_guest_ptr_empty_range)
{
	static uint8_t backing[1];
	struct guest_mem m;
	guest_mem_layout(&m, GiB(4));
	m.host = backing;
	ck_assert_ptr_eq(guest_ptr(&m, 0, 0), m.host);
	ck_assert_ptr_nonnull(guest_ptr(&m, GiB(3) - 1, 0));
	ck_assert_ptr_null(guest_ptr(&m, GiB(3), 0)); /* the end of low RAM */
	ck_assert_ptr_null(guest_ptr(&m, 0xfee00000, 0));
	ck_assert_uint_eq((uintptr_t)guest_ptr(&m, GiB(4), 0) - (uintptr_t)m.host, GiB(3));
	ck_assert_ptr_nonnull(guest_ptr(&m, GiB(5) - 1, 0));
	ck_assert_ptr_null(guest_ptr(&m, GiB(5), 0)); /* the end of high RAM */
	ck_assert_ptr_null(guest_ptr(&m, UINT64_MAX, 0));

	guest_mem_layout(&m, MiB(64)); /* no high RAM at all */
	ck_assert_ptr_null(guest_ptr(&m, MiB(64), 0));
	ck_assert_ptr_null(guest_ptr(&m, GUEST_HIGH_RAM_START, 0));
}
END_TEST

CHECK_MAIN("e820", test_256m, test_exactly_3g, test_4g_with_hole, test_just_over_3g, test_large,
	   test_tiny_2m, test_sizes_sweep, test_layout_and_guest_ptr, test_guest_ptr_empty_range)
