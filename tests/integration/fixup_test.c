/*
 * fixup_test: runs minivmm's PVM instruction fixups (vmm/insn_fixup.c) on a
 * real KVM vCPU.
 *
 *   fixup_test PAYLOAD      (PAYLOAD: tests/payloads/fixups.bzImage)
 *
 * Only a PVM host ever returns "cannot emulate" for int3, fwait, fnclex and
 * clac/stac, so on hardware (or nested) KVM that path never runs. This
 * program makes it run: it builds the machine with vm_create() and
 * vm_assemble() but drives
 * vCPU 0 itself. The payload stops at a checkpoint (`out %al, $0x7e; nop`)
 * right before each such instruction; the program single-steps onto the
 * instruction, writes into the shared kvm_run exactly the exit PVM would
 * have produced for it and hands it to vcpu_handle_exit(), the function
 * minivmm's own exit loop calls. The guest
 * checks the effect and prints one line per case on COM1; this program checks
 * those lines, the fixup counters and the registers after each fixup.
 *
 * Prints the guest's serial output, then "fixups: N passed, N failed";
 * details on stderr. Exit status 0 if nothing failed, else 1. Needs /dev/kvm.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/insn_fixup.h"
#include "vmm/vm.h"

/* Shared with tests/payloads/fixups.S. */
#define CHECKPOINT_PORT 0x7e
#define EVLOG		0x60000 /* u64 count, then {u64 vector, u64 frame RIP} */
#define EVLOG_MAX	32

#define OUT_IMM8_AL 0xe6 /* the checkpoint: E6 7E (out %al, $0x7e), then a nop */
#define NOP	    0x90
#define MAX_EXITS   10000
/* Nested KVM under TCG takes ~40 us an exit and the payload needs a few
 * dozen; this bound only matters if the guest hangs. */
#define TIMEOUT_SECS 120

struct checkpoint {
	uint8_t id; /* the byte the payload writes to the checkpoint port */
	const char *what;
	enum insn_fixup_kind kind;
	int rip_step;	/* where the fixup leaves RIP: 0 when it raises a fault */
	bool smap_only; /* only reached when the vCPU has SMAP */
};

/* RIP_ANY: where RIP sits once #BP is injected is the VMM's business. #BP
 * is a software exception, and KVM itself moves RIP over the instruction
 * when it delivers one (on AMD it decodes the INT3/INT n at RIP), so a
 * correct VMM may leave RIP at the instruction; what counts is the return
 * address in the guest's trap frame, which the payload checks. */
#define RIP_ANY (-1)

/* In the payload's order. #MF and #UD are faults: RIP stays. */
static const struct checkpoint checkpoints[] = {
    {1, "int3", FIXUP_INT3, RIP_ANY, false},
    {2, "int $3", FIXUP_INT3, RIP_ANY, false},
    {3, "fnclex", FIXUP_FNCLEX, 2, false},
    {4, "fwait, masked flag", FIXUP_FWAIT, 1, false},
    {5, "fwait, unmasked pending (#MF)", FIXUP_FWAIT, 0, false},
    {6, "clac without SMAP (#UD)", FIXUP_CLAC, 0, false},
    {7, "stac without SMAP (#UD)", FIXUP_STAC, 0, false},
    {8, "stac with SMAP", FIXUP_STAC, 3, true},
    {9, "clac with SMAP", FIXUP_CLAC, 3, true},
};
#define NCHECKPOINTS (sizeof(checkpoints) / sizeof(checkpoints[0]))

/* The payload's result line for each case, "fixup NAME: ok". */
static const char *const guest_cases[] = {
    "int3", "int $3", "fnclex", "fwait", "fwait #MF", "clac #UD", "stac #UD",
};
#define NGUEST_CASES (sizeof(guest_cases) / sizeof(guest_cases[0]))

static int passed, failed;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fixup_test: %s ", ok ? "ok  " : "FAIL");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	if (ok)
		passed++;
	else
		failed++;
}

/* The timeout: a signal makes KVM_RUN return EINTR, and immediate_exit makes
 * it return at once if the signal lands just before the ioctl. */
static struct kvm_run *volatile alarm_run;
static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (alarm_run)
		alarm_run->immediate_exit = 1;
}

static bool vcpu_has_smap(const struct vm *vm)
{
	/* minivmm gives the vCPU KVM's supported CPUID, minus SMAP on PVM. */
	const struct kvm_cpuid2 *c = vm->kvm.supported_cpuid;
	if (vm->kvm.is_pvm || !c)
		return false;
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 7 && c->entries[i].index == 0)
			return c->entries[i].ebx & (1U << 20);
	return false;
}

static const struct checkpoint *find_checkpoint(uint8_t id)
{
	for (size_t i = 0; i < NCHECKPOINTS; i++)
		if (checkpoints[i].id == id)
			return &checkpoints[i];
	return NULL;
}

