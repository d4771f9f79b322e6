/* minivmm-bench's own devices (vmm/bench_abi.h), beside minivmm's: the
 * control port that tells the guest each round's mode, the port the payload
 * reports on, a null MMIO range, and two doorbells, minivmm's with a thread
 * waiting on it the way the NIC's worker does. */
#ifndef MINIVMM_BENCH_DEVICES_H
#define MINIVMM_BENCH_DEVICES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/bench_abi.h"
#include "vmm/bench_qemu.h"
#include "vmm/vm.h"

struct bench_devices {
	unsigned exits; /* --exits: the length of a floor round */

	/* The control port: the kind the guest announced, rounds per kind. */
	uint32_t kind;
	unsigned rounds_started[BENCH_KINDS];
	/* Set by the control port for a floor round: its exits. The vCPU
	 * thread hands the vCPU to the floor loop when it sees it (bench.c). */
	unsigned floor_exits;

	/* The payload's report, from port 0xe9. */
	char report[REPORT_MAX];
	size_t report_len;

	/* Doorbells: [0] the floor's, [1] minivmm's, watched by the waiter. */
	int bell_fd[2];
	int waiter_stop_fd;
	pthread_t waiter;
	bool waiter_started;
};

/* Puts the ports and the null range on vm's buses: between vm_create() and
 * vm_assemble(). */
int bench_devices_add(struct bench_devices *d, struct vm *vm, unsigned exits, struct errbuf *e);

/* Registers the doorbells with KVM and starts their waiter, after
 * vm_assemble(); on vm's device table, so vm_destroy() takes them down. */
int bench_doorbells_add(struct bench_devices *d, struct vm *vm, struct errbuf *e);

#endif
