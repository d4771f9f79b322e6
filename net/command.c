#define _GNU_SOURCE /* pipe2(2) */
#include "net/command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* posix_spawn(3) children inherit the signal mask and ignored signals. The
 * VMM blocks SIGINT/SIGTERM (it takes them through a signalfd) and may
 * ignore SIGPIPE: the helper gets the defaults back, so its own --timeout
 * (SIGALRM) ends it. It runs in a process group of its own: a Ctrl-C at the
 * terminal, or a signal to minivmm's whole group, is for minivmm, which
 * finishes what the helper is doing and then undoes it. Killed halfway, an
 * `ovs-vsctl add-port` could leave its port in OVS's database with nobody
 * to take it out. */
static int spawn_attr(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	int err = posix_spawnattr_init(attr);
	if (err)
		return err;
	err = posix_spawnattr_setsigmask(attr, &none);
	if (!err)
		err = posix_spawnattr_setsigdefault(attr, &all);
	if (!err)
		err = posix_spawnattr_setpgroup(attr, 0);
	if (!err)
		err = posix_spawnattr_setflags(
		    attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	if (err)
		posix_spawnattr_destroy(attr);
	return err;
}

/* Both pipe ends are O_CLOEXEC; dup2() onto fd 1 or 2 clears the flag on the
 * copy only, so the child keeps exactly stdin, stdout and stderr (the TAP fd
 * and anything else minivmm holds are O_CLOEXEC too). The pipe becomes the
 * child's fd `to` (1 or 2); the other output goes to /dev/null. */
static int spawn_files(posix_spawn_file_actions_t *fa, int pipe_fd, int to)
{
	int err = posix_spawn_file_actions_init(fa);
	if (err)
		return err;
	err = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_addopen(fa, 3 - to, "/dev/null", O_WRONLY, 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(fa, pipe_fd, to);
	if (err)
		posix_spawn_file_actions_destroy(fa);
	return err;
}

/* Reads to EOF, keeping what fits. EOF comes when the child (and anything it
 * left running with our pipe) exits. */
static void read_all(int fd, char *buf, size_t n)
{
	size_t got = 0;
	char sink[256];
	for (;;) {
		char *dst = got + 1 < n ? buf + got : sink;
		size_t room = got + 1 < n ? n - 1 - got : sizeof(sink);
		ssize_t r = read(fd, dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst == buf + got)
			got += (size_t)r;
	}
	if (n)
		buf[got] = '\0';
}

/* Runs argv with its fd `to` (1 or 2) into buf; see command.h. */
static int run(const char *const argv[], int to, char *buf, size_t n)
{
	if (n)
		buf[0] = '\0';
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	int err = spawn_attr(&attr);
	if (err)
		goto err_pipe;
	err = spawn_files(&fa, p[1], to);
	if (err)
		goto err_attr;
	pid_t pid;
	/* POSIX types argv as char *const[]; it is not written to. */
	err = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(p[1]);
	if (err) {
		close(p[0]);
		errno = err;
		return -1;
	}
	read_all(p[0], buf, n);
	close(p[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);

err_attr:
	posix_spawnattr_destroy(&attr);
err_pipe:
	close(p[0]);
	close(p[1]);
	errno = err;
	return -1;
}

int command_run(const char *const argv[], char *errout, size_t n)
{
	return run(argv, 2, errout, n);
}

int command_output(const char *const argv[], char *out, size_t n)
{
	return run(argv, 1, out, n);
}

char *command_first_line(char *msg, const char *program)
{
	msg[strcspn(msg, "\n")] = '\0';
	size_t len = strlen(program);
	if (!strncmp(msg, program, len) && msg[len] == ':' && msg[len + 1] == ' ')
		msg += len + 2;
	return msg;
}
