#include "vmm/stats.h"

#include <linux/kvm.h>

#include "vmm/vm.h"

const char *kvm_exit_name(uint32_t reason)
{
	static const char *const names[] = {
	    [KVM_EXIT_UNKNOWN] = "UNKNOWN",
	    [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	    [KVM_EXIT_IO] = "IO",
	    [KVM_EXIT_HYPERCALL] = "HYPERCALL",
	    [KVM_EXIT_DEBUG] = "DEBUG",
	    [KVM_EXIT_HLT] = "HLT",
	    [KVM_EXIT_MMIO] = "MMIO",
	    [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	    [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
	    [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	    [KVM_EXIT_INTR] = "INTR",
	    [KVM_EXIT_SET_TPR] = "SET_TPR",
	    [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
	    [KVM_EXIT_NMI] = "NMI",
	    [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
	    [KVM_EXIT_OSI] = "OSI",
	    [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
	    [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
	    [KVM_EXIT_HYPERV] = "HYPERV",
	    [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	    [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
	    [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
	};
	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other";
}

static void print_bus(const struct vm *vm, const struct bus *b, bool pio, FILE *out)
{
	for (size_t r = 0; r < b->count; r++) {
		uint64_t n = 0;
		for (int c = 0; c < vm->ncpus; c++)
			n += pio ? vm->vcpus[c].stats.pio_hits[r] : vm->vcpus[c].stats.mmio_hits[r];
		if (n)
			fprintf(out, "  %-5s %-22s 0x%08llx+%-6llx %12llu\n", b->name,
				b->ranges[r].name, (unsigned long long)b->ranges[r].base,
				(unsigned long long)b->ranges[r].len, (unsigned long long)n);
	}
}

void stats_print(const struct vm *vm, FILE *out)
{
	struct vcpu_stats sum = {0};
	for (int c = 0; c < vm->ncpus; c++) {
		const struct vcpu_stats *s = &vm->vcpus[c].stats;
		for (int i = 0; i < STATS_EXIT_SLOTS; i++)
			sum.exits[i] += s->exits[i];
		for (int i = 0; i < FIXUP_KINDS; i++)
			sum.fixups[i] += s->fixups[i];
		sum.pio_unclaimed += s->pio_unclaimed;
		sum.mmio_unclaimed += s->mmio_unclaimed;
	}
	uint64_t total = 0;
	for (int i = 0; i < STATS_EXIT_SLOTS; i++)
		total += sum.exits[i];

	fprintf(out, "minivmm stats: %llu exits on %d vCPU(s)\n", (unsigned long long)total,
		vm->ncpus);
	fprintf(out, "  %-28s %12s\n", "exit reason", "count");
	for (int i = 0; i < STATS_EXIT_SLOTS; i++)
		if (sum.exits[i])
			fprintf(out, "  %-28s %12llu\n",
				i == STATS_EXIT_SLOTS - 1 ? "other" : kvm_exit_name((uint32_t)i),
				(unsigned long long)sum.exits[i]);
	fprintf(out, "  %-5s %-22s %-17s %12s\n", "bus", "device", "range", "accesses");
	print_bus(vm, &vm->pio, true, out);
	print_bus(vm, &vm->mmio, false, out);
	fprintf(out, "  %-5s %-22s %-17s %12llu\n", "pio", "(unclaimed)", "",
		(unsigned long long)sum.pio_unclaimed);
	fprintf(out, "  %-5s %-22s %-17s %12llu\n", "mmio", "(unclaimed)", "",
		(unsigned long long)sum.mmio_unclaimed);
	if (vm->net.initialised)
		virtio_net_print_stats(&vm->net, out);
	for (int i = FIXUP_NONE + 1; i < FIXUP_KINDS; i++)
		if (sum.fixups[i] || vm->kvm.is_pvm)
			fprintf(out, "  completed for the guest: %-10s %12llu\n",
				insn_fixup_name((enum insn_fixup_kind)i),
				(unsigned long long)sum.fixups[i]);
}
