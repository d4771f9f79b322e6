/* Kernel images for the kernel_image and loader tests: synthetic ones that
 * pass every check, built field by field so a test can break exactly one
 * thing, and the real payloads the build assembles. */
#ifndef TESTS_UNIT_IMAGES_H
#define TESTS_UNIT_IMAGES_H

#include <asm/bootparam.h>
#include <elf.h>
#include <stddef.h>
#include <stdint.h>

/* ---- bzImage ---- */

#define SETUP_OFF     0x1f1 /* struct setup_header in the file */
#define SETUP_BYTES   1024  /* the boot sector and setup_sects = 1 */
#define BZ_KERNEL_LEN 0x1000
#define BZ_LEN	      (SETUP_BYTES + BZ_KERNEL_LEN)
#define BZ_PREF	      0x1000000U /* 16 MiB, LOAD_PHYSICAL_ADDR's default */
#define BZ_INIT_SIZE  0x800000U	 /* 8 MiB */

/* Boot protocol 2.15, header ending at 0x268, 64-bit entry, cmdline_size
 * 2048, relocatable, BZ_KERNEL_LEN bytes of kernel after the setup. Writes
 * BZ_LEN bytes. code32_start is left 0, for the loader to set; the first
 * field past the header's end (kernel_info_offset) is not 0, as setup code
 * there would not be. */
void make_bzimage(uint8_t *img);

struct setup_header *hdr(uint8_t *img);

/* ---- ELF with a PVH entry note ---- */

#define PVH_ENTRY  0x100040U
#define SEG_PADDR  0x100000U
#define SEG_FILESZ 0x1000U
#define SEG_MEMSZ  0x3000U
#define PH_OFF	   sizeof(Elf64_Ehdr)
#define NOTE_OFF   0x100U
#define SEG_OFF	   0x200U
#define ELF_LEN	   (SEG_OFF + SEG_FILESZ)

/* Writes an ELF note (name of namesz bytes, desc of descsz) at p; returns
 * its size with padding. */
size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type, const void *desc,
		uint32_t descsz);

/* An x86-64 executable of ELF_LEN bytes with one PT_LOAD (SEG_FILESZ bytes
 * at SEG_OFF, loaded at SEG_PADDR, SEG_MEMSZ in memory) and one PT_NOTE
 * holding the PVH entry, PVH_ENTRY, in a desc of descsz bytes (4 or 8; the
 * high half of 8 is not 0 and must be ignored). e_entry is the kernel's
 * 64-bit virtual entry, not the PVH one. Returns the note's size. */
size_t make_elf(uint8_t *img, uint32_t descsz);

Elf64_Ehdr *ehdr(uint8_t *img);
Elf64_Phdr *phdr(uint8_t *img, unsigned i);

/* ---- the real payloads ---- */

/* Reads tests/payloads' name from the build's payloads/ folder next to the
 * test binary; NULL if it is not there. The caller frees it. */
uint8_t *read_payload(const char *name, size_t *len);

#endif
