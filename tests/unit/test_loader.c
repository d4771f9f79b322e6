#include <asm/bootparam.h>
#include <elf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/e820.h"
#include "boot/layout.h"
#include "boot/loader.h"
#include "boot/pagetables.h"
#include "check_main.h"
#include "images.h"
#include "vmm/base/guest_mem.h"

#define MiB(x) ((uint64_t)(x) << 20)

/* ---- guest memory ---- */

static struct guest_mem mem_new(uint64_t size)
{
	struct guest_mem m;
	guest_mem_layout(&m, size);
	m.host = malloc(size);
	ck_assert_ptr_nonnull(m.host);
	/* Poison, so a field the loader forgets to clear shows up. */
	memset(m.host, 0xAA, size);
	return m;
}

static void mem_del(struct guest_mem *m)
{
	free(m->host);
	m->host = NULL;
}

static void *gp(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	void *p = guest_ptr(m, gpa, len);
	ck_assert_msg(p != NULL, "gpa 0x%llx+0x%llx outside RAM", (unsigned long long)gpa,
		      (unsigned long long)len);
	return p;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/* ---- a synthetic bzImage ---- */

/* What it needs of RAM: pref_address, then init_size. */
#define BZ_KERNEL_NEED ((uint64_t)BZ_PREF + BZ_INIT_SIZE)

static struct boot_config bz_config(const uint8_t *img, size_t len)
{
	return (struct boot_config){.kernel_name = "bzImage",
				    .kernel = img,
				    .kernel_len = len,
				    .cmdline = "console=ttyS0 reboot=k panic=-1",
				    .ncpus = 1};
}

static struct boot_params *zero_page(const struct guest_mem *m)
{
	return gp(m, BOOT_ZERO_PAGE_ADDR, sizeof(struct boot_params));
}

/* boot_load succeeds: the entry it fills in. */
static struct boot_entry load_ok(struct guest_mem *m, const struct boot_config *c)
{
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(m, c, &b, &e) == 0, "%s", e.msg);
	return b;
}

/* boot_load refuses: its message. */
static struct errbuf load_refused(struct guest_mem *m, const struct boot_config *c)
{
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_int_eq(boot_load(m, c, &b, &e), -1);
	return e;
}

/* The boot e820 map must be exactly what e820_build() says. */
static void check_bp_e820(const struct guest_mem *m, const struct boot_params *bp)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(m, map);
	ck_assert_uint_eq(bp->e820_entries, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(bp->e820_table[i].addr, map[i].addr);
		ck_assert_uint_eq(bp->e820_table[i].size, map[i].size);
		ck_assert_uint_eq(bp->e820_table[i].type, map[i].type);
	}
}

START_TEST(test_bz_load_basic)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = bz_config(img, sizeof(img));
	struct boot_entry b = load_ok(&m, &c);

	ck_assert_int_eq(b.kind, KERNEL_BZIMAGE);
	ck_assert_int_eq(b.mode, BOOT_ENTRY_LINUX64);
	ck_assert_uint_eq(b.rip, 0x100200);
	ck_assert_uint_eq(b.arg, BOOT_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(b.kernel_addr, 0x100000);
	ck_assert_uint_eq(b.kernel_end, BZ_KERNEL_NEED);
	ck_assert_uint_eq(b.initrd_addr, 0);

	/* The protected-mode kernel, and only it, at 1 MiB. */
	ck_assert_mem_eq(gp(&m, 0x100000, BZ_KERNEL_LEN), img + SETUP_BYTES, BZ_KERNEL_LEN);

	struct boot_params *bp = zero_page(&m);
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xAA55);
	ck_assert_mem_eq(&bp->hdr.header, "HdrS", 4);
	ck_assert_uint_eq(bp->hdr.version, 0x020f);
	ck_assert_uint_eq(bp->hdr.setup_sects, 1);
	ck_assert_uint_eq(bp->hdr.xloadflags, XLF_KERNEL_64);
	ck_assert_uint_eq(bp->hdr.loadflags & LOADED_HIGH, LOADED_HIGH);
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp->hdr.code32_start, 0x100000);
	ck_assert_uint_eq(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	ck_assert_uint_eq(bp->ext_cmd_line_ptr, 0);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0);
	ck_assert_uint_eq(bp->ext_ramdisk_image, 0);
	ck_assert_uint_eq(bp->ext_ramdisk_size, 0);
	/* Bytes after header_end (0x268) are setup code, not header. */
	ck_assert_uint_eq(bp->hdr.kernel_info_offset, 0);
	/* Everything the loader does not set is zero, not left over. */
	ck_assert(all_bytes((const uint8_t *)bp, offsetof(struct boot_params, e820_entries), 0));
	ck_assert_uint_eq(bp->acpi_rsdp_addr, 0);
	check_bp_e820(&m, bp);
	ck_assert_uint_eq(bp->e820_entries, 4);

	const char *cl = gp(&m, BOOT_CMDLINE_ADDR, 64);
	ck_assert_str_eq(cl, "console=ttyS0 reboot=k panic=-1");

	/* boot_load also leaves the page tables, GDT and MP table in place. */
	const uint64_t *pml4 = gp(&m, BOOT_PML4_ADDR, 8);
	ck_assert_uint_eq(pml4[0] & ~0xfffULL, BOOT_PDPT_ADDR);
	ck_assert_mem_eq(gp(&m, BOOT_EBDA_ADDR, 4), "_MP_", 4);
	mem_del(&m);
}
END_TEST

