#include "boot/loader.h"

#include <asm/bootparam.h>
#include <stdio.h>
#include <string.h>

#include "boot/e820.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "boot/pagetables.h"

#define PAGE_SIZE 4096ULL
#define MiB(x)	  ((unsigned long long)(x) >> 20)

/* The 64-bit entry point sits 0x200 bytes into the protected-mode kernel
 * (x86 boot protocol, "64-bit Boot Protocol"). */
#define BZIMAGE_ENTRY64_OFFSET 0x200
#define LOADER_TYPE_UNDEFINED  0xff

uint64_t boot_place_initrd(uint64_t lo, uint64_t hi, uint64_t len)
{
	if (len == 0 || hi < lo || len > hi - lo)
		return 0;
	uint64_t addr = (hi - len) & ~(PAGE_SIZE - 1);
	return addr >= lo ? addr : 0;
}

static int write_cmdline(struct guest_mem *m, const char *cmdline, size_t max_len, struct errbuf *e)
{
	size_t n = strlen(cmdline);
	if (n > max_len)
		return errorf(e, "--cmdline: %zu bytes, the kernel accepts at most %zu", n,
			      max_len);
	char *dst = guest_ptr(m, BOOT_CMDLINE_ADDR, n + 1);
	if (!dst)
		return errorf(e, "guest memory too small for the command line");
	memcpy(dst, cmdline, n + 1);
	return 0;
}

static int load_initrd(struct guest_mem *m, const struct boot_config *c, uint64_t lo, uint64_t hi,
		       struct boot_entry *out, struct errbuf *e)
{
	if (!c->initrd)
		return 0;
	if (hi > m->low_size)
		hi = m->low_size;
	uint64_t addr = boot_place_initrd(lo, hi, c->initrd_len);
	if (!addr)
		return errorf(e,
			      "--initrd: %llu MiB does not fit in guest RAM below %llu MiB above "
			      "the kernel (try a larger --mem)",
			      MiB(c->initrd_len + (1 << 20) - 1), MiB(hi));
	memcpy(guest_ptr(m, addr, c->initrd_len), c->initrd, c->initrd_len);
	out->initrd_addr = addr;
	return 0;
}

static int load_bzimage(struct guest_mem *m, const struct boot_config *c, struct boot_entry *out,
			struct errbuf *e)
{
	struct bzimage_info bz;
	if (bzimage_parse(c->kernel, c->kernel_len, &bz, e))
		return -1;

	/* A relocatable kernel loaded at 1 MiB decompresses itself to its
	 * preferred address (LOAD_PHYSICAL_ADDR, 16 MiB by default) and needs
	 * init_size bytes from there. */
	uint64_t pref = 0;
	if (bz.version >= 0x020a)
		memcpy(&pref, c->kernel + 0x1f1 + offsetof(struct setup_header, pref_address), 8);
	/* pref_address comes from the file: bound it before adding to it. */
	if (pref >= GUEST_PCI_HOLE_START)
		return errorf(e, "--kernel %s: bzImage pref_address 0x%llx is corrupt",
			      c->kernel_name, (unsigned long long)pref);
	uint64_t base = pref > BOOT_HIGH_MEM_START ? pref : BOOT_HIGH_MEM_START;
	uint64_t need = base + bz.init_size;
	void *dst = guest_ptr(m, BOOT_HIGH_MEM_START, bz.kernel_size);
	if (need > m->low_size || !dst)
		return errorf(e,
			      "--mem: %llu MiB is too small, this kernel needs at least %llu MiB",
			      MiB(m->size), MiB(need + (1 << 20) - 1));

	memcpy(dst, bz.kernel, bz.kernel_size);
	out->kernel_addr = BOOT_HIGH_MEM_START;
	out->kernel_end = need;

	/* initrd_addr_max is the highest address the initrd may occupy. */
	if (load_initrd(m, c, need, (uint64_t)bz.initrd_addr_max + 1, out, e))
		return -1;

	size_t max_cmdline = bz.cmdline_size ? bz.cmdline_size : 255;
	if (max_cmdline > BOOT_CMDLINE_MAX - 1)
		max_cmdline = BOOT_CMDLINE_MAX - 1;
	if (write_cmdline(m, c->cmdline, max_cmdline, e))
		return -1;

