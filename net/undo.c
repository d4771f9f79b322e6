#define _GNU_SOURCE /* close_range */
#include "net/undo.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/base/clock.h"

enum undo_kind { UNDO_PORT = 1, UNDO_FORGET_PORT, UNDO_TAP, UNDO_SEAL };

/* One record per SOCK_SEQPACKET message: the kernel keeps message
 * boundaries, so a record is never read in halves or merged with the next. */
struct undo_msg {
	uint32_t kind;
	int32_t tap_hdr_len;	 /* UNDO_TAP: the header size to put back */
	struct bridge_port port; /* UNDO_PORT */
};

/* ---- the child ------------------------------------------------------------ */

struct undo_state {
	struct bridge_port port;
	int tap_fd; /* a TAP that was there before, or -1 */
	int tap_hdr_len;
	bool sealed;
};

static bool name_ok(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	return len > 0 && len < n && s[0] != '-';
}

/* A record as minivmm sends it; anything else is not from minivmm's set-up
 * (a taken-over thread sends nothing before the seal, but the child does
 * not rely on it for the names it hands ovs-vsctl). */
static bool port_ok(const struct bridge_port *p)
{
	return (p->kind == BRIDGE_OVS || p->kind == BRIDGE_LINUX) &&
	       name_ok(p->bridge, sizeof(p->bridge)) && name_ok(p->port, sizeof(p->port));
}

/* Takes one record; returns false at the end of the stream. */
static bool take_record(int sock, struct undo_state *s)
{
	struct undo_msg m;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl)};
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	int fd = -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	/* MSG_CTRUNC: more descriptors came than fit; the kernel closed them. */
	bool ok =
	    n == (ssize_t)sizeof(m) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && !s->sealed;
	if (ok) {
		switch (m.kind) {
		case UNDO_PORT:
			ok = port_ok(&m.port) && s->port.kind == BRIDGE_NONE;
			if (ok)
				s->port = m.port;
			break;
		case UNDO_FORGET_PORT:
			s->port.kind = BRIDGE_NONE;
			break;
		case UNDO_TAP:
			ok = fd >= 0 && s->tap_fd < 0;
			if (ok) {
				s->tap_fd = fd;
				s->tap_hdr_len = m.tap_hdr_len;
				fd = -1;
			}
			break;
		case UNDO_SEAL:
			s->sealed = true;
			break;
		default:
			ok = false;
		}
	}
	if (fd >= 0)
		close(fd);
	if (!ok)
		fprintf(stderr,
			"minivmm: network clean-up: ignored a record (kind %u, %zd bytes)%s\n",
			n == (ssize_t)sizeof(m) ? m.kind : 0, n,
			s->sealed ? " after set-up ended" : "");
	return true;
}

static _Noreturn void child_main(int sock)
{
	/* Only the socket stays: a descriptor of whoever started minivmm (a
	 * pipe a test waits on) must not outlive minivmm by our clean-up. */
	if (sock != 3) {
		dup2(sock, 3);
		sock = 3;
	}
	close_range(4, ~0U, 0);
	prctl(PR_SET_NAME, "minivmm-undo", 0, 0, 0);
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigaddset(&stop, SIGQUIT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct undo_state s = {.port = {.kind = BRIDGE_NONE}, .tap_fd = -1};
	while (take_record(sock, &s))
		;
	/* The port before the TAP it names (as vm_destroy() did). */
	bridge_detach(&s.port);
	if (s.tap_fd >= 0) {
		tap_restore(s.tap_fd, s.tap_hdr_len);
		close(s.tap_fd);
	}
	fflush(stderr);
	_exit(0);
}

/* ---- minivmm's side ---------------------------------------------------------- */

int net_undo_start(struct net_undo *u, struct errbuf *e)
{
	u->pid = 0;
	u->fd = -1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return errorf_errno(e, "network clean-up: cannot make its socket");
	fflush(NULL); /* nothing buffered is written twice */
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return errorf_errno(e, "network clean-up: cannot fork");
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(sv[1]);
	}
	close(sv[1]);
	u->pid = pid;
	u->fd = sv[0];
	return 0;
}

static int send_record(struct net_undo *u, const struct undo_msg *m, int fd, struct errbuf *e)
{
	if (u->fd < 0)
		return 0;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof(ctl));
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	}
	ssize_t n;
	do
		n = sendmsg(u->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*m))
		return errorf_errno(e, "network clean-up (pid %d): cannot tell it what to undo",
				    (int)u->pid);
	return 0;
}

int net_undo_port(struct net_undo *u, const struct bridge_port *p, struct errbuf *e)
{
	struct undo_msg m = {.kind = UNDO_PORT, .port = *p};
	return send_record(u, &m, -1, e);
}

int net_undo_forget_port(struct net_undo *u, struct errbuf *e)
{
	struct undo_msg m = {.kind = UNDO_FORGET_PORT};
	return send_record(u, &m, -1, e);
}

int net_undo_tap(struct net_undo *u, const struct tap *t, struct errbuf *e)
{
	struct undo_msg m = {.kind = UNDO_TAP, .tap_hdr_len = t->saved_hdr_len};
	return send_record(u, &m, t->fd, e);
}

int net_undo_seal(struct net_undo *u, struct errbuf *e)
{
	struct undo_msg m = {.kind = UNDO_SEAL};
	return send_record(u, &m, -1, e);
}

void net_undo_finish(struct net_undo *u, int timeout_ms)
{
	if (u->fd < 0)
		return;
	/* End of stream for the child, which then undoes; its end closes
	 * when it exits. */
	shutdown(u->fd, SHUT_WR);
	struct timespec t0 = clock_now();
	bool done = false;
	for (;;) {
		long left = timeout_ms - clock_ms_since(&t0);
		if (left <= 0)
			break;
		struct pollfd p = {.fd = u->fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		char c;
		if (r > 0 && recv(u->fd, &c, 1, MSG_DONTWAIT) == 0) {
			done = true;
			break;
		}
		if (r <= 0)
			break;
	}
	close(u->fd);
	u->fd = -1;
	if (done) {
		while (waitpid(u->pid, NULL, 0) < 0 && errno == EINTR)
			;
	} else {
		fprintf(stderr,
			"minivmm: network clean-up (pid %d) not done within %d s; it goes on "
			"alone\n",
			(int)u->pid, timeout_ms / 1000);
	}
	u->pid = 0;
}
