#ifndef MINIVMM_FILE_H
#define MINIVMM_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vmm/base/error.h"

/* Reads a whole regular file; option names the CLI flag for the message. */
int file_read_all(const char *option, const char *path, uint8_t **buf, size_t *len,
		  struct errbuf *e);

/* A stdio stream that writes to fd (which it makes non-blocking and closes
 * on fclose) and waits for fd to take the bytes timeout_ms at most in all,
 * counted from its first wait: a report written at exit to a pipe whose
 * reader stopped must not keep minivmm from exiting. Past that, writes fail
 * with ETIMEDOUT and set the stream's error flag (ferror(); fclose() only
 * reports what fails in its own flush). NULL when out of memory. */
FILE *file_stream_within(int fd, int timeout_ms);

#endif
