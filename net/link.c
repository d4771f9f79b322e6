#include "net/link.h"

#include <errno.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <stdio.h>
#include <string.h>

/* A connected NETLINK_ROUTE socket, or NULL with the message in e. */
static struct nl_sock *rtnl_open(const char *ifname, struct errbuf *e)
{
	struct nl_sock *sk = nl_socket_alloc();
	if (!sk) {
		errorf(e, "link %s: out of memory for a netlink socket", ifname);
		errno = EIO;
		return NULL;
	}
	int err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		errorf(e, "link %s: cannot open a netlink socket: %s", ifname, nl_geterror(err));
		nl_socket_free(sk);
		errno = EIO;
		return NULL;
	}
	return sk;
}

/* Asks the kernel for one link by name (RTM_GETLINK). The kernel answers
 * ENODEV for a missing name, which libnl reports as NLE_OBJ_NOTFOUND. */
static int get_link(struct nl_sock *sk, const char *ifname, struct rtnl_link **link,
		    struct errbuf *e)
{
	int err = rtnl_link_get_kernel(sk, 0, ifname, link);
	if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
		errorf(e, "link %s: no such link", ifname);
		errno = ENODEV;
		return -1;
	}
	if (err < 0) {
		errorf(e, "link %s: %s", ifname, nl_geterror(err));
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Applies CHANGE to IFNAME. rtnl_link_change() sends RTM_NEWLINK and falls
 * back to RTM_SETLINK on kernels that refuse the former for an existing
 * link; either way only the attributes set in CHANGE are sent. */
static int change_link(struct nl_sock *sk, const char *ifname, struct rtnl_link *change,
		       const char *what, struct errbuf *e)
{
	struct rtnl_link *link = NULL;
	if (get_link(sk, ifname, &link, e) < 0)
		return -1;
	int err = rtnl_link_change(sk, link, change, 0);
	rtnl_link_put(link);
	if (err < 0) {
		errorf(e, "link %s: cannot %s: %s", ifname, what, nl_geterror(err));
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Opens a route socket and fetches ifname's link; on success the caller
 * owns both and gives them back with put_link(). */
static int open_link(const char *ifname, struct nl_sock **sk, struct rtnl_link **link,
		     struct errbuf *e)
{
	*sk = rtnl_open(ifname, e);
	if (!*sk)
		return -1;
	*link = NULL;
	if (get_link(*sk, ifname, link, e) == 0)
		return 0;
	int saved = errno; /* ENODEV vs EIO is part of the contract */
	nl_socket_free(*sk);
	errno = saved;
	return -1;
}

static void put_link(struct nl_sock *sk, struct rtnl_link *link)
{
	rtnl_link_put(link);
	nl_socket_free(sk);
}

/* A route socket and an empty link object to describe a change in; given
 * back with put_link(). */
static int open_change(const char *ifname, struct nl_sock **sk, struct rtnl_link **change,
		       struct errbuf *e)
{
	*sk = rtnl_open(ifname, e);
	if (!*sk)
		return -1;
	*change = rtnl_link_alloc();
	if (*change)
		return 0;
	nl_socket_free(*sk);
	errorf(e, "link %s: out of memory", ifname);
	errno = EIO;
	return -1;
}

int link_set_up(const char *ifname, struct errbuf *e)
{
	struct nl_sock *sk;
	struct rtnl_link *change;
	if (open_change(ifname, &sk, &change, e))
		return -1;
	rtnl_link_set_flags(change, IFF_UP);
	int ret = change_link(sk, ifname, change, "set it up", e);
	put_link(sk, change);
	return ret;
}

int link_kind(const char *ifname, char *kind, size_t n, struct errbuf *e)
{
	struct nl_sock *sk;
	struct rtnl_link *link;
	if (open_link(ifname, &sk, &link, e))
		return -1;
	const char *type = rtnl_link_get_type(link);
	snprintf(kind, n, "%s", type ? type : "");
	put_link(sk, link);
	return 0;
}

int link_master(const char *ifname, char *master, size_t n, struct errbuf *e)
{
	struct nl_sock *sk;
	struct rtnl_link *link;
	if (open_link(ifname, &sk, &link, e))
		return -1;
	int idx = rtnl_link_get_master(link), ret = 0;
	snprintf(master, n, "%s", "");
	if (idx > 0) {
		struct rtnl_link *m = NULL;
		int err = rtnl_link_get_kernel(sk, idx, NULL, &m);
		if (err < 0) {
			errno = EIO;
			ret = errorf(e, "link %s: cannot look up its master (index %d): %s", ifname,
				     idx, nl_geterror(err));
		} else {
			snprintf(master, n, "%s", rtnl_link_get_name(m));
			rtnl_link_put(m);
		}
	}
	put_link(sk, link);
	return ret;
}

int link_set_master(const char *ifname, const char *master, struct errbuf *e)
{
	struct nl_sock *sk;
	struct rtnl_link *change;
	if (open_change(ifname, &sk, &change, e))
		return -1;
	int ret = -1;
	/* IFLA_MASTER 0 is how rtnetlink says "nomaster" (do_set_master() in
	 * net/core/rtnetlink.c). */
	int master_idx = 0;
	if (master) {
		struct rtnl_link *m = NULL;
		if (get_link(sk, master, &m, e) < 0)
			goto put;
		master_idx = rtnl_link_get_ifindex(m);
		rtnl_link_put(m);
	}
	rtnl_link_set_master(change, master_idx);
	char what[64 + IFNAMSIZ];
	if (master)
		snprintf(what, sizeof(what), "make it a port of %s", master);
	else
		snprintf(what, sizeof(what), "remove it from its bridge");
	ret = change_link(sk, ifname, change, what, e);
put:
	put_link(sk, change);
	return ret;
}
