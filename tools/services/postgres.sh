# PostgreSQL on 127.0.0.1:${IMI_PG_PORT:-15432}, data under $IMI_RUN_DIR/postgres (kept across
# stop/start, so the fault tests can restart the server). The test user imi (password imi)
# owns two databases: imi_test (the writer of the test configs) and imi_test_reader, which
# only the configs' readers point at, so that reader routing shows in what a query reads.

svc_postgres_bin() {
    local v
    for v in /usr/lib/postgresql/*/bin; do echo "$v"; done | sort -V | tail -n 1
}

svc_postgres_start() {
    local port=${IMI_PG_PORT:-15432} dir="$IMI_RUN_DIR/postgres" bin
    bin=$(svc_postgres_bin)
    [ -x "$bin/initdb" ] || { svc_log "postgres: no initdb under /usr/lib/postgresql"; return 1; }
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        echo postgres >"$dir/pw"
        chown postgres "$dir/pw"
        runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pw" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
            >"$IMI_RUN_DIR/postgres.log" 2>&1 || return 1
    fi
    touch "$IMI_RUN_DIR/postgres.log"
    chown postgres "$IMI_RUN_DIR/postgres.log"
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$IMI_RUN_DIR/postgres.log" -w -t 30 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
        start >/dev/null || return 1
    svc_postgres_psql "$port" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'imi'" | grep -q 1 ||
        svc_postgres_psql "$port" -c "CREATE ROLE imi LOGIN PASSWORD 'imi'" >/dev/null || return 1
    local db
    for db in imi_test imi_test_reader; do
        svc_postgres_psql "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
            svc_postgres_psql "$port" -c "CREATE DATABASE $db OWNER imi" >/dev/null || return 1
    done
}

# psql as the superuser over the unix socket in the data folder.
svc_postgres_psql() {
    local port=$1; shift
    runuser -u postgres -- psql -X -q -h "$IMI_RUN_DIR/postgres" -p "$port" -U postgres \
        -d postgres -v ON_ERROR_STOP=1 "$@"
}

svc_postgres_stop() {
    local dir="$IMI_RUN_DIR/postgres" bin
    bin=$(svc_postgres_bin)
    [ -f "$dir/data/postmaster.pid" ] || return 0
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
}

svc_postgres_env() {
    local port=${IMI_PG_PORT:-15432}
    echo "export IMI_PG_WRITER=postgresql://imi:imi@127.0.0.1:$port/imi_test"
    echo "export IMI_PG_READER=postgresql://imi:imi@127.0.0.1:$port/imi_test_reader"
}
