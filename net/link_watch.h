/*
 * Watching the host side of the NIC while the guest runs: the TAP and the
 * bridge port --bridge made of it. The main thread listens to rtnetlink's
 * link notifications (RTNLGRP_LINK) and says, once each, on one line:
 *
 *   the TAP is gone      it was deleted (or moved to another namespace);
 *                        for good: the worker then drops what the guest
 *                        sends, and nothing brings this TAP back
 *   bridge port lost     the bridge stopped forwarding for the TAP, e.g.
 *                        ovs-vswitchd stopped or the port was removed
 *   bridge port back     it forwards again (OVS restarted on its database)
 *
 * What each bridge's "forwarding for the TAP" looks like from rtnetlink
 * (docs/networking.md, "Runtime faults", has the measurements):
 *   Open vSwitch  the bridge's local port (the link named like the bridge)
 *                 exists and has carrier: with the userspace datapath it is
 *                 a TAP whose carrier ovs-vswitchd holds, so it drops when
 *                 the daemon dies however it dies; and our TAP is
 *                 promiscuous: a datapath sets that on its ports and a
 *                 clean exit or a del-port clears it
 *   Linux bridge  the bridge exists and is our TAP's master (IFLA_MASTER)
 *
 * The logic is link_watch_feed(), which takes rtnetlink messages as bytes,
 * so tests/unit/test_link_watch.c drives it without a socket.
 */
#ifndef MINIVMM_NET_LINK_WATCH_H
#define MINIVMM_NET_LINK_WATCH_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "net/bridge.h"
#include "vmm/base/error.h"

/* One link as rtnetlink last described it. */
struct link_watch_link {
	bool present;
	int ifindex;
	unsigned flags; /* ifi_flags: IFF_UP, IFF_PROMISC, ... */
	int master;	/* IFLA_MASTER; 0: none */
	int carrier;	/* IFLA_CARRIER: 1 or 0; -1: not said */
};

struct link_watch {
	struct nl_sock *sk; /* NULL: not listening (closed, or a unit test) */
	unsigned char *buf; /* one datagram from sk */
	FILE *out;	    /* where the lines go: stderr */
	char tap[IFNAMSIZ];
	int tap_ifindex; /* ours; a new TAP of the same name is not */
	char bridge[sizeof(((struct bridge_port *)0)->bridge)];
	int kind; /* BRIDGE_NONE, BRIDGE_OVS or BRIDGE_LINUX (net/bridge.h) */
	struct link_watch_link tap_link, br_link;
	/* A dump (RTM_GETLINK, NLM_F_DUMP) rebuilds both from scratch, in
	 * these, after notifications were lost (ENOBUFS). */
	struct link_watch_link next_tap, next_br;
	bool dumping;
	bool need_dump; /* the socket layer sends one when it can */
	/* What has been said. */
	bool tap_gone; /* once said, nothing more is */
	bool armed;    /* the port was seen forwarding: a loss is news */
	bool lost;     /* "lost" said, "back" not yet */
};

/* Starts watching TAP (which must exist) and the port bp describes
 * (BRIDGE_NONE: the TAP only), reading the links' current state first.
 * Messages name it as "--tap TAP". */
int link_watch_open(struct link_watch *w, const char *tap, const struct bridge_port *bp, FILE *out,
		    struct errbuf *e);

/* The descriptor to poll for input; -1 when not open. */
int link_watch_fd(const struct link_watch *w);

/* Reads what is waiting (non-blocking) and reports what changed. */
void link_watch_read(struct link_watch *w);

/* Safe on a zeroed or closed watch. */
void link_watch_close(struct link_watch *w);

/* ---- the logic, for link_watch_open and tests ------------------------------ */

/* Sets up w without a socket; the links start as absent. */
void link_watch_init(struct link_watch *w, const char *tap, int tap_ifindex,
		     const struct bridge_port *bp, FILE *out);

/* A dump's replies follow: the links are what they and later notifications
 * say, once NLMSG_DONE arrives. */
void link_watch_dump_started(struct link_watch *w);

/* Takes one datagram of rtnetlink messages (RTM_NEWLINK, RTM_DELLINK,
 * NLMSG_DONE; anything else and anything malformed is skipped), then says
 * what changed. */
void link_watch_feed(struct link_watch *w, const void *buf, size_t len);

#endif
