/*
 * What every C /init of the test guest needs first: a console to write to,
 * and one line at a time on it. Header-only, since each /init is one static
 * program built on its own (tests/guest/CMakeLists.txt).
 */
#ifndef TESTS_GUEST_GUEST_CONSOLE_H
#define TESTS_GUEST_GUEST_CONSOLE_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The kernel opens /dev/console for init's stdio only if the initramfs has
 * that node (make-initramfs.sh makes it only when run as root); without it,
 * mount devtmpfs and open the console ourselves. */
static inline void setup_console(void)
{
	if (fcntl(STDOUT_FILENO, F_GETFD) >= 0)
		return;
	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) < 0)
		mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* A line on the console: printf's format, the newline added. */
static inline void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per line, so lines never interleave with kernel output. */
	if (write(STDOUT_FILENO, buf, (size_t)n) < 0) {
		/* Nowhere else to report it. */
	}
}

#endif
