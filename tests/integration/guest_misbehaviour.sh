# shellcheck shell=bash
# Sourced by kvm_tests.sh: a guest that drives minivmm's devices wrongly on
# purpose. minivmm must keep running, and the device must work again after
# the guest resets it. Each test adds itself to all_tests.
#
# The guest is Linux with tests/guest/misbehave.c as /init: a driver of its
# own that takes the virtio-net function from Linux's virtio-pci (sysfs
# unbind) and misuses it through BAR 0, case by case, then gives it back.
# docs/security.md ("Guest misbehaviour") lists the cases and what minivmm
# does for each.

gm_initrd=$build/tests/guest/misbehave-initramfs.cpio

# Every case tests/guest/misbehave.c runs, in its order; each must print
# "misbehave: case NAME: ok".
gm_cases=(read_only_common_fields read_only_device_config features_not_offered
	features_frozen driver_ok_without_features_ok status_bits_cleared
	queue_select_out_of_range notify_unset_queues msix_misuse msix_pending pci_config_read_only
	pci_cfg_window_misuse queue_size_not_power_of_2 queue_size_zero queue_size_too_big
	ring_outside_ram ring_straddles_ram_end ring_in_mmio ring_misaligned
	used_ring_over_avail_idx used_ring_over_descriptors driver_ok_queues_disabled
	tx_descriptor_loop tx_descriptor_loop_long tx_next_outside_table tx_indirect_loop
	tx_indirect_nested tx_indirect_with_next tx_indirect_inside_chain
	tx_indirect_bad_length tx_indirect_outside_ram tx_indirect_not_negotiated
	tx_addr_outside_ram tx_len_wraps tx_len_4gib tx_straddles_ram_end tx_addr_in_mmio
	tx_writable_then_readable tx_short_header tx_only_writable tx_avail_idx_far_ahead
	tx_head_outside_table rx_descriptor_loop rx_readable_buffer rx_buffer_outside_ram
	rx_avail_idx_far_ahead rx_frames kick_storm reset_mid_traffic)

# Lines minivmm must have printed for the cases that end in
# DEVICE_NEEDS_RESET (one line each, nothing more).
gm_reports=(
	"queue 1: size 100 is not a power of 2"
	"queue 1: enabled with size 0 "
	"queue 1: enabled with size 512 "
	"queue 1: descriptor table at 0x10000000000 is not all in guest RAM"
	"queue 1: used ring at 0x[0-9a-f]+ is not all in guest RAM"
	"queue 1: rings misaligned"
	"queue 1: used ring at 0x[0-9a-f]+ covers the available index"
	"DRIVER_OK with queue 0 not enabled"
	"queue 1: available index [0-9]+ is 1000 ahead"
	"queue 1: available ring entry 300 is outside the 16-entry table"
	"queue 0: chain 0 loops"
	"queue 0: chain 0: buffer 0x[0-9a-f]+\+2048 is not all in guest RAM"
	"queue 0: available index [0-9]+ is 40000 ahead"
	"queue 0: receive chain [0-9]+ has device-readable buffers"
)

# gm_check_stderr NAME: nothing a sanitizer or a seccomp filter would say,
# and no more than LIMIT lines in all.
gm_check_stderr() {
	local name=$1 limit=$2 lines
	! grep -E "AddressSanitizer|LeakSanitizer|runtime error:|refused system call" "$out/$name.err" ||
		bad "minivmm reported the above" || return 1
	lines=$(wc -l <"$out/$name.err")
	((lines <= limit)) || bad "$lines lines on stderr, expected at most $limit" || return 1
}

# gm_alive WHEN: minivmm is still running.
gm_alive() {
	kill -0 "$ng_vmm_pid" 2>/dev/null || bad "minivmm is gone $1" || return 1
}

test_virtio_net_misbehaving_guest() {
	local name=virtio_net_misbehaving_guest
	net_setup linux "$name" || return 1
	gm_cases_body || net_diag "$name" || return 1
	ng_teardown || bad "teardown failed"
}

