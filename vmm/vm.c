#include "vmm/vm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "boot/loader.h"
#include "devices/legacy_ports.h"
#include "net/link.h"
#include "vmm/base/seccomp.h"
#include "vmm/file.h"
#include "vmm/stats_report.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
/* What a Linux guest must be told on a PVM host, whose emulator lacks xrstor,
 * clac/stac and popcnt and may ignore our CPUID (X86_FEATURE_SMAP is bit 308,
 * X86_FEATURE_POPCNT bit 151 of Linux's cpufeatures). */
#define PVM_CMDLINE_EXTRA "noxsave clearcpuid=308,151"

/* Records what just succeeded in the device table (vmm/devtable.h). */
static int push(struct vm *vm, const char *name, void *ctx, void (*destroy)(void *),
		struct errbuf *e)
{
	return devtable_push(&vm->devices,
			     &(struct devtable_entry){.name = name, .ctx = ctx, .destroy = destroy},
			     e);
}

/* A typed tear-down function as a table entry's. */
#define ENTRY_DESTROY(fn, type)                                                                    \
	static void fn##_entry(void *ctx)                                                          \
	{                                                                                          \
		fn((type *)ctx);                                                                   \
	}
ENTRY_DESTROY(stop_destroy, struct stop)
ENTRY_DESTROY(unclaimed_destroy, struct unclaimed_log)
ENTRY_DESTROY(bus_free, struct bus)
ENTRY_DESTROY(tap_close, struct tap)
ENTRY_DESTROY(bridge_detach, struct bridge_port)
ENTRY_DESTROY(link_watch_close, struct link_watch)
ENTRY_DESTROY(irq_routing_destroy, struct irq_routing)
ENTRY_DESTROY(kvm_close, struct kvm)
ENTRY_DESTROY(guest_mem_free, struct guest_mem)
ENTRY_DESTROY(uart8250_destroy, struct uart8250)
ENTRY_DESTROY(i8042_destroy, struct i8042)
ENTRY_DESTROY(cmos_rtc_destroy, struct cmos_rtc)
ENTRY_DESTROY(pci_host_destroy, struct pci_host)
ENTRY_DESTROY(virtio_net_destroy, struct virtio_net)

/* The child of net/undo.c has the rights; it is done when this returns, or
 * says why not. ovs-vsctl gives up after 5 s. */
static void finish_net_undo(void *ctx)
{
	net_undo_finish(ctx, 15000);
}

/* print_final_stats() may have handed the file to a stream already. */
static void close_stats_file(void *ctx)
{
	struct vm *vm = ctx;
	if (vm->cfg.stats_fd >= 0)
		close(vm->cfg.stats_fd);
}

static void destroy_vcpus(void *ctx)
{
	struct vm *vm = ctx;
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
}

/* A stop signal that came during set-up is pending (vm_block_signals):
 * stop here, and vm_destroy() undoes what was done, TAP and port included. */
static int stopped_during_setup(struct vm *vm, struct errbuf *e)
{
	sigset_t stops, pending;
	stop_signals(&stops);
	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&stops, sig) == 1 && sigismember(&pending, sig) == 1) {
			vm->stopped_in_setup = true;
			return errorf(e, "stopped by %s during set-up", strsignal(sig));
		}
	return 0;
}

static int tap_offload(void *ctx, unsigned flags, struct errbuf *e)
{
	return tap_set_offload(ctx, flags, e);
}

/* The host side of the NIC, before KVM is touched so that a wrong --tap or
 * --bridge is reported first: the TAP (opened or created), up, and in the
 * bridge. The table undoes exactly this: the undo child (or, without one,
 * this process) detaches the port before the TAP closes. */
static int open_network(struct vm *vm, struct errbuf *e)
{
	if (!vm->cfg.tap)
		return 0;
	struct net_undo *undo = vm->cfg.net_undo;
	if (tap_open(&vm->tap, vm->cfg.tap, e) || push(vm, "TAP", &vm->tap, tap_close_entry, e))
		return -1;
	if (undo && push(vm, "network undo", undo, finish_net_undo, e))
		return -1;
	if (undo && !vm->tap.created && net_undo_tap(undo, &vm->tap, e))
		return -1;
	if (link_set_up(vm->tap.name, e)) {
		char why[sizeof(e->msg)];
		snprintf(why, sizeof(why), "%s", e->msg);
		return errorf(e, "--tap %s: cannot bring it up: %s", vm->tap.name, why);
	}
	if (vm->cfg.bridge) {
		/* Recorded before it is made: a SIGKILL during add-port leaves
		 * nothing behind either. */
		if (bridge_plan(&vm->bridge, vm->cfg.bridge, vm->tap.name, e) ||
		    (undo && net_undo_port(undo, &vm->bridge, e)))
			return -1;
		if (bridge_commit(&vm->bridge, e)) {
			struct errbuf ignored;
			if (undo)
				net_undo_forget_port(undo, &ignored);
			return -1;
		}
		if (!undo && push(vm, "bridge port", &vm->bridge, bridge_detach_entry, e))
			return -1;
	}
	offload_choose(&vm->offload, vm->cfg.offload, &vm->bridge, vm->tap.name, vm->tap.created);
	if (!vm->cfg.mac_set)
		virtio_net_default_mac(vm->tap.name, vm->cfg.mac);
	return 0;
}

