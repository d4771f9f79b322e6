#!/usr/bin/env bash
# TCP through minivmm's virtio-net with a stock distribution guest: Debian's
# cloud kernel and its own virtio modules, busybox userspace
# (scripts/build-stock-guest.sh, whose directory comes in
# $MINIVMM_STOCK_GUEST). The guest sends $tcp_bytes of random data to the
# host and receives as much back, through a private Open vSwitch (userspace
# datapath, with and without its userspace TSO) and through a Linux bridge;
# both sides hash what they sent and got. Sourced by kvm_tests.sh, whose
# helpers (run, bad, expect_*, net_setup, net_diag) and net_guest.sh's it uses.

stock=${MINIVMM_STOCK_GUEST:-}
tcp_bytes=${MINIVMM_TCP_BYTES:-4194304}
tcp_peer=$(dirname "$0")/tcp_peer.py
# A stock kernel in nested KVM reached its /init in 8-25 s in our runs; its
# TCP transfers take seconds each.
tcp_timeout=${MINIVMM_NET_TIMEOUT:-60}

# tcp_guest_line NAME REGEX: the last console line of the stock /init
# matching "stock-init: REGEX", without the prefix (or the tty's \r).
tcp_guest_line() {
	tr -d '\r' <"$out/$1.out" | sed -nE "s/^stock-init: ($2)\$/\1/p" | tail -n 1
}

# tcp_test NAME KIND OFFLOADS [minivmm args]: boots the stock guest on a KIND
# bridge (ovs, ovs-tso: OVS with other_config:userspace-tso-enable, linux),
# moves TCP data both ways, checks it arrived whole, that minivmm says
# OFFLOADS ("full" or "no-tx") are in force, and that the boot left no
# seccomp refusal or unclaimed-access report on stderr.
tcp_test() {
	local name=$1 kind=$2 offloads=$3 bridge=$2
	shift 3
	[ -n "$stock" ] && [ -s "$stock/vmlinuz" ] ||
		bad "MINIVMM_STOCK_GUEST names no stock guest (scripts/build-stock-guest.sh makes one)" || return 1
	local ovs_other_config=''
	if [ "$kind" = ovs-tso ]; then
		bridge=ovs
		ovs_other_config=userspace-tso-enable=true
	fi
	net_setup "$bridge" "$name" || return 1
	tcp_body "$@" || tcp_diag "$name" || return 1
	ng_teardown || bad "teardown failed"
}

tcp_diag() {
	local name=$1
	net_diag "$name"
	grep -E "^stock-init:" "$out/$name.out" 2>/dev/null | sed 's/^/    console: /'
	for f in recv send; do
		[ -s "$ng_dir/$f.out" ] && sed "s/^/    host $f: /" "$ng_dir/$f.out"
	done
	[ -n "$ng_ns" ] && ng_in_ns grep -E "^Tcp: " /proc/net/snmp | sed 's/^/    netns snmp: /'
	# Last, so that a short excerpt of the log still has them: whether
	# minivmm stopped by itself and why, and what the guest said last.
	if ! pid_alive "$ng_vmm_pid"; then
		grep -E "^minivmm: " "$out/$name.err" | tail -n 4 | sed 's/^/    minivmm stopped: /'
	fi
	tr -d '\r' <"$out/$name.out" | grep -v '^$' | tail -n 6 | sed 's/^/    console tail: /'
	return 1
}

# tcp_check NAME GUEST-WORD HOST-FILE WHAT: the guest's console line
# "stock-init: GUEST-WORD N sha256 H" against tcp_peer.py's line in
# $ng_dir/HOST-FILE.out ("recv|sent N bytes sha256 H in S s (RATE)"); both
# must say $tcp_bytes and the same hash. Sets tcp_rate.
tcp_check() {
	local guest host
	guest=$(tcp_guest_line "$1" "$2 [0-9]+ sha256 [0-9a-f]+")
	host=$(cat "$ng_dir/$3.out")
	[[ $host =~ ^[a-z]+\ ([0-9]+)\ bytes\ sha256\ ([0-9a-f]+)\ in\ .*\((.*)\)$ ]] &&
		[ "$guest" = "$2 ${BASH_REMATCH[1]} sha256 ${BASH_REMATCH[2]}" ] &&
		[ "${BASH_REMATCH[1]}" = "$tcp_bytes" ] ||
		bad "$4: the guest says '$guest', the host '$host'" || return 1
	tcp_rate=${BASH_REMATCH[3]}
}

