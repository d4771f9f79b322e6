#!/usr/bin/env bash
# make-initramfs.sh INIT OUT: an uncompressed newc cpio with INIT as /init
# (uncompressed because decompressing costs seconds on an emulating host).
set -euo pipefail
init=$1 out=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys"
install -m 0755 "$init" "$stage/init"
# The kernel opens /dev/console for init's stdio before devtmpfs exists.
if [ "$(id -u)" = 0 ]; then
	mknod -m 0600 "$stage/dev/console" c 5 1
fi
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
