/* Network interfaces through rtnetlink (libnl-3 route): the few changes
 * minivmm makes to its TAP while setting up. Each call opens and frees its
 * own netlink socket; none is on a hot path. */
#ifndef MINIVMM_NET_LINK_H
#define MINIVMM_NET_LINK_H

#include <stddef.h>

#include "vmm/base/error.h"

/* Sets IFF_UP (`ip link set IFNAME up`). */
int link_set_up(const char *ifname, struct errbuf *e);

/* On failure every function here sets errno: ENODEV, with the message
 * "link X: no such link", when a link it is given does not exist; EIO for
 * anything else (the message says what). */

/* The link's kind (IFLA_INFO_KIND: "bridge", "tun", "veth", ...), or "" for
 * devices that have none (physical NICs, lo). */
int link_kind(const char *ifname, char *kind, size_t n, struct errbuf *e);

/* The name of the link's master (the bridge it is a port of), or "" if it
 * has none. */
int link_master(const char *ifname, char *master, size_t n, struct errbuf *e);

/* Makes IFNAME a port of MASTER (`ip link set IFNAME master MASTER`), or of
 * nothing if MASTER is NULL (`nomaster`). */
int link_set_master(const char *ifname, const char *master, struct errbuf *e);

#endif
