#include "boot/mptable.h"

#include <string.h>

#include "boot/layout.h"
#include "devices/pci_host.h"

/* Table layouts from MP spec 1.4, chapter 4. */
struct __attribute__((packed)) mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
};

struct __attribute__((packed)) mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
};

struct __attribute__((packed)) mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
};

struct __attribute__((packed)) mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
};

struct __attribute__((packed)) mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
};

struct __attribute__((packed)) mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
};

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };
enum { MP_IRQ_INT = 0, MP_IRQ_NMI = 1, MP_IRQ_EXTINT = 3 };

#define CPU_ENABLED	  1
#define CPU_BOOTPROCESSOR 2
#define APIC_VERSION	  0x14 /* integrated local APIC */
#define IOAPIC_VERSION	  0x11
#define ISA_IRQS	  16
#define PCI_INTA	  0 /* srcbusirq's low two bits: 0 = INTA# (MP spec §D.3) */

/* PCI buses come first, their bus numbers as bus ids (MP spec §D.2), and
 * Linux matches an interrupt entry's source bus against the PCI bus number:
 * config bus 0 is MP bus 0, and ISA takes the next id. */
enum { PCI_BUS_ID = 0, ISA_BUS_ID = 1 };

/* I/O interrupt entry flags (MP spec table 4-10): polarity in bits 1:0,
 * trigger mode in bits 3:2; 0 means "conforms to the bus". */
#define MP_IRQ_ACTIVE_LOW 0x3
#define MP_IRQ_LEVEL	  0xc

/*
 * PCI INTx# is level-triggered and active low (PCI 3.0 §2.2.6), and that is
 * what the table says. The wire's electrical polarity is not what minivmm
 * passes to KVM_IRQ_LINE, though: KVM's in-kernel IOAPIC never reads the
 * redirection entry's polarity bit (ioapic_set_irq() in Linux's
 * arch/x86/kvm/ioapic.c sets IRR for any nonzero level and clears it for 0),
 * so level 1 means "asserted" whatever polarity Linux programs from this
 * table. kvmtool does the same: its x86/mptable.c gives PCI entries the
 * bus's default flags (level, active low for PCI) and its virtio/pci.c
 * asserts INTx with kvm__irq_line(..., 1) and deasserts with 0.
 */
#define PCI_INTX_FLAGS (MP_IRQ_ACTIVE_LOW | MP_IRQ_LEVEL)

/* The most the configuration table can hold, which BOOT_MPC_MAX must fit. */
#define MPC_MAX_LEN                                                                                \
	(sizeof(struct mpc_table) + MPTABLE_MAX_CPUS * sizeof(struct mpc_cpu) +                    \
	 2 * sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +                                  \
	 (ISA_IRQS + (PCI_MAX_SLOTS - 1) + 2) * sizeof(struct mpc_intsrc))
_Static_assert(MPC_MAX_LEN <= BOOT_MPC_MAX, "MP configuration table outgrows its area");

/* Appends entries after the table header and counts them (MP spec §4.2). */
struct mpc_writer {
	uint8_t *p;
	uint16_t entries;
};

static void put(struct mpc_writer *w, const void *entry, size_t len)
{
	memcpy(w->p, entry, len);
	w->p += len;
	w->entries++;
}

