#include "vmm/exit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum exit_kind stop(struct exit_stop *why, int status, const char *dump, const char *fmt,
			   ...) __attribute__((format(printf, 4, 5)));

static enum exit_kind stop(struct exit_stop *why, int status, const char *dump, const char *fmt,
			   ...)
{
	why->status = status;
	why->dump = dump;
	why->detail[0] = '\0';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why->reason, sizeof(why->reason), fmt, ap);
	va_end(ap);
	return EXIT_STOP;
}

static enum exit_kind handle_pio(struct kvm_run *run, const struct exit_env *env,
				 struct vcpu_stats *st, struct exit_stop *why)
{
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t bytes = (uint64_t)size * count;
	/* KVM fills these in, but a bogus offset would have us write past the
	 * shared page: cheap to check, and it never fires on a sane host. (No
	 * offset + bytes: an offset near 2^64 would wrap it.) */
	if (size == 0 || size > 8 || run->io.data_offset > env->run_size ||
	    bytes > env->run_size - run->io.data_offset)
		return stop(why, 1, NULL, "vCPU %d: KVM reported an impossible I/O exit", env->id);
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* The table stays named in this vCPU's hazard slot until bus_leave(),
	 * after the device ran, so the range is used in place, not copied. A
	 * BAR move the device makes meanwhile never reuses a named table
	 * (vmm/base/bus.h: with R readers, R + 2 tables always leave one). */
	const struct bus_range *r = bus_find(bus_enter(env->pio), run->io.port, size);
	if (!r) {
		bus_leave(env->pio);
		st->pio_unclaimed += count;
		st->range_lat = stats_pio_lat(st, -1);
		unclaimed_report(env->unclaimed, "port", run->io.port, size, is_write);
		/* Nothing answers: the bus floats high (all ones). */
		if (!is_write)
			memset(data, 0xff, bytes);
		return EXIT_RUN_AGAIN;
	}
	st->pio_hits[r->slot] += count;
	st->range_lat = stats_pio_lat(st, r->slot);
	/* rep ins/outs: KVM hands us count elements at once. */
	for (uint32_t c = 0; c < count; c++)
		r->io(r->opaque, run->io.port - r->base, data + (size_t)c * size, size, is_write);
	bus_leave(env->pio);
	return EXIT_RUN_AGAIN;
}

static enum exit_kind handle_mmio(struct kvm_run *run, const struct exit_env *env,
				  struct vcpu_stats *st, struct exit_stop *why)
{
	uint32_t len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data))
		return stop(why, 1, NULL, "vCPU %d: KVM reported an impossible MMIO exit", env->id);
	const struct bus_range *r = bus_find(bus_enter(env->mmio), run->mmio.phys_addr, len);
	if (!r) {
		bus_leave(env->mmio);
		st->mmio_unclaimed++;
		st->range_lat = stats_mmio_lat(st, -1);
		unclaimed_report(env->unclaimed, "MMIO address", run->mmio.phys_addr, len,
				 run->mmio.is_write);
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, len);
		return EXIT_RUN_AGAIN;
	}
	/* Counted by slot, which stays the range's wherever the guest moves it. */
	st->mmio_hits[r->slot]++;
	st->range_lat = stats_mmio_lat(st, r->slot);
	r->io(r->opaque, run->mmio.phys_addr - r->base, run->mmio.data, len, run->mmio.is_write);
	bus_leave(env->mmio);
	return EXIT_RUN_AGAIN;
}

static enum exit_kind handle_internal_error(struct kvm_run *run, const struct exit_env *env,
					    struct exit_stop *why)
{
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION) {
		stop(why, 1, "KVM internal error", "vCPU %d: KVM internal error (suberror %u)",
		     env->id, run->internal.suberror);
		size_t at = 0, n = sizeof(why->detail);
		int w = snprintf(why->detail, n,
				 "vCPU %d: KVM internal error, suberror %u, data:", env->id,
				 run->internal.suberror);
		for (uint32_t i = 0;
		     w > 0 && (at += (size_t)w) < n && i < run->internal.ndata && i < 16; i++)
			w = snprintf(why->detail + at, n - at, " %llx",
				     (unsigned long long)run->internal.data[i]);
		return EXIT_STOP;
	}
	/* The bytes, when KVM gives them (KVM_CAP_EXIT_ON_EMULATION_FAILURE);
	 * else the vCPU loop reads them at RIP. */
	why->insn_len = 0;
	if (run->emulation_failure.ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		size_t n = run->emulation_failure.insn_size;
		if (n > sizeof(run->emulation_failure.insn_bytes))
			n = sizeof(run->emulation_failure.insn_bytes);
		memcpy(why->insn, run->emulation_failure.insn_bytes, n);
		why->insn_len = n;
	}
	return EXIT_NOT_EMULATED;
}

enum exit_kind exit_dispatch(struct kvm_run *run, const struct exit_env *env,
			     struct vcpu_stats *stats, struct exit_stop *why)
{
	uint32_t reason = run->exit_reason;
	stats->exits[stats_exit_slot(reason)]++;

	switch (reason) {
	case KVM_EXIT_IO:
		return handle_pio(run, env, stats, why);
	case KVM_EXIT_MMIO:
		return handle_mmio(run, env, stats, why);
	case KVM_EXIT_INTR:
		return EXIT_RUN_AGAIN; /* a signal: the loop checks whether we are stopping */
	case KVM_EXIT_HLT:
		/* With the in-kernel local APIC, KVM waits for the interrupt itself;
		 * an HLT exit means nothing can ever wake this vCPU. */
		return stop(why, 0, NULL, "vCPU %d halted with no way to wake it", env->id);
	case KVM_EXIT_SHUTDOWN:
		return stop(why, 1, "triple fault (KVM_EXIT_SHUTDOWN)",
			    "guest triple-faulted on vCPU %d", env->id);
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			return stop(why, 0, NULL, "guest powered off");
		case KVM_SYSTEM_EVENT_RESET:
			return stop(why, 0, NULL, "guest reset");
		default:
			return stop(why, 1, NULL, "guest system event %u (crash) on vCPU %d",
				    run->system_event.type, env->id);
		}
	case KVM_EXIT_FAIL_ENTRY:
		return stop(why, 1, "VM entry failed",
			    "vCPU %d: VM entry failed, hardware reason 0x%llx", env->id,
			    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return handle_internal_error(run, env, why);
	default:
		return stop(why, 1, "unexpected exit", "vCPU %d: unexpected KVM exit %u (%s)",
			    env->id, reason, kvm_exit_name(reason));
	}
}
