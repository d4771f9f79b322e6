/* A VM for the statistics tests: buses with ranges, vCPUs with counters, a
 * NIC's counters; no KVM, no threads. */
#ifndef TESTS_UNIT_FAKE_VM_H
#define TESTS_UNIT_FAKE_VM_H

#include <stdint.h>
#include <stdio.h>

#include "vmm/vm.h"

/* ncpus vCPUs with zeroed stats; ranges: PIO "uart8250 (COM1)" 0x3f8+8,
 * "pci config (0xcf8)" 0xcf8+8 and "cmos \"rtc\"\t" 0x70+2 (slots 0, 1, 2);
 * MMIO "virtio-net tap0 common" 0xe0000000+0x1000 and "virtio-net tap0
 * msix table" 0xe0004000+0x1000 (slots 0, 1). The clock is
 * CLOCK_MONOTONIC, so ticks are ns and the report's figures exact. */
struct vm *fake_vm(int ncpus);
void fake_vm_free(struct vm *vm);

/* One exit as the exit path counts it, with a latency of ns, also into
 * range if not NULL. */
void fake_exit(struct vcpu_stats *s, uint32_t reason, struct lat_hist *range, uint64_t ns);

/* A NIC named name whose counters are 1, 2, ... in struct order (rx_packets,
 * rx_bytes, rx_dropped, tx_packets, tx_bytes, tx_errors, kicks, rx_waits,
 * tx_waits), then vp.interrupts 10 and vp.intx_interrupts 11. */
void fake_nic_counters(struct virtio_net *n, const char *name);

/* What print writes for vm, as a string to free. */
char *fake_vm_capture(void (*print)(const struct vm *, FILE *), const struct vm *vm);

#endif
