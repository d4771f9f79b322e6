#!/usr/bin/env bash
# net/ (TAP, links, OVS and Linux bridges) against the real kernel and a real
# Open vSwitch, all inside a network namespace this script makes and removes.
# Needs root, `ip netns` and openvswitch-switch (scripts/install-deps.sh).
#
#   tests/integration/net_plumbing.sh BUILD_DIR
#
# It starts its own OVS (ovsdb-server + ovs-vswitchd, userspace "netdev"
# datapath, so no openvswitch kernel module) with every file in a temp dir,
# and points OVS_RUNDIR there: ovs-vsctl, and so minivmm, then find that
# OVS's database at $OVS_RUNDIR/db.sock instead of a system OVS's. Phase 1
# runs net_plumbing_test with OVS up; phase 2 with ovs-vswitchd stopped
# (--vswitchd-stopped); phase 3 with ovsdb-server stopped too
# (--ovs-stopped). Everything is torn down on exit, pass or fail: our OVS
# processes, the namespace, the temp dir. The host's own namespace and any
# other OVS are never touched.
#
# Ends with "net plumbing: N passed, N failed" (all phases); exits 1 if
# anything failed.
set -uo pipefail
# shellcheck source=tests/integration/ovs_private.sh
. "$(dirname "$0")/ovs_private.sh"

