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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define BATCH	 64
#define MAX_SIZE 1472 /* one Ethernet frame: 1500 - IP (20) - UDP (8) */
/* rx gives up waiting for the first datagram after this long. */
#define RX_FIRST_WAIT_S 120
/* ...and ends once the sender has clearly stopped (not 1 s: under nested
   emulation the host side can pause for about that long). */
#define RX_IDLE_S 2.0
/* Per-second counts, so a stall shows (the average would hide it). */
#define MAX_BUCKETS 64

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line, so lines never interleave with kernel output. */
	if (write(STDOUT_FILENO, buf, (size_t)n) < 0) {
		/* Nowhere else to report it. */
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * The kernel opens /dev/console for init's stdio only if the initramfs has
 * that node (make-initramfs.sh can make it only when run as root); without
 * it, mount devtmpfs and open the console ourselves.
 */
static void setup_console(void)
{
	int fd;

	if (fcntl(STDOUT_FILENO, F_GETFD) >= 0)
		return;
	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0)
		mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static void count_at(unsigned long *buckets, double since, unsigned long n)
{
	long i = (long)since;

	if (i >= 0 && i < MAX_BUCKETS)
		buckets[i] += n;
}

/* "netbench: WHAT per second: a b c ..." for the seconds up to SECS. */
static void say_series(const char *what, const unsigned long *buckets, double secs)
{
	char line[MAX_BUCKETS * 12];
	size_t len = 0;
	long i, n = (long)secs + 1;

	if (n > MAX_BUCKETS)
		n = MAX_BUCKETS;
	line[0] = 0;
	for (i = 0; i < n && len < sizeof(line) - 12; i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %lu", buckets[i]);
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

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		say("netbench: socket: %s", strerror(errno));
	return fd;
}

/* rx,PORT,SECONDS */
static int step_rx(char **arg, int n)
{
	static char bufs[BATCH][2048];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200 * 1000};
	unsigned long port, secs, packets = 0, bytes = 0, buckets[MAX_BUCKETS] = {0};
	double start, first = 0, last = 0, t;
	int fd, size = 16 << 20, i;

	if (n != 3 || parse_uint(arg[1], 65535, &port) || parse_uint(arg[2], 3600, &secs) ||
	    !secs) {
		say("netbench: bad step, want rx,PORT,SECONDS");
		return -1;
	}
	fd = udp_socket();
	if (fd < 0)
		return -1;
	/* A deep queue, so bursts that the reader has not caught up with yet
	   are counted rather than dropped in the socket. FORCE ignores
	   rmem_max; init runs as root. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	/* recvmmsg wakes up now and then to check the clock. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		say("netbench: bind port %lu: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	say("netbench: rx ready on udp port %lu for %lu s", port, secs);
	start = now();
	for (;;) {
		int got = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);

		t = now();
		if (got > 0) {
			if (!packets)
				first = t;
			last = t;
			packets += (unsigned long)got;
			count_at(buckets, t - first, (unsigned long)got);
			for (i = 0; i < got; i++)
				bytes += msgs[i].msg_len;
		} else if (got < 0 && errno != EAGAIN && errno != EINTR) {
			say("netbench: recvmmsg: %s", strerror(errno));
			break;
		}
		if (!packets && t - start > RX_FIRST_WAIT_S)
			break;
		if (packets && (t - first >= (double)secs || t - last > RX_IDLE_S))
			break;
	}
	close(fd);
	/* The window is first to last datagram: the host sender's start-up
	   and the idle wait at the end do not dilute the rate. */
	t = last - first;
	say_series("received", buckets, t);
	say("netbench: received %lu packets (%lu bytes) in %.3f s = %.0f pps", packets, bytes, t,
	    t > 0 ? (double)packets / t : 0.0);
	return 0;
}

/* tx,IP,PORT,SECONDS,SIZE */
static int step_tx(char **arg, int n)
{
	static char payload[MAX_SIZE];
	struct mmsghdr msgs[BATCH];
	struct iovec iov;
	struct sockaddr_in dst = {.sin_family = AF_INET};
	unsigned long port, secs, size, packets = 0, calls = 0, enobufs = 0, other = 0;
	unsigned long buckets[MAX_BUCKETS] = {0};
	int fd, on = 1, i, last_err = 0;
	double start, end, t;

	if (n != 5 || inet_pton(AF_INET, arg[1], &dst.sin_addr) != 1 ||
	    parse_uint(arg[2], 65535, &port) || parse_uint(arg[3], 3600, &secs) || !secs ||
	    parse_uint(arg[4], MAX_SIZE, &size)) {
		say("netbench: bad step, want tx,IP,PORT,SECONDS,SIZE (SIZE <= %d)", MAX_SIZE);
		return -1;
	}
	dst.sin_port = htons((unsigned short)port);
	fd = udp_socket();
	if (fd < 0)
		return -1;
	/* Without IP_RECVERR, UDP hides qdisc drops (ENOBUFS) from the
	   sender; with it they come back as errors we can count. */
	setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
	/* connect() once instead of a route lookup per datagram. eth0 has its
	   address before init runs, but the first connect can still race the
	   route on a slow boot, so retry for a few seconds. */
	for (i = 0; connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0; i++) {
		if (i == 50 || (errno != ENETUNREACH && errno != EHOSTUNREACH)) {
			say("netbench: connect %s:%lu: %s", arg[1], port, strerror(errno));
			close(fd);
			return -1;
		}
		sleep_s(0.1);
	}
	memset(payload, 'n', sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = size;
	for (i = 0; i < BATCH; i++) {
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	say("netbench: tx to %s:%lu, %lu-byte datagrams, for %lu s", arg[1], port, size, secs);
	start = now();
	end = start + (double)secs;
	do {
		/* Blocking: when the NIC's queue and the qdisc are full the
		   socket's send buffer fills and this waits, so the rate is
		   what the device takes, not how fast we can fail. */
		int sent = sendmmsg(fd, msgs, BATCH, 0);
		int err = errno;

		calls++;
		t = now();
		if (sent > 0) {
			packets += (unsigned long)sent;
			count_at(buckets, t - start, (unsigned long)sent);
		} else if (sent < 0) {
			if (err == ENOBUFS)
				enobufs++;
			else if (err != EINTR) {
				/* e.g. ECONNREFUSED from an ICMP error before
				   the host's receiver was up: count, go on. */
				other++;
				last_err = err;
			}
		}
	} while (t < end);
	close(fd);
	t -= start;
	say_series("sent", buckets, t);
	say("netbench: sent %lu packets (%lu bytes) in %.3f s = %.0f pps (sendmmsg calls %lu, "
	    "ENOBUFS %lu, other errors %lu%s%s)",
	    packets, packets * size, t, (double)packets / t, calls, enobufs, other,
	    other ? ", last: " : "", other ? strerror(last_err) : "");
	return 0;
}

/* wait,PORT */
static int step_wait(char **arg, int n)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = RX_FIRST_WAIT_S};
	unsigned long port;
	char buf[64];
	int fd;

	if (n != 2 || parse_uint(arg[1], 65535, &port)) {
		say("netbench: bad step, want wait,PORT");
		return -1;
	}
	fd = udp_socket();
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin.sin_port = htons((unsigned short)port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		say("netbench: bind port %lu: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
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
	sleep_s((double)secs);
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
