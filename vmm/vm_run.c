/* Running the machine vm.c built: its vCPU threads started, the main
 * thread's loop until something stops it, and the stop. */
#include "vmm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/base/seccomp.h"
#include "vmm/file.h"
#include "vmm/outputs.h"
#include "vmm/stats_report.h"

/* What the main thread takes: the stop signals, and SIGUSR1 for the stats. */
static void main_signals(sigset_t *s)
{
	stop_signals(s);
	sigaddset(s, SIGUSR1);
}

void vm_block_signals(void)
{
	sigset_t s;
	main_signals(&s);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

int vm_start(struct vm *vm, void *(*body)(void *), void *arg)
{
	/* Threads inherit this mask; each vCPU then lets the kick signal in. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	vcpu_kick_install(vm->vcpu_host.kick_signal);
	clock_gettime(CLOCK_MONOTONIC, &vm->started);
	stats_clock_init(&vm->stats_clock, true);
	vm->stats_clock.timed = vm->stats_clock.tsc || vm->cfg.stats != STATS_OFF;

	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int r = pthread_create(&v->thread, NULL, body ? body : vcpu_thread, body ? arg : v);
		if (r) {
			stop_request(&vm->stop, 1, "cannot start vCPU %d: %s", i, strerror(r));
			return -1;
		}
		v->thread_started = 1;
	}
	return 0;
}

void vm_stop(struct vm *vm)
{
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	for (int i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = 0;
		}
}

/* Feeds stdin to COM1, keeping what does not fit yet in pending. */
static void pump_console_input(struct vm *vm, uint8_t *pending, size_t *npending)
{
	if (*npending == 0) {
		uint8_t in[256];
		ssize_t n = read(vm->console.in_fd, in, sizeof(in));
		if (n <= 0) {
			if (n == 0 || (errno != EINTR && errno != EAGAIN))
				vm->console.input_closed = true;
			return;
		}
		bool quit;
		*npending = console_filter(&vm->console, in, (size_t)n, pending, &quit);
		if (quit) {
			stop_request(&vm->stop, 0, "quit by the user (Ctrl-A x)");
			return;
		}
	}
	size_t took = uart8250_receive(&vm->com1, pending, *npending);
	memmove(pending, pending + took, *npending - took);
	*npending -= took;
}

/* SIGUSR1 prints a live snapshot of the stats, whether or not --stats was
 * given, and the VM runs on; the other signals the main thread takes stop it. */
static void on_signal(struct vm *vm, int sig)
{
	if (sig == SIGUSR1)
		stats_report(vm, stderr);
	else
		stop_request(&vm->stop, 0, "stopped by %s", strsignal(sig));
}

void vm_wait(struct vm *vm)
{
	sigset_t taken;
	main_signals(&taken);
	int sfd = signalfd(-1, &taken, SFD_CLOEXEC | SFD_NONBLOCK);
	if (console_enter_raw(&vm->console) < 0)
		fprintf(stderr, "minivmm: cannot put the terminal in raw mode: %s\n",
			strerror(errno));
	/* Now the main thread's own filter: threads it started after would
	 * inherit it. */
	if (!vm->cfg.no_seccomp && seccomp_main_filtered()) {
		struct errbuf e;
		scmp_filter_ctx f =
		    seccomp_main_filter(vm->kvm.vm_fd, vm->console.in_fd, vm->tap.fd, &e);
		if (!f || seccomp_apply(f, "main", &e))
			stop_request(&vm->stop, 1, "main thread: %s", e.msg);
	}

	uint8_t pending[256];
	size_t npending = 0;
	while (!stop_requested(&vm->stop)) {
		struct pollfd p[4] = {
		    {.fd = vm->stop.eventfd, .events = POLLIN},
		    {.fd = sfd, .events = POLLIN},
		    {.fd = vm->console.input_closed || npending ? -1 : vm->console.in_fd,
		     .events = POLLIN},
		    {.fd = link_watch_fd(&vm->link_watch), .events = POLLIN},
		};
		/* With input waiting for room in the UART FIFO, poll briefly and
		 * retry rather than read more. */
		int r = poll(p, 4, npending ? 10 : -1);
		if (r < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				on_signal(vm, (int)si.ssi_signo);
		}
		if ((p[2].revents & (POLLIN | POLLHUP | POLLERR)) || npending)
			pump_console_input(vm, pending, &npending);
		/* POLLERR: the kernel dropped notifications (ENOBUFS). */
		if (p[3].revents & (POLLIN | POLLERR))
			link_watch_read(&vm->link_watch);
	}
	console_restore(&vm->console);
	if (sfd >= 0)
		close(sfd);
}

/* --stats: to stderr, or for --stats=json:PATH to that file, or to our
 * stdout or stderr if PATH is one of them (cli_stats_stream): into their
 * pipes (vmm/outputs.h), after the console, never waiting. */
static void print_final_stats(struct vm *vm)
{
	if (vm->cfg.stats == STATS_OFF)
		return;
	if (!vm->cfg.stats_path || vm->cfg.stats_stream) {
		FILE *out = vm->cfg.stats_stream == 1 ? stdout : stderr;
		stats_report_at_exit(vm, out);
		fflush(out);
		return;
	}
	/* Opened at start: this thread can open nothing now. A file is written
	 * anew; a FIFO cannot be truncated and gets the report as it is. Its
	 * reader gets as long as the console's does (vmm/outputs.h): one that
	 * stopped reading must not hold up the tear-down that follows. The
	 * stream takes the descriptor over. */
	int fd = vm->cfg.stats_fd;
	struct stat st;
	bool ok = fstat(fd, &st) == 0 &&
		  (!S_ISREG(st.st_mode) || (ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0));
	FILE *f = ok ? file_stream_within(fd, OUTPUTS_STALLED_READER_MS) : NULL;
	if (!f) {
		fprintf(stderr, "minivmm: --stats=json:%s: %s\n", vm->cfg.stats_path,
			strerror(errno));
		return;
	}
	vm->cfg.stats_fd = -1;
	stats_report_at_exit(vm, f);
	/* The stream's last failure is errno's. */
	int err = fflush(f) || ferror(f) ? errno : 0;
	if (fclose(f) && !err)
		err = errno;
	if (err == ETIMEDOUT)
		fprintf(stderr,
			"minivmm: --stats=json:%s: its reader did not take it all within %d s; "
			"the rest is dropped\n",
			vm->cfg.stats_path, OUTPUTS_STALLED_READER_MS / 1000);
	else if (err)
		fprintf(stderr, "minivmm: --stats=json:%s: %s\n", vm->cfg.stats_path,
			strerror(err));
}

int vm_run(struct vm *vm)
{
	/* A vCPU that did not start has stopped the VM: the wait is then over
	 * at once, and the stop says why. */
	vm_start(vm, NULL, NULL);
	vm_wait(vm);
	vm_stop(vm);

	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double secs = (double)(now.tv_sec - vm->started.tv_sec) +
		      (double)(now.tv_nsec - vm->started.tv_nsec) / 1e9;
	fprintf(stderr, "minivmm: %s after %.2f s\n", vm->stop.reason, secs);
	print_final_stats(vm);
	return vm->stop.status;
}
