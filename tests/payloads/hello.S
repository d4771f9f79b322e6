/* Prints a line on COM1 and resets through the i8042. */
#include "bzimage.h"

BZIMAGE_BEGIN
	PRINT(msg, msg_end - msg)
	RESET_VIA_I8042
msg:	.ascii "hello from a minivmm payload\n"
msg_end:
BZIMAGE_END
