#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "devices/cmos_rtc.h"

/* 2026-11-22 03:04:05 UTC, a Sunday. */
#define T_2026 ((time_t)1795316645)
/* 1999-12-31 23:59:58 UTC, a Friday. */
#define T_1999 ((time_t)946684798)
/* 2100-01-01 00:00:00 UTC, a Friday. */
#define T_2100 ((time_t)4102444800)

#define INDEX 0
#define DATA  1

static struct cmos_rtc r;
static time_t fixed_now;

static time_t clock_fn(void *ctx)
{
	return *(const time_t *)ctx;
}

static void setup(void)
{
	cmos_rtc_init(&r);
	fixed_now = T_2026;
	r.now = clock_fn;
	r.ctx = &fixed_now;
}

static void teardown(void)
{
	cmos_rtc_destroy(&r);
}

static uint8_t rd(uint8_t reg)
{
	uint8_t v = reg;
	cmos_rtc_io(&r, INDEX, &v, 1, true);
	v = 0x5a;
	cmos_rtc_io(&r, DATA, &v, 1, false);
	return v;
}

static void wr(uint8_t reg, uint8_t val)
{
	cmos_rtc_io(&r, INDEX, &reg, 1, true);
	cmos_rtc_io(&r, DATA, &val, 1, true);
}

/* The clock: seconds, minutes, hours, day of the week, day of the month,
 * month, year, century. */
static const uint8_t clock_regs[] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32};

/* The clock registers read want, in clock_regs' order. */
static void check_clock(const uint8_t want[sizeof(clock_regs)])
{
	for (size_t i = 0; i < sizeof(clock_regs); i++) {
		uint8_t v = rd(clock_regs[i]);
		ck_assert_msg(v == want[i], "register 0x%02x is 0x%02x, want 0x%02x", clock_regs[i],
			      v, want[i]);
	}
}

START_TEST(test_time_bcd)
{
	ck_assert_uint_eq(rd(0x0b) & 0x04, 0);	  /* BCD is the default */
	ck_assert_uint_eq(rd(0x0b) & 0x02, 0x02); /* 24-hour */
	/* Sunday is day 1. */
	check_clock((const uint8_t[]){0x05, 0x04, 0x03, 0x01, 0x22, 0x11, 0x26, 0x20});
}
END_TEST

START_TEST(test_time_binary)
{
	wr(0x0b, 0x06); /* 24-hour, binary */
	ck_assert_uint_eq(rd(0x0b), 0x06);
	check_clock((const uint8_t[]){5, 4, 3, 1, 22, 11, 26, 20});
	wr(0x0b, 0x02);
	ck_assert_uint_eq(rd(0x07), 0x22);
}
END_TEST

START_TEST(test_other_dates)
{
	fixed_now = T_1999;
	check_clock((const uint8_t[]){0x58, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x19});
	/* The clock is read afresh on every access. */
	fixed_now = T_2100;
	ck_assert_uint_eq(rd(0x00), 0x00);
	ck_assert_uint_eq(rd(0x04), 0x00);
	ck_assert_uint_eq(rd(0x06), 0x06);
	ck_assert_uint_eq(rd(0x07), 0x01);
	ck_assert_uint_eq(rd(0x08), 0x01);
	ck_assert_uint_eq(rd(0x09), 0x00);
	ck_assert_uint_eq(rd(0x32), 0x21);
}
END_TEST

/* The device's own date arithmetic (it may not call gmtime_r: see
 * cmos_rtc.c) agrees with libc's across leap years, century years and
 * 2000's leap day, in binary mode for easy comparison. */
