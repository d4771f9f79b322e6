/*
 * udp_rate.h: what both ends of scripts/net-bench.sh share, the host's
 * tests/bench/udp_flood.c and the guest's tests/guest/netbench.c: UDP
 * sockets set up for the job, a sendmmsg loop that sends as fast as the
 * socket takes datagrams, and a recvmmsg loop that counts what arrives.
 *
 * Header-only (static functions): netbench is built apart from the rest,
 * as a static guest binary. The including file defines _GNU_SOURCE before
 * its first #include, and defines udp_rate_error() (declared below), which
 * reports a failure here: a message without a program prefix or newline.
 * The loops fill in a struct udp_rate; the callers print it, each in its
 * own words.
 */
#ifndef MINIVMM_TESTS_UDP_RATE_H
#define MINIVMM_TESTS_UDP_RATE_H

#ifndef _GNU_SOURCE
#error "udp_rate.h needs _GNU_SOURCE (sendmmsg, recvmmsg) defined before any #include"
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UDP_RATE_BATCH	  64
#define UDP_RATE_MAX_SIZE 1472 /* one Ethernet frame: 1500 - IP (20) - UDP (8) */
/* A receiver gives up waiting for the first datagram after this long... */
#define UDP_RATE_FIRST_WAIT_S 120
/* ...and ends once the sender has clearly stopped (not 1 s: under nested
   emulation either side can pause for about that long). */
#define UDP_RATE_IDLE_S 2.0
/* Per-second counts, so a stall shows (the average would hide it). */
#define UDP_RATE_BUCKETS 64

struct udp_rate {
	unsigned long packets, bytes;
	/* The window measured: the sender's whole run; for the receiver, first
	   to last datagram, so the sender's start-up and the idle wait at the
	   end do not dilute the rate. */
	double secs;
	unsigned long buckets[UDP_RATE_BUCKETS]; /* packets per second of secs */
	/* Sender only: sendmmsg calls, ENOBUFS (qdisc drops), other errors. */
	unsigned long calls, enobufs, other;
	int last_err; /* errno of the last "other" error */
};

