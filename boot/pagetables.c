#include "boot/pagetables.h"

#include <string.h>

#include "boot/layout.h"

#define PTE_PRESENT  (1ULL << 0)
#define PTE_WRITABLE (1ULL << 1)
#define PTE_HUGE     (1ULL << 7) /* PS: a 2 MiB page in a PD entry */

/* Flat 4 GiB descriptors, base 0, limit 0xfffff in 4 KiB units. The x86 boot
 * protocol wants __BOOT_CS (0x10) execute/read and __BOOT_DS (0x18) read/write;
 * the PVH ABI wants a 32-bit flat code segment (0x08 here). */
static const uint64_t gdt[BOOT_GDT_ENTRIES] = {
    0,			   /* null */
    0x00cf9b000000ffffULL, /* 0x08: code, 32-bit (D=1), DPL0, accessed */
    0x00af9b000000ffffULL, /* 0x10: code, 64-bit (L=1), DPL0, accessed */
    0x00cf93000000ffffULL, /* 0x18: data, read/write, accessed */
    0x00008b0000000067ULL, /* 0x20: 32-bit busy TSS, base 0, limit 0x67 */
};

int boot_write_pagetables_and_gdt(struct guest_mem *m, struct errbuf *e)
{
	uint64_t *pml4 = guest_ptr(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_ptr(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_ptr(m, BOOT_PD_ADDR, 4 * 4096);
	void *g = guest_ptr(m, BOOT_GDT_ADDR, sizeof(gdt));
	if (!pml4 || !pdpt || !pd || !g)
		return errorf(e, "guest memory too small for boot page tables");

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITABLE;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | PTE_PRESENT | PTE_WRITABLE;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE;

	memcpy(g, gdt, sizeof(gdt));
	return 0;
}
