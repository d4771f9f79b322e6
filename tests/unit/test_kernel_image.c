#include <asm/bootparam.h>
#include <check.h>
#include <elf.h>
#include <libgen.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/kernel_image.h"

#define SETUP_OFF   0x1f1
#define SETUP_SECTS 1
#define SETUP_BYTES ((SETUP_SECTS + 1) * 512)
#define KERNEL_LEN  0x1000
#define BZ_LEN	    (SETUP_BYTES + KERNEL_LEN)

static struct setup_header *hdr(uint8_t *img)
{
	return (struct setup_header *)(img + SETUP_OFF);
}

/* A bzImage that satisfies every check, built field by field so each failure
 * test can break exactly one thing. */
static void make_bzimage(uint8_t *img)
{
	memset(img, 0, BZ_LEN);
	struct setup_header *h = hdr(img);
	h->setup_sects = SETUP_SECTS;
	h->syssize = KERNEL_LEN / 16;
	h->boot_flag = 0xAA55;
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* header ends at 0x268, as in protocol 2.15 */
	memcpy(&h->header, "HdrS", 4);
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 2048;
	h->pref_address = 0x1000000;
	h->init_size = 0x800000;
	for (size_t i = 0; i < KERNEL_LEN; i++)
		img[SETUP_BYTES + i] = (uint8_t)(i * 7 + 3);
}

static int contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

#define ck_assert_msg_has(e, needle)                                                               \
	ck_assert_msg(contains((e).msg, (needle)), "message \"%s\" lacks \"%s\"", (e).msg, (needle))

/* The product reads these through offsetof on the same struct; pinning them
 * to the boot protocol's documented offsets catches a wrong header base. */
START_TEST(test_setup_header_offsets)
{
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, setup_sects), 0x1f1);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, syssize), 0x1f4);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, boot_flag), 0x1fe);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, header), 0x202);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, version), 0x206);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, loadflags), 0x211);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, initrd_addr_max), 0x22c);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, xloadflags), 0x236);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, cmdline_size), 0x238);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, pref_address), 0x258);
	ck_assert_uint_eq(SETUP_OFF + offsetof(struct setup_header, init_size), 0x260);
}
END_TEST

/* ---- kernel_image_kind ---- */

static enum kernel_kind kind_of(const void *p, size_t len, const char **what)
{
	return kernel_image_kind(p, len, what);
}

START_TEST(test_kind_empty)
{
	const char *what = "unset";
	uint8_t b = 0;
	ck_assert_int_eq(kind_of(&b, 0, &what), KERNEL_UNKNOWN);
	ck_assert_ptr_nonnull(what);
	ck_assert(contains(what, "empty"));
}
END_TEST

START_TEST(test_kind_short)
{
	const char *what = NULL;
	uint8_t b[0x100];
	memset(b, 0x41, sizeof(b));
	ck_assert_int_eq(kind_of(b, sizeof(b), &what), KERNEL_UNKNOWN);
	ck_assert_ptr_nonnull(what);
	ck_assert(contains(what, "too short"));
	/* One byte short of holding "HdrS" entirely. */
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	ck_assert_int_eq(kind_of(img, 0x205, &what), KERNEL_UNKNOWN);
	ck_assert(contains(what, "too short"));
}
END_TEST

