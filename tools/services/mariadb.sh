# MariaDB on 127.0.0.1:${IMI_MYSQL_PORT:-13306}, data under $IMI_RUN_DIR/mariadb (kept across
# stop/start, so the fault tests can restart the server). The test user imi (password imi)
# may use two databases: imi_test (the writer of the test configs) and imi_test_reader,
# which only the configs' readers point at, so that reader routing shows in what a query
# reads.

svc_mariadb_admin() {
    mariadb-admin --no-defaults --socket="$IMI_RUN_DIR/mariadb/mysqld.sock" -uroot "$@"
}

# Ready when it answers; fails at once when the server died while starting.
svc_mariadb_ready() {
    kill -0 "$(cat "$IMI_RUN_DIR/mariadb.pid")" 2>/dev/null || return 0
    svc_mariadb_admin ping
}

svc_mariadb_start() {
    local port=${IMI_MYSQL_PORT:-13306} dir="$IMI_RUN_DIR/mariadb"
    mkdir -p "$dir"
    chown mysql:mysql "$dir"
    chmod 755 "$dir"
    if [ ! -d "$dir/data/mysql" ]; then
        mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$IMI_RUN_DIR/mariadb.log" 2>&1 || return 1
    fi
    svc_spawn mariadb mariadbd --no-defaults --user=mysql --datadir="$dir/data" \
        --bind-address=127.0.0.1 --port="$port" --socket="$dir/mysqld.sock" \
        --pid-file="$dir/mysqld.pid" --skip-name-resolve --innodb-flush-log-at-trx-commit=2 \
        --max-connections=200
    svc_wait 60 svc_mariadb_ready || return 1
    kill -0 "$(cat "$IMI_RUN_DIR/mariadb.pid")" 2>/dev/null || return 1
    mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot <<'SQL' || return 1
CREATE DATABASE IF NOT EXISTS imi_test CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS imi_test_reader CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'imi'@'%' IDENTIFIED BY 'imi';
GRANT ALL ON imi_test.* TO 'imi'@'%';
GRANT ALL ON imi_test_reader.* TO 'imi'@'%';
SQL
}

svc_mariadb_stop() {
    [ -f "$IMI_RUN_DIR/mariadb.pid" ] || return 0
    svc_mariadb_admin shutdown >/dev/null 2>&1 || true
    svc_kill mariadb
}

svc_mariadb_env() {
    local port=${IMI_MYSQL_PORT:-13306}
    echo "export IMI_MYSQL_WRITER=mysql://imi:imi@127.0.0.1:$port/imi_test"
    echo "export IMI_MYSQL_READER=mysql://imi:imi@127.0.0.1:$port/imi_test_reader"
}
