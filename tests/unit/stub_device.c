#include "stub_device.h"

#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <string.h>

static void cfg_read(void *ctx, uint32_t off, uint8_t *data, uint32_t len)
{
	struct stub_device *d = ctx;
	memcpy(data, d->cfg + off, len);
}

static void cfg_write(void *ctx, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct stub_device *d = ctx;
	memcpy(d->cfg + off, data, len);
}

static int on_activate(void *ctx)
{
	struct stub_device *d = ctx;
	d->activated++;
	return d->activate_result;
}

static void on_reset(void *ctx)
{
	struct stub_device *d = ctx;
	d->resets++;
}

const struct virtio_device_ops stub_device_ops = {
    .device_id = VIRTIO_ID_NET,
    .pci_class = 0x020000,
    .features = 1ULL << VIRTIO_RING_F_EVENT_IDX,
    .num_queues = 2,
    .queue_max = 256,
    .config_len = sizeof(((struct stub_device *)0)->cfg),
    .config_read = cfg_read,
    .config_write = cfg_write,
    .activate = on_activate,
    .reset = on_reset,
};
