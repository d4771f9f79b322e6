#include "devices/legacy_ports.h"

#include <string.h>

static const struct {
	uint16_t base;
	uint16_t len;
	const char *name;
} quiet_ports[] = {
    /* Linux's io_delay writes the POST-code port after slow I/O. */
    {0x80, 1, "post code (0x80)"},
    /* The ISA DMA page register Linux reads while probing legacy devices. */
    {0x87, 1, "dma page (absent)"},
    /* The other three PC serial ports. Linux's 8250 driver probes all four
     * at boot (serial8250_isa_init_ports: 8250_core.nr_uarts); its
     * autoconfig() sees no UART when the interrupt enable register reads
     * back all-ones (8250 datasheet: bits 4-7 always read 0). */
    {0x2f8, 8, "COM2 (absent)"},
    {0x3e8, 8, "COM3 (absent)"},
    {0x2e8, 8, "COM4 (absent)"},
};

static void quiet_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, len);
}

int legacy_ports_register(struct bus *pio, struct errbuf *e)
{
	for (size_t i = 0; i < sizeof(quiet_ports) / sizeof(quiet_ports[0]); i++)
		if (bus_register(pio, quiet_ports[i].base, quiet_ports[i].len, quiet_ports[i].name,
				 quiet_io, NULL, e))
			return -1;
	return 0;
}
