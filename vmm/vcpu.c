#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vmm/insn_fixup.h"

static int create(struct vcpu *v, const struct vcpu_host *host, int id, struct bus *pio,
		  struct bus *mmio, struct unclaimed_log *unclaimed, struct errbuf *e)
{
	memset(v, 0, sizeof(*v));
	v->host = host;
	v->id = id;
	v->fd = ioctl(host->kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		return errorf_errno(e, "KVM_CREATE_VCPU %d", id);
	v->run =
	    mmap(NULL, (size_t)host->kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return errorf_errno(e, "vCPU %d: mmap of kvm_run", id);
	}
	if (vcpu_stats_init(&v->stats, pio->count, mmio->count))
		return errorf(e, "out of memory");
	struct bus_reader *pio_reader = bus_reader(pio, (size_t)id);
	struct bus_reader *mmio_reader = bus_reader(mmio, (size_t)id);
	if (!pio_reader || !mmio_reader)
		return errorf(e, "vCPU %d: the buses were frozen for fewer readers", id);
	v->env = (struct exit_env){.id = id,
				   .run_size = (size_t)host->kvm->run_size,
				   .pio = pio_reader,
				   .mmio = mmio_reader,
				   .unclaimed = unclaimed};
	return 0;
}

int vcpu_create(struct vcpu *v, const struct vcpu_host *host, int id, struct bus *pio,
		struct bus *mmio, struct unclaimed_log *unclaimed, struct errbuf *e)
{
	if (create(v, host, id, pio, mmio, unclaimed, e) == 0)
		return 0;
	vcpu_destroy(v);
	return -1;
}

int vcpu_handle_exit(struct vcpu *v)
{
	struct exit_stop why;
	enum exit_kind k = exit_dispatch(v->run, &v->env, &v->stats, &why);
	if (k == EXIT_NOT_EMULATED)
		k = insn_fixup_complete(v, &why);
	if (k == EXIT_RUN_AGAIN)
		return 0;
	if (why.detail[0])
		fprintf(stderr, "minivmm: %s\n", why.detail);
	if (why.dump)
		vcpu_dump_registers(v, why.dump);
	stop_request(v->host->stop, why.status, "%s", why.reason);
	return -1;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, (size_t)v->host->kvm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	vcpu_stats_free(&v->stats);
	v->run = NULL;
	v->fd = -1;
}

#define CPUID_1_ECX_HYPERVISOR (1U << 31)

/* CPUID leaf 1 EBX[31:24], and the x2APIC topology leaves' EDX, carry the
 * initial APIC id (SDM vol. 2A, CPUID). Linux matches them against the MP
 * table, so each vCPU must report its own. Leaf 1 ECX[31] says "running
 * under a hypervisor": KVM leaves it clear, and without it Linux never looks
 * at KVM's 0x40000000 leaves (no kvmclock, no PV features). */
static void set_identity(struct kvm_cpuid2 *c, int id)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *ent = &c->entries[i];
		if (ent->function == 1) {
			ent->ebx = (ent->ebx & 0x00ffffffU) | ((uint32_t)id << 24);
			ent->ecx |= CPUID_1_ECX_HYPERVISOR;
		} else if (ent->function == 0xb || ent->function == 0x1f)
			ent->edx = (uint32_t)id;
	}
}

/* On PVM, features whose instructions the host emulator cannot run (XSAVE's
 * xrstor, SMAP's clac/stac, POPCNT) are hidden from the guest; the host may
 * ignore this, so main also tells Linux on its command line. */
static void hide_pvm_gaps(struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *ent = &c->entries[i];
		if (ent->function == 1)
			ent->ecx &=
			    ~((1U << 26) | (1U << 27) | (1U << 23)); /* XSAVE, OSXSAVE, POPCNT */
		else if (ent->function == 7 && ent->index == 0)
			ent->ebx &= ~(1U << 20); /* SMAP */
	}
}

int vcpu_set_cpuid(struct vcpu *v, struct errbuf *e)
{
	const struct kvm_cpuid2 *sup = v->host->kvm->supported_cpuid;
	size_t bytes = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = malloc(bytes);
	if (!c)
		return errorf(e, "out of memory");
	memcpy(c, sup, bytes);
	set_identity(c, v->id);
	if (v->host->kvm->is_pvm)
		hide_pvm_gaps(c);
	int r = ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	return r < 0 ? errorf_errno(e, "vCPU %d: KVM_SET_CPUID2", v->id) : 0;
}

