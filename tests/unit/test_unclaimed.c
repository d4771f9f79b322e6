#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "vmm/unclaimed.h"

/* One pointer per address space, as the exit handler passes its literals:
 * the log tells spaces apart by that pointer. */
static const char *const PORT = "port";
static const char *const MMIO = "MMIO address";

static struct unclaimed_log log_;
static char *out_buf;
static size_t out_len;
static FILE *out;

static void setup(void)
{
	out = open_memstream(&out_buf, &out_len);
	ck_assert_ptr_nonnull(out);
	unclaimed_init(&log_, out);
}

static void teardown(void)
{
	unclaimed_destroy(&log_);
	fclose(out);
	free(out_buf);
}

static const char *text(void)
{
	fflush(out);
	return out_buf;
}

static int lines(void)
{
	int n = 0;
	for (const char *p = text(); *p; p++)
		n += *p == '\n';
	return n;
}

START_TEST(test_first_access_reported_once)
{
	ck_assert(unclaimed_report(&log_, PORT, 0x80, 1, true));
	ck_assert_int_eq(lines(), 1);
	ck_assert_str_eq(text(), "minivmm: guest wrote 1 byte(s) at unclaimed port 0x80 "
				 "(reads as all-ones; reported once)\n");
	/* Again, as a read or with another size: same address, no report. */
	ck_assert(!unclaimed_report(&log_, PORT, 0x80, 1, true));
	ck_assert(!unclaimed_report(&log_, PORT, 0x80, 4, false));
	ck_assert_int_eq(lines(), 1);
}
END_TEST

START_TEST(test_read_message)
{
	ck_assert(unclaimed_report(&log_, MMIO, 0xfed00000, 4, false));
	ck_assert_str_eq(text(), "minivmm: guest read 4 byte(s) at unclaimed MMIO address "
				 "0xfed00000 (reads as all-ones; reported once)\n");
}
END_TEST

START_TEST(test_spaces_are_separate)
{
	ck_assert(unclaimed_report(&log_, PORT, 0x3e8, 1, false));
	ck_assert(unclaimed_report(&log_, MMIO, 0x3e8, 1, false));
	ck_assert(!unclaimed_report(&log_, PORT, 0x3e8, 1, false));
	ck_assert(!unclaimed_report(&log_, MMIO, 0x3e8, 1, false));
	ck_assert(unclaimed_report(&log_, PORT, 0x3e9, 1, false));
	ck_assert_int_eq(lines(), 3);
	ck_assert_ptr_nonnull(strstr(text(), "port 0x3e8"));
	ck_assert_ptr_nonnull(strstr(text(), "MMIO address 0x3e8"));
	ck_assert_ptr_nonnull(strstr(text(), "port 0x3e9"));
}
END_TEST

START_TEST(test_large_addresses)
{
	ck_assert(unclaimed_report(&log_, MMIO, 0xffffffffffffffffULL, 8, true));
	ck_assert_ptr_nonnull(strstr(text(), "0xffffffffffffffff"));
	/* Addresses differing only in high bits are distinct. */
	ck_assert(unclaimed_report(&log_, MMIO, 0x7fffffffffffffffULL, 8, true));
	ck_assert(unclaimed_report(&log_, MMIO, 0, 8, true));
	ck_assert(!unclaimed_report(&log_, MMIO, 0, 8, true));
}
END_TEST

START_TEST(test_overflow_said_once)
{
	for (uint64_t i = 0; i < UNCLAIMED_REMEMBERED; i++)
		ck_assert(unclaimed_report(&log_, PORT, 0x100 + i, 1, false));
	ck_assert_int_eq(lines(), UNCLAIMED_REMEMBERED);
	size_t before = strlen(text());

	/* Remembered ones stay quiet. */
	ck_assert(!unclaimed_report(&log_, PORT, 0x100, 1, false));
	ck_assert(!unclaimed_report(&log_, PORT, 0x100 + UNCLAIMED_REMEMBERED - 1, 1, false));
	ck_assert_int_eq(lines(), UNCLAIMED_REMEMBERED);

	/* The first one that does not fit: one overflow line, no report. */
	ck_assert(!unclaimed_report(&log_, PORT, 0x1000, 1, false));
	ck_assert_int_eq(lines(), UNCLAIMED_REMEMBERED + 1);
	const char *tail = text() + before;
	ck_assert_ptr_nonnull(strstr(tail, "more than 64 unclaimed addresses"));
	ck_assert_ptr_null(strstr(tail, "0x1000"));

	/* Then silence, new addresses and other spaces alike. */
	for (uint64_t i = 0; i < 100; i++) {
		ck_assert(!unclaimed_report(&log_, PORT, 0x2000 + i, 1, true));
		ck_assert(!unclaimed_report(&log_, MMIO, 0x2000 + i, 1, true));
	}
	ck_assert(!unclaimed_report(&log_, PORT, 0x100, 1, false));
	ck_assert_int_eq(lines(), UNCLAIMED_REMEMBERED + 1);
}
END_TEST

CHECK_MAIN_FIXTURE("unclaimed", setup, teardown, test_first_access_reported_once, test_read_message,
		   test_spaces_are_separate, test_large_addresses, test_overflow_said_once)
