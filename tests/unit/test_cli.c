#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "vmm/cli.h"

#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

/* ---- cli_parse_size ---- */

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0;
	struct errbuf e = {""};
	ck_assert_msg(cli_parse_size(s, &v, &e) == 0, "\"%s\": %s", s, e.msg);
	ck_assert_msg(v == want, "\"%s\": got %llu, want %llu", s, (unsigned long long)v,
		      (unsigned long long)want);
}

/* On error the output is left alone and the message names --mem, the input
 * and the problem. */
static void size_bad(const char *s, const char *why)
{
	uint64_t v = 12345;
	struct errbuf e = {""};
	ck_assert_msg(cli_parse_size(s, &v, &e) == -1, "\"%s\" accepted", s ? s : "(null)");
	ck_assert_uint_eq(v, 12345);
	ck_assert_msg_has(e, "--mem");
	ck_assert_msg_has(e, why);
	if (s && *s)
		ck_assert_msg_has(e, s);
}

START_TEST(test_size_units)
{
	size_ok("256M", MiB(256));
	size_ok("256m", MiB(256));
	size_ok("2G", GiB(2));
	size_ok("1g", GiB(1));
	size_ok("1024", GiB(1)); /* a bare number is MiB, like QEMU's -m */
	size_ok("4096K", MiB(4));
	size_ok("4096k", MiB(4));
	size_ok("2GiB", GiB(2));
	size_ok("2gib", GiB(2));
	size_ok("2GB", GiB(2));
	size_ok("512MiB", MiB(512));
	size_ok("1T", 1ULL << 40);
	size_ok("0256M", MiB(256)); /* decimal, not octal */
}
END_TEST

START_TEST(test_size_limits)
{
	size_ok("2M", MiB(2));	   /* the minimum */
	size_ok("2048K", MiB(2));  /* the minimum in KiB */
	size_ok("3000K", 3072000); /* 750 pages: above the minimum and page-sized */
	size_ok("1048576M", 1ULL << 40);
	size_ok("1024G", 1ULL << 40);
	size_ok("2052K", 2052 * 1024);

	size_bad("0", "minimum");
	size_bad("1", "minimum");
	size_bad("1K", "minimum");
	size_bad("2047K", "minimum");
	size_bad("2049K", "multiple of 4K");
	size_bad("2050K", "multiple of 4K");
	size_bad("2T", "1T");
	size_bad("1025G", "1T");
	size_bad("1048577M", "1T");
	size_bad("1073741825K", "1T");
	/* Too large for strtoull, and just below that: neither may wrap. */
	size_bad("99999999999999999999M", "too large");
	size_bad("18446744073709551615", "1T");
	size_bad("17592186044416", "1T"); /* 2^44 MiB: 2^64 bytes */
}
END_TEST

START_TEST(test_size_syntax)
{
	size_bad("", "empty");
	size_bad(NULL, "empty");
	size_bad("abc", "not a size");
	size_bad("-1", "not a size");
	size_bad("+1G", "not a size");
	size_bad(" 256M", "not a size");
	size_bad("M", "not a size");
	size_bad("12Q", "unknown unit 'Q'");
	size_bad("1.5G", "unknown unit");
	size_bad("0x100", "unknown unit");
	size_bad("256 ", "unknown unit");
	size_bad("1M5", "trailing");
	size_bad("256M ", "trailing");
	size_bad("2Gi", "trailing");
	size_bad("2GiBs", "trailing");
	size_bad("2GG", "trailing");
}
END_TEST

/* ---- cli_parse ---- */

/* Runs cli_parse on "minivmm" followed by args, up to NULL. */
static int parse(struct vm_config *cfg, struct errbuf *e, char *const *args)
{
	static char *argv[32];
	int argc = 0;
	argv[argc++] = "minivmm";
	for (; *args; args++) {
		ck_assert_int_lt(argc, 31);
		argv[argc++] = *args;
	}
	argv[argc] = NULL;
	return cli_parse(argc, argv, cfg, e);
}

#define PARSE(cfg, e, ...) parse((cfg), (e), (char *[]){__VA_ARGS__, NULL})

/* cli_parse refuses args (up to NULL) with a message that names why; returns
 * the message. */
