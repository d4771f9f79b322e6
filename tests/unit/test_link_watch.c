/* net/link_watch.c: what minivmm says when its TAP or bridge port goes away
 * and comes back, fed hand-made rtnetlink messages; and the socket, on lo. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check_main.h"
#include "net/link_watch.h"

#define TAP_IDX 7
#define BR_IDX	5
#define RUNNING (IFF_UP | IFF_BROADCAST | IFF_MULTICAST | IFF_RUNNING)

static struct link_watch w;
static char *text;
static size_t text_len;
static FILE *out;

static void setup(void)
{
	out = open_memstream(&text, &text_len);
	ck_assert_ptr_nonnull(out);
}

static void teardown(void)
{
	link_watch_close(&w);
	fclose(out);
	free(text);
}

static int lines(void)
{
	fflush(out);
	int n = 0;
	for (size_t i = 0; i < text_len; i++)
		n += text[i] == '\n';
	return n;
}

/* The last line said, without its newline. */
static const char *last_line(void)
{
	static char line[512];
	fflush(out);
	ck_assert_uint_gt(text_len, 0);
	size_t end = text_len - 1, start = end;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	snprintf(line, sizeof(line), "%.*s", (int)(end - start), text + start);
	return line;
}

#define ck_assert_said(s)                                                                          \
	ck_assert_msg(strstr(last_line(), (s)) != NULL, "said \"%s\", lacks \"%s\"", last_line(),  \
		      (s))

/* ---- building datagrams ------------------------------------------------------ */

struct dgram {
	_Alignas(4) uint8_t b[4096];
	size_t len;
};

static void attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t n)
{
	struct rtattr *a = (struct rtattr *)((uint8_t *)h + NLMSG_ALIGN(h->nlmsg_len));
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(n);
	memcpy(RTA_DATA(a), data, n);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* A link message; master or carrier < 0 leaves that attribute out. */
static struct nlmsghdr *add(struct dgram *d, uint16_t type, unsigned char family, int idx,
			    const char *name, unsigned flags, int master, int carrier)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(d->b + d->len);
	memset(h, 0, sizeof(d->b) - d->len);
	h->nlmsg_type = type;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	struct ifinfomsg *ifi = NLMSG_DATA(h);
	ifi->ifi_family = family;
	ifi->ifi_index = idx;
	ifi->ifi_flags = flags;
	attr(h, IFLA_IFNAME, name, strlen(name) + 1);
	if (master >= 0)
		attr(h, IFLA_MASTER, &(uint32_t){(uint32_t)master}, 4);
	if (carrier >= 0)
		attr(h, IFLA_CARRIER, &(uint8_t){(uint8_t)carrier}, 1);
	d->len += NLMSG_ALIGN(h->nlmsg_len);
	return h;
}

static void add_done(struct dgram *d, uint16_t flags)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(d->b + d->len);
	memset(h, 0, NLMSG_LENGTH(sizeof(int)));
	h->nlmsg_type = NLMSG_DONE;
	h->nlmsg_flags = NLM_F_MULTI | flags;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(int));
	d->len += NLMSG_ALIGN(h->nlmsg_len);
}

static void feed(struct dgram *d)
{
	link_watch_feed(&w, d->b, d->len);
	d->len = 0;
}

/* One notification about one link. */
static void notify(uint16_t type, int idx, const char *name, unsigned flags, int master,
		   int carrier)
{
	struct dgram d = {.len = 0};
	add(&d, type, AF_UNSPEC, idx, name, flags, master, carrier);
	feed(&d);
}

static void tap_is(unsigned flags, int master)
{
	notify(RTM_NEWLINK, TAP_IDX, "mvgtap0", flags, master, 1);
}

static void br_is(int idx, int carrier)
{
	notify(RTM_NEWLINK, idx, "mvgbr0", RUNNING | IFF_PROMISC, 0, carrier);
}

/* A watch whose first dump showed the TAP (flags, master) and the bridge. */
static void start(int kind, unsigned tap_flags, int tap_master, int br_carrier)
{
	struct bridge_port bp = {.kind = kind};
	snprintf(bp.bridge, sizeof(bp.bridge), "mvgbr0");
	link_watch_init(&w, "mvgtap0", TAP_IDX, &bp, out);
	link_watch_dump_started(&w);
	struct dgram d = {.len = 0};
	add(&d, RTM_NEWLINK, AF_UNSPEC, 1, "lo", IFF_UP | IFF_LOOPBACK, -1, 1);
	add(&d, RTM_NEWLINK, AF_UNSPEC, BR_IDX, "mvgbr0", RUNNING, 0, br_carrier);
	add(&d, RTM_NEWLINK, AF_UNSPEC, TAP_IDX, "mvgtap0", tap_flags, tap_master, 1);
	add_done(&d, 0);
	feed(&d);
}

