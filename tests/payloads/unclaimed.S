/*
 * Reads and writes a port and an MMIO address nobody claims, many times, and
 * checks that reads come back all-ones. Prints "unclaimed: ok" or
 * "unclaimed: FAIL", then resets.
 */
#include "bzimage.h"

#define NOWHERE_PORT 0x1234
#define NOWHERE_MMIO 0xd0000000 /* in the PCI hole, no device */

BZIMAGE_BEGIN
	mov $50, %ebx
1:	mov $NOWHERE_PORT, %dx
	in %dx, %al
	cmp $0xff, %al
	jne bad
	inw %dx, %ax
	cmp $0xffff, %ax
	jne bad
	out %al, %dx
	mov $NOWHERE_MMIO, %edi
	mov (%rdi), %eax
	cmp $0xffffffff, %eax
	jne bad
	movl $0x12345678, (%rdi)
	dec %ebx
	jnz 1b
	PRINT(ok, ok_end - ok)
	RESET_VIA_I8042
bad:
	PRINT(fail, fail_end - fail)
	RESET_VIA_I8042
ok:	.ascii "unclaimed: ok\n"
ok_end:
fail:	.ascii "unclaimed: FAIL\n"
fail_end:
BZIMAGE_END