START_TEST(test_bz_without_pref_address)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->pref_address = 0;
	hdr(img)->init_size = (uint32_t)MiB(3);
	struct guest_mem m = mem_new(MiB(8));
	struct boot_config c = bz_config(img, sizeof(img));
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.kernel_end, MiB(1) + MiB(3));
	mem_del(&m);
}
END_TEST

START_TEST(test_bz_initrd)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	const size_t len = MiB(1) + 123;
	uint8_t *rd = malloc(len);
	for (size_t i = 0; i < len; i++)
		rd[i] = (uint8_t)(i * 31 + 7);
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = bz_config(img, sizeof(img));
	c.initrd = rd;
	c.initrd_len = len;
	struct boot_entry b = load_ok(&m, &c);

	uint64_t a = b.initrd_addr;
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_eq(a & 0xfff, 0);
	ck_assert_uint_ge(a, b.kernel_end);
	ck_assert_uint_le(a + len, MiB(64));
	ck_assert_uint_le(a + len, 0x7fffffffULL + 1);
	/* As high as it goes: the next page up would not fit. */
	ck_assert_uint_gt(a + 0x1000 + len, MiB(64));
	ck_assert_mem_eq(gp(&m, a, len), rd, len);

	struct boot_params *bp = zero_page(&m);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, a);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, len);
	ck_assert_uint_eq(bp->ext_ramdisk_image, 0);
	ck_assert_uint_eq(bp->ext_ramdisk_size, 0);
	free(rd);
	mem_del(&m);
}
END_TEST

START_TEST(test_bz_initrd_below_initrd_addr_max)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->initrd_addr_max = (uint32_t)MiB(32) - 1;
	const size_t len = 0x1801;
	uint8_t rd[0x1801];
	memset(rd, 0x3c, sizeof(rd));
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = bz_config(img, sizeof(img));
	c.initrd = rd;
	c.initrd_len = len;
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.initrd_addr, (MiB(32) - len) & ~0xfffULL);
	ck_assert_uint_le(b.initrd_addr + len - 1, MiB(32) - 1);
	ck_assert_mem_eq(gp(&m, b.initrd_addr, len), rd, len);
	mem_del(&m);
}
END_TEST

/* RAM above 4 GiB must not attract the initrd: the boot protocol's
 * ramdisk_image is below initrd_addr_max, and the loader keeps it in low RAM. */
START_TEST(test_bz_initrd_big_guest)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->initrd_addr_max = 0xffffffff;
	struct guest_mem m;
	struct errbuf e = {""};
	if (guest_mem_alloc(&m, MiB(5 * 1024), &e)) {
		fprintf(stderr, "test_bz_initrd_big_guest skipped: %s\n", e.msg);
		return;
	}
	uint8_t rd[0x2000];
	memset(rd, 0x77, sizeof(rd));
	struct boot_config c = bz_config(img, sizeof(img));
	c.initrd = rd;
	c.initrd_len = sizeof(rd);
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.initrd_addr, GUEST_PCI_HOLE_START - sizeof(rd));
	struct boot_params *bp = zero_page(&m);
	ck_assert_uint_eq(bp->e820_entries, 5);
	check_bp_e820(&m, bp);
	guest_mem_free(&m);
}
END_TEST

