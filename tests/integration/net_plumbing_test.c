/*
 * net_plumbing_test: minivmm's host-side networking (net/) against a real
 * kernel and a real Open vSwitch.
 *
 *   net_plumbing_test [--vswitchd-stopped | --ovs-stopped] OVS_BRIDGE LINUX_BRIDGE
 *
 * Run it as root inside a network namespace of its own, as
 * tests/integration/net_plumbing.sh does. That script starts an OVS with
 * OVS_BRIDGE (OVS_RUNDIR pointing at it), creates LINUX_BRIDGE and the
 * fixed-name devices below, and runs this program three times: with OVS
 * up; with ovs-vswitchd stopped (--vswitchd-stopped); with ovsdb-server
 * stopped too (--ovs-stopped).
 *
 * Prints one line per check and "net plumbing: N passed, N failed"; exit
 * status 1 if anything failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/bridge.h"
#include "net/link.h"
#include "net/offload.h"
#include "net/tap.h"

/* Made by this program (tap_open creates it, tap_close destroys it). */
#define TAP "mvtap0"
/* Made by net_plumbing.sh. */
#define VETH	    "mvveth0"
#define PERSIST	    "mvpre"  /* persistent TAP, no owner */
#define OWNED	    "mvown"  /* persistent TAP owned by OWNER_UID */
#define TUN	    "mvtun0" /* persistent TUN */
#define OWNER_UID   1234
#define NEW_OFFLOAD (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)

struct results {
	int passed, failed;
};

__attribute__((format(printf, 3, 4))) static void check(struct results *r, bool ok, const char *fmt,
							...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s ", ok ? "ok  " : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (ok)
		r->passed++;
	else
		r->failed++;
}

/* The call failed with exactly this message, or (prefix) one that starts
 * with it, for messages whose tail comes from another program. */
static void check_failure(struct results *r, const char *what, int ret, const struct errbuf *e,
			  const char *want, bool prefix)
{
	const char *dots = prefix ? "..." : "";
	bool match = prefix ? !strncmp(e->msg, want, strlen(want)) && !strchr(e->msg, '\n')
			    : !strcmp(e->msg, want);
	if (ret < 0 && match)
		check(r, true, "%s: \"%s\"", what, e->msg);
	else if (ret >= 0)
		check(r, false, "%s: succeeded, expected \"%s%s\"", what, want, dots);
	else
		check(r, false, "%s: got \"%s\", expected \"%s%s\"", what, e->msg, want, dots);
}

static void check_error(struct results *r, const char *what, int ret, const struct errbuf *e,
			const char *want)
{
	check_failure(r, what, ret, e, want, false);
}

static void check_error_prefix(struct results *r, const char *what, int ret, const struct errbuf *e,
			       const char *want)
{
	check_failure(r, what, ret, e, want, true);
}

static void check_ok(struct results *r, const char *what, int ret, const struct errbuf *e)
{
	if (ret == 0)
		check(r, true, "%s", what);
	else
		check(r, false, "%s: %s", what, e->msg);
}

/* The stdout of a fixed command line (names here are our own constants). */
static void command_output(const char *cmd, char *out, size_t n)
{
	out[0] = '\0';
	FILE *f = popen(cmd, "r");
	if (!f)
		return;
	size_t got = fread(out, 1, n - 1, f);
	out[got] = '\0';
	pclose(f);
}

/* Whether `ovs-vsctl list-ports BR` lists PORT. */
static bool ovs_has_port(const char *br, const char *port)
{
	char cmd[128], out[1024];
	snprintf(cmd, sizeof(cmd), "ovs-vsctl --timeout=5 list-ports %s", br);
	command_output(cmd, out, sizeof(out));
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (!strcmp(line, port))
			return true;
	return false;
}

