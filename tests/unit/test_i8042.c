#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "devices/i8042.h"
#include "recorder.h"

#define ST_OBF 0x01
#define ST_SYS 0x04
#define ST_CMD 0x08

static struct i8042 k;
static struct dev_rec rec;

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	struct i8042_ops ops = {
	    .reset = rec_reset, .reset_ctx = &rec, .set_irq = rec_irq, .irq_ctx = &rec};
	i8042_init(&k, &ops);
}

static void teardown(void)
{
	i8042_destroy(&k);
}

static void cmd(uint8_t v)
{
	i8042_command_io(&k, 0, &v, 1, true);
}

static void data_out(uint8_t v)
{
	i8042_data_io(&k, 0, &v, 1, true);
}

static uint8_t status(void)
{
	uint8_t v = 0x5a;
	i8042_command_io(&k, 0, &v, 1, false);
	return v;
}

static uint8_t data_in(void)
{
	uint8_t v = 0x5a;
	i8042_data_io(&k, 0, &v, 1, false);
	return v;
}

START_TEST(test_reset_state)
{
	ck_assert_uint_eq(status(), ST_SYS); /* POST passed, nothing to read */
	ck_assert_uint_eq(data_in(), 0x00);
	cmd(0x20);
	ck_assert_uint_eq(data_in(), 0x45); /* kbd interrupt, system flag, translation */
	ck_assert_int_eq(rec.resets, 0);
}
END_TEST

START_TEST(test_self_test)
{
	cmd(0xAA);
	ck_assert_uint_eq(status() & ST_OBF, ST_OBF);
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(data_in(), 0x55);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	ck_assert_int_eq(rec.irq, 0);
	ck_assert_int_eq(rec.resets, 0);
	/* Interface tests answer 0 (no error). */
	cmd(0xAB);
	ck_assert_uint_eq(data_in(), 0x00);
	cmd(0xA9);
	ck_assert_uint_eq(status() & ST_OBF, ST_OBF);
	ck_assert_uint_eq(data_in(), 0x00);
}
END_TEST

START_TEST(test_command_byte)
{
	cmd(0x60);
	data_out(0x30);
	/* Consumed by the controller: no keyboard ACK queued. */
	ck_assert_uint_eq(status() & ST_OBF, 0);
	cmd(0x20);
	ck_assert_uint_eq(data_in(), 0x30);
	ck_assert_uint_eq(status() & ST_SYS, 0); /* status bit 2 follows the byte */
	cmd(0x60);
	data_out(0x45);
	ck_assert_uint_eq(status() & ST_SYS, ST_SYS);

	/* Port enable/disable commands edit bits 4 and 5. */
	cmd(0xAD);
	cmd(0xA7);
	cmd(0x20);
	ck_assert_uint_eq(data_in(), 0x75);
	cmd(0xAE);
	cmd(0xA8);
	cmd(0x20);
	ck_assert_uint_eq(data_in(), 0x45);
}
END_TEST

START_TEST(test_command_flag_in_status)
{
	cmd(0x20);
	ck_assert_uint_eq(status() & ST_CMD, ST_CMD);
	data_in();
	data_out(0xF4);
	ck_assert_uint_eq(status() & ST_CMD, 0);
}
END_TEST

START_TEST(test_pulse_reset)
{
	cmd(0xFE);
	ck_assert_int_eq(rec.resets, 1);
	/* 0xF0-0xFF pulse the output lines whose bits are clear; bit 0 is the
	 * CPU reset line. */
	for (unsigned c = 0xF0; c <= 0xFF; c++) {
		int before = rec.resets;
		cmd((uint8_t)c);
		ck_assert_msg(rec.resets - before == ((c & 1) ? 0 : 1), "command 0x%02x: %d resets",
			      c, rec.resets - before);
	}
	/* 0xFF pulses nothing. */
	int before = rec.resets;
	cmd(0xFF);
	ck_assert_int_eq(rec.resets, before);
}
END_TEST

START_TEST(test_write_output_port)
{
	/* The A20 gate write Linux and bootloaders do must not reset. */
	cmd(0xD1);
	data_out(0xDF);
	ck_assert_int_eq(rec.resets, 0);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	cmd(0xD0);
	ck_assert_uint_eq(data_in(), 0xDF);

	cmd(0xD1);
	data_out(0x03);
	ck_assert_int_eq(rec.resets, 0);

	/* Bit 0 low is the reset line asserted. */
	cmd(0xD1);
	data_out(0xFE);
	ck_assert_int_eq(rec.resets, 1);
	cmd(0xD1);
	data_out(0x00);
	ck_assert_int_eq(rec.resets, 2);

	/* The data byte after 0xD1 is not also a keyboard command. */
	ck_assert_uint_eq(status() & ST_OBF, 0);
}
END_TEST

