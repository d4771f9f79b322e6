/*
 * minivmm-bench: what one exit costs, on the bare KVM_RUN floor, through
 * minivmm's exit path, and (with --qemu) through QEMU, measured in one run.
 *
 * The guest (tests/payloads/exitbench.c, built into this program) runs tight
 * loops of one kind of exit and times each with its own TSC. The machine is a
 * real minivmm VM made by vm_create(), with devices of the benchmark's own
 * (vmm/bench_devices.c): a null MMIO range and a control port that tells the
 * guest which mode each round is in. Rounds alternate:
 *
 *  - floor: this program's main thread calls KVM_RUN on the vCPU exits-times
 *    in a row and does nothing else, not even look at the exit;
 *  - minivmm: the vCPU thread runs vcpu_run_once(), the code every minivmm
 *    vCPU runs (exit dispatch, the device on the bus, the latency
 *    bookkeeping), under the same seccomp allowlist unless --no-seccomp.
 *
 * Two kinds never leave the kernel: an ioeventfd doorbell (its floor has
 * nobody reading the eventfd; minivmm's path has a thread waiting on it the
 * way the NIC's worker does) and HLT woken by the in-kernel APIC timer (both
 * modes are the same KVM work; shown for scale). docs/benchmarking.md has the
 * method and the figures.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm/bench_args.h"
#include "vmm/bench_devices.h"
#include "vmm/bench_qemu.h"
#include "vmm/bench_report.h"
#include "vmm/cli.h"
#include "vmm/vm.h"

extern const unsigned char bench_payload[], bench_payload_end[];

struct bench {
	struct vm vm;
	struct bench_options opt;

	struct bench_devices dev;

	/* Handing the vCPU to the floor loop on the main thread and back; the
	 * control port sets dev.floor_exits for a floor round. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool floor_go, vcpu_done;
	pthread_t main_thread; /* runs the floor; the vCPU thread is vcpus[0].thread */
};

/* ---- running it: the vCPU thread and the floor on the main thread ---- */

/* The vCPU's thread, as vm_start() starts it in place of vcpu_thread(): the
 * same loop, but between rounds it hands the vCPU to the floor. */
