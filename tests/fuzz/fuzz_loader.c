/*
 * The kernel loader (boot/loader.c, boot/kernel_image.c and what they call:
 * e820, page tables, MP table): boot_check_kernel() and boot_load() on the
 * input as a bzImage or ELF vmlinux, with an initrd and a command line from
 * the input too, into 64 MiB of guest RAM.
 *
 * Checked: boot_load() accepts exactly what boot_check_kernel() accepts;
 * on success the kernel, the initrd and the command line lie in guest RAM,
 * the initrd lies above the kernel and below 4 GiB, and the entry state
 * names the right mode; a refusal comes with a message.
 *
 * Input: flags (1: bit 0 an initrd, bits 1-5 the CPU count), command line
 * length (2) and bytes, initrd length (3) and bytes, then the kernel image
 * (the rest).
 */
#include "boot/layout.h"
#include "boot/loader.h"
#include "fuzz_input.h"

#define RAM (64u << 20)

static uint8_t *ram;
static struct guest_mem mem;
static char cmdline[BOOT_CMDLINE_MAX + 1];
static uint8_t initrd[1 << 16];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ram) {
		/* Not cleared between runs: the loader writes everything it
		 * hands the guest, and reads nothing back. */
		ram = malloc(RAM);
		guest_mem_layout(&mem, RAM);
		mem.host = ram;
	}
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t flags = fuzz_u8(&in);
	size_t cmdline_len = fuzz_take(&in, cmdline, fuzz_u16(&in) % (BOOT_CMDLINE_MAX + 1));
	cmdline[cmdline_len] = '\0';
	size_t initrd_len = fuzz_bytes(&in, 3) % (sizeof(initrd) + 1);
	initrd_len = fuzz_take(&in, initrd, initrd_len);

	/* The kernel in its own allocation, so reading past it is caught. */
	uint8_t *kernel = malloc(in.left ? in.left : 1);
	size_t kernel_len = fuzz_take(&in, kernel, in.left);
	struct boot_config c = {
	    .kernel_name = "fuzz",
	    .kernel = kernel,
	    .kernel_len = kernel_len,
	    .initrd = flags & 1 ? initrd : NULL,
	    .initrd_len = initrd_len,
	    .cmdline = cmdline,
	    .ncpus = 1 + ((flags >> 1) & 31),
	};

	struct errbuf e = {0};
	int checked = boot_check_kernel(&c, &e);
	FUZZ_CHECK(checked == 0 || e.msg[0]);
	struct boot_entry b;
	e.msg[0] = '\0';
	int loaded = boot_load(&mem, &c, &b, &e);
	if (checked)
		FUZZ_CHECK(loaded != 0);
	if (loaded) {
		FUZZ_CHECK(e.msg[0]);
		free(kernel);
		return 0;
	}

	FUZZ_CHECK(b.kind == KERNEL_BZIMAGE || b.kind == KERNEL_ELF);
	FUZZ_CHECK(b.mode == (b.kind == KERNEL_BZIMAGE ? BOOT_ENTRY_LINUX64 : BOOT_ENTRY_PVH32));
	FUZZ_CHECK(b.kernel_addr >= BOOT_HIGH_MEM_START && b.kernel_addr <= b.kernel_end);
	FUZZ_CHECK(b.kernel_end <= mem.low_size);
	if (c.initrd) {
		FUZZ_CHECK(b.initrd_addr != 0);
		FUZZ_CHECK(b.initrd_addr >= b.kernel_end);
		FUZZ_CHECK(b.initrd_addr + c.initrd_len <= mem.low_size);
		FUZZ_CHECK(memcmp(ram + b.initrd_addr, initrd, c.initrd_len) == 0);
	} else {
		FUZZ_CHECK(b.initrd_addr == 0);
	}
	FUZZ_CHECK(strcmp((char *)ram + BOOT_CMDLINE_ADDR, cmdline) == 0);

	struct kvm_regs regs;
	struct kvm_sregs sregs = {0};
	boot_entry_regs(&b, &regs, &sregs);
	FUZZ_CHECK(regs.rip == b.rip);
	free(kernel);
	return 0;
}
