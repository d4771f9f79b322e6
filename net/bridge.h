/* Attaching minivmm's TAP to the bridge named by --bridge: an Open vSwitch
 * bridge if OVS knows the name, else a Linux bridge.
 *
 * OVS is driven through ovs-vsctl, so minivmm finds OVS's database where
 * ovs-vsctl does: unix:$OVS_RUNDIR/db.sock, with OVS_RUNDIR defaulting to
 * /var/run/openvswitch (ovs-vsctl(8), "--db"). Point OVS_RUNDIR at another
 * directory to use an OVS started there (tests/integration/net_plumbing.sh
 * does). */
#ifndef MINIVMM_NET_BRIDGE_H
#define MINIVMM_NET_BRIDGE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmm/base/error.h"

struct bridge_port {
	enum { BRIDGE_NONE, BRIDGE_OVS, BRIDGE_LINUX } kind; /* what attach did */
	char bridge[64];
	char port[IFNAMSIZ];
};

/* What Open vSwitch does with a bridge's frames (ovs-vswitchd.conf.db(5)). */
struct ovs_datapath {
	char type[32];	    /* datapath_type: "" or "system" is the kernel's, "netdev" userspace */
	bool userspace_tso; /* Open_vSwitch other_config:userspace-tso-enable is true */
};

/* Asks OVS (through ovs-vsctl) about BRIDGE's datapath. -1 with a message in
 * e if it cannot tell. */
int bridge_ovs_datapath(const char *bridge, struct ovs_datapath *d, struct errbuf *e);

/* The Open vSwitch bridge that has a port named PORT, into bridge[n]: 1 if
 * there is one, 0 if not or if OVS is not installed or not running. */
int bridge_ovs_port_bridge(const char *port, char *bridge, size_t n);

/* Makes the interface PORT a port of BRIDGE: bridge_plan(), then
 * bridge_commit(). Messages name it as "--bridge BRIDGE". On error p->kind
 * is BRIDGE_NONE and nothing changed. */
int bridge_attach(struct bridge_port *p, const char *bridge, const char *port, struct errbuf *e);

/* The first half: checks the names, finds what BRIDGE is (an Open vSwitch
 * bridge if OVS knows the name, else a Linux bridge) and that PORT is no
 * port of any bridge yet, and fills p with what bridge_commit() will do,
 * changing nothing. So a caller can record the change before it is made
 * (net/undo.h). */
int bridge_plan(struct bridge_port *p, const char *bridge, const char *port, struct errbuf *e);

/* The second half: makes the change p describes. On error p->kind is
 * BRIDGE_NONE and nothing changed. */
int bridge_commit(struct bridge_port *p, struct errbuf *e);

/* Undoes exactly what bridge_attach() did, and nothing else; a no-op on
 * BRIDGE_NONE, so it is safe to call twice. Failures are reported on stderr:
 * this runs on the way out, with nothing left to return an error to. */
void bridge_detach(struct bridge_port *p);

#endif