/* The bridge /sys/class/net/PORT/master points to, or "". */
static void sysfs_master(const char *port, char *out, size_t n)
{
	char path[128], target[256];
	snprintf(path, sizeof(path), "/sys/class/net/%s/master", port);
	ssize_t len = readlink(path, target, sizeof(target) - 1);
	out[0] = '\0';
	if (len < 0)
		return;
	target[len] = '\0';
	const char *base = strrchr(target, '/');
	snprintf(out, n, "%s", base ? base + 1 : target);
}

static bool if_is_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return false;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	bool up = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
	close(s);
	return up;
}

/* Clears every capability of this process (capset(2)) while it stays uid
 * 0: that keeps /dev/net/tun openable where it is mode 0600 (as on some
 * hosts without udev's 0666 rule), while TUNSETIFF loses CAP_NET_ADMIN. */
static int drop_all_caps(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	memset(data, 0, sizeof(data));
	return (int)syscall(SYS_capset, &hdr, data);
}

/* tap_open(NAME) in a child without capabilities; its message, or "" if it
 * succeeded. */
static void tap_open_unprivileged(const char *name, char *msg, size_t n)
{
	int p[2];
	snprintf(msg, n, "(child failed)");
	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct errbuf e = {""};
		if (drop_all_caps() < 0) {
			snprintf(e.msg, sizeof(e.msg), "(capset: %s)", strerror(errno));
		} else {
			struct tap t;
			if (tap_open(&t, name, &e) == 0) {
				e.msg[0] = '\0';
				tap_close(&t);
			}
		}
		ssize_t w = write(p[1], e.msg, strlen(e.msg));
		_exit(w < 0);
	}
	close(p[1]);
	if (pid > 0) {
		ssize_t got = read(p[0], msg, n - 1);
		msg[got > 0 ? got : 0] = '\0';
		waitpid(pid, NULL, 0);
	}
	close(p[0]);
}

static void test_tap(struct results *r, struct tap *t)
{
	struct errbuf e = {""};
	int ret = tap_open(t, TAP, &e);
	check_ok(r, "tap_open " TAP, ret, &e);
	if (ret < 0)
		return;
	check(r, t->created, "tap_open " TAP ": created=%d (it did not exist)", t->created);
	int fl = fcntl(t->fd, F_GETFL), fdfl = fcntl(t->fd, F_GETFD);
	check(r, fl >= 0 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC),
	      "tap_open " TAP ": fd %d is O_NONBLOCK and close-on-exec", t->fd);
	int hdr = -1;
	ioctl(t->fd, TUNGETVNETHDRSZ, &hdr);
	check(r, hdr == 12 && t->vnet_hdr_len == 12,
	      "tap_open " TAP ": TUNGETVNETHDRSZ %d, vnet_hdr_len %zu (want 12)", hdr,
	      t->vnet_hdr_len);
	struct ifreq ifr = {0};
	ioctl(t->fd, TUNGETIFF, &ifr);
	check(r,
	      (ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) ==
		  (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR),
	      "tap_open " TAP ": TUNGETIFF flags %#x have IFF_TAP|IFF_NO_PI|IFF_VNET_HDR",
	      (unsigned)ifr.ifr_flags);

	ret = tap_set_offload(t, NEW_OFFLOAD, &e);
	check_ok(r, "tap_set_offload CSUM|TSO4|TSO6|TSO_ECN", ret, &e);
	ret = tap_set_offload(t, 0, &e);
	check_ok(r, "tap_set_offload 0", ret, &e);
	ret = tap_set_offload(t, 0x80000000u, &e);
	check_error(r, "tap_set_offload unknown flag", ret, &e,
		    "--tap " TAP ": the kernel does not accept offload flags 0x80000000");

	struct tap t2;
	ret = tap_open(&t2, TAP, &e);
	check_error(r, "second tap_open " TAP, ret, &e,
		    "--tap " TAP ": busy (another process has it open)");
	check(r, t2.fd == -1, "second tap_open " TAP ": fd left at -1");

	ret = tap_open(&t2, "mvtap0123456789x", &e);
	check_error(r, "tap_open of a 16-character name", ret, &e,
		    "--tap mvtap0123456789x: name longer than 15 characters");
	ret = tap_open(&t2, "", &e);
	check_error(r, "tap_open of an empty name", ret, &e, "--tap: empty device name");
	ret = tap_open(&t2, "a/b", &e);
	check_error(r, "tap_open a/b", ret, &e, "--tap a/b: '/' is not allowed in a device name");
	ret = tap_open(&t2, VETH, &e);
	check_error(r, "tap_open of a veth", ret, &e,
		    "--tap " VETH ": exists but is not a TAP device (it is a veth)");
	ret = tap_open(&t2, TUN, &e);
	check_error(r, "tap_open of a TUN device", ret, &e,
		    "--tap " TUN ": exists but is a TUN device (IP packets), not a TAP");

	char msg[512];
	tap_open_unprivileged("mvnew", msg, sizeof(msg));
	check(r,
	      !strcmp(msg, "--tap mvnew: no such TAP device and no permission to create one "
			   "(needs CAP_NET_ADMIN)"),
	      "unprivileged tap_open of a new TAP: \"%s\"", msg);
	check(r, if_nametoindex("mvnew") == 0, "unprivileged tap_open created nothing");
	tap_open_unprivileged(OWNED, msg, sizeof(msg));
	check(r,
	      !strcmp(msg, "--tap " OWNED ": permission denied: the TAP belongs to uid 1234 and "
			   "minivmm lacks CAP_NET_ADMIN"),
	      "unprivileged tap_open of another user's TAP: \"%s\"", msg);
	/* tun_not_capable() only guards devices with an owner or a group. */
	tap_open_unprivileged(PERSIST, msg, sizeof(msg));
	check(r, !*msg, "unprivileged tap_open of an ownerless persistent TAP succeeds (\"%s\")",
	      msg);
}

