# shellcheck shell=bash
# Sourced by kvm_tests.sh: faults of the host side while a Linux guest runs
# (its TAP deleted, Open vSwitch restarted). Each test adds itself to all_tests.
#
# minivmm must keep running through each, say what happened on one line
# (net/link_watch.c; docs/networking.md, "Runtime faults"), and, when the
# bridge port comes back, carry the guest's traffic again without help.
# Everything happens in the test's own network namespace (net_guest.sh).
#
# (build, out, vmm, kdir, initrd, linux_cmdline, net_timeout and name are
# kvm_tests.sh's, or the calling test's.)
# shellcheck disable=SC2154

# Every line minivmm says about the host side of its NIC starts so (the
# --stats lines start with spaces).
rf_said="^minivmm: virtio-net $ng_tap: "

# rf_boot: Linux on a TAP in $ng_br, up and answering pings. Sets
# rf_console_mark: how far the console had got.
rf_boot() {
	ng_vmm_start "$out/$name" "$vmm" --kernel "$kdir/bzImage" --initrd "$initrd" \
		--cmdline "$linux_cmdline $ng_guest_ip_arg" --tap "$ng_tap" --bridge "$ng_br" --stats
	ng_wait_for "$out/$name.out" "IP-Config: Complete" "$net_timeout" >/dev/null ||
		bad "no 'IP-Config: Complete' on the console within ${net_timeout}s" || return 1
	rf_ping_works 30 "after boot" || return 1
	rf_console_mark=$(wc -l <"$out/$name.out")
}

# rf_ping_works SECONDS WHEN [MIN]: the guest answers a ping within SECONDS
# (the host may have to resolve it again), then MIN (default 10) of 10 at 5
# a second.
rf_ping_works() {
	local limit=$1 when=$2 min=${3:-10} i
	for ((i = 0; i < limit; i++)); do
		ng_in_ns ping -n -c 1 -W 1 "$ng_guest_ip" >/dev/null 2>&1 && break
	done
	((i < limit)) || bad "no answer to ping within ${limit}s $when" || return 1
	ng_ping 10 0.2 || return 1
	((ng_ping_recv >= min)) || bad "ping $when: $ng_ping_recv of $ng_ping_sent answered" || return 1
	say "    PING $when: $ng_ping_recv/$ng_ping_sent, rtt min/avg/max = $ng_ping_rtt ms"
}

# rf_pings_fail WHEN: nothing gets through.
rf_pings_fail() {
	ng_ping 3 0.3 || return 1
	[ "$ng_ping_recv" = 0 ] || bad "ping $1: $ng_ping_recv of 3 answered, expected none" || return 1
}

# rf_wait_said REGEX N SECONDS: until minivmm has said REGEX N times.
rf_wait_said() {
	local re=$1 n=$2 limit=$3 i
	for ((i = 0; i < limit * 5; i++)); do
		[ "$(grep -cE -- "$rf_said$re" "$out/$name.err")" -ge "$n" ] && return 0
		pid_alive "$ng_vmm_pid" || bad "minivmm exited; waited for /$re/ #$n" || return 1
		sleep 0.2
	done
	bad "minivmm did not say /$re/ (time $n) within ${limit}s"
}

# rf_alive WHEN: minivmm still runs.
rf_alive() {
	pid_alive "$ng_vmm_pid" || bad "minivmm is gone $1"
}

# rf_stop_clean: SIGTERM stops it with status 0, and nothing went wrong on
# the way: no sanitizer report, nothing refused, no guest kernel trouble.
rf_stop_clean() {
	ng_vmm_stop 30 || return 1
	# shellcheck disable=SC2034 # read by expect_rc
	rc=$ng_vmm_rc
	expect_rc 0 && expect_err "$name" "stopped by Terminated" || return 1
	! grep -E "AddressSanitizer|LeakSanitizer|runtime error:|refused system call" "$out/$name.err" ||
		bad "sanitizer or seccomp report" || return 1
	# E.g. the guest's TX watchdog ("transmit queue 0 timed out").
	! tail -n +"$((rf_console_mark + 1))" "$out/$name.out" |
		grep -E "Kernel panic|BUG:|WARNING:|Call Trace|timed out" ||
		bad "the guest kernel complained after it booted" || return 1
	ng_nic_stats "$out/$name.err" "$ng_tap" || return 1
	grep -E "^ *virtio-net $ng_tap: " "$out/$name.err" | sed 's/^ */    /'
}