START_TEST(test_kind_compressed_and_archives)
{
	static const struct {
		const char *bytes;
		size_t n;
		const char *word;
	} cases[] = {
	    {"\x1f\x8b\x08\x00\x00\x00\x00\x00", 8, "gzip"},
	    {"\xfd\x37\x7a\x58\x5a\x00\x00\x04", 8, "xz"},
	    {"\x02\x21\x4c\x18\x00\x00", 6, "LZ4"},
	    {"070701000000010000", 18, "cpio"},
	    {"MZ\x90\x00", 4, "PE"},
	    {"#!/bin/sh\n", 10, "script"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *what = NULL;
		ck_assert_int_eq(kind_of(cases[i].bytes, cases[i].n, &what), KERNEL_UNKNOWN);
		ck_assert_ptr_nonnull(what);
		ck_assert_msg(contains(what, cases[i].word), "case %zu: \"%s\" lacks \"%s\"", i,
			      what, cases[i].word);
	}
	/* The magic must be complete: a lone 0x1f is not gzip. */
	const char *what = NULL;
	ck_assert_int_eq(kind_of("\x1f", 1, &what), KERNEL_UNKNOWN);
	ck_assert(!contains(what, "gzip"));
	/* A gzip magic long enough to be a bzImage is still gzip (no "HdrS"). */
	uint8_t big[0x400];
	memset(big, 0, sizeof(big));
	big[0] = 0x1f, big[1] = 0x8b;
	ck_assert_int_eq(kind_of(big, sizeof(big), &what), KERNEL_UNKNOWN);
	ck_assert(contains(what, "gzip"));
}
END_TEST

START_TEST(test_kind_garbage)
{
	uint8_t b[0x1000];
	unsigned x = 12345;
	for (size_t i = 0; i < sizeof(b); i++) {
		x = x * 1103515245 + 12345;
		b[i] = (uint8_t)(x >> 16);
	}
	b[0] = 0x00; /* keep clear of every known magic */
	const char *what = NULL;
	ck_assert_int_eq(kind_of(b, sizeof(b), &what), KERNEL_UNKNOWN);
	ck_assert_ptr_nonnull(what);
	ck_assert(contains(what, "no bzImage or ELF magic"));
}
END_TEST

START_TEST(test_kind_elf)
{
	const char *what = "unset";
	ck_assert_int_eq(kind_of("\x7f"
				 "ELF\x02\x01\x01",
				 7, &what),
			 KERNEL_ELF);
	ck_assert_ptr_null(what);
	/* Only the four magic bytes are needed to call it ELF; parsing rejects
	 * it later with a better message. */
	ck_assert_int_eq(kind_of("\x7f"
				 "ELF",
				 4, &what),
			 KERNEL_ELF);
	ck_assert_int_eq(kind_of("\x7f"
				 "EL",
				 3, &what),
			 KERNEL_UNKNOWN);
}
END_TEST

START_TEST(test_kind_bzimage)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	const char *what = "unset";
	ck_assert_int_eq(kind_of(img, sizeof(img), &what), KERNEL_BZIMAGE);
	ck_assert_ptr_null(what);
	ck_assert_int_eq(kind_of(img, 0x206, &what), KERNEL_BZIMAGE);
	/* An EFI-stub bzImage starts with a PE "MZ" header: still a bzImage. */
	img[0] = 'M';
	img[1] = 'Z';
	ck_assert_int_eq(kind_of(img, sizeof(img), &what), KERNEL_BZIMAGE);
	ck_assert_ptr_null(what);
	/* "HdrS" wins even over an ELF-looking start. */
	memcpy(img, ELFMAG, SELFMAG);
	ck_assert_int_eq(kind_of(img, sizeof(img), &what), KERNEL_BZIMAGE);
}
END_TEST

/* ---- bzimage_parse ---- */

START_TEST(test_bz_good)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	ck_assert_uint_eq(bz.version, 0x020f);
	ck_assert_uint_eq(bz.setup_size, SETUP_BYTES);
	ck_assert_uint_eq(bz.header_end, 0x268);
	ck_assert_ptr_eq(bz.kernel, img + SETUP_BYTES);
	ck_assert_uint_eq(bz.kernel_size, KERNEL_LEN);
	ck_assert_uint_eq(bz.init_size, 0x800000);
	ck_assert_uint_eq(bz.initrd_addr_max, 0x7fffffff);
	ck_assert_uint_eq(bz.cmdline_size, 2048);
	ck_assert_uint_eq(bz.xloadflags, XLF_KERNEL_64);
}
END_TEST

START_TEST(test_bz_init_size_at_least_kernel)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->init_size = 0x10; /* smaller than the kernel itself */
	struct bzimage_info bz;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, NULL), 0);
	ck_assert_uint_eq(bz.init_size, KERNEL_LEN);
}
END_TEST

