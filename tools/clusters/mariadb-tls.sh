#!/usr/bin/env bash
# A MariaDB server on loopback serving TLS with a certificate from the test CA
# (tools/tls/make-ca.sh), for the TLS, password and multi-statement tests of the mysql driver.
#
#   tools/clusters/mariadb-tls.sh start DIR   install the data folder once, start, wait until ready
#   tools/clusters/mariadb-tls.sh stop DIR    stop (the data stays in DIR)
#   tools/clusters/mariadb-tls.sh env DIR     the variables the tests read
#
# Port: $IMI_MYSQL_TLS_PORT (default 24080). DIR holds tls/ (the CA) and mariadb/ (data,
# socket, log, pid). Users: imi (password imi) on the database imi_test, and imi_x509 (no
# password) that must present a client certificate signed by the test CA. Needs the
# mariadb-server, mariadb-client and openssl packages; run as root.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:?usage: mariadb-tls.sh start|stop|env DIR}
dir=${2:?usage: mariadb-tls.sh $cmd DIR}
port=${IMI_MYSQL_TLS_PORT:-24080}
m=$dir/mariadb

die() { echo "mariadb-tls: $*" >&2; exit 1; }

admin() { mariadb-admin --no-defaults --socket="$m/mysqld.sock" -uroot "$@"; }

start() {
    command -v mariadbd >/dev/null || die "no mariadbd: install mariadb-server"
    command -v mariadb >/dev/null || die "no mariadb client: install mariadb-client"
    [ "$(id -u)" -eq 0 ] || die "run as root (the server runs as the mysql user)"
    mkdir -p "$dir" "$m"
    chmod 755 "$dir"
    bash "$here/../tls/make-ca.sh" "$dir/tls"
    chown mysql:mysql "$m"
    if [ ! -d "$m/data/mysql" ]; then
        mariadb-install-db --no-defaults --user=mysql --datadir="$m/data" \
            --auth-root-authentication-method=normal --skip-test-db >"$m/install.log" 2>&1 ||
            die "mariadb-install-db failed (see $m/install.log)"
    fi
    (setsid mariadbd --no-defaults --user=mysql --datadir="$m/data" --bind-address=127.0.0.1 \
        --port="$port" --socket="$m/mysqld.sock" --pid-file="$m/mysqld.pid" --skip-name-resolve \
        --innodb-flush-log-at-trx-commit=2 --ssl-ca="$dir/tls/ca.pem" \
        --ssl-cert="$dir/tls/server.pem" --ssl-key="$dir/tls/server.key" \
        >"$m/log" 2>&1 & echo $! >"$m/server.pid")
    local i pid
    pid=$(cat "$m/server.pid")
    for i in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "mariadbd exited while starting (see $m/log)"
        admin ping >/dev/null 2>&1 && break
        [ "$i" = 300 ] && die "mariadbd not ready after 30 s (see $m/log)"
        sleep 0.1
    done
    mariadb --no-defaults --socket="$m/mysqld.sock" -uroot <<'SQL' || die "could not create the test users"
CREATE DATABASE IF NOT EXISTS imi_test CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'imi'@'%' IDENTIFIED BY 'imi';
GRANT ALL ON imi_test.* TO 'imi'@'%';
CREATE USER IF NOT EXISTS 'imi_x509'@'%' REQUIRE X509;
GRANT ALL ON imi_test.* TO 'imi_x509'@'%';
SQL
    [ "$(mariadb --no-defaults --socket="$m/mysqld.sock" -uroot -N -e "SELECT @@have_ssl")" = YES ] ||
        die "the server has no TLS (see $m/log)"
}

stop() {
    [ -f "$m/server.pid" ] || return 0
    local pid i
    pid=$(cat "$m/server.pid")
    admin shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    # mariadb-admin shutdown returns before the server exits: wait for the process.
    for i in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$m/server.pid"
}

case $cmd in
start) start ;;
stop) stop ;;
env)
    echo "export IMI_MYSQL_TLS=mysql://imi:imi@127.0.0.1:$port/imi_test"
    echo "export IMI_MYSQL_X509=mysql://imi_x509@127.0.0.1:$port/imi_test"
    echo "export IMI_TLS_DIR=$dir/tls"
    ;;
*) die "unknown command $cmd" ;;
esac