	struct boot_params *bp = guest_ptr(m, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	if (!bp)
		return errorf(e, "guest memory too small for the zero page");
	memset(bp, 0, sizeof(*bp));
	/* The loader copies the setup header from the image and then fills in
	 * its own fields (boot protocol, "Details of header fields"). */
	size_t hdr_end = bz.header_end;
	if (hdr_end > offsetof(struct boot_params, _pad7) + sizeof(bp->_pad7))
		hdr_end = offsetof(struct boot_params, _pad7) + sizeof(bp->_pad7);
	memcpy(&bp->hdr, c->kernel + 0x1f1, hdr_end - 0x1f1);

	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.code32_start = BOOT_HIGH_MEM_START;
	bp->hdr.cmd_line_ptr = BOOT_CMDLINE_ADDR;
	bp->hdr.cmdline_size = (uint32_t)max_cmdline;
	if (out->initrd_addr) {
		bp->hdr.ramdisk_image = (uint32_t)out->initrd_addr;
		bp->hdr.ramdisk_size = (uint32_t)c->initrd_len;
		bp->ext_ramdisk_image = (uint32_t)(out->initrd_addr >> 32);
		bp->ext_ramdisk_size = (uint32_t)((uint64_t)c->initrd_len >> 32);
	}

	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(m, map);
	for (size_t i = 0; i < n; i++)
		bp->e820_table[i] = (struct boot_e820_entry){map[i].addr, map[i].size, map[i].type};
	bp->e820_entries = (uint8_t)n;

	out->mode = BOOT_ENTRY_LINUX64;
	out->rip = BOOT_HIGH_MEM_START + BZIMAGE_ENTRY64_OFFSET;
	out->arg = BOOT_ZERO_PAGE_ADDR;
	return 0;
}

/* Xen's public start_info.h, version 1: the PVH boot ABI that Linux also
 * accepts on KVM (arch/x86/platform/pvh/enlighten.c). */
#define HVM_START_MAGIC 0x336ec578
struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};
struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

