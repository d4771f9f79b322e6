#include <asm/bootparam.h>
#include <elf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/kernel_image.h"
#include "check_main.h"
#include "images.h"

static int contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

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

/* bzimage_parse refuses the first len bytes of img: its message. */
static struct errbuf bz_refused(const uint8_t *img, size_t len)
{
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, len, &bz, &e), -1);
	return e;
}

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
	ck_assert_uint_eq(bz.kernel_size, BZ_KERNEL_LEN);
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
	ck_assert_uint_eq(bz.init_size, BZ_KERNEL_LEN);
}
END_TEST

START_TEST(test_bz_truncated)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct errbuf e = bz_refused(img, 0x24f);
	ck_assert_msg_has(e, "truncated");
	e = bz_refused(img, 0);
	ck_assert_msg_has(e, "truncated");
	/* The setup code alone fills the file. */
	e = bz_refused(img, SETUP_BYTES);
	ck_assert_msg_has(e, "truncated");
	ck_assert_msg_has(e, "setup");
	/* A NULL errbuf is allowed. */
	struct bzimage_info bz;
	ck_assert_int_eq(bzimage_parse(img, 0x100, &bz, NULL), -1);
}
END_TEST

START_TEST(test_bz_header_past_eof)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	img[0x201] = 0xff; /* header "ends" at 0x301 */
	struct errbuf e = bz_refused(img, 0x280);
	ck_assert_msg_has(e, "truncated");
	ck_assert_msg_has(e, "header");
}
END_TEST

START_TEST(test_bz_no_boot_flag)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->boot_flag = 0x55AA; /* byte-swapped */
	struct errbuf e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "0xAA55");
}
END_TEST

START_TEST(test_bz_no_hdrs)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	memcpy(&hdr(img)->header, "HdrT", 4);
	struct errbuf e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "HdrS");
}
END_TEST

START_TEST(test_bz_old_protocol)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->version = 0x0209;
	struct errbuf e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "2.09");
	ck_assert_msg_has(e, "2.12");
	/* 2.11 is the last one refused, 2.12 the first accepted. */
	hdr(img)->version = 0x020b;
	e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "2.11");
	hdr(img)->version = 0x020c;
	struct bzimage_info bz;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	ck_assert_uint_eq(bz.version, 0x020c);
}
END_TEST

START_TEST(test_bz_zimage)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->loadflags = CAN_USE_HEAP; /* anything but LOADED_HIGH */
	struct errbuf e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "zImage");
	ck_assert_msg_has(e, "LOADED_HIGH");
}
END_TEST

START_TEST(test_bz_not_64bit)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G | XLF_EFI_HANDOVER_32;
	struct errbuf e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "XLF_KERNEL_64");
	ck_assert_msg_has(e, "64-bit");
}
END_TEST

START_TEST(test_bz_setup_sects_zero_means_four)
{
	/* 5 x 512 bytes of setup, then the kernel. */
	static uint8_t img[5 * 512 + BZ_KERNEL_LEN];
	uint8_t tmpl[BZ_LEN];
	make_bzimage(tmpl);
	memset(img, 0, sizeof(img));
	memcpy(img, tmpl, SETUP_BYTES);
	hdr(img)->setup_sects = 0;
	memset(img + 5 * 512, 0x5a, BZ_KERNEL_LEN);
	struct bzimage_info bz;
	struct errbuf e = {""};
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	ck_assert_uint_eq(bz.setup_size, 5 * 512);
	ck_assert_ptr_eq(bz.kernel, img + 5 * 512);
	ck_assert_uint_eq(bz.kernel_size, BZ_KERNEL_LEN);
	ck_assert_uint_eq(bz.kernel[0], 0x5a);

	/* The same image with setup_sects = 0 is too short when cut to the
	 * size of setup it implies. */
	e = bz_refused(img, 5 * 512);
	ck_assert_msg_has(e, "2560");
}
END_TEST

START_TEST(test_bz_syssize_too_big)
{
	uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->syssize = BZ_KERNEL_LEN / 16 + 1;
	struct errbuf e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "truncated");
	ck_assert_msg_has(e, "4112");
	/* Exactly the kernel's size is fine, and so is syssize near 2^32
	 * refused without wrapping. */
	hdr(img)->syssize = BZ_KERNEL_LEN / 16;
	struct bzimage_info bz;
	ck_assert_int_eq(bzimage_parse(img, sizeof(img), &bz, &e), 0);
	hdr(img)->syssize = 0xffffffff;
	e = bz_refused(img, sizeof(img));
	ck_assert_msg_has(e, "truncated");
}
END_TEST

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

/* elf_pvh_parse refuses the first len bytes of img: its message. */
static struct errbuf elf_refused(const uint8_t *img, size_t len)
{
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_int_eq(elf_pvh_parse(img, len, &info, &e), -1);
	return e;
}