START_TEST(test_bz_initrd_exact_fit_and_too_large)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	/* 64 MiB of RAM less the 24 MiB the kernel needs. */
	const size_t room = MiB(64) - BZ_KERNEL_NEED;
	uint8_t *rd = malloc(room + 1);
	memset(rd, 0x42, room + 1);
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = bz_config(img, sizeof(img));
	c.initrd = rd;
	c.initrd_len = room;
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.initrd_addr, BZ_KERNEL_NEED);

	c.initrd_len = room + 1;
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--initrd");
	ck_assert_msg_has(e, "--mem");
	free(rd);
	mem_del(&m);
}
END_TEST

START_TEST(test_bz_mem_too_small)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct guest_mem m = mem_new(MiB(16));
	struct boot_config c = bz_config(img, sizeof(img));
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--mem");
	ck_assert_msg_has(e, "16 MiB is too small");
	mem_del(&m);
}
END_TEST

/* The message tells the user what --mem to use, so it must name a size that
 * works, and not one more than needed: the kernel needs [16 MiB, 24 MiB). */
START_TEST(test_bz_mem_error_names_minimum)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct boot_config c = bz_config(img, sizeof(img));

	struct guest_mem fits = mem_new(BZ_KERNEL_NEED);
	load_ok(&fits, &c);
	mem_del(&fits);

	struct guest_mem small = mem_new(BZ_KERNEL_NEED - 0x1000);
	struct errbuf e = load_refused(&small, &c);
	ck_assert_msg_has(e, "at least 24 MiB");
	mem_del(&small);

	/* One byte more than a whole MiB rounds up to the next. */
	hdr(img)->init_size = (uint32_t)BZ_INIT_SIZE + 1;
	small = mem_new(MiB(16));
	e = load_refused(&small, &c);
	ck_assert_msg_has(e, "at least 25 MiB");
	mem_del(&small);
}
END_TEST

/* pref_address comes from the file; a corrupt one must not wrap the size
 * check into accepting a kernel the guest cannot hold. */
START_TEST(test_bz_pref_address_wrap_rejected)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->pref_address = 0xffffffffffe00000ULL;
	hdr(img)->init_size = (uint32_t)MiB(4); /* pref + init_size == 2 MiB mod 2^64 */
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = bz_config(img, sizeof(img));
	load_refused(&m, &c);
	mem_del(&m);
}
END_TEST

START_TEST(test_bz_pref_address_wrap_big_kernel)
{
	/* Here the wrapped check lets through a kernel larger than RAM, and the
	 * copy to 1 MiB gets a NULL guest pointer. */
	const size_t klen = MiB(3);
	uint8_t *img = calloc(1, SETUP_BYTES + klen);
	make_bzimage(img);
	hdr(img)->syssize = (uint32_t)(klen / 16);
	hdr(img)->pref_address = 0xffffffffffe00000ULL;
	hdr(img)->init_size = (uint32_t)MiB(4);
	struct guest_mem m = mem_new(MiB(2));
	struct boot_config c = bz_config(img, SETUP_BYTES + klen);
	load_refused(&m, &c);
	mem_del(&m);
	free(img);
}
END_TEST

START_TEST(test_bz_pref_address_beyond_ram)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->pref_address = MiB(1024);
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = bz_config(img, sizeof(img));
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--mem");
	mem_del(&m);
}
END_TEST

