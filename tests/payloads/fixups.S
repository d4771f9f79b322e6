/*
 * The guest half of tests/integration/fixup_test.c, which runs the PVM
 * instruction fixups (vmm/insn_fixup.c) on a real KVM vCPU. Each case is a
 * checkpoint, `out %al, $0x7e` with the case id in AL and a nop, immediately
 * followed by one instruction PVM's emulator lacks. The test program stops at the
 * checkpoint, fakes PVM's "cannot emulate" exit for that instruction and lets
 * minivmm complete it; this code then checks, from inside the guest, that the
 * effect is the architectural one and prints "fixup NAME: ok" or
 * "fixup NAME: FAIL" on COM1. Ends with "fixups: done" and an i8042 reset.
 *
 * Every exception the cases raise is logged at EVLOG (vector and the RIP in
 * the interrupt frame), which fixup_test.c reads back to explain a failure.
 */
#include "bzimage.h"

/* Shared with tests/integration/fixup_test.c: the checkpoint port and the
 * event log (u64 count, then {u64 vector, u64 frame RIP} from EVLOG + 16),
 * in low RAM that minivmm's boot layout leaves unused. */
#define CHECKPOINT_PORT 0x7e
#define EVLOG           0x60000
#define EVLOG_MAX       32
#define STACK_TOP       0x70000

#define VEC_BP 3
#define VEC_UD 6
#define VEC_MF 16
#define IDT_VECTORS 17 /* 0..16: every exception these cases can raise */

#define RFLAGS_AC_BIT 18
#define CR0_NE    (1 << 5)
#define CR4_SMAP  (1 << 21)

/* The checkpoint, placed right before the instruction to complete. The test
 * program takes over at the `out` and single-steps the nop, so that the
 * vCPU's last exit before the faked one is at that instruction, as on PVM.
 * Clobbers AL. */
#define CHECKPOINT(id)                                                                     \
	mov $(id), %al;                                                                    \
	out %al, $CHECKPOINT_PORT;                                                         \
	nop

/* Starts a case: no failure yet (r15), events logged so far (r12). */
#define CASE_BEGIN                                                                         \
	xor %r15d, %r15d;                                                                  \
	mov $EVLOG, %edi;                                                                  \
	mov (%rdi), %r12

#define FAIL_IF(jcc)                                                                       \
	jcc 1f;                                                                            \
	jmp 2f;                                                                            \
	1 : mov $1, %r15d;                                                                 \
	2:

