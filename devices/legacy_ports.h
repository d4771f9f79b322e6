/*
 * Ports a PC guest touches where minivmm has no device, and which are not
 * worth a report: reads return all-ones (an empty ISA bus), writes vanish.
 */
#ifndef MINIVMM_LEGACY_PORTS_H
#define MINIVMM_LEGACY_PORTS_H

#include "vmm/base/bus.h"

int legacy_ports_register(struct bus *pio, struct errbuf *e);

#endif