START_TEST(test_bz_truncated)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, 0x24f, &bz, &e), -1);
	ck_assert_msg_has(e, "truncated");
	ck_assert_int_eq(bzimage_parse(img, 0, &bz, &e), -1);
	ck_assert_msg_has(e, "truncated");
	/* The setup code alone fills the file. */
	ck_assert_int_eq(bzimage_parse(img, SETUP_BYTES, &bz, &e), -1);
	ck_assert_msg_has(e, "truncated");
	ck_assert_msg_has(e, "setup");
	/* A NULL errbuf is allowed. */
	ck_assert_int_eq(bzimage_parse(img, 0x100, &bz, NULL), -1);
}
END_TEST

START_TEST(test_bz_header_past_eof)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	img[0x201] = 0xff; /* header "ends" at 0x301 */
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, 0x280, &bz, &e), -1);
	ck_assert_msg_has(e, "truncated");
	ck_assert_msg_has(e, "header");
}
END_TEST

START_TEST(test_bz_no_boot_flag)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->boot_flag = 0x55AA; /* byte-swapped */
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "0xAA55");
}
END_TEST

START_TEST(test_bz_no_hdrs)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	memcpy(&hdr(img)->header, "HdrT", 4);
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "HdrS");
}
END_TEST

START_TEST(test_bz_old_protocol)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->version = 0x0209;
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "2.09");
	ck_assert_msg_has(e, "2.12");
	/* 2.11 is the last one refused, 2.12 the first accepted. */
	hdr(img)->version = 0x020b;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "2.11");
	hdr(img)->version = 0x020c;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	ck_assert_uint_eq(bz.version, 0x020c);
}
END_TEST

START_TEST(test_bz_zimage)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->loadflags = CAN_USE_HEAP; /* anything but LOADED_HIGH */
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "zImage");
	ck_assert_msg_has(e, "LOADED_HIGH");
}
END_TEST

START_TEST(test_bz_not_64bit)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G | XLF_EFI_HANDOVER_32;
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "XLF_KERNEL_64");
	ck_assert_msg_has(e, "64-bit");
}
END_TEST

START_TEST(test_bz_setup_sects_zero_means_four)
{
	/* 5 x 512 bytes of setup, then the kernel. */
	static uint8_t img[5 * 512 + KERNEL_LEN];
	uint8_t tmpl[BZ_LEN];
	make_bzimage(tmpl);
	memset(img, 0, sizeof(img));
	memcpy(img, tmpl, SETUP_BYTES);
	hdr(img)->setup_sects = 0;
	memset(img + 5 * 512, 0x5a, KERNEL_LEN);
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	ck_assert_uint_eq(bz.setup_size, 5 * 512);
	ck_assert_ptr_eq(bz.kernel, img + 5 * 512);
	ck_assert_uint_eq(bz.kernel_size, KERNEL_LEN);
	ck_assert_uint_eq(bz.kernel[0], 0x5a);

	/* The same image with setup_sects = 0 is too short when cut to the
	 * size of setup it implies. */
	ck_assert_int_eq(bzimage_parse(img, 5 * 512, &bz, &e), -1);
	ck_assert_msg_has(e, "2560");
}
END_TEST

START_TEST(test_bz_syssize_too_big)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->syssize = KERNEL_LEN / 16 + 1;
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "truncated");
	ck_assert_msg_has(e, "4112");
	/* Exactly the kernel's size is fine, and so is syssize near 2^32
	 * refused without wrapping. */
	hdr(img)->syssize = KERNEL_LEN / 16;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	hdr(img)->syssize = 0xffffffff;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), -1);
	ck_assert_msg_has(e, "truncated");
}
END_TEST

/* The real payloads the build assembles sit next to this test binary. */
static uint8_t *read_payload(const char *name, size_t *len)
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

