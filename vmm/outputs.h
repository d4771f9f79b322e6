/*
 * stdout and stderr that never block the thread writing to them.
 *
 * The guest's console (COM1, written on a vCPU thread) goes to stdout, and
 * reports from every thread go to stderr. A reader that stops reading (a
 * paused `| tee`, a stuck SSH session, a supervisor that no longer drains
 * its pipe) would otherwise block a vCPU inside write(), where the stop
 * kick cannot free it, and then the main thread behind it. So outputs_start()
 * puts a pipe of our own, non-blocking at its writing end, on fd 1 and fd 2,
 * and one forwarding thread copies from those pipes to the real stdout and
 * stderr: it alone may block. A full pipe means the writer's bytes are
 * dropped (write() says EAGAIN); the console counts them (COM1's callback,
 * vmm/vm.c, and --stats). outputs_stop() gives the forwarder a while to
 * drain, then abandons what the stalled reader did not take.
 *
 * Our pipes are new open file descriptions, so O_NONBLOCK on them changes
 * nothing for the terminal or the pipe minivmm was started with, which it
 * shares with other processes.
 */
#ifndef MINIVMM_OUTPUTS_H
#define MINIVMM_OUTPUTS_H

#include <pthread.h>
#include <stdbool.h>

#include "vmm/base/error.h"

struct outputs {
	bool started;
	int real[2];	 /* the original stdout and stderr (fds 1 and 2 before) */
	int from[2];	 /* our pipes' reading ends */
	int wake_signal; /* interrupts the forwarder's blocked write() */
	bool filtered;	 /* the forwarder loads its seccomp allowlist */
	pthread_t thread;
	bool abandon; /* atomic: stop forwarding, the reader is stalled */
	bool done;    /* under lock: the forwarder has finished */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Interposes the pipes on fds 1 and 2 and starts the forwarder, which
 * takes wake_signal (a handler without SA_RESTART must be installed for it,
 * vcpu_kick_install()) and, if filtered, runs under its seccomp allowlist
 * (vmm/base/seccomp.h). On failure nothing changed. */
int outputs_start(struct outputs *o, int wake_signal, bool filtered, struct errbuf *e);

/* Flushes stdio, puts the original fds 1 and 2 back, waits up to drain_ms
 * for the forwarder to pass on what is left, then abandons the rest. Safe
 * on an outputs that was never started. */
void outputs_stop(struct outputs *o, int drain_ms);

/* What a reader that stopped reading gets at exit, in ms, before the rest is
 * dropped: the console's (outputs_stop) and the --stats=json file's. */
#define OUTPUTS_STALLED_READER_MS 2000

#endif
