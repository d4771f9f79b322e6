#!/usr/bin/env bash
# KVM integration tests: minivmm running the project's own payloads and a real
# Linux kernel. Needs a usable /dev/kvm (scripts/run-tests.sh provides one).
# The virtio_net_* tests also need root, ip, ping and Open vSwitch; each puts
# its bridge, TAP, minivmm and pinging side in a network namespace of its own.
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
# shellcheck source=tests/integration/net_guest.sh
. "$(dirname "$0")/net_guest.sh"

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
	# TERM first, so a test's EXIT trap can tear down what it built (network
	# namespaces, OVS); KILL whatever is left a few seconds later.
	(sleep "$limit" && echo "    watchdog: $fn still running after ${limit}s, killing it" &&
		kill -TERM -- -"$pid" && sleep 10 && kill -9 -- -"$pid") 2>/dev/null &
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
	local status=0
	with_watchdog "${MINIVMM_TEST_TIMEOUT:-600}" "test_$name" || status=$?
	# A test killed before its own teardown leaves namespaces behind; remove
	# them, and fail a test that passed but did not clean up.
	if ! ng_sweep $$ && [ "$status" = 0 ]; then
		say "    the test left the above behind"
		status=1
	fi
	if [ "$status" = 0 ]; then
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
	expect_one_line_error bad_small_mem "--mem: 8 MiB is too small"
	# (--tap, --bridge and --mac: virtio_net_bad_input, inside a namespace.)
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

# ---- virtio-net: a Linux guest on a private network --------------------------
#
# Each test makes its own network namespace (tests/integration/net_guest.sh)
# holding the bridge with 192.168.77.1/24, minivmm's TAP, minivmm and the
# pinging side, and deletes it on exit, pass or fail. No packet leaves it.

# Linux reached IP-Config 8-30 s after start in nested-KVM L1 runs (4-8 s
# when L1 is quiet); allow twice the worst seen.
net_timeout=${MINIVMM_NET_TIMEOUT:-60}
net_pings=20

# net_setup KIND NAME: ng_setup with teardown on any exit of this test's
# subshell (the watchdog sends TERM before KILL, so the trap gets to run).
net_setup() {
	[ "$(id -u)" = 0 ] || bad "needs root (network namespaces, TAP devices)" || return 1
	trap 'ng_teardown' EXIT
	trap 'exit 143' TERM INT
	ng_setup "$1" "$2"
}

# net_diag NAME: what a failed network test needs explained, into the log.
net_diag() {
	local name=$1
	say "    ---- diagnostics for $name"
	[ -n "$ng_ping_log" ] && [ -s "$ng_ping_log" ] && { say "    ping:"; sed 's/^/      /' "$ng_ping_log"; }
	grep -E "virtio-net|stopped by" "$out/$name.err" 2>/dev/null | sed 's/^/    stderr: /'
	grep -iE "virtio|eth0|IP-Config|net" "$out/$name.out" 2>/dev/null | tail -n 15 | sed 's/^/    console: /'
	if [ -n "$ng_ns" ]; then
		ng_in_ns ip -s link show 2>&1 | sed 's/^/    netns: /'
		ng_in_ns ip neigh show 2>&1 | sed 's/^/    neigh: /'
	fi
	[ -n "$ng_dir" ] && [ -s "$ng_dir/vswitchd.log" ] && tail -n 15 "$ng_dir/vswitchd.log" | sed 's/^/    vswitchd.log: /'
	return 1
}

# within A B SLACK: |A - B| <= SLACK.
within() { (($1 - $2 <= $3 && $2 - $1 <= $3)); }

# net_ping_test NAME KIND MAC EXTRA_CMDLINE TAP [minivmm args]: boots
# Linux with a virtio-net NIC on TAP $ng_tap attached to a KIND bridge,
# waits for the guest's own IP configuration, pings it $net_pings times,
# stops minivmm and checks the ping figures, minivmm's NIC stats against
# the pings and the host's TAP counters, the guest's MAC (MAC "" means
# minivmm's default) and that minivmm took its port away, and its TAP if
# it made it (TAP "new") but not if it was there before (TAP "existing").
net_ping_test() {
	local name=$1 kind=$2 mac=$3 extra=$4 tap=$5 secs hwaddr lladdr host_tx host_rx
	shift 5
	net_setup "$kind" "$name" || return 1
	net_ping_body "$@" || net_diag "$name" || return 1
	ng_teardown || bad "teardown failed"
}

