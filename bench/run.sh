#!/usr/bin/env bash
# vipd vs keepalived 2.2.7 benchmarks on a LAN of network namespaces (root).
#
#   sudo bench/run.sh [failover] [scale] [flood] [scrape] [handover] [stretch]
#   (no argument: the first five; stretch, 1,000 instances over four LANs, only when named)
#
# Every scenario runs vipd and then keepalived in the same invocation and prints a table.
# Namespaces are named vb-<pid>-*, addresses only in 10.99.0.0/16. Everything started here is
# ended by pid and the namespaces are deleted at exit (also on Ctrl-C).
# Environment: TRIALS (failover trials per case, default 5), WINDOW (scale seconds, default 10),
# CASES (scale cases, see below), ROUNDS and SCRAPE_RATE (scrape scenario, default 3 and 20),
# SIDE (scale only: vipd or ka, a second backup on a third host r3, priority 70, hearing the
# same adverts in the same window as r2; SIDE_BIN: the vipd binary it runs, for an A/B of two
# builds without the noise between runs; a line after each row compares r2 and r3),
# WRAP (a command vipd runs under, e.g. WRAP="chrt -R -r 10" as the systemd unit does) and
# KA_RT (keepalived's vrrp_rt_priority, its own way to the same, e.g. KA_RT=10; the bench then
# also sets vrrp_rlimit_rtime 5000000).
# SWITCH: how the lab's switch namespace forwards, the same for both daemons (default host):
#   host   as the host is set up: if the host has br_netfilter loaded, every bridged frame
#          also runs the bridge's netfilter hooks; and all delivery (the bridge, its other
#          ports, the listeners' sockets and their wake-ups) runs in the softirq of the sender
#          (veth hands each frame over in the sender's context), so it is charged to the sender.
#   plain  as host, with the switch namespace's net.bridge.bridge-nf-call-* set to 0 (a
#          switch does not run the host's firewall on the frames it forwards).
#   napi   as plain, and the switch's ports receive with threaded NAPI (GRO on, then
#          /sys/class/net/<port>/threaded): the switch's work and the delivery to the other
#          hosts run in the switch's own kernel threads (napi/<port>-<id>), as a real switch
#          and real receivers do on their own hardware; the sender pays for its own send.
#          The threads run SCHED_FIFO 50 (a switch does not wait for the hosts' processes).
#          scale and stretch print those threads' CPU beside each row.
# This is a benchmark: it prints figures and asserts nothing about timing.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
TRIALS=${TRIALS:-5}
WINDOW=${WINDOW:-10}
SCRAPE_RATE=${SCRAPE_RATE:-20}
# Scale cases as impl:instances:interval_ms:scrape (impl vipd or ka; scrape 1 = /metrics 20/s).
# impl floor-blocking, floor-tokio or floor-core: r1 runs vipd, r2 runs the receive floor
# (examples/rx_floor.rs, FLOOR_BIN) in that mode instead of a backup.
# impl txfloor-sendto or txfloor-sendmmsg: r1 runs the send floor (examples/tx_floor.rs,
# TXFLOOR_BIN) in that mode instead of a master, r2 runs vipd as the backup.
CASES=${CASES:-"vipd:100:100:0 ka:100:100:0 vipd:250:20:0 ka:250:20:0 vipd:250:10:0 ka:250:10:0 vipd:250:10:1"}
P="vb-$$"
DIR=/tmp/$P
# VIPD_BIN: a vipd binary to use instead of building target/release/vipd.
VIPD="${VIPD_BIN:-$ROOT/target/release/vipd}"
# FLOOR_BIN: the receive floor (cargo build --release --example rx_floor).
FLOOR="${FLOOR_BIN:-$ROOT/target/release/examples/rx_floor}"
# TXFLOOR_BIN: the send floor (cargo build --release --example tx_floor).
TXFLOOR="${TXFLOOR_BIN:-$ROOT/target/release/examples/tx_floor}"
HZ=$(getconf CLK_TCK)
PY=$(python3 -c "import sys; print(sys.executable)")

PIDS=()        # every process started (ip netns exec execs, so these are the real pids)
NSES=()        # every namespace created

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
for t in ip tcpdump python3 curl "$KEEPALIVED"; do command -v "$t" >/dev/null || die "needs $t"; done
SWITCH=${SWITCH:-host}
case $SWITCH in host|plain) ;; napi) command -v ethtool >/dev/null || die "SWITCH=napi needs ethtool" ;; *) die "SWITCH: host, plain or napi" ;; esac

