/* Prints a line on the console over and over, as fast as the UART takes it
 * (one `rep outsb` exit per line), until minivmm is stopped from outside:
 * the stalled-stdout test's guest. */
#include "bzimage.h"

BZIMAGE_BEGIN
1:	PRINT(msg, msg_end - msg)
	jmp 1b
msg:	.ascii "flood: a console line that nobody is reading any more\n"
msg_end:
BZIMAGE_END
