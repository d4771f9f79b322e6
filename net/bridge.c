#include "net/bridge.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/command.h"
#include "net/link.h"

#define OVS_VSCTL "ovs-vsctl"
/* ovs-vsctl waits this long at most for the database or for ovs-vswitchd to
 * apply a change, then gives up on its own (ovs-vsctl(8), --timeout). */
#define OVS_TIMEOUT "--timeout=5"
#define OVS_ERR_LEN 512

enum ovs_answer {
	OVS_HAS_BRIDGE,
	OVS_NO_BRIDGE,
	OVS_NOT_RUNNING, /* ovs-vsctl cannot reach the database */
	OVS_NO_ANSWER,	 /* it connected, but the database did not answer in time */
	OVS_NOT_INSTALLED,
};

/* The database ovs-vsctl connects to by default; only for messages. */
static const char *ovs_rundir(void)
{
	const char *d = getenv("OVS_RUNDIR");
	return d && *d ? d : "/var/run/openvswitch";
}

/* `ovs-vsctl br-exists BR` exits 0 if BR exists and 2 if not (ovs-vsctl(8));
 * anything else means it could not ask, which in practice is a database it
 * cannot connect to. */
static enum ovs_answer ovs_br_exists(const char *bridge)
{
	const char *argv[] = {OVS_VSCTL, OVS_TIMEOUT, "br-exists", bridge, NULL};
	char err[OVS_ERR_LEN];
	int st = command_run(argv, err, sizeof(err));
	if (st < 0)
		return errno == ENOENT ? OVS_NOT_INSTALLED : OVS_NOT_RUNNING;
	if (st == 0)
		return OVS_HAS_BRIDGE;
	/* --timeout ends it with SIGALRM: a database that accepts connections
	 * and never answers (ovsdb-server stopped or wedged), not a missing one,
	 * which fails at once. */
	if (st == 128 + SIGALRM)
		return OVS_NO_ANSWER;
	return st == 2 ? OVS_NO_BRIDGE : OVS_NOT_RUNNING;
}

/* WAIT: also wait for ovs-vswitchd to let go of the device. Without it
 * (--no-wait) only the database changes, which is all a rollback needs,
 * and which works when ovs-vswitchd is what failed. */
static int ovs_del_port(const char *bridge, const char *port, bool wait, char *err, size_t n)
{
	const char *argv[8];
	size_t i = 0;
	argv[i++] = OVS_VSCTL;
	argv[i++] = OVS_TIMEOUT;
	if (!wait)
		argv[i++] = "--no-wait";
	argv[i++] = "--if-exists";
	argv[i++] = "del-port";
	argv[i++] = bridge;
	argv[i++] = port;
	argv[i] = NULL;
	return command_run(argv, err, n);
}

static int ovs_add_port(struct bridge_port *p, struct errbuf *e)
{
	const char *argv[] = {OVS_VSCTL, OVS_TIMEOUT, "add-port", p->bridge, p->port, NULL};
	char err[OVS_ERR_LEN];
	int st = command_run(argv, err, sizeof(err));
	if (st < 0)
		return errorf_errno(e, "--bridge %s: cannot run %s", p->bridge, OVS_VSCTL);
	/* --timeout ends ovs-vsctl with SIGALRM. For add-port that happens
	 * after the port is committed to the database, while it waits for
	 * ovs-vswitchd to apply it: a port that existed before would have
	 * failed at once instead, so this one is ours to take out. */
	if (st == 128 + SIGALRM) {
		char ignored[OVS_ERR_LEN];
		ovs_del_port(p->bridge, p->port, false, ignored, sizeof(ignored));
		return errorf(e,
			      "--bridge %s: Open vSwitch did not add %s within 5 s (is "
			      "ovs-vswitchd running?)",
			      p->bridge, p->port);
	}
	if (st != 0)
		return errorf(e, "--bridge %s: cannot add %s to it: %s", p->bridge, p->port,
			      *err ? command_first_line(err, OVS_VSCTL) : "ovs-vsctl failed");
	/* add-port records the port in the database even when ovs-vswitchd
	 * then fails to open the device; ovs-vsctl still exits 0 and only
	 * warns. Such a port passes no traffic, so take it out again. */
	if (strstr(err, "Error detected while setting up")) {
		char ignored[OVS_ERR_LEN];
		ovs_del_port(p->bridge, p->port, false, ignored, sizeof(ignored));
		return errorf(e, "--bridge %s: Open vSwitch could not use %s: %s", p->bridge,
			      p->port, command_first_line(err, OVS_VSCTL));
	}
	return 0;
}

