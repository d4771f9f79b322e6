/* Prints a line, then spins with interrupts off until minivmm is stopped
 * from outside (the SIGINT/SIGTERM tests). */
#include "bzimage.h"

BZIMAGE_BEGIN
	PRINT(msg, msg_end - msg)
1:	pause
	jmp 1b
msg:	.ascii "spinning\n"
msg_end:
BZIMAGE_END
