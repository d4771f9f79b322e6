#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "boot/e820.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "check_main.h"
#include "devices/pci_host.h"
#include "vmm/base/guest_mem.h"

/* Offsets and sizes from the MP specification 1.4, chapter 4, read here
 * byte by byte rather than through the product's structs. */
#define MPF_LEN	     16
#define MPC_HDR_LEN  44
#define ENT_CPU_LEN  20
#define ENT_OTHER    8
#define TYPE_CPU     0
#define TYPE_BUS     1
#define TYPE_IOAPIC  2
#define TYPE_INTSRC  3
#define TYPE_LINTSRC 4
#define PCI_SLOTS    31 /* 1..31: slot 0 is the host bridge, without an interrupt */
/* Interrupt entry flags (MP spec table 4-10): PO = 11 active low, EL = 11
 * level, as PCI INTx# is. */
#define FLAGS_PCI_LEVEL_LOW 0x0f

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

static struct guest_mem mem_new(void)
{
	struct guest_mem m;
	guest_mem_layout(&m, 2ULL << 20);
	m.host = malloc(m.size);
	ck_assert_ptr_nonnull(m.host);
	memset(m.host, 0xAA, m.size); /* checksums must not include garbage */
	return m;
}

/* Linux looks for the floating pointer in the first KiB of the EBDA, then
 * the last KiB of base memory, then the BIOS ROM, on 16-byte boundaries. */
static const uint8_t *find_mpf(const struct guest_mem *m)
{
	for (uint64_t a = BOOT_EBDA_ADDR; a < BOOT_EBDA_ADDR + 1024; a += 16) {
		const uint8_t *p = guest_ptr(m, a, MPF_LEN);
		if (p && memcmp(p, "_MP_", 4) == 0 && sum(p, MPF_LEN) == 0)
			return p;
	}
	return NULL;
}

/* Whether [addr, addr + len) lies inside one range e820 reports reserved. */
static bool reserved_in_e820(const struct guest_mem *m, uint64_t addr, uint64_t len)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(m, map);
	for (size_t i = 0; i < n; i++)
		if (map[i].type == E820_TYPE_RESERVED && addr >= map[i].addr &&
		    addr + len <= map[i].addr + map[i].size)
			return true;
	return false;
}

enum { PCI_BUS = 0, ISA_BUS = 1 };

static void check_isa_irq(const uint8_t *p, int *seen)
{
	ck_assert_uint_eq(rd16(p + 2), 0); /* flags: conforms to ISA (edge, high) */
	ck_assert_uint_lt(p[5], 16);
	ck_assert_int_eq(seen[p[5]], 0);
	seen[p[5]] = 1;
	ck_assert_uint_eq(p[7], p[5]); /* ISA IRQ n -> IOAPIC pin n */
}

/* A PCI source bus IRQ is (device << 2) | pin, pin 0 = INTA# (MP spec
 * §D.3); it must reach the IOAPIC pin pci_host wires that slot to. */
static void check_pci_inta(const uint8_t *p, int *seen)
{
	ck_assert_uint_eq(p[4], PCI_BUS);
	ck_assert_uint_eq(rd16(p + 2), FLAGS_PCI_LEVEL_LOW);
	unsigned slot = p[5] >> 2;
	ck_assert_uint_eq(p[5] & 3, 0);
	ck_assert_uint_ge(slot, 1);
	ck_assert_uint_le(slot, PCI_SLOTS);
	ck_assert_int_eq(seen[slot], 0);
	seen[slot] = 1;
	ck_assert_uint_eq(p[7], pci_intx_gsi(slot));
	ck_assert_uint_ge(p[7], 16); /* clear of ISA's pins */
	ck_assert_uint_lt(p[7], IOAPIC_PINS);
}