START_TEST(test_keyboard_commands)
{
	data_out(0xFF); /* reset */
	ck_assert_uint_eq(data_in(), 0xFA);
	ck_assert_uint_eq(data_in(), 0xAA);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	data_out(0xEE); /* echo */
	ck_assert_uint_eq(data_in(), 0xEE);
	data_out(0xF4); /* enable scanning */
	ck_assert_uint_eq(data_in(), 0xFA);
	data_out(0xED); /* set LEDs, then its argument */
	data_out(0x00);
	ck_assert_uint_eq(data_in(), 0xFA);
	ck_assert_uint_eq(data_in(), 0xFA);
	ck_assert_int_eq(rec.resets, 0);
}
END_TEST

START_TEST(test_output_buffer_writes_and_aux)
{
	cmd(0xD2);
	data_out(0x1c);
	ck_assert_uint_eq(data_in(), 0x1c);
	cmd(0xD3);
	data_out(0x08);
	ck_assert_uint_eq(data_in(), 0x08);
	/* No mouse: whatever goes to the aux device is answered with resend. */
	cmd(0xD4);
	data_out(0xFF);
	ck_assert_uint_eq(data_in(), 0xFE);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	cmd(0xC0);
	ck_assert_uint_eq(data_in(), 0x00);
}
END_TEST

START_TEST(test_irq_follows_obf_and_enable)
{
	cmd(0x60);
	data_out(0x44); /* keyboard interrupt off */
	cmd(0xAA);
	ck_assert_uint_eq(status() & ST_OBF, ST_OBF);
	ck_assert_int_eq(rec.irq_calls, 0);
	cmd(0x60);
	data_out(0x45); /* back on, with data waiting */
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(data_in(), 0x55);
	ck_assert_int_eq(rec.irq, 0);

	/* Two bytes queued: the line stays up until both are read. */
	data_out(0xFF);
	ck_assert_int_eq(rec.irq, 1);
	int calls = rec.irq_calls;
	ck_assert_uint_eq(data_in(), 0xFA);
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_int_eq(rec.irq_calls, calls);
	ck_assert_uint_eq(data_in(), 0xAA);
	ck_assert_int_eq(rec.irq, 0);

	/* Status reads do not consume. */
	cmd(0xAA);
	status();
	status();
	ck_assert_int_eq(rec.irq, 1);
	ck_assert_uint_eq(data_in(), 0x55);
}
END_TEST

START_TEST(test_queue_bounded)
{
	for (int i = 0; i < I8042_QUEUE + 4; i++) {
		cmd(0xD2);
		data_out((uint8_t)(0x10 + i));
	}
	for (int i = 0; i < I8042_QUEUE; i++)
		ck_assert_uint_eq(data_in(), 0x10 + i);
	ck_assert_uint_eq(status() & ST_OBF, 0);
	ck_assert_uint_eq(data_in(), 0x00);
	/* And it keeps working after wrapping. */
	for (int i = 0; i < 5; i++) {
		cmd(0xD2);
		data_out((uint8_t)(0x80 + i));
	}
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(data_in(), 0x80 + i);
}
END_TEST

START_TEST(test_wide_reads)
{
	cmd(0xAA);
	uint8_t v[2] = {0, 0};
	i8042_data_io(&k, 0, v, 2, false);
	ck_assert_uint_eq(v[0], 0x55);
	ck_assert_uint_eq(v[1], 0xff);
	i8042_command_io(&k, 0, v, 2, false);
	ck_assert_uint_eq(v[0], ST_SYS | ST_CMD);
	ck_assert_uint_eq(v[1], 0xff);
}
END_TEST

START_TEST(test_no_callbacks)
{
	struct i8042 bare;
	struct i8042_ops none = {0};
	i8042_init(&bare, &none);
	uint8_t v = 0xFE;
	i8042_command_io(&bare, 0, &v, 1, true);
	v = 0xAA;
	i8042_command_io(&bare, 0, &v, 1, true);
	i8042_data_io(&bare, 0, &v, 1, false);
	ck_assert_uint_eq(v, 0x55);
	i8042_destroy(&bare);
}
END_TEST

CHECK_MAIN_FIXTURE("i8042", setup, teardown, test_reset_state, test_self_test, test_command_byte,
		   test_command_flag_in_status, test_pulse_reset, test_write_output_port,
		   test_keyboard_commands, test_output_buffer_writes_and_aux,
		   test_irq_follows_obf_and_enable, test_queue_bounded, test_wide_reads,
		   test_no_callbacks)