static int add_nic(struct vm *vm, struct errbuf *e)
{
	if (!vm->cfg.tap)
		return 0;
	const struct virtio_net_backend backend = {.fd = vm->tap.fd,
						   .name = vm->tap.name,
						   .set_offload = tap_offload,
						   .ctx = &vm->tap,
						   .no_tx_offload = !vm->offload.tx,
						   .no_rx_offload = !vm->offload.rx,
						   .no_offload_why = vm->offload.why};
	/* The worker locks itself down as it starts, before the guest can
	 * give it anything: no rights, and (unless --no-seccomp) its
	 * allowlist over the VM fd and the descriptors the device adds. */
	vm->nic_thread = (struct seccomp_thread){.name = "virtio-net",
						 .who = "virtio-net worker",
						 .kind = SECCOMP_WORKER,
						 .filtered = !vm->cfg.no_seccomp,
						 .fds = {.vcpu_fd = -1,
							 .vm_fd = vm->kvm.vm_fd,
							 .tap_fd = -1,
							 .epoll_fd = -1,
							 .frames_fd = -1}};
	const struct virtio_worker_thread thread = {
	    .start = seccomp_thread_start, .ctx = &vm->nic_thread, .fds = &vm->nic_thread.fds};
	if (virtio_net_init(&vm->net, &backend, vm->cfg.mac, &vm->mem, &vm->irq_routing,
			    vm->kvm.vm_fd, &thread, e)) {
		virtio_net_destroy(&vm->net); /* what the failed init left */
		return -1;
	}
	const struct devtable_entry nic = {"virtio-net", &vm->net, virtio_net_destroy_entry,
					   virtio_net_report, virtio_net_count};
	if (devtable_push(&vm->devices, &nic, e))
		return -1;
	return pci_host_add_device(&vm->pci, &vm->net.vp.pci, e) < 0 ? -1 : 0;
}

static int add_devices(struct vm *vm, struct errbuf *e)
{
	/* Each device's wires go to what lies below it: the console, an
	 * interrupt line, the stop switch. None leads back into this file. */
	vm->com1_irq = (struct irq_pin){&vm->irq_routing, UART_COM1_IRQ};
	vm->kbd_irq = (struct irq_pin){&vm->irq_routing, I8042_KBD_IRQ};
	vm->kbd_reset = (struct stop_line){&vm->stop, "guest reset (i8042 reset line)"};
	vm->pci_reset = (struct stop_line){&vm->stop, "guest reset (reset control register 0xcf9)"};
	uart8250_init(&vm->com1, &(struct uart8250_ops){console_emit, &vm->console, irq_pin_set,
							&vm->com1_irq});
	if (push(vm, "uart8250 (COM1)", &vm->com1, uart8250_destroy_entry, e))
		return -1;
	i8042_init(&vm->i8042,
		   &(struct i8042_ops){stop_line_pull, &vm->kbd_reset, irq_pin_set, &vm->kbd_irq});
	if (push(vm, "i8042", &vm->i8042, i8042_destroy_entry, e))
		return -1;
	cmos_rtc_init(&vm->rtc);
	if (push(vm, "cmos rtc", &vm->rtc, cmos_rtc_destroy_entry, e))
		return -1;
	pci_host_init(&vm->pci, &(struct pci_host_ops){stop_line_pull, &vm->pci_reset,
						       irq_routing_set_line, &vm->irq_routing});
	if (push(vm, "pci host", &vm->pci, pci_host_destroy_entry, e))
		return -1;

	struct bus *pio = &vm->pio;
	if (bus_register(pio, UART_COM1_BASE, UART_REGS, "uart8250 (COM1)", uart8250_io, &vm->com1,
			 e) ||
	    bus_register(pio, I8042_DATA_PORT, 1, "i8042 data", i8042_data_io, &vm->i8042, e) ||
	    bus_register(pio, I8042_COMMAND_PORT, 1, "i8042 command", i8042_command_io, &vm->i8042,
			 e) ||
	    bus_register(pio, CMOS_INDEX_PORT, 2, "cmos rtc", cmos_rtc_io, &vm->rtc, e) ||
	    legacy_ports_register(pio, e) || pci_host_register(&vm->pci, pio, &vm->mmio, e) ||
	    add_nic(vm, e))
		return -1;
	return 0;
}

