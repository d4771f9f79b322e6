/*
 * Putting a kernel into guest memory: the bzImage path (x86 boot protocol,
 * 64-bit entry, boot_params) and the ELF vmlinux path (PVH entry,
 * hvm_start_info). Both also write the GDT, page tables and MP table, so the
 * result is a guest memory image and the vCPU state to start it with.
 */
#ifndef MINIVMM_BOOT_LOADER_H
#define MINIVMM_BOOT_LOADER_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/kernel_image.h"
#include "vmm/base/error.h"
#include "vmm/base/guest_mem.h"

struct boot_config {
	const char *kernel_name; /* for messages */
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* NULL: none */
	size_t initrd_len;
	const char *cmdline;
	int ncpus;
};

enum boot_entry_mode {
	BOOT_ENTRY_LINUX64, /* 64-bit long mode, RSI = boot_params */
	BOOT_ENTRY_PVH32,   /* 32-bit protected mode, paging off, EBX = hvm_start_info */
};

struct boot_entry {
	enum boot_entry_mode mode;
	enum kernel_kind kind;
	uint64_t rip;
	uint64_t arg;
	uint64_t kernel_addr, kernel_end; /* where the kernel went */
	uint64_t initrd_addr;		  /* 0 without an initrd */
};

/* Checks that the kernel is one minivmm can boot, without guest memory:
 * lets a bad file be reported before any KVM set-up. */
int boot_check_kernel(const struct boot_config *c, struct errbuf *e);

int boot_load(struct guest_mem *m, const struct boot_config *c, struct boot_entry *out,
	      struct errbuf *e);

/* The register state for the boot vCPU: sregs must come from KVM_GET_SREGS
 * (this function changes only what the entry mode defines). */
void boot_entry_regs(const struct boot_entry *b, struct kvm_regs *regs, struct kvm_sregs *sregs);

/* Where an initrd of len bytes goes: the highest page-aligned address with
 * [addr, addr + len) inside [lo, hi). 0 if it does not fit. */
uint64_t boot_place_initrd(uint64_t lo, uint64_t hi, uint64_t len);

#endif
