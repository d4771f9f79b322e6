#include "images.h"

#include <check.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct setup_header *hdr(uint8_t *img)
{
	return (struct setup_header *)(img + SETUP_OFF);
}

void make_bzimage(uint8_t *img)
{
	memset(img, 0, BZ_LEN);
	struct setup_header *h = hdr(img);
	h->setup_sects = 1;
	h->syssize = BZ_KERNEL_LEN / 16;
	h->boot_flag = 0xAA55;
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* header ends at 0x268, as in protocol 2.15 */
	memcpy(&h->header, "HdrS", 4);
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 2048;
	h->pref_address = BZ_PREF;
	h->init_size = BZ_INIT_SIZE;
	/* Past the header's end: setup code, not a field the loader may copy. */
	h->kernel_info_offset = 0x12345678;
	for (size_t i = 0; i < BZ_KERNEL_LEN; i++)
		img[SETUP_BYTES + i] = (uint8_t)(i * 7 + 3);
}

size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type, const void *desc,
		uint32_t descsz)
{
	Elf64_Nhdr nh = {namesz, descsz, type};
	memcpy(p, &nh, sizeof(nh));
	size_t off = sizeof(nh);
	memcpy(p + off, name, namesz);
	off += (namesz + 3u) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3u) & ~3u;
	return off;
}

size_t make_elf(uint8_t *img, uint32_t descsz)
{
	memset(img, 0, ELF_LEN);
	Elf64_Ehdr eh = {0};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0xffffffff81000000ULL;
	eh.e_phoff = PH_OFF;
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	memcpy(img, &eh, sizeof(eh));

	uint64_t entry = PVH_ENTRY | 0xffffffff00000000ULL; /* high half must be ignored */
	size_t note_len = put_note(img + NOTE_OFF, "Xen", 4, 18, &entry, descsz);

	Elf64_Phdr ph[2] = {
	    {.p_type = PT_LOAD,
	     .p_flags = PF_R | PF_X,
	     .p_offset = SEG_OFF,
	     .p_vaddr = 0xffffffff81000000ULL,
	     .p_paddr = SEG_PADDR,
	     .p_filesz = SEG_FILESZ,
	     .p_memsz = SEG_MEMSZ,
	     .p_align = 0x1000},
	    {.p_type = PT_NOTE,
	     .p_flags = PF_R,
	     .p_offset = NOTE_OFF,
	     .p_filesz = note_len,
	     .p_memsz = note_len,
	     .p_align = 4},
	};
	memcpy(img + PH_OFF, ph, sizeof(ph));
	for (size_t i = 0; i < SEG_FILESZ; i++)
		img[SEG_OFF + i] = (uint8_t)(i ^ 0xa5);
	return note_len;
}

Elf64_Ehdr *ehdr(uint8_t *img)
{
	return (Elf64_Ehdr *)img;
}

Elf64_Phdr *phdr(uint8_t *img, unsigned i)
{
	return (Elf64_Phdr *)(img + PH_OFF) + i;
}

uint8_t *read_payload(const char *name, size_t *len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return NULL;
	exe[n] = '\0';
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/payloads/%s", dirname(exe), name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, used = 0;
	for (;;) {
		if (used == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
		size_t got = fread(buf + used, 1, cap - used, f);
		if (!got)
			break;
		used += got;
	}
	fclose(f);
	*len = used;
	return buf;
}
