/*
 * The thread that runs a virtio device's engine: plumbing only, the same for
 * any device. The engine is synchronous logic with one handler per queue
 * (virtio 1.2 §2.7: the device's side of the split rings), each returning a
 * verdict instead of acting; the worker waits for what wakes a queue (its
 * doorbell, or the backend becoming ready for what the queue waits for),
 * calls the handler, and does what the verdict says: an interrupt, or
 * DEVICE_NEEDS_RESET with the driver's fault (§2.1.2), through the
 * transport.
 *
 * Its life is a sequence of events on one epoll set: activate (DRIVER_OK),
 * reset (status 0) and quit come in on a control eventfd, like the
 * doorbells, and the worker answers each before the vCPU that asked goes
 * on. While idle the set holds only the control eventfd.
 *
 *   vCPU: virtio_worker_activate ---ctl---> worker: engine.activate, RUNNING
 *   KVM:  doorbell ---kick eventfd---> worker: run[q](kicked) --verdict--> act
 *   vCPU: virtio_worker_reset ---ctl---> worker: engine.deactivate, IDLE
 */
#ifndef MINIVMM_VIRTIO_WORKER_H
#define MINIVMM_VIRTIO_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio_pci.h"
#include "virtio/virtq_fault.h"
#include "vmm/base/seccomp.h"

#define VIRTIO_WORKER_QUEUES 2

/* What one run of a queue needs the worker to do. */
struct virtio_verdict {
	bool interrupt;		  /* the driver wants an interrupt for this queue (§2.7.10) */
	bool more;		  /* stopped at its bound with work left: run again */
	bool broken;		  /* the driver broke the ring: DEVICE_NEEDS_RESET (§2.1.2) ... */
	struct virtq_fault fault; /* ... for this reason */
	uint32_t wait;		  /* backend readiness it now waits for: EPOLLIN, EPOLLOUT, 0 */
};

/* Why a queue's handler runs (flags). */
#define VIRTIO_RUN_KICKED 1u /* the driver rang its doorbell since the last run */
#define VIRTIO_RUN_READY  2u /* the backend is ready for what the queue waited for */

/* A device's engine as the worker runs it. Every handler runs on the worker
 * thread, and none of them sleeps. */
struct virtio_engine {
	void *ctx;
	int backend_fd; /* watched for what the queues wait for; -1: none */
	uint16_t nqueues;
	struct virtio_verdict (*run[VIRTIO_WORKER_QUEUES])(void *ctx, unsigned why);
	void (*activate)(void *ctx);	 /* before virtio_worker_activate returns */
	void (*deactivate)(void *ctx);	 /* before virtio_worker_reset returns */
	void (*settle)(void *ctx);	 /* before the worker sleeps; may be NULL */
	void (*backend_lost)(void *ctx); /* it hung up: not watched until the next activate */
};

/* How the worker thread starts, before it can touch a guest buffer: it
 * calls start(ctx, e) on itself first (vm.c passes seccomp_thread_start:
 * its name, no capabilities, its own descriptor table and allowlist, which
 * a thread can only take on itself). fds, if set, first gets the
 * descriptors the worker uses: its epoll set, the backend and its eventfds. */
struct virtio_worker_thread {
	int (*start)(void *ctx, struct errbuf *e);
	void *ctx;
	struct seccomp_fds *fds;
	/* No thread at all: whoever made the device runs the worker's turns
	 * on its own thread (virtio_worker_turn), and activate and reset
	 * happen on the caller. The fuzzers drive the device so, one step at
	 * a time, the same way every run. */
	bool manual;
};

struct virtio_worker {
	bool initialised;
	struct virtio_pci *vp; /* whose doorbells it waits on, whose interrupts it raises */
	struct virtio_engine engine;
	int epoll_fd;
	int ctl_fd; /* eventfd: a request waits in `request` */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int request;  /* under lock: VW_* in virtio_worker.c */
	int state;    /* under lock: the worker's answer */
	bool running; /* activated and not reset since (the requesting side's view) */
	struct virtio_worker_thread start;
	struct errbuf *start_error;
	int start_result;
	/* Queue runs it made (relaxed atomic): a stopped worker makes none,
	 * which the fuzzers check. */
	uint64_t runs;
	bool manual; /* no thread: virtio_worker_turn() */
	/* The running worker's state between turns (the worker's own). */
	bool pending[VIRTIO_WORKER_QUEUES];  /* run it next turn */
	unsigned why[VIRTIO_WORKER_QUEUES];  /* VIRTIO_RUN_* since its last run */
	uint32_t wait[VIRTIO_WORKER_QUEUES]; /* its last verdict's wait */
	uint32_t watching;		     /* the backend's epoll interest */
};

/* Starts the worker for engine over transport vp, as thread says (NULL: just
 * started), and waits until it is idle. A failed start fails this. */
int virtio_worker_init(struct virtio_worker *w, struct virtio_pci *vp,
		       const struct virtio_engine *engine,
		       const struct virtio_worker_thread *thread, const char *name,
		       struct errbuf *e);

/* DRIVER_OK: the worker calls engine.activate, then runs every queue once
 * (buffers and doorbells may predate it), and serves them until reset. */
void virtio_worker_activate(struct virtio_worker *w);

/* Status 0: returns once the worker has stopped, called engine.deactivate
 * and is idle. Does nothing if it was not running. */
void virtio_worker_reset(struct virtio_worker *w);

/* A manual worker's turn (virtio_worker_thread.manual): runs what is woken,
 * then takes the events that are ready, without waiting. Returns whether
 * there was anything to do: call it until it says no, and the worker is
 * idle. False on a worker that is not running. */
bool virtio_worker_turn(struct virtio_worker *w);

/* Resets, ends the thread and frees. Safe on a zeroed struct. */
void virtio_worker_destroy(struct virtio_worker *w);

/* Its control eventfd, for the allowlists of the threads that use it. */
int virtio_worker_eventfds(const struct virtio_worker *w, int *fds, int max);

#endif
