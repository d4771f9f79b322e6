/*
 * The i8042 keyboard controller, as much as a PC guest without a keyboard
 * needs: Linux probes it, and "reboot=k" resets the machine by pulsing the
 * CPU reset line through it (command 0xFE), which is how a minivmm guest says
 * it is finished.
 */
#ifndef MINIVMM_I8042_H
#define MINIVMM_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/byte_fifo.h"

#define I8042_DATA_PORT	   0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_KBD_IRQ	   1
#define I8042_QUEUE	   16

/* Where its two wires go: the CPU reset line, and IRQ 1. */
struct i8042_ops {
	void (*reset)(void *ctx);
	void *reset_ctx;
	void (*set_irq)(void *ctx, int level);
	void *irq_ctx;
};

struct i8042 {
	pthread_mutex_t lock;
	struct i8042_ops ops;
	uint8_t command_byte;
	uint8_t output_port;
	uint8_t pending; /* controller command waiting for its data byte, or 0 */
	bool last_was_command;
	int irq_level;
	struct byte_fifo queue; /* the output buffer and what waits behind it */
};

void i8042_init(struct i8042 *k, const struct i8042_ops *ops);
void i8042_destroy(struct i8042 *k);

/* bus_io_fns for the data port (0x60) and the command/status port (0x64). */
void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void i8042_command_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
