#!/usr/bin/env bash
# net-bench.sh: packet rates and round-trip time through minivmm's virtio-net
# NIC (issue #3), with one command:
#
#   scripts/net-bench.sh [--ovs] [--seconds N] [--size BYTES] [minivmm options]
#
# It builds minivmm, the guest kernel and the netbench guest
# (tests/guest/netbench.c as /init), then in a network namespace of its own
# puts a bridge (Linux, or with --ovs a private Open vSwitch on the userspace
# datapath) holding 192.168.77.1/24 and the guest's TAP, boots the guest as
# 192.168.77.2 and measures, in one boot:
#   ping     50 pings 50 ms apart from the namespace: RTT min/avg/max
#   rx       host->guest: tests/bench/udp_flood sends BYTES-byte UDP
#            datagrams as fast as it can for N s; the guest counts them
#   tx       guest->host: the guest sends as fast as its socket takes them
#            for N s; udp_flood counts them on the host
# and prints both sides' counts, the TAP's counters and minivmm's --stats.
# Defaults: N = 5, BYTES = 64 (the packet rate, not the bandwidth, is the
# point). Everything it makes (minivmm, namespace, OVS, files) is removed on
# exit, pass or fail; no packet leaves that namespace.
#
# Without a usable /dev/kvm it runs itself inside scripts/kvm-in-qemu.sh
# (nested KVM over QEMU TCG), and says so: figures from there are those of
# an emulated machine, far below hardware, and only good for comparing
# minivmm with itself under the same conditions.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
self=$root/scripts/net-bench.sh
# kvm_native, kvm_nested_why: where guests run (scripts/kvm-host.sh).
. "$root/scripts/kvm-host.sh"
say() { printf 'net-bench: %s\n' "$*"; }
die() {
	say "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$self"
}

rx_port=9000 # the guest's receiver
tx_port=9001 # the host's receiver
go_port=9002 # the guest waits for a datagram here before it sends

# ---- the measurement, with KVM at hand and as root -------------------------

# field FILE REGEX: the first capture group of the first line matching the
# sed -E regex REGEX in FILE (empty if none).
field() { sed -nE "s/$2/\\1/p" "$1" | head -n 1; }

# tap_counter NAME: the TAP's /sys statistics counter (tx: towards the guest,
# i.e. what minivmm read; tx_dropped: what the TAP dropped because minivmm
# had not read it yet; rx: what minivmm wrote, from the guest).
tap_counter() { ng_link_counter "$ng_tap" "$1" 2>/dev/null || echo '?'; }

log=''      # minivmm's output: $log.out (console), $log.err
recv_pid='' # udp_flood recv, while it runs

# On any exit of bench_inside (trap): whatever still runs, then the namespace.
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local p
	for p in $recv_pid; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ng_teardown >/dev/null || say "teardown failed"
}

# fail REASON: what the guest and minivmm said, then exit (and clean up).
fail() {
	say "FAILED: $*"
	[ -z "$ng_vmm_pid" ] || ng_vmm_stop 20 >/dev/null
	say "guest console (last 25 lines):"
	tail -n 25 "$log.out" 2>/dev/null | sed 's/^/    /'
	say "minivmm stderr (last 40 lines):"
	tail -n 40 "$log.err" 2>/dev/null | sed 's/^/    /'
	exit 1
}

