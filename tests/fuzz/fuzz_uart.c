/*
 * The 16550A register model (devices/uart8250.c): a script of register reads
 * and writes as the bus delivers them (offset and length inside the 8-byte
 * range) and host input arriving in the receive FIFO.
 *
 * Checked after every step: the FIFO indexes stay in range, LSR's data-ready
 * bit says whether the FIFO holds anything, receive() takes exactly what
 * fits, the interrupt line only ever changes level (it is reported on
 * changes) and matches IIR and OUT2, and what the guest transmits leaves
 * through the tx callback unless loopback is on.
 *
 * Input: a sequence of steps, each an opcode byte and its operands.
 */
#include <stdbool.h>

#include "devices/uart8250.h"
#include "fuzz_input.h"

static struct uart8250 uart;
static int irq_level; /* what the device last told the "PIC" */
static unsigned long tx_count;

static void tx(void *ctx, uint8_t byte)
{
	(void)ctx, (void)byte;
	tx_count++;
}

static void set_irq(void *ctx, int level)
{
	(void)ctx;
	FUZZ_CHECK(level == 0 || level == 1);
	FUZZ_CHECK(level != irq_level); /* changes only */
	irq_level = level;
}

static uint8_t reg(uint8_t r, bool write, uint8_t v)
{
	uart8250_io(&uart, r, &v, 1, write);
	return v;
}

static void check_state(void)
{
	FUZZ_CHECK(uart.rx.count <= UART_RX_FIFO);
	FUZZ_CHECK(uart.rx.head < UART_RX_FIFO);
	FUZZ_CHECK(uart.irq_level == irq_level);
	/* IIR bit 0 is "no interrupt pending"; the line is that, gated by
	 * OUT2. Peek at the model without reading IIR (which has effects). */
	bool pending =
	    ((uart.ier & 0x01) && uart.rx.count) || ((uart.ier & 0x02) && uart.thr_interrupt);
	FUZZ_CHECK(irq_level == (pending && (uart.mcr & 0x08)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct uart8250_ops ops = {tx, NULL, set_irq, NULL};
	irq_level = 0;
	uart8250_init(&uart, &ops);
	struct fuzz_in in = fuzz_in(data, size);
	while (in.left) {
		uint8_t op = fuzz_u8(&in);
		switch (op & 3) {
		case 0:
		case 1: {
			/* A bus access: offset + len stays within the 8 ports
			 * (bus_find guarantees it); rep ins/outs arrive as
			 * single elements. */
			bool write = op & 1;
			uint32_t offset = (op >> 2) & 7;
			uint32_t len = 1u << ((op >> 5) & 3);
			if (len > 4 || offset + len > UART_REGS)
				len = 1;
			uint8_t buf[4];
			fuzz_take(&in, buf, len);
			bool loop = uart.mcr & 0x10, dlab = uart.lcr & 0x80;
			unsigned long before = tx_count;
			uart8250_io(&uart, offset, buf, len, write);
			if (write && len == 1 && offset == 0 && !dlab)
				FUZZ_CHECK(tx_count == before + !loop);
			break;
		}
		case 2: {
			/* Host input: up to 511 bytes, more than the FIFO holds. */
			size_t n = fuzz_u8(&in) + ((op >> 2) & 1) * 256u;
			uint8_t buf[512];
			n = fuzz_take(&in, buf, n);
			size_t room = UART_RX_FIFO - uart.rx.count;
			size_t took = uart8250_receive(&uart, buf, n);
			FUZZ_CHECK(took == (n < room ? n : room));
			break;
		}
		case 3: {
			/* Drain what is there the way Linux does: LSR, then RBR
			 * while data-ready, with DLAB off. */
			uint8_t lcr = reg(3, false, 0);
			reg(3, true, lcr & 0x7f);
			size_t had = uart.rx.count;
			size_t got = 0;
			while (reg(5, false, 0) & 0x01) {
				FUZZ_CHECK(got < had);
				reg(0, false, 0);
				got++;
			}
			FUZZ_CHECK(got == had && uart.rx.count == 0);
			reg(3, true, lcr);
			break;
		}
		}
		check_state();
		/* LSR's data-ready bit says whether the FIFO holds anything. */
		FUZZ_CHECK(!!(reg(5, false, 0) & 0x01) == (uart.rx.count > 0));
	}
	uart8250_destroy(&uart);
	return 0;
}
