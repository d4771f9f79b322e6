/* Telling what a kernel file is, and parsing the two kinds minivmm boots. */
#ifndef MINIVMM_BOOT_KERNEL_IMAGE_H
#define MINIVMM_BOOT_KERNEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/base/error.h"

enum kernel_kind {
	KERNEL_BZIMAGE,
	KERNEL_ELF,
	KERNEL_UNKNOWN,
};

/* Classifies by magic numbers only; for KERNEL_UNKNOWN, *what says what was
 * found ("empty file", "gzip data", ...), for the error message. */
enum kernel_kind kernel_image_kind(const uint8_t *img, size_t len, const char **what);

struct bzimage_info {
	uint16_t version;      /* boot protocol, e.g. 0x020f for 2.15 */
	uint32_t setup_size;   /* bytes of real-mode setup before the kernel proper */
	size_t header_end;     /* end of the setup header in the file */
	const uint8_t *kernel; /* protected-mode kernel */
	size_t kernel_size;
	uint32_t init_size;	  /* memory the kernel needs from its load address */
	uint32_t initrd_addr_max; /* highest address the initrd may end at, minus one */
	uint32_t cmdline_size;	  /* longest command line, without the NUL */
	uint16_t xloadflags;
};

/* Checks the x86 boot protocol header: boot_flag 0xAA55, "HdrS", protocol
 * 2.12 or later (for xloadflags), XLF_KERNEL_64, LOADED_HIGH. */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *out, struct errbuf *e);

#define ELF_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	const uint8_t *data;
};

struct elf_pvh_info {
	uint32_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY: 32-bit physical entry point */
	size_t nsegs;
	struct elf_segment segs[ELF_MAX_SEGMENTS];
	uint64_t end; /* highest paddr + memsz over all segments */
};

/* Parses an x86-64 ELF executable with a PVH entry note (the "Xen" note of
 * type 18, which Linux emits when built with CONFIG_PVH). */
int elf_pvh_parse(const uint8_t *img, size_t len, struct elf_pvh_info *out, struct errbuf *e);

#endif
