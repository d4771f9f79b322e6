#include <stdlib.h>
#include <string.h>

#include "boot/layout.h"
#include "boot/pagetables.h"
#include "check_main.h"
#include "vmm/base/guest_mem.h"

#define MiB(x) ((uint64_t)(x) << 20)

#define PTE_P	 (1ULL << 0)
#define PTE_W	 (1ULL << 1)
#define PTE_PS	 (1ULL << 7)
#define PTE_ADDR 0x000ffffffffff000ULL

static struct guest_mem mem_new(uint64_t size)
{
	struct guest_mem m;
	guest_mem_layout(&m, size);
	m.host = malloc(size);
	ck_assert_ptr_nonnull(m.host);
	memset(m.host, 0xAA, size); /* page tables must not inherit garbage */
	return m;
}

static uint64_t entry(const struct guest_mem *m, uint64_t table, unsigned index)
{
	uint64_t v;
	const void *p = guest_ptr(m, table + index * 8ULL, 8);
	ck_assert_ptr_nonnull(p);
	memcpy(&v, p, 8);
	return v;
}

/* A 4-level walk the way the MMU does it with CR4.PAE and EFER.LMA: returns
 * false on a not-present entry, else the physical address and whether every
 * level is writable. PDPT and PD entries may map 1 GiB and 2 MiB pages. */
static bool translate(const struct guest_mem *m, uint64_t cr3, uint64_t va, uint64_t *pa,
		      bool *writable)
{
	uint64_t table = cr3 & PTE_ADDR;
	bool w = true;
	for (unsigned shift = 39;; shift -= 9) {
		uint64_t e = entry(m, table, (va >> shift) & 511);
		if (!(e & PTE_P))
			return false;
		w = w && (e & PTE_W);
		if (shift == 39)
			ck_assert_uint_eq(e & PTE_PS, 0); /* no 512 GiB pages */
		/* In a page table entry, bit 7 is PAT, not PS. */
		if (shift == 12 || (e & PTE_PS)) {
			uint64_t offset = (1ULL << shift) - 1;
			*pa = (e & PTE_ADDR & ~offset) | (va & offset);
			*writable = w;
			return true;
		}
		table = e & PTE_ADDR;
	}
}

START_TEST(test_identity_map)
{
	struct guest_mem m = mem_new(MiB(2));
	struct errbuf e = {""};
	ck_assert_msg(boot_write_pagetables_and_gdt(&m, &e) == 0, "%s", e.msg);

	/* The kernel, the zero page, the LAPIC and the top of 4 GiB, plus every
	 * 2 MiB boundary on the way. */
	uint64_t addrs[] = {
	    0,		BOOT_ZERO_PAGE_ADDR, BOOT_CMDLINE_ADDR, 0x100200,   0x1fffff,	0x200000,
	    0x3fffffff, 0x40000000,	     0xbfffffff,	0xfec00000, 0xfee00000, 0xffffffff};
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		uint64_t pa = 0;
		bool w = false;
		ck_assert_msg(translate(&m, BOOT_PML4_ADDR, addrs[i], &pa, &w), "0x%llx not mapped",
			      (unsigned long long)addrs[i]);
		ck_assert_uint_eq(pa, addrs[i]);
		ck_assert(w);
	}
	for (uint64_t va = 0; va < 0x100000000ULL; va += MiB(2) - 0x800) {
		uint64_t pa = 0;
		bool w;
		ck_assert(translate(&m, BOOT_PML4_ADDR, va, &pa, &w));
		ck_assert_uint_eq(pa, va);
	}
	free(m.host);
}
END_TEST

START_TEST(test_nothing_above_4g)
{
	struct guest_mem m = mem_new(MiB(2));
	ck_assert_int_eq(boot_write_pagetables_and_gdt(&m, NULL), 0);
	uint64_t pa;
	bool w;
	ck_assert(!translate(&m, BOOT_PML4_ADDR, 0x100000000ULL, &pa, &w));
	ck_assert(!translate(&m, BOOT_PML4_ADDR, 0x8000000000ULL, &pa, &w));
	ck_assert(!translate(&m, BOOT_PML4_ADDR, 0xffffffff80000000ULL, &pa, &w));
	/* Unused entries are cleared, not left as whatever was in RAM. */
	for (unsigned i = 1; i < 512; i++)
		ck_assert_uint_eq(entry(&m, BOOT_PML4_ADDR, i), 0);
	for (unsigned i = 4; i < 512; i++)
		ck_assert_uint_eq(entry(&m, BOOT_PDPT_ADDR, i), 0);
	free(m.host);
}
END_TEST