# rf_said_exactly LINE...: what minivmm said about its NIC's host side, line
# by line, in order (each a regex after "minivmm: virtio-net mvgtap0: ").
rf_said_exactly() {
	local said n=0 re
	mapfile -t said < <(grep -E -- "$rf_said" "$out/$name.err")
	[ "${#said[@]}" = $# ] || bad "minivmm said ${#said[@]} line(s) about $ng_tap, expected $#: $(printf '[%s] ' "${said[@]}")" || return 1
	for re in "$@"; do
		[[ ${said[n]} =~ $rf_said$re ]] || bad "line $((n + 1)) is '${said[n]}', expected /$re/" || return 1
		n=$((n + 1))
	done
	printf '    SAID: %s\n' "${said[@]#minivmm: }"
}

# rf_ovs_again [vswitchd]: starts our OVS's daemons again on the database
# ng_setup made, with ovs_private_start's arguments; with "vswitchd", only
# ovs-vswitchd (ovsdb-server still runs).
rf_ovs_again() {
	local d=$ng_dir
	if [ "${1:-}" != vswitchd ]; then
		ng_in_ns ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb.pid" \
			--unixctl="$d/ovsdb.ctl" --log-file="$d/ovsdb.log" --detach 2>>"$d/start.log" ||
			bad "ovsdb-server did not start again: $(tail -n 2 "$d/start.log")" || return 1
	fi
	ng_in_ns ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/vswitchd.pid" \
		--unixctl="$d/vswitchd.ctl" --log-file="$d/vswitchd.log" --detach 2>>"$d/start.log" ||
		bad "ovs-vswitchd did not start again: $(tail -n 2 "$d/start.log")" || return 1
	# minivmm's port is still in the database, so the new ovs-vswitchd
	# takes the TAP back by itself; minivmm has nothing to do.
	ng_expect_ports "after the restart" "$ng_tap" || return 1
}

# ---- the TAP deleted while the guest is pinged --------------------------------

test_virtio_net_tap_deleted() {
	local name=virtio_net_tap_deleted
	net_setup ovs tapdel || return 1
	rf_tap_deleted || net_diag "$name" || return 1
	ng_teardown || bad "teardown failed"
}

rf_tap_deleted() {
	local ping_pid rf_console_mark
	rf_boot || return 1
	# 20 pings a second, across the deletion.
	ng_in_ns ping -n -i 0.05 -w 6 -W 1 "$ng_guest_ip" >"$ng_dir/flood.out" 2>&1 &
	ping_pid=$!
	sleep 2
	ng_in_ns ip link del "$ng_tap" || bad "ip link del $ng_tap failed" || return 1
	rf_wait_said "the TAP is gone" 1 20 || return 1
	wait "$ping_pid"
	say "    PING across the deletion: $(grep -E 'packets transmitted' "$ng_dir/flood.out")"
	grep -qE "[1-9][0-9]* received" "$ng_dir/flood.out" || bad "no ping answered before the deletion" || return 1
	# The guest runs on without a host side; minivmm with it.
	sleep 5
	rf_alive "5 s after its TAP was deleted" || return 1
	rf_stop_clean || return 1
	rf_said_exactly "the TAP is gone \(deleted, or moved to another network namespace\); the guest's NIC stays, cut off: what it sends is dropped$" || return 1
	((ng_stat[rx_packets] > 0 && ng_stat[tx_packets] > 0)) ||
		bad "rx_packets=${ng_stat[rx_packets]} tx_packets=${ng_stat[tx_packets]}: no traffic before the deletion" || return 1
	# minivmm took its (now stale) port out of OVS on the way out, and the
	# TAP stays gone: nothing re-created it.
	ng_expect_ports "after minivmm stopped" || return 1
	! ng_in_ns ip link show "$ng_tap" >/dev/null 2>&1 || bad "$ng_tap exists again" || return 1
}

# ---- Open vSwitch stopped and started again ------------------------------------

test_virtio_net_ovs_restart() {
	local name=virtio_net_ovs_restart
	net_setup ovs ovsrestart || return 1
	rf_ovs_restart || net_diag "$name" || return 1
	ng_teardown || bad "teardown failed"
}

rf_ovs_restart() {
	local p rf_console_mark
	rf_boot || return 1

	# 1. Both daemons stopped cleanly (ovs-appctl exit), as a service
	# restart does: the datapath gives the TAP back its flags.
	p=$(ovs_private_stop "$ng_dir") || bad "OVS did not stop: $p" || return 1
	rf_wait_said "bridge port lost" 1 20 || return 1
	rf_pings_fail "with OVS stopped" || return 1
	rf_alive "with OVS stopped" || return 1
	rf_ovs_again || return 1
	rf_wait_said "bridge port back" 1 30 || return 1
	# A freshly started ovs-vswitchd may still lose a frame while it sets
	# up its flows (seen once in 3 runs): 9 of 10 will do.
	rf_ping_works 30 "after OVS started again" 9 || return 1

	# 2. ovs-vswitchd killed (SIGKILL: it restores nothing), its database
	# left running, then the daemon started again.
	kill -KILL "$(cat "$ng_dir/vswitchd.pid")" || bad "cannot kill ovs-vswitchd" || return 1
	rf_wait_said "bridge port lost" 2 20 || return 1
	rf_pings_fail "with ovs-vswitchd killed" || return 1
	rf_alive "with ovs-vswitchd killed" || return 1
	rf_ovs_again vswitchd || return 1
	rf_wait_said "bridge port back" 2 30 || return 1
	rf_ping_works 30 "after ovs-vswitchd started again" 9 || return 1

	rf_stop_clean || return 1
	rf_said_exactly \
		"bridge port lost: mvgtap0 left the datapath of Open vSwitch bridge mvgbr0 \(no longer promiscuous\); the guest's frames go nowhere until it is back$" \
		"bridge port back: mvgbr0 forwards the guest's frames again$" \
		"bridge port lost: the local port of Open vSwitch bridge mvgbr0 lost its carrier \(ovs-vswitchd stopped\?\); the guest's frames go nowhere until it is back$" \
		"bridge port back: mvgbr0 forwards the guest's frames again$" || return 1
	# OVS runs: an empty list means minivmm took its port out on exit.
	ng_expect_ports "after minivmm stopped" || return 1
	! ng_in_ns ip link show "$ng_tap" >/dev/null 2>&1 || bad "minivmm left its TAP $ng_tap behind" || return 1
}

all_tests+=(virtio_net_tap_deleted virtio_net_ovs_restart)

# stats_stop_reason FILE: why minivmm stopped, from its --stats=json:FILE
# ("stopped": {"reason": ...}); nothing if it has not said.
stats_stop_reason() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["stopped"]["reason"])' "$1" 2>/dev/null
}