START_TEST(test_real_payloads)
{
	size_t len;
	const char *what;
	struct errbuf e = {""};

	uint8_t *bzi = read_payload("hello.bzImage", &len);
	if (!bzi) {
		fprintf(stderr, "test_real_payloads: payloads not built, skipped\n");
		return;
	}
	ck_assert_int_eq(kernel_image_kind(bzi, len, &what), KERNEL_BZIMAGE);
	struct bzimage_info bz;
	ck_assert_msg(bzimage_parse(bzi, len, &bz, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(bz.version, 0x020f);
	ck_assert_uint_eq(bz.setup_size, 1024);
	ck_assert_uint_eq(bz.header_end, 0x268);
	ck_assert_uint_eq(bz.cmdline_size, 255);
	ck_assert_uint_eq(bz.initrd_addr_max, 0x7fffffff);
	ck_assert_uint_eq(bz.init_size, 0x100000);
	free(bzi);

	uint8_t *pvh = read_payload("pvh.elf", &len);
	ck_assert_ptr_nonnull(pvh);
	ck_assert_int_eq(kernel_image_kind(pvh, len, &what), KERNEL_ELF);
	struct elf_pvh_info info;
	ck_assert_msg(elf_pvh_parse(pvh, len, &info, &e) == 0, "%s", e.msg);
	ck_assert_uint_ge(info.nsegs, 1);
	ck_assert_uint_eq(info.segs[0].paddr, 0x100000);
	Elf64_Ehdr eh;
	memcpy(&eh, pvh, sizeof(eh));
	ck_assert_uint_eq(info.pvh_entry, eh.e_entry); /* the linker script's ENTRY */
	free(pvh);

	uint8_t *nopvh = read_payload("nopvh.elf", &len);
	ck_assert_ptr_nonnull(nopvh);
	ck_assert_int_eq(elf_pvh_parse(nopvh, len, &info, &e), -1);
	ck_assert_msg_has(e, "PVH");
	free(nopvh);
}
END_TEST

/* ---- elf_pvh_parse ---- */

#define ELF_ENTRY  0x100040U
#define SEG_PADDR  0x100000U
#define SEG_FILESZ 0x1000U
#define SEG_MEMSZ  0x3000U
#define PH_OFF	   sizeof(Elf64_Ehdr)
#define NOTE_OFF   0x100U
#define SEG_OFF	   0x200U
#define ELF_LEN	   (SEG_OFF + SEG_FILESZ)

static size_t put_note(uint8_t *p, const char *name, uint32_t namesz, uint32_t type,
		       const void *desc, uint32_t descsz)
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

/* An x86-64 executable with one PT_LOAD and one PT_NOTE holding the PVH entry
 * (desc of descsz bytes, 4 or 8). Returns the note's size. */
static size_t make_elf(uint8_t *img, uint32_t descsz)
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
	eh.e_entry = ELF_ENTRY;
	eh.e_phoff = PH_OFF;
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	memcpy(img, &eh, sizeof(eh));

	uint64_t entry = ELF_ENTRY | 0xffffffff00000000ULL; /* high half must be ignored */
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

static Elf64_Ehdr *ehdr(uint8_t *img)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *phdr(uint8_t *img, unsigned i)
{
	return (Elf64_Phdr *)(img + PH_OFF) + i;
}

START_TEST(test_elf_good_4byte_desc)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_msg(elf_pvh_parse(img, sizeof(img), &info, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(info.pvh_entry, ELF_ENTRY);
	ck_assert_uint_eq(info.nsegs, 1);
	ck_assert_uint_eq(info.segs[0].paddr, SEG_PADDR);
	ck_assert_uint_eq(info.segs[0].filesz, SEG_FILESZ);
	ck_assert_uint_eq(info.segs[0].memsz, SEG_MEMSZ);
	ck_assert_ptr_eq(info.segs[0].data, img + SEG_OFF);
	ck_assert_uint_eq(info.end, SEG_PADDR + SEG_MEMSZ);
}
END_TEST

START_TEST(test_elf_good_8byte_desc)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 8);
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_msg(elf_pvh_parse(img, sizeof(img), &info, &e) == 0, "%s", e.msg);
	/* Linux writes the entry as a pointer-sized value; only the low 32
	 * bits are the physical entry. */
	ck_assert_uint_eq(info.pvh_entry, ELF_ENTRY);
}
END_TEST

START_TEST(test_elf_note_after_other_notes)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	/* A GNU build-id, a "Linux" note (name padded from 6 to 8 bytes) and a
	 * Xen note of another type, then the PVH one. */
	uint8_t *p = img + NOTE_OFF;
	size_t off = 0;
	uint8_t id[20];
	memset(id, 0x11, sizeof(id));
	off += put_note(p + off, "GNU", 4, NT_GNU_BUILD_ID, id, sizeof(id));
	uint32_t x = 0xdeadbeef;
	off += put_note(p + off, "Linux", 6, 18, &x, 4);
	off += put_note(p + off, "Xen", 4, 17, &x, 4);
	off += put_note(p + off, "Xen", 4, 18, &x, 3); /* wrong descsz: skipped */
	uint32_t entry = 0x1000c0;
	off += put_note(p + off, "Xen", 4, 18, &entry, 4);
	ck_assert_uint_lt(NOTE_OFF + off, SEG_OFF);
	phdr(img, 1)->p_filesz = off;
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_msg(elf_pvh_parse(img, sizeof(img), &info, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(info.pvh_entry, 0x1000c0);
}
END_TEST

START_TEST(test_elf_no_note)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct elf_pvh_info info;
	struct errbuf e = {""};

	/* No PT_NOTE at all. */
	phdr(img, 1)->p_type = PT_NULL;
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "PVH");
	ck_assert_msg_has(e, "CONFIG_PVH");

	/* A note segment holding only other notes. */
	make_elf(img, 4);
	uint8_t id[8] = {0};
	size_t n = put_note(img + NOTE_OFF, "GNU", 4, NT_GNU_BUILD_ID, id, sizeof(id));
	phdr(img, 1)->p_filesz = n;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "PVH");

	/* A note whose header claims more than the segment holds. */
	make_elf(img, 4);
	phdr(img, 1)->p_filesz = sizeof(Elf64_Nhdr) + 2;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "PVH");
}
END_TEST

