#include "net/link_watch.h"

#include <errno.h>
#include <limits.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Twice the largest datagram the kernel builds for a dump (netlink_dump()
 * caps it at 32 KiB); a notification is one message of a few hundred bytes. */
#define BUF_SIZE (64 * 1024)

static const struct nla_policy link_policy[IFLA_MAX + 1] = {
    [IFLA_IFNAME] = {.type = NLA_STRING, .maxlen = IFNAMSIZ},
    [IFLA_MASTER] = {.type = NLA_U32},
    [IFLA_CARRIER] = {.type = NLA_U8},
};

void link_watch_init(struct link_watch *w, const char *tap, int tap_ifindex,
		     const struct bridge_port *bp, FILE *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	snprintf(w->tap, sizeof(w->tap), "%s", tap);
	w->tap_ifindex = tap_ifindex;
	w->kind = bp ? bp->kind : BRIDGE_NONE;
	if (w->kind != BRIDGE_NONE)
		snprintf(w->bridge, sizeof(w->bridge), "%s", bp->bridge);
}

void link_watch_dump_started(struct link_watch *w)
{
	w->next_tap = w->next_br = (struct link_watch_link){0};
	w->dumping = true;
}

/* ---- what the kernel says --------------------------------------------------- */

static void describe(struct link_watch_link *l, const struct ifinfomsg *ifi, struct nlattr **tb)
{
	l->present = true;
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->master = tb[IFLA_MASTER] ? (int)nla_get_u32(tb[IFLA_MASTER]) : 0;
	l->carrier = tb[IFLA_CARRIER] ? nla_get_u8(tb[IFLA_CARRIER]) != 0 : -1;
}

/* One RTM_NEWLINK or RTM_DELLINK, into the links it is about. */
static void link_message(struct link_watch *w, struct nlmsghdr *h)
{
	struct nlattr *tb[IFLA_MAX + 1];
	if (nlmsg_parse(h, sizeof(struct ifinfomsg), tb, IFLA_MAX, link_policy) < 0)
		return;
	const struct ifinfomsg *ifi = nlmsg_data(h);
	/* The kernel names the link in every message (rtnl_fill_ifinfo()). */
	if (!tb[IFLA_IFNAME])
		return;
	/* A Linux bridge also sends its port events to this group, as
	 * AF_BRIDGE messages about the port's link: RTM_DELLINK when the TAP
	 * merely leaves it (br_ifinfo_notify() in net/bridge/br_netlink.c).
	 * The link itself is described in AF_UNSPEC ones. */
	if (ifi->ifi_family != AF_UNSPEC)
		return;
	const char *name = nla_get_string(tb[IFLA_IFNAME]);
	bool gone = h->nlmsg_type == RTM_DELLINK;
	struct link_watch_link *tap = w->dumping ? &w->next_tap : &w->tap_link;
	struct link_watch_link *br = w->dumping ? &w->next_br : &w->br_link;
	/* The TAP by index: one re-created under its name is another device,
	 * which our fd is not attached to. */
	if (ifi->ifi_index == w->tap_ifindex) {
		if (gone)
			tap->present = false;
		else
			describe(tap, ifi, tb);
	}
	/* The bridge by name: a Linux bridge deleted and made again gets a new
	 * index; one renamed is gone as far as --bridge is concerned. */
	if (w->kind == BRIDGE_NONE)
		return;
	bool named = strcmp(name, w->bridge) == 0;
	if (!gone && named)
		describe(br, ifi, tb);
	else if (br->present && ifi->ifi_index == br->ifindex)
		br->present = false;
}

/* ---- what to say ------------------------------------------------------------ */

/* NULL if the bridge forwards for the TAP; otherwise why not, in why. */
static const char *port_problem(const struct link_watch *w, char *why, size_t n)
{
	const struct link_watch_link *br = &w->br_link, *tap = &w->tap_link;
	const char *what = w->kind == BRIDGE_OVS ? "Open vSwitch bridge" : "Linux bridge";
	if (!br->present)
		snprintf(why, n, "%s %s is gone", what, w->bridge);
	else if (w->kind == BRIDGE_OVS && br->carrier == 0)
		snprintf(why, n, "the local port of %s %s lost its carrier (ovs-vswitchd stopped?)",
			 what, w->bridge);
	else if (w->kind == BRIDGE_OVS && !(tap->flags & IFF_PROMISC))
		snprintf(why, n, "%s left the datapath of %s %s (no longer promiscuous)", w->tap,
			 what, w->bridge);
	else if (w->kind == BRIDGE_LINUX && tap->master != br->ifindex)
		snprintf(why, n, "%s is no longer a port of %s %s", w->tap, what, w->bridge);
	else
		return NULL;
	return why;
}

/* One line on w->out, named like the NIC's other messages. */
__attribute__((format(printf, 2, 3))) static void say(const struct link_watch *w, const char *fmt,
						      ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(w->out, "minivmm: virtio-net %s: %s\n", w->tap, line);
	fflush(w->out);
}

/* Each change of state once: the TAP's end (for good), a loss of a port
 * that was seen working, and its return. */
