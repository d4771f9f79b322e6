/* The seccomp allowlists (vmm/base/seccomp.c), loaded for real on a thread of this
 * process: what a vCPU thread or the NIC's worker needs goes through, and
 * what a compromised one would want (files, sockets, processes, other fds'
 * ioctls, executable memory) is refused with EPERM, one line on stderr each,
 * while the rest of the process stays unfiltered. No KVM needed: the
 * "vCPU" and "VM" descriptors are /dev/null, where an ioctl the filter lets
 * through fails with ENOTTY, which is how we tell it was let through. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "devices/cmos_rtc.h"
#include "vmm/base/seccomp.h"

static int vcpu_fd, vm_fd, tap_fd, other_fd;
static int netlink_fd; /* what the main thread keeps: rtnetlink, as link_watch.c */
static int epoll_fd;   /* the worker's epoll set */
static int pipe_fds[2];
static int err_fd; /* where stderr goes while a filtered thread runs */

/* The result of one system call made under the filter: -errno or >= 0. */
#define TRY(call) ((call) < 0 ? -errno : 0)

struct results {
	int load;
	/* let through */
	int write_pipe, read_pipe, run_ioctl, regs_ioctl, irq_line, gsi_routing, ioeventfd, offload,
	    clock, small_malloc, big_malloc, mmap_rw;
	/* refused */
	int socket, open_file, execve, fork, mmap_exec, mprotect_exec, other_fd_ioctl,
	    vm_ioctl_on_vcpu, create_vcpu, epoll, kill_other, eventfd, close, write_netlink,
	    write_other;
	/* worker */
	int readv, readv_other, writev, epoll_ctl, epoll_wait, run_on_vm, writev_netlink,
	    epoll_other_set, epoll_ctl_other;
	/* main */
	int poll, stats_file, undo_eof, waited, kick_own, tty_ioctl, tty_other_ioctl, dup, dup2;
};

static void setup(void)
{
	vcpu_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	vm_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	tap_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	other_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ck_assert_int_eq(pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
	netlink_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ck_assert_int_ge(netlink_fd, 0);
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(epoll_fd, 0);
	char path[] = "/tmp/minivmm-seccomp-XXXXXX";
	err_fd = mkstemp(path);
	ck_assert_int_ge(err_fd, 0);
	unlink(path);
}

static void teardown(void)
{
	close(vcpu_fd);
	close(vm_fd);
	close(tap_fd);
	close(other_fd);
	close(netlink_fd);
	close(epoll_fd);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	close(err_fd);
}

/* Loads the vCPU filter, with TAP (or -1) as the TAP descriptor, on this
 * thread; 0 or -1. */
static int load_vcpu_filter(int tap, const char *who)
{
	struct errbuf e;
	const struct seccomp_fds fds = {.vcpu_fd = vcpu_fd,
					.vm_fd = vm_fd,
					.tap_fd = tap,
					.epoll_fd = -1,
					.frames_fd = -1,
					.io = {pipe_fds[0], pipe_fds[1]},
					.n_io = 2};
	scmp_filter_ctx f = seccomp_vcpu_filter(&fds, &e);
	return f ? seccomp_apply(f, who, &e) : -1;
}

static void *vcpu_like(void *arg)
{
	struct results *r = arg;
	r->load = load_vcpu_filter(tap_fd, "vCPU 0");
	if (r->load)
		return NULL;

	char c = 'x';
	r->write_pipe = TRY(write(pipe_fds[1], &c, 1));
	r->read_pipe = TRY(read(pipe_fds[0], &c, 1));
	r->run_ioctl = TRY(ioctl(vcpu_fd, KVM_RUN, 0));
	struct kvm_regs regs;
	r->regs_ioctl = TRY(ioctl(vcpu_fd, KVM_GET_REGS, &regs));
	struct kvm_irq_level l = {0};
	r->irq_line = TRY(ioctl(vm_fd, KVM_IRQ_LINE, &l));
	r->gsi_routing = TRY(ioctl(vm_fd, KVM_SET_GSI_ROUTING, NULL));
	r->ioeventfd = TRY(ioctl(vm_fd, KVM_IOEVENTFD, NULL));
	struct timespec ts;
	r->clock = TRY(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts)); /* not the vDSO */
	void *p = malloc(100);
	r->small_malloc = p ? 0 : -ENOMEM;
	free(p);
	p = malloc(4 << 20); /* past the mmap threshold */
	r->big_malloc = p ? 0 : -ENOMEM;
	if (p)
		memset(p, 1, 4 << 20);
	free(p);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->mmap_rw = p == MAP_FAILED ? -errno : 0;

	r->socket = TRY(socket(AF_INET, SOCK_STREAM, 0));
	r->open_file = TRY(open("/etc/passwd", O_RDONLY));
	char *const argv[] = {"/bin/true", NULL};
	r->execve = TRY(execve("/bin/true", argv, NULL));
	r->fork = TRY(syscall(SYS_fork));
	void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->mmap_exec = x == MAP_FAILED ? -errno : 0;
	r->mprotect_exec =
	    p == MAP_FAILED ? -EINVAL : TRY(mprotect(p, 4096, PROT_READ | PROT_EXEC));
	r->other_fd_ioctl = TRY(ioctl(other_fd, KVM_RUN, 0));
	r->vm_ioctl_on_vcpu = TRY(ioctl(vcpu_fd, KVM_IRQ_LINE, &l));
	r->create_vcpu = TRY(ioctl(vm_fd, KVM_CREATE_VCPU, 1UL));
	r->epoll = TRY(epoll_create1(EPOLL_CLOEXEC));
	r->kill_other = TRY(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGKILL));
	/* Descriptors it did not make and has no use for. */
	int efd = eventfd(0, EFD_CLOEXEC);
	r->eventfd = efd < 0 ? -errno : 0;
	r->close = TRY(close(other_fd));
	static const char rtm[16] = {16}; /* a netlink header would follow */
	r->write_netlink = TRY(write(netlink_fd, rtm, sizeof(rtm)));
	r->write_other = TRY(write(other_fd, &c, 1));
	if (p != MAP_FAILED)
		munmap(p, 4096);
	return NULL;
}

