#!/bin/busybox sh
# /init of the stock-kernel test guest (scripts/build-stock-guest.sh): Debian's
# cloud kernel and busybox, nothing of ours. It loads the virtio modules,
# configures eth0, then moves TCP data both ways with busybox nc and prints
# what it sent and got, for tests/integration/tcp_guest.sh to check:
#
#   stock-init: eth0 up ADDR
#   stock-init: tx BYTES sha256 HASH          (random data it will send)
#   stock-init: tx done (nc status N)         (guest -> host on PEER:5002)
#   stock-init: listening on 5001
#   stock-init: rx BYTES sha256 HASH          (what host -> guest brought)
#   stock-init: done
#
# Parameters come from the kernel command line (the kernel leaves dotted
# words to modules and does not pass them to init, but /proc/cmdline has
# them): mv.ip=ADDR/PREFIX mv.peer=ADDR mv.bytes=N.
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
# Only emergencies on the console from here: a kernel message (eth0's link
# coming up, say) must not land in the middle of the lines below.
dmesg -n 1

say() { echo "stock-init: $*"; }
idle() {
	say "$@"
	# PID 1 must not exit; the host stops minivmm when it has seen enough.
	while :; do sleep 3600; done
}

ip=192.168.77.2/24 peer=192.168.77.1 bytes=4194304
for w in $(cat /proc/cmdline); do
	case $w in
	mv.ip=*) ip=${w#mv.ip=} ;;
	mv.peer=*) peer=${w#mv.peer=} ;;
	mv.bytes=*) bytes=${w#mv.bytes=} ;;
	esac
done

while read -r m; do
	insmod "/lib/modules/$m.ko" || idle "insmod $m failed"
done </lib/modules/order
i=0
while [ ! -d /sys/class/net/eth0 ]; do
	i=$((i + 1))
	[ "$i" -le 100 ] || idle "no eth0 after loading virtio_net"
	sleep 0.1
done
ip link set lo up
ip addr add "$ip" dev eth0 && ip link set eth0 up || idle "cannot configure eth0"
say "eth0 up $ip"

head -c "$bytes" /dev/urandom >/tmp/tx
say "tx $(wc -c </tmp/tx) sha256 $(sha256sum </tmp/tx | cut -d' ' -f1)"
# The host listens before the guest boots; its first SYN may still meet an
# unresolved neighbour, so retry for a while.
i=0
while :; do
	nc -w 10 "$peer" 5002 </tmp/tx
	st=$?
	[ "$st" = 0 ] || [ "$i" -ge 5 ] && break
	i=$((i + 1))
	sleep 1
done
say "tx done (nc status $st)"
rm -f /tmp/tx

say "listening on 5001"
nc -l -p 5001 >/tmp/rx
say "rx $(wc -c </tmp/rx) sha256 $(sha256sum </tmp/rx | cut -d' ' -f1)"
rm -f /tmp/rx
idle done
