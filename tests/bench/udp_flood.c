/*
 * udp_flood: the host side of scripts/net-bench.sh.
 *
 *   udp_flood send IP PORT SECONDS SIZE   blast SIZE-byte UDP datagrams at
 *                                         IP:PORT for SECONDS
 *   udp_flood recv PORT SECONDS           count datagrams arriving on PORT
 *                                         for SECONDS from the first one
 *
 * Each prints one "udp_flood: ..." summary line on stdout. Sending uses
 * sendmmsg in batches of 64 on a blocking socket: the host side of a TAP
 * never pushes back (the TAP drops what its reader has not taken), so this
 * runs at the rate the host stack can produce and the TAP's tx_dropped
 * shows what the guest side could not keep up with.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udp_rate.h"

static void udp_rate_error(const char *fmt, ...)
{
	va_list ap;

	fputs("udp_flood: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static unsigned long arg_uint(const char *s, unsigned long min, unsigned long max, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max) {
		fprintf(stderr, "udp_flood: %s: '%s' is not a number in %lu..%lu\n", what, s, min,
			max);
		exit(2);
	}
	return v;
}

static int do_send(const char *ip, unsigned long port, unsigned long secs, unsigned long size)
{
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	struct udp_rate r;
	int fd;

	if (inet_pton(AF_INET, ip, &dst.sin_addr) != 1) {
		fprintf(stderr, "udp_flood: '%s' is not an IPv4 address\n", ip);
		return 2;
	}
	fd = udp_rate_tx_socket(&dst, ip, 0);
	if (fd < 0)
		return 1;
	udp_rate_send(fd, secs, size, 'h', &r);
	printf("udp_flood: sent %lu packets (%lu bytes) in %.3f s = %.0f pps (ENOBUFS %lu, other "
	       "errors %lu%s%s)\n",
	       r.packets, r.bytes, r.secs, (double)r.packets / r.secs, r.enobufs, r.other,
	       r.other ? ", last: " : "", r.other ? strerror(r.last_err) : "");
	return 0;
}

static int do_recv(unsigned long port, unsigned long secs)
{
	char series[UDP_RATE_BUCKETS * 22];
	struct udp_rate r;
	int fd = udp_rate_rx_socket(port);

	if (fd < 0)
		return 1;
	/* The caller waits for this line before starting the sender. */
	printf("udp_flood: listening on udp port %lu\n", port);
	fflush(stdout);
	udp_rate_recv(fd, secs, &r);
	udp_rate_series(&r, series, sizeof(series));
	printf("udp_flood: received per second:%s\n", series);
	printf("udp_flood: received %lu packets (%lu bytes) in %.3f s = %.0f pps\n", r.packets,
	       r.bytes, r.secs, r.secs > 0 ? (double)r.packets / r.secs : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "send"))
		return do_send(argv[2], arg_uint(argv[3], 1, 65535, "PORT"),
			       arg_uint(argv[4], 1, 3600, "SECONDS"),
			       arg_uint(argv[5], 0, UDP_RATE_MAX_SIZE, "SIZE"));
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return do_recv(arg_uint(argv[2], 1, 65535, "PORT"),
			       arg_uint(argv[3], 1, 3600, "SECONDS"));
	fprintf(stderr, "usage: udp_flood send IP PORT SECONDS SIZE\n"
			"       udp_flood recv PORT SECONDS\n");
	return 2;
}
