/*
 * netbench: the guest's /init for scripts/net-bench.sh. It measures UDP
 * packet rates through minivmm's virtio-net NIC from inside the guest.
 *
 * The kernel hands unknown key=value words of its command line to init as
 * environment variables, so the job comes in as one variable:
 *
 *   netbench=STEP[+STEP...]
 *     rx,PORT,SECONDS              count UDP datagrams arriving on PORT for
 *                                  SECONDS from the first one (or until none
 *                                  came for a second)
 *     tx,IP,PORT,SECONDS,SIZE      send SIZE-byte UDP datagrams to IP:PORT as
 *                                  fast as the socket takes them, for SECONDS
 *     wait,PORT                    wait for any one UDP datagram on PORT: the
 *                                  host's "go" once its receiver is up (a
 *                                  fixed pause would not do: under nested
 *                                  emulation the host's side can lag by
 *                                  seconds)
 *     sleep,SECONDS                pause
 *
 * Each step prints one "netbench: ..." line on the console, which the host
 * script parses. The kernel configures eth0 itself from ip= before running
 * init, so no network setup happens here. Init must never exit (the kernel
 * would panic), so after the last step it sleeps forever.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "guest_console.h"
#include "udp_rate.h"

/* udp_rate.h's failures, as "netbench: ..." lines. */
static void udp_rate_error(const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("netbench: %s", buf);
}

/* "netbench: WHAT per second: a b c ..." for the seconds R measured. */
static void say_series(const char *what, const struct udp_rate *r)
{
	char line[UDP_RATE_BUCKETS * 22];

	udp_rate_series(r, line, sizeof(line));
	say("netbench: %s per second:%s", what, line);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* rx,PORT,SECONDS */
static int step_rx(char **arg, int n)
{
	unsigned long port, secs;
	struct udp_rate r;
	int fd;

	if (n != 3 || parse_uint(arg[1], 65535, &port) || parse_uint(arg[2], 3600, &secs) ||
	    !secs) {
		say("netbench: bad step, want rx,PORT,SECONDS");
		return -1;
	}
	fd = udp_rate_rx_socket(port);
	if (fd < 0)
		return -1;
	say("netbench: rx ready on udp port %lu for %lu s", port, secs);
	udp_rate_recv(fd, secs, &r);
	say_series("received", &r);
	say("netbench: received %lu packets (%lu bytes) in %.3f s = %.0f pps", r.packets, r.bytes,
	    r.secs, r.secs > 0 ? (double)r.packets / r.secs : 0.0);
	return 0;
}

/* tx,IP,PORT,SECONDS,SIZE */
static int step_tx(char **arg, int n)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	unsigned long port, secs, size;
	struct udp_rate r;
	int fd;

	if (n != 5 || inet_pton(AF_INET, arg[1], &dst.sin_addr) != 1 ||
	    parse_uint(arg[2], 65535, &port) || parse_uint(arg[3], 3600, &secs) || !secs ||
	    parse_uint(arg[4], UDP_RATE_MAX_SIZE, &size)) {
		say("netbench: bad step, want tx,IP,PORT,SECONDS,SIZE (SIZE <= %d)",
		    UDP_RATE_MAX_SIZE);
		return -1;
	}
	dst.sin_port = htons((unsigned short)port);
	/* eth0 has its address before init runs, but the first connect can
	   still race the route on a slow boot: retry for a few seconds. */
	fd = udp_rate_tx_socket(&dst, arg[1], 50);
	if (fd < 0)
		return -1;
	say("netbench: tx to %s:%lu, %lu-byte datagrams, for %lu s", arg[1], port, size, secs);
	udp_rate_send(fd, secs, size, 'n', &r);
	say_series("sent", &r);
	say("netbench: sent %lu packets (%lu bytes) in %.3f s = %.0f pps (sendmmsg calls %lu, "
	    "ENOBUFS %lu, other errors %lu%s%s)",
	    r.packets, r.bytes, r.secs, (double)r.packets / r.secs, r.calls, r.enobufs, r.other,
	    r.other ? ", last: " : "", r.other ? strerror(r.last_err) : "");
	return 0;
}

/* wait,PORT */
static int step_wait(char **arg, int n)
{
	struct timeval tv = {.tv_sec = UDP_RATE_FIRST_WAIT_S};
	unsigned long port;
	char buf[64];
	int fd;

	if (n != 2 || parse_uint(arg[1], 65535, &port)) {
		say("netbench: bad step, want wait,PORT");
		return -1;
	}
	fd = udp_rate_bind(port, &tv);
	if (fd < 0)
		return -1;
	say("netbench: waiting for a go on udp port %lu", port);
	while (recv(fd, buf, sizeof(buf), 0) < 0) {
		if (errno != EINTR) {
			say("netbench: no go on udp port %lu: %s", port, strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* sleep,SECONDS */
static int step_sleep(char **arg, int n)
{
	unsigned long secs;

	if (n != 2 || parse_uint(arg[1], 3600, &secs)) {
		say("netbench: bad step, want sleep,SECONDS");
		return -1;
	}
	udp_rate_sleep((double)secs);
	return 0;
}

static int run_step(char *step)
{
	char *arg[8], *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(step, ",", &save); tok && n < 8; tok = strtok_r(NULL, ",", &save))
		arg[n++] = tok;
	if (n == 0)
		return -1;
	if (!strcmp(arg[0], "rx"))
		return step_rx(arg, n);
	if (!strcmp(arg[0], "tx"))
		return step_tx(arg, n);
	if (!strcmp(arg[0], "wait"))
		return step_wait(arg, n);
	if (!strcmp(arg[0], "sleep"))
		return step_sleep(arg, n);
	say("netbench: unknown step '%s'", arg[0]);
	return -1;
}

int main(void)
{
	const char *job = getenv("netbench");
	char *copy, *save = NULL, *step;

	setup_console();
	if (!job) {
		say("netbench: no netbench= on the kernel command line; idle");
	} else {
		copy = strdup(job);
		for (step = strtok_r(copy, "+", &save); step; step = strtok_r(NULL, "+", &save))
			if (run_step(step) < 0)
				break;
		free(copy);
	}
	say("netbench: done");
	for (;;)
		pause();
}
