#include "vmm/console.h"

#include <string.h>
#include <unistd.h>

void console_init(struct console *c, int in_fd, int out_fd)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = in_fd;
	c->out_fd = out_fd;
	c->is_tty = isatty(in_fd);
}

void console_emit(void *ctx, uint8_t byte)
{
	struct console *c = ctx;
	/* Unbuffered: the guest's console must show up even if it hangs next.
	 * Never waited for: minivmm's stdout is a non-blocking pipe to its
	 * output thread (vmm/outputs.h), and what does not fit is dropped. Not
	 * retried on EINTR either: the stop kick must be able to end this. */
	if (write(c->out_fd, &byte, 1) != 1)
		__atomic_add_fetch(&c->dropped, 1, __ATOMIC_RELAXED);
}

int console_enter_raw(struct console *c)
{
	if (!c->is_tty || c->raw)
		return 0;
	if (tcgetattr(c->in_fd, &c->saved) < 0)
		return -1;
	struct termios t = c->saved;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(c->in_fd, TCSANOW, &t) < 0)
		return -1;
	c->raw = true;
	return 0;
}

void console_restore(struct console *c)
{
	if (c->raw)
		tcsetattr(c->in_fd, TCSANOW, &c->saved);
	c->raw = false;
}

size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit)
{
	size_t o = 0;
	*quit = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];
		if (c->escape_pending) {
			c->escape_pending = false;
			if (ch == 'x' || ch == 'X') {
				*quit = true;
				return o;
			}
			if (ch == CONSOLE_ESCAPE) {
				out[o++] = CONSOLE_ESCAPE;
				continue;
			}
			/* Unknown command: drop it, like QEMU. */
			continue;
		}
		if (ch == CONSOLE_ESCAPE && c->is_tty) {
			c->escape_pending = true;
			continue;
		}
		out[o++] = ch;
	}
	return o;
}
