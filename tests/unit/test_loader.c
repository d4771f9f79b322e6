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

#include "boot/e820.h"
#include "boot/layout.h"
#include "boot/loader.h"
#include "boot/pagetables.h"
#include "vmm/guest_mem.h"

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

#define ck_assert_msg_has(e, needle)                                                               \
	ck_assert_msg(strstr((e).msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", (e).msg,   \
		      (needle))

/* ---- a synthetic bzImage ---- */

#define SETUP_OFF      0x1f1
#define SETUP_BYTES    1024 /* setup_sects = 1 */
#define BZ_KERNEL_LEN  0x1000
#define BZ_LEN	       (SETUP_BYTES + BZ_KERNEL_LEN)
#define BZ_PREF	       MiB(16) /* LOAD_PHYSICAL_ADDR's default */
#define BZ_INIT_SIZE   MiB(8)
#define BZ_KERNEL_NEED (BZ_PREF + BZ_INIT_SIZE)

static struct setup_header *hdr(uint8_t *img)
{
	return (struct setup_header *)(img + SETUP_OFF);
}

static void make_bzimage(uint8_t *img)
{
	memset(img, 0, BZ_LEN);
	struct setup_header *h = hdr(img);
	h->setup_sects = 1;
	h->syssize = BZ_KERNEL_LEN / 16;
	h->boot_flag = 0xAA55;
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* header ends at 0x268 */
	memcpy(&h->header, "HdrS", 4);
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64;
	h->cmdline_size = 255;
	h->pref_address = BZ_PREF;
	h->init_size = (uint32_t)BZ_INIT_SIZE;
	/* Past the header's end: setup code, not a field the loader may copy. */
	h->kernel_info_offset = 0x12345678;
	for (size_t i = 0; i < BZ_KERNEL_LEN; i++)
		img[SETUP_BYTES + i] = (uint8_t)(i * 13 + 1);
}

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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);

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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);

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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
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
	struct boot_entry b;
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(b.initrd_addr, BZ_KERNEL_NEED);

	c.initrd_len = room + 1;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};

	struct guest_mem fits = mem_new(BZ_KERNEL_NEED);
	ck_assert_msg(boot_load(&fits, &c, &b, &e) == 0, "%s", e.msg);
	mem_del(&fits);

	struct guest_mem small = mem_new(BZ_KERNEL_NEED - 0x1000);
	ck_assert_int_eq(boot_load(&small, &c, &b, &e), -1);
	ck_assert_msg_has(e, "at least 24 MiB");
	mem_del(&small);

	/* One byte more than a whole MiB rounds up to the next. */
	hdr(img)->init_size = (uint32_t)BZ_INIT_SIZE + 1;
	small = mem_new(MiB(16));
	ck_assert_int_eq(boot_load(&small, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};
	char *s = malloc(0x10002);

	/* cmdline_size counts bytes without the NUL: 255 fit, 256 do not. */
	memset(s, 'a', 255);
	s[255] = '\0';
	c.cmdline = s;
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(gp(&m, BOOT_CMDLINE_ADDR, 256), s);
	ck_assert_uint_eq(zero_page(&m)->hdr.cmdline_size, 255);
	memset(s, 'a', 256);
	s[256] = '\0';
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "--cmdline");
	ck_assert_msg_has(e, "256");
	ck_assert_msg_has(e, "255");

	/* cmdline_size 0 (never set) means the old 255 limit. */
	hdr(img)->cmdline_size = 0;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "255");

	/* A large cmdline_size is capped at the room minivmm reserves. */
	hdr(img)->cmdline_size = 0x100000;
	memset(s, 'b', 0xffff);
	s[0xffff] = '\0';
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(zero_page(&m)->hdr.cmdline_size, 0xffff);
	ck_assert_uint_eq(strlen(gp(&m, BOOT_CMDLINE_ADDR, 0x10000)), 0xffff);
	s[0xffff] = 'b';
	s[0x10000] = '\0';
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "--cmdline");

	c.cmdline = "";
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(gp(&m, BOOT_CMDLINE_ADDR, 1), "");
	free(s);
	mem_del(&m);
}
END_TEST

