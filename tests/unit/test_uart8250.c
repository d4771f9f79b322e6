#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "devices/uart8250.h"
#include "recorder.h"

/* Register offsets and bits, PC16550D datasheet. */
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define LSR_DR	 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

static struct uart8250 u;
static struct dev_rec rec;

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	struct uart8250_ops ops = {
	    .tx = rec_tx, .tx_ctx = &rec, .set_irq = rec_irq, .irq_ctx = &rec};
	uart8250_init(&u, &ops);
}

static void teardown(void)
{
	uart8250_destroy(&u);
}

static uint8_t rd(unsigned reg)
{
	uint8_t v = 0x5a;
	uart8250_io(&u, reg, &v, 1, false);
	return v;
}

static void wr(unsigned reg, uint8_t v)
{
	uart8250_io(&u, reg, &v, 1, true);
}

START_TEST(test_reset_state)
{
	ck_assert_uint_eq(rd(IER), 0);
	ck_assert_uint_eq(rd(IIR), 0x01); /* no interrupt pending, FIFOs off */
	ck_assert_uint_eq(rd(LCR), 0);
	/* OUT2 set: on a PC it gates the UART's interrupt onto the bus, and
	 * firmware leaves it on. */
	ck_assert_uint_eq(rd(MCR), 0x08);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0); /* DCD, DSR, CTS: a cable with a peer */
	ck_assert_uint_eq(rd(SCR), 0);
	ck_assert_int_eq(rec.irq_calls, 0);
}
END_TEST

