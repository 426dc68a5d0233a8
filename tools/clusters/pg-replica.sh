#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica on loopback, both serving TLS with a
# certificate from the test CA (tools/tls/make-ca.sh), for the replica and TLS tests.
#
#   tools/clusters/pg-replica.sh start DIR          initdb the primary, pg_basebackup -R the
#                                                   replica, start both, wait until it streams
#   tools/clusters/pg-replica.sh stop DIR           stop both (the data stays in DIR)
#   tools/clusters/pg-replica.sh stop-replica DIR   stop only the replica (pg_ctl -m fast)
#   tools/clusters/pg-replica.sh kill-replica DIR   stop it as a crash would (-m immediate)
#   tools/clusters/pg-replica.sh start-replica DIR  start it again
#   tools/clusters/pg-replica.sh env DIR            the variables the tests read
#
# Ports: $IMI_PG_PRIMARY_PORT (default 24070) and $IMI_PG_REPLICA_PORT (24071). DIR holds
# tls/ (the CA), primary/ and replica/ (data, socket, log). The user imi (password imi) owns
# the database imi_test; the superuser postgres has the password postgres and is the
# replication user. Needs the postgresql and openssl packages; run as root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:?usage: pg-replica.sh start|stop|stop-replica|kill-replica|start-replica|env DIR}
dir=${2:?usage: pg-replica.sh $cmd DIR}
primary_port=${IMI_PG_PRIMARY_PORT:-24070}
replica_port=${IMI_PG_REPLICA_PORT:-24071}

die() { echo "pg-replica: $*" >&2; exit 1; }

bin=$(for v in /usr/lib/postgresql/*/bin; do echo "$v"; done | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || die "no PostgreSQL server (initdb under /usr/lib/postgresql): install postgresql"
command -v pg_basebackup >/dev/null || die "no pg_basebackup: install postgresql-client"
[ "$(id -u)" -eq 0 ] || die "run as root (the servers run as the postgres user)"

as_pg() { runuser -u postgres -- "$@"; }

# pg_ctl start for NAME on PORT; -w waits until it accepts connections.
pg_start() {
    local name=$1 port=$2
    as_pg "$bin/pg_ctl" -D "$dir/$name/data" -l "$dir/$name/log" -w -t 60 \
        -o "-p $port -k $dir/$name -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null ||
        die "$name did not start on port $port (see $dir/$name/log)"
}

pg_stop() {
    local name=$1 mode=${2:-fast}
    [ -f "$dir/$name/data/postmaster.pid" ] || return 0
    as_pg "$bin/pg_ctl" -D "$dir/$name/data" -m "$mode" -w -t 30 stop >/dev/null
}

psql_primary() {
    as_pg psql -X -q -h "$dir/primary" -p "$primary_port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 "$@"
}

start() {
    mkdir -p "$dir"
    chmod 755 "$dir"
    bash "$here/../tls/make-ca.sh" "$dir/tls"
    if [ ! -f "$dir/primary/data/PG_VERSION" ]; then
        rm -rf "$dir/primary" "$dir/replica"
        mkdir -p "$dir/primary" "$dir/replica"
        chown postgres:postgres "$dir/primary" "$dir/replica"
        chmod 700 "$dir/primary" "$dir/replica"
        echo postgres >"$dir/primary/pw"
        chown postgres "$dir/primary/pw"
        as_pg "$bin/initdb" -D "$dir/primary/data" -U postgres --pwfile="$dir/primary/pw" \
            --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
            >"$dir/primary/initdb.log" 2>&1 || die "initdb failed (see $dir/primary/initdb.log)"
        # The server refuses a key readable by others: its own copy, 0600, owned by postgres.
        install -o postgres -g postgres -m 600 "$dir/tls/server.key" "$dir/primary/data/server.key"
        install -o postgres -g postgres -m 644 "$dir/tls/server.pem" "$dir/primary/data/server.crt"
        printf '%s\n' "ssl = on" "ssl_cert_file = 'server.crt'" "ssl_key_file = 'server.key'" \
            "wal_level = replica" "max_wal_senders = 4" "hot_standby = on" \
            "wal_receiver_status_interval = 1s" >>"$dir/primary/data/postgresql.conf"
        pg_start primary "$primary_port"
        psql_primary -c "CREATE ROLE imi LOGIN PASSWORD 'imi'" -c "CREATE DATABASE imi_test OWNER imi" \
            >/dev/null || die "could not create the imi role and database"
        # The replica: a base backup with -R writes standby.signal and primary_conninfo.
        as_pg env PGPASSWORD=postgres pg_basebackup -h 127.0.0.1 \
            -p "$primary_port" -U postgres -D "$dir/replica/data" -R -X stream -c fast \
            >"$dir/replica/basebackup.log" 2>&1 || die "pg_basebackup failed (see $dir/replica/basebackup.log)"
    else
        pg_start primary "$primary_port"
    fi
    pg_start replica "$replica_port"
    # Ready when the primary sees the replica streaming.
    local i
    for i in $(seq 100); do
        [ "$(psql_primary -tAc "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] &&
            return 0
        sleep 0.1
    done
    die "the replica does not stream after 10 s (see $dir/replica/log)"
}

case $cmd in
start) start ;;
stop) pg_stop replica; pg_stop primary ;;
stop-replica) pg_stop replica ;;
kill-replica) pg_stop replica immediate ;;
start-replica) pg_start replica "$replica_port" ;;
env)
    echo "export IMI_PG_PRIMARY=postgresql://imi:imi@127.0.0.1:$primary_port/imi_test"
    echo "export IMI_PG_REPLICA=postgresql://imi:imi@127.0.0.1:$replica_port/imi_test"
    echo "export IMI_TLS_DIR=$dir/tls"
    ;;
*) die "unknown command $cmd" ;;
esac