static void test_link(struct results *r)
{
	struct errbuf e = {""};
	check(r, !if_is_up(TAP), "link " TAP " is down before link_set_up");
	int ret = link_set_up(TAP, &e);
	check_ok(r, "link_set_up " TAP, ret, &e);
	check(r, if_is_up(TAP), "link " TAP " has IFF_UP (SIOCGIFFLAGS)");
	ret = link_set_up("mvnosuch", &e);
	check_error(r, "link_set_up of a missing link", ret, &e, "link mvnosuch: no such link");
	check(r, errno == ENODEV, "link_set_up of a missing link: errno ENODEV");

	const char *names[] = {TAP, VETH, "lo"};
	const char *kinds[] = {"tun", "veth", ""};
	for (size_t i = 0; i < 3; i++) {
		char kind[32] = "?";
		ret = link_kind(names[i], kind, sizeof(kind), &e);
		check(r, ret == 0 && !strcmp(kind, kinds[i]), "link_kind %s: \"%s\" (want \"%s\")",
		      names[i], ret == 0 ? kind : e.msg, kinds[i]);
	}
	char kind[32];
	ret = link_kind("mvnosuch", kind, sizeof(kind), &e);
	check_error(r, "link_kind of a missing link", ret, &e, "link mvnosuch: no such link");
}