static int set_memory(struct vm *vm, struct errbuf *e)
{
	if (guest_mem_alloc(&vm->mem, vm->cfg.mem_size, e) ||
	    push(vm, "guest RAM", &vm->mem, guest_mem_free_entry, e))
		return -1;
	struct kvm_userspace_memory_region low = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = vm->mem.low_size,
	    .userspace_addr = (uintptr_t)vm->mem.host,
	};
	if (ioctl(vm->kvm.vm_fd, KVM_SET_USER_MEMORY_REGION, &low) < 0)
		return errorf_errno(e, "KVM_SET_USER_MEMORY_REGION (low RAM)");
	if (guest_mem_high_size(&vm->mem)) {
		struct kvm_userspace_memory_region high = {
		    .slot = 1,
		    .guest_phys_addr = GUEST_HIGH_RAM_START,
		    .memory_size = guest_mem_high_size(&vm->mem),
		    .userspace_addr = (uintptr_t)(vm->mem.host + vm->mem.low_size),
		};
		if (ioctl(vm->kvm.vm_fd, KVM_SET_USER_MEMORY_REGION, &high) < 0)
			return errorf_errno(e, "KVM_SET_USER_MEMORY_REGION (RAM above 4 GiB)");
	}
	return 0;
}

static char *build_cmdline(const struct vm *vm)
{
	const char *base = vm->cfg.cmdline ? vm->cfg.cmdline : DEFAULT_CMDLINE;
	const char *extra = vm->kvm.is_pvm ? " " PVM_CMDLINE_EXTRA : "";
	size_t n = strlen(base) + strlen(extra) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s", base, extra);
	return s;
}

static void free_boot_files(void *ctx)
{
	struct vm *vm = ctx;
	free(vm->kernel);
	free(vm->initrd);
	vm->kernel = vm->initrd = NULL;
}

/* Reads the kernel and initrd and checks the kernel's format: everything a
 * user can get wrong in a file is reported before KVM is opened. Until the
 * kernel is loaded the files are the table's to free. */
static int read_boot_files(struct vm *vm, struct errbuf *e)
{
	if (file_read_all("--kernel", vm->cfg.kernel_path, &vm->kernel, &vm->kernel_len, e))
		return -1;
	if (push(vm, "boot files", vm, free_boot_files, e))
		return -1;
	if (vm->cfg.initrd_path &&
	    file_read_all("--initrd", vm->cfg.initrd_path, &vm->initrd, &vm->initrd_len, e))
		return -1;
	struct boot_config bc = {
	    .kernel_name = vm->cfg.kernel_path, .kernel = vm->kernel, .kernel_len = vm->kernel_len};
	return boot_check_kernel(&bc, e);
}

static int load_kernel(struct vm *vm, struct errbuf *e)
{
	char *cmdline = build_cmdline(vm);
	if (!cmdline)
		return errorf(e, "out of memory");
	struct boot_config bc = {
	    .kernel_name = vm->cfg.kernel_path,
	    .kernel = vm->kernel,
	    .kernel_len = vm->kernel_len,
	    .initrd = vm->initrd,
	    .initrd_len = vm->initrd_len,
	    .cmdline = cmdline,
	    .ncpus = vm->ncpus,
	};
	struct boot_entry entry;
	int r = boot_load(&vm->mem, &bc, &entry, e);
	free(cmdline);
	free_boot_files(vm);
	if (r)
		return -1;

	struct kvm_regs regs;
	struct kvm_sregs sregs;
	int fd = vm->vcpus[0].fd;
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return errorf_errno(e, "KVM_GET_SREGS");
	boot_entry_regs(&entry, &regs, &sregs);
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return errorf_errno(e, "setting the boot vCPU's registers");
	return 0;
}

/* What the vCPUs get of the VM (vmm/vcpu.h): with the devices made, the
 * fds their allowlist names are known. The stats clock is set when the VM
 * starts running. */
static void lend_to_vcpus(struct vm *vm)
{
	/* What a vCPU writes: stop requests, the NIC's kicks (doorbells that
	 * arrive as exits), its stop fd and interrupt vectors. */
	struct seccomp_fds fds = {.vcpu_fd = -1,
				  .vm_fd = vm->kvm.vm_fd,
				  .tap_fd = -1,
				  .epoll_fd = -1,
				  .frames_fd = -1,
				  .io = {vm->stop.eventfd},
				  .n_io = 1};
	fds.n_io += virtio_net_eventfds(&vm->net, fds.io + fds.n_io, SECCOMP_MAX_FDS - fds.n_io);
	vm->vcpu_host = (struct vcpu_host){.kvm = &vm->kvm,
					   .mem = &vm->mem,
					   .stop = &vm->stop,
					   .clock = &vm->stats_clock,
					   .kick_signal = VCPU_KICK_SIGNAL,
					   .filtered = !vm->cfg.no_seccomp,
					   .filter_fds = fds};
}