START_TEST(test_elf_corrupt_note_sizes)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	/* Sizes near 2^32 must neither read outside the segment nor be taken
	 * for the entry note. */
	Elf64_Nhdr nh = {0xffffffff, 0xffffffff, 18};
	memcpy(img + NOTE_OFF, &nh, sizeof(nh));
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "PVH");
}
END_TEST

START_TEST(test_elf_wrong_machine)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	ehdr(img)->e_machine = EM_386;
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "machine 3");
	ck_assert_msg_has(e, "x86-64");
}
END_TEST

START_TEST(test_elf_32bit_or_big_endian)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	ehdr(img)->e_ident[EI_CLASS] = ELFCLASS32;
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "64-bit");

	make_elf(img, 4);
	ehdr(img)->e_ident[EI_DATA] = ELFDATA2MSB;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "little-endian");
}
END_TEST

START_TEST(test_elf_not_executable)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	ehdr(img)->e_type = ET_DYN;
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "not an executable");
}
END_TEST

START_TEST(test_elf_truncated_header)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(Elf64_Ehdr) - 1, &info, &e), -1);
	ck_assert_msg_has(e, "truncated");
	ck_assert_int_eq(elf_pvh_parse(img, 4, &info, &e), -1);
	ck_assert_msg_has(e, "truncated");
}
END_TEST

START_TEST(test_elf_truncated_phdrs)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct elf_pvh_info info;
	struct errbuf e = {""};
	/* The file ends inside the second program header. */
	ck_assert_int_eq(elf_pvh_parse(img, PH_OFF + sizeof(Elf64_Phdr) + 10, &info, &e), -1);
	ck_assert_msg_has(e, "program headers");

	ehdr(img)->e_phnum = 1000;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "program headers");

	make_elf(img, 4);
	ehdr(img)->e_phoff = UINT64_MAX - 8; /* must not wrap past the check */
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "program headers");

	make_elf(img, 4);
	ehdr(img)->e_phentsize = sizeof(Elf32_Phdr);
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "program headers");

	make_elf(img, 4);
	ehdr(img)->e_phnum = 0;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "program headers");
}
END_TEST

START_TEST(test_elf_segment_past_eof)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct elf_pvh_info info;
	struct errbuf e = {""};
	/* The loadable segment's bytes run one past the end. */
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img) - 1, &info, &e), -1);
	ck_assert_msg_has(e, "segment 0");
	ck_assert_msg_has(e, "past the end");

	phdr(img, 0)->p_filesz = UINT64_MAX - 0x80; /* offset + filesz wraps */
	phdr(img, 0)->p_memsz = UINT64_MAX - 0x80;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "past the end");

	/* The note segment is checked as well. */
	make_elf(img, 4);
	phdr(img, 1)->p_filesz = ELF_LEN;
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "segment 1");
}
END_TEST

