#!/usr/bin/env bash
# Self-test of scripts/kvm-in-qemu.sh: boots the L1 VM a dozen times (a few
# seconds each once the kernel is cached) and checks what the harness
# promises: /dev/kvm works, exit status and stdout/stderr come back intact,
# --share writes reach the host, network namespaces and tun/tap work, and an
# L1 panic or a hung command gives 124. Ends with "N passed, N failed".
#
# usage: tests/kvm-in-qemu/selftest.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
kiq=$here/../../scripts/kvm-in-qemu.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/kiq-selftest.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0 failed=0
ok() {
	echo "ok   - $1"
	passed=$((passed + 1))
}
not_ok() {
	echo "FAIL - $1"
	failed=$((failed + 1))
	echo "       rc=$rc"
	sed 's/^/       stdout: /' "$work/out"
	sed 's/^/       stderr: /' "$work/err"
}
# kiq ARGS...: run the harness, leave rc, $work/out and $work/err.
kiq() {
	rc=0
	"$kiq" "$@" >"$work/out" 2>"$work/err" || rc=$?
}
out_has() { grep -q -- "$1" "$work/out"; }
err_has() { grep -q -- "$1" "$work/err"; }

kiq -- ls -l /dev/kvm
name="/dev/kvm is a character device in L1"
if [[ $rc == 0 ]] && out_has '^crw.* /dev/kvm$'; then ok "$name"; else not_ok "$name"; fi
name="the one-line notice is on stderr"
if err_has "^kvm-in-qemu: no usable /dev/kvm on this host; running 'ls -l /dev/kvm' under nested kvm_amd inside QEMU TCG (emulated SVM)$" ||
	err_has '^kvm-in-qemu: this host has /dev/kvm'; then ok "$name"; else not_ok "$name"; fi

kiq -- sh -c 'exit 3'
name="exit status 3 comes back"
if [[ $rc == 3 ]]; then ok "$name"; else not_ok "$name"; fi

kiq -- sh -c 'printf "a\nb"; printf "e1\n" >&2; echo e2 >/dev/stderr'
name="stdout comes back byte for byte, stderr apart, no markers"
if [[ $rc == 0 && $(od -An -c "$work/out" | tr -s ' ') == ' a \n b' ]] &&
	err_has '^e1$' && err_has '^e2$' && ! grep -q '@@KVM-IN-QEMU' "$work/out" "$work/err"; then
	ok "$name"
else
	not_ok "$name"
fi

mkdir -p "$work/cwd dir"
cd "$work/cwd dir"
# shellcheck disable=SC2016 # for the L1 shell
kiq -- sh -c 'pwd; echo "L1=$MINIVMM_IN_L1"; [ -t 1 ] || echo pipe'
cd - >/dev/null
name="cwd (under /tmp: ro-shared), MINIVMM_IN_L1=1, stdout is a pipe"
if [[ $rc == 0 && $(cat "$work/out") == "$work/cwd dir"$'\nL1=1\npipe' ]]; then ok "$name"; else not_ok "$name"; fi

kiq --share "$work/share" -- sh -c "echo hi >'$work/share/x' && touch /usr/kiq-should-fail"
name="--share is writable, / is read-only"
if [[ $rc != 0 && $(cat "$work/share/x" 2>/dev/null) == hi ]] && err_has 'Read-only file system'; then
	ok "$name"
else
	not_ok "$name"
fi

cc -O2 -o "$work/share/kvmtest" "$here/kvmtest.c"
kiq --share "$work/share" -- "$work/share/kvmtest" 20000
name="KVM_RUN works in L1 (kvmtest)"
if [[ $rc == 0 ]] && out_has '^RESULT: total_exits=20001 io_exits=20000 other=0'; then ok "$name"; else not_ok "$name"; fi

kiq -- sh -c 'ip netns add t1 && ip netns exec t1 ip link && ip netns del t1'
name="ip netns add/exec/del"
if [[ $rc == 0 ]] && out_has '^1: lo:'; then ok "$name"; else not_ok "$name"; fi

kiq -- sh -c 'test -c /dev/net/tun && ip tuntap add dev tapx mode tap && ip link show tapx'
name="tun/tap without modprobe"
if [[ $rc == 0 ]] && out_has 'tapx:'; then ok "$name"; else not_ok "$name"; fi

kiq -- sh -c 'ip link add v0 type veth peer name v1 && ip link add br0 type bridge &&
	ip link set v0 master br0 && ip link show v0'
name="kernel module autoload (veth, bridge)"
if [[ $rc == 0 ]] && out_has 'master br0'; then ok "$name"; else not_ok "$name"; fi

head -c 1000000 /dev/urandom >"$work/share/blob"
kiq --share "$work/share" -- sh -c "cat '$work/share/blob'; cat '$work/share/blob' >&2"
name="1 MB of binary stdout and stderr come back exactly"
if [[ $rc == 0 ]] && cmp -s "$work/share/blob" "$work/out" &&
	tail -c 1000000 "$work/err" | cmp -s "$work/share/blob" -; then
	ok "$name"
else
	rc="$rc (outputs differ, not shown)"
	: >"$work/out"
	: >"$work/err"
	not_ok "$name"
fi

kiq -- sh -c 'echo c >/proc/sysrq-trigger'
name="an L1 kernel panic gives 124 and one line"
if [[ $rc == 124 ]] && err_has '^kvm-in-qemu: L1 VM died .*Kernel panic'; then ok "$name"; else not_ok "$name"; fi

kiq -- nonexistent-command-kiq
name="a missing command gives 127"
if [[ $rc == 127 ]]; then ok "$name"; else not_ok "$name"; fi

kiq --timeout 5 -- sleep 600
name="a hung command times out: 124 and one line"
if [[ $rc == 124 ]] && err_has '^kvm-in-qemu: timed out after 5s'; then ok "$name"; else not_ok "$name"; fi

echo "$passed passed, $failed failed"
((failed == 0))
