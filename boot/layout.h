/*
 * Where minivmm puts things in low guest memory before the kernel runs. All of
 * it is below the 640 KiB line except the kernel itself, so Linux may reuse
 * every page once it has read what it needs (boot protocol: the zero page and
 * command line must stay readable until the kernel has copied them).
 */
#ifndef MINIVMM_BOOT_LAYOUT_H
#define MINIVMM_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR	     0x0500ULL /* 5 descriptors, see boot/pagetables.c */
#define BOOT_ZERO_PAGE_ADDR  0x7000ULL /* struct boot_params, or hvm_start_info for PVH */
#define BOOT_PVH_MEMMAP_ADDR 0x7800ULL /* PVH only: e820-like table and module list */
#define BOOT_PML4_ADDR	     0x9000ULL
#define BOOT_PDPT_ADDR	     0xA000ULL
#define BOOT_PD_ADDR	     0xB000ULL /* four page directories: 0xB000..0xEFFF */
#define BOOT_CMDLINE_ADDR    0x20000ULL
#define BOOT_CMDLINE_MAX     0x10000ULL
#define BOOT_EBDA_ADDR	     0x9FC00ULL /* MP floating pointer (MP spec 1.4 §4) */
#define BOOT_LOW_RAM_END     0xA0000ULL
#define BOOT_BIOS_ROM_ADDR   0xF0000ULL
#define BOOT_MPC_ADDR	     0xF0000ULL /* MP configuration table, see boot/mptable.c */
#define BOOT_MPC_MAX	     0x1000ULL
#define BOOT_HIGH_MEM_START  0x100000ULL /* bzImage protected-mode kernel loads here */

/* Linux's boot protocol segment selectors for the 64-bit entry (x86 boot
 * protocol, "64-bit Boot Protocol"): __BOOT_CS and __BOOT_DS. */
#define BOOT_SEL_CODE32 0x08
#define BOOT_SEL_CODE64 0x10
#define BOOT_SEL_DATA	0x18
#define BOOT_SEL_TSS	0x20

/* KVM needs three pages for the real-mode TSS and one for the EPT identity map
 * on Intel; both sit in the PCI hole just under the BIOS area, as QEMU does. */
#define KVM_IDENTITY_MAP_ADDR 0xFFFBC000ULL
#define KVM_TSS_ADDR	      0xFFFBD000ULL

#endif