START_TEST(test_table_layout)
{
	struct guest_mem m = mem_new(MiB(2));
	ck_assert_int_eq(boot_write_pagetables_and_gdt(&m, NULL), 0);
	ck_assert_uint_eq(entry(&m, BOOT_PML4_ADDR, 0) & PTE_ADDR, BOOT_PDPT_ADDR);
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e = entry(&m, BOOT_PDPT_ADDR, i);
		ck_assert_uint_eq(e & PTE_ADDR, BOOT_PD_ADDR + i * 0x1000ULL);
		ck_assert_uint_eq(e & (PTE_P | PTE_W | PTE_PS), PTE_P | PTE_W);
	}
	for (unsigned i = 0; i < 2048; i++) {
		uint64_t e = entry(&m, BOOT_PD_ADDR, i);
		ck_assert_uint_eq(e & PTE_ADDR, (uint64_t)i << 21);
		ck_assert_uint_eq(e & (PTE_P | PTE_W | PTE_PS), PTE_P | PTE_W | PTE_PS);
	}
	/* The tables must sit in the RAM e820 reports below the EBDA, and not
	 * on the zero page or the GDT. */
	ck_assert_uint_le(BOOT_PD_ADDR + 4 * 0x1000, BOOT_CMDLINE_ADDR);
	ck_assert_uint_ge(BOOT_PML4_ADDR, BOOT_ZERO_PAGE_ADDR + 0x1000);
	free(m.host);
}
END_TEST

struct desc {
	uint32_t base, limit;
	unsigned type, s, dpl, p, l, db, g;
};

static struct desc decode(uint64_t d)
{
	struct desc x;
	x.limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	x.base = (uint32_t)(((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24));
	x.type = (d >> 40) & 0xf;
	x.s = (d >> 44) & 1;
	x.dpl = (d >> 45) & 3;
	x.p = (d >> 47) & 1;
	x.l = (d >> 53) & 1;
	x.db = (d >> 54) & 1;
	x.g = (d >> 55) & 1;
	return x;
}

static uint64_t gdt_entry(const struct guest_mem *m, unsigned selector)
{
	ck_assert_uint_lt(selector / 8, BOOT_GDT_ENTRIES);
	return entry(m, BOOT_GDT_ADDR, selector / 8);
}

/* A present ring-0 code or data segment over all 4 GiB: readable if code,
 * writable if data. */
static void check_flat(struct desc d, bool code)
{
	ck_assert_uint_eq(d.base, 0);
	ck_assert_uint_eq(d.limit, 0xfffff);
	ck_assert_uint_eq(d.g, 1);
	ck_assert_uint_eq(d.type & 0x8, code ? 0x8 : 0);
	ck_assert_uint_eq(d.type & 0x2, 0x2);
	ck_assert_uint_eq(d.s, 1);
	ck_assert_uint_eq(d.p, 1);
	ck_assert_uint_eq(d.dpl, 0);
}

START_TEST(test_gdt)
{
	struct guest_mem m = mem_new(MiB(2));
	ck_assert_int_eq(boot_write_pagetables_and_gdt(&m, NULL), 0);
	ck_assert_uint_eq(gdt_entry(&m, 0), 0);

	/* 0x08: flat 32-bit code for the PVH entry. */
	struct desc d = decode(gdt_entry(&m, BOOT_SEL_CODE32));
	check_flat(d, true);
	ck_assert_uint_eq(d.db, 1);
	ck_assert_uint_eq(d.l, 0);

	/* 0x10: __BOOT_CS, 64-bit code (L=1 requires D=0). */
	d = decode(gdt_entry(&m, BOOT_SEL_CODE64));
	ck_assert_uint_eq(BOOT_SEL_CODE64, 0x10);
	check_flat(d, true);
	ck_assert_uint_eq(d.l, 1);
	ck_assert_uint_eq(d.db, 0);

	/* 0x18: __BOOT_DS, flat read/write data. */
	d = decode(gdt_entry(&m, BOOT_SEL_DATA));
	ck_assert_uint_eq(BOOT_SEL_DATA, 0x18);
	check_flat(d, false);
	ck_assert_uint_eq(d.db, 1);

	/* 0x20: a busy 32-bit TSS (system descriptor) for TR. */
	d = decode(gdt_entry(&m, BOOT_SEL_TSS));
	ck_assert_uint_eq(d.s, 0);
	ck_assert_uint_eq(d.type, 0xb);
	ck_assert_uint_eq(d.p, 1);
	ck_assert_uint_eq(d.limit, 0x67);
	ck_assert_uint_eq(d.g, 0);

	/* The GDT ends before the zero page. */
	ck_assert_uint_le(BOOT_GDT_ADDR + BOOT_GDT_ENTRIES * 8, BOOT_ZERO_PAGE_ADDR);
	free(m.host);
}
END_TEST

START_TEST(test_too_small)
{
	/* 32 KiB of RAM ends before the page tables at 0x9000. */
	struct guest_mem m;
	guest_mem_layout(&m, 0x8000);
	m.host = calloc(1, 0x8000);
	struct errbuf e = {""};
	ck_assert_int_eq(boot_write_pagetables_and_gdt(&m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "too small"));
	free(m.host);
}
END_TEST

CHECK_MAIN("pagetables", test_identity_map, test_nothing_above_4g, test_table_layout, test_gdt,
	   test_too_small)
