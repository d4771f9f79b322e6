# shellcheck shell=bash disable=SC2154,SC2034 # build, out, rc: kvm_tests.sh's
# Sourced by kvm_tests.sh: minivmm-bench runs its payloads, on the floor,
# through minivmm's path and, where QEMU is installed, under QEMU, and prints
# well-formed output. It checks the shape of the figures, never their values:
# timings belong to the benchmark (docs/benchmarking.md), not to the tests.

test_bench_smoke() {
	local bench=$build/minivmm-bench qemu=() json=$out/bench.json
	local kinds=pio_out,pio_in,mmio_write,mmio_read,doorbell,hlt_timer
	command -v qemu-system-x86_64 >/dev/null && qemu=(--qemu)
	# Nested KVM over QEMU TCG (what scripts/run-tests.sh uses where there is
	# no /dev/kvm) freezes its whole machine within a few hundred timer
	# HLTs (docs/benchmarking.md, "Seen here and left alone").
	if grep -q "QEMU TCG CPU" /proc/cpuinfo; then
		kinds=${kinds%,hlt_timer}
		say "    hlt_timer skipped: this is nested KVM over QEMU TCG, which freezes on it"
	fi
	say "    minivmm-bench kinds: $kinds${qemu:+, with QEMU}"
	# Its own timeout well inside the harness's, so a hang is a verdict.
	timeout -k 10 90 "$bench" --exits 50 --rounds 2 --timeout 60 --kinds "$kinds" "${qemu[@]}" \
		--json="$json" </dev/null >"$out/bench_smoke.out" 2>"$out/bench_smoke.err"
	rc=$?
	expect_rc 0 || return 1
	expect_out bench_smoke "^  kind +floor p50/p99 +minivmm p50/p99 +mv/floor" || return 1
	python3 - "$json" "${#qemu[@]}" "$kinds" <<'PY' || bad "bad JSON in $json: $(head -c 600 "$json")"
import json, sys
r = json.load(open(sys.argv[1]))
with_qemu = sys.argv[2] != "0"
kinds = {k["kind"]: k for k in r["kinds"]}
assert set(kinds) == set(sys.argv[3].split(",")), kinds
assert r["host"]["tsc_ns_per_tick"] > 0 and r["exits"] == 50 and r["rounds"] == 2
for name, k in kinds.items():
    for mode in ["floor", "minivmm"] + (["qemu"] if with_qemu and name != "doorbell" else []):
        f = k[mode]
        assert f["n"] == 100, (name, mode, f)
        assert 0 < f["min_ns"] <= f["p50_ns"] <= f["p90_ns"] <= f["p99_ns"] <= f["max_ns"], (name, mode, f)
    assert k["minivmm_over_floor_p50"] > 0, name
    if with_qemu:
        assert (k["qemu"] is None) == (name == "doorbell"), name
PY
}

all_tests+=(bench_smoke)
