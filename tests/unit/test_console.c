#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "vmm/console.h"

static struct console tty_console(void)
{
	struct console c;
	memset(&c, 0, sizeof(c));
	c.in_fd = -1;
	c.is_tty = true;
	return c;
}

/* Runs one chunk through the filter; returns the output length. */
static size_t run(struct console *c, const char *in, size_t n, uint8_t *out, bool *quit)
{
	memset(out, 0xee, n + 1);
	size_t o = console_filter(c, (const uint8_t *)in, n, out, quit);
	ck_assert_uint_le(o, n);
	ck_assert_uint_eq(out[n], 0xee); /* never writes past n bytes */
	return o;
}

/* Filtering in (n bytes) through c gives want (want_n bytes) and sets quit
 * to want_quit; quit starts out the other way, so the filter must set it. */
static void filters_to(struct console *c, const char *in, size_t n, const char *want, size_t want_n,
		       bool want_quit)
{
	uint8_t out[64];
	bool quit = !want_quit;
	size_t o = run(c, in, n, out, &quit);
	ck_assert_int_eq(quit, want_quit);
	ck_assert_uint_eq(o, want_n);
	ck_assert_mem_eq(out, want, want_n);
}

START_TEST(test_plain_bytes_pass)
{
	struct console c = tty_console();
	filters_to(&c, "ls -l\r\x03\x7f", 8, "ls -l\r\x03\x7f", 8, false);
	filters_to(&c, "", 0, "", 0, false);
}
END_TEST

START_TEST(test_ctrl_a_x_quits)
{
	struct console c = tty_console();
	/* What came before the escape still goes. */
	filters_to(&c, "abc\x01xdef", 8, "abc", 3, true);

	struct console c2 = tty_console();
	filters_to(&c2, "\x01X", 2, "", 0, true);
}
END_TEST

START_TEST(test_ctrl_a_ctrl_a_sends_one)
{
	struct console c = tty_console();
	filters_to(&c,
		   "a\x01\x01"
		   "b",
		   4,
		   "a\x01"
		   "b",
		   3, false);
	/* Three in a row: one sent, the third starts a new escape. */
	filters_to(&c, "\x01\x01\x01x", 4, "\x01", 1, true);
}
END_TEST

START_TEST(test_ctrl_a_other_dropped)
{
	struct console c = tty_console();
	filters_to(&c,
		   "a\x01zb\x01"
		   "c",
		   6, "ab", 2, false);
	ck_assert(!c.escape_pending);
}
END_TEST

START_TEST(test_escape_split_across_reads)
{
	struct console c = tty_console();
	filters_to(&c, "ab\x01", 3, "ab", 2, false);
	ck_assert(c.escape_pending);
	filters_to(&c, "x", 1, "", 0, true);

	/* Split Ctrl-A Ctrl-A. */
	struct console d = tty_console();
	filters_to(&d, "\x01", 1, "", 0, false);
	filters_to(&d, "\x01q", 2, "\x01q", 2, false);

	/* An empty read does not cancel a pending escape. */
	struct console f = tty_console();
	uint8_t out[64];
	bool quit;
	run(&f, "\x01", 1, out, &quit);
	run(&f, "", 0, out, &quit);
	ck_assert(!quit);
	run(&f, "x", 1, out, &quit);
	ck_assert(quit);
}
END_TEST

START_TEST(test_not_a_tty_passes_everything)
{
	struct console c = tty_console();
	c.is_tty = false;
	filters_to(&c,
		   "a\x01x\x01\x01"
		   "b",
		   6,
		   "a\x01x\x01\x01"
		   "b",
		   6, false);
	ck_assert(!c.escape_pending);
}
END_TEST

START_TEST(test_init_detects_non_tty)
{
	int fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	struct console c;
	memset(&c, 0x5a, sizeof(c));
	console_init(&c, fd, -1);
	ck_assert_int_eq(c.in_fd, fd);
	ck_assert(!c.is_tty);
	ck_assert(!c.raw);
	ck_assert(!c.escape_pending);
	/* Raw mode is a no-op off a terminal. */
	ck_assert_int_eq(console_enter_raw(&c), 0);
	ck_assert(!c.raw);
	console_restore(&c);
	close(fd);
}
END_TEST

CHECK_MAIN("console", test_plain_bytes_pass, test_ctrl_a_x_quits, test_ctrl_a_ctrl_a_sends_one,
	   test_ctrl_a_other_dropped, test_escape_split_across_reads,
	   test_not_a_tty_passes_everything, test_init_detects_non_tty)
