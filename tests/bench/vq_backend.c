#define _GNU_SOURCE /* unshare, sendmmsg, recvmmsg */
#include "vq_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/link.h"

#define TAP_NAME "mvqbench0"
#define HDR	 sizeof(struct virtio_net_hdr_mrg_rxbuf)
#define MMSG	 64 /* frames per sendmmsg/recvmmsg */
#define SNDBUF	 (8 << 20)

/* ---- a TAP in a namespace of our own ------------------------------------ */

/* Best effort: a sysctl of the new namespace (/proc/sys/net follows the
 * caller's network namespace). */
static void sysctl_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, value, strlen(value)) < 0) {
		/* Not fatal: without it, the kernel may queue an IPv6
		 * router solicitation on the TAP, which the RX phases count
		 * as a stray frame. */
	}
	close(fd);
}

static int private_netns(struct errbuf *e)
{
	if (unshare(CLONE_NEWNET) == 0)
		return 0;
	int err = errno;
	/* Without CAP_SYS_ADMIN, a user namespace of our own gives it, where
	 * the system allows unprivileged user namespaces. Only a
	 * single-threaded process may do this: hence "before any thread". */
	if (err == EPERM && unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0)
		return 0;
	return errorf(e, "cannot make a private network namespace: %s", strerror(err));
}

static int open_tap(struct vq_backend *b, struct errbuf *e)
{
	if (private_netns(e))
		return -1;
	/* The namespace is empty and ours alone: nothing but our frames should
	 * reach the TAP's queue. IPv6 would send router solicitations and MLD
	 * reports on a link that comes up. */
	sysctl_write("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	sysctl_write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	if (link_set_up("lo", e) || tap_open(&b->tap, TAP_NAME, e) || link_set_up(TAP_NAME, e))
		return -1;
	b->fd = b->tap.fd;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_ifindex = (int)if_nametoindex(TAP_NAME)};
	/* Protocol 0: the socket only sends, it receives nothing. */
	b->feed_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (b->feed_fd < 0 || bind(b->feed_fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return errorf_errno(e, "AF_PACKET socket on %s", TAP_NAME);
	/* Straight to the tun driver's xmit, no qdisc in between: then a
	 * frame the TAP's queue cannot take fails the send (ENOBUFS) instead
	 * of vanishing. */
	int one = 1;
	if (setsockopt(b->feed_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		return errorf_errno(e, "PACKET_QDISC_BYPASS");
	return 0;
}

/* ---- the stand-in: a datagram socketpair ------------------------------- */

static void *drain_main(void *arg)
{
	struct vq_backend *b = arg;
	uint8_t(*buf)[2048] = malloc(MMSG * sizeof(*buf));
	struct mmsghdr m[MMSG];
	struct iovec iov[MMSG];
	for (;;) {
		struct pollfd p[2] = {{.fd = b->feed_fd, .events = POLLIN},
				      {.fd = b->stop_fd, .events = POLLIN}};
		if (!buf || (poll(p, 2, -1) < 0 && errno != EINTR) || p[1].revents) {
			free(buf);
			return NULL;
		}
		for (int i = 0; i < MMSG; i++) {
			iov[i] = (struct iovec){buf[i], sizeof(buf[i])};
			m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		while (recvmmsg(b->feed_fd, m, MMSG, MSG_DONTWAIT, NULL) > 0)
			;
	}
}

static void big_sndbuf(int fd)
{
	int v = SNDBUF;
	/* FORCE needs CAP_NET_ADMIN; otherwise up to net.core.wmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int open_socketpair(struct vq_backend *b, struct errbuf *e)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return errorf_errno(e, "socketpair");
	b->fd = sv[0];
	b->feed_fd = sv[1];
	big_sndbuf(b->fd);
	big_sndbuf(b->feed_fd);
	b->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (b->stop_fd < 0)
		return errorf_errno(e, "eventfd");
	int r = pthread_create(&b->drainer, NULL, drain_main, b);
	if (r)
		return errorf(e, "cannot start the socketpair's drainer: %s", strerror(r));
	b->drainer_started = true;
	return 0;
}

/* ---- the interface -------------------------------------------------------- */

int vqb_open(struct vq_backend *b, enum vqb_kind kind, struct errbuf *e)
{
	memset(b, 0, sizeof(*b));
	b->fd = b->feed_fd = b->stop_fd = b->tap.fd = -1;
	if (kind != VQB_SOCKETPAIR) {
		struct errbuf why;
		if (open_tap(b, &why) == 0) {
			b->kind = VQB_TAP;
			return 0;
		}
		vqb_close(b);
		if (kind == VQB_TAP)
			return errorf(e, "backend tap: %s", why.msg);
		snprintf(b->why, sizeof(b->why), "%s", why.msg);
	} else {
		snprintf(b->why, sizeof(b->why), "asked for with --backend socketpair");
	}
	b->kind = VQB_SOCKETPAIR;
	return open_socketpair(b, e);
}

void vqb_close(struct vq_backend *b)
{
	if (b->drainer_started) {
		eventfd_write(b->stop_fd, 1);
		pthread_join(b->drainer, NULL);
		b->drainer_started = false;
	}
	if (b->tap.fd >= 0)
		tap_close(&b->tap); /* the TAP goes with it: tap_open created it */
	else if (b->fd >= 0)
		close(b->fd);
	if (b->feed_fd >= 0)
		close(b->feed_fd);
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	b->fd = b->feed_fd = b->stop_fd = -1;
}

const char *vqb_kind_name(const struct vq_backend *b)
{
	return b->kind == VQB_TAP ? "tap" : "socketpair";
}

int vqb_feed(struct vq_backend *b, const uint8_t *pkt, size_t len, unsigned k, struct errbuf *e)
{
	/* The TAP writes the header itself on the reader's side. */
	const uint8_t *p = b->kind == VQB_TAP ? pkt + HDR : pkt;
	size_t n = b->kind == VQB_TAP ? len - HDR : len;
	struct mmsghdr m[MMSG];
	struct iovec iov = {(void *)p, n};
	for (int i = 0; i < MMSG; i++)
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov, .msg_iovlen = 1}};
	unsigned queued = 0;
	while (queued < k) {
		unsigned want = k - queued < MMSG ? k - queued : MMSG;
		int r = sendmmsg(b->feed_fd, m, want, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
			break; /* the reader's queue is full */
		if (r < 0)
			return errorf_errno(e, "feeding the %s", vqb_kind_name(b));
		queued += (unsigned)r;
		if ((unsigned)r < want)
			break;
	}
	return (int)queued;
}
