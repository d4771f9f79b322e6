#include "virtio/virtio_worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Runs of each woken queue (each at most its engine's bound, e.g.
 * NET_RUN_FRAMES) before the worker looks at its events again: a guest and
 * a host that keep every ring busy must not make it deaf to a reset or
 * starve another queue. */
#define BURST_RUNS 4

/* Requests (under lock, announced on ctl_fd) and the worker's answers. */
enum { VW_NONE, VW_ACTIVATE, VW_RESET, VW_QUIT, VW_FAILED };
enum { VW_STARTING, VW_IDLE, VW_RUNNING, VW_GONE };

/* epoll ids: the control eventfd, the backend, then queue q's doorbell. */
enum { EV_CTL, EV_BACKEND, EV_KICK };
#define UNWATCHED UINT32_MAX /* the backend is not in the epoll set */

static void answer(struct virtio_worker *w, int state)
{
	pthread_mutex_lock(&w->lock);
	w->state = state;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void drain(int fd)
{
	eventfd_t v;
	eventfd_read(fd, &v); /* EAGAIN: already drained */
}

/* The request the control eventfd announced, VW_NONE if it was taken
 * already. */
static int take_request(struct virtio_worker *w)
{
	drain(w->ctl_fd);
	pthread_mutex_lock(&w->lock);
	int r = w->request;
	w->request = VW_NONE;
	pthread_mutex_unlock(&w->lock);
	return r;
}

static int watch(struct virtio_worker *w, int op, int fd, uint32_t events, uint32_t id)
{
	struct epoll_event ev = {.events = events, .data.u32 = id};
	return epoll_ctl(w->epoll_fd, op, fd, &ev);
}

/* While running, the set also holds the doorbells and the backend (for
 * input first: every activation starts out so, even if an earlier one lost
 * the backend); while idle, only the control eventfd, so that a doorbell
 * rung before DRIVER_OK waits in its eventfd instead of waking us. */
static uint32_t watch_queues(struct virtio_worker *w, bool on)
{
	const struct virtio_engine *e = &w->engine;
	for (uint16_t q = 0; q < e->nqueues; q++)
		watch(w, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, virtio_pci_kick_fd(w->vp, q), EPOLLIN,
		      EV_KICK + q);
	if (e->backend_fd < 0)
		return UNWATCHED;
	if (!on) {
		watch(w, EPOLL_CTL_DEL, e->backend_fd, 0, EV_BACKEND); /* ENOENT: lost already */
		return UNWATCHED;
	}
	if (watch(w, EPOLL_CTL_ADD, e->backend_fd, EPOLLIN, EV_BACKEND) == 0)
		return EPOLLIN;
	e->backend_lost(e->ctx); /* deleted while idle */
	return UNWATCHED;
}

/* Level-triggered interest in the backend: what the queues wait for. */
static void watch_backend(struct virtio_worker *w, const uint32_t *wait, uint32_t *watching)
{
	uint32_t want = 0;
	for (uint16_t q = 0; q < w->engine.nqueues; q++)
		want |= wait[q];
	if (*watching != UNWATCHED && want != *watching &&
	    watch(w, EPOLL_CTL_MOD, w->engine.backend_fd, want, EV_BACKEND) == 0)
		*watching = want;
}

/* Does what a run of queue q needs. */
static void act(struct virtio_worker *w, uint16_t q, const struct virtio_verdict *v)
{
	/* §2.1.2: the driver put something impossible in a ring; the device
	 * stops using the queues and asks to be reset. minivmm goes on. */
	if (v->broken)
		virtio_pci_needs_reset(w->vp, q, &v->fault);
	if (v->interrupt)
		virtio_pci_notify_queue(w->vp, q);
}

/* Activation: every queue runs once first, as buffers and doorbells may
 * predate DRIVER_OK's arrival here. */
static void begin(struct virtio_worker *w)
{
	const struct virtio_engine *e = &w->engine;
	e->activate(e->ctx);
	w->watching = watch_queues(w, true);
	for (uint16_t q = 0; q < e->nqueues; q++) {
		w->pending[q] = true;
		w->why[q] = 0;
		w->wait[q] = 0;
	}
}

static void end(struct virtio_worker *w)
{
	watch_queues(w, false);
	w->engine.deactivate(w->engine.ctx);
}

/* Marks what event ev wakes; returns the request it brought, if any. */
static int take_event(struct virtio_worker *w, const struct epoll_event *ev)
{
	const struct virtio_engine *e = &w->engine;
	uint32_t id = ev->data.u32;
	if (id == EV_CTL)
		return take_request(w);
	if (id == EV_BACKEND && (ev->events & (EPOLLERR | EPOLLHUP))) {
		/* Deleted under us (tun then reports EPOLLERR for good, whatever
		 * we ask for): stop watching it, or epoll_wait would return at
		 * once forever, and let every queue see it. */
		watch(w, EPOLL_CTL_DEL, e->backend_fd, 0, EV_BACKEND);
		w->watching = UNWATCHED;
		e->backend_lost(e->ctx);
		for (uint16_t q = 0; q < e->nqueues; q++)
			w->pending[q] = true;
	} else if (id == EV_BACKEND) {
		for (uint16_t q = 0; q < e->nqueues; q++)
			if (ev->events & w->wait[q]) {
				w->pending[q] = true;
				w->why[q] |= VIRTIO_RUN_READY;
			}
	} else if (id >= EV_KICK && id < EV_KICK + (uint32_t)e->nqueues) {
		uint16_t q = (uint16_t)(id - EV_KICK);
		drain(virtio_pci_kick_fd(w->vp, q));
		w->pending[q] = true;
		w->why[q] |= VIRTIO_RUN_KICKED;
	}
	return VW_NONE;
}

/* One turn: a burst of runs of the woken queues, then the events, waiting
 * for them if block and nothing is left to run. Returns the request an
 * event brought (VW_NONE: none; VW_FAILED: epoll_wait failed), and in
 * *busy whether there was anything to do. */
static int turn(struct virtio_worker *w, bool block, bool *busy)
{
	const struct virtio_engine *e = &w->engine;
	bool more = false;
	*busy = false;
	for (uint16_t q = 0; q < e->nqueues; q++)
		more |= w->pending[q];
	for (unsigned i = 0; i < BURST_RUNS && more; i++) {
		*busy = true;
		more = false;
		for (uint16_t q = 0; q < e->nqueues; q++) {
			if (!w->pending[q])
				continue;
			struct virtio_verdict v = e->run[q](e->ctx, w->why[q]);
			__atomic_add_fetch(&w->runs, 1, __ATOMIC_RELAXED);
			w->why[q] = 0;
			act(w, q, &v);
			w->pending[q] = v.more;
			w->wait[q] = v.wait;
			more |= v.more;
		}
	}
	if (*busy && e->settle)
		e->settle(e->ctx);
	watch_backend(w, w->wait, &w->watching);

	/* With a burst cut short, only look at the events, then go on. */
	struct epoll_event ev[4];
	int k = epoll_wait(w->epoll_fd, ev, 4, more || !block ? 0 : -1);
	if (k < 0 && errno != EINTR)
		return VW_FAILED;
	int r = VW_NONE;
	for (int i = 0; i < k; i++) {
		*busy = true;
		int got = take_event(w, &ev[i]);
		if (got != VW_NONE)
			r = got;
	}
	return r;
}

bool virtio_worker_turn(struct virtio_worker *w)
{
	bool busy = false;
	if (w->manual && w->running)
		turn(w, false, &busy);
	return busy;
}

/* Idle: the next request (the set holds only the control eventfd). */
static int wait_request(struct virtio_worker *w)
{
	for (;;) {
		struct epoll_event ev;
		int k = epoll_wait(w->epoll_fd, &ev, 1, -1);
		if (k < 0 && errno != EINTR)
			return VW_QUIT; /* cannot wait any more: answer GONE */
		if (k == 1 && ev.data.u32 == EV_CTL) {
			int r = take_request(w);
			if (r != VW_NONE)
				return r;
		}
	}
}

static void *worker_main(void *arg)
{
	struct virtio_worker *w = arg;
	/* First of all, what it may do (its name, rights and allowlist). */
	int r = w->start.start ? w->start.start(w->start.ctx, w->start_error) : 0;
	pthread_mutex_lock(&w->lock);
	w->start_result = r;
	pthread_mutex_unlock(&w->lock);
	answer(w, r ? VW_GONE : VW_IDLE);
	int req = r ? VW_QUIT : wait_request(w);
	while (req != VW_QUIT) {
		if (req != VW_ACTIVATE) {
			/* A reset (or a turn could not wait any more). */
			answer(w, VW_IDLE);
			req = wait_request(w);
			continue;
		}
		/* What must be true before DRIVER_OK's write returns (the TAP
		 * learns the guest's offloads) happens here, on the thread
		 * that owns the backend, not on the vCPU (docs/security.md). */
		begin(w);
		answer(w, VW_RUNNING);
		bool busy;
		do
			req = turn(w, true, &busy);
		while (req == VW_NONE);
		end(w);
	}
	answer(w, VW_GONE);
	return NULL;
}

/* Posts req and waits while the worker's state is busy_state; returns the
 * state it answered with. */
static int ask(struct virtio_worker *w, int req, int busy_state)
{
	pthread_mutex_lock(&w->lock);
	w->request = req;
	eventfd_write(w->ctl_fd, 1); /* cannot fail: far from the counter's limit */
	while (w->state == busy_state || w->state == VW_STARTING)
		pthread_cond_wait(&w->cond, &w->lock);
	int state = w->state;
	pthread_mutex_unlock(&w->lock);
	return state;
}

void virtio_worker_activate(struct virtio_worker *w)
{
	if (w->manual) {
		begin(w);
		w->running = true;
		return;
	}
	if (w->started)
		w->running = ask(w, VW_ACTIVATE, VW_IDLE) == VW_RUNNING;
}

void virtio_worker_reset(struct virtio_worker *w)
{
	if (!w->running)
		return;
	if (w->manual)
		end(w);
	else
		ask(w, VW_RESET, VW_RUNNING);
	w->running = false;
}

int virtio_worker_eventfds(const struct virtio_worker *w, int *fds, int max)
{
	if (max < 1 || !w->initialised || w->ctl_fd < 0)
		return 0;
	fds[0] = w->ctl_fd;
	return 1;
}

int virtio_worker_init(struct virtio_worker *w, struct virtio_pci *vp,
		       const struct virtio_engine *engine,
		       const struct virtio_worker_thread *thread, const char *name,
		       struct errbuf *e)
{
	memset(w, 0, sizeof(*w));
	w->initialised = true;
	w->vp = vp;
	w->engine = *engine;
	w->epoll_fd = w->ctl_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	w->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epoll_fd < 0 || w->ctl_fd < 0 || watch(w, EPOLL_CTL_ADD, w->ctl_fd, EPOLLIN, EV_CTL))
		return errorf_errno(e, "%s: its worker's epoll set", name);
	if (thread) {
		w->start = *thread;
		/* The descriptors it will use: its epoll set, the backend,
		 * its control eventfd, the doorbells and vectors. */
		struct seccomp_fds *f = thread->fds;
		if (f) {
			f->epoll_fd = w->epoll_fd;
			f->frames_fd = engine->backend_fd;
			seccomp_fds_add(f, engine->backend_fd);
			seccomp_fds_add(f, w->ctl_fd);
			int pci[SECCOMP_MAX_FDS];
			int k = virtio_pci_eventfds(vp, pci, SECCOMP_MAX_FDS);
			for (int i = 0; i < k; i++)
				seccomp_fds_add(f, pci[i]);
		}
	}
	if (thread && thread->manual) {
		w->manual = true;
		return 0;
	}
	w->start_error = e;
	w->state = VW_STARTING;
	/* It starts with every signal blocked: they are the main thread's. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return errorf(e, "%s: cannot start its worker: %s", name, strerror(r));
	w->started = true;
	pthread_mutex_lock(&w->lock);
	while (w->state == VW_STARTING)
		pthread_cond_wait(&w->cond, &w->lock);
	r = w->start_result;
	pthread_mutex_unlock(&w->lock);
	if (r) {
		char why[sizeof(e->msg)];
		snprintf(why, sizeof(why), "%s", e->msg);
		return errorf(e, "%s worker: %s", name, why);
	}
	return 0;
}

void virtio_worker_destroy(struct virtio_worker *w)
{
	if (!w->initialised)
		return;
	virtio_worker_reset(w);
	if (w->started) {
		ask(w, VW_QUIT, VW_IDLE);
		pthread_join(w->thread, NULL);
	}
	if (w->epoll_fd >= 0)
		close(w->epoll_fd);
	if (w->ctl_fd >= 0)
		close(w->ctl_fd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	memset(w, 0, sizeof(*w));
}
