#!/usr/bin/env bash
# net_guest.sh: puts a minivmm guest on a private network and pings it.
# Sourced by tests/integration/kvm_tests.sh and scripts/boot-guest.sh.
#
# Everything lives in a network namespace made here, named mvg-<pid>-<tag>
# (<pid> is the sourcing shell's $$, so a parent can sweep up after a child
# that was killed): the bridge (a private Open vSwitch with the userspace
# "netdev" datapath, or a Linux bridge) holding 192.168.77.1/24, the TAP
# minivmm opens, minivmm itself and the pinging side. Files (OVS database,
# sockets, logs, pidfiles) go in a temp dir /tmp/mvg-<pid>-<tag>.XXXXXX.
# OVS_RUNDIR/OVS_LOGDIR/OVS_DBDIR point there, so ovs-vsctl, and minivmm's
# --bridge through it, talk to that OVS and never to a system one.
#
# Typical use:
#   ng_setup ovs mytest || fail       # netns + OVS bridge mvgbr0 + host IP
#   ng_vmm_start "$log" "$vmm" --kernel K --initrd I \
#       --cmdline "console=ttyS0 $ng_guest_ip_arg" --tap "$ng_tap" --bridge "$ng_br" --stats
#   ng_wait_for "$log.out" "IP-Config: Complete" 60
#   ng_ping 20 0.2                    # sets ng_ping_sent/recv/rtt
#   ng_vmm_stop 30; ng_nic_stats "$log.err" "$ng_tap"   # sets ng_stat[...]
#   ng_teardown                       # also run by the caller's EXIT trap
#
# Run directly, `net_guest.sh selftest` checks the scaffolding without KVM:
# a veth pair stands in for minivmm's TAP and the guest's NIC.

# shellcheck source=tests/integration/ovs_private.sh
. "$(dirname "${BASH_SOURCE[0]}")/ovs_private.sh"

# (Several of these are only read by the scripts that source this file.)
# shellcheck disable=SC2034
{
ng_subnet=192.168.77
ng_host_ip=$ng_subnet.1
ng_guest_ip=$ng_subnet.2
# Linux configures eth0 itself from this (CONFIG_IP_PNP), no userspace needed.
ng_guest_ip_arg="ip=$ng_guest_ip::$ng_host_ip:255.255.255.0::eth0:off"
ng_br=mvgbr0
ng_tap=mvgtap0

ng_ns=''          # the namespace, once made
ng_dir=''         # the temp dir, once made
ng_kind=''        # ovs | linux | none
ng_vmm_pid=''     # minivmm, while it runs
ng_vmm_rc=''      # its exit status, after ng_vmm_stop
ng_tee_pid=''     # ng_vmm_start_tee's tail
ng_ping_sent='' ng_ping_recv='' ng_ping_rtt='' ng_ping_log=''
declare -gA ng_stat=()
}

ng_say() { printf '%s\n' "$*"; }
# Same shape as kvm_tests.sh's bad(): an indented reason, status 1.
ng_bad() {
	printf '    %s\n' "$*"
	return 1
}
ng_in_ns() { ip netns exec "$ng_ns" "$@"; }

# ng_need TOOL...: all on PATH, else say which one is missing.
ng_need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || ng_bad "$t not found (scripts/install-deps.sh installs it)" || return 1
	done
}

# ---- namespace and bridge ----------------------------------------------------

# ng_setup KIND TAG: namespace mvg-$$-TAG and temp dir; KIND ovs or linux
# also makes bridge $ng_br holding $ng_host_ip/24 (none: no bridge).
ng_setup() {
	ng_kind=$1
	ng_need ip ping || return 1
	[ "$ng_kind" != ovs ] || ng_need ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl || return 1
	ng_ns=mvg-$$-$2
	ng_dir=$(mktemp -d "/tmp/mvg-$$-$2.XXXXXX") || ng_bad "mktemp failed" || return 1
	# Every OVS default path; for a Linux bridge this still keeps minivmm's
	# "is BR an OVS bridge?" question away from any system OVS.
	export OVS_RUNDIR=$ng_dir OVS_LOGDIR=$ng_dir OVS_DBDIR=$ng_dir
	ip netns add "$ng_ns" || ng_bad "ip netns add $ng_ns failed" || return 1
	ng_in_ns ip link set lo up
	# No IPv6 on our links: its ND/MLD chatter would blur the packet counts.
	# (Fails harmlessly where the kernel has no IPv6.)
	ng_in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
		>/dev/null 2>&1
	case $ng_kind in
	ovs) ng_ovs_start || return 1 ;;
	linux) ng_in_ns ip link add "$ng_br" type bridge || ng_bad "ip link add $ng_br type bridge failed" || return 1 ;;
	none) return 0 ;;
	*) ng_bad "ng_setup: unknown bridge kind $ng_kind" || return 1 ;;
	esac
	ng_in_ns ip addr add "$ng_host_ip/24" dev "$ng_br" &&
		ng_in_ns ip link set "$ng_br" up || ng_bad "could not give $ng_br $ng_host_ip/24" || return 1
}

