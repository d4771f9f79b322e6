/* /dev/kvm: the system handle, the capabilities minivmm relies on, the VM. */
#ifndef MINIVMM_KVM_H
#define MINIVMM_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/base/error.h"

struct kvm {
	int sys_fd;
	int vm_fd;
	int run_size;  /* bytes to mmap for each vCPU's struct kvm_run */
	int max_vcpus; /* KVM_CAP_MAX_VCPUS (or NR_VCPUS on old kernels) */
	bool is_pvm;   /* a PVM software hypervisor; see kvm_detect_pvm() */
	struct kvm_cpuid2 *supported_cpuid;
};

/* Opens path (normally /dev/kvm), checks the API version and every capability
 * in kvm.c's table, and creates the VM. One-line errors name what is missing;
 * on error nothing is left open. */
int kvm_open(struct kvm *k, const char *path, struct errbuf *e);
void kvm_close(struct kvm *k);

/* Whether mem_size bytes of guest RAM, laid out around the PCI hole, fit in
 * the guest-physical addresses KVM offers on this host; else a one-line
 * "--mem ..." error. */
int kvm_check_mem(const struct kvm *k, uint64_t mem_size, struct errbuf *e);

/* PVM answers a read of its own MSR 0x4b564d11 with "PVM"; hardware KVM does
 * not have that MSR. Needs any vCPU fd. */
bool kvm_detect_pvm(int vcpu_fd);

#endif