START_TEST(test_bz_cmdline_limits)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct guest_mem m = mem_new(MiB(32));
	struct boot_config c = bz_config(img, sizeof(img));
	char *s = malloc(0x10002);

	/* cmdline_size counts bytes without the NUL: 255 fit, 256 do not. */
	hdr(img)->cmdline_size = 255;
	memset(s, 'a', 255);
	s[255] = '\0';
	c.cmdline = s;
	load_ok(&m, &c);
	ck_assert_str_eq(gp(&m, BOOT_CMDLINE_ADDR, 256), s);
	ck_assert_uint_eq(zero_page(&m)->hdr.cmdline_size, 255);
	memset(s, 'a', 256);
	s[256] = '\0';
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--cmdline");
	ck_assert_msg_has(e, "256");
	ck_assert_msg_has(e, "255");

	/* cmdline_size 0 (never set) means the old 255 limit. */
	hdr(img)->cmdline_size = 0;
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "255");

	/* A large cmdline_size is capped at the room minivmm reserves. */
	hdr(img)->cmdline_size = 0x100000;
	memset(s, 'b', 0xffff);
	s[0xffff] = '\0';
	load_ok(&m, &c);
	ck_assert_uint_eq(zero_page(&m)->hdr.cmdline_size, 0xffff);
	ck_assert_uint_eq(strlen(gp(&m, BOOT_CMDLINE_ADDR, 0x10000)), 0xffff);
	s[0xffff] = 'b';
	s[0x10000] = '\0';
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--cmdline");

	c.cmdline = "";
	load_ok(&m, &c);
	ck_assert_str_eq(gp(&m, BOOT_CMDLINE_ADDR, 1), "");
	free(s);
	mem_del(&m);
}
END_TEST

START_TEST(test_bad_kernels)
{
	struct guest_mem m = mem_new(MiB(32));
	static const uint8_t gz[16] = {0x1f, 0x8b, 8};
	struct boot_config c = bz_config(gz, sizeof(gz));
	c.kernel_name = "vmlinux.gz";
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--kernel vmlinux.gz");
	ck_assert_msg_has(e, "not a bzImage or ELF");
	ck_assert_msg_has(e, "gzip");

	c.kernel_len = 0;
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "empty");

	/* Parse errors come through unchanged. */
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->loadflags = 0;
	c = bz_config(img, sizeof(img));
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "zImage");
	mem_del(&m);
}
END_TEST

START_TEST(test_cpu_count_checked)
{
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	struct guest_mem m = mem_new(MiB(32));
	struct boot_config c = bz_config(img, sizeof(img));
	c.ncpus = 32;
	load_ok(&m, &c);
	c.ncpus = 33;
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "MP table");
	c.ncpus = 0;
	load_refused(&m, &c);
	mem_del(&m);
}
END_TEST

/* ---- the real hello payload ---- */

/* --mem's 2 MiB minimum must be enough for the test payloads. */
START_TEST(test_real_payload_in_minimum_memory)
{
	size_t len;
	uint8_t *img = read_payload("hello.bzImage", &len);
	if (!img) {
		fprintf(stderr,
			"test_real_payload_in_minimum_memory: payloads not built, skipped\n");
		return;
	}
	struct guest_mem m = mem_new(MiB(2));
	struct boot_config c = bz_config(img, len);
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.rip, 0x100200);
	ck_assert_mem_eq(gp(&m, 0x100000, len - 1024), img + 1024, len - 1024);
	mem_del(&m);
	free(img);

	img = read_payload("pvh.elf", &len);
	ck_assert_ptr_nonnull(img);
	m = mem_new(MiB(2));
	c = bz_config(img, len);
	b = load_ok(&m, &c);
	ck_assert_int_eq(b.mode, BOOT_ENTRY_PVH32);
	Elf64_Ehdr eh;
	memcpy(&eh, img, sizeof(eh));
	ck_assert_uint_eq(b.rip, eh.e_entry);
	mem_del(&m);
	free(img);
}
END_TEST

/* ---- boot_place_initrd ---- */

