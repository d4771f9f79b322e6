/*
 * minivmm-bench's guest: tight loops of one kind of exit, each exit timed
 * with the guest's own TSC, so that the very same measurement runs on minivmm
 * (floor and real path) and on QEMU.
 *
 * Built as 32-bit code (gcc -m32, assembled under .code32 into an ELF64, see
 * CMakeLists.txt) and entered through PVH: no paging, no libc, nothing runs
 * but this. The command line says what to do:
 *
 *   exits=N rounds=R kinds=pio_out,mmio_read,... timer=T [vmm=qemu]
 *
 * For each kind it runs rounds of N timed exits. On minivmm each round starts
 * with a question on the control port (vmm/bench_abi.h): which mode is this
 * round, the bare KVM_RUN floor or minivmm's exit path? minivmm-bench
 * alternates them, so 2R rounds run, R in each mode. Under QEMU (vmm=qemu)
 * there is no control port and R rounds run. The samples of each mode go
 * into a histogram, reported on port 0xe9 as one line per kind and mode:
 *
 *   r KIND MODE n=.. min=.. p50=.. p90=.. p99=.. max=.. sum=..   (TSC ticks, hex)
 *
 * then "exitbench: done", and the payload resets the machine.
 */
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bench_abi.h"

#define HVM_START_MAGIC 0x336ec578u
#define LAPIC_BASE	0xfee00000u
#define LAPIC_SVR	0x0f0 /* spurious vector register; bit 8 enables the APIC */
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TMICT	0x380 /* initial count: writing it arms the timer */
#define LAPIC_TDCR	0x3e0
#define MAX_SAMPLES	4000000u /* exits * rounds; keeps rank arithmetic in 32 bits */

void exitbench_main(uint32_t start_info);
void exitbench_reset(void) __attribute__((noreturn));
void exitbench_timer_isr(void);
void exitbench_spurious_isr(void);
void exitbench_unexpected_isr(void);

/* ---- port and memory access ---- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void mmio_write32(uint32_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline uint32_t mmio_read32(uint32_t addr)
{
	return *(volatile uint32_t *)addr;
}

/* lfence keeps rdtsc from running ahead of the instruction before it (SDM
 * vol. 2B, RDTSC), so each sample covers the whole exit. */
static inline uint64_t tsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* ---- the report ---- */

static void put(const char *s)
{
	while (*s)
		outb(BENCH_REPORT_PORT, (uint8_t)*s++);
}

static void put_hex(uint64_t v)
{
	char buf[17];
	int i = 16;
	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	put(buf + i);
}

static void fail(const char *why) __attribute__((noreturn));
static void fail(const char *why)
{
	put("exitbench: error: ");
	put(why);
	put("\n");
	exitbench_reset();
}

/* ---- histograms: log-linear, 128 buckets per power of two ---- */

/* Values below 256 ticks have a bucket each; above, [2^e, 2^(e+1)) is cut
 * into 128, so a quantile (its bucket's middle) is within 1/256 = 0.4%. */
#define SUB_BITS 7
#define SUB	 (1u << SUB_BITS)
#define BUCKETS	 ((32 - SUB_BITS + 1) * SUB)

struct hist {
	uint32_t n, min, max;
	uint64_t sum;
	uint32_t buckets[BUCKETS];
};

static struct hist hists[BENCH_MODES];

static unsigned bucket(uint32_t v)
{
	if (v < 2 * SUB)
		return v;
	unsigned e = 31u - (unsigned)__builtin_clz(v);
	return (e - SUB_BITS + 1) * SUB + ((v >> (e - SUB_BITS)) & (SUB - 1));
}

static uint32_t bucket_mid(unsigned b)
{
	if (b < 2 * SUB)
		return b;
	unsigned e = b / SUB + SUB_BITS - 1;
	uint32_t low = (SUB + b % SUB) << (e - SUB_BITS);
	return low + ((1u << (e - SUB_BITS)) - 1) / 2;
}

