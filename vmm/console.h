/*
 * The host terminal as the guest's serial console: raw input when stdin is a
 * terminal (so Ctrl-C reaches the guest), and QEMU's escape convention:
 * Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A.
 */
#ifndef MINIVMM_CONSOLE_H
#define MINIVMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct console {
	int in_fd;
	bool is_tty;
	bool raw;
	bool escape_pending;
	bool input_closed;
	struct termios saved;
	int out_fd;	  /* where the guest's output goes: stdout, a non-blocking pipe */
	uint64_t dropped; /* atomic: guest output out_fd did not take (vmm/outputs.h) */
};

void console_init(struct console *c, int in_fd, int out_fd);
/* Puts a terminal in raw input mode; output processing is left on so the
 * VMM's own messages still start at column 0. */
int console_enter_raw(struct console *c);
void console_restore(struct console *c);

/* Copies the guest's input from in[0..n) to out (room for n bytes), handling
 * the escape sequence; sets *quit when the user typed Ctrl-A x. Returns the
 * number of bytes for the guest. */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

/* A serial port's transmit callback (ctx is the console): one byte of the
 * guest's output, written at once, never waited for. What out_fd does not
 * take is dropped and counted. */
void console_emit(void *ctx, uint8_t byte);

#endif
