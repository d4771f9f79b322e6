/*
 * A minimal bzImage around a few lines of 64-bit code, for integration tests
 * that must stay tiny (this project's CI host emulates guest code at ~1.4 MIPS).
 * The header follows the x86 boot protocol 2.15 field by field; minivmm loads
 * the protected-mode part at 1 MiB and enters at 1 MiB + 0x200 in long mode.
 *
 * Use: BZIMAGE_BEGIN, then 64-bit code (the entry point), then BZIMAGE_END.
 */
/* Assembler macros, laid out as assembler: clang-format would read them
 * as C. */
/* clang-format off */
#define PM_BASE 0x100000
/* Runtime address of a label in the protected-mode part. */
#define RT(label) (PM_BASE + (label) - pm_start)

#define BZIMAGE_BEGIN                                                                      \
	.section .text;                                                                    \
	.code64;                                                                           \
	.globl _start;                                                                     \
	_start:                                                                            \
	.org 0x1f1;                                                                        \
	.byte 1;                      /* setup_sects: setup is 2 x 512 bytes */            \
	.word 0;                      /* root_flags */                                     \
	.long (pm_end - pm_start + 15) / 16; /* syssize */                                 \
	.word 0, 0, 0;                /* ram_size, vid_mode, root_dev */                   \
	.word 0xaa55;                 /* boot_flag */                                      \
	.byte 0xeb, 0x66;             /* jump; header ends at 0x202 + 0x66 */              \
	.ascii "HdrS";                                                                     \
	.word 0x020f;                 /* protocol 2.15 */                                  \
	.long 0;                      /* realmode_swtch */                                 \
	.word 0, 0;                   /* start_sys_seg, kernel_version */                  \
	.byte 0;                      /* type_of_loader */                                 \
	.byte 1;                      /* loadflags: LOADED_HIGH */                         \
	.word 0;                      /* setup_move_size */                                \
	.long PM_BASE;                /* code32_start */                                   \
	.long 0, 0, 0;                /* ramdisk_image, ramdisk_size, bootsect_kludge */   \
	.word 0;                      /* heap_end_ptr */                                   \
	.byte 0, 0;                   /* ext_loader_ver, ext_loader_type */                \
	.long 0;                      /* cmd_line_ptr */                                   \
	.long 0x7fffffff;             /* initrd_addr_max */                                \
	.long 0x200000;               /* kernel_alignment */                               \
	.byte 0, 0;                   /* relocatable_kernel, min_alignment */              \
	.word 1;                      /* xloadflags: XLF_KERNEL_64 */                      \
	.long 255;                    /* cmdline_size */                                   \
	.long 0;                      /* hardware_subarch */                               \
	.quad 0;                      /* hardware_subarch_data */                          \
	.long 0, 0;                   /* payload_offset, payload_length */                 \
	.quad 0;                      /* setup_data */                                     \
	.quad PM_BASE;                /* pref_address */                                   \
	.long 0x100000;               /* init_size: 1 MiB is plenty */                     \
	.long 0, 0;                   /* handover_offset, kernel_info_offset */            \
	.org 0x400;                                                                        \
	pm_start:                                                                          \
	.org 0x600;                   /* the 64-bit entry: pm_start + 0x200 */

#define BZIMAGE_END                                                                        \
	.balign 16;                                                                        \
	pm_end:

/* Writes the bytes at label (length len) to COM1 with one rep outsb, which
 * KVM turns into a single string-I/O exit. */
#define PRINT(label, len)                                                                  \
	lea label(%rip), %rsi;                                                             \
	mov $(len), %ecx;                                                                  \
	mov $0x3f8, %dx;                                                                   \
	rep outsb

/* Pulses the CPU reset line through the i8042 (command 0xFE), the way Linux
 * reboots with reboot=k; minivmm exits 0 saying the guest reset. */
#define RESET_VIA_I8042                                                                    \
	mov $0xfe, %al;                                                                    \
	out %al, $0x64;                                                                    \
	1 : hlt;                                                                           \
	jmp 1b
