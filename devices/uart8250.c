#include "devices/uart8250.h"

#include <string.h>

/* Register offsets and bits: PC16550D datasheet, table 2 and §8. */
enum {
	REG_RBR_THR_DLL = 0,
	REG_IER_DLM = 1,
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};
#define IER_RDI	     0x01 /* received data available */
#define IER_THRI     0x02 /* transmitter holding register empty */
#define IIR_NO_INT   0x01
#define IIR_THRI     0x02
#define IIR_RDI	     0x04
#define IIR_FIFO_ON  0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB     0x80
#define MCR_DTR	     0x01
#define MCR_RTS	     0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10
#define LSR_DR	     0x01
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS	     0x10
#define MSR_DSR	     0x20
#define MSR_RI	     0x40
#define MSR_DCD	     0x80

void uart8250_init(struct uart8250 *u, const struct uart8250_ops *ops)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->ops = *ops;
	u->mcr = MCR_OUT2;
	byte_fifo_init(&u->rx, UART_RX_FIFO);
}

void uart8250_destroy(struct uart8250 *u)
{
	pthread_mutex_destroy(&u->lock);
}

static uint8_t current_iir(const struct uart8250 *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO_ON : 0;
	if ((u->ier & IER_RDI) && u->rx.count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_THRI) && u->thr_interrupt)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

/* The INTR pin follows the interrupt identification; on a PC, OUT2 gates it
 * onto the ISA bus (the datasheet's OUT2 is wired that way on every PC). */
static void update_irq(struct uart8250 *u)
{
	int level = !(current_iir(u) & IIR_NO_INT) && (u->mcr & MCR_OUT2);
	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->ops.set_irq)
			u->ops.set_irq(u->ops.irq_ctx, level);
	}
}

static void write_reg(struct uart8250 *u, unsigned reg, uint8_t v)
{
	bool dlab = u->lcr & LCR_DLAB;
	switch (reg) {
	case REG_RBR_THR_DLL:
		if (dlab) {
			u->dll = v;
			break;
		}
		if (u->mcr & MCR_LOOP)
			byte_fifo_push(&u->rx, v); /* full: an overrun, dropped */
		else if (u->ops.tx)
			u->ops.tx(u->ops.tx_ctx, v);
		u->thr_interrupt = true; /* sent at once: THR empty again */
		break;
	case REG_IER_DLM:
		if (dlab) {
			u->dlm = v;
			break;
		}
		/* Enabling THRI with THR empty raises the interrupt straight away;
		 * Linux's serial core relies on this to start transmitting. */
		if (!(u->ier & IER_THRI) && (v & IER_THRI))
			u->thr_interrupt = true;
		u->ier = v & 0x0f;
		break;
	case REG_IIR_FCR:
		u->fcr = v & (FCR_ENABLE | 0xc0);
		if (v & FCR_CLEAR_RX)
			byte_fifo_init(&u->rx, UART_RX_FIFO);
		break;
	case REG_LCR:
		u->lcr = v;
		break;
	case REG_MCR:
		u->mcr = v & 0x1f;
		break;
	case REG_SCR:
		u->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static uint8_t read_reg(struct uart8250 *u, unsigned reg)
{
	bool dlab = u->lcr & LCR_DLAB;
	switch (reg) {
	case REG_RBR_THR_DLL:
		return dlab ? u->dll : byte_fifo_pop(&u->rx);
	case REG_IER_DLM:
		return dlab ? u->dlm : u->ier;
	case REG_IIR_FCR: {
		uint8_t iir = current_iir(u);
		/* Reading IIR while it shows THRE clears that source (datasheet
		 * table 4). */
		if ((iir & 0x0f) == IIR_THRI)
			u->thr_interrupt = false;
		return iir;
	}
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		return (u->rx.count ? LSR_DR : 0) | LSR_THRE | LSR_TEMT;
	case REG_MSR:
		if (u->mcr & MCR_LOOP) /* modem outputs looped back to inputs */
			return (uint8_t)(((u->mcr & MCR_RTS) ? MSR_CTS : 0) |
					 ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
					 ((u->mcr & MCR_OUT1) ? MSR_RI : 0) |
					 ((u->mcr & MCR_OUT2) ? MSR_DCD : 0));
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case REG_SCR:
		return u->scr;
	}
	return 0xff;
}

void uart8250_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct uart8250 *u = opaque;
	pthread_mutex_lock(&u->lock);
	/* The UART's registers are bytes; a wider access touches consecutive
	 * ones, as an ISA bus splits it. */
	for (uint32_t i = 0; i < len; i++) {
		unsigned reg = (unsigned)(offset + i) & (UART_REGS - 1);
		if (is_write)
			write_reg(u, reg, data[i]);
		else
			data[i] = read_reg(u, reg);
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

size_t uart8250_receive(struct uart8250 *u, const uint8_t *buf, size_t n)
{
	pthread_mutex_lock(&u->lock);
	size_t room = byte_fifo_free(&u->rx), take = n < room ? n : room;
	for (size_t i = 0; i < take; i++)
		byte_fifo_push(&u->rx, buf[i]); /* overrun: a real 16550 drops it too */
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return take;
}