if [ $# != 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
test_bin=$(cd "$1" && pwd)/net/net_plumbing_test
vmm=$(cd "$1" && pwd)/minivmm
payload=$(cd "$1" && pwd)/tests/payloads/hello.bzImage
if [ "$(id -u)" != 0 ]; then
	echo "net_plumbing.sh: must run as root (network namespaces, TAP devices)" >&2
	exit 1
fi
for f in "$test_bin" "$vmm" "$payload"; do
	[ -e "$f" ] || {
		echo "net_plumbing.sh: $f not built" >&2
		exit 1
	}
done
for tool in ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl; do
	command -v "$tool" >/dev/null || {
		echo "net_plumbing.sh: $tool not found (scripts/install-deps.sh installs it)" >&2
		exit 1
	}
done

ovs_br=mvbr0
linux_br=mvlbr0
ns=mvnet-$$
D=$(mktemp -d /tmp/minivmm-net.XXXXXX)
# Every OVS default directory: nothing of ours lands in /var/run/openvswitch,
# /var/log/openvswitch or /etc/openvswitch.
export OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D
vswitchd_pid=
passed=0
failed=0
started=$(date +%s.%N)

in_ns() { ip netns exec "$ns" "$@"; }
say() { printf '%s\n' "$*"; }

# stop_ovs: stops our OVS (ovs_private_stop). Returns 1 if a daemon survives.
stop_ovs() {
	local p
	p=$(ovs_private_stop "$D" in_ns) && return 0
	say "net_plumbing.sh: OVS processes survived: $p"
	return 1
}

# teardown: idempotent; run before the summary and again by the EXIT trap.
teardown() {
	local ok=0
	stop_ovs || ok=1
	if ip netns list | grep -qw -- "$ns"; then
		ip netns del "$ns" || ok=1
	fi
	rm -rf "$D"
	return $ok
}
trap 'teardown' EXIT
trap 'exit 130' INT TERM

# setup_fail MSG: setup broke; count it and stop (the trap tears down).
setup_fail() {
	say "FAIL $*"
	for f in "$D"/*.log; do
		[ -f "$f" ] && say "--- $f" && tail -n 5 "$f"
	done
	say "net plumbing: $passed passed, $((failed + 1)) failed"
	exit 1
}

start_ovs() {
	local why
	why=$(ovs_private_start "$D" "$ovs_br" in_ns) || setup_fail "$why"
	vswitchd_pid=$(cat "$D/vswitchd.pid")
}

# run_phase NAME ARGS...: runs the test program in the namespace; adds its
# summary line to the totals.
run_phase() {
	local name=$1 out=$D/$1.out summary p f
	shift
	say "--- $name"
	in_ns timeout -k 5 120 "$test_bin" "$@" 2>&1 | tee "$out"
	summary=$(grep -E '^net plumbing: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$summary" ]; then
		say "FAIL $name: the test program ended without a summary"
		failed=$((failed + 1))
		return
	fi
	read -r p f < <(sed -E 's/^net plumbing: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$summary")
	passed=$((passed + p))
	failed=$((failed + f))
}

ip netns add "$ns" || setup_fail "ip netns add $ns"
in_ns ip link set lo up
in_ns ip link add "$linux_br" type bridge || setup_fail "ip link add $linux_br type bridge"
in_ns ip link add mvveth0 type veth peer name mvveth1 || setup_fail "ip link add mvveth0 type veth"
in_ns ip tuntap add dev mvpre mode tap || setup_fail "ip tuntap add dev mvpre"
in_ns ip tuntap add dev mvown mode tap user 1234 || setup_fail "ip tuntap add dev mvown"
in_ns ip tuntap add dev mvtun0 mode tun || setup_fail "ip tuntap add dev mvtun0"
start_ovs

run_phase "phase 1: Open vSwitch running" "$ovs_br" "$linux_br"

# signal_in_setup SIG TARGET: minivmm is asked to stop while `ovs-vsctl
# add-port` waits for a paused ovs-vswitchd: SIG goes to minivmm alone
# (TARGET pid) or to its whole process group (TARGET group, a terminal's
# Ctrl-C). It must finish the set-up step, undo everything, say so in one
# line and exit 0, leaving no port, no TAP and no ovs-vsctl behind. With SIG
# KILL minivmm cannot do any of that: its clean-up process (net/undo.c) must,
# and be gone within 15 s. None of this reaches KVM, so no /dev/kvm is needed.
signal_in_setup() {
	local sig=$1 target=$2 name=mvsig0 pid rc ok=1 i why=''
	local out=$D/sig-$sig.out err=$D/sig-$sig.err
	kill -STOP "$vswitchd_pid"
	# Not in_ns: a function would run in a subshell, and $! be its pid.
	ip netns exec "$ns" setsid "$vmm" --kernel "$payload" --tap "$name" --bridge "$ovs_br" \
		</dev/null >"$out" 2>"$err" &
	pid=$!
	# Until add-port is in flight: its port is in the database.
	for ((i = 0; i < 100; i++)); do
		in_ns ovs-vsctl --timeout=5 list-ports "$ovs_br" | grep -qx "$name" && break
		sleep 0.05
	done
	sleep 0.3
	if [ "$target" = group ]; then kill -"$sig" -- -"$pid"; else kill -"$sig" "$pid"; fi
	sleep 0.5
	kill -CONT "$vswitchd_pid"
	timeout 30 tail --pid="$pid" -f /dev/null || { why="minivmm did not stop"; kill -9 "$pid"; }
	wait "$pid"
	rc=$?
	# The clean-up process outlives a SIGKILLed minivmm a little.
	for ((i = 0; i < 150; i++)); do
		pgrep -g "$pid" -x minivmm-undo >/dev/null || break
		sleep 0.1
	done
	if [ -z "$why" ]; then
		if pgrep -g "$pid" -x minivmm-undo >/dev/null; then
			why="its clean-up process still runs 15 s later"
		elif [ "$sig" = KILL ]; then
			[ "$rc" = 137 ] || why="exit status $rc (want 137, killed)"
		elif [ "$rc" != 0 ]; then
			why="exit status $rc"
		elif [ "$(wc -l <"$err")" != 1 ] || ! grep -qE "^minivmm: stopped by .* during set-up$" "$err"; then
			why="stderr: $(head -c 300 "$err")"
		fi
		if [ -n "$why" ]; then
			:
		elif in_ns ovs-vsctl --timeout=5 list-ports "$ovs_br" | grep -qx "$name"; then
			why="port $name left on $ovs_br"
		elif in_ns ip link show "$name" >/dev/null 2>&1; then
			why="TAP $name left behind"
		elif pgrep -f "ovs-vsctl.*$name" >/dev/null; then
			why="an ovs-vsctl for $name still runs"
		else
			ok=0
		fi
	fi
	# Whatever happened, leave nothing for the next phase.
	in_ns ovs-vsctl --timeout=5 --if-exists del-port "$ovs_br" "$name" >/dev/null 2>&1
	in_ns ip link del "$name" >/dev/null 2>&1
	if [ "$ok" = 0 ]; then
		say "ok   SIG$sig to minivmm's $target during ovs-vsctl add-port: $(cat "$err")"
		passed=$((passed + 1))
	else
		say "FAIL SIG$sig to minivmm's $target during ovs-vsctl add-port: $why"
		failed=$((failed + 1))
	fi
}
say "--- a stop signal during set-up"
signal_in_setup TERM pid
signal_in_setup INT group
signal_in_setup KILL pid

# ovsdb-server alone: add-port commits, then times out waiting for vswitchd.
in_ns ovs-appctl --timeout=5 -t "$D/vswitchd.ctl" exit || failed=$((failed + 1))
for ((i = 0; i < 50; i++)); do
	pid_alive "$vswitchd_pid" || break
	sleep 0.1
done
run_phase "phase 2: ovs-vswitchd stopped" --vswitchd-stopped "$ovs_br" "$linux_br"

stop_ovs || failed=$((failed + 1))
run_phase "phase 3: Open vSwitch stopped" --ovs-stopped "$ovs_br" "$linux_br"

if ! teardown; then
	say "FAIL teardown"
	failed=$((failed + 1))
fi
if ip netns list | grep -qw -- "$ns"; then
	say "FAIL namespace $ns still exists"
	failed=$((failed + 1))
fi
say "net_plumbing.sh: $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
say "net plumbing: $passed passed, $failed failed"
[ "$failed" = 0 ]
