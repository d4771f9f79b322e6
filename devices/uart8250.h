/*
 * A 16550A-compatible UART (the "8250" Linux drives on ttyS0): the register
 * model of the National Semiconductor PC16550D datasheet, with a receive FIFO
 * fed from the host and every transmitted byte handed to a callback at once,
 * so the transmitter is always empty.
 */
#ifndef MINIVMM_UART8250_H
#define MINIVMM_UART8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/byte_fifo.h"

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ  4
#define UART_REGS      8
#define UART_RX_FIFO   256 /* deeper than the 16550's 16 bytes: pasted input is not lost */

/* Where its two wires go: the transmitted bytes, and its interrupt line. */
struct uart8250_ops {
	void (*tx)(void *ctx, uint8_t byte);
	void *tx_ctx;
	void (*set_irq)(void *ctx, int level);
	void *irq_ctx;
};

struct uart8250 {
	pthread_mutex_t lock;
	struct uart8250_ops ops;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thr_interrupt; /* THRE interrupt pending until IIR is read or THR written */
	int irq_level;
	struct byte_fifo rx;
};

void uart8250_init(struct uart8250 *u, const struct uart8250_ops *ops);
void uart8250_destroy(struct uart8250 *u);

/* bus_io_fn for the 8 registers at the port base. */
void uart8250_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Queues host input for the guest; returns how many bytes fit. */
size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t n);

#endif
