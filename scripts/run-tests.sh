#!/usr/bin/env bash
# Runs every minivmm test: first the layout of every C file
# (scripts/check-format.sh), a short run of each libFuzzer target
# (scripts/fuzz.sh) and the threaded unit tests under ThreadSanitizer
# (scripts/tsan.sh), then every test twice: with a plain build, and with one
# built under AddressSanitizer + UndefinedBehaviorSanitizer
# (-DMINIVMM_SANITIZE=ON), where any report fails the test that caused it.
# Each pass runs the Check
# unit tests, the network plumbing tests, and the KVM integration tests (the
# project's guest payloads, a real Linux kernel built from Debian's
# linux-source-6.1 that boots and is pinged over virtio-net, and Debian's
# stock cloud kernel moving TCP data through Open vSwitch and a Linux bridge).
#
#   scripts/run-tests.sh [--plain-only | --sanitize-only]
#
# The integration tests need /dev/kvm. Where there is none that this user can
# open, they run inside a QEMU TCG machine whose own kernel provides one
# (nested kvm_amd over emulated SVM: scripts/kvm-in-qemu.sh), and this script
# says so. Figures measured there are not hardware figures.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# kvm_native, kvm_nested_why: where guests run (scripts/kvm-host.sh).
. "$root/scripts/kvm-host.sh"
build=${MINIVMM_BUILD_DIR:-$root/build}
passes=(plain sanitized)
case "${1:-}" in
--plain-only) passes=(plain) ;;
--sanitize-only) passes=(sanitized) ;;
"") ;;
*)
	echo "usage: $0 [--plain-only | --sanitize-only]" >&2
	exit 2
	;;
esac

# Sanitizer reports end the process with an error and go to stderr, where
# the tests see them; leak checking stays on (LSan).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

log=$(mktemp /tmp/minivmm-l1.XXXXXX)
trap 'rm -f "$log"' EXIT

# kvm_tests DIR KDIR: the KVM integration tests against the build in DIR.
kvm_tests() {
	local dir=$1 kdir=$2 name limit attempt status passed=0 failed=0 failed_names=()
	if kvm_native; then
		"$root/tests/integration/kvm_tests.sh" "$dir" "$kdir"
		return
	fi
	echo "run-tests: $(kvm_nested_why); running the KVM tests under nested KVM in QEMU TCG"
	# One short-lived L1 machine per test. Nested KVM over TCG has been seen
	# to freeze the whole L1 now and then (its CPUs spin, nothing in it runs,
	# not even the tests' own watchdog); the harness then says so with status
	# 124, which is never a test verdict: a hung minivmm is caught inside L1
	# and fails its test. Such a stall costs one test's L1, which is retried.
	for name in $("$root/tests/integration/kvm_tests.sh" "$dir" "$kdir" --list); do
		# The network tests boot Linux, start OVS and ping: 30-50 s in L1.
		limit=120
		[[ $name != virtio_net_* ]] || limit=240
		for attempt in 1 2 3; do
			status=0
			"$root/scripts/kvm-in-qemu.sh" --mem 2G --timeout "$limit" \
				--env "ASAN_OPTIONS=$ASAN_OPTIONS" --env "UBSAN_OPTIONS=$UBSAN_OPTIONS" -- \
				"$root/tests/integration/kvm_tests.sh" "$dir" "$kdir" "^$name\$" \
				>"$log" 2>&1 || status=$?
			grep -vE '^(minivmm integration tests|  kernel:|integration: )' "$log" || true
			[ "$status" = 124 ] || break
			echo "run-tests: the L1 machine stalled during $name (not a test verdict); L1's console said:"
			tail -n 20 "${MINIVMM_CACHE:-/var/cache/minivmm}/kvm-in-qemu/last-failure.log" | sed 's/^/    /'
			[ "$attempt" = 3 ] || echo "run-tests: retrying $name in a fresh L1 ($attempt/2)"
		done
		if [ "$status" = 0 ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failed_names+=("$name")
		fi
	done
	[ "$failed" = 0 ] || echo "failed: ${failed_names[*]}"
	echo "integration: $passed passed, $failed failed"
	[ "$failed" = 0 ]
}

# suite NAME DIR CMAKE-ARGS...: builds in DIR and runs every test against it.
suite() {
	local name=$1 dir=$2
	shift 2
	echo "==== $name build ($dir)"
	cmake -S "$root" -B "$dir" -DBUILD_TESTING=ON "$@" >/dev/null
	cmake --build "$dir" -j"$(nproc)" -- --no-print-directory | grep -vE '^\[ *[0-9]+%\]' || true
	[ -x "$dir/minivmm" ] || { echo "run-tests: $name build failed" >&2; return 1; }

	echo "== $name: unit tests"
	(cd "$dir" && ctest --output-on-failure)

	echo "== $name: network plumbing tests (TAP, netlink, Open vSwitch and Linux bridges, in their own netns)"
	"$root/tests/integration/net_plumbing.sh" "$dir"

	echo "== $name: KVM integration tests"
	kvm_tests "$dir" "$kdir"
}

echo "== format (clang-format, .clang-format)"
"$root/scripts/check-format.sh"

echo "== test guest kernel"
kdir=$("$root/scripts/build-guest-kernel.sh")
echo "kernel: $kdir"
# Debian's stock cloud kernel and busybox, for the TCP tests
# (tests/integration/tcp_guest.sh); kvm-in-qemu.sh passes MINIVMM_* on to L1.
MINIVMM_STOCK_GUEST=$("$root/scripts/build-stock-guest.sh")
export MINIVMM_STOCK_GUEST
echo "stock guest: $MINIVMM_STOCK_GUEST ($(cat "$MINIVMM_STOCK_GUEST/kernel"))"

# libFuzzer + ASan/UBSan over the guest-facing parsers, a short budget each
# (docs/security.md gives the long runs): a crash fails the run.
echo "== fuzz targets (200000 executions each)"
"$root/scripts/fuzz.sh"

# ThreadSanitizer over the unit tests that drive threads (worker, output
# thread, seccomp on threads): a data race fails the run.
echo "== ThreadSanitizer (threaded unit tests)"
"$root/scripts/tsan.sh"

for pass in "${passes[@]}"; do
	case $pass in
	plain) suite plain "$build" -DMINIVMM_SANITIZE=OFF ;;
	sanitized) suite "ASan+UBSan" "$build-asan" -DMINIVMM_SANITIZE=ON ;;
	esac
done
echo "run-tests: all passes green (${passes[*]})"