static void test_ovs(struct results *r, const char *ovs_br)
{
	struct errbuf e = {""};
	struct bridge_port p;
	int ret = bridge_attach(&p, ovs_br, TAP, &e);
	check_ok(r, "bridge_attach to the OVS bridge", ret, &e);
	check(r, p.kind == BRIDGE_OVS, "bridge_attach to the OVS bridge: kind BRIDGE_OVS");
	check(r, ovs_has_port(ovs_br, TAP), "ovs-vsctl list-ports %s lists " TAP, ovs_br);
	char out[256];
	command_output("ovs-vsctl --timeout=5 get Interface " TAP " error", out, sizeof(out));
	out[strcspn(out, "\n")] = '\0';
	check(r, !strcmp(out, "[]"), "OVS opened " TAP " without error (Interface error: %s)", out);

	/* What the offload rule learns from this OVS (net/offload.c): the
	 * userspace datapath, no userspace TSO; so no guest-to-host offloads,
	 * whether --bridge attached the TAP or it was a port already. */
	struct ovs_datapath dp;
	ret = bridge_ovs_datapath(ovs_br, &dp, &e);
	check_ok(r, "bridge_ovs_datapath", ret, &e);
	check(r, !strcmp(dp.type, "netdev") && !dp.userspace_tso,
	      "bridge_ovs_datapath: datapath_type \"%s\" (want netdev), userspace_tso %d", dp.type,
	      dp.userspace_tso);
	char br[64] = "";
	check(r, bridge_ovs_port_bridge(TAP, br, sizeof(br)) == 1 && !strcmp(br, ovs_br),
	      "bridge_ovs_port_bridge " TAP ": \"%s\"", br);
	struct offload_policy o;
	offload_choose(&o, OFFLOAD_AUTO, &p, TAP, true);
	check(r, !o.tx && o.rx && strstr(o.why, "userspace datapath (datapath_type=netdev)"),
	      "offloads after --bridge %s: tx %d rx %d (%s)", ovs_br, o.tx, o.rx, o.why);
	struct bridge_port none = {.kind = BRIDGE_NONE};
	offload_choose(&o, OFFLOAD_AUTO, &none, TAP, false);
	check(r, !o.tx && o.rx, "offloads of a TAP already in %s: tx %d rx %d (%s)", ovs_br, o.tx,
	      o.rx, o.why);
	offload_choose(&o, OFFLOAD_ON, &p, TAP, true);
	check(r, o.tx && o.rx, "--offload on: tx %d rx %d", o.tx, o.rx);

	struct bridge_port p2;
	char want[256];
	snprintf(want, sizeof(want), "--bridge %s: " TAP " is already a port of %s", ovs_br,
		 ovs_br);
	ret = bridge_attach(&p2, ovs_br, TAP, &e);
	check_error_prefix(r, "bridge_attach of a port OVS has already", ret, &e, want);
	check(r, ovs_has_port(ovs_br, TAP), "the failed attach left " TAP " in place");

	bridge_detach(&p);
	check(r, !ovs_has_port(ovs_br, TAP), "bridge_detach: " TAP " gone from %s", ovs_br);
	check(r, bridge_ovs_port_bridge(TAP, br, sizeof(br)) == 0,
	      "bridge_ovs_port_bridge after detach: none");
	offload_choose(&o, OFFLOAD_AUTO, &none, TAP, false);
	check(r, o.tx && o.rx, "offloads of a TAP in no bridge: tx %d rx %d", o.tx, o.rx);
	check(r, p.kind == BRIDGE_NONE, "bridge_detach: kind back to BRIDGE_NONE");
	bridge_detach(&p);
	check(r, true, "bridge_detach twice");

	snprintf(want, sizeof(want), "--bridge %s: Open vSwitch could not use mvnosuch: ", ovs_br);
	ret = bridge_attach(&p, ovs_br, "mvnosuch", &e);
	check_error_prefix(r, "bridge_attach of a missing device to OVS", ret, &e, want);
	check(r, !ovs_has_port(ovs_br, "mvnosuch"), "the failed OVS attach was rolled back");
	check(r, p.kind == BRIDGE_NONE, "the failed OVS attach left kind BRIDGE_NONE");
}

