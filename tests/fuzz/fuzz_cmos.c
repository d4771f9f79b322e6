/*
 * The MC146818 RTC and CMOS RAM (devices/cmos_rtc.c): port reads and
 * writes as the bus delivers them. The device is one range of two ports at
 * 0x70 (vmm/vm.c), so it gets offset 0 or 1 with width 1, or offset 0 with
 * width 2 (an outw that sets the index and writes the data at once).
 *
 * The clock is a fixed fake one from the input, between years 0 and 9999
 * (the range a four-digit date and the century register can show), and
 * steps may set it anew. Checked after every access, from the MC146818A
 * datasheet:
 *  - the index port keeps the register number in 7 bits (bit 7 is the NMI
 *    mask on a PC) and reads as 0xff (it is write-only);
 *  - the clock registers (seconds, minutes, hours, day of week, day of
 *    month, month, year, and the PC's century at 0x32) are valid BCD in BCD
 *    mode (register B bit 2 clear) and in range in either mode, the hours
 *    as 0-23, or as 1-12 with bit 7 for PM when register B bit 1 selects
 *    12-hour mode, and they show the fake clock as glibc's gmtime_r()
 *    breaks it down;
 *  - writes to the clock registers are dropped (the guest's clock follows
 *    the host's);
 *  - registers C and D are read-only: C reads 0 (no interrupt flags), D
 *    0x80 (valid RAM and time);
 *  - UIP (register A bit 7) never reads as set, and the rest of A, B, the
 *    alarm registers and the RAM bytes read back what was written.
 *
 * Input: the clock (5 bytes, seconds from year 0 modulo the range), then
 * steps of an opcode byte (bit 0: a write; bits 1-2: 0 the index port, 1
 * the data port, 2 both as one 2-byte access, 3 a new clock from the next
 * 5 bytes) and, for a write, its bytes.
 */
#include <stdbool.h>
#include <time.h>

#include "devices/cmos_rtc.h"
#include "fuzz_input.h"

#define YEAR0	 (-62167219200LL)	  /* 0000-01-01 00:00:00 UTC */
#define CLOCKS	 (253402300800LL - YEAR0) /* seconds up to 9999-12-31 23:59:59 */
#define REG_A	 0x0a
#define REG_B	 0x0b
#define REG_C	 0x0c
#define REG_D	 0x0d
#define B_24H	 0x02
#define B_BINARY 0x04
#define A_UIP	 0x80
#define N_CLOCK	 8

static struct cmos_rtc rtc;
static time_t now;

/* What the bytes the guest can store should read: the alarms, A (without
 * UIP), B and the RAM; the model of the index port. */
static uint8_t stored[128];
static uint8_t index_reg;

static const uint8_t clock_regs[N_CLOCK] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32};

static time_t fake_clock(void *ctx)
{
	(void)ctx;
	return now;
}

static bool is_clock(uint8_t reg)
{
	for (int i = 0; i < N_CLOCK; i++)
		if (clock_regs[i] == reg)
			return true;
	return false;
}

/* The clock register reg as the datasheet has it for the time `now`. */
static uint8_t want_clock(uint8_t reg, uint8_t b)
{
	struct tm tm;
	FUZZ_CHECK(gmtime_r(&now, &tm));
	int year = tm.tm_year + 1900;
	int v = 0;
	bool pm = false;
	switch (reg) {
	case 0x00:
		v = tm.tm_sec;
		break;
	case 0x02:
		v = tm.tm_min;
		break;
	case 0x04:
		v = tm.tm_hour;
		if (!(b & B_24H)) { /* 1-12, bit 7 for PM */
			pm = v >= 12;
			v = v % 12 ? v % 12 : 12;
		}
		break;
	case 0x06:
		v = tm.tm_wday + 1; /* Sunday is 1 */
		break;
	case 0x07:
		v = tm.tm_mday;
		break;
	case 0x08:
		v = tm.tm_mon + 1;
		break;
	case 0x09:
		v = year % 100;
		break;
	case 0x32:
		v = year / 100;
		break;
	}
	uint8_t enc = (b & B_BINARY) ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
	return (uint8_t)(enc | (pm ? 0x80 : 0));
}