START_TEST(test_elf_memsz_below_filesz)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	phdr(img, 0)->p_memsz = SEG_FILESZ - 1;
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "segment 0");
	ck_assert_msg_has(e, "corrupt size");

	make_elf(img, 4);
	phdr(img, 0)->p_paddr = UINT64_MAX - 0x1000; /* paddr + memsz wraps */
	e.msg[0] = '\0';
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "corrupt size");
}
END_TEST

START_TEST(test_elf_segments_limit_and_end)
{
	/* The note plus 16 or 17 small PT_LOADs sharing the same file bytes; the
	 * program header table moves past the data to make room. */
	static uint8_t img[0x2000];
	memset(img, 0, sizeof(img));
	make_elf(img, 4);
	const uint64_t phoff = 0x1400;
	ehdr(img)->e_phoff = phoff;
	Elf64_Phdr note = *phdr(img, 1);
	Elf64_Phdr load = *phdr(img, 0);
	load.p_filesz = 0x10;
	load.p_memsz = 0x20;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + phoff);
	ph[0] = note;
	for (unsigned i = 0; i < 17; i++) {
		ph[1 + i] = load;
		/* Out of order, so "end" must be a maximum, not the last. */
		ph[1 + i].p_paddr = SEG_PADDR + ((i * 5) % 16) * 0x1000;
	}
	struct elf_pvh_info info;
	struct errbuf e = {""};

	ehdr(img)->e_phnum = 1 + 16;
	ck_assert_msg(elf_pvh_parse(img, sizeof(img), &info, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(info.nsegs, 16);
	ck_assert_uint_eq(info.end, SEG_PADDR + 15 * 0x1000 + 0x20);

	ehdr(img)->e_phnum = 1 + 17;
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "more than 16");
}
END_TEST

START_TEST(test_elf_no_load_segments)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	phdr(img, 0)->p_type = PT_DYNAMIC; /* ignored */
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, sizeof(img), &info, &e), -1);
	ck_assert_msg_has(e, "no loadable segments");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kernel_image");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_setup_header_offsets);
	tcase_add_test(tc, test_kind_empty);
	tcase_add_test(tc, test_kind_short);
	tcase_add_test(tc, test_kind_compressed_and_archives);
	tcase_add_test(tc, test_kind_garbage);
	tcase_add_test(tc, test_kind_elf);
	tcase_add_test(tc, test_kind_bzimage);
	tcase_add_test(tc, test_bz_good);
	tcase_add_test(tc, test_bz_init_size_at_least_kernel);
	tcase_add_test(tc, test_bz_truncated);
	tcase_add_test(tc, test_bz_header_past_eof);
	tcase_add_test(tc, test_bz_no_boot_flag);
	tcase_add_test(tc, test_bz_no_hdrs);
	tcase_add_test(tc, test_bz_old_protocol);
	tcase_add_test(tc, test_bz_zimage);
	tcase_add_test(tc, test_bz_not_64bit);
	tcase_add_test(tc, test_bz_setup_sects_zero_means_four);
	tcase_add_test(tc, test_bz_syssize_too_big);
	tcase_add_test(tc, test_real_payloads);
	tcase_add_test(tc, test_elf_good_4byte_desc);
	tcase_add_test(tc, test_elf_good_8byte_desc);
	tcase_add_test(tc, test_elf_note_after_other_notes);
	tcase_add_test(tc, test_elf_no_note);
	tcase_add_test(tc, test_elf_corrupt_note_sizes);
	tcase_add_test(tc, test_elf_wrong_machine);
	tcase_add_test(tc, test_elf_32bit_or_big_endian);
	tcase_add_test(tc, test_elf_not_executable);
	tcase_add_test(tc, test_elf_truncated_header);
	tcase_add_test(tc, test_elf_truncated_phdrs);
	tcase_add_test(tc, test_elf_segment_past_eof);
	tcase_add_test(tc, test_elf_memsz_below_filesz);
	tcase_add_test(tc, test_elf_segments_limit_and_end);
	tcase_add_test(tc, test_elf_no_load_segments);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