# (Uses net_ping_test's locals: bash scoping is dynamic.)
net_ping_body() {
	local args=(--tap "$ng_tap" --bridge "$ng_br" --stats "$@")
	[ -z "$mac" ] || args+=(--mac "$mac")
	if [ "$tap" = existing ]; then
		ng_in_ns ip tuntap add dev "$ng_tap" mode tap || bad "ip tuntap add dev $ng_tap failed" || return 1
	fi
	ng_vmm_start "$out/$name" "$vmm" --kernel "$kdir/bzImage" --initrd "$initrd" \
		--cmdline "$linux_cmdline $ng_guest_ip_arg${extra:+ $extra}" "${args[@]}"
	secs=$(ng_wait_for "$out/$name.out" "IP-Config: Complete" "$net_timeout") ||
		bad "no 'IP-Config: Complete' on the console within ${net_timeout}s" || return 1
	[ "$(ng_ports)" = "$ng_tap" ] || bad "ports on $ng_br while the guest runs: '$(ng_ports | xargs)', expected $ng_tap" || return 1

	ng_ping "$net_pings" 0.2 || return 1
	# A test's own look at the running process (virtio_net_seccomp).
	[ -z "${net_check:-}" ] || "$net_check" || return 1
	# The host's view of the TAP, before minivmm (which made it) deletes it:
	# its tx is what minivmm received, its rx what minivmm sent.
	ng_in_ns ip -s link show "$ng_tap" >"$out/$name.tap"
	host_tx=$(ng_link_counter "$ng_tap" tx_packets)
	host_rx=$(ng_link_counter "$ng_tap" rx_packets)
	lladdr=$(ng_in_ns ip neigh show "$ng_guest_ip" | sed -nE 's/.* lladdr ([0-9a-f:]+).*/\1/p')

	ng_vmm_stop 30 || return 1
	rc=$ng_vmm_rc
	expect_rc 0 && expect_err "$name" "stopped by" || return 1
	# OVS still runs, so an empty list means minivmm removed its port.
	[ -z "$(ng_ports)" ] || bad "minivmm left port(s) on $ng_br: $(ng_ports | xargs)" || return 1
	if [ "$tap" = existing ]; then
		ng_in_ns ip link show "$ng_tap" >/dev/null 2>&1 || bad "minivmm deleted $ng_tap, which it had not made" || return 1
	else
		! ng_in_ns ip link show "$ng_tap" >/dev/null 2>&1 || bad "minivmm left its TAP $ng_tap behind" || return 1
	fi
	ng_nic_stats "$out/$name.err" "$ng_tap" || return 1

	say "    NET $name: ping $ng_ping_recv/$ng_ping_sent rtt min/avg/max = ${ng_ping_rtt:-none} ms"
	say "    NET $name: IP-Config ${secs}s after start; host TAP tx/rx $host_tx/$host_rx"
	grep -E "^ *virtio-net $ng_tap: " "$out/$name.err" | sed 's/^ */    /'
	echo "$name ping $ng_ping_recv/$ng_ping_sent rtt $ng_ping_rtt ipconfig $secs" >>"$out/timings"

	# The guest found a virtio-net function (modern device id 0x1041) and a
	# driver made eth0 of it (the only NIC), which IP-Config then set up.
	expect_out "$name" "pci 0000:00:[0-9a-f]{2}\.[0-7]: \[1af4:1041\] type 00 class 0x020000" || return 1
	expect_out "$name" "device=eth0, hwaddr=[0-9a-f:]+, ipaddr=$ng_guest_ip," || return 1
	hwaddr=$(sed -nE 's/.*device=eth0, hwaddr=([0-9a-f:]+),.*/\1/p' "$out/$name.out" | tail -n 1)
	if [ -n "$mac" ]; then
		[ "$hwaddr" = "$mac" ] || bad "guest's MAC is $hwaddr, --mac said $mac" || return 1
	else
		# minivmm's default: unicast, locally administered.
		(((16#${hwaddr:0:2} & 3) == 2)) || bad "default MAC $hwaddr is not unicast and locally administered" || return 1
	fi
	[ "$lladdr" = "$hwaddr" ] || bad "the host resolved $ng_guest_ip to '$lladdr', the guest says $hwaddr" || return 1

	# No loss at 5 pings a second.
	[ "$ng_ping_sent" = "$net_pings" ] && [ "$ng_ping_recv" = "$net_pings" ] ||
		bad "ping: $ng_ping_recv of $ng_ping_sent answered" || return 1
	# Every echo went through minivmm in each direction; ARP adds a few.
	((ng_stat[rx_packets] >= ng_ping_sent && ng_stat[rx_packets] <= ng_ping_sent + 10)) ||
		bad "rx_packets=${ng_stat[rx_packets]} for $ng_ping_sent echo requests" || return 1
	((ng_stat[tx_packets] >= ng_ping_recv && ng_stat[tx_packets] <= ng_ping_recv + 10)) ||
		bad "tx_packets=${ng_stat[tx_packets]} for $ng_ping_recv echo replies" || return 1
	((ng_stat[rx_dropped] == 0 && ng_stat[tx_errors] == 0)) ||
		bad "rx_dropped=${ng_stat[rx_dropped]} tx_errors=${ng_stat[tx_errors]}, expected 0" || return 1
	((ng_stat[interrupts] > 0 && ng_stat[kicks] > 0)) ||
		bad "interrupts=${ng_stat[interrupts]} kicks=${ng_stat[kicks]}" || return 1
	# Which interrupt path the guest's driver chose: INTx only with pci=nomsi.
	if [[ $extra == *pci=nomsi* ]]; then
		((ng_stat[intx] == ng_stat[interrupts])) ||
			bad "pci=nomsi, yet only ${ng_stat[intx]} of ${ng_stat[interrupts]} interrupts were INTx" || return 1
	else
		((ng_stat[intx] == 0)) || bad "${ng_stat[intx]} INTx interrupts with MSI-X available" || return 1
	fi
	# The host's TAP counters tell the same story (read a moment before
	# minivmm stopped, hence the slack).
	within "$host_tx" "${ng_stat[rx_packets]}" 4 ||
		bad "host TAP tx_packets=$host_tx but minivmm rx_packets=${ng_stat[rx_packets]}" || return 1
	within "$host_rx" "${ng_stat[tx_packets]}" 4 ||
		bad "host TAP rx_packets=$host_rx but minivmm tx_packets=${ng_stat[tx_packets]}" || return 1
}

test_virtio_net_ovs_ping() {
	net_ping_test virtio_net_ovs_ping ovs 52:54:00:77:00:02 "" new
}

test_virtio_net_linux_bridge_ping() {
	net_ping_test virtio_net_linux_bridge_ping linux "" "" new
}

# pci=nomsi: Linux leaves MSI-X off and virtio-pci falls back to the
# device's legacy INTx line (and the ISR register). This one also hands
# minivmm a TAP that already exists, as an administrator would, which
# minivmm must leave in place.
test_virtio_net_intx_ping() {
	net_ping_test virtio_net_intx_ping linux "" "pci=nomsi" existing
}

# Seccomp (docs/security.md): while the guest pings, both vCPU threads and
# the NIC's worker run under their filters (Seccomp: 2 in /proc) and the main
# thread under none, nothing was refused, and --stats says seccomp is on.
# Every other test runs with the filters on too, the default; --no-seccomp
# turns them off.
seccomp_threads() {
	local pid=$ng_vmm_pid task comm mode vcpus=0 workers=0
	for task in /proc/"$pid"/task/*; do
		comm=$(cat "$task/comm") && mode=$(sed -n 's/^Seccomp:\t//p' "$task/status") || return 1
		if [ "${task##*/}" = "$pid" ]; then
			[ "$mode" = 0 ] || bad "main thread: Seccomp: $mode, expected 0 (not filtered)" || return 1
		elif [[ $comm == vcpu[0-9]* || $comm == virtio-net ]]; then
			[ "$mode" = 2 ] || bad "$comm thread: Seccomp: $mode, expected 2 (filtered)" || return 1
			[ "$comm" = virtio-net ] && workers=$((workers + 1)) || vcpus=$((vcpus + 1))
		else
			bad "an unexpected thread '$comm' (Seccomp: $mode)" || return 1
		fi
	done
	[ "$vcpus" = 2 ] && [ "$workers" = 1 ] || bad "$vcpus vCPU thread(s) and $workers NIC worker(s), expected 2 and 1" || return 1
	say "    SECCOMP: vcpu0, vcpu1 and virtio-net filtered, the main thread not"
}

test_virtio_net_seccomp() {
	local net_check=seccomp_threads name=virtio_net_seccomp
	net_ping_test "$name" ovs "" "" new --cpus 2 || return 1
	expect_err "$name" "seccomp: on \([0-9]+ syscalls allowed for vCPU threads, [0-9]+ for the NIC worker" || return 1
	! grep -E "refused system call" "$out/$name.err" || bad "a filtered thread was refused a system call" || return 1
	run seccomp_off 120 --kernel "$pl/hello.bzImage" --stats --no-seccomp
	expect_rc 0 && expect_out seccomp_off "^hello from a minivmm payload$" &&
		expect_err seccomp_off "seccomp: off \(--no-seccomp\)"
}

# net_bad NAME REGEX ARGS...: minivmm in the namespace must refuse ARGS with
# one line naming REGEX, and leave the namespace's links and the bridge's
# ports as they were.
net_bad() {
	local name=$1 re=$2 before after
	shift 2
	before=$(ng_links)
	ng_in_ns timeout -k 10 60 "$vmm" --kernel "$pl/hello.bzImage" "$@" \
		</dev/null >"$out/$name.out" 2>"$out/$name.err"
	rc=$?
	expect_one_line_error "$name" "$re" || return 1
	after=$(ng_links)
	[ "$before" = "$after" ] || bad "$name: links before: $(xargs <<<"$before"); after: $(xargs <<<"$after")" || return 1
	[ -z "$(ng_ports)" ] || bad "$name: port(s) left on $ng_br: $(ng_ports | xargs)"
}

test_virtio_net_bad_input() {
	net_setup ovs bad_input || return 1
	net_bad net_bad_bridge "--bridge nosuchbr" --tap "$ng_tap" --bridge nosuchbr &&
		net_bad net_bad_tap_name "--tap" --tap mvg-0123456789abcdef --bridge "$ng_br" &&
		net_bad net_bad_mac "--mac" --tap "$ng_tap" --bridge "$ng_br" --mac zz &&
		net_bad net_bad_bridge_alone "--bridge" --bridge "$ng_br" || return 1
	ng_teardown || bad "teardown failed"
}

all_tests=(hello unclaimed_reported_once triple_fault two_vcpus one_vcpu_has_no_ap \
	pvh_elf_entry insn_fixups_on_real_vcpu console_input_and_ctrl_a_x piped_input_reaches_guest \
	sigint_stops sigterm_stops bad_kernels bad_values \
	linux_bzimage_2cpus linux_vmlinux_pvh linux_reboot_via_i8042 \
	virtio_net_ovs_ping virtio_net_linux_bridge_ping virtio_net_intx_ping virtio_net_bad_input \
	virtio_net_seccomp)
# Each of these adds its tests to all_tests.
# shellcheck source=tests/integration/runtime_faults.sh
. "$(dirname "$0")/runtime_faults.sh"
# shellcheck source=tests/integration/guest_misbehaviour.sh
. "$(dirname "$0")/guest_misbehaviour.sh"

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
