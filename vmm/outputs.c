#define _GNU_SOURCE /* pipe2 */
#include "vmm/outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "vmm/base/seccomp.h"

static bool abandoned(struct outputs *o)
{
	return __atomic_load_n(&o->abandon, __ATOMIC_ACQUIRE);
}

/* Writes all of buf to fd, blocking: only this thread ever waits on the real
 * stdout or stderr. Gives up when told to (abandon, then the wake signal
 * turns the write into EINTR) or when the reader is gone (EPIPE). */
static void write_all(struct outputs *o, int fd, const char *buf, size_t n)
{
	while (n && !abandoned(o)) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

static void *forward(void *arg)
{
	struct outputs *o = arg;
	sigset_t wake;
	sigemptyset(&wake);
	sigaddset(&wake, o->wake_signal);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	/* It only moves bytes between pipes it holds: no right is needed, and
	 * none is kept for a taken-over thread to borrow (docs/security.md).
	 * A failure leaves it unfiltered: minivmm's output matters more. */
	struct errbuf e;
	struct seccomp_thread t = {
	    .name = "output", .who = "output", .kind = SECCOMP_OUTPUT, .filtered = o->filtered};
	seccomp_thread_start(&t, &e);
	char buf[16384];
	bool open[2] = {true, true};
	while ((open[0] || open[1]) && !abandoned(o)) {
		struct pollfd p[2] = {{.fd = open[0] ? o->from[0] : -1, .events = POLLIN},
				      {.fd = open[1] ? o->from[1] : -1, .events = POLLIN}};
		if (poll(p, 2, -1) < 0)
			continue; /* EINTR: look at abandon again */
		for (int i = 0; i < 2; i++) {
			if (!p[i].revents)
				continue;
			ssize_t n = read(o->from[i], buf, sizeof(buf));
			if (n > 0)
				write_all(o, o->real[i], buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				open[i] = false; /* every writing end is closed: all passed on */
		}
	}
	pthread_mutex_lock(&o->lock);
	o->done = true;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* A copy of fd that we keep. A closed fd becomes /dev/null first, so that
 * no descriptor opened later (our pipes) lands on it. */
static int keep(int fd)
{
	int k = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (k >= 0 || errno != EBADF)
		return k;
	int n = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (n < 0)
		return -1;
	if (n != fd) {
		dup2(n, fd);
		close(n);
	}
	return fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

int outputs_start(struct outputs *o, int wake_signal, bool filtered, struct errbuf *e)
{
	memset(o, 0, sizeof(*o));
	o->filtered = filtered;
	o->real[0] = o->real[1] = o->from[0] = o->from[1] = -1;
	o->wake_signal = wake_signal;
	int w[2] = {-1, -1};
	for (int i = 0; i < 2; i++)
		o->real[i] = keep(1 + i);
	for (int i = 0; i < 2; i++) {
		int p[2];
		if (o->real[i] < 0 || pipe2(p, O_CLOEXEC) < 0) {
			errorf_errno(e, "setting up %s", i ? "stderr" : "stdout");
			goto err;
		}
		o->from[i] = p[0];
		w[i] = p[1];
		if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0) {
			errorf_errno(e, "setting up %s: O_NONBLOCK", i ? "stderr" : "stdout");
			goto err;
		}
	}
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
	/* The forwarder starts with every signal blocked and lets in only its
	 * wake signal: the others are the main thread's. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&o->thread, NULL, forward, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		pthread_mutex_destroy(&o->lock);
		pthread_cond_destroy(&o->cond);
		errno = r;
		errorf_errno(e, "starting the output thread");
		goto err;
	}
	fflush(stdout);
	fflush(stderr);
	dup2(w[0], STDOUT_FILENO);
	dup2(w[1], STDERR_FILENO);
	close(w[0]);
	close(w[1]);
	o->started = true;
	return 0;
err:
	for (int i = 0; i < 2; i++) {
		if (o->real[i] >= 0)
			close(o->real[i]);
		if (o->from[i] >= 0)
			close(o->from[i]);
		if (w[i] >= 0)
			close(w[i]);
	}
	o->real[0] = o->real[1] = o->from[0] = o->from[1] = -1;
	return -1;
}

static bool wait_done(struct outputs *o, int ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&o->lock);
	while (!o->done && pthread_cond_timedwait(&o->cond, &o->lock, &t) == 0)
		;
	bool done = o->done;
	pthread_mutex_unlock(&o->lock);
	return done;
}

void outputs_stop(struct outputs *o, int drain_ms)
{
	if (!o->started)
		return;
	fflush(stdout);
	fflush(stderr);
	/* The last writing ends of our pipes go: the forwarder reads to EOF. */
	dup2(o->real[0], STDOUT_FILENO);
	dup2(o->real[1], STDERR_FILENO);
	if (!wait_done(o, drain_ms)) {
		/* The reader is stalled: what it did not take is dropped. The
		 * signal may land before the forwarder blocks again; repeat. */
		__atomic_store_n(&o->abandon, true, __ATOMIC_RELEASE);
		do
			pthread_kill(o->thread, o->wake_signal);
		while (!wait_done(o, 10));
	}
	pthread_join(o->thread, NULL);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->cond);
	for (int i = 0; i < 2; i++) {
		close(o->from[i]);
		close(o->real[i]);
	}
	o->started = false;
}
