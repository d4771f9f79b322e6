#include "virtio/rx_chains.h"

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net_hdr.h"

#define NUM_BUFFERS_OFF offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers)

int rx_chains_init(struct rx_chains *r)
{
	memset(r, 0, sizeof(*r));
	r->iov = calloc(RX_IOV_MAX, sizeof(*r->iov));
	return r->iov ? 0 : -1;
}

void rx_chains_destroy(struct rx_chains *r)
{
	free(r->iov);
	r->iov = NULL;
}

static struct rx_chain *nth(struct rx_chains *r, uint16_t i)
{
	return &r->ring[(r->first + i) % RX_CHAINS_MAX];
}

bool rx_chains_add(struct rx_chains *r, const struct virtq_chain *c)
{
	uint32_t live = r->iov_end - r->iov_first;
	/* + 1: the spill entry after the guest's buffers. */
	if (r->count == RX_CHAINS_MAX || live + c->n_in + 1 > RX_IOV_MAX)
		return false;
	if (r->iov_end + c->n_in + 1 > RX_IOV_MAX) {
		memmove(r->iov, r->iov + r->iov_first, live * sizeof(*r->iov));
		r->iov_first = 0;
		r->iov_end = live;
	}
	memcpy(r->iov + r->iov_end, c->iov + c->n_out, c->n_in * sizeof(*r->iov));
	r->iov_end += c->n_in;
	*nth(r, r->count) = (struct rx_chain){c->head, (uint16_t)c->n_in, c->in_len};
	r->count++;
	r->ndesc += c->n_in;
	r->cap += c->in_len; /* at most 256 chains of 256 KiB (virtqueue.h): no wrap */
	return true;
}

struct iovec *rx_chains_iov(struct rx_chains *r, uint32_t *n)
{
	*n = r->iov_end - r->iov_first;
	return r->iov + r->iov_first;
}

uint16_t rx_chains_use(struct rx_chains *r, struct virtq *q, uint32_t len)
{
	uint16_t used = 0;
	for (uint32_t left = len; left && used < r->count; used++)
		left -= left < nth(r, used)->cap ? left : nth(r, used)->cap;
	/* The TAP leaves num_buffers alone (its header is the 10-byte one
	 * plus padding); the device fills it in before the used ring makes
	 * the buffers the driver's. */
	uint16_t num_buffers = used;
	net_iov_write(r->iov + r->iov_first, r->iov_end - r->iov_first, NUM_BUFFERS_OFF,
		      &num_buffers, sizeof(num_buffers));
	uint32_t left = len, iovs = 0, cap = 0;
	for (uint16_t i = 0; i < used; i++) {
		const struct rx_chain *e = nth(r, i);
		uint32_t part = left < e->cap ? left : e->cap;
		virtq_push(q, e->head, part);
		left -= part;
		iovs += e->niov;
		cap += e->cap;
	}
	r->first = (uint16_t)((r->first + used) % RX_CHAINS_MAX);
	r->count = (uint16_t)(r->count - used);
	r->iov_first += iovs;
	r->ndesc -= iovs; /* one buffer per iovec */
	r->cap = r->count ? r->cap - cap : 0;
	if (!r->count)
		r->iov_first = r->iov_end = 0;
	return used;
}

uint16_t rx_chains_clear(struct rx_chains *r)
{
	uint16_t n = r->count;
	r->first = r->count = 0;
	r->iov_first = r->iov_end = 0;
	r->cap = r->ndesc = 0;
	return n;
}
