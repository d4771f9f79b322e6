#define _GNU_SOURCE /* REG_RAX in ucontext_t */
#include "vmm/base/seccomp.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* ASan's runtime makes system calls of its own on every thread: sanitizer
 * builds allow those too (sanitizer_extra), and the filters stay on. UBSan
 * needs only write() for its reports. A report from a filtered thread cannot
 * open /proc/self/maps or run llvm-symbolizer: use --no-seccomp for a
 * symbolized one. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* si_code of a seccomp SIGSYS (<asm-generic/siginfo.h>, which clashes with
 * glibc's <signal.h>). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* What a rule checks besides the system call number. */
enum arg_check {
	ANY,
	NO_EXEC,     /* mmap, mprotect: no PROT_EXEC in the protection (argument 2) */
	ABORT_ONLY,  /* tgkill: only SIGABRT (argument 2), what abort() sends itself */
	LISTED_FD,   /* read, write, readv, writev: argument 0 in seccomp_fds.io */
	EPOLL_SET,   /* epoll_wait: on seccomp_fds.epoll_fd; epoll_ctl: that, on a listed fd */
	OWN_PROCESS, /* tgkill: to a thread of this process only (argument 0) */
	FRAMES_FD,   /* readv, writev: argument 0 is seccomp_fds.frames_fd */
};

struct allow {
	int nr;
	enum arg_check check;
};

/* Both kinds of thread. glibc's malloc may map, protect, trim and unmap a
 * thread's arena (routing-table updates allocate on vCPU threads); a thread
 * exiting advises its stack away and blocks signals. clock_gettime and
 * friends are usually vDSO calls, but not on every clock source. */
static const struct allow common[] = {
    {SCMP_SYS(read), LISTED_FD},
    {SCMP_SYS(write), LISTED_FD}, /* eventfds (irqfds, kicks, stop), the console, stderr */
    {SCMP_SYS(futex), ANY},
    {SCMP_SYS(clock_gettime), ANY},
    {SCMP_SYS(gettimeofday), ANY},
    {SCMP_SYS(time), ANY},
    {SCMP_SYS(rt_sigreturn), ANY}, /* the kick signal's and SIGSYS's handlers */
    {SCMP_SYS(rt_sigprocmask), ANY},
    {SCMP_SYS(restart_syscall), ANY},
    {SCMP_SYS(mmap), NO_EXEC},
    {SCMP_SYS(mprotect), NO_EXEC},
    {SCMP_SYS(munmap), ANY},
    {SCMP_SYS(madvise), ANY},
    {SCMP_SYS(brk), ANY},
    {SCMP_SYS(getpid), ANY}, /* abort(): raise(SIGABRT) */
    {SCMP_SYS(gettid), ANY},
    {SCMP_SYS(tgkill), ABORT_ONLY},
    {SCMP_SYS(exit), ANY},
    {SCMP_SYS(exit_group), ANY},
};

/* A vCPU thread: exits (vmm/exit.c, insn_fixup.c), devices, the virtio
 * transport's DRIVER_OK and reset, MSI-X routes (an irqfd per vector, on an
 * eventfd made at init: the thread creates and closes no descriptor).
 * ioctl is limited further, below. */
static const struct allow vcpu_only[] = {
    {SCMP_SYS(ioctl), ANY},
};

/* The virtio-net worker: epoll, frames to and from the TAP. */
static const struct allow worker_only[] = {
    {SCMP_SYS(epoll_wait), EPOLL_SET}, {SCMP_SYS(epoll_pwait), EPOLL_SET},
    {SCMP_SYS(epoll_ctl), EPOLL_SET},  {SCMP_SYS(readv), FRAMES_FD},
    {SCMP_SYS(writev), FRAMES_FD},     {SCMP_SYS(ioctl), ANY}, /* KVM_IRQ_LINE on the VM only */
};

/* The main thread, once the vCPU threads run (vm_run): the stop loop, the
 * console, the link watch, the stats, then the tear-down. It makes no
 * descriptor and opens nothing (the stats file was opened at start); it
 * joins threads, and waits for minivmm-undo (net/undo.c), which does what
 * needs rights. read and write are not scoped to descriptors here: the
 * thread holds no capability, so its netlink socket changes nothing. */
static const struct allow main_only[] = {
    {SCMP_SYS(poll), ANY},
    {SCMP_SYS(ppoll), ANY},
    {SCMP_SYS(recvmsg), ANY},  /* the link watch's notifications */
    {SCMP_SYS(recvfrom), ANY}, /* minivmm-undo's end of stream */
    {SCMP_SYS(sendmsg), ANY},  /* the link watch's dump request after ENOBUFS */
    {SCMP_SYS(sendto), ANY},
    {SCMP_SYS(shutdown), ANY}, /* the end of minivmm-undo's record */
    {SCMP_SYS(wait4), ANY},    /* minivmm-undo, once it is done */
    {SCMP_SYS(close), ANY},
    {SCMP_SYS(dup2), ANY}, /* outputs_stop(): the real stdout and stderr back on 1 and 2 */
    {SCMP_SYS(dup3), ANY},
    {SCMP_SYS(fcntl), ANY}, /* fdopen() of the stats file */
    {SCMP_SYS(fstat), ANY}, /* stdio's first write to a stream */
    {SCMP_SYS(newfstatat), ANY},
    {SCMP_SYS(ftruncate), ANY}, /* the stats file, written anew */
    {SCMP_SYS(lseek), ANY},
    {SCMP_SYS(nanosleep), ANY},
    {SCMP_SYS(clock_nanosleep), ANY},
    {SCMP_SYS(ioctl), ANY}, /* the terminal and the VM's: below */
};

/* ASan: each thread's alternate signal stack comes down as it exits, and the
 * runtime's spin locks yield under contention. */
static const struct allow sanitizer_extra[] = {
    {SCMP_SYS(sigaltstack), ANY},
    {SCMP_SYS(sched_yield), ANY},
};

/* The ioctls, each on one descriptor. */
static const unsigned long vcpu_fd_ioctls[] = {
    KVM_RUN,
    KVM_GET_REGS,	 /* exit.c (guest linear -> physical), insn_fixup.c, dumps */
    KVM_SET_REGS,	 /* insn_fixup.c */
    KVM_GET_SREGS,	 /* the same */
    KVM_TRANSLATE,	 /* exit.c: the faulting instruction's bytes */
    KVM_GET_FPU,	 /* insn_fixup.c: fwait, fnclex */
    KVM_SET_FPU,	 /* insn_fixup.c: fnclex */
    KVM_GET_VCPU_EVENTS, /* insn_fixup.c: injecting #BP, #MF, #UD */
    KVM_SET_VCPU_EVENTS,
};
static const unsigned long vcpu_vm_ioctls[] = {
    KVM_IRQ_LINE,	 /* ISA interrupts (UART, i8042), PCI INTx */
    KVM_SET_GSI_ROUTING, /* MSI-X vectors programmed by the guest (irq_routing.c) */
    KVM_IRQFD,		 /* the same: bound while unmasked, unbound while masked (msix.c) */
    KVM_IOEVENTFD,	 /* doorbells, registered at DRIVER_OK, removed at reset */
};
static const unsigned long worker_vm_ioctls[] = {KVM_IRQ_LINE};
/* The guest's receive offloads, told to the TAP at DRIVER_OK and reset:
 * by the worker, which owns the TAP, never by a vCPU. */
static const unsigned long worker_tap_ioctls[] = {TUNSETOFFLOAD};
/* Console input raises the UART's interrupt; the tear-down takes doorbells
 * and irqfds out; the terminal goes back to how it was. */
static const unsigned long main_vm_ioctls[] = {KVM_IRQ_LINE, KVM_IOEVENTFD, KVM_IRQFD,
					       KVM_SET_GSI_ROUTING};
static const unsigned long main_tty_ioctls[] = {TCGETS, TCSETS, TCSETSW, TCSETSF};
/* The NIC's reset at tear-down, and a TAP that was there before put back
 * (tap_close()). */
static const unsigned long main_tap_ioctls[] = {TUNSETOFFLOAD, TUNSETVNETHDRSZ};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* One rule per listed descriptor (the kernel reads an fd argument as an
 * unsigned int, so the low 32 bits are compared); for epoll_ctl, the set is
 * argument 0 and the descriptor argument 2. */
static int add_fd_rules(scmp_filter_ctx f, const struct allow *a, const struct seccomp_fds *fds)
{
	int io[SECCOMP_MAX_FDS + 2] = {STDOUT_FILENO, STDERR_FILENO}, n = 2, r = 0;
	for (int i = 0; i < fds->n_io; i++) {
		int k = 0;
		while (k < n && io[k] != fds->io[i])
			k++;
		if (k == n) /* a second rule for the same fd: libseccomp says EEXIST */
			io[n++] = fds->io[i];
	}
	if (a->check == EPOLL_SET && a->nr != SCMP_SYS(epoll_ctl))
		return fds->epoll_fd < 0
			   ? 0
			   : seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 1,
					      SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)fds->epoll_fd));
	for (int i = 0; i < n && !r; i++) {
		if (a->check == EPOLL_SET)
			r = fds->epoll_fd < 0
				? 0
				: seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 2,
						   SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)fds->epoll_fd),
						   SCMP_A2_32(SCMP_CMP_EQ, (uint32_t)io[i]));
		else
			r = seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 1,
					     SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)io[i]));
	}
	return r;
}