START_TEST(test_bad_kernels)
{
	struct guest_mem m = mem_new(MiB(32));
	struct boot_entry b;
	struct errbuf e = {""};
	static const uint8_t gz[16] = {0x1f, 0x8b, 8};
	struct boot_config c = bz_config(gz, sizeof(gz));
	c.kernel_name = "vmlinux.gz";
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "--kernel vmlinux.gz");
	ck_assert_msg_has(e, "not a bzImage or ELF");
	ck_assert_msg_has(e, "gzip");

	c.kernel_len = 0;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "empty");

	/* Parse errors come through unchanged. */
	static uint8_t img[BZ_LEN];
	make_bzimage(img);
	hdr(img)->loadflags = 0;
	c = bz_config(img, sizeof(img));
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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
	struct boot_entry b;
	struct errbuf e = {""};
	c.ncpus = 32;
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	c.ncpus = 33;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "MP table");
	c.ncpus = 0;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	mem_del(&m);
}
END_TEST

/* ---- the real hello payload ---- */

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
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(b.rip, 0x100200);
	ck_assert_mem_eq(gp(&m, 0x100000, len - 1024), img + 1024, len - 1024);
	mem_del(&m);
	free(img);

	img = read_payload("pvh.elf", &len);
	ck_assert_ptr_nonnull(img);
	m = mem_new(MiB(2));
	c = bz_config(img, len);
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
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

#define PVH_ENTRY  0x100040U
#define SEG_PADDR  0x100000U
#define SEG_FILESZ 0x1000U
#define SEG_MEMSZ  0x3000U
#define PH_OFF	   sizeof(Elf64_Ehdr)
#define NOTE_OFF   0x100U
#define SEG_OFF	   0x200U
#define ELF_LEN	   (SEG_OFF + SEG_FILESZ)

static void make_elf(uint8_t *img)
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

	Elf64_Nhdr nh = {4, 4, 18};
	uint32_t entry = PVH_ENTRY;
	memcpy(img + NOTE_OFF, &nh, sizeof(nh));
	memcpy(img + NOTE_OFF + sizeof(nh), "Xen", 4);
	memcpy(img + NOTE_OFF + sizeof(nh) + 4, &entry, 4);

	Elf64_Phdr ph[2] = {
	    {.p_type = PT_LOAD,
	     .p_offset = SEG_OFF,
	     .p_paddr = SEG_PADDR,
	     .p_filesz = SEG_FILESZ,
	     .p_memsz = SEG_MEMSZ},
	    {.p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = 20, .p_memsz = 20},
	};
	memcpy(img + PH_OFF, ph, sizeof(ph));
	for (size_t i = 0; i < SEG_FILESZ; i++)
		img[SEG_OFF + i] = (uint8_t)(i ^ 0x5c);
}

static Elf64_Phdr *phdr(uint8_t *img, unsigned i)
{
	return (Elf64_Phdr *)(img + PH_OFF) + i;
}

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
	make_elf(img);
	const size_t len = 0x1801;
	uint8_t rd[0x1801];
	for (size_t i = 0; i < len; i++)
		rd[i] = (uint8_t)(i * 3);
	struct guest_mem m = mem_new(MiB(64));
	struct boot_config c = {.kernel_name = "vmlinux",
				.kernel = img,
				.kernel_len = sizeof(img),
				.initrd = rd,
				.initrd_len = len,
				.cmdline = "console=hvc0",
				.ncpus = 2};
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);

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
	make_elf(img);
	struct guest_mem m = mem_new(MiB(16));
	struct boot_config c = {.kernel_name = "vmlinux",
				.kernel = img,
				.kernel_len = sizeof(img),
				.cmdline = "",
				.ncpus = 1};
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
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
	struct boot_config c = {.kernel_name = "vmlinux",
				.kernel = img,
				.kernel_len = sizeof(img),
				.cmdline = "",
				.ncpus = 1};
	struct boot_entry b;
	struct errbuf e = {""};

	make_elf(img);
	phdr(img, 0)->p_paddr = MiB(256);
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "--mem");
	ck_assert_msg_has(e, "0x10000000");
	ck_assert_msg_has(e, "outside");

	/* Straddling the end of RAM: the bss is what does not fit. */
	phdr(img, 0)->p_paddr = MiB(64) - SEG_FILESZ;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "outside");

	/* Below 1 MiB, where minivmm's own boot data lives. */
	phdr(img, 0)->p_paddr = 0x8000;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "0x8000");
	ck_assert_msg_has(e, "above 1 MiB");
	mem_del(&m);
}
END_TEST

