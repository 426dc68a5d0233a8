#!/usr/bin/env bash
# A 3-member etcd cluster whose leader is killed under load, ROUNDS times (default 3):
# starts the cluster with tools/clusters/etcd.sh on loopback ports from
# $IMI_ETCD_CLUSTER_PORT (default 22000), runs etcd_cluster_failover against it, and stops
# it even on failure. Fails (never skips) when etcd is not installed.
#   coord_etcd_cluster.sh FAILOVER_PROGRAM SOURCE_DIR [ROUNDS]
set -euo pipefail
prog=${1:?failover program} src=${2:?source dir} rounds=${3:-3}
command -v etcd >/dev/null || { echo "FAIL: etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }

unset IMI_ETCD_CLUSTER_TLS IMI_ETCD_CLUSTER_ARGS   # plain http, default flags
export IMI_ETCD_CLUSTER_DIR
IMI_ETCD_CLUSTER_DIR=$(mktemp -d /tmp/imi-etcd-cluster-XXXXXX)
script=$src/tools/clusters/etcd.sh
cleanup() {
    bash "$script" stop || true
    rm -rf "$IMI_ETCD_CLUSTER_DIR"
}
trap cleanup EXIT

bash "$script" start
cat >"$IMI_ETCD_CLUSTER_DIR/coord.ini" <<INI
[coord]
driver    = etcd
timeout   = 2s
lease_ttl = 5s
endpoints = $(bash "$script" endpoints)
INI
"$prog" "$IMI_ETCD_CLUSTER_DIR/coord.ini" "$script" "$rounds"
