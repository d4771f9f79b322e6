/* A vCPU: its KVM fd, its shared kvm_run page, its thread and counters. */
#ifndef MINIVMM_VCPU_H
#define MINIVMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>

#include "vmm/base/error.h"
#include "vmm/base/guest_mem.h"
#include "vmm/base/seccomp.h"
#include "vmm/exit.h"
#include "vmm/kvm.h"
#include "vmm/stats.h"
#include "vmm/stop.h"

/* What the machine lends its vCPUs, filled in once before the first one is
 * made. A vCPU reaches nothing else of the VM: it stops it through the
 * stop switch, never by calling up into vm.c. */
struct vcpu_host {
	const struct kvm *kvm;		 /* vm_fd, run_size, CPUID, is_pvm */
	const struct guest_mem *mem;	 /* what an instruction fixup reads */
	struct stop *stop;		 /* flipped on a fatal exit; looked at before each run */
	const struct stats_clock *clock; /* the exit path's time source */
	int kick_signal;		 /* what interrupts KVM_RUN when the VM stops */
	bool filtered;			 /* load the vCPU allowlist (not --no-seccomp) */
	struct seccomp_fds filter_fds;	 /* what it names, but the vCPU's own fd */
};

struct vcpu {
	const struct vcpu_host *host;
	int id; /* also its local APIC id */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int thread_started;
	struct vcpu_stats stats;
	struct exit_env env; /* what its exits are dispatched against (vmm/exit.h) */
};

/* Makes vCPU id of the VM host->kvm names; its exits go to the buses and,
 * where none claims them, to unclaimed. On error nothing is left of it. */
int vcpu_create(struct vcpu *v, const struct vcpu_host *host, int id, struct bus *pio,
		struct bus *mmio, struct unclaimed_log *unclaimed, struct errbuf *e);
void vcpu_destroy(struct vcpu *v);

/* The vCPU's CPUID: what KVM supports, with this vCPU's APIC id. */
int vcpu_set_cpuid(struct vcpu *v, struct errbuf *e);

/* The thread body: KVM_RUN until the VM stops. */
void *vcpu_thread(void *arg);

/* Handles one exit (exit_dispatch(), then an instruction fixup or a stop);
 * returns 0 to run again, -1 when the VM must stop (the host's stop switch
 * has been flipped with the reason). */
int vcpu_handle_exit(struct vcpu *v);

/* Readies the calling thread to run v: only the VM's kick signal let
 * through, named after the vCPU and, unless --no-seccomp, under the vCPU
 * allowlist. On failure stops the VM and returns -1. */
int vcpu_thread_init(struct vcpu *v);

/* The signal that kicks a vCPU out of KVM_RUN (and the output thread out of
 * a blocked write, vmm/outputs.h). */
#define VCPU_KICK_SIGNAL SIGRTMIN

/* The kick signal's handler, installed once per process: it does nothing
 * but make a KVM_RUN in progress return EINTR. */
void vcpu_kick_install(int signal);

/* Makes v's KVM_RUN return now or, if it is not in one, the next one at
 * once, so its thread sees that the VM is stopping. */
void vcpu_kick(struct vcpu *v);

/* One trip through the exit path, exactly as vcpu_thread takes it: KVM_RUN,
 * then the exit's handler, timed when the VM's clock says so. Returns 0 to
 * run again, -1 when the vCPU must stop. minivmm-bench drives this too, so
 * the path it measures is this one. */
int vcpu_run_once(struct vcpu *v);

/* Prints registers, segments and control registers to stderr. */
void vcpu_dump_registers(struct vcpu *v, const char *why);

#endif
