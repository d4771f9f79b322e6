#include "net/offload.h"

#include <stdio.h>
#include <string.h>

int offload_parse_mode(const char *s, enum offload_mode *m, struct errbuf *e)
{
	if (!strcmp(s, "auto"))
		*m = OFFLOAD_AUTO;
	else if (!strcmp(s, "on"))
		*m = OFFLOAD_ON;
	else if (!strcmp(s, "off"))
		*m = OFFLOAD_OFF;
	else
		return errorf(e, "--offload %s: not one of auto, on, off", s);
	return 0;
}

/* ovs-vswitchd.conf.db(5), Bridge datapath_type: empty or "system" is the
 * kernel module's datapath; anything else ("netdev", the userspace one)
 * is ovs-vswitchd forwarding in userspace. */
static bool kernel_datapath(const char *type)
{
	return !*type || !strcmp(type, "system");
}

void offload_decide(struct offload_policy *p, enum offload_mode mode, const char *ovs_bridge,
		    const struct ovs_datapath *dp, const char *ovs_error)
{
	*p = (struct offload_policy){.tx = true, .rx = true};
	if (mode == OFFLOAD_OFF) {
		p->tx = p->rx = false;
		snprintf(p->why, sizeof(p->why), "--offload off");
		return;
	}
	if (mode == OFFLOAD_ON || !ovs_bridge)
		return;
	/* Frames from OVS to the TAP need no care: without userspace TSO
	 * ovs-vswitchd sends plain frames through its packet socket (the
	 * TAP's vnet header then says "nothing to do"), and with it the TAP
	 * finishes what the guest did not accept (TUNSETOFFLOAD). */
	if (!dp) {
		p->tx = false;
		snprintf(p->why, sizeof(p->why),
			 "could not ask Open vSwitch about bridge %s (%s), which may use the "
			 "userspace datapath",
			 ovs_bridge, ovs_error ? ovs_error : "no answer");
	} else if (!kernel_datapath(dp->type) && !dp->userspace_tso) {
		p->tx = false;
		snprintf(p->why, sizeof(p->why),
			 "Open vSwitch bridge %s uses the userspace datapath "
			 "(datapath_type=%s) without other_config:userspace-tso-enable=true, "
			 "which passes partial checksums on unfinished and drops 64 KiB frames",
			 ovs_bridge, dp->type);
	}
}

void offload_choose(struct offload_policy *p, enum offload_mode mode,
		    const struct bridge_port *port, const char *tap, bool tap_created)
{
	char found[64] = "";
	const char *ovs_bridge = NULL;
	if (mode == OFFLOAD_AUTO) {
		if (port->kind == BRIDGE_OVS)
			ovs_bridge = port->bridge;
		else if (port->kind == BRIDGE_NONE && !tap_created &&
			 bridge_ovs_port_bridge(tap, found, sizeof(found)) == 1)
			ovs_bridge = found;
	}
	struct ovs_datapath dp;
	struct errbuf e = {.msg = ""};
	bool known = ovs_bridge && bridge_ovs_datapath(ovs_bridge, &dp, &e) == 0;
	offload_decide(p, mode, ovs_bridge, known ? &dp : NULL, e.msg);
}