int vm_create(struct vm *vm, const struct vm_config *cfg, struct errbuf *e)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = *cfg;
	vm->kvm.sys_fd = vm->kvm.vm_fd = -1;
	vm->tap.fd = -1; /* no NIC: the main thread's filter names no TAP */
	console_init(&vm->console, STDIN_FILENO, STDOUT_FILENO);
	/* main() handed the stats file over: ours to close from here on. */
	if (cfg->stats_path && push(vm, "--stats file", vm, close_stats_file, e))
		return -1;
	if (stop_init(&vm->stop, e)) {
		stop_destroy(&vm->stop);
		return -1;
	}
	unclaimed_init(&vm->unclaimed, stderr);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	if (push(vm, "stop switch", &vm->stop, stop_destroy_entry, e) ||
	    push(vm, "unclaimed-access log", &vm->unclaimed, unclaimed_destroy_entry, e) ||
	    push(vm, "pio bus", &vm->pio, bus_free_entry, e) ||
	    push(vm, "mmio bus", &vm->mmio, bus_free_entry, e))
		return -1;

	if (read_boot_files(vm, e) || open_network(vm, e))
		return -1;
	if (cfg->tap && (link_watch_open(&vm->link_watch, vm->tap.name, &vm->bridge, stderr, e) ||
			 push(vm, "link watch", &vm->link_watch, link_watch_close_entry, e)))
		return -1;
	if (stopped_during_setup(vm, e))
		return -1;

	/* Our own copy of the routing table from the start, so that devices
	 * adding MSI routes later re-send exactly KVM's defaults plus theirs. */
	irq_routing_init(&vm->irq_routing, -1);
	if (push(vm, "IRQ routing", &vm->irq_routing, irq_routing_destroy_entry, e) ||
	    kvm_open(&vm->kvm, cfg->kvm_path, e) || push(vm, "KVM", &vm->kvm, kvm_close_entry, e))
		return -1;
	vm->irq_routing.vm_fd = vm->kvm.vm_fd;
	if (irq_routing_apply(&vm->irq_routing, e))
		return -1;
	if (cfg->cpus > vm->kvm.max_vcpus)
		return errorf(e, "--cpus %d: this host's KVM allows at most %d", cfg->cpus,
			      vm->kvm.max_vcpus);
	if (kvm_check_mem(&vm->kvm, cfg->mem_size, e) || set_memory(vm, e) || add_devices(vm, e))
		return -1;
	return 0;
}

int vm_assemble(struct vm *vm, struct errbuf *e)
{
	const struct vm_config *cfg = &vm->cfg;
	/* Every device is on its bus: from here on the exit path reads the
	 * tables without a lock, through one hazard slot on each bus per vCPU
	 * (vmm/base/bus.h); only a BAR move publishes a new table. */
	size_t readers = (size_t)cfg->cpus;
	if (bus_freeze(&vm->pio, readers, e) || bus_freeze(&vm->mmio, readers, e))
		return -1;
	vm->vcpus = calloc((size_t)cfg->cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return errorf(e, "out of memory");
	if (push(vm, "vCPUs", vm, destroy_vcpus, e))
		return -1;
	lend_to_vcpus(vm);
	for (int i = 0; i < cfg->cpus; i++) {
		if (vcpu_create(&vm->vcpus[i], &vm->vcpu_host, i, &vm->pio, &vm->mmio,
				&vm->unclaimed, e))
			return -1;
		vm->ncpus = i + 1;
	}

	vm->kvm.is_pvm = kvm_detect_pvm(vm->vcpus[0].fd);
	if (vm->kvm.is_pvm)
		fprintf(stderr,
			"minivmm: /dev/kvm here is PVM, a software hypervisor, not VT-x/AMD-V: "
			"guest code is emulated (~1000x slower); minivmm completes the "
			"instructions its emulator lacks and adds '%s' to the kernel command "
			"line\n",
			PVM_CMDLINE_EXTRA);

	for (int i = 0; i < vm->ncpus; i++)
		if (vcpu_set_cpuid(&vm->vcpus[i], e))
			return -1;
	if (load_kernel(vm, e) || stopped_during_setup(vm, e))
		return -1;
	/* Set-up is over, and so is the need for root's rights: the network's
	 * undo is recorded and sealed (net/undo.h) and the stats file open.
	 * The threads started from here on inherit none. */
	if (cfg->net_undo && net_undo_seal(cfg->net_undo, e))
		return -1;
	return seccomp_drop_capabilities(e);
}

void vm_destroy(struct vm *vm)
{
	devtable_unwind(&vm->devices);
}