/* ovs-vsctl prints a string value bare, or in double quotes where it could
 * be read as another type ("true") or has special characters
 * (ovs-vsctl(8), "Database Values"). Takes one line off *text, unquoted. */
static char *next_value(char **text)
{
	char *v = *text;
	size_t len = strcspn(v, "\n");
	*text = v[len] ? v + len + 1 : v + len;
	v[len] = '\0';
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v[len - 1] = '\0';
		v++;
	}
	return v;
}

int bridge_ovs_datapath(const char *bridge, struct ovs_datapath *d, struct errbuf *e)
{
	memset(d, 0, sizeof(*d));
	/* One ovs-vsctl, two questions; --if-exists: an unset key prints an
	 * empty line instead of failing. */
	const char *argv[] = {
	    OVS_VSCTL, OVS_TIMEOUT,	"get", "Bridge",
	    bridge,    "datapath_type", "--",  "--if-exists",
	    "get",     "Open_vSwitch",	".",   "other_config:userspace-tso-enable",
	    NULL};
	char out[256];
	int st = command_output(argv, out, sizeof(out));
	if (st < 0)
		return errorf_errno(e, "cannot run %s", OVS_VSCTL);
	if (st != 0)
		return errorf(e, "'%s get Bridge %s datapath_type' failed (status %d)", OVS_VSCTL,
			      bridge, st);
	char *text = out;
	snprintf(d->type, sizeof(d->type), "%s", next_value(&text));
	d->userspace_tso = !strcmp(next_value(&text), "true");
	return 0;
}

int bridge_ovs_port_bridge(const char *port, char *bridge, size_t n)
{
	/* Exits 1 with "no port named PORT" when there is none, and fails the
	 * same way when it cannot reach a database at all. */
	const char *argv[] = {OVS_VSCTL, OVS_TIMEOUT, "port-to-br", port, NULL};
	char out[128];
	if (port[0] == '-' || command_output(argv, out, sizeof(out)) != 0)
		return 0;
	char *text = out;
	snprintf(bridge, n, "%s", next_value(&text));
	return *bridge != '\0';
}

/* Names go to ovs-vsctl as arguments: one starting with '-' would be taken
 * for an option. */
static int check_name(const char *what, const char *name, size_t max, struct errbuf *e)
{
	if (!name || !*name)
		return errorf(e, "--bridge: empty %s name", what);
	if (strlen(name) >= max)
		return errorf(e, "--bridge %s: %s name longer than %zu characters", name, what,
			      max - 1);
	if (name[0] == '-')
		return errorf(e, "--bridge %s: a %s name cannot start with '-'", name, what);
	return 0;
}