/* What a worker does, and what a taken-over one might try, on a thread
 * that has its filter (and perhaps its own table) already. */
static void worker_calls(struct results *r)
{
	char c = 'y';
	struct iovec iov = {&c, 1};
	r->writev = TRY(writev(pipe_fds[1], &iov, 1));
	/* Frames: on the TAP only (here the pipe's writing end, where readv
	 * gets through the filter to fail with EBADF), not on the other end. */
	r->readv = TRY(readv(pipe_fds[1], &iov, 1));
	r->readv_other = TRY(readv(pipe_fds[0], &iov, 1));
	r->irq_line = TRY(ioctl(vm_fd, KVM_IRQ_LINE, NULL));
	/* The guest's offloads, told to the TAP it owns. */
	r->offload = TRY(ioctl(tap_fd, TUNSETOFFLOAD, 0UL));
	r->run_on_vm = TRY(ioctl(vm_fd, KVM_RUN, 0));
	r->gsi_routing = TRY(ioctl(vm_fd, KVM_SET_GSI_ROUTING, NULL));
	r->epoll_ctl = TRY(epoll_ctl(epoll_fd, EPOLL_CTL_DEL, pipe_fds[0], NULL));
	struct epoll_event ev;
	r->epoll_wait = TRY(epoll_wait(epoll_fd, &ev, 1, 0));
	/* Descriptors not its own, before any call below could make one
	 * that takes a free number in a table of its own. */
	r->epoll_other_set = TRY(epoll_wait(other_fd, &ev, 1, 0));
	r->epoll_ctl_other = TRY(epoll_ctl(epoll_fd, EPOLL_CTL_DEL, netlink_fd, NULL));
	struct iovec nl = {(void *)"x", 1};
	r->writev_netlink = TRY(writev(netlink_fd, &nl, 1));
	static const char rtm[16] = {16}; /* a netlink header would follow */
	r->write_netlink = TRY(write(netlink_fd, rtm, sizeof(rtm)));
	r->write_other = TRY(write(other_fd, &c, 1));
	r->other_fd_ioctl = TRY(ioctl(other_fd, TUNSETOFFLOAD, 0UL));
	/* New descriptors, files, sockets. */
	r->epoll = TRY(epoll_create1(EPOLL_CLOEXEC));
	int efd = eventfd(0, EFD_CLOEXEC);
	r->eventfd = efd < 0 ? -errno : 0;
	r->close = TRY(close(-1));
	r->socket = TRY(socket(AF_UNIX, SOCK_DGRAM, 0));
	r->open_file = TRY(open("/etc/passwd", O_RDONLY));
}

