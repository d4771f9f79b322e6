/* A TAP device opened as virtio-net's backend. */
#ifndef MINIVMM_NET_TAP_H
#define MINIVMM_NET_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "vmm/base/error.h"

struct tap {
	int fd; /* -1 when closed */
	char name[IFNAMSIZ];
	bool created;	     /* tap_open() made the device; it goes away with fd */
	size_t vnet_hdr_len; /* bytes of virtio-net header before every frame */
	int saved_hdr_len;   /* a TAP that was there before: its header size then */
};

/* Opens (creating if needed) the TAP device NAME, non-blocking, with a
 * virtio 1.x header (struct virtio_net_hdr_mrg_rxbuf) in front of every frame
 * in both directions. Messages name it as "--tap NAME". On error t->fd is -1
 * and nothing was created. */
int tap_open(struct tap *t, const char *name, struct errbuf *e);

/* Tells the kernel which offloads the guest accepts on frames we read
 * (TUN_F_CSUM, TUN_F_TSO4, ...; <linux/if_tun.h>). 0 means none: the kernel
 * then checksums and segments everything before handing it to us. */
int tap_set_offload(struct tap *t, unsigned tun_f_flags, struct errbuf *e);

/* Closes the fd; safe on a closed tap. A TAP that was there before gets its
 * header size back, and no offloads (what tun starts with: no ioctl reads
 * the old ones), so whoever opens it next finds it as it was. */
void tap_close(struct tap *t);

/* What tap_close() does to a TAP that was there before, on any descriptor
 * of it: no offloads, and the header size it had (net/undo.c does it too,
 * when minivmm could not). */
void tap_restore(int fd, int saved_hdr_len);

#endif