/* Only the kick signal is let through, so it is what interrupts KVM_RUN
 * when the VM stops; everything else is for the main thread. The thread is
 * named ("vcpu0", in ps and /proc) and, unless --no-seccomp, put under the
 * vCPU allowlist before it first enters the guest: from here on it can reach
 * only its own vCPU, the VM's interrupt ioctls and the fds it already has. */
int vcpu_thread_init(struct vcpu *v)
{
	const struct vcpu_host *h = v->host;
	sigset_t set;
	sigfillset(&set);
	sigdelset(&set, h->kick_signal);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	char name[16], who[32];
	snprintf(name, sizeof(name), "vcpu%d", v->id);
	snprintf(who, sizeof(who), "vCPU %d", v->id);
	struct seccomp_thread t = {name, who, SECCOMP_VCPU, h->filtered, h->filter_fds};
	t.fds.vcpu_fd = v->fd;
	struct errbuf e;
	if (seccomp_thread_start(&t, &e) == 0)
		return 0;
	stop_request(h->stop, 1, "%s: %s", who, e.msg);
	return -1;
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	if (vcpu_thread_init(v))
		return NULL;

	while (!stop_requested(v->host->stop))
		if (vcpu_run_once(v))
			break;
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig; /* its only job is to make KVM_RUN return EINTR */
}

void vcpu_kick_install(int signal)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigaction(signal, &sa, NULL);
}

void vcpu_kick(struct vcpu *v)
{
	/* immediate_exit covers the race where the signal lands just before
	 * KVM_RUN: KVM then returns EINTR at once. */
	v->run->immediate_exit = 1;
	if (v->thread_started)
		pthread_kill(v->thread, v->host->kick_signal);
}

int vcpu_run_once(struct vcpu *v)
{
	const struct stats_clock *clock = v->host->clock;
	if (ioctl(v->fd, KVM_RUN, 0) < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		stop_request(v->host->stop, 1, "vCPU %d: KVM_RUN: %s", v->id, strerror(errno));
		return -1;
	}
	if (!clock->timed)
		return vcpu_handle_exit(v);
	/* The handling latency runs from here to the next KVM_RUN. */
	uint64_t start = stats_now(clock);
	uint32_t reason = v->run->exit_reason;
	int stop = vcpu_handle_exit(v);
	stats_exit_done(&v->stats, clock, reason, start);
	return stop;
}

static void dump_segment(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr,
		"  %-3s sel=%04x base=%016llx limit=%08x type=%x p=%u dpl=%u db=%u l=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->present,
		s->dpl, s->db, s->l, s->g);
}

void vcpu_dump_registers(struct vcpu *v, const char *why)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	fprintf(stderr, "minivmm: vCPU %d: %s; registers:\n", v->id, why);
	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "  (cannot read registers: %s)\n", strerror(errno));
		return;
	}
	fprintf(stderr,
		"  rip=%016llx rsp=%016llx rflags=%016llx\n"
		"  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
		"  rsi=%016llx rdi=%016llx rbp=%016llx\n"
		"  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n"
		"  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n"
		"  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n"
		"  gdt=%016llx/%04x idt=%016llx/%04x\n",
		r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp, r.r8, r.r9,
		r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cr0, s.cr2, s.cr3, s.cr4, s.efer,
		s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
	dump_segment("cs", &s.cs);
	dump_segment("ss", &s.ss);
	dump_segment("ds", &s.ds);
	dump_segment("tr", &s.tr);
	/* KVM on AMD re-INITs a vCPU that took a shutdown intercept, because
	 * the VMCB is undefined after one (AMD APM vol. 2, "Shutdown
	 * Intercept"; Linux's svm.c, shutdown_interception), so what was read
	 * is the processor's INIT state (rip fff0, cs f000), not the state
	 * that faulted. Say so rather than let a reader hunt a bug at f000:fff0. */
	if (r.rip == 0xfff0 && s.cs.selector == 0xf000)
		fprintf(stderr, "  (these are the vCPU's reset values: KVM on AMD re-initialises "
				"a vCPU after a triple fault, so the faulting state is lost)\n");
}
