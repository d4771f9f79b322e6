/* The whole machine: KVM handles, memory, buses, vCPUs, devices, lifecycle. */
#ifndef MINIVMM_VM_H
#define MINIVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/pci_host.h"
#include "devices/uart8250.h"
#include "net/bridge.h"
#include "net/link_watch.h"
#include "net/offload.h"
#include "net/tap.h"
#include "net/undo.h"
#include "virtio/virtio_net.h"
#include "vmm/base/bus.h"
#include "vmm/base/guest_mem.h"
#include "vmm/base/irq_routing.h"
#include "vmm/console.h"
#include "vmm/devtable.h"
#include "vmm/kvm.h"
#include "vmm/unclaimed.h"
#include "vmm/vcpu.h"

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline; /* NULL: the default */
	uint64_t mem_size;
	int cpus;
	enum stats_format stats; /* --stats: off, text or JSON */
	const char *stats_path;	 /* --stats=json:PATH; NULL: stderr */
	int stats_fd;		 /* that file, opened at start (cli_open_stats) */
	int stats_stream;	 /* 1, 2: PATH is our own stdout, stderr (cli_stats_stream) */
	const char *kvm_path;
	/* virtio-net: a TAP (NULL: no NIC), the bridge to put it in, its MAC. */
	const char *tap;
	const char *bridge;
	uint8_t mac[6];
	bool mac_set;		   /* false: derived from the TAP's name */
	enum offload_mode offload; /* --offload; OFFLOAD_AUTO is 0 */
	/* Where the network set-up is recorded for undoing, by a process of
	 * its own (net/undo.h; main() starts it). NULL: vm_destroy() undoes it
	 * itself. */
	struct net_undo *net_undo;
	/* --no-seccomp: the vCPU threads and the NIC's worker run without
	 * their seccomp allowlists (vmm/base/seccomp.h). */
	bool no_seccomp;
};

struct vm {
	struct vm_config cfg;
	/* What set-up made, in the order it succeeded: vm_destroy() takes it
	 * down backwards (vmm/devtable.h). */
	struct devtable devices;
	struct kvm kvm;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	int ncpus;
	struct vcpu *vcpus;

	struct uart8250 com1;
	struct i8042 i8042;
	struct cmos_rtc rtc;
	struct pci_host pci;
	struct irq_routing irq_routing;
	struct unclaimed_log unclaimed;
	struct console console;
	/* The devices' wires (add_devices() in vm.c). */
	struct irq_pin com1_irq, kbd_irq;
	struct stop_line kbd_reset, pci_reset;

	/* The NIC and its host side, when cfg.tap is set. */
	struct tap tap;
	struct bridge_port bridge;
	struct offload_policy offload; /* what the guest's NIC is offered, and why */
	struct virtio_net net;
	struct seccomp_thread nic_thread; /* how its worker starts (vmm/base/seccomp.h) */
	/* The main thread's eye on the TAP and its bridge port while the guest
	 * runs: says when either goes away or comes back. */
	struct link_watch link_watch;

	/* Lifecycle: the first stop_request() wins and wakes the main loop. */
	struct stop stop;
	bool stopped_in_setup;	    /* vm_create() saw a stop signal and gave up */
	struct vcpu_host vcpu_host; /* what every vCPU is lent (vmm/vcpu.h) */
	struct timespec started;
	struct stats_clock stats_clock; /* the exit path's time source */

	/* The files to boot, read before KVM is touched; freed once loaded. */
	uint8_t *kernel;
	size_t kernel_len;
	uint8_t *initrd;
	size_t initrd_len;
};

/* Blocks the signals the main thread takes (SIGINT, SIGTERM, SIGHUP,
 * SIGUSR1): main() calls it first, so that a signal during set-up waits
 * until vm_create() can stop and vm_destroy() undo what was set up. */
void vm_block_signals(void);

/* Builds the machine from cfg in two steps, so that a program embedding it
 * (minivmm-bench) can put devices of its own on the buses in between, and
 * in vm->devices what they need taken down.
 * vm_create: reads the boot files, sets up the network, opens KVM, maps
 * RAM, and puts minivmm's devices on the buses. vm_assemble: freezes the
 * buses, creates the vCPUs, loads the kernel and gives up root's rights.
 * On failure of either, vm_destroy() undoes everything made so far;
 * stopped_in_setup says whether a stop signal was the cause. */
int vm_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *e);
int vm_assemble(struct vm *vm, struct errbuf *e);

/* Running it, in the pieces vm_run() is made of, so that minivmm-bench
 * composes the same start and stop around a loop of its own.
 * vm_start: blocks every signal on the calling thread (the threads it starts
 * inherit that; each vCPU lets its kick in), installs the kick, starts the
 * clock, and one thread per vCPU: vcpu_thread() on its vCPU, or with body
 * set body(arg). A thread that cannot start stops the VM: then -1.
 * vm_wait: the main thread's loop, until a stop: the stop signals and SIGUSR1
 * through a signalfd, stdin (raw, when a terminal) to COM1, the link watch;
 * the main thread's seccomp filter is loaded first.
 * vm_stop: kicks the vCPUs out of KVM_RUN and joins their threads. */
int vm_start(struct vm *vm, void *(*body)(void *), void *arg);
void vm_wait(struct vm *vm);
void vm_stop(struct vm *vm);

/* Start, wait, stop, then the reason and --stats; returns the exit status. */
int vm_run(struct vm *vm);

/* Takes down what vm_create() and vm_assemble() made, and whatever else
 * vm->devices holds, last first. After vm_stop() if vm_start() ran. */
void vm_destroy(struct vm *vm);

#endif
