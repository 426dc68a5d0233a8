#!/usr/bin/env bash
# Starts and stops the servers the integration tests and conformance suites need, on
# loopback, each with its own data folder under $IMI_RUN_DIR.
#
#   tools/services.sh start [NAME...]   start (all when no NAME); waits until each is ready
#   tools/services.sh stop  [NAME...]   stop what was started
#   tools/services.sh env               print the variables the tests read (ports, addresses)
#
# Each server is one file tools/services/NAME.sh defining svc_NAME_start and svc_NAME_stop.
# Ports are fixed (config/local.ini uses them) and can be moved with the IMI_*_PORT variables.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export IMI_RUN_DIR=${IMI_RUN_DIR:-/tmp/imi-services}
mkdir -p "$IMI_RUN_DIR"
chmod 755 "$IMI_RUN_DIR"

svc_log() { printf 'services: %s\n' "$*" >&2; }

# Waits up to $1 seconds for the command after it to succeed.
svc_wait() {
    local secs=$1; shift
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            return 1
        fi
        sleep 0.1
    done
}

# Starts a server in the background, detached from this shell, recording its pid.
svc_spawn() {
    local name=$1; shift
    (setsid "$@" >"$IMI_RUN_DIR/$name.log" 2>&1 & echo $! >"$IMI_RUN_DIR/$name.pid")
}

# Stops the recorded pid: TERM, then KILL after 10 s.
svc_kill() {
    local name=$1 pidfile="$IMI_RUN_DIR/$1.pid"
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

for f in "$here"/services/*.sh; do
    [ -e "$f" ] && . "$f"
done

# The loopback ports a server listens on, as VARIABLE=PORT (kafka picks free ones itself).
svc_ports() {
    case $1 in
    redis) echo "IMI_REDIS_PORT=${IMI_REDIS_PORT:-16379}" ;;
    memcached) echo "IMI_MEMCACHED_PORT=${IMI_MEMCACHED_PORT:-21211}" ;;
    mariadb) echo "IMI_MYSQL_PORT=${IMI_MYSQL_PORT:-13306}" ;;
    postgres) echo "IMI_PG_PORT=${IMI_PG_PORT:-15432}" ;;
    nats) echo "IMI_NATS_PORT=${IMI_NATS_PORT:-14222} IMI_NATS_MONITOR_PORT=${IMI_NATS_MONITOR_PORT:-18222}" ;;
    etcd) echo "IMI_ETCD_PORT=${IMI_ETCD_PORT:-12379} IMI_ETCD_PEER_PORT=${IMI_ETCD_PEER_PORT:-12380}" ;;
    esac
}

# A server of ours still running from this $IMI_RUN_DIR (its pid file names a live process).
svc_running() {
    local pidfile="$IMI_RUN_DIR/$1.pid"
    [ "$1" = postgres ] && pidfile="$IMI_RUN_DIR/postgres/data/postmaster.pid"  # pg_ctl's
    [ -f "$pidfile" ] && kill -0 "$(head -n 1 "$pidfile")" 2>/dev/null
}

# Fails when another process already listens on one of the server's ports: the readiness
# probe would talk to that process and report a server ready that never started.
svc_ports_free() {
    local pair
    for pair in $(svc_ports "$1"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${pair#*=}") 2>/dev/null; then
            svc_log "$1: port ${pair#*=} on 127.0.0.1 is already taken by another process; stop it or move $1 with ${pair%%=*}"
            return 1
        fi
    done
}

all_services() {
    local f
    for f in "$here"/services/*.sh; do
        [ -e "$f" ] && basename "$f" .sh
    done
}

cmd=${1:-}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || mapfile -t names < <(all_services)
for n in "${names[@]}"; do
    if ! declare -F "svc_${n}_start" >/dev/null; then
        svc_log "no server named '$n'; known: $(all_services | tr '\n' ' ')"
        exit 2
    fi
done

case "$cmd" in
start)
    # Every server is tried, so that one run reports all that fail; the exit status is 1
    # when any did.
    failed=()
    for n in "${names[@]}"; do
        if svc_running "$n"; then
            svc_log "$n is already running (started from $IMI_RUN_DIR)"
            continue
        fi
        if ! svc_ports_free "$n"; then
            failed+=("$n")
            continue
        fi
        svc_log "starting $n"
        if ! "svc_${n}_start"; then
            svc_log "$n failed to start; its log:"
            tail -n 30 "$IMI_RUN_DIR/$n.log" >&2 || true
            failed+=("$n")
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        svc_log "failed to start: ${failed[*]}"
        exit 1
    fi
    ;;
stop)
    for n in "${names[@]}"; do
        "svc_${n}_stop" || svc_log "$n did not stop cleanly"
    done
    ;;
env)
    for n in "${names[@]}"; do
        if declare -F "svc_${n}_env" >/dev/null; then "svc_${n}_env"; fi
    done
    ;;
*)
    echo "usage: tools/services.sh start|stop|env [NAME...]" >&2
    exit 2
    ;;
esac