int bridge_plan(struct bridge_port *p, const char *bridge, const char *port, struct errbuf *e)
{
	memset(p, 0, sizeof(*p));
	p->kind = BRIDGE_NONE;
	if (check_name("bridge", bridge, sizeof(p->bridge), e) < 0 ||
	    check_name("port", port, sizeof(p->port), e) < 0)
		return -1;
	snprintf(p->bridge, sizeof(p->bridge), "%s", bridge);
	snprintf(p->port, sizeof(p->port), "%s", port);

	enum ovs_answer ovs = ovs_br_exists(bridge);
	if (ovs == OVS_HAS_BRIDGE) {
		/* A port OVS has already is not ours to take out at the end. */
		char other[64];
		if (bridge_ovs_port_bridge(port, other, sizeof(other)))
			return errorf(e, "--bridge %s: %s is already a port of %s", bridge, port,
				      other);
		p->kind = BRIDGE_OVS;
		return 0;
	}

	char kind[32] = "";
	struct errbuf lerr;
	bool is_link = link_kind(bridge, kind, sizeof(kind), &lerr) == 0;
	if (!is_link && errno != ENODEV)
		return errorf(e, "--bridge %s: %s", bridge, lerr.msg);
	if (is_link && !strcmp(kind, "bridge")) {
		char master[IFNAMSIZ];
		if (link_master(port, master, sizeof(master), e) < 0)
			return -1;
		/* Moving a port from another bridge could not be undone by detach. */
		if (*master)
			return errorf(e, "--bridge %s: %s is already a port of %s", bridge, port,
				      master);
		p->kind = BRIDGE_LINUX;
		return 0;
	}

	switch (ovs) {
	case OVS_NOT_INSTALLED:
		return errorf(e,
			      "--bridge %s: Open vSwitch is not running (%s not found in PATH) "
			      "and %s is not a Linux bridge",
			      bridge, OVS_VSCTL, bridge);
	case OVS_NOT_RUNNING:
		return errorf(e,
			      "--bridge %s: Open vSwitch is not running (cannot reach its "
			      "database at %s/db.sock) and %s is not a Linux bridge",
			      bridge, ovs_rundir(), bridge);
	case OVS_NO_ANSWER:
		return errorf(e,
			      "--bridge %s: Open vSwitch's database at %s/db.sock did not answer "
			      "within 5 s, and %s is not a Linux bridge",
			      bridge, ovs_rundir(), bridge);
	default:
		if (is_link)
			return errorf(e,
				      "--bridge %s: not a bridge (not an Open vSwitch bridge, and "
				      "the link %s is %s%s)",
				      bridge, bridge, *kind ? "a " : "not a bridge",
				      *kind ? kind : "");
		return errorf(e,
			      "--bridge %s: no such bridge (not an Open vSwitch bridge, and no "
			      "Linux bridge of that name)",
			      bridge);
	}
}

int bridge_commit(struct bridge_port *p, struct errbuf *e)
{
	int r = 0;
	if (p->kind == BRIDGE_OVS)
		r = ovs_add_port(p, e);
	else if (p->kind == BRIDGE_LINUX)
		r = link_set_master(p->port, p->bridge, e);
	if (r < 0)
		p->kind = BRIDGE_NONE;
	return r;
}

int bridge_attach(struct bridge_port *p, const char *bridge, const char *port, struct errbuf *e)
{
	return bridge_plan(p, bridge, port, e) || bridge_commit(p, e) ? -1 : 0;
}

void bridge_detach(struct bridge_port *p)
{
	if (p->kind == BRIDGE_OVS) {
		char err[OVS_ERR_LEN];
		int st = ovs_del_port(p->bridge, p->port, true, err, sizeof(err));
		if (st != 0)
			fprintf(stderr, "minivmm: --bridge %s: cannot remove port %s: %s\n",
				p->bridge, p->port,
				st < 0 ? strerror(errno) : command_first_line(err, OVS_VSCTL));
	} else if (p->kind == BRIDGE_LINUX) {
		char master[IFNAMSIZ];
		struct errbuf e;
		/* The port may be gone already (its TAP closed) or have been
		 * moved elsewhere since: then it is not ours to change. */
		if (link_master(p->port, master, sizeof(master), &e) < 0) {
			if (errno != ENODEV)
				fprintf(stderr, "minivmm: --bridge %s: %s\n", p->bridge, e.msg);
		} else if (!strcmp(master, p->bridge) && link_set_master(p->port, NULL, &e) < 0) {
			fprintf(stderr, "minivmm: --bridge %s: %s\n", p->bridge, e.msg);
		}
	}
	p->kind = BRIDGE_NONE;
}
