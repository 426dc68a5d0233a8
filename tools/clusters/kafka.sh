#!/usr/bin/env bash
# A Kafka cluster of 3 brokers on loopback: librdkafka's mock cluster (tools/kafka_mock;
# no Kafka broker is packaged for Debian 12), with its files under $IMI_CLUSTER_DIR
# (default /tmp/imi-kafka-cluster). The brokers listen on ephemeral ports.
#
#   tools/clusters/kafka.sh start          start and wait until the brokers listen
#   tools/clusters/kafka.sh stop
#   tools/clusters/kafka.sh ctl COMMAND... one command to the mock ("down 2", "topic T 3 3",
#                                          "leader T 0 3", ...; see tools/kafka_mock)
#   tools/clusters/kafka.sh env            IMI_KAFKA_BOOTSTRAP and IMI_KAFKA_CONTROL
#
# The kafka_mock binary is $IMI_KAFKA_MOCK, or build/tools/kafka_mock/kafka_mock under
# $IMI_BUILD_DIR (default: the source tree's build/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${IMI_CLUSTER_DIR:-/tmp/imi-kafka-cluster}
bin=${IMI_KAFKA_MOCK:-${IMI_BUILD_DIR:-$here/../../build}/tools/kafka_mock/kafka_mock}

die() { printf 'clusters/kafka: %s\n' "$*" >&2; exit 1; }

cmd=${1:-}
shift || true
case "$cmd" in
start)
    [ -x "$bin" ] || die "kafka_mock not built at $bin (set IMI_KAFKA_MOCK or IMI_BUILD_DIR)"
    mkdir -p "$dir"
    rm -f "$dir/bootstrap"
    (setsid "$bin" --brokers 3 --bootstrap-file "$dir/bootstrap" --control "$dir/ctl" \
        >"$dir/log" 2>&1 & echo $! >"$dir/pid")
    for _ in $(seq 100); do
        [ -s "$dir/bootstrap" ] && [ -p "$dir/ctl" ] && exit 0
        sleep 0.1
    done
    cat "$dir/log" >&2
    die "the mock cluster did not start in 10 s"
    ;;
stop)
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
    ;;
ctl)
    [ -p "$dir/ctl" ] || die "not running"
    echo "$*" >"$dir/ctl"
    ;;
env)
    [ -s "$dir/bootstrap" ] || die "not running"
    echo "export IMI_KAFKA_BOOTSTRAP=$(cat "$dir/bootstrap")"
    echo "export IMI_KAFKA_CONTROL=$dir/ctl"
    ;;
*)
    echo "usage: tools/clusters/kafka.sh start | stop | ctl COMMAND... | env" >&2
    exit 2
    ;;
esac
