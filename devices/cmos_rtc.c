#include "devices/cmos_rtc.h"

#include <string.h>

/* Register map: MC146818A datasheet, "Address Map". */
enum {
	REG_SECONDS = 0x00,
	REG_MINUTES = 0x02,
	REG_HOURS = 0x04,
	REG_WEEKDAY = 0x06,
	REG_DAY = 0x07,
	REG_MONTH = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0a,
	REG_B = 0x0b,
	REG_C = 0x0c,
	REG_D = 0x0d,
	REG_CENTURY = 0x32, /* PC convention, not in the datasheet */
};
#define REG_A_DIVIDER_32K 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate; UIP = 0 */
#define REG_B_24H	  0x02
#define REG_B_BINARY	  0x04
#define REG_HOURS_PM	  0x80
#define REG_D_VALID_RAM	  0x80

void cmos_rtc_init(struct cmos_rtc *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->ram[REG_A] = REG_A_DIVIDER_32K;
	r->ram[REG_B] = REG_B_24H;
	r->ram[REG_D] = REG_D_VALID_RAM;
}

void cmos_rtc_destroy(struct cmos_rtc *r)
{
	pthread_mutex_destroy(&r->lock);
}

static uint8_t encode(const struct cmos_rtc *r, int v)
{
	if (r->ram[REG_B] & REG_B_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* Broken-down UTC time of t, by arithmetic alone. Not gmtime_r(): glibc's
 * first gmtime_r() in a process sets up time zones, which opens
 * /etc/localtime, and this runs on a vCPU thread whose seccomp allowlist
 * has no open (vmm/base/seccomp.c). Days to a civil date in the proleptic
 * Gregorian calendar, counting 400-year eras of 146097 days from
 * 0000-03-01 (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"). */
struct utc {
	int sec, min, hour, wday, mday, mon, year; /* wday 0 = Sunday, mon 1-12 */
};

static struct utc utc_of(time_t t)
{
	int64_t days = (int64_t)t / 86400, secs = (int64_t)t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	struct utc u = {
	    .sec = (int)(secs % 60), .min = (int)(secs / 60 % 60), .hour = (int)(secs / 3600)};
	u.wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
	int64_t z = days + 719468;	     /* days since 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;					     /* 0-146096 */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0-399 */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);		     /* from March 1 */
	int64_t mp = (5 * doy + 2) / 153;				     /* 0 = March */
	u.mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	u.mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	u.year = (int)(yoe + era * 400 + (u.mon <= 2));
	return u;
}

static uint8_t read_reg(struct cmos_rtc *r, uint8_t reg)
{
	if (reg > REG_YEAR && reg != REG_CENTURY)
		return reg == REG_C ? 0 : r->ram[reg];
	if (reg == REG_SECONDS + 1 || reg == REG_MINUTES + 1 || reg == REG_HOURS + 1)
		return r->ram[reg]; /* alarm registers */

	struct utc u = utc_of(r->now ? r->now(r->ctx) : time(NULL));
	switch (reg) {
	case REG_SECONDS:
		return encode(r, u.sec);
	case REG_MINUTES:
		return encode(r, u.min);
	case REG_HOURS:
		/* 12-hour mode (register B bit 1 clear): 1-12, with bit 7
		 * set for PM, in either data mode (datasheet, "Time,
		 * Calendar and Alarm Data Modes"). */
		if (!(r->ram[REG_B] & REG_B_24H))
			return (uint8_t)(encode(r, u.hour % 12 ? u.hour % 12 : 12) |
					 (u.hour >= 12 ? REG_HOURS_PM : 0));
		return encode(r, u.hour);
	case REG_WEEKDAY:
		return encode(r, u.wday + 1);
	case REG_DAY:
		return encode(r, u.mday);
	case REG_MONTH:
		return encode(r, u.mon);
	case REG_YEAR:
		return encode(r, u.year % 100);
	case REG_CENTURY:
		return encode(r, u.year / 100);
	}
	return 0xff;
}

static void write_reg(struct cmos_rtc *r, uint8_t reg, uint8_t v)
{
	switch (reg) {
	case REG_A:
		r->ram[reg] = v & 0x7f; /* UIP is read-only */
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		/* Writes to the clock registers are dropped: the guest's clock
		 * follows the host's. */
		if (reg > REG_YEAR && reg != REG_CENTURY)
			r->ram[reg] = v;
		else if (reg == REG_SECONDS + 1 || reg == REG_MINUTES + 1 || reg == REG_HOURS + 1)
			r->ram[reg] = v;
	}
}

void cmos_rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct cmos_rtc *r = opaque;
	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < len; i++) {
		if ((offset + i) % 2 == 0) {
			if (is_write)
				r->index = data[i] & 0x7f; /* bit 7 is the NMI mask */
			else
				data[i] = 0xff; /* the index port is write-only */
		} else if (is_write) {
			write_reg(r, r->index, data[i]);
		} else {
			data[i] = read_reg(r, r->index);
		}
	}
	pthread_mutex_unlock(&r->lock);
}
