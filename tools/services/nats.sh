# NATS with JetStream on 127.0.0.1:${IMI_NATS_PORT:-14222} (monitor ${IMI_NATS_MONITOR_PORT:-18222}).

svc_nats_start() {
    local port=${IMI_NATS_PORT:-14222} mon=${IMI_NATS_MONITOR_PORT:-18222}
    mkdir -p "$IMI_RUN_DIR/nats"
    svc_spawn nats nats-server -a 127.0.0.1 -p "$port" -m "$mon" -js -sd "$IMI_RUN_DIR/nats/store"
    svc_wait 10 curl -sf "http://127.0.0.1:$mon/healthz?js-enabled-only=true"
}

svc_nats_stop() {
    svc_kill nats
}

svc_nats_env() {
    echo "export IMI_NATS_URL=nats://127.0.0.1:${IMI_NATS_PORT:-14222}"
}
