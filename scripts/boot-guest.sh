#!/usr/bin/env bash
# Builds minivmm and the test guest kernel, boots the guest and shows it on a
# network: in a network namespace of its own, a private Open vSwitch
# (userspace datapath) bridge holds 192.168.77.1/24 and the TAP of the
# guest's virtio-net NIC. The guest's kernel configures eth0 as 192.168.77.2
# from its command line; the namespace pings it 5 times, then the guest is
# stopped and everything (minivmm, OVS, TAP, namespace, files) is removed,
# on success or not. No packet leaves that namespace.
#
#   scripts/boot-guest.sh [--no-net] [extra minivmm options, e.g. --cpus 2]
#
# --no-net: the plain boot, serial console only. Interactive (stdin a
# terminal, /dev/kvm usable): runs until the guest stops or you type
# Ctrl-A x. Otherwise it stops the guest a few seconds after the kernel has
# started /init.
#
# Without a usable /dev/kvm, either runs inside scripts/kvm-in-qemu.sh. The
# network part needs root (namespaces, TAP devices); it uses sudo if needed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
self=$root/scripts/boot-guest.sh
# kvm_native, kvm_nested_why: where guests run (scripts/kvm-host.sh).
. "$root/scripts/kvm-host.sh"
say() { printf 'boot-guest: %s\n' "$*"; }

# net_boot BUILD KDIR [minivmm options]: the network demonstration itself,
# with KVM at hand and as root (in L1, or on a host with /dev/kvm).
net_boot() {
	local build=$1 kdir=$2 limit=${MINIVMM_NET_TIMEOUT:-60} log
	shift 2
	set +e
	# shellcheck source=tests/integration/net_guest.sh
	. "$root/tests/integration/net_guest.sh"
	trap 'ng_teardown >/dev/null || say "teardown failed"' EXIT
	trap 'exit 130' INT TERM
	ng_setup ovs boot || exit 1
	say "namespace $ng_ns: Open vSwitch bridge $ng_br (userspace datapath) with $ng_host_ip/24"
	say "booting the guest, its virtio-net NIC on TAP $ng_tap in $ng_br, eth0 = $ng_guest_ip"
	log=$ng_dir/minivmm
	ng_vmm_start_tee "$log" "$build/minivmm" --kernel "$kdir/bzImage" \
		--initrd "$build/tests/guest/initramfs.cpio" \
		--cmdline "console=ttyS0 reboot=k panic=-1 $ng_guest_ip_arg" \
		--tap "$ng_tap" --bridge "$ng_br" --stats "$@"
	# IP-Config comes just before /init; wait for both so the console has
	# gone quiet before ping's output.
	if ! ng_wait_for "$log.out" "IP-Config: Complete" "$limit" >/dev/null ||
		! ng_wait_for "$log.out" "Run /init as init process" "$limit" >/dev/null; then
		say "the guest did not configure its network within ${limit}s; minivmm said:"
		cat "$log.err" >&2
		exit 1
	fi
	sleep 0.5
	echo
	say "port(s) on $ng_br: $(ng_ports | xargs)"
	say "ip netns exec $ng_ns ping -c 5 $ng_guest_ip"
	ng_in_ns ping -c 5 "$ng_guest_ip"
	local ping_rc=$?
	say "stopping the guest (SIGTERM)"
	ng_vmm_stop 30
	cat "$log.err"
	ng_teardown || { say "teardown failed"; exit 1; }
	say "namespace, OVS, TAP and files removed"
	exit $ping_rc
}

if [ "${1:-}" = --net-inside ]; then # internal: the part that needs KVM and root
	shift
	[ "$(id -u)" = 0 ] || exec sudo -E "$self" --net-inside "$@"
	net_boot "$@"
fi

net=1
if [ "${1:-}" = --no-net ]; then
	net=0
	shift
fi
build=${MINIVMM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
kdir=$("$root/scripts/build-guest-kernel.sh")

if [ "$net" = 1 ]; then
	if kvm_native; then
		exec "$self" --net-inside "$build" "$kdir" "$@"
	fi
	exec "$root/scripts/kvm-in-qemu.sh" --timeout 600 -- "$self" --net-inside "$build" "$kdir" "$@"
fi

cmd=("$build/minivmm" --kernel "$kdir/bzImage" --initrd "$build/tests/guest/initramfs.cpio" --stats "$@")

if kvm_native && [ -t 0 ]; then
	exec "${cmd[@]}"
fi
# Non-interactive: watch the console and stop the guest once /init runs.
tmp=$(mktemp -d /tmp/minivmm-boot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
until_init=$tmp/until-init.sh
cat >"$until_init" <<'INNER'
#!/usr/bin/env bash
log=$(mktemp)
"$@" </dev/null > >(tee "$log") &
pid=$!
until grep -q "Run /init as init process" "$log"; do
	kill -0 "$pid" 2>/dev/null || { wait "$pid"; exit; }
	sleep 0.2
done
sleep 3
kill -TERM "$pid"
wait "$pid"
INNER
chmod +x "$until_init"
if kvm_native; then
	"$until_init" "${cmd[@]}"
else
	"$root/scripts/kvm-in-qemu.sh" --ro-share "$tmp" -- "$until_init" "${cmd[@]}"
fi
