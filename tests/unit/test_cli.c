#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/cli.h"

#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)

#define ck_assert_msg_has(e, needle)                                                               \
	ck_assert_msg(strstr((e).msg, (needle)) != NULL, "message \"%s\" lacks \"%s\"", (e).msg,   \
		      (needle))

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

/* Runs cli_parse on "minivmm" followed by the arguments up to NULL. */
static int parse(struct vm_config *cfg, struct errbuf *e, ...)
{
	static char *argv[32];
	int argc = 0;
	argv[argc++] = "minivmm";
	va_list ap;
	va_start(ap, e);
	for (char *a; (a = va_arg(ap, char *)) != NULL;) {
		ck_assert_int_lt(argc, 31);
		argv[argc++] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	return cli_parse(argc, argv, cfg, e);
}

#define PARSE(cfg, e, ...) parse((cfg), (e), __VA_ARGS__, (char *)NULL)

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
	static const char *const opts[] = {"--kernel",	"--initrd", "--cmdline", "--mem",
					   "--cpus",	"--tap",    "--stats",	 "--help",
					   "--version", "Ctrl-A x", "1-32"};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		ck_assert_msg(strstr(buf, opts[i]) != NULL, "usage lacks %s", opts[i]);
	free(buf);
}
END_TEST

START_TEST(test_missing_kernel)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(parse(&cfg, &e, (char *)NULL), -1);
	ck_assert_msg_has(e, "--kernel");
	ck_assert_msg_has(e, "missing");
	ck_assert_int_eq(PARSE(&cfg, &e, "--mem", "1G", "--cpus", "2"), -1);
	ck_assert_msg_has(e, "--kernel: missing");
}
END_TEST

START_TEST(test_bad_cpus)
{
	static const char *const bad[] = {"0", "33", "-1", "abc", "", "4x", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vm_config cfg;
		struct errbuf e = {""};
		ck_assert_msg(PARSE(&cfg, &e, "--kernel", "k", "--cpus", (char *)bad[i]) == -1,
			      "--cpus \"%s\" accepted", bad[i]);
		ck_assert_msg_has(e, "--cpus");
	}
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--cpus", "0"), -1);
	ck_assert_msg_has(e, "between 1 and 32");
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--cpus", "33"), -1);
	ck_assert_msg_has(e, "between 1 and 32");
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--cpus", "abc"), -1);
	ck_assert_msg_has(e, "not a number");
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--cpus", "1"), CLI_RUN);
	ck_assert_int_eq(cfg.cpus, 1);
}
END_TEST

START_TEST(test_bad_mem)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--mem", "12Q"), -1);
	ck_assert_msg_has(e, "--mem 12Q");
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--mem", "1K"), -1);
	ck_assert_msg_has(e, "minimum");
}
END_TEST

START_TEST(test_tap_not_supported)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--tap", "tap0"), -1);
	ck_assert_msg_has(e, "--tap tap0");
	ck_assert_msg_has(e, "not yet supported");
}
END_TEST

START_TEST(test_unknown_option)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--bogus"), -1);
	ck_assert_msg_has(e, "--bogus");
	ck_assert_msg_has(e, "unknown option");
	ck_assert_int_eq(PARSE(&cfg, &e, "--bogus=1", "--kernel", "k"), -1);
	ck_assert_msg_has(e, "--bogus");
	ck_assert_int_eq(PARSE(&cfg, &e, "-x", "--kernel", "k"), -1);
	ck_assert_msg_has(e, "-x");
	ck_assert_msg_has(e, "unknown option");
	/* --stats takes no value. */
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--stats=yes"), -1);
	ck_assert_msg_has(e, "--stats");
}
END_TEST

/* An unknown letter in a group of short options is named, not argv[0]. */
START_TEST(test_unknown_option_in_group)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "-xh", "--kernel", "k"), -1);
	ck_assert_msg_has(e, "unknown option");
	ck_assert_msg(strncmp(e.msg, "minivmm", 7) != 0, "message names argv[0]: \"%s\"", e.msg);
	ck_assert_msg_has(e, "-x");
}
END_TEST

START_TEST(test_missing_value)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel"), -1);
	ck_assert_msg_has(e, "--kernel: needs a value");
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--mem"), -1);
	ck_assert_msg_has(e, "--mem: needs a value");
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--initrd"), -1);
	ck_assert_msg_has(e, "--initrd: needs a value");
}
END_TEST

START_TEST(test_extra_argument)
{
	struct vm_config cfg;
	struct errbuf e = {""};
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "extra"), -1);
	ck_assert_msg_has(e, "extra: unexpected argument");
	/* Before the options too (getopt_long moves it to the end). */
	ck_assert_int_eq(PARSE(&cfg, &e, "extra", "--kernel", "k"), -1);
	ck_assert_msg_has(e, "extra: unexpected argument");
	/* After "--" everything is positional. */
	ck_assert_int_eq(PARSE(&cfg, &e, "--kernel", "k", "--", "--mem"), -1);
	ck_assert_msg_has(e, "--mem: unexpected argument");
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

int main(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_size_units);
	tcase_add_test(tc, test_size_limits);
	tcase_add_test(tc, test_size_syntax);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_kvm_device_env);
	tcase_add_test(tc, test_all_options);
	tcase_add_test(tc, test_help_and_version);
	tcase_add_test(tc, test_usage_text);
	tcase_add_test(tc, test_missing_kernel);
	tcase_add_test(tc, test_bad_cpus);
	tcase_add_test(tc, test_bad_mem);
	tcase_add_test(tc, test_tap_not_supported);
	tcase_add_test(tc, test_unknown_option);
	tcase_add_test(tc, test_unknown_option_in_group);
	tcase_add_test(tc, test_missing_value);
	tcase_add_test(tc, test_extra_argument);
	tcase_add_test(tc, test_reparse_after_errors);
	tcase_add_test(tc, test_reparse_after_option_group);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