START_TEST(test_dates_agree_with_libc)
{
	static const time_t edges[] = {
	    0,		/* 1970-01-01 */
	    68169599,	/* 1972-02-28 23:59:59 */
	    68169600,	/* 1972-02-29 */
	    951782400,	/* 2000-02-29 */
	    951868800,	/* 2000-03-01 */
	    4107456000, /* 2100-02-28 */
	    4107542400, /* 2100-03-01: 2100 is no leap year */
	    2147483647, /* 2038-01-19 03:14:07 */
	    7258118399, /* 2199-12-31 23:59:59 */
	};
	wr(0x0b, 0x06); /* 24-hour, binary */
	size_t n = 0;
	for (time_t t = 0; t < (time_t)7258118400; t += 86400 * 37 + 3607, n++) {
		fixed_now = n < sizeof(edges) / sizeof(edges[0]) ? edges[n] : t;
		struct tm tm;
		ck_assert_ptr_nonnull(gmtime_r(&fixed_now, &tm));
		const uint8_t want[] = {
		    (uint8_t)tm.tm_sec,		 (uint8_t)tm.tm_min,
		    (uint8_t)tm.tm_hour,	 (uint8_t)(tm.tm_wday + 1),
		    (uint8_t)tm.tm_mday,	 (uint8_t)(tm.tm_mon + 1),
		    (uint8_t)(tm.tm_year % 100), (uint8_t)(19 + tm.tm_year / 100)};
		for (size_t i = 0; i < sizeof(clock_regs); i++) {
			uint8_t v = rd(clock_regs[i]);
			ck_assert_msg(v == want[i], "t=%lld register 0x%02x is %u, want %u",
				      (long long)fixed_now, clock_regs[i], v, want[i]);
		}
	}
	ck_assert_uint_gt(n, 1000);
}
END_TEST

/* Register B bit 1 clear selects 12-hour mode: hours 1-12, bit 7 for PM
 * (MC146818A datasheet, "Time, Calendar and Alarm Data Modes"), in BCD or
 * binary like the other registers. (Found by tests/fuzz/fuzz_cmos.) */
START_TEST(test_twelve_hour_mode)
{
	static const struct {
		time_t t;
		uint8_t bcd, bin;
	} hours[] = {
	    {T_2026, 0x03, 3},		      /* 03:04:05 */
	    {T_2026 + 12 * 3600, 0x83, 0x83}, /* 15:04:05 */
	    {T_2100, 0x12, 12},		      /* midnight is 12 AM */
	    {T_2100 + 12 * 3600, 0x92, 0x8c}, /* noon is 12 PM */
	    {T_1999, 0x91, 0x8b},	      /* 23:59:58 */
	};
	for (size_t i = 0; i < sizeof(hours) / sizeof(hours[0]); i++) {
		fixed_now = hours[i].t;
		wr(0x0b, 0x00); /* 12-hour, BCD */
		ck_assert_uint_eq(rd(0x04), hours[i].bcd);
		wr(0x0b, 0x04); /* 12-hour, binary */
		ck_assert_uint_eq(rd(0x04), hours[i].bin);
		wr(0x0b, 0x02); /* back to 24-hour: minutes are untouched */
		ck_assert_uint_eq(rd(0x02), i < 2 ? 0x04 : i < 4 ? 0x00 : 0x59);
	}
}
END_TEST

START_TEST(test_status_registers)
{
	uint8_t a = rd(0x0a);
	ck_assert_uint_eq(a & 0x80, 0);	   /* UIP clear: Linux would spin on it */
	ck_assert_uint_eq(a & 0x70, 0x20); /* 32.768 kHz time base */
	ck_assert_uint_eq(rd(0x0c), 0);
	ck_assert_uint_eq(rd(0x0d), 0x80); /* valid RAM and time */

	/* UIP cannot be set by the guest; the rest of A is writable. */
	wr(0x0a, 0xa6);
	ck_assert_uint_eq(rd(0x0a), 0x26);
	wr(0x0a, 0x2f);
	ck_assert_uint_eq(rd(0x0a), 0x2f);
	/* C and D are read-only. */
	wr(0x0c, 0xff);
	ck_assert_uint_eq(rd(0x0c), 0);
	wr(0x0d, 0x00);
	ck_assert_uint_eq(rd(0x0d), 0x80);
}
END_TEST