static int add_allow(scmp_filter_ctx f, const struct allow *a, const struct seccomp_fds *fds,
		     struct errbuf *e)
{
	int r;
	enum arg_check check = a->check;
	/* A thread whose table holds only its own descriptors needs no check
	 * of which one a call names: any it can name is on its list. */
	if (fds && fds->own_table &&
	    (check == LISTED_FD || check == EPOLL_SET || check == FRAMES_FD))
		check = ANY;
	switch (check) {
	case NO_EXEC:
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 1,
				     SCMP_A2_32(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		break;
	case ABORT_ONLY:
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 1, SCMP_A2_32(SCMP_CMP_EQ, SIGABRT));
		break;
	case LISTED_FD:
	case EPOLL_SET:
		/* No list (the main thread's filter): any descriptor. */
		r = fds ? add_fd_rules(f, a, fds) : seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 0);
		break;
	case FRAMES_FD:
		r = !fds || fds->frames_fd < 0
			? 0
			: seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 1,
					   SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)fds->frames_fd));
		break;
	case OWN_PROCESS:
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 1,
				     SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)getpid()));
		break;
	default:
		r = seccomp_rule_add(f, SCMP_ACT_ALLOW, a->nr, 0);
	}
	if (r)
		return errorf(e, "seccomp: cannot add system call %d to a filter: %s", a->nr,
			      strerror(-r));
	return 0;
}

