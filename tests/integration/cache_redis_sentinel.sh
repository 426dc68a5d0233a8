#!/usr/bin/env bash
# The redis driver behind Redis Sentinel (a master, 2 replicas and 3 sentinels, started
# here by tools/clusters/redis-sentinel.sh).
#   conformance: the cache conformance suite through the sentinels; a master name no
#                sentinel knows is a config error.
#   faults:      the master killed under a stream of calls: a replica is promoted, the
#                driver follows it within seconds, and no call outlives its deadline.
#   cache_redis_sentinel.sh IMI FAILOVER_PROGRAM SOURCE_DIR conformance|faults
set -euo pipefail
imi=$1 failover=$2 src=$3 mode=$4
topology="$src/tools/clusters/redis-sentinel.sh"
IMI_RUN_DIR=$(mktemp -d /tmp/imi-redis-sentinel-test.XXXXXX)
export IMI_RUN_DIR
trap 'bash "$topology" stop; rm -rf "$IMI_RUN_DIR"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
case "$mode" in conformance | faults) ;; *) echo "usage: $0 IMI FAILOVER SRC conformance|faults" >&2; exit 2 ;; esac

bash "$topology" start
eval "$(bash "$topology" env)"
base=$IMI_REDIS_SENTINEL_PORT
config="$src/tests/conformance/configs/cache_redis_sentinel.ini"

if [ "$mode" = conformance ]; then
    echo "== conformance"
    "$imi" conformance cache redis -c "$config"
    echo "== a master name the sentinels do not know"
    sed 's/^master = .*/master = nosuchmaster/' "$config" >"$IMI_RUN_DIR/wrong-master.ini"
    set +e
    out=$("$imi" cache -c "$IMI_RUN_DIR/wrong-master.ini" get k 2>&1)
    rc=$?
    set -e
    [ $rc = 1 ] || fail "a wrong master name exited $rc: $out"
    case "$out" in
        *"monitors a master named 'nosuchmaster'"*) ;;
        *) fail "a wrong master name said: $out" ;;
    esac
    echo "== cluster = true against a server not in cluster mode"
    printf '[log]\nlevel = error\n[cache]\ndriver = redis\ncluster = true\naddr = 127.0.0.1:%s\n' \
        "$base" >"$IMI_RUN_DIR/not-cluster.ini"
    set +e
    out=$("$imi" cache -c "$IMI_RUN_DIR/not-cluster.ini" get k 2>&1)
    rc=$?
    set -e
    [ $rc = 1 ] || fail "cluster = true on a plain server exited $rc: $out"
    case "$out" in
        *"needs redis in cluster mode"*) ;;
        *) fail "cluster = true on a plain server said: $out" ;;
    esac
    echo "ok: redis sentinel conformance"
    exit 0
fi

echo "== master 127.0.0.1:$base killed under load"
# The load program runs four threads and shells out to kill a server; LeakSanitizer's
# exit-time tracer has crashed on it here ("Tracer caught signal 11"), an LSan fault, not
# a leak: its leaks are checked by the conformance suites on the same driver instead.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
"$failover" "$config" "kill -9 \$(cat $IMI_REDIS_SENTINEL_DIR/$base.pid)" failover
now=$(redis-cli -p $((base + 10)) sentinel get-master-addr-by-name "$IMI_REDIS_SENTINEL_MASTER" | tr '\n' ' ')
case "$now" in
    "127.0.0.1 $((base + 1)) " | "127.0.0.1 $((base + 2)) ") ;;
    *) fail "the sentinels name '$now' as the master, not a replica" ;;
esac
echo "ok: redis sentinel (master now $now)"
