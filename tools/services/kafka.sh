# Kafka: librdkafka's mock cluster (3 brokers) in its own process, tools/kafka_mock.
# Its bootstrap address goes to $IMI_RUN_DIR/kafka.bootstrap; faults are injected by
# writing commands to the FIFO $IMI_RUN_DIR/kafka.ctl ("down 2", "up 2", ...).

svc_kafka_bin() {
    local b
    for b in "${IMI_KAFKA_MOCK:-}" "${IMI_BUILD_DIR:-$here/../build}/tools/kafka_mock/kafka_mock"; do
        if [ -n "$b" ] && [ -x "$b" ]; then
            echo "$b"
            return 0
        fi
    done
    svc_log "kafka_mock not built (set IMI_KAFKA_MOCK or IMI_BUILD_DIR)"
    return 1
}

svc_kafka_start() {
    local bin
    bin=$(svc_kafka_bin) || return 1
    rm -f "$IMI_RUN_DIR/kafka.bootstrap"
    svc_spawn kafka "$bin" --brokers 3 --bootstrap-file "$IMI_RUN_DIR/kafka.bootstrap" \
        --control "$IMI_RUN_DIR/kafka.ctl"
    svc_wait 10 test -s "$IMI_RUN_DIR/kafka.bootstrap"
}

svc_kafka_stop() {
    svc_kill kafka
    rm -f "$IMI_RUN_DIR/kafka.bootstrap" "$IMI_RUN_DIR/kafka.ctl"
}

svc_kafka_env() {
    if [ -s "$IMI_RUN_DIR/kafka.bootstrap" ]; then
        echo "export IMI_KAFKA_BOOTSTRAP=$(cat "$IMI_RUN_DIR/kafka.bootstrap")"
        echo "export IMI_KAFKA_CONTROL=$IMI_RUN_DIR/kafka.ctl"
    fi
}
