/*
 * The MC146818 real-time clock and CMOS RAM behind ports 0x70/0x71. Linux
 * reads the wall clock from it at boot (and waits on its update-in-progress
 * bit, which an absent chip would read as stuck at 1). Time comes from the
 * host clock on every read.
 */
#ifndef MINIVMM_CMOS_RTC_H
#define MINIVMM_CMOS_RTC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define CMOS_INDEX_PORT 0x70
#define CMOS_DATA_PORT	0x71

struct cmos_rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
	time_t (*now)(void *ctx); /* NULL: time(NULL); tests pass a fixed clock */
	void *ctx;
};

void cmos_rtc_init(struct cmos_rtc *r);
void cmos_rtc_destroy(struct cmos_rtc *r);

/* bus_io_fn for the two ports, registered as one range at 0x70. */
void cmos_rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
