#include "vmm/file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (4ULL << 30) /* nothing minivmm loads is this big */

int file_read_all(const char *option, const char *path, uint8_t **buf, size_t *len,
		  struct errbuf *e)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
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
