#!/usr/bin/env bash
# KVM integration tests: minivmm running the project's own payloads and a real
# Linux kernel. Needs a usable /dev/kvm (scripts/run-tests.sh provides one).
#
#   tests/integration/kvm_tests.sh BUILD_DIR GUEST_KERNEL_DIR [NAME-REGEX | --list]
#
# Each test's stdout/stderr stay in $MINIVMM_TEST_OUT (default: a temp dir).
# Ends with the line "N passed, N failed"; exits 1 if anything failed.
set -uo pipefail

build=$(cd "$1" && pwd)
kdir=$(cd "$2" && pwd)
only=${3:-.}
vmm=$build/minivmm
pl=$build/tests/payloads
initrd=$build/tests/guest/initramfs.cpio
out=${MINIVMM_TEST_OUT:-$(mktemp -d /tmp/minivmm-it.XXXXXX)}
mkdir -p "$out"
# Linux boots take ~1000x longer on an emulating (PVM) host than on hardware.
boot_timeout=${MINIVMM_BOOT_TIMEOUT:-600}
linux_cmdline="console=ttyS0 reboot=k panic=-1"

passed=0
failed=0
failed_names=()

say() { printf '%s\n' "$*"; }
bad() {
	say "    $*"
	return 1
}

# run NAME TIMEOUT ARGS...: minivmm with no stdin; sets $rc.
run() {
	local name=$1 t=$2
	shift 2
	timeout -k 10 "$t" "$vmm" "$@" </dev/null >"$out/$name.out" 2>"$out/$name.err"
	rc=$?
}

expect_rc() { [ "$rc" = "$1" ] || bad "exit status $rc, expected $1"; }
expect_out() { grep -qE -- "$2" "$out/$1.out" || bad "stdout lacks /$2/"; }
expect_err() { grep -qE -- "$2" "$out/$1.err" || bad "stderr lacks /$2/"; }
expect_err_count() {
	local n
	n=$(grep -cE -- "$2" "$out/$1.err")
	[ "$n" = "$3" ] || bad "stderr has /$2/ $n times, expected $3"
}
# A bad-input run: status 1 and exactly one line on stderr, matching $2.
expect_one_line_error() {
	expect_rc 1 || return 1
	local lines
	lines=$(wc -l <"$out/$1.err")
	[ "$lines" = 1 ] || bad "stderr has $lines lines, expected one: $(head -c 400 "$out/$1.err")"
	grep -qE -- "^minivmm: .*$2" "$out/$1.err" || bad "stderr lacks /$2/: $(cat "$out/$1.err")"
}

# wait_for FILE REGEX SECONDS PID: polls until the pattern shows up, the
# process dies, or time runs out. Prints the seconds it took.
wait_for() {
	local file=$1 re=$2 limit=$3 pid=$4 start now
	start=$(date +%s.%N)
	while :; do
		if grep -qE -- "$re" "$file" 2>/dev/null; then
			now=$(date +%s.%N)
			echo "$now - $start" | bc
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		now=$(date +%s.%N)
		[ "$(echo "$now - $start > $limit" | bc)" = 1 ] && return 1
		sleep 0.2
	done
}

# with_watchdog SECONDS FUNCTION: runs FUNCTION in a subshell that is killed,
# with everything it started, after SECONDS.
with_watchdog() {
	local limit=$1 fn=$2 pid wd status
	set -m
	("$fn") &
	pid=$!
	set +m
	(sleep "$limit" && echo "    watchdog: $fn still running after ${limit}s, killing it" &&
		kill -9 -- -"$pid") 2>/dev/null &
	wd=$!
	wait "$pid"
	status=$?
	kill "$wd" 2>/dev/null
	wait "$wd" 2>/dev/null
	return "$status"
}

t() {
	local name=$1
	[[ $name =~ $only ]] || return 0
	local start end
	start=$(date +%s.%N)
	# Each test runs in its own process group under a watchdog, so a hang
	# fails that test (and kills what it started) instead of the whole run.
	if with_watchdog "${MINIVMM_TEST_TIMEOUT:-600}" "test_$name"; then
		end=$(date +%s.%N)
		passed=$((passed + 1))
		printf 'PASS %-28s %6.2fs\n' "$name" "$(echo "$end - $start" | bc)"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		say "FAIL $name"
		for f in "$out/$name.out" "$out/$name.err"; do
			[ -s "$f" ] && { say "---- ${f##*/} (last 30 lines)"; tail -n 30 "$f"; }
		done
	fi
}

# ---- payloads: a few hundred guest instructions each -------------------------

test_hello() {
	run hello 120 --kernel "$pl/hello.bzImage"
	expect_rc 0 && expect_out hello "^hello from a minivmm payload$" &&
		expect_err hello "guest reset \(i8042 reset line\) after"
}