# The reader of minivmm's stdout and stderr stops reading (a paused `| tee`,
# a stuck SSH session) while the guest floods its console: minivmm must not
# wait for it. Both go into one pipe whose reader takes a little and then
# only sleeps. A SIGTERM must still stop minivmm within a few seconds, with
# status 0, its port and TAP gone, and the JSON stats (to a file) counting
# the console bytes it dropped. Before vmm/outputs.c the vCPU stayed in a
# blocking write() that the stop kick could not end, and only SIGKILL ended
# minivmm, leaving its OVS port behind.
test_virtio_net_stalled_stdout() {
	local name=virtio_net_stalled_stdout pid reader t0 dropped why
	net_setup ovs stalled || return 1
	mkfifo "$ng_dir/out" || return 1
	# The reader: a 4 KiB FIFO (the smallest), 4 KiB read, then no more.
	python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.fcntl(fd, 1031, 4096)  # F_SETPIPE_SZ
got = b""
while len(got) < 4096:
    b = os.read(fd, 4096 - len(got))
    if not b:
        break
    got += b
open(sys.argv[2], "wb").write(got)
time.sleep(600)' "$ng_dir/out" "$out/$name.out" >/dev/null 2>"$ng_dir/reader.err" &
	reader=$! # (not on our stdout: a reader left asleep must not hold it)
	ip netns exec "$ng_ns" "$vmm" --kernel "$pl/flood.bzImage" --tap "$ng_tap" --bridge "$ng_br" \
		--stats="json:$ng_dir/stats.json" </dev/null >"$ng_dir/out" 2>&1 &
	pid=$!
	# Until minivmm's own stdout pipe is full (vmm/outputs.c: then every
	# console byte is dropped), or 40 s; before, the vCPU blocked as soon
	# as the FIFO was. The guest writes a byte per exit, ~7 KB/s in
	# nested KVM over TCG. FIONREAD on the pipe through /proc.
	python3 -c '
import fcntl, os, struct, sys, termios, time
end = time.time() + 40
while time.time() < end:
    try:
        fd = os.open("/proc/%s/fd/1" % sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
        n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"0000"))[0]
        os.close(fd)
    except OSError:
        n = 0
    if n >= 60000:
        time.sleep(2)  # and then some dropped bytes
        sys.exit(0)
    time.sleep(0.5)' "$pid"
	if ! pid_alive "$pid" || ! ng_expect_ports "while the guest runs" "$ng_tap"; then
		# minivmm stopped by itself: it takes its port out, then gives
		# its stalled reader 2 s more. Its stderr is in the stalled pipe,
		# so why is in its JSON stats; written to its .err as minivmm
		# would have, so the runner knows a lab triple fault.
		timeout 10 tail --pid="$pid" -f /dev/null
		pid_alive "$pid" && { kill -KILL "$pid" "$reader" 2>/dev/null; return 1; }
		wait "$pid"
		rc=$?
		kill "$reader" 2>/dev/null
		why=$(stats_stop_reason "$ng_dir/stats.json")
		echo "minivmm: ${why:-(no reason in its stats)}" >"$out/$name.err"
		bad "minivmm stopped by itself, status $rc: ${why:-stats.json: $(head -c 300 "$ng_dir/stats.json" 2>&1)}; dmesg: $(dmesg | tail -n 3)"
		return 1
	fi
	t0=$SECONDS
	kill -TERM "$pid"
	if ! timeout 20 tail --pid="$pid" -f /dev/null; then
		kill -KILL "$pid" "$reader" 2>/dev/null
		bad "minivmm did not stop within 20 s of SIGTERM with its stdout stalled" || return 1
	fi
	wait "$pid"
	rc=$?
	say "    STALLED: minivmm stopped $((SECONDS - t0)) s after SIGTERM"
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
	expect_rc 0 || return 1
	grep -q "^flood: a console line" "$out/$name.out" || bad "the reader got no console at all" || return 1
	dropped=$(sed -nE 's/.*"console_dropped": ([0-9]+).*/\1/p' "$ng_dir/stats.json")
	[ -n "$dropped" ] && ((dropped > 0)) ||
		bad "stats.json: console_dropped='$dropped', expected > 0: $(head -c 300 "$ng_dir/stats.json")" || return 1
	say "    STALLED: $dropped console bytes dropped"
	why=$(stats_stop_reason "$ng_dir/stats.json")
	[ "$why" = "stopped by Terminated" ] || bad "stats.json says it stopped for '$why', not SIGTERM" || return 1
	# The whole report is JSON, the NIC's counters in it as one object
	# (vmm/base/stats_sink.h) named after its TAP.
	python3 - "$ng_dir/stats.json" "$ng_tap" <<'PY' || bad "stats.json is not the JSON expected: $(head -c 600 "$ng_dir/stats.json")" || return 1
import json, sys
r = json.load(open(sys.argv[1]))
nic = r["nics"][0]
assert nic["name"] == sys.argv[2], nic
for k in ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_dropped", "tx_errors",
          "interrupts", "intx", "kicks", "rx_waits", "tx_waits"):
    assert isinstance(nic[k], int), k
assert set(nic["offloads"]) == {"guest_to_host", "host_to_guest", "withheld"}, nic
assert r["console_dropped"] > 0
PY
	ng_expect_ports "after minivmm stopped" || return 1
	! ng_in_ns ip link show "$ng_tap" >/dev/null 2>&1 || bad "minivmm left its TAP $ng_tap behind" || return 1
	ng_teardown || bad "teardown failed"
}

all_tests+=(virtio_net_stalled_stdout)