static struct errbuf args_bad(const char *why, char *const *args)
{
	char line[256] = "";
	for (char *const *a = args; *a; a++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", *a);
	struct vm_config cfg;
	struct errbuf e = {""};
	int r = parse(&cfg, &e, args);
	ck_assert_msg(r == -1, "\"minivmm%s\" gave %d, not -1", line, r);
	ck_assert_msg_has(e, why);
	return e;
}

#define ARGS_BAD(why, ...) args_bad((why), (char *[]){__VA_ARGS__, NULL})

START_TEST(test_defaults)
{
	unsetenv(CLI_KVM_DEV_ENV);
	struct vm_config cfg;
	memset(&cfg, 0x5a, sizeof(cfg));
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "bzImage"), CLI_RUN);
	ck_assert_str_eq(cfg.kernel_path, "bzImage");
	ck_assert_ptr_null(cfg.initrd_path);
	ck_assert_ptr_null(cfg.cmdline);
	ck_assert_uint_eq(cfg.mem_size, MiB(256));
	ck_assert_int_eq(cfg.cpus, 1);
	ck_assert(!cfg.stats);
	ck_assert_str_eq(cfg.kvm_path, "/dev/kvm");
	ck_assert(!cfg.no_seccomp); /* seccomp is on unless asked otherwise */
}
END_TEST

START_TEST(test_kvm_device_env)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	setenv(CLI_KVM_DEV_ENV, "/tmp/not-kvm", 1);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k"), CLI_RUN);
	ck_assert_str_eq(cfg.kvm_path, "/tmp/not-kvm");
	/* Set but empty is as good as unset. */
	setenv(CLI_KVM_DEV_ENV, "", 1);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k"), CLI_RUN);
	ck_assert_str_eq(cfg.kvm_path, "/dev/kvm");
	unsetenv(CLI_KVM_DEV_ENV);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k"), CLI_RUN);
	ck_assert_str_eq(cfg.kvm_path, "/dev/kvm");
}
END_TEST

START_TEST(test_all_options)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "vmlinux", "--initrd", "rd.cpio", "--cmdline",
			       "console=ttyS0 quiet", "--mem", "1G", "--cpus", "4", "--stats"),
			 CLI_RUN);
	ck_assert_str_eq(cfg.kernel_path, "vmlinux");
	ck_assert_str_eq(cfg.initrd_path, "rd.cpio");
	ck_assert_str_eq(cfg.cmdline, "console=ttyS0 quiet");
	ck_assert_uint_eq(cfg.mem_size, GiB(1));
	ck_assert_int_eq(cfg.cpus, 4);
	ck_assert(cfg.stats);

	/* --opt=value, and the last of a repeated option wins. */
	ck_assert_int_eq(
	    PARSE(&cfg, &e, "--mem=512M", "--cpus=32", "--kernel=a", "--kernel", "b", "--cmdline="),
	    CLI_RUN);
	ck_assert_uint_eq(cfg.mem_size, MiB(512));
	ck_assert_int_eq(cfg.cpus, 32);
	ck_assert_str_eq(cfg.kernel_path, "b");
	ck_assert_str_eq(cfg.cmdline, "");
}
END_TEST

START_TEST(test_help_and_version)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--help"), CLI_HELP);
	ck_assert_int_eq(PARSE(&cfg, &e, "-h"), CLI_HELP);
	ck_assert_int_eq(PARSE(&cfg, &e, "--version"), CLI_VERSION);
	ck_assert_int_eq(PARSE(&cfg, &e, "-V"), CLI_VERSION);
	/* Neither needs --kernel, and both win over a valid command line. */
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--help"), CLI_HELP);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--version"), CLI_VERSION);
}
END_TEST

START_TEST(test_usage_text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	cli_usage(f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "usage: minivmm --kernel FILE"));
	static const char *const opts[] = {"--kernel", "--initrd",     "--cmdline", "--mem",
					   "--cpus",   "--tap",	       "--bridge",  "--mac",
					   "--stats",  "--help",       "--version", "Ctrl-A x",
					   "1-32",     "--no-seccomp", "--offload"};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		ck_assert_msg(strstr(buf, opts[i]) != NULL, "usage lacks %s", opts[i]);
	free(buf);
}
END_TEST

START_TEST(test_missing_kernel)
{
	struct errbuf e = args_bad("--kernel", (char *[]){NULL});
	ck_assert_msg_has(e, "missing");
	ARGS_BAD("--kernel: missing", "--mem", "1G", "--cpus", "2");
}
END_TEST