START_TEST(test_thr_write_transmits)
{
	const char *msg = "hello\n";
	for (const char *p = msg; *p; p++)
		wr(THR, (uint8_t)*p);
	ck_assert_uint_eq(rec.ntx, strlen(msg));
	ck_assert_mem_eq(rec.tx, msg, strlen(msg));
	/* Sent at once: the transmitter is empty again. */
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	/* No interrupt without IER. */
	ck_assert_int_eq(rec.irq_calls, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

START_TEST(test_dlab_divisor_latch)
{
	wr(IER, 0x05);
	wr(LCR, 0x83); /* DLAB, 8N1 */
	wr(DLL, 0x01);
	wr(DLM, 0x02);
	ck_assert_uint_eq(rec.ntx, 0); /* DLL is not THR */
	ck_assert_uint_eq(rd(DLL), 0x01);
	ck_assert_uint_eq(rd(DLM), 0x02);
	ck_assert_uint_eq(rd(LCR), 0x83);
	wr(LCR, 0x03);
	ck_assert_uint_eq(rd(IER), 0x05); /* untouched by the DLM write */
	wr(THR, 'x');
	ck_assert_uint_eq(rec.ntx, 1);
	ck_assert_uint_eq(rec.tx[0], 'x');
	wr(LCR, 0x83);
	ck_assert_uint_eq(rd(DLL), 0x01); /* untouched by the THR write */
	ck_assert_uint_eq(rd(DLM), 0x02);
}
END_TEST

START_TEST(test_thri_interrupt)
{
	/* Enabling THRI with THR empty raises the interrupt at once. */
	wr(IER, 0x02);
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_int_eq(rec.irq_calls, 1);
	/* Reading IIR reports and clears it, and the line drops. */
	ck_assert_uint_eq(rd(IIR), 0x02);
	ck_assert_int_eq(rec.irq, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Each THR write empties at once and raises it again. */
	wr(THR, 'a');
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(rd(IIR), 0x02);
	ck_assert_int_eq(rec.irq, 0);
	/* Disabling and re-enabling THRI raises it again (Linux's start_tx). */
	wr(IER, 0x00);
	wr(IER, 0x02);
	ck_assert_int_eq(rec.irq, 1);
	/* Disabling THRI drops the line. */
	wr(IER, 0x00);
	ck_assert_int_eq(rec.irq, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

START_TEST(test_thri_with_fifo)
{
	wr(FCR, 0x01);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(IIR), 0xc2);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	wr(FCR, 0x00);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

START_TEST(test_out2_gates_irq)
{
	wr(MCR, 0x00);
	wr(IER, 0x02);
	ck_assert_int_eq(rec.irq_calls, 0); /* pending, but not on the bus */
	wr(MCR, 0x08);
	ck_assert_int_eq(rec.irq, 1);
	wr(MCR, 0x03); /* DTR|RTS without OUT2 */
	ck_assert_int_eq(rec.irq, 0);
	ck_assert_uint_eq(rd(IIR), 0x02); /* still identified as pending */
}
END_TEST

START_TEST(test_receive)
{
	ck_assert_uint_eq(uart8250_receive(&u, (const uint8_t *)"ab", 2), 2);
	ck_assert_uint_eq(rd(LSR), LSR_DR | LSR_THRE | LSR_TEMT);
	ck_assert_int_eq(rec.irq_calls, 0); /* RDI not enabled */
	ck_assert_uint_eq(rd(IIR), 0x01);
	wr(IER, 0x01);
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(rd(IIR), 0x04);
	ck_assert_uint_eq(rd(IIR), 0x04); /* reading IIR does not clear RDI */
	ck_assert_uint_eq(rd(RBR), 'a');
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(rd(RBR), 'b');
	ck_assert_int_eq(rec.irq, 0);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Reading an empty RBR is harmless. */
	rd(RBR);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);

	/* Input while RDI is enabled raises the line straight from receive(). */
	ck_assert_uint_eq(uart8250_receive(&u, (const uint8_t *)"c", 1), 1);
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(uart8250_receive(&u, (const uint8_t *)"", 0), 0);
}
END_TEST

START_TEST(test_rdi_has_priority_over_thri)
{
	wr(IER, 0x03);
	uart8250_receive(&u, (const uint8_t *)"x", 1);
	ck_assert_uint_eq(rd(IIR), 0x04);
	/* Reporting RDI must not have swallowed the THRE interrupt. */
	ck_assert_uint_eq(rd(RBR), 'x');
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(rd(IIR), 0x02);
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_int_eq(rec.irq, 0);
}
END_TEST

START_TEST(test_fifo_capacity)
{
	uint8_t buf[UART_RX_FIFO + 44];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(uart8250_receive(&u, buf, sizeof(buf)), UART_RX_FIFO);
	ck_assert_uint_eq(uart8250_receive(&u, buf, 1), 0);
	for (size_t i = 0; i < 100; i++)
		ck_assert_uint_eq(rd(RBR), (uint8_t)i);
	/* Room again, and the ring wraps keeping the order. */
	ck_assert_uint_eq(uart8250_receive(&u, buf + 200, 150), 100);
	for (size_t i = 100; i < UART_RX_FIFO; i++)
		ck_assert_uint_eq(rd(RBR), (uint8_t)i);
	for (size_t i = 0; i < 100; i++)
		ck_assert_uint_eq(rd(RBR), (uint8_t)(200 + i));
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
}
END_TEST

START_TEST(test_fcr_clears_rx)
{
	uart8250_receive(&u, (const uint8_t *)"abcde", 5);
	wr(IER, 0x01);
	ck_assert_int_eq(rec.irq, 1);
	wr(FCR, 0x01); /* enable only: data stays */
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(rd(IIR), 0xc4);
	wr(FCR, 0x03); /* enable + clear RX */
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	ck_assert_int_eq(rec.irq, 0);
	/* And the FIFO works afterwards. */
	uart8250_receive(&u, (const uint8_t *)"z", 1);
	ck_assert_uint_eq(rd(RBR), 'z');
	/* FCR is write-only: offset 2 reads IIR. */
	ck_assert_uint_eq(rd(IIR) & 0x0f, 0x01);
}
END_TEST

START_TEST(test_loopback)
{
	wr(MCR, 0x18); /* LOOP | OUT2 */
	wr(THR, 'q');
	ck_assert_uint_eq(rec.ntx, 0); /* nothing leaves the chip */
	ck_assert_uint_eq(rd(LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(rd(RBR), 'q');

	/* Modem outputs come back as inputs: RTS->CTS, DTR->DSR, OUT1->RI,
	 * OUT2->DCD. */
	wr(MCR, 0x10);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x00);
	wr(MCR, 0x12);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x10);
	wr(MCR, 0x11);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x20);
	wr(MCR, 0x14);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x40);
	wr(MCR, 0x18);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x80);
	wr(MCR, 0x1f);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xf0);

	/* Leaving loopback: transmit goes out again. */
	wr(MCR, 0x0b);
	wr(THR, 'r');
	ck_assert_uint_eq(rec.ntx, 1);
	ck_assert_uint_eq(rec.tx[0], 'r');
	ck_assert_uint_eq(rd(LSR) & LSR_DR, 0);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
}
END_TEST

