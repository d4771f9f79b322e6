#include "vmm/stop.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int stop_init(struct stop *s, struct errbuf *e)
{
	memset(s, 0, sizeof(*s));
	atomic_init(&s->requested, false);
	pthread_mutex_init(&s->lock, NULL);
	s->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return s->eventfd < 0 ? errorf_errno(e, "eventfd") : 0;
}

void stop_destroy(struct stop *s)
{
	if (s->eventfd >= 0)
		close(s->eventfd);
	s->eventfd = -1;
	pthread_mutex_destroy(&s->lock);
}

void stop_signals(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGINT);
	sigaddset(s, SIGTERM);
	sigaddset(s, SIGHUP);
}

void stop_line_pull(void *ctx)
{
	const struct stop_line *l = ctx;
	stop_request(l->stop, 0, "%s", l->reason);
}

void stop_request(struct stop *s, int status, const char *fmt, ...)
{
	pthread_mutex_lock(&s->lock);
	if (!atomic_load_explicit(&s->requested, memory_order_relaxed)) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
		va_end(ap);
		s->status = status;
		/* Release: whoever sees requested also sees status and reason. */
		atomic_store_explicit(&s->requested, true, memory_order_release);
		eventfd_write(s->eventfd, 1); /* cannot fail: one write */
	}
	pthread_mutex_unlock(&s->lock);
}
