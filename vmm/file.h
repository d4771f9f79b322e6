#ifndef MINIVMM_FILE_H
#define MINIVMM_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/base/error.h"

/* Reads a whole regular file; option names the CLI flag for the message. */
int file_read_all(const char *option, const char *path, uint8_t **buf, size_t *len,
		  struct errbuf *e);

#endif
