#!/usr/bin/env bash
# Builds minivmm's libFuzzer targets (tests/fuzz, docs/security.md) with
# clang in their own build directory, and runs each for a fixed number of
# executions on a copy of its checked-in seed corpus. A crash, a sanitizer
# report, a timeout or a leak is a failure: the script then exits non-zero
# and keeps the log and the input that caused it in
# build-fuzz/fuzz-failures/TARGET/.
#
#   scripts/fuzz.sh [--runs N] [TARGET...]
#
# --runs N   executions per target (default 200000: the CI budget, a
#            minute per target at most)
# TARGET     fuzz_virtqueue fuzz_virtio_net_tx fuzz_virtio_net_rx
#            fuzz_virtio_pci_race fuzz_pci_config fuzz_loader fuzz_uart
#            fuzz_i8042 fuzz_cmos (default: all)
#
# Environment: MINIVMM_FUZZ_BUILD_DIR (default build-fuzz), CC (default
# clang), and FUZZ_ARGS for extra libFuzzer flags.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MINIVMM_FUZZ_BUILD_DIR:-$root/build-fuzz}
all=(fuzz_virtqueue fuzz_virtio_net_tx fuzz_virtio_net_rx fuzz_virtio_pci_race fuzz_pci_config
	fuzz_loader fuzz_uart fuzz_i8042 fuzz_cmos)
runs=200000
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--runs=*) runs=${1#--runs=}; shift ;;
	-h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	fuzz_*) targets+=("$1"); shift ;;
	*) echo "fuzz.sh: unknown argument $1 (targets: ${all[*]})" >&2; exit 2 ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
[[ $runs =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --runs needs a number" >&2; exit 2; }

cc=${CC:-clang}
command -v "$cc" >/dev/null || { echo "fuzz.sh: $cc not found (scripts/install-deps.sh installs clang)" >&2; exit 1; }

echo "== build ($build)"
CC=$cc cmake -S "$root" -B "$build" -DMINIVMM_FUZZ=ON -DBUILD_TESTING=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" -- --no-print-directory |
	grep -vE '^\[ *[0-9]+%\]' || true

# ASan: a small quarantine keeps the per-input allocations in warm memory
# (a freed block is still caught if used within the next 16 MiB of frees).
# Options from the environment come last and win.
export ASAN_OPTIONS="quarantine_size_mb=16:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

work=$(mktemp -d /tmp/minivmm-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=()
printf '\n%-20s %12s %10s %8s %8s %s\n' target executions exec/s cov ft result
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/$t
	[ -x "$bin" ] || { echo "fuzz.sh: $bin was not built" >&2; exit 1; }
	corpus=$work/$t
	mkdir -p "$corpus" "$work/artifacts-$t"
	cp "$root/tests/fuzz/seeds/$t"/* "$corpus/"
	log=$work/$t.log
	status=0
	# -timeout: an input running for 25 s is a hang; -rss_limit_mb: a leak.
	"$bin" -runs="$runs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts-$t/" ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1 ||
		status=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
	rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")
	if [ "$status" = 0 ] && [ -n "$done_line" ]; then
		result=ok
	else
		result="FAILED (status $status)"
		failed+=("$t")
	fi
	printf '%-20s %12s %10s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
		"${ft:-?}" "$result"
	if [ "$result" != ok ]; then
		keep=$build/fuzz-failures/$t
		mkdir -p "$keep"
		cp "$log" "$keep/" 2>/dev/null || true
		cp "$work/artifacts-$t"/* "$keep/" 2>/dev/null || true
		grep -E 'ERROR|SUMMARY|invariant failed|runtime error' "$log" | head -n 5 | sed 's/^/    /'
		echo "    log and crashing input: $keep (reproduce: $bin $keep/crash-...)"
	fi
done

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
	exit 1
fi
echo "fuzz: ${#targets[@]} target(s), $runs executions each, no crashes"
