/*
 * minivmm-bench's guest payload (tests/payloads/exitbench.c): the PVH entry
 * and the interrupt stubs. PVH (xen/include/public/arch-x86/hvm/start_info.h)
 * enters in 32-bit protected mode with paging off, flat segments and EBX
 * pointing at hvm_start_info, the same on minivmm and on QEMU's -kernel, so
 * both run these very bytes.
 */
#include "tests/payloads/pvh_note.h"
#include "vmm/bench_abi.h"

	PVH_NOTE pvh_entry

	.section .text
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	mov $stack_top, %esp
	push %ebx
	call exitbench_main
	/* Done, or given up: pulse the reset line through the i8042, which
	 * stops minivmm ("guest reset") and QEMU (-no-reboot). */
	.globl exitbench_reset
exitbench_reset:
	mov $0xfe, %al
	out %al, $0x64
1:	hlt
	jmp 1b

/* The local APIC timer's vector: EOI (SDM vol. 3A §11.8.5) and return to the
 * instruction after HLT. */
	.globl exitbench_timer_isr
exitbench_timer_isr:
	movl $0, 0xfee000b0
	iret

/* The APIC's spurious vector needs no EOI (SDM vol. 3A §11.9). */
	.globl exitbench_spurious_isr
exitbench_spurious_isr:
	iret

/* Anything else is a bug in the payload or a surprise from the VMM: say so
 * on the report port and reset, rather than run on with a broken state. */
	.globl exitbench_unexpected_isr
exitbench_unexpected_isr:
	mov $unexpected, %esi
	mov $(unexpected_end - unexpected), %ecx
	mov $BENCH_REPORT_PORT, %dx
	rep outsb
	jmp exitbench_reset

	.section .rodata
unexpected:
	.ascii "exitbench: error: unexpected interrupt or exception\n"
unexpected_end:

	.section .bss
	.balign 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