START_TEST(test_pvh_initrd_and_cmdline_limits)
{
	static uint8_t img[ELF_LEN];
	make_elf(img);
	struct guest_mem m = mem_new(MiB(16));
	/* Pages from the kernel's end to the top of RAM. */
	const size_t room = MiB(16) - (SEG_PADDR + SEG_MEMSZ);
	uint8_t *rd = malloc(room + 1);
	memset(rd, 0x99, room + 1);
	struct boot_config c = {.kernel_name = "vmlinux",
				.kernel = img,
				.kernel_len = sizeof(img),
				.initrd = rd,
				.initrd_len = room,
				.cmdline = "",
				.ncpus = 1};
	struct boot_entry b;
	struct errbuf e = {""};
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(b.initrd_addr, SEG_PADDR + SEG_MEMSZ);
	c.initrd_len = room + 1;
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
	ck_assert_msg_has(e, "--initrd");
	free(rd);

	c.initrd = NULL;
	c.initrd_len = 0;
	char *s = malloc(0x10001);
	memset(s, 'c', 0xffff);
	s[0xffff] = '\0';
	c.cmdline = s;
	ck_assert_msg(boot_load(&m, &c, &b, &e) == 0, "%s", e.msg);
	s[0xffff] = 'c';
	s[0x10000] = '\0';
	ck_assert_int_eq(boot_load(&m, &c, &b, &e), -1);
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

START_TEST(test_regs_linux64)
{
	struct boot_entry b = {.mode = BOOT_ENTRY_LINUX64, .rip = 0x100200, .arg = 0x7000};
	struct kvm_regs r;
	struct kvm_sregs s;
	memset(&r, 0x5a, sizeof(r));
	memset(&s, 0x5a, sizeof(s));
	boot_entry_regs(&b, &r, &s);
	check_common(&r, &s, 0x100200);
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
	struct boot_entry b = {.mode = BOOT_ENTRY_PVH32, .rip = 0x100040, .arg = 0x7000};
	struct kvm_regs r;
	struct kvm_sregs s;
	memset(&r, 0x5a, sizeof(r));
	memset(&s, 0x5a, sizeof(s));
	boot_entry_regs(&b, &r, &s);
	check_common(&r, &s, 0x100040);
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

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bz_load_basic);
	tcase_add_test(tc, test_bz_without_pref_address);
	tcase_add_test(tc, test_bz_initrd);
	tcase_add_test(tc, test_bz_initrd_below_initrd_addr_max);
	tcase_add_test(tc, test_bz_initrd_big_guest);
	tcase_add_test(tc, test_bz_initrd_exact_fit_and_too_large);
	tcase_add_test(tc, test_bz_mem_too_small);
	tcase_add_test(tc, test_bz_mem_error_names_minimum);
	tcase_add_test(tc, test_bz_pref_address_wrap_rejected);
	tcase_add_test(tc, test_bz_pref_address_wrap_big_kernel);
	tcase_add_test(tc, test_bz_pref_address_beyond_ram);
	tcase_add_test(tc, test_bz_cmdline_limits);
	tcase_add_test(tc, test_bad_kernels);
	tcase_add_test(tc, test_cpu_count_checked);
	tcase_add_test(tc, test_real_payload_in_minimum_memory);
	tcase_add_test(tc, test_place_initrd);
	tcase_add_test(tc, test_pvh_load);
	tcase_add_test(tc, test_pvh_without_initrd);
	tcase_add_test(tc, test_pvh_segment_outside_ram);
	tcase_add_test(tc, test_pvh_initrd_and_cmdline_limits);
	tcase_add_test(tc, test_regs_linux64);
	tcase_add_test(tc, test_regs_pvh32);
	tcase_add_test(tc, test_regs_match_gdt);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
