/*
 * What happens after KVM_RUN returns: one switch on the exit reason. Port and
 * MMIO accesses go to the device that registered the address on the bus
 * (vmm/bus.h); everything else either stops the VM with a report or, on a PVM
 * host, completes an instruction the host could not (vmm/insn_fixup.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/vcpu.h"
#include "vmm/vm.h"

static void handle_pio(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t bytes = (uint64_t)size * count;
	/* KVM fills these in, but a bogus offset would have us write past the
	 * shared page: cheap to check, and it never fires on a sane host. */
	if (run->io.data_offset + bytes > (uint64_t)vm->kvm.run_size || size == 0 || size > 8) {
		vm_request_stop(vm, 1, "vCPU %d: KVM reported an impossible I/O exit", v->id);
		return;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	long i = bus_find(&vm->pio, run->io.port, size);
	if (i < 0) {
		v->stats.pio_unclaimed += count;
		v->stats.range_lat = stats_pio_lat(&v->stats, -1);
		unclaimed_report(&vm->unclaimed, "port", run->io.port, size, is_write);
		if (!is_write)
			memset(data, 0xff, bytes);
		return;
	}
	const struct bus_range *r = &vm->pio.ranges[i];
	v->stats.pio_hits[i] += count;
	v->stats.range_lat = stats_pio_lat(&v->stats, i);
	/* rep ins/outs: KVM hands us count elements at once. */
	for (uint32_t c = 0; c < count; c++)
		r->io(r->opaque, run->io.port - r->base, data + (size_t)c * size, size, is_write);
}

static void handle_mmio(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		vm_request_stop(vm, 1, "vCPU %d: KVM reported an impossible MMIO exit", v->id);
		return;
	}
	long i = bus_find(&vm->mmio, run->mmio.phys_addr, len);
	if (i < 0) {
		v->stats.mmio_unclaimed++;
		v->stats.range_lat = stats_mmio_lat(&v->stats, -1);
		unclaimed_report(&vm->unclaimed, "MMIO address", run->mmio.phys_addr, len,
				 run->mmio.is_write);
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, len);
		return;
	}
	const struct bus_range *r = &vm->mmio.ranges[i];
	v->stats.mmio_hits[i]++;
	v->stats.range_lat = stats_mmio_lat(&v->stats, i);
	r->io(r->opaque, run->mmio.phys_addr - r->base, run->mmio.data, len, run->mmio.is_write);
}

/* The bytes at the guest's RIP, for a report or a fixup, when KVM did not
 * include them: linear -> physical through the guest's page tables. */
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
	const uint8_t *p = guest_ptr(&v->vm->mem, t.physical_address, n);
	if (!p)
		return 0;
	memcpy(out, p, n);
	return n;
}

static int handle_internal_error(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
		fprintf(stderr, "minivmm: vCPU %d: KVM internal error, suberror %u, data:", v->id,
			run->internal.suberror);
		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(stderr, " %llx", (unsigned long long)run->internal.data[i]);
		fputc('\n', stderr);
		vcpu_dump_registers(v, "KVM internal error");
		vm_request_stop(vm, 1, "vCPU %d: KVM internal error (suberror %u)", v->id,
				run->internal.suberror);
		return -1;
	}

	uint8_t insn[16];
	size_t n = 0;
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		n = run->emulation_failure.insn_size;
		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		memcpy(insn, run->emulation_failure.insn_bytes, n);
	} else {
		n = read_insn_at_rip(v, insn, 15);
	}

	struct insn_fixup f = insn_fixup_decode(insn, n);
	if (f.kind != FIXUP_NONE && insn_fixup_apply(v, f) == 0) {
		v->stats.fixups[f.kind]++;
		return 0;
	}

	char hex[16 * 3 + 1] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", insn[i]);
	fprintf(stderr, "minivmm: vCPU %d: KVM could not emulate the instruction [%s]\n", v->id,
		n ? hex : "bytes unavailable");
	vcpu_dump_registers(v, "emulation failure");
	vm_request_stop(vm, 1, "vCPU %d: KVM could not emulate an instruction (%s)", v->id,
			n ? hex : "bytes unavailable");
	return -1;
}

int vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;
	uint32_t reason = run->exit_reason;
	v->stats.exits[stats_exit_slot(reason)]++;

	switch (reason) {
	case KVM_EXIT_IO:
		handle_pio(v);
		return 0;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return 0;
	case KVM_EXIT_INTR:
		return 0; /* a signal: the loop checks whether we are stopping */
	case KVM_EXIT_HLT:
		/* With the in-kernel local APIC, KVM waits for the interrupt itself;
		 * an HLT exit means nothing can ever wake this vCPU. */
		vm_request_stop(vm, 0, "vCPU %d halted with no way to wake it", v->id);
		return -1;
	case KVM_EXIT_SHUTDOWN:
		vcpu_dump_registers(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		vm_request_stop(vm, 1, "guest triple-faulted on vCPU %d", v->id);
		return -1;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_request_stop(vm, 0, "guest powered off");
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vm_request_stop(vm, 0, "guest reset");
			break;
		default:
			vm_request_stop(vm, 1, "guest system event %u (crash) on vCPU %d",
					run->system_event.type, v->id);
		}
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_dump_registers(v, "VM entry failed");
		vm_request_stop(vm, 1, "vCPU %d: VM entry failed, hardware reason 0x%llx", v->id,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return -1;
	case KVM_EXIT_INTERNAL_ERROR:
		return handle_internal_error(v);
	default:
		vcpu_dump_registers(v, "unexpected exit");
		vm_request_stop(vm, 1, "vCPU %d: unexpected KVM exit %u (%s)", v->id, reason,
				kvm_exit_name(reason));
		return -1;
	}
}
