#include "vmm/cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !isdigit((unsigned char)*s) || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int cli_parse_size(const char *s, uint64_t *out, struct errbuf *e)
{
	if (!s || !*s)
		return errorf(e, "--mem: empty size");
	if (!isdigit((unsigned char)s[0]))
		return errorf(e, "--mem %s: not a size (use e.g. 256M or 2G)", s);
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return errorf(e, "--mem %s: too large", s);
	unsigned shift;
	switch (toupper((unsigned char)*end)) {
	case '\0':
	case 'M':
		shift = 20;
		break;
	case 'K':
		shift = 10;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return errorf(e, "--mem %s: unknown unit '%c' (use K, M, G or T)", s, *end);
	}
	if (*end && end[1] != '\0' && strcasecmp(end + 1, "iB") != 0 &&
	    strcasecmp(end + 1, "B") != 0)
		return errorf(e, "--mem %s: trailing characters after the unit", s);
	if (v > (CLI_MAX_MEM >> shift))
		return errorf(e, "--mem %s: more than the 1T minivmm supports", s);
	v <<= shift;
	if (v < CLI_MIN_MEM)
		return errorf(e, "--mem %s: less than the 2M minimum", s);
	if (v & 0xfff)
		return errorf(e, "--mem %s: not a multiple of 4K", s);
	*out = v;
	return 0;
}

/* A number that is out of range ("-1", "999", or too long for a long) gets
 * the range in its message: the user typed a number, just not a valid one. */
static int parse_cpus(const char *s, int *out, struct errbuf *e)
{
	const char *digits = s[0] == '-' ? s + 1 : s;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!isdigit((unsigned char)*digits) || *end)
		return errorf(e, "--cpus %s: not a number", s);
	if (errno == ERANGE || v < 1 || v > CLI_MAX_CPUS)
		return errorf(e, "--cpus %s: must be between 1 and %d", s, CLI_MAX_CPUS);
	*out = (int)v;
	return 0;
}

/* --stats, --stats=text, --stats=json, --stats=json:PATH. */
static int parse_stats(const char *arg, struct vm_config *cfg, struct errbuf *e)
{
	cfg->stats_path = NULL;
	if (!arg || strcmp(arg, "text") == 0) {
		cfg->stats = STATS_TEXT;
		return 0;
	}
	if (strcmp(arg, "json") == 0 || strncmp(arg, "json:", 5) == 0) {
		cfg->stats = STATS_JSON;
		if (arg[4] == ':') {
			if (!arg[5])
				return errorf(e, "--stats=json: needs a path after the colon");
			cfg->stats_path = arg + 5;
		}
		return 0;
	}
	return errorf(e, "--stats=%s: unknown format (use text, json or json:PATH)", arg);
}

const char *cli_kvm_path(void)
{
	const char *p = getenv(CLI_KVM_DEV_ENV);
	return p && *p ? p : "/dev/kvm";
}

void cli_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: minivmm --kernel FILE [options]\n"
	    "Boots a Linux kernel (bzImage, or ELF vmlinux with a PVH note) under KVM,\n"
	    "with its serial console (COM1) on this terminal. Ctrl-A x quits.\n"
	    "\n"
	    "  --kernel FILE    kernel to boot\n"
	    "  --initrd FILE    initial ramdisk\n"
	    "  --cmdline STR    kernel command line (default: console=ttyS0 reboot=k panic=-1)\n"
	    "  --mem SIZE       guest RAM, e.g. 256M, 2G; a bare number is MiB (default 256M)\n"
	    "  --cpus N         vCPUs, 1-%d (default 1)\n"
	    "  --tap NAME       a virtio-net NIC whose other end is the TAP device NAME\n"
	    "                   (opened, or created and removed on exit)\n"
	    "  --bridge BR      put the TAP in BR: an Open vSwitch bridge if OVS knows it,\n"
	    "                   else a Linux bridge; the port is removed on exit\n"
	    "  --mac MAC        the NIC's MAC (default: 52:54:00 + a hash of the TAP name)\n"
	    "  --offload MODE   checksum/segmentation offloads offered to the guest: auto\n"
	    "                   (the default: all, but none guest->host on an Open vSwitch\n"
	    "                   userspace datapath without userspace TSO), on, off\n"
	    "  --stats[=FORMAT] print exit counts and handling latencies when the VM stops\n"
	    "                   (and on SIGUSR1): FORMAT is text (the default), json, or\n"
	    "                   json:PATH to write the JSON to PATH\n"
	    "  --no-seccomp     run the vCPU threads and the NIC's worker without their\n"
	    "                   seccomp allowlists (for debugging; see docs/security.md)\n"
	    "  --help           this text\n"
	    "  --version        minivmm's version\n",
	    CLI_MAX_CPUS);
}