START_TEST(test_place_initrd)
{
	/* Typical: top of the range, rounded down to a page. */
	ck_assert_uint_eq(boot_place_initrd(MiB(24), MiB(64), 0x1801), 0x3ffe000);
	/* Exact fit, aligned and with an unaligned top. */
	ck_assert_uint_eq(boot_place_initrd(MiB(1), MiB(2), MiB(1)), MiB(1));
	ck_assert_uint_eq(boot_place_initrd(MiB(1), MiB(2) + 0x800, MiB(1) + 0x800), MiB(1));
	ck_assert_uint_eq(boot_place_initrd(MiB(1), MiB(2) + 0x800, MiB(1)), MiB(1));
	/* One byte too many. */
	ck_assert_uint_eq(boot_place_initrd(MiB(1), MiB(2), MiB(1) + 1), 0);
	/* Fits in bytes, but no page boundary leaves room at or above lo. */
	ck_assert_uint_eq(boot_place_initrd(MiB(1) + 0x800, MiB(2) + 0x800, MiB(1)), 0);
	/* Empty and inverted ranges, and nothing to place. */
	ck_assert_uint_eq(boot_place_initrd(MiB(2), MiB(2), 1), 0);
	ck_assert_uint_eq(boot_place_initrd(MiB(3), MiB(2), 1), 0);
	ck_assert_uint_eq(boot_place_initrd(MiB(3), MiB(2), 0), 0);
	ck_assert_uint_eq(boot_place_initrd(MiB(1), MiB(2), 0), 0);
	/* Huge lengths must not wrap. */
	ck_assert_uint_eq(boot_place_initrd(MiB(1), MiB(2), UINT64_MAX), 0);
	ck_assert_uint_eq(boot_place_initrd(0x1000, UINT64_MAX, 0x1000), 0xffffffffffffe000ULL);
	/* Every answer is page aligned and inside [lo, hi). */
	for (uint64_t len = 1; len < 0x5000; len += 0x3ff) {
		uint64_t a = boot_place_initrd(MiB(1) + 0x123, MiB(1) + 0x6789, len);
		if (!a)
			continue;
		ck_assert_uint_eq(a & 0xfff, 0);
		ck_assert_uint_ge(a, MiB(1) + 0x123);
		ck_assert_uint_le(a + len, MiB(1) + 0x6789);
	}
}
END_TEST

/* ---- PVH ---- */

/* Xen's public/arch-x86/hvm/start_info.h, written out independently of the
 * loader's copy. */
struct test_hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct test_hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct test_hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};
_Static_assert(sizeof(struct test_hvm_start_info) == 56, "start_info v1 layout");
_Static_assert(sizeof(struct test_hvm_memmap_entry) == 24, "memmap entry layout");

static struct boot_config pvh_config(const uint8_t *img, size_t len)
{
	return (struct boot_config){
	    .kernel_name = "vmlinux", .kernel = img, .kernel_len = len, .cmdline = "", .ncpus = 1};
}

static void check_pvh_memmap(const struct guest_mem *m, const struct test_hvm_start_info *si)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(m, map);
	ck_assert_uint_eq(si->memmap_paddr, BOOT_PVH_MEMMAP_ADDR);
	ck_assert_uint_eq(si->memmap_entries, n);
	const struct test_hvm_memmap_entry *mm =
	    gp(m, si->memmap_paddr, n * sizeof(struct test_hvm_memmap_entry));
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(mm[i].addr, map[i].addr);
		ck_assert_uint_eq(mm[i].size, map[i].size);
		ck_assert_uint_eq(mm[i].type, map[i].type);
		ck_assert_uint_eq(mm[i].reserved, 0);
	}
}

START_TEST(test_pvh_load)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	const size_t len = 0x1801;
	uint8_t rd[0x1801];
	for (size_t i = 0; i < len; i++)
		rd[i] = (uint8_t)(i * 3);
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = pvh_config(img, sizeof(img));
	c.initrd = rd;
	c.initrd_len = len;
	c.cmdline = "console=hvc0";
	c.ncpus = 2;
	struct boot_entry b = load_ok(&m, &c);

	ck_assert_int_eq(b.kind, KERNEL_ELF);
	ck_assert_int_eq(b.mode, BOOT_ENTRY_PVH32);
	ck_assert_uint_eq(b.rip, PVH_ENTRY);
	ck_assert_uint_eq(b.arg, BOOT_ZERO_PAGE_ADDR);
	ck_assert_uint_eq(b.kernel_addr, SEG_PADDR);
	ck_assert_uint_eq(b.kernel_end, SEG_PADDR + SEG_MEMSZ);

	/* File bytes, then zeroed bss over the poison. */
	ck_assert_mem_eq(gp(&m, SEG_PADDR, SEG_FILESZ), img + SEG_OFF, SEG_FILESZ);
	ck_assert(all_bytes(gp(&m, SEG_PADDR + SEG_FILESZ, SEG_MEMSZ - SEG_FILESZ),
			    SEG_MEMSZ - SEG_FILESZ, 0));

	/* The initrd: page aligned, above the kernel, inside low RAM. */
	uint64_t a = b.initrd_addr;
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_eq(a & 0xfff, 0);
	ck_assert_uint_ge(a, b.kernel_end);
	ck_assert_uint_le(a + len, MiB(64));
	ck_assert_mem_eq(gp(&m, a, len), rd, len);

	const struct test_hvm_start_info *si =
	    gp(&m, BOOT_ZERO_PAGE_ADDR, sizeof(struct test_hvm_start_info));
	ck_assert_uint_eq(si->magic, 0x336ec578);
	ck_assert_uint_eq(si->version, 1);
	ck_assert_uint_eq(si->flags, 0);
	ck_assert_uint_eq(si->rsdp_paddr, 0);
	ck_assert_uint_eq(si->reserved, 0);
	ck_assert_uint_eq(si->cmdline_paddr, BOOT_CMDLINE_ADDR);
	ck_assert_str_eq(gp(&m, si->cmdline_paddr, 13), "console=hvc0");
	check_pvh_memmap(&m, si);
	ck_assert_uint_eq(si->memmap_entries, 4);

	ck_assert_uint_eq(si->nr_modules, 1);
	ck_assert_uint_ne(si->modlist_paddr, 0);
	const struct test_hvm_modlist_entry *mod =
	    gp(&m, si->modlist_paddr, sizeof(struct test_hvm_modlist_entry));
	ck_assert_uint_eq(mod->paddr, a);
	ck_assert_uint_eq(mod->size, len);
	ck_assert_uint_eq(mod->cmdline_paddr, 0);
	ck_assert_uint_eq(mod->reserved, 0);
	/* The module list must not overlap the memory map it follows. */
	ck_assert_uint_ge(si->modlist_paddr,
			  si->memmap_paddr +
			      si->memmap_entries * sizeof(struct test_hvm_memmap_entry));

	ck_assert_mem_eq(gp(&m, BOOT_EBDA_ADDR, 4), "_MP_", 4);
	mem_del(&m);
}
END_TEST