/* ---- Open vSwitch ------------------------------------------------------------ */

/* ovs-appctl exit: the datapath gives the TAP its flags back (promiscuous
 * off), then the local port loses its carrier; a restart on the same
 * database brings both back, in the other order. */
START_TEST(test_ovs_clean_restart)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	ck_assert_int_eq(lines(), 0);
	tap_is(RUNNING, 0);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said(
	    "minivmm: virtio-net mvgtap0: bridge port lost: mvgtap0 left the datapath of "
	    "Open vSwitch bridge mvgbr0");
	br_is(BR_IDX, 0);
	br_is(BR_IDX, 1);
	ck_assert_int_eq(lines(), 1);
	tap_is(RUNNING | IFF_PROMISC, 0);
	ck_assert_int_eq(lines(), 2);
	ck_assert_said("minivmm: virtio-net mvgtap0: bridge port back: mvgbr0 forwards the guest's "
		       "frames again");
	/* Nothing new, nothing said. */
	tap_is(RUNNING | IFF_PROMISC, 0);
	br_is(BR_IDX, 1);
	ck_assert_int_eq(lines(), 2);
}
END_TEST

/* SIGKILL: the TAP stays promiscuous (nobody restores it), but the
 * daemon's fd on the local port closes: carrier off. */
START_TEST(test_ovs_killed)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	br_is(BR_IDX, 0);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("bridge port lost: the local port of Open vSwitch bridge mvgbr0 lost its "
		       "carrier (ovs-vswitchd stopped?)");
	br_is(BR_IDX, 1);
	ck_assert_int_eq(lines(), 2);
	ck_assert_said("bridge port back");
	/* And a second time: each loss is news. */
	br_is(BR_IDX, 0);
	br_is(BR_IDX, 1);
	ck_assert_int_eq(lines(), 4);
}
END_TEST

START_TEST(test_ovs_bridge_deleted)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	notify(RTM_DELLINK, BR_IDX, "mvgbr0", RUNNING, 0, 0);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("bridge port lost: Open vSwitch bridge mvgbr0 is gone");
	/* Made again, under another index, and our port in it. */
	br_is(BR_IDX + 10, 1);
	ck_assert_int_eq(lines(), 2);
	ck_assert_said("bridge port back");
	/* A link renamed away from the bridge's name is no longer it. */
	notify(RTM_NEWLINK, BR_IDX + 10, "other0", RUNNING, 0, 1);
	ck_assert_int_eq(lines(), 3);
	ck_assert_said("Open vSwitch bridge mvgbr0 is gone");
}
END_TEST

/* A kernel that does not say IFLA_CARRIER does not make the port lost. */
START_TEST(test_no_carrier_attribute)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, -1);
	br_is(BR_IDX, -1);
	ck_assert_int_eq(lines(), 0);
}
END_TEST

/* ---- Linux bridge ------------------------------------------------------------- */

START_TEST(test_linux_bridge_port)
{
	start(BRIDGE_LINUX, RUNNING | IFF_PROMISC, BR_IDX, 1);
	/* The bridge's own note that the port left: AF_BRIDGE, RTM_DELLINK,
	 * about the TAP. The TAP is still there. */
	struct dgram d = {.len = 0};
	add(&d, RTM_DELLINK, AF_BRIDGE, TAP_IDX, "mvgtap0", RUNNING, BR_IDX, 1);
	feed(&d);
	ck_assert_int_eq(lines(), 0);
	tap_is(RUNNING, 0);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("bridge port lost: mvgtap0 is no longer a port of Linux bridge mvgbr0");
	notify(RTM_DELLINK, BR_IDX, "mvgbr0", RUNNING, 0, 1);
	ck_assert_int_eq(lines(), 1);
	br_is(BR_IDX + 1, 1);
	ck_assert_int_eq(lines(), 1);
	tap_is(RUNNING | IFF_PROMISC, BR_IDX + 1);
	ck_assert_int_eq(lines(), 2);
	ck_assert_said("bridge port back: mvgbr0 forwards");
}
END_TEST

