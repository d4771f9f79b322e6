#include "virtio/net_hdr.h"

#include <stdbool.h>
#include <string.h>

/* The entry of iov that holds byte *off, with *off made an offset into it;
 * niov if the list is shorter. */
static size_t iov_seek(const struct iovec *iov, size_t niov, size_t *off)
{
	size_t i = 0;
	while (i < niov && *off >= iov[i].iov_len)
		*off -= iov[i++].iov_len;
	return i;
}

/* Copies between buf and bytes [off, off + len) of a scatter list, as far
 * as the list goes; returns the bytes copied. */
static size_t iov_copy(const struct iovec *iov, size_t niov, size_t off, uint8_t *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;
	for (size_t i = iov_seek(iov, niov, &off); i < niov && done < len; i++, off = 0) {
		size_t n = iov[i].iov_len - off < len - done ? iov[i].iov_len - off : len - done;
		uint8_t *p = (uint8_t *)iov[i].iov_base + off;
		memcpy(to_iov ? p : buf + done, to_iov ? buf + done : p, n);
		done += n;
	}
	return done;
}

size_t net_iov_read(const struct iovec *iov, size_t niov, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, niov, off, dst, len, false);
}

void net_iov_write(const struct iovec *iov, size_t niov, size_t off, const void *src, size_t len)
{
	iov_copy(iov, niov, off, (void *)src, len, true); /* only read from */
}

size_t net_hdr_tx_iov(const struct iovec *iov, size_t niov, struct virtio_net_hdr_mrg_rxbuf *hdr,
		      struct iovec *out)
{
	net_iov_read(iov, niov, 0, hdr, sizeof(*hdr));
	out[0] = (struct iovec){hdr, sizeof(*hdr)};
	size_t k = 1, off = sizeof(*hdr);
	for (size_t i = iov_seek(iov, niov, &off); i < niov; i++, off = 0)
		out[k++] = (struct iovec){(uint8_t *)iov[i].iov_base + off, iov[i].iov_len - off};
	return k;
}

#define HAS(features, bit) ((features) & (1ULL << (bit)))

/* The tun driver acts on whatever the header asks for
 * (virtio_net_hdr_to_skb() knows nothing of the guest's features), and a
 * backend that withholds an offload (net/offload.h) withholds it because
 * what lies behind the TAP cannot carry such frames. So the device holds
 * the driver to §5.1.6.2.1: "If VIRTIO_NET_F_CSUM is not negotiated, the
 * driver MUST set flags to zero"; "If VIRTIO_NET_F_HOST_TSO4 is negotiated,
 * the driver MAY set gso_type to VIRTIO_NET_HDR_GSO_TCPV4 ..., otherwise the
 * driver MUST NOT", the same for TSO6, UFO and USO (neither of which is
 * offered here); ECN only with HOST_ECN; and "If gso_type differs from
 * VIRTIO_NET_HDR_GSO_NONE, then the driver MUST also set the
 * VIRTIO_NET_HDR_F_NEEDS_CSUM bit in flags and MUST set gso_size". The
 * flag bits nobody acts on in a transmitted header (DATA_VALID, RSC_INFO:
 * neither does virtio_net_hdr_to_skb()) are ignored, as §5.1.6.2.2 asks. */
const char *net_hdr_tx_refusal(const struct virtio_net_hdr *h, uint64_t features)
{
	bool csum = h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (csum && !HAS(features, VIRTIO_NET_F_CSUM))
		return "NEEDS_CSUM without VIRTIO_NET_F_CSUM";
	if (h->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return NULL; /* most frames: two tests */
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!HAS(features, VIRTIO_NET_F_HOST_TSO4))
			return "GSO_TCPV4 without VIRTIO_NET_F_HOST_TSO4";
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!HAS(features, VIRTIO_NET_F_HOST_TSO6))
			return "GSO_TCPV6 without VIRTIO_NET_F_HOST_TSO6";
		break;
	case VIRTIO_NET_HDR_GSO_NONE:
		return "GSO_ECN without a TCP gso_type";
	default:
		return "a gso_type the device does not offer (UFO, USO, or unknown)";
	}
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && !HAS(features, VIRTIO_NET_F_HOST_ECN))
		return "GSO_ECN without VIRTIO_NET_F_HOST_ECN";
	if (!csum)
		return "GSO without NEEDS_CSUM";
	if (h->gso_size == 0)
		return "GSO with gso_size 0";
	return NULL;
}
