#define _GNU_SOURCE /* fopencookie */
#include "vmm/file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/base/clock.h"

#define FILE_MAX (4ULL << 30) /* nothing minivmm loads is this big */

int file_read_all(const char *option, const char *path, uint8_t **buf, size_t *len,
		  struct errbuf *e)
{
	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO would otherwise wait for a writer, with
	 * the stop signals blocked (set-up takes them between steps); it is
	 * then refused below like any file that is not a regular one. On a
	 * regular file the flag changes nothing. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errorf_errno(e, "%s %s", option, path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		errorf_errno(e, "%s %s", option, path);
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		errorf(e, "%s %s: not a regular file", option, path);
		goto err;
	}
	if ((unsigned long long)st.st_size > FILE_MAX) {
		errorf(e, "%s %s: larger than 4 GiB", option, path);
		goto err;
	}
	*buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!*buf) {
		errorf(e, "%s %s: out of memory", option, path);
		goto err;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			if (n == 0)
				errorf(e, "%s %s: file shrank while reading", option, path);
			else
				errorf_errno(e, "%s %s", option, path);
			goto err;
		}
		got += (size_t)n;
	}
	*len = got;
	close(fd);
	return 0;
err:
	free(*buf);
	*buf = NULL;
	close(fd);
	return -1;
}

struct bounded {
	int fd;
	int timeout_ms;
	bool waited; /* the clock runs from the first wait */
	struct timespec waited_since;
};

/* fopencookie's write: the bytes taken, or 0 with errno set (it may not
 * return less than 0). */
static ssize_t bounded_write(void *cookie, const char *buf, size_t n)
{
	struct bounded *b = cookie;
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(b->fd, buf + done, n - done);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0 || errno != EAGAIN)
			break;
		if (!b->waited) {
			b->waited_since = clock_now();
			b->waited = true;
		}
		long left = b->timeout_ms - clock_ms_since(&b->waited_since);
		if (left <= 0) {
			errno = ETIMEDOUT;
			break;
		}
		struct pollfd p = {.fd = b->fd, .events = POLLOUT};
		poll(&p, 1, (int)left);
	}
	return (ssize_t)done;
}

static int bounded_close(void *cookie)
{
	struct bounded *b = cookie;
	int r = close(b->fd);
	free(b);
	return r;
}

FILE *file_stream_within(int fd, int timeout_ms)
{
	struct bounded *b = malloc(sizeof(*b));
	if (!b)
		return NULL;
	*b = (struct bounded){.fd = fd, .timeout_ms = timeout_ms};
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	FILE *f = fopencookie(
	    b, "w", (cookie_io_functions_t){.write = bounded_write, .close = bounded_close});
	if (!f)
		free(b);
	return f;
}
