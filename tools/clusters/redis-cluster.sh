#!/usr/bin/env bash
# A Redis Cluster on loopback: 3 masters with one replica each, for the cluster tests.
#
#   tools/clusters/redis-cluster.sh start   start the 6 nodes, create the cluster, wait for it
#   tools/clusters/redis-cluster.sh stop    stop them and remove their folder
#   tools/clusters/redis-cluster.sh env     print the variables the tests read
#
# Ports $IMI_REDIS_CLUSTER_PORT (default 23100) to +5; masters are the first three. Each
# node's cluster bus listens 100 above its port (23200-23205): Redis' default, port + 10000,
# falls in Linux's ephemeral range (32768-60999), where any outgoing connection of the
# machine may hold it and the node then exits at start with "Address already in use".
# Data in $IMI_RUN_DIR/redis-cluster. cluster-node-timeout is 1000 ms, so that a replica
# takes over about 2 s after its master fails.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rc_name=redis-cluster
. "$here/redis-common.sh"
base=${IMI_REDIS_CLUSTER_PORT:-23100}
dir=${IMI_RUN_DIR:-/tmp/imi-services}/redis-cluster
ports=$(seq "$base" $((base + 5)))

cluster_ok() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

start() {
    rc_need
    local bus=() p
    for p in $ports; do bus+=($((p + 100))); done
    # shellcheck disable=SC2086
    rc_ports_free $ports "${bus[@]}"
    mkdir -p "$dir"
    for p in $ports; do
        mkdir -p "$dir/$p"
        rc_spawn "$p" --bind 127.0.0.1 --port "$p" --dir "$dir/$p" --save '' --appendonly no \
            --daemonize no --cluster-enabled yes --cluster-config-file nodes.conf \
            --cluster-port $((p + 100)) \
            --cluster-node-timeout 1000 --cluster-replica-validity-factor 0 \
            --repl-diskless-sync-delay 0
    done
    for p in $ports; do
        rc_wait 10 rc_ping "$p" || { rc_log "node $p did not start; its log:"; tail -5 "$dir/$p.log" >&2; exit 1; }
    done
    local addrs=()
    for p in $ports; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
        >"$dir/create.log" 2>&1 || { rc_log "cluster create failed:"; tail -5 "$dir/create.log" >&2; exit 1; }
    for p in $ports; do
        rc_wait 20 cluster_ok "$p" || { rc_log "node $p never saw cluster_state:ok"; exit 1; }
    done
    # Every replica attached and in sync, so that a failover has someone to promote.
    rc_wait 20 bash -c "[ \$(redis-cli -h 127.0.0.1 -p $base cluster nodes | grep -c 'slave.*connected') = 3 ]" ||
        { rc_log "replicas did not attach"; exit 1; }
    rc_log "up on 127.0.0.1:$base-$((base + 5))"
}

stop() {
    [ -d "$dir" ] || return 0
    rc_stop_all
    rm -rf "$dir"
}

env_vars() {
    echo "export IMI_REDIS_CLUSTER_PORT=$base"
    echo "export IMI_REDIS_CLUSTER_SEEDS=127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
    echo "export IMI_REDIS_CLUSTER_DIR=$dir"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    env) env_vars ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