static int add_list(scmp_filter_ctx f, const struct allow *list, size_t n,
		    const struct seccomp_fds *fds, struct errbuf *e)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].nr != SCMP_SYS(ioctl) && add_allow(f, &list[i], fds, e))
			return -1;
	return 0;
}

/* ioctl(fd, request) for each request, on that fd only. The kernel reads
 * both as 32-bit values (unsigned int fd, unsigned int cmd), so the filter
 * compares the low 32 bits, as the kernel will use them. */
static int add_ioctls(scmp_filter_ctx f, int fd, const unsigned long *reqs, size_t n,
		      struct errbuf *e)
{
	if (fd < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
					 SCMP_A0_32(SCMP_CMP_EQ, (uint32_t)fd),
					 SCMP_A1_32(SCMP_CMP_EQ, (uint32_t)reqs[i]));
		if (r)
			return errorf(e, "seccomp: cannot add ioctl %#lx: %s", reqs[i],
				      strerror(-r));
	}
	return 0;
}

/* Everything not allowed traps to on_sigsys, which refuses it with EPERM. A
 * system call of another ABI (int $0x80, x32) kills the process. */
static scmp_filter_ctx new_filter(const struct seccomp_fds *fds, struct errbuf *e)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_TRAP);
	if (!f) {
		errorf(e, "seccomp: cannot create a filter (out of memory)");
		return NULL;
	}
	int r = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (!r)
		r = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 1);
	if (!r)
		r = add_list(f, common, N(common), fds, e);
	if (!r && SANITIZED)
		r = add_list(f, sanitizer_extra, N(sanitizer_extra), fds, e);
	if (r) {
		if (r != -1)
			errorf(e, "seccomp: cannot set up a filter: %s", strerror(-r));
		seccomp_release(f);
		return NULL;
	}
	return f;
}

/* f, or NULL (released) if adding its rules failed. */
static scmp_filter_ctx built(scmp_filter_ctx f, bool failed)
{
	if (f && failed) {
		seccomp_release(f);
		return NULL;
	}
	return f;
}