# ng_ovs_start: ovsdb-server + ovs-vswitchd in the namespace, files in
# $ng_dir, and bridge $ng_br on the userspace datapath (no kernel module).
# Its LOCAL port is then a TAP device named $ng_br that ovs-vswitchd holds;
# the host side's address goes on it like on any link.
ng_ovs_start() {
	local i why
	why=$(ovs_private_start "$ng_dir" "$ng_br" ng_in_ns) || ng_bad "$why" || return 1
	for ((i = 0; i < 50; i++)); do
		ng_in_ns ip link show "$ng_br" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	ng_bad "OVS bridge $ng_br has no LOCAL link in the namespace"
}

# ng_ports: the ports on $ng_br besides its own (OVS) or its members (Linux).
# If ovs-vsctl cannot say, one line that says why instead, and status 1: an
# unanswered question must never read as "no ports".
ng_ports() {
	local got rc
	case $ng_kind in
	ovs)
		got=$(ng_in_ns ovs-vsctl --timeout=10 list-ports "$ng_br" 2>"$ng_dir/list-ports.err") && {
			[ -z "$got" ] || printf '%s\n' "$got"
			return 0
		}
		rc=$?
		# --timeout ends it with SIGALRM (ovs-vsctl(8)).
		printf '(ovs-vsctl list-ports %s failed: status %s%s: %s)\n' "$ng_br" "$rc" \
			"$( ((rc == 142)) && echo ', timed out after 10 s')" "$(head -n 1 "$ng_dir/list-ports.err")"
		return 1
		;;
	linux) ng_in_ns ip -o link show master "$ng_br" | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' ;;
	esac
}

# ng_expect_ports WHEN [PORT]: the bridge has exactly PORT (or, without it,
# none), else says what it has WHEN, and for OVS what ovs-vswitchd last
# logged about ports, which tells a port taken out from one never added.
ng_expect_ports() {
	local when=$1 want=${2:-} got
	got=$(ng_ports)
	[ "$got" = "$want" ] && return 0
	ng_bad "ports on $ng_br $when: '$(xargs <<<"$got")', expected '$want'"
	[ "$ng_kind" != ovs ] ||
		grep -E '(added|deleted) interface|\|(WARN|ERR)\|' "$ng_dir/vswitchd.log" 2>/dev/null | tail -n 6 |
		sed 's/^/      vswitchd.log: /'
	return 1
}

# ng_links: every link name in the namespace, sorted (for before/after).
ng_links() {
	ng_in_ns ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort
}

# ng_link_counter LINK NAME: a /sys/class/net statistics counter of LINK in
# the namespace (the figures `ip -s link show` prints). `ip netns exec`
# mounts the namespace's own /sys.
ng_link_counter() {
	ng_in_ns cat "/sys/class/net/$1/statistics/$2"
}

# ---- minivmm -----------------------------------------------------------------

# ng_vmm_start LOG CMD...: runs CMD (minivmm and its options) in the
# namespace in the background, stdout in LOG.out, stderr in LOG.err, no
# stdin. `ip netns exec` execs CMD, so $ng_vmm_pid is minivmm's own pid.
ng_vmm_start() {
	local log=$1
	shift
	ip netns exec "$ng_ns" "$@" </dev/null >"$log.out" 2>"$log.err" &
	ng_vmm_pid=$!
}

# ng_vmm_start_tee LOG CMD...: the same, but the console also goes to this
# stdout as it comes (scripts/boot-guest.sh shows the boot).
ng_vmm_start_tee() {
	local log=$1
	shift
	: >"$log.out"
	ip netns exec "$ng_ns" "$@" </dev/null >"$log.out" 2>"$log.err" &
	ng_vmm_pid=$!
	tail -n +1 --pid="$ng_vmm_pid" -f "$log.out" &
	ng_tee_pid=$!
}