static void test_linux_bridge(struct results *r, const char *lbr)
{
	struct errbuf e = {""};
	struct bridge_port p;
	char master[256];
	int ret = bridge_attach(&p, lbr, TAP, &e);
	check_ok(r, "bridge_attach to the Linux bridge", ret, &e);
	check(r, p.kind == BRIDGE_LINUX, "bridge_attach to the Linux bridge: kind BRIDGE_LINUX");
	sysfs_master(TAP, master, sizeof(master));
	check(r, !strcmp(master, lbr), "/sys/class/net/" TAP "/master -> %s", master);
	struct offload_policy o;
	offload_choose(&o, OFFLOAD_AUTO, &p, TAP, true);
	check(r, o.tx && o.rx, "offloads on a Linux bridge: tx %d rx %d", o.tx, o.rx);

	struct bridge_port p2;
	char want[256];
	snprintf(want, sizeof(want), "--bridge %s: " TAP " is already a port of %s", lbr, lbr);
	ret = bridge_attach(&p2, lbr, TAP, &e);
	check_error(r, "bridge_attach of a port that is already in a bridge", ret, &e, want);

	bridge_detach(&p);
	sysfs_master(TAP, master, sizeof(master));
	check(r, !*master, "bridge_detach: " TAP " has no master (\"%s\")", master);
	bridge_detach(&p);
	check(r, p.kind == BRIDGE_NONE, "bridge_detach twice");
}

static void test_missing_bridges(struct results *r)
{
	struct errbuf e = {""};
	struct bridge_port p;
	int ret = bridge_attach(&p, "mvnobr", TAP, &e);
	check_error(r, "bridge_attach to a missing bridge", ret, &e,
		    "--bridge mvnobr: no such bridge (not an Open vSwitch bridge, and no Linux "
		    "bridge of that name)");
	ret = bridge_attach(&p, VETH, TAP, &e);
	check_error(r, "bridge_attach to a veth", ret, &e,
		    "--bridge " VETH
		    ": not a bridge (not an Open vSwitch bridge, and the link " VETH " is a veth)");
	ret = bridge_attach(&p, "--db=unix:/x", TAP, &e);
	check_error(r, "bridge_attach to a name like an option", ret, &e,
		    "--bridge --db=unix:/x: a bridge name cannot start with '-'");
}

static void test_close(struct results *r, struct tap *t)
{
	tap_close(t);
	check(r, t->fd == -1 && if_nametoindex(TAP) == 0, "tap_close: " TAP " is gone");
	tap_close(t);
	check(r, true, "tap_close twice");

	struct errbuf e = {""};
	struct tap pre;
	int ret = tap_open(&pre, PERSIST, &e);
	check_ok(r, "tap_open of the persistent TAP " PERSIST, ret, &e);
	if (ret < 0)
		return;
	check(r, !pre.created, "tap_open " PERSIST ": created=%d (it existed)", pre.created);
	check(r, pre.saved_hdr_len == 10, "tap_open " PERSIST ": its header size was %d (tun's 10)",
	      pre.saved_hdr_len);
	tap_close(&pre);
	check(r, if_nametoindex(PERSIST) != 0, "tap_close: " PERSIST " still exists");
	/* The device keeps its header size after our fd is gone: it must be
	 * back at what it was for the next user. */
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", PERSIST);
	int hdr = -1;
	bool read =
	    fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNGETVNETHDRSZ, &hdr) == 0;
	check(r, read && hdr == 10, "tap_close: " PERSIST "'s header size is back at %d (want 10)",
	      hdr);
	if (fd >= 0)
		close(fd);
}

/* ovsdb-server is up, ovs-vswitchd is not: add-port is committed to the
 * database, then times out waiting for ovs-vswitchd, and must be rolled
 * back. */
static void test_vswitchd_stopped(struct results *r, const char *ovs_br)
{
	struct errbuf e = {""};
	struct tap t;
	int ret = tap_open(&t, TAP, &e);
	check_ok(r, "tap_open " TAP, ret, &e);
	if (ret < 0)
		return;
	char want[256];
	snprintf(want, sizeof(want),
		 "--bridge %s: Open vSwitch did not add " TAP
		 " within 5 s (is ovs-vswitchd running?)",
		 ovs_br);
	struct bridge_port p;
	ret = bridge_attach(&p, ovs_br, TAP, &e);
	check_error(r, "bridge_attach with ovs-vswitchd stopped", ret, &e, want);
	check(r, !ovs_has_port(ovs_br, TAP) && p.kind == BRIDGE_NONE,
	      "the timed-out add-port was rolled back");
	tap_close(&t);
	check(r, if_nametoindex(TAP) == 0, "tap_close: " TAP " is gone");
}

