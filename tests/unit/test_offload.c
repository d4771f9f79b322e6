/* The offload rule (net/offload.c): which offloads a guest's NIC is offered
 * for what carries its TAP's frames. The facts come in as arguments here;
 * tests/integration/tcp_guest.sh checks them against a real Open vSwitch. */
#include <stdio.h>

#include "check_main.h"
#include "net/offload.h"

static struct offload_policy decide(enum offload_mode mode, const char *bridge, const char *type,
				    bool tso)
{
	struct ovs_datapath dp = {.userspace_tso = tso};
	snprintf(dp.type, sizeof(dp.type), "%s", type);
	struct offload_policy p;
	memset(&p, 0x5a, sizeof(p));
	offload_decide(&p, mode, bridge, &dp, NULL);
	return p;
}

START_TEST(test_everything_but_ovs_userspace_gets_all)
{
	/* No bridge or a Linux bridge (no OVS bridge found), OVS's kernel
	 * datapath by either name. */
	struct offload_policy p = decide(OFFLOAD_AUTO, NULL, "", false);
	ck_assert(p.tx && p.rx);
	ck_assert_str_eq(p.why, "");
	p = decide(OFFLOAD_AUTO, "br0", "", false);
	ck_assert(p.tx && p.rx);
	p = decide(OFFLOAD_AUTO, "br0", "system", false);
	ck_assert(p.tx && p.rx);
	ck_assert_str_eq(p.why, "");
}
END_TEST

START_TEST(test_ovs_userspace_without_tso_gets_no_tx)
{
	struct offload_policy p = decide(OFFLOAD_AUTO, "br0", "netdev", false);
	ck_assert(!p.tx);
	ck_assert(p.rx);
	ck_assert_msg(strstr(p.why, "Open vSwitch bridge br0 uses the userspace datapath "
				    "(datapath_type=netdev) without "
				    "other_config:userspace-tso-enable=true"),
		      "%s", p.why);
	/* Another userspace datapath type: the same. */
	p = decide(OFFLOAD_AUTO, "br0", "dummy", false);
	ck_assert(!p.tx && p.rx);
	/* With userspace TSO ovs-vswitchd reads the vnet header and finishes
	 * checksums and segments itself. */
	p = decide(OFFLOAD_AUTO, "br0", "netdev", true);
	ck_assert(p.tx && p.rx);
	ck_assert_str_eq(p.why, "");
}
END_TEST

START_TEST(test_unanswered_ovs_is_treated_as_userspace)
{
	struct offload_policy p;
	offload_decide(&p, OFFLOAD_AUTO, "br0", NULL, "ovs-vsctl timed out");
	ck_assert(!p.tx && p.rx);
	ck_assert_msg(strstr(p.why, "could not ask Open vSwitch about bridge br0 (ovs-vsctl "
				    "timed out)"),
		      "%s", p.why);
}
END_TEST

START_TEST(test_modes_override)
{
	struct offload_policy p = decide(OFFLOAD_ON, "br0", "netdev", false);
	ck_assert(p.tx && p.rx);
	ck_assert_str_eq(p.why, "");
	p = decide(OFFLOAD_OFF, NULL, "", false);
	ck_assert(!p.tx && !p.rx);
	ck_assert_str_eq(p.why, "--offload off");
}
END_TEST

START_TEST(test_parse_mode)
{
	enum offload_mode m = OFFLOAD_OFF;
	struct errbuf e;
	ck_assert_int_eq(offload_parse_mode("auto", &m, &e), 0);
	ck_assert_int_eq(m, OFFLOAD_AUTO);
	ck_assert_int_eq(offload_parse_mode("on", &m, &e), 0);
	ck_assert_int_eq(m, OFFLOAD_ON);
	ck_assert_int_eq(offload_parse_mode("off", &m, &e), 0);
	ck_assert_int_eq(m, OFFLOAD_OFF);
	ck_assert_int_eq(offload_parse_mode("Off", &m, &e), -1);
	ck_assert_str_eq(e.msg, "--offload Off: not one of auto, on, off");
}
END_TEST

CHECK_MAIN("offload", test_everything_but_ovs_userspace_gets_all,
	   test_ovs_userspace_without_tso_gets_no_tx, test_unanswered_ovs_is_treated_as_userspace,
	   test_modes_override, test_parse_mode)