scmp_filter_ctx seccomp_vcpu_filter(const struct seccomp_fds *fds, struct errbuf *e)
{
	scmp_filter_ctx f = new_filter(fds, e);
	return built(f, f && (add_list(f, vcpu_only, N(vcpu_only), fds, e) ||
			      add_ioctls(f, fds->vcpu_fd, vcpu_fd_ioctls, N(vcpu_fd_ioctls), e) ||
			      add_ioctls(f, fds->vm_fd, vcpu_vm_ioctls, N(vcpu_vm_ioctls), e)));
}

scmp_filter_ctx seccomp_worker_filter(const struct seccomp_fds *fds, struct errbuf *e)
{
	scmp_filter_ctx f = new_filter(fds, e);
	return built(f,
		     f && (add_list(f, worker_only, N(worker_only), fds, e) ||
			   add_ioctls(f, fds->vm_fd, worker_vm_ioctls, N(worker_vm_ioctls), e) ||
			   add_ioctls(f, fds->tap_fd, worker_tap_ioctls, N(worker_tap_ioctls), e)));
}

/* The output thread (vmm/outputs.c): it polls two pipes and copies them
 * to the real stdout and stderr, which may block. */
static const struct allow output_only[] = {
    {SCMP_SYS(poll), ANY},
    {SCMP_SYS(ppoll), ANY},
};

scmp_filter_ctx seccomp_output_filter(struct errbuf *e)
{
	scmp_filter_ctx f = new_filter(NULL, e);
	return built(f, f && add_list(f, output_only, N(output_only), NULL, e));
}

bool seccomp_main_filtered(void)
{
	return !SANITIZED;
}

scmp_filter_ctx seccomp_main_filter(int vm_fd, int tty_fd, int tap_fd, struct errbuf *e)
{
	static const struct allow kick = {SCMP_SYS(tgkill), OWN_PROCESS};
	scmp_filter_ctx f = new_filter(NULL, e);
	return built(f, f && (add_list(f, main_only, N(main_only), NULL, e) ||
			      add_allow(f, &kick, NULL, e) ||
			      add_ioctls(f, vm_fd, main_vm_ioctls, N(main_vm_ioctls), e) ||
			      add_ioctls(f, tty_fd, main_tty_ioctls, N(main_tty_ioctls), e) ||
			      add_ioctls(f, tap_fd, main_tap_ioctls, N(main_tap_ioctls), e)));
}

int seccomp_main_syscalls(void)
{
	return (int)(N(common) + N(main_only) + (SANITIZED ? N(sanitizer_extra) : 0));
}

int seccomp_vcpu_syscalls(void)
{
	return (int)(N(common) + N(vcpu_only) + (SANITIZED ? N(sanitizer_extra) : 0));
}

int seccomp_worker_syscalls(void)
{
	return (int)(N(common) + N(worker_only) + (SANITIZED ? N(sanitizer_extra) : 0));
}

/* ---- refusing: SIGSYS -> one line on stderr, EPERM to the caller ---------- */

static _Thread_local char thread_name[32];
static _Thread_local unsigned reports;
#define REPORTS_MAX 16 /* per thread: a refused call in a loop must not flood */

/* Appends s to buf at *at; async-signal-safe (no stdio in a handler). */
static void put(char *buf, size_t size, size_t *at, const char *s)
{
	while (*s && *at + 1 < size)
		buf[(*at)++] = *s++;
}

static void put_uint(char *buf, size_t size, size_t *at, unsigned long v)
{
	char digits[24];
	size_t n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof(digits));
	while (n && *at + 1 < size)
		buf[(*at)++] = digits[--n];
}

static void on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
	(void)sig;
	if (si->si_code != SYS_SECCOMP)
		return; /* a SIGSYS someone sent: nothing to refuse */
	ucontext_t *uc = ucontext;
	/* The system call did not run; this is what it returns. */
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
	if (reports >= REPORTS_MAX)
		return;
	reports++;
	int saved = errno;
	char msg[200];
	size_t at = 0;
	put(msg, sizeof(msg), &at, "minivmm: seccomp: refused system call ");
	put_uint(msg, sizeof(msg), &at, (unsigned long)(unsigned)si->si_syscall);
	put(msg, sizeof(msg), &at, " on the ");
	put(msg, sizeof(msg), &at, thread_name[0] ? thread_name : "filtered");
	put(msg, sizeof(msg), &at, " thread (EPERM); --no-seccomp turns the filters off\n");
	if (write(STDERR_FILENO, msg, at) < 0) {
		/* nowhere else to say it */
	}
	errno = saved;
}

