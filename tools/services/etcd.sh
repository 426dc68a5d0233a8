# etcd on 127.0.0.1:${IMI_ETCD_PORT:-12379} (peer ${IMI_ETCD_PEER_PORT:-12380}), one member.
# The data folder survives stop/start, so a restart keeps revisions and leases going (the
# fault tests rely on it); remove $IMI_RUN_DIR/etcd while it is stopped to start afresh.

svc_etcd_start() {
    local port=${IMI_ETCD_PORT:-12379} peer=${IMI_ETCD_PEER_PORT:-12380}
    mkdir -p "$IMI_RUN_DIR/etcd"
    svc_spawn etcd etcd --name imi --data-dir "$IMI_RUN_DIR/etcd/data" \
        --listen-client-urls "http://127.0.0.1:$port" \
        --advertise-client-urls "http://127.0.0.1:$port" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "imi=http://127.0.0.1:$peer" \
        --unsafe-no-fsync --log-level warn
    svc_wait 20 svc_etcd_ready "$port"
}

svc_etcd_ready() {
    curl -sf "http://127.0.0.1:$1/health" | grep -q '"health":"true"'
}

svc_etcd_stop() {
    svc_kill etcd
}

svc_etcd_env() {
    echo "export IMI_ETCD_ENDPOINTS=http://127.0.0.1:${IMI_ETCD_PORT:-12379}"
}