# (Uses tcp_test's locals: bash scoping is dynamic.)
tcp_body() {
	local recv_pid line tx_rate rx_rate csum_err tcp_rate
	ng_in_ns python3 "$tcp_peer" recv 5002 "$tcp_bytes" $((tcp_timeout * 2)) >"$ng_dir/recv.out" 2>&1 &
	recv_pid=$!
	ng_vmm_start "$out/$name" "$vmm" --kernel "$stock/vmlinuz" --initrd "$stock/initramfs.cpio" \
		--mem 512M --tap "$ng_tap" --bridge "$ng_br" --stats "$@" \
		--cmdline "$linux_cmdline mv.ip=$ng_guest_ip/24 mv.peer=$ng_host_ip mv.bytes=$tcp_bytes"
	ng_wait_for "$out/$name.out" "^stock-init: (tx done|.*failed|no eth0|cannot)" $((tcp_timeout * 2)) >/dev/null ||
		bad "the guest did not finish sending within $((tcp_timeout * 2)) s" || return 1
	wait "$recv_pid" || bad "host receiver: $(cat "$ng_dir/recv.out")" || return 1
	ng_wait_for "$out/$name.out" "^stock-init: listening on 5001" 10 >/dev/null ||
		bad "the guest did not start listening" || return 1
	ng_in_ns python3 "$tcp_peer" send "$ng_guest_ip" 5001 "$tcp_bytes" $((tcp_timeout * 2)) \
		>"$ng_dir/send.out" 2>&1 || bad "host sender: $(cat "$ng_dir/send.out")" || return 1
	ng_wait_for "$out/$name.out" "^stock-init: rx " 30 >/dev/null ||
		bad "the guest did not report what it received" || return 1
	csum_err=$(ng_in_ns awk '/^Tcp:/ && ++n == 2 { print $NF }' /proc/net/snmp)

	ng_vmm_stop 30 || return 1
	rc=$ng_vmm_rc
	expect_rc 0 && expect_err "$name" "stopped by" || return 1

	# What one end hashed is what the other got, all $tcp_bytes of it.
	tcp_check "$name" tx recv "guest -> host" && tx_rate=$tcp_rate || return 1
	tcp_check "$name" rx send "host -> guest" && rx_rate=$tcp_rate || return 1
	say "    TCP $name: guest->host $tcp_bytes bytes at $tx_rate, host->guest at $rx_rate; host TcpInCsumErrors=$csum_err"
	echo "$name tcp guest->host $tx_rate host->guest $rx_rate" >>"$out/timings"

	# Which offloads minivmm says are in force, and why.
	line=$(grep -E "^ *virtio-net $ng_tap: offloads " "$out/$name.err" | tail -n 1)
	say "    ${line# }"
	case $offloads in
	full) [[ $line == *"guest->host csum tso4 tso6 ecn;"* ]] ;;
	no-tx) [[ $line == *"guest->host none ("*"userspace datapath"* ]] ;;
	esac || bad "expected $offloads offloads, minivmm says: '$line'" || return 1

	# A stock kernel's boot, read by a stock userspace, leaves nothing on
	# minivmm's stderr but its stats: no refused system call (the CMOS
	# clock), no unclaimed port or MMIO address it probes.
	! grep -E "refused system call|at unclaimed (port|MMIO address) " "$out/$name.err" ||
		bad "stderr has the lines above" || return 1
}

test_virtio_net_stock_tcp_ovs() {
	tcp_test virtio_net_stock_tcp_ovs ovs no-tx
}

test_virtio_net_stock_tcp_ovs_tso() {
	tcp_test virtio_net_stock_tcp_ovs_tso ovs-tso full
}

test_virtio_net_stock_tcp_linux_bridge() {
	tcp_test virtio_net_stock_tcp_linux_bridge linux full
}

all_tests+=(virtio_net_stock_tcp_ovs virtio_net_stock_tcp_ovs_tso virtio_net_stock_tcp_linux_bridge)
