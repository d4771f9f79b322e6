/*
 * minivmm: boots a Linux kernel under KVM. Reading order for a newcomer:
 * vm.c (building the machine), boot/loader.c (the kernel in memory), vcpu.c
 * (the KVM_RUN loop), exit.c (each exit to its device).
 */
#include <stdio.h>

#include "vmm/cli.h"
#include "vmm/outputs.h"
#include "vmm/vm.h"

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
	if (cfg.stats_path && cli_check_stats_path(cfg.stats_path, &e)) {
		fprintf(stderr, "minivmm: %s\n", e.msg);
		return 1;
	}

	/* From here on no thread waits for whoever reads stdout and stderr
	 * (vmm/outputs.h); the stop kick also wakes the output thread. */
	vcpu_kick_install(VCPU_KICK_SIGNAL);
	struct outputs out;
	if (outputs_start(&out, VCPU_KICK_SIGNAL, &e)) {
		fprintf(stderr, "minivmm: %s\n", e.msg);
		return 1;
	}
	struct vm vm;
	int status;
	if (vm_create(&vm, &cfg, &e)) {
		vm_destroy(&vm);
		fprintf(stderr, "minivmm: %s\n", e.msg);
		/* Stopped on request, as in vm_run(): not a failure. */
		status = vm.stopped_in_setup ? 0 : 1;
	} else {
		status = vm_run(&vm);
		vm_destroy(&vm);
	}
	/* A reader that stalled gets 2 s more, then what is left is dropped. */
	outputs_stop(&out, 2000);
	return status;
}
