/*
 * kvmtest: smoke test for a real /dev/kvm, run by selftest.sh through
 * scripts/kvm-in-qemu.sh. Checks the API version and a few capabilities,
 * creates an in-kernel irqchip + PIT, then runs a tiny real-mode guest that
 * does N `out 0x10, al` (N = argv[1], default 100000) and a `hlt`, counting
 * the exits. Prints "RESULT: ..." and exits 0 on success.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEMSZ (2u << 20)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long N = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	if (N == 0 || N > 0xffffffffUL)
		N = 100000;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("open /dev/kvm");
		return 1;
	}
	printf("KVM_GET_API_VERSION=%d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
	struct {
		const char *n;
		int c;
	} caps[] = {
	    {"KVM_CAP_IRQFD", KVM_CAP_IRQFD},
	    {"KVM_CAP_IOEVENTFD", KVM_CAP_IOEVENTFD},
	    {"KVM_CAP_IRQ_ROUTING", KVM_CAP_IRQ_ROUTING},
	    {"KVM_CAP_SIGNAL_MSI", KVM_CAP_SIGNAL_MSI},
	    {"KVM_CAP_IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT},
	    {"KVM_CAP_IRQCHIP", KVM_CAP_IRQCHIP},
	    {"KVM_CAP_PIT2", KVM_CAP_PIT2},
	    {"KVM_CAP_USER_MEMORY", KVM_CAP_USER_MEMORY},
	    {"KVM_CAP_NR_VCPUS", KVM_CAP_NR_VCPUS},
	    {"KVM_CAP_MAX_VCPUS", KVM_CAP_MAX_VCPUS},
	};
	for (unsigned i = 0; i < sizeof caps / sizeof caps[0]; i++)
		printf("%s = %d\n", caps[i].n, ioctl(kvm, KVM_CHECK_EXTENSION, caps[i].c));

	/* VM #2: irqchip + PIT2 test (separate VM so HLT exits to userspace in VM #1) */
	{
		int vm2 = ioctl(kvm, KVM_CREATE_VM, 0);
		if (vm2 < 0)
			perror("KVM_CREATE_VM (irqchip test)");
		else {
			int r = ioctl(vm2, KVM_CREATE_IRQCHIP, 0);
			printf("KVM_CREATE_IRQCHIP: %s\n", r == 0 ? "OK" : strerror(errno));
			struct kvm_pit_config pc;
			memset(&pc, 0, sizeof pc);
			r = ioctl(vm2, KVM_CREATE_PIT2, &pc);
			printf("KVM_CREATE_PIT2: %s\n", r == 0 ? "OK" : strerror(errno));
			close(vm2);
		}
	}

	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		perror("KVM_CREATE_VM");
		return 1;
	}
	unsigned char *mem =
	    mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	static const unsigned char code[] = {
	    0x66, 0xB9, 0, 0, 0, 0, /* mov ecx,N (patched below) */
	    0xE6, 0x10,		    /* 1: out 0x10,al */
	    0x66, 0x49,		    /* dec ecx */
	    0x75, 0xFA,		    /* jnz 1b */
	    0xF4		    /* hlt */
	};
	memcpy(mem + 0x1000, code, sizeof code);
	memcpy(mem + 0x1002, &(unsigned int){(unsigned int)N}, 4);
	struct kvm_userspace_memory_region reg = {.slot = 0,
						  .flags = 0,
						  .guest_phys_addr = 0,
						  .memory_size = MEMSZ,
						  .userspace_addr = (unsigned long)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
		perror("KVM_SET_USER_MEMORY_REGION");
		return 1;
	}
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		perror("KVM_CREATE_VCPU");
		return 1;
	}
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED) {
		perror("mmap run");
		return 1;
	}
	struct kvm_sregs s;
	if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) {
		perror("KVM_GET_SREGS");
		return 1;
	}
	s.cs.base = 0;
	s.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0) {
		perror("KVM_SET_SREGS");
		return 1;
	}
	struct kvm_regs r;
	memset(&r, 0, sizeof r);
	r.rip = 0x1000;
	r.rflags = 2;
	r.rax = 0x42;
	if (ioctl(vcpu, KVM_SET_REGS, &r) < 0) {
		perror("KVM_SET_REGS");
		return 1;
	}

	unsigned long io = 0, other = 0, total = 0;
	double t0 = now();
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			perror("KVM_RUN");
			return 1;
		}
		total++;
		if (run->exit_reason == KVM_EXIT_IO) {
			if (run->io.port != 0x10 || run->io.direction != KVM_EXIT_IO_OUT ||
			    ((unsigned char *)run)[run->io.data_offset] != 0x42) {
				printf("unexpected io port=%x dir=%d\n", run->io.port,
				       run->io.direction);
				return 1;
			}
			io++;
		} else if (run->exit_reason == KVM_EXIT_HLT) {
			break;
		} else {
			other++;
			printf("exit_reason=%u (hw reason 0x%llx)\n", run->exit_reason,
			       (unsigned long long)run->hw.hardware_exit_reason);
			if (other > 10)
				return 1;
		}
	}
	double t1 = now();
	printf("RESULT: total_exits=%lu io_exits=%lu other=%lu elapsed=%.3f s ns_per_exit=%.0f\n",
	       total, io, other, (t1 - t0) / 1e9, (t1 - t0) / total);
	ioctl(vcpu, KVM_GET_REGS, &r);
	printf("final rip=0x%llx rcx=%llu\n", (unsigned long long)r.rip, (unsigned long long)r.rcx);
	return 0;
}