START_TEST(test_bad_cpus)
{
	static const char *const bad[] = {"0", "33", "-1", "abc", "", "4x", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ARGS_BAD("--cpus", "--kernel", "k", "--cpus", (char *)bad[i]);
	ARGS_BAD("between 1 and 32", "--kernel", "k", "--cpus", "0");
	ARGS_BAD("between 1 and 32", "--kernel", "k", "--cpus", "33");
	ARGS_BAD("not a number", "--kernel", "k", "--cpus", "abc");
	/* A number out of range, negative or past a long, is still a number. */
	ARGS_BAD("--cpus -1: must be between 1 and 32", "--kernel", "k", "--cpus", "-1");
	ARGS_BAD("--cpus 999: must be between 1 and 32", "--kernel", "k", "--cpus", "999");
	ARGS_BAD("must be between 1 and 32", "--kernel", "k", "--cpus", "99999999999999999999");
	ARGS_BAD("must be between 1 and 32", "--kernel", "k", "--cpus", "-99999999999999999999");
	ARGS_BAD("not a number", "--kernel", "k", "--cpus", "-");
	ARGS_BAD("not a number", "--kernel", "k", "--cpus", "-abc");
	ARGS_BAD("not a number", "--kernel", "k", "--cpus", "--1");
	ARGS_BAD("not a number", "--kernel", "k", "--cpus", "+1");
	ARGS_BAD("not a number", "--kernel", "k", "--cpus", " 1");
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--cpus", "1"), CLI_RUN);
	ck_assert_int_eq(cfg.cpus, 1);
}
END_TEST

START_TEST(test_bad_mem)
{
	ARGS_BAD("--mem 12Q", "--kernel", "k", "--mem", "12Q");
	ARGS_BAD("minimum", "--kernel", "k", "--mem", "1K");
}
END_TEST

START_TEST(test_network_options)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--tap", "tap0", "--bridge", "br0",
			       "--mac", "52:54:00:AB:cd:01"),
			 CLI_RUN);
	ck_assert_str_eq(cfg.tap, "tap0");
	ck_assert_str_eq(cfg.bridge, "br0");
	ck_assert(cfg.mac_set);
	static const uint8_t want[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0x01};
	ck_assert_mem_eq(cfg.mac, want, 6);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--tap", "tap0"), CLI_RUN);
	ck_assert(!cfg.mac_set);
	ck_assert_ptr_null(cfg.bridge);
	ck_assert_int_eq(cfg.offload, OFFLOAD_AUTO);
	static const struct {
		const char *arg;
		enum offload_mode mode;
	} modes[] = {{"auto", OFFLOAD_AUTO}, {"on", OFFLOAD_ON}, {"off", OFFLOAD_OFF}};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--tap", "t", "--offload",
				       (char *)modes[i].arg),
				 CLI_RUN);
		ck_assert_int_eq(cfg.offload, modes[i].mode);
	}
}
END_TEST

