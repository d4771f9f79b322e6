/* Loads an empty IDT and raises an exception: #UD cannot be delivered, nor
 * the #DF that follows, so the CPU shuts down (a triple fault). */
#include "bzimage.h"

BZIMAGE_BEGIN
	PRINT(msg, msg_end - msg)
	lidt empty_idt(%rip)
	ud2
msg:	.ascii "about to triple fault\n"
msg_end:
	.balign 8
empty_idt:
	.word 0
	.quad 0
BZIMAGE_END