/* OVS is down: an OVS bridge name no longer resolves, and Linux bridges
 * must still work. */
static void test_ovs_stopped(struct results *r, const char *ovs_br, const char *lbr)
{
	struct errbuf e = {""};
	struct tap t;
	int ret = tap_open(&t, TAP, &e);
	check_ok(r, "tap_open " TAP, ret, &e);
	if (ret < 0)
		return;

	const char *rundir = getenv("OVS_RUNDIR");
	char want[512];
	snprintf(want, sizeof(want),
		 "--bridge %s: Open vSwitch is not running (cannot reach its database at "
		 "%s/db.sock) and %s is not a Linux bridge",
		 ovs_br, rundir ? rundir : "/var/run/openvswitch", ovs_br);
	struct bridge_port p;
	ret = bridge_attach(&p, ovs_br, TAP, &e);
	check_error(r, "bridge_attach with OVS stopped", ret, &e, want);

	char *path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	setenv("PATH", "/nonexistent", 1);
	ret = bridge_attach(&p, ovs_br, TAP, &e);
	setenv("PATH", path, 1);
	free(path);
	snprintf(want, sizeof(want),
		 "--bridge %s: Open vSwitch is not running (ovs-vsctl not found in PATH) and %s "
		 "is not a Linux bridge",
		 ovs_br, ovs_br);
	check_error(r, "bridge_attach without ovs-vsctl", ret, &e, want);

	ret = bridge_attach(&p, lbr, TAP, &e);
	check_ok(r, "bridge_attach to the Linux bridge with OVS stopped", ret, &e);
	char master[256];
	sysfs_master(TAP, master, sizeof(master));
	check(r, !strcmp(master, lbr), "/sys/class/net/" TAP "/master -> %s", master);
	struct offload_policy o;
	offload_choose(&o, OFFLOAD_AUTO, &p, TAP, true);
	check(r, o.tx && o.rx, "offloads on a Linux bridge: tx %d rx %d", o.tx, o.rx);
	bridge_detach(&p);
	sysfs_master(TAP, master, sizeof(master));
	check(r, !*master, "bridge_detach: " TAP " has no master");

	ret = bridge_attach(&p, lbr, TAP, &e);
	check_ok(r, "bridge_attach to the Linux bridge, then tap_close first", ret, &e);
	tap_close(&t);
	bridge_detach(&p);
	check(r, if_nametoindex(TAP) == 0 && p.kind == BRIDGE_NONE,
	      "bridge_detach after the TAP went away: quietly nothing to do");
}

int main(int argc, char **argv)
{
	const char *phase = argc > 1 && !strncmp(argv[1], "--", 2) ? argv[1] : "";
	int args = *phase ? 2 : 1;
	if (argc != args + 2 ||
	    (*phase && strcmp(phase, "--vswitchd-stopped") && strcmp(phase, "--ovs-stopped"))) {
		fprintf(stderr,
			"usage: %s [--vswitchd-stopped | --ovs-stopped] OVS_BRIDGE LINUX_BRIDGE\n",
			argv[0]);
		return 2;
	}
	const char *ovs_br = argv[args], *lbr = argv[args + 1];
	struct results r = {0, 0};
	if (!strcmp(phase, "--ovs-stopped")) {
		test_ovs_stopped(&r, ovs_br, lbr);
	} else if (!strcmp(phase, "--vswitchd-stopped")) {
		test_vswitchd_stopped(&r, ovs_br);
	} else {
		struct tap t;
		test_tap(&r, &t);
		if (t.fd >= 0) {
			test_link(&r);
			test_ovs(&r, ovs_br);
			test_linux_bridge(&r, lbr);
			test_missing_bridges(&r);
			test_close(&r, &t);
		}
	}
	printf("net plumbing: %d passed, %d failed\n", r.passed, r.failed);
	return r.failed ? 1 : 0;
}