# (Uses its caller's $name: bash scoping is dynamic.)
gm_cases_body() {
	local c pinger secs n_reset n_dropped resets
	ng_vmm_start "$out/$name" "$vmm" --kernel "$kdir/bzImage" --initrd "$gm_initrd" \
		--cmdline "$linux_cmdline misbehave=cases misbehave_ip=$ng_guest_ip" \
		--tap "$ng_tap" --bridge "$ng_br" --stats
	# Something for the receive case to receive: until the guest has an
	# address, every echo request is an ARP request broadcast to its NIC.
	ng_in_ns ping -n -i 0.5 "$ng_guest_ip" >/dev/null 2>&1 &
	pinger=$!
	secs=$(ng_wait_for "$out/$name.out" "^misbehave: (recovered|done)" 240)
	kill "$pinger" 2>/dev/null
	wait "$pinger" 2>/dev/null
	[ -n "$secs" ] || bad "the guest did not finish its cases within 240 s" || return 1
	gm_alive "after the cases" || return 1

	expect_out "$name" "^misbehave: took .* from virtio-pci" || return 1
	for c in "${gm_cases[@]}"; do
		grep -qE "^misbehave: case $c: ok" "$out/$name.out" ||
			bad "case $c: $(grep -E "^misbehave: case $c:" "$out/$name.out" || echo "never ran")" ||
			return 1
	done
	expect_out "$name" "^misbehave: cases: ${#gm_cases[@]} run, 0 failed" || return 1
	expect_out "$name" "^misbehave: recovered: virtio-pci drives" || return 1

	# The device works again under Linux's driver.
	ng_ping "$net_pings" 0.2 || return 1
	[ "$ng_ping_recv" = "$net_pings" ] ||
		bad "after recovery: ping $ng_ping_recv of $ng_ping_sent answered" || return 1
	gm_alive "after the pings" || return 1

	ng_vmm_stop 30 || return 1
	rc=$ng_vmm_rc
	expect_rc 0 && expect_err "$name" "stopped by" || return 1

	# One line per DEVICE_NEEDS_RESET the guest caused, saying why.
	n_reset=$(grep -cE "^misbehave: case [a-z0-9_]+: ok: DEVICE_NEEDS_RESET" "$out/$name.out")
	resets=$(grep -cE "^minivmm: virtio-net: DEVICE_NEEDS_RESET: " "$out/$name.err")
	[ "$resets" = "$n_reset" ] ||
		bad "$resets DEVICE_NEEDS_RESET reports on stderr for $n_reset cases" || return 1
	for c in "${gm_reports[@]}"; do
		expect_err_count "$name" "^minivmm: virtio-net: DEVICE_NEEDS_RESET: $c" 1 || return 1
	done
	gm_check_stderr "$name" $((n_reset + 40)) || return 1

	# Every dropped transmit chain was counted, none received was lost.
	ng_nic_stats "$out/$name.err" "$ng_tap" || return 1
	n_dropped=$(sed -nE 's/^misbehave: cases: .* ([0-9]+) transmit chains dropped.*/\1/p' "$out/$name.out")
	[ "${ng_stat[tx_errors]}" = "$n_dropped" ] ||
		bad "tx_errors=${ng_stat[tx_errors]}, the guest had $n_dropped chains dropped" || return 1
	[ "${ng_stat[rx_dropped]}" = 0 ] || bad "rx_dropped=${ng_stat[rx_dropped]}" || return 1

	say "    MISBEHAVE: ${#gm_cases[@]} cases in ${secs}s, $n_reset DEVICE_NEEDS_RESET, $n_dropped chains dropped; ping after recovery $ng_ping_recv/$ng_ping_sent rtt ${ng_ping_rtt:-none} ms"
	grep -E "^ *virtio-net $ng_tap: " "$out/$name.err" | sed 's/^ */    /'
}