/* Valid BCD (or binary) in the register's range, whatever the time. */
static void check_range(uint8_t reg, uint8_t got, uint8_t b)
{
	static const struct {
		uint8_t reg, lo, hi;
	} ranges[] = {{0x00, 0, 59}, {0x02, 0, 59}, {0x04, 0, 23}, {0x06, 1, 7},
		      {0x07, 1, 31}, {0x08, 1, 12}, {0x09, 0, 99}, {0x32, 0, 99}};
	uint8_t v = got, lo = 0, hi = 0;
	for (int i = 0; i < N_CLOCK; i++)
		if (ranges[i].reg == reg)
			lo = ranges[i].lo, hi = ranges[i].hi;
	if (reg == 0x04 && !(b & B_24H)) {
		v &= 0x7f; /* the PM bit */
		lo = 1, hi = 12;
	}
	if (!(b & B_BINARY)) {
		FUZZ_CHECK((v & 0x0f) <= 9 && (v >> 4) <= 9);
		v = (uint8_t)((v >> 4) * 10 + (v & 0x0f));
	}
	FUZZ_CHECK(v >= lo && v <= hi);
}

/* One byte of a data port read or write at the modelled index. */
static void check_data(bool write, uint8_t v, uint8_t got)
{
	uint8_t reg = index_reg;
	FUZZ_CHECK(rtc.index == reg);
	if (write) {
		if (reg == REG_A)
			stored[reg] = v & 0x7f;
		else if (!is_clock(reg) && reg != REG_C && reg != REG_D)
			stored[reg] = v;
		return;
	}
	uint8_t b = stored[REG_B];
	if (is_clock(reg)) {
		check_range(reg, got, b);
		FUZZ_CHECK(got == want_clock(reg, b));
	} else if (reg == REG_C) {
		FUZZ_CHECK(got == 0);
	} else if (reg == REG_D) {
		FUZZ_CHECK(got == 0x80);
	} else {
		FUZZ_CHECK(got == stored[reg]);
		FUZZ_CHECK(reg != REG_A || !(got & A_UIP));
	}
}

static void set_clock(struct fuzz_in *in)
{
	now = (time_t)(YEAR0 + (long long)(fuzz_bytes(in, 5) % (uint64_t)CLOCKS));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cmos_rtc_init(&rtc);
	rtc.now = fake_clock;
	memset(stored, 0, sizeof(stored));
	stored[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
	stored[REG_B] = B_24H;
	index_reg = 0;
	struct fuzz_in in = fuzz_in(data, size);
	set_clock(&in);
	while (in.left) {
		uint8_t op = fuzz_u8(&in);
		bool write = op & 1;
		unsigned shape = (op >> 1) & 3;
		if (shape == 3) {
			set_clock(&in);
			continue;
		}
		uint32_t offset = shape == 1, len = shape == 2 ? 2 : 1;
		uint8_t buf[2] = {0x5a, 0x5a}, sent[2];
		if (write)
			fuzz_take(&in, buf, len);
		memcpy(sent, buf, sizeof(buf));
		cmos_rtc_io(&rtc, offset, buf, len, write);
		for (uint32_t i = 0; i < len; i++) {
			if (offset + i == 0 && write) {
				index_reg = sent[i] & 0x7f;
				FUZZ_CHECK(rtc.index == index_reg);
			} else if (offset + i == 0) {
				FUZZ_CHECK(buf[i] == 0xff);
			} else {
				check_data(write, sent[i], buf[i]);
			}
		}
	}
	cmos_rtc_destroy(&rtc);
	return 0;
}
