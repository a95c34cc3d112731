#!/usr/bin/env bash
# Memory of vipd and keepalived 2.2.7 in the same run, and the size of vipd's /metrics:
# N VRRPv3 instances (default 250) at IV ms (default 10), r1 (priority 150) master of all, r2
# (priority 80) backup of all, as `bench/run.sh scale`. After SETTLE seconds (default 10) and,
# for vipd, one /metrics scrape on each node (Prometheus scrapes; the HTTP side has then run),
# prints per daemon and node: VmRSS, RssAnon, RssFile, VmHWM, threads, and where the resident
# pages are (bench/smaps.py: the executable, libraries, heap, malloc arenas, thread stacks);
# then /metrics as sent plain and with `Accept-Encoding: gzip`.
#
# Root. Namespaces mm-<pid>-{sw,r1,r2}, addresses in 10.99.0.0/16 only; every process started
# is ended by pid and the namespaces are deleted at exit (also on Ctrl-C).
# Environment: N, IV, SETTLE, VIPD_BIN (default target/release/vipd, built first), KEEPALIVED,
# VIPD_ENV (extra environment for vipd, e.g. VIPD_ENV="MALLOC_ARENA_MAX=2"), IMPLS (default "vipd ka"),
# RELOADS (vipd only: that many SIGHUP reloads of both nodes after SETTLE, see reloads below),
# WRAP_R2 (a command the backup vipd runs under, e.g. WRAP_R2="heaptrack -o /tmp/x"), WRAP_R1
# (the same for the master).
# A benchmark: it prints figures and asserts nothing.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
KEEPALIVED=${KEEPALIVED:-/usr/sbin/keepalived}
N=${N:-250}
IV=${IV:-10}
SETTLE=${SETTLE:-10}
VIPD="${VIPD_BIN:-$ROOT/target/release/vipd}"
P="mm-$$"
DIR=/tmp/$P
PIDS=()
NSES=()