START_TEST(test_pvh_without_initrd)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct guest_mem m = mem_new(MiB(16));
	struct boot_config c = pvh_config(img, sizeof(img));
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.initrd_addr, 0);
	const struct test_hvm_start_info *si =
	    gp(&m, BOOT_ZERO_PAGE_ADDR, sizeof(struct test_hvm_start_info));
	ck_assert_uint_eq(si->magic, 0x336ec578);
	ck_assert_uint_eq(si->nr_modules, 0);
	ck_assert_uint_eq(si->modlist_paddr, 0);
	check_pvh_memmap(&m, si);
	mem_del(&m);
}
END_TEST

START_TEST(test_pvh_segment_outside_ram)
{
	static uint8_t img[ELF_LEN];
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = pvh_config(img, sizeof(img));

	make_elf(img, 4);
	phdr(img, 0)->p_paddr = MiB(256);
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--mem");
	ck_assert_msg_has(e, "0x10000000");
	ck_assert_msg_has(e, "outside");

	/* Straddling the end of RAM: the bss is what does not fit. */
	phdr(img, 0)->p_paddr = MiB(64) - SEG_FILESZ;
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "outside");

	/* Below 1 MiB, where minivmm's own boot data lives. */
	phdr(img, 0)->p_paddr = 0x8000;
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "0x8000");
	ck_assert_msg_has(e, "above 1 MiB");
	mem_del(&m);
}
END_TEST

/* A segment of no bytes still has an address, and one just past the end of
 * RAM is outside it like any other: refused in one line that names the
 * file. (It used to load: guest_ptr() gave a pointer one past the end.) */
START_TEST(test_pvh_empty_segment_past_ram)
{
	static uint8_t img[ELF_LEN];
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = pvh_config(img, sizeof(img));
	make_elf(img, 4);
	phdr(img, 0)->p_filesz = 0;
	phdr(img, 0)->p_memsz = 0;
	phdr(img, 0)->p_paddr = MiB(64);
	struct errbuf e = load_refused(&m, &c);
	ck_assert_str_eq(e.msg, "--kernel vmlinux: ELF segment at 0x4000000+0x0 is outside the 64 "
				"MiB of guest RAM above 1 MiB (try a larger --mem)");
	/* Inside RAM, an empty segment is no problem. */
	phdr(img, 0)->p_paddr = MiB(64) - 1;
	load_ok(&m, &c);
	mem_del(&m);
}
END_TEST