static void udp_rate_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static double udp_rate_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void udp_rate_sleep(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void udp_rate_count(struct udp_rate *r, double since, unsigned long n)
{
	long i = (long)since;

	if (i >= 0 && i < UDP_RATE_BUCKETS)
		r->buckets[i] += n;
}

/* " a b c ..." into LINE: the per-second counts for the seconds of r->secs. */
static void udp_rate_series(const struct udp_rate *r, char *line, size_t size)
{
	size_t len = 0;
	long i, n = (long)r->secs + 1;

	if (n > UDP_RATE_BUCKETS)
		n = UDP_RATE_BUCKETS;
	line[0] = 0;
	for (i = 0; i < n && len + 21 < size; i++)
		len += (size_t)snprintf(line + len, size - len, " %lu", r->buckets[i]);
}

/* A UDP socket bound to PORT on every address, its receive timeout
   TIMEOUT. Returns it, or -1 (reported). */
static int udp_rate_bind(unsigned long port, const struct timeval *timeout)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0) {
		udp_rate_error("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, sizeof(*timeout));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		udp_rate_error("bind port %lu: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The socket for udp_rate_recv() on PORT. Returns it, or -1 (reported). */
static int udp_rate_rx_socket(unsigned long port)
{
	/* recvmmsg wakes up now and then to look at the clock. */
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
	int fd = udp_rate_bind(port, &tv), size = 16 << 20;

	if (fd < 0)
		return -1;
	/* A deep queue, so bursts that the reader has not caught up with yet
	   are counted rather than dropped in the socket. FORCE (root) ignores
	   rmem_max; the plain one is the fallback. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return fd;
}

/* Counts the datagrams arriving on FD (from udp_rate_rx_socket()) for SECS
   from the first one, or until none came for UDP_RATE_IDLE_S, or none at
   all for UDP_RATE_FIRST_WAIT_S. Closes FD. */
static void udp_rate_recv(int fd, unsigned long secs, struct udp_rate *r)
{
	static char bufs[UDP_RATE_BATCH][2048];
	struct mmsghdr msgs[UDP_RATE_BATCH];
	struct iovec iov[UDP_RATE_BATCH];
	double start, first = 0, last = 0, t;
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < UDP_RATE_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = udp_rate_now();
	for (;;) {
		int got = recvmmsg(fd, msgs, UDP_RATE_BATCH, MSG_WAITFORONE, NULL);

		t = udp_rate_now();
		if (got > 0) {
			if (!r->packets)
				first = t;
			last = t;
			r->packets += (unsigned long)got;
			udp_rate_count(r, t - first, (unsigned long)got);
			for (i = 0; i < got; i++)
				r->bytes += msgs[i].msg_len;
		} else if (got < 0 && errno != EAGAIN && errno != EINTR) {
			udp_rate_error("recvmmsg: %s", strerror(errno));
			break;
		}
		if (!r->packets && t - start > UDP_RATE_FIRST_WAIT_S)
			break;
		if (r->packets && (t - first >= (double)secs || t - last > UDP_RATE_IDLE_S))
			break;
	}
	close(fd);
	r->secs = last - first;
}

/* A UDP socket connected to DST (IP as text, for messages), retrying
   RETRIES times 0.1 s apart while there is no route yet. Returns it, or -1
   (reported). */
static int udp_rate_tx_socket(const struct sockaddr_in *dst, const char *ip, int retries)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), on = 1, i;

	if (fd < 0) {
		udp_rate_error("socket: %s", strerror(errno));
		return -1;
	}
	/* Without IP_RECVERR, UDP hides qdisc drops (ENOBUFS) from the
	   sender; with it they come back as errors we can count. */
	setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	/* connect() once instead of a route lookup per datagram. */
	for (i = 0; connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0; i++) {
		if (i == retries || (errno != ENETUNREACH && errno != EHOSTUNREACH)) {
			udp_rate_error("connect %s:%lu: %s", ip,
				       (unsigned long)ntohs(dst->sin_port), strerror(errno));
			close(fd);
			return -1;
		}
		udp_rate_sleep(0.1);
	}
	return fd;
}

/* Sends SIZE-byte datagrams of FILL bytes on FD (from udp_rate_tx_socket())
   in batches for SECS, and closes it. */
static void udp_rate_send(int fd, unsigned long secs, size_t size, char fill, struct udp_rate *r)
{
	static char payload[UDP_RATE_MAX_SIZE];
	struct mmsghdr msgs[UDP_RATE_BATCH];
	struct iovec iov;
	double start, end, t;
	int i;

	memset(r, 0, sizeof(*r));
	memset(payload, fill, sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = size < sizeof(payload) ? size : sizeof(payload);
	for (i = 0; i < UDP_RATE_BATCH; i++) {
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	start = udp_rate_now();
	end = start + (double)secs;
	do {
		/* Blocking: when the queues below are full the socket's send
		   buffer fills and this waits, so the rate is what the path
		   takes, not how fast we can fail. */
		int sent = sendmmsg(fd, msgs, UDP_RATE_BATCH, 0);
		int err = errno;

		r->calls++;
		t = udp_rate_now();
		if (sent > 0) {
			r->packets += (unsigned long)sent;
			r->bytes += (unsigned long)sent * iov.iov_len;
			udp_rate_count(r, t - start, (unsigned long)sent);
		} else if (sent < 0) {
			if (err == ENOBUFS)
				r->enobufs++;
			else if (err != EINTR) {
				/* e.g. ECONNREFUSED: an ICMP port unreachable
				   came back before the receiver was bound.
				   Count it and go on. */
				r->other++;
				r->last_err = err;
			}
		}
	} while (t < end);
	close(fd);
	r->secs = t - start;
}

#endif
