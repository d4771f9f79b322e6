/*
 * What the fuzz targets share: a reader that turns libFuzzer's bytes into
 * fields (an exhausted input reads as zeros, so every input is a valid
 * script), and an invariant check that is a crash, so libFuzzer keeps the
 * input that broke it.
 */
#ifndef TESTS_FUZZ_INPUT_H
#define TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline struct fuzz_in fuzz_in(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){data, size};
}

/* A little-endian field of n <= 8 bytes. */
static inline uint64_t fuzz_bytes(struct fuzz_in *in, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && in->left; i++, in->p++, in->left--)
		v |= (uint64_t)in->p[0] << (8 * i);
	return v;
}

#define fuzz_u8(in)  ((uint8_t)fuzz_bytes((in), 1))
#define fuzz_u16(in) ((uint16_t)fuzz_bytes((in), 2))
#define fuzz_u32(in) ((uint32_t)fuzz_bytes((in), 4))
#define fuzz_u64(in) fuzz_bytes((in), 8)

/* Skips up to n bytes. */
static inline void fuzz_skip(struct fuzz_in *in, size_t n)
{
	if (n > in->left)
		n = in->left;
	in->p += n;
	in->left -= n;
}

/* The next up to n bytes as an input of their own, skipped here. */
static inline struct fuzz_in fuzz_sub(struct fuzz_in *in, size_t n)
{
	struct fuzz_in sub = fuzz_in(in->p, n < in->left ? n : in->left);
	fuzz_skip(in, sub.left);
	return sub;
}

/* Takes up to n bytes; returns how many there were. */
static inline size_t fuzz_take(struct fuzz_in *in, void *dst, size_t n)
{
	if (n > in->left)
		n = in->left;
	memcpy(dst, in->p, n);
	in->p += n;
	in->left -= n;
	return n;
}

/* An invariant of the code under test does not hold: abort, which libFuzzer
 * reports as a crash with this line and the input. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
