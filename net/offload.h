/*
 * Which checksum and segmentation offloads the guest's NIC is offered, in
 * each direction, decided from what carries the TAP's frames beyond it.
 *
 * With an offload the guest hands over (or takes) TCP/UDP frames whose
 * checksum is only the pseudo-header's (VIRTIO_NET_HDR_F_NEEDS_CSUM) and
 * 64 KiB frames still to be segmented (gso_type), and the TAP passes that
 * state on as the skb's CHECKSUM_PARTIAL and GSO fields. Whatever reads
 * the TAP must finish that work. The Linux stack, a Linux bridge and Open
 * vSwitch's kernel datapath do. Open vSwitch's userspace datapath reads
 * the TAP through a packet socket and, unless ovs-vswitchd runs with
 * other_config:userspace-tso-enable=true, asks for no virtio_net_hdr on
 * it: the frames leave through its other ports as they are, their
 * checksums unfinished (a receiving host counts them in TcpInCsumErrors)
 * and GSO frames larger than the MTU dropped ("Dropped packet: Too big").
 * So the guest is then offered no transmit offloads and does that work
 * itself. docs/networking.md, "Features and offloads", says more.
 */
#ifndef MINIVMM_NET_OFFLOAD_H
#define MINIVMM_NET_OFFLOAD_H

#include <stdbool.h>

#include "net/bridge.h"
#include "vmm/base/error.h"

/* --offload: auto (the default), on, off. */
enum offload_mode { OFFLOAD_AUTO, OFFLOAD_ON, OFFLOAD_OFF };

struct offload_policy {
	bool tx;       /* guest -> host: partial checksums and GSO frames into the TAP */
	bool rx;       /* host -> guest: the same out of the TAP */
	char why[320]; /* why tx or rx is off; empty when both are on */
};

int offload_parse_mode(const char *s, enum offload_mode *m, struct errbuf *e);

/* The rule, apart from how its facts are found (unit-tested on its own).
 * ovs_bridge: the OVS bridge the TAP is a port of, or NULL (a Linux bridge,
 * no bridge, or none minivmm can see). dp: what OVS said of that bridge,
 * or NULL with ovs_error saying why it could not tell. */
void offload_decide(struct offload_policy *p, enum offload_mode mode, const char *ovs_bridge,
		    const struct ovs_datapath *dp, const char *ovs_error);

/* Finds the facts and decides. port: what --bridge attached (may be
 * BRIDGE_NONE); tap: the TAP's name; tap_created: minivmm made the TAP,
 * so no bridge can have it yet. Asks ovs-vsctl only where OVS may hold the
 * TAP: after attaching it to an OVS bridge, or for a TAP that existed
 * before with no --bridge given. */
void offload_choose(struct offload_policy *p, enum offload_mode mode,
		    const struct bridge_port *port, const char *tap, bool tap_created);

#endif