START_TEST(test_clock_writes_ignored)
{
	uint8_t before[sizeof(clock_regs)];
	for (size_t i = 0; i < sizeof(clock_regs); i++)
		before[i] = rd(clock_regs[i]);
	for (size_t i = 0; i < sizeof(clock_regs); i++)
		wr(clock_regs[i], 0x42);
	check_clock(before);
}
END_TEST

START_TEST(test_alarm_and_ram)
{
	/* Alarm registers are plain storage. */
	wr(0x01, 0x30);
	wr(0x03, 0x31);
	wr(0x05, 0x32);
	ck_assert_uint_eq(rd(0x01), 0x30);
	ck_assert_uint_eq(rd(0x03), 0x31);
	ck_assert_uint_eq(rd(0x05), 0x32);
	/* General-purpose CMOS bytes. */
	ck_assert_uint_eq(rd(0x40), 0x00);
	wr(0x40, 0xa5);
	ck_assert_uint_eq(rd(0x40), 0xa5);
	wr(0x0e, 0x11);
	wr(0x31, 0x22);
	wr(0x33, 0x33);
	wr(0x7f, 0x44);
	ck_assert_uint_eq(rd(0x0e), 0x11);
	ck_assert_uint_eq(rd(0x31), 0x22);
	ck_assert_uint_eq(rd(0x33), 0x33);
	ck_assert_uint_eq(rd(0x7f), 0x44);
	ck_assert_uint_eq(rd(0x40), 0xa5);
}
END_TEST

START_TEST(test_index_port)
{
	/* Bit 7 of the index is the NMI mask, not part of the register number. */
	wr(0x40, 0x77);
	ck_assert_uint_eq(rd(0x80 | 0x40), 0x77);
	ck_assert_uint_eq(rd(0x80 | 0x00), 0x05);
	wr(0x80 | 0x41, 0x66);
	ck_assert_uint_eq(rd(0x41), 0x66);
	/* The index port is write-only and reads as all-ones. */
	uint8_t v = 0;
	cmos_rtc_io(&r, INDEX, &v, 1, false);
	ck_assert_uint_eq(v, 0xff);
	/* The index persists across data accesses. */
	v = 0x40;
	cmos_rtc_io(&r, INDEX, &v, 1, true);
	for (int i = 0; i < 3; i++) {
		v = 0;
		cmos_rtc_io(&r, DATA, &v, 1, false);
		ck_assert_uint_eq(v, 0x77);
	}
}
END_TEST

START_TEST(test_wide_access)
{
	/* A 16-bit write at 0x70 is an index write then a data write. */
	uint8_t w[2] = {0x50, 0x99};
	cmos_rtc_io(&r, INDEX, w, 2, true);
	ck_assert_uint_eq(rd(0x50), 0x99);
	uint8_t idx = 0x50;
	cmos_rtc_io(&r, INDEX, &idx, 1, true);
	uint8_t v[2] = {0, 0};
	cmos_rtc_io(&r, INDEX, v, 2, false);
	ck_assert_uint_eq(v[0], 0xff);
	ck_assert_uint_eq(v[1], 0x99);
}
END_TEST

START_TEST(test_host_clock_default)
{
	/* Without a clock function the host's time is used: the year is
	 * plausible and BCD-valid. */
	r.now = NULL;
	uint8_t y = rd(0x09), c = rd(0x32);
	ck_assert_uint_le(y & 0x0f, 9);
	ck_assert_uint_le(y >> 4, 9);
	ck_assert_uint_ge(c, 0x20);
	ck_assert_uint_le(c & 0x0f, 9);
}
END_TEST

CHECK_MAIN_FIXTURE("cmos_rtc", setup, teardown, test_time_bcd, test_time_binary, test_other_dates,
		   test_twelve_hour_mode, test_dates_agree_with_libc, test_status_registers,
		   test_clock_writes_ignored, test_alarm_and_ram, test_index_port, test_wide_access,
		   test_host_clock_default)