int cli_parse(int argc, char **argv, struct vm_config *cfg, struct errbuf *e)
{
	enum {
		OPT_KERNEL = 256,
		OPT_INITRD,
		OPT_CMDLINE,
		OPT_MEM,
		OPT_CPUS,
		OPT_TAP,
		OPT_BRIDGE,
		OPT_MAC,
		OPT_OFFLOAD,
		OPT_STATS,
		OPT_NO_SECCOMP
	};
	static const struct option opts[] = {
	    {"kernel", required_argument, NULL, OPT_KERNEL},
	    {"initrd", required_argument, NULL, OPT_INITRD},
	    {"cmdline", required_argument, NULL, OPT_CMDLINE},
	    {"mem", required_argument, NULL, OPT_MEM},
	    {"cpus", required_argument, NULL, OPT_CPUS},
	    {"tap", required_argument, NULL, OPT_TAP},
	    {"bridge", required_argument, NULL, OPT_BRIDGE},
	    {"mac", required_argument, NULL, OPT_MAC},
	    {"offload", required_argument, NULL, OPT_OFFLOAD},
	    {"stats", optional_argument, NULL, OPT_STATS},
	    {"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0, 0, 0, 0},
	};

	memset(cfg, 0, sizeof(*cfg));
	bool offload_set = false;
	cfg->mem_size = CLI_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->kvm_path = cli_kvm_path();

	/* 0, not 1: glibc only forgets a half-parsed option group ("-hV")
	 * from an earlier call when optind is 0. */
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL:
			cfg->kernel_path = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd_path = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_MEM:
			if (cli_parse_size(optarg, &cfg->mem_size, e))
				return -1;
			break;
		case OPT_CPUS:
			if (parse_cpus(optarg, &cfg->cpus, e))
				return -1;
			break;
		case OPT_TAP:
			cfg->tap = optarg;
			break;
		case OPT_BRIDGE:
			cfg->bridge = optarg;
			break;
		case OPT_MAC:
			if (virtio_net_parse_mac(optarg, cfg->mac, e))
				return -1;
			cfg->mac_set = true;
			break;
		case OPT_OFFLOAD:
			if (offload_parse_mode(optarg, &cfg->offload, e))
				return -1;
			offload_set = true;
			break;
		case OPT_STATS:
			if (parse_stats(optarg, cfg, e))
				return -1;
			break;
		case OPT_NO_SECCOMP:
			cfg->no_seccomp = true;
			break;
		case 'h':
			return CLI_HELP;
		case 'V':
			return CLI_VERSION;
		case ':':
			return errorf(e, "%s: needs a value", argv[optind - 1]);
		default:
			/* Inside a group like -xh, argv[optind - 1] is not the culprit. */
			if (optopt > 0 && optopt < 256)
				return errorf(e, "-%c: unknown option (see --help)", optopt);
			return errorf(e, "%s: unknown option (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return errorf(e, "%s: unexpected argument (see --help)", argv[optind]);
	if (!cfg->kernel_path)
		return errorf(e, "--kernel: missing (see --help)");
	if (cfg->bridge && !cfg->tap)
		return errorf(e, "--bridge %s: needs --tap (the device to put in it)", cfg->bridge);
	if (cfg->mac_set && !cfg->tap)
		return errorf(e, "--mac: needs --tap (there is no NIC without one)");
	if (offload_set && !cfg->tap)
		return errorf(e, "--offload: needs --tap (there is no NIC without one)");
	return CLI_RUN;
}

/* The file is written when the VM stops, which may be hours after start: a
 * path that cannot be written is refused now, before anything is set up.
 * print_final_stats() (vm.c) opens it with fopen("w"), create or truncate;
 * this probes the same without changing anything: an existing file is
 * asked about with access(), a new one is created and removed again, so that
 * a missing directory, a read-only file system or a directory without
 * write permission all show up. A dangling symlink is accepted: fopen()
 * will create its target. */
int cli_check_stats_path(const char *path, struct errbuf *e)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return errorf(e, "--stats=json:%s: is a directory", path);
		if (access(path, W_OK) < 0)
			return errorf_errno(e, "--stats=json:%s: cannot write to it", path);
		return 0;
	}
	if (errno != ENOENT)
		return errorf_errno(e, "--stats=json:%s", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0; /* a dangling symlink, or made since the stat() */
		return errorf_errno(e, "--stats=json:%s: cannot create it", path);
	}
	close(fd);
	unlink(path);
	return 0;
}

/* O_NONBLOCK: a FIFO is opened without waiting for a reader, which could be
 * forever with the stop signals blocked; and the report at exit is written
 * with a bounded wait (file_stream_within). */
#define STATS_OPEN (O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

int cli_stats_stream(int fd)
{
	struct stat st, std;
	if (fstat(fd, &st) < 0)
		return 0;
	for (int s = 1; s <= 2; s++)
		if (fstat(s, &std) == 0 && std.st_dev == st.st_dev && std.st_ino == st.st_ino)
			return s;
	return 0;
}

int cli_open_stats(const char *path, bool *created, struct errbuf *e)
{
	*created = false;
	if (cli_check_stats_path(path, e))
		return -1;
	int fd = open(path, STATS_OPEN | O_EXCL, 0666);
	if (fd >= 0) {
		*created = true;
		return fd;
	}
	/* There already, or a dangling symlink whose target this creates. */
	if (errno == EEXIST)
		fd = open(path, STATS_OPEN, 0666);
	if (fd < 0 && errno == ENXIO)
		return errorf(e, "--stats=json:%s: a FIFO that nobody reads", path);
	if (fd < 0)
		return errorf_errno(e, "--stats=json:%s: cannot open it", path);
	return fd;
}
