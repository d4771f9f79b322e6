#!/usr/bin/env bash
# What one exit costs: minivmm-bench's payloads on the bare KVM_RUN floor,
# through minivmm's exit path and under QEMU (-enable-kvm, Debian's
# qemu-system-x86), side by side from one run. docs/benchmarking.md explains
# the method and holds the figures.
#
#   scripts/bench-exits.sh [--no-qemu] [minivmm-bench options...]
#     e.g. scripts/bench-exits.sh --exits 20000 --rounds 10 --json=/tmp/x/exits.json
#
# Builds minivmm-bench (in $MINIVMM_BUILD_DIR, default build/) if needed.
# Where this host has no VT-x/AMD-V /dev/kvm it runs inside a QEMU TCG machine
# with nested KVM (scripts/kvm-in-qemu.sh), and says so: figures from there
# are not hardware figures. A --json=PATH there must name a directory
# shared with it: this script shares PATH's directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MINIVMM_BUILD_DIR:-$root/build}
# kvm_native, kvm_nested_why: where guests run (scripts/kvm-host.sh).
. "$root/scripts/kvm-host.sh"

qemu=(--qemu)
args=()
shares=()
for a in "$@"; do
	case $a in
	--no-qemu) qemu=() ;;
	--json=*)
		args+=("$a")
		shares+=(--share "$(dirname "$(realpath -m "${a#--json=}")")")
		;;
	*) args+=("$a") ;;
	esac
done
if [ "${#qemu[@]}" != 0 ] && ! command -v qemu-system-x86_64 >/dev/null; then
	echo "bench-exits: qemu-system-x86_64 is not installed (apt-get install qemu-system-x86); use --no-qemu to skip it" >&2
	exit 1
fi

cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)" --target minivmm-bench -- --no-print-directory >/dev/null
cmd=("$build/minivmm-bench" "${qemu[@]}" "${args[@]}")
if kvm_native; then
	exec "${cmd[@]}"
fi
echo "bench-exits: $(kvm_nested_why): running under nested KVM in QEMU TCG; these are not hardware figures" >&2
exec "$root/scripts/kvm-in-qemu.sh" --mem 2G --timeout 1800 "${shares[@]}" -- "${cmd[@]}"
