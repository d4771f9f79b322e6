/*
 * Undoing minivmm's network set-up from a process of its own.
 *
 * minivmm changes the host's network as root: it creates a TAP, makes it a
 * port of an Open vSwitch or Linux bridge, changes a TAP that was there
 * before. Undoing that needs root's rights and the names involved, at exit,
 * when a guest may have taken over a thread of minivmm and with it the
 * process's memory (docs/security.md, "Threat model"). So a child forked
 * before anything else keeps what is to be undone in its own address space
 * and undoes it when minivmm closes its end of their socket: at a normal
 * exit, and when minivmm dies of SIGKILL or a crash, since the kernel closes
 * the socket then too. minivmm's own threads then need no capability once
 * set-up is done.
 *
 * minivmm tells the child each change before making it (a port it is about
 * to add), so that no moment exists in which a change is made and not
 * recorded; then seals the record before any guest code runs. The child
 * takes no record after the seal, so a taken-over thread cannot add any.
 */
#ifndef MINIVMM_NET_UNDO_H
#define MINIVMM_NET_UNDO_H

#include <sys/types.h>

#include "net/bridge.h"
#include "net/tap.h"
#include "vmm/base/error.h"

struct net_undo {
	pid_t pid; /* the child; 0 when none runs */
	int fd;	   /* our end of the socket; -1 when closed */
};

/* Forks the child. Call it before any other thread exists and before any
 * descriptor the child should not hold (KVM, the TAP) is opened: it keeps
 * what was open then (stdin, stdout, stderr). The child blocks the stop
 * signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT), so that a terminal's Ctrl-C
 * reaching the whole process group does not end it before minivmm. */
int net_undo_start(struct net_undo *u, struct errbuf *e);

/* Records that PORT is about to become a port of BRIDGE (p as
 * bridge_plan() left it): at the end, bridge_detach() on it. */
int net_undo_port(struct net_undo *u, const struct bridge_port *p, struct errbuf *e);

/* The attach recorded last failed and undid itself: forget it. */
int net_undo_forget_port(struct net_undo *u, struct errbuf *e);

/* Records a TAP that existed before minivmm opened it: at the end, its
 * header size and offloads are put back (tap_restore()) through a duplicate
 * of t->fd passed to the child. A TAP minivmm created needs nothing: it goes
 * away with the last descriptor. */
int net_undo_tap(struct net_undo *u, const struct tap *t, struct errbuf *e);

/* No more records: the child ignores, and reports, any that come after. */
int net_undo_seal(struct net_undo *u, struct errbuf *e);

/* Has the child undo everything now and waits up to timeout_ms for it to be
 * done; safe when no child runs. The child reports its failures on stderr. */
void net_undo_finish(struct net_undo *u, int timeout_ms);

#endif
