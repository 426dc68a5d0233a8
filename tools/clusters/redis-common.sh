# Shared by redis-sentinel.sh and redis-cluster.sh (sourced): starting, waiting for and
# stopping redis-server processes on loopback, each with its own folder under $dir.

rc_log() { printf '%s: %s\n' "$rc_name" "$*" >&2; }

rc_need() {
    local tool
    for tool in redis-server redis-cli; do
        command -v "$tool" >/dev/null || { rc_log "$tool is missing (apt-get install redis-server redis-tools)"; exit 1; }
    done
}

# Waits up to $1 seconds for the command after it to succeed.
rc_wait() {
    local secs=$1; shift
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.1
    done
}

# A pid that is gone or a zombie (an orphan may linger unreaped for a moment).
rc_gone() {
    [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# Starts redis-server detached, its pid in $dir/NAME.pid: rc_spawn NAME ARGS...
rc_spawn() {
    local name=$1; shift
    (setsid redis-server "$@" >"$dir/$name.log" 2>&1 & echo $! >"$dir/$name.pid")
}

# Kills what rc_spawn started (all *.pid in $dir), TERM then KILL, and waits for it.
rc_stop_all() {
    local f pid
    for f in "$dir"/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
    done
    for f in "$dir"/*.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        local n=0
        until rc_gone "$pid"; do
            n=$((n + 1))
            [ $n -lt 50 ] || { kill -9 "$pid" 2>/dev/null || true; }
            [ $n -lt 100 ] || { rc_log "pid $pid does not stop"; break; }
            sleep 0.1
        done
        rm -f "$f"
    done
}

# Fails when something listens on one of the ports already (a topology left running).
rc_ports_free() {
    local p
    for p in "$@"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            rc_log "port $p is in use: stop what runs there (or move the ports)"
            exit 1
        fi
    done
}

rc_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
