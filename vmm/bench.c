/*
 * minivmm-bench: what one exit costs, on the bare KVM_RUN floor, through
 * minivmm's exit path, and (with --qemu) through QEMU, measured in one run.
 *
 * The guest (tests/payloads/exitbench.c, built into this program) runs tight
 * loops of one kind of exit and times each with its own TSC. The machine is a
 * real minivmm VM made by vm_create(), with two devices of the benchmark's own
 * (vmm/bench_abi.h): a null MMIO range and a control port that tells the guest
 * which mode each round is in. Rounds alternate:
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
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/bench_qemu.h"
#include "vmm/bench_report.h"
#include "vmm/cli.h"
#include "vmm/vm.h"

extern const unsigned char bench_payload[], bench_payload_end[];

static const char *const kind_names[BENCH_KINDS] = {BENCH_KIND_NAMES};

struct bench_options {
	unsigned exits, rounds, timer_count, timeout;
	bool kinds[BENCH_KINDS];
	bool seccomp;
	const char *json_path; /* "-": JSON on stdout instead of the table */
	const char *qemu;      /* NULL: no QEMU column */
	const char *write_payload;
};

struct bench {
	struct vm vm;
	struct bench_options opt;

	/* The control port: the kind the guest announced, rounds per kind. */
	uint32_t kind;
	unsigned rounds_started[BENCH_KINDS];

	/* Handing the vCPU to the floor loop on the main thread and back. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned floor_exits; /* set by the control port: the next round's exits */
	bool floor_go, vcpu_done;
	pthread_t main_thread; /* runs the floor; the vCPU thread is vcpus[0].thread */

	/* The payload's report, from port 0xe9. */
	char report[REPORT_MAX];
	size_t report_len;

	/* Doorbells: [0] the floor's, [1] minivmm's, watched by the waiter. */
	int bell_fd[2];
	int waiter_stop_fd;
	pthread_t waiter;
	bool waiter_started;
};

/* ---- the benchmark's devices ---- */

static bool leaves_the_kernel(uint32_t kind)
{
	return kind <= BENCH_MMIO_READ;
}

static void ctrl_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct bench *b = opaque;
	(void)offset;
	if (is_write) {
		uint32_t k = 0;
		memcpy(&k, data, len < 4 ? len : 4);
		b->kind = k < BENCH_KINDS ? k : BENCH_KINDS;
		return;
	}
	memset(data, 0xff, len);
	if (b->kind >= BENCH_KINDS)
		return; /* the payload then stops with an error */
	/* Floor first, then minivmm, and so on: drift over the run lands on
	 * both modes alike. */
	enum bench_mode m =
	    b->rounds_started[b->kind]++ % 2 ? BENCH_MODE_MINIVMM : BENCH_MODE_FLOOR;
	data[0] = (uint8_t)m;
	if (m == BENCH_MODE_FLOOR && leaves_the_kernel(b->kind))
		b->floor_exits = b->opt.exits;
}

static void null_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	if (!is_write)
		memset(data, 0xff, len);
}

static void report_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct bench *b = opaque;
	(void)offset;
	if (is_write && len == 1 && b->report_len < sizeof(b->report) - 1)
		b->report[b->report_len++] = (char)data[0];
}

/* Between vm_create() and vm_assemble(), beside minivmm's own devices. */
static int add_bench_devices(struct vm *vm, struct bench *b, struct errbuf *e)
{
	return bus_register(&vm->pio, BENCH_CTRL_PORT, 4, "bench control", ctrl_io, b, e) ||
		       bus_register(&vm->pio, BENCH_REPORT_PORT, 1, "bench report", report_io, b,
				    e) ||
		       bus_register(&vm->mmio, BENCH_MMIO_ADDR, BENCH_MMIO_LEN, "bench null",
				    null_io, b, e)
		   ? -1
		   : 0;
}

/* ---- doorbells ---- */

/* What the NIC's worker does with a kick (virtio/virtio_net.c): sleep in
 * epoll_wait on the eventfd, wake, drain it. */