/* ---- the TAP ---------------------------------------------------------------- */

START_TEST(test_tap_deleted_said_once)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	/* Deleted: the datapath lets go of it first, in the same breath. */
	struct dgram d = {.len = 0};
	add(&d, RTM_NEWLINK, AF_UNSPEC, TAP_IDX, "mvgtap0", RUNNING, 0, 1);
	add(&d, RTM_DELLINK, AF_UNSPEC, TAP_IDX, "mvgtap0", RUNNING, 0, 1);
	feed(&d);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("minivmm: virtio-net mvgtap0: the TAP is gone (deleted, or moved to another "
		       "network namespace); the guest's NIC stays, cut off");
	/* Whatever follows: a new TAP of that name (not ours), the bridge
	 * coming and going. */
	notify(RTM_NEWLINK, TAP_IDX + 1, "mvgtap0", RUNNING | IFF_PROMISC, 0, 1);
	br_is(BR_IDX, 0);
	br_is(BR_IDX, 1);
	notify(RTM_DELLINK, TAP_IDX, "mvgtap0", RUNNING, 0, 1);
	ck_assert_int_eq(lines(), 1);
}
END_TEST

/* Without --bridge only the TAP is watched. */
START_TEST(test_no_bridge)
{
	link_watch_init(&w, "mvgtap0", TAP_IDX, NULL, out);
	tap_is(RUNNING, 0);
	notify(RTM_DELLINK, BR_IDX, "mvgbr0", RUNNING, 0, 1);
	tap_is(RUNNING & ~IFF_UP, 0);
	ck_assert_int_eq(lines(), 0);
	notify(RTM_DELLINK, TAP_IDX, "mvgtap0", RUNNING, 0, 1);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("the TAP is gone");
}
END_TEST

/* A port that never looked like it forwarded (a set-up these rules do not
 * fit) is not reported lost, nor back; once seen working, it is. */
START_TEST(test_not_armed_until_seen_working)
{
	start(BRIDGE_OVS, RUNNING, 0, 1);
	br_is(BR_IDX, 0);
	br_is(BR_IDX, 1);
	tap_is(RUNNING | IFF_PROMISC, 0);
	ck_assert_int_eq(lines(), 0);
	tap_is(RUNNING, 0);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("bridge port lost");
}
END_TEST

/* ---- lost notifications: a fresh dump --------------------------------------- */

START_TEST(test_dump_replaces_what_was_known)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	/* The kernel dropped notifications; the dump comes in two parts, a
	 * notification between them. Nothing is said before NLMSG_DONE. */
	link_watch_dump_started(&w);
	struct dgram d = {.len = 0};
	add(&d, RTM_NEWLINK, AF_UNSPEC, BR_IDX, "mvgbr0", RUNNING, 0, 0);
	feed(&d);
	br_is(BR_IDX, 0);
	ck_assert_int_eq(lines(), 0);
	add(&d, RTM_NEWLINK, AF_UNSPEC, TAP_IDX, "mvgtap0", RUNNING | IFF_PROMISC, 0, 1);
	add_done(&d, 0);
	feed(&d);
	ck_assert_int_eq(lines(), 1);
	ck_assert_said("lost its carrier");
	/* A dump without the TAP: it went while we were deaf. */
	link_watch_dump_started(&w);
	add(&d, RTM_NEWLINK, AF_UNSPEC, BR_IDX, "mvgbr0", RUNNING, 0, 1);
	add_done(&d, 0);
	feed(&d);
	ck_assert_int_eq(lines(), 2);
	ck_assert_said("the TAP is gone");
}
END_TEST

/* A dump the kernel marks inconsistent, or answers with an error, is not
 * believed: another one is asked for. */
START_TEST(test_dump_interrupted_or_refused)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	link_watch_dump_started(&w);
	struct dgram d = {.len = 0};
	add(&d, RTM_NEWLINK, AF_UNSPEC, BR_IDX, "mvgbr0", RUNNING, 0, 1);
	add_done(&d, NLM_F_DUMP_INTR);
	feed(&d);
	ck_assert(!w.dumping && w.need_dump);
	ck_assert(w.tap_link.present);
	ck_assert_int_eq(lines(), 0);

	link_watch_dump_started(&w);
	w.need_dump = false;
	struct nlmsghdr *h = (struct nlmsghdr *)d.b;
	memset(d.b, 0, sizeof(d.b));
	h->nlmsg_type = NLMSG_ERROR;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
	((struct nlmsgerr *)NLMSG_DATA(h))->error = -EBUSY;
	d.len = h->nlmsg_len;
	feed(&d);
	ck_assert(!w.dumping && w.need_dump);
	ck_assert_int_eq(lines(), 0);
}
END_TEST

