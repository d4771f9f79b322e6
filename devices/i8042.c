#include "devices/i8042.h"

#include <string.h>

/* Controller commands and status bits: IBM PC/AT Technical Reference,
 * "Keyboard Controller", as documented for the 8042. */
#define STATUS_OBF    0x01 /* output buffer full: data for the CPU at 0x60 */
#define STATUS_SYS    0x04 /* system flag, from command byte bit 2 */
#define STATUS_CMD    0x08 /* last write went to 0x64 */
#define CB_KBD_INT    0x01
#define CB_SYS	      0x04
#define CB_KBD_OFF    0x10
#define CB_AUX_OFF    0x20
#define CB_XLATE      0x40
#define OUTPORT_RESET 0x01 /* active low: writing 0 here resets the CPU */
#define OUTPORT_A20   0x02
#define KBD_ACK	      0xFA
#define KBD_RESEND    0xFE

void i8042_init(struct i8042 *k, const struct i8042_ops *ops)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->ops = *ops;
	k->command_byte = CB_KBD_INT | CB_SYS | CB_XLATE;
	k->output_port = OUTPORT_RESET | OUTPORT_A20;
	byte_fifo_init(&k->queue, I8042_QUEUE);
}

void i8042_destroy(struct i8042 *k)
{
	pthread_mutex_destroy(&k->lock);
}

static void push(struct i8042 *k, uint8_t b)
{
	byte_fifo_push(&k->queue, b); /* full: dropped, as the real one drops it */
}

static void update_irq(struct i8042 *k)
{
	int level = k->queue.count && (k->command_byte & CB_KBD_INT);
	if (level != k->irq_level) {
		k->irq_level = level;
		if (k->ops.set_irq)
			k->ops.set_irq(k->ops.irq_ctx, level);
	}
}

static void reset_cpu(struct i8042 *k)
{
	if (k->ops.reset)
		k->ops.reset(k->ops.reset_ctx);
}

static void command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case 0x20: /* read command byte */
		push(k, k->command_byte);
		break;
	case 0x60: /* write command byte: data follows at 0x60 */
	case 0xD1: /* write output port */
	case 0xD2: /* write keyboard output buffer */
	case 0xD3: /* write aux output buffer */
	case 0xD4: /* write to aux device */
		k->pending = cmd;
		break;
	case 0xA7:
		k->command_byte |= CB_AUX_OFF;
		break;
	case 0xA8:
		k->command_byte &= (uint8_t)~CB_AUX_OFF;
		break;
	case 0xA9: /* aux interface test: 0 = passed */
	case 0xAB: /* keyboard interface test */
		push(k, 0x00);
		break;
	case 0xAA: /* controller self-test */
		push(k, 0x55);
		break;
	case 0xAD:
		k->command_byte |= CB_KBD_OFF;
		break;
	case 0xAE:
		k->command_byte &= (uint8_t)~CB_KBD_OFF;
		break;
	case 0xC0: /* read input port */
		push(k, 0x00);
		break;
	case 0xD0: /* read output port */
		push(k, k->output_port);
		break;
	default:
		/* 0xF0-0xFF pulse output lines low for 6 us; bit 0 clear means
		 * the reset line is among them (0xFE: the classic reboot). */
		if ((cmd & 0xF0) == 0xF0 && !(cmd & 0x01))
			reset_cpu(k);
		break;
	}
}

static void data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;
	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->command_byte = v;
		return;
	case 0xD1:
		k->output_port = v;
		if (!(v & OUTPORT_RESET))
			reset_cpu(k);
		return;
	case 0xD2:
	case 0xD3:
		push(k, v);
		return;
	case 0xD4: /* no mouse behind the aux port */
		push(k, KBD_RESEND);
		return;
	default:
		break;
	}
	/* A byte for the keyboard itself: there is no keyboard, but answering
	 * the common commands keeps probing code from waiting on timeouts. */
	switch (v) {
	case 0xFF: /* reset: ACK, then self-test passed */
		push(k, KBD_ACK);
		push(k, 0xAA);
		break;
	case 0xEE: /* echo */
		push(k, 0xEE);
		break;
	default:
		push(k, KBD_ACK);
	}
}

void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;
	(void)offset;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_command = false;
		data_write(k, data[0]);
	} else {
		memset(data, 0xff, len);
		data[0] = byte_fifo_pop(&k->queue); /* 0x00 when empty */
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

void i8042_command_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;
	(void)offset;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_command = true;
		command(k, data[0]);
	} else {
		memset(data, 0xff, len);
		data[0] = (uint8_t)((k->queue.count ? STATUS_OBF : 0) |
				    ((k->command_byte & CB_SYS) ? STATUS_SYS : 0) |
				    (k->last_was_command ? STATUS_CMD : 0));
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}
