#!/usr/bin/env bash
# Build minivmm's test guest kernel from Debian's linux-source-6.1, unmodified,
# with tinyconfig + tests/guest/minivmm.config, and cache bzImage and vmlinux
# outside the tree, keyed by the config fragment, the source package version
# and this script. Prints the cache directory holding bzImage, vmlinux, .config.
#
#   scripts/build-guest-kernel.sh            # build if not cached, print dir
#   MINIVMM_CACHE=/some/dir scripts/...      # cache root (default /var/cache/minivmm)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
fragment="$here/tests/guest/minivmm.config"
tarball=/usr/src/linux-source-6.1.tar.xz
cache_root=${MINIVMM_CACHE:-/var/cache/minivmm}

die() { echo "build-guest-kernel: $*" >&2; exit 1; }
[ -r "$tarball" ] || die "$tarball missing (apt-get install linux-source-6.1)"

src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
	die "cannot read the linux-source-6.1 package version"
key=$(cat "$fragment" "$0" <(echo "$src_version") | sha256sum | cut -c1-16)
out="$cache_root/guest-kernel/$key"

if [ -s "$out/bzImage" ] && [ -s "$out/vmlinux" ]; then
	echo "$out"
	exit 0
fi

src="$cache_root/src/linux-source-6.1-$src_version"
if [ ! -f "$src/.extracted" ]; then
	echo "build-guest-kernel: extracting $tarball" >&2
	rm -rf "$src"
	mkdir -p "$src"
	tar -xf "$tarball" -C "$src" --strip-components=1
	touch "$src/.extracted"
fi

build="$cache_root/build/$key"
rm -rf "$build"
mkdir -p "$build"
log="$build/build.log"
echo "build-guest-kernel: building in $build (log: $log)" >&2
{
	make -C "$src" O="$build" tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment"
	make -C "$src" O="$build" olddefconfig
} >"$log" 2>&1 || die "configuring failed, see $log"

# Kconfig drops options whose dependencies are unmet without a word; catch that
# here instead of at boot time.
missing=0
while read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qx "$line" "$build/.config" ||
			{ echo "build-guest-kernel: $line did not survive Kconfig" >&2; missing=1; } ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		! grep -q "^$opt=" "$build/.config" ||
			{ echo "build-guest-kernel: $opt should be off" >&2; missing=1; } ;;
	esac
done <"$fragment"
[ "$missing" = 0 ] || die "config fragment not honoured"

make -C "$src" O="$build" -j"$(nproc)" bzImage >>"$log" 2>&1 || die "build failed, see $log"

mkdir -p "$out.tmp"
cp "$build/arch/x86/boot/bzImage" "$build/vmlinux" "$build/.config" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
rm -rf "$build"
echo "$out"
