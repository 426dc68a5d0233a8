#!/usr/bin/env bash
# A 3-member etcd cluster on loopback for the failover, TLS and auth tests.
#
#   tools/clusters/etcd.sh start            start members 1..3, wait until the cluster has a leader
#   tools/clusters/etcd.sh stop             stop every member (TERM, then KILL)
#   tools/clusters/etcd.sh kill N           SIGKILL member N (a crash: no goodbye to its peers)
#   tools/clusters/etcd.sh restart N        start member N again on its data folder; waits until healthy
#   tools/clusters/etcd.sh leader [SECONDS] print the number of the member that leads now,
#                                           waiting up to SECONDS (default 10) for one
#   tools/clusters/etcd.sh endpoints        print the client URLs, comma-separated
#   tools/clusters/etcd.sh auth USER PW     create USER (and root, same password), enable auth
#
# Variables:
#   IMI_ETCD_CLUSTER_DIR   data folders, pids and logs (default /tmp/imi-etcd-cluster)
#   IMI_ETCD_CLUSTER_PORT  first port (default 22000): member N listens for clients on
#                          PORT+N and for peers on PORT+10+N
#   IMI_ETCD_CLUSTER_TLS   a folder made by tools/tls/make-ca.sh: clients then speak https
#                          and must show a certificate of that CA (peers stay on http)
#   IMI_ETCD_CLUSTER_ARGS  more etcd flags for every member (e.g. --auth-token-ttl 2)
set -euo pipefail

dir=${IMI_ETCD_CLUSTER_DIR:-/tmp/imi-etcd-cluster}
base=${IMI_ETCD_CLUSTER_PORT:-22000}
tls=${IMI_ETCD_CLUSTER_TLS:-}
scheme=http
[ -z "$tls" ] || scheme=https
mkdir -p "$dir"

log() { printf 'etcd-cluster: %s\n' "$*" >&2; }
client_url() { echo "$scheme://127.0.0.1:$((base + $1))"; }
peer_url() { echo "http://127.0.0.1:$((base + 10 + $1))"; }
initial_cluster() { echo "m1=$(peer_url 1),m2=$(peer_url 2),m3=$(peer_url 3)"; }

# curl to member N's gateway with the cluster's TLS settings (the token in $IMI_ETCD_TOKEN).
gw() {
    local n=$1 path=$2 body=$3
    local args=(-s --max-time 2 -X POST -d "$body")
    [ -z "$tls" ] || args+=(--cacert "$tls/ca.pem" --cert "$tls/client.pem" --key "$tls/client.key")
    [ -z "${IMI_ETCD_TOKEN:-}" ] || args+=(-H "Authorization: $IMI_ETCD_TOKEN")
    curl "${args[@]}" "$(client_url "$n")$path"
}

etcdctl_n() {
    local args=(--endpoints "$(client_url "$1")" --dial-timeout 2s --command-timeout 5s)
    shift
    [ -z "$tls" ] || args+=(--cacert "$tls/ca.pem" --cert "$tls/client.pem" --key "$tls/client.key")
    ETCDCTL_API=3 etcdctl "${args[@]}" "$@"
}

healthy() { # member N answers and has a leader (GET /health: no auth token needed)
    local args=(-s --max-time 2)
    [ -z "$tls" ] || args+=(--cacert "$tls/ca.pem" --cert "$tls/client.pem" --key "$tls/client.key")
    curl "${args[@]}" "$(client_url "$1")/health" | grep -q '"health":"true"'
}

wait_for() { # SECONDS CMD...: polls every 0.1 s
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

spawn() { # N
    local n=$1 args=()
    [ -z "$tls" ] || args+=(--cert-file "$tls/server.pem" --key-file "$tls/server.key"
                            --trusted-ca-file "$tls/ca.pem" --client-cert-auth)
    # shellcheck disable=SC2206
    args+=(${IMI_ETCD_CLUSTER_ARGS:-})
    mkdir -p "$dir/m$n"
    (setsid etcd --name "m$n" --data-dir "$dir/m$n/data" \
        --listen-client-urls "$(client_url "$n")" --advertise-client-urls "$(client_url "$n")" \
        --listen-peer-urls "$(peer_url "$n")" --initial-advertise-peer-urls "$(peer_url "$n")" \
        --initial-cluster "$(initial_cluster)" --initial-cluster-state new \
        --initial-cluster-token "imi-$base" \
        --heartbeat-interval 100 --election-timeout 1000 \
        --unsafe-no-fsync --log-level warn "${args[@]}" \
        >>"$dir/m$n.log" 2>&1 & echo $! >"$dir/m$n.pid")
}

stop_member() { # N SIGNAL
    local pidfile="$dir/m$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill "-$2" "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

leader() {
    local n out id lead
    for n in 1 2 3; do
        [ -f "$dir/m$n.pid" ] || continue
        out=$(gw "$n" /v3/maintenance/status '{}') || continue
        [[ $out =~ \"member_id\":\"([0-9]+)\" ]] || continue
        id=${BASH_REMATCH[1]}
        [[ $out =~ \"leader\":\"([0-9]+)\" ]] || continue
        lead=${BASH_REMATCH[1]}
        if [ "$id" = "$lead" ]; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

cmd=${1:-}
case "$cmd" in
start)
    command -v etcd >/dev/null || { log "etcd is not installed (apt-get install etcd-server)"; exit 1; }
    for n in 1 2 3; do spawn "$n"; done
    for n in 1 2 3; do
        if ! wait_for 30 healthy "$n"; then
            log "member $n not healthy after 30 s; its log:"
            tail -n 20 "$dir/m$n.log" >&2 || true
            exit 1
        fi
    done
    ;;
stop)
    for n in 1 2 3; do stop_member "$n" TERM; done
    ;;
kill)
    stop_member "${2:?member number}" KILL
    ;;
restart)
    n=${2:?member number}
    spawn "$n"
    if ! wait_for 30 healthy "$n"; then
        log "member $n did not rejoin within 30 s; its log:"
        tail -n 20 "$dir/m$n.log" >&2 || true
        exit 1
    fi
    ;;
leader)
    wait=${2:-10}
    wait_for "$wait" leader || { log "no leader within $wait s"; exit 1; }
    leader
    ;;
endpoints)
    echo "$(client_url 1),$(client_url 2),$(client_url 3)"
    ;;
auth)
    user=${2:?user} pw=${3:?password}
    etcdctl_n 1 user add "root:$pw" >/dev/null
    etcdctl_n 1 user grant-role root root >/dev/null
    etcdctl_n 1 role add app >/dev/null
    etcdctl_n 1 role grant-permission app --prefix=true readwrite '' >/dev/null
    etcdctl_n 1 user add "$user:$pw" >/dev/null
    etcdctl_n 1 user grant-role "$user" app >/dev/null
    etcdctl_n 1 auth enable >/dev/null
    ;;
*)
    echo "usage: tools/clusters/etcd.sh start|stop|kill N|restart N|leader|endpoints|auth USER PW" >&2
    exit 2
    ;;
esac
