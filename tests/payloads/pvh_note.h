/*
 * The ELF note that makes a kernel image PVH-bootable: XEN_ELFNOTE_PHYS32_ENTRY
 * (xen/include/public/elfnote.h) with the 32-bit physical entry point. Both
 * minivmm's loader and QEMU's -kernel look for it. For assembly sources.
 */
/* Assembler macros, laid out as assembler: clang-format would read them
 * as C. */
/* clang-format off */
#ifndef TESTS_PAYLOADS_PVH_NOTE_H
#define TESTS_PAYLOADS_PVH_NOTE_H

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Emits the note, then switches back to .text. */
.macro PVH_NOTE entry
	.section .note.pvh, "a"
	.balign 4
	.long 4                 /* namesz: "Xen\0" */
	.long 4                 /* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long \entry
	.section .text
.endm

#endif