/* The worker's descriptors here: the pipe's writing end is its TAP. */
static struct seccomp_fds worker_fds(void)
{
	return (struct seccomp_fds){.vcpu_fd = -1,
				    .vm_fd = vm_fd,
				    .tap_fd = tap_fd,
				    .epoll_fd = epoll_fd,
				    .frames_fd = pipe_fds[1],
				    .io = {pipe_fds[0], pipe_fds[1]},
				    .n_io = 2};
}

static void *worker_like(void *arg)
{
	struct results *r = arg;
	struct errbuf e;
	const struct seccomp_fds fds = worker_fds();
	scmp_filter_ctx f = seccomp_worker_filter(&fds, &e);
	r->load = f ? seccomp_apply(f, "virtio-net worker", &e) : -1;
	if (!r->load)
		worker_calls(r);
	return NULL;
}

/* Runs fn on a thread of its own with stderr going to err_fd; returns what
 * the thread wrote there. */
static char *run_filtered(void *(*fn)(void *), struct results *r)
{
	memset(r, 0x55, sizeof(*r));
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(err_fd, STDERR_FILENO), STDERR_FILENO);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, fn, r), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	dup2(saved, STDERR_FILENO);
	close(saved);
	static char buf[8192];
	ssize_t n = pread(err_fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int count(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* What the main thread does once the vCPU threads run, under its filter:
 * the stop loop (poll, read), the stats file (opened at start), the end of
 * minivmm-undo's socket and waiting for it, kicks, the console's interrupt
 * and the terminal. Not: opening, making sockets or processes, signalling
 * other processes. */
static int stats_fd, undo_fd, undo_child;

static void *main_like(void *arg)
{
	struct results *r = arg;
	struct errbuf e;
	scmp_filter_ctx f = seccomp_main_filter(vm_fd, tap_fd, other_fd, &e);
	r->load = f ? seccomp_apply(f, "main", &e) : -1;
	if (r->load)
		return NULL;

	struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
	r->poll = TRY(poll(&p, 1, 0));
	char c = 'm';
	r->write_pipe = TRY(write(pipe_fds[1], &c, 1));
	r->read_pipe = TRY(read(pipe_fds[0], &c, 1));
	r->write_netlink = TRY(recv(netlink_fd, &c, 1, MSG_DONTWAIT)) == -EAGAIN ? 0 : -1;
	FILE *sf = ftruncate(stats_fd, 0) == 0 && lseek(stats_fd, 0, SEEK_SET) == 0
		       ? fdopen(stats_fd, "w")
		       : NULL;
	r->stats_file = sf && fprintf(sf, "{\"stats\": 1}\n") > 0 && fclose(sf) == 0 ? 0 : -errno;
	shutdown(undo_fd, SHUT_WR);
	r->undo_eof = TRY(recv(undo_fd, &c, 1, 0));
	r->waited = waitpid(undo_child, NULL, 0) == undo_child ? 0 : -errno;
	r->kick_own = TRY(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0));
	r->kill_other = TRY(syscall(SYS_tgkill, 1, 1, 0));
	r->irq_line = TRY(ioctl(vm_fd, KVM_IRQ_LINE, NULL));
	r->ioeventfd = TRY(ioctl(vm_fd, KVM_IOEVENTFD, NULL));
	r->run_on_vm = TRY(ioctl(vm_fd, KVM_RUN, 0));
	r->tty_ioctl = TRY(ioctl(tap_fd, TCGETS, NULL));
	r->tty_other_ioctl = TRY(ioctl(tap_fd, TIOCSTI, "x"));
	r->dup = TRY(dup(pipe_fds[0]));
	r->offload = TRY(ioctl(other_fd, TUNSETOFFLOAD, 0UL));
	r->other_fd_ioctl = TRY(ioctl(other_fd, KVM_RUN, 0));
	r->dup2 = TRY(dup2(pipe_fds[0], pipe_fds[0]));
	r->socket = TRY(socket(AF_UNIX, SOCK_DGRAM, 0));
	r->open_file = TRY(open("/etc/passwd", O_RDONLY));
	r->fork = TRY(syscall(SYS_fork));
	r->execve = TRY(execve("/bin/true", (char *[]){"true", NULL}, (char *[]){NULL}));
	void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->mmap_exec = x == MAP_FAILED ? -errno : 0;
	return NULL;
}

START_TEST(test_main_filter)
{
	char path[] = "/tmp/minivmm-stats-XXXXXX";
	stats_fd = mkstemp(path);
	ck_assert_int_ge(stats_fd, 0);
	ck_assert_int_eq(write(stats_fd, "old and longer than the new", 27), 27);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	undo_child = fork();
	ck_assert_int_ge(undo_child, 0);
	if (undo_child == 0) { /* minivmm-undo: waits for the end of stream */
		close(sv[0]);
		char c;
		while (read(sv[1], &c, 1) > 0)
			;
		_exit(0);
	}
	close(sv[1]);
	undo_fd = sv[0];

	struct results r;
	const char *err = run_filtered(main_like, &r);
	ck_assert_int_eq(r.load, 0);
	ck_assert_int_eq(r.poll, 0);
	ck_assert_int_eq(r.write_pipe, 0);
	ck_assert_int_eq(r.read_pipe, 0);
	ck_assert_int_eq(r.write_netlink, 0);
	ck_assert_int_eq(r.stats_file, 0);
	ck_assert_int_eq(r.undo_eof, 0);
	ck_assert_int_eq(r.waited, 0);
	ck_assert_int_eq(r.kick_own, 0);
	ck_assert_int_eq(r.irq_line, -ENOTTY);
	ck_assert_int_eq(r.ioeventfd, -ENOTTY);
	ck_assert_int_eq(r.tty_ioctl, -ENOTTY);
	ck_assert_int_eq(r.offload, -ENOTTY);
	ck_assert_int_eq(r.dup2, 0);
	/* Refused. */
	ck_assert_int_eq(r.kill_other, -EPERM);
	ck_assert_int_eq(r.run_on_vm, -EPERM);
	ck_assert_int_eq(r.tty_other_ioctl, -EPERM);
	ck_assert_int_eq(r.dup, -EPERM);
	ck_assert_int_eq(r.other_fd_ioctl, -EPERM);
	ck_assert_int_eq(r.socket, -EPERM);
	ck_assert_int_eq(r.open_file, -EPERM);
	ck_assert_int_eq(r.fork, -EPERM);
	ck_assert_int_eq(r.execve, -EPERM);
	ck_assert_int_eq(r.mmap_exec, -EPERM);
	ck_assert_msg(count(err, "minivmm: seccomp: refused system call ") == 10, "stderr: %s",
		      err);
	ck_assert_msg(strstr(err, "on the main thread"), "stderr: %s", err);

	/* The stats file holds the new text alone. */
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	unlink(path);
	ck_assert_str_eq(buf, "{\"stats\": 1}\n");
	close(undo_fd);
}
END_TEST

START_TEST(test_vcpu_filter)
{
	struct results r;
	const char *err = run_filtered(vcpu_like, &r);
	ck_assert_int_eq(r.load, 0);
	/* Through the filter: calls that work, and ioctls that reach /dev/null. */
	ck_assert_int_eq(r.write_pipe, 0);
	ck_assert_int_eq(r.read_pipe, 0);
	ck_assert_int_eq(r.run_ioctl, -ENOTTY);
	ck_assert_int_eq(r.regs_ioctl, -ENOTTY);
	ck_assert_int_eq(r.irq_line, -ENOTTY);
	ck_assert_int_eq(r.gsi_routing, -ENOTTY);
	ck_assert_int_eq(r.ioeventfd, -ENOTTY);
	ck_assert_int_eq(r.clock, 0);
	ck_assert_int_eq(r.small_malloc, 0);
	ck_assert_int_eq(r.big_malloc, 0);
	ck_assert_int_eq(r.mmap_rw, 0);
	/* Refused. */
	ck_assert_int_eq(r.socket, -EPERM);
	ck_assert_int_eq(r.open_file, -EPERM);
	ck_assert_int_eq(r.execve, -EPERM);
	ck_assert_int_eq(r.fork, -EPERM);
	ck_assert_int_eq(r.mmap_exec, -EPERM);
	ck_assert_int_eq(r.mprotect_exec, -EPERM);
	ck_assert_int_eq(r.other_fd_ioctl, -EPERM);
	ck_assert_int_eq(r.vm_ioctl_on_vcpu, -EPERM);
	ck_assert_int_eq(r.create_vcpu, -EPERM);
	ck_assert_int_eq(r.epoll, -EPERM);
	ck_assert_int_eq(r.kill_other, -EPERM);
	/* It makes and closes no descriptor, and touches none but its own: not
	 * the main thread's rtnetlink socket, whose write() would change the
	 * host's links as root. */
	ck_assert_int_eq(r.eventfd, -EPERM);
	ck_assert_int_eq(r.close, -EPERM);
	ck_assert_int_eq(r.write_netlink, -EPERM);
	ck_assert_int_eq(r.write_other, -EPERM);
	/* One line for each refusal, naming the call and the thread, and none
	 * for anything else the thread did, its exit included (15: one under
	 * the 16 a thread prints at most, so one more would show). */
	ck_assert_int_eq(count(err, "minivmm: seccomp: refused system call "), 15);
	char line[128];
	snprintf(line, sizeof(line), "refused system call %d on the vCPU 0 thread (EPERM)",
		 SYS_socket);
	ck_assert_msg(strstr(err, line), "stderr lacks \"%s\": %s", line, err);

	/* The filter was the thread's alone: this one may still do it all. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s, 0);
	close(s);
	int fd = open("/etc/passwd", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

START_TEST(test_worker_filter)
{
	struct results r;
	const char *err = run_filtered(worker_like, &r);
	ck_assert_int_eq(r.load, 0);
	ck_assert_int_eq(r.writev, 0);
	ck_assert_int_eq(r.readv, -EBADF);
	ck_assert_int_eq(r.readv_other, -EPERM);
	ck_assert_int_eq(r.irq_line, -ENOTTY);
	ck_assert_int_eq(r.offload, -ENOTTY);
	ck_assert_int_eq(r.epoll_ctl, -ENOENT);
	ck_assert_int_eq(r.epoll_wait, 0);
	ck_assert_int_eq(r.epoll_other_set, -EPERM);
	ck_assert_int_eq(r.epoll_ctl_other, -EPERM);
	ck_assert_int_eq(r.writev_netlink, -EPERM);
	ck_assert_int_eq(r.write_netlink, -EPERM);
	ck_assert_int_eq(r.write_other, -EPERM);
	ck_assert_int_eq(r.other_fd_ioctl, -EPERM);
	/* Refused: what only a vCPU thread needs, and the rest. */
	ck_assert_int_eq(r.run_on_vm, -EPERM);
	ck_assert_int_eq(r.gsi_routing, -EPERM);
	ck_assert_int_eq(r.epoll, -EPERM);
	ck_assert_int_eq(r.eventfd, -EPERM);
	ck_assert_int_eq(r.close, -EPERM);
	ck_assert_int_eq(r.socket, -EPERM);
	ck_assert_int_eq(r.open_file, -EPERM);
	ck_assert_int_eq(count(err, "minivmm: seccomp: refused system call "), 14);
	ck_assert_msg(strstr(err, "on the virtio-net worker thread"), "stderr: %s", err);
}
END_TEST

/* The worker as seccomp_thread_start starts it: a descriptor table of its
 * own holding only its list, then its filter, which needs no argument check
 * for read, write, readv and writev any more. */
static bool worker_filtered;
static void *worker_started(void *arg)
{
	struct results *r = arg;
	struct errbuf e;
	const struct seccomp_thread t = {.name = "virtio-net",
					 .who = "virtio-net worker",
					 .kind = SECCOMP_WORKER,
					 .filtered = worker_filtered,
					 .fds = worker_fds()};
	r->load = seccomp_thread_start((void *)&t, &e);
	if (!r->load)
		worker_calls(r);
	return NULL;
}

static void check_worker_started(bool filtered)
{
	struct results r;
	worker_filtered = filtered;
	const char *err = run_filtered(worker_started, &r);
	ck_assert_int_eq(r.load, 0);
	ck_assert_int_eq(r.writev, 0);
	ck_assert_int_eq(r.readv, -EBADF);  /* the pipe's writing end */
	ck_assert_int_eq(r.readv_other, 0); /* listed: no descriptor rule any more */
	ck_assert_int_eq(r.irq_line, -ENOTTY);
	ck_assert_int_eq(r.offload, -ENOTTY);
	ck_assert_int_eq(r.epoll_ctl, -ENOENT);
	ck_assert_int_eq(r.epoll_wait, 0);
	/* The main thread's rtnetlink socket and any other descriptor: not
	 * in this thread's table, by any call. */
	ck_assert_int_eq(r.epoll_other_set, -EBADF);
	ck_assert_int_eq(r.epoll_ctl_other, -EBADF);
	ck_assert_int_eq(r.writev_netlink, -EBADF);
	ck_assert_int_eq(r.write_netlink, -EBADF);
	ck_assert_int_eq(r.write_other, -EBADF);
	/* ioctl keeps its check by descriptor and request: refused before
	 * the kernel could say EBADF. What no descriptor makes allowed stays
	 * refused. */
	ck_assert_int_eq(r.other_fd_ioctl, filtered ? -EPERM : -EBADF);
	ck_assert_int_eq(r.run_on_vm, filtered ? -EPERM : -ENOTTY);
	ck_assert_int_eq(r.gsi_routing, filtered ? -EPERM : -ENOTTY);
	ck_assert_int_eq(r.epoll, filtered ? -EPERM : 0);
	ck_assert_int_eq(r.eventfd, filtered ? -EPERM : 0);
	ck_assert_int_eq(r.close, filtered ? -EPERM : -EBADF);
	ck_assert_int_eq(r.socket, filtered ? -EPERM : 0);
	ck_assert_int_eq(r.open_file, filtered ? -EPERM : 0);
	ck_assert_int_eq(count(err, "minivmm: seccomp: refused system call "), filtered ? 8 : 0);
	/* The rest of the process keeps every descriptor. */
	ck_assert_int_ne(fcntl(netlink_fd, F_GETFD), -1);
	ck_assert_int_ne(fcntl(other_fd, F_GETFD), -1);
	ck_assert_int_ne(fcntl(pipe_fds[0], F_GETFD), -1);
}

START_TEST(test_worker_has_its_own_table)
{
	check_worker_started(true);
}
END_TEST

/* --no-seccomp takes the filter away, not the table. */
START_TEST(test_worker_table_without_filter)
{
	check_worker_started(false);
}
END_TEST

/* A thread making the same forbidden call over and over says so only a few
 * times, and every call is still refused. */
static void *refuse_many(void *arg)
{
	struct results *r = arg;
	r->load = load_vcpu_filter(tap_fd, "vCPU 1");
	r->socket = 0;
	for (int i = 0; i < 100 && !r->load; i++)
		if (socket(AF_INET, SOCK_DGRAM, 0) >= 0 || errno != EPERM)
			r->socket = -1;
	/* The TAP is the worker's: a vCPU's TUNSETOFFLOAD is refused, on
	 * the TAP too. */
	r->offload = TRY(ioctl(tap_fd, TUNSETOFFLOAD, 0UL));
	return NULL;
}

START_TEST(test_refusals_are_reported_a_few_times)
{
	struct results r;
	const char *err = run_filtered(refuse_many, &r);
	ck_assert_int_eq(r.load, 0);
	ck_assert_int_eq(r.socket, 0);
	ck_assert_int_eq(r.offload, -EPERM);
	ck_assert_int_eq(count(err, "refused system call"), 16);
}
END_TEST

/* What devices do on a vCPU thread needs nothing outside its list: the CMOS
 * clock reads the host's time, which through glibc's gmtime_r() would open
 * /etc/localtime on its first call in the process (a Linux guest reads the
 * clock at boot). Each test runs in a fresh process (Check forks), so this
 * is that first call. */
static void *vcpu_reads_clock(void *arg)
{
	struct results *r = arg;
	r->load = load_vcpu_filter(-1, "vCPU 0");
	if (r->load)
		return NULL;
	struct cmos_rtc rtc;
	cmos_rtc_init(&rtc);
	for (uint8_t reg = 0; reg < 0x0a; reg++) {
		uint8_t v = reg;
		cmos_rtc_io(&rtc, 0, &v, 1, true);
		cmos_rtc_io(&rtc, 1, &v, 1, false);
	}
	cmos_rtc_destroy(&rtc);
	return NULL;
}

START_TEST(test_vcpu_devices_need_nothing_refused)
{
	struct results r;
	const char *err = run_filtered(vcpu_reads_clock, &r);
	ck_assert_int_eq(r.load, 0);
	ck_assert_msg(!strstr(err, "refused"), "a device on a vCPU thread was refused: %s", err);
}
END_TEST

/* The CapEff/CapPrm/CapInh/CapAmb lines of /proc/self/task/TID/status,
 * "0" for each that is all zero. */
static void thread_caps(char out[4][32])
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/status", (long)syscall(SYS_gettid));
	FILE *f = fopen(path, "re");
	ck_assert_ptr_nonnull(f);
	static const char *const keys[4] = {"CapEff:", "CapPrm:", "CapInh:", "CapAmb:"};
	for (int i = 0; i < 4; i++)
		snprintf(out[i], 32, "missing");
	while (fgets(line, sizeof(line), f))
		for (int i = 0; i < 4; i++)
			if (!strncmp(line, keys[i], strlen(keys[i]))) {
				unsigned long long v = strtoull(line + strlen(keys[i]), NULL, 16);
				snprintf(out[i], 32, "%llx", v);
			}
	fclose(f);
}