START_TEST(test_bad_network_options)
{
	ARGS_BAD("--bridge br0: needs --tap", "--kernel", "k", "--bridge", "br0");
	ARGS_BAD("--mac: needs --tap", "--kernel", "k", "--mac", "52:54:00:00:00:01");
	ARGS_BAD("--offload: needs --tap", "--kernel", "k", "--offload", "off");
	ARGS_BAD("--offload yes: not one of auto, on, off", "--kernel", "k", "--tap", "t",
		 "--offload", "yes");
	ARGS_BAD("--offload : not one of", "--kernel", "k", "--tap", "t", "--offload", "");
	static const char *const bad[] = {"zz",
					  "52:54:00:00:00",
					  "52:54:00:00:00:01:02",
					  "52-54-00-00-00-01",
					  "5:54:00:00:00:01",
					  "52:54:00:00:00:0g",
					  ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ARGS_BAD("not a MAC address", "--kernel", "k", "--tap", "t", "--mac",
			 (char *)bad[i]);
	ARGS_BAD("multicast", "--kernel", "k", "--tap", "t", "--mac", "01:00:5e:00:00:01");
	ARGS_BAD("all-zero", "--kernel", "k", "--tap", "t", "--mac", "00:00:00:00:00:00");
}
END_TEST

START_TEST(test_default_mac_is_stable_and_unicast)
{
	uint8_t a[6], b[6], c[6];
	virtio_net_default_mac("tap0", a);
	virtio_net_default_mac("tap0", b);
	virtio_net_default_mac("tap1", c);
	ck_assert_mem_eq(a, b, 6);
	ck_assert(memcmp(a, c, 6) != 0);
	ck_assert_uint_eq(a[0], 0x52); /* locally administered, unicast */
	ck_assert_uint_eq(a[1], 0x54);
}
END_TEST

START_TEST(test_unknown_option)
{
	struct errbuf e = ARGS_BAD("--bogus", "--kernel", "k", "--bogus");
	ck_assert_msg_has(e, "unknown option");
	ARGS_BAD("--bogus", "--bogus=1", "--kernel", "k");
	e = ARGS_BAD("-x", "-x", "--kernel", "k");
	ck_assert_msg_has(e, "unknown option");
	/* --stats takes no value. */
	ARGS_BAD("--stats", "--kernel", "k", "--stats=yes");
}
END_TEST

/* An unknown letter in a group of short options is named, not argv[0]. */
START_TEST(test_unknown_option_in_group)
{
	struct errbuf e = ARGS_BAD("unknown option", "-xh", "--kernel", "k");
	ck_assert_msg(strncmp(e.msg, "minivmm", 7) != 0, "message names argv[0]: \"%s\"", e.msg);
	ck_assert_msg_has(e, "-x");
}
END_TEST

START_TEST(test_missing_value)
{
	ARGS_BAD("--kernel: needs a value", "--kernel");
	ARGS_BAD("--mem: needs a value", "--kernel", "k", "--mem");
	ARGS_BAD("--initrd: needs a value", "--kernel", "k", "--initrd");
}
END_TEST

START_TEST(test_extra_argument)
{
	ARGS_BAD("extra: unexpected argument", "--kernel", "k", "extra");
	/* Before the options too (getopt_long moves it to the end). */
	ARGS_BAD("extra: unexpected argument", "extra", "--kernel", "k");
	/* After "--" everything is positional. */
	ARGS_BAD("--mem: unexpected argument", "--kernel", "k", "--", "--mem");
}
END_TEST

/* cli_parse resets getopt itself, so one process can parse many command lines
 * (as this test binary does): each parse must see only its own argv. */
START_TEST(test_reparse_after_errors)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--bogus"), -1);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel"), -1);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--cpus", "99"), -1);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k2", "--cpus", "3"), CLI_RUN);
	ck_assert_str_eq(cfg.kernel_path, "k2");
	ck_assert_int_eq(cfg.cpus, 3);
}
END_TEST

START_TEST(test_reparse_after_option_group)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	/* Stops at 'h' with 'V' still unread in the group. */
	ck_assert_int_eq(PARSE(&cfg, &e, "-hV"), CLI_HELP);
	int r = PARSE(&cfg, &e, "--kernel", "k");
	ck_assert_msg(r == CLI_RUN, "\"--kernel k\" after \"-hV\" gave %d, not CLI_RUN", r);
	ck_assert_str_eq(cfg.kernel_path, "k");

	/* Likewise after an error inside a group. */
	ck_assert_int_eq(PARSE(&cfg, &e, "-xh"), -1);
	r = PARSE(&cfg, &e, "--kernel", "k");
	ck_assert_msg(r == CLI_RUN, "\"--kernel k\" after \"-xh\" gave %d, not CLI_RUN", r);
}
END_TEST

/* --stats is the text table; =FORMAT picks text or JSON, to stderr or a file. */
START_TEST(test_stats_formats)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k"), CLI_RUN);
	ck_assert_int_eq(cfg.stats, STATS_OFF);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--stats"), CLI_RUN);
	ck_assert_int_eq(cfg.stats, STATS_TEXT);
	ck_assert_ptr_null(cfg.stats_path);
	ck_assert_int_eq(PARSE(&cfg, &e, "--stats=text", "--kernel", "k"), CLI_RUN);
	ck_assert_int_eq(cfg.stats, STATS_TEXT);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--stats=json"), CLI_RUN);
	ck_assert_int_eq(cfg.stats, STATS_JSON);
	ck_assert_ptr_null(cfg.stats_path);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--stats=json:/tmp/s.json"), CLI_RUN);
	ck_assert_int_eq(cfg.stats, STATS_JSON);
	ck_assert_str_eq(cfg.stats_path, "/tmp/s.json");
	/* The last one wins, path included. */
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--stats=json:x", "--stats"), CLI_RUN);
	ck_assert_int_eq(cfg.stats, STATS_TEXT);
	ck_assert_ptr_null(cfg.stats_path);
}
END_TEST

START_TEST(test_bad_stats)
{
	struct errbuf e = ARGS_BAD("unknown format", "--kernel", "k", "--stats=xml");
	ck_assert_msg_has(e, "--stats=xml");
	ARGS_BAD("unknown format", "--kernel", "k", "--stats=");
	ARGS_BAD("unknown format", "--kernel", "k", "--stats=jsonx");
	ARGS_BAD("needs a path", "--kernel", "k", "--stats=json:");
	/* An optional value must be attached: "--stats json" is two arguments. */
	ARGS_BAD("json: unexpected argument", "--kernel", "k", "--stats", "json");
}
END_TEST

