#!/usr/bin/env bash
# ovs_private.sh: a private Open vSwitch (ovsdb-server + ovs-vswitchd, the
# userspace "netdev" datapath, so no openvswitch kernel module) whose every
# file is in one directory, and its teardown. Sourced by net_guest.sh and
# net_plumbing.sh. Callers export OVS_RUNDIR, OVS_LOGDIR and OVS_DBDIR as
# that directory first, so a plain ovs-vsctl (and minivmm's --bridge
# through it) talks to this OVS and never to a system one.

# pid_alive PID: the process exists and is not a zombie waiting for init.
pid_alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# ovs_private_start DIR BRIDGE RUN...: starts the daemons with RUN in front
# of each command (e.g. `ip netns exec NS`) and adds BRIDGE on the netdev
# datapath. $ovs_other_config, if set (KEY=VALUE), goes into the
# Open_vSwitch table's other_config before ovs-vswitchd starts, which is
# when it reads settings such as userspace-tso-enable. On failure prints
# what failed and returns 1.
ovs_private_start() {
	local d=$1 br=$2
	shift 2
	"$@" ovsdb-tool create "$d/conf.db" /usr/share/openvswitch/vswitch.ovsschema ||
		{ echo "ovsdb-tool create failed"; return 1; }
	"$@" ovsdb-server "$d/conf.db" --remote="punix:$d/db.sock" --pidfile="$d/ovsdb.pid" \
		--unixctl="$d/ovsdb.ctl" --log-file="$d/ovsdb.log" --detach 2>>"$d/start.log" ||
		{ echo "ovsdb-server did not start: $(tail -n 2 "$d/start.log")"; return 1; }
	"$@" ovs-vsctl --db="unix:$d/db.sock" --no-wait init || { echo "ovs-vsctl init failed"; return 1; }
	if [ -n "${ovs_other_config:-}" ]; then
		"$@" ovs-vsctl --db="unix:$d/db.sock" --no-wait set Open_vSwitch . \
			"other_config:$ovs_other_config" || { echo "ovs-vsctl set other_config:$ovs_other_config failed"; return 1; }
	fi
	"$@" ovs-vswitchd "unix:$d/db.sock" --pidfile="$d/vswitchd.pid" \
		--unixctl="$d/vswitchd.ctl" --log-file="$d/vswitchd.log" --detach 2>>"$d/start.log" ||
		{ echo "ovs-vswitchd did not start: $(tail -n 2 "$d/start.log")"; return 1; }
	# No --db: this also checks that the default really is
	# $OVS_RUNDIR/db.sock, the path minivmm relies on. Without --no-wait,
	# add-br returns once ovs-vswitchd has made the bridge.
	"$@" ovs-vsctl --timeout=20 add-br "$br" -- set bridge "$br" datapath_type=netdev ||
		{ echo "ovs-vsctl add-br $br failed (default database \$OVS_RUNDIR/db.sock)"; return 1; }
}

# ovs_private_pids DIR: its daemons still running, from their pidfiles and
# from anything whose command line names DIR (which nothing else can).
ovs_private_pids() {
	local p
	for p in $(cat "$1"/*.pid 2>/dev/null) $(pgrep -f -- "$1" || true); do
		pid_alive "$p" && echo "$p"
	done | sort -u
}

# ovs_private_stop DIR RUN...: asks the daemons to exit, then TERM, then
# KILL, by pid only. Prints the pids that survived and returns 1 if any did.
ovs_private_stop() {
	local d=$1 ctl p i sig
	shift
	for ctl in vswitchd ovsdb; do
		[ -S "$d/$ctl.ctl" ] && "$@" ovs-appctl --timeout=5 -t "$d/$ctl.ctl" exit >/dev/null 2>&1
	done
	for sig in TERM KILL; do
		for ((i = 0; i < 50; i++)); do
			[ -z "$(ovs_private_pids "$d")" ] && return 0
			sleep 0.1
		done
		for p in $(ovs_private_pids "$d"); do
			kill -"$sig" "$p" 2>/dev/null
		done
	done
	p=$(ovs_private_pids "$d")
	[ -z "$p" ] && return 0
	echo "$p"
	return 1
}