START_TEST(test_pvh_initrd_and_cmdline_limits)
{
	static uint8_t img[ELF_LEN];
	make_elf(img, 4);
	struct guest_mem m = mem_new(MiB(16));
	/* Pages from the kernel's end to the top of RAM. */
	const size_t room = MiB(16) - (SEG_PADDR + SEG_MEMSZ);
	uint8_t *rd = malloc(room + 1);
	memset(rd, 0x99, room + 1);
	struct boot_config c = pvh_config(img, sizeof(img));
	c.initrd = rd;
	c.initrd_len = room;
	struct boot_entry b = load_ok(&m, &c);
	ck_assert_uint_eq(b.initrd_addr, SEG_PADDR + SEG_MEMSZ);
	c.initrd_len = room + 1;
	struct errbuf e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--initrd");
	free(rd);

	c.initrd = NULL;
	c.initrd_len = 0;
	char *s = malloc(0x10001);
	memset(s, 'c', 0xffff);
	s[0xffff] = '\0';
	c.cmdline = s;
	load_ok(&m, &c);
	s[0xffff] = 'c';
	s[0x10000] = '\0';
	e = load_refused(&m, &c);
	ck_assert_msg_has(e, "--cmdline");
	free(s);
	mem_del(&m);
}
END_TEST

/* ---- boot_entry_regs ---- */

#define CR0_PE	 (1ULL << 0)
#define CR0_PG	 (1ULL << 31)
#define CR4_PAE	 (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

static void check_flat(const struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	ck_assert_uint_eq(s->base, 0);
	ck_assert_uint_eq(s->limit, 0xffffffff);
	ck_assert_uint_eq(s->selector, sel);
	ck_assert_uint_eq(s->type, type);
	ck_assert_uint_eq(s->present, 1);
	ck_assert_uint_eq(s->dpl, 0);
	ck_assert_uint_eq(s->s, 1);
	ck_assert_uint_eq(s->g, 1);
	ck_assert_uint_eq(s->unusable, 0);
}

static void check_common(const struct kvm_regs *r, const struct kvm_sregs *s, uint64_t rip)
{
	ck_assert_uint_eq(r->rip, rip);
	ck_assert_uint_eq(r->rflags, 2);
	ck_assert_uint_eq(r->rax, 0);
	ck_assert_uint_eq(r->rcx, 0);
	ck_assert_uint_eq(r->rdx, 0);
	ck_assert_uint_eq(r->rsp, 0);
	ck_assert_uint_eq(r->rdi, 0);
	const struct kvm_segment *data[] = {&s->ds, &s->es, &s->fs, &s->gs, &s->ss};
	for (size_t i = 0; i < 5; i++) {
		check_flat(data[i], 0x18, 3);
		ck_assert_uint_eq(data[i]->db, 1);
		ck_assert_uint_eq(data[i]->l, 0);
	}
	ck_assert_uint_eq(s->gdt.base, BOOT_GDT_ADDR);
	ck_assert_uint_eq(s->gdt.limit, BOOT_GDT_ENTRIES * 8 - 1);
	ck_assert_uint_eq(s->tr.selector, 0x20);
	ck_assert_uint_eq(s->tr.type, 11);
	ck_assert_uint_eq(s->tr.present, 1);
	ck_assert_uint_eq(s->tr.s, 0);
	/* What the mode does not define stays as KVM_GET_SREGS gave it. */
	ck_assert_uint_eq(s->apic_base, 0x5a5a5a5a5a5a5a5aULL);
	ck_assert_uint_eq(s->cr2, 0x5a5a5a5a5a5a5a5aULL);
	ck_assert_uint_eq(s->interrupt_bitmap[0], 0x5a5a5a5a5a5a5a5aULL);
}

/* boot_entry_regs over registers as KVM_GET_(S)REGS might leave them, and
 * what it must set alike in every mode. */
static void entry_regs(enum boot_entry_mode mode, uint64_t rip, uint64_t arg, struct kvm_regs *r,
		       struct kvm_sregs *s)
{
	struct boot_entry b = {.mode = mode, .rip = rip, .arg = arg};
	memset(r, 0x5a, sizeof(*r));
	memset(s, 0x5a, sizeof(*s));
	boot_entry_regs(&b, r, s);
	check_common(r, s, rip);
}

