#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "vmm/devtable.h"

/* Each destroy appends its entry's letter, so the log is the order of
 * tear-down. */
static char order[DEVTABLE_MAX + 2];

static void record(void *ctx)
{
	size_t n = strlen(order);
	order[n] = *(const char *)ctx;
	order[n + 1] = 0;
}

static int push(struct devtable *t, const char *letter, struct errbuf *e)
{
	return devtable_push(
	    t, &(struct devtable_entry){.name = letter, .ctx = (void *)letter, .destroy = record},
	    e);
}

START_TEST(test_unwinds_in_reverse_order_of_success)
{
	struct devtable t = {0};
	struct errbuf e;
	order[0] = 0;
	ck_assert_int_eq(push(&t, "a", &e), 0);
	ck_assert_int_eq(push(&t, "b", &e), 0);
	ck_assert_int_eq(push(&t, "c", &e), 0);
	ck_assert_str_eq(order, ""); /* nothing is taken down before the unwind */
	devtable_unwind(&t);
	ck_assert_str_eq(order, "cba");
	ck_assert_int_eq(t.n, 0);
	devtable_unwind(&t); /* empty: nothing more */
	ck_assert_str_eq(order, "cba");
}
END_TEST

START_TEST(test_full_table_undoes_the_newcomer)
{
	struct devtable t = {0};
	struct errbuf e;
	order[0] = 0;
	for (int i = 0; i < DEVTABLE_MAX; i++)
		ck_assert_int_eq(push(&t, "x", &e), 0);
	ck_assert_int_eq(push(&t, "z", &e), -1);
	ck_assert_str_eq(order, "z"); /* what could not be recorded is undone at once */
	ck_assert_ptr_nonnull(strstr(e.msg, "z: the device table is full"));
	ck_assert_int_eq(t.n, DEVTABLE_MAX);
	devtable_unwind(&t);
	ck_assert_int_eq((int)strlen(order), DEVTABLE_MAX + 1);
}
END_TEST

CHECK_MAIN("devtable", test_unwinds_in_reverse_order_of_success,
	   test_full_table_undoes_the_newcomer)
