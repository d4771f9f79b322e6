#!/usr/bin/env bash
# kvm-in-qemu.sh: run a host command inside an L1 VM that has a real /dev/kvm.
#
# This machine has no /dev/kvm, but QEMU's TCG emulates AMD SVM (-cpu max),
# so a Debian kernel booted under TCG can load kvm_amd and offer /dev/kvm to
# a command running in it (nested KVM over emulated SVM: slow, but real KVM).
#
# The L1 VM sees the host's / read-only over 9p, with tmpfs on /tmp, /run
# and /var/tmp, so the command runs in the caller's tree at the caller's cwd;
# `--share DIR` makes a host dir writable from L1 so results can be kept.
#
# What is cached, under ${MINIVMM_CACHE:-/var/cache/minivmm}/kvm-in-qemu/:
#   <pkg>_<version>/          Debian's kernel package (apt-get download), the
#                             extracted tree (depmod'ed) and base initramfs
#                             archives (busybox + the modules to insmod).
#   busybox-static_<version>/ only if busybox-static is not installed here.
#   last-failure.log          console + QEMU log of the last failed boot.
# Per run, a small second cpio archive (L1's /init from
# tests/kvm-in-qemu/init.sh plus /kiq/run.conf holding the shell-quoted
# command, cwd, env and shares) is appended to the base archive.
#
# Output: the command's stdout and stderr come back over two virtio-serial
# ports (kiq.out, kiq.err) into files in a per-run dir that are followed
# live and passed on byte for byte; L1 reports the exit status on a third
# port (kiq.ctl) in a line carrying a per-run nonce. The kernel console and
# firmware go to ttyS0, shown only as part of the failure log. See
# tests/kvm-in-qemu/init.sh for the protocol.
#
# Exit status: the command's; 124 if L1 crashed, failed to set up or timed
# out; 1 for a usage or preparation error (e.g. the kernel download failed).

set -euo pipefail

prog=kvm-in-qemu
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
helpers=$script_dir/../tests/kvm-in-qemu

usage() {
	cat <<'EOF'
usage: scripts/kvm-in-qemu.sh [OPTIONS] -- COMMAND [ARGS...]

Runs COMMAND (as root, cwd = the current directory, MINIVMM_IN_L1=1) inside a
QEMU TCG VM whose kernel has kvm_amd loaded, so /dev/kvm and /dev/net/tun
exist. The host's / is visible read-only; /tmp, /run, /var/tmp are empty
tmpfs. COMMAND's stdout goes to stdout, its stderr to stderr, and the script
exits with COMMAND's status (124 if the VM crashed or timed out).

options:
  --mem SIZE          L1 memory, as for qemu -m (default 2G)
  --cpus N            L1 vCPUs (default 2)
  --timeout SECONDS   kill the VM after this long, exit 124 (default 1800)
  --share DIR         mount host DIR read-write at the same path in L1
                      (created if missing; repeatable)
  --ro-share DIR      mount host DIR read-only at the same path in L1; useful
                      for dirs under /tmp, which L1 hides (repeatable). The
                      cwd is ro-shared automatically if it is under /tmp,
                      /run or /var/tmp and not otherwise shared.
  --modules M1,M2     modprobe these kernel modules in L1 before COMMAND
                      (L1's kernel also autoloads modules on demand, e.g.
                      veth or bridge for `ip link add`)
  --env NAME=VALUE    set this in COMMAND's environment (repeatable). CI,
                      LANG, LC_ALL and MINIVMM_* are passed through as is.
  -h, --help          this text
EOF
}

