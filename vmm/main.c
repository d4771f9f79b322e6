/*
 * minivmm: boots a Linux kernel under KVM. Reading order for a newcomer:
 * vm.c (building the machine), boot/loader.c (the kernel in memory), vcpu.c
 * (the KVM_RUN loop), exit.c (each exit to its device).
 */
#include <stdio.h>
#include <unistd.h>

#include "net/undo.h"
#include "vmm/cli.h"
#include "vmm/outputs.h"
#include "vmm/vm.h"

/* Set-up failed or was stopped: what main() made goes too. vm_create()
 * took the stats file's descriptor over, so fd says whether it is still
 * ours to close. */
static void undo_start(struct net_undo *undo, const struct vm_config *cfg, int fd,
		       bool stats_created)
{
	net_undo_finish(undo, 15000);
	if (fd >= 0)
		close(fd);
	if (stats_created)
		unlink(cfg->stats_path);
}

int main(int argc, char **argv)
{
	vm_block_signals();
	struct vm_config cfg;
	struct errbuf e = {{0}};
	switch (cli_parse(argc, argv, &cfg, &e)) {
	case CLI_HELP:
		cli_usage(stdout);
		return 0;
	case CLI_VERSION:
		printf("minivmm %s\n", MINIVMM_VERSION);
		return 0;
	case CLI_RUN:
		break;
	default:
		fprintf(stderr, "minivmm: %s\n", e.msg);
		return 1;
	}
	bool stats_created = false;
	cfg.stats_fd = cfg.stats_path ? cli_open_stats(cfg.stats_path, &stats_created, &e) : -1;
	if (cfg.stats_path && cfg.stats_fd < 0) {
		fprintf(stderr, "minivmm: %s\n", e.msg);
		return 1;
	}
	if (cfg.stats_fd >= 0 && (cfg.stats_stream = cli_stats_stream(cfg.stats_fd))) {
		close(cfg.stats_fd);
		cfg.stats_fd = -1;
	}
	/* First, while this is the only thread and nothing is open but the
	 * standard streams: the process that will undo the network set-up. */
	struct net_undo undo = {.pid = 0, .fd = -1};
	if (cfg.tap) {
		if (net_undo_start(&undo, &e)) {
			fprintf(stderr, "minivmm: %s\n", e.msg);
			undo_start(&undo, &cfg, cfg.stats_fd, stats_created);
			return 1;
		}
		cfg.net_undo = &undo;
	}

	/* From here on no thread waits for whoever reads stdout and stderr
	 * (vmm/outputs.h); the stop kick also wakes the output thread. */
	vcpu_kick_install(VCPU_KICK_SIGNAL);
	struct outputs out;
	if (outputs_start(&out, VCPU_KICK_SIGNAL, !cfg.no_seccomp, &e)) {
		fprintf(stderr, "minivmm: %s\n", e.msg);
		undo_start(&undo, &cfg, cfg.stats_fd, stats_created);
		return 1;
	}
	struct vm vm;
	int status;
	if (vm_create(&vm, &cfg, &e) || vm_assemble(&vm, &e)) {
		vm_destroy(&vm);
		fprintf(stderr, "minivmm: %s\n", e.msg);
		undo_start(&undo, &cfg, -1, stats_created);
		/* Stopped on request, as in vm_run(): not a failure. */
		status = vm.stopped_in_setup ? 0 : 1;
	} else {
		status = vm_run(&vm);
		vm_destroy(&vm);
	}
	/* A reader that stalled gets 2 s more, then what is left is dropped. */
	outputs_stop(&out, OUTPUTS_STALLED_READER_MS);
	return status;
}