/* --stats=json:PATH is checked before the VM is built, and the check leaves
 * the file system as it was. */
START_TEST(test_stats_path_check)
{
	char dir[] = "/tmp/test_cli.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[sizeof(dir) + 64];
	struct errbuf e = {""};
	struct stat st;

	/* A new file in an existing directory: fine, and not left behind. */
	snprintf(path, sizeof(path), "%s/new.json", dir);
	ck_assert_msg(cli_check_stats_path(path, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(path, &st), -1);

	/* An existing file: fine, and not truncated. */
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{}", f);
	fclose(f);
	ck_assert_msg(cli_check_stats_path(path, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 2);
	unlink(path);

	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/no-such-dir/x.json", dir);
	ck_assert_int_eq(cli_check_stats_path(path, &e), -1);
	ck_assert_msg_has(e, "--stats=json:");
	ck_assert_msg_has(e, path);
	ck_assert_msg_has(e, "cannot create it: No such file or directory");

	/* A directory where the file should be. */
	ck_assert_int_eq(cli_check_stats_path(dir, &e), -1);
	ck_assert_msg_has(e, "is a directory");

	/* A path through a regular file. */
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/file/x.json", dir);
	ck_assert_int_eq(cli_check_stats_path(path, &e), -1);
	ck_assert_msg_has(e, "Not a directory");
	snprintf(path, sizeof(path), "%s/file", dir);
	unlink(path);

	/* A dangling symlink: fopen("w") creates its target, so it is fine,
	 * and the check does not create the target itself. */
	char target[sizeof(dir) + 64];
	snprintf(target, sizeof(target), "%s/target.json", dir);
	snprintf(path, sizeof(path), "%s/link.json", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_msg(cli_check_stats_path(path, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(target, &st), -1);
	unlink(path);

	/* Permissions only hold for a user without CAP_DAC_OVERRIDE. */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(dir, 0500), 0);
		snprintf(path, sizeof(path), "%s/new.json", dir);
		ck_assert_int_eq(cli_check_stats_path(path, &e), -1);
		ck_assert_msg_has(e, "Permission denied");
		ck_assert_int_eq(chmod(dir, 0700), 0);
	}
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* The benchmarks' counts: a plain decimal number within bounds. */
START_TEST(test_parse_uint)
{
	uint64_t v = 0;
	ck_assert(cli_parse_uint("1", 1, 10, &v) && v == 1);
	ck_assert(cli_parse_uint("10", 1, 10, &v) && v == 10);
	ck_assert(cli_parse_uint("18446744073709551615", 0, UINT64_MAX, &v) && v == UINT64_MAX);
	static const char *bad[] = {"0",  "11", "",   "-1",  "+1",
				    " 5", "5 ", "5x", "0x5", "18446744073709551616"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!cli_parse_uint(bad[i], 1, 10, &v), "took \"%s\"", bad[i]);
}
END_TEST

/* --no-seccomp takes no value, and a later parse starts with seccomp on. */
START_TEST(test_no_seccomp)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--no-seccomp"), CLI_RUN);
	ck_assert(cfg.no_seccomp);
	ck_assert_int_eq(PARSE(&cfg, &e, "--no-seccomp", "--kernel", "k", "--stats"), CLI_RUN);
	ck_assert(cfg.no_seccomp);
	ck_assert_int_eq(cfg.stats, STATS_TEXT);
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k"), CLI_RUN);
	ck_assert(!cfg.no_seccomp);
	ARGS_BAD("--no-seccomp=yes: unknown option", "--kernel", "k", "--no-seccomp=yes");
	ARGS_BAD("unknown option", "--kernel", "k", "--seccomp");
}
END_TEST

CHECK_MAIN("cli", test_size_units, test_size_limits, test_size_syntax, test_defaults,
	   test_kvm_device_env, test_all_options, test_help_and_version, test_usage_text,
	   test_missing_kernel, test_bad_cpus, test_bad_mem, test_network_options,
	   test_bad_network_options, test_default_mac_is_stable_and_unicast, test_unknown_option,
	   test_unknown_option_in_group, test_missing_value, test_extra_argument,
	   test_reparse_after_errors, test_reparse_after_option_group, test_stats_formats,
	   test_bad_stats, test_stats_path_check, test_no_seccomp, test_parse_uint)
