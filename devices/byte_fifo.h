/*
 * A device's small first-in first-out queue of bytes: the 8250's receive
 * FIFO (its data sheet's RBR side), the i8042's output buffer queue. Fixed
 * room, chosen by the device; a byte that finds it full is dropped, as a
 * real overrun drops it. The device's lock covers it.
 */
#ifndef MINIVMM_BYTE_FIFO_H
#define MINIVMM_BYTE_FIFO_H

#include <stdbool.h>
#include <stdint.h>

#define BYTE_FIFO_MAX 256

struct byte_fifo {
	uint8_t b[BYTE_FIFO_MAX];
	uint16_t room; /* at most BYTE_FIFO_MAX */
	uint16_t head, count;
};

static inline void byte_fifo_init(struct byte_fifo *f, uint16_t room)
{
	f->room = room < BYTE_FIFO_MAX ? room : BYTE_FIFO_MAX;
	f->head = f->count = 0;
}

/* false, and nothing queued, when it is full. */
static inline bool byte_fifo_push(struct byte_fifo *f, uint8_t b)
{
	if (f->count >= f->room)
		return false;
	f->b[(f->head + f->count++) % f->room] = b;
	return true;
}

/* The oldest byte, or 0 when empty. */
static inline uint8_t byte_fifo_pop(struct byte_fifo *f)
{
	if (!f->count)
		return 0;
	uint8_t b = f->b[f->head];
	f->head = (uint16_t)((f->head + 1) % f->room);
	f->count--;
	return b;
}

static inline uint16_t byte_fifo_free(const struct byte_fifo *f)
{
	return (uint16_t)(f->room - f->count);
}

#endif