int seccomp_drop_capabilities(struct errbuf *e)
{
	/* capset(2) with pid 0 changes the calling thread only: Linux keeps
	 * capabilities per thread (credentials are per task). Effective,
	 * permitted and inheritable all go, and with permitted empty nothing
	 * can bring them back short of an execve, which the filter refuses. */
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
	memset(none, 0, sizeof(none));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return errorf_errno(e, "cannot clear the ambient capabilities");
	if (syscall(SYS_capset, &hdr, none) < 0)
		return errorf_errno(e, "cannot drop the thread's capabilities");
	return 0;
}

int seccomp_apply(scmp_filter_ctx f, const char *who, struct errbuf *e)
{
	snprintf(thread_name, sizeof(thread_name), "%s", who);
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	/* A trap while SIGSYS is blocked would kill the process instead. */
	if (sigaction(SIGSYS, &sa, NULL) || pthread_sigmask(SIG_UNBLOCK, &sys, NULL)) {
		seccomp_release(f);
		return errorf_errno(e, "seccomp: cannot install the SIGSYS handler");
	}
	int r = seccomp_load(f);
	seccomp_release(f);
	if (r)
		return errorf(e, "seccomp: cannot load the filter: %s", strerror(-r));
	return 0;
}

static int compare_fds(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* Closes every descriptor from lo to hi (inclusive) in this thread's table.
 * close_range() needs Linux 5.9; before it, each one that is open. */
static int close_between(unsigned int lo, unsigned int hi)
{
	if (lo > hi)
		return 0;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -1;
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = lo; fd <= (long)hi && fd < max; fd++)
		close((int)fd);
	return 0;
}

int seccomp_own_table(const struct seccomp_fds *fds, struct errbuf *e)
{
	int keep[SECCOMP_MAX_FDS + 7] = {STDOUT_FILENO, STDERR_FILENO, fds->vcpu_fd,  fds->vm_fd,
					 fds->tap_fd,	fds->epoll_fd, fds->frames_fd};
	int n = 7;
	for (int i = 0; i < fds->n_io && i < SECCOMP_MAX_FDS; i++)
		keep[n++] = fds->io[i];
	qsort(keep, (size_t)n, sizeof(keep[0]), compare_fds);
	if (unshare(CLONE_FILES))
		return errorf_errno(e, "cannot give the thread a descriptor table of its own");
	unsigned int next = 0; /* the lowest descriptor not yet kept or closed */
	for (int i = 0; i < n; i++) {
		if (keep[i] < 0 || (unsigned int)keep[i] < next)
			continue; /* -1 (none), or a repeat */
		if ((unsigned int)keep[i] > next && close_between(next, (unsigned int)keep[i] - 1))
			return errorf_errno(e,
					    "cannot close the descriptors the thread does not use");
		next = (unsigned int)keep[i] + 1;
	}
	if (close_between(next, ~0U))
		return errorf_errno(e, "cannot close the descriptors the thread does not use");
	return 0;
}

int seccomp_thread_start(void *ctx, struct errbuf *e)
{
	const struct seccomp_thread *t = ctx;
	prctl(PR_SET_NAME, t->name, 0, 0, 0);
	if (seccomp_drop_capabilities(e))
		return -1;
	/* The worker makes a system call or two per frame on descriptors it
	 * holds from the start; a table of its own scopes them for free (see
	 * struct seccomp_fds). A vCPU's per-exit call is an ioctl, checked by
	 * request anyway, and it hands KVM descriptors (irqfds) by number, so
	 * it keeps the process's table and its argument checks. */
	struct seccomp_fds fds = t->fds;
	if (t->kind == SECCOMP_WORKER) {
		if (seccomp_own_table(&fds, e))
			return -1;
		fds.own_table = true;
	}
	if (!t->filtered)
		return 0;
	scmp_filter_ctx f = t->kind == SECCOMP_VCPU	? seccomp_vcpu_filter(&fds, e)
			    : t->kind == SECCOMP_WORKER ? seccomp_worker_filter(&fds, e)
							: seccomp_output_filter(e);
	return f ? seccomp_apply(f, t->who, e) : -1;
}
