/*
 * Reads one line from COM1 by polling LSR.DR (PC16550D §8.4), then prints
 * "got: <line>" and resets. Exercises host input -> UART receive FIFO -> guest.
 */
#include "bzimage.h"

#define COM1_DATA 0x3f8
#define COM1_LSR  0x3fd
#define LSR_DR    0x01

BZIMAGE_BEGIN
	PRINT(ready, ready_end - ready)
	lea line(%rip), %rdi
	mov %rdi, %rbx
1:	mov $COM1_LSR, %dx
	in %dx, %al
	test $LSR_DR, %al
	jz 1b
	mov $COM1_DATA, %dx
	in %dx, %al
	mov %al, (%rdi)
	inc %rdi
	cmp $'\n', %al
	je 2f
	lea line_end(%rip), %rax
	cmp %rax, %rdi
	jb 1b
2:	PRINT(got, got_end - got)
	mov %rbx, %rsi
	mov %rdi, %rcx
	sub %rbx, %rcx
	mov $COM1_DATA, %dx
	rep outsb
	RESET_VIA_I8042
ready:	.ascii "ready\n"
ready_end:
got:	.ascii "got: "
got_end:
line:	.fill 64, 1, 0
line_end:
BZIMAGE_END