test_unclaimed_reported_once() {
	run unclaimed 120 --kernel "$pl/unclaimed.bzImage" --stats
	expect_rc 0 && expect_out unclaimed "^unclaimed: ok$" &&
		expect_err_count unclaimed "unclaimed port 0x1234 " 1 &&
		expect_err_count unclaimed "unclaimed MMIO address 0xd0000000 " 1 &&
		expect_err unclaimed "pio +\(unclaimed\) +150$" &&
		expect_err unclaimed "mmio +\(unclaimed\) +100$"
}

test_triple_fault() {
	run triple 120 --kernel "$pl/triple_fault.bzImage"
	expect_rc 1 && expect_out triple "about to triple fault" &&
		expect_err triple "guest triple-faulted on vCPU 0" && expect_err triple "rip=" &&
		expect_err triple "cr0="
}

test_two_vcpus() {
	run smp2 120 --kernel "$pl/smp.bzImage" --cpus 2
	expect_rc 0 && expect_out smp2 "AP" && expect_out smp2 "^smp: AP up$"
}

test_one_vcpu_has_no_ap() {
	run smp1 120 --kernel "$pl/smp.bzImage" --cpus 1
	expect_rc 0 && expect_out smp1 "^smp: AP did not start$"
}

test_pvh_elf_entry() {
	run pvh 120 --kernel "$pl/pvh.elf"
	expect_rc 0 && expect_out pvh "^pvh: ok$"
}

# minivmm's PVM instruction fixups, which only a PVM host ever asks for, run
# on this vCPU: fixup_test fakes PVM's exit at each instruction of the
# payload and calls minivmm's exit handler (tests/integration/fixup_test.c).
test_insn_fixups_on_real_vcpu() {
	local name=insn_fixups_on_real_vcpu
	timeout -k 10 180 "$build/tests/fixup_test" "$pl/fixups.bzImage" \
		</dev/null >"$out/$name.out" 2>"$out/$name.err"
	rc=$?
	expect_rc 0 || return 1
	local c
	for c in "int3" "int \\\$3" "fnclex" "fwait" "fwait #MF" "clac #UD" "stac #UD"; do
		expect_out $name "^fixup $c: ok$" || return 1
	done
	expect_out $name "^fixup smap: (ok|skipped \(no SMAP\))$" &&
		expect_out $name "^fixups: done$" &&
		expect_out $name "^fixups: [0-9]+ passed, 0 failed$"
}

test_console_input_and_ctrl_a_x() {
	python3 "$(dirname "$0")/console_test.py" "$vmm" "$pl/echo.bzImage" "$pl/spin.bzImage" \
		>"$out/console.out" 2>"$out/console.err"
	rc=$?
	sed "s/^/    /" "$out/console.out"
	expect_rc 0
}

test_piped_input_reaches_guest() {
	local pid
	"$vmm" --kernel "$pl/echo.bzImage" < <(sleep 1; echo "piped line") >"$out/pipe.out" 2>"$out/pipe.err" &
	pid=$!
	timeout 120 tail --pid="$pid" -f /dev/null || kill -9 "$pid"
	wait "$pid"
	rc=$?
	expect_rc 0 && expect_out pipe "^got: piped line$"
}

# stop_with SIGNAL: a spinning guest, stopped from outside.
stop_with() {
	local name=spin_$1 sig=$1 pid
	"$vmm" --kernel "$pl/spin.bzImage" --stats </dev/null >"$out/$name.out" 2>"$out/$name.err" &
	pid=$!
	wait_for "$out/$name.out" "^spinning$" 120 "$pid" >/dev/null || {
		kill -9 "$pid"
		bad "guest never printed"
		return 1
	}
	kill -s "$sig" "$pid"
	timeout 30 tail --pid="$pid" -f /dev/null || {
		kill -9 "$pid"
		bad "minivmm did not stop on SIG$sig"
		return 1
	}
	wait "$pid"
	rc=$?
	expect_rc 0 && expect_err "$name" "stopped by" && expect_err "$name" "minivmm stats:"
}
test_sigint_stops() { stop_with INT; }
test_sigterm_stops() { stop_with TERM; }

# ---- bad input: one line, status 1 -------------------------------------------

test_bad_kernels() {
	head -c 100000 /dev/urandom >"$out/garbage.bin"
	head -c 700 "$pl/hello.bzImage" >"$out/truncated.bzImage"
	: >"$out/empty.bin"
	run bad_missing 30 --kernel "$out/does-not-exist"
	expect_one_line_error bad_missing "--kernel .*does-not-exist: No such file" || return 1
	run bad_empty 30 --kernel "$out/empty.bin"
	expect_one_line_error bad_empty "found an empty file" || return 1
	run bad_garbage 30 --kernel "$out/garbage.bin"
	expect_one_line_error bad_garbage "not a bzImage or ELF vmlinux" || return 1
	run bad_trunc 30 --kernel "$out/truncated.bzImage"
	expect_one_line_error bad_trunc "truncated" || return 1
	run bad_nopvh 30 --kernel "$pl/nopvh.elf"
	expect_one_line_error bad_nopvh "no PVH entry note"
}

