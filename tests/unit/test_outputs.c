/* vmm/outputs.c: stdout and stderr that never block their writers, with a
 * real pipe standing in for a reader that stalls. A blocked write would hang
 * the test, which Check's timeout then fails. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "vmm/outputs.h"
#include "vmm/vcpu.h"

static int saved_out, saved_err;

static void setup(void)
{
	vcpu_kick_install(VCPU_KICK_SIGNAL);
	saved_out = dup(STDOUT_FILENO);
	saved_err = dup(STDERR_FILENO);
}

static void teardown(void)
{
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
}

static ino_t ino(int fd)
{
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

/* Nobody reads: writes go on returning at once, what does not fit is
 * refused with EAGAIN, and stopping gives up on the rest after the drain
 * time. The original stdout is back afterwards. */
START_TEST(test_stalled_reader_never_blocks)
{
	int stalled[2];
	ck_assert_int_eq(pipe2(stalled, O_CLOEXEC), 0);
	dup2(stalled[1], STDOUT_FILENO);
	struct outputs o;
	struct errbuf e;
	ck_assert_int_eq(outputs_start(&o, VCPU_KICK_SIGNAL, true, &e), 0);
	ck_assert(ino(STDOUT_FILENO) != ino(stalled[1]));
	static char chunk[4096];
	memset(chunk, 'x', sizeof(chunk));
	int refused = 0;
	for (int i = 0; i < 1024; i++) /* 4 MiB, far more than both pipes hold */
		if (write(STDOUT_FILENO, chunk, sizeof(chunk)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			refused++;
		}
	ck_assert_int_gt(refused, 0);
	outputs_stop(&o, 100);
	ck_assert(ino(STDOUT_FILENO) == ino(stalled[1]));
	close(stalled[0]);
	close(stalled[1]);
}
END_TEST

/* With a reader, everything written before the stop arrives, in order. */
START_TEST(test_everything_arrives)
{
	int out[2], err[2];
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	dup2(out[1], STDOUT_FILENO);
	dup2(err[1], STDERR_FILENO);
	struct outputs o;
	struct errbuf e;
	ck_assert_int_eq(outputs_start(&o, VCPU_KICK_SIGNAL, true, &e), 0);
	ck_assert_int_eq(write(STDOUT_FILENO, "console ", 8), 8);
	fprintf(stderr, "a report\n");
	ck_assert_int_eq(write(STDOUT_FILENO, "line\n", 5), 5);
	outputs_stop(&o, 2000);
	close(out[1]);
	close(err[1]);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	char buf[64] = "";
	ck_assert_int_eq(read(out[0], buf, sizeof(buf) - 1), 13);
	ck_assert_str_eq(buf, "console line\n");
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(read(err[0], buf, sizeof(buf) - 1), 9);
	ck_assert_str_eq(buf, "a report\n");
	close(out[0]);
	close(err[0]);
}
END_TEST

/* minivmm started with stdout closed: its output goes nowhere, quietly. */
START_TEST(test_closed_stdout)
{
	close(STDOUT_FILENO);
	struct outputs o;
	struct errbuf e;
	ck_assert_int_eq(outputs_start(&o, VCPU_KICK_SIGNAL, true, &e), 0);
	struct stat st;
	ck_assert_int_eq(fstat(o.real[0], &st), 0);
	ck_assert_msg(S_ISCHR(st.st_mode), "the kept stdout is not /dev/null");
	ck_assert_int_eq(write(STDOUT_FILENO, "x", 1), 1);
	outputs_stop(&o, 2000);
}
END_TEST

START_TEST(test_stop_without_start)
{
	struct outputs o = {.started = false};
	outputs_stop(&o, 10);
}
END_TEST

CHECK_MAIN_WITH("outputs", setup, teardown, 20, test_stalled_reader_never_blocks,
		test_everything_arrives, test_closed_stdout, test_stop_without_start)
