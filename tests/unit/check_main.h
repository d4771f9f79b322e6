/* What every Check unit test here shares: its main() and an assertion on
 * error messages. */
#ifndef TESTS_UNIT_CHECK_MAIN_H
#define TESTS_UNIT_CHECK_MAIN_H

#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Runs the tests as one test case, "core", of a suite named suite: with the
 * checked fixture setup/teardown when either is set, and a timeout of
 * timeout seconds unless it is 0. Returns main()'s exit status. */
static inline int check_run(const char *suite, SFun setup, SFun teardown, int timeout,
			    const TTest *const *tests, size_t n)
{
	Suite *s = suite_create(suite);
	TCase *tc = tcase_create("core");
	if (setup || teardown)
		tcase_add_checked_fixture(tc, setup, teardown);
	if (timeout)
		tcase_set_timeout(tc, timeout);
	for (size_t i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define CHECK_MAIN_WITH(suite, setup, teardown, timeout, ...)                                      \
	int main(void)                                                                             \
	{                                                                                          \
		const TTest *const tests_[] = {__VA_ARGS__};                                       \
		return check_run((suite), (setup), (teardown), (timeout), tests_,                  \
				 sizeof(tests_) / sizeof(tests_[0]));                              \
	}

/* main() for the suite called suite, made of the tests listed after it. */
#define CHECK_MAIN(suite, ...) CHECK_MAIN_WITH(suite, NULL, NULL, 0, __VA_ARGS__)
/* The same, each test between setup() and teardown() in its own process. */
#define CHECK_MAIN_FIXTURE(suite, setup, teardown, ...)                                            \
	CHECK_MAIN_WITH(suite, setup, teardown, 0, __VA_ARGS__)
/* The same, without a fixture, for tests that need more than Check's default
 * timeout. */
#define CHECK_MAIN_TIMEOUT(suite, seconds, ...)                                                    \
	CHECK_MAIN_WITH(suite, NULL, NULL, seconds, __VA_ARGS__)

/* An errbuf's message contains needle. */
#define ck_assert_msg_has(e, needle)                                                               \
	ck_assert_msg(strstr((e).msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", (e).msg,   \
		      (needle))

#endif
