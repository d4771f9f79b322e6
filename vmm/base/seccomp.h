/*
 * Seccomp allowlists, one per kind of thread: every vCPU thread and the
 * virtio-net worker (the threads a guest drives), the output thread, and
 * the main thread once set-up is over (the undo of the network set-up,
 * which needs rights, is net/undo.c's process). Each installs its own
 * filter on itself (seccomp without TSYNC filters the calling thread only).
 * docs/security.md, "Seccomp", has the lists and the why.
 *
 * A system call outside the list is refused, not fatal: it returns EPERM,
 * and the thread prints one line naming it (through a SIGSYS handler) so a
 * missing entry shows up. --no-seccomp turns the filters off.
 */
#ifndef MINIVMM_SECCOMP_H
#define MINIVMM_SECCOMP_H

#include <seccomp.h>
#include <stdbool.h>

#include "vmm/base/error.h"

/* The descriptors each system call may reach, so that a taken-over thread
 * cannot use any other the process holds (the main thread's rtnetlink
 * socket, say, which a plain write() would turn into host network changes).
 * ioctl() names its requests per descriptor; -1 leaves that one out. */
#define SECCOMP_MAX_FDS 32
struct seccomp_fds {
	int vcpu_fd;   /* this vCPU's (vCPU filter only) */
	int vm_fd;     /* the VM's: interrupt lines, MSI routes, irqfds, ioeventfds */
	int tap_fd;    /* the NIC's TAP: TUNSETOFFLOAD at DRIVER_OK and reset (worker only) */
	int epoll_fd;  /* the worker's epoll set: epoll_wait, epoll_ctl (worker only) */
	int frames_fd; /* readv, writev: the TAP (worker only); -1: none */
	/* read, write and epoll_ctl's target: on these only. stdout and
	 * stderr (fds 1 and 2) are always in. */
	int io[SECCOMP_MAX_FDS];
	int n_io;
	/* The thread holds a descriptor table of its own with only the fds
	 * above in it (seccomp_own_table): read, write, readv, writev and epoll
	 * then need no argument check, and the kernel answers them from the
	 * filter's allow cache instead of running the filter on every frame. */
	bool own_table;
};

/* Adds fd to f->io; ignores -1 and what does not fit (then refused). */
static inline void seccomp_fds_add(struct seccomp_fds *f, int fd)
{
	if (fd >= 0 && f->n_io < SECCOMP_MAX_FDS)
		f->io[f->n_io++] = fd;
}

/* The filter a vCPU thread loads; NULL with a message in e. */
scmp_filter_ctx seccomp_vcpu_filter(const struct seccomp_fds *fds, struct errbuf *e);

/* The filter the virtio-net worker loads; NULL with a message in e. */
scmp_filter_ctx seccomp_worker_filter(const struct seccomp_fds *fds, struct errbuf *e);

/* The filter the main thread loads once the vCPU threads run (they would
 * inherit it); VM_FD, TTY_FD (stdin, the terminal) and TAP_FD (or -1) get
 * their ioctls. NULL with a message in e. */
scmp_filter_ctx seccomp_main_filter(int vm_fd, int tty_fd, int tap_fd, struct errbuf *e);

/* The filter the output thread (vmm/outputs.c) loads as it starts. */
scmp_filter_ctx seccomp_output_filter(struct errbuf *e);

/* Whether the main thread loads it: not in sanitizer builds, whose leak
 * check runs as the main thread exits and needs what the filter refuses
 * (cloning a tracer thread that ptraces the others and reads /proc). */
bool seccomp_main_filtered(void);

/* Least privilege per thread: the calling thread gives up every capability
 * (effective, permitted, inheritable, ambient); the process's other threads
 * keep theirs. A guest-facing thread does this first, whether or not it then
 * loads a filter: nothing it does needs one (KVM, eventfd and tun ioctls on
 * descriptors it already holds check none). */
int seccomp_drop_capabilities(struct errbuf *e);

/* Gives the calling thread a descriptor table of its own
 * (unshare(CLONE_FILES)) and closes in it every descriptor fds does not name
 * (stdout and stderr stay): a taken-over thread then cannot reach the
 * process's other descriptors at all, whatever call it makes, and neither
 * any the process opens later. The other threads' tables are untouched. */
int seccomp_own_table(const struct seccomp_fds *fds, struct errbuf *e);
/* Loads f on the calling thread only, with no_new_privs, and releases it.
 * who names the thread in the line a refused call prints ("vCPU 0"). */
int seccomp_apply(scmp_filter_ctx f, const char *who, struct errbuf *e);

/* How a guest-facing or helper thread locks itself down as it starts: its
 * name (in ps and /proc), no capabilities, for the worker a descriptor table
 * of its own (seccomp_own_table; fds.own_table), and, when filtered, its
 * kind's allowlist over fds. */
enum seccomp_kind { SECCOMP_VCPU, SECCOMP_WORKER, SECCOMP_OUTPUT };
struct seccomp_thread {
	const char *name; /* at most 15 bytes: "vcpu0", "virtio-net" */
	const char *who;  /* in messages: "vCPU 0", "virtio-net worker" */
	enum seccomp_kind kind;
	bool filtered; /* false: --no-seccomp */
	struct seccomp_fds fds;
};

/* Does the above on the calling thread (ctx is a struct seccomp_thread, so
 * that this is the shape of a thread's start hook). Returns -1 with the
 * reason in e, the thread then still nameless of rights but unfiltered. */
int seccomp_thread_start(void *ctx, struct errbuf *e);

/* How many distinct system calls each allowlist lets through. */
int seccomp_vcpu_syscalls(void);
int seccomp_worker_syscalls(void);
int seccomp_main_syscalls(void);

#endif
