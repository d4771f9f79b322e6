/*
 * Starts the second vCPU the way a PC BIOS-less OS does: INIT, then a
 * start-up IPI through the in-kernel local APIC. The AP begins in real mode at
 * 0x8000, prints "AP" and sets a flag; the BSP waits for the flag, prints the
 * verdict and resets. Exercises one thread per vCPU and the MP-style APIC ids.
 */
#include "bzimage.h"

#define LAPIC_SVR      0xfee000f0
#define LAPIC_ICR_LOW  0xfee00300
#define LAPIC_ICR_HIGH 0xfee00310
#define TRAMPOLINE     0x8000
#define AP_FLAG        0x8800
/* How long the BSP waits, in TSC ticks (~4-10 s at 1-3 GHz): by time, not by
 * loop count, since guest speed differs 1000x between hosts. */
#define WAIT_TICKS     10000000000

BZIMAGE_BEGIN
	/* The AP starts in real mode, so its code must sit below 1 MiB. */
	lea tramp(%rip), %rsi
	mov $TRAMPOLINE, %edi
	mov $(tramp_end - tramp), %ecx
	rep movsb
	movl $0, AP_FLAG

	/* The universal start-up sequence, SDM vol. 3A §8.4.4.1: software-
	 * enable the local APIC, INIT assert, INIT de-assert, two SIPIs. The
	 * APIC page is above 2 GiB, so it is addressed through registers. */
	mov $LAPIC_SVR, %edi
	movl $0x1ff, (%rdi)               /* APIC enabled, spurious vector 0xff */
	mov $LAPIC_ICR_HIGH, %edi
	mov $LAPIC_ICR_LOW, %esi
	movl $(1 << 24), (%rdi)           /* destination: APIC id 1 */
	movl $0xc500, (%rsi)              /* INIT, level-triggered, assert */
	movl $(1 << 24), (%rdi)
	movl $0x8500, (%rsi)              /* INIT, level-triggered, de-assert */
	movl $(1 << 24), (%rdi)
	movl $(0x0600 | (TRAMPOLINE >> 12)), (%rsi) /* SIPI, vector 8 */
	movl $(1 << 24), (%rdi)
	movl $(0x0600 | (TRAMPOLINE >> 12)), (%rsi) /* the second SIPI */

	rdtsc
	shl $32, %rdx
	or %rax, %rdx
	mov %rdx, %r8
	mov $WAIT_TICKS, %r9
	add %rdx, %r9                     /* r9: when to give up */
1:	cmpl $1, AP_FLAG
	je up
	pause
	rdtsc
	shl $32, %rdx
	or %rax, %rdx
	cmp %r9, %rdx
	jb 1b
	PRINT(down, down_end - down)
	RESET_VIA_I8042
up:
	PRINT(ok, ok_end - ok)
	RESET_VIA_I8042

ok:	.ascii "\nsmp: AP up\n"
ok_end:
down:	.ascii "\nsmp: AP did not start\n"
down_end:

	.code16
tramp:
	xor %ax, %ax
	mov %ax, %ds
	mov $0x3f8, %dx
	mov $'A', %al
	out %al, %dx
	mov $'P', %al
	out %al, %dx
	movl $1, AP_FLAG
	cli
2:	hlt
	jmp 2b
tramp_end:
	.code64
BZIMAGE_END