static void *doorbell_waiter(void *arg)
{
	struct bench *b = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = b->bell_fd[1]};
	epoll_ctl(ep, EPOLL_CTL_ADD, b->bell_fd[1], &ev);
	ev.data.fd = b->waiter_stop_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, b->waiter_stop_fd, &ev);
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);
		for (int i = 0; i < n; i++) {
			eventfd_t v;
			if (got[i].data.fd == b->waiter_stop_fd) {
				close(ep);
				return NULL;
			}
			eventfd_read(b->bell_fd[1], &v);
		}
	}
}

/* The same registration as virtio-pci's doorbells (virtio/virtio_pci.c). */
static int add_doorbells(struct bench *b, struct errbuf *e)
{
	int vm_fd = b->vm.kvm.vm_fd;
	uint32_t len = virtio_pci_doorbell_len(vm_fd);
	const uint64_t addr[2] = {BENCH_DOORBELL_FLOOR, BENCH_DOORBELL_MINIVMM};
	for (int i = 0; i < 2; i++) {
		b->bell_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct kvm_ioeventfd io = {.addr = addr[i], .len = len, .fd = b->bell_fd[i]};
		if (b->bell_fd[i] < 0 || ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
			return errorf_errno(e, "doorbell: KVM_IOEVENTFD");
	}
	b->waiter_stop_fd = eventfd(0, EFD_CLOEXEC);
	if (b->waiter_stop_fd < 0)
		return errorf_errno(e, "eventfd");
	int r = pthread_create(&b->waiter, NULL, doorbell_waiter, b);
	if (r)
		return errorf(e, "cannot start the doorbell thread: %s", strerror(r));
	b->waiter_started = true;
	return 0;
}

static void remove_doorbells(struct bench *b)
{
	if (b->waiter_started) {
		eventfd_write(b->waiter_stop_fd, 1);
		pthread_join(b->waiter, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (b->bell_fd[i] >= 0)
			close(b->bell_fd[i]);
	if (b->waiter_stop_fd >= 0)
		close(b->waiter_stop_fd);
}

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
			if (b->floor_exits) {
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
	if (!is_payload_exit(v->run, b->kind))
		stop_request(&b->vm.stop, 1,
			     "floor: the last of %u exits was not the payload's %s exit "
			     "(exit reason %u): guest and host lost step",
			     n, kind_names[b->kind], v->run->exit_reason);
}

/* Where the run is, for a timeout's message. */
static void describe_progress(const struct bench *b, char *out, size_t n)
{
	if (b->kind >= BENCH_KINDS) {
		snprintf(out, n, "before the first round");
		return;
	}
	snprintf(out, n, "in round %u of %s (%s)", b->rounds_started[b->kind], kind_names[b->kind],
		 b->floor_go ? "floor" : "minivmm's path");
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

/* Runs the payload to its end; the report lands in b->report. The VM starts
 * and stops as minivmm's does (vm_start, vm_stop); the floor loop on this
 * thread stands where minivmm's main thread waits (vm_wait). */
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
			unsigned n = b->floor_exits;
			pthread_mutex_unlock(&b->lock);
			run_floor(b, n);
			pthread_mutex_lock(&b->lock);
			b->floor_exits = 0;
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

/* ---- command line ---- */

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: minivmm-bench [--exits N] [--rounds R] [--kinds K,K...] [--timer-count T]\n"
	    "                     [--json[=PATH]] [--qemu[=QEMU]] [--no-seccomp] [--timeout S]\n"
	    "                     [--write-payload FILE]\n"
	    "  kinds: pio_out pio_in mmio_write mmio_read doorbell hlt_timer (default: all)\n");
}

static int parse_uint(const char *opt, const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "minivmm-bench: %s %s: must be a number from %u to %u\n", opt, s,
			min, max);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_kinds(const char *s, bool *kinds)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int k = 0;
		while (k < BENCH_KINDS && strcmp(w, kind_names[k]))
			k++;
		if (k == BENCH_KINDS) {
			fprintf(stderr, "minivmm-bench: --kinds: unknown kind '%s'\n", w);
			return -1;
		}
		kinds[k] = true;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct bench_options *o)
{
	static const struct option opts[] = {
	    {"exits", required_argument, NULL, 'e'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"kinds", required_argument, NULL, 'k'},
	    {"timer-count", required_argument, NULL, 't'},
	    {"json", optional_argument, NULL, 'j'},
	    {"qemu", optional_argument, NULL, 'q'},
	    {"no-seccomp", no_argument, NULL, 's'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"write-payload", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	*o = (struct bench_options){
	    .exits = 20000, .rounds = 10, .timer_count = 10000, .timeout = 600, .seccomp = true};
	bool any_kind = false;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (parse_uint("--exits", optarg, 1, 1000000, &o->exits))
				return -1;
			break;
		case 'r':
			if (parse_uint("--rounds", optarg, 1, 1000, &o->rounds))
				return -1;
			break;
		case 'k':
			if (parse_kinds(optarg, o->kinds))
				return -1;
			any_kind = true;
			break;
		case 't':
			if (parse_uint("--timer-count", optarg, 1, 100000000, &o->timer_count))
				return -1;
			break;
		case 'j':
			o->json_path = optarg ? optarg : "-";
			break;
		case 'q':
			o->qemu = optarg ? optarg : "qemu-system-x86_64";
			break;
		case 's':
			o->seccomp = false;
			break;
		case 'T':
			if (parse_uint("--timeout", optarg, 1, 86400, &o->timeout))
				return -1;
			break;
		case 'w':
			o->write_payload = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "minivmm-bench: %s: unknown option or missing value\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "minivmm-bench: %s: unexpected argument\n", argv[optind]);
		return -1;
	}
	if ((uint64_t)o->exits * o->rounds > 4000000) {
		fprintf(stderr, "minivmm-bench: --exits x --rounds: at most 4000000 samples per "
				"mode\n");
		return -1;
	}
	if (!any_kind)
		for (int k = 0; k < BENCH_KINDS; k++)
			o->kinds[k] = true;
	return 0;
}

static void payload_cmdline(const struct bench_options *o, char *out, size_t n)
{
	int len = snprintf(out, n, "exits=%u rounds=%u timer=%u kinds=", o->exits, o->rounds,
			   o->timer_count);
	const char *sep = "";
	for (int k = 0; k < BENCH_KINDS; k++)
		if (o->kinds[k] && len >= 0 && (size_t)len < n) {
			len += snprintf(out + len, n - (size_t)len, "%s%s", sep, kind_names[k]);
			sep = ",";
		}
}

int main(int argc, char **argv)
{
	static struct bench b; /* 64 KiB of report: not on the stack */
	if (parse_args(argc, argv, &b.opt))
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
	payload_cmdline(&b.opt, cmdline, sizeof(cmdline));

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
	b.bell_fd[0] = b.bell_fd[1] = b.waiter_stop_fd = -1;
	b.kind = BENCH_KINDS;
	struct errbuf e;
	int status = 1;
	if (vm_create(&b.vm, &cfg, &e) || add_bench_devices(&b.vm, &b, &e) ||
	    vm_assemble(&b.vm, &e) || (b.opt.kinds[BENCH_DOORBELL] && add_doorbells(&b, &e))) {
		fprintf(stderr, "minivmm-bench: %s\n", e.msg);
		goto out;
	}

	uint64_t tsc0 = __rdtsc(), ns0 = stats_monotonic_ns();
	if (run_minivmm(&b))
		goto out;
	uint64_t tsc1 = __rdtsc(), ns1 = stats_monotonic_ns();

	struct bench_results r = {0};
	bench_parse_report(&r, b.report, b.report_len);
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
	remove_doorbells(&b);
	vm_destroy(&b.vm);
	close(memfd);
	return status;
}