# "A reset in the middle of traffic": Linux's own driver in charge, the host
# flooding the guest with pings both ways, and the guest resetting the
# device again and again (unbind + bind, and a status write of 0 behind the
# driver's back first). Afterwards the NIC must answer every ping.
gm_reset_cycles=6

# gm_stop_flood PID: SIGINT, which a flooding ping may not notice while
# replies keep arriving (seen in L1 with two floods), then SIGKILL. The
# traffic's figures come from minivmm's --stats instead.
gm_stop_flood() {
	kill -INT "$1" 2>/dev/null
	timeout 5 tail --pid="$1" -f /dev/null || kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

test_virtio_net_reset_under_traffic() {
	local name=virtio_net_reset_under_traffic
	net_setup linux "$name" || return 1
	gm_traffic_body || net_diag "$name" || return 1
	ng_teardown || bad "teardown failed"
}

gm_traffic_body() {
	local i flood1 flood2 secs
	ng_vmm_start "$out/$name" "$vmm" --kernel "$kdir/bzImage" --initrd "$gm_initrd" \
		--cmdline "$linux_cmdline misbehave=resets,$gm_reset_cycles misbehave_ip=$ng_guest_ip" \
		--tap "$ng_tap" --bridge "$ng_br" --stats
	ng_wait_for "$out/$name.out" "^misbehave: ready" "$net_timeout" >/dev/null ||
		bad "no 'misbehave: ready' within ${net_timeout}s" || return 1

	ng_in_ns ping -f -n "$ng_guest_ip" >/dev/null 2>&1 &
	flood1=$!
	ng_in_ns ping -f -n -s 1400 "$ng_guest_ip" >/dev/null 2>&1 &
	flood2=$!
	# The go, until the guest has it (a datagram may meet a device in reset).
	for ((i = 0; i < 30; i++)); do
		ng_in_ns bash -c "echo go >/dev/udp/$ng_guest_ip/7777" 2>/dev/null
		ng_wait_for "$out/$name.out" "^misbehave: go" 1 >/dev/null && break
	done
	secs=$(ng_wait_for "$out/$name.out" "^misbehave: (resets done|done)" 150)
	gm_stop_flood "$flood1"
	gm_stop_flood "$flood2"
	[ -n "$secs" ] || bad "the guest did not finish its reset cycles within 150 s" || return 1
	gm_alive "after the reset cycles" || return 1
	for ((i = 1; i <= gm_reset_cycles; i++)); do
		expect_out "$name" "^misbehave: reset cycle $i/$gm_reset_cycles .* back up" || return 1
	done
	expect_out "$name" "^misbehave: resets done" || return 1

	ng_ping "$net_pings" 0.2 || return 1
	[ "$ng_ping_recv" = "$net_pings" ] ||
		bad "after the resets: ping $ng_ping_recv of $ng_ping_sent answered" || return 1

	ng_vmm_stop 30 || return 1
	rc=$ng_vmm_rc
	expect_rc 0 && expect_err "$name" "stopped by" || return 1
	# Linux's driver never gives the device a reason to need a reset.
	! grep -E "DEVICE_NEEDS_RESET" "$out/$name.err" || bad "minivmm reported the above" || return 1
	gm_check_stderr "$name" 40 || return 1
	ng_nic_stats "$out/$name.err" "$ng_tap" || return 1
	((ng_stat[rx_packets] > 100 && ng_stat[tx_packets] > 100)) ||
		bad "little traffic: rx_packets=${ng_stat[rx_packets]} tx_packets=${ng_stat[tx_packets]}" || return 1

	say "    RESETS: $gm_reset_cycles cycles in ${secs}s under two ping floods; ping after $ng_ping_recv/$ng_ping_sent rtt ${ng_ping_rtt:-none} ms"
	grep -E "^ *virtio-net $ng_tap: " "$out/$name.err" | sed 's/^ */    /'
}

all_tests+=(virtio_net_misbehaving_guest virtio_net_reset_under_traffic)
