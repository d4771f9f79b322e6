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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH	 64
#define MAX_SIZE 1472 /* one Ethernet frame: 1500 - IP (20) - UDP (8) */
/* recv gives up waiting for the first datagram after this long... */
#define FIRST_WAIT_S 120
/* ...and ends once the sender has clearly stopped (not 1 s: under nested
   emulation the guest can pause for about that long). */
#define IDLE_S 2.0
/* Per-second counts, so a stall shows (the average would hide it). */
#define MAX_BUCKETS 64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
	static char payload[MAX_SIZE];
	struct mmsghdr msgs[BATCH];
	struct iovec iov;
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	unsigned long packets = 0, enobufs = 0, other = 0;
	int fd, on = 1, i, last_err = 0;
	double start, end, t;

	if (inet_pton(AF_INET, ip, &dst.sin_addr) != 1) {
		fprintf(stderr, "udp_flood: '%s' is not an IPv4 address\n", ip);
		return 2;
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp_flood: socket");
		return 1;
	}
	/* Count qdisc drops (ENOBUFS), which UDP otherwise hides. */
	setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		fprintf(stderr, "udp_flood: connect %s:%lu: %s\n", ip, port, strerror(errno));
		close(fd);
		return 1;
	}
	memset(payload, 'h', sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = size;
	for (i = 0; i < BATCH; i++) {
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = now();
	end = start + (double)secs;
	do {
		int sent = sendmmsg(fd, msgs, BATCH, 0);

		if (sent > 0) {
			packets += (unsigned long)sent;
		} else if (sent < 0 && errno == ENOBUFS) {
			enobufs++;
		} else if (sent < 0 && errno != EINTR) {
			/* e.g. ECONNREFUSED: an ICMP port unreachable came
			   back before the guest's receiver was bound. */
			other++;
			last_err = errno;
		}
		t = now();
	} while (t < end);
	close(fd);
	t -= start;
	printf("udp_flood: sent %lu packets (%lu bytes) in %.3f s = %.0f pps (ENOBUFS %lu, other "
	       "errors %lu%s%s)\n",
	       packets, packets * size, t, (double)packets / t, enobufs, other,
	       other ? ", last: " : "", other ? strerror(last_err) : "");
	return 0;
}

static int do_recv(unsigned long port, unsigned long secs)
{
	static char bufs[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
	unsigned long packets = 0, bytes = 0, buckets[MAX_BUCKETS] = {0};
	double start, first = 0, last = 0, t;
	int fd, size = 16 << 20, i;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp_flood: socket");
		return 1;
	}
	/* A deep queue so a burst is counted rather than dropped in the
	   socket; FORCE (root) ignores rmem_max, the plain one is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	/* Wake up now and then to look at the clock. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		fprintf(stderr, "udp_flood: bind port %lu: %s\n", port, strerror(errno));
		close(fd);
		return 1;
	}
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* The caller waits for this line before starting the sender. */
	printf("udp_flood: listening on udp port %lu\n", port);
	fflush(stdout);
	start = now();
	for (;;) {
		int got = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);

		t = now();
		if (got > 0) {
			if (!packets)
				first = t;
			last = t;
			packets += (unsigned long)got;
			if (t - first < MAX_BUCKETS)
				buckets[(int)(t - first)] += (unsigned long)got;
			for (i = 0; i < got; i++)
				bytes += msgs[i].msg_len;
		} else if (got < 0 && errno != EAGAIN && errno != EINTR) {
			perror("udp_flood: recvmmsg");
			break;
		}
		if (!packets && t - start > FIRST_WAIT_S)
			break;
		if (packets && (t - first >= (double)secs || t - last > IDLE_S))
			break;
	}
	close(fd);
	/* First to last datagram: the sender's start-up and our idle wait at
	   the end do not dilute the rate. */
	t = last - first;
	printf("udp_flood: received per second:");
	for (i = 0; i <= (int)t && i < MAX_BUCKETS; i++)
		printf(" %lu", buckets[i]);
	printf("\n");
	printf("udp_flood: received %lu packets (%lu bytes) in %.3f s = %.0f pps\n", packets, bytes,
	       t, t > 0 ? (double)packets / t : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "send"))
		return do_send(argv[2], arg_uint(argv[3], 1, 65535, "PORT"),
			       arg_uint(argv[4], 1, 3600, "SECONDS"),
			       arg_uint(argv[5], 0, MAX_SIZE, "SIZE"));
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return do_recv(arg_uint(argv[2], 1, 65535, "PORT"),
			       arg_uint(argv[3], 1, 3600, "SECONDS"));
	fprintf(stderr, "usage: udp_flood send IP PORT SECONDS SIZE\n"
			"       udp_flood recv PORT SECONDS\n");
	return 2;
}