static void report(struct link_watch *w)
{
	if (w->tap_gone)
		return;
	if (!w->tap_link.present) {
		w->tap_gone = true;
		say(w, "the TAP is gone (deleted, or moved to another network namespace); the "
		       "guest's NIC stays, cut off: what it sends is dropped");
		return;
	}
	if (w->kind == BRIDGE_NONE)
		return;
	char why[128 + 2 * IFNAMSIZ + sizeof(w->bridge)];
	const char *problem = port_problem(w, why, sizeof(why));
	if (problem && w->armed && !w->lost) {
		w->lost = true;
		say(w, "bridge port lost: %s; the guest's frames go nowhere until it is back",
		    problem);
	} else if (!problem) {
		w->armed = true;
		if (w->lost) {
			w->lost = false;
			say(w, "bridge port back: %s forwards the guest's frames again", w->bridge);
		}
	}
}

void link_watch_feed(struct link_watch *w, const void *buf, size_t len)
{
	int left = len > INT_MAX ? INT_MAX : (int)len;
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; nlmsg_ok(h, left);
	     h = nlmsg_next(h, &left)) {
		switch (h->nlmsg_type) {
		case RTM_NEWLINK:
		case RTM_DELLINK:
			link_message(w, h);
			break;
		case NLMSG_DONE:
			if (!w->dumping)
				break;
			w->dumping = false;
			/* The kernel saw the links change while it dumped
			 * them (NLM_F_DUMP_INTR): the snapshot is unreliable. */
			if (h->nlmsg_flags & NLM_F_DUMP_INTR) {
				w->need_dump = true;
				break;
			}
			w->tap_link = w->next_tap;
			w->br_link = w->next_br;
			break;
		case NLMSG_ERROR:
			/* Only a dump request is ever answered: with an error
			 * (an acknowledgement, error 0, is not asked for). */
			if (w->dumping && !nlmsg_valid_hdr(h, sizeof(struct nlmsgerr)))
				break;
			if (w->dumping && ((struct nlmsgerr *)nlmsg_data(h))->error) {
				w->dumping = false;
				w->need_dump = true;
			}
			break;
		}
	}
	if (!w->dumping && !w->need_dump)
		report(w);
}

/* ---- the socket ------------------------------------------------------------- */

/* Asks for every link; the replies come through link_watch_feed(). */
static int request_dump(struct link_watch *w)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	int err = nl_send_simple(w->sk, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
	if (err < 0)
		return err;
	w->need_dump = false;
	link_watch_dump_started(w);
	return 0;
}

/* One datagram into the logic. Returns -1 with errno when there was none
 * (EAGAIN) or the socket failed; an overrun asks for a new dump. */
static int read_one(struct link_watch *w, int flags)
{
	struct sockaddr_nl from;
	struct iovec iov = {w->buf, BUF_SIZE};
	struct msghdr msg = {
	    .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n = recvmsg(nl_socket_get_fd(w->sk), &msg, flags);
	if (n < 0 && errno == ENOBUFS) {
		/* The kernel dropped notifications: what we know is stale. */
		w->need_dump = true;
		return 0;
	}
	if (n < 0)
		return -1;
	/* Only the kernel (port 0) speaks for the links. */
	if (from.nl_pid != 0 || (msg.msg_flags & MSG_TRUNC)) {
		if (msg.msg_flags & MSG_TRUNC)
			w->need_dump = true;
		return 0;
	}
	link_watch_feed(w, w->buf, (size_t)n);
	return 0;
}

void link_watch_read(struct link_watch *w)
{
	if (!w->sk)
		return;
	for (;;) {
		if (w->need_dump && !w->dumping && request_dump(w) < 0)
			return; /* the socket is broken: what we said stands */
		if (read_one(w, MSG_DONTWAIT) < 0)
			break;
	}
	if (errno != EAGAIN && errno != EINTR) {
		fprintf(w->out, "minivmm: virtio-net %s: no longer watching its link: %s\n", w->tap,
			strerror(errno));
		link_watch_close(w);
	}
}

int link_watch_fd(const struct link_watch *w)
{
	return w->sk ? nl_socket_get_fd(w->sk) : -1;
}

int link_watch_open(struct link_watch *w, const char *tap, const struct bridge_port *bp, FILE *out,
		    struct errbuf *e)
{
	link_watch_init(w, tap, (int)if_nametoindex(tap), bp, out);
	if (!w->tap_ifindex)
		return errorf_errno(e, "--tap %s: cannot watch it", tap);
	w->buf = malloc(BUF_SIZE);
	w->sk = nl_socket_alloc();
	if (!w->buf || !w->sk) {
		link_watch_close(w);
		return errorf(e, "--tap %s: out of memory", tap);
	}
	/* Subscribe before the dump, so that no change falls between them. */
	nl_socket_disable_auto_ack(w->sk); /* no NLMSG_ERROR 0 after the dump */
	int err = nl_connect(w->sk, NETLINK_ROUTE);
	if (!err)
		err = nl_socket_add_membership(w->sk, RTNLGRP_LINK);
	if (!err)
		err = request_dump(w);
	while (!err && w->dumping)
		if (read_one(w, 0) < 0)
			err = -nl_syserr2nlerr(errno);
	if (!err)
		err = nl_socket_set_nonblocking(w->sk);
	if (err) {
		link_watch_close(w);
		return errorf(e, "--tap %s: cannot watch its link over netlink: %s", tap,
			      nl_geterror(err));
	}
	/* An overrun during the first dump: the next read asks again. */
	return 0;
}

void link_watch_close(struct link_watch *w)
{
	if (w->sk)
		nl_socket_free(w->sk);
	free(w->buf);
	w->sk = NULL;
	w->buf = NULL;
}
