#include "recorder.h"

#include <check.h>

void rec_tx(void *ctx, uint8_t b)
{
	struct dev_rec *r = ctx;
	ck_assert_uint_lt(r->ntx, sizeof(r->tx));
	r->tx[r->ntx++] = b;
}

void rec_irq(void *ctx, int level)
{
	struct dev_rec *r = ctx;
	/* The device reports changes, never the same level twice. */
	ck_assert_int_ne(level, r->irq);
	r->irq = level;
	r->irq_calls++;
}

void rec_reset(void *ctx)
{
	((struct dev_rec *)ctx)->resets++;
}