# snapshot: minivmm's NIC counters now (SIGUSR1 makes it print its report
# so far on stderr, and run on); prints the "virtio-net ...:" line.
snapshot() {
	local before i line
	before=$(grep -c 'virtio-net ' "$log.err")
	kill -USR1 "$ng_vmm_pid" 2>/dev/null || return 1
	for ((i = 0; i < 100; i++)); do
		if [ "$(grep -c 'virtio-net ' "$log.err")" -gt "$before" ]; then
			line=$(grep 'virtio-net ' "$log.err" | tail -n 1)
			echo "${line#*: }"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# delta KEY OLD NEW: NEW's KEY=N minus OLD's (snapshot lines).
delta() {
	local a b
	a=$(grep -oE "(^| )$1=[0-9]+" <<<"$2" | cut -d= -f2)
	b=$(grep -oE "(^| )$1=[0-9]+" <<<"$3" | cut -d= -f2)
	echo $((${b:-0} - ${a:-0}))
}

bench_inside() {
	local build=$1 kdir=$2 kind=$3 secs=$4 size=$5
	shift 5
	local flood=$build/tests/bench/udp_flood initrd=$build/tests/guest/netbench-initramfs.cpio
	local limit=${MINIVMM_NET_TIMEOUT:-90} where job
	[ "$(id -u)" = 0 ] || exec sudo -E "$self" --inside "$build" "$kdir" "$kind" "$secs" "$size" "$@"
	if [ ! -x "$flood" ] || [ ! -s "$initrd" ]; then
		die "missing $flood or $initrd (build with -DBUILD_TESTING=ON)"
	fi
	[ -r "$root/tests/integration/net_guest.sh" ] || die "tests/integration/net_guest.sh is missing"
	# shellcheck source=tests/integration/net_guest.sh
	. "$root/tests/integration/net_guest.sh"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	if [ "${MINIVMM_IN_L1:-}" = 1 ]; then
		where="nested KVM in QEMU TCG — not hardware figures"
	else
		where="KVM on $(uname -n)"
	fi

	ng_setup "$kind" bench || die "network setup failed"
	log=$ng_dir/minivmm
	# One boot runs every step: the guest receives (until the host's flood
	# has stopped for 2 s), waits for the host's go (sent once its
	# receiver is up), then sends. `quiet` keeps the serial console, slow under emulation,
	# out of the way; netbench's lines print regardless.
	job="rx,$rx_port,$((secs + 5))+wait,$go_port+tx,$ng_host_ip,$tx_port,$secs,$size"
	say "$where"
	say "namespace $ng_ns: $kind bridge $ng_br with $ng_host_ip/24; guest eth0 = $ng_guest_ip on TAP $ng_tap"
	ng_vmm_start "$log" "$build/minivmm" --kernel "$kdir/bzImage" --initrd "$initrd" \
		--cmdline "console=ttyS0 reboot=k panic=-1 quiet $ng_guest_ip_arg netbench=$job" \
		--tap "$ng_tap" --bridge "$ng_br" --stats "$@"

	local t
	t=$(ng_wait_for "$log.out" "^netbench: rx ready" "$limit") || fail "the guest's netbench did not start within ${limit}s"
	say "guest up, netbench waiting, ${t}s after minivmm started"

	# (a) ping, while the guest idles.
	ng_ping 50 0.05 || fail "ping"
	say "ping: $ng_ping_recv/$ng_ping_sent replies, rtt min/avg/max = ${ng_ping_rtt:-none} ms"
	[ "$ng_ping_recv" -gt 0 ] || fail "no ping replies"

	# (b) host -> guest. The neighbour entry is fresh from ping, so no datagram
	# waits for ARP.
	local s0 s1 s2 tx0 txd0 tx1 txd1 rx1 rx2
	s0=$(snapshot) || fail "no SIGUSR1 stats snapshot from minivmm"
	tx0=$(tap_counter tx_packets) txd0=$(tap_counter tx_dropped)
	say "host->guest: udp_flood send $ng_guest_ip $rx_port $secs $size"
	ng_in_ns "$flood" send "$ng_guest_ip" "$rx_port" "$secs" "$size" >"$ng_dir/send.out" 2>&1
	sed 's/^/    host: /' "$ng_dir/send.out"
	ng_wait_for "$log.out" "^netbench: received [0-9]" $((secs + 30)) >/dev/null ||
		fail "the guest did not report what it received"
	grep '^netbench: received' "$log.out" | sed 's/^/    guest: /'
	s1=$(snapshot) || fail "no SIGUSR1 stats snapshot from minivmm"
	tx1=$(tap_counter tx_packets) txd1=$(tap_counter tx_dropped)
	say "    minivmm: rx_packets +$(delta rx_packets "$s0" "$s1") rx_dropped +$(delta rx_dropped "$s0" "$s1")" \
		"rx_waits +$(delta rx_waits "$s0" "$s1") interrupts +$(delta interrupts "$s0" "$s1")" \
		"kicks +$(delta kicks "$s0" "$s1")"
	say "    TAP $ng_tap: $((tx1 - tx0)) packets read by minivmm, $((txd1 - txd0)) dropped by the TAP (minivmm behind)"

	# (c) guest -> host: our receiver first, then the guest's go.
	local rx0 t_begin t_end i
	ng_in_ns "$flood" recv "$tx_port" $((secs + 5)) >"$ng_dir/recv.out" 2>&1 &
	recv_pid=$!
	ng_wait_for "$ng_dir/recv.out" "^udp_flood: listening" 30 >/dev/null || fail "udp_flood recv did not start"
	ng_wait_for "$log.out" "^netbench: waiting for a go" 30 >/dev/null || fail "the guest is not waiting for a go"
	rx0=$(tap_counter rx_packets)
	# A lone datagram could in principle be lost; repeat until the guest
	# says it is sending (extras hit a closed port: a few ICMP errors).
	for ((i = 0; i < 10; i++)); do
		ng_in_ns bash -c "echo go >/dev/udp/$ng_guest_ip/$go_port"
		ng_wait_for "$log.out" "^netbench: tx to" 3 >/dev/null && break
	done
	[ "$i" -lt 10 ] || fail "the guest did not start sending"
	t_begin=$(date +%s.%N)
	ng_wait_for "$log.out" "^netbench: sent [0-9]" $((secs + 30)) >/dev/null ||
		fail "the guest did not report what it sent"
	t_end=$(date +%s.%N)
	s2=$(snapshot) || fail "no SIGUSR1 stats snapshot from minivmm"
	rx1=$(tap_counter rx_packets)
	if ! timeout 15 tail --pid="$recv_pid" -f /dev/null; then
		fail "udp_flood recv did not finish"
	fi
	wait "$recv_pid"
	recv_pid=''
	# Anything still coming after the guest said it was done?
	sleep 1
	rx2=$(tap_counter rx_packets)
	say "guest->host: netbench tx $ng_host_ip $tx_port $secs $size; udp_flood recv $tx_port"
	grep '^netbench: sent' "$log.out" | sed 's/^/    guest: /'
	grep -v listening "$ng_dir/recv.out" | sed 's/^/    host: /'
	say "    the guest's ${secs}s of sending took $(awk -v a="$t_begin" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')s of host time (±0.4 s)"
	say "    minivmm when the guest was done: tx_packets +$(delta tx_packets "$s1" "$s2")" \
		"tx_errors +$(delta tx_errors "$s1" "$s2") tx_waits +$(delta tx_waits "$s1" "$s2")" \
		"interrupts +$(delta interrupts "$s1" "$s2") kicks +$(delta kicks "$s1" "$s2")"
	say "    TAP $ng_tap: $((rx1 - rx0)) packets written by minivmm by then, $((rx2 - rx1)) more in the next second"

	ng_vmm_stop 30 || fail "minivmm did not stop"
	ng_nic_stats "$log.err" "$ng_tap" || fail "no stats from minivmm"
	say "minivmm --stats at exit (whole boot: includes ping and ARP):"
	grep -E '^ *virtio-net ' "$log.err" | tail -n 1 | sed 's/^ */    /'
	local late=$((ng_stat[tx_packets] - $(delta tx_packets "" "$s2")))
	[ "$late" -le 5 ] || say "    NOTE: minivmm wrote $late guest packets after the guest had reported it was done sending"

	# ---- summary
	local h_sent h_sent_n g_got g_sent h_got g_tx_err lost
	h_sent=$(field "$ng_dir/send.out" '.* = ([0-9]+) pps.*')
	h_sent_n=$(field "$ng_dir/send.out" '^udp_flood: sent ([0-9]+) packets.*')
	g_got=$(field "$log.out" '^netbench: received .* = ([0-9]+) pps.*')
	g_sent=$(field "$log.out" '^netbench: sent .* = ([0-9]+) pps.*')
	g_tx_err=$(field "$log.out" '^netbench: sent .*(ENOBUFS [0-9]+, other errors [0-9]+).*')
	h_got=$(field "$ng_dir/recv.out" '^udp_flood: received .* = ([0-9]+) pps.*')
	echo
	echo "net-bench ($where; $kind bridge, $size-byte UDP payloads, ${secs}s per direction):"
	echo "  ping rtt min/avg/max = ${ng_ping_rtt:-none} ms ($ng_ping_recv/$ng_ping_sent replies)"
	echo "  host->guest: host sent ${h_sent:-?} pps, guest got ${g_got:-?} pps" \
		"(minivmm rx_packets +$(delta rx_packets "$s0" "$s1"), rx_dropped +$(delta rx_dropped "$s0" "$s1");" \
		"TAP dropped $((txd1 - txd0)) that minivmm had not read yet," \
		"$(((lost = ${h_sent_n:-0} - (tx1 - tx0) - (txd1 - txd0)) > 0 ? lost : 0)) lost before the TAP (in the bridge))"
	echo "  guest->host: guest sent ${g_sent:-?} pps (${g_tx_err:-?}), host got ${h_got:-?} pps" \
		"(minivmm tx_packets +$(delta tx_packets "$s1" "$s2"), tx_errors +$(delta tx_errors "$s1" "$s2"))"
	echo "  minivmm totals at exit: rx_packets=${ng_stat[rx_packets]} tx_packets=${ng_stat[tx_packets]}" \
		"interrupts=${ng_stat[interrupts]} kicks=${ng_stat[kicks]}" \
		"rx_waits=${ng_stat[rx_waits]:-?} tx_waits=${ng_stat[tx_waits]:-?}"
	exit 0
}

if [ "${1:-}" = --inside ]; then # internal: the part that needs KVM and root
	shift
	bench_inside "$@"
fi

# ---- options, build, and where to run ---------------------------------------

kind=linux secs=5 size=64
while [ $# -gt 0 ]; do
	case $1 in
	--ovs) kind=ovs; shift ;;
	--seconds) secs=${2:-}; shift 2 || die "--seconds needs a value" ;;
	--size) size=${2:-}; shift 2 || die "--size needs a value" ;;
	-h | --help) usage; exit 0 ;;
	*) break ;; # the rest goes to minivmm
	esac
