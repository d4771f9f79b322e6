#!/usr/bin/env bash
# A test guest made of parts no one here wrote: Debian's stock cloud kernel
# (the package linux-image-cloud-amd64 points at, fetched with apt-get
# download), its own virtio modules, and an initramfs of Debian's static
# busybox with tests/guest/stock-init.sh as /init. Cached like the test
# kernel, keyed by the kernel package, busybox and the files that build it.
# Prints the cache directory holding vmlinuz, initramfs.cpio and kver.
#
#   scripts/build-stock-guest.sh          # fetch/build if not cached, print dir
#   MINIVMM_CACHE=/some/dir scripts/...   # cache root (default /var/cache/minivmm)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
init=$here/tests/guest/stock-init.sh
cache_root=${MINIVMM_CACHE:-/var/cache/minivmm}/stock-guest
# The drivers the guest needs for its NIC; their dependencies come first,
# in the order the package's own modules.dep gives (modprobe --show-depends).
drivers=(virtio_pci virtio_net)

die() {
	echo "build-stock-guest: $*" >&2
	exit 1
}
[ -r "$init" ] || die "$init missing"
# busybox-static installs /bin/busybox; the guest has no libc to link against.
busybox=/bin/busybox
[ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
	die "$busybox missing or not static (apt-get install busybox-static)"

mkdir -p "$cache_root" || die "cannot create $cache_root"
exec {lock}>"$cache_root/.lock"
flock "$lock"

# Which kernel package, and which version of it. Without apt's lists (no
# network), the newest one already cached.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true)
ver=''
[ -z "$pkg" ] || ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
	awk '$1 == "Version:" { print $2; exit }' || true)
if [ -n "$pkg" ] && [ -n "$ver" ]; then
	kdir=$cache_root/kernel/${pkg}_${ver//:/%3a}
else
	kdir=$(find "$cache_root/kernel" -mindepth 2 -maxdepth 2 -name .ready -printf '%T@ %h\n' \
		2>/dev/null | sort -rn | head -n 1 | cut -d' ' -f2- || true)
	[ -n "$kdir" ] || die "cannot tell which kernel linux-image-cloud-amd64 means (run apt-get update)"
fi

if [ ! -f "$kdir/.ready" ]; then
	echo "build-stock-guest: fetching $pkg $ver (once)" >&2
	rm -rf "$kdir.tmp"
	mkdir -p "$kdir.tmp"
	(cd "$kdir.tmp" && apt-get download "$pkg=$ver") >"$kdir.tmp/apt.log" 2>&1 ||
		die "'apt-get download $pkg=$ver' failed: $(grep -v '^W:' "$kdir.tmp/apt.log" | tail -n 1)"
	debs=("$kdir.tmp"/*.deb)
	dpkg-deb -x "${debs[0]}" "$kdir.tmp/tree"
	rm -f "${debs[@]}"
	kver=$(basename "$(find "$kdir.tmp/tree/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
	[ -f "$kdir.tmp/tree/boot/vmlinuz-$kver" ] || die "no boot/vmlinuz-$kver in $pkg"
	# Debian ships modules without modules.dep (its postinst runs depmod).
	depmod -b "$kdir.tmp/tree" "$kver" || die "depmod failed for $pkg"
	echo "$kver" >"$kdir.tmp/kver"
	: >"$kdir.tmp/.ready"
	rm -rf "$kdir"
	mv "$kdir.tmp" "$kdir"
fi
kver=$(<"$kdir/kver")

key=$(cat "$init" "$0" "$busybox" | sha256sum | cut -c1-16)
out=$kdir/guest-$key
if [ -s "$out/initramfs.cpio" ]; then
	echo "$out"
	exit 0
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,lib/modules}
install -m 0755 "$busybox" "$stage/bin/busybox"
install -m 0755 "$init" "$stage/init"
for d in "${drivers[@]}"; do
	modprobe -d "$kdir/tree" -S "$kver" --show-depends "$d" ||
		die "modprobe --show-depends $d failed for $kver"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$stage/order.paths"
while read -r f; do
	m=$(basename "$f")
	m=${m%%.ko*}
	case $f in
	*.ko) cp "$f" "$stage/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$f" >"$stage/lib/modules/$m.ko" ;;
	*) die "module $f: unknown compression" ;;
	esac
	echo "$m" >>"$stage/lib/modules/order"
done <"$stage/order.paths"
rm "$stage/order.paths"
[ -s "$stage/lib/modules/order" ] || die "no modules for ${drivers[*]} in $pkg"
# The kernel opens /dev/console for init's stdio before devtmpfs exists.
mknod -m 0600 "$stage/dev/console" c 5 1
mkdir -p "$out.tmp"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) \
	>"$out.tmp/initramfs.cpio"
cp "$kdir/tree/boot/vmlinuz-$kver" "$out.tmp/vmlinuz"
echo "$pkg $ver ($kver)" >"$out.tmp/kernel"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$out"