START_TEST(test_regs_linux64)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	entry_regs(BOOT_ENTRY_LINUX64, 0x100200, 0x7000, &r, &s);
	ck_assert_uint_eq(r.rsi, 0x7000);
	ck_assert_uint_eq(r.rbx, 0);
	check_flat(&s.cs, 0x10, 11);
	ck_assert_uint_eq(s.cs.l, 1);
	ck_assert_uint_eq(s.cs.db, 0);
	ck_assert_uint_eq(s.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
	ck_assert_uint_eq(s.cr4 & CR4_PAE, CR4_PAE);
	ck_assert_uint_eq(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
	ck_assert_uint_eq(s.cr3, BOOT_PML4_ADDR);
}
END_TEST

START_TEST(test_regs_pvh32)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	entry_regs(BOOT_ENTRY_PVH32, 0x100040, 0x7000, &r, &s);
	ck_assert_uint_eq(r.rbx, 0x7000);
	ck_assert_uint_eq(r.rsi, 0);
	check_flat(&s.cs, 0x08, 11);
	ck_assert_uint_eq(s.cs.l, 0);
	ck_assert_uint_eq(s.cs.db, 1);
	ck_assert_uint_eq(s.cr0 & CR0_PE, CR0_PE);
	ck_assert_uint_eq(s.cr0 & CR0_PG, 0);
	ck_assert_uint_eq(s.cr4, 0);
	ck_assert_uint_eq(s.efer, 0);
}
END_TEST

/* The hidden segment state KVM is given must be what the GDT says, or the
 * first segment load in the guest changes the CPU's mode under it. */
static void check_against_gdt(const uint64_t *gdt, const struct kvm_segment *s)
{
	ck_assert_uint_lt(s->selector / 8, BOOT_GDT_ENTRIES);
	uint64_t d = gdt[s->selector / 8];
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	uint32_t g = (d >> 55) & 1;
	if (g)
		limit = (limit << 12) | 0xfff;
	uint64_t base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
	ck_assert_uint_eq(s->base, base);
	ck_assert_uint_eq(s->limit, limit);
	ck_assert_uint_eq(s->type, (d >> 40) & 0xf);
	ck_assert_uint_eq(s->s, (d >> 44) & 1);
	ck_assert_uint_eq(s->dpl, (d >> 45) & 3);
	ck_assert_uint_eq(s->present, (d >> 47) & 1);
	ck_assert_uint_eq(s->l, (d >> 53) & 1);
	ck_assert_uint_eq(s->db, (d >> 54) & 1);
	ck_assert_uint_eq(s->g, g);
}

START_TEST(test_regs_match_gdt)
{
	struct guest_mem m = mem_new(MiB(2));
	struct errbuf e;
	ck_assert_int_eq(boot_write_pagetables_and_gdt(&m, &e), 0);
	const uint64_t *gdt = gp(&m, BOOT_GDT_ADDR, BOOT_GDT_ENTRIES * 8);
	for (int mode = BOOT_ENTRY_LINUX64; mode <= BOOT_ENTRY_PVH32; mode++) {
		struct boot_entry b = {.mode = (enum boot_entry_mode)mode};
		struct kvm_regs r;
		struct kvm_sregs s;
		memset(&s, 0, sizeof(s));
		boot_entry_regs(&b, &r, &s);
		check_against_gdt(gdt, &s.cs);
		check_against_gdt(gdt, &s.ds);
		check_against_gdt(gdt, &s.ss);
		check_against_gdt(gdt, &s.tr);
	}
	mem_del(&m);
}
END_TEST

CHECK_MAIN_TIMEOUT("loader", 30, test_bz_load_basic, test_bz_without_pref_address, test_bz_initrd,
		   test_bz_initrd_below_initrd_addr_max, test_bz_initrd_big_guest,
		   test_bz_initrd_exact_fit_and_too_large, test_bz_mem_too_small,
		   test_bz_mem_error_names_minimum, test_bz_pref_address_wrap_rejected,
		   test_bz_pref_address_wrap_big_kernel, test_bz_pref_address_beyond_ram,
		   test_bz_cmdline_limits, test_bad_kernels, test_cpu_count_checked,
		   test_real_payload_in_minimum_memory, test_place_initrd, test_pvh_load,
		   test_pvh_without_initrd, test_pvh_segment_outside_ram,
		   test_pvh_empty_segment_past_ram, test_pvh_initrd_and_cmdline_limits,
		   test_regs_linux64, test_regs_pvh32, test_regs_match_gdt)