static char dropped_caps[4][32];
static int drop_result;

static void *drops_caps(void *arg)
{
	(void)arg;
	struct errbuf e;
	drop_result = seccomp_drop_capabilities(&e);
	thread_caps(dropped_caps);
	return NULL;
}

/* A guest-facing thread holds no capabilities, and the rest of the process
 * keeps its own (the main thread undoes the host's network set-up). */
START_TEST(test_thread_drops_capabilities)
{
	char before[4][32], after[4][32];
	thread_caps(before);
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, drops_caps, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(drop_result, 0);
	for (int i = 0; i < 4; i++)
		ck_assert_str_eq(dropped_caps[i], "0");
	thread_caps(after);
	for (int i = 0; i < 4; i++)
		ck_assert_str_eq(after[i], before[i]);
	if (geteuid() == 0)
		ck_assert_str_ne(after[0], "0"); /* root: this thread still has them */
}
END_TEST

START_TEST(test_sizes)
{
	/* What --stats prints; the vCPU list is the longer one. */
	ck_assert_int_gt(seccomp_vcpu_syscalls(), 15);
	ck_assert_int_gt(seccomp_worker_syscalls(), 15);
	ck_assert_int_gt(seccomp_main_syscalls(), 15);
	ck_assert_int_lt(seccomp_main_syscalls(), 45);
	ck_assert_int_lt(seccomp_vcpu_syscalls(), 40);
	ck_assert_int_lt(seccomp_worker_syscalls(), 40);
}
END_TEST

CHECK_MAIN_FIXTURE("seccomp", setup, teardown, test_vcpu_filter, test_worker_filter,
		   test_worker_has_its_own_table, test_worker_table_without_filter,
		   test_refusals_are_reported_a_few_times, test_vcpu_devices_need_nothing_refused,
		   test_thread_drops_capabilities, test_main_filter, test_sizes)