static void *vcpu_main(void *arg)
{
	struct bench *b = arg;
	struct vm *vm = &b->vm;
	struct vcpu *v = &vm->vcpus[0];
	if (vcpu_thread_init(v) == 0) {
		while (!stop_requested(&vm->stop)) {
			if (b->dev.floor_exits) {
				pthread_mutex_lock(&b->lock);
				b->floor_go = true;
				pthread_cond_broadcast(&b->cond);
				while (b->floor_go)
					pthread_cond_wait(&b->cond, &b->lock);
				/* A floor that failed stopped the VM. */
				pthread_mutex_unlock(&b->lock);
				continue;
			}
			if (vcpu_run_once(v))
				break;
		}
	}
	pthread_mutex_lock(&b->lock);
	b->vcpu_done = true;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* The exit each kind's loop makes, to check the floor stayed in step. */
static bool is_payload_exit(const struct kvm_run *run, uint32_t kind)
{
	if (kind == BENCH_PIO_OUT || kind == BENCH_PIO_IN)
		return run->exit_reason == KVM_EXIT_IO && run->io.port == BENCH_PIO_PORT &&
		       run->io.direction ==
			   (kind == BENCH_PIO_OUT ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN);
	return run->exit_reason == KVM_EXIT_MMIO && run->mmio.phys_addr == BENCH_MMIO_ADDR &&
	       run->mmio.is_write == (kind == BENCH_MMIO_WRITE);
}

/* The floor: KVM_RUN and nothing else, n times. Reads that the guest makes
 * get whatever the shared page holds, which the payload ignores. */
static void run_floor(struct bench *b, unsigned n)
{
	struct vcpu *v = &b->vm.vcpus[0];
	int fd = v->fd;
	for (unsigned i = 0; i < n; i++)
		if (ioctl(fd, KVM_RUN, 0) < 0) {
			stop_request(&b->vm.stop, 1, "floor: KVM_RUN: %s", strerror(errno));
			return;
		}
	if (!is_payload_exit(v->run, b->dev.kind))
		stop_request(&b->vm.stop, 1,
			     "floor: the last of %u exits was not the payload's %s exit "
			     "(exit reason %u): guest and host lost step",
			     n, bench_kind_names[b->dev.kind], v->run->exit_reason);
}

/* Where the run is, for a timeout's message. */
static void describe_progress(const struct bench *b, char *out, size_t n)
{
	if (b->dev.kind >= BENCH_KINDS) {
		snprintf(out, n, "before the first round");
		return;
	}
	snprintf(out, n, "in round %u of %s (%s)", b->dev.rounds_started[b->dev.kind],
		 bench_kind_names[b->dev.kind], b->floor_go ? "floor" : "minivmm's path");
}

/* The deadline, on a thread of its own: the floor loop never looks at the
 * clock, and a guest gone wrong mid-floor would keep KVM_RUN from returning. */
static void *watchdog(void *arg)
{
	struct bench *b = arg;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += b->opt.timeout;
	pthread_mutex_lock(&b->lock);
	while (!b->vcpu_done || b->floor_go)
		if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) == ETIMEDOUT)
			break;
	bool late = !b->vcpu_done || b->floor_go;
	char where[256];
	describe_progress(b, where, sizeof(where));
	pthread_mutex_unlock(&b->lock);
	if (!late)
		return NULL;
	/* The vCPU's state says why: halted with the timer's vector neither
	 * requested nor in service is a lost timer interrupt. */
	struct kvm_mp_state mp = {0};
	struct kvm_lapic_state lapic;
	int fd = b->vm.vcpus[0].fd;
	if (ioctl(fd, KVM_GET_MP_STATE, &mp) == 0 && ioctl(fd, KVM_GET_LAPIC, &lapic) == 0) {
		uint32_t irr, isr, tmcct, tmict, lvt;
		unsigned v = BENCH_TIMER_VECTOR;
		memcpy(&irr, lapic.regs + 0x200 + (v / 32) * 16, 4);
		memcpy(&isr, lapic.regs + 0x100 + (v / 32) * 16, 4);
		memcpy(&tmict, lapic.regs + 0x380, 4);
		memcpy(&tmcct, lapic.regs + 0x390, 4);
		memcpy(&lvt, lapic.regs + 0x320, 4);
		size_t l = strlen(where);
		snprintf(
		    where + l, sizeof(where) - l,
		    "; vCPU mp_state %u, timer vector irr=%u isr=%u, lvt=0x%x tmict=%u tmcct=%u",
		    mp.mp_state, (irr >> (v % 32)) & 1, (isr >> (v % 32)) & 1, lvt, tmict, tmcct);
	}
	stop_request(&b->vm.stop, 1, "timed out after %u s (--timeout), %s", b->opt.timeout, where);
	/* The vCPU thread, and the main thread in case it runs the floor. */
	vcpu_kick(&b->vm.vcpus[0]);
	pthread_kill(b->main_thread, b->vm.vcpu_host.kick_signal);
	return NULL;
}

/* Runs the payload to its end; the report lands in b->dev.report. The VM
 * starts and stops as minivmm's does (vm_start, vm_stop); the floor loop on
 * this thread stands where minivmm's main thread waits (vm_wait). */