cleanup() {
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    # keepalived's VRRP children, by their pid files
    for p in "$DIR"/*.pid; do [ -f "$p" ] && kill -TERM "$(cat "$p")" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "$DIR"/*.pid; do [ -f "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null; done
    for p in "${NSES[@]}"; do ip netns del "$p" 2>/dev/null; done
    [ -n "${KEEP_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'echo; echo "bench: interrupted"; exit 130' INT TERM

mkdir -p "$DIR"
ns() { echo "$P-$1"; }
nx() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }

# ---------- the LAN ----------
lab_up() { # hosts as name=addr ...
    local sw; sw=$(ns sw)
    ip netns add "$sw"; NSES+=("$sw")
    ip -n "$sw" link add br0 type bridge mcast_snooping 0
    ip -n "$sw" link set br0 up
    local ha h a n
    for ha in "$@"; do
        h=${ha%%=*}; a=${ha#*=}; n=$(ns "$h")
        ip netns add "$n"; NSES+=("$n")
        ip link add eth0 netns "$n" type veth peer name "p$h" netns "$sw"
        ip -n "$sw" link set "p$h" master br0 up
        ip -n "$n" link set lo up
        ip -n "$n" link set eth0 up
        ip -n "$n" addr add "$a/24" dev eth0
    done
    switch_tune "$sw"
}
lab_down() {
    local n
    for n in "${NSES[@]}"; do ip netns del "$n" 2>/dev/null; done
    NSES=(); SWPIDS=()
}

# Sets up the switch namespace's forwarding as SWITCH says, after its ports exist; SWPIDS are
# its NAPI threads (SWITCH=napi), whose CPU scale and stretch report.
SWPIDS=()
switch_tune() { # switch namespace
    local sw=$1 t p
    [ "$SWITCH" = host ] && return 0
    if [ -d /proc/sys/net/bridge ]; then
        for t in iptables ip6tables arptables; do ip netns exec "$sw" sysctl -qw "net.bridge.bridge-nf-call-$t=0"; done
    fi
    [ "$SWITCH" = napi ] || return 0
    local tid
    for p in $(ip -n "$sw" -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1); do
        # veth hands a frame from a socket to NAPI only if the receiving end has one of these
        # (or the sender has no TSO): veth_skb_is_eligible_for_gro in drivers/net/veth.c
        ip netns exec "$sw" ethtool -K "$p" gro on rx-udp-gro-forwarding on >/dev/null || die "ethtool -K $p failed"
        ip netns exec "$sw" sh -c "echo 1 > /sys/class/net/$p/threaded" || die "threaded NAPI on $p failed"
        # the port's own thread, napi/<port>-<napi id>; a switch forwards at once: it must not
        # queue behind the hosts' processes (the daemons, the capture), or the capture sees
        # adverts late that were sent on time
        tid=$(pgrep "^napi/$p-") || die "SWITCH=napi: no thread napi/$p-*"
        chrt -f -p 50 "$tid" || die "chrt of napi thread $tid failed"
        SWPIDS+=("$tid")
    done
}
# SWITCH=napi: one line on the switch's NAPI threads' CPU over a window, kept in SWNOTES too
SWNOTES=()
switch_line() { # label ticks0 ticks1 seconds
    [ "$SWITCH" = napi ] || return 0
    local l; l=$(printf '   switch (%s): %d NAPI threads, %s %% of a core' "$1" "${#SWPIDS[@]}" \
        "$("$PY" -c "print('%.1f' % (($3-$2)/$HZ/$4*100))")")
    echo "$l"; SWNOTES+=("$l")
}

# Starts a command in a namespace in the background; sets LASTPID.
start() { local h=$1 log=$2; shift 2; ip netns exec "$(ns "$h")" "$@" >"$DIR/$log" 2>&1 </dev/null & LASTPID=$!; PIDS+=("$LASTPID"); }
stop_pid() { # pid [signal]: signal and wait up to 5 s
    local p=$1 i
    kill -"${2:-TERM}" "$p" 2>/dev/null
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    return 0
}

vips_on() { ip -n "$(ns "$1")" -4 addr show dev eth0 | grep -c "inet 10\.99\.$2\." ; }
wait_until() { # timeout_s command...
    local end=$(( $(date +%s%N) + ${1%.*} * 1000000000 )); shift
    until "$@"; do [ "$(date +%s%N)" -lt "$end" ] || return 1; sleep 0.02; done
}
vips_are() { [ "$(vips_on "$1" 1)" -eq "$2" ]; }
holds() { ip -n "$(ns "$1")" -4 addr show dev eth0 | grep -q "inet $2/"; }
only_holder() { holds "$1" "$3" && ! holds "$2" "$3"; }

# ---------- configurations ----------
iv_yaml() { echo "$1ms"; }                        # vipd advert_interval
iv_ka() { "$PY" -c "print($1/1000)"; }          # keepalived advert_int (seconds)

vipd_conf() { # file priority interval_ms count vip_fmt  (vip_fmt: printf with %d = index)
    local f=$1 prio=$2 iv=$3 cnt=$4 fmt=$5 i
    { echo 'listen: "127.0.0.1:9797"'; echo "instances:"
      for i in $(seq "$cnt"); do
        printf '  VI_%d:\n    interface: eth0\n    vrid: %d\n    priority: %d\n    advert_interval: %s\n    virtual_ipaddress: ["%s/24"]\n' \
            "$i" "$i" "$prio" "$(iv_yaml "$iv")" "$(printf "$fmt" "$i")"
      done; } >"$f"
    "$VIPD" check -c "$f" >/dev/null || die "vipd rejects $f"
}
ka_conf() { # file router_id priority interval_ms count vip_fmt
    local f=$1 rid=$2 prio=$3 iv=$4 cnt=$5 fmt=$6 i
    { printf 'global_defs {\n    router_id %s\n    vrrp_version 3\n    vrrp_garp_master_delay 1\n' "$rid"
      # keepalived's default RLIMIT_RTTIME (10 ms) kills its VRRP child while it starts 250
      # instances: give it 5 s, as an operator using vrrp_rt_priority at this scale would.
      [ -n "${KA_RT:-}" ] && printf '    vrrp_rt_priority %s\n    vrrp_rlimit_rtime 5000000\n' "$KA_RT"
      printf '}\n' 
      for i in $(seq "$cnt"); do
        printf 'vrrp_instance VI_%d {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n    virtual_ipaddress {\n        %s/24\n    }\n}\n' \
            "$i" "$i" "$prio" "$(iv_ka "$iv")" "$(printf "$fmt" "$i")"
      done; } >"$f"
    "$KEEPALIVED" -t -f "$f" >/dev/null 2>&1 || die "keepalived rejects $f"
}

# Starts implementation $1 (vipd|ka) on host $2 with config args; sets DPID (the daemon's pid)
# and DPIDS (all its processes, for CPU and RSS).
daemon() {
    local impl=$1 h=$2 prio=$3 iv=$4 cnt=$5 fmt=$6
    local f="$DIR/$impl-$h.conf"
    if [ "$impl" = vipd ] || [ "${impl#floor-}" != "$impl" ] || [ "${impl#txfloor-}" != "$impl" ]; then
        vipd_conf "$f" "$prio" "$iv" "$cnt" "$fmt"
    else
        ka_conf "$f" "$h" "$prio" "$iv" "$cnt" "$fmt"
    fi
    daemon_start "$impl" "$h" "$f"
}
daemon_start() { # impl host config-file: starts it, sets DPID and DPIDS
    local impl=$1 h=$2 f=$3
    if [ "$impl" = vipd ]; then
        VIPD_LOG=info start "$h" "$impl-$h.log" ${WRAP:-} "$VIPD" run -c "$f"
        DPID=$LASTPID; DPIDS=("$DPID")
    elif [ "${impl#floor-}" != "$impl" ]; then
        [ -x "$FLOOR" ] || die "no $FLOOR (cargo build --release --example rx_floor)"
        local a; a=$(ip -n "$(ns "$h")" -4 -o addr show dev eth0 | awk '{print $4; exit}')
        start "$h" "$impl-$h.log" ${WRAP:-} "$FLOOR" "${impl#floor-}" "$f" "${a%/*}"
        DPID=$LASTPID; DPIDS=("$DPID")
    elif [ "${impl#txfloor-}" != "$impl" ]; then
        [ -x "$TXFLOOR" ] || die "no $TXFLOOR (cargo build --release --example tx_floor)"
        local a; a=$(ip -n "$(ns "$h")" -4 -o addr show dev eth0 | awk '{print $4; exit}')
        start "$h" "$impl-$h.log" ${WRAP:-} "$TXFLOOR" "${impl#txfloor-}" "$f" "${a%/*}"
        DPID=$LASTPID; DPIDS=("$DPID")
    else
        rm -f "$DIR/ka-$h".*.pid
        start "$h" "$impl-$h.log" "$KEEPALIVED" -n -l -G -P -f "$f" \
            -p "$DIR/ka-$h.main.pid" -r "$DIR/ka-$h.vrrp.pid" -c "$DIR/ka-$h.checkers.pid"
        DPID=$LASTPID
        wait_until 5 test -s "$DIR/ka-$h.vrrp.pid" || die "keepalived on $h did not start its VRRP child"
        DPIDS=("$DPID" "$(cat "$DIR/ka-$h.vrrp.pid")")
    fi
}
stop_daemon() { # pid host: SIGTERM and wait (keepalived's VRRP child too)
    stop_pid "$1"
    local f="$DIR/ka-$2.vrrp.pid"
    if [ -f "$f" ]; then local c; c=$(cat "$f"); kill -0 "$c" 2>/dev/null && stop_pid "$c"; rm -f "$DIR/ka-$2".*.pid; fi
    # any address a daemon left behind (none expected)
    ip -n "$(ns "$2")" -4 addr show dev eth0 2>/dev/null | awk '/inet 10\.99\.(0\.50|1\.)/{print $2}' |
        while read -r a; do ip -n "$(ns "$2")" addr del "$a" dev eth0; done
    return 0
}

ticks() { local s=0 p; for p in "$@"; do s=$(( s + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$s"; }
# System-mode ticks only (field 15): the kernel's share, which includes the softirq work of
# delivering each sent advert through the veth pair and the bridge.
sticks() { local s=0 p; for p in "$@"; do s=$(( s + $(awk '{print $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$s"; }
# Nanoseconds the processes' main threads (vipd's engine, keepalived's VRRP loop) spent runnable
# but waiting for a CPU (schedstat field 2).
rq_wait_ns() { local p; for p in "$@"; do cat /proc/"$p"/task/"$p"/schedstat 2>/dev/null; done | awk '{s+=$2} END{printf "%.0f", s}'; }
# Ticks the hypervisor stole from this VM's CPUs (all CPUs, /proc/stat's steal column): time
# the guest was runnable but not running, a stall of the machine itself.
steal() { awk '/^cpu /{print $9}' /proc/stat; }
rss_kb() { local s=0 p v; for p in "$@"; do v=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null); s=$(( s + ${v:-0} )); done; echo "$s"; }

capture() { # host name filter -> CPID
    start "$1" "$2.tcpdump.log" tcpdump -i eth0 -B 16384 -n -w "$DIR/$2.pcap" "$3"
    CPID=$LASTPID
    wait_until 5 grep -q "listening on" "$DIR/$2.tcpdump.log" || die "tcpdump did not start"
}
stop_capture() { # pid name -> text dump in $DIR/name.txt; prints kernel drops
    stop_pid "$1" INT
    tcpdump -tt -n -r "$DIR/$2.pcap" 2>/dev/null >"$DIR/$2.txt"
    awk '/dropped by kernel/{print $1}' "$DIR/$2.tcpdump.log"
}
now() { date +%s.%N; }
name_of() { case $1 in vipd) echo "vipd" ;; floor-*) echo "vipd master, receive floor ${1#floor-}" ;; txfloor-*) echo "send floor ${1#txfloor-}, vipd backup" ;; *) echo "keepalived 2.2.7" ;; esac; }

# ---------- 1. failover ----------
failover() {
    echo "== failover: v3, 100 ms adverts, r1 priority 150 master, r2 priority 80; client pings the VIP every 2 ms =="
    echo "   link down: bound = MDI 368.75 ms after r1's last advert seen by r2;"
    echo "   SIGTERM:   bound = Skew_Time 68.75 ms after r1's priority-0 advert; $TRIALS trials each"
    echo "   overshoot: the client's first reply after the outage past the bound; on the wire: r2's first advert past it"
    local rows=() impl kind k
    for impl in vipd ka; do
        lab_up r1=10.99.0.11 r2=10.99.0.12 c=10.99.0.100
        daemon "$impl" r1 150 100 1 "10.99.0.50"; local r1=$DPID
        wait_until 5 only_holder r1 r2 10.99.0.50 || die "$impl: r1 never became master"
        daemon "$impl" r2 80 100 1 "10.99.0.50"; local r2=$DPID
        sleep 1
        for kind in link sigterm; do
            local outs=() overs=() wires=()
            for k in $(seq "$TRIALS"); do
                local tag="fo-$impl-$kind-$k" bound=368.75
                [ "$kind" = sigterm ] && bound=68.75
                capture r2 "$tag" "ip proto 112"
                start c "$tag.pings" "$PY" "$HERE/pinger.py" 10.99.0.50 0.002 2.5
                local ppid=$LASTPID
                sleep 1
                local tf; tf=$(now)
                if [ "$kind" = link ]; then ip -n "$(ns r1)" link set eth0 down; else kill -TERM "$r1"; fi
                wait "$ppid" 2>/dev/null
                stop_capture "$CPID" "$tag" >/dev/null
                read -r o s < <("$PY" "$HERE/analyze.py" failover "$DIR/$tag.txt" "$DIR/$tag.pings" "$tf" "$bound")
                local w; w=$("$PY" "$HERE/analyze.py" takeover "$DIR/$tag.txt" "$tf" "$kind" "$bound")
                outs+=("$o"); overs+=("$s"); wires+=("$w")
                printf '   %-10s %-7s trial %d: outage %s ms, overshoot %s ms, on the wire %s ms\n' "$(name_of "$impl")" "$kind" "$k" "$o" "$s" "$w"
                # back to r1 master
                if [ "$kind" = link ]; then
                    ip -n "$(ns r1)" link set eth0 up
                else
                    stop_daemon "$r1" r1
                    daemon "$impl" r1 150 100 1 "10.99.0.50"; r1=$DPID
                fi
                wait_until 10 only_holder r1 r2 10.99.0.50 || echo "   (r1 did not take the VIP back)"
                sleep 1
            done
            rows+=("$(printf '| %s | %s | %s | %s | %s |' "$(name_of "$impl")" \
                "$([ "$kind" = link ] && echo "link down (MDI 368.75 ms)" || echo "SIGTERM (skew 68.75 ms)")" \
                "$("$PY" "$HERE/analyze.py" summary "${outs[@]}")" "$("$PY" "$HERE/analyze.py" summary "${overs[@]}")" \
                "$("$PY" "$HERE/analyze.py" summary "${wires[@]}")")")
        done
        stop_daemon "$r1" r1; stop_daemon "$r2" r2
        lab_down
    done
    echo
    echo "| implementation | failure | outage ms: median (range), n | overshoot ms (client's view): median (range), n | takeover overshoot on the wire ms: median (range), n |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
}

# ---------- 2. scale ----------
scale_run() { # impl count interval_ms scrape(0|1) -> one table row in ROW
    local impl=$1 cnt=$2 iv=$3 scrape=$4
    # the floor cases: vipd is the master, the floor program listens in r2's place
    local mimpl=$impl; [ "${impl#floor-}" != "$impl" ] && mimpl=vipd
    # the send floor cases: the floor program sends in r1's place (no VIPs), vipd is the backup
    local bimpl=$impl; [ "${impl#txfloor-}" != "$impl" ] && bimpl=vipd
    daemon "$mimpl" r1 150 "$iv" "$cnt" "10.99.1.%d"; local r1=$DPID; local r1p=("${DPIDS[@]}")
    if [ "$bimpl" = "$impl" ]; then
        wait_until 30 vips_are r1 "$cnt" || echo "   ($impl: r1 holds only $(vips_on r1 1) of $cnt VIPs)"
    fi
    daemon "$bimpl" r2 80 "$iv" "$cnt" "10.99.1.%d"; local r2=$DPID; local r2p=("${DPIDS[@]}")
    # SIDE: a second backup on r3, hearing the same adverts at the same moments as r2
    local r3="" r3p=()
    if [ -n "${SIDE:-}" ]; then
        local keep=$VIPD; VIPD=${SIDE_BIN:-$VIPD}
        daemon "$SIDE" r3 70 "$iv" "$cnt" "10.99.1.%d"; r3=$DPID; r3p=("${DPIDS[@]}")
        VIPD=$keep
    fi
    sleep 3
    local spid=""
    if [ "$scrape" = 1 ]; then
        start r1 scrape.log bash -c 'while :; do curl -s -o /dev/null http://127.0.0.1:9797/metrics; sleep 0.05; done'
        spid=$LASTPID; sleep 1
    fi
    local tag="sc-$impl-$cnt-$iv-$scrape"
    capture m "$tag" "ip proto 112"
    local t0 m0 b0 t1 m1 b1 q0 q1
    [ "$mimpl" = vipd ] && nx r1 curl -s -o "$DIR/$tag.m0" http://127.0.0.1:9797/metrics
    local w0 w1; w0=$(ticks "${SWPIDS[@]}")
    t0=$(now); m0=$(ticks "${r1p[@]}"); b0=$(ticks "${r2p[@]}"); q0=$(rq_wait_ns "${r1p[@]}")
    local ms0 bs0 ms1 bs1 st0 st1; ms0=$(sticks "${r1p[@]}"); bs0=$(sticks "${r2p[@]}"); st0=$(steal)
    local c0=0 cs0=0 c1=0 cs1=0
    [ -n "$r3" ] && { c0=$(ticks "${r3p[@]}"); cs0=$(sticks "${r3p[@]}"); }
    # the control: a trivial 5 ms timer loop on the same machine (in the host namespace)
    "$PY" "$HERE/probe.py" "$WINDOW" "$DIR/$tag.stalls" >"$DIR/$tag.probe" &
    local prpid=$!; PIDS+=("$prpid")
    sleep "$WINDOW"
    wait "$prpid" 2>/dev/null
    t1=$(now); m1=$(ticks "${r1p[@]}"); b1=$(ticks "${r2p[@]}"); q1=$(rq_wait_ns "${r1p[@]}")
    w1=$(ticks "${SWPIDS[@]}")
    ms1=$(sticks "${r1p[@]}"); bs1=$(sticks "${r2p[@]}"); st1=$(steal)
    [ -n "$r3" ] && { c1=$(ticks "${r3p[@]}"); cs1=$(sticks "${r3p[@]}"); }
    local rss1 rss2; rss1=$(rss_kb "${r1p[@]}"); rss2=$(rss_kb "${r2p[@]}")
    # vipd's own view: timers handled more than 2 / 10 ms after their deadline, in the window
    local lateness="n/a"
    if [ "$mimpl" = vipd ]; then
        nx r1 curl -s -o "$DIR/$tag.m1" http://127.0.0.1:9797/metrics
        lateness=$("$PY" "$HERE/analyze.py" lateness "$DIR/$tag.m0" "$DIR/$tag.m1")
    fi
    local scrapes=""
    [ -n "$spid" ] && { stop_pid "$spid"; }
    local drops; drops=$(stop_capture "$CPID" "$tag")
    local r; r=$("$PY" "$HERE/analyze.py" rhythm "$DIR/$tag.txt" 10.99.0.11 "$iv" "$t0" "$t1" "$DIR/$tag.stalls")
    read -r per gap late spur nv worst expl <<<"$r"
    local pn p2 p10 pmax; read -r pn p2 p10 pmax <"$DIR/$tag.probe"
    local dt; dt=$("$PY" -c "print($t1-$t0)")
    local cm cb; cm=$("$PY" -c "print('%.1f' % (($m1-$m0)/$HZ/$dt*100))"); cb=$("$PY" -c "print('%.1f' % (($b1-$b0)/$HZ/$dt*100))")
    local rq; rq=$("$PY" -c "print('%.1f' % (($q1-$q0)/1e6/$dt))")
    local stl; stl=$("$PY" -c "print('%.1f' % (($st1-$st0)/$HZ*1e3/$dt))")
    # CPU per 1,000 adverts on the wire (sent by r1, received by r2), total (sys), ms
    local pk; pk=$("$PY" -c "print('%.1f (%.1f) / %.1f (%.1f)' % tuple(x/$HZ*1e3/max(1e-9,$per*$dt/1e3) for x in (($m1-$m0), ($ms1-$ms0), ($b1-$b0), ($bs1-$bs0))))")
    ROW=$(printf '| %s | %d x %d ms%s | %d | %s | %s | %s (VRID %s) | %s | %s | %s %% | %s %% | %s | %s | %s | %s | %s | %.1f / %.1f MB | %s |\n' \
        "$(name_of "$impl")" "$cnt" "$iv" "$([ "$scrape" = 1 ] && echo ", /metrics 20/s")" \
        $(( cnt * 1000 / iv )) "$per" "$nv" "$gap" "$worst" "$late ($expl)" "$spur" "$cm" "$cb" "$pk" "$rq" "$lateness" "$p10 / $pmax ms" "$stl" \
        "$("$PY" -c "print($rss1/1024)")" "$("$PY" -c "print($rss2/1024)")" "${drops:-?}")
    echo "$ROW"
    switch_line "$impl:$cnt:$iv:$scrape" "$w0" "$w1" "$dt"
    if [ -n "$r3" ]; then
        # the same window and the same adverts: r2's and r3's figures compare without the
        # noise between runs
        "$PY" -c "
d=$per*$dt/1e3; f=lambda x: x/$HZ*1e3/max(1e-9,d)
print('   same adverts, same window: backup r2 (%s) %.1f (%.1f), backup r3 (%s) %.1f (%.1f) ms per 1,000 received (sys); r3 / r2 %.2f; RSS r3 %.1f MB' % (
  '$bimpl', f($b1-$b0), f($bs1-$bs0), '$SIDE ${SIDE_BIN:-}'.strip() if '$SIDE' == 'vipd' else '$SIDE', f($c1-$c0), f($cs1-$cs0), ($c1-$c0)/max(1,$b1-$b0), $(rss_kb "${r3p[@]}")/1024))"
        stop_daemon "$r3" r3
    fi
    stop_daemon "$r2" r2; stop_daemon "$r1" r1
    sleep 1
}
scale() {
    echo "== scale: N v3 instances, r1 (prio 150) master of all, r2 (prio 80) backup; capture on a third host for ${WINDOW} s =="
    local side=(); [ -n "${SIDE:-}" ] && side=(r3=10.99.0.13)
    lab_up r1=10.99.0.11 r2=10.99.0.12 "${side[@]}" m=10.99.0.200
    local rows=() c
    for c in $CASES; do
        scale_run ${c//:/ }; rows+=("$ROW")
    done
    lab_down
    echo
    echo "| implementation | instances x interval | adverts/s expected | adverts/s on the wire (r1) | VRIDs heard | longest gap of one VRID ms | gaps > 1.5 x interval (of them during a probe stall) | spurious adverts from backup | master CPU | backup CPU | CPU ms per 1,000 adverts, master sent (of it sys) / backup received (of it sys) | master main thread run-queue wait ms/s | master timers late > 2 ms / > 10 ms (vipd's histogram) | control probe: wake-ups > 10 ms late / worst | VM steal ms/s (both CPUs) | RSS master / backup | capture drops |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
}

# ---------- 3. flood ----------
flood() {
    echo "== flood: v3, 100 ms adverts, r1 master (150), r2 backup (80); x sends ~50k garbage proto-112 packets/s for 5 s =="
    local rows=() impl
    for impl in vipd ka; do
        lab_up r1=10.99.0.11 r2=10.99.0.12 m=10.99.0.200 x=10.99.0.66
        daemon "$impl" r1 150 100 1 "10.99.0.50"; local r1=$DPID
        wait_until 5 only_holder r1 r2 10.99.0.50 || die "$impl: r1 never became master"
        daemon "$impl" r2 80 100 1 "10.99.0.50"; local r2=$DPID
        sleep 1
        local tag="fl-$impl"
        capture m "$tag" "ip proto 112 and (src host 10.99.0.11 or src host 10.99.0.12)"
        local t0; t0=$(now)
        sleep 1
        local fs fe sent
        read -r fs fe sent < <(nx x "$PY" "$HERE/flood.py" 10.99.0.66 1 50000 5)
        sleep 1
        local t1; t1=$(now)
        stop_capture "$CPID" "$tag" >/dev/null
        local before during
        before=$("$PY" "$HERE/analyze.py" rhythm "$DIR/$tag.txt" 10.99.0.11 100 "$t0" "$fs")
        during=$("$PY" "$HERE/analyze.py" rhythm "$DIR/$tag.txt" 10.99.0.11 100 "$fs" "$fe")
        local rate; rate=$("$PY" -c "print(int($sent/($fe-$fs)))")
        local tko; tko=$(grep -c -E "BACKUP -> MASTER|Entering MASTER STATE" "$DIR/$impl-r2.log")
        rows+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$(name_of "$impl")" "$rate" \
            "$(echo "$before" | awk '{print $2}')" "$(echo "$during" | awk '{print $2}')" \
            "$(echo "$during" | awk '{print $1}')" "$(echo "$during" | awk '{print $4}') (takeovers logged: $tko)")")
        echo "${rows[-1]}"
        stop_daemon "$r2" r2; stop_daemon "$r1" r1
        lab_down
    done
    echo
    echo "| implementation | garbage packets/s sent | longest advert gap before ms | longest advert gap during flood ms | master adverts/s during flood | adverts from backup during flood |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
}

# ---------- 4. scrape ----------
# Does scraping /metrics delay adverts? vipd 250 x 10 ms with the same two daemons throughout,
# alternating windows without and with a keep-alive scraper (scraper.py) at SCRAPE_RATE/s.
# Two control probes (probe.py), one pinned to each CPU, record when the machine itself stalls.
scrape() {
    local cnt=250 iv=10 rounds=${ROUNDS:-3} w=$WINDOW
    echo "== scrape: vipd $cnt x $iv ms${WRAP:+ under '$WRAP'}, r1 master, r2 backup; $rounds rounds of $w s without, then $w s with /metrics scraped ${SCRAPE_RATE}/s from r1 =="
    lab_up r1=10.99.0.11 r2=10.99.0.12 m=10.99.0.200
    daemon vipd r1 150 "$iv" "$cnt" "10.99.1.%d"; local r1=$DPID
    wait_until 30 vips_are r1 "$cnt" || echo "   (r1 holds only $(vips_on r1 1) of $cnt VIPs)"
    daemon vipd r2 80 "$iv" "$cnt" "10.99.1.%d"
    sleep 3
    local tag=scrape c
    capture m "$tag" "ip proto 112"
    local total=$(( rounds * 2 * w + 4 ))
    local probes=()
    for c in $(seq 0 $(( $(nproc) - 1 ))); do
        taskset -c "$c" "$PY" "$HERE/probe.py" "$total" "$DIR/$tag.stalls.$c" >"$DIR/$tag.probe.$c" &
        PIDS+=($!); probes+=($!)
    done
    sleep 1
    local wins=() k mode t0 t1 q0 q1
    for k in $(seq "$rounds"); do
        for mode in off on; do
            local wt="$tag.$k.$mode"
            nx r1 curl -s -o "$DIR/$wt.m0" http://127.0.0.1:9797/metrics
            q0=$(rq_wait_ns "$r1"); t0=$(now)
            if [ "$mode" = on ]; then
                nx r1 "$PY" "$HERE/scraper.py" 127.0.0.1 9797 "$SCRAPE_RATE" "$w" >"$DIR/$wt.scraper"
            else
                sleep "$w"; echo "0 0 0 0 0" >"$DIR/$wt.scraper"
            fi
            t1=$(now); q1=$(rq_wait_ns "$r1")
            nx r1 curl -s -o "$DIR/$wt.m1" http://127.0.0.1:9797/metrics
            wins+=("$k $mode $t0 $t1 $q0 $q1")
        done
    done
    wait "${probes[@]}"
    stop_capture "$CPID" "$tag" >/dev/null
    cat "$DIR/$tag".stalls.* >"$DIR/$tag.stalls"
    echo
    echo "| round | /metrics scraped | scrapes (mean / max ms) | adverts/s | gaps > 15 ms (of them during a probe stall) | longest gap ms | spurious adverts from backup | engine timers late > 2 ms / > 10 ms | engine run-queue wait ms/s | probe wake-ups > 10 ms late / worst ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    local wdef
    for wdef in "${wins[@]}"; do
        read -r k mode t0 t1 q0 q1 <<<"$wdef"
        local wt="$tag.$k.$mode" per gap late spur nv worst expl sn sf ssz smean smax
        read -r per gap late spur nv worst expl < <("$PY" "$HERE/analyze.py" rhythm "$DIR/$tag.txt" 10.99.0.11 "$iv" "$t0" "$t1" "$DIR/$tag.stalls")
        read -r sn sf ssz smean smax <"$DIR/$wt.scraper"
        printf '| %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s |\n' "$k" \
            "$([ "$mode" = on ] && echo "${SCRAPE_RATE}/s" || echo "no")" \
            "$([ "$mode" = on ] && echo "$sn, $sf failed, $((ssz / 1024)) KiB ($smean / $smax)" || echo "-")" \
            "$per" "$late" "$expl" "$gap" "$spur" \
            "$("$PY" "$HERE/analyze.py" lateness "$DIR/$wt.m0" "$DIR/$wt.m1")" \
            "$("$PY" -c "print('%.1f' % (($q1-$q0)/1e6/($t1-$t0)))")" \
            "$("$PY" "$HERE/analyze.py" stalls "$DIR/$tag.stalls" "$t0" "$t1")"
    done
    lab_down
    echo
}

# ---------- 5. handover (issue 13) ----------
# Planned moves of the VIP with an HTTP service on it: a client pings the VIP every 1 ms and
# opens a new HTTP request every 10 ms through (a) SIGTERM on the master, (b) drain (vipd
# only: keepalived has none), (c) preempt back (after a restart, an undrain, a script
# recovering), (d) a check script lowering the master's priority below the backup's.
HO_FILE_FMT="$DIR/ho-%s.down"   # a check script fails while this file exists
ho_conf() { # impl host priority interval_ms -> config file path in CONF
    local impl=$1 h=$2 prio=$3 iv=$4 flag; flag=$(printf "$HO_FILE_FMT" "$h")
    CONF="$DIR/ho-$impl-$h.conf"
    if [ "$impl" = vipd ]; then
        printf 'listen: "127.0.0.1:9797"
scripts:
  down:
    command: ["/usr/bin/test", "!", "-e", "%s"]
    interval: 1s
    weight: -100
instances:
  VI_1:
    interface: eth0
    vrid: 50
    priority: %d
    advert_interval: %s
    track_scripts: [down]
    virtual_ipaddress: ["10.99.0.50/24"]
' \
            "$flag" "$prio" "$(iv_yaml "$iv")" >"$CONF"
        "$VIPD" check -c "$CONF" >/dev/null || die "vipd rejects $CONF"
    else
        printf 'global_defs {
    router_id %s
    vrrp_version 3
    vrrp_garp_master_delay 1
    script_user root
    enable_script_security
}
vrrp_script down {
    script "/usr/bin/test ! -e %s"
    interval 1
    weight -100
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 50
    priority %d
    advert_int %s
    track_script {
        down
    }
    virtual_ipaddress {
        10.99.0.50/24
    }
}
' \
            "$h" "$flag" "$prio" "$(iv_ka "$iv")" >"$CONF"
        "$KEEPALIVED" -t -f "$CONF" >/dev/null 2>&1 || die "keepalived rejects $CONF"
    fi
}
ho_daemon() { # impl host priority interval_ms -> DPID
    local impl=$1 h=$2
    ho_conf "$@"
    if [ "$impl" = vipd ]; then
        rm -f "$DIR/ho-$h.sock"
        VIPD_LOG=info start "$h" "ho-$impl-$h.log" ${WRAP:-} "$VIPD" run -c "$CONF" --control-socket "$DIR/ho-$h.sock"
        DPID=$LASTPID
        wait_until 5 test -S "$DIR/ho-$h.sock" || die "vipd on $h did not start"
    else
        rm -f "$DIR/ka-$h".*.pid
        start "$h" "ho-$impl-$h.log" "$KEEPALIVED" -n -l -G -P -f "$CONF" \
            -p "$DIR/ka-$h.main.pid" -r "$DIR/ka-$h.vrrp.pid" -c "$DIR/ka-$h.checkers.pid"
        DPID=$LASTPID
        wait_until 5 test -s "$DIR/ka-$h.vrrp.pid" || die "keepalived on $h did not start its VRRP child"
    fi
}
# One measured move: starts the client for HO_WINDOW s, runs the action ($2...) after 1 s,
# waits until $1 is the only holder and the window is over; the figures (handover.py) in HO.
ho_trial() {
    local want=$1; shift
    local tag="ho-$N"; N=$((N + 1))
    rm -f "$DIR/$tag.stop"
    # Real-time scheduling for the measuring client, so that its own pauses on this small
    # machine do not pass for outages (its longest pause is printed beside the gap).
    start c "$tag.pings" chrt -f 10 "$PY" "$HERE/pinger.py" 10.99.0.50 0.001 "$HO_WINDOW"
    local ppid=$LASTPID
    start c "$tag.http" "$PY" "$HERE/httpclient.py" 10.99.0.50 8080 /who 0.01 1 "$DIR/$tag.stop"
    local hpid=$LASTPID
    sleep 1
    "$@"
    local other=r2; [ "$want" = r2 ] && other=r1
    wait_until 15 only_holder "$want" "$other" 10.99.0.50 || echo "   ($want never became the only holder)"
    wait "$ppid" 2>/dev/null
    touch "$DIR/$tag.stop"; wait "$hpid" 2>/dev/null
    HO=$("$PY" "$HERE/handover.py" "$DIR/$tag.pings" 0.001 "$DIR/$tag.http")
}
ho_ctl() { "$VIPD" "$1" --control-socket "$DIR/ho-r1.sock" >>"$DIR/ho-ctl.log" 2>&1 || echo "   (vipd $1 failed)"; }
handover() {
    echo "== handover: v3, r1 priority 150 master, r2 100; HTTP on both; client pings every 1 ms, new HTTP request every 10 ms =="
    local rows=() impl iv
    N=0
    for iv in 1000 100; do
        # long enough for a preemption (a script interval, then Master_Down_Interval)
        HO_WINDOW=$([ "$iv" = 1000 ] && echo 8 || echo 4)
        for impl in vipd ka; do
            lab_up r1=10.99.0.11 r2=10.99.0.12 c=10.99.0.100
            local h
            for h in r1 r2; do
                mkdir -p "$DIR/www-$h"; echo "$h" >"$DIR/www-$h/who"
                start "$h" "http-$h.log" "$PY" -m http.server 8080 --bind 0.0.0.0 -d "$DIR/www-$h"
            done
            rm -f "$DIR"/ho-*.down
            ho_daemon "$impl" r1 150 "$iv"; local r1=$DPID
            wait_until 10 only_holder r1 r2 10.99.0.50 || die "$impl: r1 never became master"
            ho_daemon "$impl" r2 100 "$iv"; local r2=$DPID
            sleep 2
            local name; name="$(name_of "$impl") ${iv} ms"
            ho_trial r1 true
            rows+=("| $name | (0) no move (the client's floor) | $HO |")
            ho_trial r2 stop_daemon "$r1" r1
            rows+=("| $name | (a) SIGTERM on the master | $HO |")
            ho_daemon "$impl" r1 150 "$iv"; r1=$DPID
            ho_trial r1 true
            rows+=("| $name | (c) preempt back (restart) | $HO |")
            if [ "$impl" = vipd ]; then
                sleep 1
                ho_trial r2 ho_ctl drain
                rows+=("| $name | (b) drain | $HO |")
                ho_trial r1 ho_ctl undrain
                rows+=("| $name | (c) preempt back (undrain) | $HO |")
            else
                rows+=("| $name | (b) drain | n/a (keepalived has no drain) | | | | | | |")
            fi
            sleep 1
            ho_trial r2 touch "$(printf "$HO_FILE_FMT" r1)"
            rows+=("| $name | (d) script lowers the master to 50 | $HO |")
            ho_trial r1 rm -f "$(printf "$HO_FILE_FMT" r1)"
            rows+=("| $name | (c) preempt back (script recovers) | $HO |")
            stop_daemon "$r1" r1; stop_daemon "$r2" r2
            lab_down
        done
    done
    echo
    echo "| implementation, advert interval | move | longest ping gap ms | lost pings | failed new connections | requests broken in flight | requests | longest wait for an answer ms | longest pause of the pinger ms |"
    echo "|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
}

# ---------- 6. stretch: 1,000 instances over four LANs ----------
# r1 and r2 each have eth0..eth3, one per LAN (bridges br0..br3 in the switch namespace,
# 10.99.20+k.0/24), 250 instances per LAN (VRIDs 1-250, VIPs 10.99.30+k.i); m captures LAN 0.
lab4_up() {
    local sw k h n last; sw=$(ns sw)
    ip netns add "$sw"; NSES+=("$sw")
    for k in 0 1 2 3; do
        ip -n "$sw" link add "br$k" type bridge mcast_snooping 0
        ip -n "$sw" link set "br$k" up
    done
    for h in r1 r2 m; do n=$(ns "$h"); ip netns add "$n"; NSES+=("$n"); ip -n "$n" link set lo up; done
    for h in r1 r2; do
        n=$(ns "$h"); last=11; [ "$h" = r2 ] && last=12
        for k in 0 1 2 3; do
            ip link add "eth$k" netns "$n" type veth peer name "p$h$k" netns "$sw"
            ip -n "$sw" link set "p$h$k" master "br$k" up
            ip -n "$n" link set "eth$k" up
            ip -n "$n" addr add "10.99.$((20 + k)).$last/24" dev "eth$k"
        done
    done
    ip link add eth0 netns "$(ns m)" type veth peer name pm0 netns "$sw"
    ip -n "$sw" link set pm0 master br0 up
    ip -n "$(ns m)" link set eth0 up
    ip -n "$(ns m)" addr add 10.99.20.200/24 dev eth0
    switch_tune "$sw"
}
conf4() { # impl file host priority interval_ms per_lan
    local impl=$1 f=$2 h=$3 prio=$4 iv=$5 per=$6 k i
    if [ "$impl" = vipd ]; then
        { echo 'listen: "127.0.0.1:9797"'; echo "instances:"
          for k in 0 1 2 3; do for i in $(seq "$per"); do
            printf '  VI_%d_%d:\n    interface: eth%d\n    vrid: %d\n    priority: %d\n    advert_interval: %s\n    virtual_ipaddress: ["10.99.%d.%d/24"]\n' \
                "$k" "$i" "$k" "$i" "$prio" "$(iv_yaml "$iv")" $((30 + k)) "$i"
          done; done; } >"$f"
        "$VIPD" check -c "$f" >/dev/null || die "vipd rejects $f"
    else
        { printf 'global_defs {\n    router_id %s\n    vrrp_version 3\n    vrrp_garp_master_delay 1\n' "$h"
          [ -n "${KA_RT:-}" ] && printf '    vrrp_rt_priority %s\n    vrrp_rlimit_rtime 5000000\n' "$KA_RT"
          printf '}\n'
          for k in 0 1 2 3; do for i in $(seq "$per"); do
            printf 'vrrp_instance VI_%d_%d {\n    state BACKUP\n    interface eth%d\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n    virtual_ipaddress {\n        10.99.%d.%d/24\n    }\n}\n' \
                "$k" "$i" "$k" "$i" "$prio" "$(iv_ka "$iv")" $((30 + k)) "$i"
          done; done; } >"$f"
        # keepalived checks that the interfaces exist: in the host's namespace
        nx "$h" "$KEEPALIVED" -t -f "$f" >/dev/null 2>&1 || die "keepalived rejects $f"
    fi
}
vips4_on() { ip -n "$(ns "$1")" -4 addr show | grep -c "inet 10\.99\.3[0-3]\." ; }
vips4_are() { [ "$(vips4_on "$1")" -ge "$2" ]; }
# Frames the switch received from host h on its four ports (what h sent).
port_rx() { local h=$1 k s=0 v; for k in 0 1 2 3; do v=$(nx sw cat "/sys/class/net/p$h$k/statistics/rx_packets"); s=$(( s + v )); done; echo "$s"; }
stretch_run() { # impl per_lan interval_ms -> ROW
    local impl=$1 per=$2 iv=$3 cnt=$(( 4 * $2 ))
    lab4_up
    conf4 "$impl" "$DIR/$impl-r1.conf" r1 150 "$iv" "$per"
    conf4 "$impl" "$DIR/$impl-r2.conf" r2 80 "$iv" "$per"
    daemon_start "$impl" r1 "$DIR/$impl-r1.conf"; local r1=$DPID r1p=("${DPIDS[@]}")
    wait_until 60 vips4_are r1 "$cnt" || echo "   ($impl: r1 holds only $(vips4_on r1) of $cnt VIPs)"
    local r2="" r2p=()
    if [ -z "${NO_BACKUP:-}" ]; then
        daemon_start "$impl" r2 "$DIR/$impl-r2.conf"; r2=$DPID; r2p=("${DPIDS[@]}")
    fi
    sleep 5
    local tag="st-$impl-$cnt-$iv"
    capture m "$tag" "ip proto 112"
    [ "$impl" = vipd ] && nx r1 curl -s -o "$DIR/$tag.m0" http://127.0.0.1:9797/metrics
    local t0 t1 m0 m1 b0 b1 ms0 ms1 f0 f1 g0 g1 q0 q1
    local w0 w1; w0=$(ticks "${SWPIDS[@]}")
    t0=$(now); m0=$(ticks "${r1p[@]}"); b0=$(ticks "${r2p[@]}"); ms0=$(sticks "${r1p[@]}"); q0=$(rq_wait_ns "${r1p[@]}")
    f0=$(port_rx r1); g0=$(port_rx r2)
    "$PY" "$HERE/probe.py" "$WINDOW" "$DIR/$tag.stalls" >"$DIR/$tag.probe" &
    local prpid=$!; PIDS+=("$prpid")
    sleep "$WINDOW"
    wait "$prpid" 2>/dev/null
    t1=$(now); m1=$(ticks "${r1p[@]}"); b1=$(ticks "${r2p[@]}"); ms1=$(sticks "${r1p[@]}"); q1=$(rq_wait_ns "${r1p[@]}")
    w1=$(ticks "${SWPIDS[@]}")
    f1=$(port_rx r1); g1=$(port_rx r2)
    local rss1; rss1=$(rss_kb "${r1p[@]}")
    local lateness="n/a"
    if [ "$impl" = vipd ]; then
        nx r1 curl -s -o "$DIR/$tag.m1" http://127.0.0.1:9797/metrics
        lateness=$("$PY" "$HERE/analyze.py" lateness "$DIR/$tag.m0" "$DIR/$tag.m1")
    fi
    local drops; drops=$(stop_capture "$CPID" "$tag")
    local r; r=$("$PY" "$HERE/analyze.py" rhythm "$DIR/$tag.txt" 10.99.20.11 "$iv" "$t0" "$t1" "$DIR/$tag.stalls")
    read -r per0 gap late spur nv worst expl <<<"$r"
    local pn p2 p10 pmax; read -r pn p2 p10 pmax <"$DIR/$tag.probe"
    local dt; dt=$("$PY" -c "print($t1-$t0)")
    local rate; rate=$("$PY" -c "print('%.0f' % (($f1-$f0)/$dt))")
    local from2; from2=$(( g1 - g0 ))
    local cm; cm=$("$PY" -c "print('%.1f' % (($m1-$m0)/$HZ/$dt*100))")
    local cb; cb=$("$PY" -c "print('%.1f' % (($b1-$b0)/$HZ/$dt*100))")
    local pk; pk=$("$PY" -c "print('%.1f (%.1f)' % tuple(x/$HZ*1e3/max(1e-9,($f1-$f0)/1e3) for x in (($m1-$m0), ($ms1-$ms0))))")
    local rq; rq=$("$PY" -c "print('%.1f' % (($q1-$q0)/1e6/$dt))")
    ROW=$(printf '| %s | %d x %d ms (4 LANs) | %d | %s | %s | %s (VRID %s) | %s (%s) | %s | %s | %s %% | %s %% | %s | %s | %s | %s / %s ms | %.1f MB | %s |' \
        "$(name_of "$impl")" "$cnt" "$iv" $(( cnt * 1000 / iv )) "$rate" "$per0" "$gap" "$worst" "$late" "$expl" "$spur" "$from2" \
        "$cm" "$cb" "$pk" "$rq" "$lateness" "$p10" "$pmax" "$("$PY" -c "print($rss1/1024)")" "${drops:-?}")
    echo "$ROW"
    switch_line "$impl:$per:$iv" "$w0" "$w1" "$dt"
    [ -n "$r2" ] && stop_daemon "$r2" r2
    stop_daemon "$r1" r1
    lab_down
    sleep 1
}
stretch() {
    # STRETCH: cases as impl:per_lan:interval_ms (default 1,000 instances at 10 ms, both);
    # NO_BACKUP=1: r1 alone (what one master on one core can send, without a backup's load).
    local cases=${STRETCH:-"vipd:250:10 ka:250:10"} rows=() c
    echo "== stretch: 4 LANs x N v3 instances, r1 (150) master of all, r2 (80) backup; adverts counted at the switch, LAN 0 captured; ${WINDOW} s =="
    for c in $cases; do stretch_run ${c//:/ }; rows+=("$ROW"); done
    echo
    echo "| implementation | instances x interval | adverts/s expected | adverts/s sent by r1 (all LANs, at the switch) | adverts/s on LAN 0 (captured) | longest gap of one VRID on LAN 0 ms | gaps > 1.5 x interval on LAN 0 (of them during a probe stall) | spurious adverts on LAN 0 | frames from r2 (all LANs) | master CPU | backup CPU | master CPU ms per 1,000 adverts sent (of it sys) | master main thread run-queue wait ms/s | master timers late > 2 ms / > 10 ms | control probe: > 10 ms late / worst | RSS master | capture drops |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
}

# ---------- main ----------
if [ -z "${VIPD_BIN:-}" ]; then
    echo "building (cargo build --release)..."
    (cd "$ROOT" && cargo build --release -q) || die "build failed"
fi
if [ -z "${FLOOR_BIN:-}" ] && [[ " $CASES" == *" floor-"* ]]; then
    echo "building (cargo build --release --example rx_floor)..."
    (cd "$ROOT" && cargo build --release -q --example rx_floor) || die "build failed"
fi
if [ -z "${TXFLOOR_BIN:-}" ] && [[ " $CASES" == *" txfloor-"* ]]; then
    echo "building (cargo build --release --example tx_floor)..."
    (cd "$ROOT" && cargo build --release -q --example tx_floor) || die "build failed"
fi
echo "machine: $(nproc) CPUs, kernel $(uname -r); vipd $("$VIPD" --version 2>/dev/null | head -1); $("$KEEPALIVED" -v 2>&1 | head -1)"
echo "switch: SWITCH=$SWITCH (br_netfilter $([ -d /proc/sys/net/bridge ] && echo loaded || echo "not loaded") on this host)"
echo
[ $# -gt 0 ] || set -- failover scale flood scrape handover
for s in "$@"; do
    case $s in
        failover|scale|flood|scrape|handover|stretch) "$s" ;;
        *) die "unknown scenario $s (failover, scale, flood, scrape, handover, stretch)" ;;
    esac
done
[ "${#SWNOTES[@]}" -eq 0 ] || { echo "switch NAPI threads per case:"; printf '%s\n' "${SWNOTES[@]}"; }
