#!/usr/bin/env bash
# Builds minivmm's unit tests under ThreadSanitizer (gcc -fsanitize=thread,
# -DMINIVMM_TSAN=ON) in a build directory of its own, and runs those that
# drive threads: the virtio-net device with its worker, the virtio-pci
# transport, MSI-X raised from a device thread, the output thread, the
# seccomp filters loaded on threads, and bus lookups racing BAR moves.
# Any report is a failure (halt_on_error=1); docs/security.md.
#
#   scripts/tsan.sh
#
# Environment: MINIVMM_TSAN_BUILD_DIR (default build-tsan), and
# TSAN_OPTIONS, added to this script's.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MINIVMM_TSAN_BUILD_DIR:-$root/build-tsan}
tests=(test_virtio_net test_virtio_pci test_msix test_outputs test_seccomp test_bus test_virtio_worker)

echo "== ThreadSanitizer build ($build)"
cmake -S "$root" -B "$build" -DBUILD_TESTING=ON -DMINIVMM_SANITIZE=OFF -DMINIVMM_TSAN=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${tests[@]}" -- --no-print-directory |
	grep -vE '^\[ *[0-9]+%\]' || true

# A report ends the test's process with status 66, which Check reports as
# the test's error; second_deadlock_stack gives both stacks of a lock
# order inversion.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
failed=()
for t in "${tests[@]}"; do
	echo "== $t"
	"$build/tests/$t" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "tsan: ${#failed[@]} test(s) failed: ${failed[*]}"
	exit 1
fi
echo "tsan: ${#tests[@]} tests, no reports"