static void check_table(int ncpus)
{
	struct guest_mem m = mem_new();
	struct errbuf e = {""};
	ck_assert_msg(mptable_write(&m, ncpus, &e) == 0, "%s", e.msg);

	const uint8_t *mpf = find_mpf(&m);
	ck_assert_ptr_nonnull(mpf);
	ck_assert_ptr_eq(mpf, guest_ptr(&m, BOOT_EBDA_ADDR, 1));
	ck_assert_uint_eq(mpf[8], 1); /* length in 16-byte paragraphs */
	ck_assert_uint_eq(mpf[9], 4); /* spec revision 1.4 */
	ck_assert_uint_eq(sum(mpf, MPF_LEN), 0);
	ck_assert_uint_eq(mpf[11], 0); /* feature 1: 0 = a configuration table follows */
	uint32_t physptr = rd32(mpf + 4);

	const uint8_t *mpc = guest_ptr(&m, physptr, MPC_HDR_LEN);
	ck_assert_ptr_nonnull(mpc);
	ck_assert_mem_eq(mpc, "PCMP", 4);
	uint16_t len = rd16(mpc + 4);
	ck_assert_uint_eq(mpc[6], 4);
	uint16_t count = rd16(mpc + 34);
	ck_assert_uint_eq(rd32(mpc + 36), 0xFEE00000); /* local APIC */
	ck_assert_uint_eq(rd16(mpc + 40), 0);	       /* no extended table */
	/* Linux reads the table after it has taken RAM for itself: it must
	 * sit in memory e820 reserves, clear of the floating pointer. */
	ck_assert(reserved_in_e820(&m, physptr, len));
	ck_assert(physptr >= BOOT_EBDA_ADDR + MPF_LEN || physptr + len <= BOOT_EBDA_ADDR);
	ck_assert_uint_eq(sum(mpc, len), 0);

	const size_t want_entries =
	    (size_t)ncpus + 2 /* buses */ + 1 /* ioapic */ + 16 + PCI_SLOTS + 2 /* lint */;
	ck_assert_uint_eq(count, want_entries);

	const uint8_t *p = mpc + MPC_HDR_LEN, *end = mpc + len;
	int cpus = 0, buses = 0, ioapics = 0, lints = 0;
	int isa_seen[16] = {0}, slot_seen[PCI_SLOTS + 1] = {0};
	int ioapic_id = -1, prev_type = 0;
	for (size_t i = 0; i < count; i++) {
		ck_assert(p < end);
		/* MP spec 4.3: entries come sorted by type. */
		ck_assert_int_ge(p[0], prev_type);
		prev_type = p[0];
		switch (p[0]) {
		case TYPE_CPU:
			ck_assert_uint_eq(p[1], cpus);	/* APIC ids 0..n-1, in order */
			ck_assert_uint_ne(p[2], 0);	/* local APIC version */
			ck_assert_uint_eq(p[3] & 1, 1); /* enabled */
			ck_assert_uint_eq(p[3] & 2, cpus == 0 ? 2 : 0); /* BSP only on 0 */
			cpus++;
			p += ENT_CPU_LEN;
			break;
		case TYPE_BUS:
			/* PCI first with its bus number 0 as id (MP spec §D.2),
			 * the id Linux matches PCI interrupt entries against. */
			ck_assert_uint_eq(p[1], buses);
			ck_assert_mem_eq(p + 2, buses == PCI_BUS ? "PCI   " : "ISA   ", 6);
			buses++;
			p += ENT_OTHER;
			break;
		case TYPE_IOAPIC:
			ioapic_id = p[1];
			ck_assert_uint_eq(p[3] & 1, 1); /* usable */
			ck_assert_uint_eq(rd32(p + 4), 0xFEC00000);
			ioapics++;
			p += ENT_OTHER;
			break;
		case TYPE_INTSRC:
			ck_assert_uint_eq(p[1], 0);	/* INT */
			ck_assert_int_ge(ioapic_id, 0); /* the IOAPIC comes first */
			ck_assert_uint_eq(p[6], (unsigned)ioapic_id);
			if (p[4] == ISA_BUS)
				check_isa_irq(p, isa_seen);
			else
				check_pci_inta(p, slot_seen);
			p += ENT_OTHER;
			break;
		case TYPE_LINTSRC:
			ck_assert_uint_eq(p[6], 0xff); /* every CPU */
			/* LINT0 ExtINT from the PIC, LINT1 NMI. */
			ck_assert_uint_eq(p[1], p[7] == 0 ? 3 : 1);
			lints++;
			p += ENT_OTHER;
			break;
		default:
			ck_abort_msg("entry %zu: unknown type %u", i, p[0]);
		}
	}
	ck_assert_ptr_eq(p, end); /* length covers exactly the entries */
	ck_assert_int_eq(cpus, ncpus);
	ck_assert_int_eq(buses, 2);
	ck_assert_int_eq(ioapics, 1);
	ck_assert_int_eq(lints, 2);
	for (int i = 0; i < 16; i++)
		ck_assert_msg(isa_seen[i], "no interrupt entry for ISA IRQ %d", i);
	for (int i = 1; i <= PCI_SLOTS; i++)
		ck_assert_msg(slot_seen[i], "no INTA# entry for PCI slot %d", i);
	/* The IOAPIC's id must not collide with a CPU's. */
	ck_assert_int_ge(ioapic_id, ncpus);
	free(m.host);
}

