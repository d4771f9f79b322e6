/* One-line error messages carried from where a failure is found to main(). */
#ifndef MINIVMM_ERROR_H
#define MINIVMM_ERROR_H

#include <stddef.h>

struct errbuf {
	char msg[512];
};

/* Formats the message into e (if non-NULL) and returns -1, so callers can
 * write `return errorf(e, "...")`. */
int errorf(struct errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As errorf(), with ": strerror(errno)" appended. */
int errorf_errno(struct errbuf *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
