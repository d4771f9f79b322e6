#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

START_TEST(test_plain_bytes_pass)
{
	struct console c = tty_console();
	uint8_t out[64];
	bool quit = true;
	size_t o = run(&c, "ls -l\r\x03\x7f", 8, out, &quit);
	ck_assert(!quit);
	ck_assert_uint_eq(o, 8);
	ck_assert_mem_eq(out, "ls -l\r\x03\x7f", 8);
	ck_assert_uint_eq(run(&c, "", 0, out, &quit), 0);
	ck_assert(!quit);
}
END_TEST

START_TEST(test_ctrl_a_x_quits)
{
	struct console c = tty_console();
	uint8_t out[64];
	bool quit = false;
	size_t o = run(&c, "abc\x01xdef", 8, out, &quit);
	ck_assert(quit);
	ck_assert_uint_eq(o, 3); /* what came before the escape still goes */
	ck_assert_mem_eq(out, "abc", 3);

	struct console c2 = tty_console();
	o = run(&c2, "\x01X", 2, out, &quit);
	ck_assert(quit);
	ck_assert_uint_eq(o, 0);
}
END_TEST

START_TEST(test_ctrl_a_ctrl_a_sends_one)
{
	struct console c = tty_console();
	uint8_t out[64];
	bool quit = true;
	size_t o = run(&c,
		       "a\x01\x01"
		       "b",
		       4, out, &quit);
	ck_assert(!quit);
	ck_assert_uint_eq(o, 3);
	ck_assert_mem_eq(out,
			 "a\x01"
			 "b",
			 3);
	/* Three in a row: one sent, the third starts a new escape. */
	o = run(&c, "\x01\x01\x01x", 4, out, &quit);
	ck_assert(quit);
	ck_assert_uint_eq(o, 1);
	ck_assert_uint_eq(out[0], 0x01);
}
END_TEST

START_TEST(test_ctrl_a_other_dropped)
{
	struct console c = tty_console();
	uint8_t out[64];
	bool quit = true;
	size_t o = run(&c,
		       "a\x01zb\x01"
		       "c",
		       6, out, &quit);
	ck_assert(!quit);
	ck_assert_uint_eq(o, 2);
	ck_assert_mem_eq(out, "ab", 2);
	ck_assert(!c.escape_pending);
}
END_TEST

START_TEST(test_escape_split_across_reads)
{
	struct console c = tty_console();
	uint8_t out[64];
	bool quit = true;
	size_t o = run(&c, "ab\x01", 3, out, &quit);
	ck_assert(!quit);
	ck_assert_uint_eq(o, 2);
	ck_assert_mem_eq(out, "ab", 2);
	ck_assert(c.escape_pending);
	o = run(&c, "x", 1, out, &quit);
	ck_assert(quit);
	ck_assert_uint_eq(o, 0);

	/* Split Ctrl-A Ctrl-A. */
	struct console d = tty_console();
	o = run(&d, "\x01", 1, out, &quit);
	ck_assert_uint_eq(o, 0);
	ck_assert(!quit);
	o = run(&d, "\x01q", 2, out, &quit);
	ck_assert(!quit);
	ck_assert_uint_eq(o, 2);
	ck_assert_mem_eq(out, "\x01q", 2);

	/* An empty read does not cancel a pending escape. */
	struct console f = tty_console();
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
	uint8_t out[64];
	bool quit = true;
	size_t o = run(&c,
		       "a\x01x\x01\x01"
		       "b",
		       6, out, &quit);
	ck_assert(!quit);
	ck_assert_uint_eq(o, 6);
	ck_assert_mem_eq(out,
			 "a\x01x\x01\x01"
			 "b",
			 6);
	ck_assert(!c.escape_pending);
}
END_TEST

START_TEST(test_init_detects_non_tty)
{
	int fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	struct console c;
	memset(&c, 0x5a, sizeof(c));
	console_init(&c, fd);
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

int main(void)
{
	Suite *s = suite_create("console");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_plain_bytes_pass);
	tcase_add_test(tc, test_ctrl_a_x_quits);
	tcase_add_test(tc, test_ctrl_a_ctrl_a_sends_one);
	tcase_add_test(tc, test_ctrl_a_other_dropped);
	tcase_add_test(tc, test_escape_split_across_reads);
	tcase_add_test(tc, test_not_a_tty_passes_everything);
	tcase_add_test(tc, test_init_detects_non_tty);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
