/*
 * The virtio-net header (virtio 1.2 §5.1.6) as the device handles it:
 * copied out of and into the driver's buffers wherever their descriptors
 * split it, and, on transmit, checked before the host kernel sees it.
 */
#ifndef MINIVMM_NET_HDR_H
#define MINIVMM_NET_HDR_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Copies len bytes from byte offset off of a scatter list into dst, as many
 * as the list holds; returns how many. */
size_t net_iov_read(const struct iovec *iov, size_t niov, size_t off, void *dst, size_t len);

/* Writes len bytes at byte offset off of a scatter list, as far as it goes. */
void net_iov_write(const struct iovec *iov, size_t niov, size_t off, const void *src, size_t len);

/* For a transmit chain's readable buffers iov[0, niov), holding at least a
 * whole header: copies the header into *hdr and fills out[] with hdr
 * first, then the rest of the frame from iov. Returns out[]'s entries (at
 * most niov + 1). The backend gets the header the device checked, not one
 * the guest may rewrite between the check and the write. */
size_t net_hdr_tx_iov(const struct iovec *iov, size_t niov, struct virtio_net_hdr_mrg_rxbuf *hdr,
		      struct iovec *out);

/* Why a transmitted frame with header h must not reach the backend, given
 * the features the driver negotiated (bits 1 << VIRTIO_NET_F_*), or NULL if
 * it may: it asks for no offload the driver did not negotiate
 * (§5.1.6.2.1). */
const char *net_hdr_tx_refusal(const struct virtio_net_hdr *h, uint64_t features);

#endif