/* Prints the case's ok or FAIL line, from r15. */
#define REPORT(name)                                                                       \
	test %r15d, %r15d;                                                                 \
	jnz 81f;                                                                           \
	PRINT(ok_##name, ok_##name##_end - ok_##name);                                     \
	jmp 82f;                                                                           \
	81 : PRINT(fail_##name, fail_##name##_end - fail_##name);                          \
	82:

#define MESSAGES(name, text)                                                               \
	ok_##name : .ascii "fixup ", text, ": ok\n";                                       \
	ok_##name##_end : fail_##name : .ascii "fixup ", text, ": FAIL\n";                 \
	fail_##name##_end:

/* Sets or clears RFLAGS.AC through the stack, as nothing else can without
 * stac/clac. */
#define SET_AC                                                                             \
	pushf;                                                                             \
	orl $(1 << RFLAGS_AC_BIT), (%rsp);                                                 \
	popf
#define CLEAR_AC                                                                           \
	pushf;                                                                             \
	andl $~(1 << RFLAGS_AC_BIT), (%rsp);                                               \
	popf

/* x87: 1 / 0, leaving FSW.ZE set (and, if ZE is unmasked, an exception
 * pending). Written as bytes because AT&T syntax swaps fdivp and fdivrp:
 * DE F9 is Intel's FDIVP ST(1), ST(0), i.e. ST(1) = 1 / 0 here. */
#define X87_DIVIDE_BY_ZERO(fcw_label)                                                      \
	fninit;                                                                            \
	fldcw fcw_label(%rip);                                                             \
	fld1;                                                                              \
	fldz;                                                                              \
	.byte 0xde, 0xf9

BZIMAGE_BEGIN
	mov $STACK_TOP, %esp
	mov $EVLOG, %edi
	movq $0, (%rdi)

	/* The IDT: every vector an unexpected exception, then the three the
	 * cases expect. */
	xor %ebx, %ebx
1:	lea unexpected(%rip), %rax
	call set_gate
	inc %ebx
	cmp $IDT_VECTORS, %ebx
	jb 1b
	mov $VEC_BP, %ebx
	lea bp_handler(%rip), %rax
	call set_gate
	mov $VEC_UD, %ebx
	lea ud_handler(%rip), %rax
	call set_gate
	mov $VEC_MF, %ebx
	lea mf_handler(%rip), %rax
	call set_gate
	lea idt(%rip), %rax
	mov %rax, idtr_base(%rip)
	lidt idtr(%rip)

	/* 1. int3 (CC): a trap, so the #BP handler runs once and its frame
	 * holds the address after the CC. */
	CASE_BEGIN
	CHECKPOINT(1)
	int3
int3_after:
	mov $VEC_BP, %eax
	lea int3_after(%rip), %rcx
	call expect_event
	REPORT(int3)

	/* 2. int $3 (CD 03): the same, after both bytes. As bytes because an
	 * assembler may encode `int $3` as CC. */
	CASE_BEGIN
	CHECKPOINT(2)
	.byte 0xcd, 0x03
int_3_after:
	mov $VEC_BP, %eax
	lea int_3_after(%rip), %rcx
	call expect_event
	REPORT(int_3)

	/* 3. fnclex: clears the exception flags (low byte) and busy (bit 15). */
	CASE_BEGIN
	X87_DIVIDE_BY_ZERO(fcw_all_masked)
	fnstsw %ax
	mov %eax, %ebx
	CHECKPOINT(3)
	fnclex
	fnstsw %ax
	test $0x04, %bx /* ZE was set before, or the case proves nothing */
	FAIL_IF(jz)
	test $0x80ff, %ax
	FAIL_IF(jnz)
	call expect_no_event
	REPORT(fnclex)

	/* 4. fwait with only a masked exception flag (ZE) set: no #MF,
	 * execution goes on at the next instruction. */
	CASE_BEGIN
	X87_DIVIDE_BY_ZERO(fcw_all_masked)
	xor %ebx, %ebx
	CHECKPOINT(4)
	fwait
	mov $0x600d, %ebx /* skipped if RIP went anywhere but here */
	cmp $0x600d, %ebx
	FAIL_IF(jne)
	call expect_no_event
	REPORT(fwait)

	/* 5. fwait with an unmasked exception pending and CR0.NE set: #MF
	 * with RIP at the fwait. The handler clears the flags and returns to
	 * the fwait, which then runs natively and finds nothing pending. */
	CASE_BEGIN
	mov %cr0, %rax
	or $CR0_NE, %rax
	mov %rax, %cr0
	X87_DIVIDE_BY_ZERO(fcw_ze_unmasked)
	CHECKPOINT(5)
fwait_mf_insn:
	fwait
	mov $VEC_MF, %eax
	lea fwait_mf_insn(%rip), %rcx
	call expect_event
	fninit
	REPORT(fwait_mf)

	/* 6. clac with CR4.SMAP clear (minivmm boots with CR4 = PAE): #UD
	 * at the clac, and RFLAGS.AC untouched. The #UD handler steps over
	 * the 3 bytes. */
	CASE_BEGIN
	SET_AC
	CHECKPOINT(6)
clac_ud_insn:
	.byte 0x0f, 0x01, 0xca /* clac */
	pushf
	pop %rbx
	mov $VEC_UD, %eax
	lea clac_ud_insn(%rip), %rcx
	call expect_event
	bt $RFLAGS_AC_BIT, %rbx
	FAIL_IF(jnc)
	CLEAR_AC
	REPORT(clac_ud)

	/* 7. stac with CR4.SMAP clear: #UD, AC stays clear. */
	CASE_BEGIN
	CLEAR_AC
	CHECKPOINT(7)
stac_ud_insn:
	.byte 0x0f, 0x01, 0xcb /* stac */
	pushf
	pop %rbx
	mov $VEC_UD, %eax
	lea stac_ud_insn(%rip), %rcx
	call expect_event
	bt $RFLAGS_AC_BIT, %rbx
	FAIL_IF(jc)
	REPORT(stac_ud)

	/* 8, 9. With SMAP in CPUID (leaf 7, EBX bit 20), turn on CR4.SMAP:
	 * stac sets AC, clac clears it, no exception. */
	xor %eax, %eax
	cpuid
	cmp $7, %eax
	jb no_smap
	mov $7, %eax
	xor %ecx, %ecx
	cpuid
	bt $20, %ebx
	jnc no_smap
	CASE_BEGIN
	mov %cr4, %rax
	or $CR4_SMAP, %rax
	mov %rax, %cr4
	CLEAR_AC
	CHECKPOINT(8)
	.byte 0x0f, 0x01, 0xcb /* stac */
	pushf
	pop %rbx
	bt $RFLAGS_AC_BIT, %rbx
	FAIL_IF(jnc)
	CHECKPOINT(9)
	.byte 0x0f, 0x01, 0xca /* clac */
	pushf
	pop %rbx
	bt $RFLAGS_AC_BIT, %rbx
	FAIL_IF(jc)
	call expect_no_event
	mov %cr4, %rax
	and $~CR4_SMAP, %rax
	mov %rax, %cr4
	REPORT(smap)
	jmp done
no_smap:
	PRINT(skip_smap, skip_smap_end - skip_smap)

done:
	PRINT(msg_done, msg_done_end - msg_done)
	RESET_VIA_I8042

/* Writes a 64-bit interrupt gate: vector in ebx, handler address in rax.
 * Clobbers rax, rdi. */
set_gate:
	lea idt(%rip), %rdi
	shl $4, %ebx
	add %rbx, %rdi
	shr $4, %ebx
	mov %ax, (%rdi)          /* offset 15:0 */
	movw $0x10, 2(%rdi)      /* minivmm's 64-bit code selector */
	movw $0x8e00, 4(%rdi)    /* present, DPL 0, 64-bit interrupt gate, IST 0 */
	shr $16, %rax
	mov %ax, 6(%rdi)         /* offset 31:16 */
	shr $16, %rax
	mov %eax, 8(%rdi)        /* offset 63:32 */
	movl $0, 12(%rdi)
	ret

/* Appends {vector eax, frame RIP rcx} to the event log. Keeps every register. */
log_event:
	push %rdx
	push %rdi
	mov $EVLOG, %edi
	mov (%rdi), %rdx
	cmp $EVLOG_MAX, %rdx
	jae 1f
	shl $4, %rdx
	mov %rax, 16(%rdi,%rdx)
	mov %rcx, 24(%rdi,%rdx)
1:	incq (%rdi)
	pop %rdi
	pop %rdx
	ret

/* The case logged exactly one event since CASE_BEGIN: vector eax, frame
 * RIP rcx. Sets r15 if not. Clobbers rdx, rdi. */
expect_event:
	mov $EVLOG, %edi
	mov (%rdi), %rdx
	sub %r12, %rdx
	cmp $1, %rdx
	jne 9f
	mov %r12, %rdx
	shl $4, %rdx
	cmp %rax, 16(%rdi,%rdx)
	jne 9f
	cmp %rcx, 24(%rdi,%rdx)
	jne 9f
	ret
9:	mov $1, %r15d
	ret

/* The case logged no event. Sets r15 if it did. Clobbers rdi. */
expect_no_event:
	mov $EVLOG, %edi
	cmp %r12, (%rdi)
	je 1f
	mov $1, %r15d
1:	ret

/* In the handlers the frame's RIP is at 16(%rsp), past the two pushes;
 * none of these vectors pushes an error code. */
bp_handler:
	push %rax
	push %rcx
	mov $VEC_BP, %eax
	mov 16(%rsp), %rcx
	call log_event
	pop %rcx
	pop %rax
	iretq

ud_handler:
	push %rax
	push %rcx
	mov $VEC_UD, %eax
	mov 16(%rsp), %rcx
	call log_event
	addq $3, 16(%rsp) /* every #UD here is a 3-byte clac/stac */
	pop %rcx
	pop %rax
	iretq

mf_handler:
	push %rax
	push %rcx
	mov $VEC_MF, %eax
	mov 16(%rsp), %rcx
	call log_event
	fnclex /* or the fwait we return to faults again */
	pop %rcx
	pop %rax
	iretq

/* Any other exception: say so and reset, rather than triple-fault. */
unexpected:
	mov $0xff, %eax
	mov (%rsp), %rcx /* frame RIP, or the error code for vectors that push one */
	call log_event
	PRINT(msg_unexpected, msg_unexpected_end - msg_unexpected)
	RESET_VIA_I8042

fcw_all_masked:  .word 0x037f /* the fninit default: every exception masked */
fcw_ze_unmasked: .word 0x037b /* the same with ZE (bit 2) unmasked */

	MESSAGES(int3, "int3")
	MESSAGES(int_3, "int $3")
	MESSAGES(fnclex, "fnclex")
	MESSAGES(fwait, "fwait")
	MESSAGES(fwait_mf, "fwait #MF")
	MESSAGES(clac_ud, "clac #UD")
	MESSAGES(stac_ud, "stac #UD")
	MESSAGES(smap, "smap")
skip_smap:	.ascii "fixup smap: skipped (no SMAP)\n"
skip_smap_end:
msg_done:	.ascii "fixups: done\n"
msg_done_end:
msg_unexpected:	.ascii "fixups: FAIL: unexpected exception\n"
msg_unexpected_end:

	.balign 8
idtr:	.word IDT_VECTORS * 16 - 1
idtr_base:
	.quad 0
	.balign 16
idt:	.fill IDT_VECTORS * 16, 1, 0
BZIMAGE_END
