/* What a device model tells its board through its callbacks, recorded for
 * the device tests: the bytes it transmits, its interrupt line and the
 * resets it asks for. Zero a struct dev_rec and pass it as the ops' ctx. */
#ifndef TESTS_UNIT_RECORDER_H
#define TESTS_UNIT_RECORDER_H

#include <stddef.h>
#include <stdint.h>

struct dev_rec {
	uint8_t tx[1024];
	size_t ntx;
	int irq; /* last level reported */
	int irq_calls;
	int resets;
};

/* A tx callback: appends the byte to tx. */
void rec_tx(void *ctx, uint8_t b);
/* A set_irq callback: fails the test if the level is the one already
 * reported, as devices report changes only. */
void rec_irq(void *ctx, int level);
/* A reset callback: counts the resets. */
void rec_reset(void *ctx);

#endif
