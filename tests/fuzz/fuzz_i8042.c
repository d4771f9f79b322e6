/*
 * The i8042 keyboard controller (devices/i8042.c): port reads and writes as
 * the bus delivers them. Each port is a range of one byte (vmm/vm.c), so
 * the bus hands the device offset 0 and width 1 only; wider or straddling
 * accesses never reach it.
 *
 * Checked after every access, against a model of the controller's output
 * buffer built from the IBM PC/AT Technical Reference's command table (and
 * the answers devices/i8042.h documents for the keyboard and mouse that are
 * not there):
 *  - the status register: OBF (bit 0) set exactly while the output buffer
 *    holds a byte, the system flag (bit 2) equal to command byte bit 2, the
 *    command/data flag (bit 3) saying which port was written last, IBF
 *    (bit 1) never set (the controller takes every byte at once), and no
 *    auxiliary data, timeout or parity error (bits 5-7);
 *  - a data port read returns the oldest byte the model expects (or 0x00
 *    when there is none) and takes it out of the buffer;
 *  - the CPU reset callback runs exactly for a pulse of output line 0
 *    (commands 0xF0-0xFF with bit 0 clear: 0xFE is the classic reboot) or a
 *    write of the output port (command 0xD1) with bit 0 clear, and for
 *    nothing else;
 *  - the keyboard IRQ is reported on changes only, and is raised exactly
 *    while the output buffer is full and command byte bit 0 enables it.
 *
 * A command that takes a data byte waits for it across other commands, as
 * QEMU's controller does; the datasheet leaves that case open.
 *
 * Input: steps of an opcode byte (bit 0: the command/status port 0x64,
 * else the data port 0x60; bit 1: a write) and, for a write, its byte.
 */
#include <stdbool.h>

#include "devices/i8042.h"
#include "fuzz_input.h"

#define ST_OBF 0x01
#define ST_IBF 0x02
#define ST_SYS 0x04
#define ST_CMD 0x08

static struct i8042 kbc;
static int irq_level;	/* what the device last told the "PIC" */
static unsigned resets; /* reset callbacks seen */

/* What a PC/AT controller would hold, kept from the accesses alone. */
static struct {
	uint8_t command_byte, output_port, pending;
	bool last_was_command;
	uint8_t buf[I8042_QUEUE];
	unsigned head, count;
	unsigned resets; /* resets the accesses asked for */
} m;

static void set_irq(void *ctx, int level)
{
	(void)ctx;
	FUZZ_CHECK(level == 0 || level == 1);
	FUZZ_CHECK(level != irq_level); /* changes only */
	irq_level = level;
}

static void reset(void *ctx)
{
	(void)ctx;
	resets++;
}

static void expect(uint8_t b)
{
	if (m.count < I8042_QUEUE) /* a full buffer drops the byte */
		m.buf[(m.head + m.count++) % I8042_QUEUE] = b;
}

static void model_command(uint8_t cmd)
{
	m.last_was_command = true;
	if (cmd == 0x60 || (cmd >= 0xD1 && cmd <= 0xD4)) {
		m.pending = cmd; /* its data byte follows at 0x60 */
		return;
	}
	static const struct {
		uint8_t cmd, reply;
	} replies[] = {{0xA9, 0x00}, {0xAA, 0x55}, {0xAB, 0x00}, {0xC0, 0x00}};
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		if (cmd == replies[i].cmd)
			expect(replies[i].reply);
	if (cmd == 0x20)
		expect(m.command_byte);
	if (cmd == 0xD0)
		expect(m.output_port);
	if (cmd == 0xA7 || cmd == 0xA8) /* aux interface off, on */
		m.command_byte = (uint8_t)((m.command_byte & ~0x20) | (cmd == 0xA7 ? 0x20 : 0));
	if (cmd == 0xAD || cmd == 0xAE) /* keyboard interface off, on */
		m.command_byte = (uint8_t)((m.command_byte & ~0x10) | (cmd == 0xAD ? 0x10 : 0));
	if ((cmd & 0xF0) == 0xF0 && !(cmd & 0x01))
		m.resets++; /* pulses output line 0, the CPU reset */
}

static void model_data(uint8_t v)
{
	uint8_t cmd = m.pending;
	m.pending = 0;
	m.last_was_command = false;
	switch (cmd) {
	case 0x60:
		m.command_byte = v;
		break;
	case 0xD1:
		m.output_port = v;
		m.resets += !(v & 0x01);
		break;
	case 0xD2:
	case 0xD3:
		expect(v); /* echoed as if the device had sent it */
		break;
	case 0xD4:
		expect(0xFE); /* no mouse: resend */
		break;
	default: /* for the keyboard, which is not there: reset, echo, ACK */
		expect(v == 0xEE ? 0xEE : 0xFA);
		if (v == 0xFF)
			expect(0xAA);
		break;
	}
}

static uint8_t port(uint8_t op, uint8_t v)
{
	bool command = op & 1, write = op & 2;
	(command ? i8042_command_io : i8042_data_io)(&kbc, 0, &v, 1, write);
	return v;
}

static void check(void)
{
	uint8_t st = port(1, 0);
	FUZZ_CHECK(!!(st & ST_OBF) == (m.count > 0));
	FUZZ_CHECK(!!(st & ST_SYS) == !!(m.command_byte & 0x04));
	FUZZ_CHECK(!!(st & ST_CMD) == m.last_was_command);
	FUZZ_CHECK(!(st & ST_IBF) && !(st & 0xE0));
	FUZZ_CHECK(irq_level == ((st & ST_OBF) && (m.command_byte & 0x01)));
	FUZZ_CHECK(resets == m.resets);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct i8042_ops ops = {reset, NULL, set_irq, NULL};
	i8042_init(&kbc, &ops);
	irq_level = 0;
	resets = 0;
	memset(&m, 0, sizeof(m));
	m.command_byte = 0x45; /* keyboard IRQ, system flag, translation */
	m.output_port = 0x03;  /* reset line high, A20 on */
	struct fuzz_in in = fuzz_in(data, size);
	while (in.left) {
		uint8_t op = fuzz_u8(&in);
		if (op & 2) {
			uint8_t v = fuzz_u8(&in);
			(op & 1 ? model_command : model_data)(v);
			port(op, v);
		} else if (op & 1) {
			port(op, 0); /* status: checked below */
		} else {
			uint8_t want = m.count ? m.buf[m.head] : 0x00;
			if (m.count) {
				m.head = (m.head + 1) % I8042_QUEUE;
				m.count--;
			}
			FUZZ_CHECK(port(op, 0x5a) == want);
		}
		check();
	}
	i8042_destroy(&kbc);
	return 0;
}