die() { echo "mem: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"

cleanup() {
    trap - EXIT INT TERM
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "$DIR"/*.pid; do [ -f "$p" ] && kill -TERM "$(cat "$p")" 2>/dev/null; done
    # A daemon started under WRAP_R1 or WRAP_R2 is the wrapper's child: found by this run's own directory
    # on its command line, ended by pid.
    for p in $(pgrep -f -- "$DIR/vipd-" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "$DIR"/*.pid; do [ -f "$p" ] && kill -KILL "$(cat "$p")" 2>/dev/null; done
    for p in "${NSES[@]}"; do ip netns del "$p" 2>/dev/null; done
    [ -n "${KEEP_DIR:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT
trap 'echo; echo "mem: interrupted"; exit 130' INT TERM
mkdir -p "$DIR"

ns() { echo "$P-$1"; }
lab_up() {
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
}
start() { local h=$1 log=$2; shift 2; ip netns exec "$(ns "$h")" "$@" >"$DIR/$log" 2>&1 </dev/null & LASTPID=$!; PIDS+=("$LASTPID"); }
stop_pid() {
    local p=$1 i
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    return 0
}
vips_on() { ip -n "$(ns "$1")" -4 addr show dev eth0 | grep -c "inet 10\.99\.1\." ; }
wait_vips() { local i; for i in $(seq 300); do [ "$(vips_on "$1")" -ge "$2" ] && return 0; sleep 0.1; done; return 1; }

vipd_conf() { # file priority
    local i
    { echo 'listen: "127.0.0.1:9797"'; echo "instances:"
      for i in $(seq "$N"); do
        printf '  VI_%d:\n    interface: eth0\n    vrid: %d\n    priority: %d\n    advert_interval: %sms\n    virtual_ipaddress: ["10.99.1.%d/24"]\n' \
            "$i" "$i" "$2" "$IV" "$i"
      done; } >"$1"
    "$VIPD" check -c "$1" >/dev/null || die "vipd rejects $1"
}
ka_conf() { # file router_id priority
    local i iv; iv=$(python3 -c "print($IV/1000)")
    { printf 'global_defs {\n    router_id %s\n    vrrp_version 3\n    vrrp_garp_master_delay 1\n}\n' "$2"
      for i in $(seq "$N"); do
        printf 'vrrp_instance VI_%d {\n    state BACKUP\n    interface eth0\n    virtual_router_id %d\n    priority %d\n    advert_int %s\n    virtual_ipaddress {\n        10.99.1.%d/24\n    }\n}\n' \
            "$i" "$i" "$3" "$iv" "$i"
      done; } >"$1"
    "$KEEPALIVED" -t -f "$1" >/dev/null 2>&1 || die "keepalived rejects $1"
}

# Starts impl on host with priority; sets DPIDS (the daemon's processes).
daemon() {
    local impl=$1 h=$2 prio=$3 f="$DIR/$1-$2.conf"
    if [ "$impl" = vipd ]; then
        vipd_conf "$f" "$prio"
        # shellcheck disable=SC2086
        local wrap=""; [ "$h" = r1 ] && wrap=${WRAP_R1:-}; [ "$h" = r2 ] && wrap=${WRAP_R2:-}
        # shellcheck disable=SC2086
        start "$h" "vipd-$h.log" env VIPD_LOG=info ${VIPD_ENV:-} $wrap "$VIPD" run -c "$f" \
            --control-socket "$DIR/vipd-$h.sock"
        DPIDS=("$LASTPID")
    else
        ka_conf "$f" "$h" "$prio"
        start "$h" "ka-$h.log" "$KEEPALIVED" -n -l -G -P -f "$f" \
            -p "$DIR/ka-$h.main.pid" -r "$DIR/ka-$h.vrrp.pid" -c "$DIR/ka-$h.checkers.pid"
        local i; for i in $(seq 50); do [ -s "$DIR/ka-$h.vrrp.pid" ] && break; sleep 0.1; done
        [ -s "$DIR/ka-$h.vrrp.pid" ] || die "keepalived on $h did not start its VRRP child"
        DPIDS=("$LASTPID" "$(cat "$DIR/ka-$h.vrrp.pid")")
    fi
}

# RELOADS=n: n SIGHUP reloads of both vipd nodes, one round every 0.2 s, every fifth file broken
# (a YAML error), the others changing every priority in place (r1 150/151, r2 80/81, so no
# election changes); the files are replaced atomically. Prints each daemon's open fds and VmRSS
# before and after, the address events `ip -o monitor address` saw on both nodes during the
# reloads (a flap would be one), and the reload counters of /metrics.
reloads() { # n r1-pid r2-pid
    local n=$1 p1=$2 p2=$3 i h f base
    fd_rss() { echo "fds $(find /proc/"$1"/fd -mindepth 1 -maxdepth 1 | wc -l), VmRSS $(awk '/^VmRSS/ {print $2}' /proc/"$1"/status) kB"; }
    echo "   reloads: before: r1 $(fd_rss "$p1"); r2 $(fd_rss "$p2")"
    local mons=()
    for h in r1 r2; do
        ip netns exec "$(ns "$h")" ip -o monitor address >"$DIR/mon-$h.txt" 2>&1 &
        mons+=("$!"); PIDS+=("$!")
    done
    sleep 0.5
    for i in $(seq "$n"); do
        for h in r1 r2; do
            f="$DIR/vipd-$h.conf"
            if [ $((i % 5)) -eq 0 ]; then
                printf 'instances:\n  VI_1: {vrid: 300\n' >"$f.new"
            else
                base=150; [ "$h" = r2 ] && base=80
                vipd_conf "$f.new" $((base + i % 2))
            fi
            mv "$f.new" "$f"
        done
        kill -HUP "$p1" "$p2"
        sleep 0.2
    done
    sleep 2
    for p in "${mons[@]}"; do kill -TERM "$p" 2>/dev/null; done
    echo "   reloads: after $n: r1 $(fd_rss "$p1"); r2 $(fd_rss "$p2")"
    echo "   reloads: address events during them: r1 $(grep -c inet "$DIR/mon-r1.txt"), r2 $(grep -c inet "$DIR/mon-r2.txt")"
    for h in r1 r2; do
        echo "   reloads: $h $(ip netns exec "$(ns "$h")" curl -s http://127.0.0.1:9797/metrics | grep '^vipd_config_reloads_total' | tr '\n' ' ')"
    done
}

report() { # impl host pids...
    local impl=$1 h=$2; shift 2
    local p
    for p in "$@"; do
        echo "-- $impl $h pid $p ($(cat /proc/"$p"/comm 2>/dev/null))"
        python3 "$HERE/smaps.py" "$p" | sed 's/^/   /'
    done
}

scrape_sizes() { # host
    local plain gz
    plain=$(ip netns exec "$(ns "$1")" curl -s -o /dev/null -w '%{size_download}' http://127.0.0.1:9797/metrics)
    gz=$(ip netns exec "$(ns "$1")" curl -s -o /dev/null -H 'Accept-Encoding: gzip' -w '%{size_download}' http://127.0.0.1:9797/metrics)
    local om
    om=$(ip netns exec "$(ns "$1")" curl -s -o "$DIR/metrics-$1.om" -w '%{size_download}' -H 'Accept: application/openmetrics-text' http://127.0.0.1:9797/metrics)
    echo "   /metrics on $1: text ${plain} bytes, OpenMetrics ${om} bytes ($(grep -vc '^#' "$DIR/metrics-$1.om") series), gzip ${gz} bytes"
}

[ -n "${VIPD_BIN:-}" ] || { (cd "$ROOT" && cargo build --release -q) || die "build failed"; }
echo "machine: $(nproc) CPUs, kernel $(uname -r); $("$VIPD" --version | head -1); $("$KEEPALIVED" -v 2>&1 | head -1)"
# How much of packaging/link-order.txt (link-order-musl.txt for a musl build) the binary still
# has (build.rs; bench/link-order.sh).
LO="$ROOT/packaging/link-order.txt"
case "$VIPD" in *musl*) LO="$ROOT/packaging/link-order-musl.txt" ;; esac
if [ -s "$LO" ] && command -v nm >/dev/null; then
    have=$(comm -12 <(sort -u "$LO") \
        <(nm --defined-only "$VIPD" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u) | wc -l)
    echo "link order: $have of $(grep -c . "$LO") names of packaging/$(basename "$LO") are in this binary"
fi
echo "$N v3 instances x $IV ms; r1 master (150), r2 backup (80); measured after ${SETTLE} s; vipd env: ${VIPD_ENV:-none}"
lab_up r1=10.99.0.11 r2=10.99.0.12
impls=${IMPLS:-"vipd ka"}
for impl in $impls; do
    daemon "$impl" r1 150; r1p=("${DPIDS[@]}")
    wait_vips r1 "$N" || echo "   ($impl: r1 holds only $(vips_on r1) of $N VIPs)"
    daemon "$impl" r2 80; r2p=("${DPIDS[@]}")
    sleep "$SETTLE"
    if [ "$impl" = vipd ]; then
        scrape_sizes r1; scrape_sizes r2
        sleep 1
        [ -n "${RELOADS:-}" ] && reloads "$RELOADS" "${r1p[0]}" "${r2p[0]}"
    fi
    report "$impl" r1 "${r1p[@]}"
    report "$impl" r2 "${r2p[@]}"
    for p in "${r2p[@]}" "${r1p[@]}"; do stop_pid "$p"; done
    for p in $(pgrep -f -- "$DIR/vipd-" 2>/dev/null); do stop_pid "$p"; done
    for f in "$DIR"/ka-*.pid; do [ -f "$f" ] && { stop_pid "$(cat "$f")"; rm -f "$f"; }; done
    ip -n "$(ns r1)" -4 addr flush dev eth0 label eth0 2>/dev/null
    ip -n "$(ns r1)" addr add 10.99.0.11/24 dev eth0 2>/dev/null
    ip -n "$(ns r2)" -4 addr flush dev eth0 2>/dev/null
    ip -n "$(ns r2)" addr add 10.99.0.12/24 dev eth0 2>/dev/null
    sleep 1
done
