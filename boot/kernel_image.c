#include "boot/kernel_image.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <stddef.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#define HDR_OFF(field) (0x1f1 + offsetof(struct setup_header, field))

enum kernel_kind kernel_image_kind(const uint8_t *img, size_t len, const char **what)
{
	*what = NULL;
	if (len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0)
		return KERNEL_BZIMAGE;
	if (len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0)
		return KERNEL_ELF;

	static const struct {
		const char *magic;
		size_t n;
		const char *what;
	} known[] = {
	    {"\x1f\x8b", 2, "gzip data (a compressed vmlinux? boot the bzImage instead)"},
	    {"\xfd"
	     "7zXZ",
	     6, "xz data"},
	    {"\x02\x21\x4c\x18", 4, "LZ4 data"},
	    {"070701", 6, "a cpio archive (an initrd? pass it with --initrd)"},
	    {"MZ", 2, "a PE/DOS executable without a Linux boot header"},
	    {"#!", 2, "a script"},
	};
	if (len == 0) {
		*what = "an empty file";
		return KERNEL_UNKNOWN;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (len >= known[i].n && memcmp(img, known[i].magic, known[i].n) == 0) {
			*what = known[i].what;
			return KERNEL_UNKNOWN;
		}
	}
	*what = len < 0x206 ? "a file too short to hold a boot header" : "no bzImage or ELF magic";
	return KERNEL_UNKNOWN;
}

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *out, struct errbuf *e)
{
	memset(out, 0, sizeof(*out));
	if (len < 0x250)
		return errorf(e, "bzImage truncated: %zu bytes, shorter than its setup header",
			      len);
	if (rd16(img + HDR_OFF(boot_flag)) != 0xAA55)
		return errorf(e, "bzImage has no 0xAA55 boot flag at 0x1fe");
	if (memcmp(img + HDR_OFF(header), "HdrS", 4) != 0)
		return errorf(e, "bzImage has no \"HdrS\" boot header magic");

	out->version = rd16(img + HDR_OFF(version));
	/* xloadflags, and with it XLF_KERNEL_64, came in protocol 2.12. */
	if (out->version < 0x020c)
		return errorf(
		    e, "boot protocol %u.%02u is too old: minivmm needs 2.12+ for the 64-bit entry",
		    out->version >> 8, out->version & 0xff);
	if (!(img[HDR_OFF(loadflags)] & LOADED_HIGH))
		return errorf(e, "kernel is a zImage (not LOADED_HIGH); only bzImage is supported");

	out->xloadflags = rd16(img + HDR_OFF(xloadflags));
	if (!(out->xloadflags & XLF_KERNEL_64))
		return errorf(
		    e, "bzImage has no 64-bit entry point (XLF_KERNEL_64 unset; a 32-bit kernel?)");

	/* "The end of setup header can be calculated as 0x0202 + byte value at
	 * offset 0x0201" (boot protocol). */
	out->header_end = 0x202 + img[0x201];
	if (out->header_end > len)
		return errorf(e, "bzImage truncated: setup header runs past the end of the file");

	unsigned setup_sects = img[HDR_OFF(setup_sects)];
	if (setup_sects == 0)
		setup_sects = 4; /* boot protocol: "If this field is 0, the real value is 4" */
	out->setup_size = (setup_sects + 1) * 512;
	if (out->setup_size >= len)
		return errorf(e, "bzImage truncated: %zu bytes, setup alone claims %u", len,
			      out->setup_size);

	out->kernel = img + out->setup_size;
	out->kernel_size = len - out->setup_size;
	uint32_t syssize = rd32(img + HDR_OFF(syssize));
	if ((uint64_t)syssize * 16 > out->kernel_size)
		return errorf(
		    e, "bzImage truncated: kernel needs %llu bytes after setup, file has %zu",
		    (unsigned long long)syssize * 16, out->kernel_size);

	out->init_size = rd32(img + HDR_OFF(init_size));
	if (out->init_size < out->kernel_size)
		out->init_size = (uint32_t)out->kernel_size;
	out->initrd_addr_max = rd32(img + HDR_OFF(initrd_addr_max));
	out->cmdline_size = rd32(img + HDR_OFF(cmdline_size));
	return 0;
}

/* Xen's PVH ABI (also used by KVM guests): the entry note's owner and type. */
#define PVH_NOTE_NAME		 "Xen"
#define XEN_ELFNOTE_PHYS32_ENTRY 18

static int find_pvh_note(const uint8_t *p, size_t n, uint32_t *entry)
{
	size_t off = 0;
	while (n - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		memcpy(&nh, p + off, sizeof(nh));
		size_t name_sz = (nh.n_namesz + 3u) & ~3u, desc_sz = (nh.n_descsz + 3u) & ~3u;
		size_t body = sizeof(nh);
		if (name_sz > n - off - body || desc_sz > n - off - body - name_sz)
			return 0;
		const uint8_t *name = p + off + body, *desc = name + name_sz;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == sizeof(PVH_NOTE_NAME) &&
		    memcmp(name, PVH_NOTE_NAME, sizeof(PVH_NOTE_NAME)) == 0 &&
		    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			/* Linux writes it as a pointer-sized value; the entry is 32-bit. */
			*entry = rd32(desc);
			return 1;
		}
		off += body + name_sz + desc_sz;
	}
	return 0;
}

int elf_pvh_parse(const uint8_t *img, size_t len, struct elf_pvh_info *out, struct errbuf *e)
{
	memset(out, 0, sizeof(*out));
	Elf64_Ehdr eh;
	if (len < sizeof(eh))
		return errorf(e, "ELF kernel truncated: %zu bytes, shorter than an ELF header",
			      len);
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return errorf(e, "ELF kernel is not 64-bit little-endian");
	if (eh.e_machine != EM_X86_64)
		return errorf(e, "ELF kernel is for machine %u, not x86-64", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return errorf(e, "ELF kernel is not an executable (type %u)", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
	    (size_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
		return errorf(e,
			      "ELF kernel truncated or corrupt: program headers out of the file");

	int have_note = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return errorf(
			    e, "ELF kernel truncated: segment %u runs past the end of the file", i);
		if (ph.p_type == PT_NOTE) {
			have_note |= find_pvh_note(img + ph.p_offset, ph.p_filesz, &out->pvh_entry);
			continue;
		}
		if (ph.p_memsz < ph.p_filesz || ph.p_paddr + ph.p_memsz < ph.p_paddr)
			return errorf(e, "ELF kernel segment %u has a corrupt size", i);
		if (out->nsegs == ELF_MAX_SEGMENTS)
			return errorf(e, "ELF kernel has more than %d loadable segments",
				      ELF_MAX_SEGMENTS);
		out->segs[out->nsegs++] =
		    (struct elf_segment){ph.p_paddr, ph.p_filesz, ph.p_memsz, img + ph.p_offset};
		if (ph.p_paddr + ph.p_memsz > out->end)
			out->end = ph.p_paddr + ph.p_memsz;
	}
	if (!have_note)
		return errorf(e,
			      "ELF kernel has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY; build "
			      "with CONFIG_PVH=y, or boot the bzImage)");
	if (out->nsegs == 0)
		return errorf(e, "ELF kernel has no loadable segments");
	return 0;
}