test_bad_values() {
	run bad_cpus 30 --kernel "$pl/hello.bzImage" --cpus 0
	expect_one_line_error bad_cpus "--cpus 0: must be between 1 and" || return 1
	run bad_mem 30 --kernel "$pl/hello.bzImage" --mem 12Q
	expect_one_line_error bad_mem "--mem 12Q: unknown unit" || return 1
	head -c $((20 << 20)) /dev/zero >"$out/big.initrd"
	run bad_initrd 60 --kernel "$pl/hello.bzImage" --mem 16M --initrd "$out/big.initrd"
	expect_one_line_error bad_initrd "--initrd: .*does not fit" || return 1
	run bad_small_mem 60 --kernel "$kdir/bzImage" --mem 8M
	expect_one_line_error bad_small_mem "--mem: 8 MiB is too small" || return 1
	run bad_tap 30 --kernel "$pl/hello.bzImage" --tap tap0
	expect_one_line_error bad_tap "not yet supported"
}

# ---- a real Linux kernel -----------------------------------------------------

# boot_linux NAME KERNEL ARGS...: boots to "Run /init", checks the kernel
# stays up with our /init running, then stops it with SIGTERM.
boot_linux() {
	local name=$1 kernel=$2 pid secs
	shift 2
	"$vmm" --kernel "$kernel" --initrd "$initrd" --cmdline "$linux_cmdline" --stats "$@" \
		</dev/null >"$out/$name.out" 2>"$out/$name.err" &
	pid=$!
	if ! secs=$(wait_for "$out/$name.out" "Run /init as init process" "$boot_timeout" "$pid"); then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		bad "no 'Run /init' within ${boot_timeout}s"
		return 1
	fi
	# /init is running if the kernel neither panics nor complains about it.
	sleep "${MINIVMM_INIT_GRACE:-3}"
	kill -TERM "$pid"
	if ! timeout 60 tail --pid="$pid" -f /dev/null; then
		kill -9 "$pid"
		bad "minivmm did not stop on SIGTERM"
		return 1
	fi
	wait "$pid"
	rc=$?
	say "    TIME $name: start to 'Run /init' ${secs}s"
	echo "$name $secs" >>"$out/timings"
	expect_rc 0 && expect_err "$name" "stopped by" || return 1
	if grep -qE "Kernel panic|Failed to execute /init|Attempted to kill init" "$out/$name.out"; then
		bad "the guest kernel complained about /init"
		return 1
	fi
	sed -n '/minivmm stats:/,$p' "$out/$name.err" | sed 's/^/    /'
}

test_linux_bzimage_2cpus() {
	boot_linux linux_bz "$kdir/bzImage" --cpus 2 || return 1
	expect_out linux_bz "smp: Brought up 1 node, 2 CPUs" &&
		expect_out linux_bz "Booting paravirtualized kernel on KVM" &&
		expect_out linux_bz "clocksource: Switched to clocksource kvm-clock" &&
		expect_out linux_bz "pci 0000:00:00.0: \[1b36:0008\] type 00 class 0x060000"
}

test_linux_vmlinux_pvh() {
	boot_linux linux_pvh "$kdir/vmlinux" || return 1
	expect_out linux_pvh "Linux version 6\.1"
}

test_linux_reboot_via_i8042() {
	# No initrd and no root: the kernel panics, and panic=-1 reboots it at once
	# through the keyboard controller (reboot=k).
	run linux_reboot "$boot_timeout" --kernel "$kdir/bzImage" --cmdline "$linux_cmdline"
	expect_rc 0 && expect_out linux_reboot "Kernel panic" &&
		expect_err linux_reboot "guest reset \(i8042 reset line\)"
}

all_tests=(hello unclaimed_reported_once triple_fault two_vcpus one_vcpu_has_no_ap \
	pvh_elf_entry insn_fixups_on_real_vcpu console_input_and_ctrl_a_x piped_input_reaches_guest \
	sigint_stops sigterm_stops bad_kernels bad_values \
	linux_bzimage_2cpus linux_vmlinux_pvh linux_reboot_via_i8042)

if [ "$only" = --list ]; then
	printf '%s\n' "${all_tests[@]}"
	exit 0
fi
say "minivmm integration tests: $vmm"
say "  kernel: $kdir  logs: $out"
for name in "${all_tests[@]}"; do
	t "$name"
done
[ "$failed" = 0 ] || say "failed: ${failed_names[*]}"
say "integration: $passed passed, $failed failed"
[ "$failed" = 0 ]
