#include "net/tap.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/link.h"

#define TUN_DEV "/dev/net/tun"

/* The kernel's own rule (dev_valid_name() in net/core/dev.c), plus '%':
 * TUNSETIFF would treat "tap%d" as a pattern and pick a name itself, and
 * minivmm needs to know the name it got without asking. */
static int check_name(const char *name, struct errbuf *e)
{
	if (!name || !*name)
		return errorf(e, "--tap: empty device name");
	if (strnlen(name, IFNAMSIZ) >= IFNAMSIZ)
		return errorf(e, "--tap %s: name longer than %d characters", name, IFNAMSIZ - 1);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return errorf(e, "--tap %s: not a valid device name", name);
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c == ':' || *c == '%' || isspace((unsigned char)*c))
			return errorf(e, "--tap %s: '%c' is not allowed in a device name", name,
				      *c);
	return 0;
}

/* A number from /sys/class/net/NAME/FILE, -1 if unreadable. tun.c shows an
 * unset owner or group as -1 too. */
static long sysfs_long(const char *name, const char *file)
{
	char path[64 + IFNAMSIZ];
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long v = -1;
	if (fscanf(f, "%li", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* TUNSETIFF said EINVAL about a device that exists: tun_set_iff() returns
 * that when NAME is not a TAP, or is a TAP whose multi-queue flag differs
 * from ours. Say which, as precisely as we can find out. */
static int explain_not_tap(const char *name, struct errbuf *e)
{
	char kind[32];
	struct errbuf ignored;
	if (link_kind(name, kind, sizeof(kind), &ignored) < 0)
		return errorf(e, "--tap %s: exists but is not a TAP device", name);
	if (strcmp(kind, "tun") != 0) {
		if (!*kind)
			return errorf(e, "--tap %s: exists but is not a TAP device", name);
		return errorf(e, "--tap %s: exists but is not a TAP device (it is a %s)", name,
			      kind);
	}
	/* tun_flags exists for TUN and TAP devices only (tun_attr_group). */
	long flags = sysfs_long(name, "tun_flags");
	if (flags >= 0 && (flags & IFF_TUN))
		return errorf(e, "--tap %s: exists but is a TUN device (IP packets), not a TAP",
			      name);
	if (flags >= 0 && (flags & IFF_MULTI_QUEUE))
		return errorf(e, "--tap %s: is a multi-queue TAP; minivmm opens single-queue TAPs",
			      name);
	return errorf(e, "--tap %s: exists but cannot be opened as a single-queue TAP", name);
}

/* Whether /proc/PID/fd/FD is a TUN/TAP fd attached to NAME. The fd is
 * the TUN device (tun, its rdev) if stat() through the link finds it: the
 * link's text depends on the holder's root and mount namespace. tun shows
 * the device the fd is attached to as "iff:\tNAME" in its fdinfo
 * (tun_chr_show_fdinfo() in drivers/net/tun.c). */
static bool fd_holds(const char *pid, const char *fd, dev_t tun, const char *name)
{
	char path[64 + 2 * NAME_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, fd);
	if (stat(path, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != tun)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, fd);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[64];
	size_t len = strlen(name);
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "iff:\t", 5) && !strncmp(line + 5, name, len) &&
			line[5 + len] == '\n';
	fclose(f);
	return found;
}

/* TUNSETIFF said EBUSY: a single-queue TAP takes one fd, and another
 * process has it. Name that process if /proc lets us find it: nothing else
 * (not fuser, not lsof) maps a TAP name to its holder. Only other processes
 * in our network namespace are looked at, since TAP names are per
 * namespace; one we may not look into (another user's, without root) is not
 * found, and the message then says only "another process". */
static int explain_busy(const char *name, struct errbuf *e)
{
	struct stat self_ns, tun;
	DIR *proc = opendir("/proc");
	if (!proc || stat("/proc/self/ns/net", &self_ns) < 0 || stat(TUN_DEV, &tun) < 0) {
		if (proc)
			closedir(proc);
		return errorf(e, "--tap %s: busy (another process has it open)", name);
	}
	char self[32], holder[NAME_MAX + 1] = "";
	snprintf(self, sizeof(self), "%d", (int)getpid());
	struct dirent *p;
	while (!*holder && (p = readdir(proc))) {
		if (!isdigit((unsigned char)p->d_name[0]) || !strcmp(p->d_name, self))
			continue;
		char path[64 + NAME_MAX];
		struct stat ns;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", p->d_name);
		if (stat(path, &ns) < 0 || ns.st_ino != self_ns.st_ino ||
		    ns.st_dev != self_ns.st_dev)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		DIR *fds = opendir(path);
		if (!fds)
			continue;
		struct dirent *fd;
		while ((fd = readdir(fds)))
			if (fd->d_name[0] != '.' &&
			    fd_holds(p->d_name, fd->d_name, tun.st_rdev, name)) {
				snprintf(holder, sizeof(holder), "%s", p->d_name);
				break;
			}
		closedir(fds);
	}
	closedir(proc);
	if (!*holder)
		return errorf(e, "--tap %s: busy (another process has it open)", name);
	char path[64 + NAME_MAX], comm[32] = "?";
	snprintf(path, sizeof(path), "/proc/%s/comm", holder);
	FILE *f = fopen(path, "re");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	/* A process picks its own name: keep its bytes off our terminal. */
	for (char *c = comm; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	return errorf(e, "--tap %s: busy (pid %s, %s, has it open)", name, holder, comm);
}

/* EPERM/EACCES from TUNSETIFF. Creating a device needs CAP_NET_ADMIN.
 * Attaching to an existing one needs it only if the device has an owner or
 * group (TUNSETOWNER/TUNSETGROUP, `ip tuntap add ... user U group G`) that
 * is not ours (tun_not_capable() in drivers/net/tun.c); an ownerless
 * device is open to anyone who can open /dev/net/tun, so then the refusal
 * came from a security module (security_tun_dev_open()). */
static int explain_denied(const char *name, bool existed, struct errbuf *e)
{
	if (!existed)
		return errorf(e,
			      "--tap %s: no such TAP device and no permission to create one "
			      "(needs CAP_NET_ADMIN)",
			      name);
	long owner = sysfs_long(name, "owner"), group = sysfs_long(name, "group");
	if (owner >= 0)
		return errorf(e,
			      "--tap %s: permission denied: the TAP belongs to uid %ld and "
			      "minivmm lacks CAP_NET_ADMIN",
			      name, owner);
	if (group >= 0)
		return errorf(e,
			      "--tap %s: permission denied: the TAP belongs to group %ld, which "
			      "minivmm is not in, and minivmm lacks CAP_NET_ADMIN",
			      name, group);
	return errorf(e, "--tap %s: permission denied by the system's security policy (LSM)", name);
}

static int open_tun(const char *name, struct errbuf *e)
{
	int fd = open(TUN_DEV, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		return errorf(e, "--tap %s: %s does not exist (no TUN/TAP support?)", name,
			      TUN_DEV);
	if (errno == ENODEV || errno == ENXIO)
		return errorf(e, "--tap %s: %s: no TUN/TAP driver in this kernel (modprobe tun)",
			      name, TUN_DEV);
	return errorf_errno(e, "--tap %s: cannot open %s", name, TUN_DEV);
}

int tap_open(struct tap *t, const char *name, struct errbuf *e)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (check_name(name, e) < 0)
		return -1;
	/* Only to explain a failure: whether we got a new device is read back
	 * from the device itself below, which no other process can race. */
	bool existed = if_nametoindex(name) != 0;

	int fd = open_tun(name, e);
	if (fd < 0)
		return -1;

	/* Documentation/networking/tuntap.rst: IFF_NO_PI drops the 4-byte
	 * packet-information prefix; IFF_VNET_HDR puts a virtio_net_hdr in
	 * front of every frame instead, which is what lets checksum and TSO
	 * offloads pass between guest and host untouched. */
	struct ifreq ifr = {0};
	memcpy(ifr.ifr_name, name, strlen(name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = errno;
		close(fd);
		switch (err) {
		case EBUSY:
			return explain_busy(name, e);
		case EPERM:
		case EACCES:
			return explain_denied(name, existed, e);
		case EINVAL:
			if (existed)
				return explain_not_tap(name, e);
			break;
		}
		errno = err;
		return errorf_errno(e, "--tap %s: TUNSETIFF", name);
	}

	/* A device tap_open() can attach to but did not create is persistent:
	 * a non-persistent one lives only while its single fd is open, and
	 * then TUNSETIFF would have said EBUSY. */
	struct ifreq got = {0};
	if (ioctl(fd, TUNGETIFF, &got) < 0) {
		errorf_errno(e, "--tap %s: TUNGETIFF", name);
		goto err;
	}
	if (!(got.ifr_flags & IFF_VNET_HDR)) {
		errorf(e, "--tap %s: the kernel ignored IFF_VNET_HDR", name);
		goto err;
	}

	/* virtio 1.x always uses the 12-byte header with num_buffers (virtio
	 * spec 5.1.6), mergeable RX buffers or not; the TAP default is the
	 * 10-byte legacy header. The x86-64 host is little-endian like virtio
	 * 1.x, so TUNSETVNETLE (for big-endian hosts) is not needed. */
	int hdr = (int)sizeof(struct virtio_net_hdr_mrg_rxbuf);
	t->saved_hdr_len = 0;
	if ((got.ifr_flags & IFF_PERSIST) && ioctl(fd, TUNGETVNETHDRSZ, &t->saved_hdr_len) < 0) {
		errorf_errno(e, "--tap %s: TUNGETVNETHDRSZ", name);
		goto err;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		errorf_errno(e, "--tap %s: TUNSETVNETHDRSZ %d", name, hdr);
		goto err;
	}

	t->fd = fd;
	memcpy(t->name, got.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = '\0';
	t->created = !(got.ifr_flags & IFF_PERSIST);
	t->vnet_hdr_len = (size_t)hdr;
	return 0;
err:
	/* If we created the device, this close() also destroys it. */
	close(fd);
	return -1;
}

int tap_set_offload(struct tap *t, unsigned tun_f_flags, struct errbuf *e)
{
	/* tun_set_offload() rejects flags it does not know with EINVAL;
	 * newer ones (TUN_F_USO4/6) need a newer kernel. */
	if (ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)tun_f_flags) < 0) {
		if (errno == EINVAL)
			return errorf(e, "--tap %s: the kernel does not accept offload flags %#x",
				      t->name, tun_f_flags);
		return errorf_errno(e, "--tap %s: TUNSETOFFLOAD %#x", t->name, tun_f_flags);
	}
	return 0;
}

void tap_restore(int fd, int saved_hdr_len)
{
	/* The device outlives us: the header size and offloads are the
	 * device's, not this fd's (tun_struct in drivers/net/tun.c). */
	ioctl(fd, TUNSETOFFLOAD, 0UL);
	if (saved_hdr_len > 0)
		ioctl(fd, TUNSETVNETHDRSZ, &saved_hdr_len);
}

void tap_close(struct tap *t)
{
	if (t->fd < 0)
		return;
	if (!t->created)
		tap_restore(t->fd, t->saved_hdr_len);
	/* A non-persistent TAP is unregistered when its last fd is closed
	 * (tun_chr_close() -> tun_detach() in drivers/net/tun.c), so a device
	 * tap_open() created is gone once this returns. A persistent one
	 * (`ip tuntap add`, TUNSETPERSIST) stays, as it was before. */
	close(t->fd);
	t->fd = -1;
}
