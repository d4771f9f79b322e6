#!/usr/bin/env bash
# Installs the Debian 12 packages minivmm's build, tests and test guest need.
set -euo pipefail
[ "$(id -u)" = 0 ] || exec sudo -E "$0" "$@"
export DEBIAN_FRONTEND=noninteractive
packages=(
	# build and unit tests
	build-essential cmake pkg-config check linux-libc-dev
	# networking (virtio-net issue): netlink
	libnl-3-dev libnl-route-3-dev
	# seccomp allowlists for the vCPU threads and the NIC's worker
	libseccomp-dev
	# scripts/fuzz.sh: libFuzzer and the sanitizer runtimes come with clang;
	# scripts/check-format.sh
	clang libclang-rt-14-dev clang-format
	# scripts/tsan.sh: gcc's ThreadSanitizer runtime
	libtsan2
	# the test guest kernel, built from Debian's source
	linux-source-6.1 flex bison bc libelf-dev libssl-dev lz4 xz-utils cpio
	# a KVM for hosts without one: nested kvm_amd under QEMU TCG
	qemu-system-x86 busybox-static
	# test plumbing; ping for the virtio-net tests and scripts/boot-guest.sh
	iproute2 procps python3 iputils-ping
	# net/ tests: OVS in a netns, userspace datapath (tests/integration/net_plumbing.sh)
	openvswitch-switch
)
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps: ok"
