#include "boot/mptable.h"

#include <string.h>

#include "boot/layout.h"

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
#define ISA_BUS_ID	  0
#define ISA_IRQS	  16

static uint8_t checksum(const void *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ((const uint8_t *)p)[i];
	return (uint8_t)-sum;
}

int mptable_write(struct guest_mem *m, int ncpus, struct errbuf *e)
{
	if (ncpus < 1 || ncpus > MPTABLE_MAX_CPUS)
		return errorf(e, "MP table: %d CPUs, at most %d fit", ncpus, MPTABLE_MAX_CPUS);

	size_t size = sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
		      (size_t)ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
		      sizeof(struct mpc_ioapic) + (ISA_IRQS + 2) * sizeof(struct mpc_intsrc);
	uint8_t *base = guest_ptr(m, BOOT_EBDA_ADDR, BOOT_LOW_RAM_END - BOOT_EBDA_ADDR);
	if (!base || size > BOOT_LOW_RAM_END - BOOT_EBDA_ADDR)
		return errorf(e, "MP table does not fit in the EBDA");
	memset(base, 0, BOOT_LOW_RAM_END - BOOT_EBDA_ADDR);

	struct mpf_intel *mpf = (struct mpf_intel *)base;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint16_t entries = 0;
	const uint8_t ioapic_id = (uint8_t)ncpus; /* after the CPUs' APIC ids */

	for (int i = 0; i < ncpus; i++) {
		struct mpc_cpu c = {
		    .type = MP_PROCESSOR,
		    .apicid = (uint8_t)i,
		    .apicver = APIC_VERSION,
		    .cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
		    .cpufeature = 0x600,  /* family 6: Linux only reads it for quirks */
		    .featureflag = 0x201, /* FPU, on-chip APIC */
		};
		memcpy(p, &c, sizeof(c));
		p += sizeof(c);
		entries++;
	}
	struct mpc_bus bus = {.type = MP_BUS, .busid = ISA_BUS_ID};
	memcpy(bus.bustype, "ISA   ", 6);
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	entries++;

	struct mpc_ioapic io = {.type = MP_IOAPIC,
				.apicid = ioapic_id,
				.apicver = IOAPIC_VERSION,
				.flags = 1,
				.apicaddr = IOAPIC_ADDR};
	memcpy(p, &io, sizeof(io));
	p += sizeof(io);
	entries++;

	/* KVM's default GSI routing sends ISA IRQ n to IOAPIC pin n (and to the
	 * PIC), so the table says exactly that. */
	for (uint8_t irq = 0; irq < ISA_IRQS; irq++) {
		struct mpc_intsrc s = {.type = MP_INTSRC,
				       .irqtype = MP_IRQ_INT,
				       .srcbus = ISA_BUS_ID,
				       .srcbusirq = irq,
				       .dstapic = ioapic_id,
				       .dstirq = irq};
		memcpy(p, &s, sizeof(s));
		p += sizeof(s);
		entries++;
	}
	/* The local APIC's LINT0 takes the PIC's ExtINT, LINT1 takes NMI, on every
	 * CPU (0xff), as on a PC. */
	const struct mpc_intsrc lint[2] = {
	    {.type = MP_LINTSRC, .irqtype = MP_IRQ_EXTINT, .dstapic = 0xff, .dstirq = 0},
	    {.type = MP_LINTSRC, .irqtype = MP_IRQ_NMI, .dstapic = 0xff, .dstirq = 1},
	};
	memcpy(p, lint, sizeof(lint));
	p += sizeof(lint);
	entries += 2;

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "MINIVMM ", 8);
	memcpy(mpc->product, "MINIVMM     ", 12);
	mpc->oemcount = entries;
	mpc->lapic = LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(BOOT_EBDA_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