struct seen {
	bool hit;
	uint64_t insn_rip; /* where the instruction to complete was */
};

/*
 * Single-steps vCPU 0 over the nop that ends each checkpoint, so that it
 * stops with RIP at the instruction to complete, not yet run, and its last
 * exit was there, as on PVM. Stopping at the `out` instead would leave KVM
 * holding state from that exit which it uses when it injects an event (on
 * AMD without NRIPS, the next-RIP of an I/O exit, which it takes as the
 * return address of an injected #BP).
 */
static bool step_over_nop(struct vcpu *v, uint64_t nop_rip)
{
	struct kvm_guest_debug dbg = {.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP};
	if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &dbg) < 0) {
		check(false, "KVM_SET_GUEST_DEBUG: %s", strerror(errno));
		return false;
	}
	int r;
	do
		r = ioctl(v->fd, KVM_RUN, 0);
	while (r < 0 && errno == EINTR && !timed_out);
	int run_errno = errno;
	/* Turning guest debugging off also takes TF back out of RFLAGS. */
	struct kvm_guest_debug off = {.control = 0};
	if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &off) < 0) {
		check(false, "KVM_SET_GUEST_DEBUG (off): %s", strerror(errno));
		return false;
	}
	if (r < 0) {
		check(false, "KVM_RUN, single-stepping at 0x%llx: %s", (unsigned long long)nop_rip,
		      strerror(run_errno));
		return false;
	}
	struct kvm_regs regs;
	if (v->run->exit_reason != KVM_EXIT_DEBUG || ioctl(v->fd, KVM_GET_REGS, &regs) < 0 ||
	    regs.rip != nop_rip + 1) {
		check(false,
		      "single step over the nop at 0x%llx: exit %u (%s), want a debug exit "
		      "at the next instruction",
		      (unsigned long long)nop_rip, v->run->exit_reason,
		      kvm_exit_name(v->run->exit_reason));
		return false;
	}
	return true;
}

/*
 * One checkpoint: the guest has run `out %al, $0x7e`; a nop and then the
 * instruction to complete follow. Steps to that instruction, fabricates the
 * exit a PVM host returns when it cannot emulate it, lets minivmm handle it
 * and checks what minivmm did. Returns false when the run cannot sensibly go
 * on.
 */
static bool complete_at_checkpoint(struct vm *vm, struct seen *seen)
{
	struct vcpu *v = &vm->vcpus[0];
	struct kvm_run *run = v->run;
	uint8_t id = *((uint8_t *)run + run->io.data_offset);
	const struct checkpoint *cp = find_checkpoint(id);
	if (!cp) {
		check(false, "the payload reached unknown checkpoint %u", id);
		return false;
	}

	struct kvm_regs regs;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0) {
		check(false, "checkpoint %u: KVM_GET_REGS: %s", id, strerror(errno));
		return false;
	}
	/* KVM moves RIP past an `out` to port 0x7e before exiting (the
	 * OUT_7E_INC_RIP quirk, on by default); without the quirk RIP is still
	 * at the `out`, and stepping it here is safe: KVM sees RIP moved and
	 * does not step again. */
	const uint8_t *at = guest_ptr(&vm->mem, regs.rip, 3);
	if (at && at[0] == OUT_IMM8_AL && at[1] == CHECKPOINT_PORT) {
		regs.rip += 2;
		if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
			check(false, "checkpoint %u: KVM_SET_REGS: %s", id, strerror(errno));
			return false;
		}
	}
	const uint8_t *cpt = guest_ptr(&vm->mem, regs.rip - 2, 3);
	if (!cpt || cpt[0] != OUT_IMM8_AL || cpt[1] != CHECKPOINT_PORT || cpt[2] != NOP) {
		check(false, "checkpoint %u: RIP 0x%llx is not at `out %%al, $0x7e; nop`", id,
		      (unsigned long long)regs.rip);
		return false;
	}
	if (!step_over_nop(v, regs.rip))
		return false;
	uint64_t rip = regs.rip + 1;
	seen[cp - checkpoints] = (struct seen){true, rip};

	/* As KVM does: up to 15 bytes, not past the page (in the payload's
	 * identity map, RIP is the guest-physical address). */
	size_t n = 15;
	if (4096 - (rip & 4095) < n)
		n = 4096 - (rip & 4095);
	const uint8_t *insn = guest_ptr(&vm->mem, rip, n);
	if (!insn) {
		check(false, "checkpoint %u: RIP 0x%llx is outside guest RAM", id,
		      (unsigned long long)rip);
		return false;
	}
	/* A payload mistake, not a minivmm one, but it would void the case. */
	struct insn_fixup f = insn_fixup_decode(insn, n);
	if (f.kind != cp->kind) {
		check(false,
		      "checkpoint %u (%s): the payload has %02x %02x %02x at 0x%llx, which "
		      "decodes as %s, not %s",
		      id, cp->what, insn[0], insn[1], insn[2], (unsigned long long)rip,
		      insn_fixup_name(f.kind), insn_fixup_name(cp->kind));
		return false;
	}

	/* What a PVM host leaves in kvm_run: KVM_EXIT_INTERNAL_ERROR, suberror
	 * EMULATION, flags + the instruction bytes (ndata 3: one u64 of flags,
	 * two of insn_size and insn_bytes), RIP at the instruction. */
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	memset(&run->emulation_failure, 0, sizeof(run->emulation_failure));
	run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
	run->emulation_failure.ndata = 3;
	run->emulation_failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
	run->emulation_failure.insn_size = (uint8_t)n;
	memcpy(run->emulation_failure.insn_bytes, insn, n);

	uint64_t before_counts[FIXUP_KINDS];
	memcpy(before_counts, v->stats.fixups, sizeof(before_counts));
	int r = vcpu_handle_exit(v);
	check(r == 0, "checkpoint %u (%s at 0x%llx): vcpu_handle_exit returned %d", id, cp->what,
	      (unsigned long long)rip, r);
	if (r != 0)
		return false;

	bool counts_ok = true;
	for (int k = 0; k < FIXUP_KINDS; k++)
		if (v->stats.fixups[k] != before_counts[k] + (k == (int)cp->kind))
			counts_ok = false;
	check(counts_ok, "checkpoint %u (%s): fixups[%s] went %llu -> %llu, nothing else moved", id,
	      cp->what, insn_fixup_name(cp->kind), (unsigned long long)before_counts[cp->kind],
	      (unsigned long long)v->stats.fixups[cp->kind]);

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0) {
		check(false, "checkpoint %u: KVM_GET_REGS: %s", id, strerror(errno));
		return false;
	}
	if (cp->rip_step != RIP_ANY)
		check(regs.rip == rip + (uint64_t)cp->rip_step,
		      "checkpoint %u (%s): RIP 0x%llx after the fixup, want 0x%llx", id, cp->what,
		      (unsigned long long)regs.rip,
		      (unsigned long long)(rip + (uint64_t)cp->rip_step));
	return true;
}