static uint8_t checksum(const void *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

static void put_cpus(struct mpc_writer *w, int ncpus)
{
	for (int i = 0; i < ncpus; i++) {
		struct mpc_cpu c = {
		    .type = MP_PROCESSOR,
		    .apicid = (uint8_t)i,
		    .apicver = APIC_VERSION,
		    .cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
		    .cpufeature = 0x600,  /* family 6: Linux only reads it for quirks */
		    .featureflag = 0x201, /* FPU, on-chip APIC */
		};
		put(w, &c, sizeof(c));
	}
}

static void put_bus(struct mpc_writer *w, uint8_t id, const char type[6])
{
	struct mpc_bus b = {.type = MP_BUS, .busid = id};
	memcpy(b.bustype, type, sizeof(b.bustype));
	put(w, &b, sizeof(b));
}

static void put_intsrc(struct mpc_writer *w, uint16_t flags, uint8_t bus, uint8_t busirq,
		       uint8_t ioapic_id, uint8_t pin)
{
	struct mpc_intsrc s = {.type = MP_INTSRC,
			       .irqtype = MP_IRQ_INT,
			       .irqflag = flags,
			       .srcbus = bus,
			       .srcbusirq = busirq,
			       .dstapic = ioapic_id,
			       .dstirq = pin};
	put(w, &s, sizeof(s));
}

static void put_interrupts(struct mpc_writer *w, uint8_t ioapic_id)
{
	/* KVM's default GSI routing sends ISA IRQ n to IOAPIC pin n (and to
	 * the PIC), so the table says exactly that. */
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++)
		put_intsrc(w, 0, ISA_BUS_ID, irq, ioapic_id, irq);
	/* INTA# of every slot but the host bridge's, where pci_host wires it;
	 * a PCI source is (device << 2) | pin (MP spec §D.3). Empty slots cost
	 * nothing and keep the table independent of which devices exist. */
	for (unsigned slot = 1; slot < PCI_MAX_SLOTS; slot++)
		put_intsrc(w, PCI_INTX_FLAGS, PCI_BUS_ID, (uint8_t)(slot << 2 | PCI_INTA),
			   ioapic_id, (uint8_t)pci_intx_gsi(slot));
	/* The local APIC's LINT0 takes the PIC's ExtINT, LINT1 takes NMI, on
	 * every CPU (0xff), as on a PC. */
	const struct mpc_intsrc lint[2] = {
	    {.type = MP_LINTSRC, .irqtype = MP_IRQ_EXTINT, .srcbus = ISA_BUS_ID, .dstapic = 0xff},
	    {.type = MP_LINTSRC,
	     .irqtype = MP_IRQ_NMI,
	     .srcbus = ISA_BUS_ID,
	     .dstapic = 0xff,
	     .dstirq = 1},
	};
	put(w, &lint[0], sizeof(lint[0]));
	put(w, &lint[1], sizeof(lint[1]));
}

static void write_mpc(struct mpc_table *mpc, int ncpus)
{
	struct mpc_writer w = {(uint8_t *)(mpc + 1), 0};
	const uint8_t ioapic_id = (uint8_t)ncpus; /* after the CPUs' APIC ids */

	/* Entries go in type order (MP spec §4.3). */
	put_cpus(&w, ncpus);
	put_bus(&w, PCI_BUS_ID, "PCI   ");
	put_bus(&w, ISA_BUS_ID, "ISA   ");
	struct mpc_ioapic io = {.type = MP_IOAPIC,
				.apicid = ioapic_id,
				.apicver = IOAPIC_VERSION,
				.flags = 1,
				.apicaddr = IOAPIC_ADDR};
	put(&w, &io, sizeof(io));
	put_interrupts(&w, ioapic_id);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(w.p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "MINIVMM ", 8);
	memcpy(mpc->product, "MINIVMM     ", 12);
	mpc->oemcount = w.entries;
	mpc->lapic = LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length); /* the whole base table */
}

int mptable_write(struct guest_mem *m, int ncpus, struct errbuf *e)
{
	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS)
		return errorf(e, "MP table: %d CPUs, at most %d fit", ncpus, MPTABLE_MAX_CPUS);

	/* The floating pointer stays in the last KiB of base memory, one of
	 * the places MP spec §4 has the OS search; the table it points to may
	 * be anywhere, and the BIOS area has room for all of it. */
	struct mpf_intel *mpf = guest_ptr(m, BOOT_EBDA_ADDR, BOOT_LOW_RAM_END - BOOT_EBDA_ADDR);
	if (!mpf)
		return errorf(e, "MP floating pointer does not fit in the EBDA");
	struct mpc_table *mpc = guest_ptr(m, BOOT_MPC_ADDR, BOOT_MPC_MAX);
	if (!mpc)
		return errorf(e, "MP table does not fit in the BIOS area at 0x%llx",
			      (unsigned long long)BOOT_MPC_ADDR);
	memset(mpf, 0, BOOT_LOW_RAM_END - BOOT_EBDA_ADDR);
	memset(mpc, 0, BOOT_MPC_MAX);

	write_mpc(mpc, ncpus);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)BOOT_MPC_ADDR;
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
