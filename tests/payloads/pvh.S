/*
 * An ELF "kernel" with a PVH entry note, entered the way Linux's vmlinux is:
 * 32-bit protected mode, paging off, EBX pointing at hvm_start_info. Checks
 * the start info's magic and that the command line it points at is readable,
 * prints the verdict and resets. Built without the note (-DNO_PVH_NOTE) it is
 * the "ELF but not PVH" bad kernel.
 */
#include "tests/payloads/pvh_note.h"
#define HVM_START_MAGIC 0x336ec578

#ifndef NO_PVH_NOTE
	PVH_NOTE pvh_entry
#endif

	.section .text
	.code32
	.globl pvh_entry
pvh_entry:
	cmpl $HVM_START_MAGIC, (%ebx)
	jne bad
	mov 24(%ebx), %edi         /* cmdline_paddr (low half) */
	test %edi, %edi
	jz bad
	mov $ok, %esi
	mov $(ok_end - ok), %ecx
	jmp print
bad:
	mov $fail, %esi
	mov $(fail_end - fail), %ecx
print:
	mov $0x3f8, %dx
	rep outsb
	mov $0xfe, %al
	out %al, $0x64
1:	hlt
	jmp 1b

ok:	.ascii "pvh: ok\n"
ok_end:
fail:	.ascii "pvh: FAIL\n"
fail_end:
