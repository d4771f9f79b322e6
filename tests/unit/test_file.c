#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "vmm/cli.h"
#include "vmm/file.h"

static char dir[] = "/tmp/test_file.XXXXXX";

static void make_dir(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* --kernel and --initrd name a FIFO nobody writes to: refused at once, as
 * any other file that is not a regular one. Opening it to look would wait
 * for a writer, with the stop signals blocked (set-up takes them between
 * steps), so only SIGKILL would end minivmm. */
START_TEST(test_read_fifo_refused)
{
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	uint8_t *buf = (uint8_t *)"x";
	size_t len = 7;
	struct errbuf e = {""};
	ck_assert_int_eq(file_read_all("--kernel", path, &buf, &len, &e), -1);
	ck_assert_msg_has(e, "--kernel");
	ck_assert_msg_has(e, path);
	ck_assert_msg_has(e, "not a regular file");
	ck_assert_ptr_null(buf);
	ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_read_regular)
{
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/k", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("kernel", f);
	fclose(f);
	uint8_t *buf;
	size_t len;
	struct errbuf e = {""};
	ck_assert_msg(file_read_all("--kernel", path, &buf, &len, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(len, 6);
	ck_assert_mem_eq(buf, "kernel", 6);
	free(buf);
}
END_TEST

/* --stats=json:PATH on a FIFO: opened at start without waiting for a
 * reader; refused if there is none (the report could never be written). */
START_TEST(test_stats_fifo)
{
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/stats", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	bool created = true;
	struct errbuf e = {""};
	ck_assert_int_eq(cli_open_stats(path, &created, &e), -1);
	ck_assert_msg_has(e, "--stats=json:");
	ck_assert_msg_has(e, path);
	ck_assert_msg_has(e, "nobody reads");
	ck_assert(!created);
	int r = open(path, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(r, 0);
	int fd = cli_open_stats(path, &created, &e);
	ck_assert_msg(fd >= 0, "%s", e.msg);
	ck_assert(!created);
	FILE *f = file_stream_within(fd, 1000);
	ck_assert_ptr_nonnull(f);
	fputs("{}\n", f);
	ck_assert_int_eq(fflush(f), 0);
	ck_assert(!ferror(f));
	ck_assert_int_eq(fclose(f), 0);
	char got[8] = "";
	ck_assert_int_eq(read(r, got, sizeof(got)), 3);
	ck_assert_mem_eq(got, "{}\n", 3);
	close(r);
}
END_TEST

/* A report to a reader that stopped reading: the stream gives up after its
 * time, the rest is not written, and the stream's error flag says so. Without the bound
 * the write would wait for the reader for good (past the test's limit). */
START_TEST(test_stream_gives_up_on_stalled_reader)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	FILE *f = file_stream_within(p[1], 300);
	ck_assert_ptr_nonnull(f);
	double t0 = now_s();
	static char big[256 * 1024];
	memset(big, 'x', sizeof(big));
	errno = 0;
	ck_assert_uint_lt(fwrite(big, 1, sizeof(big), f), sizeof(big));
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert(ferror(f));
	fclose(f);
	double took = now_s() - t0;
	ck_assert_msg(took >= 0.25 && took < 2.0, "gave up after %.3f s", took);
	/* What fitted went out; the write end is closed. */
	char buf[8192];
	ssize_t n, total = 0;
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		total += n;
	ck_assert_int_eq(n, 0);
	ck_assert_int_ge(total, 4096);
	ck_assert_int_lt(total, (ssize_t)sizeof(big));
	close(p[0]);
}
END_TEST

/* A reader that takes everything: the whole report, in order. */
START_TEST(test_stream_complete)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	FILE *f = file_stream_within(p[1], 1000);
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 1000; i++)
		fprintf(f, "%04d\n", i);
	ck_assert(!ferror(f));
	ck_assert_int_eq(fclose(f), 0);
	static char got[6000];
	ssize_t n, total = 0;
	while ((n = read(p[0], got + total, sizeof(got) - (size_t)total)) > 0)
		total += n;
	ck_assert_int_eq(total, 5000);
	ck_assert_mem_eq(got + 5 * 999, "0999\n", 5);
	close(p[0]);
}
END_TEST

/* --stats=json:/dev/stdout, or the file stdout goes to: told apart from
 * any other file by what it is, not by its name. */
START_TEST(test_stats_stream)
{
	char path[sizeof(dir) + 16], other[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/log", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	int log = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(log, 0);
	int saved = dup(2);
	ck_assert_int_eq(dup2(log, 2), 2); /* this test's stderr is the log */
	bool created;
	struct errbuf e = {""};
	int fd = cli_open_stats(path, &created, &e);
	int same = cli_stats_stream(fd);
	int o = cli_open_stats(other, &created, &e);
	int differ = cli_stats_stream(o);
	int dev = open("/dev/stderr", O_WRONLY);
	int via_dev = cli_stats_stream(dev);
	dup2(saved, 2);
	ck_assert_int_eq(same, 2);
	ck_assert_int_eq(differ, 0);
	ck_assert_int_eq(via_dev, 2);
	close(fd);
	close(o);
	close(dev);
	close(log);
	close(saved);
}
END_TEST

CHECK_MAIN_FIXTURE("file", make_dir, remove_dir, test_read_fifo_refused, test_read_regular,
		   test_stats_fifo, test_stream_gives_up_on_stalled_reader, test_stream_complete,
		   test_stats_stream)