static int load_elf_pvh(struct guest_mem *m, const struct boot_config *c, struct boot_entry *out,
			struct errbuf *e)
{
	struct elf_pvh_info elf;
	if (elf_pvh_parse(c->kernel, c->kernel_len, &elf, e))
		return -1;
	uint64_t lowest = UINT64_MAX;
	for (size_t i = 0; i < elf.nsegs; i++) {
		const struct elf_segment *s = &elf.segs[i];
		/* An empty segment too: guest_ptr() vouches for its address. */
		uint8_t *dst = guest_ptr(m, s->paddr, s->memsz);
		if (!dst || s->paddr < BOOT_HIGH_MEM_START)
			return errorf(
			    e,
			    "--kernel %s: ELF segment at 0x%llx+0x%llx is outside the %llu "
			    "MiB of guest RAM above 1 MiB%s",
			    c->kernel_name, (unsigned long long)s->paddr,
			    (unsigned long long)s->memsz, MiB(m->size),
			    s->paddr < BOOT_HIGH_MEM_START ? "" : " (try a larger --mem)");
		memcpy(dst, s->data, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		if (s->paddr < lowest)
			lowest = s->paddr;
	}
	out->kernel_addr = lowest;
	out->kernel_end = elf.end;

	if (load_initrd(m, c, (elf.end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1), m->low_size, out, e))
		return -1;
	if (write_cmdline(m, c->cmdline, BOOT_CMDLINE_MAX - 1, e))
		return -1;

	struct hvm_start_info *si = guest_ptr(m, BOOT_ZERO_PAGE_ADDR, sizeof(*si));
	struct hvm_memmap_table_entry *mm =
	    guest_ptr(m, BOOT_PVH_MEMMAP_ADDR, E820_MAX_ENTRIES * sizeof(*mm));
	uint64_t modlist_addr = BOOT_PVH_MEMMAP_ADDR + E820_MAX_ENTRIES * sizeof(*mm);
	struct hvm_modlist_entry *mod = guest_ptr(m, modlist_addr, sizeof(*mod));
	if (!si || !mm || !mod)
		return errorf(e, "guest memory too small for the PVH start info");
	memset(si, 0, sizeof(*si));

	struct e820_entry map[E820_MAX_ENTRIES];
	size_t n = e820_build(m, map);
	for (size_t i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){map[i].addr, map[i].size, map[i].type, 0};

	si->magic = HVM_START_MAGIC;
	si->version = 1;
	si->cmdline_paddr = BOOT_CMDLINE_ADDR;
	si->memmap_paddr = BOOT_PVH_MEMMAP_ADDR;
	si->memmap_entries = (uint32_t)n;
	if (out->initrd_addr) {
		*mod = (struct hvm_modlist_entry){out->initrd_addr, c->initrd_len, 0, 0};
		si->nr_modules = 1;
		si->modlist_paddr = modlist_addr;
	}

	out->mode = BOOT_ENTRY_PVH32;
	out->rip = elf.pvh_entry;
	out->arg = BOOT_ZERO_PAGE_ADDR;
	return 0;
}

/* Parser errors get the option and file in front, so the one-line message
 * names the thing and the reason. */
static int name_error(const struct boot_config *c, struct errbuf *e)
{
	if (e) {
		char reason[sizeof(e->msg)];
		snprintf(reason, sizeof(reason), "%s", e->msg);
		errorf(e, "--kernel %s: %s", c->kernel_name, reason);
	}
	return -1;
}

int boot_check_kernel(const struct boot_config *c, struct errbuf *e)
{
	const char *what;
	struct bzimage_info bz;
	struct elf_pvh_info elf;
	switch (kernel_image_kind(c->kernel, c->kernel_len, &what)) {
	case KERNEL_BZIMAGE:
		return bzimage_parse(c->kernel, c->kernel_len, &bz, e) ? name_error(c, e) : 0;
	case KERNEL_ELF:
		return elf_pvh_parse(c->kernel, c->kernel_len, &elf, e) ? name_error(c, e) : 0;
	default:
		return errorf(e, "--kernel %s: not a bzImage or ELF vmlinux (found %s)",
			      c->kernel_name, what);
	}
}

int boot_load(struct guest_mem *m, const struct boot_config *c, struct boot_entry *out,
	      struct errbuf *e)
{
	memset(out, 0, sizeof(*out));
	if (boot_check_kernel(c, e))
		return -1;
	const char *what;
	out->kind = kernel_image_kind(c->kernel, c->kernel_len, &what);
	int r =
	    out->kind == KERNEL_BZIMAGE ? load_bzimage(m, c, out, e) : load_elf_pvh(m, c, out, e);
	if (r || boot_write_pagetables_and_gdt(m, e) || mptable_write(m, c->ncpus, e))
		return -1;
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int l, int db)
{
	*s = (struct kvm_segment){.base = 0,
				  .limit = 0xffffffff,
				  .selector = selector,
				  .type = type,
				  .present = 1,
				  .dpl = 0,
				  .db = (uint8_t)db,
				  .s = 1,
				  .l = (uint8_t)l,
				  .g = 1};
}

#define CR0_PE	 (1ULL << 0)
#define CR0_ET	 (1ULL << 4)
#define CR0_PG	 (1ULL << 31)
#define CR4_PAE	 (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

void boot_entry_regs(const struct boot_entry *b, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 2; /* bit 1 is reserved-set; IF clear as both ABIs demand */
	regs->rip = b->rip;

	struct kvm_segment data;
	flat_segment(&data, BOOT_SEL_DATA, 3 /* read/write, accessed */, 0, 1);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	sregs->tr = (struct kvm_segment){.base = 0,
					 .limit = 0x67,
					 .selector = BOOT_SEL_TSS,
					 .type = 11, /* busy 32-bit TSS */
					 .present = 1};

	if (b->mode == BOOT_ENTRY_LINUX64) {
		/* x86 boot protocol, 64-bit: long mode, paging on with the
		 * kernel, zero page and command line identity mapped. */
		flat_segment(&sregs->cs, BOOT_SEL_CODE64, 11 /* exec/read, accessed */, 1, 0);
		sregs->cr0 = CR0_PE | CR0_ET | CR0_PG;
		sregs->cr3 = BOOT_PML4_ADDR;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
		regs->rsi = b->arg;
	} else {
		/* PVH ABI: 32-bit protected mode, paging off, CR4 zero, EBX =
		 * start info. */
		flat_segment(&sregs->cs, BOOT_SEL_CODE32, 11, 0, 1);
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
		regs->rbx = b->arg;
	}
}
