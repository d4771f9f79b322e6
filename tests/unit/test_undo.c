/* net/undo.c: the clean-up process takes records until the seal and none
 * after, refuses names ovs-vsctl would read as options, and acts on what it
 * took once minivmm's end of the socket closes. No Open vSwitch is reached:
 * OVS_RUNDIR names an empty directory, so each del-port it tries fails at
 * once, and its message on stderr shows that it tried. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "net/undo.h"

static int saved_err;
static char dir[] = "/tmp/test_undo.XXXXXX";
static char log_path[64];

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("OVS_RUNDIR", dir, 1);
	snprintf(log_path, sizeof(log_path), "%s/stderr", dir);
	saved_err = dup(STDERR_FILENO);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void teardown(void)
{
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	unlink(log_path);
	rmdir(dir);
}

/* What the child printed. */
static const char *child_said(void)
{
	static char buf[4096];
	int fd = open(log_path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static const struct bridge_port port = {.kind = BRIDGE_OVS, .bridge = "mvnobr", .port = "mvnop"};

static void start(struct net_undo *u)
{
	struct errbuf e;
	ck_assert_msg(net_undo_start(u, &e) == 0, "%s", e.msg);
	ck_assert_int_gt(u->pid, 0);
}

static void finish(struct net_undo *u)
{
	net_undo_finish(u, 10000);
	ck_assert_int_eq(u->pid, 0); /* done and reaped */
	ck_assert_int_eq(u->fd, -1);
}

/* A port recorded during set-up is taken out at the end. */
START_TEST(test_recorded_port_is_removed)
{
	struct net_undo u;
	struct errbuf e;
	start(&u);
	ck_assert_int_eq(net_undo_port(&u, &port, &e), 0);
	ck_assert_int_eq(net_undo_seal(&u, &e), 0);
	finish(&u);
	const char *s = child_said();
	ck_assert_msg(strstr(s, "--bridge mvnobr: cannot remove port mvnop"), "stderr: %s", s);
}
END_TEST

/* An attach that failed and undid itself is forgotten. */
START_TEST(test_forgotten_port_is_left)
{
	struct net_undo u;
	struct errbuf e;
	start(&u);
	ck_assert_int_eq(net_undo_port(&u, &port, &e), 0);
	ck_assert_int_eq(net_undo_forget_port(&u, &e), 0);
	finish(&u);
	ck_assert_str_eq(child_said(), "");
}
END_TEST

/* After the seal, as from a thread a guest took over: ignored, and said. */
START_TEST(test_records_after_seal_are_ignored)
{
	struct net_undo u;
	struct errbuf e;
	start(&u);
	ck_assert_int_eq(net_undo_seal(&u, &e), 0);
	ck_assert_int_eq(net_undo_port(&u, &port, &e), 0);
	finish(&u);
	const char *s = child_said();
	ck_assert_msg(strstr(s, "ignored a record (kind 1, ") && strstr(s, "after set-up ended"),
		      "stderr: %s", s);
	ck_assert_msg(!strstr(s, "cannot remove port"), "stderr: %s", s);
}
END_TEST

/* Names ovs-vsctl would take for options, or without their NUL. */
START_TEST(test_bad_names_are_ignored)
{
	struct net_undo u;
	struct errbuf e;
	start(&u);
	struct bridge_port bad = port;
	snprintf(bad.port, sizeof(bad.port), "--db=x");
	ck_assert_int_eq(net_undo_port(&u, &bad, &e), 0);
	bad = port;
	memset(bad.bridge, 'b', sizeof(bad.bridge));
	ck_assert_int_eq(net_undo_port(&u, &bad, &e), 0);
	bad = port;
	bad.kind = BRIDGE_NONE;
	ck_assert_int_eq(net_undo_port(&u, &bad, &e), 0);
	finish(&u);
	const char *s = child_said();
	ck_assert_msg(!strstr(s, "cannot remove port"), "stderr: %s", s);
	int n = 0;
	for (const char *p = s; (p = strstr(p, "ignored a record")); p++)
		n++;
	ck_assert_msg(n == 3, "stderr: %s", s);
}
END_TEST

START_TEST(test_finish_without_start)
{
	struct net_undo u = {.pid = 0, .fd = -1};
	net_undo_finish(&u, 10);
	ck_assert_int_eq(u.fd, -1);
}
END_TEST

CHECK_MAIN_WITH("undo", setup, teardown, 30, test_recorded_port_is_removed,
		test_forgotten_port_is_left, test_records_after_seal_are_ignored,
		test_bad_names_are_ignored, test_finish_without_start)