START_TEST(test_one_cpu)
{
	check_table(1);
}
END_TEST

START_TEST(test_two_cpus)
{
	check_table(2);
}
END_TEST

START_TEST(test_max_cpus)
{
	ck_assert_int_eq(MPTABLE_MAX_CPUS, 32);
	check_table(32);
}
END_TEST

START_TEST(test_every_count)
{
	for (int n = 1; n <= MPTABLE_MAX_CPUS; n++)
		check_table(n);
}
END_TEST

START_TEST(test_too_many_or_none)
{
	struct guest_mem m = mem_new();
	struct errbuf e = {""};
	ck_assert_int_eq(mptable_write(&m, 33, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "33"));
	ck_assert_ptr_nonnull(strstr(e.msg, "32"));
	ck_assert_int_eq(mptable_write(&m, 0, &e), -1);
	ck_assert_int_eq(mptable_write(&m, -1, &e), -1);
	/* Refused before touching memory. */
	const uint8_t *ebda = guest_ptr(&m, BOOT_EBDA_ADDR, 4);
	ck_assert_uint_eq(ebda[0], 0xAA);
	free(m.host);
}
END_TEST

START_TEST(test_memory_too_small)
{
	struct guest_mem m;
	guest_mem_layout(&m, 0x80000); /* ends below the EBDA */
	m.host = calloc(1, m.size);
	struct errbuf e = {""};
	ck_assert_int_eq(mptable_write(&m, 1, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "EBDA"));
	free(m.host);
}
END_TEST

/* The floating pointer fits but the configuration table's area does not. */
START_TEST(test_memory_ends_below_table)
{
	struct guest_mem m;
	guest_mem_layout(&m, BOOT_LOW_RAM_END);
	m.host = calloc(1, m.size);
	struct errbuf e = {""};
	ck_assert_int_eq(mptable_write(&m, 1, &e), -1);
	ck_assert_msg_has(e, "MP table");
	free(m.host);
}
END_TEST

/* A second write (a smaller machine) must not leave the old CPUs behind. */
START_TEST(test_rewrite_shrinks)
{
	struct guest_mem m = mem_new();
	ck_assert_int_eq(mptable_write(&m, 32, NULL), 0);
	ck_assert_int_eq(mptable_write(&m, 1, NULL), 0);
	const uint8_t *mpf = find_mpf(&m);
	ck_assert_ptr_nonnull(mpf);
	const uint8_t *mpc = guest_ptr(&m, rd32(mpf + 4), MPC_HDR_LEN);
	ck_assert_uint_eq(rd16(mpc + 34), 1 + 2 + 1 + 16 + PCI_SLOTS + 2);
	free(m.host);
}
END_TEST

CHECK_MAIN("mptable", test_one_cpu, test_two_cpus, test_max_cpus, test_every_count,
	   test_too_many_or_none, test_memory_too_small, test_memory_ends_below_table,
	   test_rewrite_shrinks)
