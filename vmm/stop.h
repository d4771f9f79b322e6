/* The VM's stop switch: any thread may flip it, the first flip names the
 * reason and the exit status, and everyone else only looks at it. vCPU
 * threads, device callbacks and the main loop share this and nothing of
 * struct vm, so none of them calls back up into the VM to stop it. */
#ifndef MINIVMM_STOP_H
#define MINIVMM_STOP_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "vmm/base/error.h"

struct stop {
	atomic_bool requested;
	pthread_mutex_t lock; /* orders the first request's status and reason */
	int status;
	char reason[256];
	int eventfd; /* readable once requested: what the main loop polls */
};

/* Makes s unrequested, with its eventfd. stop_destroy() undoes it, also
 * after a failed stop_init(). */
int stop_init(struct stop *s, struct errbuf *e);
void stop_destroy(struct stop *s);

/* The signals that stop minivmm: SIGINT, SIGTERM and SIGHUP, into s. */
void stop_signals(sigset_t *s);

/* Flips the switch: the first caller sets the status and the reason and
 * wakes whoever polls the eventfd; later calls change nothing. Safe from
 * any thread (not from a signal handler: it takes a mutex). */
void stop_request(struct stop *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A reset line wired to the switch: pulling it stops the VM with status 0
 * and its reason. A device's reset callback (ctx is the line). */
struct stop_line {
	struct stop *stop;
	const char *reason;
};
void stop_line_pull(void *ctx);

/* Whether a stop was requested; once true, status and reason are final. */
static inline bool stop_requested(const struct stop *s)
{
	return atomic_load_explicit(&s->requested, memory_order_acquire);
}

#endif
