#!/usr/bin/env bash
# NATS topologies on loopback for the cluster, TLS and auth tests, each server with its
# own folder under $IMI_CLUSTER_DIR (default /tmp/imi-nats-cluster).
#
#   tools/clusters/nats.sh start cluster|secure...   start and wait until ready
#   tools/clusters/nats.sh stop                      stop every server started here
#   tools/clusters/nats.sh kill NODE                 SIGKILL one cluster node (n1, n2, n3)
#   tools/clusters/nats.sh restart NODE              start a killed node again, same store
#   tools/clusters/nats.sh env                       the variables the tests read
#
# cluster: n1..n3, one cluster with JetStream (R3 streams possible); clients on
#   $base+0..2, routes on $base+10..12, monitoring on $base+20..22.
# secure: "tls", TLS with the certificates of tools/tls/make-ca.sh in $IMI_CLUSTER_DIR/tls
#   (client certificates required) and user imi / password imi-secret, on $base+30
#   (monitor $base+31); "token", plain TCP with token imi-token, on $base+40 (monitor $base+41).
# base is $IMI_NATS_CLUSTER_PORT (default 25000). Needs nats-server, curl and openssl.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${IMI_CLUSTER_DIR:-/tmp/imi-nats-cluster}
base=${IMI_NATS_CLUSTER_PORT:-25000}

log() { printf 'clusters/nats: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || die "$c is not installed (tools/deps.sh servers)"
    done
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

mon_port() {
    case $1 in
    n[123]) echo $((base + 20 + ${1#n} - 1)) ;;
    tls) echo $((base + 31)) ;;
    token) echo $((base + 41)) ;;
    esac
}

node_conf() { # NODE
    local i=${1#n} routes=""
    for j in 0 1 2; do routes+="nats-route://127.0.0.1:$((base + 10 + j)),"; done
    cat <<CONF
server_name: $1
listen: 127.0.0.1:$((base + i - 1))
http: 127.0.0.1:$(mon_port "$1")
jetstream { store_dir: "$dir/$1/store", max_memory_store: 64MB, max_file_store: 1GB }
cluster {
  name: imi
  listen: 127.0.0.1:$((base + 10 + i - 1))
  routes: [${routes%,}]
}
CONF
}

secure_conf() { # NAME
    if [ "$1" = tls ]; then
        cat <<CONF
server_name: tls
listen: 127.0.0.1:$((base + 30))
http: 127.0.0.1:$(mon_port tls)
tls { cert_file: "$dir/tls/server.pem", key_file: "$dir/tls/server.key", ca_file: "$dir/tls/ca.pem", verify: true, timeout: 2 }
authorization { user: imi, password: imi-secret }
CONF
    else
        cat <<CONF
server_name: token
listen: 127.0.0.1:$((base + 40))
http: 127.0.0.1:$(mon_port token)
authorization { token: imi-token }
CONF
    fi
}

spawn() { # NAME
    # A server left over from another run would pass for this one.
    ! healthy "$1" || die "$1: something already answers on port $(mon_port "$1") (another run?)"
    mkdir -p "$dir/$1"
    if [[ $1 == n* ]]; then node_conf "$1"; else secure_conf "$1"; fi >"$dir/$1/server.conf"
    (setsid nats-server -c "$dir/$1/server.conf" >"$dir/$1/log" 2>&1 & echo $! >"$dir/$1/pid")
}

healthy() { curl -sf "http://127.0.0.1:$(mon_port "$1")/healthz" >/dev/null; }

# The JetStream meta group has a leader, as every node sees it.
meta_leader() {
    local n
    for n in n1 n2 n3; do
        curl -sf "http://127.0.0.1:$(mon_port $n)/jsz" | grep -q '"leader": *"n[123]"' || return 1
    done
}

ready() { # NAME...
    local n
    for n in "$@"; do
        if ! wait_for 20 healthy "$n" || ! kill -0 "$(cat "$dir/$n/pid")" 2>/dev/null; then
            tail -n 20 "$dir/$n/log" >&2
            die "$n did not start"
        fi
    done
}

stop_one() { # NAME
    local f=$dir/$1/pid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

cmd=${1:-}
shift || true
case "$cmd" in
start)
    need nats-server curl
    mkdir -p "$dir"
    for topo in "$@"; do
        case $topo in
        cluster)
            for n in n1 n2 n3; do spawn $n; done
            ready n1 n2 n3
            wait_for 30 meta_leader || die "the JetStream meta group elected no leader in 30 s"
            ;;
        secure)
            need openssl
            bash "$here/../tls/make-ca.sh" "$dir/tls" || die "making the test CA failed"
            spawn tls
            spawn token
            ready tls token
            ;;
        *) die "unknown topology '$topo' (cluster or secure)" ;;
        esac
        log "$topo ready"
    done
    ;;
stop)
    for n in n1 n2 n3 tls token; do stop_one $n; done
    ;;
kill)
    [[ ${1:-} == n[123] ]] || die "kill: NODE is n1, n2 or n3"
    [ -f "$dir/$1/pid" ] || die "kill: $1 is not running"
    kill -9 "$(cat "$dir/$1/pid")"
    rm -f "$dir/$1/pid"
    ;;
restart)
    [[ ${1:-} == n[123] ]] || die "restart: NODE is n1, n2 or n3"
    spawn "$1"
    ready "$1"
    ;;
env)
    echo "export IMI_NATS_CLUSTER_URLS=nats://127.0.0.1:$base,nats://127.0.0.1:$((base + 1)),nats://127.0.0.1:$((base + 2))"
    echo "export IMI_NATS_CLUSTER_MONITOR=$((base + 20))"
    echo "export IMI_NATS_TLS_URL=tls://127.0.0.1:$((base + 30))"
    echo "export IMI_NATS_TOKEN_URL=nats://127.0.0.1:$((base + 40))"
    echo "export IMI_NATS_TLS_DIR=$dir/tls"
    ;;
*)
    echo "usage: tools/clusters/nats.sh start cluster|secure... | stop | kill NODE | restart NODE | env" >&2
    exit 2
    ;;
esac
