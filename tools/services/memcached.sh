# memcached on 127.0.0.1:${IMI_MEMCACHED_PORT:-21211}, 64 MB, in the foreground (with -d
# its pidfile fails silently in a 0700 folder). It refuses to run as root without -u.

svc_memcached_start() {
    local port=${IMI_MEMCACHED_PORT:-21211}
    svc_spawn memcached memcached -u nobody -l 127.0.0.1 -p "$port" -U 0 -m 64 -c 1024
    svc_wait 10 svc_memcached_ready "$port"
}

svc_memcached_ready() {
    memcping --servers="127.0.0.1:$1" >/dev/null 2>&1
}

svc_memcached_stop() {
    svc_kill memcached
}

svc_memcached_env() {
    echo "export IMI_MEMCACHED_PORT=${IMI_MEMCACHED_PORT:-21211}"
    echo "export IMI_MEMCACHED_SERVERS=127.0.0.1:${IMI_MEMCACHED_PORT:-21211}"
}
