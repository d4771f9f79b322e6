/* Running a helper program (ovs-vsctl) without a shell. */
#ifndef MINIVMM_NET_COMMAND_H
#define MINIVMM_NET_COMMAND_H

#include <stddef.h>

/* Runs argv[0], looked up in PATH, with argv and this process's environment,
 * stdin and stdout on /dev/null, and waits for it. Its stderr goes into
 * errout (NUL-terminated, cut to n - 1 bytes). Returns its exit status, 128
 * + N if signal N killed it, or -1 with errno set if it could not be run
 * (ENOENT: not installed). */
int command_run(const char *const argv[], char *errout, size_t n);

/* The same, but what goes into out (likewise cut) is its stdout, and its
 * stderr goes to /dev/null: for questions such as `ovs-vsctl get`. */
int command_output(const char *const argv[], char *out, size_t n);

/* The first line of a helper's stderr, without the "PROGRAM: " prefix that
 * OVS tools put on every line; a pointer into (and a change to) msg. */
char *command_first_line(char *msg, const char *program);

#endif
