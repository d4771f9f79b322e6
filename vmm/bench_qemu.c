#include "vmm/bench_qemu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int bench_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(data, 1, len, f);
	return fclose(f) || w != len ? -1 : 0;
}

void bench_qemu_version(const char *qemu, char *out, size_t n)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", qemu);
	snprintf(out, n, "%s", qemu);
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(out, (int)n, p))
		out[strcspn(out, "\n")] = 0;
	pclose(p);
}

int bench_run_qemu(const char *qemu, unsigned timeout, const unsigned char *payload,
		   size_t payload_len, const char *cmdline, struct bench_results *r)
{
	char dir[] = "/tmp/minivmm-bench.XXXXXX";
	if (!mkdtemp(dir)) {
		fprintf(stderr, "minivmm-bench: --qemu: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	char elf[64], rep[64], log[64], append[512], chardev[96];
	snprintf(elf, sizeof(elf), "%s/exitbench.elf", dir);
	snprintf(rep, sizeof(rep), "%s/report", dir);
	snprintf(log, sizeof(log), "%s/qemu.log", dir);
	snprintf(append, sizeof(append), "%s vmm=qemu", cmdline);
	snprintf(chardev, sizeof(chardev), "file,id=report,path=%s", rep);
	int status = -1;
	if (bench_write_file(elf, payload, payload_len)) {
		fprintf(stderr, "minivmm-bench: --qemu: cannot write %s\n", elf);
		goto out;
	}
	const char *argv[] = {qemu,	     "-enable-kvm",
			      "-machine",    "pc",
			      "-cpu",	     "host",
			      "-m",	     "64M",
			      "-smp",	     "1",
			      "-nodefaults", "-display",
			      "none",	     "-no-reboot",
			      "-kernel",     elf,
			      "-append",     append,
			      "-chardev",    chardev,
			      "-device",     "isa-debugcon,iobase=0xe9,chardev=report",
			      NULL};
	pid_t pid = fork();
	if (pid == 0) {
		FILE *l = freopen(log, "w", stdout);
		if (l)
			dup2(fileno(l), STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec: %s\n", strerror(errno));
		_exit(127);
	}
	if (pid < 0) {
		fprintf(stderr, "minivmm-bench: --qemu: fork: %s\n", strerror(errno));
		goto out;
	}
	int ws = 0;
	for (unsigned waited = 0; waitpid(pid, &ws, WNOHANG) == 0; waited++) {
		if (waited == timeout * 10) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			fprintf(stderr, "minivmm-bench: --qemu: %s timed out after %u s\n", qemu,
				timeout);
			goto out;
		}
		usleep(100000);
	}
	FILE *f = fopen(rep, "r");
	char *text = malloc(REPORT_MAX);
	size_t len = f && text ? fread(text, 1, REPORT_MAX, f) : 0;
	if (f)
		fclose(f);
	bench_parse_report(r, text, len);
	free(text);
	if (!r->done) {
		char why[200] = "";
		FILE *l = fopen(log, "r");
		if (l && fgets(why, sizeof(why), l))
			why[strcspn(why, "\n")] = 0;
		if (l)
			fclose(l);
		fprintf(stderr, "minivmm-bench: --qemu: %s did not finish the payload (%s%s)\n",
			qemu, r->error[0] ? r->error : "exit status ",
			r->error[0] ? ""
				    : (WIFEXITED(ws) ? (WEXITSTATUS(ws) ? why : "0") : "killed"));
		goto out;
	}
	status = 0;
out:
	unlink(elf);
	unlink(rep);
	unlink(log);
	rmdir(dir);
	return status;
}
