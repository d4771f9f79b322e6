#include "boot/e820.h"

#include "boot/layout.h"

size_t e820_build(const struct guest_mem *m, struct e820_entry *out)
{
	size_t n = 0;
	out[n++] = (struct e820_entry){0, BOOT_EBDA_ADDR, E820_TYPE_RAM};
	/* The MP floating pointer sits in the EBDA, its configuration table in
	 * the BIOS area below; Linux must not reuse either as RAM before it has
	 * parsed them (MP spec 1.4 §4). */
	out[n++] = (struct e820_entry){BOOT_EBDA_ADDR, BOOT_LOW_RAM_END - BOOT_EBDA_ADDR,
				       E820_TYPE_RESERVED};
	out[n++] = (struct e820_entry){BOOT_BIOS_ROM_ADDR, BOOT_HIGH_MEM_START - BOOT_BIOS_ROM_ADDR,
				       E820_TYPE_RESERVED};
	if (m->low_size > BOOT_HIGH_MEM_START)
		out[n++] = (struct e820_entry){BOOT_HIGH_MEM_START,
					       m->low_size - BOOT_HIGH_MEM_START, E820_TYPE_RAM};
	if (guest_mem_high_size(m))
		out[n++] = (struct e820_entry){GUEST_HIGH_RAM_START, guest_mem_high_size(m),
					       E820_TYPE_RAM};
	return n;
}