done
[[ $secs =~ ^[1-9][0-9]?$ ]] || die "--seconds must be 1..99"
if ! [[ $size =~ ^[0-9]+$ ]] || [ "$size" -gt 1472 ]; then
	die "--size must be 0..1472"
fi

build=${MINIVMM_BUILD_DIR:-$root/build}
say "building in $build"
cmake -S "$root" -B "$build" -DBUILD_TESTING=ON >/dev/null || die "cmake configure failed"
cmake --build "$build" -j"$(nproc)" -- --no-print-directory | grep -vE '^\[ *[0-9]+%\]'
if [ ! -x "$build/minivmm" ] || [ ! -x "$build/tests/bench/udp_flood" ]; then
	die "build failed"
fi
kdir=$("$root/scripts/build-guest-kernel.sh") || die "guest kernel build failed"

if kvm_native; then
	exec "$self" --inside "$build" "$kdir" "$kind" "$secs" "$size" "$@"
fi
say "$(kvm_nested_why); running under nested KVM in QEMU TCG (scripts/kvm-in-qemu.sh)"
# Nested KVM over TCG now and then freezes the whole L1 machine (status 124,
# never a verdict on minivmm): try a fresh L1, twice at most.
for attempt in 1 2 3; do
	status=0
	"$root/scripts/kvm-in-qemu.sh" --mem 2G --timeout 240 -- \
		"$self" --inside "$build" "$kdir" "$kind" "$secs" "$size" "$@" || status=$?
	[ "$status" = 124 ] || exit "$status"
	say "the L1 machine stalled or timed out (attempt $attempt/3); its console said:"
	tail -n 15 "${MINIVMM_CACHE:-/var/cache/minivmm}/kvm-in-qemu/last-failure.log" 2>/dev/null | sed 's/^/    /'
done
exit 124