# ng_wait_for FILE REGEX SECONDS: polls FILE until REGEX shows up; fails if
# minivmm exits or time runs out. Prints the seconds it took.
ng_wait_for() {
	local file=$1 re=$2 limit=$3 start now
	start=$(date +%s.%N)
	while :; do
		if grep -qE -- "$re" "$file" 2>/dev/null; then
			now=$(date +%s.%N)
			awk -v s="$start" -v e="$now" 'BEGIN { printf "%.2f\n", e - s }'
			return 0
		fi
		pid_alive "$ng_vmm_pid" || return 1
		now=$(date +%s.%N)
		awk -v s="$start" -v e="$now" -v l="$limit" 'BEGIN { exit !(e - s > l) }' && return 1
		sleep 0.2
	done
}

# ng_vmm_stop SECONDS: SIGTERM, then wait that long before SIGKILL. Sets
# $ng_vmm_rc; fails if minivmm had to be killed.
ng_vmm_stop() {
	local limit=$1 pid=$ng_vmm_pid ok=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	if ! timeout "$limit" tail --pid="$pid" -f /dev/null; then
		kill -KILL "$pid" 2>/dev/null
		ng_bad "minivmm did not stop within ${limit}s of SIGTERM"
		ok=1
	fi
	wait "$pid" 2>/dev/null
	# shellcheck disable=SC2034 # read by the caller
	ng_vmm_rc=$?
	ng_vmm_pid=''
	# ng_vmm_start_tee's tail: let it show the last of the console.
	[ -z "$ng_tee_pid" ] || wait "$ng_tee_pid" 2>/dev/null
	ng_tee_pid=''
	return $ok
}

# ng_nic_stats ERRFILE NIC: parses minivmm's --stats line for NIC,
#   "  virtio-net NIC: rx_packets=N rx_bytes=N ... kicks=N",
# into ng_stat[rx_packets] etc. (rx: host to guest, tx: guest to host).
ng_nic_stats() {
	local line kv
	ng_stat=()
	line=$(grep -E "^ *virtio-net $2: " "$1" | grep -v ": offloads " | tail -n 1)
	[ -n "$line" ] || ng_bad "no 'virtio-net $2:' stats line" || return 1
	for kv in ${line#*: }; do
		[[ $kv =~ ^([a-z_]+)=([0-9]+)$ ]] && ng_stat[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	done
	for kv in rx_packets tx_packets rx_dropped tx_errors interrupts intx kicks; do
		[ -n "${ng_stat[$kv]:-}" ] || ng_bad "stats line lacks $kv=: $line" || return 1
	done
}

# ---- the pinging side --------------------------------------------------------

# ng_ping COUNT INTERVAL: pings the guest from the namespace (the bridge's
# own address). Sets ng_ping_sent, ng_ping_recv and ng_ping_rtt
# ("min/avg/max", ms; empty if nothing came back); the output is in
# $ng_ping_log. Fails only if ping's summary is missing.
ng_ping() {
	ng_ping_log=$ng_dir/ping.out
	ng_in_ns ping -n -c "$1" -i "$2" -W 2 "$ng_guest_ip" >"$ng_ping_log" 2>&1
	ng_ping_sent=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' "$ng_ping_log")
	ng_ping_recv=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' "$ng_ping_log")
	ng_ping_rtt=$(sed -nE 's|^rtt min/avg/max/mdev = ([0-9.]+)/([0-9.]+)/([0-9.]+)/.*|\1/\2/\3|p' "$ng_ping_log")
	if [ -z "$ng_ping_sent" ] || [ -z "$ng_ping_recv" ]; then
		ng_bad "no ping summary: $(tail -n 3 "$ng_ping_log")"
	fi
}

# ---- teardown ----------------------------------------------------------------

# ng_ovs_stop: stops our OVS, if we started one (ovs_private_stop).
ng_ovs_stop() {
	local p
	[ -n "$ng_dir" ] || return 0
	p=$(ovs_private_stop "$ng_dir") || ng_bad "OVS processes survived: $p"
}

# ng_kill_ns NS: SIGKILL whatever still runs in NS, then delete it.
ng_kill_ns() {
	local p
	ip netns list | grep -qE "^$1( |$)" || return 0
	for p in $(ip netns pids "$1" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null
	done
	ip netns del "$1"
}

# ng_teardown: idempotent, safe at any point of ng_setup; the caller's EXIT
# trap runs it whether the test passed or not. Fails if something survived.
ng_teardown() {
	local ok=0
	if [ -n "$ng_vmm_pid" ]; then
		kill -KILL "$ng_vmm_pid" 2>/dev/null
		wait "$ng_vmm_pid" 2>/dev/null
		ng_vmm_pid=''
	fi
	if [ -n "$ng_tee_pid" ]; then
		kill "$ng_tee_pid" 2>/dev/null
		wait "$ng_tee_pid" 2>/dev/null
		ng_tee_pid=''
	fi
	ng_ovs_stop || ok=1
	if [ -n "$ng_ns" ]; then
		ng_kill_ns "$ng_ns-peer" || ok=1
		ng_kill_ns "$ng_ns" || ok=1
		! ip netns list | grep -qE "^$ng_ns(-peer)?( |$)" || ng_bad "namespace $ng_ns survived" || ok=1
	fi
	[ -z "$ng_dir" ] || rm -rf "$ng_dir"
	ng_ns='' ng_dir=''
	return $ok
}

# ng_sweep PID: for a parent whose child was killed before its trap ran:
# removes every namespace and temp dir the child (whose $$ was PID) made.
# Prints what it found; fails if there was anything.
ng_sweep() {
	local ns d found=1
	for ns in $(ip netns list | awk -v p="mvg-$1-" 'index($1, p) == 1 { print $1 }'); do
		ng_say "    left behind: namespace $ns (and $(ip netns pids "$ns" | wc -l) processes)"
		ng_kill_ns "$ns"
		found=0
	done
	for d in /tmp/mvg-"$1"-*; do
		[ -e "$d" ] || continue
		for p in $(pgrep -f -- "$d" || true); do
			kill -KILL "$p" 2>/dev/null
		done
		ng_say "    left behind: $d"
		rm -rf "$d"
		found=0
	done
	return $((!found))
}

# ---- a stand-in guest, for checking the scaffolding without KVM --------------

# ng_fake_guest: a veth pair instead of minivmm: $ng_tap on the bridge, its
# peer in namespace $ng_ns-peer holding $ng_guest_ip, like the guest's eth0.
ng_fake_guest() {
	ip netns add "$ng_ns-peer" || return 1
	ng_in_ns ip link add "$ng_tap" type veth peer name eth0 netns "$ng_ns-peer" || return 1
	ip netns exec "$ng_ns-peer" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1
	ip netns exec "$ng_ns-peer" ip addr add "$ng_guest_ip/24" dev eth0 &&
		ip netns exec "$ng_ns-peer" ip link set eth0 up &&
		ng_in_ns ip link set "$ng_tap" up || return 1
	case $ng_kind in
	ovs) ng_in_ns ovs-vsctl --timeout=10 add-port "$ng_br" "$ng_tap" ;;
	linux) ng_in_ns ip link set "$ng_tap" master "$ng_br" ;;
	esac
}

ng_fake_guest_remove() {
	case $ng_kind in
	ovs) ng_in_ns ovs-vsctl --timeout=10 del-port "$ng_br" "$ng_tap" ;;
	esac
	ng_in_ns ip link del "$ng_tap"
}