static void hist_add(struct hist *h, uint64_t d)
{
	uint32_t v = d > 0xffffffffu ? 0xffffffffu : (uint32_t)d;
	if (h->n == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
	h->sum += v;
	h->buckets[bucket(v)]++;
}

/* Nearest rank: the smallest value with at least ceil(n * permille / 1000)
 * samples at or below it; n <= MAX_SAMPLES keeps the product in 32 bits. */
static uint32_t hist_quantile(const struct hist *h, uint32_t permille)
{
	uint32_t rank = (h->n * permille + 999) / 1000, seen = 0;
	if (rank == 0)
		rank = 1;
	for (unsigned b = 0; b < BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank) {
			uint32_t mid = bucket_mid(b);
			return mid > h->max ? h->max : mid < h->min ? h->min : mid;
		}
	}
	return h->max;
}

static void hist_clear(struct hist *h)
{
	uint8_t *p = (uint8_t *)h;
	for (unsigned i = 0; i < sizeof(*h); i++)
		p[i] = 0;
}

/* ---- the command line ---- */

static const char *const kind_names[BENCH_KINDS] = {BENCH_KIND_NAMES};
static const char *const mode_names[BENCH_MODES] = {BENCH_MODE_NAMES};

struct config {
	uint32_t exits, rounds, timer;
	bool qemu;
	bool kinds[BENCH_KINDS];
};

/* Does the word at s (ending at a space, ',' or NUL) equal name? */
static bool word_is(const char *s, const char *name)
{
	while (*name && *s == *name)
		s++, name++;
	return !*name && (*s == 0 || *s == ' ' || *s == ',');
}

/* s past the prefix, if s starts with it; else NULL. */
static const char *after(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return s;
}

static const char *number(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	if (*s < '0' || *s > '9')
		fail("bad number on the command line");
	while (*s >= '0' && *s <= '9') {
		if (v > 100000000u)
			fail("number too large on the command line");
		v = v * 10 + (uint32_t)(*s++ - '0');
	}
	*out = v;
	return s;
}

static const char *kinds(const char *s, struct config *c)
{
	for (;;) {
		int k = 0;
		while (k < BENCH_KINDS && !word_is(s, kind_names[k]))
			k++;
		if (k == BENCH_KINDS)
			fail("unknown kind on the command line");
		c->kinds[k] = true;
		while (*s && *s != ',' && *s != ' ')
			s++;
		if (*s != ',')
			return s;
		s++;
	}
}

static void parse(const char *s, struct config *c)
{
	const char *v;
	while (*s) {
		if (*s == ' ')
			s++;
		else if (word_is(s, "vmm=qemu"))
			c->qemu = true, s += 8;
		else if ((v = after(s, "exits=")))
			s = number(v, &c->exits);
		else if ((v = after(s, "rounds=")))
			s = number(v, &c->rounds);
		else if ((v = after(s, "timer=")))
			s = number(v, &c->timer);
		else if ((v = after(s, "kinds=")))
			s = kinds(v, c);
		else
			while (*s && *s != ' ')
				s++; /* a word for somebody else */
	}
	bool any_kind = false;
	for (int k = 0; k < BENCH_KINDS; k++)
		any_kind |= c->kinds[k];
	if (!any_kind)
		for (int k = 0; k < BENCH_KINDS; k++)
			c->kinds[k] = true;
	if (c->exits == 0 || c->rounds == 0 || (uint64_t)c->exits * c->rounds > MAX_SAMPLES)
		fail("exits and rounds must be at least 1, exits * rounds at most 4000000");
}

/* ---- interrupts: just enough for the local APIC timer ---- */

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[256];

static void set_gate(unsigned v, void (*fn)(void), uint16_t cs)
{
	uint32_t a = (uint32_t)fn;
	idt[v] = (struct idt_gate){(uint16_t)a, cs, 0, 0x8e /* present, 32-bit interrupt gate */,
				   (uint16_t)(a >> 16)};
}

/* The legacy PICs masked (firmware under QEMU leaves IRQ 0 on), every vector
 * but the timer's and the spurious one fatal, the APIC's timer one-shot at
 * divide-by-1 on BENCH_TIMER_VECTOR. */
static void setup_interrupts(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, exitbench_unexpected_isr, cs);
	set_gate(BENCH_TIMER_VECTOR, exitbench_timer_isr, cs);
	set_gate(0xff, exitbench_spurious_isr, cs);
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint32_t)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));
	mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x100 | 0xff);
	mmio_write32(LAPIC_BASE + LAPIC_TDCR, 0xb);
	mmio_write32(LAPIC_BASE + LAPIC_LVT_TIMER, BENCH_TIMER_VECTOR);
}