/* Drives vCPU 0 until the guest resets, something fails or time runs out. */
static void drive_vcpu(struct vm *vm, struct seen *seen)
{
	struct vcpu *v = &vm->vcpus[0];
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: KVM_RUN must return */
	sigaction(SIGALRM, &sa, NULL);
	alarm_run = v->run;
	alarm(TIMEOUT_SECS);

	int exits = 0;
	while (!stop_requested(&vm->stop)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (timed_out) {
				check(false, "the guest did not reset within %d s", TIMEOUT_SECS);
				break;
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			check(false, "KVM_RUN: %s", strerror(errno));
			break;
		}
		if (++exits > MAX_EXITS) {
			check(false, "the guest did not reset within %d exits", MAX_EXITS);
			break;
		}
		struct kvm_run *run = v->run;
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == CHECKPOINT_PORT &&
		    run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 1 &&
		    run->io.count == 1) {
			if (!complete_at_checkpoint(vm, seen))
				break;
			continue;
		}
		/* COM1, the i8042 reset, and whatever else goes the usual way. */
		if (vcpu_handle_exit(v))
			break;
	}
	alarm(0);
	alarm_run = NULL;
}

/* The guest's exceptions as its handlers logged them, for the reader. */
static void print_event_log(const struct vm *vm, const struct seen *seen)
{
	const uint64_t *log = guest_ptr(&vm->mem, EVLOG, 16 + 16 * EVLOG_MAX);
	if (!log)
		return;
	uint64_t count = log[0];
	fprintf(stderr, "fixup_test: the guest took %llu exception(s):\n",
		(unsigned long long)count);
	for (uint64_t i = 0; i < count && i < EVLOG_MAX; i++) {
		uint64_t vec = log[2 + 2 * i], rip = log[3 + 2 * i];
		const char *near = "";
		for (size_t c = 0; c < NCHECKPOINTS; c++)
			if (seen[c].hit && rip >= seen[c].insn_rip && rip <= seen[c].insn_rip + 3) {
				near = checkpoints[c].what;
				break;
			}
		fprintf(stderr, "  vector %llu, frame RIP 0x%llx%s%s%s\n", (unsigned long long)vec,
			(unsigned long long)rip, *near ? " (case: " : "", near, *near ? ")" : "");
	}
}

static bool has_line(const char *out, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = out; (p = strstr(p, line)); p += n)
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\r' || p[n] == 0))
			return true;
	return false;
}

