#!/usr/bin/env bash
# Redis behind Sentinel on loopback: a master, two replicas and three sentinels watching
# the master named "imi", for the sentinel tests.
#
#   tools/clusters/redis-sentinel.sh start   start them and wait until the sentinels agree
#   tools/clusters/redis-sentinel.sh stop    stop them and remove their folder
#   tools/clusters/redis-sentinel.sh env     print the variables the tests read
#
# Ports: redis $IMI_REDIS_SENTINEL_PORT (default 23000) to +2, sentinels +10 to +12. Data in
# $IMI_RUN_DIR/redis-sentinel. down-after-milliseconds is 1000 and failover-timeout 3000,
# so that a replica is promoted a few seconds after the master fails. Sentinels run as
# redis-server --sentinel (Debian's redis-sentinel package is the same binary).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rc_name=redis-sentinel
. "$here/redis-common.sh"
base=${IMI_REDIS_SENTINEL_PORT:-23000}
dir=${IMI_RUN_DIR:-/tmp/imi-services}/redis-sentinel
master=imi

# The sentinel on $1 knows 2 replicas and 2 other sentinels: it can vote and promote.
sentinel_ready() {
    local info
    info=$(redis-cli -h 127.0.0.1 -p "$1" sentinel master "$master" 2>/dev/null) || return 1
    [ "$(echo "$info" | grep -A1 '^num-slaves$' | tail -1)" = 2 ] &&
        [ "$(echo "$info" | grep -A1 '^num-other-sentinels$' | tail -1)" = 2 ]
}

# A fixed 40-hex-digit sentinel id per port.
sentinel_id() { printf '%040d' "$1"; }

replica_up() { redis-cli -h 127.0.0.1 -p "$1" info replication | grep -q 'master_link_status:up'; }

start() {
    rc_need
    rc_ports_free $base $((base + 1)) $((base + 2)) $((base + 10)) $((base + 11)) $((base + 12))
    mkdir -p "$dir"
    local p
    for p in $base $((base + 1)) $((base + 2)); do
        mkdir -p "$dir/$p"
        local args=(--bind 127.0.0.1 --port "$p" --dir "$dir/$p" --save '' --appendonly no
                    --repl-diskless-sync-delay 0
                    --daemonize no)
        [ "$p" = "$base" ] || args+=(--replicaof 127.0.0.1 "$base")
        rc_spawn "$p" "${args[@]}"
    done
    for p in $base $((base + 1)) $((base + 2)); do
        rc_wait 10 rc_ping "$p" || { rc_log "redis $p did not start; its log:"; tail -5 "$dir/$p.log" >&2; exit 1; }
    done
    for p in $((base + 1)) $((base + 2)); do
        rc_wait 20 replica_up "$p" || { rc_log "replica $p did not sync"; exit 1; }
    done
    for p in $((base + 10)) $((base + 11)) $((base + 12)); do
        mkdir -p "$dir/$p"
        # A sentinel rewrites its config file: each has its own.
        # Each sentinel is told its peers and the replicas up front (fixed ids), rather
        # than finding them through hello messages every 2 s: ready in well under 1 s.
        {
            echo "bind 127.0.0.1"
            echo "port $p"
            echo "dir $dir/$p"
            echo "sentinel myid $(sentinel_id "$p")"
            echo "sentinel monitor $master 127.0.0.1 $base 2"
            echo "sentinel down-after-milliseconds $master 1000"
            echo "sentinel failover-timeout $master 3000"
            echo "sentinel parallel-syncs $master 1"
            local q
            for q in $((base + 1)) $((base + 2)); do
                echo "sentinel known-replica $master 127.0.0.1 $q"
            done
            for q in $((base + 10)) $((base + 11)) $((base + 12)); do
                [ "$q" = "$p" ] || echo "sentinel known-sentinel $master 127.0.0.1 $q $(sentinel_id "$q")"
            done
        } >"$dir/$p/sentinel.conf"
        rc_spawn "$p" "$dir/$p/sentinel.conf" --sentinel --daemonize no
    done
    for p in $((base + 10)) $((base + 11)) $((base + 12)); do
        rc_wait 30 sentinel_ready "$p" || { rc_log "sentinel $p did not find its peers (see $dir/$p.log)"; exit 1; }
    done
    rc_log "up: master 127.0.0.1:$base, sentinels 127.0.0.1:$((base + 10))-$((base + 12))"
}

stop() {
    [ -d "$dir" ] || return 0
    rc_stop_all
    rm -rf "$dir"
}

env_vars() {
    echo "export IMI_REDIS_SENTINEL_PORT=$base"
    echo "export IMI_REDIS_SENTINELS=127.0.0.1:$((base + 10)),127.0.0.1:$((base + 11)),127.0.0.1:$((base + 12))"
    echo "export IMI_REDIS_SENTINEL_MASTER=$master"
    echo "export IMI_REDIS_SENTINEL_DIR=$dir"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    env) env_vars ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
