#!/usr/bin/env bash
# Starts a MariaDB server with TLS (tools/clusters/mariadb-tls.sh) in a temp folder, runs the
# TLS/auth/multi-statement test program against it, and stops it, also when the test fails
# or is interrupted. A missing server package fails the test.
#   db_mysql_tls.sh TEST_PROGRAM SOURCE_DIR
set -euo pipefail
prog=${1:?usage: db_mysql_tls.sh TEST_PROGRAM SOURCE_DIR}
src=${2:?usage: db_mysql_tls.sh TEST_PROGRAM SOURCE_DIR}
ctl=$src/tools/clusters/mariadb-tls.sh
dir=$(mktemp -d /tmp/imi-mysql-tls.XXXXXX)
chmod 755 "$dir"
cleanup() {
    bash "$ctl" stop "$dir/cluster" || echo "db_mysql_tls: stopping the server failed" >&2
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bash "$ctl" start "$dir/cluster"
eval "$(bash "$ctl" env "$dir/cluster")"
"$prog" --jobs 1
