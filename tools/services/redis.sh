# redis on 127.0.0.1:${IMI_REDIS_PORT:-16379}, no persistence. The fault tests stop and
# start it again on the same port (svc_redis_stop; svc_redis_start).

svc_redis_start() {
    local port=${IMI_REDIS_PORT:-16379}
    mkdir -p "$IMI_RUN_DIR/redis"
    svc_spawn redis redis-server --bind 127.0.0.1 --port "$port" --dir "$IMI_RUN_DIR/redis" \
        --save '' --appendonly no --daemonize no
    svc_wait 10 svc_redis_ready "$port"
}

svc_redis_ready() {
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

svc_redis_stop() {
    redis-cli -h 127.0.0.1 -p "${IMI_REDIS_PORT:-16379}" shutdown nosave >/dev/null 2>&1 || true
    svc_kill redis
}

svc_redis_env() {
    echo "export IMI_REDIS_PORT=${IMI_REDIS_PORT:-16379}"
    echo "export IMI_REDIS_ADDR=127.0.0.1:${IMI_REDIS_PORT:-16379}"
}
