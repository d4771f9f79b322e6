#include "vmm/insn_fixup.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/base/guest_mem.h"
#include "vmm/exit.h"
#include "vmm/vcpu.h"

struct insn_fixup insn_fixup_decode(const uint8_t *b, size_t n)
{
	struct insn_fixup none = {FIXUP_NONE, 0};
	if (n >= 1 && b[0] == 0xCC)
		return (struct insn_fixup){FIXUP_INT3, 1};
	if (n >= 2 && b[0] == 0xCD && b[1] == 0x03)
		return (struct insn_fixup){FIXUP_INT3, 2};
	if (n >= 1 && b[0] == 0x9B)
		return (struct insn_fixup){FIXUP_FWAIT, 1};
	if (n >= 2 && b[0] == 0xDB && b[1] == 0xE2)
		return (struct insn_fixup){FIXUP_FNCLEX, 2};
	if (n >= 3 && b[0] == 0x0F && b[1] == 0x01 && b[2] == 0xCA)
		return (struct insn_fixup){FIXUP_CLAC, 3};
	if (n >= 3 && b[0] == 0x0F && b[1] == 0x01 && b[2] == 0xCB)
		return (struct insn_fixup){FIXUP_STAC, 3};
	return none;
}

const char *insn_fixup_name(enum insn_fixup_kind k)
{
	static const char *const names[FIXUP_KINDS] = {"none",	 "int3", "fwait",
						       "fnclex", "clac", "stac"};
	return k < FIXUP_KINDS ? names[k] : "?";
}

#define VEC_UD 6
#define VEC_BP 3
#define VEC_MF 16

#define RFLAGS_AC (1ULL << 18)
#define CR0_NE	  (1ULL << 5)
#define CR4_SMAP  (1ULL << 21)

/* x87 status word: exception flags IE..PE (bits 0-5), stack fault (6),
 * error summary (7), busy (15). Control word bits 0-5 mask them (SDM vol. 1
 * §8.1.3, §8.1.5). */
#define FSW_EXCEPTIONS	      0x3f
#define FSW_CLEARED_BY_FNCLEX 0x80ff

static int inject_exception(struct vcpu *v, uint8_t vector)
{
	struct kvm_vcpu_events ev;
	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return -1;
	ev.exception.injected = 1;
	ev.exception.nr = vector;
	ev.exception.has_error_code = 0;
	ev.exception.pending = 0;
	ev.flags = 0;
	return ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev);
}

int insn_fixup_apply(struct vcpu *v, struct insn_fixup f)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	if (f.kind == FIXUP_NONE || ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return -1;

	switch (f.kind) {
	case FIXUP_INT3:
		/* #BP is a trap: the handler must see RIP after the instruction.
		 * Who moves RIP differs by KVM: hardware KVM injects vector 3 as a
		 * software exception and steps over the int3 itself (SVM decodes
		 * it at RIP and drops the event if it is not there), while PVM
		 * injects it as is, so there minivmm steps RIP first (verified on
		 * PVM hosts; docs/architecture.md). */
		if (v->host->kvm->is_pvm) {
			regs.rip += f.len;
			if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
				return -1;
		}
		return inject_exception(v, VEC_BP);

	case FIXUP_FWAIT:
		if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
			return -1;
		/* An unmasked pending x87 exception makes FWAIT fault with #MF,
		 * RIP at the FWAIT (when CR0.NE selects native reporting). */
		if ((fpu.fsw & ~fpu.fcw & FSW_EXCEPTIONS) && (sregs.cr0 & CR0_NE))
			return inject_exception(v, VEC_MF);
		break;

	case FIXUP_FNCLEX:
		if (ioctl(v->fd, KVM_GET_FPU, &fpu) < 0)
			return -1;
		fpu.fsw &= (uint16_t)~FSW_CLEARED_BY_FNCLEX;
		if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
			return -1;
		break;

	case FIXUP_CLAC:
	case FIXUP_STAC:
		if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
			return -1;
		/* Both are #UD unless CR4.SMAP is set and CPL is 0 (SDM: CLAC). */
		if (!(sregs.cr4 & CR4_SMAP) || (sregs.cs.selector & 3))
			return inject_exception(v, VEC_UD);
		if (f.kind == FIXUP_CLAC)
			regs.rflags &= ~RFLAGS_AC;
		else
			regs.rflags |= RFLAGS_AC;
		break;

	default:
		return -1;
	}
	regs.rip += f.len;
	return ioctl(v->fd, KVM_SET_REGS, &regs);
}

/* The bytes at the guest's RIP, when KVM did not include them: linear ->
 * physical through the guest's page tables. */
static size_t read_insn_at_rip(struct vcpu *v, uint8_t *out, size_t max)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return 0;
	struct kvm_translation t = {.linear_address = sregs.cs.base + regs.rip};
	if (ioctl(v->fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
		return 0;
	size_t to_page_end = 4096 - (t.physical_address & 4095);
	size_t n = max < to_page_end ? max : to_page_end;
	const uint8_t *p = guest_ptr(v->host->mem, t.physical_address, n);
	if (!p)
		return 0;
	memcpy(out, p, n);
	return n;
}

int insn_fixup_complete(struct vcpu *v, struct exit_stop *why)
{
	if (why->insn_len == 0)
		why->insn_len = read_insn_at_rip(v, why->insn, 15);
	struct insn_fixup f = insn_fixup_decode(why->insn, why->insn_len);
	if (f.kind != FIXUP_NONE && insn_fixup_apply(v, f) == 0) {
		v->stats.fixups[f.kind]++;
		return EXIT_RUN_AGAIN;
	}
	char hex[16 * 3 + 1] = "";
	for (size_t i = 0; i < why->insn_len; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", why->insn[i]);
	const char *bytes = why->insn_len ? hex : "bytes unavailable";
	why->status = 1;
	why->dump = "emulation failure";
	snprintf(why->detail, sizeof(why->detail),
		 "vCPU %d: KVM could not emulate the instruction [%s]", v->id, bytes);
	snprintf(why->reason, sizeof(why->reason),
		 "vCPU %d: KVM could not emulate an instruction (%s)", v->id, bytes);
	return EXIT_STOP;
}