/* Reads back what the guest printed (fd 1 pointed at f during the run). */
static char *slurp(FILE *f)
{
	long len;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		return NULL;
	char *s = malloc((size_t)len + 1);
	if (!s)
		return NULL;
	size_t got = fread(s, 1, (size_t)len, f);
	s[got] = 0;
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s fixups.bzImage\n", argv[0]);
		return 1;
	}

	/* The UART writes the guest's output to fd 1: catch it in a file. */
	fflush(stdout);
	int saved_stdout = dup(STDOUT_FILENO);
	FILE *serial = tmpfile();
	if (saved_stdout < 0 || !serial || dup2(fileno(serial), STDOUT_FILENO) < 0) {
		fprintf(stderr, "fixup_test: cannot redirect stdout: %s\n", strerror(errno));
		return 1;
	}

	struct vm_config cfg = {
	    .kernel_path = argv[1],
	    .mem_size = 16ULL << 20,
	    .cpus = 1,
	    .kvm_path = "/dev/kvm",
	};
	struct vm vm;
	struct errbuf e = {{0}};
	if (vm_create(&vm, &cfg, &e) || vm_assemble(&vm, &e)) {
		vm_destroy(&vm);
		dup2(saved_stdout, STDOUT_FILENO);
		fprintf(stderr, "fixup_test: cannot build the VM: %s\n", e.msg);
		printf("fixups: 0 passed, 1 failed\n");
		return 1;
	}
	bool smap = vcpu_has_smap(&vm);
	if (vm.kvm.is_pvm)
		fprintf(stderr, "fixup_test: this /dev/kvm is PVM; the fabricated exits are then "
				"redundant, but the checks still hold\n");

	struct seen seen[NCHECKPOINTS] = {{0}};
	drive_vcpu(&vm, seen);

	struct vcpu_stats *st = &vm.vcpus[0].stats;
	uint64_t fixups[FIXUP_KINDS];
	memcpy(fixups, st->fixups, sizeof(fixups));
	bool reset = vm.stop.status == 0 && strstr(vm.stop.reason, "i8042");
	char stop_reason[sizeof(vm.stop.reason)];
	snprintf(stop_reason, sizeof(stop_reason), "%s",
		 stop_requested(&vm.stop) ? vm.stop.reason : "(did not stop)");
	print_event_log(&vm, seen);
	vm_destroy(&vm);

	fflush(stdout);
	dup2(saved_stdout, STDOUT_FILENO);
	close(saved_stdout);
	char *out = slurp(serial);
	fclose(serial);
	if (!out)
		out = strdup("");
	fputs(out, stdout);
	if (*out && out[strlen(out) - 1] != '\n')
		putchar('\n');

	check(reset, "the guest reset through the i8042 (stop reason: %s)", stop_reason);

	for (size_t i = 0; i < NCHECKPOINTS; i++)
		if (!checkpoints[i].smap_only || smap)
			check(seen[i].hit, "checkpoint %u (%s) reached", checkpoints[i].id,
			      checkpoints[i].what);

	char line[128];
	for (size_t i = 0; i < NGUEST_CASES; i++) {
		snprintf(line, sizeof(line), "fixup %s: ok", guest_cases[i]);
		check(has_line(out, line), "guest: \"%s\"", line);
	}
	if (smap) {
		check(has_line(out, "fixup smap: ok"), "guest: \"fixup smap: ok\"");
	} else {
		bool said = has_line(out, "fixup smap: skipped (no SMAP)");
		if (said)
			fprintf(stderr, "fixup_test: skip stac/clac with CR4.SMAP: the vCPU has no "
					"SMAP\n");
		else
			check(false,
			      "guest: \"fixup smap: skipped (no SMAP)\" (the vCPU has no SMAP)");
	}
	check(!strstr(out, "FAIL"), "guest: no FAIL line");
	check(has_line(out, "fixups: done"), "guest: \"fixups: done\"");

	/* Two int3 forms, one fnclex, two fwaits, one clac and one stac each
	 * without SMAP, and one more of each with it. */
	uint64_t smap_extra = smap ? 1 : 0;
	const struct {
		enum insn_fixup_kind kind;
		uint64_t want;
	} totals[] = {
	    {FIXUP_INT3, 2},
	    {FIXUP_FNCLEX, 1},
	    {FIXUP_FWAIT, 2},
	    {FIXUP_CLAC, 1 + smap_extra},
	    {FIXUP_STAC, 1 + smap_extra},
	};
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		check(fixups[totals[i].kind] == totals[i].want,
		      "fixup counter %s = %llu, want %llu", insn_fixup_name(totals[i].kind),
		      (unsigned long long)fixups[totals[i].kind],
		      (unsigned long long)totals[i].want);

	free(out);
	printf("fixups: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
