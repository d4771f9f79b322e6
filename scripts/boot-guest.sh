#!/usr/bin/env bash
# Builds minivmm and the test guest kernel, then boots it with minivmm on this
# terminal's serial console. Interactive (stdin a terminal, /dev/kvm usable):
# runs until the guest stops or you type Ctrl-A x. Otherwise it stops the guest
# a few seconds after the kernel has started /init.
#
#   scripts/boot-guest.sh [extra minivmm options, e.g. --cpus 2]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# A KVM character device this user can open. (Not bash's `<>` alone: it
# would create a regular file when /dev/kvm is missing.)
kvm_usable() { [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; }
build=${MINIVMM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -DBUILD_TESTING=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
kdir=$("$root/scripts/build-guest-kernel.sh")

cmd=("$build/minivmm" --kernel "$kdir/bzImage" --initrd "$build/tests/guest/initramfs.cpio" --stats "$@")

if kvm_usable && [ -t 0 ]; then
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
if kvm_usable; then
	"$until_init" "${cmd[@]}"
else
	"$root/scripts/kvm-in-qemu.sh" --ro-share "$tmp" -- "$until_init" "${cmd[@]}"
fi