/* The datasheet keeps the receive interrupt working in loopback, which is
 * how drivers test it; whether the PC's IRQ line follows is left open. */
START_TEST(test_loopback_rx_interrupt)
{
	wr(MCR, 0x18);
	wr(IER, 0x01);
	wr(THR, 0x55);
	ck_assert_uint_eq(rd(IIR), 0x04);
	ck_assert_uint_eq(rd(RBR), 0x55);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

START_TEST(test_scratch_and_masks)
{
	wr(SCR, 0x5a);
	ck_assert_uint_eq(rd(SCR), 0x5a);
	wr(SCR, 0xa5);
	ck_assert_uint_eq(rd(SCR), 0xa5);
	/* IER has four bits, MCR five. */
	wr(IER, 0xf0);
	ck_assert_uint_eq(rd(IER), 0x00);
	wr(MCR, 0xff);
	ck_assert_uint_eq(rd(MCR), 0x1f);
	wr(MCR, 0x08);
	/* LSR and MSR are read-only. */
	wr(LSR, 0x00);
	wr(MSR, 0x00);
	ck_assert_uint_eq(rd(LSR), LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
	ck_assert_uint_eq(rec.ntx, 0);
}
END_TEST

START_TEST(test_multibyte_access)
{
	/* A 16-bit write to the divisor latch, as some drivers do. */
	wr(LCR, 0x80);
	uint8_t div[2] = {0x0c, 0x00};
	uart8250_io(&u, DLL, div, 2, true);
	ck_assert_uint_eq(rd(DLL), 0x0c);
	ck_assert_uint_eq(rd(DLM), 0x00);
	uint8_t back[2] = {0xee, 0xee};
	uart8250_io(&u, DLL, back, 2, false);
	ck_assert_uint_eq(back[0], 0x0c);
	ck_assert_uint_eq(back[1], 0x00);

	/* LCR and MCR in one write. */
	uint8_t lm[2] = {0x03, 0x0b};
	uart8250_io(&u, LCR, lm, 2, true);
	ck_assert_uint_eq(rd(LCR), 0x03);
	ck_assert_uint_eq(rd(MCR), 0x0b);

	/* THR then IER: the second byte does not go out. */
	uint8_t ti[2] = {'h', 0x01};
	uart8250_io(&u, THR, ti, 2, true);
	ck_assert_uint_eq(rec.ntx, 1);
	ck_assert_uint_eq(rec.tx[0], 'h');
	ck_assert_uint_eq(rd(IER), 0x01);

	/* LSR, MSR, SCR in one read. */
	wr(SCR, 0x77);
	uint8_t three[3];
	uart8250_io(&u, LSR, three, 3, false);
	ck_assert_uint_eq(three[0], LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(three[1] & 0xf0, 0xb0);
	ck_assert_uint_eq(three[2], 0x77);
}
END_TEST

START_TEST(test_no_callbacks)
{
	struct uart8250 bare;
	struct uart8250_ops none = {0};
	uart8250_init(&bare, &none);
	uint8_t v = 0x02;
	uart8250_io(&bare, IER, &v, 1, true);
	v = 'x';
	uart8250_io(&bare, THR, &v, 1, true);
	ck_assert_uint_eq(uart8250_receive(&bare, (const uint8_t *)"y", 1), 1);
	uart8250_io(&bare, RBR, &v, 1, false);
	ck_assert_uint_eq(v, 'y');
	uart8250_destroy(&bare);
}
END_TEST

CHECK_MAIN_FIXTURE("uart8250", setup, teardown, test_reset_state, test_thr_write_transmits,
		   test_dlab_divisor_latch, test_thri_interrupt, test_thri_with_fifo,
		   test_out2_gates_irq, test_receive, test_rdi_has_priority_over_thri,
		   test_fifo_capacity, test_fcr_clears_rx, test_loopback,
		   test_loopback_rx_interrupt, test_scratch_and_masks, test_multibyte_access,
		   test_no_callbacks)
