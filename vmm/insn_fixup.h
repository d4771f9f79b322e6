/*
 * Completing, in the VMM, the few instructions a software KVM (PVM) cannot
 * emulate. Such a host returns KVM_EXIT_INTERNAL_ERROR (suberror EMULATION)
 * with RIP still at the instruction and its bytes in the exit data; minivmm
 * performs the instruction's architectural effect and resumes the guest.
 * On hardware KVM these exits never happen and none of this runs.
 */
#ifndef MINIVMM_INSN_FIXUP_H
#define MINIVMM_INSN_FIXUP_H

#include <stddef.h>
#include <stdint.h>

enum insn_fixup_kind {
	FIXUP_NONE,
	FIXUP_INT3,   /* CC, or CD 03: raise #BP after the instruction */
	FIXUP_FWAIT,  /* 9B: #MF if an unmasked x87 exception is pending, else nothing */
	FIXUP_FNCLEX, /* DB E2: clear the x87 exception flags */
	FIXUP_CLAC,   /* 0F 01 CA: RFLAGS.AC = 0 (SMAP) */
	FIXUP_STAC,   /* 0F 01 CB: RFLAGS.AC = 1 */
	FIXUP_KINDS,
};

struct insn_fixup {
	enum insn_fixup_kind kind;
	unsigned len; /* bytes to step RIP over */
};

/* Recognises one of the instructions above at the start of bytes[0..n). */
struct insn_fixup insn_fixup_decode(const uint8_t *bytes, size_t n);

const char *insn_fixup_name(enum insn_fixup_kind k);

struct vcpu;
/* Performs f on the vCPU (registers, events, FPU state). 0 on success. */
int insn_fixup_apply(struct vcpu *v, struct insn_fixup f);

/* An exit KVM could not emulate (EXIT_NOT_EMULATED, vmm/exit.h): reads the
 * instruction at RIP if why has no bytes, and completes it if it is one of
 * the above (EXIT_RUN_AGAIN, counted in the vCPU's stats); else fills why
 * as a stop naming the bytes (EXIT_STOP). Returns that enum exit_kind. */
struct exit_stop;
int insn_fixup_complete(struct vcpu *v, struct exit_stop *why);

#endif