/* ---- the rounds ---- */

/* One round: n samples of one kind, each one exit (or, for the doorbell and
 * the timer, one trip the kernel completes without minivmm). */
static void run_round(enum bench_kind k, enum bench_mode m, const struct config *c, struct hist *h)
{
	uint32_t bell = m == BENCH_MODE_FLOOR ? BENCH_DOORBELL_FLOOR : BENCH_DOORBELL_MINIVMM;
	for (uint32_t i = 0; i < c->exits; i++) {
		uint64_t t0 = tsc();
		switch (k) {
		case BENCH_PIO_OUT:
			outb(BENCH_PIO_PORT, 0);
			break;
		case BENCH_PIO_IN:
			(void)inb(BENCH_PIO_PORT);
			break;
		case BENCH_MMIO_WRITE:
			mmio_write32(BENCH_MMIO_ADDR, 0);
			break;
		case BENCH_MMIO_READ:
			(void)mmio_read32(BENCH_MMIO_ADDR);
			break;
		case BENCH_DOORBELL:
			/* A 16-bit write of a queue index, as virtio-pci's notify
			 * (virtio 1.2 §4.1.5.2). */
			*(volatile uint16_t *)bell = 0;
			break;
		case BENCH_HLT_TIMER:
			/* sti's one-instruction shadow makes "sti; hlt" atomic:
			 * the interrupt wakes the HLT, never slips in before. */
			mmio_write32(LAPIC_BASE + LAPIC_TMICT, c->timer);
			__asm__ volatile("sti; hlt; cli" ::: "memory");
			break;
		default:
			fail("bad kind");
		}
		hist_add(h, tsc() - t0);
	}
}

static void report(enum bench_kind k, enum bench_mode m, const struct hist *h)
{
	put("r ");
	put(kind_names[k]);
	put(" ");
	put(mode_names[m]);
	put(" n=");
	put_hex(h->n);
	put(" min=");
	put_hex(h->min);
	put(" p50=");
	put_hex(hist_quantile(h, 500));
	put(" p90=");
	put_hex(hist_quantile(h, 900));
	put(" p99=");
	put_hex(hist_quantile(h, 990));
	put(" max=");
	put_hex(h->max);
	put(" sum=");
	put_hex(h->sum);
	put("\n");
}

void exitbench_main(uint32_t start_info)
{
	const volatile uint32_t *si = (const volatile uint32_t *)start_info;
	if (si[0] != HVM_START_MAGIC)
		fail("no PVH start info");
	/* hvm_start_info.cmdline_paddr, at byte 24; below 4 GiB here. */
	const char *cmdline = (const char *)si[6];
	struct config c = {.exits = 10000, .rounds = 5, .timer = 10000};
	if (cmdline)
		parse(cmdline, &c);
	setup_interrupts();
	put("exitbench: start\n");

	for (int k = 0; k < BENCH_KINDS; k++) {
		if (!c.kinds[k])
			continue;
		if (k == BENCH_DOORBELL && c.qemu) {
			/* QEMU puts ioeventfds only on virtio queues a driver
			 * has set up; this payload carries no virtio driver. */
			put("s doorbell qemu\n");
			continue;
		}
		for (int m = 0; m < BENCH_MODES; m++)
			hist_clear(&hists[m]);
		uint32_t rounds = c.qemu ? c.rounds : 2 * c.rounds;
		for (uint32_t r = 0; r < rounds; r++) {
			enum bench_mode m = BENCH_MODE_QEMU;
			if (!c.qemu) {
				outl(BENCH_CTRL_PORT, (uint32_t)k);
				m = (enum bench_mode)inb(BENCH_CTRL_PORT);
				if (m != BENCH_MODE_FLOOR && m != BENCH_MODE_MINIVMM)
					fail("the control port answered no mode");
			}
			run_round((enum bench_kind)k, m, &c, &hists[m]);
		}
		for (int m = 0; m < BENCH_MODES; m++)
			if (hists[m].n)
				report((enum bench_kind)k, (enum bench_mode)m, &hists[m]);
	}
	put("exitbench: done\n");
}