# ng_selftest KIND: namespace, bridge, fake guest, ping, teardown.
ng_selftest() {
	local kind=$1 ok=0
	(
		trap 'ng_teardown' EXIT
		ng_setup "$kind" "self-$kind" || exit 1
		ng_fake_guest || ng_bad "fake guest setup failed" || exit 1
		ng_ping 10 0.2 || exit 1
		[ "$ng_ping_recv" = "$ng_ping_sent" ] || ng_bad "lost pings: $(tail -n 2 "$ng_ping_log")" || exit 1
		ng_say "    $kind: ping $ng_ping_recv/$ng_ping_sent rtt min/avg/max = $ng_ping_rtt ms" \
			"(tap rx/tx $(ng_link_counter "$ng_tap" rx_packets)/$(ng_link_counter "$ng_tap" tx_packets))"
		ng_fake_guest_remove || exit 1
		ng_expect_ports "after the fake guest left" || exit 1
	) || ok=1
	if ng_sweep $$; then
		ng_say "    $kind: teardown left nothing"
	else
		ok=1
	fi
	return $ok
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -uo pipefail
	case ${1:-} in
	selftest)
		[ "$(id -u)" = 0 ] || { echo "net_guest.sh: needs root" >&2; exit 1; }
		rc=0
		for kind in ovs linux; do
			if ng_selftest "$kind"; then echo "PASS net_guest selftest $kind"; else echo "FAIL net_guest selftest $kind"; rc=1; fi
		done
		exit $rc
		;;
	*)
		echo "usage: $0 selftest   (otherwise: source it)" >&2
		exit 2
		;;
	esac
fi