/* ---- malformed input -------------------------------------------------------- */

START_TEST(test_malformed_skipped)
{
	start(BRIDGE_OVS, RUNNING | IFF_PROMISC, 0, 1);
	struct dgram d = {.len = 0};
	/* A deletion of the TAP cut short: its length says more than came. */
	struct nlmsghdr *h = add(&d, RTM_DELLINK, AF_UNSPEC, TAP_IDX, "mvgtap0", RUNNING, 0, 1);
	link_watch_feed(&w, d.b, d.len - 4);
	/* One too short for its ifinfomsg. */
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg) - 4);
	link_watch_feed(&w, d.b, d.len);
	/* An attribute running past its message. */
	d.len = 0;
	h = add(&d, RTM_NEWLINK, AF_UNSPEC, BR_IDX, "mvgbr0", RUNNING, 0, 0);
	struct rtattr *a = (struct rtattr *)((uint8_t *)NLMSG_DATA(h) + sizeof(struct ifinfomsg));
	a->rta_len = 200;
	link_watch_feed(&w, d.b, d.len);
	/* A name without its NUL, and an IFLA_MASTER of one byte. */
	d.len = 0;
	h = add(&d, RTM_NEWLINK, AF_UNSPEC, BR_IDX, "mvgbr0", RUNNING, 0, 0);
	a = (struct rtattr *)((uint8_t *)NLMSG_DATA(h) + sizeof(struct ifinfomsg));
	memset(RTA_DATA(a), 'x', RTA_PAYLOAD(a));
	link_watch_feed(&w, d.b, d.len);
	d.len = 0;
	h = (struct nlmsghdr *)d.b;
	memset(d.b, 0, sizeof(d.b));
	h->nlmsg_type = RTM_NEWLINK;
	h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index = BR_IDX;
	attr(h, IFLA_MASTER, "", 1);
	link_watch_feed(&w, d.b, h->nlmsg_len);
	/* Odd lengths, zero lengths. */
	link_watch_feed(&w, d.b, 3);
	link_watch_feed(&w, d.b, 0);
	ck_assert_int_eq(lines(), 0);
	ck_assert(w.tap_link.present && w.br_link.present);
	ck_assert_int_eq(w.br_link.carrier, 1);
}
END_TEST

/* ---- the socket ----------------------------------------------------------------- */

/* Any process may listen to RTNLGRP_LINK: watch lo as if it were the TAP. */
START_TEST(test_socket_on_lo)
{
	struct errbuf e;
	ck_assert_int_eq(link_watch_open(&w, "lo", NULL, out, &e), 0);
	ck_assert_int_ge(link_watch_fd(&w), 0);
	ck_assert(w.tap_link.present);
	ck_assert_int_eq(w.tap_link.ifindex, (int)if_nametoindex("lo"));
	ck_assert(w.tap_link.flags & IFF_LOOPBACK);
	link_watch_read(&w); /* nothing waiting: returns */
	ck_assert_int_ge(link_watch_fd(&w), 0);
	ck_assert_int_eq(lines(), 0);
	link_watch_close(&w);
	ck_assert_int_eq(link_watch_fd(&w), -1);
	link_watch_close(&w);
}
END_TEST

START_TEST(test_open_missing_tap)
{
	struct errbuf e;
	ck_assert_int_eq(link_watch_open(&w, "mvg-nosuch0", NULL, out, &e), -1);
	ck_assert_msg_has(e, "--tap mvg-nosuch0: cannot watch it: No such device");
	ck_assert_int_eq(link_watch_fd(&w), -1);
}
END_TEST

CHECK_MAIN_FIXTURE("link_watch", setup, teardown, test_ovs_clean_restart, test_ovs_killed,
		   test_ovs_bridge_deleted, test_no_carrier_attribute, test_linux_bridge_port,
		   test_tap_deleted_said_once, test_no_bridge, test_not_armed_until_seen_working,
		   test_dump_replaces_what_was_known, test_dump_interrupted_or_refused,
		   test_malformed_skipped, test_socket_on_lo, test_open_missing_tap)