die() {
	echo "$prog: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- options

mem=2G
cpus=2
timeout_s=1800
shares=()       # "rw:/path" or "ro:/path", in command-line order
extra_modules=()
user_env=()
while (($#)); do
	case $1 in
	--mem) mem=${2:?--mem needs a value}; shift 2 ;;
	--mem=*) mem=${1#*=}; shift ;;
	--cpus) cpus=${2:?--cpus needs a value}; shift 2 ;;
	--cpus=*) cpus=${1#*=}; shift ;;
	--timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) timeout_s=${1#*=}; shift ;;
	--share) shares+=("rw:${2:?--share needs a dir}"); shift 2 ;;
	--share=*) shares+=("rw:${1#*=}"); shift ;;
	--ro-share) shares+=("ro:${2:?--ro-share needs a dir}"); shift 2 ;;
	--ro-share=*) shares+=("ro:${1#*=}"); shift ;;
	--modules) IFS=', ' read -r -a m <<<"${2:?--modules needs a list}"; extra_modules+=("${m[@]}"); shift 2 ;;
	--modules=*) IFS=', ' read -r -a m <<<"${1#*=}"; extra_modules+=("${m[@]}"); shift ;;
	--env) [[ ${2:-} == [A-Za-z_]*=* ]] || die "--env needs NAME=VALUE"; user_env+=("$2"); shift 2 ;;
	--env=*) [[ ${1#*=} == [A-Za-z_]*=* ]] || die "--env needs NAME=VALUE"; user_env+=("${1#*=}"); shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) usage >&2; die "unknown option: $1" ;;
	*) break ;;
	esac
done
(($#)) || { usage >&2; die "no command given"; }
cmd=("$@")
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a positive number of seconds"
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive number"
[[ $mem =~ ^[1-9][0-9]*[MGmg]?$ ]] || die "--mem must look like 2048M or 2G"
for m in "${extra_modules[@]}"; do
	[[ $m =~ ^[A-Za-z0-9_-]+$ ]] || die "--modules: bad module name '$m'"
done

command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
[[ -f $helpers/init.sh ]] || die "missing $helpers/init.sh"

cache_root=${MINIVMM_CACHE:-/var/cache/minivmm}/kvm-in-qemu
mkdir -p "$cache_root" || die "cannot create cache dir $cache_root"

# Single-quote a string for the L1 shell (busybox ash): 'it'\''s'.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
# Escape a value for a QEMU -option list: commas are doubled.
qv() { printf '%s' "${1//,/,,}"; }

# --------------------------------------------------------- kernel cache

# Serialise cache preparation between concurrent runs; released below.
exec {lock_fd}>"$cache_root/.lock"
flock "$lock_fd"

# apt-get download into DIR (a fresh dir); one-line error and exit 1 if not.
apt_download() { # dir pkg=version
	if ! (cd "$1" && apt-get download "$2") >"$1/apt.log" 2>&1; then
		echo "$prog: 'apt-get download $2' failed: $(grep -v '^W:' "$1/apt.log" | tail -n 1)" >&2
		exit 1
	fi
}
candidate_version() { # pkg
	apt-cache show --no-all-versions "$1" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }' || true
}

# The kernel package linux-image-amd64 points at (e.g. linux-image-6.1.0-56-amd64)
# and its candidate version. Each apt-cache call costs about a second here,
# so the answer is remembered until apt's lists or sources change.
apt_stamp=$(stat -c '%n %Y' /var/lib/apt/lists /etc/apt /etc/apt/sources.list.d 2>/dev/null | tr '\n' ' ' || true)
kpkg='' kpkgver=''
if [[ -f $cache_root/.resolved ]] && [[ $(head -n 1 "$cache_root/.resolved") == "$apt_stamp" ]]; then
	read -r kpkg kpkgver < <(sed -n 2p "$cache_root/.resolved")
fi
if [[ -z $kpkg || -z $kpkgver ]]; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true)
	[[ -z $kpkg ]] || kpkgver=$(candidate_version "$kpkg")
	if [[ -n $kpkg && -n $kpkgver ]]; then
		printf '%s\n%s %s\n' "$apt_stamp" "$kpkg" "$kpkgver" >"$cache_root/.resolved"
	fi
fi
if [[ -n $kpkg && -n $kpkgver ]]; then
	kdir=$cache_root/${kpkg}_${kpkgver//:/%3a}
else
	# No apt lists (or offline): fall back to the newest kernel already cached.
	kdir=$(find "$cache_root" -mindepth 2 -maxdepth 2 -path '*/linux-image-*/.ready' \
		-printf '%T@ %h\n' 2>/dev/null | sort -rn | head -n 1 | cut -d' ' -f2- || true)
	[[ -n $kdir ]] || die "cannot tell which kernel package to use: 'apt-cache depends linux-image-amd64' found none (run apt-get update)"
fi

if [[ ! -f $kdir/.ready ]]; then
	echo "$prog: caching kernel package $kpkg $kpkgver in $kdir (once)" >&2
	rm -rf "$kdir.tmp"
	mkdir -p "$kdir.tmp"
	apt_download "$kdir.tmp" "$kpkg=$kpkgver"
	debs=("$kdir.tmp"/*.deb)
	dpkg-deb -x "${debs[0]}" "$kdir.tmp/tree"
	# Debian ships modules without modules.dep (its postinst runs depmod);
	# make it here: it gives the insmod order and lets L1 autoload modules.
	mods=("$kdir.tmp"/tree/lib/modules/* "$kdir.tmp"/tree/usr/lib/modules/*)
	for m in "${mods[@]}"; do [[ -d $m ]] && break; done
	[[ -d $m ]] || die "no lib/modules/<version> in ${debs[0]}"
	kver=${m##*/}
	[[ -f $kdir.tmp/tree/boot/vmlinuz-$kver ]] || die "no boot/vmlinuz-$kver in ${debs[0]}"
	depmod -b "$kdir.tmp/tree" "$kver" || die "depmod failed for the cached kernel $kver"
	printf '%s\n' "${m#"$kdir.tmp/tree"}" >"$kdir.tmp/moddir"
	printf '%s\n' "$kver" >"$kdir.tmp/kver"
	: >"$kdir.tmp/.ready"
	rm -rf "$kdir"
	mv "$kdir.tmp" "$kdir"
fi
kver=$(<"$kdir/kver")
moddir=$kdir/tree$(<"$kdir/moddir")
vmlinuz=$kdir/tree/boot/vmlinuz-$kver

# Boot the uncompressed ELF through its PVH entry point when the kernel has
# one: QEMU loads it directly, which saves the ~2.5 s that the bzImage takes
# to decompress itself under TCG. Falls back to the bzImage.
extract_vmlinux() { # bzImage -> stdout (xz or zstd payload)
	local off
	off=$(LC_ALL=C grep -obUa $'\xfd7zXZ' "$1" | head -n 1 | cut -d: -f1 || true)
	if [[ -n $off ]]; then
		# (xz stops after its stream: tail's SIGPIPE is expected)
		{ tail -c +"$((off + 1))" "$1" || true; } | xz -dc --single-stream
		return
	fi
	off=$(LC_ALL=C grep -obUa $'\x28\xb5\x2f\xfd' "$1" | head -n 1 | cut -d: -f1 || true)
	[[ -n $off ]] || return 1
	{ tail -c +"$((off + 1))" "$1" || true; } | zstd -qdc
}
if [[ ! -e $kdir/vmlinux && ! -e $kdir/vmlinux.none ]]; then
	if grep -qx 'CONFIG_PVH=y' "$kdir/tree/boot/config-$kver" 2>/dev/null &&
		extract_vmlinux "$vmlinuz" >"$kdir/vmlinux.tmp" 2>/dev/null &&
		[[ $(head -c 4 "$kdir/vmlinux.tmp" | od -An -c | tr -d ' ') == 177ELF ]]; then
		mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
	else
		rm -f "$kdir/vmlinux.tmp"
		: >"$kdir/vmlinux.none"
	fi
fi
boot_kernel=$vmlinuz
[[ -f $kdir/vmlinux ]] && boot_kernel=$kdir/vmlinux

# busybox-static for the initramfs: the host's if installed, else a cached one.
if dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' &&
	[[ -x /bin/busybox ]]; then
	busybox=/bin/busybox
else
	bbver=$(candidate_version busybox-static)
	[[ -n $bbver ]] || die "busybox-static is not installed and apt-cache does not know it (run apt-get update)"
	bbdir=$cache_root/busybox-static_${bbver//:/%3a}
	if [[ ! -f $bbdir/.ready ]]; then
		rm -rf "$bbdir.tmp"
		mkdir -p "$bbdir.tmp"
		apt_download "$bbdir.tmp" "busybox-static=$bbver"
		debs=("$bbdir.tmp"/*.deb)
		dpkg-deb -x "${debs[0]}" "$bbdir.tmp/tree"
		: >"$bbdir.tmp/.ready"
		rm -rf "$bbdir"
		mv "$bbdir.tmp" "$bbdir"
	fi
	busybox=$bbdir/tree/bin/busybox
	[[ -x $busybox ]] || busybox=$bbdir/tree/usr/bin/busybox
fi
[[ -x $busybox ]] || die "no busybox binary at $busybox"

# Modules L1 insmods at boot (their dependencies are added below):
#   kvm_amd      /dev/kvm (TCG's -cpu max emulates SVM, not VMX)
#   9p, 9pnet_virtio, virtio_pci   the host's / and the shares
#   virtio_console                 the kiq.out/kiq.err output ports
#   tun          /dev/net/tun
# Everything else can still be autoloaded by L1's kernel (see init.sh).
# --modules are not in this list: L1 modprobes them once it has the whole
# module tree (see init.sh), which also covers aliases and autoloading.
want_modules=(kvm_amd 9p 9pnet_virtio virtio_pci virtio_console tun)

# Load order: depth-first over modules.dep (and "pre:" soft dependencies,
# which may be aliases), dependencies first; built-in modules are skipped.
declare -A mod_path=() mod_deps=() mod_pre=() mod_builtin=() mod_seen=() mod_alias=()
mod_order=()
# foo/bar/kvm-amd.ko[.xz] -> kvm_amd, in REPLY (no subshell: called a lot).
modname() {
	REPLY=${1##*/}
	REPLY=${REPLY%%.ko*}
	REPLY=${REPLY//-/_}
}
load_modules_dep() {
	local line
	while IFS= read -r line; do
		modname "${line%%:*}"
		mod_path[$REPLY]=${line%%:*}
		mod_deps[$REPLY]=${line#*:}
	done <"$moddir/modules.dep"
	if [[ -f $moddir/modules.builtin ]]; then
		while IFS= read -r line; do
			modname "$line"
			mod_builtin[$REPLY]=1
		done <"$moddir/modules.builtin"
	fi
	if [[ -f $moddir/modules.softdep ]]; then
		# "softdep NAME pre: A B post: C"
		local -a w
		local i pre list
		while read -r -a w; do
			[[ ${w[0]:-} == softdep && ${#w[@]} -gt 2 ]] || continue
			pre=0 list=
			for ((i = 2; i < ${#w[@]}; i++)); do
				case ${w[i]} in
				pre:) pre=1 ;;
				post:) pre=0 ;;
				*) if ((pre)); then list+=" ${w[i]//-/_}"; fi ;;
				esac
			done
			mod_pre[${w[1]//-/_}]=$list
		done <"$moddir/modules.softdep"
	fi
	if [[ -f $moddir/modules.alias ]]; then
		# "alias crypto-crc32c crc32c_intel": plain names only, first wins.
		local kw a target
		while read -r kw a target; do
			[[ $kw == alias && $a != *[*?[]* ]] || continue
			a=${a//-/_}
			[[ -n ${mod_alias[$a]:-} ]] || mod_alias[$a]=$target
		done <"$moddir/modules.alias"
	fi
}
visit_module() { # name required(1)/optional(0)
	local n=${1//-/_} d
	if [[ -z ${mod_path[$n]:-} && -z ${mod_builtin[$n]:-} && -n ${mod_alias[$n]:-} ]]; then
		n=${mod_alias[$n]//-/_}
	fi
	[[ -z ${mod_seen[$n]:-} ]] || return 0
	mod_seen[$n]=1
	[[ -z ${mod_builtin[$n]:-} ]] || return 0
	if [[ -z ${mod_path[$n]:-} ]]; then
		if (($2)); then die "kernel module '$n' not found in $moddir"; fi
		return 0
	fi
	for d in ${mod_deps[$n]}; do
		modname "$d"
		visit_module "$REPLY" 1
	done
	for d in ${mod_pre[$n]:-}; do visit_module "$d" 0; done
	mod_order+=("$n")
}

# The base initramfs depends on the module list, busybox and this layout.
base_key=$({
	echo "kiq-base-v1"
	printf '%s\n' "${want_modules[@]}"
	sha256sum <"$busybox"
} | sha256sum | cut -c1-16)
base_cpio=$kdir/base-$base_key.cpio
if [[ ! -f $base_cpio ]]; then
	load_modules_dep
	for m in "${want_modules[@]}"; do visit_module "$m" 1; done
	stage=$(mktemp -d "$kdir/stage.XXXXXX")
	mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib/kiq,kiq,proc,sys,dev,host,tmp}
	cp "$busybox" "$stage/bin/busybox"
	for m in "${mod_order[@]}"; do
		src=$moddir/${mod_path[$m]}
		# busybox insmod wants plain .ko files.
		case $src in
		*.ko.xz) xz -dc "$src" >"$stage/lib/kiq/$m.ko" ;;
		*.ko.zst) zstd -qdc "$src" >"$stage/lib/kiq/$m.ko" ;;
		*.ko.gz) gzip -dc "$src" >"$stage/lib/kiq/$m.ko" ;;
		*) cp "$src" "$stage/lib/kiq/$m.ko" ;;
		esac
	done
	printf '%s\n' "${mod_order[@]}" >"$stage/lib/kiq/modules.order"
	# Uncompressed: unpacking is cheaper than inflating under TCG.
	(cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) >"$base_cpio.tmp"
	mv "$base_cpio.tmp" "$base_cpio"
	rm -rf "$stage"
fi
flock -u "$lock_fd"

# ----------------------------------------------------- per-run settings

cwd=$(pwd -P)

# Resolve shares to physical paths (L1 must not meet host symlinks on the
# way: they would resolve against its initramfs root, not /host).
share_paths=() share_modes=()
for s in "${shares[@]}"; do
	mode=${s%%:*} p=${s#*:}
	[[ $mode == ro || -d $p ]] || mkdir -p "$p" || die "cannot create share dir $p"
	[[ -d $p ]] || die "share dir $p does not exist"
	p=$(realpath -e "$p")
	[[ $p != / ]] || die "sharing / is not supported (it already is, read-only)"
	share_paths+=("$p") share_modes+=("$mode")
done
# L1 has empty tmpfs on these; a cwd below them would not exist there.
under() { [[ $1 == "$2" || $1 == "$2"/* ]]; }
covered=0
for p in "${share_paths[@]}"; do under "$cwd" "$p" && covered=1; done
if ((!covered)); then
	for t in /tmp /run /var/tmp; do
		# cwd == /tmp itself is fine (empty tmpfs), and sharing it would
		# make L1's /tmp read-only.
		if [[ $cwd == "$t"/* ]]; then
			share_paths+=("$cwd") share_modes+=(ro)
		fi
	done
fi

# COMMAND's environment: a clean one plus a few pass-throughs.
cmd_env=(
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	HOME=/root
	TERM=dumb
)
while IFS= read -r v; do
	case $v in
	CI | LANG | LC_ALL | MINIVMM_*) [[ $v == MINIVMM_IN_L1 ]] || cmd_env+=("$v=${!v}") ;;
	esac
done < <(compgen -e)
cmd_env+=("${user_env[@]}" MINIVMM_IN_L1=1)

# The run dir carries our PID so that the dirs of runs that were SIGKILLed
# (and so could not clean up) can be recognised and removed.
for d in "${TMPDIR:-/tmp}"/kvm-in-qemu.*.*; do
	p=${d##*/kvm-in-qemu.}
	p=${p%%.*}
	if [[ -d $d && $p =~ ^[0-9]+$ ]] && ! kill -0 "$p" 2>/dev/null; then
		rm -rf "$d"
	fi
done
run=$(mktemp -d "${TMPDIR:-/tmp}/kvm-in-qemu.$$.XXXXXX")
qemu_pid='' filter_pid='' out_pid='' err_pid=''
# shellcheck disable=SC2317 # invoked by trap
cleanup() {
	# Never leave a QEMU behind. qemu_pid is timeout(1), which passes the
	# TERM on to QEMU; setpriv --pdeathsig below covers a SIGKILLed script.
	if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
		kill -TERM "$qemu_pid" 2>/dev/null || true
		wait "$qemu_pid" 2>/dev/null || true
	fi
	local p
	for p in "$filter_pid" "$out_pid" "$err_pid"; do
		if [[ -n $p ]]; then kill "$p" 2>/dev/null || true; fi
	done
	rm -rf "$run"
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

nonce=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

# Per-run archive: /init and /kiq/run.conf (sourced by /init).
mkdir -p "$run/root/kiq"
cp "$helpers/init.sh" "$run/root/init"
chmod 755 "$run/root/init"
{
	echo "KIQ_NONCE=$nonce"
	echo "KIQ_MSIZE=262144"
	echo "KIQ_MODTREE=$(sq "$moddir")"
	echo "KIQ_EXTRA_MODULES=$(sq "${extra_modules[*]}")"
	echo "kiq_shares() {"
	echo "	:"
	# Parents before children: sort the share indices by path length.
	for j in $(for i in "${!share_paths[@]}"; do
		echo "${#share_paths[i]} $i"
	done | sort -n | cut -d' ' -f2); do
		echo "	kiq_share kiqshare$j ${share_modes[j]} $(sq "${share_paths[j]}")"
	done
	echo "}"
	echo "kiq_command() {"
	printf '\tenv -i'
	for e in "${cmd_env[@]}"; do printf ' %s' "$(sq "$e")"; done
	# The host's /bin/sh enters the cwd, then becomes COMMAND.
	# shellcheck disable=SC2016 # expanded by that sh, not here
	printf ' chroot /host /bin/sh -c %s kvm-in-qemu %s' \
		"$(sq 'cd -- "$1" || exit 125; shift; exec "$@"')" "$(sq "$cwd")"
	for a in "${cmd[@]}"; do printf ' %s' "$(sq "$a")"; done
	printf '\n}\n'
} >"$run/root/kiq/run.conf"
(cd "$run/root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) >"$run/run.cpio"
# The kernel unpacks concatenated cpio archives in order.
cat "$base_cpio" "$run/run.cpio" >"$run/initrd"

# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
qemu_args=(
	-accel tcg,thread="${KIQ_TCG_THREAD:-multi}" -cpu max -smp "$cpus" -m "$mem"
	-nodefaults -no-user-config -display none -vga none -no-reboot
	-kernel "$boot_kernel" -initrd "$run/initrd"
	-append "console=ttyS0 quiet loglevel=4 panic=-1 mitigations=off"
	# ttyS0: the kernel console (and firmware noise), kept apart: it only
	# goes to the failure log. virtio ports: kiq.ctl for L1 init's messages
	# and the markers, kiq.out and kiq.err for COMMAND's stdout and stderr.
	# Regular files, not FIFOs, so that QEMU never has to hold data back:
	# under TCG each guest write() is then in the file before it returns,
	# which puts the STATUS marker behind all of the command's output.
	-chardev "file,id=kiqcon,path=$(qv "$run/kernel.log")" -serial chardev:kiqcon
	-device virtio-serial-pci,id=kiqser
	-chardev "file,id=kiqctl,append=on,path=$(qv "$run/ctl")"
	-device virtserialport,bus=kiqser.0,nr=1,chardev=kiqctl,name=kiq.ctl
	-chardev "file,id=kiqout,append=on,path=$(qv "$run/out")"
	-device virtserialport,bus=kiqser.0,nr=2,chardev=kiqout,name=kiq.out
	-chardev "file,id=kiqerr,append=on,path=$(qv "$run/err")"
	-device virtserialport,bus=kiqser.0,nr=3,chardev=kiqerr,name=kiq.err
	# multidevs=remap: / spans several host filesystems; avoids inode clashes.
	-fsdev "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot
)
for i in "${!share_paths[@]}"; do
	ro=
	[[ ${share_modes[i]} == ro ]] && ro=,readonly=on
	qemu_args+=(
		-fsdev "local,id=fs$i,path=$(qv "${share_paths[i]}"),security_model=none,multidevs=remap$ro"
		-device "virtio-9p-pci,fsdev=fs$i,mount_tag=kiqshare$i"
	)
done

# ---------------------------------------------------------------- boot

# kvm_native, kvm_nested_why (scripts/kvm-host.sh).
. "$script_dir/kvm-host.sh"
if kvm_native; then
	echo "$prog: this host has a VT-x/AMD-V /dev/kvm, but running '${cmd[*]}' under nested kvm_amd inside QEMU TCG (emulated SVM) as asked" >&2
else
	echo "$prog: $(kvm_nested_why); running '${cmd[*]}' under nested kvm_amd inside QEMU TCG (emulated SVM)" >&2
fi

# Start QEMU. timeout(1) bounds the run; --pdeathsig KILL (on timeout and
# on QEMU) takes QEMU down even if this script is SIGKILLed. QEMU never
# reads stdin.
: >"$run/ctl"
: >"$run/out"
: >"$run/err"
setpriv --pdeathsig KILL -- timeout -k 10 "$timeout_s" \
	setpriv --pdeathsig KILL -- qemu-system-x86_64 "${qemu_args[@]}" \
	</dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!

# Follow the output files live, byte for byte; each tail stops once QEMU
# is gone and it has read everything.
follow() { tail -c +1 -s 0.1 -f --pid="$qemu_pid" "$1"; }
follow "$run/out" &
out_pid=$!
follow "$run/err" >&2 &
err_pid=$!
# kiq.ctl: show L1's diagnostics, catch the marker (bash's read takes a
# pipe byte by byte, so nothing sits in a buffer; the channel is tiny).
read_ctl() {
	local line
	while IFS= read -r line; do
		case $line in
		"kvm-in-qemu(L1): "*) printf '%s\n' "$line" >&2 ;;
		"@@KVM-IN-QEMU-$nonce-STATUS="*@@)
			line=${line#*STATUS=}
			printf '%s\n' "${line%@@}" >"$run/status"
			return
			;;
		"@@KVM-IN-QEMU-$nonce-SETUPFAIL@@")
			echo SETUPFAIL >"$run/status"
			return
			;;
		esac
	done
}
follow "$run/ctl" | read_ctl &
filter_pid=$!

wait -n "$filter_pid" "$qemu_pid" || true
if [[ -s $run/status ]] && kill -0 "$qemu_pid" 2>/dev/null; then
	# The command is done and all its output is in: no need to wait for
	# L1 to power off.
	kill -TERM "$qemu_pid" 2>/dev/null || true
fi
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=''
# The followers end by themselves now that QEMU is gone.
wait "$filter_pid" || true
filter_pid=''
wait "$out_pid" || true
out_pid=''
wait "$err_pid" || true
err_pid=''

status=
[[ -s $run/status ]] && status=$(<"$run/status")
# A setup failure before L1 had its virtio ports is reported on ttyS0.
if [[ -z $status ]] && grep -aq "@@KVM-IN-QEMU-$nonce-SETUPFAIL@@" "$run/kernel.log" 2>/dev/null; then
	status=SETUPFAIL
fi
if [[ $status =~ ^[0-9]+$ ]]; then
	exit "$status"
fi

# L1 failed. Keep its logs for a post-mortem and say so in one line.
faillog=$cache_root/last-failure.log
{
	echo "== $(date -u +%FT%TZ) kvm-in-qemu: ${cmd[*]}"
	echo "== ttyS0 (firmware, L1 kernel console)"
	tr -d '\r' <"$run/kernel.log" 2>/dev/null || true
	echo "== kiq.ctl (L1 init)"
	cat "$run/ctl" 2>/dev/null || true
	echo "== kiq.out (command stdout)"
	cat "$run/out" 2>/dev/null || true
	echo "== kiq.err (command stderr)"
	cat "$run/err" 2>/dev/null || true
	echo "== qemu (exit status $qemu_rc)"
	cat "$run/qemu.log" 2>/dev/null || true
} >"$faillog" 2>/dev/null || faillog="(could not write $faillog)"
# Messages L1 init wrote before its virtio ports existed are on ttyS0.
grep -a 'kvm-in-qemu(L1): ' "$run/kernel.log" 2>/dev/null | tr -d '\r' >&2 || true
if [[ $status == SETUPFAIL ]]; then
	echo "$prog: L1 VM setup failed, '${cmd[*]}' was not run (log: $faillog)" >&2
elif ((qemu_rc == 124 || qemu_rc == 137)); then
	echo "$prog: timed out after ${timeout_s}s running '${cmd[*]}' in the L1 VM (log: $faillog)" >&2
else
	why=$(grep -a -m 1 -o 'Kernel panic - .*' "$run/kernel.log" 2>/dev/null | tr -d '\r' || true)
	echo "$prog: L1 VM died before '${cmd[*]}' finished (${why:-qemu exit status $qemu_rc}; log: $faillog)" >&2
fi
exit 124