static int run_minivmm(struct bench *b)
{
	struct vm *vm = &b->vm;
	b->main_thread = pthread_self();
	if (vm_start(vm, vcpu_main, b)) {
		vm_stop(vm);
		fprintf(stderr, "minivmm-bench: %s\n", vm->stop.reason);
		return -1;
	}
	/* This thread calls KVM_RUN too, in the floor: the kick must reach it. */
	sigset_t kick;
	sigemptyset(&kick);
	sigaddset(&kick, vm->vcpu_host.kick_signal);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
	pthread_t wd;
	bool wd_started = pthread_create(&wd, NULL, watchdog, b) == 0;
	pthread_mutex_lock(&b->lock);
	while (!b->vcpu_done) {
		if (b->floor_go) {
			unsigned n = b->dev.floor_exits;
			pthread_mutex_unlock(&b->lock);
			run_floor(b, n);
			pthread_mutex_lock(&b->lock);
			b->dev.floor_exits = 0;
			b->floor_go = false;
			pthread_cond_broadcast(&b->cond);
			continue;
		}
		pthread_cond_wait(&b->cond, &b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	vm_stop(vm);
	if (wd_started) {
		pthread_mutex_lock(&b->lock);
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(wd, NULL);
	}
	return 0;
}

/* ---- the host, for the header ---- */

static void cpu_model(char *out, size_t n)
{
	snprintf(out, n, "unknown CPU");
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(out, n, "%s", colon + 2);
			out[strcspn(out, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
}

static const char *kvm_kind(const struct vm *vm)
{
	unsigned a, b, c, d;
	if (vm->kvm.is_pvm)
		return "PVM, a software hypervisor (guest code emulated)";
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 31)))
		return "nested KVM (this host is itself a virtual machine)";
	return "hardware KVM";
}

int main(int argc, char **argv)
{
	static struct bench b; /* 64 KiB of report: not on the stack */
	if (bench_parse_args(argc, argv, &b.opt))
		return 1;
	size_t payload_len = (size_t)(bench_payload_end - bench_payload);
	if (b.opt.write_payload) {
		if (bench_write_file(b.opt.write_payload, bench_payload, payload_len)) {
			fprintf(stderr, "minivmm-bench: --write-payload %s: %s\n",
				b.opt.write_payload, strerror(errno));
			return 1;
		}
		return 0;
	}

	/* The payload as a file for vm_create's loader, which reads a path. */
	int memfd = memfd_create("exitbench.elf", MFD_CLOEXEC);
	if (memfd < 0 || write(memfd, bench_payload, payload_len) != (ssize_t)payload_len) {
		fprintf(stderr, "minivmm-bench: cannot stage the payload: %s\n", strerror(errno));
		return 1;
	}
	char kernel_path[64], cmdline[256];
	snprintf(kernel_path, sizeof(kernel_path), "/proc/self/fd/%d", memfd);
	bench_payload_cmdline(&b.opt, cmdline, sizeof(cmdline));

	struct vm_config cfg = {
	    .kernel_path = kernel_path,
	    .cmdline = cmdline,
	    .mem_size = 64ULL << 20,
	    .cpus = 1,
	    .kvm_path = cli_kvm_path(),
	    .no_seccomp = !b.opt.seccomp,
	};
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	struct errbuf e;
	int status = 1;
	if (vm_create(&b.vm, &cfg, &e) || bench_devices_add(&b.dev, &b.vm, b.opt.exits, &e) ||
	    vm_assemble(&b.vm, &e) ||
	    (b.opt.kinds[BENCH_DOORBELL] && bench_doorbells_add(&b.dev, &b.vm, &e))) {
		fprintf(stderr, "minivmm-bench: %s\n", e.msg);
		goto out;
	}

	uint64_t tsc0 = __rdtsc(), ns0 = stats_monotonic_ns();
	if (run_minivmm(&b))
		goto out;
	uint64_t tsc1 = __rdtsc(), ns1 = stats_monotonic_ns();

	struct bench_results r = {0};
	bench_parse_report(&r, b.dev.report, b.dev.report_len);
	if (!r.done) {
		fprintf(stderr, "minivmm-bench: the payload did not finish: %s\n",
			r.error[0] ? r.error : b.vm.stop.reason);
		goto out;
	}

	char cpu[128], qver[128] = "";
	cpu_model(cpu, sizeof(cpu));
	struct bench_context ctx = {
	    .cpu = cpu,
	    .kvm = kvm_kind(&b.vm),
	    .ns_per_tick = tsc1 > tsc0 ? (double)(ns1 - ns0) / (double)(tsc1 - tsc0) : 1.0,
	    .tsc_invariant = stats_tsc_invariant(),
	    .exits = b.opt.exits,
	    .rounds = b.opt.rounds,
	    .timer_count = b.opt.timer_count,
	    .seccomp = b.opt.seccomp,
	};
	if (b.opt.qemu) {
		bench_qemu_version(b.opt.qemu, qver, sizeof(qver));
		if (bench_run_qemu(b.opt.qemu, b.opt.timeout, bench_payload, payload_len, cmdline,
				   &r))
			goto out;
		ctx.qemu = true;
		ctx.qemu_version = qver;
	}

	if (!b.opt.json_path || strcmp(b.opt.json_path, "-"))
		bench_print_table(stdout, &r, &ctx);
	if (b.opt.json_path) {
		bool to_stdout = !strcmp(b.opt.json_path, "-");
		FILE *f = to_stdout ? stdout : fopen(b.opt.json_path, "w");
		if (!f) {
			fprintf(stderr, "minivmm-bench: --json=%s: %s\n", b.opt.json_path,
				strerror(errno));
			goto out;
		}
		bench_print_json(f, &r, &ctx);
		if (!to_stdout && fclose(f)) {
			fprintf(stderr, "minivmm-bench: --json=%s: %s\n", b.opt.json_path,
				strerror(errno));
			goto out;
		}
	}
	status = 0;
out:
	vm_destroy(&b.vm);
	close(memfd);
	return status;
}