START_TEST(test_elf_good_4byte_desc)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct elf_pvh_info info;
	struct errbuf e = {""};
	ck_assert_msg(elf_pvh_parse(img, sizeof(img), &info, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(info.pvh_entry, PVH_ENTRY);
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
	ck_assert_uint_eq(info.pvh_entry, PVH_ENTRY);
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

	/* No PT_NOTE at all. */
	phdr(img, 1)->p_type = PT_NULL;
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "PVH");
	ck_assert_msg_has(e, "CONFIG_PVH");

	/* A note segment holding only other notes. */
	make_elf(img, 4);
	uint8_t id[8] = {0};
	size_t n = put_note(img + NOTE_OFF, "GNU", 4, NT_GNU_BUILD_ID, id, sizeof(id));
	phdr(img, 1)->p_filesz = n;
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "PVH");

	/* A note whose header claims more than the segment holds. */
	make_elf(img, 4);
	phdr(img, 1)->p_filesz = sizeof(Elf64_Nhdr) + 2;
	e = elf_refused(img, sizeof(img));
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
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "PVH");
}
END_TEST

START_TEST(test_elf_wrong_machine)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	ehdr(img)->e_machine = EM_386;
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "machine 3");
	ck_assert_msg_has(e, "x86-64");
}
END_TEST

START_TEST(test_elf_32bit_or_big_endian)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	ehdr(img)->e_ident[EI_CLASS] = ELFCLASS32;
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "64-bit");

	make_elf(img, 4);
	ehdr(img)->e_ident[EI_DATA] = ELFDATA2MSB;
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "little-endian");
}
END_TEST

START_TEST(test_elf_not_executable)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	ehdr(img)->e_type = ET_DYN;
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "not an executable");
}
END_TEST

START_TEST(test_elf_truncated_header)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct errbuf e = elf_refused(img, sizeof(Elf64_Ehdr) - 1);
	ck_assert_msg_has(e, "truncated");
	e = elf_refused(img, 4);
	ck_assert_msg_has(e, "truncated");
}
END_TEST

START_TEST(test_elf_truncated_phdrs)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	/* The file ends inside the second program header. */
	struct errbuf e = elf_refused(img, PH_OFF + sizeof(Elf64_Phdr) + 10);
	ck_assert_msg_has(e, "program headers");

	ehdr(img)->e_phnum = 1000;
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "program headers");

	make_elf(img, 4);
	ehdr(img)->e_phoff = UINT64_MAX - 8; /* must not wrap past the check */
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "program headers");

	make_elf(img, 4);
	ehdr(img)->e_phentsize = sizeof(Elf32_Phdr);
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "program headers");

	make_elf(img, 4);
	ehdr(img)->e_phnum = 0;
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "program headers");
}
END_TEST

START_TEST(test_elf_segment_past_eof)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	/* The loadable segment's bytes run one past the end. */
	struct errbuf e = elf_refused(img, sizeof(img) - 1);
	ck_assert_msg_has(e, "segment 0");
	ck_assert_msg_has(e, "past the end");

	phdr(img, 0)->p_filesz = UINT64_MAX - 0x80; /* offset + filesz wraps */
	phdr(img, 0)->p_memsz = UINT64_MAX - 0x80;
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "past the end");

	/* The note segment is checked as well. */
	make_elf(img, 4);
	phdr(img, 1)->p_filesz = ELF_LEN;
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "segment 1");
}
END_TEST

START_TEST(test_elf_memsz_below_filesz)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	phdr(img, 0)->p_memsz = SEG_FILESZ - 1;
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "segment 0");
	ck_assert_msg_has(e, "corrupt size");

	make_elf(img, 4);
	phdr(img, 0)->p_paddr = UINT64_MAX - 0x1000; /* paddr + memsz wraps */
	e = elf_refused(img, sizeof(img));
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
	e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "more than 16");
}
END_TEST

START_TEST(test_elf_no_load_segments)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	phdr(img, 0)->p_type = PT_DYNAMIC; /* ignored */
	struct errbuf e = elf_refused(img, sizeof(img));
	ck_assert_msg_has(e, "no loadable segments");
}
END_TEST

CHECK_MAIN("kernel_image", test_setup_header_offsets, test_kind_empty, test_kind_short,
	   test_kind_compressed_and_archives, test_kind_garbage, test_kind_elf, test_kind_bzimage,
	   test_bz_good, test_bz_init_size_at_least_kernel, test_bz_truncated,
	   test_bz_header_past_eof, test_bz_no_boot_flag, test_bz_no_hdrs, test_bz_old_protocol,
	   test_bz_zimage, test_bz_not_64bit, test_bz_setup_sects_zero_means_four,
	   test_bz_syssize_too_big, test_real_payloads, test_elf_good_4byte_desc,
	   test_elf_good_8byte_desc, test_elf_note_after_other_notes, test_elf_no_note,
	   test_elf_corrupt_note_sizes, test_elf_wrong_machine, test_elf_32bit_or_big_endian,
	   test_elf_not_executable, test_elf_truncated_header, test_elf_truncated_phdrs,
	   test_elf_segment_past_eof, test_elf_memsz_below_filesz, test_elf_segments_limit_and_end,
	   test_elf_no_load_segments)
