#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/layout.h"
#include "vmm/base/guest_mem.h"

/* Every capability some part of minivmm depends on, checked up front so a
 * host that lacks one fails at start with its name, not mid-boot. */
static const struct {
	int cap;
	const char *name;
	const char *why;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "x86 VM set-up"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR", "x86 VM set-up"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC, IOAPIC and local APICs"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel i8254 timer"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "per-vCPU CPUID"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "stopping vCPUs cleanly"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS", "completing instructions for the guest"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "MSI routing"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "device interrupts"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "device doorbells"},
};

static int open_and_create(struct kvm *k, const char *path, struct errbuf *e)
{
	k->sys_fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		switch (errno) {
		case ENOENT:
			return errorf(e,
				      "%s: no such device (KVM not available: is the kvm_intel or "
				      "kvm_amd module loaded, and virtualization enabled in the "
				      "firmware?)",
				      path);
		case EACCES:
			return errorf(e,
				      "%s: permission denied (is this user in the device's group, "
				      "usually kvm?)",
				      path);
		case ENXIO:
		case ENODEV:
			/* A device node whose driver is not loaded. */
			return errorf(e, "%s: no driver behind this device node (KVM not loaded?)",
				      path);
		case EISDIR:
			return errorf(e, "%s: a directory, not the KVM device", path);
		}
		return errorf_errno(e, "%s", path);
	}
	struct stat st;
	if (fstat(k->sys_fd, &st) < 0)
		return errorf_errno(e, "%s", path);
	if (!S_ISCHR(st.st_mode))
		return errorf(e, "%s: not a character device, so not the KVM device", path);
	/* Any other character device (/dev/null, a tty) fails its first KVM
	 * ioctl; say what that means before what the kernel said. */
	int version = ioctl(k->sys_fd, KVM_GET_API_VERSION, 0);
	if (version < 0)
		return errorf_errno(e, "%s: not the KVM device (KVM_GET_API_VERSION failed)", path);
	if (version != KVM_API_VERSION)
		return errorf(e, "%s: KVM API version %d, minivmm needs %d", path, version,
			      KVM_API_VERSION);
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++)
		if (ioctl(k->sys_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
			return errorf(e, "%s: missing %s (needed for %s)", path,
				      required_caps[i].name, required_caps[i].why);

	k->max_vcpus = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = ioctl(k->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4; /* the documented default when neither cap exists */

	k->run_size = ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run))
		return errorf_errno(e, "%s: KVM_GET_VCPU_MMAP_SIZE", path);

	int nent = 128;
	for (;;) {
		k->supported_cpuid = calloc(1, sizeof(struct kvm_cpuid2) +
						   (size_t)nent * sizeof(struct kvm_cpuid_entry2));
		if (!k->supported_cpuid)
			return errorf(e, "out of memory");
		k->supported_cpuid->nent = (uint32_t)nent;
		if (ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, k->supported_cpuid) == 0)
			break;
		free(k->supported_cpuid);
		k->supported_cpuid = NULL;
		if (errno != E2BIG || nent >= 4096)
			return errorf_errno(e, "%s: KVM_GET_SUPPORTED_CPUID", path);
		nent *= 2;
	}

	k->vm_fd = ioctl(k->sys_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return errorf_errno(e, "%s: KVM_CREATE_VM", path);
	if (ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		return errorf_errno(e, "KVM_SET_TSS_ADDR");
	uint64_t identity = KVM_IDENTITY_MAP_ADDR;
	if (ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return errorf_errno(e, "KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return errorf_errno(e, "KVM_CREATE_IRQCHIP");
	/* The PIT's speaker port (0x61) is emulated in the kernel too. */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return errorf_errno(e, "KVM_CREATE_PIT2");
	return 0;
}

int kvm_open(struct kvm *k, const char *path, struct errbuf *e)
{
	memset(k, 0, sizeof(*k));
	k->sys_fd = k->vm_fd = -1;
	if (open_and_create(k, path, e) == 0)
		return 0;
	kvm_close(k);
	return -1;
}

/* The guest-physical address width KVM gives a guest: CPUID 0x80000008
 * EAX[7:0] in KVM_GET_SUPPORTED_CPUID, the host's own width unless memory
 * encryption takes bits. x86 says 36 when the leaf is missing. */
static int kvm_phys_bits(const struct kvm *k)
{
	const struct kvm_cpuid2 *c = k->supported_cpuid;
	for (uint32_t i = 0; c && i < c->nent; i++)
		if (c->entries[i].function == 0x80000008 && (c->entries[i].eax & 0xff))
			return (int)(c->entries[i].eax & 0xff);
	return 36;
}

/* "1T", "1025G", "3584M": the largest unit that divides v exactly. */
static void size_str(uint64_t v, char *buf, size_t n)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && v && !(v & 0x3ff)) {
		v >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, n, "%llu bytes", (unsigned long long)v);
	else
		snprintf(buf, n, "%llu%c", (unsigned long long)v, units[u]);
}

int kvm_check_mem(const struct kvm *k, uint64_t mem_size, struct errbuf *e)
{
	struct guest_mem m;
	guest_mem_layout(&m, mem_size);
	uint64_t high = guest_mem_high_size(&m);
	uint64_t top = high ? GUEST_HIGH_RAM_START + high : mem_size;
	int bits = kvm_phys_bits(k);
	if (bits >= 64 || top <= 1ULL << bits)
		return 0;
	/* KVM would refuse the memory slot with a bare EINVAL
	 * (kvm_arch_prepare_memory_region()), and a guest could not reach
	 * that RAM anyway: say which limit --mem ran into. */
	char size[32], end[32], max[32];
	size_str(mem_size, size, sizeof(size));
	size_str(top, end, sizeof(end));
	size_str(1ULL << bits, max, sizeof(max));
	return errorf(e,
		      "--mem %s: guest RAM would end at %s%s, above the %s a guest can address "
		      "on this host (%d physical address bits)",
		      size, end, high ? " (RAM above 3G moves above the PCI hole at 3G-4G)" : "",
		      max, bits);
}

void kvm_close(struct kvm *k)
{
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	free(k->supported_cpuid);
	k->vm_fd = k->sys_fd = -1;
	k->supported_cpuid = NULL;
}

#define PVM_MSR_IDENTITY 0x4b564d11U
#define PVM_IDENTITY	 0x4d5650ULL /* "PVM" */

bool kvm_detect_pvm(int vcpu_fd)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs = {.hdr.nmsrs = 1, .entry.index = PVM_MSR_IDENTITY};
	return ioctl(vcpu_fd, KVM_GET_MSRS, &msrs) == 1 && msrs.entry.data == PVM_IDENTITY;
}
